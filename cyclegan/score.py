"""An unpaired score: how close a model's translations are, as a set, to real target images.

Real data has no ground truth, so PSNR cannot be computed; KID and FID compare distributions
instead. Translated source images G(x) are compared with real images of the target domain, in
the embedding of `cyclegan.features` (a seeded random CNN by default, Inception from a local
file on request); the estimators are torchmetrics' KernelInceptionDistance (unbiased MMD,
cubic polynomial kernel, averaged over random subsets) and FrechetInceptionDistance.

Next to the model's score comes the identity baseline: the untranslated source images against
the same real target images, the number a translator has to beat. Lower is better for both.
"""
from __future__ import annotations

import json
import tempfile
import time
import warnings
import zipfile
from pathlib import Path

import torch
from torch import nn

from cyclegan import features as feats
from cyclegan.errors import UserInputError

FEATURES = ("random", "inception")
SUBSETS = 100
MAX_SUBSET = 1000   # the usual KID subset size (Binkowski et al. 2018); less when there are fewer images
BATCH = 16
MIN_IMAGES = 2      # the unbiased kernel estimate and a covariance need two images a side
MAX_SIZE = 2048     # image side; larger is a typo, not a plan
DEMO_TEST_SCENES = 1_000_000  # cyclegan.demo's test seeds are 0..999,999


