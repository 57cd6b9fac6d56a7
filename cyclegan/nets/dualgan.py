"""DualGAN's nets: a U-Net with one stride-2 level per halving (8 at 256 px) whose decoder
dropout stands in for the noise input, and a patch critic that returns raw scores."""
import math

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import UserInputError


class ImageNorm(nn.Module):
    """Per-image normalisation over H×W with a learned scale and offset, as in the authors' code.
    Written out because torch's norms refuse the 1×1 map at the U-Net's bottom, which the
    original simply turns into its offset."""

    def __init__(self, ch: int, eps: float = 1e-5):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(ch))
        self.bias = nn.Parameter(torch.zeros(ch))
        self.eps = eps

    def forward(self, x):
        if x.shape[-1] * x.shape[-2] > 1:
            # One group per channel is exactly this normalisation, fused (and channels_last-friendly).
            return F.group_norm(x, self.weight.shape[0], self.weight, self.bias, self.eps)
        var, mean = torch.var_mean(x, dim=(2, 3), keepdim=True, correction=0)
        return (x - mean) * torch.rsqrt(var + self.eps) * self.weight[:, None, None] + self.bias[:, None, None]


def _norm(ch: int) -> nn.Module:
    return ImageNorm(ch)


def levels_for(size: int) -> int:
    return max(1, int(math.log2(size)))


