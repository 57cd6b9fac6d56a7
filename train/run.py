"""A training run in a background thread (start / pause / resume / stop and a thread-safe
snapshot to poll), and the slot that allows one such run per process. Whatever happens inside a
run, the process keeps serving."""
import logging
import threading
import time
import traceback
from pathlib import Path

import torch

from cyclegan.errors import UserInputError, os_reason, short_name, write_error
from cyclegan.zoo import DownloadCancelled

from .config import TrainConfig
from .runs import RunDir
from .trainer import WRITE_ERRORS, Diverged, Hooks, Trainer

log = logging.getLogger("cyclegan.train")
ACTIVE = ("starting", "running", "paused", "stopping")


class Run:
    """One Trainer on a background thread, steered from other threads: a server's handlers call
    start / pause / resume / stop and read `snapshot()`, while the loop runs between their calls.
    Errors end the run in state 'error' or 'diverged' with a message; they never escape the thread."""

    def __init__(self, cfg: TrainConfig, resume: bool = False, data_source: str | None = None,
                 workdir: str | None = None, owner: str | None = None, max_minutes: float = 0, on_end=None,
                 init_source=None):
        """`data_source` and `workdir` go to the Trainer (where the data really is, where a zip
        is unpacked); `owner` is an opaque id of who may control the run (the app keeps a hash
        there); after `max_minutes` of wall time (0: no limit) the run stops with a checkpoint;
        `on_end(run)` is called once the thread is done, whatever happened. `init_source` is what
        the Trainer starts from instead of loading cfg.init itself (the app's resolved model)."""
        self.cfg = cfg
        self.resume_requested = resume
        self.data_source, self.workdir, self.owner = data_source, workdir, owner
        self.init_source = init_source
        self.max_minutes, self.on_end = float(max_minutes or 0), on_end
        self.notice: str | None = None     # why a run stopped when nobody pressed Stop
        self.data_note: str | None = None  # files of the data left out (unreadable, not images)
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
        self.scores: list[dict] = []
        self.best: dict | None = None          # {step, score, checkpoint} of RUN/best
        self.sample_columns: tuple[str, ...] | None = None
        self.domains: tuple[str, str] | None = None
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
                    "scores": list(self.scores), "best": dict(self.best) if self.best else None,
                    "sample_columns": self.sample_columns, "domains": self.domains,
                    "latest_sample": str(self.latest_sample) if self.latest_sample else None,
                    "sample_scores": dict(self.sample_scores) if self.sample_scores else None,
                    "latest_checkpoint": str(self.latest_checkpoint) if self.latest_checkpoint else None,
                    "it_per_s": self._rate, "eta_s": eta, "device": self.device, "run_dir": str(self.run_dir),
                    "arch": self.cfg.arch, "recipe": self.cfg.recipe, "scale": self.cfg.scale,
                    "started_at": self.started_at, "finished_at": self.finished_at, "notice": self.notice,
                    "data_note": self.data_note, "log": list(self.log_lines[-50:])}

    def _download_note(self, done: int, total: int | None) -> None:
        """Downloads before training (official: data, --init) in the log, every few seconds; Stop cancels them."""
        now = time.monotonic()
        if done and total != done and now - getattr(self, "_last_download_note", 0.0) < 2.0:
            return
        self._last_download_note = now
        of = f" of {total / 1e6:,.1f} MB" if total else " MB"
        with self._lock:
            self._note(f"downloading: {done / 1e6:,.1f}{of}")

    def _note(self, msg: str) -> None:
        self.log_lines.append(f"{time.strftime('%H:%M:%S')} {msg}")

    # --- the thread --------------------------------------------------------------------------
    def _main(self) -> None:
        run = self

        class RunHooks(Hooks):
            def should_stop(self):
                if (run.max_minutes and not run._stop.is_set() and run.started_at
                        and time.time() - run.started_at > run.max_minutes * 60):
                    with run._lock:
                        run.notice = (f"stopped after {run.max_minutes:g} min, this server's limit per run "
                                      "(CYCLEGAN_MAX_RUN_MINUTES); the final checkpoint is kept")
                        run._note(run.notice)
                    run.stop()
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
                        best = run._trainer.best if run._trainer is not None else None
                        if best != run.best:
                            run.best = best
                            run._note(f"checkpoint {path.name} (best so far)")
                        else:
                            run._note(f"checkpoint {path.name}")

            def on_score(self, rec):
                with run._lock:
                    run.scores.append(rec)
                    kids = ", ".join(f"{d} {rec[f'kid_{d}']:.4f} (untranslated {rec[f'identity_kid_{d}']:.4f})"
                                     for d in ("a2b", "b2a") if f"kid_{d}" in rec)
                    share = rec.get("fraction_of_wall_time")
                    run._note(f"step {rec['step']}: KID (random features) {kids}; {rec['seconds']:.2f} s"
                              + (f", {100 * share:.1f}% of the time" if share is not None else ""))

        threads_before = torch.get_num_threads()   # torch's thread count is process-wide: give it back
        try:
            with self._lock:
                self._note(f"preparing {self.cfg.preset().key} on {self.cfg.data}")
            trainer = Trainer(self.cfg, resume=self.resume_requested, log=lambda m: self._note(m),
                              data_source=self.data_source, workdir=self.workdir, init_source=self.init_source,
                              progress=self._download_note, cancel=self._stop)
            with self._lock:
                self._trainer = trainer
                self.device = str(trainer.device)
                self.best = trainer.best
                self.sample_columns = trainer.sample_columns
                self.domains = tuple(trainer.model.domains)
                self.data_note = trainer.data.report.note()
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
                self.state, self.error = "diverged", str(e)
                self._note(self.error)
        except DownloadCancelled:
            with self._lock:
                self.state = "stopped"
                self._note("stopped while downloading; nothing of the download was kept")
        except (UserInputError, *WRITE_ERRORS) as e:    # what a person can act on, in one line
            if isinstance(e, UserInputError):
                msg = str(e)
            elif isinstance(e, OSError):
                msg = os_reason(e) + (f": '{short_name(e.filename)}'" if e.filename else "")
            else:
                msg = str(write_error("the run's files", e))
            with self._lock:
                self.state, self.error = "error", msg
                self._note(f"error: {msg}")
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
            if self.on_end is not None:
                try:
                    self.on_end(self)
                except Exception:  # cleaning up must never take the server down
                    log.error("after the run:\n%s", traceback.format_exc())


