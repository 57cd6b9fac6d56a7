"""Server-wide state, shared by every visitor of one server: the cache of loaded models and what
it may load (its allow-list), the model catalogue, the one training-run slot, thread counts."""
import os
import re
import threading
from collections import OrderedDict
from pathlib import Path

import torch

import cyclegan
from cyclegan import UserInputError, accel, builtins, hub, limits, zoo
from cyclegan.settings import env_int
from train.run import RunSlot
from train.runs import list_runs

ARCH_TITLES = {"cyclegan": "CycleGAN", "discogan": "DiscoGAN", "dualgan": "DualGAN"}
ARCH_CHOICES = [(ARCH_TITLES.get(a, a), a) for a in cyclegan.ARCHITECTURES]
RUNS = RunSlot()                       # one training run per server; every visitor sees it
DEFAULT_THREADS: int | None = None     # torch's thread count for translating, fixed at launch


def start() -> None:
    """At launch: fix the translation thread count and size NNPACK's pool for it, before any
    training run lowers torch's count (NNPACK's pool keeps the size of its first call)."""
    global DEFAULT_THREADS
    DEFAULT_THREADS = torch.get_num_threads()
    accel.warm_up()


def runs_dir() -> Path:
    return Path(os.environ.get("CYCLEGAN_RUNS_DIR") or "runs")


def device() -> str | None:
    return "cuda" if torch.cuda.is_available() else None


