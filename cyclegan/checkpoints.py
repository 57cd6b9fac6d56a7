"""Models on disk: a folder with config.json + model.safetensors + a model card, like a Hugging
Face model repo. Also reads the authors' CycleGAN `.pth` files, without ever unpickling code."""
import json
import os
import re
import tempfile
import zipfile
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from .errors import UserInputError
from .model import CycleModel
from .nets import count_parameters
from .presets import PRESETS, NetSpec, Preset

FORMAT = "cyclegan-studio/1"
CONFIG = "config.json"
WEIGHTS = "model.safetensors"
CARD = "README.md"
DEMO_DIR = Path(__file__).parent / "demo" / "models"
HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")
NETS = ("G_AB", "G_BA", "D_A", "D_B")
# Guard against configs that would allocate absurd nets (a tampered config.json, say).
MAX_WIDTH, MAX_BLOCKS = 1024, 64


# --- saving ----------------------------------------------------------------------------------
def model_config(model: CycleModel) -> dict:
    return {"format": FORMAT, "architecture": model.preset.name, "preset": model.preset.to_dict(),
            "domains": list(model.domains), "directions": list(model.directions),
            "image_size": model.image_size, "value_range": list(model.value_range),
            "with_discriminators": model.D_A is not None, "provenance": model.provenance}


def state_tensors(model: CycleModel, include_discriminators: bool = True) -> dict[str, torch.Tensor]:
    out = {}
    for name in NETS:
        net = getattr(model, name)
        if net is None or (name.startswith("D_") and not include_discriminators):
            continue
        for k, v in net.state_dict().items():
            out[f"{name}.{k}"] = v.detach().cpu().contiguous()
    return out


def save_model(model: CycleModel, folder, include_discriminators: bool = False) -> Path:
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    cfg = model_config(model)
    cfg["with_discriminators"] = include_discriminators and model.D_A is not None
    save_file(state_tensors(model, include_discriminators), str(folder / WEIGHTS),
              metadata={"format": "pt", "cyclegan_config": json.dumps(cfg)})
    (folder / CONFIG).write_text(json.dumps(cfg, indent=2))
    (folder / CARD).write_text(model_card(model, cfg))
    return folder


def model_card(model: CycleModel, cfg: dict) -> str:
    a, b = model.domains
    params = ", ".join(f"{k}: {v:,}" for k, v in model.info()["parameters"].items())
    prov = cfg.get("provenance") or {}
    lines = ["---", "library_name: cyclegan-studio", "pipeline_tag: image-to-image",
             f"tags: [image-to-image, unpaired-image-translation, {model.preset.name}]", "---", "",
             f"# {a} ↔ {b} ({model.preset.title})", "",
             f"Unpaired image-to-image translator between **{a}** (A) and **{b}** (B), made with cyclegan-studio.", "",
             f"- Architecture: `{model.preset.name}`; generator `{model.preset.generator.family}` "
             f"{json.dumps(model.preset.generator.kwargs)}",
             f"- Directions: {', '.join(model.direction_label(d) for d in model.directions)}",
             f"- Training image size: {model.image_size} px; values in {list(model.value_range)}",
             f"- Parameters: {params}"]
    if prov:
        lines.append(f"- Provenance: `{json.dumps(prov, sort_keys=True)}`")
    lines += ["", "## Use", "", "```python", "import cyclegan", 'model = cyclegan.load_model("<this folder or hub id>")',
              'model.translate("photo.jpg", "a2b").save("out.png")', "```", ""]
    return "\n".join(lines)


# --- loading ---------------------------------------------------------------------------------
def _check_spec(spec: NetSpec) -> None:
    for k, v in spec.kwargs.items():
        if k in ("ngf", "ndf") and not (isinstance(v, int) and 1 <= v <= MAX_WIDTH):
            raise UserInputError(f"config.json: {spec.family} {k}={v!r} is out of range (1..{MAX_WIDTH})")
        if k in ("n_blocks", "levels", "num_downs", "n_down", "n_layers") and not (isinstance(v, int) and 0 <= v <= MAX_BLOCKS):
            raise UserInputError(f"config.json: {spec.family} {k}={v!r} is out of range (0..{MAX_BLOCKS})")