class RunSlot:
    """At most one training run per process, which every caller sees: two visitors of a server
    pressing Start at the same moment get one run, and the other is told why."""

    def __init__(self):
        self._lock = threading.Lock()
        self.run: Run | None = None

    def start(self, cfg: TrainConfig, before=None, **run_kwargs) -> Run:
        """Start `cfg` unless a run is active; `before()` runs first under the slot's lock (the
        app frees disk there), and `run_kwargs` go to Run."""
        with self._lock:
            if self.run is not None and self.run.active:
                s = self.run.snapshot()
                raise UserInputError(f"a run is in progress ({s['state']}, step {s['step']}/{s['total']}, "
                                     f"{Path(s['run_dir']).name}): stop it or wait for it to finish before "
                                     "starting another")
            if before is not None:
                before()
            self.run = Run(cfg, **run_kwargs).start()
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
                    "latest_checkpoint": None, "model": None, "best": None, "score": None,
                    "message": "no training run yet"}
        out = {k: v for k, v in snap.items() if k not in ("history", "log")}
        out["points"] = len(snap["history"])
        out["log"] = snap["log"][-10:]
        out.pop("scores", None)
        out["score"] = snap["scores"][-1] if snap.get("scores") else None
        out["n_scores"] = len(snap.get("scores") or [])
        folder = RunDir(snap["run_dir"])
        model = folder.newest_checkpoint() if snap.get("latest_checkpoint") else None
        out["model"] = str(model) if model else snap.get("latest_checkpoint")
        best = folder.best_checkpoint() if snap.get("best") else None
        out["best"] = str(best) if best else None
        out["best_score"] = snap.get("best")
        return out

    def stop_and_wait(self, timeout: float | None = None) -> None:
        """Stop the active run, if any, and wait for its final checkpoint."""
        run = self.run
        if run is not None and run.active:
            run.stop()
            run.join(timeout)
