"""How fast click-to-train shows learning: trains the app's default (quick scale, demo data)
and scores the model against the demo world's ground truth at given wall-clock minutes.
Scoring time is kept off the clock. Prints one JSON object.

    python -m bench.learning --arch cyclegan --minutes 1 2 5 --threads 2
"""
import argparse
import json
import tempfile
import time

import torch

from cyclegan.evaluate import evaluate
from train import TrainConfig, Trainer


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


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.learning", description=__doc__)
    ap.add_argument("--arch", default="cyclegan")
    ap.add_argument("--recipe", default=None)
    ap.add_argument("--data", default="demo:daynight")
    ap.add_argument("--size", type=int, default=64)
    ap.add_argument("--batch", type=int, default=None)
    ap.add_argument("--minutes", type=float, nargs="+", default=[1, 2, 5])
    ap.add_argument("--n", type=int, default=100, help="test pairs scored at each point")
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory() as tmp:
        t_start = time.perf_counter()
        cfg = TrainConfig(data=args.data, arch=args.arch, recipe=args.recipe, scale="quick", size=args.size, batch=args.batch,
                          steps=10**6, out=f"{tmp}/run", seed=args.seed, log_every=10, sample_every=50,
                          checkpoint_every=10**6, threads=args.threads)
        trainer = Trainer(cfg)
        clock = Clock()
        setup_s = time.perf_counter() - t_start
        points = []
        marks = sorted(args.minutes)
        while marks:
            trainer.train_step()
            if trainer.step == 1:
                trainer.write_sample()
                clock.on_sample(None)
            if clock.now() >= marks[0] * 60:
                t_eval = time.perf_counter()
                model = trainer.model
                model.eval()
                score = evaluate(model, args.data, n=args.n, size=args.size)
                model.train()
                points.append({"minutes": marks.pop(0), "step": trainer.step,
                               "a2b_psnr": score["a2b"]["psnr"], "b2a_psnr": score["b2a"]["psnr"],
                               "identity_psnr": score["identity"]["a2b"]["psnr"]})
                clock.paused += time.perf_counter() - t_eval
    print(json.dumps({"arch": args.arch, "size": args.size, "threads": torch.get_num_threads(),
                      "setup_s": setup_s, "first_sample_s": clock.first_sample_s, "points": points}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