def kid_fid(fake: torch.Tensor, real: torch.Tensor, subset_size: int | None = None,
            subsets: int = SUBSETS, seed: int = 0, fid: bool = True) -> dict:
    """KID (mean and std over `subsets` random subsets) and FID between two feature sets [N, D].

    The default subset size is half the smaller set (at most 1000): with all images in every
    subset the subsets would be identical and their spread zero. The subset draws use a fixed
    seed inside a forked RNG, so a score is deterministic and leaves the caller's RNG alone.
    `fid=False` skips FID (its matrix square root is most of the cost at small n)."""
    try:
        from torchmetrics.image.fid import FrechetInceptionDistance
        from torchmetrics.image.kid import KernelInceptionDistance
    except ImportError:
        raise UserInputError("the score needs torchmetrics: pip install 'torchmetrics>=1.9'") from None

    n = min(len(fake), len(real))
    if n < MIN_IMAGES:
        raise UserInputError(f"KID and FID need at least {MIN_IMAGES} images on each side, got "
                             f"{len(fake)} translated and {len(real)} real")
    if subset_size is None:
        subset_size = max(MIN_IMAGES, min(MAX_SUBSET, n // 2))
    if not isinstance(subset_size, int) or isinstance(subset_size, bool) or not MIN_IMAGES <= subset_size <= n:
        raise UserInputError(f"subset size must be a whole number from {MIN_IMAGES} to {n} (the smaller "
                             f"image count), got {subset_size!r}")
    if not isinstance(subsets, int) or isinstance(subsets, bool) or subsets < 1:
        raise UserInputError(f"subsets must be a positive whole number, got {subsets!r}")
    passthrough = _Passthrough(fake.shape[1])
    fake, real = fake.detach().double().cpu(), real.detach().double().cpu()
    with warnings.catch_warnings():  # "KID will save all extracted features in buffer": we know
        warnings.simplefilter("ignore", UserWarning)
        # sync_on_compute off: features are all here; under torchrun only rank 0 scores, and a
        # gather across ranks would wait forever for the others
        kid = KernelInceptionDistance(feature=passthrough, subsets=subsets, subset_size=subset_size,
                                      sync_on_compute=False)
    kid.update(real, real=True)
    kid.update(fake, real=False)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        kid_mean, kid_std = kid.compute()
    out = {"kid": float(kid_mean), "kid_std": float(kid_std), "subset_size": subset_size, "subsets": subsets}
    if fid:
        metric = FrechetInceptionDistance(feature=passthrough, sync_on_compute=False)
        metric.update(real, real=True)
        metric.update(fake, real=False)
        out["fid"] = float(metric.compute())
    return out


class _Passthrough(nn.Module):
    """Features are computed once by us and handed to both metrics, which would otherwise each
    run the network on the same images."""

    def __init__(self, num_features: int):
        super().__init__()
        self.num_features = int(num_features)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x


def _kind(net: nn.Module) -> str:
    if isinstance(net, feats.RandomFeatures):
        return "random features"
    return "inception" if isinstance(net, feats.InceptionFeatures) else "custom features"


def feature_extractor(features: str = "random", inception_weights=None) -> nn.Module:
    """The embedding by name: 'random' (built in, offline) or 'inception' (a local weights file)."""
    if features == "random":
        return feats.RandomFeatures()
    if features == "inception":
        return feats.InceptionFeatures(inception_weights)
    raise UserInputError(f"unknown features {features!r}; choose 'random' (built in, offline) or "
                         "'inception' (with --inception-weights PATH)")


# --- where the images come from -------------------------------------------------------------

class _Images:
    """Two lists of [3, S, S] loaders in [0, 1]: source-domain images and real target images,
    never of the same scene when the data says which scenes pair up."""

    def __init__(self, source, reference, source_desc: str, reference_desc: str, note: str = "",
                 split: str = "test"):
        self.source, self.reference = source, reference
        self.source_desc, self.reference_desc, self.note = source_desc, reference_desc, note
        self.split = split      # "test": held out from training; "train": the training images


def _demo_images(world: str, direction: str, n: int, size: int) -> _Images:
    """Source scenes are test seeds 0..n-1, real targets test seeds n..2n-1: held out from
    training (train seeds start at 1,000,000) and never the same scene on both sides."""
    from torchvision.transforms.v2.functional import pil_to_tensor

    from cyclegan import demo
    names = demo.domains(world)
    if 2 * n > DEMO_TEST_SCENES:
        raise UserInputError(f"n can be at most {DEMO_TEST_SCENES // 2} for demo data (it uses 2n test scenes), got {n}")
    seeds = demo.test_seeds(world, 2 * n)
    src, dst = ("A", "B") if direction == "a2b" else ("B", "A")

    def loader(seed, side):
        return lambda: pil_to_tensor(demo.render(world, seed, side, size)).float() / 255

    name = dict(zip("AB", names))
    return _Images([loader(s, src) for s in seeds[:n]], [loader(s, dst) for s in seeds[n:]],
                   f"demo:{world} {name[src]}, test scenes 0-{n - 1}",
                   f"demo:{world} {name[dst]}, test scenes {n}-{2 * n - 1}")


def _folder_images(root: Path, shown: str, direction: str, n: int, size: int) -> _Images:
    from cyclegan.data import open_unpaired
    subdirs = {p.name.lower() for p in root.iterdir() if p.is_dir()}
    split = "test" if {"testa", "testb"} <= subdirs else "train"
    data = open_unpaired(root, size=size, preprocess="resize", flip=False, value_range=(0.0, 1.0), split=split)
    src, dst = (data.domain_a, data.domain_b) if direction == "a2b" else (data.domain_b, data.domain_a)
    src_stems = {p.stem: i for i, p in enumerate(src.files)}
    dst_stems = {p.stem: i for i, p in enumerate(dst.files)}
    shared = sorted(set(src_stems) & set(dst_stems))
    # Paired files (same name on both sides, as in `demo export`) are one scene twice: the
    # shared names are split in halves so that no scene is both translated and a reference.
    not_src = {src_stems[s] for s in shared[len(shared) // 2:]}
    not_dst = {dst_stems[s] for s in shared[:len(shared) // 2]}
    src_idx = [i for i in range(len(src)) if i not in not_src][:n]
    dst_idx = [i for i in range(len(dst)) if i not in not_dst][:n]
    note = (f"{len(shared)} file names appear in both folders (paired scenes): each side uses "
            "a different half of them" if shared else "")
    a_dir, b_dir = Path(data.domain_a.files[0]).parent.name, Path(data.domain_b.files[0]).parent.name
    src_dir, dst_dir = (a_dir, b_dir) if direction == "a2b" else (b_dir, a_dir)
    return _Images([(lambda i=i: src[i]) for i in src_idx], [(lambda i=i: dst[i]) for i in dst_idx],
                   f"{shown} {src_dir}/ ({len(src_idx)} of {len(src)})",
                   f"{shown} {dst_dir}/ ({len(dst_idx)} of {len(dst)})", note, split)


def images(data: str, direction: str, n: int, size: int, workdir: Path) -> _Images:
    """The source and reference image loaders `score_model` uses (also the live score's, in
    train/scoring.py): demo test scenes, or testA/ + testB/ (else trainA/ + trainB/) of a folder."""
    return _images(str(data), direction, n, size, Path(workdir))


def _images(data: str, direction: str, n: int, size: int, workdir: Path) -> _Images:
    if data.startswith("demo:"):
        from cyclegan import demo
        world = data[len("demo:"):]
        if world not in demo.world_names():
            raise UserInputError(f"unknown demo world {world!r}; choose one of: "
                                 + ", ".join(f"demo:{w}" for w in demo.world_names()))
        return _demo_images(world, direction, n, size)
    path = Path(data).expanduser()
    if not path.exists():
        raise UserInputError(f"data not found: '{data}' (expected a folder with testA/ + testB/ or "
                             "trainA/ + trainB/, a .zip of one, or demo:<world>)")
    if path.is_dir():
        return _folder_images(path, f"'{path.name}'", direction, n, size)
    if path.suffix.lower() != ".zip" and not zipfile.is_zipfile(path):
        raise UserInputError(f"'{path.name}' is neither a folder nor a .zip file")
    from cyclegan.data import safe_extract_zip
    root = safe_extract_zip(path, workdir / "data")
    return _folder_images(root, f"'{path.name}'", direction, n, size)


# --- the score --------------------------------------------------------------------------------

def _check_count(value, what: str, low: int, high: int | None = None) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < low or (high and value > high):
        limits = f"from {low} to {high}" if high else f"of at least {low}"
        raise UserInputError(f"{what} must be a whole number {limits}, got {value!r}")
    return value


def _embed(net: nn.Module, loaders, batch: int, transform=None) -> tuple[torch.Tensor, torch.Tensor | None, float]:
    """Features of the images (and of transform(images) when given), batch by batch, so only
    features are kept in memory. Returns (features, transformed features, seconds in transform)."""
    plain, changed, t_transform = [], [], 0.0
    with torch.inference_mode():
        for start in range(0, len(loaders), batch):
            x = torch.stack([load() for load in loaders[start:start + batch]])
            plain.append(net(x).float())
            if transform is not None:
                t0 = time.perf_counter()
                y = transform(x)
                t_transform += time.perf_counter() - t0
                changed.append(net(y).float())
    return torch.cat(plain), (torch.cat(changed) if transform is not None else None), t_transform


def score_model(model, data: str = "demo:daynight", direction: str = "a2b", n: int = 200,
                size: int | None = None, features: str = "random", inception_weights=None,
                subset_size: int | None = None, subsets: int = SUBSETS, batch: int = BATCH,
                seed: int = 0) -> dict:
    """KID and FID of the model's translations of up to `n` source images against up to `n`
    real target-domain images of other scenes, beside the same score for the untranslated
    source (`identity`). Images are resized to `size` (default: the model's training size)
    before translation; lower is better. Data: demo:<world>, or a folder / .zip with
    testA/ + testB/ (trainA/ + trainB/ when there is no test split). `features` is 'random',
    'inception' (with `inception_weights`) or a ready nn.Module mapping [N, 3, H, W] in [0, 1]
    to [N, D] with a `label` (to reuse one extractor across calls)."""
    from cyclegan.model import check_direction
    t_start = time.perf_counter()
    direction = check_direction(direction)
    n = _check_count(n, "n", MIN_IMAGES)
    batch = _check_count(batch, "batch", 1)
    if direction not in tuple(model.directions):
        if hasattr(model, "generator"):
            model.generator(direction)  # its message names the directions the model has
        raise UserInputError(f"this model has no {direction} generator; it translates "
                             f"{', '.join(model.directions) or 'nothing'}")
    size = _check_count(model.image_size if size is None else size, "size", 8, MAX_SIZE)
    net = features if isinstance(features, nn.Module) else feature_extractor(features, inception_weights)
    data = str(data)

    with tempfile.TemporaryDirectory(prefix="cyclegan-score-") as tmp:
        images = _images(data, direction, n, size, Path(tmp))
        if len(images.source) < MIN_IMAGES or len(images.reference) < MIN_IMAGES:
            raise UserInputError(f"scoring needs at least {MIN_IMAGES} images on each side: found "
                                 f"{len(images.source)} in {images.source_desc} and "
                                 f"{len(images.reference)} in {images.reference_desc}")
        t0 = time.perf_counter()
        real, _, _ = _embed(net, images.reference, batch)
        t_real = time.perf_counter() - t0

        def translate(x):
            return model.translate_tensor(x, direction).float().clamp(0, 1)

        t0 = time.perf_counter()
        source, fake, t_translate = _embed(net, images.source, batch, translate)
        t_source = time.perf_counter() - t0

    t0 = time.perf_counter()
    scored = kid_fid(fake, real, subset_size, subsets, seed)
    baseline = kid_fid(source, real, scored["subset_size"], subsets, seed)
    t_metrics = time.perf_counter() - t0
    return {
        "metric": f"KID ({_kind(net)})",
        "kid": scored["kid"], "kid_std": scored["kid_std"], "fid": scored["fid"],
        "identity": {k: baseline[k] for k in ("kid", "kid_std", "fid")},
        "beats_identity": scored["kid"] < baseline["kid"],
        "n_fake": len(fake), "n_real": len(real),
        "subset_size": scored["subset_size"], "subsets": subsets,
        "features": getattr(net, "label", type(net).__name__), "direction": direction, "data": data,
        "source": images.source_desc, "reference": images.reference_desc, "image_size": size,
        "note": "; ".join(x for x in (images.note, "lower is better; compare scores only at the same n, "
                                      "size and features (FID is biased upwards at small n)") if x),
        "seconds": {"real_features": round(t_real, 3), "translate": round(t_translate, 3),
                    "source_features": round(t_source - t_translate, 3), "metrics": round(t_metrics, 3),
                    "total": round(time.perf_counter() - t_start, 3)},
    }


# --- CLI (`python -m cyclegan score`) -------------------------------------------------------

HELP = "unpaired score: KID/FID of translations against real target images (no ground truth needed)"


def add_score_arguments(parser) -> None:
    """Flags of `score`; also sets func=run_score. Numbers are read as text and checked in
    run_score, so a bad value is the same one-line error as any other user mistake."""
    parser.add_argument("--model", required=True, help="model folder, demo:NAME, Hub id, .pth, .safetensors or .zip")
    parser.add_argument("--data", default="demo:daynight",
                        help="demo:<world>, or a folder / .zip with testA/ + testB/ (else trainA/ + trainB/)")
    parser.add_argument("--direction", default="a2b", help="a2b (translate A, compare with real B) or b2a")
    parser.add_argument("--n", default="200", help="images per side (default 200)")
    parser.add_argument("--features", default="random",
                        help="random: seeded random CNN, built in, offline (default); inception: needs --inception-weights")
    parser.add_argument("--inception-weights", default=None, metavar="PATH",
                        help=f"local {feats.INCEPTION_FILE} (from {feats.INCEPTION_URL}); never downloaded")
    parser.add_argument("--size", default=None, help="resize images to this side before translating (default: the model's)")
    parser.set_defaults(func=run_score)


def _int_arg(text, flag: str, low: int) -> int:
    try:
        value = int(str(text).strip())
    except ValueError:
        raise UserInputError(f"{flag} must be a whole number, got {text!r}") from None
    if value < low:
        raise UserInputError(f"{flag} must be at least {low}, got {value}")
    return value


def run_score(args) -> int:
    """Cheap checks first (flags, files), then load the model, score, print JSON."""
    from cyclegan.checkpoints import load_model
    from cyclegan.model import check_direction
    direction = check_direction(args.direction)
    n = _int_arg(args.n, "--n", MIN_IMAGES)
    size = None if args.size in (None, "") else _int_arg(args.size, "--size", 8)
    if size is not None and size > MAX_SIZE:
        raise UserInputError(f"--size must be at most {MAX_SIZE}, got {size}")
    if args.features not in FEATURES:
        raise UserInputError(f"unknown --features {args.features!r}; choose 'random' (built in, offline) or "
                             "'inception' (with --inception-weights PATH)")
    if args.features == "inception":
        if not args.inception_weights:
            raise UserInputError(feats.missing_inception_message())
        if not Path(args.inception_weights).expanduser().is_file():
            raise UserInputError(f"--inception-weights: file not found: '{args.inception_weights}'")
    model = load_model(args.model)
    result = score_model(model, args.data, direction=direction, n=n, size=size,
                         features=args.features, inception_weights=args.inception_weights)
    print(json.dumps({"model": str(args.model), **result}, indent=2, ensure_ascii=False))
    return 0
