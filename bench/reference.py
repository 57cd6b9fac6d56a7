"""The yardstick: CycleGAN's training step written plainly, the way the paper and the authors'
official PyTorch code (`cycle_gan_model.py`) do it. Used only to measure against.

Deliberately plain: separate forward passes for every term (fake_B, rec_A, fake_A, rec_B,
idt_A, idt_B; D on real and on fake separately, one backward per D), default NCHW memory format,
Adam with torch's default implementation choice, `set_requires_grad` toggling, `.item()` on
every loss every step, and the official image pool of 50 driven by Python's `random`.

Names follow this project (G_AB maps A to B, D_A judges domain A); the official code's
`idt_A = G_A(real_B)` is our `idt_B`, its `netD_A` (judging B) is our `D_B`.
"""
from __future__ import annotations

import itertools
import random

import torch
from torch import nn

from cyclegan.nets import build_net
from cyclegan.presets import Preset


class ImagePool:
    """The official pool: while filling, store and return; then with p = 0.5 return a stored
    image (and store the new one in its place), otherwise return the new one."""

    def __init__(self, pool_size: int, rng: random.Random):
        self.pool_size, self.rng = pool_size, rng
        self.num_imgs, self.images = 0, []

    def query(self, images: torch.Tensor) -> torch.Tensor:
        if self.pool_size == 0:
            return images
        return_images = []
        for image in images:
            image = torch.unsqueeze(image.data, 0)
            if self.num_imgs < self.pool_size:
                self.num_imgs += 1
                self.images.append(image)
                return_images.append(image)
            elif self.rng.uniform(0, 1) > 0.5:
                random_id = self.rng.randint(0, self.pool_size - 1)
                tmp = self.images[random_id].clone()
                self.images[random_id] = image
                return_images.append(tmp)
            else:
                return_images.append(image)
        return torch.cat(return_images, 0)


def init_normal(net: nn.Module, std: float = 0.02) -> None:
    """The official `init_weights(net, 'normal', 0.02)` for the layers these nets use."""
    for m in net.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
            nn.init.normal_(m.weight, 0.0, std)
            if m.bias is not None:
                nn.init.zeros_(m.bias)


def use_torch_instance_norm(net: nn.Module) -> nn.Module:
    """Swap any project-specific InstanceNorm implementation for torch's own `nn.InstanceNorm2d`,
    exactly what the official code runs (same numbers: no parameters, no buffers)."""
    for name, m in list(net.named_modules()):
        for child_name, child in list(m.named_children()):
            if isinstance(child, nn.InstanceNorm2d) and type(child) is not nn.InstanceNorm2d:
                torch_norm = nn.InstanceNorm2d(child.num_features, eps=child.eps, affine=child.affine,
                                               track_running_stats=child.track_running_stats)
                torch_norm.load_state_dict(child.state_dict())       # an affine norm keeps its weights
                setattr(m, child_name, torch_norm)
    return net


def set_requires_grad(nets, requires_grad: bool) -> None:
    for net in nets:
        for param in net.parameters():
            param.requires_grad = requires_grad


