"""CycleGAN, DiscoGAN and DualGAN as data. The trainer reads these fields and never asks which
architecture it runs; numbers come from the papers and the authors' code
(see shared/docs/architectures.md)."""
import dataclasses
from dataclasses import dataclass, field

from .errors import UserInputError


@dataclass(frozen=True)
class NetSpec:
    family: str
    kwargs: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        return {"family": self.family, "kwargs": dict(self.kwargs)}

    @classmethod
    def from_dict(cls, d: dict) -> "NetSpec":
        return cls(d["family"], dict(d.get("kwargs", {})))


@dataclass(frozen=True)
class Preset:
    name: str
    title: str
    generator: NetSpec
    discriminator: NetSpec
    image_size: int
    value_range: tuple[float, float]        # what the nets see: (-1, 1) for tanh, (0, 1) for sigmoid
    # adversarial loss
    gan_loss: str                           # "lsgan" | "bce" | "wgan" | "wgan-gp"
    d_outputs_probabilities: bool           # D ends in a sigmoid (BCE on probabilities, not logits)
    gan_weight: float = 1.0
    feature_matching_weight: float = 0.0    # DiscoGAN: match batch means of D's middle activations
    d_loss_scale: float = 0.5               # D loss = scale * (real + fake)
    clip_weights: float | None = None       # WGAN: clamp every critic weight to [-c, c] after its step
    gradient_penalty: float = 0.0           # WGAN-GP's lambda
    # reconstruction
    recon_loss: str = "l1"                  # "l1" | "mse"
    lambda_cycle: float = 10.0
    lambda_identity: float = 0.0            # times lambda_cycle, as in CycleGAN
    # (step, rate) pairs: G loss = (1 - rate)·adversarial + rate·recon from that step on; () = plain sum
    recon_rate_schedule: tuple[tuple[int, float], ...] = ()
    pool_size: int = 0                      # image pool of past fakes shown to D
    # optimisation
    optimizer: str = "adam"                 # "adam" | "rmsprop"
    lr_g: float = 2e-4
    lr_d: float = 2e-4
    betas: tuple[float, float] = (0.5, 0.999)
    weight_decay: float = 0.0
    lr_decay_fraction: float = 0.0          # last fraction of the steps decays the LR linearly to 0
    # what happens to each batch, in turn: "GD" = generators then discriminators on one batch;
    # ("D", "G", "G") = a D-only batch, then two G-only batches
    phases: tuple[str, ...] = ("GD",)
    init_std: float | None = 0.02           # N(0, std) init of conv weights; None keeps torch's default
    batch_size: int = 1
    preprocess: str = "resize_crop"
    flip: bool = True

    def to_dict(self) -> dict:
        d = dataclasses.asdict(self)
        d["generator"] = self.generator.to_dict()
        d["discriminator"] = self.discriminator.to_dict()
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "Preset":
        d = dict(d)
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = set(d) - known
        if unknown:
            raise UserInputError(f"unknown preset fields: {', '.join(sorted(unknown))}")
        d["generator"] = NetSpec.from_dict(d["generator"])
        d["discriminator"] = NetSpec.from_dict(d["discriminator"])
        for k in ("value_range", "betas", "phases"):
            if k in d:
                d[k] = tuple(d[k])
        if "recon_rate_schedule" in d:
            d["recon_rate_schedule"] = tuple(tuple(x) for x in d["recon_rate_schedule"])
        return cls(**d)

    def with_size(self, size: int) -> "Preset":
        """The same preset at another image size (DualGAN's U-Net depth follows the size)."""
        gen = self.generator
        if "levels" in gen.kwargs:
            from .nets import levels_for
            gen = NetSpec(gen.family, {**gen.kwargs, "levels": levels_for(size)})
        return dataclasses.replace(self, image_size=size, generator=gen)


CYCLEGAN = Preset(
    name="cyclegan", title="CycleGAN (Zhu et al. 2017)",
    generator=NetSpec("resnet", {"ngf": 64, "n_blocks": 9, "dropout": False, "upsample": "deconv"}),
    discriminator=NetSpec("patchgan", {"ndf": 64, "n_layers": 3}),
    image_size=256, value_range=(-1.0, 1.0),
    gan_loss="lsgan", d_outputs_probabilities=False,
    recon_loss="l1", lambda_cycle=10.0, lambda_identity=0.5, pool_size=50,
    optimizer="adam", lr_g=2e-4, lr_d=2e-4, betas=(0.5, 0.999), lr_decay_fraction=0.5,
    phases=("GD",), init_std=0.02, batch_size=1, preprocess="resize_crop", flip=True,
)

