"""Checkpoints in other projects' layouts -> our nets: the official CycleGAN `.pth` files (one
generator per file, keys of one `nn.Sequential`) and the community ResNet layouts layouts.py
reads from tensor shapes (PyTorch-GAN, aitorzip, affine instance norm), read with weights_only
and converted at this boundary and nowhere else (their G_A is our G_AB)."""
import re
from dataclasses import replace
from pathlib import Path

import torch

from . import layouts
from .errors import UserInputError
from .model import CycleModel
from .presets import PRESETS, NetSpec
from .weights import detect_net, load_state, read_pth, read_safetensors


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


def _community_resnet(sd: dict, name: str) -> tuple[NetSpec, dict]:
    """The official ResNet and the community layouts (layouts.py): the spec and our keys. A file
    holding another of our nets says which; anything else gets layouts.py's account of how far
    its shapes matched."""
    try:
        return layouts.convert(sd, name)
    except UserInputError:
        found = detect_net(sd)
        if found is None or "ResNet generator" in found:      # a damaged one: say how far it matched
            raise
        raise UserInputError(f"'{name}' is not a CycleGAN generator: it looks like {found}; {layouts.EXPECTED}") from None


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
        if "model.model.0.weight" in sd:                  # the official U-Net: its own keys
            spec = infer_official_generator(sd, Path(name).name)
        else:                                              # any ResNet layout, read from its shapes
            spec, sd = _community_resnet(sd, Path(name).name)
        specs.append(spec)
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


def official_files_in(folder: Path) -> list[Path]:
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
        sd = read_safetensors(path)[0] if path.suffix.lower() == ".safetensors" else read_pth(path)
        items.append((sd, str(path)))
    return official_model(items)
