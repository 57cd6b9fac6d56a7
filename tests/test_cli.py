"""`python -m cyclegan translate / info`, run as a user would, in subprocesses. The processes
start together (each spends most of its time importing torch), then each test checks one. A few
more user errors go through the same `main()` in-process, to keep the suite fast."""
import dataclasses
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from cyclegan import CycleModel, get_preset, save_model
from cyclegan.nets import build_net, count_parameters
from cyclegan.presets import NetSpec

ROOT = Path(__file__).resolve().parents[1]


def _files(tmp: Path) -> dict:
    torch.manual_seed(0)
    p = get_preset("cyclegan", "quick", 32)
    p = dataclasses.replace(p, generator=NetSpec("resnet", {**p.generator.kwargs, "ngf": 4, "n_blocks": 1}))
    model = save_model(CycleModel(p, domains=("day", "night")), tmp / "model")
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


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    f = _files(tmp_path_factory.mktemp("cli"))
    env = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1"}
    procs = {k: subprocess.Popen([sys.executable, "-m", "cyclegan", *args], cwd=ROOT, env=env, text=True,
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE)
             for k, args in _commands(f).items()}
    out = {}
    for k, p in procs.items():
        stdout, stderr = p.communicate(timeout=180)
        out[k] = (p.returncode, stdout, stderr)
    return f, out


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
    g = count_parameters(build_net("resnet", {**get_preset("cyclegan", "quick", 32).generator.kwargs, "ngf": 4, "n_blocks": 1}))
    assert info["architecture"] == "cyclegan"
    assert info["parameters"] == {"G_AB": g, "G_BA": g}
    assert info["domains"] == ["day", "night"]
    assert info["image_size"] == 32
    assert [d["direction"] for d in info["directions"]] == ["a2b", "b2a"]
    assert info["directions"][0]["label"] == "day → night"


def test_missing_input_file(runs):
    assert_user_error(runs[1]["missing_input"], "file not found", "nope.png")


def test_direction_not_available(runs):
    assert_user_error(runs[1]["no_direction"], "not available", "B → A")


def in_process(capsys, *args):
    from cyclegan.cli import main
    try:
        code = main(list(args))
    except SystemExit as e:          # argparse exits by itself
        code = e.code
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_input_that_is_not_an_image(runs, capsys):
    f = runs[0]
    assert_user_error(in_process(capsys, "translate", "--model", f["model"], str(f["tmp"] / "fake.png"),
                                 "-o", str(f["tmp"] / "x.png")), "not an image", "fake.png", "web page")


def test_broken_checkpoint(runs, capsys):
    f = runs[0]
    assert_user_error(in_process(capsys, "translate", "--model", str(f["tmp"] / "garbage.pth"), str(f["tmp"] / "a.png"),
                                 "-o", str(f["tmp"] / "x.png")), "garbage.pth", "not a readable")
    assert_user_error(in_process(capsys, "info", str(f["tmp"] / "missing.safetensors")), "file not found")


def test_output_without_an_image_extension(runs, capsys):
    f = runs[0]
    assert_user_error(in_process(capsys, "translate", "--model", f["model"], str(f["tmp"] / "a.png"),
                                 "-o", str(f["tmp"] / "result.txt")), "image extension")


def test_bad_flag_is_one_line_too(runs, capsys):
    f = runs[0]
    assert_user_error(in_process(capsys, "translate", "--model", f["model"], "--direction", "sideways",
                                 str(f["tmp"] / "a.png"), "-o", str(f["tmp"] / "x.png")), "sideways")
    assert_user_error(in_process(capsys, "translate", "--model", f["model"], "--max-side", "0",
                                 str(f["tmp"] / "a.png"), "-o", str(f["tmp"] / "x.png")), "max-side")
