"""`python -m bench translate`: seconds per translated image through `CycleModel.translate_tensor`
(the library's inference path), against a plain NCHW `torch.no_grad` forward of the same
weights (bench/reference.py), plus FLOPs and the forward-only conv peak."""
from __future__ import annotations

import copy
import math
import os
import statistics
from unittest import mock

import torch

import cyclegan.model
from cyclegan import UserInputError, accel, load_model
from cyclegan.model import CycleModel
from cyclegan.nets import winograd
from cyclegan.presets import get_preset
from train.trainer import init_net, pick_device

from .peak import ConvRecorder, count_flops, measure_peak
from .reference import reference_translate, use_torch_instance_norm
from .timing import Clock, environment, peak_mem_mb, reset_peak_mem, set_threads, summary


def open_model(spec: str, recipe: str | None = None, scale: str = "full", size: int | None = None,
               seed: int = 0) -> CycleModel:
    """Anything `cyclegan.load_model` accepts, or `random:<arch>`: a preset model with random
    weights drawn as the preset initialises them, so the benchmark runs without files; either way
    ready to translate as load_model makes it (cyclegan/accel.py applied)."""
    if spec in ("vintage", "demo:vintage"):          # the real-photo ResNet-9 (cyclegan/vintage.py)
        from cyclegan.vintage import vintage_model
        model = vintage_model()
        accel.accelerate(model)
        return model
    if spec.startswith("random:"):
        p = get_preset(spec[len("random:"):], recipe, scale, size)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            model = CycleModel(p, directions=p.directions, provenance={"random": True})
            for g in (model.G_AB, model.G_BA):
                if g is not None:
                    init_net(g, p)
        accel.accelerate(model)
        return model
    return load_model(spec)


