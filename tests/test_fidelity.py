"""Building blocks for running DualGAN and DiscoGAN as their authors' code does: TF-start RMSProp,
the 2020 and April-2017 DualGAN critics, seeded test-time dropout, DiscoGAN batch-statistics
inference, and DiscoGAN's loss under autocast."""
import copy
import math
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from cyclegan import UserInputError, losses
from cyclegan.nets import build_net, count_parameters
from cyclegan.optim import TFRMSprop
from cyclegan.sampling import batch_statistics, stochastic
from train.state import flatten_optimizer, read_state, unflatten_optimizer, write_state

pytestmark = pytest.mark.usefixtures("one_thread")

LR = 5e-5  # every version of the DualGAN code


# --- RMSProp that starts like TensorFlow's ---------------------------------------------------------

def _param(values):
    return torch.nn.Parameter(torch.tensor(values, dtype=torch.float32))


def _tf_steps(w0, grads, lr=LR, decay=0.9, eps=1e-10):
    """tf.train.RMSPropOptimizer by hand, in float64: ms starts at 1."""
    w = torch.tensor(w0, dtype=torch.float64)
    ms = torch.ones_like(w)
    for g in grads:
        g = torch.tensor(g, dtype=torch.float64)
        ms = decay * ms + (1 - decay) * g * g
        w = w - lr * g / torch.sqrt(ms + eps)
    return w


def test_tf_rmsprop_first_steps_follow_tf_formula():
    w0 = [0.5, -0.25, 1.0, 0.0, 2.0]
    g1 = [0.01, -0.2, 1.0, 3.0, -0.001]
    g2 = [-0.05, 0.4, 0.0, 1.0, 0.002]
    p = _param(w0)
    opt = TFRMSprop([p], lr=LR)
    for k, g in enumerate((g1, g2), 1):
        p.grad = torch.tensor(g)
        opt.step()
        expected = _tf_steps(w0, (g1, g2)[:k])
        torch.testing.assert_close(p.detach().double(), expected, rtol=0, atol=1e-7)
    # Step 1 is lr·g/sqrt(0.9 + 0.1·g²): about lr·g for small gradients, not lr·sign(g).
    p = _param([0.0])
    opt = TFRMSprop([p], lr=LR)
    p.grad = torch.tensor([0.01])
    opt.step()
    assert -p.item() == pytest.approx(LR * 0.01 / math.sqrt(0.9 + 0.1 * 0.01 ** 2), rel=1e-5)
    assert -p.item() < 1.1 * LR * 0.01


def test_torch_rmsprop_starts_differently():
    """torch's mean square starts at 0: its first step is lr·g/(|g|·√0.1) ≈ 3.16·lr·sign(g)."""
    g = torch.tensor([0.01, -0.2, 1.0])
    p_torch, p_tf = _param([0.0, 0.0, 0.0]), _param([0.0, 0.0, 0.0])
    t = torch.optim.RMSprop([p_torch], lr=LR, alpha=0.9)
    ours = TFRMSprop([p_tf], lr=LR)
    p_torch.grad, p_tf.grad = g.clone(), g.clone()
    t.step()
    ours.step()
    torch.testing.assert_close(-p_torch.detach(), math.sqrt(10) * LR * g.sign(), rtol=1e-4, atol=0)
    torch.testing.assert_close(-p_tf.detach(), LR * g / torch.sqrt(0.9 + 0.1 * g * g), rtol=1e-5, atol=0)
    # For the small gradient the two differ by a factor of about 300.
    assert p_torch[0].item() / p_tf[0].item() > 250


def test_tf_rmsprop_momentum_and_weight_decay():
    p = _param([1.0, -2.0])
    opt = TFRMSprop([p], lr=0.1, momentum=0.5, weight_decay=0.01)
    w = torch.tensor([1.0, -2.0], dtype=torch.float64)
    ms, mom = torch.ones(2, dtype=torch.float64), torch.zeros(2, dtype=torch.float64)
    for g in ([0.3, -0.1], [0.2, 0.4]):
        p.grad = torch.tensor(g)
        opt.step()
        gd = torch.tensor(g, dtype=torch.float64) + 0.01 * w
        ms = 0.9 * ms + 0.1 * gd * gd
        mom = 0.5 * mom + 0.1 * gd / torch.sqrt(ms + 1e-10)
        w = w - mom
        torch.testing.assert_close(p.detach().double(), w, rtol=0, atol=1e-6)
    with pytest.raises(ValueError, match="decay"):
        TFRMSprop([p], decay=1.0)
    with pytest.raises(ValueError, match="lr"):
        TFRMSprop([p], lr=-1)


