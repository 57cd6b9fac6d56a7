"""Small helpers shared by the benchmarks: clocks, statistics, memory and the environment."""
import json
import os
import resource
import statistics
import sys
import time

import torch


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    elif device.type == "mps":
        torch.mps.synchronize()


class Clock:
    """Wall time of each call, and the process CPU time it used: on a shared machine, wall time
    well above cpu_time / threads means the process waited for a core (noisy neighbours)."""

    def __init__(self, device: torch.device):
        self.device, self.wall, self.cpu = device, [], []

    def __call__(self, fn):
        sync(self.device)
        c0, t0 = time.process_time(), time.perf_counter()
        out = fn()
        sync(self.device)
        self.wall.append(time.perf_counter() - t0)
        self.cpu.append(time.process_time() - c0)
        return out


def timed(fn, device: torch.device):
    """(seconds, result) of one call, synchronised on accelerators."""
    sync(device)
    t0 = time.perf_counter()
    out = fn()
    sync(device)
    return time.perf_counter() - t0, out


def summary(times: list[float]) -> dict:
    return {"median_s": statistics.median(times), "min_s": min(times), "max_s": max(times),
            "mean_s": statistics.fmean(times), "times_s": [round(t, 6) for t in times]}


def peak_mem_mb(device: torch.device) -> float:
    """Process RSS high-water mark on CPU; allocator peak on CUDA (since the last reset)."""
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return rss / 2**20 if sys.platform == "darwin" else rss / 1024   # bytes on macOS, KiB on Linux


def reset_peak_mem(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)


def set_threads(threads: int | None) -> int:
    if threads:
        torch.set_num_threads(int(threads))
    return torch.get_num_threads()


def environment(device: torch.device) -> dict:
    env = {"device": str(device), "threads": torch.get_num_threads(), "torch": torch.__version__,
           "cpu_count": os.cpu_count()}
    if device.type == "cuda":
        env["device_name"] = torch.cuda.get_device_name(device)
    else:
        from cyclegan import accel
        flags = accel.cpu_flags()
        env["cpu_capability"] = torch.backends.cpu.get_cpu_capability()
        env["cpu_flags"] = sorted(f for f in flags if f.startswith(("avx512_bf16", "amx", "avx512f", "avx2", "avx_vnni")))
        env["precision_setting"] = os.environ.get("CYCLEGAN_PRECISION", "auto")
    for var in ("OMP_NUM_THREADS", "OMP_WAIT_POLICY", "GOMP_SPINCOUNT"):
        if os.environ.get(var):
            env[var.lower()] = os.environ[var]
    try:
        env["load_avg_1m"] = round(os.getloadavg()[0], 2)
    except OSError:
        pass
    return env


def emit(result: dict) -> None:
    print(json.dumps(result, sort_keys=False), flush=True)
