"""The training engine: every architecture and recipe trains, resumes exactly, stops cleanly,
guards NaN; the run folder; the background Run; `python -m train` (in-process) and its flags.
(The live score and RUN/best: test_live_score.py.)"""
import json
import math
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from conftest import call_main
from cyclegan import UserInputError, get_preset, load_model
from train import Diverged, Hooks, TrainConfig, Trainer
from train.cli import build_parser, config_from_args, main
from train.config import parse_field
from train.run import Run
from train.runs import RunDir
from train.state import match_param_layout
from train.trainer import batch_ops

ROOT = Path(__file__).resolve().parents[1]
SIZES = {"cyclegan": 32, "discogan": 64, "dualgan": 32, "cut": 32}
PRESETS = [("cyclegan", None), ("cyclegan", "code"), ("discogan", None), ("dualgan", None), ("dualgan", "paper"),
           ("dualgan", "code-2017-04"), ("dualgan", "code-2020"), ("cut", "cut"), ("cut", "fastcut")]


def cfg(tmp_path, arch="cyclegan", steps=6, name="run", **kw) -> TrainConfig:
    """A tiny run; it scores itself at each checkpoint on 8 images a side (the live score is on
    by default, so every test here also checks that it leaves training alone). On the CPU even
    where a GPU exists: the exactness checks need the CPU's reproducible kernels (cuDNN picks
    non-deterministic ones); the CUDA tests below ask for the device themselves."""
    base = dict(data="demo:daynight", arch=arch, scale="quick", size=SIZES[arch], steps=steps, batch=2,
                out=str(tmp_path / name), log_every=2, sample_every=3, checkpoint_every=3, score_n=8,
                device="cpu")
    base.update(kw)
    return TrainConfig(**base)


@pytest.mark.parametrize("arch,recipe", PRESETS)
def test_each_architecture_trains_with_finite_losses(tmp_path, arch, recipe):
    t = Trainer(cfg(tmp_path, arch, recipe=recipe))
    assert t.train() == "finished"
    records = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert records[-1]["step"] == 6
    losses = {k: v for r in records for k, v in r.items() if k not in ("time",)}
    assert all(math.isfinite(v) for v in losses.values())
    keys = set().union(*records)
    common = {"lr", "sec_per_step", "images_per_s"}
    if arch == "cut":   # one direction: G_AB and D_B only, PatchNCE instead of a cycle
        assert {"D_B", "G_AB", "nce"} | common <= keys
        assert not keys & {"D_A", "G_BA", "cycle_A", "cycle_B", "idt_A", "idt_B"}
        assert ("nce_idt" in keys) == (recipe == "cut")
    else:
        assert {"D_A", "D_B", "G_AB", "G_BA", "cycle_A", "cycle_B"} | common <= keys
        assert ("idt_A" in keys) == (arch == "cyclegan")
        assert "nce" not in keys
    assert ("fm_A" in keys) == (arch == "discogan")
    model = load_model(tmp_path / "run" / "latest")
    assert model.architecture == arch and model.preset.recipe == t.preset.recipe and model.domains == ("day", "night")
    assert model.directions == t.preset.directions == (("a2b",) if arch == "cut" else ("a2b", "b2a"))
    assert sorted(p.name for p in (tmp_path / "run" / "samples").iterdir()) == \
        ["step_000001.png", "step_000003.png", "step_000006.png"]


@pytest.mark.parametrize("recipe", ["cut", "fastcut"])
def test_a_one_direction_identity_weight_is_the_l1_weight_itself(tmp_path, recipe):
    """CUT has no cycle to scale the identity weight by: `--lambda-identity w` is an L1 of weight w
    on G(B) vs B (it was w × 0, a silent no-op under a title that claimed the change)."""
    seen = {}
    for w in (1.0, 3.0):
        t = Trainer(cfg(tmp_path, "cut", steps=1, name=f"w{w}", recipe=recipe, lambda_identity=w, log_every=1,
                        score_every=0))
        assert t.train() == "finished"
        seen[w] = json.loads((tmp_path / f"w{w}" / "metrics.jsonl").read_text().splitlines()[0])["idt_B"]
    assert seen[1.0] > 0.01                                   # the first step: G(B) is far from B
    assert seen[3.0] == pytest.approx(3 * seen[1.0], rel=1e-4)  # same first forward, three times the weight


