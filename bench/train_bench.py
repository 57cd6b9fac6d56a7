"""`python -m bench train`: seconds per real `Trainer.train_step()`, its FLOPs and its conv peak."""
from __future__ import annotations

import math
import statistics
import tempfile

from train.trainer import Trainer, cycle_length

from .peak import ConvRecorder, count_flops, measure_peak
from .timing import Clock, environment, peak_mem_mb, reset_peak_mem, set_threads, summary
from .variants import build


def run(args) -> dict:
    threads = set_threads(args.threads)
    with tempfile.TemporaryDirectory(prefix="bench-train-") as tmp:
        trainer = build(args.variant, args, tmp, threads)
        return measure(trainer, args)


def measure(trainer: Trainer, args) -> dict:
    dev, p = trainer.device, trainer.preset
    cycle = cycle_length(p)              # DiscoGAN / DualGAN alternate D-only and G-only batches

    # One full cycle of steps, once, outside timing: FLOPs (forward + backward of every pass) and
    # the conv calls as the model runs them. It doubles as the first warm-up.
    flops_by_phase = [0] * cycle
    with ConvRecorder(trainer.model) as rec:
        for _ in range(cycle):
            phase = trainer.step % cycle
            flops_by_phase[phase], _ = count_flops(trainer.train_step)
    for _ in range(args.warmup):
        trainer.train_step()

    reset_peak_mem(dev)
    n = max(cycle, math.ceil(args.steps / cycle) * cycle)
    clock, positions, last = Clock(dev), [], {}
    for _ in range(n):
        positions.append(trainer.step % cycle)
        last.update(clock(trainer.train_step))
    times = clock.wall
    mem = peak_mem_mb(dev)
    losses = {k: float(v) for k, v in last.items()}

    # Per position in the cycle: median time; a cycle's FLOPs over a cycle's time.
    med = [statistics.median([t for t, ph in zip(times, positions) if ph == i]) for i in range(cycle)]
    cycle_s = sum(med)
    flops_step = sum(flops_by_phase) / cycle
    achieved = sum(flops_by_phase) / cycle_s / 1e9

    pk = measure_peak(rec.counts, dev, reps=args.peak_reps)
    st = summary(times)
    result = {
        "bench": "train", "arch": p.architecture, "recipe": p.recipe, "scale": p.scale, "size": p.image_size,
        "batch": p.batch_size, "steps": n, "warmup": args.warmup + cycle,
        **environment(dev),
        **{k: st[k] for k in ("median_s", "min_s", "max_s", "mean_s")},
        "images_per_s": p.batch_size * cycle / cycle_s,
        "cpu_median_s": statistics.median(clock.cpu),
        "peak_mem_mb": round(mem, 1),
        "gflop_per_step": flops_step / 1e9,
        "conv_gflop_per_step": pk["conv_gflop"] / cycle,
        "achieved_gflops": achieved,
        "peak_gflops": pk["peak_gflops"],
        "fraction_of_peak": achieved / pk["peak_gflops"] if pk["peak_gflops"] > 0 else 0.0,
        "conv_isolated_s_per_step": pk["conv_isolated_s"] / cycle,
        # The same ratio in process CPU time (isolated convs' CPU time / the step's): robust to
        # noisy neighbours when threads=1 (with more threads, OpenMP spin-waits inflate both).
        "fraction_of_peak_cpu_time": (pk["conv_isolated_cpu_s"] / cycle) / statistics.median(clock.cpu)
        if cycle == 1 and statistics.median(clock.cpu) > 0 else None,
        "peak_gflops_by_format": pk["peak_gflops_by_format"],
        "peak_gflops_model_format": pk["peak_gflops_model_format"],
        "dtype": "bfloat16" if trainer.amp else "float32",
        "channels_last": trainer.channels_last, "fuse_passes": trainer.cfg.fuse_passes,
        "variant": args.variant or "baseline",
        "schedule": {k: getattr(p, k) for k in ("d_only_batches", "g_only_batches", "d_first", "g_steps_per_batch")},
        "cycle": cycle, "median_s_by_position": med if cycle > 1 else None,
        "losses_last_step": losses,
        "times_s": st["times_s"],
    }
    if args.verbose:
        result["conv_table"] = pk["conv_table"]
    if not all(math.isfinite(v) for v in losses.values()):
        result["error"] = "a loss is NaN/Inf"
    return result
