"""The named endpoints that have no button of their own, for gradio_client, scripts and MCP
clients: /translate_image, /train_start, /train_status, /train_stop, /train_pause, /train_resume
(/translate and /load_model are the Translate tab's own buttons). They are declared with gr.api, whose
parameters and results come from the type hints below, so they need no hidden components.

Also the one way a run is started from the page or the API: `start_training`.
"""
import dataclasses
import os

import gradio as gr

from cyclegan import UserInputError, hubdata, limits
from cyclegan.model import check_direction
from train import TrainConfig
from train.runs import new_run_dir

from . import forms, state
from .files import output_png
from .errors import friendly


def start_training(data, arch, scale, size, steps, batch, recipe=None, lr_g=None, lr_d=None,
                   lambda_cycle=None, lambda_identity=None, uploaded: bool = False, log: str | None = None,
                   hub_token: str | None = None, lambda_nce=None, score_every=None) -> dict:
    """Form values -> a TrainConfig (checked when it is made) -> the server's one run slot.
    Logging, sampling, checkpointing and the live score are spaced to the run's length (the
    score at each checkpoint unless `score_every` says otherwise; 0 = off). A Hub dataset is
    fetched here, with the visitor's token or anonymously (never the server's), pinned to its
    commit; the run then reads it from the cache only."""
    data, name = forms.data_spec(data, uploaded)
    steps = forms.opt_int(steps, "steps")
    if steps is None:
        raise UserInputError("give the number of training steps")
    arch = str(arch or "cyclegan")
    score_every = forms.opt_int(score_every, "score every (steps)")   # None: at each checkpoint
    cfg = TrainConfig(data=data, arch=arch, recipe=recipe or None, scale=str(scale or "quick"),
                      size=forms.opt_int(size, "image size"), steps=steps, batch=forms.opt_int(batch, "batch"),
                      out=str(new_run_dir(state.runs_dir(), arch, name).path), threads=state.train_threads(),
                      sample_every=max(1, min(50, steps // 10)), checkpoint_every=max(1, min(200, steps // 2)),
                      log_every=max(1, min(10, steps // 50)), lr_g=forms.opt_float(lr_g, "lr_g"),
                      lr_d=forms.opt_float(lr_d, "lr_d"), lambda_cycle=forms.opt_float(lambda_cycle, "lambda_cycle"),
                      lambda_identity=forms.opt_float(lambda_identity, "lambda_identity"), log=log or "jsonl",
                      hub_cache_only=data.startswith("hub:"), lambda_nce=forms.opt_float(lambda_nce, "lambda_nce"),
                      score_every=score_every)
    if data.startswith("hub:"):                      # after every other check: a download is slow
        _, pinned = hubdata.fetch(data, token=hub_token or False)
        cfg = dataclasses.replace(cfg, data="hub:" + pinned)
    state.RUNS.start(cfg)
    return state.RUNS.status()


@friendly
def train_start(data: str = "demo:daynight", arch: str = "cyclegan", scale: str = "quick", size: int | None = None,
                steps: int = 300, batch: int | None = None, recipe: str | None = None,
                score_every: int | None = None) -> dict:
    """Start a training run (one per server): data is demo:<world>, hub:owner/name (a public Hugging
    Face dataset), a .zip or a folder on the server; arch cyclegan | discogan | dualgan | cut;
    scale quick | full; recipe None = the default (cut: cut | fastcut); score_every: steps
    between live scores (None: at each checkpoint, every 200 steps or half the run; 0: off)."""
    return start_training(data, arch, scale, size, steps, batch, recipe, score_every=score_every)


def train_status() -> tuple[dict, gr.FileData | None]:
    """The run's state, step, losses, newest checkpoint (`model` loads in /translate), its live
    scores and best-scoring checkpoint (`best`, also a model for /translate) and its newest
    sample grid as a PNG."""
    status = state.RUNS.status()
    sample = status.get("latest_sample")
    return status, gr.FileData(path=sample, mime_type="image/png") if sample else None


@friendly
def train_stop(wait_s: float = 60) -> dict:
    """Stop after the step in progress and wait up to wait_s seconds (at most 600) for the final checkpoint."""
    run = state.RUNS.current()
    run.stop()
    run.join(timeout=max(0.0, min(float(wait_s or 0), 600.0)))
    return state.RUNS.status()


@friendly
def train_pause() -> dict:
    """Pause the training run after the step in progress (train_resume continues it)."""
    state.RUNS.current().pause()
    return state.RUNS.status()


@friendly
def train_resume() -> dict:
    """Continue a paused training run."""
    state.RUNS.current().resume()
    return state.RUNS.status()


@friendly
def translate_image(image: gr.FileData, model_spec: str = "demo:cyclegan", direction: str = "a2b",
                    size: int | None = None) -> gr.FileData:
    """Translate an image with an unpaired image-to-image model (CycleGAN, DiscoGAN, DualGAN):
    one image in, one out (the /translate endpoint also gives the round trip).

    Args:
        image: the image to translate; the result has its size
        model_spec: demo:cyclegan, demo:discogan, demo:dualgan (day ↔ night), a Hub id owner/name, or train_status's model
        direction: a2b or b2a (for the built-in models, a2b is day → night)
        size: short side in pixels the net runs at; empty = the model's training size, 0 = native resolution
    Returns:
        the translated image (PNG)
    """
    path = forms.upload_path(image)
    limit = limits.current().max_upload_mb
    if isinstance(path, str) and os.path.isfile(path) and os.path.getsize(path) > limit * 1_000_000:
        raise UserInputError(f"the image is larger than this server's limit of {limit} MB (CYCLEGAN_MAX_UPLOAD_MB)")
    img = forms.open_upload(image)
    state.use_translate_threads()
    model = state.MODELS.get(model_spec)
    direction = check_direction(direction or model.directions[0])
    fake = model.translate(img, direction, work_size=forms.work_size(size, model))
    return gr.FileData(path=output_png(fake), mime_type="image/png")


def register() -> None:
    """Declare the endpoints; call inside the page's gr.Blocks."""
    gr.api(translate_image, api_name="translate_image")
    gr.api(train_start, api_name="train_start")
    gr.api(train_status, api_name="train_status", concurrency_limit=None)
    gr.api(train_stop, api_name="train_stop", concurrency_limit=None)
    gr.api(train_pause, api_name="train_pause")
    gr.api(train_resume, api_name="train_resume")
