"""Tensors in and out: reading weight files from strangers (.safetensors, and plain .pth state
dicts through torch.load(weights_only=True), never unpickling code), a model's state as one flat
dict, and a strict loader whose message says what differs and what the weights look like."""
import json
import re
import warnings
from pathlib import Path

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import load_file

from .errors import UserInputError

NETS = ("G_AB", "G_BA", "D_A", "D_B")


def read_safetensors(path: Path) -> tuple[dict, dict]:
    """(tensors, metadata) of a .safetensors file, or a UserInputError saying why not."""
    path = Path(path)
    if path.stat().st_size == 0:
        raise UserInputError(f"'{path.name}' is empty (0 bytes)")
    try:
        with safe_open(str(path), "pt") as f:
            meta = f.metadata() or {}
        return load_file(str(path)), meta
    except (SafetensorError, OSError, ValueError, RuntimeError, MemoryError, OverflowError) as e:
        reason = str(e).splitlines()[0][:200] if str(e) else type(e).__name__
        raise UserInputError(f"'{path.name}' is not a readable safetensors file ({reason}); "
                             "it may be truncated or not a checkpoint") from None


def read_pth(path: Path) -> dict:
    """A plain state dict from a .pth file; pickled code is refused, never run."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            sd = torch.load(str(path), map_location="cpu", weights_only=True)
    except Exception as e:  # weights_only refuses pickled code; anything else is a broken file
        raise _pth_refusal(path, str(e)) from None
    if isinstance(sd, dict) and "state_dict" in sd and isinstance(sd["state_dict"], dict):
        sd = sd["state_dict"]
    if not isinstance(sd, dict):
        raise UserInputError(f"'{path.name}' holds a {type(sd).__name__}, not a state dict")
    return sd


def _pth_refusal(path: Path, text: str) -> UserInputError:
    """torch's weights-only loader refuses anything but tensors and plain containers; its words
    for that changed across versions (`Unsupported global: GLOBAL x`, `Trying to load
    unsupported GLOBAL x whose module m is blocked`). A named global is code the file would run
    (or import) when unpickled, so that is what the message says."""
    glob = re.search(r"Unsupported global: GLOBAL ([\w.]+)|unsupported GLOBAL ([\w.]+)", text)
    if glob:
        what = glob.group(1) or glob.group(2)
        hint = (" It holds a whole pickled model: save `net.state_dict()` instead."
                if what.startswith(("torch.nn.", "__main__")) else "")
        return UserInputError(f"'{path.name}' refused: this file would run code when loaded (it names {what}); "
                              f"only plain state dicts are read, never code.{hint}")
    op = re.search(r"Unsupported operand (\d+)", text)
    with open(path, "rb") as f:
        head = f.read(2)
    if op and head[:1] == b"\x80" and head[1:2] in (b"\x04", b"\x05"):   # a protocol 4/5 pickle
        named = _pickle_globals(path)
        if named:
            return UserInputError(f"'{path.name}' refused: this file would run code when loaded (it names "
                                  f"{named[0]}); only plain state dicts are read, never code")
        return UserInputError(f"'{path.name}' refused: it is a pickle the safe loader does not read (pickle opcode "
                               f"{op.group(1)}); only plain state dicts saved by torch.save are read, never code")
    reason = "not a PyTorch state dict" if "Weights only load failed" in text else (
        text.splitlines()[0][:200] if text else "unreadable")
    return UserInputError(f"'{path.name}' is not a readable PyTorch checkpoint ({reason}); "
                          "it may be truncated or corrupt")


def _pickle_globals(path: Path, max_ops: int = 1_000_000) -> list[str]:
    """The callables a raw protocol 4/5 pickle names (GLOBAL, STACK_GLOBAL), read with
    pickletools, which only parses. torch's safe loader stops at such a pickle's first FRAME
    opcode, before it sees what the file would call."""
    import pickletools
    found, strings, memo = [], [], {}
    try:
        with open(path, "rb") as f:
            for i, (op, arg, _) in enumerate(pickletools.genops(f)):
                if i >= max_ops or op.name == "STOP":
                    break
                if op.name in ("SHORT_BINUNICODE", "BINUNICODE", "UNICODE", "BINUNICODE8"):
                    strings.append(arg)
                elif op.name == "MEMOIZE" and strings:
                    memo[len(memo)] = strings[-1]
                elif op.name in ("BINGET", "LONG_BINGET", "GET") and isinstance(memo.get(arg), str):
                    strings.append(memo[arg])
                elif op.name == "GLOBAL":
                    found.append(str(arg).replace(" ", "."))
                elif op.name == "STACK_GLOBAL":
                    found.append(".".join(strings[-2:]) if len(strings) >= 2 else "a callable")
    except Exception:  # noqa: BLE001 - a malformed pickle: what was found so far is the answer
        pass
    return found


def check_finite(tensors: dict, what: str) -> None:
    """Weights with NaN or Inf translate every image to black (or noise) without an error, so a
    file that holds them is refused when it is loaded."""
    bad = [k for k, v in tensors.items() if torch.is_tensor(v) and v.is_floating_point() and not torch.isfinite(v).all()]
    if bad:
        raise UserInputError(f"{what} holds NaN or infinite weights ({len(bad)} tensor{'s' * (len(bad) != 1)}, e.g. "
                             f"{bad[0]}): the model it was saved from had diverged; use an earlier checkpoint")


def state_tensors(model, include_discriminators: bool = True) -> dict[str, torch.Tensor]:
    out = {}
    for name in NETS:
        net = getattr(model, name)
        if net is None or (name.startswith("D_") and not include_discriminators):
            continue
        for k, v in net.state_dict().items():
            out[f"{name}.{k}"] = v if v.is_meta else v.detach().cpu().contiguous()
    return out


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


def check_state(model, tensors: dict[str, torch.Tensor], what: str) -> None:
    """Strict: every key present and every shape equal, or a message that says what differs;
    and no NaN/Inf. Works on a model built on the meta device, so a file whose config names
    huge nets is refused before they are allocated (its tensors cannot match them)."""
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
        raise UserInputError(f"{what} does not match its architecture {model.preset.architecture!r} "
                             f"({g.family} {json.dumps(g.kwargs)}): {looks}" + "; ".join(parts))
    check_finite({k: tensors[k] for k in expected}, what)


def load_state(model, tensors: dict[str, torch.Tensor], what: str, checked: bool = False):
    """`tensors` into `model` (checked first unless `checked` says check_state already ran)."""
    if not checked:
        check_state(model, tensors, what)
    for name in NETS:
        net = getattr(model, name)
        if net is not None:
            net.load_state_dict(_sub_state(tensors, name + "."))
    return model.eval()
