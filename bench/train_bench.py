"""`python -m bench train`: seconds per real `Trainer.train_step()`, its FLOPs and its conv peak."""
from __future__ import annotations

import dataclasses
import math
import statistics
import tempfile

from cyclegan import limits
from train.config import TrainConfig
from train.trainer import Trainer

from .peak import ConvRecorder, count_flops, measure_peak
from .timing import Clock, environment, peak_mem_mb, reset_peak_mem, set_threads, summary

HUGE = 10**9


def parse_overrides(pairs: list[str] | None) -> dict:
    """`--set channels_last=false --set fuse_passes=0`: TrainConfig fields, typed like the field."""
    fields = {f.name: f for f in dataclasses.fields(TrainConfig)}
    out = {}
    for pair in pairs or []:
        key, sep, raw = pair.partition("=")
        key = key.strip().replace("-", "_")
        if not sep or key not in fields:
            raise SystemExit(f"--set expects FIELD=VALUE with a TrainConfig field; got {pair!r}")
        default = getattr(TrainConfig(), key)
        low = raw.strip().lower()
        if isinstance(default, bool):
            if low not in ("1", "0", "true", "false", "yes", "no", "on", "off"):
                raise SystemExit(f"--set {key}: expected true/false, got {raw!r}")
            out[key] = low in ("1", "true", "yes", "on")
        elif low in ("none", "null"):
            out[key] = None
        elif isinstance(default, int) or key in ("size", "batch", "threads", "pool_size"):
            out[key] = int(raw)
        elif isinstance(default, float) or key.startswith(("lr_", "lambda_", "clip_")):
            out[key] = float(raw)
        else:
            out[key] = raw
    return out


def make_trainer(arch: str, preset: str, size: int | None, batch: int | None, device: str, threads: int | None,
                 out: str, seed: int = 0, overrides: dict | None = None) -> Trainer:
    """A real Trainer on the built-in dataset that never logs, samples or checkpoints by itself."""
    steps = min(1_000_000, limits.current().max_train_steps)     # long: no LR decay in the window
    cfg = TrainConfig(data="demo:daynight", arch=arch, variant=preset, size=size, batch=batch, steps=steps,
                      out=out, seed=seed, device=device, threads=threads, log_every=HUGE, sample_every=HUGE,
                      checkpoint_every=HUGE, **(overrides or {}))
    return Trainer(cfg)


def run(args) -> dict:
    threads = set_threads(args.threads)
    with tempfile.TemporaryDirectory(prefix="bench-train-") as tmp:
        trainer = make_trainer(args.arch, args.preset, args.size, args.batch, args.device, threads, f"{tmp}/run",
                               seed=args.seed, overrides=parse_overrides(args.set))
        return measure(trainer, args)


def measure(trainer: Trainer, args) -> dict:
    dev, p = trainer.device, trainer.preset
    cycle = len(p.phases)                # DiscoGAN / DualGAN alternate D-only and G-only steps

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
    clock, phases, last = Clock(dev), [], {}
    for _ in range(n):
        phases.append(trainer.step % cycle)
        last.update(clock(trainer.train_step))
    times = clock.wall
    mem = peak_mem_mb(dev)
    losses = {k: float(v) for k, v in last.items()}

    # Per phase position: median time; a cycle's FLOPs over a cycle's time.
    med = [statistics.median([t for t, ph in zip(times, phases) if ph == i]) for i in range(cycle)]
    cycle_s = sum(med)
    flops_step = sum(flops_by_phase) / cycle
    achieved = sum(flops_by_phase) / cycle_s / 1e9

    pk = measure_peak(rec.counts, dev, reps=args.peak_reps)
    st = summary(times)
    result = {
        "bench": "train", "arch": p.name, "preset": trainer.cfg.variant, "size": p.image_size,
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
        "channels_last": trainer.cfg.channels_last, "fuse_passes": trainer.cfg.fuse_passes,
        "phases": list(p.phases), "median_s_by_phase": med if cycle > 1 else None,
        "losses_last_step": losses,
        "times_s": st["times_s"],
    }
    if args.verbose:
        result["conv_table"] = pk["conv_table"]
    if not all(math.isfinite(v) for v in losses.values()):
        result["error"] = "a loss is NaN/Inf"
    return result
