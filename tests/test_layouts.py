"""Community ResNet CycleGAN generators load and compute what their own code computes.

The reference modules below are written here from each project's published layer list (see
the comment on each); they use torch's own nn.InstanceNorm2d, not ours."""
import importlib.metadata as md
import os
import random

import pytest
import torch
from torch import nn

from cyclegan import UserInputError, layouts
from cyclegan.nets.resnet import ResnetGenerator

pytestmark = pytest.mark.usefixtures("one_thread")


class Block(nn.Module):
    """x + (pad 1 · conv 3×3 · IN · ReLU · pad 1 · conv 3×3 · IN)(x); the attribute name is the
    one each project uses (`conv_block` or `block`)."""

    def __init__(self, ch, affine, attr, dropout=False):
        super().__init__()
        setattr(self, attr, nn.Sequential(
            nn.ReflectionPad2d(1), nn.Conv2d(ch, ch, 3), nn.InstanceNorm2d(ch, affine=affine), nn.ReLU(),
            *([nn.Dropout(0.5)] if dropout else []),
            nn.ReflectionPad2d(1), nn.Conv2d(ch, ch, 3), nn.InstanceNorm2d(ch, affine=affine)))
        self.attr = attr

    def forward(self, x):
        return x + getattr(self, self.attr)(x)


