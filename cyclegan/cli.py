"""`python -m cyclegan`: translate, info, eval, demo export. A user error is one line
`error: ...` and exit status 2; only real bugs print a traceback."""
import argparse
import json
import sys
from pathlib import Path

from .errors import UserInputError


def _translate(args) -> int:
    from .checkpoints import load_model
    from .images import is_image_name
    model = load_model(args.model, device=args.device)
    inputs = [Path(p) for p in args.inputs]
    for p in inputs:
        if not p.exists():
            raise UserInputError(f"file not found: '{p}'")
    out = Path(args.output)
    many = len(inputs) > 1 or out.is_dir() or args.output.endswith(("/", "\\"))
    if many:
        out.mkdir(parents=True, exist_ok=True)
    elif out.suffix.lower() not in (".png", ".jpg", ".jpeg", ".webp", ".bmp"):
        raise UserInputError(f"output '{out}' needs an image extension (.png, .jpg, .webp) or must be a folder")
    suffix = "_" + args.direction
    for p in inputs:
        img = model.translate(p, args.direction, max_side=args.max_side, work_size=args.work_size)
        target = out / (p.stem + suffix + ".png") if many else out
        target.parent.mkdir(parents=True, exist_ok=True)
        img.save(target)
        print(target)
    return 0


def _info(args) -> int:
    from .checkpoints import describe, load_model
    print(json.dumps(describe(load_model(args.model)), indent=2))
    return 0


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="python -m cyclegan", description="Unpaired image-to-image translation: "
                                 "CycleGAN, DiscoGAN, DualGAN.")
    sub = ap.add_subparsers(dest="command", required=True)
    t = sub.add_parser("translate", help="translate images with a model")
    t.add_argument("--model", required=True, help="model folder, demo:NAME, Hub id owner/name, official .pth "
                   "(or 'G_A.pth,G_B.pth'), .safetensors or zipped model folder")
    t.add_argument("--direction", default="a2b", choices=["a2b", "b2a"])
    t.add_argument("inputs", nargs="+", help="input image(s)")
    t.add_argument("-o", "--output", required=True, help="output file (one input) or folder")
    t.add_argument("--max-side", type=int, default=1024, help="larger images run as blended tiles")
    t.add_argument("--work-size", type=int, default=None, help="run the net at this short side, then scale back")
    t.add_argument("--device", default=None, help="cpu, cuda, mps (default cpu)")
    t.set_defaults(func=_translate)
    i = sub.add_parser("info", help="print a model's architecture, parameters, domains as JSON")
    i.add_argument("model")
    i.set_defaults(func=_info)
    from . import demo, evaluate
    evaluate.register(sub)
    demo.register(sub)
    return ap


def main(argv=None) -> int:
    ap = build_parser()
    args = ap.parse_args(argv)
    try:
        return args.func(args)
    except UserInputError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return 130
