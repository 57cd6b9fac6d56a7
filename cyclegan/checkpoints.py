"""Models on disk in our format: a folder with config.json + model.safetensors + a model card,
like a Hugging Face model repo (or one .safetensors file carrying its config), and `load_model`,
the one entry point that also opens zips, official .pth files, built-in models and Hub ids."""
import json
import math
import os
import tempfile
from pathlib import Path

import torch
from safetensors.torch import save_file

from . import accel, hub, limits, onnxrt, vintage, zoo
from .archive import safe_extract_zip
from .errors import UserInputError
from .model import DIRECTIONS, CycleModel
from .nets import build_net, count_parameters
from .official import load_official, official_files_in, official_model
from .presets import NetSpec, Preset, check_names
from .weights import check_state, load_state, read_safetensors, state_tensors

FORMAT = "cyclegan-studio/2"
CONFIG = "config.json"
WEIGHTS = "model.safetensors"
CARD = "README.md"
DEMO_DIR = Path(__file__).parent / "demo" / "models"
MODEL_SUFFIXES = (".pth", ".pt", ".bin", ".ckpt", ".safetensors", ".zip")
# Guard against configs that would allocate absurd nets (a tampered config.json, say): widths,
# depths, and the parameter count of the whole model (CYCLEGAN_MAX_MODEL_PARAMS), checked on the
# meta device before anything is allocated. The largest real model here, DualGAN's 2017 U-Nets
# with their critics, has 179 M parameters.
MAX_WIDTH = 1024
MAX_DEPTH = {"n_blocks": 64, "levels": 12, "num_downs": 12, "n_down": 8, "n_layers": 8}

# cyclegan-studio/1 named a preset by one word and coded its batch schedule as letters.
V1_NAMES = {"cyclegan": ("cyclegan", "paper"), "discogan": ("discogan", "code"), "dualgan": ("dualgan", "paper"),
            "dualgan-code": ("dualgan", "code-2017-08"), "dualgan-gp": ("dualgan", "code-2020")}
V1_PHASES = {("GD",): {}, ("D", "G", "G"): {"d_only_batches": 1, "g_only_batches": 2},
             ("D", "D", "G"): {"d_only_batches": 2, "g_only_batches": 1},
             ("DGG",): {"d_first": True, "g_steps_per_batch": 2}}


def builtin_models() -> list[tuple[str, Path]]:
    """(name, folder) of the models shipped in cyclegan/demo/models, loadable as 'demo:<name>'."""
    if not DEMO_DIR.is_dir():
        return []
    return [(p.name, p) for p in sorted(DEMO_DIR.iterdir()) if (p / WEIGHTS).is_file()]


def summary(folder: Path) -> dict | None:
    """What a catalogue shows of a model folder without loading it (architecture, domains,
    provenance, the config read as current), or None when its config is missing or unreadable."""
    try:
        cfg = migrate_config(json.loads((Path(folder) / CONFIG).read_text(encoding="utf-8")))
        return {"architecture": cfg["architecture"], "domains": tuple(cfg.get("domains", ("A", "B"))),
                "provenance": cfg.get("provenance") or {}, "config": cfg}
    except (OSError, ValueError, KeyError, TypeError, AttributeError):   # UserInputError is a ValueError
        return None


# --- saving ----------------------------------------------------------------------------------
def model_config(model: CycleModel) -> dict:
    p = model.preset
    return {"format": FORMAT, "architecture": p.architecture, "recipe": p.recipe, "scale": p.scale,
            "preset": p.to_dict(), "domains": list(model.domains), "directions": list(model.directions),
            "image_size": model.image_size, "value_range": list(model.value_range),
            "with_discriminators": model.has_discriminators, "provenance": model.provenance}


