"""`--log tensorboard`: RUN/tb holds TensorBoard events that tensorboard's own reader opens, with
the same numbers as metrics.jsonl (losses, lr, images/s, any score rows) and the sample grids."""
import math

import pytest

from train import TrainConfig, Trainer
from train.cli import main as train_cli
from train.runs import RunDir

pytest.importorskip("tensorboard")
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator  # noqa: E402


def events(run: RunDir) -> EventAccumulator:
    acc = EventAccumulator(str(run.tb_dir), size_guidance={"scalars": 0, "images": 0})
    acc.Reload()
    return acc


def test_events_mirror_the_metrics(tmp_path, one_thread):
    cfg = TrainConfig(data="demo:daynight", arch="cyclegan", scale="quick", size=32, steps=6, batch=2,
                      out=str(tmp_path / "run"), log_every=2, sample_every=3, checkpoint_every=6, log="tensorboard",
                      score_every=0)
    t = Trainer(cfg)
    assert t.train() == "finished"
    t.folder.append_metrics({"step": 6, "time": 0.0, "kid_a2b": 0.0123})   # a scorer's row, written later
    t.tb.close()
    rows = t.folder.read_metrics()
    acc = events(t.folder)
    tags = set(acc.Tags()["scalars"])
    assert {"loss/D_A", "loss/G_AB", "loss/cycle_A", "train/lr", "train/images_per_s", "train/sec_per_step",
            "score/kid_a2b"} <= tags
    assert not any(t.endswith(("/step", "/time")) for t in tags)
    logged = [r for r in rows if "D_A" in r]
    got = acc.Scalars("loss/D_A")
    assert [e.step for e in got] == [r["step"] for r in logged] == [1, 2, 4, 6]
    for e, r in zip(got, logged):
        assert math.isclose(e.value, r["D_A"], rel_tol=1e-6)           # float32 in the event file
    assert [e.value for e in acc.Scalars("score/kid_a2b")] == [pytest.approx(0.0123)]
    images = acc.Images("samples")
    assert [i.step for i in images] == [1, 3, 6]
    assert images[0].width == 6 * 32 and images[0].height == 4 * 32     # the grid, 6 columns x 4 samples
    assert len(list(t.folder.samples())) == 3                           # the PNGs are still written


def test_off_by_default_and_from_the_command_line(tmp_path, one_thread, capsys):
    base = ["--data", "demo:daynight", "--scale", "quick", "--size", "32", "--steps", "2", "--batch", "2",
            "--threads", "1", "--quiet", "--sample-every", "2"]
    assert train_cli([*base, "--out", str(tmp_path / "plain")]) == 0
    assert not RunDir(tmp_path / "plain").tb_dir.exists()
    assert train_cli([*base, "--out", str(tmp_path / "tb"), "--log", "tensorboard"]) == 0
    acc = events(RunDir(tmp_path / "tb"))
    assert [e.step for e in acc.Scalars("loss/G_BA")] == [1, 2] and acc.Tags()["images"] == ["samples"]
    assert train_cli([*base, "--out", str(tmp_path / "x"), "--log", "wandb"]) == 2
    assert "unknown log 'wandb'; choose one of: jsonl, tensorboard" in capsys.readouterr().err


def test_resume_drops_events_past_the_checkpoint(tmp_path, one_thread):
    """A run killed after its checkpoint left events for steps it will redo; the resumed writer
    purges them, so each step appears once."""
    kw = dict(data="demo:daynight", arch="cyclegan", scale="quick", size=32, batch=2, out=str(tmp_path / "r"),
              log_every=1, sample_every=100, checkpoint_every=2, log="tensorboard")
    t = Trainer(TrainConfig(steps=2, **kw))
    t.train()
    t.tb.metrics({"step": 3, "D_A": 99.0})        # as if step 3 ran and then the process died
    t.tb.close()
    t2 = Trainer(TrainConfig(steps=4, **kw), resume=True)
    assert t2.step == 2 and t2.train() == "finished"
    steps = [e.step for e in events(t2.folder).Scalars("loss/D_A")]
    assert steps == [1, 2, 3, 4] and 99.0 not in [e.value for e in events(t2.folder).Scalars("loss/D_A")]
