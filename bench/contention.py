"""`python -m bench contention`: seconds per training step with the default thread settings
against each explicit --threads value, with no neighbour and with busy neighbours, side by side
in one run.

Each setting runs in a fresh process (OMP_WAIT_POLICY is read once, when torch loads), the
settings interleaved round by round so that a change of load hits them all alike. A neighbour is
a child process spinning one core, bounded in time, that this command stops itself. The rows:
- `default`: what a user gets with no flags (cyclegan/threads.py: on a machine idle at start,
  spinning threads, as many as the cores not busy elsewhere at each run; passive waiting where
  the machine is busy at start or its neighbours cannot be seen);
- `passive`: always passive waiting, threads = the usable cores (CYCLEGAN_THREAD_POLICY=passive);
- `before`: torch's own defaults (CYCLEGAN_THREAD_POLICY=torch: spinning waits, a thread per core);
- `threads=N`: an explicit --threads N with the default wait policy.
The processes start one at a time before any neighbour does (the default decides its wait
policy from the load it sees at start, and must not see the other rows loading torch).
"""
from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time

from cyclegan import threads as thread_policy

from .timing import environment

NEIGHBOUR = "import sys, time\nend = time.monotonic() + float(sys.argv[1])\nwhile time.monotonic() < end:\n    pass\n"
WORKER_TIMEOUT_S = 600


def _clean_env(extra: dict) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in ("OMP_WAIT_POLICY", "OMP_NUM_THREADS", "MKL_NUM_THREADS",
                                                          thread_policy.POLICY_ENV, "GOMP_SPINCOUNT")}
    env.update(extra)
    return env


def settings(max_threads: int) -> list[tuple[str, list[str], dict]]:
    rows = [("default", [], {}), ("passive", [], {thread_policy.POLICY_ENV: "passive"}),
            ("before", [], {thread_policy.POLICY_ENV: "torch"})]
    rows += [(f"threads={n}", ["--threads", str(n)], {}) for n in range(1, max_threads + 1)]
    return rows


def _worker_cmd(args, extra: list[str]) -> list[str]:
    cmd = [sys.executable, "-m", "bench.contention_worker", "--arch", args.arch, "--scale", args.scale,
           "--steps", str(args.steps), "--warmup", str(max(1, args.warmup))]
    if args.size:
        cmd += ["--size", str(args.size)]
    if args.batch:
        cmd += ["--batch", str(args.batch)]
    return cmd + extra


def _run_worker(args, extra: list[str], env: dict) -> dict:
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env = dict(env, PYTHONPATH=root + os.pathsep + env.get("PYTHONPATH", ""))
    p = subprocess.run(_worker_cmd(args, extra), env=env, capture_output=True, text=True, timeout=WORKER_TIMEOUT_S,
                       cwd=root)
    lines = [ln for ln in p.stdout.splitlines() if ln.startswith("{")]
    if p.returncode != 0 or not lines:
        return {"error": (p.stderr.strip().splitlines() or ["worker failed"])[-1]}
    return json.loads(lines[-1])


def _start_neighbours(n: int, seconds: float) -> list[subprocess.Popen]:
    return [subprocess.Popen([sys.executable, "-c", NEIGHBOUR, str(seconds)],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL) for _ in range(n)]


def _stop(procs: list[subprocess.Popen]) -> None:
    for p in procs:
        if p.poll() is None:
            p.terminate()
    for p in procs:
        try:
            p.wait(5)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()


def run_app(args, neighbours: list[int]) -> dict:
    """One process training and translating (the app's case), per neighbour count."""
    table, loads = {}, []
    modes = ["translate", "train", "split", "shared"]
    for n_nb in neighbours:
        rows: dict[str, list[dict]] = {m: [] for m in modes}
        procs = _start_neighbours(n_nb, args.neighbour_seconds)
        try:
            time.sleep(0.5 if n_nb else 0)
            for r in range(args.rounds):
                for m in modes[r % 4:] + modes[:r % 4]:
                    extra = ["--app-mode", m, "--model", args.app_model, "--image-size", str(args.app_image_size)]
                    res = _run_worker(args, extra, _clean_env({}))
                    rows[m].append(res)
                    loads.append(round(os.getloadavg()[0], 2))
        finally:
            _stop(procs)
        cond = {}
        for m, results in rows.items():
            ok = [x for x in results if "error" not in x]
            if not ok:
                cond[m] = {"error": results[0]["error"] if results else "no sample"}
                continue
            med = lambda key: (round(statistics.median([x[key] for x in ok]), 4)   # noqa: E731
                               if all(x[key] is not None for x in ok) else None)
            cond[m] = {"train_threads": ok[0]["train_threads"], "translate_threads": ok[0]["translate_threads"],
                       "translate_median_s": med("translate_median_s"), "train_step_median_s": med("train_step_median_s")}
        table[f"neighbours={n_nb}"] = cond
    return {"bench": "contention-app", "arch": args.arch, "scale": args.scale, "model": args.app_model,
            "image_size": args.app_image_size, "rounds": args.rounds, **environment(_cpu()), **thread_policy.describe(),
            "load_avg_1m_during": [min(loads), max(loads)] if loads else None, "table": table}