def run(args) -> dict:
    set_threads(args.threads)
    dev = pick_device(args.device)
    model = open_model(args.model, args.recipe, args.scale, args.size, args.seed).to(dev).eval()
    direction = args.direction
    net = model.generator(direction)
    # The official forward: torch's own convs and nn.InstanceNorm2d, NCHW.
    ref_net = use_torch_instance_norm(winograd.plain(copy.deepcopy(net).to(memory_format=torch.contiguous_format)))
    ref_net.eval()
    gen = torch.Generator().manual_seed(args.seed)
    w, h = _shape(args)
    x = torch.rand((args.batch, 3, h, w), generator=gen)
    max_side = args.max_side or max(w, h)

    ours = lambda: model.translate_tensor(x, direction, max_side=max_side)       # noqa: E731
    ref = lambda: reference_translate(ref_net, x.to(dev), model.value_range)     # noqa: E731
    # What each inference choice buys: the library path with torch's own convs, in NCHW and in
    # channels_last (what the library runs for narrow nets, and for all nets without NNPACK).
    plain_model = winograd.plain(copy.deepcopy(model))

    def torch_convs(fmt):
        def run():
            with mock.patch.object(cyclegan.model, "_inference_layout", lambda t, net: t.contiguous(memory_format=fmt)):
                return plain_model.translate_tensor(x, direction, max_side=max_side)
        return run

    with ConvRecorder(net) as rec, winograd.disabled():   # FLOPs of the direct convolutions
        flops, _ = count_flops(ours)
    fallbacks_before = winograd.fallbacks
    y_ours, y_ref = ours(), ref()        # outside the flop counter: the kernels users get
    first_fallbacks = winograd.fallbacks - fallbacks_before
    max_abs_diff = float((y_ours.float().cpu() - y_ref.float().cpu()).abs().max())
    timed = {"ours": ours, "reference": ref}

    def precision(value):          # the library path with CYCLEGAN_PRECISION forced
        def run():
            with mock.patch.dict(os.environ, {"CYCLEGAN_PRECISION": value}):
                return model.translate_tensor(x, direction, max_side=max_side)
        return run

    if dev.type == "cpu" and not args.no_variants:
        timed.update(torch_convs_nchw=torch_convs(torch.contiguous_format),
                     torch_convs_channels_last=torch_convs(torch.channels_last),
                     float32=precision("float32"), bf16_autocast_channels_last=precision("bfloat16"))
    if dev.type == "cpu" and getattr(args, "ecosystem", False):
        timed.update(ecosystem_variants(model, net, direction, x, max_side, ref_net))
    for _ in range(args.warmup):
        for fn in timed.values():
            fn()

    reset_peak_mem(dev)
    clocks = {k: Clock(dev) for k in timed}
    names = list(timed)
    for i in range(args.n):          # interleaved, rotating who goes first: fair under noisy neighbours
        for k in names[i % len(names):] + names[:i % len(names)]:
            clocks[k](timed[k])
    c_ours, c_ref = clocks["ours"], clocks["reference"]
    t_ours = [t / args.batch for t in c_ours.wall]
    t_ref = [t / args.batch for t in c_ref.wall]
    mem = peak_mem_mb(dev)

    pk = measure_peak(rec.counts, dev, reps=args.peak_reps)
    st, sr = summary(t_ours), summary(t_ref)
    achieved = flops / args.batch / st["median_s"] / 1e9
    result = {
        "bench": "translate", "model": args.model, "arch": model.architecture,
        "recipe": model.preset.recipe, "scale": model.preset.scale,
        "size": args.size, "shape_wh": [w, h], "max_side": max_side, "batch": args.batch, "n": args.n, "direction": direction,
        **environment(dev),
        **{k: st[k] for k in ("median_s", "min_s", "max_s", "mean_s")},
        "images_per_s": 1.0 / st["median_s"],
        "cpu_median_s": statistics.median(c_ours.cpu) / args.batch,
        "peak_mem_mb": round(mem, 1),
        "gflop_per_image": flops / args.batch / 1e9,
        "achieved_gflops": achieved,
        "peak_gflops": pk["peak_gflops"],
        "fraction_of_peak": achieved / pk["peak_gflops"] if pk["peak_gflops"] > 0 else 0.0,
        "conv_isolated_s_per_image": pk["conv_isolated_s"] / args.batch,
        "fraction_of_peak_cpu_time": pk["conv_isolated_cpu_s"] / statistics.median(c_ours.cpu)
        if statistics.median(c_ours.cpu) > 0 else None,
        "speedup_vs_reference_cpu_time": statistics.median(c_ref.cpu) / statistics.median(c_ours.cpu)
        if statistics.median(c_ours.cpu) > 0 else None,
        "peak_gflops_by_format": pk["peak_gflops_by_format"],
        "peak_gflops_model_format": pk["peak_gflops_model_format"],
        # The same mix if NNPACK's Winograd kernels ran the stride-1 convs (torch's default
        # dispatch does not use them below batch 16): what a forward-only path could reach.
        "peak_gflops_with_nnpack": pk["peak_gflops_with_nnpack"],
        "reference": {"median_s": sr["median_s"], "min_s": sr["min_s"], "max_s": sr["max_s"],
                      "cpu_median_s": statistics.median(c_ref.cpu) / args.batch,
                      "what": "NCHW generator forward under torch.no_grad, torch's convs and InstanceNorm2d "
                              "(bench/reference.py)"},
        "speedup_vs_reference": sr["median_s"] / st["median_s"],
        "winograd_fallbacks_first_call": first_fallbacks,
        "winograd_fallbacks": winograd.fallbacks - fallbacks_before,
        "winograd_convs": sum(isinstance(m, winograd.WinogradConv2d) for m in net.modules())
        if dev.type == "cpu" and winograd.available() else 0,
        "precision": str(accel.inference_dtype(net, dev)).replace("torch.", ""),
        "cpu_features": accel.cpu_features() if dev.type == "cpu" else None,
        "psnr_vs_reference_db": _psnr(y_ours, y_ref),
        "variants": {k: {"median_s": statistics.median(c.wall) / args.batch,
                         "speedup_vs_reference": statistics.median(c_ref.wall) / statistics.median(c.wall),
                         "speedup_vs_ours": statistics.median(c_ours.wall) / statistics.median(c.wall),
                         "psnr_vs_reference_db": _psnr(timed[k](), y_ref)}
                     for k, c in clocks.items() if k not in ("ours", "reference")},
        "max_abs_diff_vs_reference": max_abs_diff,
        "unavailable_variants": getattr(ecosystem_variants, "unavailable", None) if getattr(args, "ecosystem", False)
        else None,
        "times_s": st["times_s"], "reference_times_s": sr["times_s"],
    }
    if args.verbose:
        result["conv_table"] = pk["conv_table"]
    # bf16 keeps ~3 significant digits; float32 on CUDA convolves in TF32 (10-bit mantissa):
    # 1.5e-3 from the reference on an H200 for the ResNet-9
    tolerance = 0.1 if result["precision"] != "float32" else (1e-2 if dev.type == "cuda" else 1e-3)
    if not math.isfinite(max_abs_diff) or max_abs_diff > tolerance:
        result["error"] = f"our output differs from the reference forward by {max_abs_diff:.3g}"
    return result


