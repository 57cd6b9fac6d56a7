"""Reading any image a person might hand us, safely, as a plain RGB picture.

Uploads come from strangers: a header can claim 50000 x 50000 pixels, a file can be an HTML page
saved with a .png name, a phone photo stores its rotation in EXIF, a scan can be 16-bit. Every
one of those either becomes a correct RGB image or a `UserInputError` that says what is wrong;
no PIL exception gets out. The pixel limit is checked on the header, before anything is decoded.
"""
from __future__ import annotations

import io
import os
import threading
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageOps, UnidentifiedImageError, features

from . import limits
from .errors import UserInputError

# iPhones save HEIC, which Pillow cannot decode by itself: pi-heif (libheif) reads it, registered
# with Pillow on the first HEIC file seen (its 45 ms of imports are not paid by other images).
# Where pi-heif is not installed, opening one says so with this reason, so a folder of iPhone
# photos is named as unreadable with what to do rather than skipped as "not images".
HEIC_EXTENSIONS = frozenset({".heic", ".heif"})
HEIC_HINT = ("a HEIC/HEIF photo, the format iPhones save, which this installation cannot read: "
             "install pi-heif (pip install pi-heif) or export it as JPEG or PNG")
_HEIC_BRANDS = {b"heic", b"heix", b"hevc", b"hevx", b"heim", b"heis", b"mif1", b"msf1"}
IMAGE_EXTENSIONS = frozenset({".png", ".jpg", ".jpeg", ".bmp", ".webp", ".gif", ".tif", ".tiff"}
                             | ({".avif"} if features.check("avif") else set())   # Pillow ≥ 11.2 with libavif
                             | HEIC_EXTENSIONS)

_SIGNATURES = {  # to tell "a broken PNG" from "not an image at all"
    b"\x89PNG\r\n\x1a\n": "PNG", b"\xff\xd8\xff": "JPEG", b"GIF87a": "GIF", b"GIF89a": "GIF",
    b"BM": "BMP", b"II*\x00": "TIFF", b"MM\x00*": "TIFF",
}
_WHITE = (255, 255, 255, 255)
_pil_limit_lock = threading.Lock()
_heif_lock = threading.Lock()
_heif_registered: bool | None = None     # None: not tried yet


def image_to_tensor(img: Image.Image, value_range: tuple[float, float] = (0.0, 1.0)) -> torch.Tensor:
    """An RGB picture as a float32 [3, H, W] tensor scaled to `value_range` (what the nets see)."""
    x = torch.from_numpy(np.asarray(img.convert("RGB"), dtype=np.uint8).copy()).permute(2, 0, 1).float().div_(255.0)
    lo, hi = value_range
    return x if (lo, hi) == (0.0, 1.0) else x.mul_(hi - lo).add_(lo)


def tensor_to_image(t: torch.Tensor, value_range: tuple[float, float] = (0.0, 1.0)) -> Image.Image:
    """[3, H, W] (or [1, 3, H, W]) in `value_range` back to an RGB picture, rounded to nearest."""
    lo, hi = value_range
    t = t.detach().float().cpu()
    t = ((t[0] if t.dim() == 4 else t) - lo) / (hi - lo)
    arr = (t.clamp(0, 1).permute(1, 2, 0).numpy() * 255.0 + 0.5).astype(np.uint8)
    return Image.fromarray(arr, "RGB")


def is_image_name(name: str | os.PathLike) -> bool:
    """By extension only. Hidden names are not images: macOS zips carry `._photo.png` metadata."""
    p = Path(name)
    return p.suffix.lower() in IMAGE_EXTENSIONS and not p.name.startswith(".")


def list_images(folder: str | os.PathLike) -> list[Path]:
    """Image files directly inside `folder` (not in subfolders), sorted by name."""
    folder = Path(folder)
    if not folder.is_dir():
        raise UserInputError(f"folder not found: '{folder}'")
    return sorted(p for p in folder.iterdir() if p.is_file() and is_image_name(p.name))


