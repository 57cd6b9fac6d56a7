"""The Trainer under test: a real `train.Trainer` on the built-in dataset that never logs,
samples or checkpoints by itself, optionally with a variant applied.

Variants change the Trainer from the outside (config fields or patches applied to one trainer's
own objects, never to the library's files), to measure an optimisation before anyone writes it:

    nchw            channels_last=False (a no-op on CPU, where the Trainer already uses NCHW)
    cl_cpu          channels_last on CPU too (what the Trainer did before it measured this)
    nofuse          fuse_passes=False
    item_every_step every loss read with .item() after every step (a sync on GPU; on CPU ~free)
    adam_fused      torch.optim.Adam(fused=True) (the Trainer's default on CPU and CUDA)
    adam_foreach    torch.optim.Adam(foreach=True) (the Trainer's CPU default before fused)
    adam_forloop    torch.optim.Adam(foreach=False) (the plain per-tensor loop)
    norm_nchw       instance norm computed on an NCHW copy (accurate group_norm kernel), result
                    returned in the input's layout
    torch_norm      torch's nn.InstanceNorm2d (batch_norm kernel) instead of the group_norm one
    last_conv_cl    the generators' last conv (7x7, 64 -> 3) alone in channels_last
    nnpack          the generators' stride-1 3x3/7x7 convs forward through NNPACK in training too

Combine with '+': `--variants nchw+adam_fused,norm_nchw`.
"""
from __future__ import annotations

import dataclasses
import types

import torch
import torch.nn.functional as F
from torch import nn

from cyclegan import limits
from cyclegan.errors import UserInputError
from cyclegan.nets import winograd
from train.config import TrainConfig, parse_field
from train.trainer import Trainer

from .reference import use_torch_instance_norm

HUGE = 10**9


def parse_overrides(pairs: list[str] | None) -> dict:
    """`--set channels_last=false --set fuse_passes=0`: TrainConfig fields, parsed as the
    training CLI parses its flags."""
    out = {}
    for pair in pairs or []:
        key, sep, raw = pair.partition("=")
        key = key.strip().replace("-", "_")
        if not sep or key not in {f.name for f in dataclasses.fields(TrainConfig)}:
            raise UserInputError(f"--set expects FIELD=VALUE with a TrainConfig field; got {pair!r}")
        out[key] = parse_field(key, raw)
    return out


def make_trainer(arch: str, recipe: str | None, scale: str, size: int | None, batch: int | None, device: str,
                 threads: int | None, out: str, seed: int = 0, overrides: dict | None = None) -> Trainer:
    """A real Trainer on the built-in dataset that never logs, samples or checkpoints by itself."""
    steps = min(1_000_000, limits.current().max_train_steps)     # long: no LR decay in the window
    cfg = TrainConfig(data="demo:daynight", arch=arch, recipe=recipe, scale=scale, size=size, batch=batch, steps=steps,
                      out=out, seed=seed, device=device, threads=threads, log_every=HUGE, sample_every=HUGE,
                      checkpoint_every=HUGE, **(overrides or {}))
    return Trainer(cfg)


CONFIG_VARIANTS = {"nchw": {"channels_last": False}, "nofuse": {"fuse_passes": False}}


def _item_every_step(trainer) -> None:
    step = trainer.train_step
    trainer.train_step = lambda: {k: float(v) for k, v in step().items()}


def _channels_last_cpu(trainer) -> None:
    """Model and batches in channels_last whatever the device (the Trainer keeps it to CUDA)."""
    trainer.channels_last = True
    trainer.model.to(memory_format=torch.channels_last)


def _rebuild_adam(trainer, **kw) -> None:
    p = trainer.preset
    for name, lr in (("opt_G", p.lr_g), ("opt_D", p.lr_d)):
        old = getattr(trainer, name)
        params = [q for g in old.param_groups for q in g["params"]]
        setattr(trainer, name, torch.optim.Adam(params, lr=lr, betas=p.betas, weight_decay=p.weight_decay, **kw))


