"""Score a model against paired ground truth: PSNR, SSIM and L1 per direction, plus two references.

"identity" scores the untranslated input against the target, the do-nothing baseline a model
has to beat; "cycle" is the round-trip L1 that CycleGAN optimises, as a sanity check.
"""
from __future__ import annotations

import warnings
from pathlib import Path

import torch
import torch.nn.functional as F
from PIL import Image

from . import demo
from .errors import UserInputError
from .images import IMAGE_EXTENSIONS, image_to_tensor
from .settings import whole_number

PSNR_CAP = 100.0  # dB for identical images, so results stay finite and JSON-safe
BATCH = 16


def psnr(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Per-image PSNR in dB for [N,C,H,W] tensors in [0,1], capped at PSNR_CAP."""
    mse = ((x - y) ** 2).flatten(1).mean(1).double()
    out = 10 * torch.log10(1.0 / mse.clamp_min(1e-30))
    return out.clamp(max=PSNR_CAP)


def _gaussian_window(size: int, sigma: float) -> torch.Tensor:
    g = torch.arange(size, dtype=torch.float64) - (size - 1) / 2
    g = torch.exp(-(g ** 2) / (2 * sigma ** 2))
    g = g / g.sum()
    return g[:, None] * g[None, :]


def ssim(x: torch.Tensor, y: torch.Tensor, win: int = 11, sigma: float = 1.5) -> torch.Tensor:
    """Per-image SSIM (Wang et al. 2004: Gaussian 11x11, sigma 1.5, K1 .01, K2 .03, valid window),
    averaged over channels and positions. Images smaller than 11 px use the largest odd window that fits."""
    x, y = x.double(), y.double()
    n, c, h, w = x.shape
    win = min(win, h, w)
    win -= 1 - win % 2
    k = _gaussian_window(win, sigma).to(x.device).expand(c, 1, win, win)
    c1, c2 = 0.01 ** 2, 0.03 ** 2

    def blur(t):
        return F.conv2d(t, k, groups=c)

    mx, my = blur(x), blur(y)
    sxx = blur(x * x) - mx * mx
    syy = blur(y * y) - my * my
    sxy = blur(x * y) - mx * my
    s = ((2 * mx * my + c1) * (2 * sxy + c2)) / ((mx * mx + my * my + c1) * (sxx + syy + c2))
    return s.flatten(1).mean(1)


def l1(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    return (x - y).abs().flatten(1).mean(1).double()


def _scores(x: torch.Tensor, y: torch.Tensor) -> dict[str, torch.Tensor]:
    return {"psnr": psnr(x, y), "ssim": ssim(x, y), "l1": l1(x, y)}


def _demo_pairs(world: str, n: int, size: int):
    for seed in demo.test_seeds(world, n):
        yield image_to_tensor(demo.render(world, seed, "A", size)), image_to_tensor(demo.render(world, seed, "B", size))


def _folder_files(folder: Path) -> dict[str, Path]:
    return {p.stem: p for p in sorted(folder.iterdir()) if p.is_file() and p.suffix.lower() in IMAGE_EXTENSIONS}


def _open(path: Path, size: int | None) -> torch.Tensor:
    try:
        with Image.open(path) as im:
            img = im.convert("RGB")
    except Exception as e:
        raise UserInputError(f"cannot read {path} as an image: {e}") from None
    if size:
        img = img.resize((size, size), Image.BICUBIC)
    return image_to_tensor(img)


def _folder_pairs(root: Path, n: int, size: int | None):
    if not root.is_dir():
        raise UserInputError(f"--data {root}: not a folder (use a folder with testA/ and testB/, or demo:<world>)")
    a_dir, b_dir = root / "testA", root / "testB"
    if not a_dir.is_dir() or not b_dir.is_dir():
        raise UserInputError(f"{root} needs testA/ and testB/ subfolders holding paired images")
    a, b = _folder_files(a_dir), _folder_files(b_dir)
    stems = sorted(set(a) & set(b))
    if not stems:
        raise UserInputError(f"{root} has no paired files: testA/ and testB/ need files with the same names "
                             f"(found {len(a)} in testA/, {len(b)} in testB/)")
    for stem in stems[:n]:
        xa, xb = _open(a[stem], size), _open(b[stem], size)
        if xa.shape != xb.shape:
            raise UserInputError(f"{a[stem].name}: testA/ image is {tuple(xa.shape[1:])} but testB/ is "
                                 f"{tuple(xb.shape[1:])} (H, W); pass a size to resize both")
        yield xa, xb


def _batches(pairs, batch: int):
    """Stack consecutive pairs of equal shape, so folders with mixed sizes still work."""
    buf: list = []
    for pair in pairs:
        if buf and (len(buf) == batch or pair[0].shape != buf[0][0].shape):
            yield torch.stack([p[0] for p in buf]), torch.stack([p[1] for p in buf])
            buf = []
        buf.append(pair)
    if buf:
        yield torch.stack([p[0] for p in buf]), torch.stack([p[1] for p in buf])


def evaluate(model, data: str, n: int = 200, size: int | None = None, *, sample: bool | None = None,
             seed: int = 0, batch_stats: bool | None = None, per_image: bool = False) -> dict:
    """Mean scores over up to `n` test pairs from `data` ("demo:<world>" or a folder with testA/ testB/).
    `sample`, `seed`, `batch_stats`: how the model translates (None: its recipe's default; batch
    statistics are those of each batch of 16). `per_image`: also each pair's PSNR, in order, so two
    models scored on the same pairs can be compared pair by pair (bench.score_check)."""
    n = whole_number(n, "n", 1)
    ours = hasattr(model, "inference_defaults")      # a CycleModel (tests also score plain stand-ins)
    mode = dict(sample=sample, seed=seed, batch_stats=batch_stats) if ours else {}
    directions = [d for d in ("a2b", "b2a") if d in tuple(model.directions)]
    if not directions:
        raise UserInputError("the model has no translation direction (expected 'a2b' and/or 'b2a')")
    data = str(data)
    if data.startswith("demo:"):
        world = data[len("demo:"):]
        expected = demo.domains(world)
        if tuple(model.domains) != tuple(expected):
            warnings.warn(f"model domains {tuple(model.domains)} differ from demo world {world!r} domains {expected}; "
                          f"scoring A={expected[0]}, B={expected[1]} anyway", UserWarning, stacklevel=2)
        pairs = _demo_pairs(world, n, int(size or model.image_size))
    else:
        pairs = _folder_pairs(Path(data), n, size)

    both = len(directions) == 2
    acc: dict[str, list[torch.Tensor]] = {}

    def add(key, values):
        acc.setdefault(key, []).append(values)

    count = 0
    with torch.inference_mode():
        for a, b in _batches(pairs, BATCH):
            count += len(a)
            out = {}
            for d in directions:
                src, dst = (a, b) if d == "a2b" else (b, a)
                out[d] = model.translate_tensor(src, d, **mode).float().clamp(0, 1)
                for m, v in _scores(out[d], dst).items():
                    add((d, m), v)
                for m, v in _scores(src, dst).items():
                    add(("identity", d, m), v)
            if both:
                back = dict(mode, seed=seed + 1) if ours else {}
                add(("cycle", "a2b2a_l1"), l1(model.translate_tensor(out["a2b"], "b2a", **back).float().clamp(0, 1), a))
                add(("cycle", "b2a2b_l1"), l1(model.translate_tensor(out["b2a"], "a2b", **back).float().clamp(0, 1), b))

    def mean(key) -> float:
        return float(torch.cat(acc[key]).mean())

    used = model.inference_defaults() if ours else {}
    used = {k: (used.get(k, False) if v is None else bool(v)) for k, v in (("sample", sample), ("batch_stats", batch_stats))}
    result: dict = {"n": count, "translated": {**used, **({"seed": seed} if used["sample"] else {})}}
    for d in directions:
        result[d] = {m: mean((d, m)) for m in ("psnr", "ssim", "l1")}
        if per_image:
            result[d]["psnr_per_image"] = torch.cat(acc[(d, "psnr")]).tolist()
    result["identity"] = {d: {m: mean(("identity", d, m)) for m in ("psnr", "ssim", "l1")} for d in directions}
    result["cycle"] = {k: mean(("cycle", k)) for k in ("a2b2a_l1", "b2a2b_l1")} if both else {}
    return result
