"""`python -m cyclegan`: every subcommand through its `main()`, in this process (a fresh
interpreter per command would cost seconds each on two cores); `test_real_processes` (slow stage)
runs the same commands as real processes."""
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from conftest import call_main, tiny_model, tiny_preset
from cyclegan import save_model
from cyclegan.cli import main
from cyclegan.nets import build_net, count_parameters

ROOT = Path(__file__).resolve().parents[1]


def _files(tmp: Path) -> dict:
    model = save_model(tiny_model(), tmp / "model")
    torch.save(build_net("resnet", {"ngf": 4, "n_blocks": 6}).state_dict(), tmp / "latest_net_G_B.pth")
    rng = np.random.default_rng(0)
    for name, (w, h) in {"a.png": (37, 23), "b.jpg": (20, 30)}.items():
        Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8)).save(tmp / name)
    (tmp / "fake.png").write_text("<html><body>not a picture</body></html>")
    (tmp / "garbage.pth").write_bytes(os.urandom(2000))
    return {"model": str(model), "tmp": tmp}


def _commands(f: dict) -> dict:
    tmp, model = f["tmp"], f["model"]
    return {
        "one": ["translate", "--model", model, "--direction", "a2b", str(tmp / "a.png"), "-o", str(tmp / "out" / "a_night.png")],
        "many": ["translate", "--model", model, "--direction", "b2a", str(tmp / "a.png"), str(tmp / "b.jpg"), "-o", str(tmp / "outdir")],
        "info": ["info", model],
        "missing_input": ["translate", "--model", model, str(tmp / "nope.png"), "-o", str(tmp / "x.png")],
        "no_direction": ["translate", "--model", str(tmp / "latest_net_G_B.pth"), "--direction", "a2b",
                         str(tmp / "a.png"), "-o", str(tmp / "x.png")],
    }


def run_main(capfd, *args) -> tuple[int, str, str]:
    """`python -m cyclegan ARGS`, in this process: (exit status, stdout, stderr)."""
    capfd.readouterr()
    try:
        code = main([str(a) for a in args])
    except SystemExit as e:          # argparse exits by itself
        code = e.code
    out, err = capfd.readouterr()
    return code, out, err


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    return _files(tmp_path_factory.mktemp("cli"))


def _captured(*args) -> tuple[int, str, str]:
    return call_main(main, *args)


@pytest.fixture(scope="module")
def runs(files):
    """Each command of the table, run once through main() as the shell would."""
    return files, {k: _captured(*args) for k, args in _commands(files).items()}


@pytest.mark.slow
def test_real_processes(tmp_path):
    """The same commands as real `python -m cyclegan` processes (started together: each spends
    most of its time importing torch): exit status, stdout and stderr as a shell sees them."""
    f = _files(tmp_path)
    env = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1"}
    procs = {k: subprocess.Popen([sys.executable, "-m", "cyclegan", *args], cwd=ROOT, env=env, text=True,
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE)
             for k, args in _commands(f).items()}
    out = {}
    for k, p in procs.items():
        stdout, stderr = p.communicate(timeout=180)
        out[k] = (p.returncode, stdout, stderr)
    assert out["one"][0] == 0 and out["one"][1].strip() == str(tmp_path / "out" / "a_night.png"), out["one"]
    assert out["many"][0] == 0 and len(out["many"][1].split()) == 2, out["many"]
    assert json.loads(out["info"][1])["domains"] == ["day", "night"]
    assert_user_error(out["missing_input"], "file not found", "nope.png")
    assert_user_error(out["no_direction"], "not available", "B → A")


def assert_user_error(result, *words):
    code, stdout, stderr = result
    assert code == 2, (code, stderr)
    lines = stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), stderr
    assert "Traceback" not in stderr
    for w in words:
        assert w in lines[0], lines[0]


def test_translate_one_file(runs):
    f, out = runs
    code, stdout, stderr = out["one"]
    assert code == 0, stderr
    target = f["tmp"] / "out" / "a_night.png"
    assert stdout.strip() == str(target)
    with Image.open(target) as img:
        assert img.size == (37, 23) and img.mode == "RGB"
        assert np.asarray(img).tolist() != np.asarray(Image.open(f["tmp"] / "a.png")).tolist()