def migrate_config(cfg: dict) -> dict:
    """A cyclegan-studio/1 config (the shipped demo models, older folders and .safetensors
    files) as a /2 one: one preset name -> architecture + recipe, the phase letters -> named
    schedule fields, the scale read from the title; any other config is returned as it is."""
    if not isinstance(cfg, dict) or cfg.get("format") != "cyclegan-studio/1" or not isinstance(cfg.get("preset"), dict):
        return cfg
    preset = dict(cfg["preset"])
    name = preset.pop("name", cfg.get("architecture"))
    if name not in V1_NAMES:
        raise UserInputError(f"config.json: unknown architecture {name!r} (cyclegan-studio/1 knew "
                             f"{', '.join(V1_NAMES)})")
    phases = preset.pop("phases", ["GD"])
    schedule = V1_PHASES.get(tuple(phases) if isinstance(phases, (list, tuple)) else None)
    if schedule is None:
        raise UserInputError(f"config.json: unknown phases {phases!r} (cyclegan-studio/1 knew "
                             f"{', '.join(str(list(k)) for k in V1_PHASES)})")
    arch, recipe = V1_NAMES[name]
    scale = "quick" if str(preset.get("title", "")).endswith(", quick") else "full"
    preset.update(architecture=arch, recipe=recipe, scale=scale, **schedule)
    return {**cfg, "format": FORMAT, "architecture": arch, "recipe": recipe, "scale": scale, "preset": preset}


def save_model(model: CycleModel, folder, include_discriminators: bool = False, half: bool = False) -> Path:
    """A model folder (config.json, model.safetensors, README.md). A path ending in
    `.safetensors` gives one self-describing file instead: the config rides in its metadata.
    `half` stores float weights as float16 (half the file, for a built-in's 10 MB budget); they
    load into float32 nets as before, so only the stored digits change."""
    folder = Path(folder)
    cfg = model_config(model)
    cfg["with_discriminators"] = include_discriminators and model.has_discriminators
    tensors = state_tensors(model, include_discriminators)
    if half:
        tensors = {k: v.half() if v.dtype == torch.float32 else v for k, v in tensors.items()}
        cfg["stored_as"] = "float16"
    meta = {"format": "pt", "cyclegan_config": json.dumps(cfg)}
    if folder.suffix.lower() == ".safetensors":
        folder.parent.mkdir(parents=True, exist_ok=True)
        save_file(tensors, str(folder), metadata=meta)
        return folder
    folder.mkdir(parents=True, exist_ok=True)
    save_file(tensors, str(folder / WEIGHTS), metadata=meta)
    (folder / CONFIG).write_text(json.dumps(cfg, indent=2))
    (folder / CARD).write_text(model_card(model, cfg))
    return folder


def model_card(model: CycleModel, cfg: dict) -> str:
    """A Hugging Face model card: the Hub's metadata header, then what the model is and how to use it."""
    from huggingface_hub import ModelCard, ModelCardData  # its Hub client takes a while to import; only saving needs it
    p = model.preset
    a, b = model.domains
    saved = model.info()["parameters"].items()     # only the nets this folder holds
    params = ", ".join(f"{k}: {v:,}" for k, v in saved if cfg.get("with_discriminators") or not k.startswith("D_"))
    data = ModelCardData(library_name="cyclegan-studio", pipeline_tag="image-to-image",
                         tags=["image-to-image", "unpaired-image-translation", p.architecture])
    heading = model.direction_label(model.directions[0]) if model.one_direction else f"{a} ↔ {b}"
    lines = [f"# {heading} ({p.title})", "",
             f"Unpaired image-to-image translator between **{a}** (A) and **{b}** (B), made with cyclegan-studio.", "",
             f"- Architecture: `{p.architecture}`, recipe `{p.recipe}`, scale `{p.scale}`; generator "
             f"`{p.generator.family}` {json.dumps(p.generator.kwargs)}",
             f"- Directions: {', '.join(model.direction_label(d) for d in model.directions)}"
             + (" only: one generator, so no way back and no round trip" if model.one_direction else ""),
             f"- Training image size: {model.image_size} px; values in {list(model.value_range)}",
             f"- Training: {model.trained_on()}",
             f"- Translates by default: {_translates(model)}",
             f"- Parameters: {params}"]
    if p.ema_decay:
        lines.insert(-1, f"- Generator weights: a moving average over training (decay {p.ema_decay:g}), not one step's")
    if cfg.get("stored_as") == "float16":
        lines.insert(-1, "- Stored as float16 to halve the file; loaded into float32 nets")
    prov = cfg.get("provenance") or {}
    if prov.get("source") and (prov.get("licence") or prov.get("zoo")):
        lines.append(f"- Source: {prov.get('url') or prov['source']}"
                     + (f"; licence {prov['licence']}" if prov.get("licence") else "")
                     + (f"; authors {prov['authors']}" if prov.get("authors") else ""))
    heads = model.info().get("parameters_training_only")
    if heads:
        lines.append("- Trained with (not part of this model): "
                     + ", ".join(f"{k}: {v:,} parameters" for k, v in heads.items()))
    if cfg.get("provenance"):
        lines.append(f"- Provenance: `{json.dumps(cfg['provenance'], sort_keys=True)}`")
    lines += ["", "## Use", "", "```python", "import cyclegan", 'model = cyclegan.load_model("<this folder or hub id>")',
              'model.translate("photo.jpg", "a2b").save("out.png")', "```", ""]
    return str(ModelCard(f"---\n{data.to_yaml()}\n---\n\n" + "\n".join(lines)))