def test_tf_rmsprop_state_round_trips_through_safetensors(tmp_path):
    torch.manual_seed(0)
    net_a = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.ReLU(), torch.nn.Conv2d(4, 2, 3))
    net_b = copy.deepcopy(net_a)
    opt_a = TFRMSprop(net_a.parameters(), lr=1e-3, momentum=0.9)
    x = torch.randn(2, 3, 8, 8)

    def step(net, opt, seed):
        torch.manual_seed(seed)
        opt.zero_grad()
        (net(x) * torch.randn(2, 2, 4, 4)).sum().backward()
        opt.step()

    for s in (1, 2):
        step(net_a, opt_a, s)
    sd = opt_a.state_dict()
    assert all(isinstance(v, torch.Tensor) for entry in sd["state"].values() for v in entry.values())
    tensors = {}
    meta = flatten_optimizer("opt", sd, tensors)
    write_state(tmp_path / "s.json", tmp_path / "s.safetensors", meta, tensors)
    meta2, tensors2 = read_state(tmp_path / "s.json", tmp_path / "s.safetensors")
    net_b.load_state_dict(net_a.state_dict())
    opt_b = TFRMSprop(net_b.parameters(), lr=0.5)  # the loaded param_groups win
    opt_b.load_state_dict(unflatten_optimizer(meta2, tensors2))
    assert opt_b.param_groups[0]["lr"] == 1e-3
    step(net_a, opt_a, 3)
    step(net_b, opt_b, 3)
    for pa, pb in zip(net_a.parameters(), net_b.parameters()):
        assert torch.equal(pa, pb)


# --- DualGAN critics of the 2020 and April-2017 code --------------------------------------------

def _convs(net):
    return [m for m in net.modules() if isinstance(m, torch.nn.Conv2d)]


@pytest.mark.parametrize("family, kwargs, n_params", [
    ("dual_global_critic", {}, 3_949_441),                      # 2020 `globalgan`, 256 px
    ("dual_global_critic", {"head": "patch"}, 3_921_281),       # 2020 `patchgan` option
    ("dual_linear_critic", {}, 4_832_641),                      # Apr 2017, 256 px
    ("dual_linear_critic", {"image_size": 128}, 4_439_425),     # Apr 2017 at its default 128 px
])
def test_dual_critic_parameter_counts(family, kwargs, n_params):
    assert count_parameters(build_net(family, kwargs)) == n_params


def test_dual_critic_layers():
    g = build_net("dual_global_critic", {})
    assert [c.kernel_size[0] for c in _convs(g)] == [5, 3, 3, 3, 3]
    assert [c.stride[0] for c in _convs(g)] == [2, 2, 2, 2, 2]
    assert [c.out_channels for c in _convs(g)] == [64, 128, 256, 512, 512]
    assert g.head.in_features == 8 * 8 * 512
    a = build_net("dual_linear_critic", {})
    assert [c.kernel_size[0] for c in _convs(a)] == [5, 5, 5, 5]
    assert [c.stride[0] for c in _convs(a)] == [2, 2, 2, 1]
    assert a.head.in_features == 32 * 32 * 512


@pytest.mark.parametrize("family", ["dual_global_critic", "dual_linear_critic"])
def test_global_critics_give_one_score_per_image(family):
    torch.manual_seed(0)
    for size in (64, 48):
        d = build_net(family, {"ndf": 4, "image_size": size})
        x = torch.randn(3, 3, size, size)
        out = d(x)
        assert out.shape == (3, 1)
        # Per-image norm: each score ignores the rest of the batch.
        torch.testing.assert_close(d(x[1:2]), out[1:2], rtol=1e-5, atol=1e-6)
        pred, feats = d.forward_features(x)
        assert torch.equal(pred, out) and feats == []
    d = build_net(family, {"ndf": 4, "image_size": 64})
    with pytest.raises(UserInputError, match="built for 64×64 images.*got 32×32"):
        d(torch.randn(1, 3, 32, 32))