def open_image(src, *, max_pixels: int | None = None) -> Image.Image:
    """`src` as a fully loaded RGB image: a path, bytes, a file object, a PIL image or an array.

    Transparency is composited on white, EXIF rotation is applied, animations give their first
    frame, and 16-bit or float data is scaled (not clipped) to 8 bits.
    """
    if max_pixels is None:
        max_pixels = limits.current().max_image_pixels
    if isinstance(src, Image.Image):
        _check_pixels(src.size, max_pixels)
        try:
            src.load()  # an Image.open() result may still be undecoded
        except Exception as e:
            raise UserInputError(f"image is truncated or corrupt ({_reason(e)})") from None
        return _to_rgb(src, detach=True)
    if isinstance(src, np.ndarray) or (hasattr(src, "__array__") and not isinstance(src, (bytes, bytearray, str))):
        return _from_array(np.asarray(src), max_pixels)
    if isinstance(src, (str, os.PathLike)):
        path = Path(src)
        _check_file(path)
        try:
            with open(path, "rb") as f:
                return _decode(f, path.name, max_pixels)
        except PermissionError:
            raise UserInputError(f"cannot read '{path}': permission denied") from None
    if isinstance(src, (bytes, bytearray, memoryview)):
        data = bytes(src)
        name = "the uploaded data"
    elif hasattr(src, "read"):
        data = src.read()
        if not isinstance(data, (bytes, bytearray)):
            raise TypeError("open_image needs a file opened in binary mode ('rb')")
        name = os.path.basename(str(getattr(src, "name", ""))) or "the uploaded file"
    else:
        raise TypeError(f"open_image cannot read a {type(src).__name__}; pass a path, bytes, a file, a PIL image or an array")
    if not data:
        raise UserInputError(f"file is empty (0 bytes): {name}")
    return _decode(io.BytesIO(data), name, max_pixels)