def _translates(model: CycleModel) -> str:
    d = model.inference_defaults()
    if d["sample"]:
        return ("as a sample: decoder dropout on, masks from a seed (default 0), as the authors' code "
                "translates; `sample=False` for a fixed output")
    if d["batch_stats"]:
        return "with the statistics of the batch being translated, as the authors' code"
    if model.has_batch_stats:
        return "with BatchNorm's running statistics (`batch_stats=True`: the batch's own, as the authors' code)"
    return "deterministically" + ("; `sample=True, seed=N` for samples (test-time dropout)" if model.can_sample else "")


# --- loading ---------------------------------------------------------------------------------
def _check_spec(spec: NetSpec, role: str) -> int:
    """Refuse nets a tampered config would make absurd, before allocating anything."""
    if not isinstance(spec.kwargs, dict):
        raise UserInputError(f"config.json: the {role}'s arguments must be a mapping")
    for k, v in spec.kwargs.items():
        if k in ("ngf", "ndf", "in_ch", "out_ch"):
            hi = MAX_WIDTH if k in ("ngf", "ndf") else 16
            if isinstance(v, bool) or not isinstance(v, int) or not 1 <= v <= hi:
                raise UserInputError(f"config.json: {role} {spec.family} {k}={v!r} is out of range (1..{hi})")
        if k in MAX_DEPTH and (isinstance(v, bool) or not isinstance(v, int) or not 0 <= v <= MAX_DEPTH[k]):
            raise UserInputError(f"config.json: {role} {spec.family} {k}={v!r} is out of range (0..{MAX_DEPTH[k]})")
    try:
        with torch.device("meta"):
            n = count_parameters(build_net(spec.family, spec.kwargs))
    except UserInputError as e:
        raise UserInputError(f"config.json: {e}") from None
    except (TypeError, ValueError, RuntimeError) as e:
        raise UserInputError(f"config.json: cannot build the {role} {spec.family} {spec.kwargs}: {e}") from None
    limit = limits.current().max_model_params
    if n > limit:
        raise UserInputError(f"config.json: the {role} {spec.family} {spec.kwargs} would have {n:,} parameters, "
                             f"over this server's limit of {limit:,} (CYCLEGAN_MAX_MODEL_PARAMS); the file is "
                             "damaged or not a cyclegan-studio model")
    return n


