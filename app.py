"""cyclegan-studio web app: translate images with CycleGAN / DiscoGAN / DualGAN models and train
new ones in the browser. UI only; the work happens in `cyclegan/` and `train/`.

Run with `python app.py` (honours GRADIO_SERVER_NAME / GRADIO_SERVER_PORT). Named API endpoints
for gradio_client: /translate, /load_model, /train_start, /train_status, /train_stop,
/train_pause, /train_resume.
"""
from __future__ import annotations

import os

os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"  # offline: no telemetry, no version check

import base64
import functools
import json
import logging
import re
import tempfile
import threading
import time
import zipfile
from collections import OrderedDict
from pathlib import Path

import gradio as gr
import numpy as np
import pandas as pd
import torch

import cyclegan
from cyclegan import UserInputError, limits
from cyclegan import demo as demo_worlds
from cyclegan.checkpoints import DEMO_DIR, HUB_ID, load_from_hub
from cyclegan.images import check_image, open_image
from cyclegan.model import check_direction
from cyclegan.nets import winograd
from train import TrainConfig
from train.checkpointing import complete_checkpoints
from train.run import Run

log = logging.getLogger("cyclegan.app")

ARCH_CHOICES = [("CycleGAN", "cyclegan"), ("DiscoGAN", "discogan"), ("DualGAN", "dualgan")]
ARCH_TITLES = dict((v, k) for k, v in ARCH_CHOICES)
# DualGAN's paper and its authors' code train it differently (see cyclegan/presets.py).
DUAL_LOSSES = [("WGAN + weight clipping, RMSProp (paper)", "dualgan"),
               ("Sigmoid cross-entropy, λ 20, Adam (authors' 2017 code)", "dualgan-code"),
               ("WGAN-GP, Adam (authors' 2020 code)", "dualgan-gp")]
TRAIN_ARCHS = {*ARCH_TITLES, *(v for _, v in DUAL_LOSSES)}
GENERIC_DIRECTIONS = [("A → B", "a2b"), ("B → A", "b2a")]
LOSS_SKIP = {"step", "lr", "sec_per_step", "images_per_s", "time", "G_total"}  # G_total would flatten the rest
LOSS_COLORS = {"D_A": "#4c78a8", "D_B": "#72b7b2", "G_AB": "#f58518", "G_BA": "#eeca3b", "cycle_A": "#e45756",
               "cycle_B": "#ff9da6", "idt_A": "#54a24b", "idt_B": "#88d27a", "fm_A": "#b279a2", "fm_B": "#d6a5c9"}
EXTRA_COLORS = ("#9d755d", "#bab0ac", "#439894", "#79706e")
MAX_WORK_SIZE = 4096


DEFAULT_THREADS = torch.get_num_threads()
winograd.warm_up()   # NNPACK's thread pool is sized once: size it for translating, not training


def runs_dir() -> Path:
    return Path(os.environ.get("CYCLEGAN_RUNS_DIR") or "runs")


def device() -> str | None:
    return "cuda" if torch.cuda.is_available() else None


# --- errors ------------------------------------------------------------------------------------
def _friendly(fn):
    """A UserInputError is the user's to fix: show its message. Anything else is our bug: log the
    traceback here, show a short note there, and keep serving."""
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except gr.Error:
            raise
        except UserInputError as e:
            raise gr.Error(str(e), print_exception=False) from None
        except Exception:
            log.exception("internal error in %s", fn.__name__)
            raise gr.Error("internal error (the details are in the server log); please try again",
                           print_exception=False) from None
    return wrapper


# --- models: what can be picked, and a cache of loaded ones ---------------------------------------
def _read_config(folder: Path) -> dict | None:
    try:
        return json.loads((folder / "config.json").read_text())
    except (OSError, ValueError):
        return None


def _base_arch(name: str) -> str:
    return str(name or "cyclegan").split("-")[0]  # "dualgan-code" is a DualGAN


def _run_checkpoint(run: Path) -> Path | None:
    latest = run / "latest"
    if (latest / "model.safetensors").is_file():
        return latest
    txt = run / "latest.txt"  # where symlinks are not allowed
    if txt.is_file():
        target = run / txt.read_text().strip()
        if (target / "model.safetensors").is_file():
            return target
    found = complete_checkpoints(run / "checkpoints")
    return found[0] if found else None


