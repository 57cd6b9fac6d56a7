"""Everything a training run needs, as one plain dataclass: what the CLI, the app, resume and the
benchmarks share. Each field's metadata holds its command-line help, so `python -m train`'s
flags are generated from it (train/cli.py). A TrainConfig is checked once, when it is made:
one that exists is valid (under the server's limits at that moment)."""
import dataclasses
import math
import types
import typing
from dataclasses import dataclass, field

from cyclegan import limits, zoo
from cyclegan.errors import UserInputError
from cyclegan.nets import size_rules
from cyclegan.presets import (ARCHITECTURES, DEFAULT_RECIPE, RECIPES, SCALES, NetSpec, Preset, check_names,
                              get_preset)
from cyclegan.settings import parse_bool, whole_number

PREPROCESS = ("resize_crop", "crop", "scale_width", "resize", "none")
LOGS = ("jsonl", "tensorboard")
NO_CLI_DEFAULT = object()


def _flag(help: str, *, flag: str | None = None, cli_default=NO_CLI_DEFAULT) -> dict:
    """Field metadata for the CLI: its help, and where it differs from the plain `--field-name`
    flag with the field's own default. (Allowed values are checked by the config itself, so
    a wrong one is the usual one-line error.)"""
    return {"cli": {"help": help, "flag": flag, "cli_default": cli_default}}


def _recipes_help() -> str:
    return "; ".join(f"{a}: {', '.join(RECIPES[a])}" for a in ARCHITECTURES)


