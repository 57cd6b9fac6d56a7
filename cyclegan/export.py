"""ONNX export: one file per direction, batch, height and width dynamic, so the nets run in
onnxruntime, ONNX-capable browsers and phones without PyTorch. `load_model` opens an exported
folder as a CycleModel whose generators are onnxruntime sessions (cyclegan/onnxrt.py), so
`cyclegan translate` and `cyclegan eval` run on it and the export is scored like any model.

The exporter is torch.onnx's torch.export-based one (`dynamo=True`, the default since torch 2.9;
it needs `onnxscript`). The TorchScript-based one also works on these nets but is deprecated.
Weights are stored inside each .onnx file (`external_data=False`): the largest generator here is
far below ONNX's 2 GB limit, and one self-contained file per direction is easier to carry.

An exported folder:
    config.json       the model's config (architecture, preset, domains, value range)
    onnx.json         which file is which direction, and what the files take and give
    G_AB.onnx, G_BA.onnx
Input `image`: float32 [N, 3, H, W] in the model's value range (config.json `value_range`),
H and W multiples of `size_multiple` and at least `min_side`; output `translated`, the same
shape and range. The exported forward is the deterministic eval one (no test-time dropout).
"""
from __future__ import annotations

import contextlib
import copy
import io
import json
import time
from pathlib import Path

import torch
from torch import nn

from .checkpoints import CONFIG, model_config
from .errors import UserInputError
from .model import CycleModel, check_direction
from .nets import min_side, size_multiple, winograd
from .onnxrt import FILES, ONNX_FORMAT, ONNX_JSON, OnnxGenerator, need
from .translate import padded_side

FORMATS = ("onnx",)


def export_onnx(model: CycleModel, out_dir, directions=None, opset: int | None = None,
                check: bool = True) -> dict:
    """Write `model`'s generators to `out_dir` as ONNX (see the module docstring). With `check`
    (and onnxruntime installed) each file is run once on a random image of a size other than
    the one exported with, against the torch net; the largest difference is reported."""
    need("onnx", "onnxscript")
    directions = [check_direction(d) for d in (directions or model.directions)]
    for d in directions:
        model.generator(d)                                 # a missing direction: its clear error
    out = Path(out_dir)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise UserInputError(f"cannot create folder '{out}': {e.strerror or e}") from None
    lo, hi = model.value_range
    files, diffs, seconds = {}, {}, {}
    for d in directions:
        net = winograd.plain(copy.deepcopy(model.generator(d))).float().cpu().eval()
        multiple, smallest = size_multiple(net), min_side(net)
        side = padded_side(model.image_size, multiple, smallest)
        example = torch.rand(1, 3, side, side) * (hi - lo) + lo
        path = out / FILES[d]
        t0 = time.perf_counter()
        _export(net, example, path, opset)
        seconds[d] = round(time.perf_counter() - t0, 2)
        _stamp(path, model, d, multiple, smallest)
        files[d] = path.name
        if check and _has("onnxruntime"):
            # Another batch and shape than the example: the dynamic axes must really be dynamic.
            h, w = padded_side(side + multiple, multiple, smallest), padded_side(2 * side, multiple, smallest)
            x = torch.rand(2, 3, h, w, generator=torch.Generator().manual_seed(0)) * (hi - lo) + lo
            with torch.no_grad():
                ref = net(x)
            got = OnnxGenerator(path, multiple, smallest)(x)
            diffs[d] = float((got - ref).abs().max())
    (out / CONFIG).write_text(json.dumps(model_config(model), indent=2))
    info = {"format": ONNX_FORMAT, "files": files, "input": "image", "output": "translated",
            "layout": "float32 [N, 3, H, W]", "value_range": [lo, hi],
            "size_multiple": size_multiple(model.generator(directions[0])),
            "min_side": min_side(model.generator(directions[0])), "torch": torch.__version__,
            "exporter": "torch.onnx.export(dynamo=True)"}
    (out / ONNX_JSON).write_text(json.dumps(info, indent=2))
    return {"folder": str(out), "files": [str(out / f) for f in files.values()], "export_s": seconds,
            "max_abs_diff": diffs, "checked": bool(diffs)}


def _export(net: nn.Module, example: torch.Tensor, path: Path, opset: int | None) -> None:
    dims = {0: "batch", 2: "height", 3: "width"}
    kwargs = {"opset_version": opset} if opset else {}
    # The exporter narrates each stage on stdout; a CLI that prints JSON must stay parseable.
    with contextlib.redirect_stdout(io.StringIO()):
        try:
            torch.onnx.export(net, (example,), str(path), dynamo=True, external_data=False, verbose=False,
                              input_names=["image"], output_names=["translated"], dynamic_shapes=(dims,),
                              optimize=True, **kwargs)
        except Exception as e:   # the exporter's own failure, e.g. an op without an ONNX mapping
            raise UserInputError(f"ONNX export of {path.stem} failed: {str(e).splitlines()[0] if str(e) else e}") from None


def _stamp(path: Path, model: CycleModel, direction: str, multiple: int, smallest: int) -> None:
    """Facts a user of the bare .onnx file needs, as ONNX metadata_props."""
    import onnx
    proto = onnx.load(str(path))
    facts = {"cyclegan.direction": direction, "cyclegan.label": model.direction_label(direction),
             "cyclegan.architecture": model.architecture, "cyclegan.value_range": json.dumps(list(model.value_range)),
             "cyclegan.size_multiple": str(multiple), "cyclegan.min_side": str(smallest),
             "cyclegan.domains": json.dumps(list(model.domains))}
    for k, v in facts.items():
        entry = proto.metadata_props.add()
        entry.key, entry.value = k, v
    onnx.save(proto, str(path))


def _has(name: str) -> bool:
    try:
        __import__(name)
        return True
    except ImportError:
        return False


def load_onnx(folder) -> CycleModel:
    """An exported folder as a model whose generators run in onnxruntime (what load_model does
    with such a folder)."""
    from .checkpoints import load_model
    return load_model(Path(folder))
