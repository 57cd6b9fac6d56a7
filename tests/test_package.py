"""The package: pyproject.toml agrees with requirements.txt, and `pip install .` into a fresh
virtual environment gives working `cyclegan` and `cyclegan-train` commands that use the
installed copy (demo models included), not this source tree."""
import os
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]


def _requirement_lines(path: Path) -> set[str]:
    out = set()
    for line in path.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line and not line.startswith("-r"):
            out.add(line.replace(" ", ""))
    return out


def _expand(project: dict, extras: list[str]) -> set[str]:
    """The requirements of some extras, with `cyclegan-studio[a,b]` self-references followed."""
    name = project["name"]
    out, todo, seen = set(), list(extras), set()
    while todo:
        extra = todo.pop()
        if extra in seen:
            continue
        seen.add(extra)
        for req in project["optional-dependencies"][extra]:
            m = re.fullmatch(rf"{re.escape(name)}\[([\w,-]+)\]", req.replace(" ", ""))
            if m:
                todo += m.group(1).split(",")
            else:
                out.add(req.replace(" ", ""))
    return out


def test_requirements_txt_is_the_package_plus_its_app_extra():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    base = {r.replace(" ", "") for r in project["dependencies"]}
    assert _requirement_lines(ROOT / "requirements.txt") == base | _expand(project, ["app"])
    dev = _requirement_lines(ROOT / "requirements-dev.txt")
    assert dev == _expand(project, ["dev"]) - _expand(project, ["app"]), "requirements-dev.txt drifted from the dev extra"
    assert set(project["scripts"]) == {"cyclegan", "cyclegan-train", "cyclegan-studio"}


def test_console_entry_points_exist_and_name_themselves(capsys):
    import cyclegan.cli
    import train.cli
    with pytest.raises(SystemExit) as e:
        cyclegan.cli.main(["--help"], prog="cyclegan")
    assert e.value.code == 0 and capsys.readouterr().out.startswith("usage: cyclegan ")
    with pytest.raises(SystemExit) as e:
        train.cli.main(["--help"], prog="cyclegan-train")
    assert e.value.code == 0 and capsys.readouterr().out.startswith("usage: cyclegan-train ")
    assert callable(cyclegan.cli.run) and callable(train.cli.run)


@pytest.mark.slow
def test_pip_install_in_a_fresh_venv(tmp_path):
    """--system-site-packages lends torch & co. to the venv (nothing is downloaded); the package
    itself is built from a copy of the tracked files and installed without build isolation."""
    files = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard"], cwd=ROOT, capture_output=True, text=True, check=True).stdout.split()
    src = tmp_path / "src"
    for rel in files:
        if (ROOT / rel).is_file():
            (src / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / rel, src / rel)
    venv = tmp_path / "venv"
    # Without the venv's own (older) pip and setuptools: this pip installs into it, and the build
    # uses the setuptools it sees through the system site-packages (no build isolation: offline).
    subprocess.run([sys.executable, "-m", "venv", "--system-site-packages", "--without-pip", str(venv)], check=True)
    bin_ = venv / "bin"
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env.update(PIP_DISABLE_PIP_VERSION_CHECK="1", PIP_NO_INDEX="1", HF_HUB_OFFLINE="1")
    r = subprocess.run([sys.executable, "-m", "pip", "--python", str(bin_ / "python"), "install", "-q", "--no-deps",
                        "--no-build-isolation", str(src)], env=env, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]

    work = tmp_path / "work"              # not the source tree: the installed copy must answer
    work.mkdir()
    where = subprocess.run([str(bin_ / "python"), "-c", "import cyclegan, train; print(cyclegan.__file__); "
                            "print(train.__file__); print(cyclegan.__version__)"],
                           cwd=work, env=env, capture_output=True, text=True, check=True).stdout.split()
    assert all(str(venv) in p for p in where[:2]), where
    assert re.fullmatch(r"\d+\.\d+\.\d+", where[2])

    def cmd(*args):
        return subprocess.run([str(bin_ / args[0]), *args[1:]], cwd=work, env=env, capture_output=True, text=True,
                              timeout=300)

    for script in ("cyclegan", "cyclegan-train"):
        r = cmd(script, "--help")
        assert r.returncode == 0 and r.stdout.startswith(f"usage: {script} "), r.stderr
    Image.new("RGB", (40, 30), (200, 180, 90)).save(work / "in.png")
    r = cmd("cyclegan", "translate", "--model", "demo:cyclegan", "in.png", "-o", "out.png")
    assert r.returncode == 0, r.stderr
    assert Image.open(work / "out.png").size == (40, 30)
    r = cmd("cyclegan", "translate", "--model", "demo:nope", "in.png", "-o", "x.png")
    assert r.returncode == 2 and r.stderr.startswith("error: no built-in model"), r.stderr
    r = cmd("cyclegan-train", "--data", "demo:daynight", "--scale", "quick", "--size", "32", "--steps", "2",
            "--threads", "1", "--quiet", "--out", "runs/tiny")
    assert r.returncode == 0, r.stderr
    assert (work / "runs" / "tiny" / "latest" / "model.safetensors").is_file()
