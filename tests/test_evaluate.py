"""evaluate(): PSNR, SSIM and L1 against paired ground truth, batched, on the demo world and on folders."""
import numpy as np
import pytest
import torch

from cyclegan import demo
from cyclegan.errors import UserInputError
from cyclegan.evaluate import PSNR_CAP, evaluate, l1, psnr, ssim


class Identity:
    """Translates nothing: its scores must equal the no-translation baseline."""

    def __init__(self, domains=("day", "night"), directions=("a2b", "b2a"), image_size=32):
        self.domains, self.directions, self.image_size = domains, directions, image_size
        self.calls = []

    def translate_tensor(self, x, direction):
        self.calls.append((direction, x.shape))
        return x.clone()


class Oracle(Identity):
    """Knows every test pair: looks the ground truth up by the input's exact pixels."""

    def __init__(self, pairs, **kw):
        super().__init__(**kw)
        self.table = {}
        for a, b in pairs:
            self.table[("a2b", self.key(a))] = b
            self.table[("b2a", self.key(b))] = a

    @staticmethod
    def key(x):
        return (x * 255).round().to(torch.uint8).numpy().tobytes()

    def translate_tensor(self, x, direction):
        return torch.stack([self.table[(direction, self.key(img))] for img in x])


def tensor(img):
    return torch.from_numpy(np.asarray(img, dtype=np.float32) / 255).permute(2, 0, 1)


def demo_pairs(world, n, size):
    return [(tensor(demo.render(world, s, "A", size)), tensor(demo.render(world, s, "B", size)))
            for s in demo.test_seeds(world, n)]


# --- the metrics themselves ---

def test_psnr_of_known_mse():
    x = torch.zeros(2, 3, 8, 8)
    y = x + 0.1  # mse 0.01 -> 20 dB
    assert psnr(x, y).tolist() == pytest.approx([20.0, 20.0], abs=1e-4)
    assert psnr(x, x).tolist() == [PSNR_CAP, PSNR_CAP]


def test_ssim_is_one_for_identical_and_drops_with_noise():
    g = torch.Generator().manual_seed(0)
    x = torch.rand(1, 3, 32, 32, generator=g) * 0.5 + 0.25
    assert ssim(x, x).item() == pytest.approx(1.0, abs=1e-9)
    prev = 1.0
    for sigma in (0.02, 0.1, 0.3):
        noisy = (x + sigma * torch.randn(x.shape, generator=g)).clamp(0, 1)
        s = ssim(x, noisy).item()
        assert s < prev
        prev = s
    assert prev < 0.5
    assert ssim(x, 1 - x).item() < 0


def test_ssim_matches_a_direct_computation_on_one_window():
    # an 11x11 image has exactly one valid window: SSIM is the weighted-statistics formula
    g = torch.Generator().manual_seed(1)
    x, y = torch.rand(1, 1, 11, 11, generator=g).double(), torch.rand(1, 1, 11, 11, generator=g).double()
    r = torch.arange(11, dtype=torch.float64) - 5
    w = torch.exp(-r ** 2 / (2 * 1.5 ** 2))
    w = (w[:, None] * w[None, :]) / (w.sum() ** 2)
    mx, my = (w * x).sum(), (w * y).sum()
    vx, vy = (w * x * x).sum() - mx ** 2, (w * y * y).sum() - my ** 2
    cxy = (w * x * y).sum() - mx * my
    c1, c2 = 0.01 ** 2, 0.03 ** 2
    want = ((2 * mx * my + c1) * (2 * cxy + c2)) / ((mx ** 2 + my ** 2 + c1) * (vx + vy + c2))
    assert ssim(x, y).item() == pytest.approx(want.item(), abs=1e-9)


def test_small_images_still_get_an_ssim():
    x = torch.rand(2, 3, 8, 8)
    assert ssim(x, x).tolist() == pytest.approx([1.0, 1.0])
    assert l1(x, x + 0.25).tolist() == pytest.approx([0.25, 0.25])


# --- evaluate on the demo world ---

