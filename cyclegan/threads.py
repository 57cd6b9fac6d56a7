"""How many CPU threads torch gets, and how they wait, decided when work starts.

Why: torch's default — one OpenMP thread per core, each spinning at every barrier while it waits
for the others — is the fastest on an idle machine and collapses on a shared one: a thread whose
partner was descheduled burns its time slice spinning. A quick CycleGAN step went from ~1 s to
5-14 s on two shared cores (`python -m bench contention`). Waiting passively (OMP_WAIT_POLICY=
PASSIVE, read once by libgomp when torch loads) fixes the collapse but costs ~1.27x when idle
(a sleeping thread must be woken at every barrier). So the policy picks per process and per run:
- where this process can see its neighbours (it may use every core of the machine, so the
  machine's run queue is about its cores) and none is busy when it starts, threads spin as
  torch's default does, and each run (re-checked every 20 s in training, at each translate)
  takes the usable cores less the other processes' runnable tasks: a spinning team never
  shares a core with a neighbour. One spinning thread has no barrier to spin at.
- where it cannot see them (a CPU slice: affinity or cgroup quota smaller than the machine, as
  a Space's vCPUs) or the machine is already busy at start, threads wait passively and a run
  takes all usable cores: with passive waiting two threads beat one with a busy neighbour and
  on a machine at load 6-14 (a sleeping thread gives its core back; more threads get a larger
  share of a contended machine), so the count is not lowered there.
The thread count is the cores this process may use (CPU affinity, capped by a cgroup CPU quota: a
container's share, not the host's core count), less what its own other work holds.
CYCLEGAN_THREAD_POLICY=torch restores torch's own behaviour; =passive always waits passively;
an OMP_WAIT_POLICY the user set wins; an explicit thread count (`--threads N`,
CYCLEGAN_TRAIN_THREADS) is always obeyed as given.
"""
from __future__ import annotations

import math
import os
import statistics
import time

POLICY_ENV = "CYCLEGAN_THREAD_POLICY"


def policy() -> str:
    """'auto' (the default, above), 'passive' (always wait passively) or 'torch' (torch's defaults)."""
    value = os.environ.get(POLICY_ENV, "").strip().lower()
    return value if value in ("torch", "passive") else "auto"


def passive_wait() -> bool:
    """Decide how OpenMP threads wait, before torch is imported (libgomp reads it once); never
    overrides an OMP_WAIT_POLICY the user set. True when threads will wait passively."""
    if policy() == "passive" or (policy() == "auto" and "OMP_WAIT_POLICY" not in os.environ
                                 and (not sees_neighbours() or busy_elsewhere(samples=3, interval=0.005) > 0)):
        os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    return waits_passively()


def waits_passively() -> bool:
    return os.environ.get("OMP_WAIT_POLICY", "").strip().upper() == "PASSIVE"


def sees_neighbours() -> bool:
    """This process may use every core of the machine, so the machine's run queue is about its cores."""
    return usable_cpus() >= (os.cpu_count() or 1)


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
    """Runnable tasks of other processes right now (median of a few samples): what a spinning run
    leaves alone (`choose`), and what the benchmarks report. Counted only where
    this process may use every core of the machine: inside a CPU slice (affinity or quota smaller
    than the machine) the machine-wide count says nothing about the slice, so it is 0 there."""
    if not sees_neighbours():
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
    `reserved` (cores this process's own other work holds) and, when threads spin, less the
    other processes' runnable tasks, at least one (policy 'auto'/'passive'); or torch's own
    default as it was at start-up (policy 'torch')."""
    if requested:
        return int(requested)
    if policy() == "torch":
        return _TORCH_DEFAULT or usable_cpus()
    n = usable_cpus() - max(0, reserved)
    if not waits_passively():
        n -= busy_elsewhere()   # a median over 40 ms: another process's threads linger for a few ms after its work
    return max(1, n)


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
