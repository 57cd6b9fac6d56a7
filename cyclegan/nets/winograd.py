"""Inference convolutions through NNPACK's Winograd kernels on CPU: the mechanism. Which nets
use it, and when, is decided in cyclegan/accel.py.

torch hands a convolution to NNPACK on its own only for batches of 16 or more; translating an
image is a batch of 1 to a few tiles, so it runs the direct kernels, which do several times the
arithmetic of Winograd F(6x6, 3x3) on the ResNet's 3×3 convs (its 7×7 ends go through FFT).
A switched conv takes NNPACK when no gradient is wanted and the plain path otherwise. The
numbers agree with torch's conv to float32 rounding (tests/test_winograd.py). CYCLEGAN_NNPACK=0
turns it off."""
from __future__ import annotations

import contextlib
import logging

import torch
from torch import nn

from ..settings import env_bool

_available: bool | None = None
_off = 0
fallbacks = 0           # calls NNPACK refused and torch's conv ran instead (the benchmark reports it)
_pool_threads: int | None = None
log = logging.getLogger(__name__)


def available() -> bool:
    """NNPACK is compiled in, initialises on this CPU, and is not switched off."""
    global _available
    if _off or not env_bool("CYCLEGAN_NNPACK", True):
        return False
    if _available is None:
        try:
            # _nnpack_available() also initialises the library; the direct call below does not.
            _available = bool(torch.backends.nnpack.is_available() and torch._nnpack_available())
        except (AttributeError, RuntimeError):
            _available = False
    return _available


def _threads_match() -> bool:
    """NNPACK sizes its thread pool once, at its first call, and ignores torch.set_num_threads
    after that. Use it only while torch's thread count is the one it started with, so that a
    caller who limits threads (the app while a training run shares the CPU) is obeyed."""
    global _pool_threads
    n = torch.get_num_threads()
    if _pool_threads is None:
        _pool_threads = n
    return n == _pool_threads


def warm_up() -> bool:
    """Make NNPACK's first call now, so its thread pool takes the current thread count (the
    app calls this at launch, before any training run lowers it). True if NNPACK runs here."""
    if not available():
        return False
    conv = WinogradConv2d(1, 1, 3)
    with torch.no_grad():
        conv(torch.zeros(1, 1, 4, 4))
    return True


@contextlib.contextmanager
def disabled():
    """torch's own convs inside the block: for counting FLOPs and for side-by-side checks."""
    global _off
    _off += 1
    try:
        yield
    finally:
        _off -= 1


class WinogradConv2d(nn.Conv2d):
    """An nn.Conv2d (same parameters, same state-dict keys) whose gradient-free CPU float32
    forward runs through NNPACK. Falls back to the plain conv for anything NNPACK refuses."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # Grad mode first: under autograd (and torch.compile of training) nothing else is looked at.
        if (not torch.is_grad_enabled() and not torch.compiler.is_compiling() and x.device.type == "cpu"
                and x.dtype == self.weight.dtype == torch.float32 and x.dim() == 4
                and not torch.is_autocast_enabled("cpu") and available() and _threads_match()):
            try:
                return torch._nnpack_spatial_convolution(x.contiguous(), self.weight, self.bias,
                                                         list(self.padding), [1, 1])
            except RuntimeError as e:  # e.g. an input smaller than the kernel: let torch explain
                global fallbacks
                fallbacks += 1
                if fallbacks == 1:
                    log.info("NNPACK refused a convolution, torch's own kernel ran instead: %s", e)
        return super().forward(x)


def eligible(m: nn.Module, kernels: tuple[int, ...] = (3, 7)) -> bool:
    """Stride 1, no dilation or groups, zero padding given as numbers, and a kernel size where
    NNPACK beat torch's best layout per conv when measured (`python -m bench translate
    --verbose` prints the per-conv table): 3×3, and the ResNet's 7×7 ends."""
    return (type(m) is nn.Conv2d and m.stride == (1, 1) and m.dilation == (1, 1) and m.groups == 1
            and m.padding_mode == "zeros" and not isinstance(m.padding, str)
            and m.kernel_size[0] == m.kernel_size[1] and m.kernel_size[0] in kernels)


def switch(net: nn.Module) -> int:
    """Turn the eligible convs of `net` into WinogradConv2d in place (same parameters, same
    state-dict keys); returns how many."""
    convs = [m for m in net.modules() if eligible(m)]
    for m in convs:
        m.__class__ = WinogradConv2d
    return len(convs)


def plain(net: nn.Module) -> nn.Module:
    """Undo `switch` in place (for a yardstick that must run torch's own kernels)."""
    for m in net.modules():
        if type(m) is WinogradConv2d:
            m.__class__ = nn.Conv2d
    return net
