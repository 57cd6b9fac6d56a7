"""CUT and FastCUT as an architecture of the app: presets faithful to the authors' defaults, a
one-direction model everywhere (library, `info`, model card, checkpoints with D_B only), the
parameter counts of the authors' nets, and `python -m cyclegan score` wired into the CLI."""
import json

import pytest
import torch

import cyclegan
from conftest import call_main, tiny_model
from cyclegan import CycleModel, UserInputError, get_preset, load_model, save_model
from cyclegan.cli import main
from cyclegan.weights import read_safetensors

G_PARAMS, D_PARAMS, HEAD_PARAMS = 11_378_179, 2_764_737, 560_384   # tests/test_cut.py counts them by hand


def cli(*args) -> tuple[int, str, str]:
    return call_main(main, *args)


@pytest.mark.parametrize("recipe,lam,idt,flip,decay", [("cut", 1.0, True, False, 0.5),
                                                         ("fastcut", 10.0, False, True, 0.25)])
def test_presets_are_the_authors_defaults(recipe, lam, idt, flip, decay):
    p = get_preset("cut", recipe)
    assert (p.lambda_nce, p.nce_idt, p.flip_equivariance, p.lr_decay_fraction) == (lam, idt, flip, decay)
    assert p.directions == ("a2b",) and p.nce_layers == (0, 4, 8, 12, 16) and p.num_patches == 256
    assert (p.nce_temperature, p.nce_mlp_width, p.gan_loss, p.gan_weight, p.d_loss_scale) == (0.07, 256, "lsgan", 1.0, 0.5)
    assert (p.optimizer, p.lr_g, p.lr_d, p.betas, p.batch_size, p.pool_size) == ("adam", 2e-4, 2e-4, (0.5, 0.999), 1, 0)
    assert (p.init, p.init_gain, p.d_first, p.shared_forward, p.crop_in_decay) == ("xavier", 0.02, True, True, False)
    assert p.generator.kwargs["antialias"] and p.generator.kwargs["antialias_up"] and p.discriminator.kwargs["antialias"]
    assert (p.lambda_cycle, p.lambda_identity) == (0.0, 0.0)
    assert cyclegan.DEFAULT_RECIPE["cut"] == "cut" and list(cyclegan.RECIPES["cut"]) == ["cut", "fastcut"]
    q = get_preset("cut", recipe, "quick")
    assert q.generator.kwargs["n_blocks"] == 5 and q.image_size == 64    # layer 16 is still a residual block


@pytest.mark.parametrize("recipe", ["cut", "fastcut"])
def test_info_shows_the_authors_parameter_counts(tmp_path, recipe):
    """A full-scale checkpoint with its discriminator: G 11,378,179 + D_B 2,764,737; the MLP heads
    (560,384) are what training adds, never saved with the model."""
    model = CycleModel(get_preset("cut", recipe), domains=("horse", "zebra"), directions=("a2b",),
                       with_discriminators=True)
    folder = save_model(model, tmp_path / recipe, include_discriminators=True)
    tensors, _ = read_safetensors(folder / "model.safetensors")
    assert {k.split(".")[0] for k in tensors} == {"G_AB", "D_B"}
    code, out, err = cli("info", folder)
    assert code == 0, err
    info = json.loads(out)
    assert info["parameters"] == {"G_AB": G_PARAMS, "D_B": D_PARAMS}
    assert info["parameters_training_only"] == {"F (PatchNCE MLP heads)": HEAD_PARAMS}
    assert info["parameters_total"] == G_PARAMS
    assert info["one_direction"] is True and info["directions"] == [{"direction": "a2b", "label": "horse → zebra"}]
    assert (info["architecture"], info["recipe"]) == ("cut", recipe)


def test_one_direction_model_everywhere(tmp_path):
    model = tiny_model("cut", with_discriminators=True)
    assert model.directions == ("a2b",) and model.one_direction and model.G_BA is None and model.D_A is None
    folder = save_model(model, tmp_path / "m")
    card = (folder / "README.md").read_text()
    assert "Directions: day → night only: one generator, so no way back and no round trip" in card
    assert "PatchNCE MLP heads" in card
    loaded = load_model(folder)
    assert loaded.directions == ("a2b",) and loaded.preset == model.preset
    img = torch.rand(40, 52, 3).numpy()
    assert loaded.translate(img, "a2b").size == (52, 40)
    with pytest.raises(UserInputError, match=r"only translates day → night; direction night → day is not available "
                                             r"\(CUT trains one generator, so there is no way back\)"):
        loaded.translate(img, "b2a")     # not the single-file hint "load both generators", which cannot apply
    with pytest.raises(UserInputError, match="only translates day → night"):
        loaded.round_trip(img, "a2b")
    code, _, err = cli("translate", "--model", folder, "--direction", "b2a", tmp_path / "x.png", "-o", tmp_path / "y.png")
    assert code == 2
    # a lone .safetensors carries the directions too
    single = save_model(model, tmp_path / "one.safetensors")
    assert load_model(single).directions == ("a2b",)


def test_score_cli_on_demo_and_a_folder(tmp_path):
    model = save_model(tiny_model("cut", size=32), tmp_path / "cut")
    code, out, err = cli("score", "--model", model, "--data", "demo:daynight", "--n", "6", "--size", "32")
    assert code == 0, err
    res = json.loads(out)
    assert res["metric"] == "KID (random features)" and res["n_fake"] == res["n_real"] == 6
    assert res["direction"] == "a2b" and "identity" in res
    cyclegan.demo.export("daynight", tmp_path / "data", n=8, size=32, n_test=8)
    code, out, err = cli("score", "--model", model, "--data", tmp_path / "data", "--n", "4")
    assert code == 0, err
    assert "testA/" in json.loads(out)["source"]
    code, out, err = cli("score", "--model", model, "--data", "demo:daynight", "--direction", "b2a", "--n", "4")
    assert code == 2 and err.startswith("error: ") and "only translates day → night" in err
