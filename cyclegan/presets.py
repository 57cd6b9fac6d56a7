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
    lambda_identity: float = 0.0            # times lambda_cycle, as in CycleGAN (one direction: itself)
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
    # Moving average of G's weights, what the run saves and samples (train/average.py); 0 = off,
    # as in every paper and authors' code here.
    ema_decay: float = 0.0
    # which nets step on which batch. Batches run in cycles of d_only_batches + g_only_batches;
    # both 0 means every batch trains both (generators first, unless d_first).
    d_only_batches: int = 0                 # critic-only batches at the start of each cycle (DualGAN paper: n_critic=2)
    g_only_batches: int = 0                 # generator-only batches after them (DiscoGAN: 1 D batch then 2 G batches)
    d_first: bool = False                   # on a batch that trains both: discriminator step before the generators
    g_steps_per_batch: int = 1              # DualGAN Aug-2017 code: one D step then two G steps on one batch
    # DualGAN Apr-2017 code: each step runs one critic step on each of this many consecutive batches
    # (a window that slides by one batch per step, so every batch meets this many steps), then one
    # generator step on one of them picked at random (A and B picked independently). 0 = off.
    critic_window: int = 0
    init_std: float | None = 0.02           # N(0, std) init of conv weights; None keeps torch's default
    batch_size: int = 1
    preprocess: str = "resize_crop"
    flip: bool = True
    # ((from_size, n_blocks), ...): the ResNet generator's depth by training size (CycleGAN paper:
    # 6 blocks below 256 px, 9 from 256 px); () keeps the generator's own n_blocks at every size.
    blocks_by_size: tuple[tuple[int, int], ...] = ()
    # How a model of this recipe translates by default (each can be switched per call):
    sample_at_test: bool = False            # decoder dropout on at test time, seeded: outputs are samples
    batch_stats_at_test: bool = False       # BatchNorm normalises by the batch being translated
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
        for k in ("recon_rate_schedule", "blocks_by_size"):
            if k in d:
                d[k] = tuple(tuple(x) for x in d[k])
        return cls(**d)

    def with_size(self, size: int) -> "Preset":
        """The same preset at another image size: DualGAN's U-Net depth follows the size, a critic
        with a linear head is built for it, and `blocks_by_size` picks the ResNet's depth."""
        gen, disc = dict(self.generator.kwargs), dict(self.discriminator.kwargs)
        if "levels" in gen:
            gen["levels"] = levels_for(size)
        for from_size, n_blocks in self.blocks_by_size:
            if size >= from_size:
                gen["n_blocks"] = n_blocks
        if "image_size" in disc:
            disc["image_size"] = size
        return dataclasses.replace(self, image_size=size, generator=NetSpec(self.generator.family, gen),
                                   discriminator=NetSpec(self.discriminator.family, disc))


# --- CycleGAN: Zhu et al. 2017 and the authors' official PyTorch code ---------------------------------
# The paper trains a ResNet of 6 blocks on 128 px images and of 9 on 256 px and up (its appendix);
# the official code (junyanz/pytorch-CycleGAN-and-pix2pix, options/base_options.py at c05b30e:
# --netG resnet_9blocks) builds 9 at every size. Everything else is the same in both: the official
# code's defaults, identity weight 0.5 included (the paper brings in the identity loss for its
# painting -> photo results; the code turns it on for every dataset).
CYCLEGAN = Preset(
    architecture="cyclegan", recipe="paper", scale="full", title="CycleGAN, as the paper (Zhu et al. 2017)",
    generator=NetSpec("resnet", {"ngf": 64, "n_blocks": 9, "dropout": False, "upsample": "deconv"}),
    discriminator=NetSpec("patchgan", {"ndf": 64, "n_layers": 3}),
    image_size=256, value_range=(-1.0, 1.0),
    gan_loss="lsgan", d_outputs_probabilities=False,
    recon_loss="l1", lambda_cycle=10.0, lambda_identity=0.5, pool_size=50,
    optimizer="adam", lr_g=2e-4, lr_d=2e-4, betas=(0.5, 0.999), lr_decay_fraction=0.5,
    init_std=0.02, batch_size=1, preprocess="resize_crop", flip=True,
    blocks_by_size=((0, 6), (256, 9)),
)
CYCLEGAN_CODE = dataclasses.replace(
    CYCLEGAN, recipe="code", title="CycleGAN, as the official code (c05b30e): resnet_9blocks at every size",
    blocks_by_size=(),
)