def model_entries(loaded: list | None = None) -> list[dict]:
    """Built-in demo models, every run in the runs folder with a checkpoint, then this session's
    own uploads: {spec, label, arch}."""
    out = []
    if DEMO_DIR.is_dir():
        for folder in sorted(DEMO_DIR.iterdir()):
            cfg = _read_config(folder)
            if cfg and (folder / "model.safetensors").is_file():
                a, b = cfg.get("domains", ("A", "B"))
                arch = _base_arch(cfg.get("architecture"))
                out.append({"spec": f"demo:{folder.name}", "arch": arch,
                            "label": f"built-in: {ARCH_TITLES.get(arch, arch)} {a} ↔ {b}"})
    root = runs_dir()
    if root.is_dir():
        runs = [p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")]
        for run in sorted(runs, key=lambda p: p.stat().st_mtime, reverse=True):
            ckpt = _run_checkpoint(run)
            cfg = _read_config(ckpt) if ckpt else None
            if not cfg:
                continue
            a, b = cfg.get("domains", ("A", "B"))
            step = (cfg.get("provenance") or {}).get("step")
            out.append({"spec": str(ckpt), "arch": _base_arch(cfg.get("architecture")),
                        "label": f"{run.name} ({a} ↔ {b}" + (f", step {step})" if step else ")")})
    known = {e["spec"] for e in out}
    out += [e for e in (loaded or []) if e["spec"] not in known]
    return out


def model_choices(arch: str, loaded: list | None = None) -> list[tuple[str, str]]:
    return [(e["label"], e["spec"]) for e in model_entries(loaded) if e["arch"] == arch]


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
        if spec in self.hub_specs or spec in self.user_specs or _inside(Path(spec), runs_dir()):
            return spec
        if os.path.exists(spec) or "," in spec:
            if limits.current().allow_server_paths:
                return spec
            raise UserInputError("this server does not load models from its own folders "
                                 "(CYCLEGAN_ALLOW_SERVER_PATHS is off): pick a listed model or upload one")
        if HUB_ID.match(spec):
            return spec
        raise UserInputError(f"model not found: {spec!r}")

    def _key(self, spec: str) -> tuple:
        p = Path(spec)
        if p.is_dir():
            real = p.resolve()
            weights = real / "model.safetensors"
            return (str(real), weights.stat().st_mtime_ns if weights.is_file() else 0)
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
            model = load_from_hub(spec).to(device())
        else:
            paths = [s.strip() for s in spec.split(",")] if "," in spec else spec
            model = cyclegan.load_model(paths, device=device())
        with self._lock:
            self._models[key] = model
            while len(self._models) > self._size:
                self._models.popitem(last=False)
        return model


MODELS = ModelCache()


# --- translate tab -----------------------------------------------------------------------------
class UploadImage(gr.Image):
    """gr.Image that hands over the uploaded file untouched: gr.Image would open it with PIL
    first, and a broken upload would fail there with PIL's message instead of ours."""
    is_template = True  # the browser shows it as a plain Image

    def preprocess(self, payload):
        if payload is None:
            return None
        if payload.url and payload.url.startswith("data:"):
            # Inline images skip Gradio's upload route and its size limit: apply ours.
            data = payload.url.split(",", 1)[-1]
            limit = limits.current().max_upload_mb
            if len(data) * 3 // 4 > limit * 1_000_000:
                raise gr.Error(f"the image is larger than this server's limit of {limit} MB (CYCLEGAN_MAX_UPLOAD_MB)")
            return base64.b64decode(data)
        return payload.path


def _open_upload(image):
    if image is None or (isinstance(image, str) and not image):
        raise UserInputError("upload an image first (or pick one of the examples)")
    if isinstance(image, str):  # a file object, so messages name the file and not our cache path
        with open(image, "rb") as f:
            return open_image(f)
    return open_image(image)


def _work_size(size, model) -> int | None:
    if size is None or size == "":
        return model.image_size
    try:
        size = int(float(size))
    except (TypeError, ValueError):
        raise UserInputError(f"processing size must be a number of pixels, got {size!r}") from None
    if size == 0:
        return None
    if not 8 <= size <= MAX_WORK_SIZE:
        raise UserInputError(f"processing size must be 0 (native resolution) or 8..{MAX_WORK_SIZE} px, got {size}")
    return size


def _use_translate_threads() -> None:
    """torch's thread count is per thread and new threads inherit the last one set anywhere, so a
    training run (which asks for few threads) would otherwise leave translating slow after it
    ends; while a run is active, translating takes only the cores training leaves free."""
    n = DEFAULT_THREADS
    if RUNS.run is not None and RUNS.run.active:
        n = max(1, DEFAULT_THREADS - (RUNS.run.cfg.threads or 0))
    if torch.get_num_threads() != n:
        torch.set_num_threads(n)


def _png(img) -> str:
    """Each result in its own new file: Gradio 6 rewrites its shared cache file for equal PIL
    results in place, so identical concurrent requests could read a half-written image.
    Files older than 15 minutes are cleared as new ones arrive."""
    folder = Path(tempfile.gettempdir()) / f"cyclegan-outputs-{os.getpid()}"
    folder.mkdir(exist_ok=True)
    now = time.time()
    for old in folder.glob("*.png"):
        try:
            if now - old.stat().st_mtime > 900:
                old.unlink()
        except OSError:
            pass
    fd, path = tempfile.mkstemp(suffix=".png", dir=folder)
    with os.fdopen(fd, "wb") as f:
        img.save(f, format="PNG")
    return path


@_friendly
def translate(image, model_spec, direction, size=None):
    """Translation, round trip (A→B→A when the model has both directions) and its error."""
    img = _open_upload(image)
    _use_translate_threads()
    model = MODELS.get(model_spec)
    direction = check_direction(direction or model.directions[0])
    work = _work_size(size, model)
    label = model.direction_label(direction)
    back = "b2a" if direction == "a2b" else "a2b"
    if back not in model.directions:
        fake = model.translate(img, direction, work_size=work)
        return _png(fake), None, f"Translated {label}. No round trip: this model only translates {label}."
    fake, rec = model.round_trip(img, direction, work_size=work)
    err = float(np.abs(np.asarray(img, np.float32) - np.asarray(rec, np.float32)).mean() / 255.0)
    trip = f"{label} → {label.split(' → ')[0]}"
    return _png(fake), _png(rec), (f"Translated {label}. Round trip {trip}: mean absolute error **{err:.4f}** "
                       "(pixel values 0–1; 0 = perfect reconstruction).")


def _model_facts(model) -> str:
    params = sum(model.info()["parameters"].get(k, 0) for k in ("G_AB", "G_BA"))
    a, b = model.domains
    return (f"**{model.preset.title}** · {a} ↔ {b} · trained at {model.image_size} px · "
            f"{params / 1e6:.2f} M generator parameters")


@_friendly
def select_model(model_spec):
    """The direction buttons and the processing size follow the chosen model."""
    if not model_spec:
        return (gr.update(choices=GENERIC_DIRECTIONS, value="a2b"), gr.update(value=None),
                "No model selected: train one in the **Train** tab or load one below.")
    model = MODELS.get(model_spec)
    choices = [(model.direction_label(d), d) for d in model.directions]
    return gr.update(choices=choices, value=choices[0][1]), gr.update(value=model.image_size), _model_facts(model)


def _pick(choices, current):
    specs = [v for _, v in choices]
    return current if current in specs else (specs[0] if specs else None)


def refresh_models(arch, current, loaded):
    """New runs appear in the list; the choice stays (it may be a typed Hub id)."""
    choices = model_choices(arch, loaded)
    return gr.update(choices=choices, value=current or _pick(choices, current))


def filter_models(arch, current, loaded):
    choices = model_choices(arch, loaded)
    info = None if choices else f"no {ARCH_TITLES.get(arch, arch)} model yet: train one or load one below"
    return gr.update(choices=choices, value=_pick(choices, current), info=info or "")


@_friendly
def load_user_model(hub_id="", files=None, loaded=None):
    """A Hub id or an upload (.zip of a model folder, .safetensors, one or two official .pth)."""
    if isinstance(files, str):
        files = [files]
    files = [f for f in (files or []) if f]
    hub_id = (hub_id or "").strip()
    if files:
        limit = limits.current().max_upload_mb * 1_000_000
        for f in files:
            if os.path.getsize(f) > limit:
                raise UserInputError(f"'{Path(f).name}' is larger than this server's limit of "
                                     f"{limits.current().max_upload_mb} MB (CYCLEGAN_MAX_UPLOAD_MB)")
        spec = ",".join(str(f) for f in files)
        shown = ", ".join(Path(f).name for f in files)
    elif hub_id:
        if not HUB_ID.match(hub_id):
            raise UserInputError(f"'{hub_id}' is not a Hub model id (expected 'owner/name')")
        spec, shown = hub_id, hub_id
    else:
        raise UserInputError("give a Hub id, or upload a model (.zip, .safetensors or .pth)")
    specs = MODELS.user_specs if files else MODELS.hub_specs
    specs.add(spec)
    try:
        model = MODELS.get(spec)
    except UserInputError:
        specs.discard(spec)
        raise
    arch = _base_arch(model.architecture)
    a, b = model.domains
    entry = {"spec": spec, "arch": arch, "label": f"loaded: {shown} ({a} ↔ {b})"}
    loaded = [e for e in (loaded or []) if e["spec"] != spec] + [entry]
    return arch, spec, loaded, f"Loaded **{shown}**: {_model_facts(model)}"


def check_upload(image):
    """Say at once when an upload is not a usable image, instead of at Translate."""
    if isinstance(image, str) and image:
        try:
            check_image(image)
        except UserInputError as e:
            msg = str(e).replace(str(Path(image).parent) + os.sep, "")
            raise gr.Error(msg, print_exception=False) from None


def example_images() -> list[str]:
    """A few scenes of each demo world in both looks, rendered once into the runs folder."""
    folder = runs_dir() / ".examples"
    paths = []
    for world in demo_worlds.world_names():
        names = demo_worlds.domains(world)
        for seed in demo_worlds.test_seeds(world, 2):
            for side, name in zip("AB", names):
                p = folder / f"{world}-{name}-{seed}.png"
                if not p.is_file():
                    folder.mkdir(parents=True, exist_ok=True)
                    demo_worlds.render(world, seed, side, 256).save(p)
                paths.append(str(p))
    return paths


# --- training: one run per server ---------------------------------------------------------------
class RunManager:
    """At most one training run per server; every visitor sees the same one."""

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
            cfg.validate()
            self.run = Run(cfg).start()
            return self.run

    def current(self) -> Run:
        if self.run is None:
            raise UserInputError("no training run yet: start one first")
        return self.run

    def snapshot(self) -> dict | None:
        run = self.run
        return run.snapshot() if run is not None else None


RUNS = RunManager()


def _train_threads() -> int:
    raw = os.environ.get("CYCLEGAN_TRAIN_THREADS", "").strip()
    if raw:
        try:
            if int(raw) >= 1:
                return int(raw)
        except ValueError:
            pass
        raise UserInputError(f"CYCLEGAN_TRAIN_THREADS must be a positive whole number, got {raw!r}")
    return max(1, (os.cpu_count() or 2) // 2)  # leave the other half for translating


def _opt_int(value, name: str) -> int | None:
    if value is None or value == "":
        return None
    try:
        f = float(value)
    except (TypeError, ValueError):
        raise UserInputError(f"{name} must be a whole number, got {value!r}") from None
    if not f.is_integer():
        raise UserInputError(f"{name} must be a whole number, got {value!r}")
    return int(f)


def _opt_float(value, name: str) -> float | None:
    if value is None or value == "":
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        raise UserInputError(f"{name} must be a number, got {value!r}") from None


def _data_spec(data, uploaded: bool = False) -> tuple[str, str]:
    """(what TrainConfig reads, a short name for the run folder). Server paths only where allowed;
    a zip the visitor uploaded is always fine."""
    data = str(data or "").strip()
    if not data:
        raise UserInputError("choose the training data: a demo world, a .zip upload or a folder")
    if data.startswith("demo:"):
        world = data[5:]
        if world not in demo_worlds.world_names():
            raise UserInputError(f"unknown demo world {world!r}; choose one of: "
                                 + ", ".join(f"demo:{w}" for w in demo_worlds.world_names()))
        return data, world
    p = Path(data)
    if not uploaded and not limits.current().allow_server_paths:
        raise UserInputError("this server does not read training data from its own folders "
                             "(CYCLEGAN_ALLOW_SERVER_PATHS is off): use a demo world or upload a .zip")
    return data, re.sub(r"[^\w-]+", "-", p.stem)[:30] or "data"


def _new_run_dir(arch: str, name: str) -> Path:
    root = runs_dir()
    base = f"{arch}-{name}-{time.strftime('%Y%m%d-%H%M%S')}"
    out, n = root / base, 1
    while out.exists():
        n += 1
        out = root / f"{base}-{n}"
    return out


def start_training(data, arch, preset, size, steps, batch, lr_g=None, lr_d=None,
                   lambda_cycle=None, lambda_identity=None, uploaded: bool = False) -> dict:
    data, name = _data_spec(data, uploaded)
    arch = str(arch or "cyclegan")
    if arch not in TRAIN_ARCHS:
        raise UserInputError(f"unknown architecture {arch!r}; choose one of: {', '.join(sorted(TRAIN_ARCHS))}")
    steps = _opt_int(steps, "steps")
    if steps is None:
        raise UserInputError("give the number of training steps")
    cfg = TrainConfig(data=data, arch=arch, variant=str(preset or "quick"), size=_opt_int(size, "image size"),
                      steps=steps, batch=_opt_int(batch, "batch"), out=str(_new_run_dir(arch, name)),
                      threads=_train_threads(), sample_every=max(1, min(50, steps // 10)),
                      checkpoint_every=max(1, min(200, steps // 2)), log_every=max(1, min(10, steps // 50)),
                      lr_g=_opt_float(lr_g, "lr_g"), lr_d=_opt_float(lr_d, "lr_d"),
                      lambda_cycle=_opt_float(lambda_cycle, "lambda_cycle"),
                      lambda_identity=_opt_float(lambda_identity, "lambda_identity"))
    RUNS.start(cfg)
    return train_status_json()


def train_status_json() -> dict:
    """What /train_status returns: the snapshot without the long lists, plus a model spec."""
    snap = RUNS.snapshot()
    if snap is None:
        return {"state": "idle", "step": 0, "total": 0, "losses": {}, "latest_sample": None,
                "latest_checkpoint": None, "model": None, "message": "no training run yet"}
    out = {k: v for k, v in snap.items() if k not in ("history", "log")}
    out["points"] = len(snap["history"])
    out["log"] = snap["log"][-10:]
    ckpt = snap.get("latest_checkpoint")
    run_model = Path(snap["run_dir"]) / "latest"
    out["model"] = (str(run_model) if (run_model / "model.safetensors").is_file() else ckpt) if ckpt else None
    return out


def _status_line(snap: dict | None) -> str:
    if snap is None:
        return "**No training run yet.** Choose data and settings, then press **Start**."
    state = snap["state"]
    parts = [f"**{state.capitalize()}**", f"step {snap['step']} / {snap['total']}"]
    if snap.get("it_per_s"):
        parts.append(f"{snap['it_per_s']:.2f} steps/s")
    if snap.get("eta_s") is not None and state in ("running", "starting"):
        eta = snap["eta_s"]
        parts.append(f"ETA {eta:.0f} s" if eta < 120 else f"ETA {eta / 60:.1f} min")
    parts += [f"device {snap['device']}", f"run `{Path(snap['run_dir']).name}`"]
    line = " · ".join(parts)
    if snap.get("error"):
        line += f"\n\n⚠️ {snap['error']}"
    elif state in ("finished", "stopped") and snap.get("latest_checkpoint"):
        line += "\n\n✅ The model is in the **Translate** tab's model list."
    return line


def _loss_frame(history: list[dict]) -> pd.DataFrame:
    if len(history) > 400:  # keep the chart light on long runs
        stride = -(-len(history) // 400)
        history = history[::stride] + [history[-1]]
    rows = [(r["step"], k, float(v)) for r in history for k, v in r.items()
            if k not in LOSS_SKIP and isinstance(v, (int, float))]
    frame = pd.DataFrame(rows, columns=["step", "loss", "value"])
    # typed even when empty: the chart picks its axis kinds (numeric or not) from these
    return frame.astype({"step": "int64", "loss": "string", "value": "float64"})


def _loss_colors(names: list[str]) -> dict[str, str]:
    extra = iter(EXTRA_COLORS * 4)
    return {n: LOSS_COLORS.get(n) or next(extra, "#888888") for n in names}


def _legend_html(colors: dict[str, str]) -> str:
    """Our own legend: the chart's built-in one is cut off below the plot in this Gradio."""
    keys = "".join(f'<span><i style="background:{c}"></i>{n}</span>' for n, c in colors.items())
    return f'<div class="loss-legend">{keys}</div>' if keys else ""


def _buttons(active: bool, state: str | None):
    return (gr.update(interactive=not active), gr.update(interactive=state == "running"),
            gr.update(interactive=state == "paused"), gr.update(interactive=active))


def tick(seen, arch, current_model, loaded):
    """Every second: refresh what changed since this page last looked."""
    seen = dict(seen or {})
    snap = RUNS.snapshot()
    run_id = snap["run_dir"] if snap else None
    if run_id != seen.get("run"):
        seen = {"run": run_id}
    hist = snap["history"] if snap else []
    plot = legend = gr.skip()
    if not hist and seen.get("points") != 0:
        plot, legend, seen["points"], seen["names"] = None, "", 0, None
    elif hist and len(hist) != seen.get("points"):
        plot = _loss_frame(hist)
        seen["points"] = len(hist)
        names = list(dict.fromkeys(plot["loss"].tolist()))
        if names != seen.get("names"):
            # The chart fixes its series when it is drawn; a new color_map makes it redraw.
            seen["names"] = names
            colors = _loss_colors(names)
            plot, legend = gr.update(value=plot, color_map=colors), _legend_html(colors)
    sample = gr.skip()
    latest = snap["latest_sample"] if snap else None
    if latest != seen.get("sample"):
        sample = latest
        seen["sample"] = latest
    models = gr.skip()
    ckpt = snap["latest_checkpoint"] if snap else None
    if ckpt != seen.get("ckpt"):
        seen["ckpt"] = ckpt
        if ckpt:
            models = refresh_models(arch, current_model, loaded)
    state = snap["state"] if snap else None
    buttons = (gr.skip(),) * 4
    if state != seen.get("state"):
        seen["state"] = state
        buttons = _buttons(bool(snap) and state in ("starting", "running", "paused", "stopping"), state)
    log_text = "\n".join(reversed(snap["log"][-20:])) if snap else ""
    return (_status_line(snap), plot, legend, sample, log_text, models, *buttons, seen)


@_friendly
def ui_start(source, world, zip_file, folder, arch, dual_loss, preset, size, steps, batch, lr_g, lr_d, lam_c, lam_i):
    arch = _train_arch(arch, dual_loss)
    if source == "demo":
        data = f"demo:{world}"
    elif source == "zip":
        if not zip_file:
            raise UserInputError("upload a .zip with trainA/ and trainB/ (or A/ and B/) folders first")
        data = zip_file
    else:
        data = (folder or "").strip()
        if not data:
            raise UserInputError("type the path of a folder on the server that holds trainA/ and trainB/")
    start_training(data, arch, preset, size, steps, batch, lr_g, lr_d, lam_c, lam_i, uploaded=source == "zip")
    # Clear the last run's chart and samples at once; the timer fills in the new run's.
    return _status_line(RUNS.snapshot()), None, "", None, {}


def _control(action: str) -> Run:
    run = RUNS.current()
    getattr(run, action)()
    return run


@_friendly
def ui_pause():
    return _status_line(_control("pause").snapshot())


@_friendly
def ui_resume():
    return _status_line(_control("resume").snapshot())


@_friendly
def ui_stop():
    return _status_line(_control("stop").snapshot())


def _train_arch(arch, dual_loss) -> str:
    """The Train tab's architecture, with DualGAN's loss choice folded in ('dualgan-code'...)."""
    return str(dual_loss or "dualgan") if arch == "dualgan" else arch


@_friendly
def preset_defaults(arch, dual_loss, variant):
    """Size, batch and the advanced numbers follow the architecture and preset."""
    p = cyclegan.get_preset(_train_arch(arch, dual_loss), variant)
    return (p.image_size, p.batch_size, p.lr_g, p.lr_d, p.lambda_cycle, p.lambda_identity,
            gr.update(visible=arch == "dualgan"))


@_friendly
def download_run():
    """The latest model (generators only) + samples + metrics as one zip; load_model reads it."""
    snap = train_status_json()
    ckpt = snap.get("latest_checkpoint")
    if not ckpt:
        raise UserInputError("no checkpoint yet: a run writes one every few steps and when stopped")
    run_dir = Path(snap["run_dir"])
    model = cyclegan.load_model(ckpt)
    out = Path(tempfile.mkdtemp(prefix="cyclegan-run-")) / f"{run_dir.name}.zip"
    with tempfile.TemporaryDirectory() as tmp:
        cyclegan.save_model(model, Path(tmp) / "model")
        with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zf:
            for f in sorted((Path(tmp) / "model").iterdir()):
                zf.write(f, f"{run_dir.name}/model/{f.name}")
            for name, arc in (("metrics.jsonl", "metrics.jsonl"), ("config.json", "train_config.json")):
                if (run_dir / name).is_file():
                    zf.write(run_dir / name, f"{run_dir.name}/{arc}")
            for f in sorted((run_dir / "samples").glob("*.png")):
                zf.write(f, f"{run_dir.name}/samples/{f.name}")
    return out


def push_run(repo_id, token, private):
    """The token goes straight to huggingface_hub; it is never logged, echoed or kept."""
    try:
        snap = train_status_json()
        if not snap.get("latest_checkpoint"):
            raise UserInputError("no checkpoint yet: train (or stop a run) first")
        repo_id = (repo_id or "").strip()
        if not repo_id:
            raise UserInputError("give a Hub repository id like 'your-name/day2night'")
        model = cyclegan.load_model(snap["latest_checkpoint"])
        url = cyclegan.push_to_hub(model, repo_id, token=(token or "").strip() or None, private=bool(private))
        return f"Pushed to [{url}]({url})"
    except UserInputError as e:
        raise gr.Error(str(e), print_exception=False) from None
    except Exception as e:  # no traceback: locals and messages could carry the token
        log.error("push to the Hub failed: %s", type(e).__name__)
        raise gr.Error("push to the Hub failed (internal error)", print_exception=False) from None


# --- API-only endpoints (hidden components) ----------------------------------------------------------
@_friendly
def api_train_start(data="demo:daynight", arch="cyclegan", preset="quick", size=None, steps=300, batch=None):
    return start_training(data, arch, preset, size, steps, batch)


def api_train_status():
    status = train_status_json()
    return status, status.get("latest_sample")


@_friendly
def api_train_stop(wait_s=60):
    run = RUNS.current()
    run.stop()
    run.join(timeout=max(0.0, min(float(wait_s or 0), 600.0)))
    return train_status_json()


@_friendly
def api_train_pause():
    _control("pause")
    return train_status_json()


@_friendly
def api_train_resume():
    _control("resume")
    return train_status_json()


# --- the page --------------------------------------------------------------------------------------
THEME = gr.themes.Default(
    primary_hue="indigo", secondary_hue="slate", neutral_hue="slate",
    font=[gr.themes.Font("system-ui"), gr.themes.Font("-apple-system"), gr.themes.Font("Segoe UI"), "sans-serif"],
    font_mono=[gr.themes.Font("ui-monospace"), gr.themes.Font("Menlo"), gr.themes.Font("Consolas"), "monospace"],
)
CSS = """
.app-header h1 { margin-bottom: 0.1em; }
.app-header p { margin-top: 0; opacity: 0.85; }
.status-line { min-height: 2.5em; }
.loss-legend { display: flex; flex-wrap: wrap; gap: 4px 14px; font-size: 0.85em; padding: 0 8px; }
.loss-legend i { display: inline-block; width: 14px; height: 3px; margin-right: 5px; vertical-align: middle; }
#sample-grid img { width: 100%; height: 100%; object-fit: contain; image-rendering: pixelated; }
"""


def _initial_arch() -> str:
    archs = {e["arch"] for e in model_entries()}
    return next((a for _, a in ARCH_CHOICES if a in archs), "cyclegan")


def build() -> gr.Blocks:
    lim = limits.current()
    first_arch = _initial_arch()
    first_choices = model_choices(first_arch)
    p0 = cyclegan.get_preset("cyclegan", "quick")
    worlds = [(f"{w} ({' ↔ '.join(demo_worlds.domains(w))})", w) for w in demo_worlds.world_names()]
    sources = [("Built-in demo world", "demo"), ("Upload a .zip", "zip")]
    if lim.allow_server_paths:
        sources.append(("Folder on the server", "folder"))

    with gr.Blocks(title="CycleGAN Studio") as app:
        loaded = gr.State([])
        seen = gr.State({})
        gr.Markdown("# CycleGAN Studio\nUnpaired image-to-image translation with **CycleGAN**, **DiscoGAN** "
                    "and **DualGAN**: translate with a built-in or your own model, or train a new one.",
                    elem_classes="app-header")
        with gr.Tabs():
            with gr.Tab("Translate", id="translate") as translate_tab:
                with gr.Row(equal_height=False):
                    with gr.Column(scale=4, min_width=280):
                        arch = gr.Radio(ARCH_CHOICES, value=first_arch, label="Architecture", elem_id="arch")
                        model = gr.Dropdown(first_choices, value=first_choices[0][1] if first_choices else None,
                                            label="Model", elem_id="model", allow_custom_value=True, filterable=True,
                                            info="" if first_choices else "no model yet: train one or load one below")
                        model_info = gr.Markdown("")
                        direction = gr.Radio(GENERIC_DIRECTIONS, value="a2b", label="Direction", elem_id="direction")
                        size = gr.Number(None, label="Processing size (px)", precision=0, minimum=0,
                                         info="Short side the net runs at; the output keeps your image's size. "
                                              "Default: the model's training size. 0 = native resolution.")
                        go = gr.Button("Translate", variant="primary", elem_id="translate-btn")
                        with gr.Accordion("Load a model", open=False):
                            gr.Markdown("A Hugging Face Hub id, or upload a zipped model folder, a `.safetensors` "
                                        "file, or official CycleGAN `.pth` generators (one, or G_A + G_B).")
                            hub_id = gr.Textbox(label="Hub model id", placeholder="owner/name")
                            upload = gr.File(label="Model file(s)", file_count="multiple",
                                             file_types=[".zip", ".safetensors", ".pth", ".pt"], height=130)
                            load_btn = gr.Button("Load model")
                            load_msg = gr.Markdown("", label="message")
                    with gr.Column(scale=5, min_width=300):
                        image = UploadImage(label="Input image", elem_id="input-image", type="filepath",
                                            sources=["upload", "clipboard", "webcam"], height=340)
                        gr.Examples(example_images(), inputs=[image], label="Examples (demo worlds)",
                                    examples_per_page=8)
                    with gr.Column(scale=5, min_width=300):
                        shown = dict(type="pil", format="png", interactive=False, height=340,
                                     buttons=["download", "fullscreen"])  # download gives the PNG
                        out = gr.Image(label="Translation", elem_id="translation", **shown)
                        trip = gr.Image(label="Round trip", elem_id="round-trip", **shown)
                        trip_msg = gr.Markdown("", label="round_trip_error", elem_id="round-trip-msg")

            with gr.Tab("Train", id="train"):
                with gr.Row(equal_height=False):
                    with gr.Column(scale=4, min_width=300):
                        source = gr.Radio(sources, value="demo", label="Training data")
                        world = gr.Dropdown(worlds, value=worlds[0][1], label="Demo world", elem_id="world")
                        zip_in = gr.File(label="Dataset .zip (trainA/ + trainB/, or A/ + B/)", file_types=[".zip"],
                                         visible=False, height=130)
                        folder = gr.Textbox(label="Folder on the server", placeholder="/data/horse2zebra",
                                            visible=False)
                        t_arch = gr.Radio(ARCH_CHOICES, value="cyclegan", label="Architecture", elem_id="arch-train")
                        dual_loss = gr.Dropdown(DUAL_LOSSES, value="dualgan", label="DualGAN training", visible=False,
                                                elem_id="dual-loss", info="the authors' 2017 code learns the demo "
                                                "world fastest; the paper's WGAN is the faithful default")
                        preset = gr.Radio([("Quick (small nets, fine on a CPU)", "quick"),
                                           ("Paper (published nets)", "paper")], value="quick", label="Preset")
                        with gr.Row():
                            t_size = gr.Number(p0.image_size, label="Image size", precision=0, minimum=16,
                                               maximum=lim.max_train_size, min_width=90)
                            t_steps = gr.Number(1000, label="Steps", precision=0, minimum=1,
                                                maximum=lim.max_train_steps, min_width=90)
                            t_batch = gr.Number(p0.batch_size, label="Batch", precision=0, minimum=1, min_width=90)
                        with gr.Accordion("Advanced", open=False):
                            with gr.Row():
                                lr_g = gr.Number(p0.lr_g, label="lr_g (generators)")
                                lr_d = gr.Number(p0.lr_d, label="lr_d (discriminators)")
                            with gr.Row():
                                lam_c = gr.Number(p0.lambda_cycle, label="lambda_cycle")
                                lam_i = gr.Number(p0.lambda_identity, label="lambda_identity (× lambda_cycle)")
                        with gr.Row():
                            start = gr.Button("Start", variant="primary", min_width=70)
                            pause = gr.Button("Pause", interactive=False, min_width=70)
                            resume = gr.Button("Resume", interactive=False, min_width=70)
                            stop = gr.Button("Stop", variant="stop", interactive=False, min_width=70)
                        gr.Markdown("One run at a time per server; everyone sees the run in progress. "
                                    "**Stop** writes a final checkpoint.")
                    with gr.Column(scale=7, min_width=360):
                        status = gr.Markdown(_status_line(None), elem_classes="status-line", elem_id="train-status")
                        chart = gr.LinePlot(None, x="step", y="value", color="loss", colors_in_legend=[],
                                            label="Losses", elem_id="loss-chart", x_title="step", y_title="loss",
                                            height=300)
                        legend = gr.HTML("", elem_id="loss-legend")
                        sample = gr.Image(label="Samples: real A · fake B · rec A · real B · fake A · rec B",
                                          elem_id="sample-grid", type="filepath", interactive=False, height=300,
                                          buttons=["download", "fullscreen"])
                        log_box = gr.Textbox(label="Log (newest first)", lines=8, max_lines=8, interactive=False,
                                             autoscroll=False)
                        with gr.Accordion("Export the model", open=False):
                            gr.Markdown("The latest checkpoint as a model folder, with the sample grids and "
                                        "metrics; `cyclegan.load_model` and **Load a model** read the zip as it is.")
                            dl_btn = gr.Button("Download run (.zip)")
                            dl_file = gr.File(label="Run zip", interactive=False, visible=False, height=80)
                            with gr.Row():
                                repo = gr.Textbox(label="Hub repository", placeholder="your-name/day2night")
                                token = gr.Textbox(label="Hub token (write access)", type="password",
                                                   placeholder="hf_...")
                                private = gr.Checkbox(True, label="Private")
                            push_btn = gr.Button("Push to the Hub")
                            push_msg = gr.Markdown("")

        with gr.Column(visible=False):  # inputs and outputs of the API-only endpoints
            a_data = gr.Textbox("demo:daynight", label="data")
            a_arch = gr.Textbox("cyclegan", label="arch")
            a_preset = gr.Textbox("quick", label="preset")
            a_size = gr.Number(None, label="size", precision=0)
            a_steps = gr.Number(300, label="steps", precision=0)
            a_batch = gr.Number(None, label="batch", precision=0)
            a_wait = gr.Number(60, label="wait_s")
            a_json = gr.JSON(label="status")
            a_sample = gr.Image(type="filepath", format="png", label="latest_sample")
            b_start, b_status, b_stop = gr.Button(), gr.Button(), gr.Button()
            b_pause, b_resume = gr.Button(), gr.Button()

        private_ = dict(api_visibility="private")
        # translate tab
        go.click(translate, [image, model, direction, size], [out, trip, trip_msg], api_name="translate")
        image.upload(check_upload, image, None, show_progress="hidden", **private_)
        model.change(select_model, model, [direction, size, model_info], **private_)
        arch.input(filter_models, [arch, model, loaded], model, **private_)
        translate_tab.select(refresh_models, [arch, model, loaded], model, **private_)
        load_btn.click(load_user_model, [hub_id, upload, loaded], [arch, model, loaded, load_msg],
                       api_name="load_model").success(filter_models, [arch, model, loaded], model, **private_)
        app.load(refresh_models, [arch, model, loaded], model, **private_).then(
            select_model, model, [direction, size, model_info], **private_)
        # train tab
        source.change(lambda s: (gr.update(visible=s == "demo"), gr.update(visible=s == "zip"),
                                 gr.update(visible=s == "folder")), source, [world, zip_in, folder], **private_)
        gr.on([t_arch.change, dual_loss.change, preset.change], preset_defaults, [t_arch, dual_loss, preset],
              [t_size, t_batch, lr_g, lr_d, lam_c, lam_i, dual_loss], **private_)
        start.click(ui_start, [source, world, zip_in, folder, t_arch, dual_loss, preset, t_size, t_steps, t_batch,
                               lr_g, lr_d, lam_c, lam_i], [status, chart, legend, sample, seen], **private_)
        pause.click(ui_pause, None, status, **private_)
        resume.click(ui_resume, None, status, **private_)
        stop.click(ui_stop, None, status, **private_)
        timer = gr.Timer(1.0)
        timer.tick(tick, [seen, arch, model, loaded],
                   [status, chart, legend, sample, log_box, model, start, pause, resume, stop, seen],
                   show_progress="hidden", concurrency_limit=None, **private_)
        dl_btn.click(lambda: gr.update(value=download_run(), visible=True), None, dl_file, **private_)
        push_btn.click(push_run, [repo, token, private], push_msg, **private_)
        # API only
        b_start.click(api_train_start, [a_data, a_arch, a_preset, a_size, a_steps, a_batch], a_json,
                      api_name="train_start")
        b_status.click(api_train_status, None, [a_json, a_sample], api_name="train_status", concurrency_limit=None)
        b_stop.click(api_train_stop, [a_wait], a_json, api_name="train_stop", concurrency_limit=None)
        b_pause.click(api_train_pause, None, a_json, api_name="train_pause")
        b_resume.click(api_train_resume, None, a_json, api_name="train_resume")
    return app


demo = build()


def launch(**kwargs):
    """demo.launch with this app's theme, upload limit and the runs folder served."""
    lim = limits.current()
    kwargs.setdefault("theme", THEME)
    kwargs.setdefault("css", CSS)
    kwargs.setdefault("share", False)
    kwargs.setdefault("max_file_size", lim.max_upload_mb * 1_000_000)
    kwargs.setdefault("allowed_paths", [str(runs_dir().resolve())])
    kwargs.setdefault("run_history", False)  # "Runs" in the footer would read as training runs
    return demo.launch(**kwargs)


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO)
    launch()
