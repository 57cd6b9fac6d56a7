"""How far night -> day (or day -> night) can go on the demo world with an architecture's quick
generator (CycleGAN's by default) when the pairs are known: trains it supervised (L2 to the true
other look of the same scene) for the given seconds and scores it as `cyclegan eval` does.
Unpaired training of that generator cannot beat this, and a translator that paints a fair sample
of the target look where the source leaves it open, instead of the pairs' mean, scores up to 3 dB
below it (twice the mean's squared error).

    python -m bench.paired_bound --seconds 60 180 --threads 2
    python -m bench.paired_bound --arch discogan --seconds 180 600 --threads 2

Prints one JSON line per direction and mark.
"""
import argparse
import json
import time

import torch
import torch.nn.functional as F

from cyclegan import demo
from cyclegan.evaluate import psnr
from cyclegan.images import image_to_tensor
from cyclegan.presets import ARCHITECTURES, get_preset
from cyclegan.nets import build_net


def _looks(world: str, seeds, size: int, value_range):
    a = torch.stack([image_to_tensor(demo.render(world, s, "A", size), value_range) for s in seeds])
    b = torch.stack([image_to_tensor(demo.render(world, s, "B", size), value_range) for s in seeds])
    return a, b


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.paired_bound", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--world", default="daynight")
    ap.add_argument("--arch", default="cyclegan", choices=list(ARCHITECTURES), help="whose quick generator")
    ap.add_argument("--direction", nargs="+", default=["a2b", "b2a"], choices=["a2b", "b2a"])
    ap.add_argument("--size", type=int, default=64)
    ap.add_argument("--seconds", type=float, nargs="+", default=[60, 180])
    ap.add_argument("--train-scenes", type=int, default=3000)
    ap.add_argument("--n", type=int, default=200, help="test scenes scored")
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    preset = get_preset(args.arch, None, "quick", args.size)
    spec, batch, (lo, hi) = preset.generator, preset.batch_size, preset.value_range
    train_a, train_b = _looks(args.world, demo.train_seeds(args.world, "A", args.train_scenes), args.size, (lo, hi))
    test_a, test_b = _looks(args.world, demo.test_seeds(args.world, args.n), args.size, (lo, hi))
    for direction, (src, dst, t_src, t_dst) in {"a2b": (train_a, train_b, test_a, test_b),
                                                "b2a": (train_b, train_a, test_b, test_a)}.items():
        if direction not in args.direction:
            continue
        torch.manual_seed(args.seed)
        g = build_net(spec.family, spec.kwargs)
        opt = torch.optim.Adam(g.parameters(), 2e-4, betas=(0.5, 0.999))
        to01 = lambda t: (t - lo) / (hi - lo)                                 # noqa: E731
        identity = psnr(to01(t_src), to01(t_dst)).mean().item()
        marks, step, t0, paused = sorted(args.seconds), 0, time.perf_counter(), 0.0
        while marks:
            idx = torch.randint(0, len(src), (batch,))
            loss = F.mse_loss(g(src[idx]), dst[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            step += 1
            if time.perf_counter() - t0 - paused < marks[0]:
                continue
            t_eval, mark = time.perf_counter(), marks.pop(0)
            g.eval()
            with torch.no_grad():
                out = torch.cat([g(t_src[i:i + 50]) for i in range(0, len(t_src), 50)])
            g.train()
            score = psnr(to01(out).clamp(0, 1), to01(t_dst)).mean().item()
            print(json.dumps({"world": args.world, "arch": args.arch, "direction": direction, "seconds": mark,
                              "step": step,
                              "psnr": round(score, 2), "identity_psnr": round(identity, 2),
                              "gain_db": round(score - identity, 2), "threads": torch.get_num_threads()}), flush=True)
            paused += time.perf_counter() - t_eval
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
