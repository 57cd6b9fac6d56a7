"""The CPU inference accelerator, applied where a model is loaded for translating (load_model,
and so the app and the CLIs), never in training: which nets take NNPACK's Winograd convs
(cyclegan/nets/winograd.py) and which memory layout a gradient-free CPU forward runs in.

The decisions were measured per net width with `python -m bench translate --model M` (its
torch_convs_* variants and `--verbose` per-conv table); re-run it before changing them:
- wide nets (base width >= MIN_WIDTH, every published net) run NCHW, and their stride-1 3×3 and
  7×7 convs go through NNPACK;
- narrow nets (the quick scale) run faster with torch's own kernels in channels_last, with no
  layout changes between layers.
CYCLEGAN_NNPACK=0 turns NNPACK off (checked at each call).

Precision: CYCLEGAN_PRECISION=auto|float32|bfloat16 (checked at each call; `--float32` on the
CLIs sets float32). `auto` runs a wide net's CPU forward under bf16 autocast in channels_last
only where the CPU has bf16 matrix hardware (AMX, `amx_bf16` in /proc/cpuinfo): there a ResNet-9
forward at 256 px was measured 2.6x faster than float32. With AVX-512 bf16 dot products alone
(AMD Zen 4) bf16 autocast measured no faster than NNPACK float32, so float32 stays; narrow nets
stay float32 everywhere (not measured faster). `python -m bench translate` reports what ran.
"""
from __future__ import annotations

import contextlib
import functools
import os

import torch
from torch import nn

from .errors import UserInputError
from .nets import winograd

PRECISIONS = ("auto", "float32", "bfloat16")

MIN_WIDTH = 64


def is_wide(net: nn.Module, min_width: int = MIN_WIDTH) -> bool:
    """The net's base width (the channels its first conv makes from the image) is at least
    `min_width`: 64 in every published net, 16 at the quick scale."""
    first = next((m for m in net.modules() if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d))), None)
    return first is not None and first.out_channels >= min_width


def accelerate(model) -> int:
    """Switch the eligible convs of a model's wide generators to NNPACK, in place; returns how
    many. The switched convs run NNPACK only without gradients, so a model that is trained
    afterwards still trains on torch's convs."""
    return sum(winograd.switch(g) for g in (model.G_AB, model.G_BA) if g is not None and is_wide(g))


def cpu_layout(net: nn.Module) -> torch.memory_format:
    """The memory format a gradient-free CPU forward of `net` runs fastest in (see above):
    channels_last for bf16 (oneDNN's bf16 kernels want it) and for narrow nets."""
    if inference_dtype(net, torch.device("cpu")) == torch.bfloat16:
        return torch.channels_last
    return torch.contiguous_format if is_wide(net) else torch.channels_last


def warm_up() -> bool:
    """NNPACK sizes its thread pool once, at its first call: make that call now, at the thread
    count translating should use (a server calls this at launch, before training lowers it)."""
    return winograd.warm_up()


@functools.lru_cache(maxsize=1)
def cpu_flags() -> frozenset[str]:
    """The CPU's feature flags from /proc/cpuinfo (empty where there is none)."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("flags"):
                    return frozenset(line.split(":", 1)[1].split())
    except OSError:
        pass
    return frozenset()


def cpu_features() -> dict:
    """What this CPU offers the fast paths, for the benchmarks' reports."""
    flags = cpu_flags()
    return {"cpu_capability": torch.backends.cpu.get_cpu_capability(),
            "avx512_bf16": "avx512_bf16" in flags, "amx_bf16": "amx_bf16" in flags,
            "avx2": "avx2" in flags, "nnpack": winograd.available()}


def precision_setting() -> str:
    value = os.environ.get("CYCLEGAN_PRECISION", "auto").strip().lower() or "auto"
    if value in ("fp32", "f32"):
        value = "float32"
    if value in ("bf16",):
        value = "bfloat16"
    if value not in PRECISIONS:
        raise UserInputError(f"CYCLEGAN_PRECISION must be one of {', '.join(PRECISIONS)}, got {value!r}")
    return value


def inference_dtype(net: nn.Module, device: torch.device) -> torch.dtype:
    """float32, or bfloat16 (autocast) for a CPU forward of `net` (see the module's docstring)."""
    if device.type != "cpu":
        return torch.float32
    setting = precision_setting()
    if setting == "auto":
        return torch.bfloat16 if "amx_bf16" in cpu_flags() and is_wide(net) else torch.float32
    return torch.bfloat16 if setting == "bfloat16" else torch.float32


def inference_context(net: nn.Module, device: torch.device):
    """bf16 autocast where inference_dtype chose it; nothing otherwise."""
    if inference_dtype(net, device) == torch.bfloat16:
        return torch.autocast("cpu", dtype=torch.bfloat16)
    return contextlib.nullcontext()
