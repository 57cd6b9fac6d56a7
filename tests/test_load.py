"""Many users at once, for real: eight gradio_client clients translating while a training run
goes on, and eight asking for the same image. (A double-clicked Start: test_app.py.)

LOAD_TEST_N sets the translations per client (default 5, so CI stays short; the full size is
20). Latencies (p50/p95, seconds, queueing included) are printed and, when ARTIFACTS_DIR is
set, written to $ARTIFACTS_DIR/load.json.
"""
from __future__ import annotations

import json
import os
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from gradio_client import Client, handle_file
from PIL import Image

import cyclegan
from hostile_inputs import noise, stop_any_run, tiny_model, train_status, wait_status

pytestmark = [pytest.mark.load, pytest.mark.slow]

CLIENTS = 8
N = int(os.environ.get("LOAD_TEST_N", "5"))


def _percentile(values, q) -> float:
    return float(np.percentile(np.asarray(values, dtype=float), q))


def test_eight_clients_translate_while_training(app_server, client, tmp_path):
    url, app, runs = app_server
    stop_any_run()
    model = str(cyclegan.save_model(tiny_model(), runs / ".load" / "model"))
    # Every request its own picture (identical requests are test_same_image_...'s subject), in
    # a few sizes, so outputs that keep their size are not so by accident.
    sizes = [(64, 48), (50, 70), (33, 33), (80, 20)]
    images = {}
    for i in range(CLIENTS):
        for j in range(N):
            w, h = sizes[(i + j) % len(sizes)]
            p = tmp_path / f"in{i}-{j}.png"
            noise(w, h, seed=1000 * i + j).save(p)
            images[i, j] = (p, (w, h))
    clients = [Client(url, analytics_enabled=False, verbose=False) for _ in range(CLIENTS)]

    started = client.predict("demo:daynight", "cyclegan", "quick", 32, 100_000, 1, api_name="/train_start")
    assert started["state"] in ("starting", "running")
    before, _ = wait_status(client, lambda s, _: s["state"] == "running" and s["step"] >= 1)

    latencies: list[float] = []
    errors: list[str] = []
    lock = threading.Lock()
    go = threading.Barrier(CLIENTS)

    def user(i: int, c: Client):
        go.wait()
        for j in range(N):
            path, size = images[i, j]
            t0 = time.perf_counter()
            try:
                out, trip, msg = c.predict(handle_file(str(path)), model, "a2b" if (i + j) % 2 else "b2a", None,
                                           api_name="/translate")
                dt = time.perf_counter() - t0
                with Image.open(out) as im, Image.open(trip) as im2:
                    ok = im.size == size and im2.size == size and "Translated" in msg
                with lock:
                    latencies.append(dt)
                    if not ok:
                        errors.append(f"client {i} image {j}: wrong output {im.size} vs {size}: {msg}")
            except Exception as e:  # noqa: BLE001 - every failure is reported below
                with lock:
                    errors.append(f"client {i} image {j}: {type(e).__name__}: {e}")

    t_start = time.perf_counter()
    threads = [threading.Thread(target=user, args=(i, c)) for i, c in enumerate(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(600)
    wall = time.perf_counter() - t_start
    after = train_status(client)
    stopped = client.predict(30, started["owner_token"], api_name="/train_stop")

    assert not errors, errors[:5]
    assert len(latencies) == CLIENTS * N
    assert after["state"] == "running" and after["step"] > before["step"], (before["step"], after)  # it kept training
    assert stopped["state"] == "stopped"

    report = {"clients": CLIENTS, "per_client": N, "requests": len(latencies), "wall_s": round(wall, 2),
              "p50_s": round(_percentile(latencies, 50), 3), "p95_s": round(_percentile(latencies, 95), 3),
              "max_s": round(max(latencies), 3), "throughput_per_s": round(len(latencies) / wall, 2),
              "training_steps_during": after["step"] - before["step"], "cpu_count": os.cpu_count()}
    print("\nload:", json.dumps(report))
    if os.environ.get("ARTIFACTS_DIR"):
        out = Path(os.environ["ARTIFACTS_DIR"])
        out.mkdir(parents=True, exist_ok=True)
        (out / "load.json").write_text(json.dumps(report, indent=2))


def test_same_image_from_many_clients_at_once(app_server, tmp_path):
    """Visitors clicking the same example: identical requests give identical output images,
    which Gradio caches under one content-addressed path. Every client must still receive a
    whole PNG (seen failing: one client got an empty file, the server logged 'Too much data for
    declared Content-Length': the cached file was rewritten in place while being served)."""
    url, app, runs = app_server
    model = str(cyclegan.save_model(tiny_model(), runs / ".load" / "same"))
    photo = tmp_path / "example.png"
    noise(64, 48, seed=11).save(photo)
    clients = [Client(url, analytics_enabled=False, verbose=False) for _ in range(CLIENTS)]
    errors: list[str] = []
    go = threading.Barrier(CLIENTS)

    def user(i: int, c: Client):
        go.wait()
        for j in range(N):
            try:
                out, trip, _ = c.predict(handle_file(str(photo)), model, "a2b", None, api_name="/translate")
                with Image.open(out) as im, Image.open(trip) as im2:
                    im.load()
                    im2.load()
                    assert im.size == im2.size == (64, 48)
            except Exception as e:  # noqa: BLE001
                errors.append(f"client {i} request {j}: {type(e).__name__}: {str(e)[:200]}")

    threads = [threading.Thread(target=user, args=(i, c)) for i, c in enumerate(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(600)
    assert not errors, f"{len(errors)} of {CLIENTS * N} requests got a broken file: {errors[:3]}"
