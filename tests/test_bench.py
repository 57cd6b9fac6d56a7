"""The benchmark commands run end to end at tiny sizes and print one JSON object with positive
numbers (their speed is not tested here: that is what the benchmarks are for). The commands run
as real processes, in the slow stage."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from cyclegan.nets import winograd
from train.config import TrainConfig

ROOT = Path(__file__).resolve().parents[1]
FAST = ["--scale", "quick", "--threads", "1", "--warmup", "0"]
COMMON_FIELDS = ("median_s", "min_s", "max_s", "images_per_s", "peak_mem_mb", "achieved_gflops", "peak_gflops",
                 "fraction_of_peak")


def bench(*args: str, timeout: int = 120, env: dict | None = None) -> dict:
    proc = subprocess.run([sys.executable, "-m", "bench", *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=timeout, env={**os.environ, **(env or {})})
    assert proc.returncode == 0, f"exit {proc.returncode}\nstdout:\n{proc.stdout}\nstderr:\n{proc.stderr[-3000:]}"
    lines = [ln for ln in proc.stdout.splitlines() if ln.strip()]
    assert len(lines) == 1, f"expected one JSON line, got:\n{proc.stdout}"
    return json.loads(lines[0])


def check_common(r: dict) -> None:
    for k in COMMON_FIELDS:
        assert k in r, f"missing {k}: {sorted(r)}"
        assert isinstance(r[k], (int, float)) and r[k] > 0, f"{k} = {r[k]!r}"
    assert r["min_s"] <= r["median_s"] <= r["max_s"]
    assert r["fraction_of_peak"] == pytest.approx(r["achieved_gflops"] / r["peak_gflops"])
    assert r["device"] == "cpu" and r["threads"] == 1 and r["torch"]


@pytest.mark.slow
@pytest.mark.parametrize("arch,recipe,size,cycle", [("cyclegan", "paper", 32, 1), ("discogan", "code", 64, 3),
                                                     ("dualgan", "paper", 32, 3), ("dualgan", "code-2017-08", 32, 1),
                                                     ("cut", "cut", 32, 1), ("cut", "fastcut", 32, 1)])
def test_train_bench(arch, recipe, size, cycle):
    r = bench("train", "--arch", arch, "--recipe", recipe, "--size", str(size), "--steps", "2", "--device", "cpu",
              "--peak-reps", "1", *FAST)
    check_common(r)
    assert (r["bench"], r["arch"], r["recipe"], r["size"], r["scale"]) == ("train", arch, recipe, size, "quick")
    assert r["cycle"] == cycle and (r["median_s_by_position"] is None) == (cycle == 1)
    assert r["steps"] >= 2 and r["steps"] % cycle == 0 and len(r["times_s"]) == r["steps"]
    assert r["batch"] >= 1 and r["gflop_per_step"] > 0
    # The step's FLOPs are (almost) all convolutions, and the conv peak was measured from them;
    # CUT adds PatchNCE's MLP heads on 256 patches a layer (and blur filters), as many FLOPs as
    # the convs of the quick nets at 32 px.
    if arch == "cut":
        assert 0.2 * r["gflop_per_step"] < r["conv_gflop_per_step"] < r["gflop_per_step"]
    else:
        assert r["conv_gflop_per_step"] == pytest.approx(r["gflop_per_step"], rel=0.05)
    assert all(v > 0 for v in r["peak_gflops_by_format"].values())
    assert r["peak_gflops"] >= max(r["peak_gflops_by_format"].values()) * 0.999


@pytest.mark.slow
def test_translate_bench_random_model():
    """The published ResNet-9 (full scale: wide enough for NNPACK), random weights, at 32 px."""
    r = bench("translate", "--model", "random:cyclegan", "--size", "32", "--n", "2", "--device", "cpu",
              "--peak-reps", "1", *FAST, "--scale", "full")
    check_common(r)
    assert (r["bench"], r["arch"], r["scale"], r["size"], r["batch"]) == ("translate", "cyclegan", "full", 32, 1)
    assert r["speedup_vs_reference"] > 0 and r["reference"]["median_s"] > 0
    assert r["max_abs_diff_vs_reference"] < 1e-3
    assert len(r["times_s"]) == 2
    assert set(r["variants"]) == {"torch_convs_nchw", "torch_convs_channels_last", "float32",
                                  "bf16_autocast_channels_last"}
    assert all(v["median_s"] > 0 and v["speedup_vs_reference"] > 0 for v in r["variants"].values())
    # made ready to translate as load_model makes it: the paper recipe's ResNet-6 below 256 px,
    # so its 12 block convs and 2 ends go through NNPACK wherever NNPACK works (as it does on
    # this project's CPUs)
    assert r["winograd_convs"] == (14 if winograd.available() else 0)
    assert r["winograd_fallbacks"] == 0


@pytest.mark.slow
def test_compare_first_step_losses_agree():
    # float32 on both sides, so the step is checked against the reference at float32's tolerance
    # (a CPU with bf16 hardware trains under bf16 autocast by default)
    r = bench("compare", "--size", "32", "--steps", "2", "--device", "cpu", *FAST, env={"CYCLEGAN_CPU_BF16": "0"})
    assert r["bench"] == "compare" and r["size"] == 32 and r["precision"] == "float32"
    assert r["same_initial_weights"] and r["same_first_batch"]
    assert r["first_step_losses_agree"] is True
    losses = r["first_step"]["losses"]
    assert set(losses) == {"G_AB", "G_BA", "cycle_A", "cycle_B", "idt_A", "idt_B", "D_A", "D_B"}
    assert all(row["ours"] > 0 and row["reference"] > 0 for row in losses.values())
    for side in ("ours", "reference"):
        assert r[side]["median_s"] > 0 and len(r[side]["times_s"]) == 2
    assert r["speedup"] == pytest.approx(r["reference"]["median_s"] / r["ours"]["median_s"])


@pytest.mark.slow
def test_bad_arguments_are_refused():
    for args, message in ((["--arch", "nosuchgan"], "unknown architecture 'nosuchgan'"),
                          (["--set", "channels_last=maybe"], "channels_last must be true or false")):
        proc = subprocess.run([sys.executable, "-m", "bench", "train", *args, "--size", "32", "--steps", "1",
                               "--device", "cpu", *FAST], cwd=ROOT, capture_output=True, text=True, timeout=60)
        assert proc.returncode == 2 and message in proc.stderr and not proc.stdout.strip(), proc.stderr


def test_set_overrides_parse_like_the_training_cli():
    from bench.variants import parse_overrides
    over = parse_overrides(["channels_last=off", "fuse-passes=0", "size=none", "lr_g=1e-4", "compile=true"])
    assert over == {"channels_last": False, "fuse_passes": False, "size": None, "lr_g": 1e-4, "compile": True}
    assert TrainConfig(**over).lr_g == 1e-4


@pytest.mark.slow
def test_profile_and_ablate_run():
    r = bench("profile", "--arch", "cyclegan", "--size", "32", "--steps", "1", "--device", "cpu", *FAST)
    assert r["bench"] == "profile" and r["aten_self_ms_per_step"] > 0
    assert r["by_category_ms"]["conv"] > 0 and r["top_ops"]
    r = bench("ablate", "--size", "32", "--steps", "1", "--device", "cpu", "--variants", "nchw+adam_fused", *FAST)
    (row,) = r["results"]
    assert row["variant"] == "nchw+adam_fused" and row["baseline_median_s"] > 0 and row["variant_median_s"] > 0


def test_paired_bound_trains_with_the_pairs_and_scores_both_directions(capsys):
    from bench.paired_bound import main
    assert main(["--seconds", "0.5", "--train-scenes", "8", "--n", "4", "--size", "32", "--threads", "1"]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [r["direction"] for r in rows] == ["a2b", "b2a"]
    for r in rows:
        assert r["step"] >= 1 and r["identity_psnr"] > 0
        assert abs(r["gain_db"] - (r["psnr"] - r["identity_psnr"])) < 0.02


def test_paired_bound_takes_any_architectures_generator(capsys):
    from bench.paired_bound import main
    assert main(["--arch", "discogan", "--direction", "b2a", "--seconds", "0.5", "--train-scenes", "8", "--n", "4",
                 "--size", "32", "--threads", "1"]) == 0
    assert main(["--direction", "b2a", "--seconds", "0.5", "--train-scenes", "8", "--n", "4", "--size", "32",
                 "--threads", "1"]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [(r["arch"], r["direction"]) for r in rows] == [("discogan", "b2a"), ("cyclegan", "b2a")]
    # DiscoGAN works on [0, 1], CycleGAN on [-1, 1]: both are scored on [0, 1], so doing nothing scores the same
    assert rows[0]["identity_psnr"] == rows[1]["identity_psnr"] > 0


def test_learning_trains_as_a_run_of_run_steps(capsys):
    """`--run-steps` is the length of the run the marks sample: with it a recipe's LR decay (the
    quick CycleGAN's last half) happens within the marks, and the scores differ from a run
    whose decay never starts; a mark past the run is refused."""
    from bench.learning import main
    tiny = ["--arch", "cyclegan", "--size", "32", "--n", "4", "--threads", "1", "--set", "generator.ngf=4",
            "--set", "discriminator.ndf=4", "--set", "lr_g=0.05", "--steps", "2", "6"]
    assert main(tiny) == 0
    assert main(tiny + ["--run-steps", "6"]) == 0
    long, short = (json.loads(line) for line in capsys.readouterr().out.splitlines())
    assert (long["run_steps"], short["run_steps"]) == (10**6, 6)
    assert [p["step"] for p in short["points"]] == [2, 6] and "unreached" not in short
    assert long["points"][0]["a2b_psnr"] == short["points"][0]["a2b_psnr"]     # before the decay: the same run
    assert long["points"][1]["lr_g"] == 0.05                                  # the decay never starts
    assert 0 < short["points"][1]["lr_g"] < 0.05 / 3                          # the last of steps 4-6, decaying
    with pytest.raises(SystemExit, match="past --run-steps 4"):
        main(tiny + ["--run-steps", "4"])
    assert main(tiny[:-3] + ["--minutes", "5", "--run-steps", "3"]) == 0       # the run ends before the mark
    ended = json.loads(capsys.readouterr().out)
    assert ended["points"] == [] and ended["unreached"] == ["5 min"] and ended["identity_psnr"] is None


def test_photos_scores_every_shipped_photo_model_by_default(tmp_path, capsys):
    """`python -m bench.photos` with no --models scores the photo ↔ vintage models that ship (it once
    defaulted to names that no longer exist), in each direction a model has (CUT: one)."""
    from PIL import Image

    from bench.photos import main
    for side in ("testA", "testB"):
        (tmp_path / side).mkdir()
        for i in range(2):
            Image.new("RGB", (64, 64), (40 * i + 60, 90, 150 if side == "testA" else 110)).save(tmp_path / side / f"{i}.png")
    assert main(["--data", str(tmp_path)]) == 0
    res = json.loads(capsys.readouterr().out)
    assert sorted(res["models"]) == ["demo:photo-vintage-cut", "demo:photo-vintage-cyclegan",
                                     "demo:photo-vintage-discogan", "demo:photo-vintage-dualgan"]
    assert "b2a" not in res["models"]["demo:photo-vintage-cut"]
    assert all(m["a2b"]["psnr"] > 0 for m in res["models"].values())


def test_score_check_says_which_pairs_psnr_and_kid_each_separate():
    """The pairs table behind README's "does the unpaired score rank models like the ground truth":
    a PSNR gap counts only when its bootstrap interval over the same pairs excludes 0, a KID gap only
    past 2 × the stds, and "agree" is asked only where both count."""
    import random

    from bench.score_check import pair_verdicts, psnr_interval
    rnd = random.Random(0)
    base = [20 + rnd.gauss(0, 2) for _ in range(200)]
    same = psnr_interval(base, base)
    assert same == (0.0, 0.0, 0.0)
    noisy = [v + rnd.gauss(0, 1) for v in base]
    mean, lo, hi = psnr_interval(noisy, base)
    assert lo < mean < hi and lo < 0 < hi                      # 200 pairs, no real gap: a tie
    rows = [{"model": "x", "kid": 0.001, "kid_std": 0.0005}, {"model": "y", "kid": 0.030, "kid_std": 0.003},
            {"model": "z", "kid": 0.0015, "kid_std": 0.0005}, {"model": "identity", "kid": 1.4, "kid_std": 0.02}]
    per_image = {"x": [v + 0.5 for v in noisy], "y": noisy, "z": [v + 0.6 for v in noisy]}  # identity: not paired
    v = {(p["a"], p["b"]): p for p in pair_verdicts(rows, per_image)}
    assert sorted(v) == [("x", "y"), ("x", "z"), ("y", "z")]
    assert v[("x", "y")]["psnr_separates"] and v[("x", "y")]["kid_separates"] and v[("x", "y")]["agree"]
    assert not v[("x", "z")]["kid_separates"] and "agree" not in v[("x", "z")]
    per_image["y"] = [v + 1 for v in noisy]                       # y now best by PSNR, still worst by KID
    assert pair_verdicts(rows, per_image)[0]["agree"] is False


def test_evaluate_per_image_psnr_is_what_the_mean_is_of():
    import cyclegan
    from cyclegan.evaluate import evaluate
    r = evaluate(cyclegan.load_model("demo:cut"), "demo:daynight", n=6, size=64, per_image=True)
    per = r["a2b"]["psnr_per_image"]
    assert len(per) == 6 and abs(sum(per) / 6 - r["a2b"]["psnr"]) < 1e-9
    assert "psnr_per_image" not in evaluate(cyclegan.load_model("demo:cut"), "demo:daynight", n=2, size=64)["a2b"]
