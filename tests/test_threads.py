"""The thread policy (cyclegan/threads.py): the wait policy decided before torch loads from every
entry point (passive where the machine is busy at start or a CPU slice hides its neighbours,
spinning with the cores not busy elsewhere otherwise), threads = the usable cores (CPU affinity,
cgroup quota; re-read during a run), explicit counts obeyed, CYCLEGAN_THREAD_POLICY=torch
restoring torch's own defaults; and `python -m bench contention`, which measures it."""
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from cyclegan import threads
from train import TrainConfig, Trainer

ROOT = Path(__file__).resolve().parents[1]

# Records OMP_WAIT_POLICY at the moment torch is first imported, then runs the entry point.
PROBE = r"""
import os, sys, atexit
seen = {}
class Probe:
    def find_spec(self, name, path=None, target=None):
        if name == "torch" and "policy" not in seen:
            seen["policy"] = os.environ.get("OMP_WAIT_POLICY")
        return None
sys.meta_path.insert(0, Probe())
atexit.register(lambda: print("POLICY_AT_TORCH_IMPORT=%s" % seen.get("policy"), flush=True))
import runpy
kind, target = sys.argv[1], sys.argv[2]
sys.argv = [target, "--help"]
if kind == "module":
    runpy.run_module(target, run_name="__main__")
else:
    runpy.run_path(target, run_name="not_main")   # builds the app's page, does not launch it
"""


def _env(**extra):
    env = {k: v for k, v in os.environ.items() if k not in ("OMP_WAIT_POLICY", threads.POLICY_ENV)}
    env.update(extra, PYTHONPATH=str(ROOT), GRADIO_ANALYTICS_ENABLED="False")
    return env


def _spinner(seconds: float = 120) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", "import time\nend = time.monotonic() + %s\n"
                             "while time.monotonic() < end: pass" % seconds])


@pytest.mark.parametrize("kind,target", [("module", "train"), ("module", "bench"), ("module", "cyclegan"),
                                         ("path", "app.py")])
@pytest.mark.slow
def test_entry_points_decide_the_wait_before_torch_loads(kind, target):
    # Asked for passive waiting, every entry point has it in place when torch loads.
    p = subprocess.run([sys.executable, "-c", PROBE, kind, target], cwd=ROOT, capture_output=True, text=True,
                       env=_env(**{threads.POLICY_ENV: "passive"}), timeout=300)
    assert "POLICY_AT_TORCH_IMPORT=PASSIVE" in p.stdout, p.stdout[-500:] + p.stderr[-2000:]
    # By default, on a machine that is busy when it starts, too (a slice always waits passively).
    neighbours = [_spinner(), _spinner()]         # two: a margin against a reading taken between their slices
    try:
        deadline = time.monotonic() + 10
        while threads.sees_neighbours() and threads.busy_elsewhere() < 1 and time.monotonic() < deadline:
            time.sleep(0.1)
        p = subprocess.run([sys.executable, "-c", PROBE, kind, target], cwd=ROOT, env=_env(), capture_output=True,
                           text=True, timeout=300)
    finally:
        for nb in neighbours:
            nb.terminate()
            nb.wait(5)
    assert "POLICY_AT_TORCH_IMPORT=PASSIVE" in p.stdout, p.stdout[-500:] + p.stderr[-2000:]


def test_the_wait_follows_what_the_process_can_see(monkeypatch):
    monkeypatch.delenv(threads.POLICY_ENV, raising=False)
    cases = [(True, 0, False), (True, 1, True), (False, 0, True)]   # sees neighbours, busy, → passive
    for sees, busy, passive in cases:
        monkeypatch.delenv("OMP_WAIT_POLICY", raising=False)
        monkeypatch.setattr(threads, "sees_neighbours", lambda: sees)
        monkeypatch.setattr(threads, "busy_elsewhere", lambda *a, **k: busy)
        assert threads.passive_wait() is passive and threads.waits_passively() is passive
    monkeypatch.setenv(threads.POLICY_ENV, "passive")
    monkeypatch.delenv("OMP_WAIT_POLICY", raising=False)
    assert threads.passive_wait() is True                 # asked for: passive even on an idle machine
    monkeypatch.setenv("OMP_WAIT_POLICY", "active")
    assert threads.passive_wait() is False                # the user's own setting wins