class DualUnetGenerator(nn.Module):
    """`kernel` for the inner layers, `outer_kernel` for the first and last (5/5 in the 2017 code,
    3/5 in the 2020 code). `dropout_at_test` keeps decoder dropout on in eval(), as the paper-era code did.
    `dropout_rng` (set by `cyclegan.sampling.stochastic`, not a constructor option) draws the
    dropout masks from its own generator, so samples repeat with a seed; None is torch's dropout."""

    def __init__(self, in_ch: int = 3, out_ch: int = 3, ngf: int = 64, levels: int = 8, kernel: int = 5,
                 outer_kernel: int = 5, dropout: float = 0.5, n_dropout: int = 3, dropout_at_test: bool = False):
        super().__init__()
        self.size_multiple = 2 ** levels
        self.dropout_at_test = dropout_at_test
        widths = [ngf * min(2 ** i, 8) for i in range(levels)]
        self.down = nn.ModuleList()
        for i, w in enumerate(widths):
            k = outer_kernel if i == 0 else kernel
            conv = nn.Conv2d(in_ch if i == 0 else widths[i - 1], w, k, 2, k // 2)
            act = [] if i == 0 else [nn.LeakyReLU(0.2)]
            norm = [] if i == 0 else [_norm(w)]
            self.down.append(nn.Sequential(*act, conv, *norm))
        self.up = nn.ModuleList()
        for j in range(levels):
            i = levels - 1 - j                     # mirrored encoder level
            cin = widths[i] if j == 0 else widths[i] * 2
            last = i == 0
            cout = out_ch if last else widths[i - 1]
            k = outer_kernel if last else kernel
            layers = [nn.ReLU(), nn.ConvTranspose2d(cin, cout, k, 2, k // 2, output_padding=1)]
            if not last:
                layers.append(_norm(cout))
            self.up.append(nn.Sequential(*layers))
        self.dropout = dropout
        self.n_dropout = n_dropout
        self.dropout_rng: torch.Generator | None = None

    def _drop(self, x, on: bool):
        if not on or self.dropout_rng is None:
            return nn.functional.dropout(x, self.dropout, on)
        keep = torch.rand(x.shape, generator=self.dropout_rng, device=x.device) >= self.dropout
        scale = 0.0 if self.dropout >= 1 else 1.0 / (1.0 - self.dropout)
        return x * (keep.to(x.dtype) * scale)

    def forward(self, x):
        skips = []
        for layer in self.down:
            x = layer(x)
            skips.append(x)
        skips.pop()
        drop_on = self.training or self.dropout_at_test
        for j, layer in enumerate(self.up):
            x = layer(x)
            if j < self.n_dropout and self.dropout > 0 and j < len(self.up) - 1:
                x = self._drop(x, drop_on)
            if skips:
                x = torch.cat([x, skips.pop()], 1)
        return torch.tanh(x)


class DualCritic(nn.Module):
    """5×5 convs with strides 2,2,2,1,1; per-image norm on layers 2-4; no sigmoid (WGAN critic)."""

    def __init__(self, in_ch: int = 3, ndf: int = 64, kernel: int = 5):
        super().__init__()
        p = kernel // 2
        layers = [nn.Conv2d(in_ch, ndf, kernel, 2, p), nn.LeakyReLU(0.2)]
        cin = ndf
        for mult, stride in ((2, 2), (4, 2), (8, 1)):
            layers += [nn.Conv2d(cin, ndf * mult, kernel, stride, p), _norm(ndf * mult), nn.LeakyReLU(0.2)]
            cin = ndf * mult
        layers.append(nn.Conv2d(cin, 1, kernel, 1, p))
        self.model = nn.Sequential(*layers)

    def forward(self, x):
        return self.model(x)

    def forward_features(self, x):
        return self.model(x), []


def _halve(size: int, times: int) -> int:
    """Side after `times` stride-2 convs with 'same'-style padding (ceil of each halving)."""
    for _ in range(times):
        size = (size + 1) // 2
    return size


class _FlatHeadCritic(nn.Module):
    """A conv trunk whose last map is flattened into one linear unit: one score per image.
    The linear layer's width follows the image side given at construction (the authors fixed it
    at their training size); other sizes are refused with a message rather than a shape error."""

    def __init__(self, trunk: list[nn.Module], out_ch: int, side: int, image_size: int):
        super().__init__()
        if side < 1:
            raise ValueError(f"image_size {image_size} is too small for this critic")
        self.image_size = image_size
        self.trunk = nn.Sequential(*trunk)
        self.head = nn.Linear(out_ch * side * side, 1)

    def forward_features(self, x):
        h, w = x.shape[-2:]
        if h != self.image_size or w != self.image_size:
            raise UserInputError(
                f"this critic was built for {self.image_size}×{self.image_size} images (its linear head "
                f"reads a fixed-size map); got {h}×{w}; build it with image_size={max(h, w)} or resize")
        return self.head(self.trunk(x).flatten(1)), []

    def forward(self, x):
        return self.forward_features(x)[0]


class DualGlobalCritic(_FlatHeadCritic):
    """The 2020 code's default critic (`--disc_type globalgan`): a 5×5 stride-2 conv, then four
    3×3 stride-2 convs (64→128→256→512→512) each followed by per-image norm, LReLU(0.2) after
    every conv, and a linear head over the last map (8×8×512 at 256 px: 3,949,441 parameters).
    `head="patch"` is that code's `patchgan` option instead: a 3×3 stride-2 conv to one channel,
    a map of raw scores (3,921,281 parameters, any image size)."""

    def __init__(self, in_ch: int = 3, ndf: int = 64, image_size: int = 256, head: str = "linear"):
        if head not in ("linear", "patch"):
            raise ValueError(f"head must be 'linear' or 'patch', got {head!r}")
        layers = [nn.Conv2d(in_ch, ndf, 5, 2, 2), nn.LeakyReLU(0.2)]
        cin = ndf
        for mult in (2, 4, 8, 8):
            layers += [nn.Conv2d(cin, ndf * mult, 3, 2, 1), _norm(ndf * mult), nn.LeakyReLU(0.2)]
            cin = ndf * mult
        super().__init__(layers, cin, _halve(image_size, 5), image_size)
        self.head_kind = head
        if head == "patch":
            self.head = nn.Conv2d(cin, 1, 3, 2, 1)

    def forward_features(self, x):
        if self.head_kind == "patch":
            return self.head(self.trunk(x)), []
        return super().forward_features(x)


class DualLinearCritic(_FlatHeadCritic):
    """The April-2017 code's critic: the patch critic's first four layers (5×5 convs, strides
    2, 2, 2, 1, widths 64→128→256→512, norm on layers 2-4, LReLU(0.2)) and then a linear layer
    over the whole map (32×32×512 at 256 px: 4,832,641 parameters). That code normalised with
    TF batch norm in training mode at batch 1, which is this per-image norm."""

    def __init__(self, in_ch: int = 3, ndf: int = 64, image_size: int = 256):
        layers = [nn.Conv2d(in_ch, ndf, 5, 2, 2), nn.LeakyReLU(0.2)]
        cin = ndf
        for mult, stride in ((2, 2), (4, 2), (8, 1)):
            layers += [nn.Conv2d(cin, ndf * mult, 5, stride, 2), _norm(ndf * mult), nn.LeakyReLU(0.2)]
            cin = ndf * mult
        super().__init__(layers, cin, _halve(image_size, 3), image_size)
