"""The named endpoints that have no button of their own, for gradio_client, scripts and MCP
clients: /translate_image, /train_start, /train_status, /train_stop, /train_pause,
/train_resume, /download_run (/translate and /load_model are the Translate tab's own buttons).
They are declared with gr.api, whose parameters and results come from the type hints below, so
they need no hidden components.

Also the one way a run is started (or an interrupted one resumed) from the page or the API,
and the one view of a run a visitor may read: `public_status` (names, never server paths).
"""
import asyncio
import dataclasses
import os
import time
from pathlib import Path

import gradio as gr

from cyclegan import UserInputError, hubdata, limits
from cyclegan.model import check_direction
from train import TrainConfig
from train.config import resumed
from train.runs import RunDir, new_run_dir

from . import export, forms, state, storage, visitor
from .errors import friendly, scrub
from .files import output_png


def _ended(run) -> None:
    storage.end_run(run.folder.name, run.state)


def _launch(cfg: TrainConfig, owner_secret: str, data_source: str | None, resume: bool = False, init_source=None):
    """Into the server's one run slot, with its private record, data folder and time limit.
    The runs folder's caps are enforced first (finished visitor runs go, oldest first)."""
    name = RunDir(cfg.out).name
    owner = visitor.digest(owner_secret)

    def before():   # under the slot's lock, once it is known to be free
        storage.enforce_caps(active=name)
        storage.write_record(name, owner=owner, data=data_source, ended=None, visitor=True)

    return state.RUNS.start(cfg, before=before, resume=resume, data_source=data_source,
                            workdir=str(storage.data_dir(name)), owner=owner,
                            max_minutes=limits.current().max_run_minutes, on_end=_ended, init_source=init_source)


