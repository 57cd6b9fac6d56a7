
import numpy as np
import pytest

from cyclegan import demo
from cyclegan.errors import UserInputError


def px(img):
    return np.asarray(img, dtype=np.float32)


def test_world_names_and_domains():
    assert "daynight" in demo.world_names()
    assert set(demo.world_names()) == set(demo.WORLDS)
    assert demo.domains("daynight") == ("day", "night")
    assert demo.domains("summerwinter") == ("summer", "winter")


@pytest.mark.parametrize("world", ["daynight", "summerwinter"])
def test_render_is_deterministic_and_seeds_differ(world):
    a1 = px(demo.render(world, 7, "A", 48))
    a2 = px(demo.render(world, 7, "A", 48))
    assert np.array_equal(a1, a2)
    for other in (8, 9, 1_000_000):
        assert np.abs(a1 - px(demo.render(world, other, "A", 48))).mean() > 3


@pytest.mark.parametrize("size", [8, 37, 64, 128])
def test_render_any_size_is_rgb_square(size):
    img = demo.render("daynight", 3, "B", size)
    assert img.mode == "RGB" and img.size == (size, size)


def test_night_is_much_darker_than_day_for_every_scene():
    for seed in range(20):
        day = px(demo.render("daynight", seed, "A", 64))
        night = px(demo.render("daynight", seed, "B", 64))
        assert night.mean() < 0.45 * day.mean()
        assert np.abs(day - night).mean() > 60


def test_winter_is_brighter_on_the_ground_than_summer():
    for seed in range(10):
        summer = px(demo.render("summerwinter", seed, "A", 64))[40:]
        winter = px(demo.render("summerwinter", seed, "B", 64))[40:]
        assert winter.mean() > summer.mean() + 30


def test_night_has_lit_windows_somewhere():
    # lit windows are saturated warm yellow; no other night element is
    found = 0
    for seed in range(10):
        night = px(demo.render("daynight", seed, "B", 128))
        warm = (night[..., 0] > 200) & (night[..., 1] > 160) & (night[..., 2] < 150)
        found += warm.sum() > 0
    assert found >= 7


def test_domain_names_are_accepted_like_a_and_b():
    assert np.array_equal(px(demo.render("daynight", 5, "night", 32)), px(demo.render("daynight", 5, "B", 32)))


def test_bad_inputs_raise_user_input_error():
    with pytest.raises(UserInputError, match="daynight"):
        demo.render("moonbase", 0, "A", 32)
    with pytest.raises(UserInputError, match="daynight"):
        demo.domains("nope")
    for size in (7, 2049, 0, -5):
        with pytest.raises(UserInputError, match="size"):
            demo.render("daynight", 0, "A", size)
    with pytest.raises(UserInputError, match="domain"):
        demo.render("daynight", 0, "C", 32)


def test_seed_splits_are_disjoint():
    n = 500
    a = demo.train_seeds("daynight", "A", n)
    b = demo.train_seeds("daynight", "B", n)
    t = demo.test_seeds("daynight", n)
    assert len(set(a)) == len(set(b)) == len(set(t)) == n
    assert not set(a) & set(b)
    assert not (set(a) | set(b)) & set(t)
    assert demo.train_seeds("daynight", "A", 3) == a[:3]  # stable prefix: more data adds, never reshuffles


def test_export_writes_official_layout_with_paired_test(tmp_path):
    out = tmp_path / "dn"
    info = demo.export("daynight", out, n=6, size=32, n_test=4)
    assert info["trainA"] == 6 and info["trainB"] == 6 and info["testA"] == 4 and info["testB"] == 4
    names = {sub: sorted(p.name for p in (out / sub).glob("*.png")) for sub in ("trainA", "trainB", "testA", "testB")}
    assert len(names["trainA"]) == len(names["trainB"]) == 6
    assert names["testA"] == names["testB"] and len(names["testA"]) == 4
    assert not set(names["trainA"]) & set(names["trainB"])
    # a test pair is the same scene: the file holds exactly what render gives for that seed
    from PIL import Image

    first = names["testA"][0]
    seed = int(first.split(".")[0])
    assert np.array_equal(px(Image.open(out / "testB" / first)), px(demo.render("daynight", seed, "B", 32)))
    assert Image.open(out / "trainA" / names["trainA"][0]).size == (32, 32)


def test_export_default_test_count(tmp_path):
    info = demo.export("summerwinter", tmp_path, n=10, size=16)
    assert info["testA"] == 2 and len(list((tmp_path / "testB").iterdir())) == 2
