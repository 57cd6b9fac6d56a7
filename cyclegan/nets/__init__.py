"""Every generator and discriminator by family name, so presets and checkpoints stay plain data."""
from torch import nn

from ..errors import UserInputError
from .discogan import DiscoDiscriminator, DiscoGenerator
from .dualgan import DualCritic, DualUnetGenerator, levels_for
from .patchgan import PatchDiscriminator
from .resnet import ResnetGenerator
from .unet import UnetGenerator

FAMILIES: dict[str, type[nn.Module]] = {
    "resnet": ResnetGenerator,
    "unet": UnetGenerator,
    "patchgan": PatchDiscriminator,
    "disco_generator": DiscoGenerator,
    "disco_discriminator": DiscoDiscriminator,
    "dual_unet": DualUnetGenerator,
    "dual_critic": DualCritic,
}


def build_net(family: str, kwargs: dict) -> nn.Module:
    if family not in FAMILIES:
        raise UserInputError(f"unknown network family {family!r}; known: {', '.join(sorted(FAMILIES))}")
    try:
        return FAMILIES[family](**kwargs)
    except TypeError as e:
        raise UserInputError(f"bad arguments for network {family!r}: {e}") from None


def size_multiple(net: nn.Module) -> int:
    """What the image side must be a multiple of for this generator (padding handles the rest)."""
    return int(getattr(net, "size_multiple", 1))


def count_parameters(net: nn.Module) -> int:
    return sum(p.numel() for p in net.parameters())


__all__ = ["FAMILIES", "build_net", "size_multiple", "count_parameters", "levels_for"]
