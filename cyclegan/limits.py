"""Limits that keep one user's upload, translation or training run from taking the whole machine
down, and the settings of a public server (who may control a run, how long runs are kept).

Every limit is an environment variable, read each time `current()` is called, so a server can
be retuned by restarting with new settings and tests can use `monkeypatch.setenv`. On a Hugging
Face Space (`SPACE_ID` is set) the defaults are tighter, because the hardware is shared (a CPU
Space: 2 cores, 16 GB) and the visitors are strangers. 0 means "no limit" where it says so.

| variable                          | default          | on a Space   | what it bounds                                  |
|-----------------------------------|------------------|--------------|-------------------------------------------------|
| `CYCLEGAN_MAX_UPLOAD_MB`          | 200              | 200          | one uploaded file, in MB (10^6)                 |
| `CYCLEGAN_MAX_IMAGE_PIXELS`       | 40_000_000       | 40_000_000   | width x height of one image file                |
| `CYCLEGAN_MAX_ZIP_ENTRIES`        | 20_000           | 20_000       | files + folders in one zip                      |
| `CYCLEGAN_MAX_ZIP_BYTES`          | 2 GiB            | 2 GiB        | total unpacked size of one zip                  |
| `CYCLEGAN_MAX_WORK_PIXELS`        | 40_000_000       | 1_000_000    | pixels the net computes for one translation,    |
|                                   |                  |              | padding and tiles included                      |
| `CYCLEGAN_MAX_UPSCALE`            | 2                | 2            | times a processing size may enlarge an image    |
| `CYCLEGAN_MAX_TRANSLATE_SECONDS`  | 0 (none)         | 60           | one translation in the app (checked per tile)   |
| `CYCLEGAN_MAX_MODEL_PARAMS`       | 400_000_000      | 200_000_000  | parameters of a model a config describes        |
| `CYCLEGAN_MAX_TRAIN_STEPS`        | 1_000_000        | 5_000        | steps of one training run                       |
| `CYCLEGAN_MAX_TRAIN_SIZE`         | 1024             | 256          | training image side, in pixels                  |
| `CYCLEGAN_MAX_TRAIN_MEMORY_MB`    | the machine's    | 6000         | estimated memory of one training run            |
| `CYCLEGAN_MAX_RUN_MINUTES`        | 0 (none)         | 30           | wall time of one run started in the app         |
| `CYCLEGAN_MAX_RUNS`               | 0 (none)         | 20           | run folders in the app's runs folder            |
| `CYCLEGAN_MAX_RUNS_MB`            | 0 (none)         | 5000         | size of the app's runs folder                   |
| `CYCLEGAN_RUN_TTL_HOURS`          | 0 (none)         | 24           | how long a visitor's finished run stays listed  |
| `CYCLEGAN_MAX_LIVE_SCORES`        | 0 (none)         | 50           | live scores of one run started in the app       |
| `CYCLEGAN_MAX_STOP_WAIT_S`        | 600              | 60           | how long /train_stop may wait                   |
| `CYCLEGAN_QUEUE_SIZE`             | 0 (none)         | 32           | requests waiting in the app's queue             |
| `CYCLEGAN_TRANSLATE_CONCURRENCY`  | 2                | 1            | translations (and model loads) at once          |
| `CYCLEGAN_CACHE_MINUTES`          | 1440             | 60           | age at which Gradio's cached files are removed  |
| `CYCLEGAN_ALLOW_SERVER_PATHS`     | true             | false        | typing a path on the server into the UI         |
| `CYCLEGAN_MAX_HUB_DATASET_MB`     | 2000             | 1000         | download of one Hub dataset, in MB              |
| `CYCLEGAN_MAX_VIDEO_SECONDS`      | 60               | 20           | length of one video to translate                |
| `CYCLEGAN_MAX_VIDEO_SIDE`         | 1920             | 1280         | longer side of a video's frames, in px          |
| `CYCLEGAN_MAX_STREAM_SECONDS`     | 600              | 120          | one webcam stream (then press again)            |
| `CYCLEGAN_MAX_BATCH_IMAGES`       | 100              | 20           | images translated in one batch                  |
| `CYCLEGAN_ZOO_MAX_MODEL_MB`       | 200              | 200          | one `official:` model download (cyclegan/zoo.py)|
| `CYCLEGAN_ZOO_MAX_DATASET_MB`     | 2000             | 1000         | one `official:` dataset download (zoo.py)       |

Numbers may use `_` separators (`40_000_000`) or exponents (`2e9`); they must be whole. Booleans
accept true/false, 1/0, yes/no, on/off. An empty variable counts as unset.
"""
from __future__ import annotations

