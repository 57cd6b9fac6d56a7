"""CUT's nets (Park et al. 2020) as the authors' code builds them by default
(taesungp/contrastive-unpaired-translation, models/networks.py at b3ac297):

- the generator is CycleGAN's ResNet-9, but anti-aliased: each stride-2 conv becomes a stride-1
  conv, norm, ReLU and a [1 2 1]² blur-pool (`no_antialias` off), each transposed conv becomes a
  [1 3 3 1]² blur-upsample then a 3×3 conv (`no_antialias_up` off). Same parameter count as
  CycleGAN's; the Sequential gets 32 entries instead of 28, which moves the NCE layer indices
  (0, 4, 8, 12, 16 = padded input, the first down conv, the second down conv, resblocks 1 and 5);
- the discriminator is the 70×70 PatchGAN with each stride-2 conv made stride-1 and followed by
  the same blur-pool (define_D passes `no_antialias` on): same parameter count, same 30×30 map
  at 256 px, but an 84×84 receptive field;
- the MLP heads ("netF", mlp_sample): per NCE layer Linear(C, 256), ReLU, Linear(256, 256).

All three start from xavier_normal_ with gain 0.02 and zero biases (`--init_type xavier`,
`--init_gain 0.02`, base_options.py), done here at construction so a preset can keep it.
The Sequential keeps the authors' indices, hence their state_dict keys (blur filters included)."""
import math

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import UserInputError
from .resnet import ResnetBlock, instance_norm

NCE_LAYERS = (0, 4, 8, 12, 16)     # --nce_layers default, models/cut_model.py


def xavier_init_(net: nn.Module, gain: float | None = 0.02) -> nn.Module:
    """The authors' init_weights('xavier', 0.02): every conv and linear weight xavier-normal,
    biases 0. gain=None keeps torch's default init."""
    if gain is None:
        return net
    for m in net.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
            nn.init.xavier_normal_(m.weight, gain=gain)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
    return net


def _binomial(n: int) -> torch.Tensor:
    """The n-tap binomial filter as a normalised 2-D kernel ([1 2 1] for 3, [1 3 3 1] for 4)."""
    a = torch.tensor([math.comb(n - 1, i) for i in range(n)], dtype=torch.float32)
    k = a[:, None] * a[None, :]
    return k / k.sum()


