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
"""
from __future__ import annotations

import torch
from torch import nn

from .nets import winograd

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
    """The memory format a gradient-free CPU forward of `net` runs fastest in (see above)."""
    return torch.contiguous_format if is_wide(net) else torch.channels_last


def warm_up() -> bool:
    """NNPACK sizes its thread pool once, at its first call: make that call now, at the thread
    count translating should use (a server calls this at launch, before training lowers it)."""
    return winograd.warm_up()
