"""The recipes as their sources give them: DualGAN's paper and three versions of its authors'
code (numbers from duxingren14/DualGAN at d71400c, 3139ecf and 915116c), CycleGAN's paper and
official code, DiscoGAN's authors' code; the trainer running them (TF-start RMSProp, the Apr-2017
critic window); how a model translates by default (test-time dropout, batch statistics), through
the library, the CLI and from several threads; the quick scale's table."""
import threading
from pathlib import Path

import numpy as np
import pytest
import torch

import cyclegan
from conftest import tiny_model
from cyclegan import UserInputError, demo, get_preset
from cyclegan.cli import main as cli_main
from cyclegan.evaluate import psnr
from cyclegan.images import image_to_tensor, open_image
from cyclegan.nets import build_net, count_parameters
from cyclegan.optim import TFRMSprop
from cyclegan.presets import QUICK_CHANGES, RECIPES, quick_table
from train import TrainConfig, Trainer

pytestmark = pytest.mark.usefixtures("one_thread")
ROOT = Path(__file__).resolve().parents[1]

COMMON = {"optimizer": "rmsprop-tf", "lr_g": 5e-5, "lr_d": 5e-5, "batch_size": 1, "init_std": 0.02,
          "preprocess": "resize", "flip": False, "recon_loss": "l1", "d_loss_scale": 1.0}
DUALGAN = {
    "paper": {"gan_loss": "wgan", "clip_weights": 0.01, "gradient_penalty": 0.0, "lambda_cycle": 100.0,
              "d_only_batches": 2, "g_only_batches": 1, "d_first": False, "g_steps_per_batch": 1, "critic_window": 0,
              "image_size": 256, "sample_at_test": False, "critic": ("dual_critic", {"ndf": 64, "kernel": 5}),
              "g": {"kernel": 5, "outer_kernel": 5, "dropout": 0.5, "n_dropout": 3, "levels": 8}},
    "code-2017-04": {"gan_loss": "wgan", "clip_weights": 0.01, "gradient_penalty": 0.0, "lambda_cycle": 200.0,
                     "d_only_batches": 0, "g_only_batches": 0, "d_first": False, "g_steps_per_batch": 1,
                     "critic_window": 3, "image_size": 128, "sample_at_test": True,
                     "critic": ("dual_linear_critic", {"ndf": 64, "image_size": 128}),
                     "g": {"kernel": 5, "outer_kernel": 5, "dropout": 0.5, "n_dropout": 3}},
    "code-2017-08": {"gan_loss": "bce", "clip_weights": None, "gradient_penalty": 0.0, "lambda_cycle": 20.0,
                     "d_only_batches": 0, "g_only_batches": 0, "d_first": True, "g_steps_per_batch": 2,
                     "critic_window": 0, "image_size": 256, "sample_at_test": True,
                     "critic": ("dual_critic", {"ndf": 64, "kernel": 5}),
                     "g": {"kernel": 5, "outer_kernel": 5, "dropout": 0.5, "n_dropout": 3, "levels": 8}},
    "code-2020": {"gan_loss": "wgan-gp", "clip_weights": None, "gradient_penalty": 10.0, "lambda_cycle": 500.0,
                  "d_only_batches": 0, "g_only_batches": 0, "d_first": True, "g_steps_per_batch": 1,
                  "critic_window": 0, "image_size": 256, "sample_at_test": False,
                  "critic": ("dual_global_critic", {"ndf": 64, "image_size": 256}),
                  "g": {"kernel": 3, "outer_kernel": 5, "dropout": 0.0, "levels": 8}},
}


@pytest.mark.parametrize("recipe", list(DUALGAN))
def test_dualgan_recipes_carry_their_sources_numbers(recipe):
    p = get_preset("dualgan", recipe)
    want = {**COMMON, **DUALGAN[recipe]}
    family, kwargs = want.pop("critic")
    g = want.pop("g")
    assert {k: getattr(p, k) for k in want} == want
    assert (p.discriminator.family, p.discriminator.kwargs) == (family, kwargs)
    assert {k: p.generator.kwargs[k] for k in g} == g
    assert p.generator.kwargs["ngf"] == 64 and p.discriminator.kwargs["ndf"] == 64
    assert p.batch_stats_at_test is False
    assert set(RECIPES["dualgan"]) == set(DUALGAN)


