"""`python -m bench ablate`: A/B-time the real Trainer step against variants of it, in one
process, interleaved (baseline, variant, baseline, ...), so noisy neighbours hit both alike.

The variants (bench/variants.py) change the Trainer from the outside, to measure an
optimisation before anyone writes it; combine them with '+': `--variants nchw+adam_fused,norm_nchw`.
"""
from __future__ import annotations

import statistics
import tempfile

from .timing import Clock, environment, set_threads
from .variants import build


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
    return {"bench": "ablate", "arch": args.arch, "recipe": args.recipe, "scale": args.scale, "size": args.size, "steps": args.steps,
            **environment(dev), "results": rows}
