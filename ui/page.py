"""The page: every tab's create() first, then every tab's wire(shared), so an event in one tab
can update components of another (the Train tab's timer refreshes the Translate tab's model
list); then the API-only endpoints. launch() adds what belongs to serving, not to the page:
the queue's limits, the runs folder as the only served folder, Gradio's cache cleaning."""
import logging
import warnings

import gradio as gr

from cyclegan import limits
from cyclegan.settings import env_bool, env_raw

from . import api, batch, live_tab, state, storage, style, train_tab, translate_tab, visitor

log = logging.getLogger("cyclegan.app")


def build() -> gr.Blocks:
    lim = limits.current()
    age = lim.cache_minutes * 60
    # Gradio's cache (uploads, results) is cleaned of files older than CYCLEGAN_CACHE_MINUTES.
    with gr.Blocks(title="CycleGAN Studio", delete_cache=(min(age, 600), age)) as page:
        gr.Markdown("# CycleGAN Studio\nUnpaired image-to-image translation with **CycleGAN**, **DiscoGAN**, "
                    "**DualGAN** and **CUT**: give a photo a vintage look with the built-in model, load one of the "
                    "CycleGAN authors' models or your own, or train (or fine-tune) a new one.",
                    elem_classes="app-header")
        owner = visitor.owner_state()   # this browser's random id: whose run is whose
        with gr.Tabs():
            shared = {"page": page, "owner": owner, "translate": translate_tab.create(), "live": live_tab.create(),
                      "train": train_tab.create()}
        page.load(visitor.ensure_owner, owner, owner, show_progress="hidden", api_visibility="private")
        translate_tab.wire(shared)
        batch.wire(shared)
        live_tab.wire(shared)
        train_tab.wire(shared)
        api.register()
    return page


def launch(page: gr.Blocks, **kwargs):
    """page.launch with this app's theme, upload limit, queue limits and runs folder; sizes the
    translation threads first (see ui/state.py) and tidies the runs folder (ui/storage.py)."""
    state.start()
    try:
        storage.enforce_caps()
    except Exception as e:  # noqa: BLE001 - a full or odd runs folder must not stop the app starting
        log.warning("runs folder: %s", e)
    lim = limits.current()
    page.queue(max_size=lim.queue_size or None, default_concurrency_limit=lim.translate_concurrency)
    kwargs.setdefault("theme", style.THEME)
    kwargs.setdefault("css", style.CSS)
    kwargs.setdefault("js", style.JS)
    kwargs.setdefault("share", False)
    kwargs.setdefault("max_file_size", lim.max_upload_mb * 1_000_000)
    kwargs.setdefault("allowed_paths", [str(storage.runs_dir().resolve())])
    kwargs.setdefault("run_history", False)  # "Runs" in the footer would read as training runs
    kwargs.setdefault("mcp_server", mcp_enabled())
    # /load_model's one State input (this page's list of loaded models) starts empty for each MCP
    # call, which is what a tool call should see; gradio warns about it all the same.
    warnings.filterwarnings("ignore", message="This MCP server includes a tool that has a gr.State input")
    return page.launch(**kwargs)


def mcp_enabled() -> bool:
    """Serve the named endpoints as MCP tools (at /gradio_api/mcp/) when gradio's `mcp` extra is
    installed, unless CYCLEGAN_MCP=0."""
    import importlib.util
    wanted = env_bool("CYCLEGAN_MCP", True)
    if wanted and importlib.util.find_spec("mcp") is None:
        if env_raw("CYCLEGAN_MCP") is not None:
            log.warning("CYCLEGAN_MCP is on but the mcp package is missing: pip install 'gradio[mcp]'")
        return False
    return wanted


def main() -> None:
    """The `cyclegan-studio` console script (pyproject.toml): what `python app.py` does."""
    import logging
    logging.basicConfig(level=logging.INFO)
    launch(build())