@dataclass(frozen=True)
class TrainConfig:
    data: str = field(default="demo:daynight", metadata=_flag(
        "folder with trainA/ trainB/ (or A/ B/), a .zip of one, hub:OWNER/NAME (a Hugging Face dataset: image "
        "folders or parquet), demo:NAME (built-in: demo:daynight, demo:summerwinter), or official:NAME (the "
        "CycleGAN authors' datasets, downloaded once into the cache, e.g. official:horse2zebra)"))
    init: str | None = field(default=None, metadata=_flag(
        "start from a trained model instead of random weights (fine-tuning): demo:NAME, official:NAME, a Hub id, "
        "a model folder or file, or a run's checkpoint; its generators (and discriminators, if it has them) "
        "initialise the run's and its nets replace the preset's (train/finetune.py)"))
    arch: str = field(default="cyclegan", metadata=_flag(f"architecture: {' | '.join(ARCHITECTURES)}"))
    recipe: str | None = field(default=None, metadata=_flag(
        f"how the architecture is trained, its paper's recipe or a version of its authors' code (default: "
        f"{', '.join(f'{a} {r}' for a, r in DEFAULT_RECIPE.items())}): {_recipes_help()}"))
    scale: str = field(default="quick", metadata=_flag(
        f"{' | '.join(SCALES)}: full is the published net sizes, quick small nets for a CPU (the app's "
        "default; the command line's is full)", cli_default="full"))
    size: int | None = field(default=None, metadata=_flag("image side in pixels, 16 or more (default: the preset's)"))
    steps: int = field(default=1000, metadata=_flag("training steps (one batch each)"))
    batch: int | None = field(default=None, metadata=_flag("batch size (default: the preset's)"))
    out: str = field(default="runs/run", metadata=_flag("run folder"))
    seed: int = field(default=0, metadata=_flag("random seed: every draw is a function of it and the step"))
    device: str = field(default="auto", metadata=_flag("auto (cuda > mps > cpu), cpu, cuda, cuda:N, mps"))
    sample_every: int = field(default=50, metadata=_flag("write a sample grid every K steps"))
    checkpoint_every: int = field(default=200, metadata=_flag("checkpoint every K steps"))
    log_every: int = field(default=10, metadata=_flag("append to the metrics every K steps"))
    keep_checkpoints: int = field(default=3, metadata=_flag("checkpoints kept (besides RUN/best)", flag="--keep"))
    score_every: int | None = field(default=None, metadata=_flag(
        "score the generators every K steps with KID (random features) on held-out images (demo: test scenes; "
        "folders: testA/ + testB/, else the training images); the best-scoring checkpoint is kept as RUN/best. "
        "Default: at every checkpoint; 0: off"))
    score_n: int = field(default=100, metadata=_flag("images per side for the live score"))
    threads: int | None = field(default=None, metadata=_flag("CPU threads for training (default: the cores this process may use, "
                                                             "chosen per run: cyclegan/threads.py)"))
    workers: int = field(default=0, metadata=_flag("DataLoader worker processes"))
    amp: bool = field(default=True, metadata=_flag("float32 training: no bf16 autocast on CUDA or on a CPU with bf16 hardware",
                                                    flag="--no-amp"))
    channels_last: bool = field(default=True, metadata=_flag("keep NCHW memory layout (channels_last is used "
                                                             "on CUDA only)", flag="--no-channels-last"))
    compile: bool = field(default=False, metadata=_flag("torch.compile the generator and discriminator passes"))
    fuse_passes: bool = field(default=True, metadata=_flag(
        "run every pass separately instead of batching independent ones", flag="--no-fuse"))
    preprocess: str | None = field(default=None, metadata=_flag(f"{' | '.join(PREPROCESS)} (default: the preset's)"))
    flip: bool | None = field(default=None, metadata=_flag("no random flips", flag="--no-flip"))
    width: int | None = field(default=None, metadata=_flag(
        "base width of both nets (the generator's first layer, ngf, and the discriminator's, ndf), 4..256 "
        "(default: the preset's: 64 at the full scale, 16 at the quick)"))
    # overrides of the preset's numbers (None = keep)
    lr_g: float | None = field(default=None, metadata=_flag("generator learning rate (default: the preset's)"))
    lr_d: float | None = field(default=None, metadata=_flag("discriminator learning rate (default: the preset's)"))
    lambda_cycle: float | None = field(default=None, metadata=_flag(
        "cycle/reconstruction weight, 0..1000 (default: the preset's)"))
    lambda_identity: float | None = field(default=None, metadata=_flag(
        "identity weight, times lambda-cycle, 0..10 (CUT, which has no cycle: the L1 weight itself, 0..100) "
        "(default: the preset's)"))
    pool_size: int | None = field(default=None, metadata=_flag("image pool size, 0..1000 (default: the preset's)"))
    lambda_nce: float | None = field(default=None, metadata=_flag(
        "PatchNCE weight of CUT, 0..1000 (default: the recipe's, 1 for cut, 10 for fastcut)"))
    clip_weights: float | None = field(default=None, metadata=_flag(
        "WGAN critic weight clip, above 0 and at most 10 (default: the preset's)"))
    lr_decay_fraction: float | None = field(default=None, metadata=_flag(
        "last fraction of the steps over which the learning rate decays linearly to 0, 0..1 (default: the preset's)"))
    ema_decay: float | None = field(default=None, metadata=_flag(
        "keep a moving average of the generators' weights with this decay per step, e.g. 0.999, and save and "
        "sample the average (train/average.py); 0: off, 0 up to below 1 (default: the preset's)"))
    log: str = field(default="jsonl", metadata=_flag(
        f"{' | '.join(LOGS)}: metrics.jsonl is always written; tensorboard also writes RUN/tb for "
        "`tensorboard --logdir` (losses, lr, images/s, scores, sample grids)"))
    max_steps_limit: int | None = None  # set by public deployments, not on the command line
    hub_cache_only: bool = False  # set by the app, which fetched a hub: dataset with the visitor's credential

    def __post_init__(self):
        self._validate()

    def preset(self) -> Preset:
        p = get_preset(self.arch, self.recipe, self.scale, self.size)
        overrides = {k: getattr(self, k) for k in ("lr_g", "lr_d", "lambda_cycle", "lambda_identity",
                                                   "pool_size", "clip_weights", "lr_decay_fraction", "ema_decay",
                                                   "preprocess", "flip", "lambda_nce")
                     if getattr(self, k) is not None}
        if self.batch is not None:
            overrides["batch_size"] = self.batch
        if self.init is not None and p.scale == "quick":   # the quick scale's faster rates are for a fresh start
            recipe = get_preset(self.arch, self.recipe, "full")
            overrides.update({k: getattr(recipe, k) for k in ("lr_g", "lr_d") if getattr(self, k) is None})
        changed = [f"{k} {getattr(p, k)} → {v}" for k, v in overrides.items() if getattr(p, k) != v]
        if self.width is not None:   # the nets' own words, as the quick table names them
            for net, arg in (("generator", "ngf"), ("discriminator", "ndf")):
                spec = getattr(p, net)
                if spec.kwargs.get(arg, self.width) != self.width:
                    changed.append(f"{net}.{arg} {spec.kwargs[arg]} → {self.width}")
                overrides[net] = NetSpec(spec.family, {**spec.kwargs, arg: self.width})
        if changed:   # the title names a recipe: a model trained off it must not claim to be it
            overrides["title"] = f"{p.title}; changed here: {', '.join(changed)}"
        return dataclasses.replace(p, **overrides) if overrides else p

    def _validate(self) -> None:
        check_names(self.arch, self.recipe, self.scale)
        for name, kind in ((self.data, "dataset"), (self.init, "model")):   # official names: no request
            if isinstance(name, str) and zoo.parse_spec(name) is not None:
                (zoo.dataset_name if kind == "dataset" else zoo.model_name)(zoo.parse_spec(name))
        if self.init is not None and (not isinstance(self.init, str) or not self.init.strip()):
            raise UserInputError("--init needs a model (demo:NAME, official:NAME, a Hub id, a folder or file)")
        if str(self.data).startswith("hub:"):
            from cyclegan.hubdata import parse
            parse(self.data)
        lim = limits.current()
        max_steps = min(lim.max_train_steps, self.max_steps_limit or lim.max_train_steps)
        if whole_number(self.steps, "steps", 1) > max_steps:
            raise UserInputError(f"steps={self.steps} is over this server's limit of {max_steps} (CYCLEGAN_MAX_TRAIN_STEPS)")
        for name in ("sample_every", "checkpoint_every", "log_every", "keep_checkpoints"):
            whole_number(getattr(self, name), name.replace("_", "-"), 1)
        if self.score_every is not None:
            whole_number(self.score_every, "score-every", 0)
        whole_number(self.score_n, "score-n", 2, 5000)
        whole_number(self.workers, "workers", 0)
        if self.threads is not None:
            whole_number(self.threads, "threads", 1)
        # two-way models weigh identity in multiples of lambda-cycle (10 × 10 at the default cycle weight);
        # a one-direction model has no cycle, so its number is the L1 weight itself: the same top of 100
        two_way = len(get_preset(self.arch, self.recipe, self.scale).directions) == 2
        id_top, id_bounds = (10, "from 0 to 10") if two_way else (100, "from 0 to 100 for a one-direction model")
        for name, ok, bounds in (("lr_g", lambda v: 0 < v < 1, "above 0 and below 1"),
                                 ("lr_d", lambda v: 0 < v < 1, "above 0 and below 1"),
                                 ("lambda_cycle", lambda v: 0 <= v <= 1000, "from 0 to 1000"),
                                 ("lambda_identity", lambda v: 0 <= v <= id_top, id_bounds),
                                 ("lambda_nce", lambda v: 0 <= v <= 1000, "from 0 to 1000"),
                                 ("lr_decay_fraction", lambda v: 0 <= v <= 1, "from 0 to 1"),
                                 ("ema_decay", lambda v: 0 <= v < 1, "from 0 up to (not including) 1"),
                                 ("clip_weights", lambda v: 0 < v <= 10, "above 0 and at most 10")):
            v = getattr(self, name)
            if v is not None and not (isinstance(v, (int, float)) and not isinstance(v, bool)
                                      and math.isfinite(v) and ok(v)):
                raise UserInputError(f"{name.replace('_', '-')} must be a number {bounds}, got {v!r}")
        if self.pool_size is not None:
            whole_number(self.pool_size, "pool-size", 0, 1000)
        if self.width is not None:
            whole_number(self.width, "width", 4, 256)
            if self.init is not None:   # finetune.fit: the starting model's nets replace the preset's
                raise UserInputError("--width does not apply with --init: a fine-tuned run keeps the nets of the "
                                     "model it starts from, and their widths")
        if self.size is not None:
            whole_number(self.size, "size (leave it out for the preset's)", 16)
        if self.log not in LOGS:
            raise UserInputError(f"unknown log {self.log!r}; choose one of: {', '.join(LOGS)}")
        if self.preprocess is not None and self.preprocess not in PREPROCESS:
            raise UserInputError(f"unknown preprocess {self.preprocess!r}; choose one of: {', '.join(PREPROCESS)}")
        p = self.preset()
        if len(p.directions) == 1 and (self.lambda_cycle or 0) > 0:
            raise UserInputError(f"{p.architecture} trains one direction (A → B): there is no cycle, so "
                                 "lambda_cycle does not apply")
        if self.lambda_nce is not None and not p.nce_layers:
            raise UserInputError("lambda_nce applies to CUT only (its PatchNCE loss)")
        if not 16 <= p.image_size <= lim.max_train_size:
            raise UserInputError(f"image size {p.image_size} is out of range: use 16..{lim.max_train_size} (CYCLEGAN_MAX_TRAIN_SIZE)")
        whole_number(p.batch_size, "batch", 1, 512)
        for role, net in (("generator", p.generator), ("discriminator", p.discriminator)):
            multiple, smallest = size_rules(net.family, net.kwargs)   # asked of the nets themselves
            if p.image_size % multiple:
                raise UserInputError(f"image size {p.image_size} does not suit {p.architecture}: it must be a multiple "
                                     f"of {multiple} (e.g. {max(multiple, p.image_size - p.image_size % multiple)})")
            if p.image_size < smallest:
                raise UserInputError(f"image size {p.image_size} is too small for {p.architecture}: its {role} needs "
                                     f"at least {smallest} px")
        from .memory import estimate_mb   # builds the nets on the meta device: after the cheap checks
        need, cap = estimate_mb(p), lim.max_train_memory_mb
        if need > cap:
            raise UserInputError(f"this run would need about {need:,} MB of memory ({p.architecture}, {p.scale} scale, "
                                 f"{p.image_size} px, batch {p.batch_size}), over this server's limit of {cap:,} MB "
                                 "(CYCLEGAN_MAX_TRAIN_MEMORY_MB): use a smaller size, batch or scale")

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "TrainConfig":
        """A saved config.json, also one written before the architecture/recipe/scale words
        (with 'variant' and arch names like 'dualgan-code')."""
        d = dict(d)
        if "variant" in d:
            d.setdefault("scale", {"paper": "full"}.get(d["variant"], d["variant"]))
        old = {"dualgan-code": "code-2017-08", "dualgan-gp": "code-2020"}
        if d.get("arch") in old:
            d["recipe"] = old[d["arch"]]
            d["arch"] = "dualgan"
        known = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in known})