def test_dualgan_critics_at_the_sources_sizes():
    p = get_preset("dualgan", "code-2020")
    with torch.device("meta"):
        assert count_parameters(build_net(p.discriminator.family, p.discriminator.kwargs)) == 3_949_441
        apr = get_preset("dualgan", "code-2017-04")
        assert count_parameters(build_net(apr.discriminator.family, apr.discriminator.kwargs)) == 4_439_425
        # A linear-head critic follows the training size; the patch critics need not.
        at64 = get_preset("dualgan", "code-2020", size=64).discriminator
        assert at64.kwargs["image_size"] == 64
        assert build_net(at64.family, at64.kwargs).head.in_features == 2 * 2 * 512


def test_cyclegan_paper_builds_resnet6_below_256_and_the_code_resnet9():
    for size, blocks in ((128, 6), (192, 6), (256, 9), (512, 9)):
        assert get_preset("cyclegan", "paper", size=size).generator.kwargs["n_blocks"] == blocks
        assert get_preset("cyclegan", "code", size=size).generator.kwargs["n_blocks"] == 9
    p = get_preset("cyclegan", "paper", size=128)
    with torch.device("meta"):
        assert count_parameters(build_net(p.generator.family, p.generator.kwargs)) == 7_837_699   # resnet_6blocks
    assert get_preset("cyclegan").generator.kwargs["n_blocks"] == 9      # the paper preset's own 256 px
    for size in (64, 128, 256):
        assert get_preset("cyclegan", "paper", "quick", size).generator.kwargs["n_blocks"] == 2
    # Everything else is the same in both recipes.
    a, b = get_preset("cyclegan", "paper"), get_preset("cyclegan", "code")
    skip = {"recipe", "title", "blocks_by_size"}
    assert {k: v for k, v in a.to_dict().items() if k not in skip} == {k: v for k, v in b.to_dict().items() if k not in skip}


def test_discogan_code_recipe():
    p = get_preset("discogan")
    assert (p.recipe, p.gan_loss, p.gan_weight, p.feature_matching_weight, p.recon_rate_schedule, p.weight_decay,
            p.d_only_batches, p.g_only_batches, p.batch_size) == \
        ("code", "bce", 0.1, 0.9, ((0, 0.01), (10000, 0.5)), 1e-5, 1, 2, 64)
    assert p.batch_stats_at_test is False and p.sample_at_test is False


# --- the trainer runs them -------------------------------------------------------------------------

def _trainer(tmp_path, recipe, **kw):
    return Trainer(TrainConfig(data="demo:daynight", arch="dualgan", recipe=recipe, scale="quick", size=32, batch=2,
                               steps=10, out=str(tmp_path / f"run-{recipe}"), **kw))


def test_trainer_steps_with_tf_rmsprop_from_its_start(tmp_path):
    """The first generator step of the 2020 recipe (D, then G on the same batch) moves every
    weight by lr·g/sqrt(0.9 + 0.1·g²): TF's mean square starting at 1, not torch's at 0."""
    t = _trainer(tmp_path, "code-2020")
    for opt in (t.opt_G, t.opt_D):
        assert isinstance(opt, TFRMSprop)
        assert (opt.defaults["decay"], opt.defaults["eps"], opt.defaults["momentum"]) == (0.9, 1e-10, 0.0)
    params = [q for g in t.generators for q in g.parameters()]
    before = [q.detach().clone() for q in params]
    grads = []
    step = t.opt_G.step

    def recording_step(*a, **k):
        grads.extend(q.grad.detach().clone() for q in params)
        return step(*a, **k)

    t.opt_G.step = recording_step
    t.train_step()
    assert len(grads) == len(params)
    for q, w0, g in zip(params, before, grads):
        expected = w0 - 5e-5 * g / torch.sqrt(0.9 + 0.1 * g * g + 1e-10)
        torch.testing.assert_close(q.detach(), expected, rtol=0, atol=1e-8)
    # Weights with small gradients move by about lr·|g|, far below lr; torch's RMSprop would
    # move every weight with a gradient by 10·lr (α 0.99) on its first step.
    moves = torch.cat([(q.detach() - w0).abs().flatten() for q, w0 in zip(params, before)])
    g = torch.cat([x.abs().flatten() for x in grads])
    small = (g > 0) & (g < 0.01)
    assert small.sum() > 100
    ulp = 1.2e-7                  # float32 rounding of weights near 1 (the norms' scales)
    assert (moves[small] <= 1.06 * 5e-5 * g[small] + ulp).all() and float(moves.max()) < 5e-5 * 10 ** 0.5


