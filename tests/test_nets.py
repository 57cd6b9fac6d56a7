"""The nets of all three architectures: parameter counts from the papers' code, the official
CycleGAN key layout, and one training-style forward/backward per preset at tiny sizes."""
import pytest
import torch

from cyclegan import CycleModel, UserInputError, get_preset
from cyclegan.nets import build_net, count_parameters, size_rules


pytestmark = pytest.mark.usefixtures("one_thread")

# (family, kwargs, parameters, tensors or None): the published nets at their default widths.
PAPER_COUNTS = [
    ("resnet", {"ngf": 64, "n_blocks": 9}, 11_378_179, 48),
    ("patchgan", {"ndf": 64, "n_layers": 3}, 2_764_737, None),
    ("disco_generator", {"ngf": 64, "n_down": 4}, 5_513_856, None),
    ("disco_discriminator", {"ndf": 64, "n_down": 4}, 2_765_568, None),
    ("dual_unet", {"ngf": 64, "levels": 8, "kernel": 5, "outer_kernel": 5}, 85_022_787, None),
    ("dual_unet", {"ngf": 64, "levels": 8, "kernel": 3, "outer_kernel": 5}, 30_627_907, None),
    ("dual_critic", {"ndf": 64, "kernel": 5}, 4_321_153, None),
]


def meta_net(family, kwargs):
    with torch.device("meta"):      # counting needs no memory and no init time
        return build_net(family, kwargs)


@pytest.mark.parametrize("family,kwargs,params,tensors", PAPER_COUNTS,
                         ids=[f"{f}-{k.get('kernel', '')}" for f, k, _, _ in PAPER_COUNTS])
def test_parameter_counts_match_the_papers_code(family, kwargs, params, tensors):
    net = meta_net(family, kwargs)
    assert count_parameters(net) == params
    if tensors is not None:
        assert len(list(net.parameters())) == tensors


@pytest.mark.parametrize("arch,recipe,g_params,d_params", [
    ("cyclegan", "paper", 11_378_179, 2_764_737),
    ("discogan", "code", 5_513_856, 2_765_568),
    ("cyclegan", "code", 11_378_179, 2_764_737),
    ("dualgan", "paper", 85_022_787, 4_321_153),
    ("dualgan", "code-2017-04", None, 4_439_425),            # its linear-head critic at its 128 px
    ("dualgan", "code-2017-08", 85_022_787, 4_321_153),
    ("dualgan", "code-2020", 30_627_907, 3_949_441),         # the global critic with its linear head, 256 px
])
def test_full_scale_presets_have_the_published_sizes(arch, recipe, g_params, d_params):
    p = get_preset(arch, recipe)
    assert (p.architecture, p.recipe, p.scale) == (arch, recipe, "full")
    if g_params is not None:
        assert count_parameters(meta_net(p.generator.family, p.generator.kwargs)) == g_params
    assert count_parameters(meta_net(p.discriminator.family, p.discriminator.kwargs)) == d_params


def test_resnet_keeps_the_official_key_layout():
    keys = set(meta_net("resnet", {"ngf": 64, "n_blocks": 9}).state_dict())
    expected = {f"model.{i}.{t}" for i in (1, 4, 7, 19, 22, 26) for t in ("weight", "bias")}
    expected |= {f"model.{b}.conv_block.{c}.{t}" for b in range(10, 19) for c in (1, 5) for t in ("weight", "bias")}
    assert keys == expected
    with_dropout = set(meta_net("resnet", {"ngf": 64, "n_blocks": 6, "dropout": True}).state_dict())
    assert "model.10.conv_block.6.weight" in with_dropout and "model.10.conv_block.5.weight" not in with_dropout
    assert "model.23.weight" in with_dropout          # 6 blocks: last conv moves from 26 to 23


def test_unet_keeps_the_official_nested_layout():
    keys = set(meta_net("unet", {"ngf": 64, "num_downs": 8}).state_dict())
    assert {"model.model.0.weight", "model.model.3.weight", "model.model.1.model.1.weight",
            "model.model.1.model.5.weight"} <= keys
    innermost = "model.model.1" + ".model.3" * 6 + ".model.1.weight"     # 8 levels deep
    assert innermost in keys and innermost.replace(".1.weight", ".3.model.1.weight") not in keys


# one tiny size per architecture: DiscoGAN's global discriminator needs 64 px
QUICK = [("cyclegan", None, 32), ("cyclegan", "code", 32), ("discogan", None, 64), ("dualgan", None, 32),
         ("dualgan", "paper", 32), ("dualgan", "code-2017-04", 32), ("dualgan", "code-2020", 32)]


