"""Adversarial and reconstruction losses. Each adversarial loss takes D's raw output and whether
the target is "real"; D and G share the same function, which keeps the trainer loss-agnostic."""
from contextlib import nullcontext

import torch
import torch.nn.functional as F

from .errors import UserInputError

GAN_LOSSES = ("lsgan", "bce", "wgan", "wgan-gp")


def adversarial(kind: str, pred: torch.Tensor, real: bool, probabilities: bool = False) -> torch.Tensor:
    """lsgan: MSE to 1/0. bce: cross-entropy, on probabilities when D ends in a sigmoid (DiscoGAN)
    and on logits otherwise (stable). wgan: the critic's mean score, negated for "real"."""
    if kind == "lsgan":
        return F.mse_loss(pred, torch.full_like(pred, 1.0 if real else 0.0))
    if kind == "bce":
        target = torch.full_like(pred, 1.0 if real else 0.0)
        if probabilities:
            return _bce_on_probabilities(pred, target)
        return F.binary_cross_entropy_with_logits(pred, target)
    if kind in ("wgan", "wgan-gp"):
        return -pred.mean() if real else pred.mean()
    raise UserInputError(f"unknown GAN loss {kind!r}; choose one of {', '.join(GAN_LOSSES)}")


def _bce_on_probabilities(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """CUDA autocast refuses binary_cross_entropy outright, even on float32 inputs (torch bans it
    there as unsafe); with autocast off around it the float32 numbers are the same everywhere."""
    device = pred.device.type
    off = torch.autocast(device, enabled=False) if torch.is_autocast_enabled(device) else nullcontext()
    with off:
        return F.binary_cross_entropy(pred.float(), target.float())


def reconstruction(kind: str, x: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    if kind == "l1":
        return F.l1_loss(x, target)
    if kind == "mse":
        return F.mse_loss(x, target)
    raise UserInputError(f"unknown reconstruction loss {kind!r}; choose 'l1' or 'mse'")


def feature_matching(real_feats: list[torch.Tensor], fake_feats: list[torch.Tensor]) -> torch.Tensor:
    """DiscoGAN's: squared distance between the batch means of real and fake activations,
    summed over the tapped layers. Real features are a fixed target here."""
    total = fake_feats[0].new_zeros(())
    for r, f in zip(real_feats, fake_feats):
        total = total + F.mse_loss(f.mean(0), r.detach().mean(0))
    return total


def gradient_penalty(critic, real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
    """WGAN-GP: (‖∇D(x̂)‖₂ − 1)² on random interpolates between real and fake."""
    eps = torch.rand(real.size(0), 1, 1, 1, device=real.device, dtype=real.dtype)
    x = (eps * real + (1 - eps) * fake).requires_grad_(True)
    out = critic(x)
    (grad,) = torch.autograd.grad(out.sum(), x, create_graph=True)
    return ((grad.flatten(1).norm(2, dim=1) - 1) ** 2).mean()


def recon_rate(schedule: tuple[tuple[int, float], ...], step: int) -> float | None:
    """DiscoGAN's curriculum: the rate in force at `step`, or None when the preset has none."""
    rate = None
    for start, r in schedule:
        if step >= start:
            rate = r
    return rate
