"""A training run in a background thread (start / pause / resume / stop and a thread-safe
snapshot to poll), and the slot that allows one such run per process. Whatever happens inside a
run, the process keeps serving."""
import logging
import threading
import time
import traceback
from pathlib import Path

import torch

from cyclegan.errors import UserInputError

from .config import TrainConfig
from .runs import RunDir
from .trainer import Diverged, Hooks, Trainer

log = logging.getLogger("cyclegan.train")
ACTIVE = ("starting", "running", "paused", "stopping")


class Run:
    """One Trainer on a background thread, steered from other threads: a server's handlers call
    start / pause / resume / stop and read `snapshot()`, while the loop runs between their calls.
    Errors end the run in state 'error' or 'diverged' with a message; they never escape the thread."""

    def __init__(self, cfg: TrainConfig, resume: bool = False):
        self.cfg = cfg
        self.resume_requested = resume
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._unpaused = threading.Event()
        self._unpaused.set()
        self._thread: threading.Thread | None = None
        self._trainer: Trainer | None = None
        self.state = "idle"
        self.error: str | None = None
        self.step, self.total = 0, cfg.steps
        self.history: list[dict] = []
        self.latest_sample: Path | None = None
        self.sample_scores: dict | None = None
        self.latest_checkpoint: Path | None = None
        self.device = "?"
        self.started_at: float | None = None
        self.finished_at: float | None = None
        self.log_lines: list[str] = []
        self._first_step_at: float | None = None
        self._rate: float | None = None

    # --- control ---------------------------------------------------------------------------
    def start(self) -> "Run":
        with self._lock:
            if self.state != "idle":
                raise UserInputError(f"this run was already started (state: {self.state})")
            self.state = "starting"
            self.started_at = time.time()
        self._thread = threading.Thread(target=self._main, name="cyclegan-train", daemon=True)
        self._thread.start()
        return self

    def pause(self) -> None:
        with self._lock:
            if self.state == "running":
                self._unpaused.clear()
                self.state = "paused"
                self._note("paused")

    def resume(self) -> None:
        with self._lock:
            if self.state == "paused":
                self.state = "running"
                self._unpaused.set()
                self._note("resumed")

    def stop(self) -> None:
        """Takes effect after the step in progress; a final checkpoint is written."""
        with self._lock:
            if self.state in ("starting", "running", "paused"):
                self.state = "stopping"
                self._note("stopping after the current step")
            self._stop.set()
            self._unpaused.set()

    def join(self, timeout: float | None = None) -> None:
        if self._thread:
            self._thread.join(timeout)

    @property
    def active(self) -> bool:
        return self.state in ACTIVE

    @property
    def folder(self) -> RunDir:
        return RunDir(self.cfg.out)

    @property
    def run_dir(self) -> Path:
        return self.folder.path

    # --- what the page shows ---------------------------------------------------------------
    def snapshot(self) -> dict:
        with self._lock:
            eta = None
            if self._rate and self.state in ("running", "starting"):
                eta = (self.total - self.step) / self._rate
            return {"state": self.state, "step": self.step, "total": self.total, "error": self.error,
                    "history": list(self.history), "losses": dict(self.history[-1]) if self.history else {},
                    "latest_sample": str(self.latest_sample) if self.latest_sample else None,
                    "sample_scores": dict(self.sample_scores) if self.sample_scores else None,
                    "latest_checkpoint": str(self.latest_checkpoint) if self.latest_checkpoint else None,
                    "it_per_s": self._rate, "eta_s": eta, "device": self.device, "run_dir": str(self.run_dir),
                    "arch": self.cfg.arch, "recipe": self.cfg.recipe, "scale": self.cfg.scale, "started_at": self.started_at, "finished_at": self.finished_at,
                    "log": list(self.log_lines[-50:])}

    def _note(self, msg: str) -> None:
        self.log_lines.append(f"{time.strftime('%H:%M:%S')} {msg}")

    # --- the thread --------------------------------------------------------------------------
    def _main(self) -> None:
        run = self

        class RunHooks(Hooks):
            def should_stop(self):
                return run._stop.is_set()

            def wait_if_paused(self):
                while not run._unpaused.wait(0.2):
                    if run._stop.is_set():
                        return

            def on_log(self, rec):
                with run._lock:
                    run.history.append(rec)
                    run.step = rec["step"]
                    if rec.get("sec_per_step"):
                        run._rate = 1.0 / rec["sec_per_step"]
                    parts = [f"{k}={v:.3f}" for k, v in rec.items() if k not in ("step", "time", "lr", "sec_per_step", "images_per_s")]
                    run._note(f"step {rec['step']}: " + " ".join(parts[:8]))

            def on_sample(self, path):
                with run._lock:
                    run.latest_sample = path
                    if run._trainer is not None:     # a demo world: the grid scored against its ground truth
                        run.sample_scores = run._trainer.last_sample_scores

            def on_checkpoint(self, path):
                if path is not None:
                    with run._lock:
                        run.latest_checkpoint = path
                        run._note(f"checkpoint {path.name}")

        threads_before = torch.get_num_threads()   # torch's thread count is process-wide: give it back
        try:
            with self._lock:
                self._note(f"preparing {self.cfg.preset().key} on {self.cfg.data}")
            trainer = Trainer(self.cfg, resume=self.resume_requested, log=lambda m: self._note(m))
            with self._lock:
                self._trainer = trainer
                self.device = str(trainer.device)
                self.total = trainer.cfg.steps
                self.step = trainer.step
                if self.state == "starting":
                    self.state = "running"
                self._note(f"training on {self.device}, {trainer.preset.batch_size} images per step")
            status = trainer.train(RunHooks())
            with self._lock:
                self.state = status
                self.step = trainer.step
                self._note(f"{status} at step {trainer.step}")
        except Diverged as e:
            with self._lock:
                self.state, self.error = "diverged", f"{e}; the last good checkpoint is kept"
                self._note(self.error)
        except UserInputError as e:
            with self._lock:
                self.state, self.error = "error", str(e)
                self._note(f"error: {e}")
        except Exception as e:  # a bug or a broken environment: keep the server alive, say what happened
            log.error("training run failed:\n%s", traceback.format_exc())
            with self._lock:
                self.state, self.error = "error", f"{type(e).__name__}: {e}"
                self._note(f"error: {self.error}")
        finally:
            torch.set_num_threads(threads_before)
            with self._lock:
                self.finished_at = time.time()
                self._trainer = None


