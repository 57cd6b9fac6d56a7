"""A training run in a background thread, for the app: start / pause / resume / stop and a
thread-safe snapshot the page polls. Whatever happens inside, the process keeps serving."""
import logging
import threading
import time
import traceback
from pathlib import Path

from cyclegan.errors import UserInputError

from .config import TrainConfig
from .trainer import Diverged, Hooks, Trainer

log = logging.getLogger("cyclegan.train")
ACTIVE = ("starting", "running", "paused", "stopping")


class Run:
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
    def run_dir(self) -> Path:
        return Path(self.cfg.out)

    # --- what the page shows ---------------------------------------------------------------
    def snapshot(self) -> dict:
        with self._lock:
            eta = None
            if self._rate and self.state in ("running", "starting"):
                eta = (self.total - self.step) / self._rate
            return {"state": self.state, "step": self.step, "total": self.total, "error": self.error,
                    "history": list(self.history), "losses": dict(self.history[-1]) if self.history else {},
                    "latest_sample": str(self.latest_sample) if self.latest_sample else None,
                    "latest_checkpoint": str(self.latest_checkpoint) if self.latest_checkpoint else None,
                    "it_per_s": self._rate, "eta_s": eta, "device": self.device, "run_dir": str(self.run_dir),
                    "arch": self.cfg.arch, "started_at": self.started_at, "finished_at": self.finished_at,
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

            def on_checkpoint(self, path):
                if path is not None:
                    with run._lock:
                        run.latest_checkpoint = path
                        run._note(f"checkpoint {path.name}")

        import torch
        threads_before = torch.get_num_threads()   # torch's thread count is process-wide: give it back
        try:
            with self._lock:
                self._note(f"preparing {self.cfg.arch} ({self.cfg.variant}) on {self.cfg.data}")
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
