"""The run folder, and the only code that knows its layout:

    RUN/config.json               the TrainConfig (what --resume reads back)
    RUN/metrics.jsonl             one JSON line per logged step
    RUN/scores.jsonl              one JSON line per live score (KID, random features)
    RUN/samples/step_NNNNNN.png   sample grids
    RUN/checkpoints/step_NNNNNN/  a model folder + training_state.{json,safetensors}
    RUN/latest -> checkpoints/step_NNNNNN   (RUN/latest.txt where links are not allowed)
    RUN/best -> checkpoints/step_NNNNNN     the best-scoring one, never pruned (or RUN/best.txt)
    RUN/data/                     a dataset zip (or a Hub dataset's parquet images), unpacked
    RUN/tb/                       TensorBoard events (with --log tensorboard), a mirror of the metrics

The Trainer, the background Run and the app all go through RunDir. A checkpoint is written to a
temporary folder, fsynced, then renamed into place, so a crash or a full disk never leaves a
half checkpoint that looks whole.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
import time
import zipfile
from dataclasses import dataclass
from pathlib import Path

from safetensors import SafetensorError

import cyclegan
from cyclegan.checkpoints import WEIGHTS
from cyclegan.errors import write_error

CONFIG = "config.json"
METRICS = "metrics.jsonl"
SCORES = "scores.jsonl"
SAMPLES = "samples"
CHECKPOINTS = "checkpoints"
DATA = "data"
TB = "tb"
LATEST = "latest"
LATEST_TXT = "latest.txt"
BEST = "best"
BEST_TXT = "best.txt"
STATE_JSON = "training_state.json"
STATE_TENSORS = "training_state.safetensors"
PREFIX = "step_"


def checkpoint_name(step: int) -> str:
    return f"{PREFIX}{step:06d}"


class RunDir:
    """One training run's folder. Everything that reads or writes inside it asks this class
    for the path, so a change of layout is a change here only."""

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        self._metric_listeners: list = []

    def __repr__(self) -> str:
        return f"RunDir({str(self.path)!r})"

    @property
    def name(self) -> str:
        return self.path.name

    # --- paths -------------------------------------------------------------------------------
    @property
    def config_path(self) -> Path:
        return self.path / CONFIG

    @property
    def metrics_path(self) -> Path:
        return self.path / METRICS

    @property
    def scores_path(self) -> Path:
        return self.path / SCORES

    @property
    def best(self) -> Path:
        """The `best` link: the checkpoint with the lowest live score so far."""
        return self.path / BEST

    @property
    def samples_dir(self) -> Path:
        return self.path / SAMPLES

    @property
    def checkpoints_dir(self) -> Path:
        return self.path / CHECKPOINTS

    @property
    def data_dir(self) -> Path:
        return self.path / DATA

    @property
    def tb_dir(self) -> Path:
        return self.path / TB

    @property
    def latest(self) -> Path:
        """The `latest` link: a model folder `cyclegan.load_model` opens."""
        return self.path / LATEST

    def sample_path(self, step: int) -> Path:
        return self.samples_dir / f"{checkpoint_name(step)}.png"

    def checkpoint_path(self, step: int) -> Path:
        return self.checkpoints_dir / checkpoint_name(step)

    @staticmethod
    def state_paths(checkpoint: Path) -> tuple[Path, Path]:
        """(json, tensors) of a checkpoint's training state."""
        return checkpoint / STATE_JSON, checkpoint / STATE_TENSORS

    # --- config and metrics ------------------------------------------------------------------
    def create(self) -> None:
        self.samples_dir.mkdir(parents=True, exist_ok=True)

    def write_config(self, cfg: dict) -> None:
        self.config_path.write_text(json.dumps(cfg, indent=2))

    def read_config(self) -> dict | None:
        """The saved TrainConfig as a dict, or None when there is none; a config.json that is
        there but unreadable is an error (resuming with defaults would train another run)."""
        if not self.config_path.is_file():
            return None
        try:
            cfg = json.loads(self.config_path.read_text())
        except (OSError, ValueError, RecursionError) as e:
            raise cyclegan.UserInputError(f"the config.json of run '{self.name}' is unreadable "
                                          f"({type(e).__name__}); it cannot be resumed") from None
        if not isinstance(cfg, dict):
            raise cyclegan.UserInputError(f"the config.json of run '{self.name}' does not hold a JSON object; "
                                          "it cannot be resumed")
        return cfg

    def append_metrics(self, record: dict) -> None:
        """One line of metrics.jsonl (the record of truth); then each listener (a TensorBoard
        mirror) hears it, whoever wrote it: the trainer's losses or a scorer's rows."""
        with open(self.metrics_path, "a") as fh:
            fh.write(json.dumps(record) + "\n")
        for listener in self._metric_listeners:
            listener(record)

    def on_metrics(self, listener) -> None:
        self._metric_listeners.append(listener)

    def truncate_metrics(self, step: int) -> None:
        """Keep the rows of metrics.jsonl and scores.jsonl up to `step` (a resumed run retrains
        what came after its checkpoint, so its rows would otherwise appear twice); each file is
        written whole, then renamed into place."""
        for path in (self.metrics_path, self.scores_path):
            if not path.is_file():
                continue
            lines = path.read_text().splitlines()
            kept = []
            for line in lines:
                try:
                    if json.loads(line).get("step", 0) <= step:
                        kept.append(line)
                except (ValueError, AttributeError):
                    continue   # a line cut by a crash
            if len(kept) != len(lines):
                tmp = path.with_suffix(".tmp")
                tmp.write_text("".join(line + "\n" for line in kept))
                os.replace(tmp, path)

    def read_metrics(self) -> list[dict]:
        if not self.metrics_path.is_file():
            return []
        return [json.loads(line) for line in self.metrics_path.read_text().splitlines() if line.strip()]

    def append_score(self, record: dict) -> None:
        """One line of scores.jsonl; the metrics listeners (a TensorBoard mirror) hear its numbers."""
        with open(self.scores_path, "a") as fh:
            fh.write(json.dumps(record) + "\n")
        shown = {k: v for k, v in record.items() if k in ("step", "time", "score") or k.startswith(("kid_", "identity_kid_"))}
        for listener in self._metric_listeners:
            listener(shown)

    def read_scores(self) -> list[dict]:
        """The live scores, one per step (a step scored twice, before and after a resume, counts
        once: the later line)."""
        if not self.scores_path.is_file():
            return []
        by_step = {}
        for line in self.scores_path.read_text().splitlines():
            try:
                rec = json.loads(line)
            except ValueError:
                continue                # a line cut short by a crash
            if isinstance(rec, dict) and "step" in rec:
                by_step[rec["step"]] = rec
        return [by_step[k] for k in sorted(by_step)]

    def samples(self) -> list[Path]:
        return sorted(self.samples_dir.glob(f"{PREFIX}*.png"))

    # --- checkpoints -------------------------------------------------------------------------
    def complete_checkpoints(self) -> list[Path]:
        """Finished checkpoints, newest first; temp folders from an interrupted write are ignored."""
        root = self.checkpoints_dir
        if not root.is_dir():
            return []
        found = [p for p in root.iterdir() if p.is_dir() and re.fullmatch(rf"{PREFIX}\d+", p.name)
                 and all(f.is_file() for f in (*self.state_paths(p), p / WEIGHTS))]
        return sorted(found, key=lambda p: int(p.name[len(PREFIX):]), reverse=True)

    def newest_checkpoint(self) -> Path | None:
        """The model to use from this run: `latest` (or what latest.txt names), else the newest
        complete checkpoint, else None."""
        found = self._linked(LATEST, LATEST_TXT)
        if found is not None:
            return found
        found = self.complete_checkpoints()
        return found[0] if found else None

    def best_checkpoint(self) -> Path | None:
        """`best` (or what best.txt names) when it leads to a model, else None."""
        return self._linked(BEST, BEST_TXT)

    def best_score(self, up_to_step: int | None = None) -> dict | None:
        """{step, score, checkpoint} of the best checkpoint, read back from the folder (what a resumed
        run compares new scores with); None when there is none, or it lies past `up_to_step`."""
        path = self.best_checkpoint()
        if path is None:
            return None
        target = path.resolve()
        scores = {r["step"]: r for r in self.read_scores() if isinstance(r.get("score"), (int, float))}
        step = int(target.name[len(PREFIX):]) if target.name.startswith(PREFIX) else None
        if step is None or step not in scores or (up_to_step is not None and step > up_to_step):
            return None
        return {"step": step, "score": scores[step]["score"], "checkpoint": str(target)}

    def _linked(self, link: str, txt: str) -> Path | None:
        if (self.path / link / WEIGHTS).is_file():
            return self.path / link
        note = self.path / txt
        if note.is_file():
            target = self.path / note.read_text().strip()
            # a name inside this run folder only (the app serves what it leads to by run:NAME)
            if target.resolve().is_relative_to(self.path.resolve()) and (target / WEIGHTS).is_file():
                return target
        return None

    def write_checkpoint(self, step: int, write, keep: int) -> Path:
        """`write(tmp_folder)` fills a temporary folder; it becomes checkpoints/step_N only once
        complete, then `latest` points at it and all but the newest `keep` are removed."""
        root = self.checkpoints_dir
        root.mkdir(parents=True, exist_ok=True)
        final = self.checkpoint_path(step)
        tmp = root / f".tmp-{final.name}-{os.getpid()}-{time.monotonic_ns()}"
        try:
            tmp.mkdir()
            write(tmp)
            _fsync_tree(tmp)
            if final.exists():
                shutil.rmtree(final)
            os.replace(tmp, final)
            _fsync_dir(root)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        self._point(LATEST, LATEST_TXT, final)
        self._prune(keep)
        return final

    def point_best(self, target: Path, keep: int | None = None) -> None:
        """RUN/best -> this checkpoint, which pruning then leaves alone; with `keep`, the
        previous best goes now unless it is among the newest `keep`."""
        self._point(BEST, BEST_TXT, Path(target))
        if keep is not None:
            self._prune(keep)

    def _point(self, link: str, txt: str, target: Path) -> None:
        """RUN/<link> -> checkpoints/step_N, swapped atomically (symlink where the OS allows,
        else RUN/<txt> holding the relative path)."""
        tmp = self.path / f".{link}-{os.getpid()}"
        rel = os.path.relpath(target, self.path)
        try:
            if tmp.is_symlink() or tmp.exists():
                tmp.unlink()
            os.symlink(rel, tmp, target_is_directory=True)
            os.replace(tmp, self.path / link)
        except OSError:
            (self.path / txt).write_text(rel)

    def _prune(self, keep: int) -> None:
        best = self.best_checkpoint()
        best = best.resolve() if best is not None else None
        for old in self.complete_checkpoints()[keep:]:
            if old.resolve() != best:
                shutil.rmtree(old, ignore_errors=True)
        for tmp in self.checkpoints_dir.glob(".tmp-*"):
            shutil.rmtree(tmp, ignore_errors=True)

    # --- export --------------------------------------------------------------------------------
    def export_zip(self, folder: str | os.PathLike | None = None) -> Path:
        """The newest model (generators only) with the sample grids, metrics and training config,
        as RUN_NAME.zip in a new temporary folder (inside `folder` when given) that the caller
        owns and removes; `cyclegan.load_model` reads it. Nothing is left behind on failure."""
        ckpt = self.newest_checkpoint()
        if ckpt is None:
            raise cyclegan.UserInputError("no checkpoint yet: a run writes one every few steps and when stopped")
        model = cyclegan.load_model(ckpt)
        tmpdir = Path(tempfile.mkdtemp(prefix="cyclegan-run-", dir=folder))
        out = tmpdir / f"{self.name}.zip"
        try:
            with tempfile.TemporaryDirectory() as tmp, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zf:
                saved = cyclegan.save_model(model, Path(tmp) / "model")
                for f in sorted(saved.iterdir()):
                    zf.write(f, f"{self.name}/model/{f.name}")
                for path, arc in ((self.metrics_path, METRICS), (self.config_path, "train_config.json")):
                    if path.is_file():
                        zf.write(path, f"{self.name}/{arc}")
                for f in self.samples():
                    zf.write(f, f"{self.name}/{SAMPLES}/{f.name}")
        except (OSError, SafetensorError) as e:
            shutil.rmtree(tmpdir, ignore_errors=True)
            raise write_error("the run zip", e) from None
        return out


