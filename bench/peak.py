"""The "conv peak": how fast this machine runs the convolutions a model runs, each in isolation.

`ConvRecorder` hooks every Conv2d / ConvTranspose2d of a model during one real pass and records
each call's signature (shapes, stride, padding, dtype, memory format, which gradients autograd
will want). `measure_peak` then times each distinct signature alone, forward (+ backward for
the gradients the real pass needed), in both memory formats, keeps the faster, and weights it
by how often the model ran it:

    peak FLOP/s = Σ count·flops / Σ count·best_isolated_seconds

so "fraction of peak" = achieved / peak says how much of the step is lost outside the
convolutions (norms, pads, activations, optimizer, copies, Python) or to a slow conv layout.
"""
from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass, replace

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from cyclegan.nets import winograd

FORMATS = ("contiguous", "channels_last")


@dataclass(frozen=True)
class ConvSig:
    transposed: bool
    in_shape: tuple
    weight_shape: tuple
    bias: bool
    stride: tuple
    padding: tuple
    dilation: tuple
    groups: int
    output_padding: tuple
    dtype: str
    memory_format: str            # of the input, as the model ran it
    grad: bool                    # autograd recorded the call (a backward follows)
    x_grad: bool                  # ... and wants the input's gradient
    w_grad: bool                  # ... and the weight's
    b_grad: bool

    def short(self) -> str:
        kind = "convT" if self.transposed else "conv"
        k = "x".join(map(str, self.weight_shape[2:]))
        w = self.weight_shape
        cin, cout = (w[0], w[1]) if self.transposed else (w[1], w[0])
        n, _, h, w = self.in_shape
        grads = "".join(c for c, on in (("x", self.x_grad), ("w", self.w_grad)) if on) if self.grad else "fwd"
        return f"{kind}{k}/s{self.stride[0]} {cin}->{cout} n{n} {h}x{w} [{grads}]"


def _fmt_of(x: torch.Tensor) -> str:
    if x.dim() == 4 and not x.is_contiguous() and x.is_contiguous(memory_format=torch.channels_last):
        return "channels_last"
    return "contiguous"


def _memory_format(name: str):
    return torch.channels_last if name == "channels_last" else torch.contiguous_format


class ConvRecorder:
    """Context manager: counts the conv signatures a model runs while it is active."""

    def __init__(self, *models: nn.Module):
        self.models = models
        self.counts: Counter[ConvSig] = Counter()
        self._handles = []
        self.active = True

    def __enter__(self):
        for model in self.models:
            for m in model.modules():
                if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
                    self._handles.append(m.register_forward_hook(self._hook))
        return self

    def __exit__(self, *exc):
        for h in self._handles:
            h.remove()
        self._handles = []

    def _hook(self, m, inputs, output):
        if not self.active:
            return
        x = inputs[0]
        if x.dim() != 4:
            return
        transposed = isinstance(m, nn.ConvTranspose2d)
        shape, padding = tuple(x.shape), tuple(m.padding)
        if not transposed and m.padding_mode != "zeros":      # the module pads first, then convolves
            ph, pw = m._reversed_padding_repeated_twice[2], m._reversed_padding_repeated_twice[0]
            shape = (shape[0], shape[1], shape[2] + 2 * ph, shape[3] + 2 * pw)
            padding = (0, 0)
        if isinstance(padding[0], str):                      # 'same' / 'valid': keep as is
            padding = tuple(padding)
        dtype = x.dtype
        dev = x.device.type
        if torch.is_autocast_enabled(dev) and dtype in (torch.float32, torch.float16, torch.bfloat16):
            dtype = torch.get_autocast_dtype(dev)
        grad = torch.is_grad_enabled() and not torch.is_inference_mode_enabled()
        w_grad = grad and m.weight.requires_grad
        b_grad = grad and m.bias is not None and m.bias.requires_grad
        x_grad = grad and x.requires_grad
        grad = grad and (x_grad or w_grad or b_grad)
        out_pad = tuple(m.output_padding) if transposed else (0, 0)
        sig = ConvSig(transposed, shape, tuple(m.weight.shape), m.bias is not None, tuple(m.stride), padding,
                      tuple(m.dilation), m.groups, out_pad,
                      str(dtype).replace("torch.", ""), _fmt_of(x), grad, x_grad, w_grad, b_grad)
        self.counts[sig] += 1


