"""The live score of a training run: every few steps, KID of the current generators' translations
of held-out source images against held-out real target images, on the seeded random-feature
CNN of `cyclegan.features` (labelled "KID (random features)": not Inception KID). Lower is better.

Which images: on a demo world the test scenes (never trained on; the translated scenes and the
real references are different scenes, as in `cyclegan.score`); on a folder or zip its testA/ +
testB/, or, without them, the training images themselves (said in every record as split
"train": then the score cannot see overfitting). The real images' features and the source images
are computed once, at the first score; each score then costs one generator pass and one
feature pass over `n` images per direction, plus KID's subset sums (no FID: its matrix square
root would be most of the cost at this n).
"""
from __future__ import annotations

import tempfile
import time
from pathlib import Path

import torch

from cyclegan import score as scoring
from cyclegan.features import RandomFeatures
from cyclegan.presets import Preset

BATCH = 16


def data_root(spec: str, data) -> str:
    """What the score reads: the demo spec itself, else the dataset folder holding the domains'
    folders (for a zip, where the trainer unpacked it)."""
    if str(spec).startswith("demo:"):
        return str(spec)
    return str(Path(data.domain_a.files[0]).parent.parent)


class LiveScore:
    """Scores a model on fixed held-out images; set up once, at the first call."""

    def __init__(self, spec: str, data, preset: Preset, n: int = 100):
        self.root = data_root(spec, data)
        self.size, self.n = preset.image_size, int(n)
        self.directions = tuple(preset.directions)
        self._sets: dict | None = None
        self.setup_seconds = 0.0

    def _prepare(self) -> None:
        t0 = time.perf_counter()
        self.features = RandomFeatures()
        self._sets = {}
        with tempfile.TemporaryDirectory(prefix="cyclegan-live-score-") as tmp, torch.inference_mode():
            for d in self.directions:
                imgs = scoring.images(self.root, d, self.n, self.size, Path(tmp))
                source = torch.stack([load() for load in imgs.source])
                real = self._embed(torch.stack([load() for load in imgs.reference]))
                src_feats = self._embed(source)
                identity = scoring.kid_fid(src_feats, real, fid=False)
                # [0, 1] images decoded from 8-bit files: kept as bytes, exactly
                self._sets[d] = {"source": (source * 255).round().to(torch.uint8), "real": real,
                                 "identity": identity, "split": imgs.split,
                                 "source_desc": imgs.source_desc, "reference_desc": imgs.reference_desc}
        self.setup_seconds = time.perf_counter() - t0

    def _embed(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([self.features(x[i:i + BATCH]).float() for i in range(0, len(x), BATCH)])

    def score(self, model) -> dict:
        """{metric, kid_<dir>, kid_<dir>_std, identity_kid_<dir>, score (mean KID over the
        directions), n_fake, n_real, split, ...}; the model is used as it is (call eval() first)."""
        first = self._sets is None
        if first:
            self._prepare()
        out = {"metric": "KID (random features)"}
        kids = []
        with torch.inference_mode():
            for d, s in self._sets.items():
                fakes = []
                for i in range(0, len(s["source"]), BATCH):
                    x = s["source"][i:i + BATCH].float() / 255
                    fakes.append(self.features(model.translate_tensor(x, d).float().clamp(0, 1)).float())
                k = scoring.kid_fid(torch.cat(fakes), s["real"], fid=False)
                out[f"kid_{d}"], out[f"kid_{d}_std"] = k["kid"], k["kid_std"]
                out[f"identity_kid_{d}"] = s["identity"]["kid"]
                kids.append(k["kid"])
        first_set = next(iter(self._sets.values()))
        out.update(score=sum(kids) / len(kids), n_fake=len(first_set["source"]), n_real=len(first_set["real"]),
                   split=first_set["split"], source=first_set["source_desc"], reference=first_set["reference_desc"],
                   features=self.features.label)
        if first:
            out["setup_seconds"] = round(self.setup_seconds, 3)
        return out