def _check_config_values(preset: Preset, cfg: dict) -> None:
    vr = preset.value_range
    if (len(vr) != 2 or not all(isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) for v in vr)
            or not vr[0] < vr[1]):
        raise UserInputError(f"config.json: value_range {list(vr)!r} must be two numbers, low < high")
    if isinstance(preset.image_size, bool) or not isinstance(preset.image_size, int) or not 1 <= preset.image_size <= 8192:
        raise UserInputError(f"config.json: image_size {preset.image_size!r} must be a whole number of pixels (1..8192)")
    domains = cfg.get("domains", ["A", "B"])
    if (not isinstance(domains, (list, tuple)) or len(domains) != 2
            or not all(isinstance(d, str) and 0 < len(d) <= 100 for d in domains)):
        raise UserInputError(f"config.json: domains must be two names, got {domains!r}")
    directions = cfg.get("directions", list(DIRECTIONS))
    if not isinstance(directions, (list, tuple)) or not directions or not all(d in DIRECTIONS for d in directions):
        raise UserInputError(f"config.json: directions must be a non-empty list of 'a2b' / 'b2a', got {directions!r}")


def model_from_config(cfg: dict) -> CycleModel:
    """An unloaded model as a config describes it; v1 configs are migrated first."""
    if not isinstance(cfg, dict):
        raise UserInputError(f"config.json must hold a JSON object, not a {type(cfg).__name__}")
    cfg = migrate_config(cfg)
    try:
        if cfg.get("format") != FORMAT:
            raise UserInputError(f"config.json is not a cyclegan-studio model (format {cfg.get('format')!r}, "
                                 f"expected {FORMAT!r})")
        if not isinstance(cfg.get("preset"), dict):
            raise UserInputError("config.json has no 'preset' object")
        preset = Preset.from_dict(cfg["preset"])
        check_names(preset.architecture, preset.recipe, preset.scale)
        _check_config_values(preset, cfg)
        directions = cfg.get("directions", DIRECTIONS)
        total = _check_spec(preset.generator, "generator") * len(directions)
        if cfg.get("with_discriminators"):
            total += 2 * _check_spec(preset.discriminator, "discriminator")
        limit = limits.current().max_model_params
        if total > limit:
            raise UserInputError(f"config.json: the model would have {total:,} parameters, over this server's limit "
                                 f"of {limit:,} (CYCLEGAN_MAX_MODEL_PARAMS)")
        return CycleModel(preset, domains=cfg.get("domains", ("A", "B")), directions=directions,
                          with_discriminators=bool(cfg.get("with_discriminators")), provenance=cfg.get("provenance"))
    except UserInputError:
        raise
    except (KeyError, TypeError, ValueError, AttributeError) as e:
        raise UserInputError(f"config.json is malformed: {type(e).__name__}: {e}") from None


def _read_config(path: Path) -> dict:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise UserInputError(f"'{path.parent.name}/{path.name}' is not valid JSON: {e}") from None
    except RecursionError:
        raise UserInputError(f"'{path.parent.name}/{path.name}' is nested too deeply to be a model config") from None


def built(cfg: dict, tensors: dict, what: str) -> CycleModel:
    """The model a config describes with `tensors` loaded, checked first on the meta device: a
    config naming nets the file's tensors do not fill is refused before any memory is taken."""
    with torch.device("meta"):
        shell = model_from_config(cfg)
    check_state(shell, tensors, what)
    return load_state(model_from_config(cfg), tensors, what, checked=True)


def load_folder(folder: Path) -> CycleModel:
    cfg_path, weights = folder / CONFIG, folder / WEIGHTS
    if not weights.is_file():
        official = official_files_in(folder)
        if official:
            return load_official([str(p) for p in official])
        if onnxrt.is_export(folder):
            return load_onnx_export(folder)
        raise UserInputError(f"no {WEIGHTS} in '{folder}': a model folder holds {CONFIG} and {WEIGHTS} "
                             "(or official CycleGAN latest_net_G_A.pth / latest_net_G_B.pth)")
    tensors, meta = read_safetensors(weights)
    if cfg_path.is_file():
        cfg = _read_config(cfg_path)
    elif "cyclegan_config" in meta:
        cfg = _meta_config(meta, weights)
    else:
        raise UserInputError(f"no {CONFIG} in '{folder.name}'")
    return built(cfg, tensors, f"'{folder.name}/{WEIGHTS}'")