def test_the_identity_weights_top_is_the_same_l1_weight_with_or_without_a_cycle(tmp_path):
    """Two-way models count identity in multiples of lambda-cycle (top 10, i.e. L1 weight 100 at the
    default cycle weight); CUT's number is the L1 weight itself, so its top is 100, not 10."""
    assert cfg(tmp_path, "cut", lambda_identity=30.0).preset().lambda_identity == 30.0
    assert cfg(tmp_path, "cut", recipe="fastcut", lambda_identity=100).preset().lambda_identity == 100
    with pytest.raises(UserInputError, match="from 0 to 100 for a one-direction model, got 101"):
        cfg(tmp_path, "cut", lambda_identity=101.0)
    for arch in ("cyclegan", "discogan", "dualgan"):
        assert cfg(tmp_path, arch, lambda_identity=10.0).preset().lambda_identity == 10.0
        with pytest.raises(UserInputError, match=r"lambda-identity must be a number from 0 to 10, got 30"):
            cfg(tmp_path, arch, lambda_identity=30.0)


def test_step_patterns_follow_the_preset(tmp_path):
    """DiscoGAN: D on every third batch, G on the others; DualGAN's paper: two critic steps then
    G, with critic weights clipped; CycleGAN: G then D on every batch; DualGAN Aug 2017: D then G."""
    seen = {}
    for arch, recipe in (("cyclegan", None), ("discogan", None), ("dualgan", "paper"), ("dualgan", "code-2017-08")):
        t = Trainer(cfg(tmp_path, arch, name=f"{arch}-{recipe}", recipe=recipe))
        seen[arch, recipe] = [sorted(k for k in t.train_step() if k[0] in "DG" and k != "G_total") for _ in range(3)]
        if t.preset.clip_weights:
            c = t.preset.clip_weights
            assert all(p.abs().max() <= c + 1e-9 for d in t.discriminators for p in d.parameters())
    both = ["D_A", "D_B", "G_AB", "G_BA"]
    assert seen["cyclegan", None] == [both] * 3
    assert seen["discogan", None] == [["D_A", "D_B"], ["G_AB", "G_BA"], ["G_AB", "G_BA"]]
    assert seen["dualgan", "paper"] == [["D_A", "D_B"], ["D_A", "D_B"], ["G_AB", "G_BA"]]
    assert seen["dualgan", "code-2017-08"] == [both] * 3


