"""CUT / FastCUT nets and PatchNCE: sizes and layout of the authors' nets, the loss against a
direct computation, shared patches, gradients, flip-equivariance, determinism, odd sizes."""
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from cyclegan import UserInputError
from cyclegan.nce import cut_generate, cut_nce, nce_loss, patch_nce
from cyclegan.nets import count_parameters
from cyclegan.nets.cut import (NCE_LAYERS, BlurDownsample, BlurUpsample, CutDiscriminator,
                               CutGenerator, PatchHeads)
from cyclegan.nets.resnet import ResnetBlock
from cyclegan.translate import run_padded

pytestmark = pytest.mark.usefixtures("one_thread")

# Hand counts at the authors' default widths (ngf = ndf = 64, netF_nc 256), every conv biased
# (instance norm): G c7s1-64 9,472 + 73,856 + 295,168 + 9 resblocks × 1,180,160 + 295,040
# + 73,792 + c7s1-3 9,411 = 11,378,179 (CycleGAN's: stride-1 + blur and blur + conv swap shapes
# but not sizes); D 3,136 + 131,200 + 524,544 + 2,097,664 + 8,193 = 2,764,737; heads per layer
# C·256 + 256 + 256·256 + 256 = 256·C + 66,048 for C = 3, 128, 256, 256, 256 = 560,384.
G_PARAMS, D_PARAMS, HEAD_PARAMS = 11_378_179, 2_764_737, 560_384
LAYERS = list(NCE_LAYERS)


def tiny_g(**kw):
    kw = {"ngf": 4, "n_blocks": 5, "init_gain": None, **kw}    # 5 blocks: layer 16 exists
    return CutGenerator(**kw)


def test_parameter_counts_match_the_authors_nets():
    with torch.device("meta"):
        g, d = CutGenerator(), CutDiscriminator()
        heads = PatchHeads(g.feature_channels(LAYERS))
        feats = g(torch.empty(1, 3, 256, 256), LAYERS, encode_only=True)
    assert count_parameters(g) == G_PARAMS and len(list(g.parameters())) == 48
    assert count_parameters(d) == D_PARAMS
    assert g.feature_channels(LAYERS) == [3, 128, 256, 256, 256]
    assert count_parameters(heads) == HEAD_PARAMS
    assert [count_parameters(getattr(heads, f"mlp_{i}")) for i in range(5)] == [66_816, 98_816] + [131_584] * 3
    # at 256 px: the padded input, full-size 128 ch, half-size 256 ch, two quarter-size 256 ch
    assert [tuple(f.shape) for f in feats] == [(1, 3, 262, 262), (1, 128, 256, 256), (1, 256, 128, 128),
                                               (1, 256, 64, 64), (1, 256, 64, 64)]
    lazy = PatchHeads()                 # the authors' way: made at the first call
    assert count_parameters(lazy) == 0
    lazy(feats, 8)
    assert count_parameters(lazy) == HEAD_PARAMS


def test_sequential_layout_and_keys_are_the_authors():
    with torch.device("meta"):
        g = CutGenerator()
        plain = CutGenerator(antialias=False, antialias_up=False)
    kinds = [type(m) for m in g.model]
    assert len(kinds) == 32
    assert kinds[0] is nn.ReflectionPad2d and kinds[7] is kinds[11] is BlurDownsample
    assert kinds[21] is kinds[25] is BlurUpsample and kinds[12:21] == [ResnetBlock] * 9
    # the NCE layers: padded input, stride-1 down convs 64→128 and 128→256, resblocks 1 and 5
    assert (g.model[4].in_channels, g.model[4].out_channels, g.model[4].stride) == (64, 128, (1, 1))
    assert (g.model[8].in_channels, g.model[8].out_channels, g.model[8].stride) == (128, 256, (1, 1))
    keys = set(g.state_dict())
    expected = {f"model.{i}.{t}" for i in (1, 4, 8, 22, 26, 30) for t in ("weight", "bias")}
    expected |= {f"model.{b}.conv_block.{c}.{t}" for b in range(12, 21) for c in (1, 5) for t in ("weight", "bias")}
    expected |= {f"model.{i}.filt" for i in (7, 11, 21, 25)}
    assert keys == expected
    # without anti-aliasing the same indices mean other layers (index 12 is the third block)
    assert len(plain.model) == 28 and plain.model[4].stride == (2, 2)
    assert [type(m) for m in plain.model[10:19]] == [ResnetBlock] * 9 and isinstance(plain.model[9], nn.ReLU)
    d_kinds = [type(m).__name__ for m in CutDiscriminator(ndf=4).model]
    assert d_kinds.count("BlurDownsample") == 3 and len(d_kinds) == 15
    assert CutDiscriminator(ndf=4).model[0].stride == (1, 1)
    assert set(PatchHeads([3, 8]).state_dict()) == {f"mlp_{i}.{j}.{t}" for i in (0, 1) for j in (0, 2)
                                                    for t in ("weight", "bias")}


