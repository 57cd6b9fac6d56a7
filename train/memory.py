"""How much memory a training run will take, estimated before anything is allocated, so that a
run the machine cannot hold is refused with a number instead of killing the process.

The nets are built on torch's meta device (shapes, no storage) and run once on a meta batch;
every leaf module's output is counted. A training step keeps the activations of each generator
pass for backward (4 passes, 6 with the identity loss) and of the discriminator passes, plus the
weights, their gradients and the optimizer's moments. The factors below were fitted to the peak
RSS measured by `python -m bench train` (README, Performance): CycleGAN full 128 px 1.85 GB
(estimate 1.86), 256 px 3.67 GB (3.72), DiscoGAN full batch 64 1.66 GB (1.77), DualGAN full
128 px 2.96 GB (3.38), the quick nets 0.76-0.85 GB (0.75-0.83). It errs on the high side for
U-Nets, which is the safe side.
"""
from __future__ import annotations

import functools
import json

import torch

from cyclegan.nets import build_net, count_parameters
from cyclegan.presets import Preset

BASE_MB = 700          # Python, torch and the data pipeline, before any net
PER_ACTIVATION = 0.9   # bytes kept per byte of leaf output, per pass (measured fit)
PER_PARAMETER = 4.7    # bytes per byte of weights: gradients, optimizer moments, copies


def _leaf_output_bytes(net: torch.nn.Module, x: torch.Tensor) -> tuple[int, torch.Tensor]:
    total = [0]

    def count(_module, _inputs, out):
        for t in (out if isinstance(out, (tuple, list)) else (out,)):
            if isinstance(t, torch.Tensor):
                total[0] += t.numel() * 4

    hooks = [m.register_forward_hook(count) for m in net.modules() if not list(m.children())]
    try:
        with torch.no_grad():
            y = net(x)
    finally:
        for h in hooks:
            h.remove()
    return total[0], y


@functools.lru_cache(maxsize=64)
def _estimate(preset_json: str, batch: int) -> int:
    p = Preset.from_dict(json.loads(preset_json))
    with torch.device("meta"):
        g = build_net(p.generator.family, p.generator.kwargs)
        d = build_net(p.discriminator.family, p.discriminator.kwargs)
        x = torch.empty(batch, 3, p.image_size, p.image_size)
        g_bytes, fake = _leaf_output_bytes(g, x)
        d_bytes, _ = _leaf_output_bytes(d, fake)
    g_passes = 6 if p.lambda_identity > 0 else 4
    params = 4 * (2 * count_parameters(g) + 2 * count_parameters(d))
    total = BASE_MB * 1e6 + PER_ACTIVATION * (g_passes * g_bytes + 2 * d_bytes) + PER_PARAMETER * params
    return int(total / 1e6)


def estimate_mb(preset: Preset) -> int:
    """Estimated peak memory (MB) of training `preset` at its image size and batch size."""
    return _estimate(json.dumps(preset.to_dict(), sort_keys=True), int(preset.batch_size))