def _norm_nchw(trainer) -> None:
    def forward(self, x):
        if x.shape[-1] * x.shape[-2] == 1:
            return torch.zeros_like(x)
        cl = x.dim() == 4 and not x.is_contiguous() and x.is_contiguous(memory_format=torch.channels_last)
        y = F.group_norm(x.contiguous(), x.shape[1], None, None, self.eps)
        return y.contiguous(memory_format=torch.channels_last) if cl else y
    for m in trainer.model.modules():
        if isinstance(m, nn.InstanceNorm2d) and not m.affine:
            m.forward = types.MethodType(forward, m)


def _last_conv_cl(trainer) -> None:
    """Each generator's final 7x7 conv (64 -> 3 channels) in channels_last, the rest as configured:
    oneDNN runs that one shape ~1.6x faster in channels_last, the others as fast or faster in NCHW."""
    def to_cl(module, inputs):
        return (inputs[0].contiguous(memory_format=torch.channels_last),)
    for g in (trainer.model.G_AB, trainer.model.G_BA):
        convs = [m for m in g.modules() if isinstance(m, nn.Conv2d)]
        last = convs[-1]
        last.to(memory_format=torch.channels_last)
        last.register_forward_pre_hook(to_cl)


def _nnpack_generators(trainer) -> None:
    """The generators' stride-1 convs run forward through NNPACK (Winograd / FFT kernels; torch
    uses them on its own only for batches of 16+) in training too; backward stays torch's
    (its derivative is the ordinary conv backward). NCHW float32 only."""
    if not winograd.available():
        return

    def forward(self, x):
        if x.dtype == torch.float32 and x.device.type == "cpu" and getattr(self, "_nnpack_ok", True):
            try:
                return torch._nnpack_spatial_convolution(x.contiguous(), self.weight, self.bias,
                                                         list(self.padding), [1, 1])
            except RuntimeError:
                self._nnpack_ok = False
        return nn.Conv2d.forward(self, x)
    for g in (trainer.model.G_AB, trainer.model.G_BA):
        for m in g.modules():
            if type(m) is winograd.WinogradConv2d or winograd.eligible(m):
                m.forward = types.MethodType(forward, m)


PATCH_VARIANTS = {
    "nnpack": _nnpack_generators,
    "last_conv_cl": _last_conv_cl,
    "cl_cpu": _channels_last_cpu,
    "item_every_step": _item_every_step,
    "adam_fused": lambda t: _rebuild_adam(t, fused=True),
    "adam_foreach": lambda t: _rebuild_adam(t, foreach=True),
    "adam_forloop": lambda t: _rebuild_adam(t, foreach=False),
    "norm_nchw": _norm_nchw,
    "torch_norm": lambda t: [use_torch_instance_norm(n) for n in (t.model.G_AB, t.model.G_BA, t.model.D_A,
                                                                  t.model.D_B)],
}


def build(variant: str, args, tmp: str, threads: int, arch: str | None = None):
    """A Trainer for `args` with `variant` applied ('baseline' or '' = as configured)."""
    parts = [v for v in (variant or "").split("+") if v and v != "baseline"]
    unknown = [v for v in parts if v not in CONFIG_VARIANTS and v not in PATCH_VARIANTS]
    if unknown:
        raise UserInputError(f"unknown variant(s) {unknown}; known: {sorted({*CONFIG_VARIANTS, *PATCH_VARIANTS})}")
    over = parse_overrides(args.set)
    for v in parts:
        over.update(CONFIG_VARIANTS.get(v, {}))
    recipe = getattr(args, "recipe", None) if arch is None else None    # `compare` fixes the architecture
    tr = make_trainer(arch or args.arch, recipe, args.scale, args.size, args.batch, args.device, threads,
                      f"{tmp}/{variant or 'run'}", seed=args.seed, overrides=over)
    for v in parts:
        if v in PATCH_VARIANTS:
            PATCH_VARIANTS[v](tr)
    return tr
