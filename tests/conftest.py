"""Shared fixtures: the app served in this process, on a free port, with its own runs folder."""
import os
import socket
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # app.py lives at the repository root
    sys.path.insert(0, str(ROOT))

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")


@pytest.fixture(scope="module")
def one_thread():
    """Tiny nets run fastest on one thread, and a shared 2-core machine punishes a second one."""
    import torch
    saved = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(saved)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def app_server(tmp_path_factory):
    """(url, app module, runs dir). One server for the session: the app allows one training run
    per server, so tests that train must stop their run before they end."""
    runs = tmp_path_factory.mktemp("runs")
    saved = {k: os.environ.get(k) for k in ("CYCLEGAN_RUNS_DIR", "CYCLEGAN_TRAIN_THREADS")}
    os.environ["CYCLEGAN_RUNS_DIR"] = str(runs)
    os.environ["CYCLEGAN_TRAIN_THREADS"] = "1"
    import app
    _, url, _ = app.launch(prevent_thread_lock=True, server_name="127.0.0.1", server_port=free_port(), quiet=True)
    try:
        yield url, app, runs
    finally:
        run = app.RUNS.run
        if run is not None and run.active:
            run.stop()
            run.join(60)
        app.demo.close()
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


@pytest.fixture(scope="session")
def client(app_server):
    from gradio_client import Client
    return Client(app_server[0], analytics_enabled=False, verbose=False)
