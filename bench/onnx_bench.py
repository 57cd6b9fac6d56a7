"""`python -m bench onnx`: the same image through the library's torch path and through the
model's ONNX export in onnxruntime, in one process, interleaved call by call, same threads.
Both go through `CycleModel.translate_tensor` (same padding and value range), so the difference
is the generator's forward: torch (with cyclegan/accel.py's choices) vs onnxruntime's CPU
provider with the export's graph optimisations."""
from __future__ import annotations

import statistics
import tempfile
import time

import torch

from cyclegan.export import export_onnx, load_onnx

from .timing import environment, set_threads, summary
from .translate_bench import open_model


def run(args) -> dict:
    set_threads(args.threads)
    model = open_model(args.model, args.recipe, args.scale, args.size, args.seed).eval()
    direction = args.direction
    x = torch.rand((args.batch, 3, args.size, args.size), generator=torch.Generator().manual_seed(args.seed))
    with tempfile.TemporaryDirectory(prefix="cyclegan-onnx-bench-") as tmp:
        t0 = time.perf_counter()
        exported = export_onnx(model, tmp, [direction], check=False)
        export_s = time.perf_counter() - t0
        onnx_model = load_onnx(tmp)
        onnx_bytes = _size(exported["files"])
        runs = {"torch": lambda: model.translate_tensor(x, direction),
                "onnxruntime": lambda: onnx_model.translate_tensor(x, direction)}
        outs = {k: fn() for k, fn in runs.items()}           # first call of each: not timed
        for _ in range(args.warmup):
            for fn in runs.values():
                fn()
        times: dict[str, list[float]] = {k: [] for k in runs}
        for _ in range(args.n):                               # interleaved: drift hits both alike
            for k, fn in runs.items():
                t = time.perf_counter()
                fn()
                times[k].append(time.perf_counter() - t)
    per_image = {k: {key: v / args.batch if key.endswith("_s") else v for key, v in summary(t).items()
                     if key != "times_s"} for k, t in times.items()}
    speedup = statistics.median(times["torch"]) / statistics.median(times["onnxruntime"])
    return {"bench": "onnx", "model": args.model, "direction": direction, "size": args.size, "batch": args.batch,
            "n": args.n, "threads": torch.get_num_threads(), "export_s": round(export_s, 2),
            "onnx_bytes": onnx_bytes,
            "torch_s_per_image": per_image["torch"], "onnxruntime_s_per_image": per_image["onnxruntime"],
            "onnxruntime_speedup": round(speedup, 3),
            "max_abs_diff": float((outs["torch"] - outs["onnxruntime"]).abs().max()),
            "environment": {**environment(torch.device("cpu")), "onnxruntime": _ort_version()}}


def _ort_version() -> str:
    import onnxruntime
    return onnxruntime.__version__


def _size(files) -> int:
    import os
    return sum(os.path.getsize(f) for f in files)
