"""CycleGAN's ResNet generator, laid out exactly like the official `nn.Sequential` so the
authors' checkpoints load key-for-key (`model.1`, `model.10.conv_block.5`, ...)."""
import torch
import torch.nn.functional as F
from torch import nn


class InstanceNorm(nn.InstanceNorm2d):
    """torch's InstanceNorm2d, computed as a group norm with one group per channel: the same
    numbers, but faster on CPU (`python -m bench ablate --variants torch_norm` times it), it keeps
    channels_last, and it accepts the 1×1 maps that tiny images reach (where it returns 0, as the
    maths says). Without affine (the official setting) it has no parameters and no buffers: the
    official keys are unchanged."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.track_running_stats:
            return super().forward(x)
        if x.shape[-1] * x.shape[-2] == 1:     # one value per channel: normalised, it is 0
            y = torch.zeros_like(x)
            return y + self.bias.view(1, -1, 1, 1) if self.affine else y
        return F.group_norm(x, self.num_features, self.weight, self.bias, self.eps)


def instance_norm(ch: int, affine: bool = False) -> nn.Module:
    # affine=False, no running stats: the official CycleGAN setting. affine=True (a learned scale
    # and shift per channel) is what some community generators use, e.g. the vintagify package.
    return InstanceNorm(ch, affine=affine, track_running_stats=False)


class ResnetBlock(nn.Module):
    def __init__(self, ch: int, dropout: bool = False, norm_affine: bool = False):
        super().__init__()
        layers = [nn.ReflectionPad2d(1), nn.Conv2d(ch, ch, 3, bias=True), instance_norm(ch, norm_affine), nn.ReLU(True)]
        if dropout:
            layers.append(nn.Dropout(0.5))
        layers += [nn.ReflectionPad2d(1), nn.Conv2d(ch, ch, 3, bias=True), instance_norm(ch, norm_affine)]
        self.conv_block = nn.Sequential(*layers)

    def forward(self, x):
        return x + self.conv_block(x)


def _upsample(cin: int, cout: int, mode: str) -> list[nn.Module]:
    if mode == "deconv":
        return [nn.ConvTranspose2d(cin, cout, 3, stride=2, padding=1, output_padding=1, bias=True)]
    if mode == "resize":
        # Resize-convolution: no uneven kernel overlap, hence no checkerboard artefacts.
        return [nn.Upsample(scale_factor=2, mode="nearest"), nn.ReflectionPad2d(1), nn.Conv2d(cin, cout, 3, bias=True)]
    if mode == "resize_zeros":
        # The same with zero padding: exactly what PyTorch-GAN's CycleGAN generator does (since
        # its 2019 version), so its checkpoints give its own numbers here.
        return [nn.Upsample(scale_factor=2, mode="nearest"), nn.Conv2d(cin, cout, 3, padding=1, bias=True)]
    raise ValueError(f"unknown upsample mode {mode!r} (use 'deconv', 'resize' or 'resize_zeros')")


class ResnetGenerator(nn.Module):
    """c7s1-ngf, d2ngf, d4ngf, n residual blocks, u2ngf, ungf, c7s1-3, tanh.
    `norm_affine` and `upsample="resize_zeros"` exist for community checkpoints (cyclegan/layouts.py);
    the defaults are the official generator, key for key."""

    size_multiple = 4
    min_side = 8    # the residual blocks' reflection padding needs at least 2×2 after two halvings

    def __init__(self, in_ch: int = 3, out_ch: int = 3, ngf: int = 64, n_blocks: int = 9,
                 dropout: bool = False, upsample: str = "deconv", norm_affine: bool = False):
        super().__init__()
        def norm(ch):
            return instance_norm(ch, norm_affine)
        layers = [nn.ReflectionPad2d(3), nn.Conv2d(in_ch, ngf, 7, bias=True), norm(ngf), nn.ReLU(True)]
        for mult in (1, 2):
            layers += [nn.Conv2d(ngf * mult, ngf * mult * 2, 3, stride=2, padding=1, bias=True),
                       norm(ngf * mult * 2), nn.ReLU(True)]
        layers += [ResnetBlock(ngf * 4, dropout, norm_affine) for _ in range(n_blocks)]
        for mult in (4, 2):
            layers += _upsample(ngf * mult, ngf * mult // 2, upsample)
            layers += [norm(ngf * mult // 2), nn.ReLU(True)]
        layers += [nn.ReflectionPad2d(3), nn.Conv2d(ngf, out_ch, 7, bias=True), nn.Tanh()]
        self.model = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)