def shrink_factor(path: str | os.PathLike, *, max_pixels: int | None = None) -> int:
    """For a JPEG over the pixel limit (the 48- and 50-megapixel modes of recent phones), the
    smallest of 2, 4 or 8 it can be read at within the limit; 1 for anything else (within the
    limit, or not a JPEG, or too large even at 1/8: `open_image` refuses those with the numbers).
    A header read only."""
    if max_pixels is None:
        max_pixels = limits.current().max_image_pixels
    path = Path(path)
    try:
        with open(path, "rb") as f:
            im = _open_lazy(f, path.name)
            fmt, (w, h) = im.format, im.size
    except (OSError, UserInputError):
        return 1
    if w * h <= max_pixels or fmt not in _DRAFT_FORMATS:
        return 1
    return next((k for k in (2, 4, 8) if -(-w // k) * -(-h // k) <= max_pixels), 1)


def open_shrunk(path: str | os.PathLike, k: int) -> Image.Image:
    """A JPEG read at 1/k scale (k = 2, 4 or 8, from `shrink_factor`): the decoder skips the
    detail, so no more than width/k × height/k pixels are ever decoded. Upright, RGB."""
    path = Path(path)
    _check_file(path)
    with open(path, "rb") as f:
        return _decode(f, path.name, limits.current().max_image_pixels, shrink=k)


def check_image(path: str | os.PathLike, *, max_pixels: int | None = None) -> tuple[int, int]:
    """A quick look (header and checksums, no full decode) that a file is a usable image.

    Returns (width, height); raises UserInputError like `open_image` would. Cheap enough to
    run over a whole dataset when it is opened, so bad files are reported up front.
    """
    if max_pixels is None:
        max_pixels = limits.current().max_image_pixels
    path = Path(path)
    _check_file(path)
    try:
        with open(path, "rb") as f:
            im = _open_lazy(f, path.name)
            _check_pixels(im.size, max_pixels)
            try:
                im.verify()
                full = _FULL_DECODE_PIXELS.get(im.format, _FULL_DECODE_PIXELS_DEFAULT)
                if im.format not in _VERIFY_READS_PIXELS and (im.format in _DRAFT_FORMATS or
                                                              im.width * im.height <= full):
                    _decode_small(f, path.name)
            except UserInputError:
                raise
            except Exception as e:
                raise UserInputError(f"image is truncated or corrupt: '{path.name}' ({_reason(e)})") from None
            return im.size
    except PermissionError:
        raise UserInputError(f"cannot read '{path}': permission denied") from None


# Formats whose verify() reads every byte of the pixel data (PNG checks each chunk's CRC; PIL
# reads a WebP whole on open), so a file cut short fails it. JPEG, GIF, TIFF and BMP pass
# verify() when truncated: a half-downloaded photo would only fail when training reaches it.
_VERIFY_READS_PIXELS = frozenset({"PNG", "WEBP"})
# A JPEG decodes at 1/8 scale: about 10 ms even at the 40-megapixel limit. GIF, TIFF and BMP
# decode whole (a 40-megapixel GIF: ~0.1 s), so a zip of 20,000 of them would take over half an
# hour to check before its run starts, outside the run's time limit; above 4 megapixels (~10 ms)
# they are only verified, and a broken one stops the run when a batch draws it (after a checkpoint).
# HEIC costs ~15–20 ms a file however small (libheif's set-up) and ~30 ns a pixel, so it decodes
# whole only up to half a megapixel: of a phone's 12-megapixel photo the check reads the header,
# and one cut short stops the run when a batch draws it, as a large GIF does.
_DRAFT_FORMATS = frozenset({"JPEG", "MPO"})
_FULL_DECODE_PIXELS = {"HEIF": 500_000}
_FULL_DECODE_PIXELS_DEFAULT = 4_000_000


def _decode_small(f, name: str) -> None:
    """Decode the image to find missing or broken pixel data; a JPEG at 1/8 scale, which still
    reads every coefficient but costs a fraction of a full decode."""
    f.seek(0)
    im = _open_lazy(f, name)
    if im.format in _DRAFT_FORMATS:
        im.draft(None, (max(1, im.width // 8), max(1, im.height // 8)))
    im.load()


def _check_file(path: Path) -> None:
    if not path.exists():
        raise UserInputError(f"file not found: '{path}'")
    if path.is_dir():
        raise UserInputError(f"'{path}' is a folder, not an image file; pick one of the images inside it")
    if path.stat().st_size == 0:
        raise UserInputError(f"file is empty (0 bytes): '{path}'")


def _decode(fp, name: str, max_pixels: int, shrink: int = 1) -> Image.Image:
    im = _open_lazy(fp, name)
    if shrink > 1:  # a JPEG at 1/shrink scale (open_shrunk): the limit applies to what is decoded
        if im.format not in _DRAFT_FORMATS or shrink not in (2, 4, 8):
            raise UserInputError(f"'{name}' cannot be read at 1/{shrink} scale (only a JPEG, at 1/2, 1/4 or 1/8)")
        im.draft("RGB", (im.width // shrink, im.height // shrink))
    _check_pixels(im.size, max_pixels)
    try:
        im.seek(0)  # first frame of GIF / APNG / WebP animations
        im.load()
    except (UserInputError, MemoryError):
        raise
    except Image.DecompressionBombError as e:  # a GIF frame or TIFF tile bigger than the header said
        raise UserInputError(f"image '{name}' is too large to decode safely ({e})") from None
    except Exception as e:  # PIL raises OSError, SyntaxError, ValueError, zlib.error, ... here
        raise UserInputError(f"image is truncated or corrupt: '{name}' ({_reason(e)})") from None
    return _to_rgb(im, detach=True)


def _open_lazy(fp, name: str) -> Image.Image:
    """Image.open, which reads only the header. PIL's own bomb check fires before we can see the
    size (and at a limit that is not ours), so on a bomb we read the header again without it."""
    try:
        return _pil_open(fp, name)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        pass  # the warning arrives as an exception only under -W error
    with _pil_limit_lock:  # the lock only orders our own threads; the window is a header read
        saved, Image.MAX_IMAGE_PIXELS = Image.MAX_IMAGE_PIXELS, None
        try:
            return _pil_open(fp, name)
        finally:
            Image.MAX_IMAGE_PIXELS = saved


def is_heif(path: str | os.PathLike) -> bool:
    """Whether a file is a HEIC/HEIF photo by its content (an iPhone photo renamed .jpg is one)."""
    try:
        with open(path, "rb") as f:
            return _heif_head(f.read(12))
    except OSError:
        return False


def _heif_head(head: bytes) -> bool:
    return head[4:8] == b"ftyp" and head[8:12] in _HEIC_BRANDS


def _heif_opener() -> bool:
    """Register pi-heif's HEIC/HEIF reader with Pillow, once; False where it is not installed
    (or its native library does not load)."""
    global _heif_registered
    with _heif_lock:
        if _heif_registered is None:
            try:
                import pi_heif
                pi_heif.register_heif_opener()
                _heif_registered = True
            except Exception:  # noqa: BLE001 - ImportError, or a wheel whose libheif fails to load
                _heif_registered = False
        return _heif_registered


def _pil_open(fp, name: str) -> Image.Image:
    fp.seek(0)
    head = fp.read(64)
    fp.seek(0)
    heic = _heif_head(head)
    if heic and not _heif_opener():
        raise UserInputError(f"'{name}' is {HEIC_HINT}")
    try:
        return Image.open(fp)
    except UnidentifiedImageError:
        if heic:
            raise UserInputError(f"image is truncated or corrupt: '{name}' starts like a HEIC/HEIF photo "
                                 "but cannot be read") from None
        kind = next((k for sig, k in _SIGNATURES.items() if head.startswith(sig)), None)
        if kind:
            raise UserInputError(f"image is truncated or corrupt: '{name}' starts like a {kind} file but cannot be read") from None
        raise UserInputError(f"not an image: could not identify the file format of '{name}'{_looks_like(head)}") from None
    except (Image.DecompressionBombError, Image.DecompressionBombWarning, UserInputError):
        raise
    except Exception as e:
        raise UserInputError(f"image is truncated or corrupt: '{name}' ({_reason(e)})") from None


def _looks_like(head: bytes) -> str:
    if head[4:12] == b"ftypavif":
        return " (it is an AVIF image, which this Pillow cannot read: save it as JPEG or PNG)"
    text = head.lstrip().lower()
    if text.startswith((b"<!doctype html", b"<html", b"<head", b"<body")):
        return " (it is a web page: save the image itself, not the page that shows it)"
    if text.startswith(b"<svg") or (text.startswith(b"<?xml") and b"<svg" in text):
        return " (it is an SVG drawing: export it as PNG first)"
    decoded = head.decode("utf-8", errors="ignore")
    if decoded and len(decoded) >= len(head) - 3 and all(c.isprintable() or c.isspace() for c in decoded):
        return " (it is a text file)"
    return ""


def _reason(e: Exception) -> str:
    return str(e).strip() or type(e).__name__


def _pixels(n: int) -> str:
    if n >= 1e9:
        return f"{n / 1e9:.3g} gigapixels"
    if n >= 1e6:
        return f"{n / 1e6:.3g} megapixels"
    return f"{n:,} pixels"


def _check_pixels(size: tuple[int, int], max_pixels: int) -> None:
    w, h = size
    if w * h > max_pixels:
        raise UserInputError(f"image is {w}×{h} ({_pixels(w * h)}), over the limit of "
                             f"{_pixels(max_pixels)} (CYCLEGAN_MAX_IMAGE_PIXELS)")
    if w < 1 or h < 1:
        raise UserInputError(f"image is {w}×{h}: it has no pixels")


def _to_rgb(im: Image.Image, detach: bool) -> Image.Image:
    """RGB with the orientation the camera meant and transparency on white.

    `detach` makes sure the result is a new image, not one still tied to an open file or to the
    caller's object (which we must not modify)."""
    try:
        rotated = ImageOps.exif_transpose(im)
    except Exception:  # a broken EXIF block should not cost the user the picture
        rotated = im
    im2 = rotated if rotated is not None else im
    mode = im2.mode
    try:
        if mode in ("I;16", "I;16L", "I;16B", "I;16N", "I", "F"):
            out = Image.fromarray(_gray_to_uint8(np.asarray(im2)), "L").convert("RGB")
        elif mode in ("RGBA", "LA", "PA", "RGBa", "La") or "transparency" in im2.info:
            rgba = im2.convert("RGBA")
            out = Image.alpha_composite(Image.new("RGBA", rgba.size, _WHITE), rgba).convert("RGB")
        elif mode == "RGB":
            out = im2
        else:  # 1, L, P, CMYK, YCbCr, HSV
            out = im2.convert("RGB")
    except Exception as e:
        raise UserInputError(f"cannot convert a {mode} image to RGB ({_reason(e)}); save it as an 8-bit RGB PNG or JPEG") from None
    if detach and out is im:
        out = out.copy()
    return out


def _gray_to_uint8(a: np.ndarray) -> np.ndarray:
    """Wide grayscale to 8 bits by scaling, never by clipping (a mid-gray 16-bit scan must stay gray).

    uint16 is a 0..65535 scale. Mode "I" (int32) and "F" (float) say nothing of their range, so
    we guess from the values: floats within [0, 1] are fractions, values within 0..255 are 8-bit
    data stored wide, within 0..65535 16-bit; anything else is stretched from min to max."""
    if a.dtype.kind == "u" and a.dtype.itemsize == 2:
        return _scale16(a)
    is_float = a.dtype.kind == "f"
    a = np.nan_to_num(a.astype(np.float64), nan=0.0, posinf=0.0, neginf=0.0)
    lo, hi = float(a.min()), float(a.max())
    if is_float and lo >= 0 and hi <= 1:
        return np.round(a * 255).astype(np.uint8)
    if lo >= 0 and hi <= 255:
        return np.round(a).astype(np.uint8)
    if lo >= 0 and hi <= 65535:
        return _scale16(np.round(a))
    return np.round((a - lo) / (hi - lo) * 255).astype(np.uint8)


def _scale16(a: np.ndarray) -> np.ndarray:
    return ((a.astype(np.uint32) * 255 + 32767) // 65535).astype(np.uint8)


def _from_array(a: np.ndarray, max_pixels: int) -> Image.Image:
    """HxW, HxWx1, HxWx2 (gray+alpha), HxWx3 or HxWx4; uint8, uint16, bool, or float in [0, 1]."""
    if a.ndim == 3 and a.shape[2] == 1:
        a = a[:, :, 0]
    if a.ndim not in (2, 3) or (a.ndim == 3 and a.shape[2] not in (2, 3, 4)):
        hint = ""
        if a.ndim == 3 and a.shape[0] in (1, 3, 4):
            hint = "; it looks channels-first, use arr.transpose(1, 2, 0)"
        raise UserInputError(f"image array must be HxW, HxWx3 or HxWx4, got shape {tuple(a.shape)}{hint}")
    h, w = a.shape[:2]
    _check_pixels((w, h), max_pixels)
    if a.dtype == np.bool_:
        a = a.astype(np.uint8) * 255
    elif a.dtype.kind == "f":
        if not np.isfinite(a).all():
            raise UserInputError("image array contains NaN or infinite values")
        lo, hi = float(a.min()), float(a.max())
        if lo < -1e-3 or hi > 1 + 1e-3:
            raise UserInputError(f"float image values must be in [0, 1], got {lo:g} to {hi:g}"
                                 + ("; divide by 255 first" if hi <= 255 and lo >= 0 else ""))
        a = np.round(np.clip(a, 0, 1) * 255).astype(np.uint8)
    elif a.dtype.kind == "u" and a.dtype.itemsize == 2:
        a = _scale16(a)
    elif a.dtype.kind in "ui" and a.dtype != np.uint8:
        lo, hi = int(a.min()), int(a.max())
        if lo < 0 or hi > 255:
            raise UserInputError(f"integer image values must be 0..255 (or use uint16), got {lo} to {hi}")
        a = a.astype(np.uint8)
    elif a.dtype != np.uint8:
        raise UserInputError(f"image arrays must be uint8, uint16 or float in [0, 1], got {a.dtype}")
    return _to_rgb(Image.fromarray(np.ascontiguousarray(a)), detach=False)