def test_blur_layers_by_hand():
    down, up = BlurDownsample(1), BlurUpsample(1)
    assert torch.equal(down.filt[0, 0], torch.tensor([[1., 2, 1], [2, 4, 2], [1, 2, 1]]) / 16)
    b = torch.tensor([1., 3, 3, 1])
    assert torch.allclose(up.filt[0, 0], (b[:, None] * b[None, :]) / 64 * 4)
    x = torch.zeros(1, 1, 8, 8)
    x[0, 0, 2, 2] = 1.0                 # on the stride grid: only its own output, centre weight
    y = down(x)
    assert y.shape == (1, 1, 4, 4) and y[0, 0, 1, 1] == 0.25 and y.sum() == 0.25
    x = torch.zeros(1, 1, 8, 8)
    x[0, 0, 3, 3] = 1.0                 # between grid points: four outputs, corner weight each
    y = down(x)
    assert torch.allclose(y[0, 0, 1:3, 1:3], torch.full((2, 2), 1 / 16)) and torch.isclose(y.sum(), torch.tensor(0.25))
    assert down(torch.zeros(1, 1, 7, 9)).shape[-2:] == (4, 5)          # ceil(n/2)
    c = torch.full((1, 2, 5, 7), 0.3)
    assert torch.allclose(BlurUpsample(2)(c), torch.full((1, 2, 10, 14), 0.3))
    assert torch.allclose(BlurDownsample(2)(c), torch.full((1, 2, 3, 4), 0.3))


def direct_patch_nce(q, k, tau, all_negatives=False):
    """One patch at a time: logits [q·k_i, q·k_j for j in its group with j = i set to -10] / τ."""
    b, p, _ = q.shape
    losses = []
    for bi in range(b):
        for i in range(p):
            keys = k.reshape(1, b * p, -1)[0] if all_negatives else k[bi]
            me = bi * p + i if all_negatives else i
            neg = [(-10.0 if j == me else float(q[bi, i] @ keys[j])) for j in range(len(keys))]
            logits = torch.tensor([float(q[bi, i] @ k[bi, i])] + neg, dtype=torch.float64) / tau
            losses.append(-torch.log_softmax(logits, 0)[0])
    return torch.stack(losses).reshape(b, p)


@pytest.mark.parametrize("all_negatives", [False, True])
def test_patch_nce_equals_a_direct_computation(all_negatives):
    g = torch.Generator().manual_seed(3)
    q = F.normalize(torch.randn(2, 4, 5, generator=g, dtype=torch.float64), dim=-1)
    k = F.normalize(torch.randn(2, 4, 5, generator=g, dtype=torch.float64), dim=-1)
    got = patch_nce(q, k, 0.07, all_negatives)
    assert got.shape == (2, 4)
    assert torch.allclose(got, direct_patch_nce(q, k, 0.07, all_negatives), atol=1e-9, rtol=0)
    assert not torch.allclose(got, patch_nce(q, k, 0.07, not all_negatives))    # the option matters