def model_from_config(cfg: dict) -> CycleModel:
    try:
        if cfg.get("format") != FORMAT:
            raise UserInputError(f"config.json is not a cyclegan-studio model (format {cfg.get('format')!r}, expected {FORMAT!r})")
        preset = Preset.from_dict(cfg["preset"])
        _check_spec(preset.generator)
        _check_spec(preset.discriminator)
        return CycleModel(preset, domains=cfg.get("domains", ("A", "B")), directions=cfg.get("directions", ("a2b", "b2a")),
                          with_discriminators=bool(cfg.get("with_discriminators")), provenance=cfg.get("provenance"))
    except UserInputError:
        raise
    except (KeyError, TypeError, ValueError) as e:
        raise UserInputError(f"config.json is malformed: {type(e).__name__}: {e}") from None


def load_state(model: CycleModel, tensors: dict[str, torch.Tensor], what: str) -> CycleModel:
    """Strict: every key present and every shape equal, or a message that says what differs."""
    expected = state_tensors(model)
    missing = [k for k in expected if k not in tensors]
    unexpected = [k for k in tensors if k not in expected]
    wrong = [f"{k} {tuple(tensors[k].shape)} vs {tuple(v.shape)}" for k, v in expected.items()
             if k in tensors and tensors[k].shape != v.shape]
    if missing or unexpected or wrong:
        g = model.preset.generator
        parts = []
        if wrong:
            parts.append(f"{len(wrong)} tensors have the wrong shape (e.g. {wrong[0]})")
        if missing:
            parts.append(f"{len(missing)} missing (e.g. {missing[0]})")
        if unexpected:
            parts.append(f"{len(unexpected)} unexpected (e.g. {unexpected[0]})")
        raise UserInputError(f"{what} does not match its architecture {model.preset.name!r} "
                             f"({g.family} {json.dumps(g.kwargs)}): " + "; ".join(parts))
    for name in NETS:
        net = getattr(model, name)
        if net is not None:
            prefix = name + "."
            net.load_state_dict({k[len(prefix):]: v for k, v in tensors.items() if k.startswith(prefix)})
    return model.eval()


def _read_safetensors(path: Path) -> tuple[dict, dict]:
    try:
        from safetensors import safe_open
        with safe_open(str(path), "pt") as f:
            meta = f.metadata() or {}
        return load_file(str(path)), meta
    except (SafetensorError, OSError, ValueError, RuntimeError) as e:
        raise UserInputError(f"'{path.name}' is not a readable safetensors file ({e}); "
                             "it may be truncated or not a checkpoint") from None


def load_folder(folder: Path) -> CycleModel:
    cfg_path, weights = folder / CONFIG, folder / WEIGHTS
    if not weights.is_file():
        official = sorted(folder.glob("*net_G_[AB].pth"))
        if official:
            return load_official([str(p) for p in official])
        raise UserInputError(f"no {WEIGHTS} in '{folder}': a model folder holds {CONFIG} and {WEIGHTS}")
    tensors, meta = _read_safetensors(weights)
    if cfg_path.is_file():
        try:
            cfg = json.loads(cfg_path.read_text())
        except (json.JSONDecodeError, UnicodeDecodeError) as e:
            raise UserInputError(f"'{cfg_path}' is not valid JSON: {e}") from None
    elif "cyclegan_config" in meta:
        cfg = json.loads(meta["cyclegan_config"])
    else:
        raise UserInputError(f"no {CONFIG} in '{folder}'")
    return load_state(model_from_config(cfg), tensors, f"'{weights}'")


def load_safetensors_file(path: Path) -> CycleModel:
    tensors, meta = _read_safetensors(path)
    if "cyclegan_config" in meta:
        try:
            cfg = json.loads(meta["cyclegan_config"])
        except json.JSONDecodeError:
            raise UserInputError(f"'{path.name}' carries a malformed model config") from None
        return load_state(model_from_config(cfg), tensors, f"'{path.name}'")
    # A bare generator state dict, e.g. an official checkpoint converted to safetensors.
    return official_model([(tensors, path.name)])


# --- official CycleGAN files -------------------------------------------------------------------
def clean_official_state(sd: dict) -> dict:
    """Drop the wrappers (DDP's `module.`, torch.compile's `_orig_mod.`) and the InstanceNorm
    buffers old PyTorch versions saved, which the nets neither have nor need."""
    out = {}
    for k, v in sd.items():
        if not isinstance(v, torch.Tensor):
            continue
        for prefix in ("module.", "_orig_mod."):
            while k.startswith(prefix):
                k = k[len(prefix):]
        k = k.replace("._orig_mod.", ".").replace(".module.", ".")
        if k.endswith(("running_mean", "running_var", "num_batches_tracked")):
            continue
        out[k] = v
    return out