def _sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _runner(sig: ConvSig, fmt: str, device: torch.device):
    """A closure running one isolated conv call (forward, + backward as the model needed)."""
    dtype = getattr(torch, sig.dtype)
    mf = _memory_format(fmt)
    x = torch.randn(sig.in_shape, device=device, dtype=dtype).contiguous(memory_format=mf)
    w = (torch.randn(sig.weight_shape, device=device, dtype=dtype) * 0.02).contiguous(memory_format=mf)
    cout = sig.weight_shape[1] * sig.groups if sig.transposed else sig.weight_shape[0]
    b = torch.zeros(cout, device=device, dtype=dtype) if sig.bias else None
    x.requires_grad_(sig.x_grad)
    w.requires_grad_(sig.w_grad)
    if b is not None:
        b.requires_grad_(sig.b_grad)
    wanted = [t for t, on in ((x, sig.x_grad), (w, sig.w_grad), (b, sig.b_grad)) if t is not None and on]

    def forward():
        if sig.transposed:
            return F.conv_transpose2d(x, w, b, sig.stride, sig.padding, sig.output_padding, sig.groups, sig.dilation)
        return F.conv2d(x, w, b, sig.stride, sig.padding, sig.dilation, sig.groups)

    if not sig.grad:
        def run():
            with torch.no_grad():
                return forward()
        return run
    with torch.no_grad():
        g = torch.randn_like(forward())

    def run():
        y = forward()
        return torch.autograd.grad(y, wanted, g)
    return run


def nnpack_applies(sig: ConvSig, device: torch.device) -> bool:
    """NNPACK (Winograd / FFT forward kernels) can run this call: forward-only, CPU, float32,
    stride 1, no dilation or groups. torch's own dispatch uses it only for batches of 16 or more."""
    return (device.type == "cpu" and not sig.grad and not sig.transposed and sig.dtype == "float32"
            and sig.stride == (1, 1) and sig.dilation == (1, 1) and sig.groups == 1
            and not isinstance(sig.padding[0], str) and winograd.available())


def _nnpack_runner(sig: ConvSig):
    x = torch.randn(sig.in_shape)
    w = torch.randn(sig.weight_shape) * 0.02
    b = torch.zeros(sig.weight_shape[0]) if sig.bias else None

    def run():
        with torch.no_grad():
            return torch._nnpack_spatial_convolution(x, w, b, list(sig.padding), [1, 1])
    return run


def time_nnpack(sig: ConvSig, reps: int) -> float | None:
    """Best wall time of the NNPACK kernel for this call, or None where NNPACK refuses it."""
    run = _nnpack_runner(sig)
    try:
        run()
    except RuntimeError:
        return None
    best = float("inf")
    for _ in range(max(1, reps)):
        t0 = time.perf_counter()
        run()
        best = min(best, time.perf_counter() - t0)
    return best


def conv_flops(sig: ConvSig, device: torch.device) -> int:
    """FLOPs of one call as FlopCounterMode counts them (the same rule as for the whole step)."""
    run = _runner(replace(sig, memory_format="contiguous"), "contiguous", device)
    with FlopCounterMode(display=False) as fc:
        run()
    return int(fc.get_total_flops())