def test_identity_model_scores_equal_the_baseline():
    m = Identity()
    r = evaluate(m, "demo:daynight", n=20, size=32)
    assert r["n"] == 20
    assert set(r) == {"n", "a2b", "b2a", "identity", "cycle", "translated"}
    assert r["translated"] == {"sample": False, "batch_stats": False}
    for d in ("a2b", "b2a"):
        assert set(r[d]) == {"psnr", "ssim", "l1"}
        assert r[d] == r["identity"][d]
        assert all(isinstance(v, float) for v in r[d].values())
    assert r["a2b"]["l1"] > 0.2 and r["a2b"]["psnr"] < 15  # day vs night really differ
    assert r["cycle"] == {"a2b2a_l1": 0.0, "b2a2b_l1": 0.0}
    # batched: 20 pairs -> batches of 16 and 4 (each translated once plus once for the cycle)
    assert [c[1][0] for c in m.calls if c[0] == "a2b"] == [16, 16, 4, 4]
    assert all(c[1][1:] == (3, 32, 32) for c in m.calls)


def test_oracle_model_scores_perfectly():
    m = Oracle(demo_pairs("daynight", 10, 24), image_size=24)
    r = evaluate(m, "demo:daynight", n=10)  # size from model.image_size
    for d in ("a2b", "b2a"):
        assert r[d]["psnr"] == PSNR_CAP
        assert r[d]["ssim"] == pytest.approx(1.0, abs=1e-9)
        assert r[d]["l1"] == 0.0
        assert r["identity"][d]["psnr"] < 20
    assert r["cycle"]["a2b2a_l1"] == 0.0 and r["cycle"]["b2a2b_l1"] == 0.0


def test_one_direction_model_omits_the_other():
    r = evaluate(Identity(directions=("b2a",)), "demo:daynight", n=3, size=16)
    assert "a2b" not in r and "b2a" in r
    assert set(r["identity"]) == {"b2a"}
    assert r["cycle"] == {}


def test_domain_mismatch_warns_but_scores():
    with pytest.warns(UserWarning, match="summer"):
        r = evaluate(Identity(domains=("summer", "winter")), "demo:daynight", n=2, size=16)
    assert r["n"] == 2 and "a2b" in r


def test_unknown_world_and_bad_n():
    with pytest.raises(UserInputError, match="known worlds"):
        evaluate(Identity(), "demo:mars", n=2)
    with pytest.raises(UserInputError, match="n must"):
        evaluate(Identity(), "demo:daynight", n=0)


# --- evaluate on a folder ---

def write_pairs(root, names, size=20, b_size=None):
    (root / "testA").mkdir(parents=True)
    (root / "testB").mkdir()
    for i, name in enumerate(names):
        demo.render("daynight", i, "A", size).save(root / "testA" / f"{name}.png")
        demo.render("daynight", i, "B", b_size or size).save(root / "testB" / f"{name}.png")


def test_folder_mode_pairs_by_name(tmp_path):
    write_pairs(tmp_path, ["x", "y", "z"])
    demo.render("daynight", 9, "A", 20).save(tmp_path / "testA" / "only_a.png")  # unpaired: ignored
    (tmp_path / "testB" / "notes.txt").write_text("not an image")
    m = Identity()
    r = evaluate(m, str(tmp_path), n=200)
    assert r["n"] == 3
    assert r["a2b"] == r["identity"]["a2b"]
    ref = evaluate(Identity(), "demo:daynight", n=3, size=20)  # the same three scenes
    assert r["a2b"]["psnr"] == pytest.approx(ref["a2b"]["psnr"])


def test_folder_mode_resizes_when_size_given(tmp_path):
    write_pairs(tmp_path, ["p", "q"], size=20, b_size=30)
    with pytest.raises(UserInputError, match="size"):
        evaluate(Identity(), str(tmp_path))
    m = Identity()
    r = evaluate(m, str(tmp_path), size=16)
    assert r["n"] == 2 and all(c[1][1:] == (3, 16, 16) for c in m.calls)


def test_folder_without_pairs_is_a_user_error(tmp_path):
    (tmp_path / "testA").mkdir()
    (tmp_path / "testB").mkdir()
    demo.render("daynight", 0, "A", 16).save(tmp_path / "testA" / "a.png")
    demo.render("daynight", 0, "B", 16).save(tmp_path / "testB" / "b.png")
    with pytest.raises(UserInputError, match="no paired files"):
        evaluate(Identity(), str(tmp_path))
    with pytest.raises(UserInputError, match="testA/ and testB/"):
        evaluate(Identity(), str(tmp_path / "testA"))
    with pytest.raises(UserInputError, match="not a folder"):
        evaluate(Identity(), str(tmp_path / "missing"))