def infer_official_generator(sd: dict, name: str) -> NetSpec:
    """Read resnet/unet, depth, width and dropout from the key layout itself."""
    keys = list(sd)
    if "model.1.weight" in sd and any(".conv_block." in k for k in keys):
        blocks = sorted({int(k.split(".")[1]) for k in keys if ".conv_block." in k})
        dropout = any(".conv_block.6." in k for k in keys)
        ngf = sd["model.1.weight"].shape[0]
        return NetSpec("resnet", {"ngf": int(ngf), "n_blocks": len(blocks), "dropout": dropout, "upsample": "deconv"})
    if "model.model.0.weight" in sd:
        depth = max(k.split(".").count("model") for k in keys) - 1
        ngf = sd["model.model.0.weight"].shape[0]
        return NetSpec("unet", {"ngf": int(ngf), "num_downs": int(depth), "dropout": False})
    sample = ", ".join(keys[:3]) or "no tensors"
    raise UserInputError(f"'{name}' is not a CycleGAN generator: expected keys like 'model.1.weight' (resnet) "
                         f"or 'model.model.0.weight' (unet), found {sample}")


def _read_pth(path: Path) -> dict:
    try:
        sd = torch.load(str(path), map_location="cpu", weights_only=True)
    except Exception as e:  # weights_only refuses pickled code; anything else is a broken file
        msg = str(e).splitlines()[0][:200] if str(e) else type(e).__name__
        if "weights_only" in str(e) or "Unsupported global" in str(e) or "Unpickler" in str(e):
            raise UserInputError(f"'{path.name}' contains pickled objects other than tensors; refusing to load it "
                                 "(only plain state dicts are read, never code)") from None
        raise UserInputError(f"'{path.name}' is not a readable PyTorch checkpoint ({msg}); "
                             "it may be truncated or corrupt") from None
    if isinstance(sd, dict) and "state_dict" in sd and isinstance(sd["state_dict"], dict):
        sd = sd["state_dict"]
    if not isinstance(sd, dict):
        raise UserInputError(f"'{path.name}' holds a {type(sd).__name__}, not a state dict")
    return sd


def _domains_from_name(names: list[str]) -> tuple[str, str]:
    for n in names:
        m = re.match(r"^([a-z]+)2([a-z]+)", Path(n).stem.lower())
        if m:
            return m.group(1), m.group(2)
    return "A", "B"


def _official_direction(name: str) -> str:
    return "b2a" if re.search(r"G_B(\.|$)", Path(name).stem + ".") else "a2b"


def official_model(items: list[tuple[dict, str]]) -> CycleModel:
    """One file: a one-direction model (G_B files map B→A). Two: G_A and G_B, both directions."""
    by_dir: dict[str, dict] = {}
    specs = []
    for sd, name in items:
        sd = clean_official_state(sd)
        specs.append(infer_official_generator(sd, name))
        direction = _official_direction(name) if len(items) == 1 else ("b2a" if _official_direction(name) == "b2a" else "a2b")
        if direction in by_dir:
            direction = "b2a" if direction == "a2b" else "a2b"
        by_dir[direction] = sd
    if len(specs) == 2 and specs[0] != specs[1]:
        raise UserInputError(f"the two files are different generators ({specs[0].kwargs} vs {specs[1].kwargs})")
    names = [n for _, n in items]
    preset = PRESETS["cyclegan"]
    gen = specs[0]
    from dataclasses import replace
    preset = replace(preset, generator=gen, image_size=128 if gen.kwargs.get("n_blocks") == 6 or gen.kwargs.get("num_downs") == 7 else 256)
    model = CycleModel(preset, domains=_domains_from_name(names), directions=tuple(sorted(by_dir)),
                       provenance={"source": "official CycleGAN checkpoint", "files": names})
    tensors = {}
    for direction, sd in by_dir.items():
        net = "G_AB" if direction == "a2b" else "G_BA"
        tensors.update({f"{net}.{k}": v for k, v in sd.items()})
    return load_state(model, tensors, " + ".join(f"'{n}'" for n in names))


def load_official(paths: list[str]) -> CycleModel:
    if len(paths) > 2:
        raise UserInputError("give one official generator file, or two (G_A and G_B)")
    items = []
    for p in paths:
        path = Path(p)
        if not path.is_file():
            raise UserInputError(f"file not found: '{p}'")
        items.append(((_read_safetensors(path)[0] if path.suffix == ".safetensors" else _read_pth(path)), path.name))
    return official_model(items)


# --- the one entry point ---------------------------------------------------------------------
def load_model(spec, device: str | torch.device | None = None) -> CycleModel:
    """A model folder; `demo:<name>`; a Hub id `owner/name`; an official `.pth` (or two, as a
    list or 'a.pth,b.pth'); a self-describing `.safetensors`; a zipped model folder."""
    model = _load(spec)
    if device is not None:
        model.to(device)
    return model


