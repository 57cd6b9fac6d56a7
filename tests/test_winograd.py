"""The NNPACK inference convs: same numbers as torch's, used only without gradients, applied
where a model is loaded for translating (not when one is built, e.g. to train), and a clean
fall-back to torch's conv whenever NNPACK is off or refuses a call."""
import dataclasses

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from cyclegan import accel, load_model, save_model
from cyclegan.model import CycleModel
from cyclegan.nets import winograd
from cyclegan.presets import NetSpec, get_preset

needs_nnpack = pytest.mark.skipif(not winograd.available(), reason="this torch build has no working NNPACK")


@pytest.fixture(autouse=True)
def pool_matches_threads(monkeypatch):
    """Whatever thread count earlier tests left NNPACK's pool with, these tests run at a matching one;
    and in float32 (NNPACK's path), also on a CPU where bf16 would be chosen (tests/test_precision.py)."""
    monkeypatch.setattr(winograd, "_pool_threads", torch.get_num_threads())
    monkeypatch.setenv("CYCLEGAN_PRECISION", "float32")


def wide_model(n_blocks: int) -> CycleModel:
    """A ResNet generator at the paper's width (wide enough for NNPACK), with few blocks, ready to
    translate as load_model makes it."""
    quick = get_preset("cyclegan", None, "quick", 64)
    model = CycleModel(dataclasses.replace(quick, generator=NetSpec("resnet", {"ngf": 64, "n_blocks": n_blocks})))
    accel.accelerate(model)
    return model


def _counting(monkeypatch):
    calls = []
    real = torch._nnpack_spatial_convolution

    def spy(*a, **k):
        calls.append(a[0].shape)
        return real(*a, **k)
    monkeypatch.setattr(torch, "_nnpack_spatial_convolution", spy)
    return calls


@needs_nnpack
@pytest.mark.parametrize("cin,cout,k,pad", [(16, 16, 3, 1), (8, 3, 7, 0), (3, 8, 7, 3)])
def test_same_numbers_as_torch_conv(cin, cout, k, pad, monkeypatch):
    torch.manual_seed(0)
    conv = nn.Conv2d(cin, cout, k, padding=pad)
    x = torch.randn(2, cin, 37, 29)
    expected = F.conv2d(x, conv.weight, conv.bias, padding=pad)
    assert winograd.switch(conv) == 1 and type(conv) is winograd.WinogradConv2d
    calls = _counting(monkeypatch)
    with torch.inference_mode():
        got = conv(x)
    assert calls, "NNPACK was not used"
    assert got.shape == expected.shape
    assert (got - expected).abs().max() <= 1e-4 * expected.abs().max()


@needs_nnpack
def test_training_keeps_torch_conv_and_its_gradients(monkeypatch):
    conv = nn.Conv2d(4, 4, 3, padding=1)
    winograd.switch(conv)
    calls = _counting(monkeypatch)
    y = conv(torch.randn(1, 4, 8, 8))
    y.sum().backward()
    assert not calls and conv.weight.grad is not None


def test_only_stride1_square_3_or_7_convs_switch():
    net = nn.Sequential(nn.Conv2d(3, 4, 3), nn.Conv2d(4, 4, 3, stride=2), nn.Conv2d(4, 4, 5),
                        nn.Conv2d(4, 4, 3, groups=2), nn.Conv2d(4, 4, 3, padding=1, padding_mode="reflect"),
                        nn.ConvTranspose2d(4, 4, 3), nn.Conv2d(4, 4, 7, dilation=2), nn.Conv2d(4, 3, 7))
    keys = list(net.state_dict())
    assert not accel.is_wide(net) and accel.is_wide(net, min_width=4)   # too narrow for NNPACK to pay
    assert winograd.switch(net) == 2
    assert [type(m) is winograd.WinogradConv2d for m in net] == [True, False, False, False, False, False, False, True]
    assert list(net.state_dict()) == keys
    winograd.plain(net)
    assert not any(type(m) is winograd.WinogradConv2d for m in net.modules())