def test_translate_many_files_into_a_folder(runs):
    f, out = runs
    code, stdout, stderr = out["many"]
    assert code == 0, stderr
    folder = f["tmp"] / "outdir"
    assert sorted(p.name for p in folder.iterdir()) == ["a_b2a.png", "b_b2a.png"]
    assert Image.open(folder / "b_b2a.png").size == (20, 30)
    assert len(stdout.strip().splitlines()) == 2


def test_info_prints_json(runs):
    f, out = runs
    code, stdout, stderr = out["info"]
    assert code == 0, stderr
    info = json.loads(stdout)
    g = count_parameters(build_net("resnet", tiny_preset().generator.kwargs))
    assert (info["architecture"], info["recipe"], info["scale"]) == ("cyclegan", "paper", "quick")
    assert info["parameters"] == {"G_AB": g, "G_BA": g}
    assert info["domains"] == ["day", "night"]
    assert info["image_size"] == 32
    assert [d["direction"] for d in info["directions"]] == ["a2b", "b2a"]
    assert info["directions"][0]["label"] == "day → night"


def test_missing_input_file(runs):
    assert_user_error(runs[1]["missing_input"], "file not found", "nope.png")


def test_direction_not_available(runs):
    assert_user_error(runs[1]["no_direction"], "not available", "B → A")


def test_input_that_is_not_an_image(files, capfd):
    f = files
    assert_user_error(run_main(capfd, "translate", "--model", f["model"], str(f["tmp"] / "fake.png"),
                                 "-o", str(f["tmp"] / "x.png")), "not an image", "fake.png", "web page")


def test_broken_checkpoint(files, capfd):
    f = files
    assert_user_error(run_main(capfd, "translate", "--model", str(f["tmp"] / "garbage.pth"), str(f["tmp"] / "a.png"),
                                 "-o", str(f["tmp"] / "x.png")), "garbage.pth", "not a readable")
    assert_user_error(run_main(capfd, "info", str(f["tmp"] / "missing.safetensors")), "file not found")


def test_output_without_an_image_extension(files, capfd):
    f = files
    assert_user_error(run_main(capfd, "translate", "--model", f["model"], str(f["tmp"] / "a.png"),
                                 "-o", str(f["tmp"] / "result.txt")), "image extension")


def test_bad_flag_is_one_line_too(files, capfd):
    f = files
    assert_user_error(run_main(capfd, "translate", "--model", f["model"], "--direction", "sideways",
                                 str(f["tmp"] / "a.png"), "-o", str(f["tmp"] / "x.png")), "sideways")
    assert_user_error(run_main(capfd, "translate", "--model", f["model"], "--max-side", "0",
                                 str(f["tmp"] / "a.png"), "-o", str(f["tmp"] / "x.png")), "max-side")


# --- eval and demo -----------------------------------------------------------------------------
def test_eval_prints_json(files, capfd):
    code, out, err = run_main(capfd, "eval", "--model", files["model"], "--n", "3", "--size", "32")
    assert code == 0, err
    r = json.loads(out)
    assert r["n"] == 3 and set(r) == {"n", "a2b", "b2a", "identity", "cycle", "translated"}
    assert 0 < r["a2b"]["psnr"] < 100 and r["identity"]["a2b"]["l1"] > 0.2   # day and night differ
    assert_user_error(run_main(capfd, "eval", "--model", files["model"], "--n", "0"), "at least 1")


def test_demo_export(tmp_path, capfd):
    code, out, err = run_main(capfd, "demo", "export", tmp_path, "--n", "3", "--size", "16", "--n-test", "2")
    assert code == 0, err
    summary = json.loads(out)
    assert summary["trainA"] == 3 and summary["testB"] == 2 and summary["world"] == "daynight"
    assert len(list((tmp_path / "trainB").glob("*.png"))) == 3
    assert_user_error(run_main(capfd, "demo", "export", tmp_path, "--name", "mars"), "known worlds")


def test_demo_grid(files, tmp_path, capfd):
    out_png = tmp_path / "grid.png"
    code, out, err = run_main(capfd, "demo", "grid", "--models", files["model"], "demo:dualgan", "--n", "2",
                              "--size", "16", "-o", out_png)
    assert code == 0, err
    with Image.open(out_png) as im:   # per direction a title row and 2 scenes: input | 2 models | truth
        assert im.size == (4 * 16 + 5 * 4, 18 + 2 * (18 + 2 * (16 + 4)) + 4)
    assert_user_error(run_main(capfd, "demo", "grid", "--models", "demo:nope", "-o", out_png), "no built-in model")
