"""`python -m train`: headless training with a progress bar. Also the entry point under
`torchrun --nproc_per_node=K -m train ...` (DistributedDataParallel)."""
import argparse
import sys

from cyclegan.errors import UserInputError

from .config import TrainConfig


def build_parser() -> argparse.ArgumentParser:
    d = TrainConfig()
    ap = argparse.ArgumentParser(prog="python -m train", description="Train CycleGAN, DiscoGAN or DualGAN on "
                                 "unpaired images. Writes RUN/config.json, metrics.jsonl, samples/, checkpoints/.")
    ap.add_argument("--data", default=d.data, help="folder with trainA/ trainB/ (or A/ B/), a .zip of one, "
                    "or demo:NAME (built-in: demo:daynight, demo:summerwinter) [%(default)s]")
    ap.add_argument("--arch", default=d.arch, help="cyclegan | discogan | dualgan | dualgan-code | dualgan-gp [%(default)s]")
    ap.add_argument("--preset", dest="variant", default="paper", choices=["paper", "quick"],
                    help="paper: the published nets and settings; quick: small nets for a CPU [%(default)s]")
    ap.add_argument("--size", type=int, default=None, help="image side in pixels (default: the preset's)")
    ap.add_argument("--steps", type=int, default=d.steps, help="training steps (one batch each) [%(default)s]")
    ap.add_argument("--batch", type=int, default=None, help="batch size (default: the preset's)")
    ap.add_argument("--out", default=d.out, help="run folder [%(default)s]")
    ap.add_argument("--resume", action="store_true", help="continue the run in --out from its newest complete checkpoint")
    ap.add_argument("--seed", type=int, default=d.seed, help="[%(default)s]")
    ap.add_argument("--device", default=d.device, help="auto (cuda > mps > cpu), cpu, cuda, cuda:N, mps [%(default)s]")
    ap.add_argument("--sample-every", type=int, default=d.sample_every, help="write a sample grid every K steps [%(default)s]")
    ap.add_argument("--checkpoint-every", type=int, default=d.checkpoint_every, help="checkpoint every K steps [%(default)s]")
    ap.add_argument("--log-every", type=int, default=d.log_every, help="append to metrics.jsonl every K steps [%(default)s]")
    ap.add_argument("--keep", dest="keep_checkpoints", type=int, default=d.keep_checkpoints, help="checkpoints kept [%(default)s]")
    ap.add_argument("--threads", type=int, default=None, help="CPU threads for training (default: torch's)")
    ap.add_argument("--workers", type=int, default=d.workers, help="DataLoader worker processes [%(default)s]")
    ap.add_argument("--no-amp", dest="amp", action="store_false", help="no bf16 autocast on CUDA")
    ap.add_argument("--no-channels-last", dest="channels_last", action="store_false", help="keep NCHW memory layout")
    ap.add_argument("--compile", action="store_true", help="torch.compile the generator and discriminator passes")
    ap.add_argument("--no-fuse", dest="fuse_passes", action="store_false",
                    help="run every pass separately instead of batching independent ones")
    ap.add_argument("--preprocess", default=None, choices=["resize_crop", "crop", "scale_width", "resize", "none"],
                    help="default: the preset's")
    ap.add_argument("--no-flip", dest="flip", action="store_const", const=False, default=None, help="no random flips")
    ap.add_argument("--lr-g", type=float, default=None, help="generator learning rate (default: the preset's)")
    ap.add_argument("--lr-d", type=float, default=None, help="discriminator learning rate (default: the preset's)")
    ap.add_argument("--lambda-cycle", type=float, default=None, help="cycle/reconstruction weight (default: the preset's)")
    ap.add_argument("--lambda-identity", type=float, default=None, help="identity weight, times lambda-cycle")
    ap.add_argument("--pool-size", type=int, default=None, help="image pool size (default: the preset's)")
    ap.add_argument("--clip-weights", type=float, default=None, help="WGAN critic weight clip (default: the preset's)")
    ap.add_argument("--quiet", action="store_true", help="no progress bar")
    return ap


def config_from_args(args) -> TrainConfig:
    fields = {f for f in TrainConfig.__dataclass_fields__}
    return TrainConfig(**{k: v for k, v in vars(args).items() if k in fields})


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    from .trainer import Diverged, Hooks, Trainer
    try:
        cfg = config_from_args(args)
        trainer = Trainer(cfg, resume=args.resume, log=lambda m: print(m, file=sys.stderr))
    except UserInputError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    show = trainer.rank == 0 and not args.quiet

    class Bar(Hooks):
        def __init__(self):
            from tqdm import tqdm
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
        print(f"error: {e}; the last good checkpoint is kept in {trainer.run_dir / 'checkpoints'}", file=sys.stderr)
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
        import torch.distributed as dist
        if dist.is_available() and dist.is_initialized():
            dist.destroy_process_group()
    bar.bar.close()
    if trainer.rank == 0:
        print(f"{status} at step {trainer.step}; model: {trainer.run_dir / 'latest'}")
    return 0