@pytest.mark.parametrize("arch,recipe,size", QUICK)
def test_every_quick_preset_trains_one_step(arch, recipe, size):
    torch.manual_seed(0)
    p = get_preset(arch, recipe, "quick", size)
    assert p.image_size == size and p.scale == "quick"
    model = CycleModel(p, with_discriminators=True).train()
    x = torch.rand(2, 3, p.image_size, p.image_size)
    lo, hi = p.value_range
    fake = model.G_AB(x * (hi - lo) + lo)
    assert fake.shape == x.shape
    assert float(fake.detach().min()) >= lo and float(fake.detach().max()) <= hi
    score = model.D_B(fake)
    assert score.dim() in (2, 4) and score.shape[0] == 2 and score.shape[1] == 1   # linear heads: [N, 1]
    (score.mean() + (model.G_BA(fake) - x).abs().mean()).backward()
    for net in (model.G_AB, model.G_BA, model.D_B):
        grads = [q.grad for q in net.parameters()]
        assert all(g is not None and torch.isfinite(g).all() for g in grads)
        assert sum(float(g.abs().sum()) for g in grads) > 0


def test_discogan_discriminator_gives_one_score_and_three_taps():
    d = build_net("disco_discriminator", {"ndf": 8, "n_down": 4}).eval()
    score, taps = d.forward_features(torch.rand(3, 3, 64, 64))
    score = score.detach()
    assert score.shape == (3, 1, 1, 1) and float(score.min()) >= 0 and float(score.max()) <= 1
    assert [t.shape[1] for t in taps] == [16, 32, 64]


def test_dualgan_critic_gives_raw_patch_scores():
    c = build_net("dual_critic", {"ndf": 8}).eval()
    out = c(torch.rand(1, 3, 256, 256) * 2 - 1)
    assert out.shape == (1, 1, 32, 32)            # the doc: a 32×32 patch map at 256 px


def test_dualgan_dropout_off_in_eval_unless_asked():
    torch.manual_seed(0)
    x = torch.rand(1, 3, 32, 32) * 2 - 1
    g = build_net("dual_unet", {"ngf": 4, "levels": 5, "kernel": 3}).eval()
    with torch.no_grad():
        assert torch.equal(g(x), g(x))
    g = build_net("dual_unet", {"ngf": 4, "levels": 5, "kernel": 3, "dropout_at_test": True}).eval()
    with torch.no_grad():
        assert not torch.equal(g(x), g(x))


def test_fast_instance_norm_equals_torchs():
    g = build_net("resnet", {"ngf": 4, "n_blocks": 1}).eval()
    norm = g.model[2]
    x = torch.randn(2, 4, 9, 13)
    assert torch.allclose(norm(x), torch.nn.functional.instance_norm(x), atol=1e-5)
    assert torch.allclose(norm(x.contiguous(memory_format=torch.channels_last)),
                          torch.nn.functional.instance_norm(x), atol=1e-5)


def test_bad_net_arguments_are_user_errors():
    with pytest.raises(UserInputError, match="unknown network family 'resnett'"):
        build_net("resnett", {})
    with pytest.raises(UserInputError, match="bad arguments for network 'resnet'"):
        build_net("resnet", {"widht": 3})
    with pytest.raises(UserInputError, match="upsample"):
        build_net("resnet", {"upsample": "bilinear"})


def test_size_rules_are_asked_of_the_nets():
    """(multiple, smallest side) come from the nets themselves: what TrainConfig checks sizes against."""
    assert size_rules("resnet", {"ngf": 4, "n_blocks": 1}) == (4, 8)
    assert size_rules("dual_unet", {"ngf": 4, "levels": 5}) == (32, 1)
    assert size_rules("unet", {"ngf": 4, "num_downs": 7}) == (128, 1)
    assert size_rules("disco_generator", {"ngf": 4, "n_down": 4}) == (16, 1)
    assert size_rules("disco_discriminator", {"ndf": 4, "n_down": 4}) == (1, 64)    # its 4×4 head, 4 halvings
    assert size_rules("disco_discriminator", {"ndf": 4, "n_down": 3}) == (1, 32)


def test_architecture_recipe_scale():
    assert [get_preset(a).recipe for a in ("cyclegan", "discogan", "dualgan")] == ["paper", "code", "code-2017-08"]
    q = get_preset("dualgan", "code-2017-08", "quick", 32)
    assert (q.architecture, q.recipe, q.scale, q.key, q.image_size) == \
        ("dualgan", "code-2017-08", "quick", "dualgan/code-2017-08/quick", 32)
    with pytest.raises(UserInputError, match="unknown architecture 'pix2pix'; choose one of: cyclegan, discogan, dualgan"):
        get_preset("pix2pix")
    with pytest.raises(UserInputError, match="unknown recipe 'gp' for dualgan; choose one of: paper, code-2017-04, code-2017-08, code-2020"):
        get_preset("dualgan", "gp")
    with pytest.raises(UserInputError, match="unknown scale 'paper'; choose one of: full, quick"):
        get_preset("cyclegan", None, "paper")