def test_nce_loss_end_to_end_equals_a_hand_computation():
    """Two layers, four patches, batch of two: encoder, shared random patches, MLP, L2, InfoNCE."""
    torch.manual_seed(0)
    G, layers = tiny_g(), [0, 4]
    heads = PatchHeads(G.feature_channels(layers), nc=6, init_gain=None)
    src = torch.randn(2, 3, 16, 12)
    with torch.no_grad():
        tgt = G(src)
        got = nce_loss(G, heads, src, tgt, layers, num_patches=4, generator=torch.Generator().manual_seed(9))
        fk, fq = G(src, layers, encode_only=True), G(tgt, layers, encode_only=True)
        ids_gen = torch.Generator().manual_seed(9)
        per_layer = []
        for li, (k_map, q_map) in enumerate(zip(fk, fq)):
            h, w = k_map.shape[-2:]
            ids = torch.randperm(h * w, generator=ids_gen)[:4]
            mlp = getattr(heads, f"mlp_{li}")

            def embed(fmap, b, n):
                v = fmap[b, :, n // w, n % w]            # one location, all channels
                z = mlp[2].weight @ torch.relu(mlp[0].weight @ v + mlp[0].bias) + mlp[2].bias
                return z / (z.norm() + 1e-7)
            q = torch.stack([torch.stack([embed(q_map, b, int(n)) for n in ids]) for b in range(2)])
            k = torch.stack([torch.stack([embed(k_map, b, int(n)) for n in ids]) for b in range(2)])
            per_layer.append(direct_patch_nce(q.double(), k.double(), 0.07).mean())
    assert abs(float(got) - float(sum(per_layer) / 2)) < 1e-6
    assert float(got) > 0


def test_patch_locations_are_shared_between_query_and_key():
    torch.manual_seed(1)
    G = tiny_g()
    heads = PatchHeads(G.feature_channels(LAYERS), nc=8)
    with torch.no_grad():
        feats = G(torch.randn(2, 3, 32, 32), LAYERS, encode_only=True)
        z, ids = heads(feats, 16, generator=torch.Generator().manual_seed(2))
        again, ids2 = heads(feats, 16, ids)
        other, ids3 = heads(feats, 16, generator=torch.Generator().manual_seed(3))
    assert [len(i) for i in ids] == [16] * 5 and all(torch.equal(a, b) for a, b in zip(ids, ids2))
    assert all(torch.equal(a, b) for a, b in zip(z, again))
    assert not all(torch.equal(a, b) for a, b in zip(ids, ids3))
    assert [tuple(t.shape) for t in z] == [(2, 16, 8)] * 5
    # unit length, up to the authors' +1e-7 in the denominator: with their xavier gain-0.02 init
    # this tiny MLP's outputs have norms near 1e-4, so the +1e-7 shows; torch's init hides it
    assert all(torch.allclose(t.norm(dim=-1), torch.ones(2, 16), atol=3e-3) for t in z)
    big = PatchHeads(G.feature_channels(LAYERS), nc=8, init_gain=None)
    with torch.no_grad():
        assert all(torch.allclose(t.norm(dim=-1), torch.ones(2, 16), atol=1e-5) for t in big(feats, 16)[0])
    # fewer locations than asked: all of them (32 px: layers 12 and 16 are 8×8)
    _, ids = heads(feats, 100, generator=torch.Generator().manual_seed(2))
    assert [len(i) for i in ids] == [100, 100, 100, 64, 64]


def test_gradients_reach_g_and_the_heads_but_not_the_keys():
    torch.manual_seed(2)
    G = tiny_g()
    heads = PatchHeads(G.feature_channels(LAYERS), nc=8)
    a, b = torch.randn(1, 3, 32, 32), torch.randn(1, 3, 32, 32)
    fake_B, idt_B, _ = cut_generate(G, a, b, nce_idt=True)
    cut_nce(G, heads, a, fake_B, b, idt_B, layers=LAYERS, lambda_nce=1.0, num_patches=32)["total"].backward()
    for name, p in list(G.named_parameters()) + list(heads.named_parameters()):
        assert p.grad is not None and p.grad.abs().sum() > 0, name
    src = torch.randn(1, 3, 32, 32, requires_grad=True)
    nce_loss(G, heads, src, G(src.detach()), LAYERS, 32).backward()
    assert src.grad is None             # the key side is a fixed target


def test_src_features_from_the_translating_pass_give_the_same_loss():
    torch.manual_seed(3)
    G = tiny_g()
    heads = PatchHeads(G.feature_channels(LAYERS), nc=8)
    src = torch.randn(2, 3, 32, 24)
    with torch.no_grad():
        out, feats = G(src, LAYERS)
        assert torch.allclose(out, G(src), atol=1e-6)
        reuse = nce_loss(G, heads, src, out, LAYERS, 32, generator=torch.Generator().manual_seed(4), src_feats=feats)
        fresh = nce_loss(G, heads, src, out, LAYERS, 32, generator=torch.Generator().manual_seed(4))
    assert abs(float(reuse) - float(fresh)) < 1e-5


def mirror_symmetric(g: CutGenerator) -> CutGenerator:
    """Every conv kernel made left-right symmetric: the net then commutes with a horizontal flip
    at full resolution (a stride-2 grid does not: it samples columns 0, 2, ... from either side)."""
    with torch.no_grad():
        for m in g.modules():
            if isinstance(m, nn.Conv2d):
                m.weight.copy_((m.weight + m.weight.flip(-1)) / 2)
    return g


def test_flip_equivariance_flips_the_query_features_back():
    torch.manual_seed(4)
    G = mirror_symmetric(tiny_g())
    heads = PatchHeads(G.feature_channels([0, 4]), nc=8, init_gain=None)
    x = torch.randn(1, 3, 32, 32)
    fx = torch.flip(x, [3])
    with torch.no_grad():
        def loss(tgt, flipped):
            return float(nce_loss(G, heads, x, tgt, [0, 4], 64, flipped=flipped,
                                  generator=torch.Generator().manual_seed(5)))
        aligned = loss(x, False)        # query = key at every patch
        assert abs(loss(fx, True) - aligned) < 1e-5
        assert loss(fx, False) > aligned + 1.0
        # at half size (layer 8) the grid offset breaks exact equivariance, even for this net
        f8, f8_flipped = G(x, [8], encode_only=True)[0], G(fx, [8], encode_only=True)[0]
        assert not torch.allclose(torch.flip(f8_flipped, [3]), f8, atol=1e-4)


def test_cut_generate_flips_half_the_batches_and_fastcut_has_no_identity():
    torch.manual_seed(5)
    G = tiny_g()
    a, b = torch.randn(1, 3, 16, 16), torch.randn(1, 3, 16, 16)
    with torch.no_grad():
        plain, flipped_out = G(a), G(torch.flip(a, [3]))
        coin = torch.Generator().manual_seed(0)
        seen = []
        for _ in range(20):
            fake, idt, flipped = cut_generate(G, a, b, nce_idt=False, flip_equivariance=True, generator=coin)
            assert idt is None
            assert torch.allclose(fake, flipped_out if flipped else plain, atol=1e-6)
            seen.append(flipped)
        assert 0 < sum(seen) < 20
        fake, idt, flipped = cut_generate(G, a, b, nce_idt=True)
        assert not flipped and torch.allclose(fake, plain, atol=1e-5) and torch.allclose(idt, G(b), atol=1e-5)


def test_cut_and_fastcut_combine_the_terms_as_the_authors():
    torch.manual_seed(6)
    G = tiny_g()
    heads = PatchHeads(G.feature_channels(LAYERS), nc=8)
    a, b = torch.randn(1, 3, 32, 32), torch.randn(1, 3, 32, 32)
    with torch.no_grad():
        fake_B, idt_B = G(a), G(b)
        kw = dict(layers=LAYERS, num_patches=32)
        cut = cut_nce(G, heads, a, fake_B, b, idt_B, lambda_nce=1.0, generator=torch.Generator().manual_seed(1), **kw)
        x = nce_loss(G, heads, a, fake_B, LAYERS, 32, generator=torch.Generator().manual_seed(1))
        assert abs(float(cut["nce_x"]) - float(x)) < 1e-6
        assert abs(float(cut["total"]) - 0.5 * float(cut["nce_x"] + cut["nce_y"])) < 1e-6
        assert abs(float(cut["nce_y"]) - float(cut["nce_x"])) > 1e-3    # a different pair
        fast = cut_nce(G, heads, a, fake_B, lambda_nce=10.0, generator=torch.Generator().manual_seed(1), **kw)
        assert fast["nce_y"] is None and abs(float(fast["total"]) - 10 * float(x)) < 1e-4


def test_deterministic_given_a_seed():
    def run(seed):
        torch.manual_seed(seed)
        G = tiny_g(init_gain=0.02)
        heads = PatchHeads(G.feature_channels(LAYERS), nc=8)
        a, b = torch.randn(1, 3, 32, 32), torch.randn(1, 3, 32, 32)
        fake_B, idt_B, flipped = cut_generate(G, a, b, nce_idt=True, flip_equivariance=True)
        loss = cut_nce(G, heads, a, fake_B, b, idt_B, layers=LAYERS, lambda_nce=1.0, num_patches=16,
                       flipped=flipped)["total"]
        loss.backward()
        return loss.item(), G.model[1].weight.grad.clone()
    (l1, g1), (l2, g2), (l3, _) = run(7), run(7), run(8)
    assert l1 == l2 and torch.equal(g1, g2)
    assert l1 != l3


def test_authors_init_xavier_normal_gain_002():
    torch.manual_seed(0)
    g, heads = CutGenerator(), PatchHeads([256])
    w = g.model[12].conv_block[1].weight          # fan_in = fan_out = 256·9
    assert abs(w.std().item() / (0.02 * (2 / (2 * 256 * 9)) ** 0.5) - 1) < 0.02
    assert all(m.bias.abs().max().item() == 0 for m in g.modules() if isinstance(m, nn.Conv2d))
    assert abs(heads.mlp_0[2].weight.std().item() / (0.02 * (2 / 512) ** 0.5) - 1) < 0.02
    torch_default = CutGenerator(ngf=8, n_blocks=1, init_gain=None).model[1].bias
    assert torch_default.abs().max().item() > 0


def test_generator_runs_on_any_size_through_padding():
    torch.manual_seed(8)
    G, D = tiny_g(), CutDiscriminator(ndf=4, init_gain=None)
    assert (G.size_multiple, G.min_side) == (4, 8)
    with torch.no_grad():
        assert G(torch.randn(1, 3, 36, 52)).shape == (1, 3, 36, 52)
        # a side that is not a multiple of 4 comes back the wrong size: the reason for the padding
        assert G(torch.randn(1, 3, 38, 54)).shape == (1, 3, 40, 56)
        for h, w in ((37, 53), (5, 6), (9, 3)):
            y = run_padded(G, torch.rand(1, 3, h, w) * 2 - 1, G.size_multiple)
            assert y.shape == (1, 3, h, w) and torch.isfinite(y).all()
        assert D(torch.randn(1, 3, 36, 52)).shape == (1, 1, 2, 4)
        assert CutDiscriminator(ndf=4).forward(torch.randn(1, 3, 256, 256)).shape == (1, 1, 30, 30)


def test_bad_settings_get_clear_errors():
    G = tiny_g()
    x = torch.randn(1, 3, 16, 16)
    with pytest.raises(UserInputError, match="increasing"):
        G(x, [4, 0], encode_only=True)
    with pytest.raises(UserInputError, match="out of range"):
        G.feature_channels([0, 99])
    heads = PatchHeads([3, 16])
    feats = G(x, LAYERS, encode_only=True)
    with pytest.raises(UserInputError, match="built for 2 NCE layers, got 5"):
        heads(feats)
    with pytest.raises(UserInputError, match="num_patches"):
        heads(feats[:2], 0)
    with pytest.raises(UserInputError, match="same"):
        patch_nce(torch.zeros(1, 4, 8), torch.zeros(1, 5, 8))
    with pytest.raises(UserInputError, match="target domain"):
        cut_generate(G, x, None, nce_idt=True)
