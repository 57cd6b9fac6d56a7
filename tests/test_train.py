"""The training engine: every architecture trains, resumes exactly, stops cleanly, guards NaN."""
import json
import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from cyclegan import UserInputError, load_model
from train import Diverged, Hooks, TrainConfig, Trainer
from train.run import Run

ROOT = Path(__file__).resolve().parents[1]
SIZES = {"cyclegan": 32, "discogan": 64, "dualgan": 32, "dualgan-code": 32, "dualgan-gp": 32}


def cfg(tmp_path, arch="cyclegan", steps=6, name="run", **kw) -> TrainConfig:
    base = dict(data="demo:daynight", arch=arch, variant="quick", size=SIZES[arch], steps=steps, batch=2,
                out=str(tmp_path / name), log_every=2, sample_every=3, checkpoint_every=3)
    base.update(kw)
    return TrainConfig(**base)


@pytest.mark.parametrize("arch", list(SIZES))
def test_each_architecture_trains_with_finite_losses(tmp_path, arch):
    t = Trainer(cfg(tmp_path, arch))
    assert t.train() == "finished"
    records = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert records[-1]["step"] == 6
    losses = {k: v for r in records for k, v in r.items() if k not in ("time",)}
    assert all(math.isfinite(v) for v in losses.values())
    keys = set().union(*records)
    assert {"D_A", "D_B", "G_AB", "G_BA", "cycle_A", "cycle_B", "lr", "sec_per_step", "images_per_s"} <= keys
    assert ("idt_A" in keys) == (arch == "cyclegan")
    assert ("fm_A" in keys) == (arch == "discogan")
    model = load_model(tmp_path / "run" / "latest")
    assert model.architecture == arch and model.domains == ("day", "night")
    assert sorted(p.name for p in (tmp_path / "run" / "samples").iterdir()) == \
        ["step_000001.png", "step_000003.png", "step_000006.png"]


def test_step_patterns_follow_the_preset(tmp_path):
    """DiscoGAN: D on every third batch, G on the others; DualGAN: two critic steps then G,
    with critic weights clipped; CycleGAN: G then D on every batch."""
    seen = {}
    for arch in ("cyclegan", "discogan", "dualgan"):
        t = Trainer(cfg(tmp_path, arch, name=arch))
        seen[arch] = [sorted(k for k in t.train_step() if k[0] in "DG" and k != "G_total") for _ in range(3)]
        if arch == "dualgan":
            c = t.preset.clip_weights
            assert all(p.abs().max() <= c + 1e-9 for d in t.discriminators for p in d.parameters())
    both = ["D_A", "D_B", "G_AB", "G_BA"]
    assert seen["cyclegan"] == [both] * 3
    assert seen["discogan"] == [["D_A", "D_B"], ["G_AB", "G_BA"], ["G_AB", "G_BA"]]
    assert seen["dualgan"] == [["D_A", "D_B"], ["D_A", "D_B"], ["G_AB", "G_BA"]]


def test_linear_decay_schedule(tmp_path):
    t = Trainer(cfg(tmp_path, steps=100))
    assert t.lr_factor(0) == 1.0 and t.lr_factor(49) == 1.0
    assert 0 < t.lr_factor(50) < 1 and t.lr_factor(75) < t.lr_factor(60)
    assert t.lr_factor(99) == pytest.approx(1 / 51)


class StopAt(Hooks):
    def __init__(self, trainer_ref, step):
        self.ref, self.at = trainer_ref, step

    def should_stop(self):
        return self.ref[0].step >= self.at


@pytest.mark.parametrize("arch", ["cyclegan", "dualgan", "discogan"])
def test_resume_is_exact(tmp_path, arch):
    n = 6
    straight = Trainer(cfg(tmp_path, arch, steps=2 * n, name="straight"))
    straight.train()
    ref = [Trainer(cfg(tmp_path, arch, steps=2 * n, name="split"))]
    assert ref[0].train(StopAt(ref, n)) == "stopped"
    assert (tmp_path / "split" / "checkpoints" / "step_000006").is_dir()
    resumed = Trainer(cfg(tmp_path, arch, steps=2 * n, name="split"), resume=True)
    assert resumed.step == n
    resumed.train()
    for name in ("G_AB", "G_BA"):
        a, b = getattr(straight.model, name).state_dict(), getattr(resumed.model, name).state_dict()
        diff = max((a[k].float() - b[k].float()).abs().max().item() for k in a)
        assert diff <= 1e-6, f"{name} differs by {diff}"


def test_resume_skips_torn_and_corrupt_checkpoints(tmp_path):
    t = Trainer(cfg(tmp_path, steps=9))
    t.train()
    ck = tmp_path / "run" / "checkpoints"
    assert sorted(p.name for p in ck.iterdir()) == ["step_000003", "step_000006", "step_000009"]
    # A crash mid-write leaves a temp folder; a damaged disk could leave a broken newest one.
    torn = ck / ".tmp-step_000012-999-1"
    torn.mkdir()
    (torn / "model.safetensors").write_bytes(b"\0" * 100)
    (ck / "step_000009" / "training_state.safetensors").write_bytes(b"garbage")
    r = Trainer(cfg(tmp_path, steps=12), resume=True)
    assert r.step == 6
    assert r.train() == "finished"
    assert not torn.exists()


