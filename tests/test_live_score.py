"""The live score of a training run (train/scoring.py): KID (random features) on held-out images
every few steps, scores.jsonl, RUN/best (kept whatever --keep says, found again on resume), its
cost, and that scoring leaves the training itself alone. Also CUT's one-direction samples and
its uncropped decay phase."""
import contextlib
import io
import json

import pytest
import torch

from cyclegan import demo, load_model
from train import Hooks, TrainConfig, Trainer
from train.cli import main as train_main
from train.runs import RunDir, list_runs


def cfg(tmp_path, name="run", **kw) -> TrainConfig:
    base = dict(data="demo:daynight", arch="cut", scale="quick", size=32, steps=8, batch=2, out=str(tmp_path / name),
                log_every=2, sample_every=4, checkpoint_every=2, score_n=8, keep_checkpoints=1,
                device="cpu")  # bit-equal runs need the CPU's reproducible kernels, even beside a GPU
    base.update(kw)
    return TrainConfig(**base)


class StopAt(Hooks):
    def __init__(self, ref, step):
        self.ref, self.at = ref, step

    def should_stop(self):
        return self.ref[0].step >= self.at


def test_scores_and_the_best_checkpoint(tmp_path):
    t = Trainer(cfg(tmp_path))
    heard = []

    class Listen(Hooks):
        def on_score(self, rec):
            heard.append(rec)

    assert t.train(Listen()) == "finished"
    run = RunDir(tmp_path / "run")
    scores = run.read_scores()
    assert [r["step"] for r in scores] == [2, 4, 6, 8] and heard == scores
    first = scores[0]
    assert first["metric"] == "KID (random features)" and first["split"] == "test"
    assert first["n_fake"] == first["n_real"] == 8 and first["features"].startswith("random features")
    assert "test scenes 0-7" in first["source"] and "test scenes 8-15" in first["reference"]
    assert all(r["score"] == r["kid_a2b"] and "kid_b2a" not in r for r in scores)           # one direction
    assert len({r["identity_kid_a2b"] for r in scores}) == 1                                # computed once
    assert "setup_seconds" in first and all(r["seconds"] > 0 and 0 < r["fraction_of_wall_time"] < 1 for r in scores)
    best = min(scores, key=lambda r: r["score"])
    assert run.best.resolve().name == f"step_{best['step']:06d}"
    assert t.best == {"step": best["step"], "score": best["score"], "checkpoint": str(run.best.resolve())}
    # --keep 1 keeps the newest checkpoint, and the best one besides
    kept = {p.name for p in run.complete_checkpoints()}
    assert kept == {"step_000008", f"step_{best['step']:06d}"}
    model = load_model(run.best)
    assert model.provenance["step"] == best["step"]
    assert model.provenance["score"]["kid_a2b"] == best["kid_a2b"]
    info = list_runs(tmp_path)[0]
    assert info.best == run.best and info.best_model["provenance"]["step"] == best["step"]


def test_scoring_leaves_training_alone(tmp_path):
    """The same run with and without the live score ends with the same weights."""
    with_score = Trainer(cfg(tmp_path, "a", steps=4))
    with_score.train()
    without = Trainer(cfg(tmp_path, "b", steps=4, score_every=0))
    without.train()
    assert not (tmp_path / "b" / "scores.jsonl").exists() and without.best is None
    assert RunDir(tmp_path / "b").best_checkpoint() is None
    a, b = with_score.model.G_AB.state_dict(), without.model.G_AB.state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_score_every_k_steps_writes_a_checkpoint_there(tmp_path):
    t = Trainer(cfg(tmp_path, steps=6, checkpoint_every=100, score_every=3, keep_checkpoints=5))
    t.train()
    run = RunDir(tmp_path / "run")
    assert [r["step"] for r in run.read_scores()] == [3, 6]
    assert sorted(p.name for p in run.complete_checkpoints()) == ["step_000003", "step_000006"]


def test_best_is_found_again_after_a_resume(tmp_path):
    ref = [Trainer(cfg(tmp_path, steps=8))]
    ref[0].train(StopAt(ref, 4))
    before = ref[0].best
    assert before is not None and before["step"] in (2, 4)
    resumed = Trainer(cfg(tmp_path, steps=8), resume=True)
    assert resumed.step == 4 and resumed.best == before
    resumed.train()
    run = RunDir(tmp_path / "run")
    scores = run.read_scores()
    assert [r["step"] for r in scores] == [2, 4, 6, 8]
    best = min(scores, key=lambda r: r["score"])
    assert resumed.best["step"] == best["step"] and run.best_score() == resumed.best


