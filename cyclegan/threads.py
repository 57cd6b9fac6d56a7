"""How many CPU threads torch gets, and how they wait, decided when work starts.

Why: on a shared machine (a Space's two vCPUs, a CI runner, a laptop compiling something) torch's
default — OpenMP threads that spin at every barrier while they wait for the others — collapses:
a thread whose partner was descheduled burns its time slice spinning. A quick CycleGAN step went
from ~1 s to 5-14 s per step on two shared cores (`python -m bench contention`). What fixes it:
- OpenMP threads wait passively (OMP_WAIT_POLICY=PASSIVE), which libgomp reads once when torch
  loads: `passive_wait()` runs at the top of `cyclegan/__init__.py`, before anything imports torch.
- the thread count is the cores this process may use (its CPU affinity, capped by a cgroup CPU
  quota: a container's share, not the host's core count), less what its own other work holds.
  Counting the other processes' runnable tasks and taking fewer threads was measured too and
  lost: with passive waiting, two threads beat one on two cores with one busy neighbour and on a
  machine at load 6-14 (a thread that sleeps at a barrier gives its core back, and more threads
  get a larger share of a contended machine), so the count is not lowered for neighbours;
  `busy_elsewhere()` is kept for the benchmarks' reports.
CYCLEGAN_THREAD_POLICY=torch restores torch's own behaviour (both changes off); an explicit
thread count (`--threads N`, CYCLEGAN_TRAIN_THREADS) is always obeyed as given.
"""
from __future__ import annotations

import math
import os
import statistics
import time

POLICY_ENV = "CYCLEGAN_THREAD_POLICY"


def policy() -> str:
    """'auto' (the default: passive waiting, threads = usable cores) or 'torch' (torch's defaults)."""
    return "torch" if os.environ.get(POLICY_ENV, "").strip().lower() == "torch" else "auto"


def passive_wait() -> bool:
    """Ask OpenMP to sleep rather than spin while waiting; only takes effect before torch is
    imported, and never overrides an OMP_WAIT_POLICY the user set. True when it is in force."""
    if policy() == "auto":
        os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    return os.environ.get("OMP_WAIT_POLICY", "").upper() == "PASSIVE"


def usable_cpus() -> int:
    """Cores this process may run on: its CPU affinity, capped by a cgroup v2 CPU quota."""
    try:
        n = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        n = os.cpu_count() or 1
    try:
        quota, period = open("/sys/fs/cgroup/cpu.max").read().split()[:2]
        if quota != "max":
            n = min(n, max(1, math.ceil(int(quota) / int(period))))
    except (OSError, ValueError):
        pass
    return max(1, n)


def _procs_running() -> int | None:
    try:
        with open("/proc/stat") as f:
            for line in f:
                if line.startswith("procs_running"):
                    return int(line.split()[1])
    except (OSError, ValueError):
        pass
    return None


def _own_running() -> int:
    """Threads of this process in state R (the sampling thread itself among them)."""
    n = 0
    try:
        for tid in os.listdir("/proc/self/task"):
            try:
                with open(f"/proc/self/task/{tid}/stat") as f:
                    stat = f.read()
                if stat[stat.rindex(")") + 2] == "R":
                    n += 1
            except (OSError, ValueError, IndexError):
                pass
    except OSError:
        return 1
    return max(1, n)


def busy_elsewhere(samples: int = 5, interval: float = 0.01) -> int:
    """Runnable tasks of other processes right now (median of a few samples), for reports. Counted only where
    this process may use every core of the machine: inside a CPU slice (affinity or quota smaller
    than the machine) the machine-wide count says nothing about the slice, so it is 0 there."""
    if usable_cpus() < (os.cpu_count() or 1):
        return 0
    counts = []
    for i in range(samples):
        total = _procs_running()
        if total is None:
            return 0
        counts.append(max(0, total - _own_running()))
        if i + 1 < samples:
            time.sleep(interval)
    return int(statistics.median_low(counts))


def choose(requested: int | None = None, reserved: int = 0) -> int:
    """The thread count to run with: `requested` when given; else the usable cores less
    `reserved` (cores this process's own other work holds), at least one (policy 'auto'), or
    torch's own default as it was at start-up (policy 'torch')."""
    if requested:
        return int(requested)
    if policy() == "torch":
        return _TORCH_DEFAULT or usable_cpus()
    return max(1, usable_cpus() - max(0, reserved))


def apply(requested: int | None = None, reserved: int = 0) -> int:
    """Set torch's thread count to `choose(...)` (if it differs) and return it."""
    import torch
    n = choose(requested, reserved)
    if torch.get_num_threads() != n:
        torch.set_num_threads(n)
    return n


def describe() -> dict:
    """What the policy sees, for benchmarks and logs."""
    return {"thread_policy": policy(), "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY", ""),
            "usable_cpus": usable_cpus(), "busy_elsewhere": busy_elsewhere()}


_TORCH_DEFAULT: int | None = None


def remember_torch_default() -> None:
    """Record torch's own default thread count (called once torch is loaded, before any change)."""
    global _TORCH_DEFAULT
    if _TORCH_DEFAULT is None:
        import torch
        _TORCH_DEFAULT = torch.get_num_threads()
