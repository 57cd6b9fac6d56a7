"""Models on disk: a folder with config.json + model.safetensors + a model card, like a Hugging
Face model repo. Also reads the authors' CycleGAN `.pth` files, without ever unpickling code."""
import json
import math
import os
import re
import tempfile
import warnings
from dataclasses import replace
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from .errors import UserInputError
from .model import DIRECTIONS, CycleModel
from .nets import build_net, count_parameters
from .presets import PRESETS, NetSpec, Preset

FORMAT = "cyclegan-studio/1"
CONFIG = "config.json"
WEIGHTS = "model.safetensors"
CARD = "README.md"
DEMO_DIR = Path(__file__).parent / "demo" / "models"
HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")
NETS = ("G_AB", "G_BA", "D_A", "D_B")
MODEL_SUFFIXES = (".pth", ".pt", ".bin", ".ckpt", ".safetensors", ".zip")
# Guard against configs that would allocate absurd nets (a tampered config.json, say): widths,
# depths, and the parameter count of each net, checked on the meta device before anything is
# allocated. The largest real net here (DualGAN's 2017 U-Net) has 85 M parameters.
MAX_WIDTH = 1024
MAX_DEPTH = {"n_blocks": 64, "levels": 12, "num_downs": 12, "n_down": 8, "n_layers": 8}
MAX_PARAMS = 200_000_000


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
    """A model folder (config.json, model.safetensors, README.md). A path ending in
    `.safetensors` gives one self-describing file instead: the config rides in its metadata."""
    folder = Path(folder)
    cfg = model_config(model)
    cfg["with_discriminators"] = include_discriminators and model.D_A is not None
    tensors = state_tensors(model, include_discriminators)
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
    a, b = model.domains
    saved = model.info()["parameters"].items()     # only the nets this folder holds
    params = ", ".join(f"{k}: {v:,}" for k, v in saved if cfg.get("with_discriminators") or not k.startswith("D_"))
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
def _check_spec(spec: NetSpec, role: str) -> None:
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
    if n > MAX_PARAMS:
        raise UserInputError(f"config.json: the {role} {spec.family} {spec.kwargs} would have {n:,} parameters, "
                             f"over the limit of {MAX_PARAMS:,}; the file is damaged or not a cyclegan-studio model")


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
    if not isinstance(cfg, dict):
        raise UserInputError(f"config.json must hold a JSON object, not a {type(cfg).__name__}")
    try:
        if cfg.get("format") != FORMAT:
            raise UserInputError(f"config.json is not a cyclegan-studio model (format {cfg.get('format')!r}, "
                                 f"expected {FORMAT!r})")
        if not isinstance(cfg.get("preset"), dict):
            raise UserInputError("config.json has no 'preset' object")
        preset = Preset.from_dict(cfg["preset"])
        _check_config_values(preset, cfg)
        _check_spec(preset.generator, "generator")
        if cfg.get("with_discriminators"):
            _check_spec(preset.discriminator, "discriminator")
        return CycleModel(preset, domains=cfg.get("domains", ("A", "B")), directions=cfg.get("directions", DIRECTIONS),
                          with_discriminators=bool(cfg.get("with_discriminators")), provenance=cfg.get("provenance"))
    except UserInputError:
        raise
    except (KeyError, TypeError, ValueError, AttributeError) as e:
        raise UserInputError(f"config.json is malformed: {type(e).__name__}: {e}") from None


def _sub_state(tensors: dict, prefix: str) -> dict:
    return {k[len(prefix):]: v for k, v in tensors.items() if k.startswith(prefix)}


