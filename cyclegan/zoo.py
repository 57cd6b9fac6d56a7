"""The authors' CycleGAN model zoo and dataset zoo, downloaded once into a local cache.

Names and URLs are those of the official scripts (junyanz/pytorch-CycleGAN-and-pix2pix,
`scripts/download_cyclegan_model.sh` and `datasets/download_cyclegan_dataset.sh`):
`<base>/cyclegan/pretrained_models/NAME.pth` and `<base>/cyclegan/datasets/NAME.zip`.

A download streams into a hidden temporary file next to its final place and becomes the cache
entry only when complete (fsync, then os.replace), so a failed, truncated, oversized or
cancelled download leaves nothing behind and the next try starts clean. The sha256 of each
file is recorded beside it (`NAME.pth.sha256`, in `sha256sum -c` format) on first download
and checked on every later load: a mismatch means the cache was damaged or edited, and is
reported as an error naming the file (not silently downloaded again, which would hide it).
A file put into the cache by hand, without a record, is trusted and recorded on first use.
A cached file is used without any network request.

Settings (environment, read on every call):

| variable                     | default                             | what                                 |
|------------------------------|-------------------------------------|--------------------------------------|
| `CYCLEGAN_ZOO_URL`           | http://efrosgans.eecs.berkeley.edu  | server (or mirror) of the zoo        |
| `CYCLEGAN_CACHE`             | `$XDG_CACHE_HOME` or ~/.cache, + /cyclegan-studio | cache folder (models/, datasets/) |
| `CYCLEGAN_ZOO_TIMEOUT`       | 30                                  | seconds to connect / per read        |
| `CYCLEGAN_ZOO_MAX_MODEL_MB`  | 200                                 | largest model download, MB (10^6)    |
| `CYCLEGAN_ZOO_MAX_DATASET_MB`| 2000                                | largest dataset download, MB         |
| `CYCLEGAN_OFFLINE`, `HF_HUB_OFFLINE` | unset                       | never download; cached files only    |
"""
from __future__ import annotations

import difflib
import hashlib
import http.client
import os
import shutil
import socket
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from . import limits
from .archive import safe_extract_zip
from .errors import UserInputError
from .official import load_official

DEFAULT_URL = "http://efrosgans.eecs.berkeley.edu"
CHUNK = 64 * 1024
PROGRESS_INTERVAL = 0.1      # seconds between progress reports (the last one always comes)

# Every official pretrained CycleGAN generator (G_A of its training run), A and B domains.
MODEL_DOMAINS: dict[str, tuple[str, str]] = {
    "apple2orange": ("apple", "orange"),
    "orange2apple": ("orange", "apple"),
    "summer2winter_yosemite": ("summer", "winter"),
    "winter2summer_yosemite": ("winter", "summer"),
    "horse2zebra": ("horse", "zebra"),
    "zebra2horse": ("zebra", "horse"),
    "monet2photo": ("monet", "photo"),
    "style_monet": ("photo", "monet"),
    "style_cezanne": ("photo", "cezanne"),
    "style_ukiyoe": ("photo", "ukiyoe"),
    "style_vangogh": ("photo", "vangogh"),
    "sat2map": ("satellite", "map"),
    "map2sat": ("map", "satellite"),
    "cityscapes_photo2label": ("photo", "label"),
    "cityscapes_label2photo": ("label", "photo"),
    "facades_photo2label": ("photo", "label"),
    "facades_label2photo": ("label", "photo"),
    "iphone2dslr_flower": ("iphone", "dslr"),
}
MODEL_NAMES = tuple(MODEL_DOMAINS)