# What a resumed run takes from the command that resumes it; the rest (data, architecture, seed...)
# defines the run and comes from its saved config.
RUN_SETTINGS = ("steps", "device", "threads", "workers", "sample_every", "checkpoint_every", "log_every",
                "keep_checkpoints", "score_every", "score_n", "amp", "compile", "max_steps_limit", "out", "log")


def resumed(saved: dict, settings: dict) -> TrainConfig:
    """The config of a resumed run: its saved config with the new run length and machine settings."""
    return TrainConfig.from_dict({**saved, **{k: settings[k] for k in RUN_SETTINGS if k in settings}})


# --- fields from text: the CLI's flags and bench's FIELD=VALUE ----------------------------------
def field_type(name: str) -> tuple[type, bool]:
    """(int | float | str | bool, whether None is allowed) of a TrainConfig field."""
    hint = typing.get_type_hints(TrainConfig)[name]
    args = typing.get_args(hint) if isinstance(hint, types.UnionType) else (hint,)
    base = next(a for a in args if a is not type(None))
    return base, type(None) in args


def parse_field(name: str, text: str):
    """A TrainConfig field's value from text, typed like the field ('none' for optional ones)."""
    if name not in {f.name for f in dataclasses.fields(TrainConfig)}:
        raise UserInputError(f"{name!r} is not a TrainConfig field")
    base, optional = field_type(name)
    raw = str(text).strip()
    if optional and raw.lower() in ("none", "null"):
        return None
    if base is bool:
        return parse_bool(raw, name)
    if base is int:
        return whole_number(raw, name)
    if base is float:
        try:
            return float(raw)
        except ValueError:
            raise UserInputError(f"{name} must be a number, got {raw!r}") from None
    return raw