@pytest.mark.parametrize("arch,recipe,ops", [
    ("cyclegan", None, [("G", "D")] * 3),
    ("discogan", None, [("D",), ("G",), ("G",)]),
    ("dualgan", "paper", [("D",), ("D",), ("G",)]),
    ("dualgan", "code-2017-04", [("D", "D", "D", "G")] * 3),
    ("dualgan", "code-2017-08", [("D", "G", "G")] * 3),
    ("dualgan", "code-2020", [("D", "G")] * 3),
    ("cut", "cut", [("D", "G")] * 3),
    ("cut", "fastcut", [("D", "G")] * 3),
])
def test_named_schedule_fields_give_each_batch_its_steps(arch, recipe, ops):
    """The order of discriminator and generator steps on each batch, from the preset's fields."""
    p = get_preset(arch, recipe)
    assert [batch_ops(p, s) for s in range(6)] == ops * (6 // len(ops))


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


@pytest.mark.parametrize("arch,recipe", [("cyclegan", None), ("dualgan", None), ("discogan", None),
                                         ("dualgan", "code-2017-04"), ("dualgan", "paper"),
                                         ("cut", "cut"), ("cut", "fastcut")])
def test_resume_is_exact(tmp_path, arch, recipe):
    """Also for TF-start RMSProp's state and the Apr-2017 critic window (which refills from the
    feed after a resume; n = 5 stops it mid-way through the window's batches); for CUT also the
    PatchNCE heads (training state, not in the model) and the switch to uncropped data when the
    LR decays (at step 6 of 12 for CUT, at step 9 for FastCUT)."""
    n = 5 if recipe == "code-2017-04" else 6
    straight = Trainer(cfg(tmp_path, arch, steps=2 * n, name="straight", recipe=recipe))
    straight.train()
    ref = [Trainer(cfg(tmp_path, arch, steps=2 * n, name="split", recipe=recipe))]
    assert ref[0].train(StopAt(ref, n)) == "stopped"
    assert (tmp_path / "split" / "checkpoints" / f"step_{n:06d}").is_dir()
    resumed = Trainer(cfg(tmp_path, arch, steps=2 * n, name="split", recipe=recipe), resume=True)
    assert resumed.step == n
    resumed.train()
    nets = ["G_AB", "G_BA"] if arch != "cut" else ["G_AB", "D_B"]
    pairs = [(getattr(straight.model, k), getattr(resumed.model, k), k) for k in nets]
    if arch == "cut":
        pairs.append((straight.heads, resumed.heads, "heads"))
    for x, y, name in pairs:
        a, b = x.state_dict(), y.state_dict()
        diff = max((a[k].float() - b[k].float()).abs().max().item() for k in a)
        assert diff <= 1e-6, f"{name} differs by {diff}"


def test_loaded_optimizer_state_takes_its_parameters_layout():
    """A checkpoint holds contiguous tensors; channels_last params (CUDA) need their state in the
    same layout, or fused Adam refuses the first step after a resume."""
    p = torch.nn.Parameter(torch.randn(4, 3, 3, 3).contiguous(memory_format=torch.channels_last))
    opt = torch.optim.Adam([p])
    p.grad = torch.randn_like(p)
    opt.step()
    sd = opt.state_dict()
    for k in ("exp_avg", "exp_avg_sq"):
        sd["state"][0][k] = sd["state"][0][k].contiguous()
    again = torch.optim.Adam([p])
    again.load_state_dict(sd)
    assert again.state[p]["exp_avg"].stride() != p.stride()
    match_param_layout(again)
    for k in ("exp_avg", "exp_avg_sq"):
        assert again.state[p][k].stride() == p.stride() and torch.equal(again.state[p][k], sd["state"][0][k])


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
@pytest.mark.parametrize("arch,recipe", [("cyclegan", None), ("discogan", None), ("dualgan", None), ("cut", "cut")])
def test_cuda_run_resumes_and_matches(tmp_path, arch, recipe):
    """On CUDA (bf16 autocast, channels_last, fused Adam) a stopped run resumes and ends near the
    straight run; not bit-exact, since cuDNN's kernels are not deterministic."""
    kw = dict(recipe=recipe, device="cuda", score_every=0)
    straight = Trainer(cfg(tmp_path, arch, steps=12, name="straight", **kw))
    straight.train()
    ref = [Trainer(cfg(tmp_path, arch, steps=12, name="split", **kw))]
    assert ref[0].train(StopAt(ref, 6)) == "stopped"
    resumed = Trainer(cfg(tmp_path, arch, steps=12, name="split", **kw), resume=True)
    assert resumed.step == 6
    resumed.train()
    for opt in (resumed.opt_G, resumed.opt_D):
        for p, st in opt.state.items():
            assert all(v.stride() == p.stride() for v in st.values() if torch.is_tensor(v) and v.shape == p.shape)
    a, b = straight.model.G_AB.state_dict(), resumed.model.G_AB.state_dict()
    diff = max((a[k].float() - b[k].float()).abs().max().item() for k in a)
    print(f"{arch}: straight vs resumed on CUDA, max weight difference {diff:.2e}")
    assert diff <= 1e-2, f"{arch}: resumed run drifted by {diff}"


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


def test_nan_before_any_checkpoint_says_none_was_kept(tmp_path):
    """Issue #11: 'diverged' used to promise a last good checkpoint when none existed."""
    ref = []

    class Poison(Hooks):
        def wait_if_paused(self):
            with torch.no_grad():
                next(ref[0].model.G_AB.parameters()).fill_(float("nan"))

    ref.append(Trainer(cfg(tmp_path, steps=20, checkpoint_every=10, log_every=1)))
    with pytest.raises(Diverged) as e:
        ref[0].train(Poison())
    assert "diverged at step 1" in str(e.value) and "no checkpoint had been written yet" in str(e.value)
    assert "is kept" not in str(e.value)
    assert not ref[0].folder.complete_checkpoints()


@pytest.mark.parametrize("workers", [0, pytest.param(1, marks=pytest.mark.slow)])   # a worker process: slow
def test_an_image_damaged_during_the_run_keeps_the_work_and_names_the_file(tmp_path, workers):
    """The up-front check passed every file; one that breaks later (overwritten, synced away) stops
    the run with its name, after the nets as they are are saved: no steps since the last
    checkpoint are lost (before: the run died with them)."""
    import numpy as np
    from PIL import Image
    for side in ("trainA", "trainB"):
        (tmp_path / "data" / side).mkdir(parents=True)
        for i in range(4):
            Image.fromarray(np.random.default_rng(i).integers(0, 256, (40, 40, 3), dtype=np.uint8)).save(
                tmp_path / "data" / side / f"{i}.jpg")
    cut = (tmp_path / "data" / "trainA" / "0.jpg").read_bytes()
    (tmp_path / "data" / "trainA" / "cut.jpg").write_bytes(cut[: len(cut) * 3 // 4])   # broken from the start
    ref, logged = [], []

    class Damage(Hooks):
        def wait_if_paused(self):
            if ref[0].step == 5:
                for f in (tmp_path / "data" / "trainA").iterdir():
                    f.write_bytes(f.read_bytes()[:300])

    ref.append(Trainer(cfg(tmp_path, data=str(tmp_path / "data"), steps=40, checkpoint_every=100, score_every=0,
                           workers=workers), log=logged.append))
    assert logged[0] == f"data: 4 + 4 images from {tmp_path / 'data'}; 1 unreadable: trainA/cut.jpg", logged
    assert logged[1].startswith("left out trainA/cut.jpg: image is truncated or corrupt: 'cut.jpg' "), logged
    with pytest.raises(UserInputError) as e:
        ref[0].train(Damage())
    msg = str(e.value)
    assert msg.startswith("image is truncated or corrupt: '") and ".jpg' (" in msg, msg
    import re
    m = re.search(r"training stopped at step (\d+): the model so far is saved \(step_0*(\d+)\)", msg)
    assert m and m[1] == m[2], msg
    # a worker has fetched a few batches ahead, read before the damage
    assert int(m[1]) == 5 if workers == 0 else 5 <= int(m[1]) <= 5 + 4 + 1, msg
    assert "Traceback" not in msg and "\n" not in msg
    assert [p.name for p in ref[0].folder.complete_checkpoints()] == [f"step_{int(m[1]):06d}"]
    load_model(tmp_path / "run" / "latest").translate(torch.rand(24, 40, 3).numpy(), "a2b")


def test_bad_settings_are_user_errors(tmp_path):
    with pytest.raises(UserInputError, match="multiple of 256"):
        Trainer(TrainConfig(arch="dualgan", scale="full", size=300, out=str(tmp_path / "x")))
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


# --- the CLI, in this process ------------------------------------------------------------------
def cli(*args) -> tuple[int, str, str]:
    """`python -m train ARGS` through its main(): (exit status, stdout, stderr)."""
    return call_main(main, *args)


@pytest.mark.slow
def test_cli_trains_and_resumes(tmp_path, one_thread):
    out = tmp_path / "cli"
    code, stdout, stderr = cli("--data", "demo:daynight", "--arch", "dualgan", "--recipe", "code-2017-08",
                               "--scale", "quick", "--size", "32", "--steps", "4", "--batch", "2", "--out", out,
                               "--checkpoint-every", "2", "--quiet")
    assert code == 0, stderr
    assert "finished at step 4" in stdout
    assert load_model(out / "latest").preset.key == "dualgan/code-2017-08/quick"
    # resuming takes the run's identity from its folder, whatever the defaults of these flags say
    code, stdout, stderr = cli("--steps", "6", "--out", out, "--resume", "--quiet")
    assert code == 0, stderr
    assert "resumed from" in stderr and "(step 4)" in stderr and "finished at step 6" in stdout
    assert load_model(out / "latest").preset.key == "dualgan/code-2017-08/quick"


@pytest.mark.parametrize("args,message", [
    (["--data", "/no/such/folder"], "not found"),
    (["--arch", "stylegan"], "unknown architecture 'stylegan'; choose one of: cyclegan, discogan, dualgan, cut"),
    (["--arch", "dualgan-code"], "unknown architecture 'dualgan-code'"),
    (["--arch", "dualgan", "--recipe", "gp"], "unknown recipe 'gp' for dualgan; choose one of: paper, code-2017-04, code-2017-08, code-2020"),
    (["--scale", "paper"], "unknown scale 'paper'; choose one of: full, quick"),
    (["--steps", "0"], "steps must be a whole number of at least 1"),
    (["--device", "cuda:7"] if not torch.cuda.is_available() else ["--device", "tpu"], "device"),
])
def test_cli_user_errors_exit_2_with_one_line(tmp_path, args, message):
    code, stdout, stderr = cli("--scale", "quick", "--size", "32", "--out", tmp_path / "e", *args)
    assert code == 2, stderr
    lines = [ln for ln in stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0], stderr
    assert "Traceback" not in stderr and not (tmp_path / "e").exists()


def test_cli_flags_come_from_the_config_fields(capsys):
    """Every TrainConfig field with CLI metadata is a flag with the field's type and default (the
    scale's default aside: the command line trains the published nets unless told otherwise)."""
    with pytest.raises(SystemExit):
        build_parser().parse_args(["--help"])
    help_text = capsys.readouterr().out
    flags = {"data", "arch", "recipe", "scale", "size", "steps", "batch", "out", "seed", "device", "sample-every",
             "checkpoint-every", "log-every", "keep", "threads", "workers", "no-amp", "no-channels-last",
             "compile", "no-fuse", "preprocess", "no-flip", "lr-g", "lr-d", "lambda-cycle", "lambda-identity",
             "pool-size", "clip-weights", "lr-decay-fraction", "lambda-nce", "score-every", "score-n", "resume",
             "quiet"}
    for flag in flags:
        assert f"--{flag} " in help_text or f"--{flag}\n" in help_text, flag
    assert "--preset" not in help_text and "--variant" not in help_text and "--max-steps-limit" not in help_text
    defaults = config_from_args(build_parser().parse_args([]))
    assert defaults == TrainConfig(scale="full")
    args = build_parser().parse_args(["--arch", "dualgan", "--recipe", "code-2020", "--size", "64", "--no-amp",
                                      "--keep", "2", "--lr-g", "1e-4", "--no-flip", "--compile", "--threads", "1"])
    c = config_from_args(args)
    assert (c.arch, c.recipe, c.size, c.amp, c.keep_checkpoints, c.lr_g, c.flip, c.compile, c.threads) == \
        ("dualgan", "code-2020", 64, False, 2, 1e-4, False, True, 1)
    assert c.preset().flip is False and c.preset().lr_g == 1e-4


def test_field_parsing_shared_by_cli_and_bench():
    assert parse_field("channels_last", "off") is False and parse_field("amp", "TRUE") is True
    assert parse_field("size", "none") is None and parse_field("size", "64") == 64
    assert parse_field("lr_g", "2e-4") == 2e-4 and parse_field("recipe", "paper") == "paper"
    with pytest.raises(UserInputError, match="channels_last must be true or false"):
        parse_field("channels_last", "maybe")
    with pytest.raises(UserInputError, match="steps must be a whole number"):
        parse_field("steps", "1.5")
    with pytest.raises(UserInputError, match="'wings' is not a TrainConfig field"):
        parse_field("wings", "2")


def test_old_run_folders_still_resume(tmp_path):
    """A run folder from before architecture/recipe/scale: its config.json says
    arch 'dualgan-code' and variant 'quick'; resuming reads it as dualgan / code-2017-08 / quick."""
    Trainer(cfg(tmp_path, "dualgan", steps=3, recipe="code-2017-08")).train()
    run = RunDir(tmp_path / "run")
    old = {k: v for k, v in run.read_config().items() if k not in ("recipe", "scale")}
    run.write_config({**old, "arch": "dualgan-code", "variant": "quick"})
    t = Trainer(cfg(tmp_path, steps=5), resume=True)          # the cyclegan in this call is not looked at
    assert t.step == 3 and t.preset.key == "dualgan/code-2017-08/quick"
    assert t.train() == "finished" and t.step == 5
    assert TrainConfig.from_dict({"arch": "dualgan-gp", "variant": "paper", "size": 256}).preset().key == \
        "dualgan/code-2020/full"


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
t = Trainer(TrainConfig(data="demo:daynight", arch="cyclegan", scale="quick", size=32, steps=3, batch=2,
                        out=out, log_every=1, sample_every=100, checkpoint_every=3, threads=1))
t.train()
sd = {k: v.contiguous() for k, v in t.model.G_AB.state_dict().items()}
save_file(sd, os.path.join(out, f"rank{t.rank}.safetensors"))
import torch.distributed as dist
dist.destroy_process_group()
"""


@pytest.mark.slow
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


@pytest.mark.slow
def test_torchrun_cli(tmp_path):
    env = dict(os.environ, OMP_NUM_THREADS="1")
    r = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
                        "-m", "train", "--scale", "quick", "--size", "32", "--batch", "2", "--steps", "2",
                        "--out", str(tmp_path / "t"), "--quiet"], cwd=ROOT, capture_output=True, text=True,
                       timeout=300, env=env)
    assert r.returncode == 0, r.stderr[-3000:]
    assert r.stdout.count("finished at step 2") == 1
    # rank 0 scored alone (the metric must not wait for the other rank) and kept its best
    scores = [json.loads(line) for line in (tmp_path / "t" / "scores.jsonl").read_text().splitlines()]
    assert [s["step"] for s in scores] == [2] and (tmp_path / "t" / "best").exists()
