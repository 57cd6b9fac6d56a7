"""`python -m bench translate`: seconds per translated image through `CycleModel.translate_tensor`
(the library's inference path), against a plain NCHW `torch.no_grad` forward of the same
weights (bench/reference.py), plus FLOPs and the forward-only conv peak."""
from __future__ import annotations

import copy
import math
import statistics
from unittest import mock

import torch

import cyclegan.model
from cyclegan import accel, load_model
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
    x = torch.rand((args.batch, 3, args.size, args.size), generator=gen)

    ours = lambda: model.translate_tensor(x, direction)                          # noqa: E731
    ref = lambda: reference_translate(ref_net, x.to(dev), model.value_range)     # noqa: E731
    # What each inference choice buys: the library path with torch's own convs, in NCHW and in
    # channels_last (what the library runs for narrow nets, and for all nets without NNPACK).
    plain_model = winograd.plain(copy.deepcopy(model))

    def torch_convs(fmt):
        def run():
            with mock.patch.object(cyclegan.model, "_inference_layout", lambda t, net: t.contiguous(memory_format=fmt)):
                return plain_model.translate_tensor(x, direction)
        return run

    with ConvRecorder(net) as rec, winograd.disabled():   # FLOPs of the direct convolutions
        flops, _ = count_flops(ours)
    fallbacks_before = winograd.fallbacks
    y_ours, y_ref = ours(), ref()        # outside the flop counter: the kernels users get
    first_fallbacks = winograd.fallbacks - fallbacks_before
    max_abs_diff = float((y_ours.float().cpu() - y_ref.float().cpu()).abs().max())
    timed = {"ours": ours, "reference": ref}
    if dev.type == "cpu" and not args.no_variants:
        timed.update(torch_convs_nchw=torch_convs(torch.contiguous_format),
                     torch_convs_channels_last=torch_convs(torch.channels_last))
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
        "size": args.size, "batch": args.batch, "n": args.n, "direction": direction,
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
        "variants": {k: {"median_s": statistics.median(c.wall) / args.batch,
                         "speedup_vs_reference": statistics.median(c_ref.wall) / statistics.median(c.wall)}
                     for k, c in clocks.items() if k not in ("ours", "reference")},
        "max_abs_diff_vs_reference": max_abs_diff,
        "times_s": st["times_s"], "reference_times_s": sr["times_s"],
    }
    if args.verbose:
        result["conv_table"] = pk["conv_table"]
    if not math.isfinite(max_abs_diff) or max_abs_diff > 1e-3:
        result["error"] = f"our output differs from the reference forward by {max_abs_diff:.3g}"
    return result


__all__ = ["open_model", "run"]