# --- DiscoGAN: the authors' code, SKTBrain/DiscoGAN (discogan/image_translation.py at f044178) ---------
# The paper leaves the training under-specified; this is the code's. Its test images go through the
# generators in training mode (batch statistics, the whole 200-image test set as one batch); here a
# model translates with its running statistics by default, because a visitor's single image has no
# such batch and the demo model scores better that way (README: "How models translate").
DISCOGAN = Preset(
    architecture="discogan", recipe="code", scale="full", title="DiscoGAN, as the authors' code (f044178; Kim et al. 2017)",
    generator=NetSpec("disco_generator", {"ngf": 64, "n_down": 4}),
    discriminator=NetSpec("disco_discriminator", {"ndf": 64, "n_down": 4}),
    image_size=64, value_range=(0.0, 1.0),
    gan_loss="bce", d_outputs_probabilities=True, gan_weight=0.1, feature_matching_weight=0.9,
    recon_loss="mse", lambda_cycle=1.0, recon_rate_schedule=((0, 0.01), (10000, 0.5)),
    optimizer="adam", lr_g=2e-4, lr_d=2e-4, betas=(0.5, 0.999), weight_decay=1e-5,
    d_only_batches=1, g_only_batches=2, init_std=None, batch_size=64, preprocess="resize", flip=False,
)

# --- DualGAN: Yi et al. 2017 and three versions of the authors' TensorFlow code (duxingren14/DualGAN) ---
# Every version trains with tf.train.RMSPropOptimizer(5e-5, decay=0.9) ("rmsprop-tf": its mean
# square starts at 1), batch 1, init N(0, 0.02), images resized without crop or flip (the flip flag
# is a bool compared with a string: dead code), and keeps decoder dropout 0.5 on at test time where
# it has dropout. Fewer U-Net levels below 256 px (log2 of the size) is this project's adaptation;
# so is per-image norm eps 1e-5 with scale 1 (Aug 2017 and 2020: eps 1e-6, scale ~N(1, 0.02)).
_DUAL_G = {"ngf": 64, "levels": 8, "kernel": 5, "outer_kernel": 5, "dropout": 0.5, "n_dropout": 3,
           "dropout_at_test": False}
