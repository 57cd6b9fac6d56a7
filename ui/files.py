"""Files the page hands back to the visitor: translated images, videos and zips, each in its own
new file in one per-process folder; files older than 15 minutes are cleared as new ones arrive."""
import os
import shutil
import tempfile
import time
from pathlib import Path

KEEP_S = 900


def output_path(suffix: str, name: str | None = None) -> str:
    """A new empty file for one result, named `name` if given (the name a download gets) or
    else a fresh one. Each result gets its own: Gradio 6 rewrites its shared cache file for
    equal PIL results in place, so identical concurrent requests could read a half-written image."""
    folder = Path(tempfile.gettempdir()) / f"cyclegan-outputs-{os.getpid()}"
    folder.mkdir(exist_ok=True)
    now = time.time()
    for old in folder.iterdir():
        try:
            if now - old.stat().st_mtime > KEEP_S:
                shutil.rmtree(old) if old.is_dir() else old.unlink()
        except OSError:
            pass
    if name:
        return str(Path(tempfile.mkdtemp(dir=folder)) / name)
    fd, path = tempfile.mkstemp(suffix=suffix, dir=folder)
    os.close(fd)
    return path


def output_png(img) -> str:
    path = output_path(".png")
    img.save(path, format="PNG")
    return path


def shown_copy(path: str, shrink: int = 1) -> str:
    """A photo the browser may not show (HEIC: only Safari shows it), or a JPEG over the pixel
    limit read at 1/`shrink` scale, as an upright quality-95 JPEG copy of the same name, which
    then stands in for it."""
    from cyclegan.images import open_image, open_shrunk
    copy = output_path(".jpg", name=Path(path).stem[:100] + ".jpg")
    img = open_shrunk(path, shrink) if shrink > 1 else open_image(path)
    img.save(copy, "JPEG", quality=95, subsampling=0)
    return copy


def shrunk_note(name: str, path: str, copy: str, shrink: int) -> str:
    """What a visitor is told when their photo is used at 1/`shrink` size."""
    from cyclegan import limits
    from PIL import Image
    with Image.open(path) as big, Image.open(copy) as small:
        (w, h), (sw, sh) = big.size, small.size
    limit = limits.current().max_image_pixels
    return (f"{name} is {w}×{h} ({w * h / 1e6:.1f} megapixels), over this server's limit of "
            f"{limit / 1e6:g} megapixels (CYCLEGAN_MAX_IMAGE_PIXELS): it is used at 1/{shrink} size, {sw}×{sh}")
