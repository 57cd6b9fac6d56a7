"""The Train tab's "Export the model" section: download the run as a zip, push its model to the
Hub as the visitor (a pasted token, or Sign in with Hugging Face on a Space), never as the
server. Tokens go straight to huggingface_hub: never logged, echoed, stored or shown."""
import atexit
import logging
import os
import shutil
import tempfile
import time
from pathlib import Path

import gradio as gr

import cyclegan
from cyclegan import UserInputError

from . import state, visitor
from .errors import friendly

log = logging.getLogger("cyclegan.app")
PRIVATE = dict(api_visibility="private")
KEEP_EXPORTS_S = 120   # Gradio copies a returned file into its cache at once; ours can go soon after


def exports_dir() -> Path:
    folder = Path(tempfile.gettempdir()) / f"cyclegan-exports-{os.getpid()}"
    if not folder.is_dir():
        folder.mkdir()
        atexit.register(shutil.rmtree, folder, ignore_errors=True)
    return folder


def prune_exports(older_than_s: float = KEEP_EXPORTS_S) -> int:
    """Remove export zips older than `older_than_s`; returns how many remain."""
    folder, now, left = exports_dir(), time.time(), 0
    for sub in folder.iterdir():
        try:
            if now - sub.stat().st_mtime > older_than_s:
                shutil.rmtree(sub, ignore_errors=True)
            else:
                left += 1
        except OSError:
            pass
    return left


@friendly
def download_run():
    """The run's newest model (generators only), sample grids and metrics as one zip; load_model
    reads it. Returned as a str (Gradio 6's File output refuses a Path)."""
    run = state.RUNS.run
    if run is None or not run.snapshot().get("latest_checkpoint"):
        raise UserInputError("no checkpoint yet: a run writes one every few steps and when stopped")
    prune_exports()
    return str(run.folder.export_zip(exports_dir()))


def push_run(repo_id, token, private, oauth_token: gr.OAuthToken | None = None):
    """Push the run's newest model as the visitor: the token they typed, or the one signing in
    gave this page (Gradio fills `oauth_token` from the session); never the server's own."""
    try:
        run = state.RUNS.run
        ckpt = run.folder.newest_checkpoint() if run is not None else None
        if ckpt is None:
            raise UserInputError("no checkpoint yet: train (or stop a run) first")
        repo_id = (repo_id or "").strip()
        if not repo_id:
            raise UserInputError("give a Hub repository id like 'your-name/day2night'")
        cyclegan.hub.check_repo_id(repo_id, cyclegan.hub.redactor((token or "").strip() or None))
        secret = visitor.hub_token(token, oauth_token, "pushing to the Hub")
        url = cyclegan.push_to_hub(cyclegan.load_model(ckpt), repo_id, token=secret, private=bool(private))
        return f"Pushed to [{url}]({url})"
    except UserInputError as e:
        raise gr.Error(str(e), print_exception=False) from None
    except Exception as e:  # no traceback: locals and messages could carry the token
        log.error("push to the Hub failed: %s", type(e).__name__)
        raise gr.Error("push to the Hub failed (internal error)", print_exception=False) from None


def create() -> dict:
    c = {}
    with gr.Accordion("Export the model", open=False):
        gr.Markdown("The newest checkpoint as a model folder, with the sample grids and "
                    "metrics; `cyclegan.load_model` and **Load a model** read the zip as it is.")
        c["dl_btn"] = gr.Button("Download run (.zip)")
        c["dl_file"] = gr.File(label="Run zip", interactive=False, visible=False, height=80, elem_id="run-zip")
        if visitor.login_available():
            c["login"] = gr.LoginButton(elem_id="hf-login")
            hint = "Sign in above, or paste a token with write access"
        else:
            hint = "A token with write access (this app never uses the server's own)"
        with gr.Row():
            c["repo"] = gr.Textbox(label="Hub repository", placeholder="your-name/day2night")
            c["token"] = gr.Textbox(label="Hub token", type="password", placeholder="hf_...", info=hint)
            c["private"] = gr.Checkbox(True, label="Private")
        c["push_btn"] = gr.Button("Push to the Hub")
        c["push_msg"] = gr.Markdown("")
    return c


def _download():
    path = download_run()
    return gr.update(value=path, visible=True), path


def remove_export(path) -> None:
    """Once Gradio has copied the zip into its cache (the event that returned it is complete),
    our copy goes; its temporary folder too."""
    if path and Path(path).parent.parent == exports_dir():
        shutil.rmtree(Path(path).parent, ignore_errors=True)


def wire(c: dict) -> None:
    made = gr.State(None)
    c["dl_btn"].click(_download, None, [c["dl_file"], made], **PRIVATE).then(
        remove_export, made, None, show_progress="hidden", **PRIVATE)
    c["push_btn"].click(push_run, [c["repo"], c["token"], c["private"]], c["push_msg"], **PRIVATE)