class ReferenceCycleGAN:
    """One CycleGAN training step per `optimize_parameters(real_A, real_B)`, as published."""

    def __init__(self, preset: Preset, device="cpu", seed: int = 0, torch_norm: bool = False):
        self.p = p = preset
        self.device = torch.device(device)
        g, d = preset.generator, preset.discriminator
        self.G_AB = build_net(g.family, g.kwargs).to(self.device)
        self.G_BA = build_net(g.family, g.kwargs).to(self.device)
        self.D_A = build_net(d.family, d.kwargs).to(self.device)
        self.D_B = build_net(d.family, d.kwargs).to(self.device)
        for net in (self.G_AB, self.G_BA, self.D_A, self.D_B):
            if torch_norm:
                use_torch_instance_norm(net)
            init_normal(net, p.init_std or 0.02)
            net.train()
        self.criterionGAN = nn.MSELoss()          # LSGAN
        self.criterionCycle = nn.L1Loss()
        self.criterionIdt = nn.L1Loss()
        self.optimizer_G = torch.optim.Adam(itertools.chain(self.G_AB.parameters(), self.G_BA.parameters()),
                                            lr=p.lr_g, betas=p.betas)
        self.optimizer_D = torch.optim.Adam(itertools.chain(self.D_A.parameters(), self.D_B.parameters()),
                                            lr=p.lr_d, betas=p.betas)
        rng = random.Random(seed)
        self.fake_A_pool = ImagePool(p.pool_size, rng)
        self.fake_B_pool = ImagePool(p.pool_size, rng)

    def load_weights_from(self, model) -> None:
        """Start from the same weights as a CycleModel (e.g. our Trainer's), kept in NCHW."""
        for name in ("G_AB", "G_BA", "D_A", "D_B"):
            src = {k: v.detach().to(self.device).contiguous() for k, v in getattr(model, name).state_dict().items()}
            getattr(self, name).load_state_dict(src)

    def gan_loss(self, prediction: torch.Tensor, target_is_real: bool) -> torch.Tensor:
        target = torch.tensor(1.0 if target_is_real else 0.0, device=prediction.device)
        return self.criterionGAN(prediction, target.expand_as(prediction))

    # --- the step, in the official order -----------------------------------------------------------
    def forward(self):
        self.fake_B = self.G_AB(self.real_A)
        self.rec_A = self.G_BA(self.fake_B)
        self.fake_A = self.G_BA(self.real_B)
        self.rec_B = self.G_AB(self.fake_A)

    def backward_G(self):
        p = self.p
        lambda_idt, lambda_A, lambda_B = p.lambda_identity, p.lambda_cycle, p.lambda_cycle
        if lambda_idt > 0:
            self.idt_B = self.G_AB(self.real_B)
            self.loss_idt_B = self.criterionIdt(self.idt_B, self.real_B) * lambda_B * lambda_idt
            self.idt_A = self.G_BA(self.real_A)
            self.loss_idt_A = self.criterionIdt(self.idt_A, self.real_A) * lambda_A * lambda_idt
        else:
            self.loss_idt_A = self.loss_idt_B = torch.zeros((), device=self.device)
        self.loss_G_AB = self.gan_loss(self.D_B(self.fake_B), True)
        self.loss_G_BA = self.gan_loss(self.D_A(self.fake_A), True)
        self.loss_cycle_A = self.criterionCycle(self.rec_A, self.real_A) * lambda_A
        self.loss_cycle_B = self.criterionCycle(self.rec_B, self.real_B) * lambda_B
        self.loss_G = (self.loss_G_AB + self.loss_G_BA + self.loss_cycle_A + self.loss_cycle_B
                       + self.loss_idt_A + self.loss_idt_B)
        self.loss_G.backward()

    def backward_D_basic(self, netD, real, fake):
        loss_D_real = self.gan_loss(netD(real), True)
        loss_D_fake = self.gan_loss(netD(fake.detach()), False)
        loss_D = (loss_D_real + loss_D_fake) * self.p.d_loss_scale
        loss_D.backward()
        return loss_D

    def backward_D_A(self):
        fake_A = self.fake_A_pool.query(self.fake_A)
        self.loss_D_A = self.backward_D_basic(self.D_A, self.real_A, fake_A)

    def backward_D_B(self):
        fake_B = self.fake_B_pool.query(self.fake_B)
        self.loss_D_B = self.backward_D_basic(self.D_B, self.real_B, fake_B)

    def optimize_parameters(self, real_A: torch.Tensor, real_B: torch.Tensor) -> dict:
        self.real_A = real_A.to(self.device)
        self.real_B = real_B.to(self.device)
        self.forward()
        set_requires_grad([self.D_A, self.D_B], False)
        self.optimizer_G.zero_grad()
        self.backward_G()
        self.optimizer_G.step()
        set_requires_grad([self.D_A, self.D_B], True)
        self.optimizer_D.zero_grad()
        self.backward_D_A()
        self.backward_D_B()
        self.optimizer_D.step()
        return self.current_losses()

    def current_losses(self) -> dict:
        names = ("G_AB", "G_BA", "cycle_A", "cycle_B", "idt_A", "idt_B", "D_A", "D_B")
        return {n: float(getattr(self, "loss_" + n).item()) for n in names}


@torch.no_grad()
def reference_translate(net: nn.Module, x01: torch.Tensor, value_range=(-1.0, 1.0)) -> torch.Tensor:
    """The official test-time forward: NCHW, `torch.no_grad`, x in [0, 1] in and out."""
    lo, hi = value_range
    y = net(x01 * (hi - lo) + lo)
    return ((y - lo) / (hi - lo)).clamp(0, 1)
