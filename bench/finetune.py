"""Fine-tuning against training from scratch: the same run (data, architecture, scale, seed), once
from random weights and once from `--init SPEC`, each scored against the test pairs at given
minutes of training (scoring kept off the clock). Prints one JSON object.

    python -m bench.finetune --data data/photos --init demo:cyclegan --minutes 5 10 20 --threads 1

A run started from a model takes that model's nets (train/finetune.py), so `--init demo:vintage`
trains its full-width ResNet-9; the scratch run is the same run with its weights redrawn as a
fresh run draws them, so the two differ only in where the weights start.
"""
import argparse
import dataclasses
import json
import tempfile
import time

import torch
from torch import nn

from cyclegan.evaluate import evaluate
from train import TrainConfig, Trainer
from train.trainer import init_weights


def scores(model, data: str, n: int) -> dict:
    model.eval()
    try:
        s = evaluate(model, data, n=n)
    finally:
        model.train()
    out = {f"{d}_{m}": s[d][m] for d in ("a2b", "b2a") if d in s for m in ("psnr", "ssim")}
    out["identity_psnr"] = s["identity"]["a2b"]["psnr"]
    return out


def redraw(trainer: Trainer) -> None:
    """Random weights in place of the init model's, drawn as a fresh run draws them: the nets and
    everything else stay, so the scratch run differs from the fine-tuning one only in its start."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(trainer.cfg.seed)
        for net in (trainer.model.G_AB, trainer.model.G_BA, trainer.model.D_A, trainer.model.D_B):
            for m in net.modules():
                if isinstance(m, nn.modules.batchnorm._NormBase | nn.GroupNorm) and m.weight is not None:
                    nn.init.ones_(m.weight)
                    nn.init.zeros_(m.bias)
            init_weights(net, trainer.preset.init_std)
            if trainer.preset.init_std is None:        # torch's own default init (DiscoGAN)
                for m in net.modules():
                    if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
                        m.reset_parameters()


def one_run(cfg: TrainConfig, minutes: list[float], data: str, n: int, scratch: bool) -> dict:
    t0 = time.perf_counter()
    trainer = Trainer(cfg, log=lambda m: None)
    if scratch:
        redraw(trainer)
    setup_s = time.perf_counter() - t0
    points = [{"minutes": 0, "step": 0, **scores(trainer.model, data, n)}]
    start, paused = time.perf_counter(), 0.0
    marks = sorted(minutes)
    while marks:
        trainer.train_step()
        if time.perf_counter() - start - paused >= marks[0] * 60:
            t = time.perf_counter()
            with trainer.averaged():
                points.append({"minutes": marks.pop(0), "step": trainer.step, **scores(trainer.model, data, n)})
            paused += time.perf_counter() - t
    return {"setup_s": round(setup_s, 2), "generator": trainer.preset.generator.to_dict(), "points": points}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.finetune", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default="data/photos")
    ap.add_argument("--init", required=True, help="the model to start from (anything --init takes)")
    ap.add_argument("--arch", default="cyclegan")
    ap.add_argument("--scale", default="quick")
    ap.add_argument("--size", type=int, default=64)
    ap.add_argument("--minutes", type=float, nargs="+", default=[5, 10, 20])
    ap.add_argument("--n", type=int, default=48, help="test pairs scored at each point")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--only", choices=("scratch", "init"), default=None, help="run one side only")
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    result = {"data": args.data, "init": args.init, "arch": args.arch, "scale": args.scale, "size": args.size,
              "threads": args.threads}
    with tempfile.TemporaryDirectory() as tmp:
        base = TrainConfig(data=args.data, init=args.init, arch=args.arch, scale=args.scale, size=args.size,
                           steps=10**6, out=f"{tmp}/init", seed=args.seed, log_every=10**6, sample_every=10**6,
                           checkpoint_every=10**6, threads=args.threads)
        for side in ("init", "scratch"):
            if args.only not in (None, side):
                continue
            cfg = base if side == "init" else dataclasses.replace(base, out=f"{tmp}/scratch")
            result[side] = one_run(cfg, args.minutes, args.data, args.n, scratch=side == "scratch")
    print(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