def detect_net(sd: dict) -> str | None:
    """What a single net's state dict looks like, in words, from its keys and shapes alone."""
    def shape(k):
        return tuple(sd[k].shape) if k in sd and hasattr(sd[k], "shape") else None
    if "model.1.weight" in sd and any(".conv_block." in k for k in sd):
        blocks = {k.split(".")[1] for k in sd if ".conv_block." in k}
        return f"a CycleGAN ResNet generator (ngf {shape('model.1.weight')[0]}, {len(blocks)} blocks)"
    if "model.model.0.weight" in sd:
        depth = max(k.split(".").count("model") for k in sd) - 1
        return f"a CycleGAN U-Net generator (ngf {shape('model.model.0.weight')[0]}, {depth} levels)"
    if "down.0.0.weight" in sd:
        levels = len({k.split(".")[1] for k in sd if k.startswith("down.")})
        return f"a DualGAN U-Net generator (ngf {shape('down.0.0.weight')[0]}, {levels} levels)"
    if "stages.0.0.weight" in sd:
        return f"a DiscoGAN discriminator (ndf {shape('stages.0.0.weight')[0]})"
    if "model.0.weight" in sd:
        convs = sorted((int(k.split(".")[1]) for k in sd if re.fullmatch(r"model\.\d+\.weight", k)
                        and len(sd[k].shape) == 4))
        last = shape(f"model.{convs[-1]}.weight") if convs else None
        width = shape("model.0.weight")[0]
        if "model.0.bias" not in sd and any(k.endswith("running_mean") for k in sd):
            return f"a DiscoGAN generator (ngf {width})"
        if last is not None and last[0] == 1:
            if shape("model.0.weight")[-1] == 5:
                return f"a DualGAN critic (ndf {width})"
            return f"a PatchGAN discriminator (ndf {width}), not a generator"
    return None


def _detect_model(tensors: dict) -> str | None:
    for name in ("G_AB", "G_BA"):
        sub = _sub_state(tensors, name + ".")
        if sub:
            return detect_net(sub)
    return detect_net(tensors)


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
            parts.append(f"{len(wrong)} tensors have the wrong shape (e.g. {wrong[0]}, file vs expected)")
        if missing:
            parts.append(f"{len(missing)} missing (e.g. {missing[0]})")
        if unexpected:
            parts.append(f"{len(unexpected)} unexpected (e.g. {unexpected[0]})")
        found = _detect_model(tensors)
        looks = f"the weights look like {found}; " if found else ""
        raise UserInputError(f"{what} does not match its architecture {model.preset.name!r} "
                             f"({g.family} {json.dumps(g.kwargs)}): {looks}" + "; ".join(parts))
    for name in NETS:
        net = getattr(model, name)
        if net is not None:
            net.load_state_dict(_sub_state(tensors, name + "."))
    return model.eval()


def _read_safetensors(path: Path) -> tuple[dict, dict]:
    if path.stat().st_size == 0:
        raise UserInputError(f"'{path.name}' is empty (0 bytes)")
    try:
        from safetensors import safe_open
        with safe_open(str(path), "pt") as f:
            meta = f.metadata() or {}
        return load_file(str(path)), meta
    except (SafetensorError, OSError, ValueError, RuntimeError, MemoryError, OverflowError) as e:
        reason = str(e).splitlines()[0][:200] if str(e) else type(e).__name__
        raise UserInputError(f"'{path.name}' is not a readable safetensors file ({reason}); "
                             "it may be truncated or not a checkpoint") from None


def _read_config(path: Path) -> dict:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise UserInputError(f"'{path}' is not valid JSON: {e}") from None


def load_folder(folder: Path) -> CycleModel:
    cfg_path, weights = folder / CONFIG, folder / WEIGHTS
    if not weights.is_file():
        official = _official_files_in(folder)
        if official:
            return load_official([str(p) for p in official])
        raise UserInputError(f"no {WEIGHTS} in '{folder}': a model folder holds {CONFIG} and {WEIGHTS} "
                             "(or official CycleGAN latest_net_G_A.pth / latest_net_G_B.pth)")
    tensors, meta = _read_safetensors(weights)
    if cfg_path.is_file():
        cfg = _read_config(cfg_path)
    elif "cyclegan_config" in meta:
        cfg = _meta_config(meta, weights)
    else:
        raise UserInputError(f"no {CONFIG} in '{folder}'")
    return load_state(model_from_config(cfg), tensors, f"'{weights}'")


def _meta_config(meta: dict, path: Path) -> dict:
    try:
        return json.loads(meta["cyclegan_config"])
    except json.JSONDecodeError:
        raise UserInputError(f"'{path.name}' carries a malformed model config") from None


def load_safetensors_file(path: Path) -> CycleModel:
    tensors, meta = _read_safetensors(path)
    if "cyclegan_config" in meta:
        return load_state(model_from_config(_meta_config(meta, path)), tensors, f"'{path.name}'")
    # A bare generator state dict, e.g. an official checkpoint converted to safetensors.
    return official_model([(tensors, path.name)])


