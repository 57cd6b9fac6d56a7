"""The unpaired score: the seeded random feature network, KID/FID on it, score_model on demo
data, folders and zips, and the `score` CLI functions (called in-process)."""
import argparse
import json
import math
import pickle
import re
import zipfile

import pytest
import torch
from PIL import Image
from torchvision.transforms.v2.functional import pil_to_tensor

import cyclegan
from cyclegan import demo
from cyclegan import features as feats
from cyclegan.errors import UserInputError
from cyclegan.score import add_score_arguments, kid_fid, score_model

pytestmark = pytest.mark.usefixtures("one_thread")


def render(side, seeds, size=64):
    return torch.stack([pil_to_tensor(demo.render("daynight", s, side, size)).float() / 255 for s in seeds])


@pytest.fixture(scope="module")
def net():
    return feats.RandomFeatures()


@pytest.fixture(scope="module")
def demo_features(net):
    with torch.inference_mode():
        return {"night1": net(render("B", range(0, 40))), "night2": net(render("B", range(40, 80))),
                "day1": net(render("A", range(0, 40)))}


# --- the feature network --------------------------------------------------------------------

def test_splitmix64_matches_the_published_reference_outputs():
    # Rosetta Code "Pseudo-random numbers/Splitmix64", seed 1234567; we keep the top 53 bits
    reference = [6457827717110365317, 3203168211198807973, 9817491932198370423,
                 4593380528125082431, 16408922859458223821]
    assert feats.splitmix64(1234567, 5) == [v >> 11 for v in reference]


def test_random_feature_weights_are_pinned_bit_for_bit(net):
    assert feats.weights_sha256(net) == "1a780473139b7b17c9febb666a3b2942c2cb7666ab6ed2bb99f44a4f768741b2"
    assert net.convs[0].weight.flatten()[:3].tolist() == [-0.09177751839160919, -0.3551968038082123,
                                                          -0.311254620552063]
    # the first weight, derived by hand: first SplitMix64 draw -> [-1, 1) -> Kaiming bound for fan-in 27
    u = feats.splitmix64(feats.SEED, 1)[0] * 2.0 ** -53
    assert net.convs[0].weight.flatten()[0].item() == torch.tensor((2 * u - 1) * math.sqrt(6 / 27)).float().item()
    assert [tuple(c.weight.shape) for c in net.convs] == [(32, 3, 3, 3), (64, 32, 3, 3), (128, 64, 3, 3),
                                                          (256, 128, 3, 3), (256, 256, 3, 3)]
    assert feats.weights_sha256(feats.RandomFeatures()) == feats.weights_sha256(net)  # rebuilt: same
    assert feats.weights_sha256(feats.RandomFeatures(seed=1)) != feats.weights_sha256(net)
    assert not any(p.requires_grad for p in net.parameters())


