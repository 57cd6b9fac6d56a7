"""How fast click-to-train shows learning: trains the app's default for each architecture (its
default recipe, quick scale, demo data, 64 px) and scores the model against the demo world's
ground truth in both directions at given training minutes and/or steps, beside doing nothing
(identity). Scoring time is kept off the clock. Prints one JSON object per architecture.

    python -m bench.learning --minutes 1 2 5 --threads 2                  # every architecture
    python -m bench.learning --arch dualgan --steps 500 1000 2000 --threads 1
    python -m bench.learning --arch dualgan --recipe paper --minutes 2 --set lr_g=1e-4

Wall-clock minutes depend on the machine and on what else runs on it; steps do not: report both.

The run is trained as one of `--run-steps` steps (default 1,000,000), which only matters to a
learning-rate decay: by default a recipe's decay (the last fraction of the run) never starts, so
the marks show the constant-rate part of its schedule. `--run-steps 8000 --steps 2000 4000 8000`
scores an 8,000-step run, decay included, as `python -m train --steps 8000` trains it.
"""
import argparse
import dataclasses
import json
import os
import sys
import tempfile
import time

import torch

from cyclegan.evaluate import evaluate
from cyclegan.presets import ARCHITECTURES, apply_change
from train import TrainConfig, Trainer


@dataclasses.dataclass(frozen=True)
class _Changed(TrainConfig):
    """A TrainConfig whose preset carries extra changes (`--set`), for trying quick-scale numbers."""
    changes: tuple = ()

    def preset(self):
        p = super().preset()
        for name, value in self.changes:
            p = apply_change(p, name, value)
        return p


class Clock:
    """Training wall time with the scoring pauses taken out."""

    def __init__(self):
        self.first_sample_s = None
        self.t0 = time.perf_counter()
        self.paused = 0.0

    def now(self):
        return time.perf_counter() - self.t0 - self.paused

    def on_sample(self, path):
        if self.first_sample_s is None:
            self.first_sample_s = self.now()


def _value(text: str):
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def _parse_set(items) -> tuple:
    out = []
    for item in items or []:
        name, sep, value = item.partition("=")
        if not sep:
            raise SystemExit(f"error: --set needs FIELD=VALUE, got {item!r}")
        value = _value(value)
        out.append((name, tuple(tuple(v) if isinstance(v, list) else v for v in value)
                    if isinstance(value, list) else value))
    return tuple(out)


def learn(arch: str, recipe=None, data="demo:daynight", size=64, batch=None, minutes=(), steps=(), n=100,
          threads=None, seed=0, changes=(), run_steps=10**6) -> dict:
    """Train one architecture and score it at each mark (minutes of training, or steps); marks the
    run does not reach are listed as `unreached`."""
    with tempfile.TemporaryDirectory() as tmp:
        t_start = time.perf_counter()
        cfg = _Changed(data=data, arch=arch, recipe=recipe, scale="quick", size=size, batch=batch,
                       steps=run_steps, out=os.path.join(tmp, "run"), seed=seed, log_every=10, sample_every=50,
                       checkpoint_every=10**6, threads=threads, changes=changes)
        trainer = Trainer(cfg)
        clock = Clock()
        setup_s = time.perf_counter() - t_start
        minute_marks, step_marks = sorted(minutes), sorted(steps)
        points, ident = [], None
        while (minute_marks or step_marks) and trainer.step < run_steps:
            trainer.train_step()
            if trainer.step == 1:
                trainer.write_sample()
                clock.on_sample(None)
            hit = []
            while minute_marks and clock.now() >= minute_marks[0] * 60:
                hit.append(("minutes", minute_marks.pop(0)))
            while step_marks and trainer.step >= step_marks[0]:
                hit.append(("steps", step_marks.pop(0)))
            if not hit:
                continue
            t_eval, train_s = time.perf_counter(), clock.now()     # before scoring: its time is not training
            model = trainer.model
            model.eval()
            with trainer.averaged():                                 # what the run would save
                score = evaluate(model, data, n=n, size=size)
            model.train()
            ident = score["identity"]
            for kind, mark in hit:
                points.append({"mark": f"{mark:g} {'min' if kind == 'minutes' else 'steps'}", "step": trainer.step,
                               "train_s": round(train_s, 1), "lr_g": trainer.opt_G.param_groups[0]["lr"],
                               "a2b_psnr": round(score["a2b"]["psnr"], 2), "b2a_psnr": round(score["b2a"]["psnr"], 2),
                               "a2b_gain_db": round(score["a2b"]["psnr"] - ident["a2b"]["psnr"], 2),
                               "b2a_gain_db": round(score["b2a"]["psnr"] - ident["b2a"]["psnr"], 2)})
            print(json.dumps(points[-1]), file=sys.stderr, flush=True)     # progress, as it comes
            clock.paused += time.perf_counter() - t_eval
        p = trainer.preset
        unreached = [f"{m:g} min" for m in minute_marks] + [f"{m} steps" for m in step_marks]
    return {"arch": arch, "recipe": p.recipe, "key": p.key, "batch": p.batch_size, "size": size,
            "threads": torch.get_num_threads(), "changes": [list(c) for c in changes], "run_steps": run_steps,
            "load": os.getloadavg()[0], "setup_s": round(setup_s, 2),
            "first_sample_s": round(clock.first_sample_s, 2), "identity_psnr": round(ident["a2b"]["psnr"], 2) if ident else None,
            "points": points, **({"unreached": unreached} if unreached else {})}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.learning", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--arch", nargs="+", default=list(ARCHITECTURES), help="architectures (default: all)")
    ap.add_argument("--recipe", default=None, help="a recipe (default: each architecture's default)")
    ap.add_argument("--data", default="demo:daynight")
    ap.add_argument("--size", type=int, default=64)
    ap.add_argument("--batch", type=int, default=None)
    ap.add_argument("--minutes", type=float, nargs="*", default=[], help="score after these minutes of training")
    ap.add_argument("--steps", type=int, nargs="*", default=[], help="score after these steps")
    ap.add_argument("--n", type=int, default=100, help="test pairs scored at each point")
    ap.add_argument("--run-steps", type=int, default=10**6,
                    help="train as a run of this many steps (where a learning-rate decay starts and ends) [1000000]")
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--set", action="append", metavar="FIELD=VALUE",
                    help="change the preset, e.g. --set lr_g=1e-4 --set generator.ngf=24 (repeatable)")
    args = ap.parse_args(argv)
    if not args.minutes and not args.steps:
        args.minutes = [1, 2, 5]
    if args.run_steps < 1:
        raise SystemExit(f"error: --run-steps must be at least 1, got {args.run_steps}")
    if args.steps and max(args.steps) > args.run_steps:
        raise SystemExit(f"error: a mark at step {max(args.steps)} is past --run-steps {args.run_steps}")
    if args.threads:
        torch.set_num_threads(args.threads)
    changes = _parse_set(args.set)
    for arch in args.arch:
        print(json.dumps(learn(arch, args.recipe, args.data, args.size, args.batch, args.minutes, args.steps,
                               args.n, args.threads, args.seed, changes, args.run_steps)), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