def test_apr_2017_window_three_critic_steps_on_sliding_batches(tmp_path):
    """Each step: a critic step on batches k, k+1, k+2 (in that order), then one generator step
    on an A and a B batch picked from them; the next step's window starts one batch later."""
    t = _trainer(tmp_path, "code-2017-04")
    seen_d, seen_g = [], []
    d_step, g_step = t._d_step, t._g_step
    t._d_step = lambda a, b, *rest: (seen_d.append((a.clone(), b.clone())), d_step(a, b, *rest))[1]
    t._g_step = lambda a, b, *rest: (seen_g.append((a.clone(), b.clone())), g_step(a, b, *rest))[1]
    t.train_step()
    t.train_step()
    assert len(seen_d) == 6 and len(seen_g) == 2
    first, second = seen_d[:3], seen_d[3:]
    for (a1, b1), (a2, b2) in zip(first[1:], second[:2]):
        assert torch.equal(a1, a2) and torch.equal(b1, b2)
    assert not torch.equal(first[0][0], second[2][0])
    for (ga, gb), window in zip(seen_g, (first, second)):
        assert any(torch.equal(ga, a) for a, _ in window) and any(torch.equal(gb, b) for _, b in window)
    c = t.preset.clip_weights
    assert all(q.abs().max() <= c + 1e-9 for d in t.discriminators for q in d.parameters())


def test_sample_grid_on_a_demo_world_shows_ground_truth(tmp_path):
    """The grid's rows are held-out test scenes in both looks, so real B is fake B's truth; the
    scores are the grid's own PSNR, and a model that copied its input would score identity."""
    t = Trainer(TrainConfig(data="demo:daynight", arch="cyclegan", scale="quick", size=32, batch=2, steps=2,
                            out=str(tmp_path / "run")))
    a, fb, ra, b, fa, rb = t.sample_tensors()
    truth_b = torch.stack([image_to_tensor(demo.render("daynight", s, "B", 32))
                           for s in demo.test_seeds("daynight", 4)])
    torch.testing.assert_close(b, truth_b, rtol=0, atol=1 / 255 + 1e-6)
    t.write_sample()
    s = t.last_sample_scores
    assert set(s) == {"a2b", "b2a", "identity"}
    assert s["identity"] == pytest.approx(float(psnr(a, b).mean()))
    assert s["a2b"] == pytest.approx(float(psnr(fb, b).mean()), abs=1e-6)


# --- how models translate ----------------------------------------------------------------------------

def test_recipes_default_test_behaviour_and_seeded_samples():
    x = torch.rand(2, 3, 32, 32)
    aug = tiny_model("dualgan", "code-2017-08")
    assert aug.inference_defaults() == {"sample": True, "batch_stats": False}
    assert aug.info()["translates"] == {"sample": True, "batch_stats": False}
    s0 = aug.translate_tensor(x, "a2b")                     # a sample, seed 0
    assert torch.equal(s0, aug.translate_tensor(x, "a2b", seed=0))
    s1 = aug.translate_tensor(x, "a2b", seed=1)
    assert (s0 - s1).abs().max() > 1e-3
    det = aug.translate_tensor(x, "a2b", sample=False)
    assert torch.equal(det, aug.translate_tensor(x, "a2b", sample=False)) and (det - s0).abs().max() > 1e-3
    paper = tiny_model("dualgan", "paper")
    assert paper.inference_defaults()["sample"] is False
    assert torch.equal(paper.translate_tensor(x, "a2b"), paper.translate_tensor(x, "a2b"))
    assert tiny_model("dualgan", "code-2020").can_sample is False      # no dropout in the 2020 default
    disco = tiny_model("discogan")
    assert disco.inference_defaults() == {"sample": False, "batch_stats": False}
    x64 = torch.rand(3, 3, 64, 64)
    running = disco.translate_tensor(x64, "a2b")
    batch = disco.translate_tensor(x64, "a2b", batch_stats=True)
    with torch.no_grad():
        reference = disco.G_AB.train()(x64)          # what the authors' never-eval() code computes
    disco.G_AB.eval()
    torch.testing.assert_close(batch, reference, rtol=1e-5, atol=1e-6)
    assert (running - batch).abs().max() > 1e-3
    with pytest.raises(UserInputError, match="decoder dropout"):
        tiny_model("cyclegan").translate_tensor(x, "a2b", sample=True)