def start_training(data, arch, scale, size, steps, batch, recipe=None, lr_g=None, lr_d=None,
                   lambda_cycle=None, lambda_identity=None, uploaded: bool = False, owner_secret: str | None = None,
                   log: str | None = None, hub_token: str | bool = False, lambda_nce=None, score_every=None,
                   init=None):
    """Form values -> a TrainConfig (checked when it is made) -> the server's one run slot.
    An uploaded zip is moved to the private folder first and recorded as 'upload:NAME'. A Hub
    dataset is fetched here, with the visitor's token (a signed-in one) or anonymously, never the
    server's, pinned to its commit; the run then reads it from the cache only. Logging, sampling,
    checkpointing and the live score are spaced to the run's length (the score at each checkpoint
    unless `score_every` says otherwise; 0 = off). `init` (a model to fine-tune from) passes
    the same allow-list as the Translate tab's models (state.init_source)."""
    data, name = forms.data_spec(data, uploaded)
    init = str(init or "").strip() or None
    if init is not None:
        init = state.MODELS.check_allowed(init)
    steps = forms.opt_int(steps, "steps")
    if steps is None:
        raise UserInputError("give the number of training steps")
    arch = str(arch or "cyclegan")
    data_source = kept = None
    if uploaded:
        kept = storage.keep_upload(data, "dataset .zip")
        data_source = str(next(kept.iterdir()))
        data = f"upload:{Path(data_source).name}"
    try:
        cfg = TrainConfig(data=data, init=init, arch=arch, recipe=recipe or None, scale=str(scale or "quick"),
                          size=forms.opt_int(size, "image size"), steps=steps, batch=forms.opt_int(batch, "batch"),
                          out=str(new_run_dir(storage.runs_dir(), arch, name).path), threads=state.train_threads(),
                          sample_every=max(1, min(50, steps // 10)), checkpoint_every=max(1, min(200, steps // 2)),
                          log_every=max(1, min(10, steps // 50)), lr_g=forms.opt_float(lr_g, "lr_g"),
                          lr_d=forms.opt_float(lr_d, "lr_d"),
                          lambda_cycle=forms.opt_float(lambda_cycle, "lambda_cycle"),
                          lambda_identity=forms.opt_float(lambda_identity, "lambda_identity"), log=log or "jsonl",
                          hub_cache_only=data.startswith("hub:"), lambda_nce=forms.opt_float(lambda_nce, "lambda_nce"),
                          score_every=forms.opt_int(score_every, "score every (steps)"))   # None: each checkpoint
        check_live_scores(cfg.steps, cfg.score_every, cfg.checkpoint_every)
        if data.startswith("hub:"):                      # after every other check: a download is slow
            _, pinned = hubdata.fetch(data, token=hub_token or False)
            cfg = dataclasses.replace(cfg, data="hub:" + pinned)
        init_source = state.init_source(init, hub_token) if init else None
        return _launch(cfg, owner_secret or visitor.new_owner_token(), data_source, init_source=init_source)
    except BaseException:
        storage.remove_upload(kept)
        raise


def check_live_scores(steps: int, score_every: int | None, checkpoint_every: int) -> None:
    """A live score costs a generator and a feature pass over its held-out images and forces a
    checkpoint, so a run scored every step would spend its slot (and the disk) on scoring: the
    number of scores one run may take is a server setting (CYCLEGAN_MAX_LIVE_SCORES)."""
    cap = limits.current().max_live_scores
    every = checkpoint_every if score_every is None else score_every
    if not cap or not every or steps // every <= cap:
        return
    least = -(-steps // cap)
    raise UserInputError(f"score every {every} steps would score {steps // every} times in {steps} steps; this "
                         f"server scores a run at most {cap} times (CYCLEGAN_MAX_LIVE_SCORES): score every "
                         f"{least} steps or more, or 0 for no live score")


def resume_interrupted(run_name: str, owner_secret) -> object:
    """Continue a run the server stopped under (a restart) from its newest checkpoint."""
    rec = storage.read_record(run_name)
    folder = storage.run_folder(run_name)
    if rec is None or folder is None or rec.get("ended"):
        raise UserInputError(f"there is no interrupted run {run_name!r} to resume")
    visitor.check_control(rec.get("owner"), owner_secret, "resume")
    saved = folder.read_config()
    if saved is None:
        raise UserInputError(f"run {run_name!r} has no config.json left to resume from")
    data = rec.get("data")
    if str(saved.get("data", "")).startswith("upload:") and not (data and Path(data).is_file()):
        raise UserInputError(f"the uploaded data of run {run_name!r} is no longer on this server: start a new run")
    cfg = resumed(saved, {"threads": state.train_threads(), "out": str(folder.path)})
    lim = limits.current()
    run = state.RUNS.start(cfg, resume=True, data_source=data, workdir=str(storage.data_dir(run_name)),
                           owner=rec.get("owner"), max_minutes=lim.max_run_minutes, on_end=_ended)
    return run


def public_status(run=None) -> dict:
    """What anyone may read of the server's run: names, numbers and messages, never a server
    path (`model` is 'run:NAME' and `best` 'run:NAME@best', which /translate accepts)."""
    server_view = run is None       # the server's slot, not one given run: an interrupted run shows
    run = run if run is not None else state.RUNS.run
    found = state.interrupted_run() if server_view and (run is None or not run.active) else None
    interrupted = [found] if found else []
    if run is None or interrupted:
        out = {"state": "idle", "step": 0, "total": 0, "losses": {}, "latest_sample": None,
               "latest_checkpoint": None, "model": None, "best": None, "score": None, "run": None,
               "message": "no training run yet"}
        if interrupted:   # the server restarted under this run: /train_resume continues it
            out.update(state="interrupted", run=interrupted[0]["name"], interrupted=interrupted[0]["name"],
                       message="the server restarted under this run; its owner can resume it")
        return out
    snap = run.snapshot()
    name = Path(snap["run_dir"]).name
    out = {k: v for k, v in snap.items() if k not in ("history", "log", "run_dir", "latest_sample",
                                                      "latest_checkpoint", "scores", "best")}
    scores, best = snap.get("scores") or [], snap.get("best")
    out.update(run=name, points=len(snap["history"]), log=[scrub(line) for line in snap["log"][-10:]],
               error=scrub(snap["error"]), notice=scrub(snap.get("notice")), data_note=scrub(snap.get("data_note")),
               latest_sample=Path(snap["latest_sample"]).name if snap["latest_sample"] else None,
               latest_checkpoint=Path(snap["latest_checkpoint"]).name if snap["latest_checkpoint"] else None,
               model=f"run:{name}" if snap["latest_checkpoint"] else None,
               score=scores[-1] if scores else None, n_scores=len(scores),
               best=f"run:{name}@best" if best else None,
               best_score={k: v for k, v in best.items() if k != "checkpoint"} if best else None)
    return out


@friendly
def train_start(data: str = "demo:daynight", arch: str = "cyclegan", scale: str = "quick", size: int | None = None,
                steps: int = 300, batch: int | None = None, recipe: str | None = None,
                score_every: int | None = None, init: str | None = None) -> dict:
    """Start a training run (one per server): data is demo:<world>, hub:owner/name (a public Hugging
    Face dataset), official:<name> (the CycleGAN authors' datasets, downloaded once), a .zip or a
    folder on the server; arch cyclegan | discogan | dualgan | cut; scale quick | full; recipe
    None = the default (cut: cut | fastcut); score_every: steps between live scores (None: at each
    checkpoint, every 200 steps or half the run; 0: off); init None = random weights, or a model
    to fine-tune from (a model spec as /translate takes: demo:, official:, run:, upload:, a Hub id).
    The result's `owner_token` is what /train_stop, /train_pause and /train_resume need."""
    token = visitor.new_owner_token()
    run = start_training(data, arch, scale, size, steps, batch, recipe, owner_secret=token, score_every=score_every,
                         init=init)
    return {**public_status(run), "owner_token": token}


def train_status() -> tuple[dict, gr.FileData | None]:
    """The run's state, step, losses, newest checkpoint (`model` loads in /translate), its live
    scores and best-scoring checkpoint (`best`, also a model for /translate) and its newest
    sample grid as a PNG."""
    status = public_status()
    run = state.RUNS.run
    sample = run.snapshot()["latest_sample"] if run is not None and status.get("run") == run.folder.name else None
    return status, gr.FileData(path=sample, mime_type="image/png") if sample else None


def _owned_run(owner_token, action: str):
    run = state.RUNS.current()
    visitor.check_control(run.owner, owner_token, action)
    return run


@friendly
async def train_stop(wait_s: float = 60, owner_token: str | None = None) -> dict:
    """Stop after the step in progress and wait up to wait_s seconds (at most
    CYCLEGAN_MAX_STOP_WAIT_S) for the final checkpoint. The wait holds no server thread."""
    run = _owned_run(owner_token, "stop")
    run.stop()
    try:
        wait = max(0.0, min(float(wait_s or 0), float(limits.current().max_stop_wait_s)))
    except (TypeError, ValueError):
        raise UserInputError(f"wait_s must be a number of seconds, got {wait_s!r}") from None
    deadline = time.monotonic() + wait
    while run.active and time.monotonic() < deadline:
        await asyncio.sleep(0.1)
    return public_status(run)


@friendly
def train_pause(owner_token: str | None = None) -> dict:
    """Pause the training run after the step in progress (train_resume continues it); only with
    the run's owner_token."""
    run = _owned_run(owner_token, "pause")
    run.pause()
    return public_status(run)


@friendly
def train_resume(owner_token: str | None = None) -> dict:
    """Continue a paused training run, or one the server stopped under (a restart: train_status
    names it as `interrupted`) from its newest checkpoint; only with the run's owner_token."""
    run = state.RUNS.run
    if run is None or not run.active:
        found = state.interrupted_run()
        if found:
            return public_status(resume_interrupted(found["name"], owner_token))
    run = _owned_run(owner_token, "resume")
    run.resume()
    return public_status(run)


def download_run() -> gr.FileData:
    """The run's newest model (generators only), sample grids, metrics and training config as one
    zip that `cyclegan.load_model` reads."""
    return gr.FileData(path=export.download_run(), mime_type="application/zip")


@friendly
def translate_image(image: gr.FileData, model_spec: str = "demo:cyclegan", direction: str = "a2b",
                    size: int | None = None, oauth_token: gr.OAuthToken | None = None) -> gr.FileData:
    """Translate an image with an unpaired image-to-image model (CycleGAN, DiscoGAN, DualGAN):
    one image in, one out (the /translate endpoint also gives the round trip).

    Args:
        image: the image to translate; the result has its size
        model_spec: demo:cyclegan, demo:discogan, demo:dualgan (day ↔ night), a Hub id owner/name, or train_status's model
        direction: a2b or b2a (for the built-in models, a2b is day → night)
        size: short side in pixels the net runs at; empty or 0 = automatic (the image's own size,
            short side at most 512 px on a CPU)
    Returns:
        the translated image (PNG)
    """
    path = forms.upload_path(image)
    limit = limits.current().max_upload_mb
    if isinstance(path, str) and os.path.isfile(path) and os.path.getsize(path) > limit * 1_000_000:
        raise UserInputError(f"the image is larger than this server's limit of {limit} MB (CYCLEGAN_MAX_UPLOAD_MB)")
    img = forms.open_upload(image)
    state.use_translate_threads()
    model = state.MODELS.get(model_spec, token=visitor.read_token(oauth_token))
    direction = check_direction(direction or model.directions[0])
    seconds = limits.current().max_translate_seconds
    fake = model.translate(img, direction, work_size=forms.work_size(size),
                           deadline=time.monotonic() + seconds if seconds else None)
    return gr.FileData(path=output_png(fake), mime_type="image/png")


def register() -> None:
    """Declare the endpoints; call inside the page's gr.Blocks. Status is quick and unlimited.
    Stop may wait minutes: it waits asynchronously and outside the queue, whose 40 job slots a
    flood of waiting stops would otherwise fill, stalling every other visitor's events."""
    work = dict(concurrency_limit=limits.current().translate_concurrency, concurrency_id="work")
    gr.api(translate_image, api_name="translate_image", **work)
    gr.api(train_start, api_name="train_start")
    gr.api(train_status, api_name="train_status", concurrency_limit=None)
    gr.api(train_stop, api_name="train_stop", queue=False)
    gr.api(train_pause, api_name="train_pause")
    gr.api(train_resume, api_name="train_resume")
    gr.api(download_run, api_name="download_run")