# --- official CycleGAN files -------------------------------------------------------------------
def clean_official_state(sd: dict) -> dict:
    """Drop the wrappers (DDP's `module.`, torch.compile's `_orig_mod.`) and the InstanceNorm
    buffers old PyTorch versions saved, which the nets neither have nor need."""
    out = {}
    for k, v in sd.items():
        if not isinstance(v, torch.Tensor) or not isinstance(k, str):
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
    found = detect_net(sd)
    if found is None:
        sample = ", ".join(keys[:3]) or "no tensors"
        found = f"{len(keys)} tensors with keys like {sample}"
    raise UserInputError(f"'{name}' is not a CycleGAN generator: it looks like {found}; expected the official "
                         "layout ('model.1.weight', 'model.10.conv_block.1.weight', ... for resnet_6/9blocks, "
                         "'model.model.0.weight' for unet_128/256)")


def _read_pth(path: Path) -> dict:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            sd = torch.load(str(path), map_location="cpu", weights_only=True)
    except Exception as e:  # weights_only refuses pickled code; anything else is a broken file
        text = str(e)
        glob = re.search(r"Unsupported global: GLOBAL ([\w.]+)", text)
        if glob:
            what = glob.group(1)
            hint = (" It holds a whole pickled model: save `net.state_dict()` instead."
                    if what.startswith("torch.nn.") or what.startswith("__main__") else "")
            raise UserInputError(f"'{path.name}' contains pickled objects other than tensors ({what}); refusing "
                                 f"to load it: only plain state dicts are read, never code.{hint}") from None
        reason = "not a PyTorch state dict" if "Weights only load failed" in text else (text.splitlines()[0][:200] if text else type(e).__name__)
        raise UserInputError(f"'{path.name}' is not a readable PyTorch checkpoint ({reason}); "
                             "it may be truncated or corrupt") from None
    if isinstance(sd, dict) and "state_dict" in sd and isinstance(sd["state_dict"], dict):
        sd = sd["state_dict"]
    if not isinstance(sd, dict):
        raise UserInputError(f"'{path.name}' holds a {type(sd).__name__}, not a state dict")
    return sd


_PAIR = re.compile(r"(?:^|_)([a-z]+)2([a-z]+)(?:_|$)")


def _domains_from_name(names: list[str]) -> tuple[str, str]:
    """'horse2zebra.pth' → (horse, zebra); also from the folder, as in 'horse2zebra_pretrained/'.
    The authors' style transfer models ('style_monet') map photos to paintings."""
    stems = [Path(n).stem.lower() for n in names] + [Path(n).parent.name.lower() for n in names]
    for s in stems:
        m = _PAIR.search(s)
        if m:
            return m.group(1), m.group(2)
    for s in stems:
        m = re.match(r"^style_([a-z]+)", s)
        if m:
            return "photo", m.group(1)
    return "A", "B"


def _named_direction(name: str) -> str | None:
    """'latest_net_G_A' (or G_AB) maps A→B; 'G_B' (or G_BA) maps B→A; None when unnamed."""
    m = re.search(r"(?:^|_)G_(AB|BA|A|B)$", Path(name).stem)
    if not m:
        return None
    return "a2b" if m.group(1).startswith("A") else "b2a"


def _assign_directions(names: list[str]) -> list[str]:
    named = [_named_direction(n) for n in names]
    if len(names) == 1:
        return [named[0] or "a2b"]
    if named[0] and named[0] == named[1]:
        raise UserInputError(f"both files are {'G_A (A→B)' if named[0] == 'a2b' else 'G_B (B→A)'} generators: "
                             f"give one G_A and one G_B file ({names[0]}, {names[1]})")
    if named[0] is None and named[1] is None:
        return ["a2b", "b2a"]          # unnamed pair: first A→B, second B→A
    if named[0] is None:
        return ["b2a" if named[1] == "a2b" else "a2b", named[1]]
    if named[1] is None:
        return [named[0], "b2a" if named[0] == "a2b" else "a2b"]
    return named


