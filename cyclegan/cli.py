"""`python -m cyclegan`: every subcommand (translate, video, info, eval, score, export, demo
export, demo grid). A user error is one line `error: ...` and exit status 2; only real bugs print
a traceback."""
import argparse
import json
import os
import sys
from pathlib import Path

from . import demo, score, threads
from .checkpoints import describe, load_model
from .errors import UserInputError, path_error
from .evaluate import evaluate
from .settings import whole_number
from .showcase import comparison_grid

OUTPUT_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".bmp", ".tif", ".tiff")


class OneLineParser(argparse.ArgumentParser):
    """argparse, but a usage mistake is one `error: ...` line too (with where to get help);
    `python -m train` uses it as well."""

    def error(self, message):
        self.exit(2, f"error: {' '.join(message.split())} (see '{self.prog} --help')\n")



def run_main(fn, args) -> int:
    """`fn(args)` with every mistake a person can make as one `error:` line and exit status 2: our
    UserInputError, and the operating system's refusals of a path they gave (too long, a file
    where a folder must be, no permission, a full disk)."""
    try:
        return fn(args)
    except UserInputError as e:
        print(f"error: {' '.join(str(e).split())}", file=sys.stderr)
        return 2
    except OSError as e:
        print(f"error: {' '.join(str(path_error(e)).split())}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return 130


def _translate(args) -> int:
    inputs = [Path(p) for p in args.inputs]
    for p in inputs:  # cheap checks first: don't load a model to then find a typo
        if not p.exists():
            raise UserInputError(f"file not found: '{p}'")
        if p.is_dir():
            raise UserInputError(f"'{p}' is a folder: give the image files (e.g. '{p}/*.png')")
    out = Path(args.output)
    many = len(inputs) > 1 or out.is_dir() or args.output.endswith(("/", "\\"))
    if not many and out.suffix.lower() not in OUTPUT_SUFFIXES:
        raise UserInputError(f"output '{out}' needs an image extension ({', '.join(OUTPUT_SUFFIXES)}) "
                             "or must be a folder (end it with '/')")
    model = load_model(args.model, device=args.device)
    model.generator(args.direction)   # a missing direction is an error before any work
    if many:
        _mkdir(out)
    used: set[Path] = set()
    mode = _mode(args)
    for p in inputs:
        img = model.translate(p, args.direction, max_side=args.max_side, work_size=args.work_size, **mode)
        if many:
            target = out / f"{p.stem}_{args.direction}.png"
            n = 2
            while target in used:      # two inputs with one name, from different folders
                target = out / f"{p.stem}_{args.direction}_{n}.png"
                n += 1
        else:
            target = out
            _mkdir(target.parent)
        used.add(target)
        try:
            img.save(target)
        except (OSError, ValueError) as e:
            raise UserInputError(f"cannot write '{target}': {e}") from None
        print(target)
    return 0


def _mode(args) -> dict:
    """How the model translates: the flags given, None (the recipe's default) for the rest."""
    return {"sample": args.sample, "seed": args.seed, "batch_stats": args.batch_stats}


def _add_mode_flags(sp: argparse.ArgumentParser) -> None:
    sp.add_argument("--sample", action=argparse.BooleanOptionalAction, default=None,
                    help="translate as a sample: DualGAN's decoder dropout stays on, as in its authors' code "
                         "(default: the model's recipe says; `info` shows it)")
    sp.add_argument("--seed", type=_count(0), default=0, help="the sample's seed: same seed, same output (default 0)")
    sp.add_argument("--batch-stats", action=argparse.BooleanOptionalAction, default=None,
                    help="DiscoGAN: BatchNorm normalises by the images being translated, as the authors' code "
                         "(which never calls eval()) instead of by its running statistics (default: the recipe's)")


def _mkdir(folder: Path) -> None:
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise UserInputError(f"cannot create folder '{folder}': {e.strerror or e}") from None


def _info(args) -> int:
    print(json.dumps(describe(load_model(args.model)), indent=2, ensure_ascii=False))
    return 0


def _eval(args) -> int:
    print(json.dumps(evaluate(load_model(args.model), args.data, n=args.n, size=args.size, **_mode(args))))
    return 0


def _export(args) -> int:
    from .export import export_onnx
    model = load_model(args.model)
    directions = None if args.direction == "both" else [args.direction]
    print(json.dumps(export_onnx(model, args.output, directions, opset=args.opset)))
    return 0


def _video(args) -> int:
    from .video import translate_video
    src, out = Path(args.input), Path(args.output)
    if not src.is_file():
        raise UserInputError(f"file not found: '{src}'")
    if out.suffix.lower() != ".mp4":
        raise UserInputError(f"output '{out}' must end in .mp4 (H.264 in MP4 is what is written)")
    model = load_model(args.model, device=args.device)
    print(json.dumps(translate_video(model, src, out, args.direction, args.work_size)))
    return 0


def _demo_export(args) -> int:
    print(json.dumps(demo.export(args.name, args.dir, n=args.n, size=args.size, n_test=args.n_test)))
    return 0


def _photos_build(args) -> int:
    from . import photos
    manifest = photos.build(args.dir, n=args.n, size=args.size, n_test=args.n_test, test_size=args.test_size,
                            seed=args.seed, log=lambda m: print(m, file=sys.stderr), jpeg_quality=args.jpeg)
    print(json.dumps({"dir": args.dir, "train_per_domain": manifest["n_train_per_domain"],
                      "test_pairs": manifest["n_test"], "sources": [s["name"] for s in manifest["sources"]]}))
    return 0


def _demo_grid(args) -> int:
    out = Path(args.output)
    if out.suffix.lower() not in OUTPUT_SUFFIXES:
        raise UserInputError(f"output '{out.name}' needs an image extension ({', '.join(OUTPUT_SUFFIXES)})")
    if not out.parent.is_dir():
        raise UserInputError(f"cannot write '{out}': the folder '{out.parent}' does not exist")
    comparison_grid(args.models, args.name, args.n, args.size).save(out)
    print(args.output)
    return 0


def _count(lo: int):
    """An argparse type: a whole number of at least `lo`, with our message."""
    def parse(text: str) -> int:
        try:
            return whole_number(text, "the value", lo)
        except UserInputError as e:
            raise argparse.ArgumentTypeError(str(e)) from None
    return parse


def build_parser(prog: str = "python -m cyclegan") -> argparse.ArgumentParser:
    ap = OneLineParser(prog=prog, description="Unpaired image-to-image translation: "
                 "CycleGAN, DiscoGAN, DualGAN, CUT.")
    sub = ap.add_subparsers(dest="command", required=True)
    t = sub.add_parser("translate", help="translate images with a model")
    t.add_argument("--model", required=True, help="model folder, demo:NAME, Hub id owner/name, official .pth "
                   "(or 'G_A.pth,G_B.pth'), .safetensors or zipped model folder")
    t.add_argument("--direction", default="a2b", choices=["a2b", "b2a"])
    t.add_argument("inputs", nargs="+", help="input image(s)")
    t.add_argument("-o", "--output", required=True, help="output file (one input) or folder")
    t.add_argument("--max-side", type=_count(1), default=1024, help="larger images run as blended tiles")
    t.add_argument("--work-size", type=_count(0), default=None,
                   help="short side the net runs at, the result scaled back to the image's size (default, or "
                        "0: automatic, the image's own size with its short side capped at 512 px on a CPU, 1024 "
                        "on a GPU; the image's own short side gives its full resolution however large)")
    t.add_argument("--device", default=None, help="cpu, cuda, mps (default cpu)")
    t.add_argument("--float32", action="store_true", help="float32 on CPU even where bf16 would be chosen "
                   "(same as CYCLEGAN_PRECISION=float32)")
    _add_mode_flags(t)
    t.set_defaults(func=_translate)
    i = sub.add_parser("info", help="print a model's architecture, parameters, domains as JSON")
    i.add_argument("model")
    i.set_defaults(func=_info)

    e = sub.add_parser("eval", help="score a model on paired test images (PSNR, SSIM, L1)")
    e.add_argument("--model", required=True, help="model folder, Hub id or checkpoint")
    e.add_argument("--data", default="demo:daynight", help="demo:<world> or a folder with testA/ and testB/")
    e.add_argument("--n", type=_count(1), default=200, help="number of test pairs")
    e.add_argument("--size", type=_count(1), default=None, help="resize images to this size (default: the model's)")
    e.add_argument("--float32", action="store_true", help="float32 on CPU even where bf16 would be chosen "
                   "(same as CYCLEGAN_PRECISION=float32)")
    _add_mode_flags(e)
    e.set_defaults(func=_eval)
    score.add_score_arguments(sub.add_parser("score", help=score.HELP))

    x = sub.add_parser("export", help="write a model's generators as ONNX files (one per direction, "
                       "dynamic height and width)")
    x.add_argument("--model", required=True, help="model folder, demo:NAME, Hub id, checkpoint")
    x.add_argument("--format", default="onnx", choices=["onnx"], help="onnx (the only format so far)")
    x.add_argument("-o", "--output", required=True, help="folder to write (config.json, onnx.json, G_AB.onnx, G_BA.onnx)")
    x.add_argument("--direction", default="both", choices=["both", "a2b", "b2a"])
    x.add_argument("--opset", type=_count(7), default=None, help="ONNX opset (default: the exporter's)")
    x.set_defaults(func=_export)

    v = sub.add_parser("video", help="translate a video file frame by frame (same size, frame rate and frame "
                       "count; audio copied)")
    v.add_argument("--model", required=True, help="model folder, demo:NAME, Hub id, checkpoint")
    v.add_argument("--direction", default="a2b", choices=["a2b", "b2a"])
    v.add_argument("input", help="video file (anything FFmpeg reads)")
    v.add_argument("-o", "--output", required=True, help="the translated video, .mp4")
    v.add_argument("--work-size", type=_count(0), default=None,
                   help="short side the net runs at (default: the model's training size; 0: the frame's own)")
    v.add_argument("--device", default=None, help="cpu, cuda, mps (default cpu)")
    v.add_argument("--float32", action="store_true", help="float32 on CPU even where bf16 would be chosen "
                   "(same as CYCLEGAN_PRECISION=float32)")
    v.set_defaults(func=_video)

    worlds = ", ".join(demo.world_names())
    d = sub.add_parser("demo", help="the built-in procedural datasets").add_subparsers(dest="demo_command", required=True)
    x = d.add_parser("export", help="write a demo world as trainA/ trainB/ testA/ testB/ PNG folders")
    x.add_argument("dir", help="output folder")
    x.add_argument("--name", default="daynight", help=f"world: {worlds}")
    x.add_argument("--n", type=_count(0), default=1000, help="training images per domain")
    x.add_argument("--size", type=_count(1), default=128, help="image side in pixels")
    x.add_argument("--n-test", type=_count(0), default=None, help="paired test images (default n/5)")
    x.set_defaults(func=_demo_export)
    g = d.add_parser("grid", help="picture of test scenes through models, beside the ground truth")
    g.add_argument("--models", nargs="+", default=["demo:cyclegan", "demo:discogan", "demo:dualgan"])
    g.add_argument("--name", default="daynight", help=f"world: {worlds}")
    g.add_argument("--n", type=_count(1), default=4, help="scenes per direction")
    g.add_argument("--size", type=_count(1), default=128)
    g.add_argument("-o", "--output", required=True, help="PNG file to write")
    g.set_defaults(func=_demo_grid)

    ph = sub.add_parser("photos", help="the real-photo dataset (photo ↔ vintage)").add_subparsers(
        dest="photos_command", required=True)
    b = ph.add_parser("build", help="build photo ↔ vintage from scikit-image's public-domain/CC0 photos "
                      "(needs scikit-image and vintagify)")
    b.add_argument("dir", help="output folder (new or empty)")
    b.add_argument("--n", type=_count(1), default=500, help="training crops per domain")
    b.add_argument("--size", type=_count(16), default=64, help="side of the training crops in pixels (the smallest "
                   "crop is taken at 1:1, larger ones shrunk to it)")
    b.add_argument("--n-test", type=_count(0), default=8, help="paired test crops per photo")
    b.add_argument("--test-size", type=_count(16), default=128, help="side of the test crops (native resolution)")
    b.add_argument("--seed", type=_count(0), default=0)
    b.add_argument("--jpeg", type=_count(0), default=0, metavar="QUALITY",
                   help="store the training crops as JPEG of this quality (1-100) instead of PNG")
    b.set_defaults(func=_photos_build)
    return ap


def main(argv=None, prog: str = "python -m cyclegan") -> int:
    args = build_parser(prog).parse_args(argv)
    if getattr(args, "float32", False):
        os.environ["CYCLEGAN_PRECISION"] = "float32"     # read at each forward (cyclegan/accel.py)
    if args.command in ("translate", "eval", "video", "score"):
        threads.apply()           # the cores free now, not one per core (cyclegan/threads.py)
    return run_main(args.func, args)


def run() -> None:
    """The `cyclegan` console script (pyproject.toml)."""
    sys.exit(main(prog="cyclegan"))
