"""The app's disk: what visitors hand over is kept in a private folder that nothing Gradio serves,
and the runs folder is kept within its caps.

- The private folder (CYCLEGAN_PRIVATE_DIR; default: `.cyclegan-private` beside the runs
  folder, mode 700) holds uploaded dataset zips and models, the images unpacked from a zip while
  its run trains, and one small record per run started here (who owns it, as a hash; where its
  data is; whether it ended). Gradio serves only the runs folder (`allowed_paths`) and its own
  cache, so none of this has a URL; an upload is deleted from Gradio's cache as soon as it is
  copied here, and a run's data is deleted when the run ends.
- The runs folder is public by design (every visitor sees the run in progress and can use its
  model). Runs started by visitors are removed oldest first once they are older than
  CYCLEGAN_RUN_TTL_HOURS or beyond CYCLEGAN_MAX_RUNS / CYCLEGAN_MAX_RUNS_MB; runs that were
  already there (the owner's) are never removed.
"""
from __future__ import annotations

import json
import logging
import os
import re
import secrets
import shutil
import tempfile
import time
from pathlib import Path

from cyclegan import UserInputError, limits
from cyclegan.errors import write_error
from train.runs import RunDir

log = logging.getLogger("cyclegan.app")
_fallback: Path | None = None


def runs_dir() -> Path:
    return Path(os.environ.get("CYCLEGAN_RUNS_DIR") or "runs")


def private_dir() -> Path:
    """The private folder, created (mode 700) when first needed. If it cannot be made (a full or
    read-only disk), a temporary one is used so the app still starts."""
    global _fallback
    root = Path(os.environ.get("CYCLEGAN_PRIVATE_DIR") or runs_dir().resolve().parent / ".cyclegan-private")
    try:
        root.mkdir(mode=0o700, parents=True, exist_ok=True)
        return root
    except OSError as e:
        if _fallback is None:
            _fallback = Path(tempfile.mkdtemp(prefix="cyclegan-private-"))
            log.warning("cannot create the private folder %s (%s); using %s", root, e.strerror, _fallback)
        return _fallback


def _sub(name: str) -> Path:
    folder = private_dir() / name
    folder.mkdir(mode=0o700, exist_ok=True)
    return folder


def gradio_upload_dir() -> Path:
    from gradio.utils import get_upload_folder
    return Path(get_upload_folder()).resolve()


def _inside(path: Path, root: Path) -> bool:
    try:
        return path.resolve().is_relative_to(root.resolve())
    except OSError:
        return False


# --- uploads -------------------------------------------------------------------------------------
def keep_upload(srcs, kind: str) -> Path:
    """Copy uploaded files (a path or a list) into a new private folder (uploads/<random>/) and
    delete Gradio's copies, so they are reachable by no URL; returns the folder. A file that is
    not in Gradio's upload folder (a path on the server) is copied but never deleted."""
    srcs = [Path(p) for p in (srcs if isinstance(srcs, (list, tuple)) else [srcs])]
    for src in srcs:
        if not src.is_file():
            raise UserInputError(f"the uploaded {kind} is gone from the server (uploads are kept only until used): "
                                 "upload it again")
    folder = new_upload_folder()
    try:
        for i, src in enumerate(srcs):
            name = re.sub(r"[^\w.,() -]+", "_", src.name)[:120] or f"{kind}-{i}"
            dest = folder / name
            if dest.exists():
                dest = folder / f"{i}-{name}"
            shutil.copyfile(src, dest)
    except OSError as e:
        shutil.rmtree(folder, ignore_errors=True)
        raise write_error(f"the uploaded {kind}", e) from None
    upload_dir = gradio_upload_dir()
    for src in srcs:
        if _inside(src, upload_dir):
            forget_gradio_upload(src)
    return folder


def new_upload_folder() -> Path:
    folder = _sub("uploads") / secrets.token_hex(12)
    folder.mkdir(mode=0o700)
    return folder


def forget_gradio_upload(path: str | os.PathLike) -> None:
    """Delete a file from Gradio's upload folder (and its hash folder when that is now empty)."""
    path = Path(path)
    if not _inside(path, gradio_upload_dir()):
        return
    try:
        path.unlink(missing_ok=True)
        path.parent.rmdir()
    except OSError:
        pass


def prune_uploads(keep: int = 50) -> None:
    """Uploaded models stay while they may be translated with; the oldest go beyond `keep`."""
    folder = _sub("uploads")
    entries = sorted(folder.iterdir(), key=lambda p: p.stat().st_mtime, reverse=True)
    for old in entries[keep:]:
        shutil.rmtree(old, ignore_errors=True)


def uploaded_files(upload_id: str) -> list[Path]:
    """The files kept for `upload:ID` (sorted by name), or [] when there are none."""
    if not isinstance(upload_id, str) or not re.fullmatch(r"[0-9a-f]{24}", upload_id):
        return []
    folder = _sub("uploads") / upload_id
    return sorted(p for p in folder.iterdir() if p.is_file()) if folder.is_dir() else []