DISCOGAN = Preset(
    name="discogan", title="DiscoGAN (Kim et al. 2017)",
    generator=NetSpec("disco_generator", {"ngf": 64, "n_down": 4}),
    discriminator=NetSpec("disco_discriminator", {"ndf": 64, "n_down": 4}),
    image_size=64, value_range=(0.0, 1.0),
    gan_loss="bce", d_outputs_probabilities=True, gan_weight=0.1, feature_matching_weight=0.9,
    recon_loss="mse", lambda_cycle=1.0, recon_rate_schedule=((0, 0.01), (10000, 0.5)),
    optimizer="adam", lr_g=2e-4, lr_d=2e-4, betas=(0.5, 0.999), weight_decay=1e-5,
    phases=("D", "G", "G"), init_std=None, batch_size=64, preprocess="resize", flip=False,
)

DUALGAN = Preset(
    name="dualgan", title="DualGAN (Yi et al. 2017)",
    generator=NetSpec("dual_unet", {"ngf": 64, "levels": 8, "kernel": 5, "outer_kernel": 5,
                                    "dropout": 0.5, "n_dropout": 3, "dropout_at_test": False}),
    discriminator=NetSpec("dual_critic", {"ndf": 64, "kernel": 5}),
    image_size=256, value_range=(-1.0, 1.0),
    gan_loss="wgan", d_outputs_probabilities=False, d_loss_scale=1.0, clip_weights=0.01,
    recon_loss="l1", lambda_cycle=100.0,
    optimizer="rmsprop", lr_g=5e-5, lr_d=5e-5, betas=(0.0, 0.0),
    phases=("D", "D", "G"), init_std=0.02, batch_size=1, preprocess="resize_crop", flip=True,
)

PRESETS: dict[str, Preset] = {p.name: p for p in (CYCLEGAN, DISCOGAN, DUALGAN)}

# The DualGAN authors' released code, as opposed to the paper: sigmoid cross-entropy on the
# critic's logits, lambda 20, Adam, one D step then two G steps on each batch.
DUALGAN_CODE = dataclasses.replace(
    DUALGAN, name="dualgan-code", title="DualGAN (authors' 2017 code)",
    gan_loss="bce", d_loss_scale=1.0, clip_weights=None, lambda_cycle=20.0,
    optimizer="adam", lr_g=2e-4, lr_d=2e-4, betas=(0.5, 0.999), phases=("DGG",),
)
DUALGAN_GP = dataclasses.replace(
    DUALGAN, name="dualgan-gp", title="DualGAN with WGAN-GP (authors' 2020 code default)",
    gan_loss="wgan-gp", clip_weights=None, gradient_penalty=10.0,
    generator=NetSpec("dual_unet", {**DUALGAN.generator.kwargs, "kernel": 3, "outer_kernel": 5}),
    optimizer="adam", lr_g=1e-4, lr_d=1e-4, betas=(0.5, 0.9),
)
VARIANTS: dict[str, Preset] = {p.name: p for p in (DUALGAN_CODE, DUALGAN_GP)}


def quick(preset: Preset, size: int = 64) -> Preset:
    """A small, CPU-sized version of a preset: same losses and schedule, narrower nets.
    Widths are chosen so a step takes well under a second on 2 cores at 64 px."""
    g, d = preset.generator, preset.discriminator
    gk, dk = dict(g.kwargs), dict(d.kwargs)
    if g.family == "resnet":
        gk.update(ngf=16, n_blocks=4)
    else:
        gk.update(ngf=16)
    dk.update(ndf=16)
    if g.family == "dual_unet":
        gk.update(kernel=3, outer_kernel=5)
    q = dataclasses.replace(preset, name=preset.name, title=preset.title + ", quick",
                            generator=NetSpec(g.family, gk), discriminator=NetSpec(d.family, dk),
                            batch_size=min(preset.batch_size, 8) if preset.batch_size > 1 else 4,
                            recon_rate_schedule=tuple((min(s, 1000), r) for s, r in preset.recon_rate_schedule))
    return q.with_size(size)


ARCHITECTURES = tuple(PRESETS)


def get_preset(name: str, variant: str = "paper", size: int | None = None) -> Preset:
    """`name` is an architecture ('cyclegan', 'discogan', 'dualgan') or a variant ('dualgan-code');
    `variant` 'quick' shrinks it for CPU."""
    table = {**PRESETS, **VARIANTS}
    if name not in table:
        raise UserInputError(f"unknown architecture {name!r}; choose one of: {', '.join(table)}")
    if variant not in ("paper", "quick"):
        raise UserInputError(f"unknown preset variant {variant!r}; choose 'paper' or 'quick'")
    p = table[name]
    if variant == "quick":
        return quick(p, size or 64)
    return p.with_size(size) if size else p
