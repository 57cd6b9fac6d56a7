"""ONNX export: `python -m cyclegan export` writes one file per direction with dynamic batch,
height and width; onnxruntime gives the torch model's outputs (to 1e-4), and the exported folder
loads back as a model that `cyclegan eval` scores like the original."""
import json
import sys

import numpy as np
import pytest
import torch

from conftest import tiny_model
from cyclegan import UserInputError, load_model, save_model
from cyclegan.cli import main as cli

pytest.importorskip("onnxscript")
ort = pytest.importorskip("onnxruntime")


@pytest.fixture(scope="module")
def exported(tmp_path_factory, one_thread):
    out = tmp_path_factory.mktemp("onnx") / "cyclegan"
    assert cli(["export", "--model", "demo:cyclegan", "--format", "onnx", "-o", str(out)]) == 0
    return out


@pytest.mark.slow
def test_cli_writes_one_file_per_direction(exported, capsys):
    assert sorted(p.name for p in exported.iterdir()) == ["G_AB.onnx", "G_BA.onnx", "config.json", "onnx.json"]
    info = json.loads((exported / "onnx.json").read_text())
    assert info["files"] == {"a2b": "G_AB.onnx", "b2a": "G_BA.onnx"} and info["value_range"] == [-1.0, 1.0]
    import onnx
    proto = onnx.load(str(exported / "G_BA.onnx"))
    dims = [d.dim_param or d.dim_value for d in proto.graph.input[0].type.tensor_type.shape.dim]
    assert dims == ["batch", 3, "height", "width"]
    meta = {p.key: p.value for p in proto.metadata_props}
    assert meta["cyclegan.direction"] == "b2a" and meta["cyclegan.label"] == "night → day"


def test_onnxruntime_equals_torch(exported):
    """Raw sessions, no library code on the ONNX side: what a user of the bare files gets."""
    model = load_model("demo:cyclegan")
    for direction, name in (("a2b", "G_AB.onnx"), ("b2a", "G_BA.onnx")):
        sess = ort.InferenceSession(str(exported / name), providers=["CPUExecutionProvider"])
        for shape in ((1, 3, 64, 64), (2, 3, 48, 100)):         # not the export's shape: dynamic axes
            x = torch.rand(shape, generator=torch.Generator().manual_seed(sum(shape))) * 2 - 1
            with torch.no_grad():
                ref = model.generator(direction)(x).numpy()
            got = sess.run(None, {"image": x.numpy()})[0]
            assert got.shape == ref.shape
            np.testing.assert_allclose(got, ref, atol=1e-4, rtol=0)


def test_exported_folder_translates_and_evaluates_the_same(exported, tmp_path, capsys):
    onnx_model = load_model(str(exported))
    assert type(onnx_model.G_AB).__name__ == "OnnxGenerator"
    torch_model = load_model("demo:cyclegan")
    x = torch.rand(1, 3, 37, 53, generator=torch.Generator().manual_seed(1))   # padded and cropped back
    a, b = torch_model.translate_tensor(x, "a2b"), onnx_model.translate_tensor(x, "a2b")
    assert a.shape == b.shape == (1, 3, 37, 53)
    assert float((a - b).abs().max()) < 1e-4

    scores = []
    for spec in ("demo:cyclegan", str(exported)):
        assert cli(["eval", "--model", spec, "--data", "demo:daynight", "--n", "6"]) == 0
        scores.append(json.loads(capsys.readouterr().out))
    for d in ("a2b", "b2a"):
        assert scores[0][d]["psnr"] > 15                                         # a real translation
        assert abs(scores[0][d]["psnr"] - scores[1][d]["psnr"]) < 1e-3
    assert abs(scores[0]["cycle"]["a2b2a_l1"] - scores[1]["cycle"]["a2b2a_l1"]) < 1e-5


@pytest.mark.parametrize("arch", ["discogan", "dualgan"])
def test_other_architectures_export(arch, tmp_path, one_thread):
    """DiscoGAN (BatchNorm, sigmoid, [0, 1] range) and DualGAN (U-Net, dropout off in eval)."""
    from cyclegan.export import export_onnx, load_onnx
    model = tiny_model(arch, directions=("a2b",))
    result = export_onnx(model, tmp_path / arch)
    assert result["checked"] and result["max_abs_diff"]["a2b"] < 1e-4
    back = load_onnx(tmp_path / arch)
    assert back.directions == ("a2b",) and back.value_range == model.value_range
    x = torch.rand(2, 3, 70, 41, generator=torch.Generator().manual_seed(2))
    # the export is the deterministic net: torch's side without test-time sampling
    assert float((model.translate_tensor(x, "a2b", sample=False) - back.translate_tensor(x, "a2b")).abs().max()) < 1e-4


def test_mistakes_are_one_line(tmp_path, capsys, monkeypatch):
    folder = save_model(tiny_model(directions=("a2b",)), tmp_path / "one-way")
    assert cli(["export", "--model", str(folder), "--direction", "b2a", "-o", str(tmp_path / "x")]) == 2
    assert "only translates day → night" in capsys.readouterr().err
    with pytest.raises(SystemExit) as e:
        cli(["export", "--model", "demo:cyclegan", "--format", "tflite", "-o", str(tmp_path / "y")])
    assert e.value.code == 2
    assert "invalid choice: 'tflite'" in capsys.readouterr().err

    from cyclegan.export import export_onnx
    monkeypatch.setitem(sys.modules, "onnxscript", None)                    # as if not installed
    with pytest.raises(UserInputError, match=r"ONNX needs onnxscript.*pip install 'cyclegan-studio\[onnx\]'"):
        export_onnx(tiny_model(), tmp_path / "z")


def test_damaged_export_is_a_clear_error(exported, tmp_path):
    import shutil
    broken = tmp_path / "broken"
    shutil.copytree(exported, broken)
    (broken / "G_AB.onnx").write_bytes(b"not an onnx model")
    with pytest.raises(UserInputError, match="'G_AB.onnx' is not a loadable ONNX model"):
        load_model(str(broken))
    (broken / "G_AB.onnx").unlink()
    with pytest.raises(UserInputError, match="the ONNX file 'G_AB.onnx' named in onnx.json is missing"):
        load_model(str(broken))


@pytest.mark.slow
def test_bench_onnx_times_both_paths(capsys):
    from bench.__main__ import main as bench
    assert bench(["onnx", "--model", "demo:discogan", "--size", "64", "--n", "2", "--threads", "1"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["max_abs_diff"] < 1e-4 and out["onnx_bytes"] > 100_000
    assert out["torch_s_per_image"]["median_s"] > 0 and out["onnxruntime_s_per_image"]["median_s"] > 0
    assert out["onnxruntime_speedup"] == pytest.approx(
        out["torch_s_per_image"]["median_s"] / out["onnxruntime_s_per_image"]["median_s"], rel=1e-2)
