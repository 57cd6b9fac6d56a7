"""Every generator and discriminator by family name, so presets and checkpoints stay plain data."""
import torch
from torch import nn

from ..errors import UserInputError
from .cut import CutDiscriminator, CutGenerator
from .discogan import DiscoDiscriminator, DiscoGenerator
from .dualgan import DualCritic, DualGlobalCritic, DualLinearCritic, DualUnetGenerator, levels_for
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
    "dual_global_critic": DualGlobalCritic,
    "dual_linear_critic": DualLinearCritic,
    "cut_resnet": CutGenerator,
    "cut_patchgan": CutDiscriminator,
}


def build_net(family: str, kwargs: dict) -> nn.Module:
    if not isinstance(family, str) or family not in FAMILIES:
        raise UserInputError(f"unknown network family {family!r}; known: {', '.join(sorted(FAMILIES))}")
    if not isinstance(kwargs, dict):
        raise UserInputError(f"network {family!r}: arguments must be a mapping, got {type(kwargs).__name__}")
    try:
        return FAMILIES[family](**kwargs)
    except UserInputError:
        raise
    except (TypeError, ValueError) as e:
        raise UserInputError(f"bad arguments for network {family!r} {kwargs}: {e}") from None


def size_multiple(net: nn.Module) -> int:
    """What the image side must be a multiple of for this generator (padding handles the rest)."""
    return int(getattr(net, "size_multiple", 1))


def min_side(net: nn.Module) -> int:
    """The smallest image side this net runs on (a generator pads smaller images up to it)."""
    return int(getattr(net, "min_side", 1))


def size_rules(family: str, kwargs: dict) -> tuple[int, int]:
    """(multiple, smallest side) of the images a net of this family and these arguments takes,
    asked of the net itself, built on the meta device (no memory, no init)."""
    with torch.device("meta"):
        net = build_net(family, kwargs)
    return size_multiple(net), min_side(net)


def count_parameters(net: nn.Module) -> int:
    return sum(p.numel() for p in net.parameters())


__all__ = ["FAMILIES", "build_net", "size_multiple", "min_side", "size_rules", "count_parameters", "levels_for"]
