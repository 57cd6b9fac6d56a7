"""Shared fixtures: the app served in this process, on a free port, with its own runs folder;
and the one factory of tiny models every test file uses (`from conftest import tiny_model`)."""
import dataclasses
import os
import socket
import sys
from pathlib import Path

import pytest
import torch
from torch import nn

from cyclegan import CycleModel, get_preset
from cyclegan.presets import NetSpec

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # app.py lives at the repository root
    sys.path.insert(0, str(ROOT))

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")


# One size per architecture at which its nets build (DiscoGAN's global discriminator needs 64 px),
# and the narrowest arguments of each net family.
TINY_SIZES = {"cyclegan": 32, "discogan": 64, "dualgan": 32, "cut": 32}
TINY_NETS = {"resnet": {"ngf": 4, "n_blocks": 1}, "unet": {"ngf": 4}, "dual_unet": {"ngf": 4},
             "disco_generator": {"ngf": 4}, "patchgan": {"ndf": 4, "n_layers": 2}, "dual_critic": {"ndf": 4},
             "disco_discriminator": {"ndf": 4}, "dual_global_critic": {"ndf": 4}, "dual_linear_critic": {"ndf": 4},
             # five blocks: CUT's NCE layers 0, 4, 8, 12, 16 end at the fifth residual block
             "cut_resnet": {"ngf": 4, "n_blocks": 5}, "cut_patchgan": {"ndf": 4, "n_layers": 2}}


def tiny_preset(arch: str = "cyclegan", recipe: str | None = None, size: int | None = None, **gen):
    """The architecture's quick preset with the narrowest nets that still build (so every load is
    instant); `gen` overrides generator arguments (e.g. n_blocks=2)."""
    p = get_preset(arch, recipe, "quick", size or TINY_SIZES[arch])
    g, d = p.generator, p.discriminator
    return dataclasses.replace(p, generator=NetSpec(g.family, {**g.kwargs, **TINY_NETS[g.family], **gen}),
                               discriminator=NetSpec(d.family, {**d.kwargs, **TINY_NETS[d.family]}))


def tiny_model(arch: str = "cyclegan", recipe: str | None = None, *, domains=("day", "night"),
               directions=None, with_discriminators: bool = False, seed: int = 0, size: int | None = None,
               **gen) -> CycleModel:
    """An untrained tiny model, the same for the same arguments (BatchNorm statistics included,
    made non-trivial because they are part of the state a checkpoint must carry). Directions:
    the preset's (both, or A → B for CUT) unless given."""
    torch.manual_seed(seed)
    preset = tiny_preset(arch, recipe, size, **gen)
    model = CycleModel(preset, domains=domains, directions=directions or preset.directions,
                       with_discriminators=with_discriminators)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.running_mean.uniform_(-0.5, 0.5)
                m.running_var.uniform_(0.5, 2)
    return model


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
    import ui
    _, url, _ = ui.launch(app.demo, prevent_thread_lock=True, server_name="127.0.0.1", server_port=free_port(),
                          quiet=True)
    try:
        yield url, app, runs
    finally:
        ui.state.RUNS.stop_and_wait(60)
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


def call_main(main, *args) -> tuple[int, str, str]:
    """A CLI's main() in this process: (exit status, stdout, stderr)."""
    import contextlib
    import io
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main([str(a) for a in args])
        except SystemExit as e:
            code = e.code
    return code, out.getvalue(), err.getvalue()
