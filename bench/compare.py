"""`python -m bench compare`: our Trainer against the plain published CycleGAN step
(bench/reference.py) in one process: same preset, seed, size, threads, initial weights and
batches. The first step's losses must agree (same mathematics); then both run N steps,
interleaved, and the ratio of medians is the speed-up."""
from __future__ import annotations

import itertools
import math
import statistics
import tempfile

import torch

from train.feed import batch_stream

from .reference import ReferenceCycleGAN
from .timing import Clock, environment, peak_mem_mb, set_threads, summary, timed
from .variants import build

LOSSES = ("G_AB", "G_BA", "cycle_A", "cycle_B", "idt_A", "idt_B", "D_A", "D_B")


def compare_losses(ours: dict, ref: dict, rtol: float, atol: float) -> dict:
    rows, ok = {}, True
    for k in LOSSES:
        a, b = float(ours[k]), float(ref[k])
        diff = abs(a - b)
        good = math.isfinite(a) and math.isfinite(b) and diff <= atol + rtol * abs(b)
        ok &= good
        rows[k] = {"ours": a, "reference": b, "rel_diff": diff / abs(b) if b else diff, "ok": good}
    return {"agree": ok, "rtol": rtol, "atol": atol, "losses": rows}


def run(args) -> dict:
    threads = set_threads(args.threads)
    with tempfile.TemporaryDirectory(prefix="bench-compare-") as tmp:
        trainer = build(args.variant, args, tmp, threads, arch="cyclegan")
        return measure(trainer, args)


def measure(trainer, args) -> dict:
    p, dev, seed = trainer.preset, trainer.device, trainer.cfg.seed
    ref = ReferenceCycleGAN(p, dev, seed, torch_norm=args.reference_norm == "torch")
    ref.load_weights_from(trainer.model)           # the very same initial weights, kept NCHW
    same_weights = all(torch.equal(a, b.to(a.dtype)) for name in ("G_AB", "G_BA", "D_A", "D_B")
                       for a, b in zip(getattr(ref, name).state_dict().values(),
                                       getattr(trainer.model, name).state_dict().values()))

    # The reference reads its own copy of the trainer's batch streams (same dataset, seed, tags),
    # so both pay for loading and both see the same images.
    ref_A = batch_stream(trainer.data.domain_a, p.batch_size, seed, 1)
    ref_B = batch_stream(trainer.data.domain_b, p.batch_size, seed, 2)
    a0, b0 = next(trainer.feed_A), next(trainer.feed_B)
    trainer.feed_A, trainer.feed_B = itertools.chain([a0], trainer.feed_A), itertools.chain([b0], trainer.feed_B)
    ra0, rb0 = next(ref_A), next(ref_B)
    same_batch = torch.equal(a0, ra0) and torch.equal(b0, rb0)

    t_ours0, ours0 = timed(trainer.train_step, dev)
    t_ref0, ref0 = timed(lambda: ref.optimize_parameters(ra0, rb0), dev)
    # bf16 autocast (CUDA's default) keeps ~3 significant digits: the first step then agrees to
    # about 3e-3 (seen on an H200), so its check gets a bf16 tolerance unless one is given
    rtol = args.rtol if args.rtol is not None else (1e-2 if trainer.amp else 1e-4)
    first = compare_losses({k: float(v) for k, v in ours0.items()}, ref0, rtol, args.atol)

    for _ in range(args.warmup):
        trainer.train_step()
        ref.optimize_parameters(next(ref_A), next(ref_B))

    ours_step = trainer.train_step
    ref_step = lambda: ref.optimize_parameters(next(ref_A), next(ref_B))     # noqa: E731
    c_ours, c_ref = Clock(dev), Clock(dev)
    for i in range(args.steps):      # interleaved, alternating who goes first: fair under noisy neighbours
        pair = ((c_ours, ours_step), (c_ref, ref_step)) if i % 2 == 0 else ((c_ref, ref_step), (c_ours, ours_step))
        for clock, fn in pair:
            clock(fn)
    st, sr = summary(c_ours.wall), summary(c_ref.wall)
    st["cpu_median_s"], sr["cpu_median_s"] = statistics.median(c_ours.cpu), statistics.median(c_ref.cpu)
    result = {
        "bench": "compare", "arch": "cyclegan", "scale": trainer.cfg.scale, "size": p.image_size,
        "batch": p.batch_size, "steps": args.steps, "warmup": args.warmup + 1,
        **environment(dev),
        "ours": {k: st[k] for k in ("median_s", "min_s", "max_s", "mean_s", "cpu_median_s", "times_s")},
        "reference": {k: sr[k] for k in ("median_s", "min_s", "max_s", "mean_s", "cpu_median_s", "times_s")},
        "median_s": st["median_s"], "min_s": st["min_s"], "max_s": st["max_s"],
        "reference_median_s": sr["median_s"],
        "speedup": sr["median_s"] / st["median_s"],
        "speedup_min": sr["min_s"] / st["min_s"],
        "speedup_cpu_time": sr["cpu_median_s"] / st["cpu_median_s"],
        "images_per_s": p.batch_size / st["median_s"],
        "reference_images_per_s": p.batch_size / sr["median_s"],
        "peak_mem_mb": round(peak_mem_mb(dev), 1),
        "first_step_s": {"ours": t_ours0, "reference": t_ref0},
        "same_initial_weights": same_weights, "same_first_batch": same_batch,
        "first_step_losses_agree": first["agree"] and same_weights and same_batch,
        "first_step": first,
        "reference_norm": args.reference_norm, "variant": args.variant or "baseline",
        "precision": "bf16 autocast" if trainer.amp else "float32",
        "channels_last": trainer.channels_last, "fuse_passes": trainer.cfg.fuse_passes,
    }
    return result
