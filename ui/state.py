"""Server-wide state, shared by every visitor of one server: the cache of loaded models and what
it may load (its allow-list), the model catalogue, the one training-run slot, thread counts."""
import os
import re
import threading
from collections import OrderedDict
from pathlib import Path

import torch

import cyclegan
from cyclegan import UserInputError, accel, builtins, hub, limits, threads, zoo
from cyclegan.settings import env_int
from train.run import RunSlot
from train.runs import list_runs

from . import storage, visitor
from .storage import runs_dir

ARCH_TITLES = {"cyclegan": "CycleGAN", "discogan": "DiscoGAN", "dualgan": "DualGAN", "cut": "CUT / FastCUT"}
ARCH_CHOICES = [(ARCH_TITLES.get(a, a), a) for a in cyclegan.ARCHITECTURES]
RUNS = RunSlot()                       # one training run per server; every visitor sees it


def interrupted_run() -> dict | None:
    """The newest run the server stopped under (started here, never ended). The slot's own run
    is never one: between finishing and recording its end it would otherwise look interrupted."""
    run = RUNS.run
    found = storage.interrupted_runs(active=run.folder.name if run is not None else None)
    return found[0] if found else None
DEFAULT_THREADS: int | None = None     # torch's thread count for translating, fixed at launch


def start() -> None:
    """At launch: fix the translation thread count and size NNPACK's pool for it, before any
    training run lowers torch's count (NNPACK's pool keeps the size of its first call)."""
    global DEFAULT_THREADS
    DEFAULT_THREADS = torch.get_num_threads()
    accel.warm_up()


def device() -> str | None:
    return "cuda" if torch.cuda.is_available() else None


