"""DualGAN's nets: a U-Net with one stride-2 level per halving (8 at 256 px) whose decoder
dropout stands in for the noise input, and a patch critic that returns raw scores."""
import math

import torch
import torch.nn.functional as F
from torch import nn


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
    3/5 in the 2020 code). `dropout_at_test` keeps decoder dropout on in eval(), as the paper-era code did."""

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
                x = nn.functional.dropout(x, self.dropout, drop_on)
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