def remove_upload(path: str | os.PathLike | None) -> None:
    """Remove one kept upload (its whole uploads/<random>/ folder, given it or a file in it)."""
    if not path:
        return
    path, root = Path(path), _sub("uploads").resolve()
    folder = path if path.parent.resolve() == root else path.parent
    if folder.parent.resolve() == root:
        shutil.rmtree(folder, ignore_errors=True)


# --- run records -----------------------------------------------------------------------------------
def _record_path(run_name: str) -> Path:
    if not re.fullmatch(r"[\w.-]+", run_name) or run_name.startswith("."):
        raise UserInputError(f"no run {run_name!r}")
    return _sub("runs") / f"{run_name}.json"


def write_record(run_name: str, **fields) -> None:
    """Create or update the private record of a run started in the app."""
    path = _record_path(run_name)
    rec = read_record(run_name) or {"name": run_name, "created": time.time()}
    rec.update(fields)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(rec))
    os.replace(tmp, path)


def read_record(run_name: str) -> dict | None:
    try:
        rec = json.loads(_record_path(run_name).read_text())
    except (OSError, ValueError, UserInputError):
        return None
    return rec if isinstance(rec, dict) else None


def records() -> list[dict]:
    out = []
    for p in _sub("runs").glob("*.json"):
        rec = read_record(p.stem)
        if rec:
            out.append(rec)
    return sorted(out, key=lambda r: r.get("created", 0), reverse=True)


def data_dir(run_name: str) -> Path:
    """Where a run's uploaded zip is unpacked (private, removed when the run ends)."""
    _record_path(run_name)
    return _sub("data") / run_name


def end_run(run_name: str, state: str) -> None:
    """A run ended: its data is no longer needed, so it goes; the record says how it ended."""
    rec = read_record(run_name) or {}
    remove_upload(rec.get("data"))
    shutil.rmtree(data_dir(run_name), ignore_errors=True)
    write_record(run_name, ended=state, ended_at=time.time(), data=None)


def remove_run(run_name: str) -> None:
    shutil.rmtree(runs_dir() / run_name, ignore_errors=True)
    end_run(run_name, "removed")
    _record_path(run_name).unlink(missing_ok=True)


def interrupted_runs(active: str | None) -> list[dict]:
    """Runs started here that never ended (the server stopped under them), newest first."""
    return [r for r in records() if not r.get("ended") and r["name"] != active and (runs_dir() / r["name"]).is_dir()]


# --- caps ----------------------------------------------------------------------------------------------
def folder_mb(folder: Path) -> float:
    total = 0
    for root, _, files in os.walk(folder):
        for f in files:
            try:
                total += os.lstat(os.path.join(root, f)).st_size
            except OSError:
                pass
    return total / 1e6


def enforce_caps(active: str | None = None) -> None:
    """Remove visitors' ended runs, oldest first: those past CYCLEGAN_RUN_TTL_HOURS, then as
    many as needed to get under CYCLEGAN_MAX_RUNS and CYCLEGAN_MAX_RUNS_MB. Raises when the caps
    still cannot be met (the remaining runs are the owner's, or in use), so no run starts."""
    lim = limits.current()
    root = runs_dir()
    if not root.is_dir():
        return
    mine = [r for r in records() if r["name"] != active and (root / r["name"]).is_dir()]
    # ended runs by age, then interrupted ones (never ended: the server stopped under them)
    removable = (sorted((r for r in mine if r.get("ended")), key=lambda r: r.get("ended_at") or r.get("created", 0))
                 + sorted((r for r in mine if not r.get("ended")), key=lambda r: r.get("created", 0)))
    now = time.time()
    for r in list(removable):
        if lim.run_ttl_hours and now - (r.get("ended_at") or r.get("created", now)) > lim.run_ttl_hours * 3600:
            remove_run(r["name"])
            removable.remove(r)

    def runs() -> list[Path]:
        return [p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")]

    while lim.max_runs and len(runs()) >= lim.max_runs and removable:
        remove_run(removable.pop(0)["name"])
    while lim.max_runs_mb and folder_mb(root) >= lim.max_runs_mb and removable:
        remove_run(removable.pop(0)["name"])
    if lim.max_runs and len(runs()) >= lim.max_runs:
        raise UserInputError(f"the runs folder is full ({len(runs())} runs, this server's limit is {lim.max_runs}, "
                             "CYCLEGAN_MAX_RUNS): try again later")
    if lim.max_runs_mb and (mb := folder_mb(root)) >= lim.max_runs_mb:
        raise UserInputError(f"the runs folder is full ({mb:,.0f} MB, this server's limit is {lim.max_runs_mb:,} MB, "
                             "CYCLEGAN_MAX_RUNS_MB): try again later")


def run_folder(name: str) -> RunDir | None:
    """The run folder `name` (a plain folder name directly under the runs folder), or None."""
    if not isinstance(name, str) or not re.fullmatch(r"[\w.-]+", name) or name.startswith("."):
        return None
    folder = runs_dir() / name
    return RunDir(folder) if folder.is_dir() else None
