"""Community ResNet CycleGAN generators -> this project's ResnetGenerator.

People save the same generator from different code: the authors' official repository,
aitorzip/PyTorch-CycleGAN, eriklindernoren/PyTorch-GAN (transposed convs until 2019, then
nearest-resize + zero-padded 3×3 convs and residual blocks named `block`), and copies of these
with affine instance norm (the vintagify package). Their key names differ; the computation is
one skeleton. So the file is read by the *shapes of its tensors in forward order*:

    conv 7×7 in→ngf · conv 3×3 ngf→2ngf · conv 3×3 2ngf→4ngf · N × (two conv 3×3 4ngf→4ngf)
    · two upsamplings 4ngf→2ngf→ngf · conv 7×7 ngf→out

each conv optionally followed by a norm's per-channel scale and shift. An upsampling weight
shaped [cin, cin/2, 3, 3] is a transposed conv; [cin/2, cin, 3, 3] is a resize-conv, which in
the community code above means PyTorch-GAN's zero-padded one. What shapes cannot tell is taken
from the usual practice and said in `Layout.describe()`: a file without norm weights uses
instance norm without affine (the official setting; a norm-free net would read the same).
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from .errors import UserInputError
from .nets.resnet import ResnetGenerator
from .presets import NetSpec

EXPECTED = ("expected a ResNet CycleGAN generator: conv 7×7 (3→ngf), two stride-2 convs 3×3 (ngf→2ngf→4ngf), "
            "N residual blocks of two convs 3×3 (4ngf→4ngf), two upsamplings (transposed conv or resize-conv, "
            "4ngf→2ngf→ngf), conv 7×7 (ngf→3), each conv but the last optionally followed by a norm's weight and "
            "bias; as saved by the official code (model.1.weight, model.10.conv_block.1.weight, ...), "
            "PyTorch-GAN, aitorzip/PyTorch-CycleGAN or vintagify")
BUFFERS = ("running_mean", "running_var", "num_batches_tracked")
MAX_WIDTH, MAX_BLOCKS, MAX_CHANNELS = 1024, 64, 16


@dataclass(frozen=True)
class Layout:
    in_ch: int
    out_ch: int
    ngf: int
    n_blocks: int
    upsample: str          # "deconv" (transposed conv) | "resize_zeros" (PyTorch-GAN since 2019)
    norm_affine: bool
    dropout: bool          # official files with dropout: only training differs, eval ignores it

    def kwargs(self) -> dict:
        """ResnetGenerator arguments; options at their defaults are left out, so an official file
        gives the same spec as before community layouts existed."""
        kw = {"ngf": self.ngf, "n_blocks": self.n_blocks, "dropout": self.dropout, "upsample": self.upsample}
        if self.norm_affine:
            kw["norm_affine"] = True
        if self.in_ch != 3:
            kw["in_ch"] = self.in_ch
        if self.out_ch != 3:
            kw["out_ch"] = self.out_ch
        return kw

    def describe(self) -> str:
        up = ("transposed-conv upsampling (official CycleGAN, aitorzip, PyTorch-GAN before 2019, vintagify)"
              if self.upsample == "deconv" else
              "nearest-resize + zero-padded conv upsampling (PyTorch-GAN since 2019)")
        norm = "affine instance norm" if self.norm_affine else "instance norm without affine (official setting)"
        return f"ResNet-{self.n_blocks} generator, ngf {self.ngf}, {self.in_ch}→{self.out_ch} channels, {up}, {norm}"


# --- reading the file ----------------------------------------------------------------------------
def _natural(key: str) -> tuple:
    """'model.10.block.1' after 'model.9.block.5': numbers compare as numbers, so files whose keys
    were sorted as text (safetensors) come back in forward order."""
    return tuple((0, int(p), "") if p.isdigit() else (1, 0, p) for p in key.split("."))


def clean(sd: dict) -> dict:
    """Only tensors; without DDP's `module.` / torch.compile's `_orig_mod.` wrappers and without
    the norm statistics old PyTorch saved for instance norm (never used by it)."""
    out = {}
    for k, v in sd.items():
        if not isinstance(k, str) or not isinstance(v, torch.Tensor):
            continue
        for prefix in ("module.", "_orig_mod."):
            while k.startswith(prefix):
                k = k[len(prefix):]
        k = k.replace("._orig_mod.", ".").replace(".module.", ".")
        if k.rsplit(".", 1)[-1] in BUFFERS:
            continue
        out[k] = v
    return out


@dataclass
class _Module:
    prefix: str
    params: dict
    transposed: bool = False     # ConvTranspose2d: weight [in, out, k, k]

    @property
    def kind(self) -> str:
        w, names = self.params.get("weight"), set(self.params)
        if w is None or not names <= {"weight", "bias"}:
            return "other"
        if w.dim() == 4:
            return "conv"
        b = self.params.get("bias")
        if w.dim() == 1 and b is not None and tuple(b.shape) == tuple(w.shape):
            return "norm"
        return "other"

    @property
    def shape(self) -> tuple:
        return tuple(self.params["weight"].shape)

    def words(self) -> str:
        if self.kind == "conv":
            o, i, kh, kw = self.shape
            return f"{self.prefix}: weight {o}×{i}×{kh}×{kw}"
        shapes = ", ".join(f"{n} {tuple(t.shape)}" for n, t in self.params.items())
        return f"{self.prefix}: {shapes}"


def _modules(sd: dict) -> list[_Module]:
    groups: dict[str, dict] = {}
    for k in sorted(sd, key=_natural):
        prefix, _, name = k.rpartition(".")
        groups.setdefault(prefix, {})[name] = sd[k]
    return [_Module(p, params) for p, params in groups.items()]


class _Parse:
    """A cursor over the modules that knows what it has recognised so far, for the error."""

    def __init__(self, mods: list[_Module], name: str):
        self.mods, self.i, self.name = mods, 0, name
        self.seen: list[str] = []
        self.norms: list[bool] = []

    def fail(self, expected: str):
        got = self.mods[self.i].words() if self.i < len(self.mods) else "the end of the file"
        seen = "; ".join(self.seen) if self.seen else "nothing of it"
        raise UserInputError(f"'{self.name}' is not a CycleGAN generator in a layout this app reads: recognised "
                             f"{seen}; then found {got} where {expected} was expected. In full: {EXPECTED}")

    def peek(self) -> _Module | None:
        return self.mods[self.i] if self.i < len(self.mods) else None

    def conv(self, shape_ok, expected: str, norm_allowed: bool = True) -> _Module:
        m = self.peek()
        if m is None or m.kind != "conv" or not shape_ok(m.shape):
            self.fail(expected)
        ch = m.shape[1] if m.transposed else m.shape[0]
        if "bias" not in m.params or tuple(m.params["bias"].shape) != (ch,):
            self.fail(expected + " with a bias (convs without bias belong to batch-norm generators, not read here)")
        self.i += 1
        if norm_allowed:
            n = self.peek()
            has = n is not None and n.kind == "norm" and n.shape == (ch,)
            self.norms.append(has)
            self.i += has
        return m


def recognise(sd: dict, name: str = "checkpoint") -> tuple[Layout, list[_Module]]:
    """The layout of a generator's state dict, from its shapes in order; the conv and norm
    modules in forward order come with it."""
    mods = _modules(clean(sd))
    if not mods:
        raise UserInputError(f"'{name}' holds no tensors; {EXPECTED}")
    p = _Parse(mods, name)
    first = p.conv(lambda s: s[2:] == (7, 7) and 1 <= s[1] <= MAX_CHANNELS and 1 <= s[0] <= MAX_WIDTH,
                   "a 7×7 input conv (weight ngf×3×7×7)")
    ngf, in_ch = first.shape[0], first.shape[1]
    p.seen.append(f"input conv 7×7 {in_ch}→{ngf}")
    for cin in (ngf, 2 * ngf):
        p.conv(lambda s, c=cin: s == (2 * c, c, 3, 3), f"a stride-2 conv 3×3 {cin}→{2 * cin}")
        p.seen.append(f"down conv 3×3 {cin}→{2 * cin}")
    c4 = 4 * ngf
    block_convs = []
    p.seen.append(f"0 residual blocks ({c4} channels)")
    while (m := p.peek()) is not None and m.kind == "conv" and m.shape == (c4, c4, 3, 3):
        block_convs.append(p.conv(lambda s: True, f"the first conv 3×3 {c4}→{c4} of a residual block"))
        block_convs.append(p.conv(lambda s: s == (c4, c4, 3, 3), f"the second conv 3×3 {c4}→{c4} of a residual block"))
        n = len(block_convs) // 2
        p.seen[-1] = f"{n} residual block{'' if n == 1 else 's'} ({c4} channels)"
    n_blocks = len(block_convs) // 2
    if n_blocks > MAX_BLOCKS:
        raise UserInputError(f"'{name}' has {n_blocks} residual blocks, over the limit of {MAX_BLOCKS}")
    kinds = []
    for cin in (c4, 2 * ngf):
        m = p.peek()
        if m is not None and m.kind == "conv" and m.shape == (cin, cin // 2, 3, 3):
            m.transposed = True          # ConvTranspose2d stores [in, out, k, k]
            kinds.append("deconv")
        elif m is not None and m.kind == "conv" and m.shape == (cin // 2, cin, 3, 3):
            kinds.append("resize_zeros")
        else:
            p.fail(f"an upsampling {cin}→{cin // 2} (transposed conv {cin}×{cin // 2}×3×3 or conv {cin // 2}×{cin}×3×3)")
        p.conv(lambda s: True, f"the upsampling {cin}→{cin // 2}")
        p.seen.append(f"upsampling {cin}→{cin // 2} ({'transposed conv' if kinds[-1] == 'deconv' else 'resize-conv'})")
    if kinds[0] != kinds[1]:
        p.fail("the second upsampling of the same kind as the first")
    last = p.conv(lambda s: s[1:] == (ngf, 7, 7) and 1 <= s[0] <= MAX_CHANNELS, f"a 7×7 output conv ({ngf}→3)",
                  norm_allowed=False)
    out_ch = last.shape[0]
    p.seen.append(f"output conv 7×7 {ngf}→{out_ch}")
    if p.peek() is not None:
        p.fail("nothing more")
    if len(set(p.norms)) > 1:
        missing = p.norms.count(False)
        raise UserInputError(f"'{name}': norm weights follow {len(p.norms) - missing} of {len(p.norms)} convs; a "
                             f"generator has them after every conv but the last, or after none; {EXPECTED}")
    if kinds[0] == "resize_zeros" and (in_ch, out_ch) != (3, 3):
        raise UserInputError(f"'{name}' is a PyTorch-GAN-style generator (resize-conv upsampling) with {in_ch}→{out_ch} "
                             "channels; that code pads by the channel count, so only 3-channel ones load")
    layout = Layout(in_ch=in_ch, out_ch=out_ch, ngf=ngf, n_blocks=n_blocks, upsample=kinds[0],
                    norm_affine=bool(p.norms and p.norms[0]), dropout=_has_dropout(block_convs))
    convs_and_norms = [m for m in mods if m.kind in ("conv", "norm")]
    return layout, convs_and_norms


def _has_dropout(block_convs: list[_Module]) -> bool:
    """The official code puts Dropout between a block's two convs, which shifts the second conv's
    index from 5 to 6 (`conv_block.1` and `conv_block.6`, 5 apart instead of 4). Only training
    uses dropout; in eval it changes nothing."""
    if not block_convs:
        return False
    gaps = set()
    for a, b in zip(block_convs[::2], block_convs[1::2]):
        pa, _, ia = a.prefix.rpartition(".")
        pb, _, ib = b.prefix.rpartition(".")
        if pa != pb or not (ia.isdigit() and ib.isdigit()):
            return False
        gaps.add(int(ib) - int(ia))
    return gaps == {5}


def convert(sd: dict, name: str = "checkpoint") -> tuple[NetSpec, dict]:
    """(the `resnet` NetSpec, a state dict with ResnetGenerator's keys) for any recognised layout.
    A file that matches none raises one UserInputError saying what was recognised and expected."""
    layout, mods = recognise(sd, name)
    kwargs = layout.kwargs()
    with torch.device("meta"):
        target = ResnetGenerator(**kwargs).state_dict()
    ours = _modules(target)
    if [m.shape for m in ours] != [m.shape for m in mods]:   # a bug here, not the user's file
        raise RuntimeError(f"layout conversion of '{name}' does not line up with ResnetGenerator {kwargs}")
    out = {}
    for dst, src in zip(ours, mods):
        for pname in dst.params:
            out[f"{dst.prefix}.{pname}"] = src.params[pname]
    return NetSpec("resnet", kwargs), out


def describe(sd: dict, name: str = "checkpoint") -> str:
    return recognise(sd, name)[0].describe()


def looks_like_resnet(sd: dict) -> bool:
    """Cheap pre-check for loaders choosing between layouts (the U-Net has its own path)."""
    try:
        recognise(sd)
        return True
    except UserInputError:
        return False


__all__ = ["Layout", "recognise", "convert", "describe", "clean", "looks_like_resnet"]
