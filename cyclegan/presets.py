"""CycleGAN, DiscoGAN, DualGAN and CUT as data. The trainer reads these fields and never asks which
architecture it runs; numbers come from the papers and the authors' code.

Three words name a preset, the same in code, CLI, app and README:
- the *architecture*: "cyclegan" | "discogan" | "dualgan" | "cut";
- its *recipe*, how it is trained: the paper's ("paper") or a named version of the authors' code
  ("code", "code-2017-08", "code-2020"); CUT's two are its authors' code defaults, "cut" and
  "fastcut";
- its *scale*: "full" (the published net sizes) or "quick" (narrow nets that train on a CPU).
"""
import dataclasses
from dataclasses import dataclass, field

from .errors import UserInputError
from .nets import levels_for

SCALES = ("full", "quick")


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
    architecture: str                       # "cyclegan" | "discogan" | "dualgan" | "cut"
    recipe: str                             # "paper", or the authors' code version it follows
    scale: str                              # "full" | "quick"
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
    # which nets step on which batch. Batches run in cycles of d_only_batches + g_only_batches;
    # both 0 means every batch trains both (generators first, unless d_first).
    d_only_batches: int = 0                 # critic-only batches at the start of each cycle (DualGAN paper: n_critic=2)
    g_only_batches: int = 0                 # generator-only batches after them (DiscoGAN: 1 D batch then 2 G batches)
    d_first: bool = False                   # on a batch that trains both: discriminator step before the generators
    g_steps_per_batch: int = 1              # DualGAN Aug-2017 code: one D step then two G steps on one batch
    init_std: float | None = 0.02           # N(0, std) init of conv weights; None keeps torch's default
    batch_size: int = 1
    preprocess: str = "resize_crop"
    flip: bool = True
    # --- one-direction, contrastive training (CUT, Park et al. 2020) ---------------------------
    init: str = "normal"                    # "normal": N(0, init_std); "xavier": xavier-normal, gain init_gain
    init_gain: float = 0.02                 # the xavier gain (CUT's --init_gain)
    directions: tuple[str, ...] = ("a2b", "b2a")   # which generators exist: ("a2b",) has no G_BA, D_A, cycle
    lambda_nce: float = 0.0                 # PatchNCE weight (0 = no contrastive loss, no MLP heads)
    nce_layers: tuple[int, ...] = ()        # entries of G's Sequential whose features PatchNCE compares
    nce_idt: bool = False                   # also NCE(y, G(y)) on target images, averaged with NCE(x, G(x))
    num_patches: int = 256                  # patch locations per layer and image
    nce_temperature: float = 0.07           # InfoNCE's tau
    nce_mlp_width: int = 256                # units of each layer's 2-layer MLP head
    flip_equivariance: bool = False         # G sees a horizontally flipped batch with p 0.5 (FastCUT)
    shared_forward: bool = False            # D-first batches: D judges the fakes of the G step's own forward
    #                                         (one G pass per batch, as CUT's code) instead of a no-grad pass
    crop_in_decay: bool = True              # False: no random crop while the LR decays (CUT's dataset code)

    @property
    def key(self) -> str:
        """One display key, e.g. 'dualgan/code-2017-08/quick'."""
        return f"{self.architecture}/{self.recipe}/{self.scale}"

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
        for k in ("value_range", "betas", "directions", "nce_layers"):
            if k in d:
                d[k] = tuple(d[k])
        if "recon_rate_schedule" in d:
            d["recon_rate_schedule"] = tuple(tuple(x) for x in d["recon_rate_schedule"])
        return cls(**d)

    def with_size(self, size: int) -> "Preset":
        """The same preset at another image size (DualGAN's U-Net depth follows the size)."""
        gen = self.generator
        if "levels" in gen.kwargs:
            gen = NetSpec(gen.family, {**gen.kwargs, "levels": levels_for(size)})
        return dataclasses.replace(self, image_size=size, generator=gen)


CYCLEGAN = Preset(
    architecture="cyclegan", recipe="paper", scale="full", title="CycleGAN (Zhu et al. 2017)",
    generator=NetSpec("resnet", {"ngf": 64, "n_blocks": 9, "dropout": False, "upsample": "deconv"}),
    discriminator=NetSpec("patchgan", {"ndf": 64, "n_layers": 3}),
    image_size=256, value_range=(-1.0, 1.0),
    gan_loss="lsgan", d_outputs_probabilities=False,
    recon_loss="l1", lambda_cycle=10.0, lambda_identity=0.5, pool_size=50,
    optimizer="adam", lr_g=2e-4, lr_d=2e-4, betas=(0.5, 0.999), lr_decay_fraction=0.5,
    init_std=0.02, batch_size=1, preprocess="resize_crop", flip=True,
)

