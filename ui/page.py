"""The page: every tab's create() first, then every tab's wire(shared), so an event in one tab
can update components of another (the Train tab's timer refreshes the Translate tab's model
list); then the API-only endpoints. launch() adds what belongs to serving, not to the page."""
import gradio as gr

from cyclegan import limits

from . import api, state, style, train_tab, translate_tab


def build() -> gr.Blocks:
    with gr.Blocks(title="CycleGAN Studio") as page:
        gr.Markdown("# CycleGAN Studio\nUnpaired image-to-image translation with **CycleGAN**, **DiscoGAN** "
                    "and **DualGAN**: give a photo a vintage look with the built-in model, load one of the "
                    "CycleGAN authors' models or your own, or train (or fine-tune) a new one.",
                    elem_classes="app-header")
        with gr.Tabs():
            shared = {"page": page, "translate": translate_tab.create(), "train": train_tab.create()}
        translate_tab.wire(shared)
        train_tab.wire(shared)
        api.register()
    return page


def launch(page: gr.Blocks, **kwargs):
    """page.launch with this app's theme, upload limit and runs folder; sizes the translation
    threads first (see ui/state.py)."""
    state.start()
    lim = limits.current()
    kwargs.setdefault("theme", style.THEME)
    kwargs.setdefault("css", style.CSS)
    kwargs.setdefault("share", False)
    kwargs.setdefault("max_file_size", lim.max_upload_mb * 1_000_000)
    kwargs.setdefault("allowed_paths", [str(state.runs_dir().resolve())])
    kwargs.setdefault("run_history", False)  # "Runs" in the footer would read as training runs
    return page.launch(**kwargs)