# The official dataset script's list (its `mini` is a tiny trainA/trainB set the authors use to
# smoke-test training); `ae_photos` holds photos to translate with the style_* models.
DATASET_DOMAINS: dict[str, tuple[str, str]] = {
    "apple2orange": ("apple", "orange"),
    "summer2winter_yosemite": ("summer", "winter"),
    "horse2zebra": ("horse", "zebra"),
    "monet2photo": ("monet", "photo"),
    "cezanne2photo": ("cezanne", "photo"),
    "ukiyoe2photo": ("ukiyoe", "photo"),
    "vangogh2photo": ("vangogh", "photo"),
    "maps": ("satellite", "map"),
    "facades": ("photo", "label"),
    "iphone2dslr_flower": ("iphone", "dslr"),
    "ae_photos": ("A", "B"),
    "mini": ("A", "B"),
}
DATASET_NAMES = tuple(DATASET_DOMAINS)
# Named by the official script but not served, for the reason it gives.
REFUSED_DATASETS = {
    "cityscapes": "the authors cannot redistribute Cityscapes for licence reasons: download gtFine_trainvaltest.zip "
                  "and leftImg8bit_trainvaltest.zip from https://cityscapes-dataset.com and prepare them with the "
                  "official datasets/prepare_cityscapes_dataset.py",
}
SPLITS = ("trainA", "trainB", "testA", "testB")

Progress = Callable[[int, "int | None"], object]


class DownloadCancelled(UserInputError):
    """The caller cancelled a download; nothing was left in the cache."""


# --- settings ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Settings:
    base_url: str
    cache: Path
    timeout: float
    max_model_bytes: int
    max_dataset_bytes: int
    offline_var: str | None      # the variable that switched downloads off, if any


def _env(name: str) -> str | None:
    v = os.environ.get(name)
    return v.strip() if v is not None and v.strip() else None


def _positive(name: str, default: float) -> float:
    raw = _env(name)
    if raw is None:
        return default
    try:
        value = float(raw.replace("_", ""))
    except ValueError:
        value = float("nan")
    if not value > 0 or value == float("inf"):
        raise UserInputError(f"{name} must be a positive number, got {raw!r}")
    return value


def _truthy(name: str) -> bool:
    return (_env(name) or "").lower() in ("1", "true", "yes", "on", "y", "t")


def cache_dir() -> Path:
    if _env("CYCLEGAN_CACHE"):
        return Path(os.path.expandvars(_env("CYCLEGAN_CACHE"))).expanduser()
    root = _env("XDG_CACHE_HOME") or os.path.join("~", ".cache")
    return Path(os.path.expandvars(root)).expanduser() / "cyclegan-studio"


def settings() -> Settings:
    base = (_env("CYCLEGAN_ZOO_URL") or DEFAULT_URL).rstrip("/")
    if urllib.parse.urlsplit(base).scheme not in ("http", "https") or not urllib.parse.urlsplit(base).netloc:
        raise UserInputError(f"CYCLEGAN_ZOO_URL must be an http(s) address like {DEFAULT_URL}, got {base!r}")
    offline = next((v for v in ("CYCLEGAN_OFFLINE", "HF_HUB_OFFLINE") if _truthy(v)), None)
    return Settings(base_url=base, cache=cache_dir(), timeout=_positive("CYCLEGAN_ZOO_TIMEOUT", 30.0),
                    max_model_bytes=int(_positive("CYCLEGAN_ZOO_MAX_MODEL_MB", 200) * 1e6),
                    # on a Space the same default as a Hub dataset's (limits.py): its disk is shared
                    max_dataset_bytes=int(_positive("CYCLEGAN_ZOO_MAX_DATASET_MB",
                                                    1000 if limits.current().hosted else 2000) * 1e6),
                    offline_var=offline)


# --- names ---------------------------------------------------------------------------------------
def _check_name(name: str, known: tuple[str, ...], kind: str) -> str:
    clean = str(name).strip().lower()
    if clean in known:
        return clean
    if kind == "dataset" and clean in REFUSED_DATASETS:
        raise UserInputError(f"the official dataset '{clean}' is not downloadable: {REFUSED_DATASETS[clean]}")
    close = difflib.get_close_matches(clean, known, n=1)
    hint = f" (did you mean '{close[0]}'?)" if close else ""
    raise UserInputError(f"unknown official CycleGAN {kind} {str(name)!r}{hint}; the official {kind}s are: "
                         f"{', '.join(known)}")


def model_name(name) -> str:
    """An official model name, checked (with a close spelling suggested); makes no request."""
    return _check_name(name, MODEL_NAMES, "model")


def dataset_name(name) -> str:
    return _check_name(name, DATASET_NAMES, "dataset")


