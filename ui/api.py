"""The named endpoints that have no button of their own, for gradio_client and scripts:
/train_start, /train_status, /train_stop, /train_pause, /train_resume (/translate and
/load_model are the Translate tab's own buttons). They are declared with gr.api, whose
parameters and results come from the type hints below, so they need no hidden components.

Also the one way a run is started from the page or the API: `start_training`.
"""
import gradio as gr

from cyclegan import UserInputError
from train import TrainConfig
from train.runs import new_run_dir

from . import forms, state
from .errors import friendly


def start_training(data, arch, scale, size, steps, batch, recipe=None, lr_g=None, lr_d=None,
                   lambda_cycle=None, lambda_identity=None, uploaded: bool = False, init=None) -> dict:
    """Form values -> a TrainConfig (checked when it is made) -> the server's one run slot.
    Logging, sampling and checkpointing are spaced to the run's length. `init` (a model to
    fine-tune from) passes the same allow-list as the Translate tab's models."""
    data, name = forms.data_spec(data, uploaded)
    init = str(init or "").strip() or None
    if init is not None:
        init = state.MODELS.check_allowed(init)
    steps = forms.opt_int(steps, "steps")
    if steps is None:
        raise UserInputError("give the number of training steps")
    arch = str(arch or "cyclegan")
    cfg = TrainConfig(data=data, init=init, arch=arch, recipe=recipe or None, scale=str(scale or "quick"),
                      size=forms.opt_int(size, "image size"), steps=steps, batch=forms.opt_int(batch, "batch"),
                      out=str(new_run_dir(state.runs_dir(), arch, name).path), threads=state.train_threads(),
                      sample_every=max(1, min(50, steps // 10)), checkpoint_every=max(1, min(200, steps // 2)),
                      log_every=max(1, min(10, steps // 50)), lr_g=forms.opt_float(lr_g, "lr_g"),
                      lr_d=forms.opt_float(lr_d, "lr_d"), lambda_cycle=forms.opt_float(lambda_cycle, "lambda_cycle"),
                      lambda_identity=forms.opt_float(lambda_identity, "lambda_identity"))
    state.RUNS.start(cfg)
    return state.RUNS.status()


@friendly
def train_start(data: str = "demo:daynight", arch: str = "cyclegan", scale: str = "quick", size: int | None = None,
                steps: int = 300, batch: int | None = None, recipe: str | None = None, init: str | None = None) -> dict:
    """Start a training run (one per server): data is demo:<world>, official:<name> (downloaded once),
    a .zip or a folder on the server; arch cyclegan | discogan | dualgan; scale quick | full;
    recipe None = the default; init None = random weights, or a model to fine-tune from."""
    return start_training(data, arch, scale, size, steps, batch, recipe, init=init)


def train_status() -> tuple[dict, gr.FileData | None]:
    """The run's state, step, losses, newest checkpoint (`model` loads in /translate) and its
    newest sample grid as a PNG."""
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
    state.RUNS.current().pause()
    return state.RUNS.status()


@friendly
def train_resume() -> dict:
    state.RUNS.current().resume()
    return state.RUNS.status()


def register() -> None:
    """Declare the endpoints; call inside the page's gr.Blocks."""
    gr.api(train_start, api_name="train_start")
    gr.api(train_status, api_name="train_status", concurrency_limit=None)
    gr.api(train_stop, api_name="train_stop", concurrency_limit=None)
    gr.api(train_pause, api_name="train_pause")
    gr.api(train_resume, api_name="train_resume")
