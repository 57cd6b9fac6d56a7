"""A translator: two generators (or one, for a single official file) plus what they need to be
used correctly later: preset, domain names, value range, where they came from."""
import threading
import weakref
from contextlib import ExitStack, contextmanager

import torch
from PIL import Image
from torch import nn

from . import accel
from .errors import UserInputError
from .images import image_to_tensor, open_image, tensor_to_image
from .nets import build_net, count_parameters, min_side, size_multiple
from .presets import Preset
from .sampling import batch_statistics, has_batchnorm, has_decoder_dropout, stochastic
from .settings import whole_number
from .translate import DEFAULT_MAX_SIDE, plan_size, run_generator, work_side

DIRECTIONS = ("a2b", "b2a")
WORLD_WORDS = {"demo:daynight": "day ↔ night", "demo:summerwinter": "summer ↔ winter"}


def check_direction(direction: str) -> str:
    d = str(direction).lower().replace("→", "2").replace("->", "2").replace("_", "")
    if d in ("atob",):
        d = "a2b"
    if d in ("btoa",):
        d = "b2a"
    if d not in DIRECTIONS:
        raise UserInputError(f"unknown direction {direction!r}; use 'a2b' or 'b2a'")
    return d


class CycleModel(nn.Module):
    """The one model type of every architecture: the generators G_AB (A→B) and G_BA (B→A),
    optionally the discriminators D_A and D_B, and the facts needed to use them right later
    (the preset, domain names, value range, provenance). Keeping these together is what lets a
    saved folder, an official .pth and a training checkpoint all translate the same way."""

    def __init__(self, preset: Preset, domains=("A", "B"), directions=DIRECTIONS,
                 with_discriminators: bool = False, provenance: dict | None = None):
        super().__init__()
        self.preset = preset
        self.domains = (str(domains[0]), str(domains[1]))
        self.provenance = dict(provenance or {})
        directions = tuple(check_direction(d) for d in directions)
        if not directions:
            raise UserInputError("a model needs at least one direction")
        g = preset.generator
        self.G_AB = build_net(g.family, g.kwargs) if "a2b" in directions else None
        self.G_BA = build_net(g.family, g.kwargs) if "b2a" in directions else None
        # D_B judges G_AB's fakes, D_A G_BA's: a one-direction model (CUT) has only D_B.
        d = preset.discriminator
        self.D_A = build_net(d.family, d.kwargs) if with_discriminators and "b2a" in directions else None
        self.D_B = build_net(d.family, d.kwargs) if with_discriminators and "a2b" in directions else None
        self.eval()

    # --- facts -------------------------------------------------------------------------------
    @property
    def directions(self) -> tuple[str, ...]:
        return tuple(d for d, g in (("a2b", self.G_AB), ("b2a", self.G_BA)) if g is not None)

    @property
    def one_direction(self) -> bool:
        """Only one generator (CUT, or a single official file): no way back, no round trip."""
        return len(self.directions) == 1

    @property
    def has_discriminators(self) -> bool:
        return self.D_A is not None or self.D_B is not None

    @property
    def image_size(self) -> int:
        return self.preset.image_size

    @property
    def value_range(self) -> tuple[float, float]:
        return self.preset.value_range

    @property
    def architecture(self) -> str:
        return self.preset.architecture

    def direction_label(self, direction: str) -> str:
        a, b = self.domains
        return f"{a} → {b}" if check_direction(direction) == "a2b" else f"{b} → {a}"

    def generator(self, direction: str) -> nn.Module:
        direction = check_direction(direction)
        g = self.G_AB if direction == "a2b" else self.G_BA
        if g is None:
            have = ", ".join(self.direction_label(d) for d in self.directions)
            how = (f"{self.architecture.upper()} trains one generator, so there is no way back"
                   if len(self.preset.directions) == 1 else
                   "load both generators, e.g. G_A and G_B, for both directions")
            raise UserInputError(f"this model only translates {have}; direction "
                                 f"{self.direction_label(direction)} is not available ({how})")
        return g

    def trained_on(self) -> str:
        """What the model was trained on (data, resolution), so what it can be expected to know, in
        one line from its provenance: the app shows it beside the model, the model card repeats it."""
        prov = self.provenance or {}
        a, b = self.domains
        size = self.image_size
        if prov.get("trained_on"):                       # stated by whoever made it (vintagify, our photo models)
            text = str(prov["trained_on"])
        elif prov.get("zoo"):
            text = (f"trained by the CycleGAN authors on their {a} ↔ {b} images at 256 px "
                    f"({prov['zoo']})")
        elif str(prov.get("data", "")).startswith("demo:"):
            world = WORLD_WORDS.get(prov["data"], prov["data"])
            return (f"trained at {size} px on the procedural {world} world only (drawn hills, trees, houses): it "
                    f"knows only that world, not photos")
        elif prov.get("data"):
            text = f"trained on {prov['data']} at {size} px"
        elif prov.get("source") == "official CycleGAN checkpoint":
            text = f"from a CycleGAN checkpoint ({', '.join(prov.get('files', []))}); its training data are not recorded"
        else:
            text = f"{a} ↔ {b}, {size} px; its training data are not recorded"
        if len(self.directions) == 1:
            text += f"; only {self.direction_label(self.directions[0])} exists"
        return text

    def info(self) -> dict:
        nets = {name: count_parameters(net) for name, net in
                (("G_AB", self.G_AB), ("G_BA", self.G_BA), ("D_A", self.D_A), ("D_B", self.D_B)) if net is not None}
        p = self.preset
        out = {"architecture": p.architecture, "recipe": p.recipe, "scale": p.scale, "title": p.title,
               "generator": self.preset.generator.to_dict(), "discriminator": self.preset.discriminator.to_dict(),
               "parameters": nets}
        heads = nce_head_parameters(p)
        if heads:   # trained with the model, not part of it: what the recipe costs to train
            out["parameters_training_only"] = {"F (PatchNCE MLP heads)": heads}
        out.update({"domains": list(self.domains),
                    "directions": [{"direction": d, "label": self.direction_label(d)} for d in self.directions],
                    "one_direction": self.one_direction,
                    "image_size": self.image_size, "value_range": list(self.value_range),
                    "trained_on": self.trained_on(), "translates": self.inference_defaults(),
                    "provenance": self.provenance})
        return out

    # --- how it translates: the recipe's defaults, each switchable per call --------------------
    @property
    def can_sample(self) -> bool:
        """Whether translations can be samples (a generator with decoder dropout: DualGAN)."""
        return any(has_decoder_dropout(g) for g in (self.G_AB, self.G_BA) if g is not None)

    @property
    def has_batch_stats(self) -> bool:
        """Whether BatchNorm can use the translated batch's statistics (DiscoGAN)."""
        return any(has_batchnorm(g) for g in (self.G_AB, self.G_BA) if g is not None)

    def inference_defaults(self) -> dict:
        """{"sample", "batch_stats"}: how this model translates when a call does not say."""
        return {"sample": bool(self.preset.sample_at_test) and self.can_sample,
                "batch_stats": bool(self.preset.batch_stats_at_test) and self.has_batch_stats}

    @contextmanager
    def inference(self, direction: str, sample: bool | None = None, seed: int = 0, batch_stats: bool | None = None):
        """The generator of `direction`, set up to translate: as a sample (decoder dropout on,
        masks from `seed`) and/or with batch statistics, None meaning the recipe's default. Those
        modes switch module attributes for the duration, so translations of one model take turns
        (a lock per model): visitors sharing a model never see each other's settings."""
        g = self.generator(direction)
        defaults = self.inference_defaults()
        sample = defaults["sample"] if sample is None else bool(sample)
        batch_stats = defaults["batch_stats"] if batch_stats is None else bool(batch_stats)
        with _lock_of(self), ExitStack() as stack:
            if sample:
                stack.enter_context(stochastic(g, seed))
            if batch_stats:
                stack.enter_context(batch_statistics(g))
            yield g

    # --- inference ---------------------------------------------------------------------------
    def _device(self) -> torch.device:
        return next(self.parameters()).device

    @torch.inference_mode()
    def translate_tensor(self, x: torch.Tensor, direction: str, max_side: int = DEFAULT_MAX_SIDE, *,
                         sample: bool | None = None, seed: int = 0, batch_stats: bool | None = None) -> torch.Tensor:
        """x in [0, 1], [N, 3, H, W] (or [3, H, W]) of any H, W; returns the same shape in [0, 1],
        on the device x came from. `sample`, `seed`, `batch_stats`: see `inference`."""
        self.generator(direction)
        max_side = _check_max_side(max_side)
        if not isinstance(x, torch.Tensor) or x.dim() not in (3, 4) or x.shape[-3] != 3:
            shape = tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
            raise UserInputError(f"translate_tensor needs a [N, 3, H, W] or [3, H, W] tensor in [0, 1], got {shape}")
        single = x.dim() == 3
        src_device = x.device
        if single:
            x = x[None]
        lo, hi = self.value_range
        x = x.to(self._device(), torch.float32) * (hi - lo) + lo
        with self.inference(direction, sample, seed, batch_stats) as g, accel.inference_context(g, x.device):
            x = _inference_layout(x, g)
            y = run_generator(g, x, size_multiple(g), max_side=max_side)
        y = ((y.float() - lo) / (hi - lo)).clamp(0, 1).to(src_device).contiguous()
        return y[0] if single else y

    def translate(self, image, direction: str = "a2b", max_side: int = DEFAULT_MAX_SIDE,
                  work_size: int | None = None, deadline: float | None = None, *, sample: bool | None = None,
                  seed: int = 0, batch_stats: bool | None = None) -> Image.Image:
        """Any image in (path, bytes, PIL, array); out comes a PIL image of the same size.
        `work_size`: the short side the net runs at, the result scaled back. None or 0 (the
        default): automatic, the image's own size with its short side capped at 512 px on a CPU
        (1024 on a GPU); N: N pixels (the training size, or the image's own short side for its
        full resolution). The work is bounded by the limits (see translate.plan_size), and a
        time.monotonic() `deadline` stops it between tiles with a message. `sample`, `seed`,
        `batch_stats`: see `inference` (None: the recipe's default)."""
        return self._translate_pil(self._open(image), direction, max_side, work_size, deadline,
                                   dict(sample=sample, seed=seed, batch_stats=batch_stats))

    def round_trip(self, image, direction: str = "a2b", max_side: int = DEFAULT_MAX_SIDE,
                   work_size: int | None = None, deadline: float | None = None, *, sample: bool | None = None,
                   seed: int = 0, batch_stats: bool | None = None) -> tuple[Image.Image, Image.Image]:
        """(translation, reconstruction): A→B→A for 'a2b'. Needs both generators. A sampled
        round trip draws the way back with seed + 1."""
        direction = check_direction(direction)
        back = "b2a" if direction == "a2b" else "a2b"
        self.generator(back)
        img = self._open(image)
        fake = self._translate_pil(img, direction, max_side, work_size, deadline,
                                   dict(sample=sample, seed=seed, batch_stats=batch_stats))
        return fake, self._translate_pil(fake, back, max_side, work_size, deadline,
                                         dict(sample=sample, seed=seed + 1, batch_stats=batch_stats))

    def _open(self, image) -> Image.Image:
        return open_image(image)

    @torch.inference_mode()
    def _translate_pil(self, img: Image.Image, direction: str, max_side: int, work_size: int | None,
                       deadline: float | None = None, mode: dict | None = None) -> Image.Image:
        g = self.generator(direction)
        max_side = _check_max_side(max_side)
        size = img.size
        side = work_side(size, work_size, self._device().type)
        plan = plan_size(size, side, size_multiple(g), min_side(g), max_side)
        if plan != size:
            img = img.resize(plan, Image.Resampling.BICUBIC)
        x = image_to_tensor(img, self.value_range)[None].to(self._device())
        with self.inference(direction, **(mode or {})) as g, accel.inference_context(g, x.device):
            x = _inference_layout(x, g)
            y = run_generator(g, x, size_multiple(g), max_side=max_side, deadline=deadline)
        out = tensor_to_image(y, self.value_range)
        if out.size != size:
            out = out.resize(size, Image.Resampling.BICUBIC)
        return out


