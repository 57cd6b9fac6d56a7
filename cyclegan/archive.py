"""Unpacking zips that strangers send, for datasets and models alike.

`safe_extract_zip` refuses path traversal, absolute paths, links, too many entries and more bytes
than CYCLEGAN_MAX_ZIP_BYTES (the sizes the zip declares and the bytes actually written), copies
nested zips as plain files, and leaves nothing behind when it refuses.
"""
from __future__ import annotations

import os
import re
import shutil
import stat
import zipfile
from pathlib import Path, PurePosixPath

from . import limits
from .errors import UserInputError

# Folder names a dataset uses for its domains: a zip holding just one of them is not "one
# wrapper folder around the content", and a pair of free-named folders never uses them.
DATA_FOLDER_NAMES = frozenset({"traina", "trainb", "testa", "testb", "a", "b"})
_CHUNK = 1 << 20


def is_hidden(name: str) -> bool:
    """Dot files and macOS's __MACOSX metadata folder: never data."""
    return name.startswith(".") or name == "__MACOSX"


def _mb(n: int) -> str:
    return f"{n / 1e6:,.0f}" if n >= 1e7 else f"{n / 1e6:.3g}"


def _member_path(info: zipfile.ZipInfo) -> PurePosixPath | None:
    """Where an entry may go, relative to the destination; None for entries we skip."""
    name = info.filename
    if stat.S_ISLNK(info.external_attr >> 16):
        raise UserInputError(f"zip contains a symbolic link, which is not allowed: '{name}' "
                             "(zip the real files instead, e.g. `zip -r` without -y)")
    parts = name.replace("\\", "/").split("/")
    if name.startswith(("/", "\\")) or re.match(r"^[A-Za-z]:", name) or ".." in parts or "\x00" in name:
        raise UserInputError(f"unsafe path in zip: '{name}'")
    parts = [p for p in parts if p not in ("", ".")]
    if not parts or parts[0] == "__MACOSX":  # macOS resource forks: metadata, never data
        return None
    return PurePosixPath(*parts)


def safe_extract_zip(zip_path: str | Path, dest: str | Path, keep=None) -> Path:
    """Unpack `zip_path` into `dest` and return the folder holding the data: `dest`, or the one
    top folder if everything is inside it (as when a folder is zipped whole).

    Refuses path traversal, absolute paths, links, too many entries and more bytes than
    CYCLEGAN_MAX_ZIP_BYTES, counting both the sizes the zip declares and the bytes actually
    written. Nested zips are copied as plain files, never opened. On refusal nothing is left
    behind. `keep(name)` (optional) says which files are worth their bytes: the others are
    unpacked as empty files, so a dataset's junk takes no disk while still being counted."""
    lim = limits.current()
    zip_path, dest = Path(zip_path), Path(dest)
    if not zip_path.is_file():
        raise UserInputError(f"file not found: '{zip_path}'")
    try:
        zf = zipfile.ZipFile(zip_path)
    except Exception as e:  # BadZipFile, OSError, ValueError, EOFError, ...
        raise UserInputError(f"not a valid zip file: '{zip_path.name}' ({e})") from None
    too_big = f"zip would unpack to more than {_mb(lim.max_zip_bytes)} MB (CYCLEGAN_MAX_ZIP_BYTES)"
    with zf:
        infos = zf.infolist()
        if len(infos) > lim.max_zip_entries:
            raise UserInputError(f"zip has {len(infos):,} entries, over the limit of {lim.max_zip_entries:,} "
                                 "(CYCLEGAN_MAX_ZIP_ENTRIES)")
        plan = [(info, rel) for info in infos if (rel := _member_path(info)) is not None]
        if _declared_size(plan) > lim.max_zip_bytes:
            raise UserInputError(too_big)
        dest_existed = dest.exists()
        dest.mkdir(parents=True, exist_ok=True)
        real = dest.resolve()
        written_files: list[Path] = []
        try:
            total = 0
            for info, rel in plan:
                target = real.joinpath(*rel.parts)
                if not target.resolve().is_relative_to(real):  # via a link already in dest
                    raise UserInputError(f"unsafe path in zip: '{info.filename}'")
                if info.is_dir():
                    target.mkdir(parents=True, exist_ok=True)
                    continue
                target.parent.mkdir(parents=True, exist_ok=True)
                if keep is not None and not keep(rel.name):
                    target.touch()
                    written_files.append(target)
                    continue
                flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_BINARY", 0)
                with zf.open(info) as src, os.fdopen(os.open(target, flags, 0o644), "wb") as out:
                    written_files.append(target)
                    while chunk := src.read(_CHUNK):
                        total += len(chunk)
                        if total > lim.max_zip_bytes:  # headers can lie
                            raise UserInputError(too_big)
                        out.write(chunk)
        except UserInputError:
            _undo(dest, dest_existed, written_files)
            raise
        except RuntimeError as e:  # zipfile says "File ... is encrypted, password required"
            _undo(dest, dest_existed, written_files)
            raise UserInputError(f"zip is password-protected or unreadable: {e}; zip the files again without a password") from None
        except NotImplementedError as e:
            _undo(dest, dest_existed, written_files)
            raise UserInputError(f"zip uses a compression Python cannot read ({e}); zip the files again "
                                 "with standard (deflate) compression") from None
        except OSError as e:
            _undo(dest, dest_existed, written_files)
            raise UserInputError(f"cannot unpack '{zip_path.name}': {e.strerror or e}") from None
        except Exception as e:  # zlib.error, EOFError, BadZipFile: damaged data
            _undo(dest, dest_existed, written_files)
            raise UserInputError(f"not a valid zip file: '{zip_path.name}' has a corrupt entry ({e})") from None
    return _content_root(real)


def _declared_size(plan) -> int:
    """What the headers claim. CPython's zipfile never yields more than this per entry, but a
    bug or another reader might, so the bytes written are counted as well."""
    return sum(info.file_size for info, _ in plan)


def _undo(dest: Path, dest_existed: bool, files: list[Path]) -> None:
    if not dest_existed:
        shutil.rmtree(dest, ignore_errors=True)
        return
    for f in files:
        f.unlink(missing_ok=True)
        for parent in f.parents:  # drop folders we emptied, but never dest itself
            if parent == dest.resolve() or not parent.is_relative_to(dest.resolve()):
                break
            try:
                parent.rmdir()
            except OSError:
                break


def _content_root(dest: Path) -> Path:
    top = [p for p in dest.iterdir() if not is_hidden(p.name)]
    if len(top) == 1 and top[0].is_dir() and top[0].name.lower() not in DATA_FOLDER_NAMES:
        return top[0]
    return dest