@pytest.mark.slow
def test_user_settings_win_over_the_policy():
    p = subprocess.run([sys.executable, "-c", PROBE, "module", "train"], cwd=ROOT, capture_output=True, text=True,
                       env=_env(OMP_WAIT_POLICY="ACTIVE"), timeout=300)
    assert "POLICY_AT_TORCH_IMPORT=ACTIVE" in p.stdout
    p = subprocess.run([sys.executable, "-c", PROBE, "module", "train"], cwd=ROOT, capture_output=True, text=True,
                       env=_env(**{threads.POLICY_ENV: "torch"}), timeout=300)
    assert "POLICY_AT_TORCH_IMPORT=None" in p.stdout


def test_choose_takes_the_usable_cores(monkeypatch):
    monkeypatch.delenv(threads.POLICY_ENV, raising=False)
    monkeypatch.setattr(threads, "usable_cpus", lambda: 4)
    monkeypatch.setattr(threads, "busy_elsewhere", lambda *a, **k: 3)
    # waiting passively, neighbours do not lower the count: more threads measured faster
    monkeypatch.setenv("OMP_WAIT_POLICY", "PASSIVE")
    assert threads.choose() == 4
    assert threads.choose(reserved=1) == 3 and threads.choose(reserved=9) == 1
    assert threads.choose(requested=3) == 3            # an explicit count is obeyed as given
    # spinning, a thread never shares a core with a neighbour's runnable task
    monkeypatch.delenv("OMP_WAIT_POLICY")
    assert threads.choose() == 1 and threads.choose(reserved=1) == 1
    monkeypatch.setattr(threads, "busy_elsewhere", lambda *a, **k: 0)
    assert threads.choose() == 4 and threads.choose(reserved=1) == 3
    assert threads.choose(requested=3) == 3
    monkeypatch.setenv(threads.POLICY_ENV, "torch")
    monkeypatch.setattr(threads, "_TORCH_DEFAULT", 7)
    assert threads.choose() == 7


def test_busy_elsewhere_leaves_out_own_threads_and_cpu_slices(monkeypatch):
    monkeypatch.setattr(threads.os, "cpu_count", lambda: 4)
    monkeypatch.setattr(threads, "usable_cpus", lambda: 4)
    running = iter([5, 9, 5, 5, 6])                   # one transient spike: the median ignores it
    monkeypatch.setattr(threads, "_procs_running", lambda: next(running))
    monkeypatch.setattr(threads, "_own_running", lambda: 3)
    assert threads.busy_elsewhere(interval=0) == 2
    # In a 2-core slice of a 4-core host the host's run queue says nothing about the slice.
    monkeypatch.setattr(threads, "usable_cpus", lambda: 2)
    monkeypatch.setattr(threads, "_procs_running", lambda: 40)
    assert threads.busy_elsewhere(interval=0) == 0


def test_usable_cpus_reads_the_cgroup_quota(monkeypatch, tmp_path):
    real_open = open

    def fake_open(path, *a, **k):
        if path == "/sys/fs/cgroup/cpu.max":
            return real_open(tmp_path / "cpu.max", *a, **k)
        return real_open(path, *a, **k)

    monkeypatch.setattr(threads.os, "sched_getaffinity", lambda pid: set(range(8)))
    monkeypatch.setattr("builtins.open", fake_open)
    (tmp_path / "cpu.max").write_text("150000 100000\n")
    assert threads.usable_cpus() == 2
    (tmp_path / "cpu.max").write_text("max 100000\n")
    assert threads.usable_cpus() == 8


# Reads busy_elsewhere() for up to 10 s from a fresh one-thread process (threads.py loaded by path, so
# no torch, no leftover threads of the test process to count or miss) and prints the highest reading.
NEIGHBOUR_PROBE = r"""
import importlib.util, sys, time
spec = importlib.util.spec_from_file_location("threads_probe", sys.argv[1])
threads = importlib.util.module_from_spec(spec)
spec.loader.exec_module(threads)
best, end = 0, time.monotonic() + 10
while best < 1 and time.monotonic() < end:
    best = max(best, threads.busy_elsewhere())
    time.sleep(0.05)
print(best)
"""