def test_a_repeated_score_line_counts_once(tmp_path):
    run = RunDir(tmp_path / "r")
    run.path.mkdir()
    for rec in ({"step": 2, "score": 1.0}, {"step": 4, "score": 0.5}, {"step": 4, "score": 0.25}):
        run.append_score(rec)
    with open(run.scores_path, "a") as f:
        f.write('{"step": 6, "sco')                      # cut short by a crash
    assert run.read_scores() == [{"step": 2, "score": 1.0}, {"step": 4, "score": 0.25}]


def test_folders_score_on_test_split_or_say_train(tmp_path):
    """testA/ + testB/ when the data has them; else the training images, and the record says so."""
    with_test = tmp_path / "with_test"
    demo.export("daynight", with_test, n=12, size=32, n_test=10)
    t = Trainer(cfg(tmp_path, data=str(with_test), steps=2, score_n=4))
    t.train()
    rec = RunDir(tmp_path / "run").read_scores()[-1]
    assert rec["split"] == "test" and "testA/" in rec["source"] and "testB/" in rec["reference"]
    only_train = tmp_path / "only_train"
    demo.export("daynight", only_train, n=12, size=32, n_test=0)
    for sub in ("testA", "testB"):
        if (only_train / sub).exists():
            for f in (only_train / sub).iterdir():
                f.unlink()
            (only_train / sub).rmdir()
    t = Trainer(cfg(tmp_path, "run2", data=str(only_train), steps=2, score_n=4))
    t.train()
    rec = RunDir(tmp_path / "run2").read_scores()[-1]
    assert rec["split"] == "train" and "trainA/" in rec["source"]


def test_two_directions_score_both(tmp_path):
    t = Trainer(cfg(tmp_path, arch="cyclegan", steps=2))
    t.train()
    rec = RunDir(tmp_path / "run").read_scores()[-1]
    assert {"kid_a2b", "kid_b2a", "identity_kid_a2b", "identity_kid_b2a"} <= set(rec)
    assert rec["score"] == pytest.approx((rec["kid_a2b"] + rec["kid_b2a"]) / 2)


def test_one_direction_samples_and_uncropped_decay(tmp_path):
    t = Trainer(cfg(tmp_path, steps=4, score_every=0))     # CUT: the LR decays over steps 2 and 3
    assert t.sample_columns == ("real A", "fake B", "real B", "G_AB(real B)")
    grid = t.sample_grid()
    assert tuple(grid.shape) == (3, 4 * 32, 4 * 32)         # 4 samples of 4 columns
    modes = []
    for _ in range(4):
        t.train_step()
        modes.append(t.feed_A._dataset.base.transform.mode)    # what the batch of that step came from
    assert modes == ["resize_crop", "resize_crop", "resize", "resize"]
    cycle = Trainer(cfg(tmp_path, "cg", arch="cyclegan", steps=4, score_every=0))   # keeps its crops
    cycle.step = 3
    cycle._start_feeds()
    assert cycle.feed_A._dataset.base.transform.mode == "resize_crop"


def test_cli_prints_the_best_checkpoint(tmp_path, one_thread):
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = train_main(["--data", "demo:daynight", "--arch", "cut", "--recipe", "fastcut", "--scale", "quick",
                           "--size", "32", "--steps", "4", "--batch", "2", "--checkpoint-every", "2",
                           "--score-n", "6", "--out", str(tmp_path / "c"), "--quiet"])
    assert code == 0, err.getvalue()
    lines = out.getvalue().splitlines()
    best = RunDir(tmp_path / "c").best_score()
    assert lines[0] == f"finished at step 4; model: {tmp_path / 'c' / 'latest'}"
    assert lines[1].startswith(f"best: {tmp_path / 'c' / 'best'} (step {best['step']}, KID (random features) "
                               f"{best['score']:.4f}")
    assert load_model(tmp_path / "c" / "best").preset.key == "cut/fastcut/quick"
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()) as e:
        assert train_main(["--arch", "cut", "--scale", "quick", "--size", "32", "--lambda-cycle", "10",
                           "--out", str(tmp_path / "bad")]) == 2
    assert "one direction" in e.getvalue() and "lambda_cycle does not apply" in e.getvalue()


def test_score_setting_is_checked():
    with pytest.raises(Exception, match="score-every must be a whole number of at least 0"):
        TrainConfig(score_every=-1)
    with pytest.raises(Exception, match="score-n must be a whole number from 2 to 5000"):
        TrainConfig(score_n=1)
    assert json.loads(json.dumps(TrainConfig(score_every=0).to_dict()))["score_every"] == 0