def test_new_run_refuses_to_overwrite(tmp_path):
    Trainer(cfg(tmp_path, steps=3)).train()
    with pytest.raises(UserInputError, match="--resume"):
        Trainer(cfg(tmp_path, steps=3))


def test_nan_stops_the_run_and_keeps_last_good_checkpoint(tmp_path):
    ref = []

    class Poison(Hooks):
        def wait_if_paused(self):
            if ref[0].step == 4:
                with torch.no_grad():
                    next(ref[0].model.G_AB.parameters()).fill_(float("nan"))

    ref.append(Trainer(cfg(tmp_path, steps=20, checkpoint_every=2, log_every=1)))
    with pytest.raises(Diverged, match="diverged at step 5"):
        ref[0].train(Poison())
    names = sorted(p.name for p in (tmp_path / "run" / "checkpoints").iterdir())
    assert names[-1] == "step_000004"
    m = load_model(tmp_path / "run" / "latest")
    assert all(torch.isfinite(p).all() for p in m.parameters())


def test_bad_settings_are_user_errors(tmp_path):
    with pytest.raises(UserInputError, match="multiple of 256"):
        Trainer(TrainConfig(arch="dualgan", variant="paper", size=300, out=str(tmp_path / "x")))
    with pytest.raises(UserInputError, match="at least 64"):
        Trainer(TrainConfig(arch="discogan", size=32, out=str(tmp_path / "x")))
    with pytest.raises(UserInputError, match="unknown architecture"):
        Trainer(TrainConfig(arch="pix2pix", out=str(tmp_path / "x")))
    with pytest.raises(UserInputError, match="steps"):
        Trainer(TrainConfig(steps=0, out=str(tmp_path / "x")))


def test_bad_zip_is_a_user_error(tmp_path):
    import zipfile
    z = tmp_path / "d.zip"
    with zipfile.ZipFile(z, "w") as f:
        f.writestr("../evil.png", b"x")
    with pytest.raises(UserInputError, match="unsafe"):
        Trainer(cfg(tmp_path, data=str(z)))


# --- the background Run ----------------------------------------------------------------------
def wait_for(pred, timeout=120.0):
    t0 = time.time()
    while not pred():
        assert time.time() - t0 < timeout, "timed out"
        time.sleep(0.05)


def test_run_pause_resume_stop(tmp_path):
    run = Run(cfg(tmp_path, steps=10_000, log_every=1, checkpoint_every=10_000)).start()
    wait_for(lambda: run.snapshot()["step"] >= 3)
    run.pause()
    wait_for(lambda: run.snapshot()["state"] == "paused")
    time.sleep(0.5)   # a step in flight may still finish
    s = run.snapshot()["step"]
    time.sleep(1.0)
    assert run.snapshot()["step"] <= s + 1
    run.resume()
    wait_for(lambda: run.snapshot()["step"] >= s + 3)
    t0 = time.time()
    run.stop()
    run.join(60)
    latency = time.time() - t0
    snap = run.snapshot()
    assert snap["state"] == "stopped", snap
    assert latency < 10, latency
    assert snap["latest_checkpoint"] and Path(snap["latest_checkpoint"]).name == f"step_{snap['step']:06d}"
    assert snap["history"] and snap["latest_sample"]
    load_model(snap["latest_checkpoint"]).translate(torch.rand(24, 40, 3).numpy(), "a2b")


def test_run_error_becomes_state_not_crash(tmp_path):
    run = Run(cfg(tmp_path, data=str(tmp_path / "nowhere"))).start()
    run.join(60)
    snap = run.snapshot()
    assert snap["state"] == "error" and "nowhere" in snap["error"]


def test_run_survives_exception_in_data_loader(tmp_path, monkeypatch):
    from cyclegan import demo
    calls = {"n": 0}
    real = demo.render

    def flaky(*a, **k):
        calls["n"] += 1
        if calls["n"] > 30:
            raise OSError("disk went away")
        return real(*a, **k)

    monkeypatch.setattr(demo, "render", flaky)
    run = Run(cfg(tmp_path, steps=500)).start()
    run.join(120)
    snap = run.snapshot()
    assert snap["state"] == "error" and "disk went away" in snap["error"]
    monkeypatch.setattr(demo, "render", real)
    again = Run(cfg(tmp_path, steps=2, name="again")).start()
    again.join(120)
    assert again.snapshot()["state"] == "finished"


# --- the CLI -----------------------------------------------------------------------------------
def cli(*args, timeout=300):
    return subprocess.run([sys.executable, "-m", "train", *args], cwd=ROOT, capture_output=True, text=True, timeout=timeout)