def parse_spec(spec) -> str | None:
    """'official:horse2zebra' -> 'horse2zebra'; None for any other spec. The name is checked."""
    if not isinstance(spec, str) or not spec.strip().lower().startswith("official:"):
        return None
    return spec.strip()[len("official:"):].strip()


def model_url(name: str) -> str:
    return f"{settings().base_url}/cyclegan/pretrained_models/{_check_name(name, MODEL_NAMES, 'model')}.pth"


def dataset_url(name: str) -> str:
    return f"{settings().base_url}/cyclegan/datasets/{_check_name(name, DATASET_NAMES, 'dataset')}.zip"


def model_path(name: str) -> Path:
    """Where the model is (or will be) cached; put a hand-downloaded file here."""
    return settings().cache / "models" / f"{_check_name(name, MODEL_NAMES, 'model')}.pth"


def dataset_zip_path(name: str) -> Path:
    return settings().cache / "datasets" / f"{_check_name(name, DATASET_NAMES, 'dataset')}.zip"


def dataset_dir(name: str) -> Path:
    return settings().cache / "datasets" / _check_name(name, DATASET_NAMES, "dataset")


def is_cached(name: str, kind: str = "model") -> bool:
    return (model_path(name) if kind == "model" else dataset_dir(name)).exists()


def model_choices() -> list[tuple[str, str]]:
    """(label, spec) pairs for a dropdown: 'horse2zebra (horse → zebra)', 'official:horse2zebra'."""
    return [(f"{n} ({a} → {b})", f"official:{n}") for n, (a, b) in MODEL_DOMAINS.items()]


# --- the cache record ----------------------------------------------------------------------------
def _sidecar(path: Path) -> Path:
    return path.with_name(path.name + ".sha256")


def sha256_of(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


def _write_atomic(path: Path, text: str) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".part")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        _unlink(tmp)
        raise


def _record(path: Path, digest: str) -> None:
    _write_atomic(_sidecar(path), f"{digest}  {path.name}\n")


def verify(path: Path) -> str:
    """The file's sha256, checked against the one recorded at download. A file without a record
    (put there by hand) is recorded now."""
    digest = sha256_of(path)
    side = _sidecar(path)
    if not side.is_file():
        _record(path, digest)
        return digest
    recorded = side.read_text(encoding="utf-8", errors="replace").split()[:1]
    if recorded != [digest]:
        was = recorded[0] if recorded else "nothing readable"
        raise UserInputError(f"the cached file '{path}' is damaged or was changed: its sha256 is {digest}, but "
                             f"{was} was recorded when it was downloaded; delete it and '{side.name}' "
                             f"to download it again")
    return digest


# --- downloading ---------------------------------------------------------------------------------
def _unlink(path) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass


