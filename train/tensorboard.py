"""A TensorBoard mirror of a run (`--log tensorboard`): every metrics row, as scalars grouped
into loss/, train/ (lr, images/s, s/step) and score/ (KID, FID, PSNR ... when a run scores
itself), and every sample grid, as events in RUN/tb through torch's SummaryWriter. metrics.jsonl
stays the record of truth; this is a view of it for `tensorboard --logdir runs`."""
from __future__ import annotations

import numbers
import re

import torch

from cyclegan.errors import UserInputError

from .runs import RunDir

TRAIN_KEYS = {"lr", "sec_per_step", "images_per_s"}
SKIP = {"step", "time"}
SCORE = re.compile(r"kid|fid|psnr|ssim|score", re.IGNORECASE)


def tag(key: str) -> str:
    if key in TRAIN_KEYS:
        return f"train/{key}"
    if SCORE.search(key):
        return f"score/{key}"
    return f"loss/{key}"


class TensorBoardLog:
    def __init__(self, folder: RunDir, purge_step: int | None = None):
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError:
            raise UserInputError("--log tensorboard needs the tensorboard package: pip install tensorboard "
                                 "(or 'cyclegan-studio[tensorboard]')") from None
        # purge_step: a resumed run drops the events a crash left past its checkpoint.
        self.writer = SummaryWriter(log_dir=str(folder.tb_dir), purge_step=purge_step, flush_secs=10)

    def metrics(self, record: dict) -> None:
        step = record.get("step")
        if not isinstance(step, numbers.Integral):
            return
        wall = record.get("time")
        for key, value in record.items():
            if key in SKIP or isinstance(value, bool) or not isinstance(value, numbers.Real):
                continue
            self.writer.add_scalar(tag(key), float(value), int(step), walltime=wall)

    def sample(self, step: int, grid: torch.Tensor) -> None:
        """The grid as written to samples/ ([3, H, W] in [0, 1])."""
        self.writer.add_image("samples", grid.clamp(0, 1), int(step), dataformats="CHW")
        self.writer.flush()

    def close(self) -> None:
        self.writer.close()
