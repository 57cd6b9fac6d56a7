"""The real-photo task: photo ↔ vintage, built from public-domain / CC0 photos that ship inside
scikit-image, with the vintage side made by the built-in `demo:vintage` model (vintagify's
modern → vintage generator).

`build(folder)` writes an official-layout dataset:

    trainA/  photo crops          trainB/  vintage crops (other pixels: unpaired)
    testA/   photo crops          testB/   the same crops of the vintagified photo (paired)
    domains.json  {"A": "photo", "B": "vintage"}      manifest.json  sources, sha256, boxes

Each photo is vintagified once, whole, at its own resolution (so test ground truth is what the
vintage model does to the full photo, not to a crop). Then each photo is cut into three
vertical bands: the right 30% is held out for testing; of the rest, one half feeds trainA and
the other half trainB (left/right alternating from photo to photo), with a 16 px gap. So no
pixel is in both training domains, no training pixel is in the test set, and both domains see
every kind of content (faces, a cat, coffee, a rocket, galaxies, a retina): with six
licence-clear colour photos, giving each domain its own three photos would let the
discriminators tell the domains apart by subject instead of by look.

Training crops are random squares of `size` px up to the band's short side, resized to `size`
(multi-scale: from 1:1 detail to whole regions shrunk several times); test crops are
`test_size` squares at the photo's own resolution, scored without resizing by
`python -m cyclegan eval`.

scikit-image is needed only to build the dataset (requirements-dev.txt); its files are found
through its install record, never imported, and checked against the sha256 pip recorded.
"""
from __future__ import annotations

import base64
import hashlib
import importlib.metadata as md
import json
import random
from dataclasses import dataclass
from pathlib import Path

from PIL import Image

from .errors import UserInputError
from .settings import whole_number

GAP = 16
TEST_FRACTION = 0.30
DOMAINS = ("photo", "vintage")
INSTALL = "pip install 'scikit-image>=0.22'"


@dataclass(frozen=True)
class Source:
    name: str
    file: str           # path inside the scikit-image distribution
    credit: str
    licence: str        # as scikit-image's docstring of that image states it


# Every colour photograph scikit-image ships (without a download) whose docstring states a public
# domain or CC0 status. (Its stereo motorcycle and immunohistochemistry images state none.)
SOURCES = (
    Source("astronaut", "skimage/data/astronaut.png", "NASA (Eileen Collins)",
           "public domain: 'No known copyright restrictions, released into the public domain.'"),
    Source("coffee", "skimage/data/coffee.png", "Rachel Michetti, courtesy of Pikolo Espresso Bar",
           "CC0: 'No copyright restrictions. CC0 by the photographer (Rachel Michetti).'"),
    Source("chelsea", "skimage/data/chelsea.png", "Stefan van der Walt",
           "CC0: 'No copyright restrictions. CC0 by the photographer (Stefan van der Walt).'"),
    Source("rocket", "skimage/data/rocket.jpg", "SpaceX (DSCOVR launch on Falcon 9)",
           "public domain: 'The image was captured by SpaceX and released in the public domain'"),
    Source("hubble_deep_field", "skimage/data/hubble_deep_field.jpg", "NASA (Hubble eXtreme Deep Field)",
           "public domain: 'The image was captured by NASA and may be freely used in the public domain'"),
    Source("retina", "skimage/data/retina.jpg", "Mikael Häggström (via Wikimedia Commons)",
           "CC0: 'This file is made available under the Creative Commons CC0 1.0 Universal Public Domain "
           "Dedication.'"),
)


def _distribution() -> md.Distribution:
    try:
        return md.distribution("scikit-image")
    except md.PackageNotFoundError:
        raise UserInputError(f"building the photo dataset needs scikit-image's sample photos: {INSTALL}") from None


def source_path(src: Source) -> tuple[Path, str]:
    """(path, sha256) of a source photo, checked against scikit-image's install record."""
    dist = _distribution()
    rec = next((f for f in dist.files or () if str(f).replace("\\", "/") == src.file), None)
    path = Path(dist.locate_file(rec if rec is not None else src.file))
    if not path.is_file():
        raise UserInputError(f"scikit-image {dist.version} has no '{src.file}': {INSTALL} --force-reinstall")
    digest = hashlib.sha256(path.read_bytes()).digest()
    if rec is not None and rec.hash is not None and rec.hash.mode == "sha256":
        if base64.urlsafe_b64encode(digest).rstrip(b"=").decode() != rec.hash.value:
            raise UserInputError(f"'{path}' differs from the file scikit-image {dist.version} installed; "
                                 f"reinstall it ({INSTALL} --force-reinstall)")
    return path, digest.hex()