def train_threads() -> int:
    """CPU threads of an in-app run: half the cores by default, leaving the rest for translating."""
    return env_int("CYCLEGAN_TRAIN_THREADS", max(1, (os.cpu_count() or 2) // 2))


def use_translate_threads() -> None:
    """torch's thread count is per thread and new threads inherit the last one set anywhere, so a
    training run (which asks for few threads) would otherwise leave translating slow after it
    ends; while a run is active, translating takes only the cores training leaves free."""
    n = DEFAULT_THREADS or torch.get_num_threads()
    run = RUNS.run
    if run is not None and run.active:
        n = max(1, n - (run.cfg.threads or 0))
    if torch.get_num_threads() != n:
        torch.set_num_threads(n)


# --- the model catalogue: built-ins, runs with a checkpoint, this session's loads -----------------
def _label(summary: dict) -> str:
    a, b = summary["domains"]
    return f"{a} ↔ {b}"


def model_entries(loaded: list | None = None) -> list[dict]:
    """Built-in models (real-photo ones first), official zoo models already in the cache, every
    run in the runs folder with a checkpoint, then this session's own loads: {spec, label, arch}."""
    out = []
    for e in builtins.catalogue():
        arch, (a, b) = e["architecture"], e["domains"]
        what = "real photos" if e["real_photos"] else "drawn world"
        arrow = f"{a} → {b}" if e["spec"] == "demo:vintage" else f"{a} ↔ {b}"
        out.append({"spec": e["spec"], "arch": arch,
                    "label": f"built-in: {ARCH_TITLES.get(arch, arch)} {arrow} ({what})"})
    for name, (a, b) in zoo.MODEL_DOMAINS.items():
        try:
            cached = zoo.is_cached(name)
        except UserInputError:         # a malformed zoo setting: the zoo box reports it when used
            break
        if cached:
            out.append({"spec": f"official:{name}", "arch": "cyclegan", "label": f"official: {name} ({a} → {b})"})
    for run in list_runs(runs_dir()):
        step = run.model["provenance"].get("step")
        out.append({"spec": str(run.checkpoint), "arch": run.model["architecture"],
                    "label": f"{run.name} ({_label(run.model)}" + (f", step {step})" if step else ")")})
    known = {e["spec"] for e in out}
    return out + [e for e in (loaded or []) if e["spec"] not in known]


def model_choices(arch: str, loaded: list | None = None) -> list[tuple[str, str]]:
    return [(e["label"], e["spec"]) for e in model_entries(loaded) if e["arch"] == arch]


def initial_arch() -> str:
    archs = {e["arch"] for e in model_entries()}
    return next((a for _, a in ARCH_CHOICES if a in archs), "cyclegan")


# --- loaded models ---------------------------------------------------------------------------------
def _inside(path: Path, root: Path) -> bool:
    try:
        path.resolve().relative_to(root.resolve())
        return True
    except (ValueError, OSError):
        return False


class ModelCache:
    """spec -> loaded model, shared by all visitors. A run's `latest` moves as training goes on,
    so folders are keyed by where they point and when their weights were written."""

    def __init__(self, size: int = 6):
        self._lock = threading.Lock()
        self._models: OrderedDict = OrderedDict()
        self._size = size
        self.user_specs: set[str] = set()  # uploads through the "Load a model" box
        self.hub_specs: set[str] = set()   # Hub ids typed there: always fetched from the Hub,
        # never read from a same-named folder on the server

    def check_allowed(self, spec: str) -> str:
        spec = str(spec or "").strip()
        if not spec:
            raise UserInputError("choose a model first (or train one in the Train tab, or load one)")
        if spec.startswith("demo:"):
            if not re.fullmatch(r"demo:[\w.-]+", spec) or ".." in spec:
                raise UserInputError(f"no built-in model {spec!r}")
            return spec
        if spec.lower().startswith("official:"):
            # public files from the authors' server (or CYCLEGAN_ZOO_URL), size-capped by
            # CYCLEGAN_ZOO_MAX_MODEL_MB: fine on a Space too. The name is checked before any request.
            return f"official:{zoo.model_name(zoo.parse_spec(spec))}"
        if spec in self.hub_specs or spec in self.user_specs or _inside(Path(spec), runs_dir()):
            return spec
        if os.path.exists(spec) or "," in spec:
            if limits.current().allow_server_paths:
                return spec
            raise UserInputError("this server does not load models from its own folders "
                                 "(CYCLEGAN_ALLOW_SERVER_PATHS is off): pick a listed model or upload one")
        if hub.is_repo_id(spec):
            return spec
        raise UserInputError(f"model not found: {spec!r}")

    def _key(self, spec: str) -> tuple:
        p = Path(spec)
        if p.is_dir():
            real = p.resolve()
            written = max((f.stat().st_mtime_ns for f in real.iterdir() if f.is_file()), default=0)
            return (str(real), written)
        return (spec,)

    def get(self, spec: str) -> cyclegan.CycleModel:
        spec = self.check_allowed(spec)
        key = self._key(spec)
        with self._lock:
            if key in self._models:
                self._models.move_to_end(key)
                return self._models[key]
        # Load outside the lock: a slow Hub download must not hold up everyone else's translations.
        if spec in self.hub_specs:
            model = cyclegan.load_from_hub(spec, device=device())
        else:
            paths = [s.strip() for s in spec.split(",")] if "," in spec else spec
            model = cyclegan.load_model(paths, device=device())
        with self._lock:
            self._models[key] = model
            while len(self._models) > self._size:
                self._models.popitem(last=False)
        return model


MODELS = ModelCache()


class Downloads:
    """Each visitor's download in progress, by session: the flag its Cancel button sets. Gradio
    cannot stop a handler's thread, so the download itself checks the flag between chunks."""

    def __init__(self):
        self._lock = threading.Lock()
        self._flags: dict[str, threading.Event] = {}

    def begin(self, session: str) -> threading.Event:
        flag = threading.Event()
        with self._lock:
            self._flags[session] = flag
        return flag

    def end(self, session: str, flag: threading.Event) -> None:
        with self._lock:
            if self._flags.get(session) is flag:
                del self._flags[session]

    def cancel(self, session: str) -> bool:
        with self._lock:
            flag = self._flags.get(session)
        if flag is not None:
            flag.set()
        return flag is not None


DOWNLOADS = Downloads()
