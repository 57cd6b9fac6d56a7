"""Saving and loading: our folders / single files / zips round-trip exactly; the authors'
CycleGAN .pth files load key-for-key and compute what the authors' generator computes; every
kind of bad file is a UserInputError that says what is wrong."""
import json
import os
import pickle
import shutil

import pytest
import torch
from safetensors.torch import load_file, save_file
from torch import nn

from conftest import tiny_model
from cyclegan import UserInputError, load_model, save_model


pytestmark = pytest.mark.usefixtures("one_thread")


# --- the authors' generators, written from their code, as the reference ------------------------
class RefResnetBlock(nn.Module):
    def __init__(self, dim, use_dropout):
        super().__init__()
        block = [nn.ReflectionPad2d(1), nn.Conv2d(dim, dim, 3, padding=0, bias=True), nn.InstanceNorm2d(dim), nn.ReLU(True)]
        if use_dropout:
            block += [nn.Dropout(0.5)]
        block += [nn.ReflectionPad2d(1), nn.Conv2d(dim, dim, 3, padding=0, bias=True), nn.InstanceNorm2d(dim)]
        self.conv_block = nn.Sequential(*block)

    def forward(self, x):
        return x + self.conv_block(x)


class RefResnetGenerator(nn.Module):
    def __init__(self, ngf=64, n_blocks=9, use_dropout=False):
        super().__init__()
        model = [nn.ReflectionPad2d(3), nn.Conv2d(3, ngf, 7, padding=0, bias=True), nn.InstanceNorm2d(ngf), nn.ReLU(True)]
        for i in range(2):
            mult = 2 ** i
            model += [nn.Conv2d(ngf * mult, ngf * mult * 2, 3, stride=2, padding=1, bias=True),
                      nn.InstanceNorm2d(ngf * mult * 2), nn.ReLU(True)]
        for _ in range(n_blocks):
            model += [RefResnetBlock(ngf * 4, use_dropout)]
        for i in range(2):
            mult = 2 ** (2 - i)
            model += [nn.ConvTranspose2d(ngf * mult, ngf * mult // 2, 3, stride=2, padding=1, output_padding=1, bias=True),
                      nn.InstanceNorm2d(ngf * mult // 2), nn.ReLU(True)]
        model += [nn.ReflectionPad2d(3), nn.Conv2d(ngf, 3, 7, padding=0), nn.Tanh()]
        self.model = nn.Sequential(*model)

    def forward(self, x):
        return self.model(x)


class RefUnetBlock(nn.Module):
    def __init__(self, outer_nc, inner_nc, input_nc=None, submodule=None, outermost=False, innermost=False, use_dropout=False):
        super().__init__()
        self.outermost = outermost
        input_nc = outer_nc if input_nc is None else input_nc
        downconv = nn.Conv2d(input_nc, inner_nc, 4, stride=2, padding=1, bias=True)
        downrelu, downnorm = nn.LeakyReLU(0.2, True), nn.InstanceNorm2d(inner_nc)
        uprelu, upnorm = nn.ReLU(True), nn.InstanceNorm2d(outer_nc)
        if outermost:
            upconv = nn.ConvTranspose2d(inner_nc * 2, outer_nc, 4, stride=2, padding=1)
            model = [downconv, submodule, uprelu, upconv, nn.Tanh()]
        elif innermost:
            upconv = nn.ConvTranspose2d(inner_nc, outer_nc, 4, stride=2, padding=1, bias=True)
            model = [downrelu, downconv, uprelu, upconv, upnorm]
        else:
            upconv = nn.ConvTranspose2d(inner_nc * 2, outer_nc, 4, stride=2, padding=1, bias=True)
            model = [downrelu, downconv, downnorm, submodule, uprelu, upconv, upnorm]
            if use_dropout:
                model += [nn.Dropout(0.5)]
        self.model = nn.Sequential(*model)

    def forward(self, x):
        return self.model(x) if self.outermost else torch.cat([x, self.model(x)], 1)


class RefUnetGenerator(nn.Module):
    def __init__(self, num_downs, ngf=64):
        super().__init__()
        block = RefUnetBlock(ngf * 8, ngf * 8, innermost=True)
        for _ in range(num_downs - 5):
            block = RefUnetBlock(ngf * 8, ngf * 8, submodule=block, use_dropout=True)
        block = RefUnetBlock(ngf * 4, ngf * 8, submodule=block)
        block = RefUnetBlock(ngf * 2, ngf * 4, submodule=block)
        block = RefUnetBlock(ngf, ngf * 2, submodule=block)
        self.model = RefUnetBlock(3, ngf, input_nc=3, submodule=block, outermost=True)

    def forward(self, x):
        return self.model(x)


def ref_resnet(seed, **kw):
    torch.manual_seed(seed)
    return RefResnetGenerator(**kw).eval()


def ref_translate(net, x01):
    with torch.no_grad():
        return ((net(x01 * 2 - 1) + 1) / 2).clamp(0, 1)


def assert_same_output(model, direction, ref, size=(24, 40), seed=1):
    x = torch.rand((1, 3) + size, generator=torch.Generator().manual_seed(seed))
    ours = model.translate_tensor(x, direction)
    assert torch.allclose(ours, ref_translate(ref, x), atol=2e-5), float((ours - ref_translate(ref, x)).abs().max())


# --- official files --------------------------------------------------------------------------
def test_reference_has_the_documented_layout():
    keys = set(RefResnetGenerator(ngf=8).state_dict())
    assert {"model.1.weight", "model.4.bias", "model.7.weight", "model.10.conv_block.1.weight",
            "model.18.conv_block.5.bias", "model.19.weight", "model.22.weight", "model.26.bias"} <= keys
    assert len(keys) == 48


def test_official_resnet9_file_loads_and_matches_the_authors_generator(tmp_path):
    ref = ref_resnet(0, ngf=8, n_blocks=9)
    path = tmp_path / "horse2zebra.pth"
    torch.save(ref.state_dict(), path)
    model = load_model(path)
    assert model.architecture == "cyclegan"
    assert model.preset.generator.family == "resnet"
    assert model.preset.generator.kwargs == {"ngf": 8, "n_blocks": 9, "dropout": False, "upsample": "deconv"}
    assert model.image_size == 256
    assert model.domains == ("horse", "zebra")
    assert model.directions == ("a2b",)
    assert model.direction_label("a2b") == "horse → zebra"
    assert_same_output(model, "a2b", ref)
    with pytest.raises(UserInputError, match="not available"):
        model.translate_tensor(torch.rand(1, 3, 8, 8), "b2a")


def test_official_resnet6_with_dropout_and_old_norm_buffers(tmp_path):
    ref = ref_resnet(1, ngf=8, n_blocks=6, use_dropout=True)
    sd = ref.state_dict()
    assert "model.10.conv_block.6.weight" in sd and "model.23.weight" in sd
    # what PyTorch 0.3-era downloads carry: InstanceNorm statistics the net must ignore
    g = torch.Generator().manual_seed(5)
    for k, ch in (("model.2", 8), ("model.5", 16), ("model.10.conv_block.2", 32), ("model.10.conv_block.7", 32)):
        sd[f"{k}.running_mean"] = torch.randn(ch, generator=g) * 5
        sd[f"{k}.running_var"] = torch.rand(ch, generator=g) * 9 + 1
        sd[f"{k}.num_batches_tracked"] = torch.tensor(1234)
    path = tmp_path / "latest_net_G_A.pth"
    torch.save(sd, path)
    model = load_model(str(path))
    assert model.preset.generator.kwargs["n_blocks"] == 6
    assert model.preset.generator.kwargs["dropout"] is True
    assert model.image_size == 128
    assert model.directions == ("a2b",)
    assert_same_output(model, "a2b", ref)            # eval: dropout off, buffers unused


@pytest.mark.parametrize("prefix", ["module.", "_orig_mod.", "module._orig_mod."])
def test_official_file_with_wrapper_prefixes(tmp_path, prefix):
    ref = ref_resnet(2, ngf=4, n_blocks=6)
    torch.save({prefix + k: v for k, v in ref.state_dict().items()}, tmp_path / "g.pth")
    assert_same_output(load_model(tmp_path / "g.pth"), "a2b", ref)


@pytest.mark.parametrize("num_downs,size", [(7, 128), (8, 256)])
def test_official_unet_files(tmp_path, num_downs, size):
    torch.manual_seed(3)
    ref = RefUnetGenerator(num_downs, ngf=4).eval()
    assert "model.model.1.model.3.model.1.weight" in ref.state_dict()
    torch.save(ref.state_dict(), tmp_path / f"facades_label2photo_unet{size}.pth")
    model = load_model(tmp_path / f"facades_label2photo_unet{size}.pth")
    assert model.preset.generator.family == "unet"
    assert model.preset.generator.kwargs["num_downs"] == num_downs
    assert model.image_size == size
    assert model.domains == ("label", "photo")
    assert_same_output(model, "a2b", ref, size=(size, size))


def test_single_G_B_file_is_a_one_direction_b2a_model(tmp_path):
    ref = ref_resnet(4, ngf=4, n_blocks=6)
    torch.save(ref.state_dict(), tmp_path / "latest_net_G_B.pth")
    model = load_model(tmp_path / "latest_net_G_B.pth")
    assert model.directions == ("b2a",)
    assert_same_output(model, "b2a", ref)
    with pytest.raises(UserInputError) as e:
        model.translate_tensor(torch.rand(1, 3, 8, 8), "a2b")
    assert "not available" in str(e.value) and "B → A" in str(e.value)


def _pair(tmp_path, names=("G_A.pth", "G_B.pth")):
    g_a, g_b = ref_resnet(10, ngf=4, n_blocks=6), ref_resnet(11, ngf=4, n_blocks=6)
    torch.save(g_a.state_dict(), tmp_path / names[0])
    torch.save(g_b.state_dict(), tmp_path / names[1])
    return g_a, g_b


@pytest.mark.parametrize("form", ["comma", "list", "reversed", "folder"])
def test_official_pair_gives_both_directions(tmp_path, form):
    names = ("latest_net_G_A.pth", "latest_net_G_B.pth") if form == "folder" else ("G_A.pth", "G_B.pth")
    g_a, g_b = _pair(tmp_path, names)
    spec = {"comma": f"{tmp_path / 'G_A.pth'},{tmp_path / 'G_B.pth'}",
            "list": [tmp_path / "G_A.pth", tmp_path / "G_B.pth"],
            "reversed": [tmp_path / "G_B.pth", tmp_path / "G_A.pth"],
            "folder": tmp_path}[form]
    if form == "folder":   # an older epoch next to latest_ must not confuse it
        torch.save(ref_resnet(12, ngf=4, n_blocks=6).state_dict(), tmp_path / "5_net_G_A.pth")
    model = load_model(spec)
    assert model.directions == ("a2b", "b2a")
    assert_same_output(model, "a2b", g_a)             # official G_A maps A→B: our G_AB
    assert_same_output(model, "b2a", g_b)


def test_two_G_A_files_are_refused(tmp_path):
    _pair(tmp_path, ("x_G_A.pth", "y_G_A.pth"))
    with pytest.raises(UserInputError, match="both files are G_A"):
        load_model([tmp_path / "x_G_A.pth", tmp_path / "y_G_A.pth"])


def test_official_weights_as_bare_safetensors(tmp_path):
    ref = ref_resnet(6, ngf=4, n_blocks=9)
    save_file({k: v.contiguous() for k, v in ref.state_dict().items()}, str(tmp_path / "zebra2horse.safetensors"))
    model = load_model(tmp_path / "zebra2horse.safetensors")
    assert model.domains == ("zebra", "horse")
    assert_same_output(model, "a2b", ref)


def test_loaded_official_model_round_trips_through_our_format(tmp_path):
    ref = ref_resnet(7, ngf=4, n_blocks=6)
    torch.save(ref.state_dict(), tmp_path / "latest_net_G_B.pth")
    save_model(load_model(tmp_path / "latest_net_G_B.pth"), tmp_path / "converted")
    again = load_model(tmp_path / "converted")
    assert again.directions == ("b2a",)
    assert again.provenance["source"] == "official CycleGAN checkpoint"
    assert_same_output(again, "b2a", ref)


# --- our own format ------------------------------------------------------------------------------
PRESETS = [("cyclegan", None), ("discogan", None), ("dualgan", None), ("dualgan", "code-2020")]


def outputs(model, size=40):
    x = torch.rand(2, 3, size, size + 8, generator=torch.Generator().manual_seed(0))
    return {d: model.translate_tensor(x, d) for d in model.directions}


def assert_same_model(a, b):
    assert a.architecture == b.architecture and a.domains == b.domains and a.directions == b.directions
    assert a.preset == b.preset
    oa, ob = outputs(a), outputs(b)
    for d in oa:
        assert torch.equal(oa[d], ob[d]), d


@pytest.mark.parametrize("arch,recipe", PRESETS)
def test_folder_round_trip_is_exact(tmp_path, arch, recipe):
    model = tiny_model(arch, recipe)
    folder = save_model(model, tmp_path / "m")
    assert sorted(p.name for p in folder.iterdir()) == ["README.md", "config.json", "model.safetensors"]
    cfg = json.loads((folder / "config.json").read_text())
    assert (cfg["format"], cfg["architecture"], cfg["recipe"], cfg["scale"]) == \
        ("cyclegan-studio/2", arch, model.preset.recipe, "quick")
    assert cfg["domains"] == ["day", "night"]
    card = (folder / "README.md").read_text()
    assert card.startswith("---\n") and "library_name: cyclegan-studio" in card and f"- {arch}" in card  # Hub metadata
    assert "day" in card and "night" in card and f"recipe `{model.preset.recipe}`" in card
    assert_same_model(model, load_model(folder))


def test_model_card_lists_only_the_nets_saved(tmp_path):
    model = tiny_model(with_discriminators=True)
    card = (save_model(model, tmp_path / "g") / "README.md").read_text()
    assert "G_AB" in card and "D_A" not in card
    card = (save_model(model, tmp_path / "gd", include_discriminators=True) / "README.md").read_text()
    assert "G_AB" in card and "D_A" in card


def test_half_stores_float16_and_loads_into_float32_nets(tmp_path):
    model = tiny_model("dualgan")
    full, half = save_model(model, tmp_path / "f"), save_model(model, tmp_path / "h", half=True)
    stored = load_file(str(half / "model.safetensors"))
    assert {v.dtype for v in stored.values() if v.is_floating_point()} == {torch.float16}
    assert (half / "model.safetensors").stat().st_size < 0.6 * (full / "model.safetensors").stat().st_size
    assert json.loads((half / "config.json").read_text())["stored_as"] == "float16"
    assert "Stored as float16" in (half / "README.md").read_text()
    loaded = load_model(half)
    assert all(p.dtype == torch.float32 for p in loaded.G_AB.parameters())
    for (k, a), b in zip(model.G_AB.state_dict().items(), loaded.G_AB.state_dict().values()):
        if a.is_floating_point():
            assert torch.allclose(a, b, rtol=1e-3, atol=1e-4), k          # only the stored digits differ
            assert torch.equal(a.half().float(), b), k


@pytest.mark.parametrize("arch", ["cyclegan", "discogan", "dualgan"])
def test_single_safetensors_file_carries_its_config(tmp_path, arch):
    model = tiny_model(arch)
    path = save_model(model, tmp_path / "one.safetensors")
    assert path.is_file() and list(tmp_path.iterdir()) == [path]
    assert_same_model(model, load_model(path))


def test_zipped_model_folder(tmp_path):
    model = tiny_model("cyclegan")
    save_model(model, tmp_path / "src" / "daynight")
    archive = shutil.make_archive(str(tmp_path / "daynight"), "zip", tmp_path / "src")   # folder inside the zip
    assert_same_model(model, load_model(archive))
    flat = shutil.make_archive(str(tmp_path / "flat"), "zip", tmp_path / "src" / "daynight")  # files at the root
    assert_same_model(model, load_model(flat))


def test_discriminators_saved_only_when_asked(tmp_path):
    model = tiny_model("cyclegan", with_discriminators=True)
    assert load_model(save_model(model, tmp_path / "g")).D_A is None
    full = load_model(save_model(model, tmp_path / "gd", include_discriminators=True))
    x = torch.rand(1, 3, 32, 32)
    with torch.no_grad():
        assert torch.equal(full.D_A(x), model.D_A(x))


def test_one_direction_model_keeps_its_direction(tmp_path):
    model = tiny_model("dualgan", directions=("b2a",))
    again = load_model(save_model(model, tmp_path / "m"))
    assert again.directions == ("b2a",)
    with pytest.raises(UserInputError, match="not available"):
        again.translate_tensor(torch.rand(1, 3, 8, 8), "a2b")


# --- configs written by cyclegan-studio/1 ----------------------------------------------------
SCHEDULE = ("d_only_batches", "g_only_batches", "d_first", "g_steps_per_batch")
V1 = [  # (v1 preset name, its phases) -> (architecture, recipe, the named schedule fields)
    ("cyclegan", ["GD"], "cyclegan", "paper", (0, 0, False, 1)),
    ("discogan", ["D", "G", "G"], "discogan", "code", (1, 2, False, 1)),
    ("dualgan", ["D", "D", "G"], "dualgan", "paper", (2, 1, False, 1)),
    ("dualgan-code", ["DGG"], "dualgan", "code-2017-08", (0, 0, True, 2)),
    ("dualgan-gp", ["D", "D", "G"], "dualgan", "code-2020", (2, 1, False, 1)),
]


def as_v1(cfg: dict, name: str, phases: list, quick: bool = True) -> dict:
    """A current config written the way cyclegan-studio/1 wrote it."""
    preset = {k: v for k, v in cfg["preset"].items() if k not in ("architecture", "recipe", "scale", *SCHEDULE)}
    preset.update(name=name, phases=phases, title=preset["title"].removesuffix(", quick") + (", quick" if quick else ""))
    old = {k: v for k, v in cfg.items() if k not in ("recipe", "scale")}
    return {**old, "format": "cyclegan-studio/1", "architecture": name, "preset": preset}


@pytest.mark.parametrize("name,phases,arch,recipe,schedule", V1, ids=[v[0] for v in V1])
def test_v1_model_folders_still_load(tmp_path, name, phases, arch, recipe, schedule):
    model = tiny_model(arch, recipe)
    folder = save_model(model, tmp_path / "m")
    cfg = json.loads((folder / "config.json").read_text())
    (folder / "config.json").write_text(json.dumps(as_v1(cfg, name, phases, quick=name != "dualgan")))
    loaded = load_model(folder)
    p = loaded.preset
    assert (p.architecture, p.recipe, loaded.architecture) == (arch, recipe, arch)
    assert p.scale == ("full" if name == "dualgan" else "quick")          # read from the title
    assert tuple(getattr(p, k) for k in SCHEDULE) == schedule
    assert torch.equal(outputs(loaded)["a2b"], outputs(model)["a2b"])


def test_v1_config_in_safetensors_metadata(tmp_path):
    from safetensors import safe_open
    path = save_model(tiny_model("dualgan", "code-2017-08"), tmp_path / "one.safetensors")
    with safe_open(str(path), "pt") as f:
        meta = f.metadata()
    meta["cyclegan_config"] = json.dumps(as_v1(json.loads(meta["cyclegan_config"]), "dualgan-code", ["DGG"]))
    save_file(load_file(str(path)), str(path), metadata=meta)
    assert load_model(path).preset.key == "dualgan/code-2017-08/quick"


def test_v1_config_with_unknown_names_is_refused(tmp_path):
    folder = save_model(tiny_model(), tmp_path / "m")
    cfg = json.loads((folder / "config.json").read_text())
    (folder / "config.json").write_text(json.dumps(as_v1(cfg, "stylegan", ["GD"])))
    assert "unknown architecture 'stylegan'" in _message(folder)
    (folder / "config.json").write_text(json.dumps(as_v1(cfg, "cyclegan", ["GGD"])))
    assert "unknown phases" in _message(folder)


# --- bad files ------------------------------------------------------------------------------------
def _message(spec) -> str:
    with pytest.raises(UserInputError) as e:
        load_model(spec)
    return str(e.value)


@pytest.mark.parametrize("suffix", [".pth", ".safetensors", ".zip"])
def test_random_bytes(tmp_path, suffix):
    path = tmp_path / f"model{suffix}"
    path.write_bytes(os.urandom(4096))
    msg = _message(path)
    assert "model" + suffix in msg
    assert any(w in msg for w in ("not a readable", "not a valid zip")), msg


@pytest.mark.parametrize("suffix", [".pth", ".safetensors", ".zip"])
def test_truncated_files(tmp_path, suffix):
    model = tiny_model("cyclegan")
    full = tmp_path / f"full{suffix}"
    if suffix == ".pth":
        torch.save(ref_resnet(0, ngf=4, n_blocks=6).state_dict(), full)
    elif suffix == ".safetensors":
        save_model(model, full)
    else:
        save_model(model, tmp_path / "m")
        full = tmp_path / shutil.make_archive(str(tmp_path / "full"), "zip", tmp_path / "m")
    data = full.read_bytes()
    cut = tmp_path / f"cut{suffix}"
    cut.write_bytes(data[: len(data) // 2])
    msg = _message(cut)
    assert "cut" + suffix in msg and ("truncated" in msg or "not a valid zip" in msg), msg


@pytest.mark.parametrize("suffix", [".pth", ".safetensors", ".zip"])
def test_empty_files(tmp_path, suffix):
    (tmp_path / f"e{suffix}").write_bytes(b"")
    assert "empty" in _message(tmp_path / f"e{suffix}")


class _CreatesAFile:
    """Unpickling this would call open(path, 'w'): creating the file is the proof of execution."""

    def __init__(self, path):
        self.path = path

    def __reduce__(self):
        return (open, (self.path, "w"))


class _RunsACommand:
    def __reduce__(self):
        return (os.system, ("true",))


@pytest.mark.parametrize("how", ["torch.save", "pickle", "os.system", "protocol4", "opcode"])
def test_pickle_that_runs_code_is_refused(tmp_path, how):
    """Each wording torch 2.x uses for a refused global (`Unsupported global: GLOBAL io.open`,
    `unsupported GLOBAL posix.system whose module posix is blocked`) says the file would run code;
    a protocol-4 pickle, which the safe loader cannot read at all, is refused as such."""
    victim = tmp_path / "pwned.txt"
    path = tmp_path / "horse2zebra.pth"
    if how == "torch.save":
        torch.save({"model.1.weight": torch.zeros(1), "evil": _CreatesAFile(str(victim))}, path)
    elif how == "pickle":
        path.write_bytes(pickle.dumps({"evil": _CreatesAFile(str(victim))}, protocol=2))
    elif how == "os.system":
        torch.save({"model.1.weight": torch.zeros(1), "evil": _RunsACommand()}, path)
    elif how == "protocol4":    # the safe loader stops at FRAME; pickletools still reads what it would call
        path.write_bytes(pickle.dumps({"evil": _CreatesAFile(str(victim))}, protocol=4))
    else:
        path.write_bytes(pickle.dumps({"plain": [1, 2, 3]}, protocol=4))
    msg = _message(path)
    assert not victim.exists()
    assert "horse2zebra.pth' refused" in msg and "never code" in msg, msg
    if how == "opcode":
        assert "pickle opcode" in msg, msg
    else:
        assert "this file would run code when loaded" in msg and ("open" in msg or "system" in msg), msg


def test_whole_pickled_module_is_refused_with_a_hint(tmp_path):
    torch.save(nn.Conv2d(3, 3, 1), tmp_path / "net.pth")
    msg = _message(tmp_path / "net.pth")
    assert "refused" in msg and "state_dict" in msg


def test_state_dict_of_another_architecture(tmp_path):
    # DualGAN generator weights in a .pth: says what it found, and what it expected
    torch.save(tiny_model("dualgan").G_AB.state_dict(), tmp_path / "dual.pth")
    msg = _message(tmp_path / "dual.pth")
    assert "not a CycleGAN generator" in msg and "DualGAN U-Net generator" in msg and "model.1.weight" in msg
    # the official discriminator file
    from cyclegan.nets import build_net
    torch.save(build_net("patchgan", {"ndf": 4}).state_dict(), tmp_path / "latest_net_D_A.pth")
    assert "PatchGAN discriminator" in _message(tmp_path / "latest_net_D_A.pth")
    # a model folder whose weights are another architecture's than its config says
    save_model(tiny_model("cyclegan"), tmp_path / "cg")
    save_model(tiny_model("dualgan"), tmp_path / "dg")
    shutil.copy(tmp_path / "cg" / "model.safetensors", tmp_path / "dg" / "model.safetensors")
    msg = _message(tmp_path / "dg")
    assert "'dualgan'" in msg and "CycleGAN ResNet generator" in msg and "missing" in msg, msg


def test_safetensors_with_wrong_shapes(tmp_path):
    folder = save_model(tiny_model("cyclegan"), tmp_path / "m")
    tensors = load_file(str(folder / "model.safetensors"))
    tensors["G_AB.model.1.weight"] = torch.zeros(5, 3, 7, 7)
    from safetensors import safe_open
    with safe_open(str(folder / "model.safetensors"), "pt") as f:
        meta = f.metadata()
    save_file(tensors, str(folder / "model.safetensors"), metadata=meta)
    msg = _message(folder)
    assert "wrong shape" in msg and "G_AB.model.1.weight" in msg and "(5, 3, 7, 7)" in msg, msg


def _tamper(tmp_path, edit):
    folder = save_model(tiny_model("cyclegan"), tmp_path / "m")
    cfg = json.loads((folder / "config.json").read_text())
    edit(cfg)
    (folder / "config.json").write_text(json.dumps(cfg))
    return _message(folder)


def test_tampered_config_unknown_family(tmp_path):
    msg = _tamper(tmp_path, lambda c: c["preset"]["generator"].update(family="stylegan9"))
    assert "unknown network family 'stylegan9'" in msg


@pytest.mark.parametrize("edit,expect", [
    (lambda c: c["preset"]["generator"]["kwargs"].update(ngf=10 ** 6), "out of range"),
    (lambda c: c["preset"]["generator"]["kwargs"].update(ngf=1024, n_blocks=60), "parameters"),
    (lambda c: c["preset"]["generator"]["kwargs"].update(ngf="64"), "out of range"),
    (lambda c: c["preset"]["generator"]["kwargs"].update(n_blocks=-3), "out of range"),
    (lambda c: c["preset"].update(value_range=[1, 1]), "value_range"),
    (lambda c: c.update(format="something-else/9"), "not a cyclegan-studio model"),
    (lambda c: c.update(domains="AB"), "domains"),
    (lambda c: c["preset"].update(wings=2), "unknown preset fields: wings"),
    (lambda c: c.pop("preset"), "preset"),
])
def test_tampered_config_values(tmp_path, edit, expect):
    assert expect in _tamper(tmp_path, edit)


def test_config_not_json(tmp_path):
    folder = save_model(tiny_model("cyclegan"), tmp_path / "m")
    (folder / "config.json").write_text("{not json")
    assert "not valid JSON" in _message(folder)
    (folder / "config.json").write_text("[1, 2]")
    assert "JSON object" in _message(folder)


def test_missing_things(tmp_path):
    assert "file not found" in _message(tmp_path / "nope.pth")
    (tmp_path / "empty_dir").mkdir()
    assert "model.safetensors" in _message(tmp_path / "empty_dir")
    (tmp_path / "notes.txt").write_text("hello")
    assert "don't know how to load" in _message(tmp_path / "notes.txt")
    assert "no built-in model" in _message("demo:does-not-exist")
    assert "no model given" in _message("  ")
