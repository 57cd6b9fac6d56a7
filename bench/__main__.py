"""python -m bench train|translate|onnx|video|compare|profile|ablate|contention ...  — prints one JSON object."""
from __future__ import annotations

import argparse
import sys

from cyclegan.errors import UserInputError

from .timing import emit


def _common(sp: argparse.ArgumentParser) -> None:
    sp.add_argument("--device", default="auto", help="auto | cpu | cuda | cuda:N | mps (default auto)")
    sp.add_argument("--threads", type=int, default=None, help="CPU threads (default: torch's default)")
    sp.add_argument("--scale", default="full", help="full (the published nets, default) | quick (small CPU nets)")
    sp.add_argument("--seed", type=int, default=0)
    sp.add_argument("--warmup", type=int, default=1, help="untimed calls before timing (default 1)")


def parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    sub = ap.add_subparsers(dest="cmd", required=True)

    tr = sub.add_parser("train", help="seconds per Trainer.train_step(), FLOPs, conv peak")
    tr.add_argument("--arch", default="cyclegan", help="cyclegan | discogan | dualgan | cut")
    tr.add_argument("--recipe", default=None, help="how the architecture is trained (default: its own default)")
    tr.add_argument("--size", type=int, default=None, help="image side (default: the preset's)")
    tr.add_argument("--batch", type=int, default=None, help="batch size (default: the preset's)")
    tr.add_argument("--steps", type=int, default=5, help="timed steps (rounded up to whole D/G cycles)")
    tr.add_argument("--peak-reps", type=int, default=3, help="timed repetitions per isolated conv (best kept)")
    tr.add_argument("--set", action="append", metavar="FIELD=VALUE",
                    help="override a TrainConfig field, e.g. --set channels_last=false (repeatable)")
    tr.add_argument("--variant", default="", help="apply an optimisation to the Trainer first, as in `ablate` "
                    "(e.g. nchw+adam_fused; see bench/ablations.py)")
    tr.add_argument("--verbose", action="store_true", help="add the per-conv table")
    _common(tr)

    tl = sub.add_parser("translate", help="seconds per translated image vs a plain NCHW forward")
    tl.add_argument("--model", default="random:cyclegan",
                    help="anything cyclegan.load_model accepts, or random:<arch> (default random:cyclegan)")
    tl.add_argument("--recipe", default=None, help="the recipe of a random:<arch> model")
    tl.add_argument("--size", type=int, default=256)
    tl.add_argument("--n", type=int, default=5, help="timed images (default 5)")
    tl.add_argument("--batch", type=int, default=1)
    tl.add_argument("--direction", default="a2b")
    tl.add_argument("--peak-reps", type=int, default=3)
    tl.add_argument("--verbose", action="store_true")
    tl.add_argument("--no-variants", action="store_true", help="time only ours and the reference")
    tl.add_argument("--shape", default=None, help="WxH of the image instead of --size, e.g. 1024x768")
    tl.add_argument("--max-side", type=int, default=None,
                    help="sides over this run as blended tiles in the library path (default: the image's, no tiles)")
    tl.add_argument("--ecosystem", action="store_true",
                    help="also time onnxruntime (the model's ONNX export) and int8 x86 quantisation")
    _common(tl)

    ox = sub.add_parser("onnx", help="seconds per image: the torch path vs the model's ONNX export in onnxruntime")
    ox.add_argument("--model", default="demo:cyclegan", help="anything cyclegan.load_model accepts, or random:<arch>")
    ox.add_argument("--recipe", default=None, help="the recipe of a random:<arch> model")
    ox.add_argument("--size", type=int, default=256)
    ox.add_argument("--n", type=int, default=10, help="timed images of each (default 10)")
    ox.add_argument("--batch", type=int, default=1)
    ox.add_argument("--direction", default="a2b")
    _common(ox)

    vd = sub.add_parser("video", help="seconds per video frame end to end, and the webcam path's time per frame")
    vd.add_argument("--model", default="demo:cyclegan", help="anything cyclegan.load_model accepts, or random:<arch>")
    vd.add_argument("--recipe", default=None, help="the recipe of a random:<arch> model")
    vd.add_argument("--frame", default="640x360", help="frame size WxH of the synthetic clip (default 640x360)")
    vd.add_argument("--seconds", type=float, default=3.0)
    vd.add_argument("--fps", type=int, default=30)
    vd.add_argument("--work-size", type=int, default=None, help="short side the net runs at (default: the model's)")
    vd.add_argument("--live-sizes", type=int, nargs="+", default=[64, 128, 256], help="webcam processing sizes to time")
    vd.add_argument("--n", type=int, default=20, help="timed webcam frames per size")
    vd.add_argument("--direction", default="a2b")
    _common(vd)

    cp = sub.add_parser("compare", help="our Trainer vs the plain published CycleGAN step")
    cp.add_argument("--size", type=int, default=128)
    cp.add_argument("--batch", type=int, default=None)
    cp.add_argument("--steps", type=int, default=5)
    cp.add_argument("--rtol", type=float, default=None,
                    help="first-step loss tolerance (default 1e-4; 1e-2 under bf16 autocast)")
    cp.add_argument("--atol", type=float, default=1e-6)
    cp.add_argument("--set", action="append", metavar="FIELD=VALUE", help="override a TrainConfig field")
    cp.add_argument("--variant", default="", help="apply an optimisation to our Trainer first (see `ablate`)")
    cp.add_argument("--reference-norm", choices=("nets", "torch"), default="torch",
                    help="instance norm of the reference: torch's nn.InstanceNorm2d as the official code runs it "
                         "(default), or cyclegan.nets' own (to time the training loop alone)")
    _common(cp)

    pf = sub.add_parser("profile", help="where one Trainer step's time goes (torch.profiler), by category")
    pf.add_argument("--arch", default="cyclegan")
    pf.add_argument("--recipe", default=None)
    pf.add_argument("--size", type=int, default=None)
    pf.add_argument("--batch", type=int, default=None)
    pf.add_argument("--steps", type=int, default=1, help="profiled steps (default 1)")
    pf.add_argument("--top", type=int, default=25, help="how many operators to list")
    pf.add_argument("--set", action="append", metavar="FIELD=VALUE", help="override a TrainConfig field")
    _common(pf)

    ab = sub.add_parser("ablate", help="A/B-time the Trainer step against variants (see bench/ablations.py)")
    ab.add_argument("--arch", default="cyclegan")
    ab.add_argument("--recipe", default=None)
    ab.add_argument("--size", type=int, default=None)
    ab.add_argument("--batch", type=int, default=None)
    ab.add_argument("--steps", type=int, default=4, help="timed steps of each (default 4)")
    ab.add_argument("--variants", default="nchw,adam_fused,norm_nchw",
                    help="comma-separated; combine with '+', e.g. nchw+adam_fused")
    ab.add_argument("--set", action="append", metavar="FIELD=VALUE", help="override a TrainConfig field (both sides)")
    _common(ab)

    ct = sub.add_parser("contention", help="s/step of the default thread settings vs each --threads, "
                        "with and without busy neighbour processes, in one run")
    ct.add_argument("--arch", default="cyclegan")
    ct.add_argument("--scale", default="quick", help="quick (the app's nets, default) | full")
    ct.add_argument("--size", type=int, default=None, help="image side (default: the preset's)")
    ct.add_argument("--batch", type=int, default=None, help="batch size (default: the preset's)")
    ct.add_argument("--steps", type=int, default=6, help="timed steps per sample (default 6)")
    ct.add_argument("--rounds", type=int, default=2, help="samples per setting, interleaved (default 2)")
    ct.add_argument("--warmup", type=int, default=1)
    ct.add_argument("--neighbours", type=int, nargs="+", default=[0, 1],
                    help="busy neighbour processes per condition (default: 0 1)")
    ct.add_argument("--max-threads", type=int, default=None, help="largest explicit --threads row (default: the usable cores)")
    ct.add_argument("--neighbour-seconds", type=float, default=900.0,
                    help="a neighbour stops by itself after this long (default 900)")
    ct.add_argument("--app", action="store_true", help="instead: one process training on a thread while "
                    "translating, as the app does (translate alone / train alone / split / shared threads)")
    ct.add_argument("--app-model", default="demo:cyclegan", help="the model translated with --app")
    ct.add_argument("--app-image-size", type=int, default=256)
    return ap


def main(argv=None) -> int:
    args = parser().parse_args(argv)
    for name in ("steps", "n", "rounds"):
        if getattr(args, name, 1) < 1:
            print(f"error: --{name} must be at least 1", file=sys.stderr)
            return 2
    if args.warmup < 0:
        print("error: --warmup must be 0 or more", file=sys.stderr)
        return 2
    try:
        if args.cmd == "train":
            from .train_bench import run
        elif args.cmd == "translate":
            from .translate_bench import run
        elif args.cmd == "video":
            from .video_bench import run
        elif args.cmd == "onnx":
            from .onnx_bench import run
        elif args.cmd == "compare":
            from .compare import run
        elif args.cmd == "ablate":
            from .ablations import run
        elif args.cmd == "contention":
            from .contention import run
        else:
            from .profile_step import run
        result = run(args)
    except UserInputError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    emit(result)
    if result.get("error") or result.get("first_step_losses_agree") is False:
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