def load_onnx_export(folder: Path) -> CycleModel:
    """A folder `cyclegan export --format onnx` wrote: its config, with generators that are
    onnxruntime sessions (the torch nets are built on the meta device and never allocated)."""
    info = _read_config(folder / onnxrt.ONNX_JSON)
    files = onnxrt.export_files(folder, info)
    cfg = _read_config(folder / CONFIG)
    if isinstance(cfg, dict):
        cfg = {**cfg, "directions": sorted(files), "with_discriminators": False}
    with torch.device("meta"):
        model = model_from_config(cfg)
    for d, path in files.items():
        gen = onnxrt.OnnxGenerator(path, info.get("size_multiple", 1), info.get("min_side", 1))
        setattr(model, "G_AB" if d == "a2b" else "G_BA", gen)
    model.provenance = {**model.provenance, "onnx": str(folder)}
    return model


def _meta_config(meta: dict, path: Path) -> dict:
    try:
        return json.loads(meta["cyclegan_config"])
    except (json.JSONDecodeError, RecursionError):
        raise UserInputError(f"'{path.name}' carries a malformed model config") from None


def load_safetensors_file(path: Path) -> CycleModel:
    tensors, meta = read_safetensors(path)
    if "cyclegan_config" in meta:
        return built(_meta_config(meta, path), tensors, f"'{path.name}'")
    # A bare generator state dict, e.g. an official checkpoint converted to safetensors.
    return official_model([(tensors, path.name)])


# --- the one entry point ---------------------------------------------------------------------
def load_model(spec, device: str | torch.device | None = None) -> CycleModel:
    """A model folder; `demo:<name>` (a built-in, `demo:vintage` for real photos); `official:NAME`
    (the CycleGAN authors' model zoo, downloaded once into a cache: cyclegan/zoo.py); a Hub id
    `owner/name`; an official or community `.pth` (or two, as a list or 'a.pth,b.pth'); a
    self-describing `.safetensors`; a zipped model folder. Ready to translate: the CPU inference
    accelerator (cyclegan/accel.py) is applied here."""
    return _ready(_load(spec), device)


def load_from_hub(repo_id: str, revision: str | None = None, device: str | torch.device | None = None,
                  token: str | bool | None = None, private_hint: str | None = None) -> CycleModel:
    """Always from the Hub, never from a local folder of the same name. `token` as in
    cyclegan.hub.download: None is this machine's login, False none at all; with a token string
    the files go to a temporary folder, removed once loaded, so what a token could read never
    lands in the shared cache where a request without it would find it."""
    repo_id = hub.check_repo_id(repo_id)
    if isinstance(token, str):
        with tempfile.TemporaryDirectory(prefix="cyclegan-hub-") as tmp:
            return _ready(_from_hub(repo_id, revision, token, tmp, private_hint), device)
    return _ready(_from_hub(repo_id, revision, token, None, private_hint), device)


def push_to_hub(model: CycleModel, repo_id: str, token: str | None = None, private: bool = True) -> str:
    """Upload as a model repo (config.json, model.safetensors, README.md). Returns its URL.
    The token is passed straight to huggingface_hub and never logged or shown in an error."""
    repo_id = hub.check_repo_id(repo_id, hub.redactor(token))
    with tempfile.TemporaryDirectory() as tmp:
        save_model(model, tmp)
        return hub.upload_folder(Path(tmp), repo_id, token=token, private=private,
                                 message="Upload cyclegan-studio model")


def _from_hub(repo_id: str, revision: str | None = None, token: str | bool | None = None, cache: str | None = None,
              private_hint: str | None = None) -> CycleModel:
    return load_folder(hub.download(repo_id, [CONFIG, WEIGHTS, CARD, "*.pth"], revision, token=token, cache=cache,
                                    private_hint=private_hint))


def _ready(model: CycleModel, device) -> CycleModel:
    accel.accelerate(model)
    if device is not None:
        try:
            model.to(device)
        except (RuntimeError, AssertionError) as e:
            raise UserInputError(f"cannot use device {str(device)!r}: {str(e).splitlines()[0] if str(e) else e}") from None
    return model


