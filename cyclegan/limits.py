"""Limits that keep one user's upload or training run from taking the whole machine down.

Every limit is an environment variable, read each time `current()` is called, so a server can
be retuned by restarting with new settings and tests can use `monkeypatch.setenv`. On a Hugging
Face Space (`SPACE_ID` is set) the defaults are tighter, because the hardware is shared and the
visitors are strangers.

| variable                      | default        | on a Space (`SPACE_ID` set) | what it bounds                          |
|-------------------------------|----------------|-----------------------------|-----------------------------------------|
| `CYCLEGAN_MAX_UPLOAD_MB`      | 200            | 200                         | size of one uploaded file, in MB (10^6) |
| `CYCLEGAN_MAX_IMAGE_PIXELS`   | 40_000_000     | 40_000_000                  | width x height of one image             |
| `CYCLEGAN_MAX_ZIP_ENTRIES`    | 20_000         | 20_000                      | files + folders in one zip              |
| `CYCLEGAN_MAX_ZIP_BYTES`      | 2 GiB          | 2 GiB                       | total unpacked size of one zip          |
| `CYCLEGAN_MAX_TRAIN_STEPS`    | 1_000_000      | 5_000                       | steps of one training run               |
| `CYCLEGAN_MAX_TRAIN_SIZE`     | 1024           | 256                         | training image side, in pixels          |
| `CYCLEGAN_ALLOW_SERVER_PATHS` | true           | false                       | typing a path on the server into the UI |

Numbers may use `_` separators (`40_000_000`) or exponents (`2e9`); they must be whole and
positive. Booleans accept true/false, 1/0, yes/no, on/off. An empty variable counts as unset.
"""
from __future__ import annotations

import os
from dataclasses import dataclass

from cyclegan.errors import UserInputError

GiB = 1024**3


@dataclass(frozen=True)
class Limits:
    max_upload_mb: int
    max_image_pixels: int
    max_zip_entries: int
    max_zip_bytes: int
    max_train_steps: int
    max_train_size: int
    allow_server_paths: bool
    hosted: bool  # running on a Hugging Face Space: tighter defaults, no server paths


def current() -> Limits:
    """The limits as the environment says right now (not cached: settings may change in tests)."""
    hosted = bool(os.environ.get("SPACE_ID", "").strip())
    return Limits(
        max_upload_mb=_int("CYCLEGAN_MAX_UPLOAD_MB", 200),
        max_image_pixels=_int("CYCLEGAN_MAX_IMAGE_PIXELS", 40_000_000),
        max_zip_entries=_int("CYCLEGAN_MAX_ZIP_ENTRIES", 20_000),
        max_zip_bytes=_int("CYCLEGAN_MAX_ZIP_BYTES", 2 * GiB),
        max_train_steps=_int("CYCLEGAN_MAX_TRAIN_STEPS", 5_000 if hosted else 1_000_000),
        max_train_size=_int("CYCLEGAN_MAX_TRAIN_SIZE", 256 if hosted else 1024),
        allow_server_paths=_bool("CYCLEGAN_ALLOW_SERVER_PATHS", not hosted),
        hosted=hosted,
    )


def _raw(name: str) -> str | None:
    value = os.environ.get(name)
    return None if value is None or not value.strip() else value.strip()


def _int(name: str, default: int) -> int:
    raw = _raw(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        try:  # "2e9" is a natural way to write a byte count
            f = float(raw.replace("_", ""))
            value = int(f) if f.is_integer() else None
        except (ValueError, OverflowError):
            value = None
    if value is None or value < 1:
        raise UserInputError(f"{name} must be a positive whole number (like 40_000_000), got {raw!r}")
    return value


_TRUE = {"1", "true", "yes", "on", "y", "t"}
_FALSE = {"0", "false", "no", "off", "n", "f"}


def _bool(name: str, default: bool) -> bool:
    raw = _raw(name)
    if raw is None:
        return default
    if raw.lower() in _TRUE:
        return True
    if raw.lower() in _FALSE:
        return False
    raise UserInputError(f"{name} must be true or false (1/0, yes/no and on/off also work), got {raw!r}")