class BlurDownsample(nn.Module):
    """Blur-pool (Zhang 2019): reflect-pad 1, depthwise [1 2 1]²/16, stride 2. A side of n
    becomes ceil(n/2). The filter is a buffer named `filt`, as in the authors' checkpoints."""

    def __init__(self, channels: int):
        super().__init__()
        self.register_buffer("filt", _binomial(3)[None, None].repeat(channels, 1, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.conv2d(F.pad(x, (1, 1, 1, 1), mode="reflect"), self.filt, stride=2, groups=x.shape[1])


class BlurUpsample(nn.Module):
    """×2 upsampling through a fixed [1 3 3 1]² filter (times 4, the stride²): replicate-pad 1,
    depthwise transposed conv, crop; a side of n becomes exactly 2n."""

    def __init__(self, channels: int):
        super().__init__()
        self.register_buffer("filt", (_binomial(4) * 4)[None, None].repeat(channels, 1, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = F.conv_transpose2d(F.pad(x, (1, 1, 1, 1), mode="replicate"), self.filt,
                               stride=2, padding=2, groups=x.shape[1])
        return y[:, :, 1:-1, 1:-1]


class CutGenerator(nn.Module):
    """ResNet generator with anti-aliased sampling; `forward(x, layers, encode_only=True)` returns
    the outputs of those Sequential entries and stops after the last one (the NCE encoder)."""

    size_multiple = 4   # two blur-pools take n to ceil(n/2); the upsampling doubles exactly
    min_side = 8        # the residual blocks' reflection padding needs at least 2×2 after two halvings

    def __init__(self, in_ch: int = 3, out_ch: int = 3, ngf: int = 64, n_blocks: int = 9,
                 dropout: bool = False, antialias: bool = True, antialias_up: bool = True,
                 init_gain: float | None = 0.02):
        super().__init__()
        # Not in-place ReLUs at the top level: a feature taken at a norm layer would be
        # overwritten by the next ReLU otherwise (same numbers, a little more memory).
        layers = [nn.ReflectionPad2d(3), nn.Conv2d(in_ch, ngf, 7), instance_norm(ngf), nn.ReLU()]
        for mult in (1, 2):
            cin, cout = ngf * mult, ngf * mult * 2
            if antialias:
                layers += [nn.Conv2d(cin, cout, 3, stride=1, padding=1), instance_norm(cout), nn.ReLU(),
                           BlurDownsample(cout)]
            else:
                layers += [nn.Conv2d(cin, cout, 3, stride=2, padding=1), instance_norm(cout), nn.ReLU()]
        layers += [ResnetBlock(ngf * 4, dropout) for _ in range(n_blocks)]
        for mult in (4, 2):
            cin, cout = ngf * mult, ngf * mult // 2
            if antialias_up:
                layers += [BlurUpsample(cin), nn.Conv2d(cin, cout, 3, stride=1, padding=1)]
            else:
                layers += [nn.ConvTranspose2d(cin, cout, 3, stride=2, padding=1, output_padding=1)]
            layers += [instance_norm(cout), nn.ReLU()]
        layers += [nn.ReflectionPad2d(3), nn.Conv2d(ngf, out_ch, 7), nn.Tanh()]
        self.model = nn.Sequential(*layers)
        self.in_ch = in_ch
        xavier_init_(self, init_gain)

    def check_layers(self, layers) -> list[int]:
        layers = [int(i) for i in layers]
        if not layers or any(b <= a for a, b in zip(layers, layers[1:])):
            raise UserInputError(f"NCE layers must be a non-empty increasing list, got {layers}")
        if layers[0] < 0 or layers[-1] >= len(self.model):
            raise UserInputError(f"NCE layers {layers} out of range: the generator has "
                                 f"{len(self.model)} layers (0..{len(self.model) - 1})")
        return layers

    def feature_channels(self, layers=NCE_LAYERS) -> list[int]:
        """Channels of the features at `layers`, without running the net (to build the heads)."""
        wanted, ch, out = set(self.check_layers(layers)), self.in_ch, []
        for i, layer in enumerate(self.model):
            if isinstance(layer, (nn.Conv2d, nn.ConvTranspose2d)):
                ch = layer.out_channels
            if i in wanted:
                out.append(ch)
        return out

    def forward(self, x: torch.Tensor, layers=None, encode_only: bool = False):
        if not layers:
            return self.model(x)
        layers = self.check_layers(layers)
        wanted, feats = set(layers), []
        for i, layer in enumerate(self.model):
            x = layer(x)
            if i in wanted:
                feats.append(x)
                if encode_only and i == layers[-1]:
                    return feats
        return x, feats


class CutDiscriminator(nn.Module):
    """PatchGAN (n_layers 3, instance norm) with a blur-pool after each stride-1 conv that stands
    in for a stride-2 one; `antialias=False` is CycleGAN's 70×70 PatchGAN."""

    def __init__(self, in_ch: int = 3, ndf: int = 64, n_layers: int = 3, antialias: bool = True,
                 init_gain: float | None = 0.02):
        super().__init__()
        stride = 1 if antialias else 2
        layers = [nn.Conv2d(in_ch, ndf, 4, stride=stride, padding=1), nn.LeakyReLU(0.2, True)]
        if antialias:
            layers.append(BlurDownsample(ndf))
        mult = 1
        for n in range(1, n_layers):
            prev, mult = mult, min(2 ** n, 8)
            layers += [nn.Conv2d(ndf * prev, ndf * mult, 4, stride=stride, padding=1),
                       instance_norm(ndf * mult), nn.LeakyReLU(0.2, True)]
            if antialias:
                layers.append(BlurDownsample(ndf * mult))
        prev, mult = mult, min(2 ** n_layers, 8)
        layers += [nn.Conv2d(ndf * prev, ndf * mult, 4, stride=1, padding=1),
                   instance_norm(ndf * mult), nn.LeakyReLU(0.2, True),
                   nn.Conv2d(ndf * mult, 1, 4, stride=1, padding=1)]
        self.model = nn.Sequential(*layers)
        self.min_side = _smallest_side(n_layers, antialias)
        xavier_init_(self, init_gain)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)

    def forward_features(self, x: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        return self.model(x), []


def _smallest_side(n_layers: int, antialias: bool) -> int:
    """The smallest image side that leaves this discriminator a score map of at least 1×1
    (24 px anti-aliased with 3 layers, 12 with 2): each 4×4 conv with padding 1 takes n to n-1
    at stride 1 (n//2 at stride 2), each blur-pool n to ceil(n/2) and needs n >= 2."""
    def out(n: int) -> int:
        for _ in range(n_layers):
            if antialias:
                n -= 1
                if n < 2:
                    return 0
                n = (n + 1) // 2
            else:
                n //= 2
        return n - 2
    return next(s for s in range(1, 1 << 16) if out(s) >= 1)


class PatchHeads(nn.Module):
    """The authors' PatchSampleF with use_mlp: per layer, the features at `num_patches` random
    locations (the same locations for every image of the batch) through Linear-ReLU-Linear, then
    L2-normalised. Given `channels`, the heads exist from construction (an optimizer can be built
    up front); without, they are made at the first call from the features' channels, as the
    authors do. The key pass draws the locations, the query pass reuses them."""

    def __init__(self, channels=None, nc: int = 256, init_gain: float | None = 0.02):
        super().__init__()
        self.nc, self.init_gain = int(nc), init_gain
        self.n_heads = 0
        if channels is not None:
            self._build([int(c) for c in channels])

    def _build(self, channels: list[int]) -> None:
        for i, c in enumerate(channels):
            mlp = nn.Sequential(nn.Linear(c, self.nc), nn.ReLU(), nn.Linear(self.nc, self.nc))
            setattr(self, f"mlp_{i}", xavier_init_(mlp, self.init_gain))    # authors' key names
        self.n_heads = len(channels)

    def forward(self, feats, num_patches: int = 256, patch_ids=None, generator: torch.Generator | None = None):
        """feats: list of (B, C, H, W). Returns ([(B, P, nc)], [ids]), P = min(num_patches, H·W)."""
        if num_patches < 1:
            raise UserInputError(f"num_patches must be at least 1, got {num_patches}")
        if not self.n_heads:
            self._build([f.shape[1] for f in feats])
            self.to(feats[0].device)
        if len(feats) != self.n_heads or (patch_ids is not None and len(patch_ids) != len(feats)):
            raise UserInputError(f"the heads were built for {self.n_heads} NCE layers, got {len(feats)} feature maps")
        out, ids = [], []
        for i, f in enumerate(feats):
            flat = f.permute(0, 2, 3, 1).flatten(1, 2)                      # (B, H·W, C)
            if patch_ids is None:
                idx = torch.randperm(flat.shape[1], generator=generator, device="cpu")[:num_patches].to(f.device)
            else:
                idx = patch_ids[i]
            z = getattr(self, f"mlp_{i}")(flat[:, idx, :])
            out.append(z / (z.norm(p=2, dim=-1, keepdim=True) + 1e-7))     # authors' Normalize
            ids.append(idx)
        return out, ids


__all__ = ["CutGenerator", "CutDiscriminator", "PatchHeads", "BlurDownsample", "BlurUpsample",
           "xavier_init_", "NCE_LAYERS"]