def test_patch_head_gives_a_map_at_any_size():
    d = build_net("dual_global_critic", {"ndf": 4, "image_size": 64, "head": "patch"})
    assert d(torch.randn(2, 3, 64, 64)).shape == (2, 1, 1, 1)
    assert d(torch.randn(2, 3, 128, 128)).shape == (2, 1, 2, 2)
    with pytest.raises(UserInputError, match="head must be 'linear' or 'patch'"):
        build_net("dual_global_critic", {"head": "global"})


# --- DualGAN test-time dropout, seeded ------------------------------------------------------------

def _dual_g(**kw):
    torch.manual_seed(0)
    return build_net("dual_unet", {"ngf": 4, "levels": 5, "kernel": 3, **kw}).eval()


def test_stochastic_sampling_is_seeded():
    g = _dual_g()
    x = torch.rand(2, 3, 32, 32) * 2 - 1
    with torch.no_grad():
        plain = g(x)
        rng_before = torch.get_rng_state()
        with stochastic(g, seed=1):
            s1 = g(x)
            s1_next = g(x)
        with stochastic(g, seed=1):
            s1_again = g(x)
        with stochastic(g, seed=2):
            s2 = g(x)
        after = g(x)
    assert torch.equal(s1, s1_again)
    assert (s1 - s2).abs().max() > 1e-3
    assert (s1 - s1_next).abs().max() > 1e-3      # each call is a new sample
    assert (s1 - plain).abs().max() > 1e-3
    assert torch.equal(after, plain)               # off again after the block
    assert torch.equal(torch.get_rng_state(), rng_before)
    assert g.dropout_at_test is False and g.dropout_rng is None


def test_dropout_off_is_unchanged():
    """Without the block, eval() has no dropout and training draws from the global RNG as before."""
    g = _dual_g()
    no_dropout = _dual_g(dropout=0.0)
    no_dropout.load_state_dict(g.state_dict())
    x = torch.rand(2, 3, 32, 32) * 2 - 1
    with torch.no_grad():
        assert torch.equal(g(x), no_dropout(x))
        assert torch.equal(g(x), g(x))
        g.train()
        torch.manual_seed(5)
        t1 = g(x)
        with stochastic(g, seed=3):
            pass
        torch.manual_seed(5)
        t2 = g(x)
        torch.manual_seed(6)
        t3 = g(x)
    assert torch.equal(t1, t2)
    assert (t1 - t3).abs().max() > 1e-3


def test_stochastic_needs_dropout():
    with pytest.raises(UserInputError, match="decoder dropout"):
        with stochastic(_dual_g(dropout=0.0), seed=0):
            pass
    with pytest.raises(UserInputError, match="decoder dropout"):
        with stochastic(build_net("resnet", {"ngf": 4, "n_blocks": 1}), seed=0):
            pass
    with pytest.raises(UserInputError, match="seed must be an integer"):
        with stochastic(_dual_g(), seed="1"):
            pass


# --- DiscoGAN inference with batch statistics ------------------------------------------------------

def _disco_g():
    torch.manual_seed(0)
    g = build_net("disco_generator", {"ngf": 4})
    g.train()
    with torch.no_grad():  # running statistics that differ from any one batch's
        for _ in range(3):
            g(torch.rand(4, 3, 32, 32) * 0.5)
    return g.eval()


def _bn_buffers(net):
    return {k: v.clone() for k, v in net.state_dict().items() if "running" in k or "num_batches" in k}


def test_batch_statistics_inference():
    g = _disco_g()
    x = torch.rand(4, 3, 32, 32)
    buffers = _bn_buffers(g)
    with torch.no_grad():
        running = g(x)
        with batch_statistics(g):
            b1 = g(x)
            b2 = g(x)
            single = g(x[:1])
        reference = copy.deepcopy(g).train()(x)    # what the authors' never-eval() code computes
        after = g(x)
    assert torch.equal(b1, b2)
    torch.testing.assert_close(b1, reference, rtol=1e-5, atol=1e-6)
    assert (b1 - running).abs().max() > 1e-3
    assert (single - b1[:1]).abs().max() > 1e-4    # one image's statistics are not the batch's
    assert torch.equal(after, running)
    assert not g.training
    for k, v in _bn_buffers(g).items():
        assert torch.equal(v, buffers[k]), k


