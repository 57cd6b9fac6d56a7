"""`python -m train`: headless training with a progress bar. Also the entry point under
`torchrun --nproc_per_node=K -m train ...` (DistributedDataParallel).

The flags are generated from TrainConfig's fields (type, default and help from their metadata),
so a new field is a new flag without touching this file."""
import argparse
import dataclasses
import sys
from pathlib import Path

import torch.distributed as dist
from tqdm import tqdm

from cyclegan import zoo
from cyclegan.cli import OneLineParser, run_main
from cyclegan.errors import UserInputError, short_name

from .config import NO_CLI_DEFAULT, TrainConfig, field_type, parse_field, resumed
from .runs import RunDir
from .trainer import Diverged, Hooks, Trainer


def _field_type(name: str):
    def parse(text: str):
        try:
            return parse_field(name, text)
        except UserInputError as e:
            raise argparse.ArgumentTypeError(str(e)) from None
    parse.__name__ = name
    return parse


def add_config_flags(ap: argparse.ArgumentParser) -> None:
    """One flag per TrainConfig field that has CLI metadata: `--field-name VALUE`, or for booleans
    a switch (`--compile`, or `--no-amp` where the default is on)."""
    for f in dataclasses.fields(TrainConfig):
        meta = f.metadata.get("cli")
        if meta is None:
            continue
        default = f.default if meta["cli_default"] is NO_CLI_DEFAULT else meta["cli_default"]
        flag = meta["flag"] or "--" + f.name.replace("_", "-")
        base, _ = field_type(f.name)
        if base is bool:
            off = flag.startswith("--no-")
            ap.add_argument(flag, dest=f.name, action="store_const", const=not off, default=default, help=meta["help"])
            continue
        shown = f" [{default}]" if default is not None else ""
        ap.add_argument(flag, dest=f.name, type=_field_type(f.name), default=default,
                        metavar=flag.lstrip("-").replace("-", "_").upper(),
                        help=meta["help"] + shown)


def build_parser(prog: str = "python -m train") -> argparse.ArgumentParser:
    ap = OneLineParser(prog=prog, description="Train CycleGAN, DiscoGAN, DualGAN or CUT on unpaired "
                                 "images. Writes RUN/config.json, metrics.jsonl, scores.jsonl, samples/, checkpoints/, "
                                 "latest and best.")
    add_config_flags(ap)
    ap.add_argument("--resume", action="store_true", help="continue the run in --out from its newest complete checkpoint")
    ap.add_argument("--quiet", action="store_true", help="no progress bar")
    return ap


def check_out(out: str) -> None:
    """--out must be a folder (or not exist yet, under a folder that can hold it)."""
    path = Path(out)
    if path.exists() and not path.is_dir():
        raise UserInputError(f"--out '{short_name(out)}' is a file: give a folder for the run")
    for parent in path.parents:
        if parent.exists():
            if not parent.is_dir():
                raise UserInputError(f"--out '{short_name(out)}' is under '{short_name(parent)}', which is a file")
            break


def config_from_args(args) -> TrainConfig:
    """The flags as a TrainConfig; with --resume, the run's saved config plus the new run length
    and machine settings (flags that define the run are not looked at then)."""
    check_out(args.out)
    given = vars(args)
    saved = RunDir(args.out).read_config() if args.resume else None
    if saved:
        return resumed(saved, given)
    fields = {f.name for f in dataclasses.fields(TrainConfig)}
    return TrainConfig(**{k: v for k, v in given.items() if k in fields})


def download_bar(show: bool = True):
    """A progress callback for the downloads before training (official: data, --init models):
    one tqdm bar in bytes per download."""
    bars: list = []

    def update(done: int, total: int | None) -> None:
        if not bars or done < bars[-1].n:
            if bars:
                bars[-1].close()
            bars.append(tqdm(total=total, unit="B", unit_scale=True, desc="downloading", disable=not show,
                             dynamic_ncols=True))
        zoo.tqdm_progress(bars[-1])(done, total)
    update.close = lambda: [b.close() for b in bars]
    return update


def main(argv=None, prog: str = "python -m train") -> int:
    args = build_parser(prog).parse_args(argv)
    return run_main(_train, args)


def _train(args) -> int:
    downloads = download_bar(not args.quiet)
    try:
        cfg = config_from_args(args)
        trainer = Trainer(cfg, resume=args.resume, log=lambda m: print(m, file=sys.stderr), progress=downloads)
    except KeyboardInterrupt:
        print("error: interrupted (nothing of an unfinished download is kept)", file=sys.stderr)
        return 130
    finally:
        downloads.close()
    show = trainer.rank == 0 and not args.quiet

    class Bar(Hooks):
        def __init__(self):
            self.bar = tqdm(total=trainer.cfg.steps, initial=trainer.step, unit="step", disable=not show,
                            dynamic_ncols=True)
            self.last = trainer.step
            self.kid = None

        def on_log(self, rec):
            self.bar.update(rec["step"] - self.last)
            self.last = rec["step"]
            keys = [k for k in rec if k not in ("step", "time", "sec_per_step", "images_per_s", "lr")]
            post = {k: f"{rec[k]:.3f}" for k in keys[:6]}
            if self.kid is not None:
                post["KID"] = f"{self.kid:.4f}"
            self.bar.set_postfix(post, refresh=False)

        def on_score(self, rec):
            self.kid = rec["score"]
            if show:
                self.bar.write(f"step {rec['step']}: KID (random features) {rec['score']:.4f} "
                               f"({rec['seconds']:.2f} s)")

    bar = Bar()
    try:
        status = trainer.train(bar)
    except Diverged as e:
        bar.bar.close()
        print(f"error: {e}", file=sys.stderr)
        return 3
    except KeyboardInterrupt:
        bar.bar.close()
        path = trainer.save_checkpoint()
        print(f"interrupted at step {trainer.step}; checkpoint {path}", file=sys.stderr)
        return 130
    finally:
        bar.bar.close()
        if dist.is_available() and dist.is_initialized():
            dist.destroy_process_group()
    if trainer.rank == 0:
        print(f"{status} at step {trainer.step}; model: {trainer.folder.latest}")
        best = trainer.best
        if best is not None:
            print(f"best: {trainer.folder.best} (step {best['step']}, KID (random features) {best['score']:.4f}; "
                  f"scores in {trainer.folder.scores_path})")
    return 0


def run() -> None:
    """The `cyclegan-train` console script (pyproject.toml)."""
    sys.exit(main(prog="cyclegan-train"))