def _fsync_dir(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return          # Windows cannot open folders; os.replace is still atomic there
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _cancelled(cancel) -> bool:
    if cancel is None:
        return False
    is_set = getattr(cancel, "is_set", None)
    return bool(is_set() if callable(is_set) else cancel())


def _mb(n: int) -> str:
    return f"{n / 1e6:,.1f} MB"


def _offline_message(what: str, url: str, dest: Path, why: str) -> str:
    return (f"cannot download {what}: {why}. Download {url} by hand (a browser, curl) and put the file at "
            f"{dest}; then it loads offline")


def _drop_stale_parts(dest: Path, timeout: float) -> None:
    """Temporary files a killed process left. A live download writes at least once per read
    timeout, so a part file untouched for much longer than that is nobody's."""
    cutoff = time.time() - max(3 * timeout, 600)
    for part in dest.parent.glob(f".{dest.name}.*.part"):
        try:
            if part.stat().st_mtime < cutoff:
                part.unlink()
        except OSError:
            pass


def download(url: str, dest: Path, what: str, max_bytes: int, progress: Progress | None = None,
             cancel=None, timeout: float = 30.0) -> str:
    """Stream `url` into `dest` atomically; returns the sha256. Any failure leaves no file."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    _drop_stale_parts(dest, timeout)
    fd, tmp = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.", suffix=".part")
    host = urllib.parse.urlsplit(url).netloc
    try:
        with os.fdopen(fd, "wb") as out:
            req = urllib.request.Request(url, headers={"User-Agent": "cyclegan-studio"})
            try:
                resp = urllib.request.urlopen(req, timeout=timeout)
            except urllib.error.HTTPError as e:
                if e.code == 404:
                    raise UserInputError(f"{what} is not on the server (HTTP 404 for {url}); if the files moved, set "
                                         f"CYCLEGAN_ZOO_URL to a mirror, or put the file at {dest} by hand") from None
                raise UserInputError(f"cannot download {what}: HTTP {e.code} {e.reason} for {url}") from None
            except urllib.error.URLError as e:
                reason = e.reason
                if isinstance(reason, (TimeoutError, socket.timeout)):
                    raise UserInputError(f"cannot download {what}: {host} did not answer within {timeout:g} s "
                                         f"(CYCLEGAN_ZOO_TIMEOUT); try again later, or put the file at {dest} by hand") from None
                why = ("the server's name cannot be resolved (no network?)" if isinstance(reason, socket.gaierror)
                       else f"{host} cannot be reached ({getattr(reason, 'strerror', None) or reason})")
                raise UserInputError(_offline_message(what, url, dest, why)) from None
            except (TimeoutError, socket.timeout):
                raise UserInputError(f"cannot download {what}: {host} did not answer within {timeout:g} s "
                                     f"(CYCLEGAN_ZOO_TIMEOUT); try again later, or put the file at {dest} by hand") from None
            except (http.client.HTTPException, ConnectionError) as e:
                raise UserInputError(_offline_message(what, url, dest, f"{host} closed the connection ({e!r})")) from None
            with resp:
                digest = _stream(resp, out, what, url, dest, max_bytes, progress, cancel, timeout)
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, dest)
        _fsync_dir(dest.parent)
        return digest
    except BaseException:
        _unlink(tmp)
        raise


def _stream(resp, out, what, url, dest, max_bytes, progress, cancel, timeout) -> str:
    length = resp.headers.get("Content-Length")
    total = int(length) if length and length.strip().isdigit() else None
    if total is not None and total > max_bytes:
        raise UserInputError(f"{what} is {_mb(total)}, over the download limit of {_mb(max_bytes)} "
                             "(CYCLEGAN_ZOO_MAX_MODEL_MB / CYCLEGAN_ZOO_MAX_DATASET_MB)")
    h, done, last, reported = hashlib.sha256(), 0, 0.0, 0
    if progress is not None:
        progress(0, total)
    while True:
        if _cancelled(cancel):
            raise DownloadCancelled(f"download of {what} cancelled; nothing was kept")
        try:
            chunk = resp.read(CHUNK)
        except (TimeoutError, socket.timeout):
            raise UserInputError(f"download of {what} stalled: no data for {timeout:g} s (CYCLEGAN_ZOO_TIMEOUT) "
                                 f"after {_mb(done)}; nothing was kept, try again") from None
        except (http.client.IncompleteRead, ConnectionError, http.client.HTTPException) as e:
            raise UserInputError(f"download of {what} broke off after {_mb(done)} ({type(e).__name__}); "
                                 "nothing was kept, try again") from None
        if not chunk:
            break
        done += len(chunk)
        if done > max_bytes:
            raise UserInputError(f"{what} is over the download limit of {_mb(max_bytes)} "
                                 "(CYCLEGAN_ZOO_MAX_MODEL_MB / CYCLEGAN_ZOO_MAX_DATASET_MB)")
        out.write(chunk)
        h.update(chunk)
        now = time.monotonic()
        if progress is not None and now - last >= PROGRESS_INTERVAL:
            progress(done, total)
            last, reported = now, done
    if total is not None and done != total:
        raise UserInputError(f"download of {what} is truncated: the server sent {done:,} of {total:,} bytes; "
                             "nothing was kept, try again")
    if progress is not None and reported != done:
        progress(done, total)
    return h.hexdigest()


def _fetch(name: str, kind: str, path: Path, url: str, max_bytes: int, progress, cancel) -> Path:
    what = f"the official CycleGAN {kind} '{name}'"
    if path.is_file():
        verify(path)
        return path
    s = settings()
    if s.offline_var:
        raise UserInputError(_offline_message(what, url, path, f"{s.offline_var} is set (offline mode) and it "
                                                                "is not in the cache"))
    digest = download(url, path, what, max_bytes, progress, cancel, s.timeout)
    _record(path, digest)
    return path


def fetch_model(name: str, progress: Progress | None = None, cancel=None) -> Path:
    """The official generator file `NAME.pth` in the cache, downloaded if it is not there yet.
    `progress(done_bytes, total_bytes_or_None)`; `cancel` a threading.Event or a callable that
    returns True to stop (checked between chunks)."""
    name = _check_name(name, MODEL_NAMES, "model")
    s = settings()
    return _fetch(name, "model", model_path(name), model_url(name), s.max_model_bytes, progress, cancel)


def fetch_dataset_zip(name: str, progress: Progress | None = None, cancel=None) -> Path:
    name = _check_name(name, DATASET_NAMES, "dataset")
    s = settings()
    return _fetch(name, "dataset", dataset_zip_path(name), dataset_url(name), s.max_dataset_bytes, progress, cancel)



def fetch_dataset(name: str, progress: Progress | None = None, cancel=None) -> Path:
    """The official dataset unpacked in the cache (a folder with trainA/ trainB/ testA/ testB/),
    downloaded and extracted if needed. The zip is deleted once unpacked; its sha256 record stays."""
    name = _check_name(name, DATASET_NAMES, "dataset")
    folder = dataset_dir(name)
    if folder.is_dir():
        return folder
    zpath = fetch_dataset_zip(name, progress, cancel)
    if _cancelled(cancel):
        raise DownloadCancelled(f"unpacking of the official dataset '{name}' cancelled; the zip stays cached")
    work = Path(tempfile.mkdtemp(dir=folder.parent, prefix=f".{name}.", suffix=".part"))
    kept = f"the downloaded zip stays at {zpath}: delete it to download it again"
    try:
        try:
            root = Path(safe_extract_zip(zpath, work))
        except UserInputError as e:
            raise UserInputError(f"{e} ({kept})") from None
        if not any((root / s).is_dir() for s in SPLITS):
            found = sorted(p.name for p in root.iterdir())[:8]
            raise UserInputError(f"'{zpath.name}' holds no {'/ '.join(SPLITS)}/ folders (found: "
                                 f"{', '.join(found) or 'nothing'}); {kept}")
        try:
            os.replace(root, folder)
        except OSError:
            if not folder.is_dir():      # not another process that finished first
                raise
        _fsync_dir(folder.parent)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    _unlink(zpath)
    return folder


# --- hooks for loaders and interfaces ----------------------------------------------------------------
def load_official_model(name: str, progress: Progress | None = None, cancel=None):
    """`official:NAME` as a one-direction CycleModel (the authors publish each direction as its own
    file): A→B with the name's domains, e.g. horse → zebra."""
    name = _check_name(name, MODEL_NAMES, "model")
    path = fetch_model(name, progress, cancel)
    model = load_official([str(path)])
    model.domains = MODEL_DOMAINS[name]
    model.provenance = {**model.provenance, "zoo": f"official:{name}",
                        "url": f"{settings().base_url}/cyclegan/pretrained_models/{name}.pth",
                        "sha256": _sidecar(path).read_text(encoding="utf-8").split()[0]}
    return model


def dataset_from_spec(spec, progress: Progress | None = None, cancel=None) -> Path | None:
    """`official:NAME` -> the unpacked dataset folder (downloaded if needed); None for any other
    spec, which the caller opens as before."""
    name = parse_spec(spec)
    return None if name is None else fetch_dataset(name, progress, cancel)


def tqdm_progress(bar) -> Progress:
    """A progress callback that drives a tqdm bar (unit='B' reads best)."""
    def update(done: int, total: int | None) -> None:
        if total is not None and bar.total != total:
            bar.total = total
            bar.refresh()
        bar.update(done - bar.n)
    return update


__all__ = ["MODEL_NAMES", "MODEL_DOMAINS", "DATASET_NAMES", "DATASET_DOMAINS", "DownloadCancelled",
           "settings", "parse_spec", "model_name", "dataset_name", "model_url", "dataset_url", "model_path", "dataset_dir", "is_cached",
           "model_choices", "fetch_model", "fetch_dataset", "fetch_dataset_zip", "load_official_model",
           "dataset_from_spec",
           "tqdm_progress", "verify"]