def test_a_saved_model_keeps_its_recipes_test_behaviour(tmp_path):
    m = tiny_model("dualgan", "code-2017-08")
    cyclegan.save_model(m, tmp_path / "m")
    loaded = cyclegan.load_model(tmp_path / "m")
    assert loaded.preset.sample_at_test is True and loaded.inference_defaults()["sample"] is True
    x = torch.rand(1, 3, 32, 32)
    torch.testing.assert_close(loaded.translate_tensor(x, "a2b", seed=4), m.translate_tensor(x, "a2b", seed=4))


def test_cli_translate_sample_flags(tmp_path, capsys):
    cyclegan.save_model(tiny_model("dualgan", "code-2017-08"), tmp_path / "m")
    img = tmp_path / "in.png"
    demo.render("daynight", 0, "A", 32).save(img)

    def run(*flags):
        out = tmp_path / f"out{len(list(tmp_path.glob('out*')))}.png"
        assert cli_main(["translate", "--model", str(tmp_path / "m"), str(img), "-o", str(out), *flags]) == 0
        return torch.from_numpy(np.array(open_image(out))).float()

    default, seed0, seed5, seed5b = run(), run("--seed", "0"), run("--seed", "5"), run("--sample", "--seed", "5")
    fixed, fixed2 = run("--no-sample"), run("--no-sample", "--seed", "5")
    assert torch.equal(default, seed0) and torch.equal(seed5, seed5b) and not torch.equal(seed0, seed5)
    assert torch.equal(fixed, fixed2) and not torch.equal(fixed, seed0)
    cyclegan.save_model(tiny_model("cyclegan"), tmp_path / "c")
    capsys.readouterr()
    assert cli_main(["translate", "--model", str(tmp_path / "c"), "--sample", str(img), "-o",
                     str(tmp_path / "x.png")]) == 2
    assert "needs a generator with decoder dropout" in capsys.readouterr().err


def test_shared_model_translates_safely_from_many_threads():
    """Samples and deterministic translations of one model from several threads at once: the
    deterministic ones never pick up another thread's dropout, samples repeat per seed."""
    m = tiny_model("dualgan", "code-2017-08")
    x = torch.rand(2, 3, 32, 32)
    det = m.translate_tensor(x, "a2b", sample=False)
    samples = {s: m.translate_tensor(x, "a2b", seed=s) for s in range(3)}
    bad = []

    def worker(k):
        for i in range(15):
            if (i + k) % 2:
                bad.append(not torch.equal(m.translate_tensor(x, "a2b", sample=False), det))
            else:
                s = i % 3
                bad.append(not torch.equal(m.translate_tensor(x, "a2b", seed=s), samples[s]))

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(4)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert len(bad) == 60 and not any(bad)
    assert m.G_AB.dropout_rng is None and m.G_AB.dropout_at_test is False


# --- the quick scale, documented field by field -----------------------------------------------------------

