"""The code's shape, checked: cyclegan/ has no import circle (function-level imports included)
and each of its modules imports on its own; importing the app writes nothing; the page leaves
the run folder's layout to train/runs.py."""
import ast
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
RUN_FOLDER_NAMES = ("latest.txt", "best.txt", "metrics.jsonl", "scores.jsonl", "checkpoints", "samples",
                    "model.safetensors")


def modules(package: str) -> dict[str, Path]:
    """Dotted name -> file, for every module of a package under ROOT."""
    out = {}
    for path in sorted((ROOT / package).rglob("*.py")):
        parts = list(path.relative_to(ROOT).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        out[".".join(parts)] = path
    return out


def imported(name: str, path: Path, known: dict) -> set[str]:
    """The package's own modules that `name` imports anywhere in its file (top level or inside
    a function: a circle held open by a late import is still a circle)."""
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")
                anchor = anchor[:len(anchor) - (node.level - 1)]
                base = ".".join(anchor + ([base] if base else []))
            targets = [base] + [f"{base}.{a.name}" for a in node.names]
        else:
            continue
        found |= {t for t in targets if t in known and t != name}
    return found


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(n):
        state[n] = 1
        stack.append(n)
        for m in sorted(graph[n]):
            if state.get(m) == 1:
                return stack[stack.index(m):] + [m]
            if m not in state and (cycle := visit(m)):
                return cycle
        state[n] = 2
        stack.pop()
        return None

    for n in sorted(graph):
        if n not in state and (cycle := visit(n)):
            return cycle
    return None


def test_cyclegan_has_no_import_circle():
    known = modules("cyclegan")
    graph = {name: imported(name, path, known) - {"cyclegan"} for name, path in known.items() if name != "cyclegan"}
    assert len(graph) > 20 and graph["cyclegan.checkpoints"] >= {"cyclegan.official", "cyclegan.hub"}
    assert find_cycle(graph) is None, " -> ".join(find_cycle(graph))
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]   # the check itself works


def test_each_cyclegan_module_imports_alone():
    """In one interpreter (torch loads once), each module imported with every cyclegan module
    forgotten first: an import order that only works after another module is caught here."""
    script = f"""
import importlib, sys, traceback
bad = []
for name in {sorted(m for m in modules("cyclegan") if not m.endswith("__main__"))!r}:
    for m in [m for m in sys.modules if m == "cyclegan" or m.startswith("cyclegan.")]:
        del sys.modules[m]
    try:
        importlib.import_module(name)
    except Exception:
        bad.append(name + ": " + traceback.format_exc().splitlines()[-1])
print("\\n".join(bad))
sys.exit(1 if bad else 0)
"""
    r = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=300,
                       env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"})
    assert r.returncode == 0, r.stdout + r.stderr[-2000:]


@pytest.mark.slow
def test_importing_the_app_writes_nothing(tmp_path):
    """`python -c "import app"` in a copy of the project: no file appears (no example pictures,
    no runs/ folder, no app.pyi), and it builds the page with the named endpoints."""
    copy = tmp_path / "project"
    shutil.copytree(ROOT, copy, ignore=shutil.ignore_patterns(".git", "__pycache__", "runs", "artifacts", "*.pyi"))
    before = sorted(p.relative_to(copy) for p in copy.rglob("*"))
    env = {k: v for k, v in os.environ.items() if not k.startswith("CYCLEGAN_")}
    env.update(PYTHONDONTWRITEBYTECODE="1", GRADIO_ANALYTICS_ENABLED="False")
    r = subprocess.run([sys.executable, "-c", "import app; print(sorted(d.api_name for d in app.demo.fns.values() "
                        "if d.api_name and d.api_visibility == 'public'))"],
                       cwd=copy, env=env, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-3000:]
    assert r.stdout.strip().splitlines()[-1] == str(sorted(["translate", "load_model", "load_official", "cancel_download", "translate_image", "translate_batch",
                                                            "live_frame", "translate_video", "train_start", "train_status",
                                                            "train_stop", "train_pause", "train_resume", "download_run"]))
    after = sorted(p.relative_to(copy) for p in copy.rglob("*"))
    assert after == before, sorted(set(after) - set(before))


def test_the_page_leaves_the_run_folder_to_train_runs():
    for path in sorted((ROOT / "ui").glob("*.py")):
        text = path.read_text()
        for name in RUN_FOLDER_NAMES:
            assert name not in text, f"{path.relative_to(ROOT)} names {name!r}: ask train/runs.py (RunDir)"


def test_small_modules():
    assert len((ROOT / "app.py").read_text().splitlines()) <= 40
    for path in sorted((ROOT / "ui").glob("*.py")):
        assert len(path.read_text().splitlines()) <= 350, path.name
