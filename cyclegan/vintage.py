"""The built-in real-photo model: the modern → vintage CycleGAN generator that the PyPI package
`vintagify` (MIT licence) ships as `vintagify/resources/G_A2B_epoch33.pth`.

The file is found through the package's install record, never by importing it: vintagify's
`__init__` imports its inference module, which imports matplotlib.pyplot. It is read with
`torch.load(weights_only=True)`, checked against the sha256 in that record, and converted by
layouts.py (a ResNet-9 with affine instance norm and transposed-conv upsampling).
Only the A→B generator is published, so the model has one direction.
"""
from __future__ import annotations

import base64
import dataclasses
import hashlib
import importlib.metadata as md
import warnings
from pathlib import Path

import torch

from . import layouts
from .errors import UserInputError
from .model import CycleModel
from .presets import PRESETS

NAME = "vintage"
DIST = "vintagify"
FILE = "vintagify/resources/G_A2B_epoch33.pth"
DOMAINS = ("modern", "vintage")
TRAIN_SIZE = 512      # vintagify trains and translates 512×512 centre crops (its preprocess.py)
INSTALL = "pip install 'vintagify>=0.1.2'"


def _distribution() -> md.Distribution:
    try:
        return md.distribution(DIST)
    except md.PackageNotFoundError:
        raise UserInputError(f"the built-in '{NAME}' model comes from the vintagify package, which is not "
                             f"installed: {INSTALL}") from None


def available() -> bool:
    """Whether the weights file is installed (for lists of built-in models; reads no weights)."""
    try:
        return weights_path().is_file()
    except UserInputError:
        return False


def weights_path() -> Path:
    dist = _distribution()
    rec = next((f for f in dist.files or () if str(f).replace("\\", "/") == FILE), None)
    path = Path(dist.locate_file(rec if rec is not None else FILE))
    if not path.is_file():
        raise UserInputError(f"vintagify {dist.version} is installed but its weights file '{FILE}' is missing: "
                             f"reinstall it ({INSTALL} --force-reinstall)")
    return path


def _check_record(dist: md.Distribution, path: Path) -> str:
    """sha256 of the file, compared with the one pip recorded at install time (RECORD lists it
    as urlsafe base64 without padding)."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    rec = next((f for f in dist.files or () if str(f).replace("\\", "/") == FILE), None)
    if rec is not None and rec.hash is not None and rec.hash.mode == "sha256":
        got = base64.urlsafe_b64encode(h.digest()).rstrip(b"=").decode()
        if got != rec.hash.value:
            raise UserInputError(f"'{path}' differs from the file vintagify {dist.version} installed (sha256 "
                                 f"mismatch): the installation is damaged; reinstall it ({INSTALL} --force-reinstall)")
    return h.hexdigest()


def provenance(dist: md.Distribution, sha256: str, layout: str) -> dict:
    meta = dist.metadata
    return {"source": f"PyPI package vintagify {dist.version}, file {FILE}",
            "licence": meta.get("License") or "MIT",
            "authors": meta.get("Author") or "",
            "directions": "only A→B (modern → vintage) is published; the package ships no B→A generator",
            "trained_on": "trained by the vintagify authors on real photos (512×512 centre crops)",
            "layout": layout, "sha256": sha256}


def vintage_model() -> CycleModel:
    """A one-direction CycleModel, modern → vintage, at vintagify's training size of 512 px."""
    dist = _distribution()
    path = weights_path()
    sha = _check_record(dist, path)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            # the file was saved from a GPU: its tensors name cuda, so map them to the CPU
            sd = torch.load(str(path), map_location="cpu", weights_only=True)
    except Exception as e:  # weights_only refuses anything but tensors; the rest is a broken file
        raise UserInputError(f"cannot read '{path}': {str(e).splitlines()[0][:200] if str(e) else type(e).__name__}; "
                             f"reinstall vintagify ({INSTALL} --force-reinstall)") from None
    if not isinstance(sd, dict):
        raise UserInputError(f"'{path}' holds a {type(sd).__name__}, not a state dict")
    layout, _ = layouts.recognise(sd, path.name)
    spec, tensors = layouts.convert(sd, path.name)
    preset = dataclasses.replace(PRESETS["cyclegan"], generator=spec, image_size=TRAIN_SIZE,
                                 title="CycleGAN (vintagify's modern → vintage generator)")
    model = CycleModel(preset, domains=DOMAINS, directions=("a2b",),
                       provenance=provenance(dist, sha, layout.describe()))
    model.G_AB.load_state_dict(tensors)
    return model.eval()


__all__ = ["NAME", "DOMAINS", "available", "weights_path", "vintage_model"]