class RunSlot:
    """At most one training run per process, which every caller sees: two visitors of a server
    pressing Start at the same moment get one run, and the other is told why."""

    def __init__(self):
        self._lock = threading.Lock()
        self.run: Run | None = None

    def start(self, cfg: TrainConfig) -> Run:
        with self._lock:
            if self.run is not None and self.run.active:
                s = self.run.snapshot()
                raise UserInputError(f"a run is in progress ({s['state']}, step {s['step']}/{s['total']}, "
                                     f"{Path(s['run_dir']).name}): stop it or wait for it to finish before "
                                     "starting another")
            self.run = Run(cfg).start()
            return self.run

    def current(self) -> Run:
        if self.run is None:
            raise UserInputError("no training run yet: start one first")
        return self.run

    def snapshot(self) -> dict | None:
        run = self.run
        return run.snapshot() if run is not None else None

    def status(self) -> dict:
        """The snapshot without its long lists (a count and the last log lines instead), plus
        `model`: what to load to translate with the run's newest checkpoint."""
        snap = self.snapshot()
        if snap is None:
            return {"state": "idle", "step": 0, "total": 0, "losses": {}, "latest_sample": None,
                    "latest_checkpoint": None, "model": None, "message": "no training run yet"}
        out = {k: v for k, v in snap.items() if k not in ("history", "log")}
        out["points"] = len(snap["history"])
        out["log"] = snap["log"][-10:]
        model = RunDir(snap["run_dir"]).newest_checkpoint() if snap.get("latest_checkpoint") else None
        out["model"] = str(model) if model else snap.get("latest_checkpoint")
        return out

    def stop_and_wait(self, timeout: float | None = None) -> None:
        """Stop the active run, if any, and wait for its final checkpoint."""
        run = self.run
        if run is not None and run.active:
            run.stop()
            run.join(timeout)
