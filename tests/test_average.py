"""The moving average of the generators' weights: its formula, that training never sees it, that
checkpoints hold it (and the raw weights to resume from) and that a resumed run matches."""
import pytest
import torch
from safetensors.torch import load_file
from torch import nn

from cyclegan import UserInputError, load_model
from train import Hooks, TrainConfig, Trainer
from train.average import GeneratorAverage, decay_at


def tiny_cfg(tmp_path, name="run", steps=6, **kw) -> TrainConfig:
    base = dict(data="demo:daynight", arch="cyclegan", scale="quick", size=32, steps=steps, batch=2,
                out=str(tmp_path / name), log_every=2, sample_every=3, checkpoint_every=3, score_every=0,
                device="cpu", ema_decay=0.9, threads=1, amp=False)
    base.update(kw)
    return TrainConfig(**base)


def test_decay_follows_the_warm_up_then_the_cap():
    assert decay_at(0.999, 1) == 0.0                       # the first update: the weights themselves
    assert decay_at(0.999, 9) == pytest.approx(0.8)
    assert decay_at(0.9, 1000) == 0.9


def test_the_warm_up_weighs_each_step_by_its_number():
    """Before the cap, the average after t updates is sum_i i * w_i / sum_i i (Shamir & Zhang's
    eta = 1), whatever the weights were before the first update."""
    net = nn.Linear(1, 1, bias=False)
    with torch.no_grad():
        net.weight.fill_(100.0)
    avg = GeneratorAverage({"G_AB": net}, decay=0.999)
    seen = []
    for i in range(1, 8):
        with torch.no_grad():
            net.weight.fill_(float(i * i))
        seen.append(float(i * i))
        avg.update()
    want = sum(i * w for i, w in enumerate(seen, 1)) / sum(range(1, 8))
    assert avg.shadow["G_AB"][0].item() == pytest.approx(want)


def test_update_is_the_exponential_average_of_the_weights():
    torch.manual_seed(0)
    net = nn.Linear(3, 2)
    start = [p.detach().clone() for p in net.parameters()]
    avg = GeneratorAverage({"G_AB": net, "G_BA": None}, decay=0.5)

    def shift(by):
        with torch.no_grad():
            for p, s in zip(net.parameters(), start):
                p.copy_(s + by)

    shift(1.0)
    avg.update()                                   # update 1: decay 0, the weights themselves
    shift(4.0)
    avg.update()                                   # update 2: decay min(0.5, 1/3)
    with avg.swapped_in():
        for p, s in zip(net.parameters(), start):
            torch.testing.assert_close(p, (s + 1) / 3 + 2 * (s + 4) / 3)
    for p, s in zip(net.parameters(), start):      # the raw weights are back after the block
        torch.testing.assert_close(p, s + 4)


def test_training_steps_the_raw_weights_and_saves_the_average(tmp_path):
    t = Trainer(tiny_cfg(tmp_path, steps=3))
    t.train()
    saved = load_model(str(tmp_path / "run" / "latest"))
    raw = load_file(str(tmp_path / "run" / "checkpoints" / "step_000003" / "training_state.safetensors"))
    for name in ("G_AB", "G_BA"):
        net, file_net = getattr(t.model, name), getattr(saved, name)
        for (k, p), shadow in zip(net.named_parameters(), t.average.shadow[name]):
            torch.testing.assert_close(file_net.state_dict()[k], shadow)      # the model file: the average
            torch.testing.assert_close(raw[f"raw.{name}.{k}"], p.detach())     # the state: the raw weights
        assert "moving average over training (decay 0.9)" in (tmp_path / "run" / "latest" / "README.md").read_text()
        moved = max((a - b).abs().max().item() for a, b in zip(net.parameters(), t.average.shadow[name]))
        assert moved > 0, "the average equals the raw weights: it was never kept apart"


def test_resume_with_an_average_is_exact(tmp_path):
    straight = Trainer(tiny_cfg(tmp_path, name="straight", steps=6))
    straight.train()

    class StopAt(Hooks):
        def __init__(self, ref):
            self.ref = ref

        def should_stop(self):
            return self.ref[0].step >= 3

    ref = [Trainer(tiny_cfg(tmp_path, name="split", steps=6))]
    ref[0].train(StopAt(ref))
    resumed = Trainer(tiny_cfg(tmp_path, name="split", steps=6), resume=True)
    assert resumed.step == 3 and resumed.average.updates == 3
    resumed.train()
    for name in ("G_AB", "G_BA"):
        for a, b in zip(getattr(straight.model, name).parameters(), getattr(resumed.model, name).parameters()):
            assert (a - b).abs().max().item() <= 1e-6
        for a, b in zip(straight.average.shadow[name], resumed.average.shadow[name]):
            assert (a - b).abs().max().item() <= 1e-6


def test_bad_decay_is_a_user_error(tmp_path):
    with pytest.raises(UserInputError, match="ema-decay must be a number from 0 up to"):
        tiny_cfg(tmp_path, ema_decay=1.0)
    assert Trainer(tiny_cfg(tmp_path, ema_decay=0.0, steps=1)).average is None
