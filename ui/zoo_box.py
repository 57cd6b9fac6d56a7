"""The official CycleGAN models in the Translate tab's "Load a model" box: the authors' 18
generators by name, downloaded once into the cache (cyclegan/zoo.py) with a progress bar and a
Cancel button, then loaded like any other model (later loads need no network)."""
import gradio as gr

from cyclegan import UserInputError, zoo

from . import state
from .errors import friendly

PRIVATE = dict(api_visibility="private")


def _session(request: gr.Request | None) -> str:
    return getattr(request, "session_hash", None) or "api"


@friendly
def load_official(name: str, loaded: list | None = None, request: gr.Request = None, progress=gr.Progress()):
    """Download (once) and load `official:NAME` or NAME; returns (architecture, spec, loaded, message)."""
    raw = str(name or "").strip()
    if not raw:
        raise UserInputError("choose one of the official models first")
    name = zoo.model_name(zoo.parse_spec(raw) if raw.lower().startswith("official:") else raw)
    session = _session(request)
    flag = state.DOWNLOADS.begin(session)
    cached = zoo.is_cached(name)
    try:
        def report(done, total):
            progress((done, total), desc=f"downloading {name}.pth", unit="bytes")
        zoo.fetch_model(name, progress=report, cancel=flag)
    finally:
        state.DOWNLOADS.end(session, flag)
    spec = f"official:{name}"
    model = state.MODELS.get(spec)
    a, b = model.domains
    entry = {"spec": spec, "arch": model.architecture, "label": f"official: {name} ({a} → {b})"}
    loaded = [e for e in (loaded or []) if e["spec"] != spec] + [entry]
    where = "from the cache" if cached else f"downloaded from {zoo.settings().base_url}"
    return model.architecture, spec, loaded, f"Loaded **official:{name}** ({where}): {a} → {b}."


def cancel_download(request: gr.Request = None) -> str:
    if state.DOWNLOADS.cancel(_session(request)):
        return "Cancelling: the download stops at its next chunk and nothing of it is kept."
    return "No download in progress."


def create() -> dict:
    """Inside the "Load a model" accordion."""
    c = {}
    c["zoo_name"] = gr.Dropdown(zoo.model_choices(), value=None, label="Official CycleGAN model",
                                elem_id="zoo-model", filterable=True, allow_custom_value=True,
                                info=f"the authors' generators, downloaded once from {zoo.DEFAULT_URL} "
                                     "(CYCLEGAN_ZOO_URL) into the cache; one direction each")
    with gr.Row():
        c["zoo_btn"] = gr.Button("Download and load", elem_id="zoo-load", min_width=120)
        c["zoo_cancel"] = gr.Button("Cancel", variant="stop", elem_id="zoo-cancel", min_width=80)
    return c


def wire(c: dict, after) -> None:
    """`after(event)` chains what follows a successful load (the model list refresh)."""
    outputs = [c["arch"], c["model"], c["loaded"], c["load_msg"]]
    # Downloads wait on the network, not the CPU: a queue of their own (two at once), so that a
    # slow server never holds the translations' 'work' slots.
    event = c["zoo_btn"].click(load_official, [c["zoo_name"], c["loaded"]], outputs, api_name="load_official",
                               concurrency_limit=2, concurrency_id="zoo")
    after(event)
    # The flag stops the download thread; `cancels` frees the page at once (a stalled server would
    # otherwise hold the button until CYCLEGAN_ZOO_TIMEOUT).
    c["zoo_cancel"].click(cancel_download, None, c["load_msg"], api_name="cancel_download", cancels=[event])
