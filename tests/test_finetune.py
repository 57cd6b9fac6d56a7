"""Fine-tuning (`--init SPEC`): the run starts from the model's weights, with the model's nets;
a one-direction model gives G_AB only; what cannot train is one error before any step; resume
rebuilds the same nets; the app's Start-from choice goes through the same allow-list."""
import pytest
import torch

import cyclegan
from conftest import tiny_model
from cyclegan import UserInputError
from train import TrainConfig
from train import cli as train_cli
from train.trainer import Trainer

pytestmark = pytest.mark.usefixtures("one_thread")


def config(tmp_path, init, arch="cyclegan", size=32, steps=2, **kw) -> TrainConfig:
    return TrainConfig(data="demo:daynight", init=init, arch=arch, scale="quick", size=size, steps=steps, threads=1,
                       out=str(tmp_path / "run"), sample_every=100, checkpoint_every=1, **kw)


def same(a: torch.nn.Module, b: torch.nn.Module) -> bool:
    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


@pytest.mark.parametrize("arch", ["cyclegan", "discogan", "dualgan"])
def test_init_copies_every_net_the_model_has(tmp_path, arch):
    size = 64 if arch == "discogan" else 32
    init = tiny_model(arch, with_discriminators=True, seed=3, size=size)
    folder = cyclegan.save_model(init, tmp_path / "init", include_discriminators=True)
    t = Trainer(config(tmp_path, str(folder), arch, size))
    for name in ("G_AB", "G_BA", "D_A", "D_B"):
        assert same(getattr(t.model, name), getattr(init, name)), name
    assert t.preset.generator == init.preset.generator and t.preset.discriminator == init.preset.discriminator


def test_one_direction_model_gives_G_AB_and_its_nets_replace_the_preset(tmp_path, capsys):
    init = tiny_model("cyclegan", directions=("a2b",), seed=5, n_blocks=2, norm_affine=True)
    path = cyclegan.save_model(init, tmp_path / "one.safetensors")
    scratch = Trainer(config(tmp_path / "s", None))
    t = Trainer(config(tmp_path, str(path)))
    assert t.preset.generator.kwargs == {**init.preset.generator.kwargs}         # not the quick scale's ResNet
    assert t.preset.discriminator == scratch.preset.discriminator                  # none came with it
    assert same(t.model.G_AB, init.G_AB)
    assert not same(t.model.G_BA, init.G_AB)                                       # fresh, seeded like any run
    w = t.model.D_A.state_dict()["model.0.weight"]
    assert abs(float(w.std()) - 0.02) < 0.005 and abs(float(w.mean())) < 0.005     # fresh N(0, 0.02)
    rc = train_cli.main(["--data", "demo:daynight", "--init", str(path), "--scale", "quick", "--size", "32",
                         "--steps", "2", "--threads", "1", "--out", str(tmp_path / "cli")])
    err = capsys.readouterr().err
    assert rc == 0 and f"initialised G_AB from {path}; G_BA, D_A, D_B start fresh" in err
    trained = cyclegan.load_model(str(tmp_path / "cli" / "latest"))
    assert trained.provenance["init"] == str(path) and trained.preset.generator.kwargs["norm_affine"] is True


def test_the_built_in_real_photo_model_can_be_fine_tuned(tmp_path):
    """demo:vintage is a full-width ResNet-9 with affine instance norm: its net replaces the quick one."""
    pytest.importorskip("vintagify")
    t = Trainer(config(tmp_path, "demo:vintage", steps=1))
    assert t.preset.generator.kwargs["ngf"] == 64 and t.preset.generator.kwargs["norm_affine"] is True
    assert same(t.model.G_AB, cyclegan.load_model("demo:vintage").G_AB)