_DUAL_COMMON = dict(
    architecture="dualgan", scale="full", value_range=(-1.0, 1.0), d_outputs_probabilities=False,
    d_loss_scale=1.0, recon_loss="l1", optimizer="rmsprop-tf", lr_g=5e-5, lr_d=5e-5, betas=(0.0, 0.0),
    init_std=0.02, batch_size=1, preprocess="resize", flip=False,
)
# The paper: WGAN with weight clipping, RMSProp, L1 reconstruction with λ in [100, 1000], n_critic
# 2-4, c in [0.01, 0.1] (the last two as the facts doc quotes the paper; not re-checked here). We take
# the low end of each range: λ 100, n_critic 2 (the cheapest critic schedule, each critic step on a
# batch of its own, then a generator batch), c 0.01 (the authors' code's value in every version that
# clips). The paper gives no learning rate; 5e-5 is every code version's. Its test-time sampling is
# not stated in the paper, so translations are deterministic by default (sampling is one option away).
DUALGAN = Preset(
    **_DUAL_COMMON, recipe="paper", title="DualGAN, as the paper (Yi et al. 2017): WGAN + clipping",
    generator=NetSpec("dual_unet", dict(_DUAL_G)), discriminator=NetSpec("dual_critic", {"ndf": 64, "kernel": 5}),
    image_size=256, gan_loss="wgan", clip_weights=0.01, lambda_cycle=100.0,
    d_only_batches=2, g_only_batches=1,
)
# Apr 2017, d71400c (main.py:13, 32-36; model.py:112-123, 226-230, 255-310; fabe044 and 3b9f60f
# train the same way): WGAN, D = mean(fake) − mean(real) with every critic weight clipped to 0.01
# after each critic step, 3 critic steps on 3 consecutive batches then 1 generator step on one of
# them (critic_window), λ 200, a critic that ends in a linear layer, 128 px by default.
# Simplification: each epoch of that code visits only the first third of its shuffled list (its
# window slides by one batch over len/3 positions); our batch stream covers every image each epoch.
DUALGAN_CODE_2017_04 = Preset(
    **_DUAL_COMMON, recipe="code-2017-04", title="DualGAN, as the authors' Apr 2017 code (d71400c): WGAN + clipping",
    generator=NetSpec("dual_unet", {**_DUAL_G, "levels": levels_for(128)}),
    discriminator=NetSpec("dual_linear_critic", {"ndf": 64, "image_size": 128}),
    image_size=128, gan_loss="wgan", clip_weights=0.01, lambda_cycle=200.0,
    critic_window=3, sample_at_test=True,
)
# Aug 2017, 3139ecf (main.py:29-30; model.py:66-78, 124-129, 175-185; ops.py:60-61; d7ee5b8 and 4ae5faf the
# same): sigmoid cross-entropy on the critic's logits, D loss = real + fake (no ½), λ 20, one D step
# then two G steps on the same batch, the 5×5 patch critic, 256 px.
DUALGAN_CODE_2017_08 = Preset(
    **_DUAL_COMMON, recipe="code-2017-08", title="DualGAN, as the authors' Aug 2017 code (3139ecf): sigmoid cross-entropy",
    generator=NetSpec("dual_unet", dict(_DUAL_G)), discriminator=NetSpec("dual_critic", {"ndf": 64, "kernel": 5}),
    image_size=256, gan_loss="bce", lambda_cycle=20.0,
    d_first=True, g_steps_per_batch=2, sample_at_test=True,
)
# 2020, 915116c = HEAD (main.py:16, 30-35; model.py:50, 95-140, 173-178, 226-250): --GAN_type
# wgan-gp, penalty γ 10 on random interpolates, λ 500, n_critic 1 (one D step, then one G step on
# the same batch), dropout_rate 0 (none at training or test), a 3×3 generator with 5×5 first and
# last layers, and the `globalgan` critic with a linear head (3,949,441 parameters at 256 px).
DUALGAN_CODE_2020 = Preset(
    **_DUAL_COMMON, recipe="code-2020", title="DualGAN, as the authors' 2020 code (915116c): WGAN-GP",
    generator=NetSpec("dual_unet", {**_DUAL_G, "kernel": 3, "outer_kernel": 5, "dropout": 0.0}),
    discriminator=NetSpec("dual_global_critic", {"ndf": 64, "image_size": 256}),
    image_size=256, gan_loss="wgan-gp", gradient_penalty=10.0, lambda_cycle=500.0,
    d_first=True,
)

# --- CUT and FastCUT (Park et al. 2020): the authors' code defaults --------------------------
# taesungp/contrastive-unpaired-translation at b3ac297 (its HEAD, 2023; options/*.py,
# models/cut_model.py): anti-aliased
# ResNet-9 and PatchGAN, xavier init gain 0.02, LSGAN, Adam 2e-4 (0.5, 0.999) for G, D and the MLP
# heads, batch 1, no pool; per batch D first, then G and the heads on the same fakes. PatchNCE on
# layers 0, 4, 8, 12, 16, 256 patches, tau 0.07, 256-unit heads. CUT: lambda_NCE 1 with identity
# NCE, 200 + 200 epochs; FastCUT: lambda_NCE 10, flip-equivariance, 150 + 50 epochs. One direction.
CUT = Preset(
    architecture="cut", recipe="cut", scale="full", title="CUT, as the authors' code (b3ac297; Park et al. 2020)",
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
    CUT, recipe="fastcut", title="FastCUT, as the authors' code (b3ac297; Park et al. 2020)",
    lambda_nce=10.0, nce_idt=False, flip_equivariance=True, lr_decay_fraction=0.25,
)