class CommunityGenerator(nn.Module):
    """The skeleton all of them share, one `model` Sequential:
    - aitorzip/PyTorch-CycleGAN models.py `Generator` (77f004a): blocks `conv_block`, transposed
      convs 3×3 s2 p1 op1, non-affine IN; PyTorch-GAN before 2019 (9e3ac57) is the same.
    - eriklindernoren/PyTorch-GAN implementations/cyclegan/models.py `GeneratorResNet` (ce0e5b5,
      unchanged at HEAD 36d3c77): blocks `block`; ReflectionPad2d(channels) around the 7×7 convs;
      upsampling nn.Upsample(scale_factor=2) (nearest) then Conv2d 3×3 stride 1 padding 1 (zeros).
    - vintagify 0.1.2 generator.py `ResnetGenerator`: blocks `block`, transposed convs, every
      InstanceNorm2d with affine=True."""

    def __init__(self, ngf=8, n_blocks=9, upsample="deconv", affine=False, attr="conv_block", channels=3,
                 dropout=False):
        super().__init__()
        def norm(c):
            return nn.InstanceNorm2d(c, affine=affine)
        m = [nn.ReflectionPad2d(3), nn.Conv2d(channels, ngf, 7), norm(ngf), nn.ReLU()]
        c = ngf
        for _ in range(2):
            m += [nn.Conv2d(c, 2 * c, 3, stride=2, padding=1), norm(2 * c), nn.ReLU()]
            c *= 2
        m += [Block(c, affine, attr, dropout) for _ in range(n_blocks)]
        for _ in range(2):
            if upsample == "deconv":
                m += [nn.ConvTranspose2d(c, c // 2, 3, stride=2, padding=1, output_padding=1)]
            else:
                m += [nn.Upsample(scale_factor=2), nn.Conv2d(c, c // 2, 3, stride=1, padding=1)]
            m += [norm(c // 2), nn.ReLU()]
            c //= 2
        m += [nn.ReflectionPad2d(3), nn.Conv2d(c, channels, 7), nn.Tanh()]
        self.model = nn.Sequential(*m)

    def forward(self, x):
        return self.model(x)


LAYOUTS = {
    "aitorzip": dict(upsample="deconv", affine=False, attr="conv_block"),
    "pytorch-gan": dict(upsample="resize", affine=False, attr="block"),
    "vintagify": dict(upsample="deconv", affine=True, attr="block"),
    "pytorch-gan-affine": dict(upsample="resize", affine=True, attr="block"),
    "official-affine": dict(upsample="deconv", affine=True, attr="conv_block"),
}


def reference(name, seed=0, **kw):
    torch.manual_seed(seed)
    net = CommunityGenerator(**{**LAYOUTS[name], **kw}).eval()
    with torch.no_grad():   # affine norms start at 1 / 0: randomise them, so a mix-up shows
        for mod in net.modules():
            if isinstance(mod, nn.InstanceNorm2d) and mod.affine:
                mod.weight.normal_(1.0, 0.3)
                mod.bias.normal_(0.0, 0.3)
    return net


def load_converted(sd, name="g.pth"):
    spec, tensors = layouts.convert(sd, name)
    net = ResnetGenerator(**spec.kwargs).eval()
    net.load_state_dict(tensors)      # strict: every key and shape
    return spec, net


@pytest.mark.parametrize("name", list(LAYOUTS))
@pytest.mark.parametrize("size", [(64, 64), (36, 52)])
def test_layout_gives_the_reference_output(tmp_path, name, size):
    ref = reference(name, n_blocks=3)
    torch.save(ref.state_dict(), tmp_path / "g.pth")
    sd = torch.load(tmp_path / "g.pth", map_location="cpu", weights_only=True)
    spec, net = load_converted(sd)
    lay = LAYOUTS[name]
    assert spec.family == "resnet"
    assert spec.kwargs["ngf"] == 8 and spec.kwargs["n_blocks"] == 3
    assert spec.kwargs["upsample"] == ("deconv" if lay["upsample"] == "deconv" else "resize_zeros")
    assert spec.kwargs.get("norm_affine", False) is lay["affine"]
    x = torch.rand((2, 3) + size, generator=torch.Generator().manual_seed(1)) * 2 - 1
    with torch.no_grad():
        want, got = ref(x), net(x)
    assert got.shape == want.shape == x.shape
    assert torch.allclose(got, want, atol=1e-5), float((got - want).abs().max())


def test_official_layout_keeps_its_old_spec():
    """An official file converts to exactly the spec the official loader always gave."""
    ref = reference("aitorzip", n_blocks=6)
    spec, _ = load_converted(ref.state_dict())
    assert spec.kwargs == {"ngf": 8, "n_blocks": 6, "dropout": False, "upsample": "deconv"}
    assert list(ResnetGenerator(ngf=8, n_blocks=6).state_dict()) == list(ref.state_dict())


def test_official_dropout_is_read_from_the_block_numbering():
    """The official code's `--no_dropout` off: a Dropout between a block's convs (eval ignores it)."""
    ref = reference("aitorzip", n_blocks=2, dropout=True)
    assert "model.10.conv_block.6.weight" in ref.state_dict()
    spec, net = load_converted(ref.state_dict())
    assert spec.kwargs["dropout"] is True
    assert load_converted(reference("aitorzip", n_blocks=2).state_dict())[0].kwargs["dropout"] is False
    x = torch.rand(1, 3, 32, 32) * 2 - 1
    with torch.no_grad():
        assert torch.allclose(net(x), ref(x), atol=1e-5)


@pytest.mark.parametrize("name", ["aitorzip", "pytorch-gan", "vintagify"])
def test_recognised_at_full_size_from_shapes_alone(name):
    with torch.device("meta"):
        ref = CommunityGenerator(**{**LAYOUTS[name], "ngf": 64, "n_blocks": 9})
    layout, _ = layouts.recognise(ref.state_dict())
    assert (layout.ngf, layout.n_blocks, layout.in_ch, layout.out_ch) == (64, 9, 3, 3)
    assert layout.norm_affine is LAYOUTS[name]["affine"]
    spec, tensors = layouts.convert(ref.state_dict())
    assert len(tensors) == (94 if LAYOUTS[name]["affine"] else 48)
    with torch.device("meta"):
        ours = ResnetGenerator(**spec.kwargs)
    assert sum(p.numel() for p in ours.parameters()) == (11_388_675 if LAYOUTS[name]["affine"] else 11_378_179)


def test_key_names_do_not_matter_and_text_sorted_keys_are_reordered():
    """Renamed keys (another attribute name, a wrapper prefix) and keys sorted as text, as
    safetensors stores them, still load: the layout is read from shapes in forward order."""
    ref = reference("vintagify", n_blocks=3)
    sd = {("module." + k).replace(".block.", ".res."): v for k, v in sorted(ref.state_dict().items())}
    assert list(sd)[:3] == ["module.model.1.bias", "module.model.1.weight", "module.model.10.res.1.bias"]
    _, net = load_converted(sd)
    x = torch.rand(1, 3, 40, 40) * 2 - 1
    with torch.no_grad():
        assert torch.allclose(net(x), ref(x), atol=1e-5)


def test_old_norm_buffers_are_ignored():
    ref = reference("aitorzip", n_blocks=2)
    sd = dict(ref.state_dict())
    sd["model.2.running_mean"] = torch.randn(8) * 5
    sd["model.2.running_var"] = torch.rand(8) + 3
    sd["model.2.num_batches_tracked"] = torch.tensor(7)
    spec, net = load_converted(sd)
    assert "norm_affine" not in spec.kwargs
    x = torch.rand(1, 3, 32, 32) * 2 - 1
    with torch.no_grad():
        assert torch.allclose(net(x), ref(x), atol=1e-5)


def message(sd, name="bad.pth"):
    with pytest.raises(UserInputError) as e:
        layouts.convert(sd, name)
    text = str(e.value)
    assert "\n" not in text
    return text


def test_damaged_files_say_what_was_recognised_and_expected():
    sd = reference("vintagify", n_blocks=3).state_dict()
    # the output conv is missing
    cut = {k: v for k, v in sd.items() if not k.startswith("model.20.")}
    assert "model.20.weight" in sd
    msg = message(cut)
    assert "'bad.pth' is not a CycleGAN generator" in msg
    assert "recognised input conv 7×7 3→8" in msg and "3 residual blocks (32 channels)" in msg
    assert "the end of the file" in msg and "7×7 output conv" in msg and "expected a ResNet CycleGAN generator" in msg
    # a block missing its second conv: stops inside the blocks
    half = {k: v for k, v in sd.items() if not k.startswith("model.11.block.5.")}
    msg = message(half)
    assert "1 residual block (32 channels); then found model.11.block.6" in msg
    assert "the second conv 3×3 32→32 of a residual block was expected" in msg
    # tensors shuffled among the keys: shapes no longer in order
    keys = list(sd)
    vals = list(sd.values())
    random.Random(0).shuffle(vals)
    msg = message(dict(zip(keys, vals)))
    assert "was expected" in msg
    # a norm dropped after one conv only
    msg = message({k: v for k, v in sd.items() if not k.startswith("model.5.")})
    assert "norm weights follow 10 of 11 convs" in msg


def test_other_nets_and_empty_files_are_refused():
    from cyclegan.nets import build_net
    msg = message(build_net("patchgan", {"ndf": 4}).state_dict())
    assert "recognised nothing of it" in msg and "7×7 input conv" in msg
    assert "holds no tensors" in message({"epoch": 3})
    no_bias = CommunityGenerator(**LAYOUTS["aitorzip"], n_blocks=1).state_dict()
    del no_bias["model.4.bias"]
    assert "with a bias" in message(no_bias)


def test_pytorch_gan_grey_generator_is_refused_not_miscomputed():
    """Its code pads the 7×7 convs by the channel count, which this net does not do."""
    msg = message(CommunityGenerator(**LAYOUTS["pytorch-gan"], channels=1, n_blocks=1).state_dict())
    assert "pads by the channel count" in msg


# --- the real vintagify file ------------------------------------------------------------------
def _vintagify_installed():
    try:
        md.distribution("vintagify")
        return True
    except md.PackageNotFoundError:
        return False


needs_vintagify = pytest.mark.skipif(not _vintagify_installed(), reason="vintagify is not installed "
                                     "(pip install 'vintagify>=0.1.2'); its weights file is the real community checkpoint")


def _photo():
    """A real photo shipped in an installed package: matplotlib's grace_hopper.jpg (a US Navy
    photo, public domain); vintagify depends on matplotlib, so it is there whenever vintagify is."""
    import importlib.util
    spec = importlib.util.find_spec("matplotlib")
    if spec is None or not spec.submodule_search_locations:
        pytest.skip("matplotlib (a vintagify dependency) is not installed: no real photo to test on")
    path = os.path.join(spec.submodule_search_locations[0], "mpl-data", "sample_data", "grace_hopper.jpg")
    if not os.path.isfile(path):
        pytest.skip(f"no sample photo at {path}")
    return path


@needs_vintagify
def test_real_vintagify_file_converts_and_equals_a_reference_of_its_generator():
    from cyclegan import vintage
    sd = torch.load(vintage.weights_path(), map_location="cpu", weights_only=True)
    assert len(sd) == 94 and "model.2.weight" in sd and "model.10.block.2.weight" in sd
    layout, _ = layouts.recognise(sd)
    assert (layout.ngf, layout.n_blocks, layout.upsample, layout.norm_affine) == (64, 9, "deconv", True)
    ref = CommunityGenerator(**LAYOUTS["vintagify"], ngf=64, n_blocks=9).eval()
    ref.load_state_dict(sd)
    spec, net = load_converted(sd, "G_A2B_epoch33.pth")
    x = torch.rand(1, 3, 48, 64, generator=torch.Generator().manual_seed(3)) * 2 - 1
    with torch.no_grad():
        assert torch.allclose(net(x), ref(x), atol=1e-5)


@needs_vintagify
def test_vintage_model_on_a_real_photo():
    import sys

    import numpy as np
    from PIL import Image

    from cyclegan import vintage
    before = set(sys.modules)
    model = vintage.vintage_model()
    assert not any(m == "vintagify" or m.startswith("vintagify.") for m in set(sys.modules) - before)
    assert model.domains == ("modern", "vintage") and model.directions == ("a2b",)
    prov = model.provenance
    assert prov["licence"] == "MIT" and "vintagify 0.1" in prov["source"] and "only A→B" in prov["directions"]
    assert prov["authors"] and len(prov["sha256"]) == 64
    with pytest.raises(UserInputError, match="not available"):
        model.generator("b2a")
    img = Image.open(_photo()).convert("RGB").resize((128, 150))
    x = torch.from_numpy(np.asarray(img).copy()).permute(2, 0, 1)[None].float() / 127.5 - 1
    with torch.no_grad():
        y = model.G_AB(x[..., :148, :128])
    assert torch.isfinite(y).all() and y.min() >= -1 and y.max() <= 1
    assert y.std() > 0.2                                   # an image, not a constant
    # recognisably the same picture: strongly correlated with the input's brightness
    lum_in, lum_out = x[..., :148, :128].mean(1).flatten(), y.mean(1).flatten()
    assert torch.corrcoef(torch.stack([lum_in, lum_out]))[0, 1] > 0.8
    out = model.translate(img, "a2b")
    assert out.size == img.size


@needs_vintagify
def test_vintage_model_round_trips_through_our_format(tmp_path):
    """Saved as a cyclegan-studio folder it loads again with its options and gives the same numbers
    (what fine-tuning from it and the model card need)."""
    from cyclegan import load_model, save_model
    model = load_model("demo:vintage")     # through load_model, as `again` is: both run the CPU accelerator
    again = load_model(save_model(model, tmp_path / "vintage"))
    assert again.preset.generator.kwargs["norm_affine"] is True
    assert again.domains == ("modern", "vintage") and again.directions == ("a2b",)
    assert again.provenance["licence"] == "MIT"
    x = torch.rand(1, 3, 40, 48, generator=torch.Generator().manual_seed(4))
    assert torch.equal(again.translate_tensor(x, "a2b"), model.translate_tensor(x, "a2b"))


@pytest.mark.parametrize("name", [*LAYOUTS, "official"])
def test_load_model_reads_each_layout_end_to_end(tmp_path, name):
    """The file as a user has it, through the one entry point (`load_model`, the CLI and the app's
    upload use it): a one-direction model whose translation equals the reference module's."""
    from cyclegan import load_model
    if name == "official":
        torch.manual_seed(0)
        ref = ResnetGenerator(ngf=8, n_blocks=3).eval()        # the authors' keys: model.1, model.10.conv_block.1
    else:
        ref = reference(name, n_blocks=3)
    torch.save(ref.state_dict(), tmp_path / "horse2zebra.pth")
    model = load_model(str(tmp_path / "horse2zebra.pth"))
    assert model.directions == ("a2b",) and model.domains == ("horse", "zebra")
    assert model.preset.generator.kwargs["ngf"] == 8 and model.preset.generator.kwargs["n_blocks"] == 3
    x = torch.rand(1, 3, 44, 60, generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        want = (ref(x * 2 - 1) + 1) / 2
    got = model.translate_tensor(x, "a2b")
    assert got.shape == x.shape
    assert torch.allclose(got, want.clamp(0, 1), atol=1e-5), float((got - want).abs().max())


def test_load_model_of_a_file_that_is_no_generator_says_what_it_found(tmp_path):
    from cyclegan import load_model
    sd = reference("aitorzip", n_blocks=2).state_dict()
    sd.pop("model.26.weight" if "model.26.weight" in sd else sorted(sd, key=layouts._natural)[-2])
    torch.save(sd, tmp_path / "broken.pth")
    with pytest.raises(UserInputError, match=r"'broken.pth' is not a CycleGAN generator .*recognised input conv 7×7 "
                                             r"3→8.*2 residual blocks"):
        load_model(str(tmp_path / "broken.pth"))