def nce_head_parameters(preset: Preset) -> int:
    """Parameters of the PatchNCE MLP heads a preset trains with (0 without PatchNCE), counted on
    the meta device: the heads are training state, never saved with the model."""
    if preset.lambda_nce <= 0 or not preset.nce_layers:
        return 0
    from .nets.cut import PatchHeads
    g = preset.generator
    with torch.device("meta"):
        net = build_net(g.family, g.kwargs)
        if not hasattr(net, "feature_channels"):
            return 0
        return count_parameters(PatchHeads(net.feature_channels(preset.nce_layers), preset.nce_mlp_width))


_LOCKS: "weakref.WeakKeyDictionary[CycleModel, threading.RLock]" = weakref.WeakKeyDictionary()
_LOCKS_GUARD = threading.Lock()


def _lock_of(model: CycleModel) -> threading.RLock:
    """One lock per model object, kept outside it so models still copy and pickle as modules."""
    with _LOCKS_GUARD:
        lock = _LOCKS.get(model)
        if lock is None:
            lock = _LOCKS[model] = threading.RLock()
        return lock


def _inference_layout(x: torch.Tensor, net: nn.Module) -> torch.Tensor:
    """channels_last on GPU; on CPU the format accel.py chose for this net's width."""
    fmt = accel.cpu_layout(net) if x.device.type == "cpu" else torch.channels_last
    return x.contiguous(memory_format=fmt)


def _check_max_side(max_side) -> int:
    return DEFAULT_MAX_SIDE if max_side is None else whole_number(max_side, "max_side (pixels)", 1)
