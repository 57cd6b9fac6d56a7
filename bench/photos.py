"""The real-photo models on the photo ↔ vintage test pairs: scores against the ground truth and
what each one does to colour, as one JSON object; optionally the picture in docs/.

    python -m bench.photos --data data/photos --models demo:vintage runs/photo-cyclegan/latest \
        --grid photo_grid.png

For each model and direction: PSNR / SSIM / L1 against the ground truth at the crops' own
resolution (the numbers `python -m cyclegan eval` gives), and colour statistics of its outputs
beside the input's and the ground truth's: saturation ((max - min) / max per pixel), mean
luminance, contrast (luminance std per crop), warmth (red minus blue). A model that does the
vintage look moves them the way the ground truth does.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch
from PIL import Image, ImageDraw

import cyclegan
from cyclegan.evaluate import l1, psnr, ssim
from cyclegan.images import image_to_tensor, tensor_to_image

ARCH_NAMES = {"cyclegan": "CycleGAN", "discogan": "DiscoGAN", "dualgan": "DualGAN", "cut": "CUT"}


def shipped_photo_models() -> list[str]:
    """The photo ↔ vintage models that ship (demo:photo-vintage-ARCH): the default to score."""
    return [f"demo:{name}" for name, _ in cyclegan.builtin_models() if name.startswith("photo-vintage-")]


def colour(x: torch.Tensor) -> dict:
    """Colour statistics of [N, 3, H, W] images in [0, 1], averaged over the images."""
    mx, mn = x.max(1).values, x.min(1).values
    lum = 0.299 * x[:, 0] + 0.587 * x[:, 1] + 0.114 * x[:, 2]
    return {"saturation": float(((mx - mn) / mx.clamp_min(1e-6)).mean()), "luminance": float(lum.mean()),
            "contrast": float(lum.flatten(1).std(1).mean()), "warmth": float((x[:, 0] - x[:, 2]).mean())}


def luminance_corr(photo: Image.Image, out: Image.Image) -> float:
    """Correlation of the two images' luminance (channel mean): 1 for the same picture under any
    brightness and contrast change, so it asks "is this the same photo", not "the same colours"."""
    x, y = image_to_tensor(photo.convert("RGB")).mean(0), image_to_tensor(out.convert("RGB")).mean(0)
    return float(torch.corrcoef(torch.stack([x.flatten(), y.flatten()]))[0, 1])


def code_copy_corr(photo: Image.Image, factor: int) -> float:
    """luminance_corr of a photo against itself shrunk `factor` times and enlarged back: what a net
    whose only path runs through a 1/factor-resolution code (DiscoGAN's generator: 1/16, no skip
    connections) keeps of the photo without extra effort. A bar for "the same photo" above it asks the
    net to beat its own bottleneck."""
    photo = photo.convert("RGB")
    small = photo.resize((max(1, photo.width // factor), max(1, photo.height // factor)), Image.BOX)
    return luminance_corr(photo, small.resize(photo.size, Image.BICUBIC))


def pairs(root: Path) -> tuple[list[str], torch.Tensor, torch.Tensor]:
    names = sorted(p.name for p in (root / "testA").glob("*.png") if (root / "testB" / p.name).is_file())
    if not names:
        raise SystemExit(f"error: no test pairs in {root}/testA and testB (build it: python -m cyclegan photos build)")
    a = torch.stack([image_to_tensor(Image.open(root / "testA" / n)) for n in names])
    b = torch.stack([image_to_tensor(Image.open(root / "testB" / n)) for n in names])
    return names, a, b


def translate(model, x: torch.Tensor, direction: str) -> torch.Tensor:
    return torch.cat([model.translate_tensor(x[i:i + 8], direction) for i in range(0, len(x), 8)]).clamp(0, 1)


def scores(out: torch.Tensor, want: torch.Tensor) -> dict:
    return {"psnr": float(psnr(out, want).mean()), "ssim": float(ssim(out, want).mean()),
            "l1": float(l1(out, want).mean())}


def measure(specs: list[str], root: Path) -> tuple[dict, dict]:
    names, a, b = pairs(root)
    result = {"n": len(names), "identity": {"a2b": scores(a, b), "b2a": scores(b, a)},
              "colour": {"photo": colour(a), "vintage (ground truth)": colour(b)}, "models": {}}
    outputs = {}
    for spec in specs:
        model = cyclegan.load_model(spec)
        entry = {"architecture": model.architecture, "trained_on": model.trained_on()}
        for d in model.directions:
            src, want = (a, b) if d == "a2b" else (b, a)
            out = translate(model, src, d)
            outputs[(spec, d)] = out
            entry[d] = {**scores(out, want), "colour": colour(out)}
        result["models"][spec] = entry
    return result, {"names": names, "a": a, "b": b, "outputs": outputs}


def grid(specs: list[str], seen: dict, rows: list[int], path: Path, tile: int = 128) -> None:
    """Rows of test crops: photo | each model's photo → vintage | ground truth, then vintage |
    each model's vintage → photo | ground truth (a model without that direction: blank)."""
    models = [cyclegan.load_model(s) for s in specs]
    heads = (["input"] + ["vintagify" if s == "demo:vintage" else ARCH_NAMES.get(m.architecture, m.architecture)
                          for s, m in zip(specs, models)] + ["ground truth"])
    label_h = 18
    img = Image.new("RGB", (tile * len(heads), label_h + tile * 2 * len(rows)), "white")
    draw = ImageDraw.Draw(img)
    for j, h in enumerate(heads):
        draw.text((j * tile + 4, 3), h, fill="black")
    y = label_h
    for d, src, want in (("a2b", seen["a"], seen["b"]), ("b2a", seen["b"], seen["a"])):
        for i in rows:
            cells = [src[i]] + [seen["outputs"].get((s, d), [None] * len(src))[i] for s in specs] + [want[i]]
            for j, t in enumerate(cells):
                if t is not None:
                    img.paste(tensor_to_image(t).resize((tile, tile)), (j * tile, y))
            y += tile
    path.parent.mkdir(parents=True, exist_ok=True)
    img.save(path)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.photos", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default="data/photos", help="a folder built by `python -m cyclegan photos build`")
    ap.add_argument("--models", nargs="+", default=None,
                    help="model specs (default: every shipped photo ↔ vintage model, demo:photo-vintage-ARCH)")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--grid", default=None, help="also write the comparison picture here (PNG)")
    ap.add_argument("--rows", type=int, nargs="+", default=[2, 12, 25, 33], help="test pairs shown in the picture")
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    models = args.models or shipped_photo_models()
    result, seen = measure(models, Path(args.data))
    if args.grid:
        grid(models, seen, args.rows, Path(args.grid))
        result["grid"] = args.grid
    print(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
