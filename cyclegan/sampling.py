"""Inference the way the DualGAN and DiscoGAN authors ran it, as opt-in context managers.

- `stochastic(net, seed)`: DualGAN's decoder dropout stays on at test time in every version of
  the authors' code (it stands in for the noise z), so their translations are samples. Here the
  masks come from a dedicated generator seeded by `seed`: the same seed gives the same output,
  the global RNG is left alone, and nothing changes outside the block.
- `batch_statistics(net)`: the DiscoGAN authors never call eval(), so BatchNorm normalises each
  test batch by its own statistics (their test batch is the whole test set, 200 images by
  default). Inside the block BatchNorm does the same and the running statistics are neither used
  nor updated. The statistics of one image alone differ from those of a batch: translate a batch
  to get what the authors got.

Both change module attributes for the duration of the block: do not run the same model from
another thread meanwhile (CycleModel.inference takes a per-model lock around them).
"""
from contextlib import contextmanager

import torch
from torch import nn

from .errors import UserInputError
from .nets.dualgan import DualUnetGenerator


def _device_of(net: nn.Module) -> torch.device:
    for t in net.parameters():
        return t.device
    return torch.device("cpu")


def _dropout_nets(net: nn.Module) -> list[DualUnetGenerator]:
    return [m for m in net.modules() if isinstance(m, DualUnetGenerator) and m.dropout > 0 and m.n_dropout > 0]


def _batchnorms(net: nn.Module) -> list[nn.Module]:
    return [m for m in net.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]


def has_decoder_dropout(net: nn.Module) -> bool:
    return bool(_dropout_nets(net))


def has_batchnorm(net: nn.Module) -> bool:
    return bool(_batchnorms(net))


@contextmanager
def stochastic(net: nn.Module, seed: int):
    """Decoder dropout on in eval mode, masks drawn from a generator seeded with `seed`."""
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise UserInputError(f"seed must be an integer, got {seed!r}")
    gens = _dropout_nets(net)
    if not gens:
        raise UserInputError("stochastic sampling needs a generator with decoder dropout (DualGAN's U-Net "
                             "with dropout > 0); this model has none")
    rng = torch.Generator(device=_device_of(net))
    rng.manual_seed(seed)
    saved = [(m, m.dropout_at_test, m.dropout_rng) for m in gens]
    try:
        for m in gens:
            m.dropout_at_test = True
            m.dropout_rng = rng
        yield net
    finally:
        for m, at_test, old_rng in saved:
            m.dropout_at_test = at_test
            m.dropout_rng = old_rng


@contextmanager
def batch_statistics(net: nn.Module):
    """BatchNorm normalises by the current batch; running statistics untouched and unused."""
    bns = _batchnorms(net)
    if not bns:
        raise UserInputError("batch-statistics inference needs BatchNorm layers (DiscoGAN's nets); "
                             "this model has none")
    saved = [(m, m.training, m.running_mean, m.running_var) for m in bns]
    try:
        for m in bns:
            # eval() with no running buffers is torch's "batch statistics, nothing to update".
            m.training = False
            m.running_mean = None
            m.running_var = None
        yield net
    finally:
        for m, training, mean, var in saved:
            m.training = training
            m.running_mean = mean
            m.running_var = var
