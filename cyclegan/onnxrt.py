"""Exported ONNX generators run by onnxruntime: the folder format cyclegan/export.py writes, and
a generator that is an onnxruntime session, so that cyclegan/checkpoints.py can load an exported
folder as a CycleModel (padding, tiling and value ranges then work as for torch nets)."""
from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from .errors import UserInputError

ONNX_JSON = "onnx.json"
ONNX_FORMAT = "cyclegan-studio-onnx/1"
FILES = {"a2b": "G_AB.onnx", "b2a": "G_BA.onnx"}
INSTALL = "pip install 'cyclegan-studio[onnx]' (or: pip install onnx onnxscript onnxruntime)"


def need(*modules: str) -> None:
    missing = []
    for name in modules:
        try:
            __import__(name)
        except ImportError:
            missing.append(name)
    if missing:
        raise UserInputError(f"ONNX needs {', '.join(missing)}, which {'is' if len(missing) == 1 else 'are'} "
                             f"not installed: {INSTALL}")


def is_export(folder: Path) -> bool:
    return (Path(folder) / ONNX_JSON).is_file()


def export_files(folder: Path, info) -> dict[str, Path]:
    """{direction: .onnx file} that an export's onnx.json names, each checked to be there."""
    from .model import check_direction
    if not isinstance(info, dict) or info.get("format") != ONNX_FORMAT or not isinstance(info.get("files"), dict):
        raise UserInputError(f"'{folder / ONNX_JSON}' is not a cyclegan-studio ONNX export (format {ONNX_FORMAT!r})")
    files = {}
    for d, name in info["files"].items():
        if not isinstance(name, str) or Path(name).name != name or not (folder / name).is_file():
            raise UserInputError(f"'{folder}': the ONNX file {name!r} named in {ONNX_JSON} is missing")
        files[check_direction(d)] = folder / name
    return files


class OnnxGenerator(nn.Module):
    """An onnxruntime session that stands where a torch generator would: CycleModel's padding,
    tiling and value-range handling work unchanged around it."""

    def __init__(self, path, multiple: int, smallest: int, threads: int | None = None):
        super().__init__()
        need("onnxruntime")
        import onnxruntime as ort
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = threads or torch.get_num_threads()
        opts.inter_op_num_threads = 1
        opts.log_severity_level = 3
        try:
            self.session = ort.InferenceSession(str(path), sess_options=opts, providers=["CPUExecutionProvider"])
        except Exception as e:
            raise UserInputError(f"'{Path(path).name}' is not a loadable ONNX model: "
                                 f"{str(e).splitlines()[0] if str(e) else type(e).__name__}") from None
        self.input_name = self.session.get_inputs()[0].name
        self.size_multiple, self.min_side = int(multiple), int(smallest)
        self.path = str(path)
        # CycleModel asks its parameters for its device; the session runs on the CPU.
        self._device_anchor = nn.Parameter(torch.zeros(0), requires_grad=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        arr = x.detach().to("cpu", torch.float32).contiguous().numpy()
        return torch.from_numpy(self.session.run(None, {self.input_name: arr})[0])