def new_run_dir(root: str | os.PathLike, arch: str, name: str) -> RunDir:
    """A run folder under `root` that does not exist yet, named after the architecture, the data
    and the time (not created: the Trainer creates it when the run really starts)."""
    root = Path(root)
    name = re.sub(r"[^\w-]+", "-", name)[:30] or "data"
    base = f"{arch}-{name}-{time.strftime('%Y%m%d-%H%M%S')}"
    out, n = root / base, 1
    while out.exists():
        n += 1
        out = root / f"{base}-{n}"
    return RunDir(out)


@dataclass(frozen=True)
class RunInfo:
    name: str
    path: Path
    checkpoint: Path            # the model to load (see RunDir.newest_checkpoint)
    model: dict                 # cyclegan.summary of it: architecture, domains, provenance
    best: Path | None = None    # the best-scoring checkpoint (RUN/best), when the run scored itself
    best_model: dict | None = None


def list_runs(root: str | os.PathLike) -> list[RunInfo]:
    """The runs under `root` that have a checkpoint, newest first (folders starting with '.'
    are not runs)."""
    root = Path(root)
    if not root.is_dir():
        return []
    folders = [p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")]
    out = []
    for path in sorted(folders, key=lambda p: p.stat().st_mtime, reverse=True):
        run = RunDir(path)
        ckpt = run.newest_checkpoint()
        model = cyclegan.summary(ckpt) if ckpt else None
        if model:
            best = run.best_checkpoint()
            best_model = cyclegan.summary(best) if best else None
            out.append(RunInfo(path.name, path, ckpt, model, best if best_model else None, best_model))
    return out


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