def _load(spec) -> CycleModel:
    """The one reading of a model spec: a list (or tuple) is a list of files; a Path is one path
    (a comma in its name is part of the name); a string is a path when one exists by that name,
    else 'a.pth,b.pth' (the command line's way of giving two files), 'demo:NAME' or a Hub id."""
    if isinstance(spec, (list, tuple)):
        return load_official([str(s) for s in spec])
    if isinstance(spec, os.PathLike):
        return _load_path(Path(spec), str(spec), hub_ok=False)
    spec = str(spec).strip()
    if not spec:
        raise UserInputError("no model given")
    if spec.lower().startswith("official:"):
        return zoo.load_official_model(zoo.parse_spec(spec))
    if spec.startswith("demo:"):
        builtin = dict(builtin_models())
        if spec[5:] == vintage.NAME:
            return vintage.vintage_model()
        if spec[5:] not in builtin:
            names = ([f"demo:{vintage.NAME}"] if vintage.available() else []) + [f"demo:{k}" for k in builtin]
            raise UserInputError(f"no built-in model {spec!r}; built-in models: {', '.join(names) or 'none'}")
        return load_folder(builtin[spec[5:]])
    if "," in spec and not os.path.exists(spec):
        return load_official([s.strip() for s in spec.split(",") if s.strip()])
    return _load_path(Path(spec).expanduser(), spec)


def _load_path(path: Path, spec: str, hub_ok: bool = True) -> CycleModel:
    if path.is_dir():
        return load_folder(path)
    if path.is_file():
        if path.stat().st_size == 0:
            raise UserInputError(f"'{path.name}' is empty (0 bytes)")
        suffix = path.suffix.lower()
        if suffix in (".pth", ".pt", ".bin", ".ckpt"):
            return load_official([str(path)])
        if suffix == ".safetensors":
            return load_safetensors_file(path)
        if suffix == ".zip":
            return load_zip(path)
        if path.name == CONFIG:
            return load_folder(path.parent)
        raise UserInputError(f"don't know how to load '{path.name}': give a model folder, a .zip of one, "
                             "a .safetensors file or an official CycleGAN .pth")
    if not hub_ok or path.suffix.lower() in MODEL_SUFFIXES or spec.startswith((".", "/", "~", "\\")):
        raise UserInputError(f"file not found: '{spec}'")
    if hub.is_repo_id(spec):
        return _from_hub(spec)
    raise UserInputError(f"model not found: '{spec}' is neither a file, a folder, 'demo:<name>', 'official:<name>' "
                         "nor a Hub id 'owner/name'")


def load_zip(path: Path) -> CycleModel:
    with tempfile.TemporaryDirectory(prefix="cyclegan-model-", ignore_cleanup_errors=True) as dest:
        try:
            return _load_extracted(path, Path(safe_extract_zip(path, dest)))  # a bad zip is its UserInputError
        except UserInputError as e:
            # Name places inside the zip, not the server's temporary folder.
            raise UserInputError(str(e).replace(str(Path(dest).resolve()), path.name).replace(dest, path.name)) from None


def _load_extracted(path: Path, root: Path) -> CycleModel:
    """The model inside an unpacked zip: a model folder, a lone .safetensors, or official files."""
    for cand in [root, *sorted(p.parent for p in root.rglob(CONFIG))]:
        if (cand / WEIGHTS).is_file():
            return load_folder(cand)
    lone = sorted(root.rglob("*.safetensors"))
    if len(lone) == 1:
        return load_safetensors_file(lone[0])
    for cand in [root, *sorted({p.parent for p in root.rglob("*.pth")})]:
        official = official_files_in(cand)
        if official:
            return load_official([str(p) for p in official])
    raise UserInputError(f"'{path.name}' holds no model: expected a folder with {CONFIG} and {WEIGHTS}")


def describe(model: CycleModel) -> dict:
    info = model.info()
    info["parameters_total"] = sum(count_parameters(n) for n in (model.G_AB, model.G_BA) if n is not None)
    return info
