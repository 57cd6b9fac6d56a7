"""`python -m train`: headless training with a progress bar. Also the entry point under
`torchrun --nproc_per_node=K -m train ...` (DistributedDataParallel).

The flags are generated from TrainConfig's fields (type, default and help from their metadata),
so a new field is a new flag without touching this file."""
import argparse
import dataclasses
import sys

import torch.distributed as dist
from tqdm import tqdm

from cyclegan import zoo
from cyclegan.errors import UserInputError

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


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="python -m train", description="Train CycleGAN, DiscoGAN or DualGAN on "
                                 "unpaired images. Writes RUN/config.json, metrics.jsonl, samples/, checkpoints/.")
    add_config_flags(ap)
    ap.add_argument("--resume", action="store_true", help="continue the run in --out from its newest complete checkpoint")
    ap.add_argument("--quiet", action="store_true", help="no progress bar")
    return ap


def config_from_args(args) -> TrainConfig:
    """The flags as a TrainConfig; with --resume, the run's saved config plus the new run length
    and machine settings (flags that define the run are not looked at then)."""
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


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    downloads = download_bar(not args.quiet)
    try:
        cfg = config_from_args(args)
        trainer = Trainer(cfg, resume=args.resume, log=lambda m: print(m, file=sys.stderr), progress=downloads)
    except UserInputError as e:
        downloads.close()
        print(f"error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        downloads.close()
        print("error: interrupted (nothing of an unfinished download is kept)", file=sys.stderr)
        return 130
    downloads.close()
    show = trainer.rank == 0 and not args.quiet

    class Bar(Hooks):
        def __init__(self):
            self.bar = tqdm(total=trainer.cfg.steps, initial=trainer.step, unit="step", disable=not show,
                            dynamic_ncols=True)
            self.last = trainer.step

        def on_log(self, rec):
            self.bar.update(rec["step"] - self.last)
            self.last = rec["step"]
            keys = [k for k in rec if k not in ("step", "time", "sec_per_step", "images_per_s", "lr")]
            self.bar.set_postfix({k: f"{rec[k]:.3f}" for k in keys[:6]}, refresh=False)

    bar = Bar()
    try:
        status = trainer.train(bar)
    except Diverged as e:
        bar.bar.close()
        print(f"error: {e}; the last good checkpoint is kept in {trainer.folder.checkpoints_dir}", file=sys.stderr)
        return 3
    except UserInputError as e:
        bar.bar.close()
        print(f"error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        bar.bar.close()
        path = trainer.save_checkpoint()
        print(f"interrupted at step {trainer.step}; checkpoint {path}", file=sys.stderr)
        return 130
    finally:
        if dist.is_available() and dist.is_initialized():
            dist.destroy_process_group()
    bar.bar.close()
    if trainer.rank == 0:
        print(f"{status} at step {trainer.step}; model: {trainer.folder.latest}")
    return 0
