"""Inference on real-world images: any size in, the same size out (tiles for large ones), and
the awkward files people have (EXIF rotation, transparency, 16-bit, 1×1) just work."""
import dataclasses
import io

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn

from conftest import tiny_model as tiny
from cyclegan import CycleModel, UserInputError
from cyclegan.presets import NetSpec


pytestmark = pytest.mark.usefixtures("one_thread")


class PerPixel(nn.Module):
    """A 1×1 conv: each output pixel depends only on its input pixel, so tiling must not show."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 3, 1)
        with torch.no_grad():
            self.conv.weight.copy_(torch.tensor([[0.5, 0.2, 0.1], [0.0, 0.9, 0.0], [-0.3, 0.1, 0.7]])[:, :, None, None])
            self.conv.bias.copy_(torch.tensor([0.1, -0.2, 0.05]))

    def forward(self, x):
        return torch.tanh(self.conv(x))


def identity_model():
    model = tiny()
    model.G_AB = nn.Identity()        # the image pipeline alone: what goes in comes out
    return model


def rgb(w, h, seed=0):
    return Image.fromarray(np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8), "RGB")


@pytest.mark.parametrize("arch", ["cyclegan", "discogan", "dualgan"])
def test_odd_sizes_keep_their_size(arch):
    model = tiny(arch)
    out = model.translate(rgb(333, 517), "a2b")
    assert out.size == (333, 517) and out.mode == "RGB"
    assert np.asarray(out).std() > 0


@pytest.mark.parametrize("arch", ["cyclegan", "discogan", "dualgan"])
def test_one_pixel_image(arch):
    out = tiny(arch).translate(rgb(1, 1), "b2a")
    assert out.size == (1, 1)


def test_official_unet_on_tiny_and_odd_images():
    model = tiny("cyclegan")
    unet = dataclasses.replace(model.preset, generator=NetSpec("unet", {"ngf": 4, "num_downs": 7}))
    model = CycleModel(unet, directions=("a2b",))
    assert model.translate(rgb(1, 1), "a2b").size == (1, 1)
    assert model.translate(rgb(37, 130), "a2b").size == (37, 130)


def test_tiles_blend_to_the_untiled_result_for_a_per_pixel_net():
    model = tiny()
    model.G_AB = PerPixel()
    x = torch.rand(2, 3, 150, 230, generator=torch.Generator().manual_seed(0))
    whole = model.translate_tensor(x, "a2b", max_side=4096)
    tiled = model.translate_tensor(x, "a2b", max_side=64)
    assert tiled.shape == x.shape
    assert torch.allclose(tiled, whole, atol=1e-5)


def test_tiled_resnet_keeps_size_and_has_no_holes():
    model = tiny()
    img = rgb(230, 150)
    out = model.translate(img, "a2b", max_side=64)
    assert out.size == (230, 150)
    whole = np.asarray(model.translate(img, "a2b"), dtype=np.float32)
    tiled = np.asarray(out, dtype=np.float32)
    assert np.isfinite(tiled).all() and tiled.std() > 1
    # a global instance norm sees other statistics per tile, but the picture stays the same picture
    assert np.abs(tiled - whole).mean() < 40


def test_tiled_tensor_batch_and_single_image():
    model = tiny("dualgan")
    x = torch.rand(2, 3, 70, 90)
    y = model.translate_tensor(x, "a2b", max_side=48)
    assert y.shape == x.shape and torch.isfinite(y).all()
    assert model.translate_tensor(x[0], "a2b").shape == (3, 70, 90)


def test_exif_rotation_is_applied():
    model = identity_model()
    img = Image.new("RGB", (40, 20), (255, 0, 0))
    img.paste((0, 0, 255), (0, 0, 20, 20))                   # left half blue
    exif = Image.Exif()
    exif[0x0112] = 6                                         # stored sideways: rotate 90° clockwise to show
    buf = io.BytesIO()
    img.save(buf, "JPEG", exif=exif, quality=95)
    out = model.translate(buf.getvalue(), "a2b")
    assert out.size == (20, 40)                              # upright
    top, bottom = np.asarray(out)[5, 10], np.asarray(out)[35, 10]
    assert top[2] > 200 and top[0] < 60                      # the blue half is now on top
    assert bottom[0] > 200 and bottom[2] < 60


def test_transparent_pixels_become_white():
    model = identity_model()
    a = np.zeros((8, 8, 4), dtype=np.uint8)
    a[:, :4] = (0, 0, 0, 255)                                # opaque black left, transparent right
    out = np.asarray(model.translate(Image.fromarray(a, "RGBA"), "a2b"))
    assert out.shape == (8, 8, 3)
    assert out[:, :4].max() <= 1 and out[:, 4:].min() >= 254


def test_grayscale_and_16bit_images():
    model = identity_model()
    gray = Image.fromarray(np.full((9, 11), 200, dtype=np.uint8), "L")
    out = np.asarray(model.translate(gray, "a2b"))
    assert out.shape == (9, 11, 3) and np.abs(out.astype(int) - 200).max() <= 1
    buf = io.BytesIO()
    Image.fromarray(np.full((9, 11), 32768, dtype=np.uint16)).save(buf, "PNG")   # 16-bit mid gray
    out = np.asarray(model.translate(buf.getvalue(), "a2b"))
    assert np.abs(out.astype(int) - 128).max() <= 1
    real = tiny().translate(buf.getvalue(), "b2a")            # and through a real net
    assert real.size == (11, 9)


def test_paths_arrays_and_work_size(tmp_path):
    model = tiny()
    rgb(50, 30).save(tmp_path / "in.png")
    assert model.translate(tmp_path / "in.png", "a2b").size == (50, 30)
    assert model.translate(np.asarray(rgb(50, 30)), "a2b").size == (50, 30)
    assert model.translate(str(tmp_path / "in.png"), "a2b", work_size=16).size == (50, 30)


def test_round_trip_returns_translation_and_reconstruction():
    model = tiny()
    fake, rec = model.round_trip(rgb(45, 29), "a2b")
    assert fake.size == rec.size == (45, 29)
    assert np.asarray(fake).tolist() != np.asarray(rec).tolist()


def test_one_direction_model_says_the_other_is_unavailable():
    model = tiny(directions=("b2a",))
    for call in (lambda: model.translate(rgb(8, 8), "a2b"), lambda: model.round_trip(rgb(8, 8), "b2a")):
        with pytest.raises(UserInputError) as e:
            call()
        msg = str(e.value)
        assert "night → day" in msg and "day → night" in msg and "not available" in msg
    assert model.translate(rgb(8, 8), "b2a").size == (8, 8)


def test_bad_arguments_are_user_errors():
    model = tiny()
    with pytest.raises(UserInputError, match="unknown direction"):
        model.translate(rgb(8, 8), "sideways")
    with pytest.raises(UserInputError, match="max_side"):
        model.translate(rgb(8, 8), "a2b", max_side=0)
    with pytest.raises(UserInputError, match=r"\[N, 3, H, W\]"):
        model.translate_tensor(torch.rand(1, 4, 8, 8), "a2b")
    with pytest.raises(UserInputError, match="not an image"):
        model.translate(b"hello, this is text", "a2b")


def test_translate_does_not_track_gradients():
    model = tiny()
    y = model.translate_tensor(torch.rand(1, 3, 16, 16, requires_grad=True), "a2b")
    assert not y.requires_grad


def seen_sizes(model, image, **kw) -> tuple[tuple[int, int], tuple[int, int]]:
    """(the output's size, the (H, W) the generator was run at)."""
    seen = []
    hook = model.G_AB.register_forward_pre_hook(lambda m, args: seen.append(tuple(args[0].shape[-2:])))
    try:
        out = model.translate(image, "a2b", max_side=4096, **kw)
    finally:
        hook.remove()
    return out.size, seen[0]


def test_the_processing_size_convention():
    """None or 0: automatic, the photo's own size with its short side capped at 512 px (on a
    CPU); N: a short side of N (its own short side: full resolution however large). The output
    keeps the photo's size every time."""
    from cyclegan.translate import work_side
    model = tiny()                                            # trained at 32 px: not what it runs at
    big, small = rgb(900, 600), rgb(300, 200)
    assert seen_sizes(model, small) == ((300, 200), (200, 300))
    assert seen_sizes(model, big) == ((900, 600), (512, 768))
    assert seen_sizes(model, big, work_size=0) == ((900, 600), (512, 768))
    assert seen_sizes(model, big, work_size=600) == ((900, 600), (600, 900))
    assert seen_sizes(model, big, work_size=64) == ((900, 600), (64, 96))
    assert work_side((2000, 1500), None, "cuda") == 1024 and work_side((900, 600), None, "cuda") is None
    with pytest.raises(UserInputError, match="0 = automatic"):
        model.translate(small, "a2b", work_size=-1)


def test_cli_and_app_read_the_processing_size_the_same_way(tmp_path, capsys):
    from cyclegan import cli, save_model
    from ui import forms
    folder = save_model(tiny(), tmp_path / "m")
    rgb(40, 30).save(tmp_path / "in.png")
    for size in ("0", "16"):
        assert cli.main(["translate", "--model", str(folder), str(tmp_path / "in.png"), "-o", str(tmp_path / "o.png"),
                         "--work-size", size]) == 0
    assert Image.open(tmp_path / "o.png").size == (40, 30)
    with pytest.raises(SystemExit) as e:
        cli.main(["translate", "--model", str(folder), str(tmp_path / "in.png"), "-o", str(tmp_path / "o.png"),
                  "--work-size", "-1"])
    assert e.value.code == 2 and "error: argument --work-size" in capsys.readouterr().err
    assert forms.work_size(None) is None and forms.work_size("") is None
    assert forms.work_size(0) is None and forms.work_size(256.0) == 256
    with pytest.raises(UserInputError, match=r"0 \(automatic: your image's own size, short side at most 512 px\) or 8\.\.4096"):
        forms.work_size(4)