@pytest.mark.skipif(not Path("/proc/stat").exists(), reason="needs Linux /proc")
def test_a_busy_neighbour_is_seen():
    if not threads.sees_neighbours():
        pytest.skip("this process runs in a CPU slice: the machine's run queue is not counted")
    # Two spinning neighbours: a one-task margin against whatever else the machine's queue shows.
    neighbours = [_spinner(30), _spinner(30)]
    try:
        p = subprocess.run([sys.executable, "-c", NEIGHBOUR_PROBE, threads.__file__], env=_env(),
                           capture_output=True, text=True, timeout=60)
    finally:
        for nb in neighbours:
            nb.terminate()
            nb.wait(5)
    assert p.returncode == 0, p.stderr[-2000:]
    assert int(p.stdout.strip()) >= 1


def test_trainer_takes_the_usable_cores_unless_told(tmp_path, monkeypatch):
    monkeypatch.delenv(threads.POLICY_ENV, raising=False)
    before = torch.get_num_threads()
    base = dict(data="demo:daynight", scale="quick", size=32, steps=3, batch=2, log_every=1, sample_every=100,
                checkpoint_every=100, score_every=0)
    try:
        monkeypatch.setattr(threads, "usable_cpus", lambda: 3)
        monkeypatch.setattr(threads, "busy_elsewhere", lambda *a, **k: 0)
        tr = Trainer(TrainConfig(out=str(tmp_path / "a"), **base))
        assert tr.threads == 3 and torch.get_num_threads() == 3
        # re-read during the run: the container's CPU quota shrinks, the run follows
        monkeypatch.setattr("train.trainer.THREADS_RECHECK_S", 0.0)
        monkeypatch.setattr(threads, "usable_cpus", lambda: 1)
        tr.train()
        assert tr.threads == 1 and torch.get_num_threads() == 1
        tr = Trainer(TrainConfig(out=str(tmp_path / "b"), threads=2, **base))
        tr.train()
        assert tr.threads == 2 and torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)


def test_contention_rejects_bad_counts():
    for args in (["--neighbours", "9"], ["--rounds", "0"]):
        p = subprocess.run([sys.executable, "-m", "bench", "contention", *args], cwd=ROOT, env=_env(),
                           capture_output=True, text=True, timeout=120)
        assert p.returncode == 2 and p.stderr.startswith("error: "), p.stderr


@pytest.mark.slow
def test_contention_bench_runs_and_stops_its_neighbour():
    marker = "777.125"                      # the neighbour's lifetime, to find it in /proc afterwards
    p = subprocess.run([sys.executable, "-m", "bench", "contention", "--steps", "1", "--rounds", "1", "--size", "32",
                        "--batch", "1", "--neighbours", "0", "1", "--max-threads", "1", "--neighbour-seconds", marker],
                       cwd=ROOT, env=_env(), capture_output=True, text=True, timeout=900)
    assert p.returncode == 0, p.stderr[-2000:]
    out = json.loads(p.stdout.strip().splitlines()[-1])
    for cond in ("neighbours=0", "neighbours=1"):
        rows = out["table"][cond]
        assert set(rows) >= {"default", "passive", "before", "threads=1"}
        assert all(rows[r]["median_s"] > 0 for r in ("default", "passive", "before", "threads=1"))
        assert rows["threads=1"]["threads"] == [1]
        assert rows["passive"]["wait"] == "PASSIVE" and rows["before"]["wait"] == "spin"
        assert rows["default"]["wait"] in ("PASSIVE", "spin")
    left = []
    for pid in os.listdir("/proc"):
        try:
            if pid.isdigit() and marker in Path(f"/proc/{pid}/cmdline").read_text():
                left.append(pid)
        except OSError:
            pass
    assert not left, f"neighbour processes still running: {left}"


def test_app_translation_leaves_a_busy_core_alone_when_threads_spin(monkeypatch):
    from ui import state
    before = torch.get_num_threads()
    monkeypatch.setattr(state, "DEFAULT_THREADS", 2)
    monkeypatch.setattr(threads, "busy_elsewhere", lambda *a, **k: 1)
    try:
        monkeypatch.setattr(threads, "waits_passively", lambda: False)
        state.use_translate_threads()
        assert torch.get_num_threads() == 1
        monkeypatch.setattr(threads, "waits_passively", lambda: True)     # passive: all its cores
        state.use_translate_threads()
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)