# The authors' SKTBrain code (which the paper leaves under-specified).
DISCOGAN = Preset(
    architecture="discogan", recipe="code", scale="full", title="DiscoGAN (Kim et al. 2017)",
    generator=NetSpec("disco_generator", {"ngf": 64, "n_down": 4}),
    discriminator=NetSpec("disco_discriminator", {"ndf": 64, "n_down": 4}),
    image_size=64, value_range=(0.0, 1.0),
    gan_loss="bce", d_outputs_probabilities=True, gan_weight=0.1, feature_matching_weight=0.9,
    recon_loss="mse", lambda_cycle=1.0, recon_rate_schedule=((0, 0.01), (10000, 0.5)),
    optimizer="adam", lr_g=2e-4, lr_d=2e-4, betas=(0.5, 0.999), weight_decay=1e-5,
    d_only_batches=1, g_only_batches=2, init_std=None, batch_size=64, preprocess="resize", flip=False,
)

DUALGAN = Preset(
    architecture="dualgan", recipe="paper", scale="full", title="DualGAN (Yi et al. 2017)",
    generator=NetSpec("dual_unet", {"ngf": 64, "levels": 8, "kernel": 5, "outer_kernel": 5,
                                    "dropout": 0.5, "n_dropout": 3, "dropout_at_test": False}),
    discriminator=NetSpec("dual_critic", {"ndf": 64, "kernel": 5}),
    image_size=256, value_range=(-1.0, 1.0),
    gan_loss="wgan", d_outputs_probabilities=False, d_loss_scale=1.0, clip_weights=0.01,
    recon_loss="l1", lambda_cycle=100.0,
    optimizer="rmsprop", lr_g=5e-5, lr_d=5e-5, betas=(0.0, 0.0),
    d_only_batches=2, g_only_batches=1, init_std=0.02, batch_size=1, preprocess="resize_crop", flip=True,
)

# The DualGAN authors' code of August 2017, as opposed to the paper: sigmoid cross-entropy on the
# critic's logits, lambda 20, Adam, one D step then two G steps on each batch.
DUALGAN_CODE_2017 = dataclasses.replace(
    DUALGAN, recipe="code-2017-08", title="DualGAN (authors' 2017 code)",
    gan_loss="bce", d_loss_scale=1.0, clip_weights=None, lambda_cycle=20.0,
    optimizer="adam", lr_g=2e-4, lr_d=2e-4, betas=(0.5, 0.999),
    d_only_batches=0, g_only_batches=0, d_first=True, g_steps_per_batch=2,
)
# Their 2020 code's default: WGAN-GP and a 3×3 generator with 5×5 first and last layers.
DUALGAN_CODE_2020 = dataclasses.replace(
    DUALGAN, recipe="code-2020", title="DualGAN with WGAN-GP (authors' 2020 code default)",
    gan_loss="wgan-gp", clip_weights=None, gradient_penalty=10.0,
    generator=NetSpec("dual_unet", {**DUALGAN.generator.kwargs, "kernel": 3, "outer_kernel": 5}),
    optimizer="adam", lr_g=1e-4, lr_d=1e-4, betas=(0.5, 0.9),
)

