"""CPU precision. Inference (cyclegan/accel.py): bf16 autocast + channels_last only where the CPU
has bf16 matrix hardware (or when asked), float32 (with NNPACK) otherwise, a switch to force
float32 (CYCLEGAN_PRECISION, `--float32`), and bf16 output close to float32's. Training
(train/trainer.py): bf16 autocast where the CPU has bf16 hardware, each switch keeping float32."""
import dataclasses
import math

import pytest
import torch
from torch import nn

from cyclegan import UserInputError, accel
from cyclegan.cli import main as cli_main
from cyclegan.model import CycleModel
from cyclegan.nets import winograd
from cyclegan.presets import NetSpec, get_preset
from PIL import Image

CPU = torch.device("cpu")


def wide_model() -> CycleModel:
    """A ResNet at the paper's width with one block, accelerated as load_model does."""
    quick = get_preset("cyclegan", None, "quick", 64)
    torch.manual_seed(0)
    model = CycleModel(dataclasses.replace(quick, generator=NetSpec("resnet", {"ngf": 64, "n_blocks": 1})))
    accel.accelerate(model)
    return model.eval()


@pytest.fixture(autouse=True)
def pool_matches_threads(monkeypatch):
    monkeypatch.setattr(winograd, "_pool_threads", torch.get_num_threads())
    monkeypatch.delenv("CYCLEGAN_PRECISION", raising=False)


def test_auto_takes_bf16_only_with_amx_and_only_for_wide_nets(monkeypatch):
    wide, narrow = wide_model().G_AB, CycleModel(get_preset("cyclegan", None, "quick", 64)).G_AB
    monkeypatch.setattr(accel, "cpu_flags", lambda: frozenset({"avx512f", "avx512_bf16", "amx_bf16", "amx_tile"}))
    assert accel.inference_dtype(wide, CPU) == torch.bfloat16
    assert accel.cpu_layout(wide) == torch.channels_last
    assert accel.inference_dtype(narrow, CPU) == torch.float32
    # AVX-512 bf16 without AMX (AMD Zen 4): measured no faster than NNPACK float32, so float32
    monkeypatch.setattr(accel, "cpu_flags", lambda: frozenset({"avx512f", "avx512_bf16"}))
    assert accel.inference_dtype(wide, CPU) == torch.float32
    assert accel.cpu_layout(wide) == torch.contiguous_format
    monkeypatch.setenv("CYCLEGAN_PRECISION", "bfloat16")
    assert accel.inference_dtype(wide, CPU) == torch.bfloat16
    monkeypatch.setattr(accel, "cpu_flags", lambda: frozenset({"amx_bf16"}))
    monkeypatch.setenv("CYCLEGAN_PRECISION", "float32")
    assert accel.inference_dtype(wide, CPU) == torch.float32
    monkeypatch.setenv("CYCLEGAN_PRECISION", "half")
    with pytest.raises(UserInputError, match="CYCLEGAN_PRECISION must be one of auto, float32, bfloat16"):
        accel.inference_dtype(wide, CPU)


def test_bf16_runs_torch_convs_and_stays_close_to_float32(monkeypatch):
    model = wide_model()
    x = torch.rand(1, 3, 48, 40)
    calls = []
    real = torch._nnpack_spatial_convolution
    monkeypatch.setattr(torch, "_nnpack_spatial_convolution", lambda *a, **k: calls.append(1) or real(*a, **k))
    monkeypatch.setenv("CYCLEGAN_PRECISION", "float32")
    f32 = model.translate_tensor(x, "a2b")
    nnpack_calls = len(calls)
    monkeypatch.setenv("CYCLEGAN_PRECISION", "bfloat16")
    seen = []
    model.G_AB.model[1].register_forward_pre_hook(lambda m, a: seen.append(torch.is_autocast_enabled("cpu")))
    bf = model.translate_tensor(x, "a2b")
    assert seen == [True] and len(calls) == nnpack_calls     # no NNPACK call under autocast
    assert bf.dtype == torch.float32 and bf.shape == x.shape
    err = (bf - f32).abs()
    assert 0 < float(err.max()) < 0.05                       # it did run in bf16, and closely
    psnr = 10 * math.log10(1 / float((err ** 2).mean()))
    assert psnr > 35


def test_cli_float32_switch(tmp_path, monkeypatch):
    src = tmp_path / "in.png"
    Image.new("RGB", (40, 32), (120, 80, 40)).save(src)
    monkeypatch.setenv("CYCLEGAN_PRECISION", "bogus")
    assert cli_main(["translate", "--model", "demo:cyclegan", str(src), "-o", str(tmp_path / "a.png")]) == 2
    assert cli_main(["translate", "--model", "demo:cyclegan", "--float32", str(src), "-o",
                     str(tmp_path / "b.png")]) == 0
    assert Image.open(tmp_path / "b.png").size == (40, 32)
    import os
    assert os.environ["CYCLEGAN_PRECISION"] == "float32"


def test_cpu_training_takes_bf16_where_the_hardware_has_it_unless_told(tmp_path, monkeypatch):
    from train import TrainConfig, Trainer
    base = dict(data="demo:daynight", scale="quick", size=32, steps=2, batch=2, score_every=0, device="cpu",
                threads=1, log_every=1, sample_every=100, checkpoint_every=100)
    monkeypatch.setattr(accel, "cpu_flags", lambda: frozenset({"avx512f", "avx512_bf16"}))
    monkeypatch.delenv("CYCLEGAN_CPU_BF16", raising=False)
    monkeypatch.delenv("CYCLEGAN_PRECISION", raising=False)
    tr = Trainer(TrainConfig(out=str(tmp_path / "b"), **base))
    assert tr.amp
    seen = []
    tr.model.G_AB.register_forward_hook(lambda m, a, out: seen.append(out.dtype))
    losses = tr.train_step()
    assert torch.bfloat16 in seen and all(math.isfinite(float(v)) for v in losses.values())
    assert all(p.dtype == torch.float32 for p in tr.model.parameters())     # float32 master weights
    # each switch keeps float32
    assert not Trainer(TrainConfig(out=str(tmp_path / "n"), amp=False, **base)).amp
    monkeypatch.setenv("CYCLEGAN_CPU_BF16", "0")
    assert not Trainer(TrainConfig(out=str(tmp_path / "a"), **base)).amp
    monkeypatch.delenv("CYCLEGAN_CPU_BF16")
    monkeypatch.setenv("CYCLEGAN_PRECISION", "float32")
    assert not Trainer(TrainConfig(out=str(tmp_path / "p"), **base)).amp
    monkeypatch.delenv("CYCLEGAN_PRECISION")
    # no bf16 hardware: float32, even when asked
    monkeypatch.setattr(accel, "cpu_flags", lambda: frozenset({"avx2"}))
    monkeypatch.setenv("CYCLEGAN_CPU_BF16", "1")
    assert not Trainer(TrainConfig(out=str(tmp_path / "c"), **base)).amp
