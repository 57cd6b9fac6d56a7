"""`python -m bench ablate`: A/B-time the real Trainer step against variants of it, in one
process, interleaved (baseline, variant, baseline, ...), so noisy neighbours hit both alike.

Variants change the Trainer from the outside (config fields or patches applied to one trainer's
own objects, never to the library's files), to measure an optimisation before anyone writes it:

    nchw            channels_last=False
    nofuse          fuse_passes=False
    adam_fused      torch.optim.Adam(fused=True) on CPU too (one pass over each tensor)
    adam_forloop    torch.optim.Adam(foreach=False) (the plain per-tensor loop)
    norm_nchw       instance norm computed on an NCHW copy (accurate group_norm kernel), result
                    returned in the input's layout
    torch_norm      torch's nn.InstanceNorm2d (batch_norm kernel) instead of the group_norm one

Combine with '+': `--variants nchw+adam_fused,norm_nchw`.
"""
from __future__ import annotations

import statistics
import tempfile
import types

import torch
import torch.nn.functional as F
from torch import nn

from .reference import use_torch_instance_norm
from .timing import Clock, environment, set_threads
from .train_bench import make_trainer, parse_overrides

CONFIG_VARIANTS = {"nchw": {"channels_last": False}, "nofuse": {"fuse_passes": False}}


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


PATCH_VARIANTS = {
    "adam_fused": lambda t: _rebuild_adam(t, fused=True),
    "adam_forloop": lambda t: _rebuild_adam(t, foreach=False),
    "norm_nchw": _norm_nchw,
    "torch_norm": lambda t: [use_torch_instance_norm(n) for n in (t.model.G_AB, t.model.G_BA, t.model.D_A, t.model.D_B)],
}


def build(variant: str, args, tmp: str, threads: int):
    parts = [v for v in variant.split("+") if v and v != "baseline"]
    unknown = [v for v in parts if v not in CONFIG_VARIANTS and v not in PATCH_VARIANTS]
    if unknown:
        raise SystemExit(f"unknown variant(s) {unknown}; known: {sorted({*CONFIG_VARIANTS, *PATCH_VARIANTS})}")
    over = parse_overrides(args.set)
    for v in parts:
        over.update(CONFIG_VARIANTS.get(v, {}))
    tr = make_trainer(args.arch, args.preset, args.size, args.batch, args.device, threads, f"{tmp}/{variant}",
                      seed=args.seed, overrides=over)
    for v in parts:
        if v in PATCH_VARIANTS:
            PATCH_VARIANTS[v](tr)
    return tr


def run(args) -> dict:
    threads = set_threads(args.threads)
    rows, dev = [], None
    with tempfile.TemporaryDirectory(prefix="bench-ablate-") as tmp:
        for variant in [v.strip() for v in args.variants.split(",") if v.strip()]:
            base, var = build("baseline", args, tmp, threads), build(variant, args, tmp, threads)
            dev = base.device
            for _ in range(args.warmup):
                base.train_step()
                var.train_step()
            cb, cv = Clock(base.device), Clock(var.device)
            for i in range(args.steps):
                order = ((cb, base), (cv, var)) if i % 2 == 0 else ((cv, var), (cb, base))
                for clock, tr in order:
                    clock(tr.train_step)
            mb, mv = statistics.median(cb.wall), statistics.median(cv.wall)
            rows.append({"variant": variant, "baseline_median_s": mb, "variant_median_s": mv,
                         "baseline_min_s": min(cb.wall), "variant_min_s": min(cv.wall),
                         "speedup": mb / mv, "speedup_min": min(cb.wall) / min(cv.wall),
                         "baseline_cpu_median_s": statistics.median(cb.cpu),
                         "variant_cpu_median_s": statistics.median(cv.cpu),
                         "baseline_times_s": [round(t, 4) for t in cb.wall],
                         "variant_times_s": [round(t, 4) for t in cv.wall]})
            del base, var
    return {"bench": "ablate", "arch": args.arch, "preset": args.preset, "size": args.size, "steps": args.steps,
            **environment(dev), "results": rows}