def official_model(items: list[tuple[dict, str]]) -> CycleModel:
    """One file: a one-direction model (G_B files map B→A). Two: G_A and G_B, both directions."""
    names = [n for _, n in items]
    directions = _assign_directions(names)
    by_dir: dict[str, dict] = {}
    specs = []
    for (sd, name), direction in zip(items, directions):
        sd = clean_official_state(sd)
        specs.append(infer_official_generator(sd, Path(name).name))
        by_dir[direction] = sd
    if len(specs) == 2 and specs[0] != specs[1]:
        raise UserInputError(f"the two files are different generators ({specs[0].family} {specs[0].kwargs} "
                             f"vs {specs[1].family} {specs[1].kwargs})")
    gen = specs[0]
    small = gen.kwargs.get("n_blocks") == 6 or gen.kwargs.get("num_downs") == 7
    preset = replace(PRESETS["cyclegan"], generator=gen, image_size=128 if small else 256)
    model = CycleModel(preset, domains=_domains_from_name(names), directions=tuple(sorted(by_dir)),
                       provenance={"source": "official CycleGAN checkpoint", "files": [Path(n).name for n in names]})
    tensors = {}
    for direction, sd in by_dir.items():
        net = "G_AB" if direction == "a2b" else "G_BA"
        tensors.update({f"{net}.{k}": v for k, v in sd.items()})
    return load_state(model, tensors, " + ".join(f"'{Path(n).name}'" for n in names))


def _official_files_in(folder: Path) -> list[Path]:
    """The generator files in an official checkpoint folder: latest_net_G_A.pth + latest_net_G_B.pth
    (or the newest epoch's), latest_net_G.pth of a pretrained download, or one or two lone .pth."""
    pths = sorted(p for p in folder.glob("*.pth") if p.is_file())
    gens = [p for p in pths if re.search(r"net_G(_[AB])?$", p.stem)]
    if not gens:
        return pths if 1 <= len(pths) <= 2 else []
    latest = [p for p in gens if p.stem.startswith("latest_")]
    if latest:
        return latest
    best: dict[str, tuple[int, Path]] = {}
    for p in gens:
        m = re.match(r"^(\d+)_", p.stem)
        epoch = int(m.group(1)) if m else -1
        key = p.stem.split("net_G", 1)[1]
        if key not in best or epoch > best[key][0]:
            best[key] = (epoch, p)
    return [p for _, p in sorted(best.values(), key=lambda t: t[1].name)]


def load_official(paths: list[str]) -> CycleModel:
    if not paths:
        raise UserInputError("no checkpoint files given")
    if len(paths) > 2:
        raise UserInputError(f"give one official generator file, or two (G_A and G_B); got {len(paths)}")
    items = []
    for p in paths:
        path = Path(p).expanduser()
        if path.is_dir():
            raise UserInputError(f"'{p}' is a folder: give the folder alone, or two .pth files")
        if not path.is_file():
            raise UserInputError(f"file not found: '{p}'")
        if path.stat().st_size == 0:
            raise UserInputError(f"'{path.name}' is empty (0 bytes)")
        sd = _read_safetensors(path)[0] if path.suffix.lower() == ".safetensors" else _read_pth(path)
        items.append((sd, str(path)))
    return official_model(items)


# --- the one entry point ---------------------------------------------------------------------
def load_model(spec, device: str | torch.device | None = None) -> CycleModel:
    """A model folder; `demo:<name>`; a Hub id `owner/name`; an official `.pth` (or two, as a
    list or 'a.pth,b.pth'); a self-describing `.safetensors`; a zipped model folder."""
    model = _load(spec)
    if device is not None:
        try:
            model.to(device)
        except (RuntimeError, AssertionError) as e:
            raise UserInputError(f"cannot use device {str(device)!r}: {str(e).splitlines()[0] if str(e) else e}") from None
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
        if not name or "/" in name or "\\" in name or not (folder / WEIGHTS).is_file():
            known = sorted(p.name for p in DEMO_DIR.glob("*") if (p / WEIGHTS).is_file()) if DEMO_DIR.is_dir() else []
            raise UserInputError(f"no built-in model {spec!r}; built-in models: {', '.join('demo:' + k for k in known) or 'none'}")
        return load_folder(folder)
    if "," in spec and not os.path.exists(spec):
        return load_official([s.strip() for s in spec.split(",") if s.strip()])
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
        if path.name == CONFIG:
            return load_folder(path.parent)
        raise UserInputError(f"don't know how to load '{path.name}': give a model folder, a .zip of one, "
                             "a .safetensors file or an official CycleGAN .pth")
    if path.suffix.lower() in MODEL_SUFFIXES or spec.startswith((".", "/", "~", "\\")):
        raise UserInputError(f"file not found: '{spec}'")
    if HUB_ID.match(spec):
        return load_from_hub(spec)
    raise UserInputError(f"model not found: '{spec}' is neither a file, a folder, 'demo:<name>' nor a Hub id 'owner/name'")