def _load(spec) -> CycleModel:
    if isinstance(spec, (list, tuple)):
        return load_official([str(s) for s in spec])
    spec = str(spec).strip()
    if not spec:
        raise UserInputError("no model given")
    if spec.startswith("demo:"):
        name = spec[5:]
        folder = DEMO_DIR / name
        if not (folder / WEIGHTS).is_file():
            known = sorted(p.name for p in DEMO_DIR.glob("*") if (p / WEIGHTS).is_file()) if DEMO_DIR.is_dir() else []
            raise UserInputError(f"no built-in model {spec!r}; built-in models: {', '.join('demo:' + k for k in known) or 'none'}")
        return load_folder(folder)
    if "," in spec and not os.path.exists(spec):
        return load_official([s.strip() for s in spec.split(",")])
    path = Path(spec).expanduser()
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
        raise UserInputError(f"don't know how to load '{path.name}': give a model folder, a .zip of one, "
                             "a .safetensors file or an official CycleGAN .pth")
    if HUB_ID.match(spec) and not spec.startswith((".", "/")):
        return load_from_hub(spec)
    raise UserInputError(f"model not found: '{spec}' is neither a file, a folder, 'demo:<name>' nor a Hub id 'owner/name'")


def load_zip(path: Path) -> CycleModel:
    from .data import safe_extract_zip
    dest = Path(tempfile.mkdtemp(prefix="cyclegan-model-"))
    try:
        root = safe_extract_zip(path, dest)
    except zipfile.BadZipFile:
        raise UserInputError(f"'{path.name}' is not a valid zip file") from None
    for cand in [root, *sorted(p.parent for p in Path(root).rglob(CONFIG))]:
        if (cand / WEIGHTS).is_file():
            return load_folder(cand)
    pths = sorted(Path(root).rglob("*.pth"))
    if 1 <= len(pths) <= 2:
        return load_official([str(p) for p in pths])
    raise UserInputError(f"'{path.name}' holds no model: expected a folder with {CONFIG} and {WEIGHTS}")


# --- the Hugging Face Hub --------------------------------------------------------------------
def load_from_hub(repo_id: str, revision: str | None = None) -> CycleModel:
    """Through huggingface_hub's cache, so HF_HOME / HF_HUB_OFFLINE behave as users expect."""
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import HfHubHTTPError, LocalEntryNotFoundError, RepositoryNotFoundError
    try:
        folder = snapshot_download(repo_id, revision=revision,
                                   allow_patterns=[CONFIG, WEIGHTS, CARD, "*.pth"])
    except RepositoryNotFoundError:
        raise UserInputError(f"Hub repository '{repo_id}' not found (or private: log in with a token)") from None
    except LocalEntryNotFoundError:
        raise UserInputError(f"'{repo_id}' is not in the local Hugging Face cache and the Hub cannot be reached "
                             "(offline, or HF_HUB_OFFLINE=1)") from None
    except (HfHubHTTPError, OSError) as e:
        raise UserInputError(f"could not fetch '{repo_id}' from the Hub: {str(e).splitlines()[0]}") from None
    return load_folder(Path(folder))


def push_to_hub(model: CycleModel, repo_id: str, token: str | None = None, private: bool = True) -> str:
    """Upload as a model repo (config.json, model.safetensors, README.md). Returns its URL.
    The token is passed straight to huggingface_hub and never logged."""
    from huggingface_hub import HfApi
    if not HUB_ID.match(repo_id):
        raise UserInputError(f"'{repo_id}' is not a Hub repository id (expected 'owner/name')")
    api = HfApi(token=token)
    with tempfile.TemporaryDirectory() as tmp:
        save_model(model, tmp)
        try:
            api.create_repo(repo_id, repo_type="model", private=private, exist_ok=True)
            info = api.upload_folder(repo_id=repo_id, folder_path=tmp, repo_type="model",
                                     commit_message="Upload cyclegan-studio model")
        except Exception as e:
            msg = str(e).splitlines()[0] if str(e) else type(e).__name__
            if token:
                msg = msg.replace(token, "***")
            raise UserInputError(f"push to the Hub failed: {msg}") from None
    return getattr(info, "repo_url", None) or f"https://huggingface.co/{repo_id}"


def describe(model: CycleModel) -> dict:
    info = model.info()
    info["parameters_total"] = sum(count_parameters(n) for n in (model.G_AB, model.G_BA) if n is not None)
    return info