# architecture -> recipe -> its full-scale preset
RECIPES: dict[str, dict[str, Preset]] = {
    "cyclegan": {"paper": CYCLEGAN, "code": CYCLEGAN_CODE},
    "discogan": {"code": DISCOGAN},
    "dualgan": {"paper": DUALGAN, "code-2017-04": DUALGAN_CODE_2017_04, "code-2017-08": DUALGAN_CODE_2017_08,
                "code-2020": DUALGAN_CODE_2020},
    "cut": {"cut": CUT, "fastcut": FASTCUT},
}
# Each architecture's default (the app's, the command line's and the library's). DualGAN's is the
# recipe that learns on a CPU in minutes (README: "Learning per CPU-minute"); its paper is one name away.
DEFAULT_RECIPE: dict[str, str] = {"cyclegan": "paper", "discogan": "code", "dualgan": "code-2017-08", "cut": "cut"}
ARCHITECTURES = tuple(RECIPES)
PRESETS: dict[str, Preset] = {a: RECIPES[a][DEFAULT_RECIPE[a]] for a in ARCHITECTURES}


# --- the quick scale -------------------------------------------------------------------------------
@dataclass(frozen=True)
class QuickChange:
    """One number the quick scale changes: `field` is a Preset field, or 'generator.<arg>' /
    'discriminator.<arg>' for a net argument; `recipes` limits it to some recipes (() = all)."""
    architecture: str
    field: str
    value: object
    why: str
    recipes: tuple[str, ...] = ()


# Every number the quick scale changes, and why; README's quick table is made from this list
# (`quick_table()`), and nothing else differs from the full preset. The losses, their weights, the
# optimizer and the order of steps stay the recipe's unless a row here says otherwise.
AVERAGE_WHY = ("save and sample a moving average of the generators' weights (train/average.py): after two "
               "minutes 0.6–1.3 dB more over doing nothing than the raw weights, both ways (CycleGAN two seeds, "
               "DiscoGAN and DualGAN one)")
