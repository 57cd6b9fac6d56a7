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


def shown_copy(path: str) -> str:
    """A photo the browser may not show (HEIC: only Safari shows it) as an upright quality-95
    JPEG copy of the same name, which then stands in for it."""
    from cyclegan.images import open_image
    copy = output_path(".jpg", name=Path(path).stem[:100] + ".jpg")
    open_image(path).save(copy, "JPEG", quality=95, subsampling=0)
    return copy
