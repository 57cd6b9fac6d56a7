"""open_image turns anything a person uploads into correct RGB, or a UserInputError that says why."""
import io
import struct
import warnings
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from cyclegan.errors import UserInputError
from cyclegan.images import check_image, is_image_name, list_images, open_image


def encode(img: Image.Image, fmt: str = "PNG", **kw) -> bytes:
    buf = io.BytesIO()
    img.save(buf, fmt, **kw)
    return buf.getvalue()


def noise(w=64, h=64, seed=0) -> Image.Image:
    return Image.fromarray(np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8))


def png_header_only(w: int, h: int) -> bytes:
    """A valid PNG signature + IHDR (correct CRC) + IEND: claims w x h, holds no pixels."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0)) + chunk(b"IEND", b"")


def write(tmp_path, name: str, data: bytes):
    p = tmp_path / name
    p.write_bytes(data)
    return p


# --- broken and hostile files -------------------------------------------------------------

@pytest.mark.parametrize("fmt,name", [("PNG", "cut.png"), ("JPEG", "cut.jpg")])
def test_truncated_image(tmp_path, fmt, name):
    data = encode(noise(), fmt)
    p = write(tmp_path, name, data[: len(data) // 2])
    with pytest.raises(UserInputError, match="image is truncated or corrupt") as e:
        open_image(p)
    assert name in str(e.value)


@pytest.mark.parametrize("fmt,ext", [("PNG", "png"), ("JPEG", "jpg"), ("GIF", "gif"), ("TIFF", "tif"),
                                     ("BMP", "bmp"), ("WEBP", "webp")])
@pytest.mark.parametrize("kept", [0.5, 0.99])
def test_a_file_cut_short_fails_the_quick_check(tmp_path, fmt, ext, kept):
    """PIL's verify() passes a JPEG, GIF, TIFF or BMP whose pixel data stops early (a download
    cut short); the check must not, or a training run meets the file only when a batch needs it."""
    data = encode(noise(), fmt)
    p = write(tmp_path, f"cut.{ext}", data[: int(len(data) * kept)])
    with pytest.raises(UserInputError, match=f"truncated or corrupt: 'cut.{ext}'"):
        check_image(p)
    assert check_image(write(tmp_path, f"ok.{ext}", data)) == (64, 64)


def test_a_large_jpeg_cut_short_fails_the_quick_check(tmp_path):
    big = noise(64, 48).resize((4000, 3000))
    p = write(tmp_path, "big.jpg", encode(big, "JPEG", quality=90))
    assert check_image(p) == (4000, 3000)
    data = p.read_bytes()
    with pytest.raises(UserInputError, match="truncated"):
        check_image(write(tmp_path, "big-cut.jpg", data[: len(data) * 9 // 10]))


def test_empty_file(tmp_path):
    with pytest.raises(UserInputError, match=r"file is empty \(0 bytes\)"):
        open_image(write(tmp_path, "empty.png", b""))
    with pytest.raises(UserInputError, match=r"file is empty \(0 bytes\)"):
        open_image(b"")
    with pytest.raises(UserInputError, match=r"file is empty \(0 bytes\)"):
        open_image(io.BytesIO(b""))


def test_html_named_png(tmp_path):
    p = write(tmp_path, "x.png", b"<!DOCTYPE html><html><body>404 Not Found</body></html>")
    with pytest.raises(UserInputError, match="not an image: could not identify the file format of 'x.png'") as e:
        open_image(p)
    assert "web page" in str(e.value)


HEIC = Path(__file__).parent / "data"       # made with pillow-heif from ui/examples/rocket.jpg (tests/data/README.md)


def heic_bytes(brand: bytes = b"heic") -> bytes:
    """The start of an iPhone photo: an ISO-BMFF 'ftyp' box with a HEIC brand (no real pixels)."""
    return b"\x00\x00\x00\x18ftyp" + brand + b"\x00\x00\x00\x00mif1heic" + b"\x00" * 64


def rocket_192() -> np.ndarray:
    from ui.translate_tab import PHOTOS
    return np.asarray(Image.open(PHOTOS / "rocket.jpg").convert("RGB").resize((192, 128), Image.LANCZOS), np.float64)


def psnr(a, b) -> float:
    return float(10 * np.log10(255.0 ** 2 / ((np.asarray(a, np.float64) - np.asarray(b, np.float64)) ** 2).mean()))


def test_an_iphone_heic_photo_reads_upright():
    """pi-heif decodes HEIC: the pixels are the photo's (the file is the rocket at 192×128,
    HEVC-coded), and a photo taken sideways (IMG_0001.HEIC: rotation 6) comes out upright once."""
    assert is_image_name("IMG_0001.HEIC") and is_image_name("x.heif")
    flat = open_image(HEIC / "rocket.heic")
    assert flat.size == (192, 128) and flat.mode == "RGB"
    assert psnr(flat, rocket_192()) > 35
    upright = open_image(HEIC / "IMG_0001.HEIC")
    assert upright.size == (128, 192) == check_image(HEIC / "IMG_0001.HEIC")
    assert psnr(upright.transpose(Image.Transpose.ROTATE_90), rocket_192()) > 35
    assert open_image((HEIC / "rocket.heic").read_bytes()).size == (192, 128)        # bytes, as uploads


@pytest.mark.parametrize("brand", [b"heic", b"mif1"])
def test_a_broken_heic_says_so(tmp_path, brand):
    with pytest.raises(UserInputError) as e:
        open_image(write(tmp_path, "IMG_0002.HEIC", heic_bytes(brand)))
    assert str(e.value) == "image is truncated or corrupt: 'IMG_0002.HEIC' starts like a HEIC/HEIF photo but cannot be read"
    # cut short: the header reads, the pixels do not; the check decodes a small one whole
    cut = write(tmp_path, "IMG_0003.HEIC", (HEIC / "rocket.heic").read_bytes()[:8000])
    for read in (open_image, check_image):
        with pytest.raises(UserInputError, match=r"^image is truncated or corrupt: 'IMG_0003.HEIC' \(.*end of file"):
            read(cut)


def test_a_heic_claiming_billions_of_pixels_is_refused_before_decoding(tmp_path):
    data = bytearray((HEIC / "rocket.heic").read_bytes())
    at = data.find(b"ispe")                     # the image's size property: width, height
    assert at > 0
    data[at + 8:at + 16] = struct.pack(">II", 60000, 60000)
    bomb = write(tmp_path, "bomb.heic", bytes(data))
    for read in (open_image, check_image):
        with pytest.raises(UserInputError, match=r"60000×60000 \(3.6 gigapixels\), over the limit"):
            read(bomb)


def test_a_jpeg_over_the_pixel_limit_can_be_read_smaller(tmp_path, monkeypatch):
    """A phone's 48- or 50-megapixel JPEG over the limit: the page reads it at 1/2, 1/4 or 1/8
    scale (the decoder skips the detail, so no more than the limit is decoded); the library still
    refuses it whole. Other formats, and JPEGs too large even at 1/8, are not shrunk."""
    from cyclegan.images import open_shrunk, shrink_factor
    photo = noise(200, 120)
    jpeg = write(tmp_path, "big.jpg", encode(photo, "JPEG", quality=95))
    assert [shrink_factor(jpeg, max_pixels=m) for m in (24_000, 23_999, 5_999, 1_499, 374)] == [1, 2, 4, 8, 1]
    assert shrink_factor(write(tmp_path, "big.png", encode(photo)), max_pixels=6_000) == 1
    assert shrink_factor(write(tmp_path, "notes.jpg", b"not a jpeg"), max_pixels=6_000) == 1
    monkeypatch.setenv("CYCLEGAN_MAX_IMAGE_PIXELS", "6000")
    with pytest.raises(UserInputError, match=r"200×120 \(24,000 pixels\), over the limit of 6,000 pixels"):
        open_image(jpeg)
    small = open_shrunk(jpeg, 4)
    assert small.size == (50, 30) and small.mode == "RGB"
    # upright: a phone photo stored sideways with EXIF orientation 6 comes out turned, like open_image's
    exif = Image.Exif()
    exif[0x0112] = 6
    turned = write(tmp_path, "IMG_0002.JPG", encode(photo, "JPEG", quality=95, exif=exif.tobytes()))
    assert shrink_factor(turned) == 2 and open_shrunk(turned, 2).size == (60, 100)
    with pytest.raises(UserInputError, match="only a JPEG"):
        open_shrunk(write(tmp_path, "big2.png", encode(photo)), 4)


def test_without_pi_heif_a_heic_photo_is_named_with_what_to_do(tmp_path, monkeypatch):
    from cyclegan import images
    monkeypatch.setattr(images, "_heif_registered", False)      # as where pi-heif is not installed
    with pytest.raises(UserInputError) as e:
        open_image(write(tmp_path, "IMG_0001.HEIC", (HEIC / "rocket.heic").read_bytes()))
    assert str(e.value) == ("'IMG_0001.HEIC' is a HEIC/HEIF photo, the format iPhones save, which this installation "
                            "cannot read: install pi-heif (pip install pi-heif) or export it as JPEG or PNG")
    with pytest.raises(UserInputError, match="HEIC/HEIF photo"):
        check_image(write(tmp_path, "IMG_0002.heic", heic_bytes()))


def test_avif_reads_where_pillow_can():
    from PIL import features
    if not features.check("avif"):
        assert not is_image_name("x.avif")
        pytest.skip("this Pillow has no AVIF support")
    assert is_image_name("photo.AVIF")
    out = open_image(encode(noise(32, 24), "AVIF"))
    assert out.size == (32, 24) and out.mode == "RGB"


def test_text_named_png(tmp_path):
    with pytest.raises(UserInputError, match="not an image: could not identify the file format of 'notes.png'") as e:
        open_image(write(tmp_path, "notes.png", b"just some notes\nsecond line\n"))
    assert "text file" in str(e.value)


def test_png_signature_with_garbage_is_corrupt_not_unknown(tmp_path):
    p = write(tmp_path, "bad.png", b"\x89PNG\r\n\x1a\n" + b"\x00" * 40)
    with pytest.raises(UserInputError, match="truncated or corrupt.*PNG"):
        open_image(p)


def test_missing_file_and_folder(tmp_path):
    with pytest.raises(UserInputError, match="file not found: .*nope.png"):
        open_image(tmp_path / "nope.png")
    with pytest.raises(UserInputError, match="is a folder, not an image file"):
        open_image(tmp_path)


def test_giant_header_refused_before_decoding(tmp_path):
    p = write(tmp_path, "bomb.png", png_header_only(50000, 50000))
    assert p.stat().st_size < 100
    before = Image.MAX_IMAGE_PIXELS
    with pytest.raises(UserInputError) as e:
        open_image(p)
    msg = str(e.value)
    assert "image is 50000×50000 (2.5 gigapixels), over the limit of 40 megapixels (CYCLEGAN_MAX_IMAGE_PIXELS)" == msg
    with pytest.raises(UserInputError, match="50000×50000"):
        check_image(p)
    assert Image.MAX_IMAGE_PIXELS == before  # PIL's global setting is left as it was


def test_pil_bomb_warning_as_error_becomes_our_error(tmp_path):
    p = write(tmp_path, "big.png", png_header_only(10000, 10000))  # 100 MP: PIL warns, does not raise
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(UserInputError, match=r"image is 10000×10000 \(100 megapixels\)"):
            open_image(p)


def test_our_limit_replaces_pils(tmp_path, monkeypatch):
    p = write(tmp_path, "bomb.png", png_header_only(50000, 50000))
    monkeypatch.setenv("CYCLEGAN_MAX_IMAGE_PIXELS", "3_000_000_000")
    with pytest.raises(UserInputError) as e:  # PIL's own 179 MP bomb error did not get in the way:
        check_image(p)  # the header passes and the missing pixel data is what gets reported
    assert "truncated or corrupt" in str(e.value) and "CYCLEGAN_MAX_IMAGE_PIXELS" not in str(e.value)


def test_pixel_limit_from_argument_and_env(tmp_path, monkeypatch):
    p = write(tmp_path, "small.png", encode(noise(20, 10)))
    assert open_image(p, max_pixels=200).size == (20, 10)
    with pytest.raises(UserInputError, match=r"image is 20×10 \(200 pixels\), over the limit of 199 pixels"):
        open_image(p, max_pixels=199)
    monkeypatch.setenv("CYCLEGAN_MAX_IMAGE_PIXELS", "100")
    with pytest.raises(UserInputError, match="CYCLEGAN_MAX_IMAGE_PIXELS"):
        open_image(p)
    with pytest.raises(UserInputError, match="over the limit"):
        open_image(np.zeros((10, 20, 3), np.uint8))


# --- colour modes ---------------------------------------------------------------------------

def test_16bit_grayscale_is_scaled_not_clipped(tmp_path):
    a = np.full((8, 8), 32768, np.uint16)
    a[0, 0], a[0, 1] = 0, 65535
    src = Image.fromarray(a)
    assert src.mode.startswith("I;16")
    img = open_image(write(tmp_path, "g16.png", encode(src)))
    out = np.asarray(img)
    assert img.mode == "RGB" and out.shape == (8, 8, 3)
    assert abs(int(out[4, 4, 0]) - 128) <= 1
    assert out[0, 0].tolist() == [0, 0, 0] and out[0, 1].tolist() == [255, 255, 255]


def test_32bit_int_and_float_modes():
    i = Image.fromarray(np.full((4, 4), 32768, np.int32))
    assert i.mode == "I"
    assert abs(int(np.asarray(open_image(i))[0, 0, 0]) - 128) <= 1
    f = Image.fromarray(np.full((4, 4), 0.5, np.float32))
    assert f.mode == "F"
    assert abs(int(np.asarray(open_image(f))[0, 0, 0]) - 128) <= 1


def test_cmyk_jpeg(tmp_path):
    cyan = Image.new("CMYK", (16, 16), (255, 0, 0, 0))
    img = open_image(write(tmp_path, "cmyk.jpg", encode(cyan, "JPEG", quality=95)))
    r, g, b = np.asarray(img)[8, 8].tolist()
    assert img.mode == "RGB" and r < 30 and g > 220 and b > 220


def test_palette_transparency_on_white(tmp_path):
    p = Image.new("P", (8, 8), 0)
    p.putpalette([0, 0, 0, 255, 0, 0] + [0] * 762)
    p.paste(1, (0, 0, 4, 8))  # left half red, right half index 0 (black, transparent)
    img = open_image(write(tmp_path, "pal.png", encode(p, transparency=0)))
    out = np.asarray(img)
    assert out[0, 0].tolist() == [255, 0, 0]
    assert out[0, 7].tolist() == [255, 255, 255]


def test_rgba_and_la_composited_on_white(tmp_path):
    a = np.zeros((4, 4, 4), np.uint8)
    a[..., 0] = 255  # red ...
    a[0, 0, 3] = 255  # ... opaque in one pixel
    a[1, 1, :] = (0, 0, 0, 128)  # half-transparent black
    img = open_image(write(tmp_path, "rgba.png", encode(Image.fromarray(a))))
    out = np.asarray(img)
    assert out[0, 0].tolist() == [255, 0, 0]
    assert out[3, 3].tolist() == [255, 255, 255]
    assert all(abs(v - 127) <= 2 for v in out[1, 1].tolist())
    la = Image.fromarray(np.stack([np.zeros((4, 4), np.uint8), np.zeros((4, 4), np.uint8)], -1))
    assert la.mode == "LA"
    assert np.asarray(open_image(la)).min() == 255


def test_bilevel_and_gray():
    one = Image.new("1", (4, 4), 1)
    assert np.asarray(open_image(one)).min() == 255
    gray = Image.new("L", (4, 4), 77)
    assert np.asarray(open_image(gray)).tolist()[0][0] == [77, 77, 77]


def test_animated_gif_and_apng_first_frame(tmp_path):
    frames = [Image.new("RGB", (8, 8), (255, 0, 0)), Image.new("RGB", (8, 8), (0, 0, 255))]
    for name, fmt in [("anim.gif", "GIF"), ("anim.png", "PNG")]:
        data = encode(frames[0], fmt, save_all=True, append_images=frames[1:], duration=100, loop=0)
        p = write(tmp_path, name, data)
        with Image.open(p) as check:
            assert getattr(check, "n_frames", 1) == 2
        out = np.asarray(open_image(p))
        assert out[4, 4].tolist() == [255, 0, 0], name


def test_exif_orientation_applied(tmp_path):
    img = Image.new("RGB", (16, 8), (0, 255, 0))
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90° clockwise to display
    p = write(tmp_path, "phone.jpg", encode(img, "JPEG", exif=exif))
    with Image.open(p) as raw:
        assert raw.size == (16, 8)
    assert open_image(p).size == (8, 16)


def test_tiny_and_extreme_aspect(tmp_path):
    assert open_image(write(tmp_path, "1x1.png", encode(Image.new("RGB", (1, 1), (1, 2, 3))))).getpixel((0, 0)) == (1, 2, 3)
    tall = open_image(write(tmp_path, "strip.png", encode(Image.new("L", (1, 4000), 9))))
    assert tall.size == (1, 4000) and tall.mode == "RGB"


# --- other kinds of input -------------------------------------------------------------------

def test_bytes_filelike_and_pil_inputs(tmp_path):
    data = encode(noise(12, 7))
    for src in (data, bytearray(data), io.BytesIO(data)):
        img = open_image(src)
        assert img.size == (12, 7) and img.mode == "RGB"
    original = Image.new("RGBA", (5, 5), (0, 0, 0, 0))
    out = open_image(original)
    assert out is not original and original.mode == "RGBA"
    assert np.asarray(out).min() == 255
    with pytest.raises(UserInputError, match="not an image"):
        open_image(b"hello there")


def test_numpy_inputs():
    gray = np.full((3, 5), 200, np.uint8)
    assert np.asarray(open_image(gray)).shape == (3, 5, 3)
    rgb = np.zeros((3, 5, 3), np.uint8)
    rgb[..., 2] = 255
    assert np.asarray(open_image(rgb))[0, 0].tolist() == [0, 0, 255]
    rgba = np.zeros((3, 5, 4), np.uint8)
    assert np.asarray(open_image(rgba)).min() == 255  # fully transparent -> white
    u16 = np.full((2, 2, 3), 32768, np.uint16)
    assert abs(int(np.asarray(open_image(u16))[0, 0, 0]) - 128) <= 1
    f = np.full((2, 2, 3), 0.5, np.float32)
    assert np.asarray(open_image(f))[0, 0].tolist() == [128, 128, 128]
    assert np.asarray(open_image(np.ones((2, 2), bool))).min() == 255
    assert open_image(np.zeros((2, 2, 1), np.uint8)).size == (2, 2)


def test_numpy_inputs_refused_with_hints():
    with pytest.raises(UserInputError, match=r"must be in \[0, 1\], got 0 to 255; divide by 255"):
        open_image(np.linspace(0, 255, 12).reshape(2, 2, 3))
    with pytest.raises(UserInputError, match="channels-first"):
        open_image(np.zeros((3, 8, 8), np.uint8))
    with pytest.raises(UserInputError, match="NaN"):
        open_image(np.full((2, 2), np.nan, np.float32))
    with pytest.raises(UserInputError, match="HxW, HxWx3 or HxWx4"):
        open_image(np.zeros((2, 2, 3, 1), np.uint8))


def test_image_names_and_listing(tmp_path):
    for name in ["b.PNG", "a.jpg", "c.jpeg", "d.bmp", "e.webp", "f.gif", "g.tif", "h.tiff"]:
        assert is_image_name(name), name
    for name in ["notes.txt", "x.png.zip", "._a.png", ".hidden.jpg", "noext"]:
        assert not is_image_name(name), name
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "inner.png").write_bytes(b"x")
    for name in ["b.png", "a.JPG", "z.txt", "._a.png"]:
        (tmp_path / name).write_bytes(b"x")
    assert [p.name for p in list_images(tmp_path)] == ["a.JPG", "b.png"]
    with pytest.raises(UserInputError, match="folder not found"):
        list_images(tmp_path / "missing")


def test_the_quick_check_bounds_its_own_cost(tmp_path, monkeypatch):
    """A dataset's files are all checked before its run starts, outside the run's time limit: a
    JPEG decodes at 1/8 scale whatever its size, a GIF, TIFF or BMP whole only up to 4 megapixels
    (a zip of 20,000 40-megapixel GIFs would otherwise take over half an hour)."""
    from cyclegan import images
    decoded = []
    monkeypatch.setattr(images, "_decode_small", lambda f, name: decoded.append(name))
    for name, size, fmt in (("big.gif", (2500, 2000), "GIF"), ("small.gif", (2000, 2000), "GIF"),
                            ("big.jpg", (2500, 2000), "JPEG"), ("big.png", (2500, 2000), "PNG")):
        check_image(write(tmp_path, name, encode(Image.new("RGB", size, "gray"), fmt)))
    assert decoded == ["small.gif", "big.jpg"]      # PNG: verify() already read every byte