def test_batch_statistics_needs_batchnorm():
    with pytest.raises(UserInputError, match="BatchNorm"):
        with batch_statistics(_dual_g()):
            pass


# --- DiscoGAN's loss under autocast ----------------------------------------------------------------

def _autocast_cuda_ban():
    """torch's own AutocastCUDA kernel for binary_cross_entropy: it refuses unconditionally."""
    op = torch.ops.aten.binary_cross_entropy.default
    keys = torch._C.DispatchKeySet(torch._C.DispatchKey.AutocastCUDA)
    return lambda p, t: op.redispatch(keys, p, t, None, 1)


def test_torch_bans_bce_under_cuda_autocast():
    ban = _autocast_cuda_ban()
    with pytest.raises(RuntimeError, match="unsafe to autocast"):
        ban(torch.full((2, 1), 0.5), torch.ones(2, 1))   # float32 inputs, still refused


@pytest.mark.parametrize("real", [True, False])
def test_bce_on_probabilities_float32_numbers_unchanged(real):
    torch.manual_seed(1)
    pred = torch.rand(8, 1, 1, 1) * 0.98 + 0.01
    target = torch.full_like(pred, 1.0 if real else 0.0)
    assert torch.equal(losses.adversarial("bce", pred, real, probabilities=True),
                       F.binary_cross_entropy(pred, target))


def test_disco_loss_runs_under_autocast(monkeypatch):
    """On CPU, autocast allows binary_cross_entropy; make it behave as CUDA autocast does (torch's
    banned kernel whenever autocast is on for the tensor's device) and run DiscoGAN's loss."""
    ban, real_bce = _autocast_cuda_ban(), F.binary_cross_entropy

    def as_on_cuda(input, target, *args, **kwargs):
        if torch.is_autocast_enabled(input.device.type):
            ban(input, target)
        return real_bce(input, target, *args, **kwargs)

    monkeypatch.setattr(F, "binary_cross_entropy", as_on_cuda)
    torch.manual_seed(0)
    d = build_net("disco_discriminator", {"ndf": 4})
    x = torch.rand(4, 3, 64, 64)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        with pytest.raises(RuntimeError, match="unsafe to autocast"):   # the check itself bites
            F.binary_cross_entropy(d(x).float(), torch.ones(4, 1, 1, 1))
        pred16 = d(x)
        loss16 = losses.adversarial("bce", pred16, True, probabilities=True)
    assert pred16.dtype == torch.bfloat16 and loss16.dtype == torch.float32
    loss16.backward()
    assert all(p.grad is not None for p in d.parameters())
    loss32 = losses.adversarial("bce", d(x), True, probabilities=True)
    assert loss16.item() == pytest.approx(loss32.item(), rel=2e-2)


# --- the same through the public API, on the shipped demo models ----------------------------------

def test_inference_options_on_demo_models():
    from cyclegan import load_model
    models = Path(__file__).resolve().parents[1] / "cyclegan" / "demo" / "models"
    torch.manual_seed(0)
    x = torch.rand(4, 3, 64, 64)
    dual = load_model(models / "dualgan")            # the Aug 2017 recipe: a sample by default, as the authors
    assert dual.inference_defaults()["sample"] is True
    plain = dual.translate_tensor(x, "a2b", sample=False)
    s7 = dual.translate_tensor(x, "a2b", seed=7)
    s7_again = dual.translate_tensor(x, "a2b", sample=True, seed=7)
    s8 = dual.translate_tensor(x, "a2b", seed=8)
    assert torch.equal(s7, s7_again)
    assert (s7 - s8).abs().max() > 0.01 and (s7 - plain).abs().max() > 0.01
    assert torch.equal(dual.translate_tensor(x, "a2b"), dual.translate_tensor(x, "a2b", seed=0))
    assert torch.equal(dual.translate_tensor(x, "a2b", sample=False), plain)

    disco = load_model(models / "discogan")
    running = disco.translate_tensor(x, "a2b")
    with batch_statistics(disco):
        b1 = disco.translate_tensor(x, "a2b")
        b2 = disco.translate_tensor(x, "a2b")
    assert torch.equal(b1, b2) and (b1 - running).abs().max() > 0.01
    assert torch.equal(disco.translate_tensor(x, "a2b"), running)