import os
from dataclasses import dataclass

from .settings import env_bool, env_int, env_raw

GiB = 1024**3


def machine_memory_mb() -> int:
    """Physical memory of this machine in MB (16 GB where it cannot be read)."""
    try:
        return int(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") // 1_000_000)
    except (ValueError, OSError, AttributeError):
        return 16_000


@dataclass(frozen=True)
class Limits:
    max_upload_mb: int
    max_image_pixels: int
    max_zip_entries: int
    max_zip_bytes: int
    max_work_pixels: int
    max_upscale: int
    max_translate_seconds: int      # 0: none
    max_model_params: int
    max_train_steps: int
    max_train_size: int
    max_train_memory_mb: int
    max_run_minutes: int            # 0: none
    max_runs: int                   # 0: none
    max_runs_mb: int                # 0: none
    run_ttl_hours: int              # 0: none
    max_live_scores: int            # 0: none
    max_stop_wait_s: int
    queue_size: int                 # 0: none
    translate_concurrency: int
    cache_minutes: int
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

    def pick(local, space):
        return space if hosted else local

    return Limits(
        max_upload_mb=env_int("CYCLEGAN_MAX_UPLOAD_MB", 200),
        max_image_pixels=env_int("CYCLEGAN_MAX_IMAGE_PIXELS", 40_000_000),
        max_zip_entries=env_int("CYCLEGAN_MAX_ZIP_ENTRIES", 20_000),
        max_zip_bytes=env_int("CYCLEGAN_MAX_ZIP_BYTES", 2 * GiB),
        max_work_pixels=env_int("CYCLEGAN_MAX_WORK_PIXELS", pick(40_000_000, 1_000_000), lo=1024),
        max_upscale=env_int("CYCLEGAN_MAX_UPSCALE", 2, lo=1, hi=64),
        max_translate_seconds=env_int("CYCLEGAN_MAX_TRANSLATE_SECONDS", pick(0, 60), lo=0),
        max_model_params=env_int("CYCLEGAN_MAX_MODEL_PARAMS", pick(400_000_000, 200_000_000)),
        max_train_steps=env_int("CYCLEGAN_MAX_TRAIN_STEPS", pick(1_000_000, 5_000)),
        max_train_size=env_int("CYCLEGAN_MAX_TRAIN_SIZE", pick(1024, 256)),
        max_train_memory_mb=env_int("CYCLEGAN_MAX_TRAIN_MEMORY_MB", pick(machine_memory_mb(), 6000)),
        max_run_minutes=env_int("CYCLEGAN_MAX_RUN_MINUTES", pick(0, 30), lo=0),
        max_runs=env_int("CYCLEGAN_MAX_RUNS", pick(0, 20), lo=0),
        max_runs_mb=env_int("CYCLEGAN_MAX_RUNS_MB", pick(0, 5000), lo=0),
        run_ttl_hours=env_int("CYCLEGAN_RUN_TTL_HOURS", pick(0, 24), lo=0),
        max_live_scores=env_int("CYCLEGAN_MAX_LIVE_SCORES", pick(0, 50), lo=0),
        max_stop_wait_s=env_int("CYCLEGAN_MAX_STOP_WAIT_S", pick(600, 60), lo=0),
        queue_size=env_int("CYCLEGAN_QUEUE_SIZE", pick(0, 32), lo=0),
        translate_concurrency=env_int("CYCLEGAN_TRANSLATE_CONCURRENCY", pick(2, 1)),
        cache_minutes=env_int("CYCLEGAN_CACHE_MINUTES", pick(1440, 60)),
        allow_server_paths=env_bool("CYCLEGAN_ALLOW_SERVER_PATHS", not hosted),
        max_hub_dataset_mb=env_int("CYCLEGAN_MAX_HUB_DATASET_MB", pick(2000, 1000)),
        max_video_seconds=env_int("CYCLEGAN_MAX_VIDEO_SECONDS", pick(60, 20)),
        max_video_side=env_int("CYCLEGAN_MAX_VIDEO_SIDE", pick(1920, 1280)),
        max_stream_seconds=env_int("CYCLEGAN_MAX_STREAM_SECONDS", pick(600, 120)),
        max_batch_images=env_int("CYCLEGAN_MAX_BATCH_IMAGES", pick(100, 20)),
        hosted=hosted,
    )
