"""Unpaired training data: two piles of images, one per domain, from a folder, a zip or the demo.

Accepted sources, in the order they are tried:
- `demo:<world>`: the procedural worlds of `cyclegan.demo`, rendered on the fly;
- a folder with `trainA/` + `trainB/` (official layout; `split="test"` reads `testA/` + `testB/`),
  domain names "A"/"B" unless a `domains.json` like {"A": "day", "B": "night"} sits beside them;
- a folder with `A/` + `B/`;
- a folder with exactly two other subfolders (`horses/` + `zebras/`): their names, sorted, are
  the domains;
- a `.zip` of any of these, the pair at its root or inside one top folder;
- `hub:owner/name`: a Hugging Face Hub dataset, an image folder repo or parquet files
  (cyclegan/hubdata.py).

Zips come from strangers, so they are unpacked by `cyclegan.archive.safe_extract_zip`, which
refuses path tricks, links and bombs before and while unpacking. Every image is checked once (header and checksums) when the data is opened, so
a broken file is reported up front instead of stopping training hours later.

Random crops and flips draw only from torch's global RNG: DataLoader seeds it per worker and a
resumed run restores it, so augmentation is reproducible without extra plumbing.
"""
from __future__ import annotations

import atexit
import copy
import dataclasses
import json
import os
import random
import shutil
import tempfile
import threading
import zipfile
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from torch.utils.data import Dataset

from . import demo
from .archive import DATA_FOLDER_NAMES, is_hidden, safe_extract_zip
from .errors import UserInputError
from .images import check_image, image_to_tensor, is_image_name, open_image
from .settings import whole_number

PREPROCESS_MODES = ("resize_crop", "crop", "scale_width", "none", "resize")
LOAD_FACTOR = 1.12  # official: load 286, crop 256


@dataclass
class DataReport:
    n_a: int
    n_b: int
    skipped_non_images: int
    unreadable: list[str]  # "trainB/broken.png", relative to the dataset root
    source: str
    reasons: dict[str, str] = field(default_factory=dict)  # unreadable name -> why

    def summary(self) -> str:
        parts = [f"{self.n_a} + {self.n_b} images from {self.source}"]
        if self.skipped_non_images:
            parts.append(f"skipped {self.skipped_non_images} non-image file{'s' * (self.skipped_non_images != 1)}")
        if self.unreadable:
            shown = ", ".join(self.unreadable[:5]) + (", ..." if len(self.unreadable) > 5 else "")
            parts.append(f"{len(self.unreadable)} unreadable: {shown}")
        return "; ".join(parts)

    def note(self) -> str | None:
        """What a run says of the files it left out (the first unreadable one with its reason), or
        None when it used every file."""
        if not (self.unreadable or self.skipped_non_images):
            return None
        first = self.unreadable[0] if self.unreadable else None
        return self.summary() + (f" ({first}: {self.reasons[first]})" if first in self.reasons else "")


