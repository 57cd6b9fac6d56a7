"""Everything a training run needs, as one plain dataclass (what the CLI, the app and resume share)."""
import dataclasses
from dataclasses import dataclass

from cyclegan.errors import UserInputError
from cyclegan.presets import Preset, get_preset


@dataclass
class TrainConfig:
    data: str = "demo:daynight"
    arch: str = "cyclegan"              # cyclegan | discogan | dualgan (| dualgan-code | dualgan-gp)
    variant: str = "quick"              # quick (small nets for CPU) | paper
    size: int | None = None             # image side; None = the preset's
    steps: int = 1000
    batch: int | None = None            # None = the preset's
    out: str = "runs/run"
    seed: int = 0
    device: str = "auto"                # auto = cuda > mps > cpu
    sample_every: int = 50
    checkpoint_every: int = 200
    log_every: int = 10
    keep_checkpoints: int = 3
    threads: int | None = None          # CPU threads for training (None = torch's default)
    workers: int = 0                    # DataLoader worker processes
    amp: bool = True                    # bf16 autocast on CUDA
    channels_last: bool = True
    compile: bool = False
    fuse_passes: bool = True            # batch passes that are independent per sample
    preprocess: str | None = None
    flip: bool | None = None
    # overrides of the preset's numbers (None = keep)
    lr_g: float | None = None
    lr_d: float | None = None
    lambda_cycle: float | None = None
    lambda_identity: float | None = None
    pool_size: int | None = None
    clip_weights: float | None = None
    max_steps_limit: int | None = None  # set by public deployments

    def preset(self) -> Preset:
        p = get_preset(self.arch, self.variant, self.size)
        overrides = {k: getattr(self, k) for k in ("lr_g", "lr_d", "lambda_cycle", "lambda_identity",
                                                   "pool_size", "clip_weights", "preprocess", "flip")
                     if getattr(self, k) is not None}
        if self.batch is not None:
            overrides["batch_size"] = self.batch
        return dataclasses.replace(p, **overrides) if overrides else p

    def validate(self) -> "TrainConfig":
        from cyclegan import limits
        lim = limits.current()
        if self.steps < 1:
            raise UserInputError(f"steps must be at least 1 (got {self.steps})")
        max_steps = min(lim.max_train_steps, self.max_steps_limit or lim.max_train_steps)
        if self.steps > max_steps:
            raise UserInputError(f"steps={self.steps} is over this server's limit of {max_steps} (CYCLEGAN_MAX_TRAIN_STEPS)")
        p = self.preset()
        if not 16 <= p.image_size <= lim.max_train_size:
            raise UserInputError(f"image size {p.image_size} is out of range: use 16..{lim.max_train_size} (CYCLEGAN_MAX_TRAIN_SIZE)")
        mult = _size_multiple(p)
        if p.image_size % mult:
            raise UserInputError(f"image size {p.image_size} does not suit {p.name}: it must be a multiple of {mult} "
                                 f"(e.g. {max(mult, p.image_size - p.image_size % mult)})")
        if p.batch_size < 1 or p.batch_size > 512:
            raise UserInputError(f"batch must be 1..512 (got {p.batch_size})")
        if p.discriminator.family == "disco_discriminator":
            smallest = 4 * 2 ** p.discriminator.kwargs.get("n_down", 4)
            if p.image_size < smallest:
                raise UserInputError(f"image size {p.image_size} is too small for {p.name}: its discriminator "
                                     f"needs at least {smallest} px (DiscoGAN works at 64)")
        for name in ("sample_every", "checkpoint_every", "log_every", "keep_checkpoints"):
            if getattr(self, name) < 1:
                raise UserInputError(f"{name.replace('_', '-')} must be at least 1")
        if self.threads is not None and self.threads < 1:
            raise UserInputError("threads must be at least 1")
        for name in ("lr_g", "lr_d"):
            v = getattr(self, name)
            if v is not None and not (0 < v < 1):
                raise UserInputError(f"{name} must be between 0 and 1 (got {v})")
        return self

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "TrainConfig":
        known = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in known})


def _size_multiple(p: Preset) -> int:
    fam, kw = p.generator.family, p.generator.kwargs
    if fam == "resnet":
        return 4
    if fam == "unet":
        return 2 ** kw.get("num_downs", 8)
    if fam == "disco_generator":
        return 2 ** kw.get("n_down", 4)
    if fam == "dual_unet":
        return 2 ** kw.get("levels", 8)
    return 1
