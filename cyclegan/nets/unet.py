"""The official CycleGAN/pix2pix U-Net (`unet_128`, `unet_256`): skip blocks nested inside each
other, which is why the official keys read `model.model.1.model.3...`; kept so those files load."""
import torch
from torch import nn

from .resnet import instance_norm


class UnetSkipBlock(nn.Module):
    def __init__(self, outer: int, inner: int, in_ch: int | None = None, sub: nn.Module | None = None,
                 outermost: bool = False, innermost: bool = False, dropout: bool = False):
        super().__init__()
        self.outermost = outermost
        in_ch = outer if in_ch is None else in_ch
        down = nn.Conv2d(in_ch, inner, 4, stride=2, padding=1, bias=True)
        if outermost:
            up = nn.ConvTranspose2d(inner * 2, outer, 4, stride=2, padding=1)
            layers = [down, sub, nn.ReLU(True), up, nn.Tanh()]
        elif innermost:
            up = nn.ConvTranspose2d(inner, outer, 4, stride=2, padding=1, bias=True)
            layers = [nn.LeakyReLU(0.2, True), down, nn.ReLU(True), up, instance_norm(outer)]
        else:
            up = nn.ConvTranspose2d(inner * 2, outer, 4, stride=2, padding=1, bias=True)
            layers = [nn.LeakyReLU(0.2, True), down, instance_norm(inner), sub,
                      nn.ReLU(True), up, instance_norm(outer)]
            if dropout:
                layers.append(nn.Dropout(0.5))
        self.model = nn.Sequential(*layers)

    def forward(self, x):
        y = self.model(x)
        return y if self.outermost else torch.cat([x, y], 1)


class UnetGenerator(nn.Module):
    """`num_downs` = 7 for 128 px, 8 for 256 px; the image side must be a multiple of 2**num_downs."""

    def __init__(self, in_ch: int = 3, out_ch: int = 3, ngf: int = 64, num_downs: int = 8, dropout: bool = False):
        super().__init__()
        if num_downs < 5:
            raise ValueError("a U-Net needs num_downs >= 5")
        self.size_multiple = 2 ** num_downs
        block = UnetSkipBlock(ngf * 8, ngf * 8, innermost=True)
        for _ in range(num_downs - 5):
            block = UnetSkipBlock(ngf * 8, ngf * 8, sub=block, dropout=dropout)
        for mult in (4, 2, 1):
            block = UnetSkipBlock(ngf * mult, ngf * mult * 2, sub=block)
        self.model = UnetSkipBlock(out_ch, ngf, in_ch=in_ch, sub=block, outermost=True)

    def forward(self, x):
        return self.model(x)