@dataclass(frozen=True)
class Preprocess:
    """PIL image -> float32 [3, size, size] tensor in value_range, as the official code does it.

    resize_crop: resize to int(size * 1.12), random crop; crop: random crop at full resolution;
    scale_width: width to size keeping aspect, random crop; none / resize: resize to size x size.
    Sides smaller than `size` after these are padded by repeating the edge (a flat border would
    be a feature the discriminator could latch on to)."""
    size: int
    mode: str = "resize_crop"
    flip: bool = True
    value_range: tuple[float, float] = (-1.0, 1.0)

    def __post_init__(self):
        object.__setattr__(self, "size", whole_number(self.size, "image size (pixels)", 1))
        if self.mode not in PREPROCESS_MODES:
            raise UserInputError(f"unknown preprocess {self.mode!r}; choose one of: {', '.join(PREPROCESS_MODES)}")
        lo, hi = (float(v) for v in self.value_range)
        if not lo < hi:
            raise UserInputError(f"value_range must be (low, high) with low < high, got {self.value_range!r}")
        object.__setattr__(self, "value_range", (lo, hi))

    @property
    def load_size(self) -> int:
        """The side a square source should have before cropping."""
        return int(self.size * LOAD_FACTOR) if self.mode in ("resize_crop", "crop") else self.size

    def __call__(self, img: Image.Image) -> torch.Tensor:
        s = self.size
        w, h = img.size
        if self.mode == "resize_crop":
            img = _resize(img, (self.load_size, self.load_size))
        elif self.mode in ("none", "resize"):
            img = _resize(img, (s, s))
        elif self.mode == "scale_width":
            scaled_h = max(1, round(h * s / w))
            if scaled_h > s:  # crop first, in source coordinates: a 1x4000 strip must not become 64x256000
                top = _randint(scaled_h - s + 1)
                box = (0, top * h / scaled_h, w, (top + s) * h / scaled_h)
                img = img.resize((s, s), Image.BICUBIC, box=box)
            else:
                img = _resize(img, (s, scaled_h))
        w, h = img.size
        if w > s or h > s:
            left = _randint(w - s + 1) if w > s else 0
            top = _randint(h - s + 1) if h > s else 0
            img = img.crop((left, top, left + min(w, s), top + min(h, s)))
        x = image_to_tensor(img)
        if x.shape[1] < s or x.shape[2] < s:
            ph, pw = s - x.shape[1], s - x.shape[2]
            x = F.pad(x[None], (pw // 2, pw - pw // 2, ph // 2, ph - ph // 2), mode="replicate")[0]
        if self.flip and torch.rand(()) < 0.5:
            x = x.flip(-1)
        lo, hi = self.value_range
        return x.mul_(hi - lo).add_(lo).contiguous()


def _resize(img: Image.Image, wh: tuple[int, int]) -> Image.Image:
    return img if img.size == wh else img.resize(wh, Image.BICUBIC)


def _randint(n: int) -> int:
    return int(torch.randint(0, n, ()).item())


class ImageFolderDomain(Dataset):
    """One domain as a list of image files, decoded and augmented on each access."""

    def __init__(self, files, *, size: int, preprocess: str = "resize_crop", flip: bool = True,
                 value_range: tuple[float, float] = (-1.0, 1.0), name: str = "A"):
        self.files = [Path(f) for f in files]
        self.transform = Preprocess(size, preprocess, flip, tuple(value_range))
        self.name = name

    def __len__(self) -> int:
        return len(self.files)

    def __getitem__(self, i: int) -> torch.Tensor:
        return self.transform(open_image(self.files[i]))


class DemoDomain(Dataset):
    """One side of a demo world, rendered on the fly; a small LRU cache spares re-rendering."""

    CACHE_BYTES = 32 * 1024**2

    def __init__(self, world: str, seeds, domain: str, *, size: int, preprocess: str = "resize_crop",
                 flip: bool = True, value_range: tuple[float, float] = (-1.0, 1.0), name: str | None = None):
        self.world, self.seeds, self.domain = world, list(seeds), domain
        self.transform = Preprocess(size, preprocess, flip, tuple(value_range))
        self.name = name or domain
        self.render_size = min(max(self.transform.load_size, demo.MIN_SIZE), demo.MAX_SIZE)
        self._cache_items = max(1, self.CACHE_BYTES // (3 * self.render_size**2))
        self._cache: OrderedDict[int, Image.Image] = OrderedDict()
        self._lock = threading.Lock()

    def __getstate__(self):  # workers started by spawn get a fresh cache and lock
        state = self.__dict__.copy()
        state["_cache"], state["_lock"] = OrderedDict(), None
        return state

    def __setstate__(self, state):
        self.__dict__.update(state)
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self.seeds)

    def __getitem__(self, i: int) -> torch.Tensor:
        return self.transform(self.image(i))

    def image(self, i: int) -> Image.Image:
        seed = self.seeds[i]
        with self._lock:
            img = self._cache.get(seed)
            if img is not None:
                self._cache.move_to_end(seed)
                return img
        img = demo.render(self.world, seed, self.domain, self.render_size)
        with self._lock:
            self._cache[seed] = img
            while len(self._cache) > self._cache_items:
                self._cache.popitem(last=False)
        return img


def without_crop(domain: Dataset) -> Dataset:
    """A copy of a domain that resizes straight to the training size instead of resizing larger
    and cropping at random (flips stay): CUT's dataset code does this once the learning rate
    decays. Domains without a resize-and-crop step come back as they are."""
    t = getattr(domain, "transform", None)
    if not isinstance(t, Preprocess) or t.mode != "resize_crop":
        return domain
    out = copy.copy(domain)
    out.transform = dataclasses.replace(t, mode="resize")
    return out


@dataclass
class UnpairedData:
    domain_a: Dataset
    domain_b: Dataset
    domains: tuple[str, str]
    report: DataReport


def open_unpaired(source: str | Path, *, size: int, preprocess: str = "resize_crop", flip: bool = True,
                  value_range: tuple[float, float] = (-1.0, 1.0), split: str = "train",
                  workdir: str | Path | None = None, demo_n: int = 2000, hub_token: str | bool | None = None,
                  hub_cache_only: bool = False) -> UnpairedData:
    """Both domains of `source` (see the module docstring) as datasets of [3, size, size] tensors.
    `hub_token` / `hub_cache_only` concern `hub:` sources only (cyclegan/hubdata.py)."""
    kw = dict(size=size, preprocess=preprocess, flip=flip, value_range=tuple(value_range))
    Preprocess(size, preprocess, flip, tuple(value_range))  # fail on bad settings before any I/O
    if split not in ("train", "test"):
        raise UserInputError(f"split must be 'train' or 'test', got {split!r}")
    if isinstance(source, str) and source.startswith("demo:"):
        return _open_demo(source[len("demo:"):], split, demo_n, kw)
    if isinstance(source, str) and source.startswith("hub:"):
        return _open_hub(source, split, workdir, kw, hub_token, hub_cache_only)

    path = Path(source).expanduser()
    if not path.exists():
        raise UserInputError(f"not found: '{source}' (expected a folder, a .zip file or demo:<world>)")
    if path.is_dir():
        return _open_folder(path, split, f"'{path}'", kw)
    if path.suffix.lower() != ".zip" and not zipfile.is_zipfile(path):
        raise UserInputError(f"'{path.name}' is neither a folder nor a .zip file (expected a folder with "
                             "trainA/ + trainB/, a .zip of one, or demo:<world>)")
    if workdir is not None:
        Path(workdir).mkdir(parents=True, exist_ok=True)
    dest = Path(tempfile.mkdtemp(prefix=f"{path.stem[:40]}-", dir=workdir))
    try:
        root = safe_extract_zip(path, dest, keep=lambda name: is_image_name(name) or name == "domains.json")
        data = _open_folder(root, split, f"'{path.name}'", kw)
    except BaseException:
        shutil.rmtree(dest, ignore_errors=True)
        raise
    if workdir is None:
        _remove_at_exit(dest)
    return data


def _open_hub(source: str, split: str, workdir, kw: dict, token, cache_only: bool) -> UnpairedData:
    from .hubdata import prepare
    root, shown, names, unpacked = prepare(source, split, workdir, token, cache_only)
    try:
        data = _open_folder(root, split, shown, kw)
    except BaseException:
        if unpacked is not None:
            shutil.rmtree(unpacked, ignore_errors=True)
        raise
    if unpacked is not None and workdir is None:
        _remove_at_exit(unpacked)
    if names and data.domains == ("A", "B"):
        data.domains = names
        data.domain_a.name, data.domain_b.name = names
    return data


def _open_demo(world: str, split: str, n: int, kw: dict) -> UnpairedData:
    if world not in demo.world_names():
        raise UserInputError(f"unknown demo world {world!r}; choose one of: "
                             + ", ".join(f"demo:{w}" for w in demo.world_names()))
    n = whole_number(n, "demo_n", 1)
    names = tuple(demo.domains(world))
    if split == "train":
        seeds_a, seeds_b = demo.train_seeds(world, "A", n), demo.train_seeds(world, "B", n)
    else:  # the same scenes in both looks: ground truth for scoring
        seeds_a = seeds_b = demo.test_seeds(world, n)
    a = DemoDomain(world, seeds_a, "A", name=names[0], **kw)
    b = DemoDomain(world, seeds_b, "B", name=names[1], **kw)
    report = DataReport(len(a), len(b), 0, [], f"demo:{world}")
    return UnpairedData(a, b, names, report)


def _open_folder(root: Path, split: str, shown: str, kw: dict) -> UnpairedData:
    dir_a, dir_b, names = _find_pair(root, split, shown)
    files_a, skipped_a, bad_a = _scan(dir_a, shown)
    files_b, skipped_b, bad_b = _scan(dir_b, shown)
    reasons = {**bad_a, **bad_b}
    report = DataReport(len(files_a), len(files_b), skipped_a + skipped_b, list(reasons), shown.strip("'"), reasons)
    a = ImageFolderDomain(files_a, name=names[0], **kw)
    b = ImageFolderDomain(files_b, name=names[1], **kw)
    return UnpairedData(a, b, names, report)


def _subdirs(root: Path) -> list[Path]:
    return sorted((p for p in root.iterdir() if p.is_dir() and not is_hidden(p.name)), key=lambda p: p.name)


def _find_pair(root: Path, split: str, shown: str) -> tuple[Path, Path, tuple[str, str]]:
    subs = _subdirs(root)
    by_name = {p.name.lower(): p for p in subs}
    prefix = "train" if split == "train" else "test"
    for a, b in ((f"{prefix}a", f"{prefix}b"), ("a", "b")):
        if a in by_name and b in by_name and (split == "train" or a != "a"):
            return by_name[a], by_name[b], _domain_names(root, shown)
    if split == "train" and len(subs) == 2 and not {p.name.lower() for p in subs} & DATA_FOLDER_NAMES:
        a, b = sorted(subs, key=lambda p: p.name.casefold())
        return a, b, (domain_name(a.name, f"the folder name {a.name[:40]!r}"),
                      domain_name(b.name, f"the folder name {b.name[:40]!r}"))
    found = ", ".join(f"{p.name}/" for p in subs) or "none"
    expected = ("trainA/ + trainB/, or A/ + B/, or exactly two folders like horses/ + zebras/"
                if split == "train" else "testA/ + testB/")
    raise UserInputError(f"no {prefix}A/ and {prefix}B/ folders in {shown}: found folders: {found} (expected {expected})")


def _domain_names(root: Path, shown: str) -> tuple[str, str]:
    path = root / "domains.json"
    if not path.is_file():
        return ("A", "B")
    try:
        names = json.loads(path.read_text(encoding="utf-8"))
        a, b = names["A"], names["B"]
        if not (isinstance(a, str) and isinstance(b, str) and a.strip() and b.strip() and a != b):
            raise ValueError
    except (ValueError, KeyError, TypeError, UnicodeDecodeError):
        raise UserInputError(f'domains.json in {shown} must look like {{"A": "day", "B": "night"}} '
                             "(two different names)") from None
    return (domain_name(a, f"domains.json in {shown}"), domain_name(b, f"domains.json in {shown}"))


MAX_DOMAIN_NAME = 100   # what a model config accepts (cyclegan/checkpoints.py)


def domain_name(name: str, where: str) -> str:
    """A domain name as models carry it: 1..100 printable characters, on one line; anything else
    is refused when the data is opened, not when the trained model is loaded hours later."""
    text = " ".join(str(name).split())
    if not 0 < len(text) <= MAX_DOMAIN_NAME or not text.isprintable():
        raise UserInputError(f"{where}: a domain name must be 1 to {MAX_DOMAIN_NAME} printable characters, "
                             f"got {len(text)}")
    return text


def _scan(folder: Path, shown: str) -> tuple[list[Path], int, dict[str, str]]:
    """(readable images, non-image files, {unreadable name: why}); at least one image or an error."""
    files, skipped, bad, total = [], 0, {}, 0
    for p in sorted(folder.iterdir(), key=lambda p: p.name):
        if is_hidden(p.name) or not p.is_file():
            continue
        total += 1
        if not is_image_name(p.name):
            skipped += 1
            continue
        try:
            check_image(p)
        except UserInputError as e:
            bad[f"{folder.name}/{p.name}"] = str(e)
            continue
        files.append(p)
    if not files:
        if total == 0:
            detail = "the folder is empty"
        else:
            detail = f"found {total} file{'s' * (total != 1)}, none readable as an image"
        if bad:
            detail += f" ({len(bad)} unreadable, e.g. {next(iter(bad.values()))})"
        raise UserInputError(f"{folder.name}/ has no images: {detail} (in {shown})")
    return files, skipped, bad


_temp_dirs: list[tuple[int, Path]] = []


def _remove_at_exit(path: Path) -> None:
    """Zips opened without a workdir unpack to a temp folder that lives as long as the process;
    a forked worker that exits must not delete it, hence the owner's pid."""
    if not _temp_dirs:
        atexit.register(_cleanup_temp_dirs)
    _temp_dirs.append((os.getpid(), path))


def _cleanup_temp_dirs() -> None:
    for pid, path in _temp_dirs:
        if pid == os.getpid():
            shutil.rmtree(path, ignore_errors=True)


def seed_worker(worker_id: int) -> None:
    """DataLoader worker_init_fn. Our datasets use only torch's RNG, which DataLoader already seeds
    per worker; this seeds `random` and numpy too, for any transform someone adds that uses them."""
    seed = torch.initial_seed() % 2**32
    random.seed(seed)
    np.random.seed(seed)