def test_every_quick_change_changes_something_and_is_the_only_difference():
    for c in QUICK_CHANGES:
        for recipe in c.recipes or RECIPES[c.architecture]:
            full = RECIPES[c.architecture][recipe]
            before = (getattr(full, c.field.split(".")[0]).kwargs[c.field.split(".")[1]] if "." in c.field
                      else getattr(full, c.field))
            assert before != c.value, (c.architecture, recipe, c.field)
    for arch, recipes in RECIPES.items():
        for recipe, full in recipes.items():
            q = get_preset(arch, recipe, "quick")
            changed = {c.field for c in QUICK_CHANGES if c.architecture == arch and (not c.recipes or recipe in c.recipes)}
            fd, qd = full.with_size(q.image_size).to_dict(), q.to_dict()
            for k in fd:
                if k in ("generator", "discriminator"):
                    for arg in set(fd[k]["kwargs"]) | set(qd[k]["kwargs"]):
                        if fd[k]["kwargs"].get(arg) != qd[k]["kwargs"].get(arg):
                            assert f"{k}.{arg}" in changed, (arch, recipe, k, arg)
                elif fd[k] != qd[k] and k not in ("scale", "title"):
                    assert k in changed, (arch, recipe, k)


def test_readme_quick_table_is_the_presets_own():
    assert quick_table() in (ROOT / "README.md").read_text(encoding="utf-8")


def test_a_run_off_the_recipe_does_not_claim_to_be_it():
    from train.config import TrainConfig
    plain = TrainConfig(data="demo:daynight", arch="discogan", scale="quick", lambda_cycle=10.0).preset()
    assert plain.title == get_preset("discogan", "code", "quick").title              # same number: the recipe
    off = TrainConfig(data="demo:daynight", arch="discogan", scale="quick", lambda_cycle=1.0, batch=4).preset()
    assert off.title.startswith(plain.title + "; changed here: ")
    assert "lambda_cycle 10.0 → 1.0" in off.title and "batch_size 8 → 4" in off.title


def test_width_sets_both_nets_and_says_so():
    p = TrainConfig(data="demo:daynight", arch="discogan", scale="quick", width=64).preset()
    assert p.generator.kwargs["ngf"] == 64 and p.discriminator.kwargs["ndf"] == 64
    assert p.generator.kwargs["n_down"] == 4                       # the rest of the net as the preset's
    assert "generator.ngf 16 → 64" in p.title and "discriminator.ndf 16 → 64" in p.title
    same = TrainConfig(data="demo:daynight", arch="cyclegan", scale="full", width=64).preset()
    assert same.title == get_preset("cyclegan", "paper", "full").title
    for arch in RECIPES:                                            # every family takes the width
        narrow = TrainConfig(data="demo:daynight", arch=arch, scale="quick", width=8).preset()
        plain = get_preset(arch, None, "quick")
        for role in ("generator", "discriminator"):
            spec, base = getattr(narrow, role), getattr(plain, role)
            assert count_parameters(build_net(spec.family, spec.kwargs)) < count_parameters(
                build_net(base.family, base.kwargs)), (arch, role)
    with pytest.raises(UserInputError, match="width must be a whole number from 4 to 256"):
        TrainConfig(width=3)
    with pytest.raises(UserInputError, match="--width does not apply with --init"):
        TrainConfig(data="demo:daynight", arch="cyclegan", scale="quick", init="demo:cyclegan", width=32)


def test_a_fine_tuning_run_keeps_the_recipes_learning_rates():
    fresh = TrainConfig(data="demo:daynight", arch="cyclegan", scale="quick").preset()
    assert (fresh.lr_g, fresh.lr_d) == (6e-4, 6e-4)                 # the quick scale's, for a fresh start
    tuned = TrainConfig(data="demo:daynight", arch="cyclegan", scale="quick", init="demo:cyclegan").preset()
    assert (tuned.lr_g, tuned.lr_d) == (2e-4, 2e-4) and "lr_g 0.0006 → 0.0002" in tuned.title
    told = TrainConfig(data="demo:daynight", arch="cyclegan", scale="quick", init="demo:cyclegan", lr_g=1e-3).preset()
    assert (told.lr_g, told.lr_d) == (1e-3, 2e-4)                   # a rate given is obeyed
    same = TrainConfig(data="demo:daynight", arch="dualgan", scale="quick", init="demo:dualgan").preset()
    assert same.title == get_preset("dualgan", None, "quick").title  # its quick rates are the recipe's already