def bands(width: int, index: int) -> dict[str, tuple[int, int]]:
    """x ranges of one photo: 'A' and 'B' (training, alternating sides) and 'test'."""
    test_x = round(width * (1 - TEST_FRACTION))
    mid = (test_x - GAP) // 2
    left, right = (0, mid - GAP // 2), (mid + GAP // 2, test_x - GAP)
    a, b = (left, right) if index % 2 == 0 else (right, left)
    return {"A": a, "B": b, "test": (test_x, width)}


def _random_square(rng: random.Random, x_range: tuple[int, int], height: int, lo: int) -> tuple[int, int, int, int]:
    x0, x1 = x_range
    short = min(x1 - x0, height)
    side = rng.randint(min(lo, short), short)
    left = rng.randint(x0, x1 - side)
    top = rng.randint(0, height - side)
    return left, top, left + side, top + side


def build(folder, n: int = 500, size: int = 64, n_test: int = 8, test_size: int = 128, seed: int = 0,
          log=print, jpeg_quality: int = 0) -> dict:
    """Write the dataset (see the module docstring); returns its manifest. `jpeg_quality` > 0
    stores the training crops as JPEG (a 256 px build is 94 MB as PNG, 23 MB at quality 95);
    the test pairs stay PNG, since they are the ground truth."""
    from .vintage import vintage_model  # the vintage side's maker; loads torch nets only when building

    n, size = whole_number(n, "--n", 1), whole_number(size, "--size", 16, 1024)
    n_test, test_size = whole_number(n_test, "--n-test", 0), whole_number(test_size, "--test-size", 16, 1024)
    jpeg_quality = whole_number(jpeg_quality, "--jpeg", 0, 100)
    root = Path(folder)
    if root.exists() and any(root.iterdir()):
        raise UserInputError(f"'{root}' is not empty: give a new folder")
    paths = {s.name: source_path(s) for s in SOURCES}
    model = vintage_model()
    rng = random.Random(seed)
    for sub in ("trainA", "trainB", "testA", "testB"):
        (root / sub).mkdir(parents=True, exist_ok=True)
    photos, vintage, boxes = {}, {}, {}
    for i, src in enumerate(SOURCES):
        path, _ = paths[src.name]
        with Image.open(path) as im:
            photos[src.name] = im.convert("RGB")
        w, h = photos[src.name].size
        if min(w, h) < test_size or w * TEST_FRACTION < test_size:
            raise UserInputError(f"{src.name} ({w}×{h}) is too small for {test_size} px test crops")
        log(f"vintagifying {src.name} ({w}×{h}) at its own resolution")
        vintage[src.name] = model.translate(photos[src.name], "a2b", max_side=4096, work_size=min(w, h))
        boxes[src.name] = bands(w, i)
    per_photo = [n // len(SOURCES) + (k < n % len(SOURCES)) for k in range(len(SOURCES))]
    for domain, images in (("A", photos), ("B", vintage)):
        for k, src in enumerate(SOURCES):
            img = images[src.name]
            for j in range(per_photo[k]):
                box = _random_square(rng, boxes[src.name][domain], img.size[1], size)
                crop = img.crop(box).resize((size, size), Image.Resampling.LANCZOS)
                name = root / f"train{domain}" / f"{src.name}_{j:04d}"
                if jpeg_quality:
                    crop.save(name.with_suffix(".jpg"), quality=jpeg_quality)
                else:
                    crop.save(name.with_suffix(".png"))
    test_boxes: dict[str, list] = {}
    for src in SOURCES:
        for j in range(n_test):
            x0, x1 = boxes[src.name]["test"]
            left = rng.randint(x0, x1 - test_size)
            top = rng.randint(0, photos[src.name].size[1] - test_size)
            box = (left, top, left + test_size, top + test_size)
            test_boxes.setdefault(src.name, []).append(list(box))
            photos[src.name].crop(box).save(root / "testA" / f"{src.name}_{j:02d}.png")
            vintage[src.name].crop(box).save(root / "testB" / f"{src.name}_{j:02d}.png")
    (root / "domains.json").write_text(json.dumps({"A": DOMAINS[0], "B": DOMAINS[1]}))
    manifest = {
        "task": "photo (A) ↔ vintage (B); B made by demo:vintage (vintagify) from the whole photo at its own "
                "resolution; train A and train B from different bands of each photo; test from a held-out band",
        "seed": seed, "size": size, "train_format": f"jpeg {jpeg_quality}" if jpeg_quality else "png",
        "n_train_per_domain": n, "n_test": n_test * len(SOURCES), "test_size": test_size,
        "vintage_model": model.provenance.get("source"), "vintage_model_sha256": model.provenance.get("sha256"),
        "sources": [{"name": s.name, "file": s.file, "sha256": paths[s.name][1], "credit": s.credit,
                     "licence": s.licence, "size": list(photos[s.name].size),
                     "bands_x": {k: list(v) for k, v in boxes[s.name].items()},
                     "test_boxes": test_boxes.get(s.name, [])} for s in SOURCES],
    }
    (root / "manifest.json").write_text(json.dumps(manifest, indent=2, ensure_ascii=False))
    return manifest