@needs_nnpack
def test_translation_matches_torch_convs_and_can_be_switched_off(monkeypatch):
    torch.manual_seed(0)
    model = wide_model(n_blocks=2)
    for g in (model.G_AB, model.G_BA):
        for p in g.parameters():
            nn.init.normal_(p, 0, 0.02)
    n = sum(type(m) is winograd.WinogradConv2d for m in model.G_AB.modules())
    assert n == 2 * 2 + 2 and accel.is_wide(model.G_AB)      # 2 blocks of two 3×3 convs + the 7×7 ends
    x = torch.rand(1, 3, 61, 83)
    calls = _counting(monkeypatch)
    fast = model.translate_tensor(x, "a2b")
    assert len(calls) == n
    with winograd.disabled():
        slow = model.translate_tensor(x, "a2b")
    assert len(calls) == n
    assert fast.shape == slow.shape == x.shape
    assert (fast - slow).abs().max() < 1e-3   # well under one 8-bit grey level
    monkeypatch.setenv("CYCLEGAN_NNPACK", "0")
    assert not winograd.available()
    assert torch.equal(model.translate_tensor(x, "a2b"), slow)
    assert len(calls) == n


def test_refused_call_falls_back_to_torch(monkeypatch):
    def refuse(*a, **k):
        raise RuntimeError("NNPACK refused")
    monkeypatch.setattr(torch, "_nnpack_spatial_convolution", refuse)
    monkeypatch.setattr(winograd, "_available", True)
    conv = nn.Conv2d(3, 3, 3)
    winograd.switch(conv)
    x = torch.randn(1, 3, 9, 9)
    with torch.inference_mode():
        assert torch.equal(conv(x), F.conv2d(x, conv.weight, conv.bias))


def test_narrow_nets_keep_torch_convs_in_channels_last(monkeypatch):
    model = CycleModel(get_preset("cyclegan", None, "quick", 64))
    assert accel.accelerate(model) == 0 and not accel.is_wide(model.G_AB)
    seen = []
    cl = torch.channels_last
    model.G_AB.model[1].register_forward_pre_hook(lambda m, a: seen.append(a[0].is_contiguous(memory_format=cl)))
    calls = _counting(monkeypatch)
    model.translate_tensor(torch.rand(1, 3, 40, 40), "a2b")
    assert seen == [True] and not calls


@needs_nnpack
@pytest.mark.parametrize("h,w", [(2, 3), (5, 300), (1, 64), (67, 45)])
def test_odd_shapes_through_nnpack(h, w):
    """Tiny and thin images reach NNPACK through the padding; same shapes, same numbers, no
    refused calls. (A 1×1 image is left out: its maps are near-constant, where instance norm
    magnifies any rounding difference.)"""
    model = wide_model(n_blocks=1)
    before = winograd.fallbacks
    x = torch.rand(1, 3, h, w)
    fast = model.translate_tensor(x, "a2b")
    with winograd.disabled():
        slow = model.translate_tensor(x, "a2b")
    assert fast.shape == x.shape and (fast - slow).abs().max() < 1e-3
    assert winograd.fallbacks == before


@needs_nnpack
def test_nnpack_only_at_the_thread_count_its_pool_was_made_with(monkeypatch):
    """NNPACK ignores set_num_threads after its first call; when a caller asks for another
    thread count (the app while training runs), torch's conv runs instead."""
    assert winograd.warm_up()
    assert winograd._pool_threads is not None
    conv = nn.Conv2d(8, 8, 3)
    winograd.switch(conv)
    x = torch.randn(1, 8, 12, 12)
    calls = _counting(monkeypatch)
    monkeypatch.setattr(winograd, "_pool_threads", torch.get_num_threads())
    with torch.inference_mode():
        conv(x)
    assert len(calls) == 1
    monkeypatch.setattr(winograd, "_pool_threads", torch.get_num_threads() + 1)
    with torch.inference_mode():
        y = conv(x)
    assert len(calls) == 1 and torch.equal(y, F.conv2d(x, conv.weight, conv.bias))


def test_applied_where_models_are_loaded_not_where_they_are_built(tmp_path):
    """A model built to train keeps torch's convs; the same weights loaded to translate (and a
    model from the Hub the same way) get NNPACK's, in their wide generators only."""
    torch.manual_seed(0)
    built = CycleModel(dataclasses.replace(get_preset("cyclegan", None, "quick", 64),
                                           generator=NetSpec("resnet", {"ngf": 64, "n_blocks": 1})),
                       with_discriminators=True)
    assert not any(type(m) is winograd.WinogradConv2d for m in built.modules())
    loaded = load_model(save_model(built, tmp_path / "m", include_discriminators=True))
    for net, n in ((loaded.G_AB, 4), (loaded.G_BA, 4), (loaded.D_A, 0), (loaded.D_B, 0)):
        assert sum(type(m) is winograd.WinogradConv2d for m in net.modules()) == n