def load_zip(path: Path) -> CycleModel:
    from .data import safe_extract_zip
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
        official = _official_files_in(cand)
        if official:
            return load_official([str(p) for p in official])
    raise UserInputError(f"'{path.name}' holds no model: expected a folder with {CONFIG} and {WEIGHTS}")


# --- the Hugging Face Hub --------------------------------------------------------------------
def _env_true(name: str) -> bool:
    return os.environ.get(name, "").strip().upper() in ("1", "ON", "YES", "TRUE")


def _hub_cache_dir() -> str | None:
    """huggingface_hub reads HF_HOME / HF_HUB_CACHE once, at import; read them now so a setting
    made later in the process (a test, a notebook) still counts."""
    if os.environ.get("HF_HUB_CACHE"):
        return os.path.expanduser(os.path.expandvars(os.environ["HF_HUB_CACHE"]))
    if os.environ.get("HF_HOME"):
        return os.path.join(os.path.expanduser(os.path.expandvars(os.environ["HF_HOME"])), "hub")
    return None


def load_from_hub(repo_id: str, revision: str | None = None) -> CycleModel:
    """Through huggingface_hub's cache, so HF_HOME / HF_HUB_OFFLINE behave as users expect."""
    from huggingface_hub import constants, snapshot_download
    from huggingface_hub.errors import (HFValidationError, LocalEntryNotFoundError, RepositoryNotFoundError,
                                        RevisionNotFoundError)
    offline = bool(constants.HF_HUB_OFFLINE) or _env_true("HF_HUB_OFFLINE") or _env_true("TRANSFORMERS_OFFLINE")
    try:
        folder = snapshot_download(repo_id, revision=revision, cache_dir=_hub_cache_dir(), local_files_only=offline,
                                   allow_patterns=[CONFIG, WEIGHTS, CARD, "*.pth"])
    except RepositoryNotFoundError:
        raise UserInputError(f"Hub repository '{repo_id}' not found (or private: log in with a token); "
                             f"there is no local file or folder of that name either") from None
    except RevisionNotFoundError:
        raise UserInputError(f"Hub repository '{repo_id}' has no revision {revision!r}") from None
    except LocalEntryNotFoundError:
        why = "HF_HUB_OFFLINE is set" if offline else "the Hub cannot be reached"
        raise UserInputError(f"'{repo_id}' is neither a local file or folder nor in the local Hugging Face cache, "
                             f"and {why}: download it once online, or check the name") from None
    except HFValidationError as e:
        raise UserInputError(f"'{repo_id}' is not a valid Hub repository id: {str(e).splitlines()[0]}") from None
    except Exception as e:  # network layer (httpx, proxies, HTTP errors): one line, no traceback
        msg = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise UserInputError(f"could not fetch '{repo_id}' from the Hub: {msg}") from None
    return load_folder(Path(folder))


def push_to_hub(model: CycleModel, repo_id: str, token: str | None = None, private: bool = True) -> str:
    """Upload as a model repo (config.json, model.safetensors, README.md). Returns its URL.
    The token is passed straight to huggingface_hub and never logged or shown in an error."""
    from huggingface_hub import HfApi

    def redact(text: str) -> str:
        if token:
            text = text.replace(token, "***")
        return re.sub(r"hf_[A-Za-z0-9]{8,}", "hf_***", text)

    if not isinstance(repo_id, str) or not HUB_ID.match(repo_id):
        raise UserInputError(redact(f"'{repo_id}' is not a Hub repository id (expected 'owner/name')"))

    with tempfile.TemporaryDirectory() as tmp:
        save_model(model, tmp)
        try:
            api = HfApi(token=token)
            api.create_repo(repo_id, repo_type="model", private=private, exist_ok=True)
            info = api.upload_folder(repo_id=repo_id, folder_path=tmp, repo_type="model",
                                     commit_message="Upload cyclegan-studio model")
        except Exception as e:
            text = redact(str(e))
            msg = text.splitlines()[0] if text.strip() else type(e).__name__
            raise UserInputError(f"push to the Hub failed: {msg}") from None
    url = getattr(info, "repo_url", None)
    return str(url) if url else f"https://huggingface.co/{repo_id}"


def describe(model: CycleModel) -> dict:
    info = model.info()
    info["parameters_total"] = sum(count_parameters(n) for n in (model.G_AB, model.G_BA) if n is not None)
    return info
