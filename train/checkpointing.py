"""Run folders and atomic checkpoints: a checkpoint is written to a temporary folder, fsynced,
then renamed into place, so a crash or a full disk never leaves a half checkpoint that looks whole."""
import os
import shutil
import time
from pathlib import Path

STATE_JSON = "training_state.json"
STATE_TENSORS = "training_state.safetensors"
PREFIX = "step_"


def checkpoint_name(step: int) -> str:
    return f"{PREFIX}{step:06d}"


def _fsync_tree(folder: Path) -> None:
    for p in folder.iterdir():
        if p.is_file():
            with open(p, "rb") as f:
                os.fsync(f.fileno())
    _fsync_dir(folder)


def _fsync_dir(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_atomically(ckpt_root: Path, step: int, write) -> Path:
    """`write(tmp_folder)` fills the folder; it becomes `step_NNNNNN` only once complete."""
    ckpt_root.mkdir(parents=True, exist_ok=True)
    final = ckpt_root / checkpoint_name(step)
    tmp = ckpt_root / f".tmp-{checkpoint_name(step)}-{os.getpid()}-{time.monotonic_ns()}"
    try:
        tmp.mkdir()
        write(tmp)
        _fsync_tree(tmp)
        if final.exists():
            shutil.rmtree(final)
        os.replace(tmp, final)
        _fsync_dir(ckpt_root)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return final


def point_latest(run_dir: Path, target: Path) -> None:
    """RUN/latest -> checkpoints/step_N, swapped atomically (symlink where the OS allows)."""
    link = run_dir / "latest"
    tmp = run_dir / f".latest-{os.getpid()}"
    rel = os.path.relpath(target, run_dir)
    try:
        if tmp.is_symlink() or tmp.exists():
            tmp.unlink()
        os.symlink(rel, tmp, target_is_directory=True)
        os.replace(tmp, link)
    except OSError:
        (run_dir / "latest.txt").write_text(rel)


def complete_checkpoints(ckpt_root: Path) -> list[Path]:
    """Finished checkpoints, newest first; temp folders from an interrupted write are ignored."""
    if not ckpt_root.is_dir():
        return []
    found = [p for p in ckpt_root.iterdir() if p.is_dir() and p.name.startswith(PREFIX)
             and (p / STATE_JSON).is_file() and (p / STATE_TENSORS).is_file() and (p / "model.safetensors").is_file()]
    return sorted(found, key=lambda p: int(p.name[len(PREFIX):]), reverse=True)


def prune(ckpt_root: Path, keep: int) -> None:
    for old in complete_checkpoints(ckpt_root)[keep:]:
        shutil.rmtree(old, ignore_errors=True)
    for tmp in ckpt_root.glob(".tmp-*"):
        shutil.rmtree(tmp, ignore_errors=True)