# --- CUT and FastCUT (Park et al. 2020): the authors' code defaults --------------------------
# taesungp/contrastive-unpaired-translation (options/*.py, models/cut_model.py): anti-aliased
# ResNet-9 and PatchGAN, xavier init gain 0.02, LSGAN, Adam 2e-4 (0.5, 0.999) for G, D and the MLP
# heads, batch 1, no pool; per batch D first, then G and the heads on the same fakes. PatchNCE on
# layers 0, 4, 8, 12, 16, 256 patches, tau 0.07, 256-unit heads. CUT: lambda_NCE 1 with identity
# NCE, 200 + 200 epochs; FastCUT: lambda_NCE 10, flip-equivariance, 150 + 50 epochs. One direction.
CUT = Preset(
    architecture="cut", recipe="cut", scale="full", title="CUT (Park et al. 2020)",
    generator=NetSpec("cut_resnet", {"ngf": 64, "n_blocks": 9, "dropout": False, "antialias": True,
                                     "antialias_up": True}),
    discriminator=NetSpec("cut_patchgan", {"ndf": 64, "n_layers": 3, "antialias": True}),
    image_size=256, value_range=(-1.0, 1.0),
    gan_loss="lsgan", d_outputs_probabilities=False, gan_weight=1.0, d_loss_scale=0.5,
    lambda_cycle=0.0, lambda_identity=0.0, pool_size=0,
    optimizer="adam", lr_g=2e-4, lr_d=2e-4, betas=(0.5, 0.999), lr_decay_fraction=0.5,
    d_first=True, shared_forward=True, init="xavier", init_gain=0.02, batch_size=1,
    preprocess="resize_crop", flip=True, crop_in_decay=False,
    directions=("a2b",), lambda_nce=1.0, nce_layers=(0, 4, 8, 12, 16), nce_idt=True, num_patches=256,
    nce_temperature=0.07, nce_mlp_width=256, flip_equivariance=False,
)
FASTCUT = dataclasses.replace(
    CUT, recipe="fastcut", title="FastCUT (Park et al. 2020)",
    lambda_nce=10.0, nce_idt=False, flip_equivariance=True, lr_decay_fraction=0.25,
)

# architecture -> recipe -> its full-scale preset
RECIPES: dict[str, dict[str, Preset]] = {
    "cyclegan": {"paper": CYCLEGAN},
    "discogan": {"code": DISCOGAN},
    "dualgan": {"paper": DUALGAN, "code-2017-08": DUALGAN_CODE_2017, "code-2020": DUALGAN_CODE_2020},
    "cut": {"cut": CUT, "fastcut": FASTCUT},
}
DEFAULT_RECIPE: dict[str, str] = {"cyclegan": "paper", "discogan": "code", "dualgan": "paper", "cut": "cut"}
ARCHITECTURES = tuple(RECIPES)
PRESETS: dict[str, Preset] = {a: RECIPES[a][DEFAULT_RECIPE[a]] for a in ARCHITECTURES}


def quick(preset: Preset, size: int = 64) -> Preset:
    """A small, CPU-sized version of a preset: same losses and schedule, narrower nets, chosen so
    a step takes well under a second on 2 cores at 64 px (`python -m bench train --scale quick`)."""
    g, d = preset.generator, preset.discriminator
    gk, dk = dict(g.kwargs), dict(d.kwargs)
    if g.family == "resnet":
        gk.update(ngf=16, n_blocks=4)
    elif g.family == "cut_resnet":
        # five blocks, not four: NCE layer 16 is the fifth residual block (with four it would be
        # the first upsampling layer, outside the encoder)
        gk.update(ngf=16, n_blocks=5)
    else:
        gk.update(ngf=16)
    dk.update(ndf=16)
    if g.family == "dual_unet":
        gk.update(kernel=3, outer_kernel=5)
    q = dataclasses.replace(preset, scale="quick", title=preset.title + ", quick",
                            generator=NetSpec(g.family, gk), discriminator=NetSpec(d.family, dk),
                            batch_size=min(preset.batch_size, 8) if preset.batch_size > 1 else 4,
                            recon_rate_schedule=tuple((min(s, 1000), r) for s, r in preset.recon_rate_schedule))
    return q.with_size(size)


def check_names(architecture, recipe=None, scale="full") -> tuple[str, str, str]:
    """(architecture, recipe, scale) with the default recipe filled in; unknown names are a
    UserInputError that lists the valid ones."""
    if architecture not in RECIPES:
        raise UserInputError(f"unknown architecture {architecture!r}; choose one of: {', '.join(ARCHITECTURES)}")
    recipe = DEFAULT_RECIPE[architecture] if recipe in (None, "") else recipe
    if recipe not in RECIPES[architecture]:
        raise UserInputError(f"unknown recipe {recipe!r} for {architecture}; choose one of: "
                             f"{', '.join(RECIPES[architecture])}")
    if scale not in SCALES:
        raise UserInputError(f"unknown scale {scale!r}; choose one of: {', '.join(SCALES)}")
    return architecture, recipe, scale


def get_preset(architecture: str, recipe: str | None = None, scale: str = "full", size: int | None = None) -> Preset:
    """The preset of an architecture, trained by `recipe` (None: the architecture's default) at
    `scale` ('full': the published nets; 'quick': small ones for a CPU), optionally resized."""
    architecture, recipe, scale = check_names(architecture, recipe, scale)
    p = RECIPES[architecture][recipe]
    if scale == "quick":
        return quick(p, size or 64)
    return p.with_size(size) if size else p