def time_sig(sig: ConvSig, fmt: str, device: torch.device, reps: int, budget_s: float) -> tuple[float, float]:
    """Best wall time and best process CPU time of `reps` calls after one warm-up (fewer reps if
    one call is slow)."""
    run = _runner(sig, fmt, device)
    _sync(device)
    t0 = time.perf_counter()
    run()
    _sync(device)
    first = time.perf_counter() - t0
    n = max(1, min(reps, int(budget_s / max(first, 1e-9))))
    best, best_cpu = float("inf"), float("inf")
    for _ in range(n):
        _sync(device)
        c0, t0 = time.process_time(), time.perf_counter()
        run()
        _sync(device)
        best = min(best, time.perf_counter() - t0)
        best_cpu = min(best_cpu, time.process_time() - c0)
    return best, best_cpu


def measure_peak(counts: Counter, device: torch.device, reps: int = 3, formats=FORMATS,
                 budget_per_sig_s: float = 3.0) -> dict:
    """The best achievable FLOP/s for this mix of convs; per format and per signature too."""
    old_bench = torch.backends.cudnn.benchmark
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True       # the best algorithm is what "achievable" means
    try:
        rows = []
        for sig, count in sorted(counts.items(), key=lambda kv: kv[0].short()):
            flops = conv_flops(sig, device)
            both = {fmt: time_sig(sig, fmt, device, reps, budget_per_sig_s) for fmt in formats}
            nnp = time_nnpack(sig, reps) if nnpack_applies(sig, device) else None
            rows.append({"sig": sig, "count": count, "flops": flops, "times": {f: t[0] for f, t in both.items()},
                         "cpu": {f: t[1] for f, t in both.items()}, "nnpack": nnp})
    finally:
        torch.backends.cudnn.benchmark = old_bench
    total_flops = sum(r["count"] * r["flops"] for r in rows)
    best_time = sum(r["count"] * min(r["times"].values()) for r in rows)
    per_format = {fmt: total_flops / sum(r["count"] * r["times"][fmt] for r in rows) / 1e9 for fmt in formats}
    # What the model's own format would give, to tell a layout loss from a loss outside the convs.
    own_time = sum(r["count"] * r["times"].get(r["sig"].memory_format, min(r["times"].values())) for r in rows)
    best_cpu = sum(r["count"] * min(r["cpu"].values()) for r in rows)
    # Where NNPACK runs a forward-only call faster (Winograd), what the mix could reach with it.
    with_nnpack = sum(r["count"] * min([*r["times"].values(), r["nnpack"] or float("inf")]) for r in rows)
    return {
        "peak_gflops": total_flops / best_time / 1e9 if best_time > 0 else 0.0,
        "conv_isolated_cpu_s": best_cpu,
        "peak_gflops_by_format": {k: round(v, 3) for k, v in per_format.items()},
        "peak_gflops_model_format": total_flops / own_time / 1e9 if own_time > 0 else 0.0,
        "peak_gflops_with_nnpack": (total_flops / with_nnpack / 1e9 if with_nnpack > 0 else 0.0)
        if any(r["nnpack"] for r in rows) else None,
        "conv_gflop": total_flops / 1e9,
        "conv_isolated_s": best_time,
        "conv_isolated_s_model_format": own_time,
        "conv_calls": sum(r["count"] for r in rows),
        "conv_signatures": len(rows),
        "conv_table": [{"conv": r["sig"].short(), "format": r["sig"].memory_format, "dtype": r["sig"].dtype,
                        "count": r["count"], "gflop": round(r["flops"] / 1e9, 4),
                        **{f"{fmt}_ms": round(t * 1e3, 3) for fmt, t in r["times"].items()},
                        **({"nnpack_ms": round(r["nnpack"] * 1e3, 3)} if r["nnpack"] else {})}
                       for r in rows],
    }


def count_flops(fn) -> tuple[int, object]:
    """Total FLOPs of `fn()` (forward and backward of everything it runs) and its result."""
    with FlopCounterMode(display=False) as fc:
        out = fn()
    return int(fc.get_total_flops()), out
