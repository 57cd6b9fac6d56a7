"""Several images at once, in the Translate tab: drop a set of images into a gallery, translate them
all with the model, direction and processing size chosen above, get the results as a gallery and
as one zip. Unreadable files are named and skipped; the rest are translated."""
import time
import zipfile
from pathlib import Path

import gradio as gr

from cyclegan import UserInputError, limits
from cyclegan.images import is_heif, open_image, shrink_factor
from cyclegan.model import check_direction

from . import forms, state
from .errors import friendly
from .files import output_path, output_png, shown_copy, shrunk_note


def _items(gallery) -> list[tuple[str, str]]:
    """(path, shown name) of each gallery item, as the gallery hands them over (path, caption)."""
    out = []
    for item in gallery or []:
        path = item[0] if isinstance(item, (list, tuple)) else item
        path = forms.upload_path(path) if isinstance(path, dict) else path
        if path:
            out.append((str(path), Path(str(path)).name))
    return out


def show_copies(gallery):
    """HEIC photos (an iPhone's) in the gallery become JPEG copies, upright: only Safari can show
    HEIC, so other browsers would show empty thumbnails of photos that translate fine. JPEGs over
    the pixel limit become copies read at 1/2, 1/4 or 1/8 size, with a note. A file that cannot
    be read stays as it is, to be named when the batch runs."""
    items, notes, changed = [], [], False
    if len(gallery or []) > limits.current().max_batch_images:
        return gr.skip()      # Translate all refuses these with the limit; no work for them here
    for path, name in _items(gallery):
        shrink = shrink_factor(path)
        if shrink > 1 or is_heif(path):
            try:
                copy = shown_copy(path, shrink)
                if shrink > 1:
                    notes.append(shrunk_note(name, path, copy, shrink))
                path, changed = copy, True
            except (UserInputError, OSError):
                pass
        items.append((path, None))
    for note in notes[:3]:
        gr.Info(note, duration=15)
    return items if changed else gr.skip()


@friendly
def translate_batch(gallery, model_spec, direction, size=None, progress=gr.Progress()):
    """Translate every image of the gallery; returns the translations, a zip of them, a message."""
    items = _items(gallery)
    lim = limits.current()
    if not items:
        raise UserInputError("add images to the gallery first")
    if len(items) > lim.max_batch_images:
        raise UserInputError(f"{len(items)} images is over this server's limit of {lim.max_batch_images} at once "
                             "(CYCLEGAN_MAX_BATCH_IMAGES)")
    state.use_translate_threads()
    model = state.MODELS.get(model_spec)
    direction = check_direction(direction or model.directions[0])
    work = forms.work_size(size)
    shown, skipped, names = [], [], set()
    zip_path = output_path(".zip", f"translations-{direction}.zip")
    t0 = time.perf_counter()
    with zipfile.ZipFile(zip_path, "w", zipfile.ZIP_DEFLATED) as zf:
        for i, (path, name) in enumerate(progress.tqdm(items, desc="translating")):
            try:
                if Path(path).stat().st_size > lim.max_upload_mb * 1_000_000:
                    raise UserInputError(f"larger than {lim.max_upload_mb} MB")
                with open(path, "rb") as f:
                    img = open_image(f)
            except (UserInputError, OSError) as e:
                skipped.append(f"{name} ({e})")
                continue
            out = output_png(model.translate(img, direction, work_size=work))
            stem, n = f"{Path(name).stem}_{direction}", 2
            arc = f"{stem}.png"
            while arc in names:                 # two uploads with one name
                arc, n = f"{stem}_{n}.png", n + 1
            names.add(arc)
            zf.write(out, arc)
            shown.append((out, arc))
    if not shown:
        raise UserInputError("none of the images could be read: " + "; ".join(skipped[:5]))
    secs = time.perf_counter() - t0
    msg = (f"Translated **{len(shown)}** image{'s' * (len(shown) != 1)} "
           f"{model.direction_label(direction)} in {secs:.1f} s.")
    if skipped:
        msg += f" Skipped {len(skipped)}: " + "; ".join(skipped[:5]) + (" ..." if len(skipped) > 5 else "")
    return shown, zip_path, msg


def create() -> dict:
    c = {}
    with gr.Accordion("Several images at once", open=False, elem_id="batch"):
        gr.Markdown("Drop images here; they are translated with the model, direction and processing size "
                    "chosen above, and come back as a gallery and one zip.")
        with gr.Row(equal_height=False):
            c["inputs"] = gr.Gallery(label="Images to translate", elem_id="batch-in", type="filepath", interactive=True,
                                     file_types=["image"], columns=4, height=260)
            c["outputs"] = gr.Gallery(label="Translations", elem_id="batch-out", interactive=False, columns=4,
                                      height=260, format="png", buttons=["download", "fullscreen"])
        with gr.Row():
            c["go"] = gr.Button("Translate all", variant="primary", elem_id="batch-btn")
            c["zip"] = gr.File(label="All translations (.zip)", interactive=False, elem_id="batch-zip", height=80)
        c["msg"] = gr.Markdown("", elem_id="batch-msg")
    return c


def wire(shared: dict) -> None:
    t = shared["translate"]
    c = t["batch"]
    c["inputs"].upload(show_copies, c["inputs"], c["inputs"], show_progress="hidden", api_visibility="private")
    c["go"].click(translate_batch, [c["inputs"], t["model"], t["direction"], t["size"]],
                  [c["outputs"], c["zip"], c["msg"]], api_name="translate_batch",
                  concurrency_limit=limits.current().translate_concurrency, concurrency_id="work")