def train_threads() -> int:
    """CPU threads of an in-app run: half the cores this process may use (a container's CPU quota,
    not the host's core count) by default, leaving the rest for translating."""
    return env_int("CYCLEGAN_TRAIN_THREADS", max(1, threads.usable_cpus() // 2))


def use_translate_threads() -> None:
    """torch's thread count is per thread and new threads inherit the last one set anywhere, so a
    training run (which asks for few threads) would otherwise leave translating slow after it
    ends; while a run is active, translating takes only the cores training leaves free."""
    n = DEFAULT_THREADS or torch.get_num_threads()
    run = RUNS.run
    if run is not None and run.active:
        n = max(1, n - (run.cfg.threads or 0))
    if n > 1 and not threads.waits_passively():
        n = max(1, n - threads.busy_elsewhere(3, 0.005))   # spinning threads must not share a core
    if torch.get_num_threads() != n:
        torch.set_num_threads(n)


# --- the model catalogue: built-ins, runs with a checkpoint, this session's loads -----------------
def _label(summary: dict) -> str:
    a, b = summary["domains"]
    directions = summary.get("config", {}).get("directions") or ["a2b", "b2a"]
    if list(directions) == ["a2b"]:
        return f"{a} → {b}"
    if list(directions) == ["b2a"]:
        return f"{b} → {a}"
    return f"{a} ↔ {b}"


def _best_label(run) -> str:
    """'<run> — best: step S, KID x' from the checkpoint's own provenance."""
    prov = run.best_model["provenance"]
    score = prov.get("score") or {}
    kids = [v for k, v in score.items() if k.startswith("kid_") and not k.endswith("_std")]
    kid = f", KID {sum(kids) / len(kids):.4f}" if kids else ""
    return f"{run.name} — best ({_label(run.best_model)}, step {prov.get('step', '?')}{kid})"


def model_entries(loaded: list | None = None) -> list[dict]:
    """Built-in models (real-photo ones first), official zoo models already in the cache, every
    run in the runs folder with a checkpoint (as `run:NAME`, its best-scoring checkpoint first
    where it has one: the list names runs, never server paths), then this session's own loads:
    {spec, label, arch}."""
    out = []
    for e in builtins.catalogue():
        arch, (a, b) = e["architecture"], e["domains"]
        what = "real photos" if e["real_photos"] else "drawn world"
        arrow = f"{a} → {b}" if list(e["directions"]) == ["a2b"] else f"{a} ↔ {b}"
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
        if run.best is not None:
            out.append({"spec": f"run:{run.name}@best", "arch": run.best_model["architecture"], "label": _best_label(run)})
        step = run.model["provenance"].get("step")
        out.append({"spec": f"run:{run.name}", "arch": run.model["architecture"],
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


NOT_HERE = ("this server does not load models from its own folders (CYCLEGAN_ALLOW_SERVER_PATHS is off), "
            "whether or not one exists by that name: pick a listed model, load one below (or official:NAME), or "
            "give a Hub id 'owner/name'")


class ModelCache:
    """spec -> loaded model, shared by all visitors. What a spec may name is decided here, once,
    before any file is opened: `demo:NAME`; `official:NAME` (the authors' zoo, a capped public
    download); `run:NAME` (a run in the runs folder; `run:NAME@best` its best-scoring checkpoint); `upload:ID`
    (files a visitor uploaded, kept in the private folder); a Hub id `owner/name` (always the
    Hub, as the visitor: anonymous unless signed in); and, where CYCLEGAN_ALLOW_SERVER_PATHS
    allows, one path on the server (never split at commas). Where paths are not allowed, a path
    that exists and one that does not get the same message. A run's `latest` moves as training
    goes on, so folders are keyed by where they point and when their weights were written; Hub
    loads made with a visitor's token are keyed by that token, so no one else reaches them."""

    def __init__(self, size: int = 6):
        self._lock = threading.Lock()
        self._models: OrderedDict = OrderedDict()
        self._size = size

    def resolve(self, spec) -> tuple[str, object]:
        """(kind, what to load): ('demo', spec), ('path', Path), ('files', [Path, ...]), ('hub', id)."""
        spec = str(spec or "").strip()
        if not spec:
            raise UserInputError("choose a model first (or train one in the Train tab, or load one)")
        if spec.startswith("demo:"):
            if not re.fullmatch(r"demo:[\w.-]+", spec) or ".." in spec:
                raise UserInputError(f"no built-in model {spec!r}")
            return "demo", spec
        if spec.lower().startswith("official:"):
            # public files from the authors' server (or CYCLEGAN_ZOO_URL), size-capped by
            # CYCLEGAN_ZOO_MAX_MODEL_MB: fine on a Space too. The name is checked before any request.
            return "official", f"official:{zoo.model_name(zoo.parse_spec(spec))}"
        if spec.startswith("run:"):
            name, _, which = spec[4:].partition("@")
            if which not in ("", "best"):
                raise UserInputError(f"unknown checkpoint {which!r} in {spec!r}: use run:NAME or run:NAME@best")
            run = storage.run_folder(name)
            ckpt = (run.best_checkpoint() if which else run.newest_checkpoint()) if run else None
            if ckpt is None:
                what = "a best-scoring checkpoint" if which else "a checkpoint"
                raise UserInputError(f"no run {name!r} with {what} in this server's runs folder")
            return "path", ckpt
        if spec.startswith("upload:"):
            files = storage.uploaded_files(spec[7:])
            if not files:
                raise UserInputError("that uploaded model is no longer kept on this server: upload it again")
            return ("files", files) if len(files) > 1 else ("path", files[0])
        if hub.is_repo_id(spec):
            return "hub", spec
        path = Path(spec).expanduser()
        if limits.current().allow_server_paths:
            if not path.exists():
                raise UserInputError(f"model not found: '{spec}'")
            return "path", path
        if _inside(path, runs_dir()) and path.exists():
            return "path", path
        raise UserInputError(NOT_HERE)

    def check_allowed(self, spec) -> str:
        self.resolve(spec)
        return str(spec).strip()

    def _key(self, kind: str, target, token) -> tuple:
        if kind == "hub":
            return ("hub", target, visitor.digest(token) if isinstance(token, str) else "anonymous")
        if kind == "files":
            return ("files", *map(str, target))
        if kind == "path" and Path(target).is_dir():
            real = Path(target).resolve()
            written = max((f.stat().st_mtime_ns for f in real.iterdir() if f.is_file()), default=0)
            return (str(real), written)
        return (kind, str(target))

    def get(self, spec, token: str | bool = False) -> cyclegan.CycleModel:
        """The model `spec` names; `token` is the visitor's Hub token (False: anonymous)."""
        kind, target = self.resolve(spec)
        key = self._key(kind, target, token)
        with self._lock:
            if key in self._models:
                self._models.move_to_end(key)
                return self._models[key]
        # Load outside the lock: a slow Hub download must not hold up everyone else's translations.
        if kind == "hub":
            hint = "sign in with Hugging Face to load your private models" if visitor.login_available() else \
                "this app loads public Hub models only"
            model = cyclegan.load_from_hub(target, device=device(), token=token if token else False, private_hint=hint)
        else:
            model = cyclegan.load_model(target if kind != "files" else list(target), device=device())
        with self._lock:
            self._models[key] = model
            while len(self._models) > self._size:
                self._models.popitem(last=False)
        return model


MODELS = ModelCache()


def init_source(spec: str, token: str | bool = False):
    """What a run started from this app fine-tunes from (train --init), through the same
    allow-list as translating: None for demo:/official: (the trainer opens those itself, an
    official download with progress and the run's Stop), else the model loaded here, so that
    run:NAME, upload:ID and Hub ids (read as the visitor, never with the server's token) never
    reach the library as a spec it would open on its own terms."""
    kind, _ = MODELS.resolve(spec)
    if kind in ("demo", "official"):
        return None
    return MODELS.get(spec, token=token)


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