def test_cli_trains_and_resumes(tmp_path):
    out = tmp_path / "cli"
    r = cli("--data", "demo:daynight", "--arch", "cyclegan", "--preset", "quick", "--size", "32", "--steps", "4",
            "--batch", "2", "--out", str(out), "--checkpoint-every", "2", "--quiet")
    assert r.returncode == 0, r.stderr
    assert "finished at step 4" in r.stdout
    r = cli("--preset", "quick", "--size", "32", "--steps", "6", "--out", str(out), "--resume", "--quiet")
    assert r.returncode == 0, r.stderr
    assert "resumed from" in r.stderr and "finished at step 6" in r.stdout


@pytest.mark.parametrize("args,message", [
    (["--data", "/no/such/folder"], "not found"),
    (["--arch", "stylegan"], "unknown architecture"),
    (["--steps", "0"], "steps"),
    (["--device", "cuda:7"] if not torch.cuda.is_available() else ["--device", "tpu"], "device"),
])
def test_cli_user_errors_exit_2_with_one_line(tmp_path, args, message):
    r = cli("--preset", "quick", "--size", "32", "--out", str(tmp_path / "e"), *args)
    assert r.returncode == 2, r.stderr
    lines = [ln for ln in r.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0], r.stderr
    assert "Traceback" not in r.stderr


def test_cli_help_documents_every_flag():
    r = cli("--help")
    assert r.returncode == 0
    for flag in ("--data", "--arch", "--preset", "--size", "--steps", "--batch", "--out", "--resume", "--seed",
                 "--device", "--sample-every", "--checkpoint-every", "--compile", "--threads"):
        assert flag in r.stdout


def test_kill_9_during_checkpointing_then_resume(tmp_path):
    """A CLI run killed at random while it writes checkpoints every step never leaves a
    checkpoint that resume would pick and then fail on."""
    out = tmp_path / "k"
    p = subprocess.Popen([sys.executable, "-m", "train", "--preset", "quick", "--size", "32", "--batch", "2",
                          "--steps", "1000", "--out", str(out), "--checkpoint-every", "1", "--keep", "2", "--quiet"],
                         cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    wait_for(lambda: len(list((out / "checkpoints").glob("step_*"))) >= 2 if (out / "checkpoints").is_dir() else False)
    time.sleep(0.37)
    p.send_signal(signal.SIGKILL)
    p.wait(30)
    done = sorted(int(c.name[5:]) for c in (out / "checkpoints").glob("step_*"))
    r = cli("--preset", "quick", "--size", "32", "--steps", str(max(done) + 2), "--out", str(out), "--resume", "--quiet")
    assert r.returncode == 0, r.stderr
    assert f"step {max(done)})" in r.stderr or f"step {max(done) - 1})" in r.stderr, r.stderr


def test_disk_full_during_checkpoint_keeps_previous(tmp_path, monkeypatch):
    t = Trainer(cfg(tmp_path, steps=6))
    t.train(StopAt([t], 3))
    import train.trainer as tr

    def full(*a, **k):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(tr, "write_state", full)
    t2 = Trainer(cfg(tmp_path, steps=6), resume=True)
    with pytest.raises(UserInputError, match="No space left on device"):
        t2.train()
    assert sorted(p.name for p in (tmp_path / "run" / "checkpoints").iterdir()) == ["step_000003"]
    assert load_model(tmp_path / "run" / "latest").image_size == 32


# --- several processes -------------------------------------------------------------------------
DDP_SCRIPT = """
import os, sys, torch
from safetensors.torch import save_file
from train import Trainer, TrainConfig
out = sys.argv[1]
t = Trainer(TrainConfig(data="demo:daynight", arch="cyclegan", variant="quick", size=32, steps=3, batch=2,
                        out=out, log_every=1, sample_every=100, checkpoint_every=3, threads=1))
t.train()
sd = {k: v.contiguous() for k, v in t.model.G_AB.state_dict().items()}
save_file(sd, os.path.join(out, f"rank{t.rank}.safetensors"))
import torch.distributed as dist
dist.destroy_process_group()
"""


def test_torchrun_two_processes_keep_identical_weights(tmp_path):
    script = tmp_path / "ddp.py"
    script.write_text(DDP_SCRIPT)
    out = tmp_path / "ddp"
    env = dict(os.environ, PYTHONPATH=str(ROOT), OMP_NUM_THREADS="1")
    r = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
                        str(script), str(out)], cwd=ROOT, capture_output=True, text=True, timeout=300, env=env)
    assert r.returncode == 0, r.stderr[-3000:]
    from safetensors.torch import load_file
    a, b = load_file(out / "rank0.safetensors"), load_file(out / "rank1.safetensors")
    assert max((a[k] - b[k]).abs().max().item() for k in a) == 0.0
    assert (out / "checkpoints" / "step_000003").is_dir() and (out / "metrics.jsonl").is_file()


def test_torchrun_cli(tmp_path):
    env = dict(os.environ, OMP_NUM_THREADS="1")
    r = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
                        "-m", "train", "--preset", "quick", "--size", "32", "--batch", "2", "--steps", "2",
                        "--out", str(tmp_path / "t"), "--quiet"], cwd=ROOT, capture_output=True, text=True,
                       timeout=300, env=env)
    assert r.returncode == 0, r.stderr[-3000:]
    assert r.stdout.count("finished at step 2") == 1