def _shape(args) -> tuple[int, int]:
    if not getattr(args, "shape", None):
        return args.size, args.size
    try:
        w, h = (int(v) for v in args.shape.lower().split("x"))
    except ValueError:
        raise UserInputError(f"--shape must be WxH, e.g. 1024x768, got {args.shape!r}") from None
    if w < 1 or h < 1:
        raise UserInputError(f"--shape must be WxH with positive sides, got {args.shape!r}")
    return w, h


def ecosystem_variants(model, net, direction, x, max_side, ref_net) -> dict:
    """What the ecosystem offers for CPU inference, each as a callable like `ours`: the model's
    ONNX export in onnxruntime (export not timed), and int8 post-training quantisation with
    torch's x86 backend (FX graph mode, calibrated on one other random image). A variant that
    cannot be built here is left out, its reason recorded under `unavailable`."""
    out, unavailable = {}, {}
    try:
        import tempfile

        from cyclegan.export import export_onnx, load_onnx
        tmp = tempfile.mkdtemp(prefix="bench-translate-onnx-")
        export_onnx(model, tmp, [direction], check=False)
        onnx_model = load_onnx(tmp)
        out["onnxruntime"] = lambda: onnx_model.translate_tensor(x, direction, max_side=max_side)
    except Exception as e:   # noqa: BLE001  (missing package, exporter limits: report, go on)
        unavailable["onnxruntime"] = f"{type(e).__name__}: {str(e)[:200]}"
    try:
        from torch.ao.quantization import get_default_qconfig_mapping
        from torch.ao.quantization.quantize_fx import convert_fx, prepare_fx
        torch.backends.quantized.engine = "x86"
        lo, hi = model.value_range
        calib = torch.rand(x.shape, generator=torch.Generator().manual_seed(1234)) * (hi - lo) + lo
        prepared = prepare_fx(copy.deepcopy(ref_net).eval(), get_default_qconfig_mapping("x86"), example_inputs=(calib,))
        with torch.no_grad():
            prepared(calib)
        qnet = convert_fx(prepared)
        out["int8_x86"] = lambda: _no_grad(reference_translate, qnet, x, model.value_range)
    except Exception as e:   # noqa: BLE001
        unavailable["int8_x86"] = f"{type(e).__name__}: {str(e)[:200]}"
    ecosystem_variants.unavailable = unavailable
    return out


def _no_grad(fn, *a):
    with torch.no_grad():
        return fn(*a)


def _psnr(y: torch.Tensor, ref: torch.Tensor) -> float:
    """PSNR in dB of an output against the float32 reference's, both in [0, 1]."""
    mse = float(((y.float().cpu() - ref.float().cpu()) ** 2).mean())
    return round(10 * math.log10(1.0 / mse), 2) if mse > 0 else float("inf")


__all__ = ["open_model", "run"]