QUICK_CHANGES: tuple[QuickChange, ...] = (
    QuickChange("cyclegan", "image_size", 64, "default training size: 16× fewer pixels than 256"),
    QuickChange("cyclegan", "generator.ngf", 16, "a quarter of the width: about 1/16 of the convolution work"),
    QuickChange("cyclegan", "generator.n_blocks", 2, "two residual blocks at one depth for every size: with the "
                "learning rate below, +12 dB over doing nothing both ways within 60 s on 2 idle cores (three runs, "
                "two seeds); four blocks reached +11.2 night → day at 2e-4, +11.6 to +11.8 at 4e-4 to 8e-4"),
    QuickChange("cyclegan", "blocks_by_size", (), "the block count above holds at every size", ("paper",)),
    QuickChange("cyclegan", "discriminator.ndf", 16, "a quarter of the width"),
    QuickChange("cyclegan", "batch_size", 4, "4 images per step use 2 cores better than 1"),
    QuickChange("cyclegan", "lr_g", 6e-4, "three times the generators' learning rate: the minute above (with "
                "two blocks at 2e-4, +11.4 to +11.7 night → day); a run that starts from a model (--init) "
                "keeps the recipe's 2e-4"),
    QuickChange("cyclegan", "lr_d", 6e-4, "the discriminators' likewise"),
    QuickChange("cyclegan", "ema_decay", 0.999, AVERAGE_WHY),
    QuickChange("discogan", "generator.ngf", 16, "a quarter of the width"),
    QuickChange("discogan", "discriminator.ndf", 16, "a quarter of the width"),
    QuickChange("discogan", "batch_size", 8, "an eighth of the batch: 8 images per step"),
    QuickChange("discogan", "recon_rate_schedule", ((0, 0.01), (300, 0.5)),
                "the curriculum's switch to rate 0.5 at step 300 instead of 10,000: a two-minute CPU run gets "
                "well past it"),
    QuickChange("discogan", "lambda_cycle", 10.0,
                "cycle weight 10 (CycleGAN's) instead of 1: with the switch at 300 the quick nets learn night → day "
                "within two idle minutes on 2 cores (+8.5 / +9.3 dB, two seeds); with weight 1, +5.8"),
    QuickChange("discogan", "ema_decay", 0.999, AVERAGE_WHY),
    QuickChange("dualgan", "image_size", 64, "default training size: 16× fewer pixels than 256",
                ("paper", "code-2017-08", "code-2020")),
    QuickChange("dualgan", "image_size", 64, "default training size: 4× fewer pixels than 128", ("code-2017-04",)),
    QuickChange("dualgan", "generator.ngf", 16, "a quarter of the width"),
    QuickChange("dualgan", "generator.kernel", 3, "3×3 inner convolutions (as the 2020 code) instead of 5×5",
                ("paper", "code-2017-04", "code-2017-08")),
    QuickChange("dualgan", "discriminator.ndf", 16, "a quarter of the width"),
    QuickChange("dualgan", "batch_size", 4, "4 images per step use 2 cores better than 1"),
    QuickChange("dualgan", "ema_decay", 0.999, AVERAGE_WHY),
    QuickChange("cut", "image_size", 64, "default training size: 16× fewer pixels than 256"),
    QuickChange("cut", "generator.ngf", 16, "a quarter of the width"),
    QuickChange("cut", "generator.n_blocks", 5, "five residual blocks, not nine: NCE layer 16 is the fifth "
                "block (with four it would be the first upsampling layer, outside the encoder)"),
    QuickChange("cut", "discriminator.ndf", 16, "a quarter of the width"),
    QuickChange("cut", "batch_size", 4, "4 images per step use 2 cores better than 1"),
)


def apply_change(p: Preset, field_: str, value) -> Preset:
    """The preset with one field (or 'generator.<arg>' / 'discriminator.<arg>') set to `value`."""
    if "." in field_:
        net, arg = field_.split(".", 1)
        spec = getattr(p, net)
        return dataclasses.replace(p, **{net: NetSpec(spec.family, {**spec.kwargs, arg: value})})
    return dataclasses.replace(p, **{field_: value})


def quick_changes(preset: Preset) -> list[QuickChange]:
    return [c for c in QUICK_CHANGES
            if c.architecture == preset.architecture and (not c.recipes or preset.recipe in c.recipes)]


def quick(preset: Preset, size: int | None = None) -> Preset:
    """A small, CPU-sized version of a preset: exactly the changes listed in QUICK_CHANGES (narrower
    nets, smaller images, bigger batches, and the few numbers the table names, each with its reason)."""
    q = dataclasses.replace(preset, scale="quick", title=preset.title + ", quick")
    for change in quick_changes(preset):
        q = apply_change(q, change.field, change.value)
    return q.with_size(size or q.image_size)


def _shown(value) -> str:
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, tuple):
        return "(" + ", ".join(_shown(v) for v in value) + ")" if value else "none"
    return str(value)


def quick_table() -> str:
    """README's table of what the quick scale changes: one row per changed number."""
    rows = ["| architecture | recipes | field | full | quick | why |", "|---|---|---|---|---|---|"]
    for c in QUICK_CHANGES:
        recipes = c.recipes or tuple(RECIPES[c.architecture])
        full = RECIPES[c.architecture][recipes[0]]
        if "." in c.field:
            net, arg = c.field.split(".", 1)
            before = getattr(full, net).kwargs.get(arg, "–")
        else:
            before = getattr(full, c.field)
        rows.append(f"| {c.architecture} | {', '.join(recipes) if c.recipes else 'all'} | `{c.field}` | "
                    f"{_shown(before)} | {_shown(c.value)} | {c.why} |")
    return "\n".join(rows)


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