@pytest.mark.parametrize("case,expect", [
    ("arch", "is a cyclegan model and this run trains dualgan: fine-tuning keeps the model's nets, so use --arch cyclegan"),
    ("size", "cannot train at 32 px: the size must be a multiple of 64"),
    ("missing", "--init"),
    ("official", "did you mean 'horse2zebra'"),
])
def test_what_cannot_train_is_one_error_before_any_step(tmp_path, capsys, case, expect):
    folder = cyclegan.save_model(tiny_model("cyclegan"), tmp_path / "init")
    if case == "size":       # a DualGAN U-Net of 6 levels (trained at 64 px) cannot take 32 px images
        folder = cyclegan.save_model(tiny_model("dualgan", size=64), tmp_path / "init-dual")
    argv = {"arch": ["--init", str(folder), "--arch", "dualgan", "--size", "32"],
            "size": ["--init", str(folder), "--arch", "dualgan", "--size", "32"],
            "missing": ["--init", str(tmp_path / "nope.safetensors")],
            "official": ["--init", "official:horse2zebr"]}[case]
    rc = train_cli.main(["--data", "demo:daynight", "--scale", "quick", "--steps", "2", "--out", str(tmp_path / "run"),
                         *argv])
    err = capsys.readouterr().err
    assert rc == 2 and err.count("\n") == 1 and err.startswith("error: ") and expect in err, err
    assert not (tmp_path / "run" / "checkpoints").exists()


def test_resume_rebuilds_the_init_nets_without_the_init_model(tmp_path):
    init = tiny_model("cyclegan", directions=("a2b",), seed=7, n_blocks=2)
    path = cyclegan.save_model(init, tmp_path / "one.safetensors")
    Trainer(config(tmp_path, str(path), steps=1)).train()
    path.unlink()                                              # the run no longer needs it
    t = Trainer(config(tmp_path, str(path), steps=2), resume=True)
    assert t.step == 1 and t.preset.generator.kwargs["n_blocks"] == 2
    assert t.train() == "finished" and t.step == 2


@pytest.mark.slow
def test_app_start_from_goes_through_the_allow_list(client, tmp_path, monkeypatch):
    """Start from (train --init) in the app takes what /translate takes: on a server without
    paths (a Space) no server path, whether it exists or not, and a run by its name."""
    from hostile_inputs import stop_any_run, wait_status
    from ui import state
    stop_any_run()
    folder = cyclegan.save_model(tiny_model("cyclegan", seed=9), tmp_path / "init")
    monkeypatch.setenv("CYCLEGAN_ALLOW_SERVER_PATHS", "false")
    for bad in (str(folder), str(folder / "model.safetensors"), "/etc/passwd", str(tmp_path / "nothing")):
        with pytest.raises(Exception, match="does not load models from its own folders"):
            client.predict("demo:daynight", "cyclegan", "quick", 32, 2, None, None, None, bad, api_name="/train_start")
    with pytest.raises(Exception, match="no run 'no-such-run'"):
        client.predict("demo:daynight", "cyclegan", "quick", 32, 2, None, None, None, "run:no-such-run",
                       api_name="/train_start")
    assert state.RUNS.run is None or not state.RUNS.run.active      # none of them started a run
    monkeypatch.setenv("CYCLEGAN_ALLOW_SERVER_PATHS", "true")
    client.predict("demo:daynight", "dualgan", "quick", 32, 2, None, None, None, str(folder), api_name="/train_start")
    status, _ = wait_status(client, lambda s, _: s["state"] in ("finished", "error"), timeout=60)
    assert status["state"] == "error" and status["step"] == 0 and "use --arch cyclegan" in status["error"]
    client.predict("demo:daynight", "cyclegan", "quick", 32, 2, None, None, None, str(folder), api_name="/train_start")
    status, _ = wait_status(client, lambda s, _: s["state"] in ("finished", "error"), timeout=120)
    assert status["state"] == "finished", status
    first = status["model"]
    assert first.startswith("run:") and state.MODELS.get(first).provenance["init"] == str(folder)
    monkeypatch.setenv("CYCLEGAN_ALLOW_SERVER_PATHS", "false")   # a run by its name is fine on a Space
    client.predict("demo:daynight", "cyclegan", "quick", 32, 2, None, None, None, first, api_name="/train_start")
    status, _ = wait_status(client, lambda s, _: s["state"] in ("finished", "error") and s["model"] != first,
                            timeout=120)
    assert status["state"] == "finished", status
    model = state.MODELS.get(status["model"])
    assert model.provenance["init"] == first and str(tmp_path) not in " ".join(status["log"])
    g0, g1 = state.MODELS.get(first).G_AB.state_dict(), model.G_AB.state_dict()
    assert all(g0[k].shape == g1[k].shape for k in g0)


def test_init_must_name_something():
    with pytest.raises(UserInputError, match="--init needs a model"):
        TrainConfig(init="  ")