class Worker:
    """One setting's process, kept alive across rounds and conditions: a line in, one sample out."""

    def __init__(self, args, extra: list[str], env: dict):
        root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
        env = dict(env, PYTHONPATH=root + os.pathsep + env.get("PYTHONPATH", ""))
        self.proc = subprocess.Popen(_worker_cmd(args, extra), env=env, cwd=root, text=True, stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        line = self.proc.stdout.readline()          # wait until it is built: the next one starts on a quiet machine
        self.started = json.loads(line) if line.startswith("{") else {"error": "worker failed to start"}

    def sample(self) -> dict:
        try:
            self.proc.stdin.write("go\n")
            self.proc.stdin.flush()
            line = self.proc.stdout.readline()
        except (BrokenPipeError, OSError):
            line = ""
        if not line.startswith("{"):
            err = self.proc.stderr.read() if self.proc.poll() is not None else ""
            return {"error": (err.strip().splitlines() or ["worker failed"])[-1]}
        return json.loads(line)

    def close(self) -> None:
        try:
            self.proc.stdin.close()
            self.proc.wait(30)
        except (OSError, subprocess.TimeoutExpired):
            self.proc.kill()
            self.proc.wait()


def run(args) -> dict:
    neighbours = sorted(set(args.neighbours))
    if any(n < 0 or n > 8 for n in neighbours):
        from cyclegan.errors import UserInputError
        raise UserInputError("--neighbours takes counts from 0 to 8")
    if args.app:
        return run_app(args, neighbours)
    max_threads = args.max_threads or thread_policy.usable_cpus()
    rows = settings(max_threads)
    table: dict[str, dict[str, dict]] = {}
    loads = []
    workers = {name: Worker(args, extra, _clean_env(env)) for name, extra, env in rows}
    waits = {name: w.started.get("omp_wait_policy") or "spin" for name, w in workers.items()}   # fixed at start
    try:
        for n_nb in neighbours:
            samples: dict[str, list[float]] = {name: [] for name, _, _ in rows}
            chosen: dict[str, list] = {name: [] for name, _, _ in rows}
            errors: dict[str, str] = {}
            procs = _start_neighbours(n_nb, args.neighbour_seconds)
            try:
                time.sleep(0.5 if n_nb else 0)
                for r in range(args.rounds):
                    order = rows[r % len(rows):] + rows[:r % len(rows)]   # rotate: no setting always goes first
                    for name, _, _ in order:
                        if any(p.poll() is not None for p in procs):
                            errors["neighbour"] = "a neighbour ended early (raise --neighbour-seconds)"
                        res = workers[name].sample()
                        if "error" in res:
                            errors[name] = res["error"]
                            continue
                        samples[name].append(res["median_s"])
                        chosen[name].append(res["threads"])
                        loads.append(round(os.getloadavg()[0], 2))
            finally:
                _stop(procs)
            table[f"neighbours={n_nb}"] = _condition(rows, samples, chosen, errors, waits)
    finally:
        for w in workers.values():
            w.close()
    out = {"bench": "contention", "arch": args.arch, "scale": args.scale, "size": args.size, "batch": args.batch,
           "steps": args.steps, "rounds": args.rounds, **environment(_cpu()), **thread_policy.describe(),
           "load_avg_1m_during": [min(loads), max(loads)] if loads else None, "table": table}
    idle = table.get("neighbours=0", {})
    busy = table.get("neighbours=1", {})
    if "median_s" in idle.get("default", {}) and "median_s" in idle.get("before", {}):
        out["idle_default_vs_before"] = round(idle["default"]["median_s"] / idle["before"]["median_s"], 3)
    if "median_s" in busy.get("default", {}):
        out["one_neighbour_default_vs_best_explicit"] = busy["default"]["vs_best_explicit"]
        if "median_s" in busy.get("before", {}):
            out["one_neighbour_before_vs_default"] = round(busy["before"]["median_s"] / busy["default"]["median_s"], 3)
    return out


def _condition(rows, samples, chosen, errors, waits) -> dict:
    cond = {}
    explicit = {name: statistics.median(v) for name, v in samples.items() if name.startswith("threads=") and v}
    best = min(explicit.values()) if explicit else None
    for name, _, _ in rows:
        v = samples[name]
        if not v:
            cond[name] = {"error": errors.get(name, "no sample")}
            continue
        med = statistics.median(v)
        cond[name] = {"median_s": round(med, 4), "round_medians_s": [round(x, 4) for x in v],
                      "threads": sorted(set(chosen[name])), "wait": waits[name],
                      "vs_best_explicit": round(med / best, 3) if best else None}
    if errors.get("neighbour"):
        cond["neighbour_error"] = errors["neighbour"]
    return cond


def _cpu():
    import torch
    return torch.device("cpu")
