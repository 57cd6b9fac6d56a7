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
| `CYCLEGAN_MAX_HUB_DATASET_MB` | 2000           | 1000                        | download of one Hub dataset, in MB      |
| `CYCLEGAN_MAX_VIDEO_SECONDS`  | 60             | 20                          | length of one video to translate        |
| `CYCLEGAN_MAX_VIDEO_SIDE`     | 1920           | 1280                        | longer side of a video's frames, in px  |
| `CYCLEGAN_MAX_STREAM_SECONDS` | 600            | 120                         | one webcam stream (then press again)    |
| `CYCLEGAN_MAX_BATCH_IMAGES`   | 100            | 20                          | images translated in one batch          |

Numbers may use `_` separators (`40_000_000`) or exponents (`2e9`); they must be whole and
positive. Booleans accept true/false, 1/0, yes/no, on/off. An empty variable counts as unset.
"""
from __future__ import annotations

from dataclasses import dataclass

from .settings import env_bool, env_int, env_raw

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
    max_hub_dataset_mb: int
    max_video_seconds: int
    max_video_side: int
    max_stream_seconds: int
    max_batch_images: int
    hosted: bool  # running on a Hugging Face Space: tighter defaults, no server paths


def current() -> Limits:
    """The limits as the environment says right now (not cached: settings may change in tests)."""
    hosted = env_raw("SPACE_ID") is not None
    return Limits(
        max_upload_mb=env_int("CYCLEGAN_MAX_UPLOAD_MB", 200),
        max_image_pixels=env_int("CYCLEGAN_MAX_IMAGE_PIXELS", 40_000_000),
        max_zip_entries=env_int("CYCLEGAN_MAX_ZIP_ENTRIES", 20_000),
        max_zip_bytes=env_int("CYCLEGAN_MAX_ZIP_BYTES", 2 * GiB),
        max_train_steps=env_int("CYCLEGAN_MAX_TRAIN_STEPS", 5_000 if hosted else 1_000_000),
        max_train_size=env_int("CYCLEGAN_MAX_TRAIN_SIZE", 256 if hosted else 1024),
        allow_server_paths=env_bool("CYCLEGAN_ALLOW_SERVER_PATHS", not hosted),
        max_hub_dataset_mb=env_int("CYCLEGAN_MAX_HUB_DATASET_MB", 1000 if hosted else 2000),
        max_video_seconds=env_int("CYCLEGAN_MAX_VIDEO_SECONDS", 20 if hosted else 60),
        max_video_side=env_int("CYCLEGAN_MAX_VIDEO_SIDE", 1280 if hosted else 1920),
        max_stream_seconds=env_int("CYCLEGAN_MAX_STREAM_SECONDS", 120 if hosted else 600),
        max_batch_images=env_int("CYCLEGAN_MAX_BATCH_IMAGES", 20 if hosted else 100),
        hosted=hosted,
    )
