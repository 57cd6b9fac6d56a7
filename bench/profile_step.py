"""`python -m bench profile`: where one Trainer step's time goes (torch.profiler, self time per
operator), grouped into convolutions, norms, padding, activations, optimizer, copies / layout
conversions, losses and the rest."""
from __future__ import annotations

import tempfile
from collections import defaultdict

from torch.profiler import ProfilerActivity, profile

from .timing import environment, set_threads, timed
from .variants import make_trainer, parse_overrides

CATEGORIES = (
    ("conv", ("convolution", "conv2d", "conv_transpose", "mkldnn_convolution", "_convolution", "slow_conv")),
    ("norm", ("group_norm", "batch_norm", "instance_norm", "native_norm", "var_mean", "rsqrt")),
    ("pad", ("reflection_pad", "replication_pad", "constant_pad", "aten::pad")),
    ("activation", ("relu", "threshold", "leaky_relu", "tanh", "sigmoid", "clamp_min", "hardtanh")),
    ("optimizer", ("_foreach_", "addcdiv", "addcmul", "lerp", "_fused_adam", "sqrt", "Optimizer.")),
    ("copy_layout", ("copy_", "_to_copy", "aten::cat", "aten::clone", "contiguous", "aten::stack", "as_strided")),
    ("loss", ("mse_loss", "l1_loss", "binary_cross_entropy", "aten::sub", "aten::abs", "aten::mean", "sgn")),
    ("alloc_fill", ("empty", "zeros", "fill_", "full", "resize_")),
)


def category(name: str) -> str:
    for cat, keys in CATEGORIES:
        if any(k in name for k in keys):
            return cat
    return "other"


def run(args) -> dict:
    threads = set_threads(args.threads)
    with tempfile.TemporaryDirectory(prefix="bench-profile-") as tmp:
        trainer = make_trainer(args.arch, args.recipe, args.scale, args.size, args.batch, args.device, threads, f"{tmp}/run",
                               seed=args.seed, overrides=parse_overrides(args.set))
        dev = trainer.device
        for _ in range(max(1, args.warmup)):
            trainer.train_step()
        plain = [timed(trainer.train_step, dev)[0] for _ in range(args.steps)]
        acts = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if dev.type == "cuda" else [])
        with profile(activities=acts) as prof:
            for _ in range(args.steps):
                timed(trainer.train_step, dev)
        rows = [e for e in prof.key_averages() if e.key.startswith("aten::")]
        total = sum(e.self_cpu_time_total for e in rows) / 1e3 / args.steps
        by_cat: dict[str, float] = defaultdict(float)
        for e in rows:
            by_cat[category(e.key)] += e.self_cpu_time_total / 1e3 / args.steps
        opt = [e for e in prof.key_averages() if e.key.startswith("Optimizer.step")]
        top = sorted(rows, key=lambda e: e.self_cpu_time_total, reverse=True)[:args.top]
        p = trainer.preset
        return {
            "bench": "profile", "arch": p.architecture, "recipe": p.recipe, "scale": p.scale, "size": p.image_size,
            "batch": p.batch_size, "steps": args.steps, **environment(dev),
            "step_s_unprofiled": plain, "aten_self_ms_per_step": round(total, 1),
            "by_category_ms": {k: round(v, 1) for k, v in sorted(by_cat.items(), key=lambda kv: -kv[1])},
            "by_category_share": {k: round(v / total, 3) for k, v in sorted(by_cat.items(), key=lambda kv: -kv[1])},
            "optimizer_step_ms": {e.key: round(e.cpu_time_total / 1e3 / args.steps, 1) for e in opt},
            "top_ops": [{"op": e.key, "category": category(e.key),
                         "self_ms": round(e.self_cpu_time_total / 1e3 / args.steps, 1),
                         "calls": e.count // args.steps} for e in top],
            "channels_last": trainer.channels_last, "fuse_passes": trainer.cfg.fuse_passes,
        }