def fixed_images():
    ramp = torch.linspace(0, 1, 3 * 64 * 64, dtype=torch.float64).reshape(1, 3, 64, 64)
    i = torch.arange(64, dtype=torch.float64)
    checker = ((i[:, None] // 8 + i[None, :] // 8) % 2).expand(3, 64, 64)[None]
    return torch.cat([ramp, checker]).float()


def test_random_features_of_a_fixed_input_are_pinned(net):
    f = net(fixed_images())
    assert f.shape == (2, feats.DIM) == (2, 736)
    # float32 convolutions may sum in another order on another CPU: pinned to 1e-4, not bits
    assert f[:, :3].flatten().tolist() == pytest.approx([0.41524169, 0.0, 0.00667851, 0.53818548, 0.23820871,
                                                         0.36606944], rel=1e-4, abs=1e-6)
    assert f[:, -3:].flatten().tolist() == pytest.approx([0.0, 0.10344885, 0.01511684, 0.0, 0.78264064, 0.83189607],
                                                         rel=1e-4, abs=1e-6)
    assert f.sum(1).tolist() == pytest.approx([221.7805, 381.8473], rel=1e-4)
    # any input size is resized to the fixed side first
    g = net(torch.nn.functional.interpolate(fixed_images(), size=(feats.SIDE, feats.SIDE), mode="bilinear",
                                            align_corners=False, antialias=True))
    assert torch.allclose(f, g, atol=1e-5)


def test_label_says_random_features_never_inception(net):
    assert net.label.startswith("random features") and "inception" not in net.label.lower()
    assert str(feats.SEED) in net.label and "seed 7" in feats.RandomFeatures(seed=7).label


# --- KID / FID on random features -------------------------------------------------------------

def test_kid_near_zero_for_one_distribution_and_large_for_day_vs_night(demo_features):
    f = demo_features
    same = kid_fid(f["night1"], f["night2"])   # other scenes, same look
    itself = kid_fid(f["night1"], f["night1"])
    different = kid_fid(f["day1"], f["night2"])
    assert abs(same["kid"]) < 0.005 and abs(itself["kid"]) < 0.005
    assert different["kid"] > 0.5
    assert different["kid"] > 100 * abs(same["kid"])
    assert different["kid"] > different["kid_std"] * 10
    assert abs(itself["fid"]) < 1e-3 and same["fid"] < 5 < different["fid"]
    assert same["subset_size"] == 20 and same["subsets"] == 100


def test_kid_is_deterministic_and_leaves_the_global_rng_alone(demo_features):
    f = demo_features
    state = torch.get_rng_state()
    a, b = kid_fid(f["day1"], f["night2"]), kid_fid(f["day1"], f["night2"])
    assert torch.equal(state, torch.get_rng_state())
    assert a == b
    assert kid_fid(f["day1"], f["night2"], seed=1)["kid"] != a["kid"]  # the seed is what fixes it


def test_kid_subset_size_adapts_to_small_sets_and_is_checked(demo_features):
    f = demo_features
    assert kid_fid(f["day1"][:5], f["night2"][:9])["subset_size"] == 2  # half the smaller set
    assert kid_fid(f["day1"][:3], f["night2"][:3], subset_size=3)["kid_std"] == pytest.approx(0, abs=1e-12)
    with pytest.raises(UserInputError, match="subset size must be a whole number from 2 to 5"):
        kid_fid(f["day1"][:5], f["night2"][:9], subset_size=6)
    with pytest.raises(UserInputError, match="at least 2 images on each side, got 1 translated"):
        kid_fid(f["day1"][:1], f["night2"])


# --- score_model ------------------------------------------------------------------------------

class Identity:
    """Translates nothing: scores exactly the baseline."""
    domains, directions, image_size = ("day", "night"), ("a2b", "b2a"), 64

    def translate_tensor(self, x, direction):
        return x.clone()


class Oracle(Identity):
    """Renders the right answer for demo test scenes (found by pixels): a perfect translator."""

    def __init__(self, n, size=64):
        self.table = {}
        for s in range(n):
            a, b = render("A", [s], size)[0], render("B", [s], size)[0]
            self.table[("a2b", self.key(a))], self.table[("b2a", self.key(b))] = b, a

    @staticmethod
    def key(x):
        return (x * 255).round().to(torch.uint8).numpy().tobytes()

    def translate_tensor(self, x, direction):
        return torch.stack([self.table[(direction, self.key(img))] for img in x])


def strip_seconds(r):
    return {k: v for k, v in r.items() if k != "seconds"}


def test_perfect_translator_scores_near_zero_identity_scores_high():
    r = score_model(Oracle(24), "demo:daynight", "a2b", n=24)
    assert r["n_fake"] == r["n_real"] == 24 and r["subset_size"] == 12
    assert abs(r["kid"]) < 0.01 and r["identity"]["kid"] > 0.5 and r["beats_identity"]
    assert r["metric"] == "KID (random features)" and r["features"] == feats.LABEL
    assert r["source"] == "demo:daynight day, test scenes 0-23"
    assert r["reference"] == "demo:daynight night, test scenes 24-47"  # other scenes than the source
    assert r["fid"] > 0.05  # were they the same scenes, the oracle's features would equal the reference's: FID 0
    b = score_model(Oracle(24), "demo:daynight", "b2a", n=24)
    assert abs(b["kid"]) < 0.01 and b["identity"]["kid"] > 0.5
    assert b["source"].startswith("demo:daynight night") and b["reference"].startswith("demo:daynight day")


def test_identity_model_scores_exactly_its_baseline_and_is_deterministic():
    r = score_model(Identity(), "demo:daynight", "a2b", n=12)
    assert r["kid"] == r["identity"]["kid"] and r["fid"] == r["identity"]["fid"] and not r["beats_identity"]
    assert strip_seconds(score_model(Identity(), "demo:daynight", "a2b", n=12)) == strip_seconds(r)


def test_shipped_demo_model_beats_the_identity():
    model = cyclegan.load_model("demo:cyclegan")
    r = score_model(model, "demo:daynight", "b2a", n=16)
    assert r["beats_identity"] and r["kid"] < r["identity"]["kid"] / 10
    assert r["image_size"] == 64 and r["direction"] == "b2a" and r["data"] == "demo:daynight"


def test_one_direction_model_refuses_the_missing_direction(tmp_path):
    model = cyclegan.load_model("demo:cyclegan")
    model.G_BA = None
    with pytest.raises(UserInputError, match="only translates day → night.*night → day is not available"):
        score_model(model, "demo:daynight", "b2a", n=4)
    one = Identity()
    one.directions = ("b2a",)
    with pytest.raises(UserInputError, match="no a2b generator; it translates b2a"):
        score_model(one, "demo:daynight", "a2b", n=4)


def test_bad_arguments_are_user_errors():
    with pytest.raises(UserInputError, match="n must be a whole number of at least 2, got 1"):
        score_model(Identity(), "demo:daynight", n=1)
    with pytest.raises(UserInputError, match="unknown features 'vgg'"):
        score_model(Identity(), "demo:daynight", n=4, features="vgg")
    with pytest.raises(UserInputError, match="unknown direction"):
        score_model(Identity(), "demo:daynight", "sideways", n=4)
    with pytest.raises(UserInputError, match="unknown demo world 'moon'"):
        score_model(Identity(), "demo:moon", n=4)
    with pytest.raises(UserInputError, match="data not found"):
        score_model(Identity(), "/no/such/folder", n=4)
    with pytest.raises(UserInputError, match="size must be a whole number from 8 to 2048, got 4096"):
        score_model(Identity(), "demo:daynight", n=4, size=4096)
    with pytest.raises(UserInputError, match="at most 500000 for demo data"):
        score_model(Identity(), "demo:daynight", n=600_000)


# --- folders and zips -------------------------------------------------------------------------

def write_pngs(folder, names, side, size=32):
    folder.mkdir(parents=True)
    for name, seed in names:
        demo.render("daynight", seed, side, size).save(folder / f"{name}.png")


def test_plain_folder_pair_with_different_names_uses_all_images(tmp_path):
    write_pngs(tmp_path / "testA", [(f"a{i}", i) for i in range(6)], "A")
    write_pngs(tmp_path / "testB", [(f"b{i}", 100 + i) for i in range(7)], "B")
    r = score_model(Identity(), str(tmp_path), "a2b", n=50, size=32)
    assert (r["n_fake"], r["n_real"], r["subset_size"]) == (6, 7, 3)
    assert "testA/ (6 of 6)" in r["source"] and "testB/ (7 of 7)" in r["reference"]
    assert r["identity"]["kid"] > 0.3 and r["image_size"] == 32
    assert "paired" not in r["note"]
    r2 = score_model(Identity(), str(tmp_path), "b2a", n=4, size=32)
    assert (r2["n_fake"], r2["n_real"]) == (4, 4) and "testB/" in r2["source"] and "testA/" in r2["reference"]


def test_paired_folder_is_split_so_no_scene_is_on_both_sides(tmp_path):
    names = [(f"{i:03d}", i) for i in range(8)]
    write_pngs(tmp_path / "testA", names, "A")
    write_pngs(tmp_path / "testB", names, "B")
    r = score_model(Identity(), str(tmp_path), "a2b", n=50, size=32)
    assert (r["n_fake"], r["n_real"]) == (4, 4)
    assert "8 file names appear in both folders" in r["note"]


def test_train_split_when_there_is_no_test_split_and_zip_gives_the_same_score(tmp_path):
    root = tmp_path / "horses2zebras"
    write_pngs(root / "trainA", [(f"a{i}", i) for i in range(5)], "A")
    write_pngs(root / "trainB", [(f"b{i}", 50 + i) for i in range(5)], "B")
    r = score_model(Identity(), str(root), "a2b", n=5, size=32)
    assert "trainA/ (5 of 5)" in r["source"] and "trainB/" in r["reference"]
    z = tmp_path / "data.zip"
    with zipfile.ZipFile(z, "w") as zf:
        for p in sorted(root.rglob("*.png")):
            zf.write(p, p.relative_to(tmp_path))
    rz = score_model(Identity(), str(z), "a2b", n=5, size=32)
    assert (rz["kid"], rz["fid"], rz["n_fake"]) == (r["kid"], r["fid"], r["n_fake"])
    assert "'data.zip'" in rz["source"]


def test_folder_with_one_image_a_side_is_a_clear_error(tmp_path):
    write_pngs(tmp_path / "testA", [("x", 1)], "A")
    write_pngs(tmp_path / "testB", [("y", 2), ("z", 3)], "B")
    with pytest.raises(UserInputError, match="at least 2 images on each side: found 1 in"):
        score_model(Identity(), str(tmp_path), n=10, size=32)


# --- the CLI functions ------------------------------------------------------------------------

def parser():
    ap = argparse.ArgumentParser(prog="python -m cyclegan")
    sub = ap.add_subparsers(dest="command", required=True)
    add_score_arguments(sub.add_parser("score"))
    return ap


def run(argv):
    args = parser().parse_args(["score", *argv])
    return args.func(args)


def test_cli_prints_json(capsys):
    assert run(["--model", "demo:cyclegan", "--n", "8", "--direction", "b2a"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["model"] == "demo:cyclegan" and out["direction"] == "b2a" and out["n_fake"] == 8
    assert out["metric"] == "KID (random features)" and out["features"].startswith("random features")
    assert {"kid", "kid_std", "fid", "identity", "subset_size", "subsets", "data"} <= set(out)
    assert out["kid"] < out["identity"]["kid"]


def test_cli_on_a_folder(tmp_path, capsys):
    write_pngs(tmp_path / "testA", [(f"a{i}", i) for i in range(4)], "A")
    write_pngs(tmp_path / "testB", [(f"b{i}", 9 + i) for i in range(4)], "B")
    assert run(["--model", "demo:dualgan", "--data", str(tmp_path), "--size", "32"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["n_fake"] == out["n_real"] == 4 and out["image_size"] == 32


@pytest.mark.parametrize("argv, message", [
    (["--n", "abc"], "--n must be a whole number, got 'abc'"),
    (["--n", "1"], "--n must be at least 2, got 1"),
    (["--size", "x"], "--size must be a whole number"),
    (["--features", "vgg"], "unknown --features 'vgg'; choose 'random'"),
    (["--features", "inception"], "never downloads them: get weights-inception-2015-12-05-6726825d.pth from "
                                  "https://github.com/toshas/torch-fidelity/releases/download/v0.2.0/"),
    (["--features", "inception", "--inception-weights", "/no/such/file.pth"], "--inception-weights: file not found"),
    (["--direction", "up"], "unknown direction 'up'"),
    (["--data", "demo:moon"], "unknown demo world 'moon'"),
])
def test_cli_user_mistakes(argv, message):
    with pytest.raises(UserInputError) as e:
        run(["--model", "demo:cyclegan", *argv])
    assert message in str(e.value)


class _Touches:
    def __init__(self, path):
        self.path = path

    def __reduce__(self):
        return (open, (self.path, "w"))


@pytest.mark.parametrize("protocol", [2, 4])
@pytest.mark.slow
def test_cli_inception_weights_that_carry_code_are_one_line_and_never_run(tmp_path, protocol):
    """--inception-weights goes through the model loader's reader: torch.load(weights_only=True),
    a pickle that would call something named as such (protocol 4 too, which the safe loader
    cannot parse), no warning text, one `error:` line, exit 2, and the call never made."""
    import subprocess
    import sys

    from conftest import ROOT
    victim = tmp_path / "ran.txt"
    evil = tmp_path / "weights.pth"
    evil.write_bytes(pickle.dumps({"w": _Touches(str(victim))}, protocol=protocol))
    p = subprocess.run([sys.executable, "-m", "cyclegan", "score", "--model", "demo:cyclegan", "--features",
                        "inception", "--inception-weights", str(evil)], cwd=ROOT, capture_output=True, text=True,
                       timeout=300)
    assert p.returncode == 2 and p.stdout == "", (p.returncode, p.stdout)
    lines = p.stderr.strip().splitlines()
    if "torch-fidelity" in p.stderr:
        pytest.skip("torch-fidelity is not installed: the weights are never read")
    assert len(lines) == 1 and lines[0].startswith("error: 'weights.pth' refused: this file would run code"), lines
    assert "open" in lines[0] and not victim.exists()


def test_cli_bad_data_and_models_are_one_message(tmp_path):
    """Folders that are missing, empty or one-sided, a file that is no dataset, a model that is
    not there: each a UserInputError naming the problem (the CLI prints it as one `error:` line)."""
    (tmp_path / "empty").mkdir()
    (tmp_path / "one" / "trainA").mkdir(parents=True)
    (tmp_path / "notes.txt").write_text("hi")
    for argv, message in ((["--data", str(tmp_path / "nope")], "data not found"),
                          (["--data", str(tmp_path / "empty")], "no trainA/ and trainB/ folders"),
                          (["--data", str(tmp_path / "one")], "found folders: trainA/"),
                          (["--data", str(tmp_path / "notes.txt")], "'notes.txt' is neither a folder nor a .zip"),
                          (["--n", "-5"], "--n must be at least 2"), (["--size", "0"], "--size must be at least 8"),
                          (["--size", "99999"], "--size must be at most 2048"),
                          (["--n", "2000000"], "n can be at most 500000 for demo data")):
        with pytest.raises(UserInputError, match=re.escape(message)):
            run(["--model", "demo:cyclegan", *argv])
    with pytest.raises(UserInputError, match="file not found"):
        run(["--model", str(tmp_path / "missing.safetensors")])
    (tmp_path / "junk.pth").write_bytes(b"not a checkpoint")
    with pytest.raises(UserInputError, match="'junk.pth' is not a readable PyTorch checkpoint"):
        run(["--model", str(tmp_path / "junk.pth")])


def test_cli_missing_direction(tmp_path):
    model = cyclegan.load_model("demo:cyclegan")
    model.G_BA = None
    cyclegan.save_model(model, tmp_path / "one")
    with pytest.raises(UserInputError, match="night → day is not available"):
        run(["--model", str(tmp_path / "one"), "--direction", "b2a", "--n", "4"])


# --- Inception from a local file (never downloaded) -------------------------------------------

@pytest.fixture(scope="module")
def fake_inception_weights(tmp_path_factory):
    """A randomly initialised FID Inception saved as .pth: the right keys and shapes, no download.
    Built with torch-fidelity's loader patched out, which is all that would reach the network."""
    pytest.importorskip("torch_fidelity")
    import torch_fidelity.feature_extractor_inceptionv3 as tfi
    from torchmetrics.image.fid import NoTrainInceptionV3
    mp = pytest.MonkeyPatch()
    mp.setattr(tfi, "load_state_dict_from_url", lambda *a, **k: {})
    mp.setattr(tfi.FeatureExtractorInceptionV3, "load_state_dict", lambda self, sd, *a, **k: None)
    try:
        torch.manual_seed(0)
        state = NoTrainInceptionV3(name="inception-v3-compat", features_list=["2048"]).state_dict()
    finally:
        mp.undo()
    path = tmp_path_factory.mktemp("inception") / feats.INCEPTION_FILE
    torch.save(state, path)
    return path


@pytest.mark.slow
def test_inception_features_from_a_local_file(fake_inception_weights):
    r = score_model(Identity(), "demo:daynight", "a2b", n=2, features="inception",
                    inception_weights=fake_inception_weights)
    assert r["metric"] == "KID (inception)" and r["features"] == f"inception ({fake_inception_weights})"
    assert math.isfinite(r["kid"]) and math.isfinite(r["fid"]) and r["n_fake"] == 2


def test_inception_refuses_files_that_are_not_its_weights(tmp_path):
    pytest.importorskip("torch_fidelity")
    wrong = tmp_path / "wrong.pth"
    torch.save({"conv.weight": torch.zeros(2, 2)}, wrong)
    with pytest.raises(UserInputError, match="'wrong.pth' is not the FID Inception v3 weights"):
        feats.load_inception(wrong)
    pickled = tmp_path / "pickled.pth"
    torch.save({"w": Image.new("RGB", (1, 1))}, pickled)  # an arbitrary object: weights_only refuses it
    with pytest.raises(UserInputError, match="'pickled.pth' refused: this file would run code when loaded"):
        feats.load_inception(pickled)
    broken = tmp_path / "broken.safetensors"
    broken.write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{not json}")
    with pytest.raises(UserInputError, match="'broken.safetensors' is not a readable safetensors file"):
        feats.load_inception(broken)
    with pytest.raises(UserInputError, match="never downloads them"):
        score_model(Identity(), "demo:daynight", n=4, features="inception")
