"""Image embeddings for the unpaired score: a seeded random CNN shipped as code, or Inception
from a local weights file.

The random network follows the advice of Naeem et al. 2020 ("Reliable Fidelity and Diversity
Metrics for Generative Models"): embed images with a randomly initialised CNN, which carries no
ImageNet bias and needs no download. Ours is a small VGG-style stack (3x3 convs with ReLU, five
stride-2 stages, 0.14 GFLOPs an image) so that scoring 200 images takes about a second on one
CPU thread; its features are the global average of every stage, so colour (early stages) and
structure (late stages) both count. Its numbers are not comparable with Inception KID/FID and
are always labelled "random features".

Its weights come from SplitMix64 (Steele, Lea & Flood 2014) run in plain Python integers and
turned into floats with IEEE-exact operations, so they are bit-identical on every machine and
torch version; torch's own generators make no such promise across versions.
"""
from __future__ import annotations

import functools
import hashlib
import math
import tempfile
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from cyclegan.errors import UserInputError

SEED = 20200223            # arXiv 2002.09797's submission date; any fixed number would do
SIDE = 128                 # every image is resized to SIDE x SIDE before embedding
CHANNELS = (32, 64, 128, 256, 256)
VERSION = "rf1"            # bump when anything above changes: old scores are then incomparable
DIM = sum(CHANNELS)
LABEL = f"random features (seeded CNN {VERSION}, seed {SEED}, {DIM}-d, {SIDE} px)"

INCEPTION_FILE = "weights-inception-2015-12-05-6726825d.pth"
INCEPTION_URL = f"https://github.com/toshas/torch-fidelity/releases/download/v0.2.0/{INCEPTION_FILE}"

_MASK = (1 << 64) - 1


def splitmix64(seed: int, n: int) -> list[int]:
    """n 53-bit integers from SplitMix64 started at `seed` (exact, platform-independent)."""
    out, s = [0] * n, seed & _MASK
    for i in range(n):
        s = (s + 0x9E3779B97F4A7C15) & _MASK
        z = s
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & _MASK
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _MASK
        out[i] = (z ^ (z >> 31)) >> 11
    return out


@functools.lru_cache(maxsize=1)
def _weights(seed: int) -> tuple[torch.Tensor, ...]:
    """Kaiming-uniform conv weights (bound sqrt(6 / fan_in), the ReLU gain), one stream for all
    layers in order. u * 2**-53, 2u - 1 and the scaling are exact or correctly rounded in float64;
    the final float32 cast rounds to nearest: no step depends on the platform."""
    shapes = [(c_out, c_in, 3, 3) for c_in, c_out in zip((3,) + CHANNELS[:-1], CHANNELS)]
    ints = splitmix64(seed, sum(math.prod(s) for s in shapes))
    u = torch.tensor(ints, dtype=torch.int64).double() * 2.0 ** -53
    out, start = [], 0
    for shape in shapes:
        size = math.prod(shape)
        bound = math.sqrt(6.0 / (shape[1] * 9))
        out.append(((u[start:start + size] * 2 - 1) * bound).float().reshape(shape))
        start += size
    return tuple(out)


class RandomFeatures(nn.Module):
    """[N, 3, H, W] images in [0, 1] -> [N, DIM] embeddings; fixed weights, no training."""

    num_features = DIM

    def __init__(self, seed: int = SEED):
        super().__init__()
        self.seed = int(seed)
        self.label = LABEL if self.seed == SEED else LABEL.replace(f"seed {SEED}", f"seed {self.seed}")
        self.convs = nn.ModuleList(nn.Conv2d(i, o, 3, stride=2, padding=1, bias=False)
                                   for i, o in zip((3,) + CHANNELS[:-1], CHANNELS))
        with torch.no_grad():
            for conv, w in zip(self.convs, _weights(seed)):
                conv.weight.copy_(w)
        self.requires_grad_(False)
        self.eval()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.float()
        if x.shape[-2:] != (SIDE, SIDE):
            x = F.interpolate(x, size=(SIDE, SIDE), mode="bilinear", align_corners=False, antialias=True)
        x = (x.clamp(0, 1) - 0.5) / 0.5
        pooled = []
        for conv in self.convs:
            x = F.relu(conv(x))
            pooled.append(x.mean(dim=(2, 3)))
        return torch.cat(pooled, dim=1)


def weights_sha256(net: RandomFeatures) -> str:
    """Checksum of the float32 weights (little-endian), for tests and for reports."""
    h = hashlib.sha256()
    for conv in net.convs:
        h.update(conv.weight.detach().cpu().contiguous().numpy().astype("<f4").tobytes())
    return h.hexdigest()


class InceptionFeatures(nn.Module):
    """The FID Inception v3 (2048-d pool features, via torchmetrics/torch-fidelity) from a local file."""

    num_features = 2048

    def __init__(self, weights_path):
        super().__init__()
        self.net = load_inception(weights_path)
        self.label = f"inception ({weights_path})"

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net((x.clamp(0, 1) * 255).round().to(torch.uint8))


def missing_inception_message() -> str:
    return (f"Inception features need the FID Inception weights as a local file, and this tool never "
            f"downloads them: get {INCEPTION_FILE} from {INCEPTION_URL} and pass its path with "
            f"--inception-weights PATH (inception_weights= in Python); or use --features random")


def load_inception(weights_path):
    """torchmetrics' NoTrainInceptionV3 with weights from `weights_path` (.pth or .safetensors).

    torch-fidelity unpickles the file it is given with weights_only=False, so it is never given
    the user's file: we read that with weights_only=True (or safetensors), keep only tensors and
    hand over a copy we wrote ourselves."""
    if not weights_path:
        raise UserInputError(missing_inception_message())
    path = Path(weights_path).expanduser()
    if not path.is_file():
        raise UserInputError(f"Inception weights file not found: '{path}'. " + missing_inception_message())
    try:
        from torchmetrics.image.fid import NoTrainInceptionV3
        import torch_fidelity  # noqa: F401  (NoTrainInceptionV3 is built on it)
    except ImportError:
        raise UserInputError("Inception features need torch-fidelity: pip install torch-fidelity "
                             "(or use --features random)") from None
    state = _read_state_dict(path)
    with tempfile.TemporaryDirectory(prefix="inception-") as tmp:
        copy = Path(tmp) / "weights.pth"
        torch.save(state, copy)
        try:
            return NoTrainInceptionV3(name="inception-v3-compat", features_list=["2048"],
                                      feature_extractor_weights_path=str(copy))
        except RuntimeError as e:  # load_state_dict: missing / unexpected keys, wrong shapes
            first = str(e).strip().splitlines()[0][:200]
            raise UserInputError(f"'{path.name}' is not the FID Inception v3 weights ({first}); expected "
                                 f"{INCEPTION_FILE} from {INCEPTION_URL}") from None


def _read_state_dict(path: Path) -> dict[str, torch.Tensor]:
    """The same readers as a model's weights: safetensors, or torch.load(weights_only=True) with
    its refusals worded the same (a pickle carrying code is named as such)."""
    from cyclegan.weights import read_pth, read_safetensors
    if path.suffix.lower() == ".safetensors":
        state, _ = read_safetensors(path)
    else:
        state = read_pth(path)
    if not isinstance(state, dict) or not state or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise UserInputError(f"'{path.name}' holds no state dict of tensors; expected {INCEPTION_FILE} "
                             f"from {INCEPTION_URL}")
    return {str(k): v for k, v in state.items()}
