"""One row of `python -m bench contention`, in its own process: builds the training step as
`python -m train` would (threads chosen by cyclegan/threads.py unless --threads is given), times
it, prints one JSON line."""
import argparse
import json
import os
import statistics
import sys
import tempfile
import time

import cyclegan  # noqa: F401  (first: sets the OpenMP wait policy before torch loads)
import torch

from cyclegan import threads as policy

from .variants import make_trainer


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.contention_worker")
    ap.add_argument("--arch", default="cyclegan")
    ap.add_argument("--scale", default="quick")
    ap.add_argument("--size", type=int, default=None)
    ap.add_argument("--batch", type=int, default=None)
    ap.add_argument("--steps", type=int, default=6)
    ap.add_argument("--warmup", type=int, default=1)
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--app-mode", default=None, choices=["translate", "train", "split", "shared"],
                    help="one process training and translating, as the app does (see app_row)")
    ap.add_argument("--model", default="demo:cyclegan")
    ap.add_argument("--image-size", type=int, default=256)
    ap.add_argument("--n", type=int, default=6)
    args = ap.parse_args(argv)
    if args.app_mode:
        print(json.dumps(app_row(args)), flush=True)
        return 0
    with tempfile.TemporaryDirectory(prefix="bench-contention-") as tmp:
        tr = make_trainer(args.arch, None, args.scale, args.size, args.batch, "cpu", args.threads, f"{tmp}/run")
        print(json.dumps({"ready": True, "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY", "")}), flush=True)
        # Serve: one sample per line read from stdin, until it closes, so that the process (and
        # its OpenMP setting) lives across rounds and neighbour conditions without re-importing.
        for _ in sys.stdin:
            if args.threads is None:
                policy.apply()          # the default re-reads its cores at each run, as train() does
            for _ in range(args.warmup):
                tr.train_step()
            times, cpu = [], []
            for _ in range(args.steps):
                c0, t0 = time.process_time(), time.perf_counter()
                tr.train_step()
                times.append(time.perf_counter() - t0)
                cpu.append(time.process_time() - c0)
            print(json.dumps({"median_s": statistics.median(times), "cpu_median_s": statistics.median(cpu),
                              "threads": torch.get_num_threads(), "times_s": [round(t, 4) for t in times]}),
                  flush=True)
    return 0


def app_row(args) -> dict:
    """Training on a background thread while the main thread translates, as in the app:
    'split' gives training the app's train_threads() and translation the rest (ui/state.py);
    'shared' lets both take every usable core; 'translate' / 'train' run one of them alone."""
    import threading

    from cyclegan import load_model

    from .translate_bench import open_model

    usable = policy.usable_cpus()
    train_t = {"split": max(1, usable // 2), "shared": usable, "train": policy.choose()}.get(args.app_mode)
    tr_t = {"split": max(1, usable - max(1, usable // 2)), "shared": usable, "translate": policy.choose()}.get(args.app_mode)
    stop, step_times, ready = threading.Event(), [], threading.Event()

    def train_loop():
        with tempfile.TemporaryDirectory(prefix="bench-app-") as tmp:
            tr = make_trainer(args.arch, None, args.scale, args.size, args.batch, "cpu", train_t, f"{tmp}/run")
            tr.train_step()
            ready.set()
            while not stop.is_set():
                t0 = time.perf_counter()
                tr.train_step()
                step_times.append(time.perf_counter() - t0)

    worker = None
    if train_t:
        worker = threading.Thread(target=train_loop, daemon=True)
        worker.start()
        ready.wait(300)
    translate_times = []
    if tr_t:
        model = (open_model(args.model) if args.model.startswith("random:") else load_model(args.model)).eval()
        torch.set_num_threads(tr_t)
        x = torch.rand(1, 3, args.image_size, args.image_size)
        model.translate_tensor(x, "a2b")
        for _ in range(args.n):
            t0 = time.perf_counter()
            model.translate_tensor(x, "a2b")
            translate_times.append(time.perf_counter() - t0)
    else:
        time.sleep(max(5.0, 3 * (statistics.median(step_times) if step_times else 1.0)))
    stop.set()
    if worker:
        worker.join(120)
    return {"mode": args.app_mode, "train_threads": train_t, "translate_threads": tr_t,
            "translate_median_s": statistics.median(translate_times) if translate_times else None,
            "train_step_median_s": statistics.median(step_times) if step_times else None,
            "train_steps": len(step_times), "median_s": 0.0, "threads": tr_t or train_t}


if __name__ == "__main__":
    sys.exit(main())
