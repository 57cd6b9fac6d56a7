"""The Translate tab: pick an architecture, a model and a direction, translate an image, see the
round trip and its error; load a model from the Hub or an upload."""
import atexit
import os
import shutil
import tempfile
import time
from pathlib import Path

import gradio as gr
import numpy as np

from cyclegan import UserInputError, demo, hub, limits
from cyclegan.images import check_image, is_heif, shrink_factor
from cyclegan.model import check_direction

from . import batch, forms, state, storage, visitor, zoo_box
from .files import output_png, shown_copy, shrunk_note
from .errors import friendly
from .widgets import any_model

GENERIC_DIRECTIONS = [("A → B", "a2b"), ("B → A", "b2a")]
PRIVATE = dict(api_visibility="private")
PHOTOS = Path(__file__).parent / "examples"      # public-domain / CC0 photos: docs/photos.md
_examples: list[str] = []


def example_photos() -> list[str]:
    return [str(p) for p in sorted(PHOTOS.glob("*.jpg"))]


def example_images() -> list[str]:
    """The shipped real photos, then two scenes of each demo world in both looks, rendered once
    per process into a temporary folder (removed at exit): nothing is written next to the app."""
    if not _examples:
        _examples.extend(example_photos())
        folder = Path(tempfile.mkdtemp(prefix="cyclegan-examples-"))
        atexit.register(shutil.rmtree, folder, ignore_errors=True)
        for world in demo.world_names():
            for seed in demo.test_seeds(world, 2):
                for side, name in zip("AB", demo.domains(world)):
                    path = folder / f"{world}-{name}-{seed}.png"
                    demo.render(world, seed, side, 256).save(path)
                    _examples.append(str(path))
    return list(_examples)


def mean_abs_error(a, b) -> float:
    """Mean absolute difference of two same-sized RGB images, in 0..1, a band of rows at a time
    (a 40-megapixel image as float32 at once would take half a gigabyte per copy)."""
    x, y = np.asarray(a), np.asarray(b)
    total, step = 0.0, max(1, 4_000_000 // max(1, x.shape[1] * 3))
    for i in range(0, x.shape[0], step):
        total += float(np.abs(x[i:i + step].astype(np.int16) - y[i:i + step].astype(np.int16)).sum())
    return total / (x.size * 255.0)


@friendly
def translate(image, model_spec, direction, size=None, sample=None, seed=None, batch_stats=None,
              oauth_token: gr.OAuthToken | None = None):
    """Translate an image with an unpaired image-to-image model (CycleGAN, DiscoGAN, DualGAN, CUT);
    also the round trip (A→B→A when the model has both directions) and its error. The work is
    bounded by the server's limits (pixels, time).

    Args:
        image: the image to translate; the result has its size
        model_spec: demo:vintage and demo:photo-vintage-cut (real photos, photo → vintage only),
            demo:photo-vintage-cyclegan, -discogan, -dualgan (real photos, photo ↔ vintage),
            demo:cyclegan, demo:discogan, demo:dualgan (day ↔ night), demo:cut (day → night only),
            official:NAME, a Hub id owner/name, or train_status's model
        direction: a2b or b2a (for the built-in models, a2b is day → night)
        size: short side in pixels the net runs at; empty or 0 = automatic (the image's own size,
            short side at most 512 px on a CPU)
        sample: translate with decoder dropout on, as a sample (DualGAN); empty = the model's recipe default
        seed: the sample's seed (empty = 0); the same seed gives the same sample
        batch_stats: BatchNorm uses the translated image's own statistics (DiscoGAN); empty = the recipe default
    Returns:
        the translation (PNG), the round trip (PNG; none for a one-way model), a message with the round-trip error
    """
    img = forms.open_upload(image)
    state.use_translate_threads()
    model = state.MODELS.get(model_spec, token=visitor.read_token(oauth_token))
    direction = check_direction(direction or model.directions[0])
    work = forms.work_size(size)
    mode = forms.inference_mode(model, sample, seed, batch_stats)
    seconds = limits.current().max_translate_seconds
    deadline = time.monotonic() + seconds if seconds else None
    label = model.direction_label(direction)
    back = "b2a" if direction == "a2b" else "a2b"
    how = forms.mode_note(model, mode)
    if back not in model.directions:
        fake = model.translate(img, direction, work_size=work, deadline=deadline, **mode)
        return output_png(fake), None, f"Translated {forms.md(label)}{how}. No round trip: this model only translates {forms.md(label)}."
    fake, rec = model.round_trip(img, direction, work_size=work, deadline=deadline, **mode)
    err = mean_abs_error(img, rec)
    trip = f"{label} → {label.split(' → ')[0]}"
    return output_png(fake), output_png(rec), (f"Translated {forms.md(label)}{how}. Round trip {forms.md(trip)}: "
                                               f"mean absolute error **{err:.4f}** (pixel values 0–1; 0 = perfect "
                                               "reconstruction).")


@friendly
def before_after(image, translated):
    """The slider: the input as the net saw it (EXIF-rotated, RGB) against the translation."""
    out = forms.upload_path(translated)
    return (forms.open_upload(image), out) if out else None


def model_facts(model) -> str:
    """What the model is and what it was trained on (so what it can be expected to know)."""
    params = sum(model.info()["parameters"].get(k, 0) for k in ("G_AB", "G_BA"))
    a, b = (forms.md(d) for d in model.domains)
    pair = forms.md(model.direction_label(model.directions[0])) if model.one_direction else f"{a} ↔ {b}"
    facts = (f"**{model.preset.title}** · {pair} · trained at {model.image_size} px · "
             f"{params / 1e6:.2f} M generator parameters")
    lines = [facts, forms.md(model.trained_on()[:1].upper() + model.trained_on()[1:]) + "."]
    prov = model.provenance or {}
    if prov.get("licence") or prov.get("zoo"):
        source = prov.get("url") or prov.get("source", "")
        lines.append(f"Source: {forms.md(source)}"
                     + (f" · licence {forms.md(prov['licence'])}" if prov.get("licence") else "")
                     + (f" · {forms.md(prov['authors'])}" if prov.get("authors") else ""))
    if model.one_direction:
        only = forms.md(model.direction_label(model.directions[0]))
        back = forms.md(model.direction_label("b2a" if model.directions[0] == "a2b" else "a2b"))
        lines.append(f"One direction only: **{only}**. It has no {back} generator, so no round trip.")
    return "\n\n".join(lines)


@friendly
def select_model(model_spec, oauth_token: gr.OAuthToken | None = None):
    """The direction buttons, the round-trip pane and the inference switches follow the chosen
    model: both directions are shown with its domain names, and one the model lacks is greyed out
    (the toggle is fixed to the one it has; a one-direction model has no way back, so the
    round-trip pane is hidden); the sample / seed / batch-statistics switches show only where the
    model has them, set to its recipe's default. The processing size stays as it is: 0 = automatic
    suits every model."""
    if not model_spec:
        return (gr.update(choices=GENERIC_DIRECTIONS, value="a2b", interactive=True, info=""),
                "No model selected: train one in the **Train** tab or load one below.", gr.update(visible=True),
                gr.update(value=False, visible=False), gr.update(visible=False), gr.update(value=False, visible=False))
    model = state.MODELS.get(model_spec, token=visitor.read_token(oauth_token))
    choices = [(model.direction_label(d), d) for d in ("a2b", "b2a")]
    have = model.directions
    only = None if len(have) > 1 else f"this model only translates {model.direction_label(have[0])}"
    defaults = model.inference_defaults()
    return (gr.update(choices=choices, value=have[0], interactive=len(have) > 1, info=only or ""), model_facts(model),
            gr.update(visible=not model.one_direction),
            gr.update(value=defaults["sample"], visible=model.can_sample),
            gr.update(visible=model.can_sample),
            gr.update(value=defaults["batch_stats"], visible=model.has_batch_stats))


def _pick(choices, current):
    specs = [v for _, v in choices]
    return current if current in specs else (specs[0] if specs else None)


def refresh_models(arch, current, loaded):
    """New runs appear in the list; the choice stays (it may be a typed Hub id)."""
    choices = state.model_choices(arch, loaded)
    return gr.update(choices=choices, value=current or _pick(choices, current))


def filter_models(arch, current, loaded):
    choices = state.model_choices(arch, loaded)
    info = None if choices else f"no {state.ARCH_TITLES.get(arch, arch)} model yet: train one or load one below"
    return gr.update(choices=choices, value=_pick(choices, current), info=info or "")


@friendly
def load_user_model(hub_id="", files=None, loaded=None, oauth_token: gr.OAuthToken | None = None):
    """A Hub id (read as the visitor: anonymous unless signed in) or an upload (.zip of a model
    folder, .safetensors, one or two official .pth), which is moved to the private folder and
    named `upload:ID`: no server path reaches the page."""
    if isinstance(files, str):
        files = [files]
    files = [forms.upload_path(f) for f in (files or []) if f]
    hub_id = (hub_id or "").strip()
    token = visitor.read_token(oauth_token)
    if files:
        limit = limits.current().max_upload_mb
        for f in files:
            if os.path.getsize(f) > limit * 1_000_000:
                raise UserInputError(f"'{Path(f).name}' is larger than this server's limit of {limit} MB "
                                     "(CYCLEGAN_MAX_UPLOAD_MB)")
        shown = ", ".join(Path(f).name for f in files)
        kept = storage.keep_upload(files, "model")
        spec = f"upload:{kept.name}"
        try:
            model = state.MODELS.get(spec)
        except BaseException:
            storage.remove_upload(kept)
            raise
        storage.prune_uploads()
    elif hub_id:
        if not hub.is_repo_id(hub_id):
            raise UserInputError(f"'{hub_id}' is not a Hub model id (expected 'owner/name')")
        spec, shown = hub_id, hub_id
        model = state.MODELS.get(spec, token=token)
    else:
        raise UserInputError("give a Hub id, or upload a model (.zip, .safetensors or .pth)")
    arch = model.architecture
    a, b = model.domains
    entry = {"spec": spec, "arch": arch, "label": f"loaded: {shown} ({a} ↔ {b})"}
    loaded = [e for e in (loaded or []) if e["spec"] != spec] + [entry]
    return arch, spec, loaded, f"Loaded **{forms.md(shown)}**: {model_facts(model)}"


def check_upload(image):
    """Say at once when an upload is not a usable image, instead of at Translate. A HEIC photo
    (an iPhone's) comes back as a JPEG copy, upright, which then is the input: only Safari can
    show HEIC, so other browsers would show a broken picture of a photo that translates fine. A
    JPEG over the pixel limit comes back likewise, read at 1/2, 1/4 or 1/8 size, with a note."""
    if isinstance(image, dict) and str(image.get("url") or "").startswith("data:"):
        return gr.skip()  # pasted inline: forms.open_upload checks it at Translate
    path = forms.upload_path(image)
    if not isinstance(path, str):
        return gr.skip()
    try:
        shrink = shrink_factor(path)
        if shrink > 1:                     # a JPEG over the pixel limit: used at 1/2, 1/4 or 1/8 size
            copy = shown_copy(path, shrink)
            gr.Info(shrunk_note("This photo", path, copy, shrink), duration=15)
            return copy
        if is_heif(path):
            return shown_copy(path)        # reading it whole checks it, with check_image's messages
        check_image(path)
        return gr.skip()
    except UserInputError as e:
        msg = str(e).replace(str(Path(path).parent) + os.sep, "")
        raise gr.Error(msg, print_exception=False) from None


def create() -> dict:
    first_arch = state.initial_arch()
    first_choices = state.model_choices(first_arch)
    c = {}
    with gr.Tab("Translate", id="translate") as c["tab"]:
        with gr.Row(equal_height=False):
            with gr.Column(scale=4, min_width=280):
                c["arch"] = gr.Radio(state.ARCH_CHOICES, value=first_arch, label="Architecture", elem_id="arch")
                c["model"] = any_model(gr.Dropdown(
                    first_choices, value=first_choices[0][1] if first_choices else None, label="Model", elem_id="model",
                    allow_custom_value=True, filterable=True,
                    info="" if first_choices else "no model yet: train one or load one below"))
                c["model_info"] = gr.Markdown("")
                c["direction"] = gr.Radio(GENERIC_DIRECTIONS, value="a2b", label="Direction", elem_id="direction")
                c["size"] = gr.Number(0, label="Processing size (px)", precision=0, minimum=0, elem_id="work-size",
                                      info="Short side the net runs at; the output keeps your image's size. "
                                           "0 = automatic: your image's own size, short side capped at 512 px "
                                           "on a CPU. Or a number: your image's short side for its full "
                                           "resolution, or the model's training size.")
                with gr.Row():
                    c["sample"] = gr.Checkbox(False, label="sample (stochastic, as the authors)", visible=False,
                                              elem_id="sample", info=forms.SAMPLE_INFO)
                    c["seed"] = gr.Number(0, label="seed", precision=0, minimum=0, visible=False, elem_id="seed",
                                          min_width=80, info="same seed, same sample")
                c["batch_stats"] = gr.Checkbox(False, label="batch statistics (as the authors' code)", visible=False,
                                               elem_id="batch-stats", info=forms.BATCH_STATS_INFO)
                c["go"] = gr.Button("Translate", variant="primary", elem_id="translate-btn")
                with gr.Accordion("Load a model", open=False):
                    c.update(zoo_box.create())
                    gr.Markdown("Or a Hugging Face Hub id, or upload a zipped model folder, a `.safetensors` "
                                "file, or CycleGAN `.pth` generators (official or community layouts; one, or "
                                "G_A + G_B).")
                    c["hub_id"] = gr.Textbox(label="Hub model id", placeholder="owner/name")
                    c["upload"] = gr.File(label="Model file(s)", file_count="multiple",
                                          file_types=[".zip", ".safetensors", ".pth", ".pt"], height=130)
                    c["load_btn"] = gr.Button("Load model")
                    c["load_msg"] = gr.Markdown("", label="message")
            with gr.Column(scale=5, min_width=300):
                c["image"] = gr.Image(label="Input image", elem_id="input-image", type="filepath",
                                      sources=["upload", "clipboard", "webcam"], height=340)
                gr.Examples(example_images(), inputs=[c["image"]], examples_per_page=8, elem_id="examples",
                            label="Examples: public-domain / CC0 photos, then the demo worlds")
            with gr.Column(scale=5, min_width=300):
                c["slider"] = gr.ImageSlider(label="Before / after (drag the line)", elem_id="before-after", type="pil",
                                             format="png", interactive=False, height=340, buttons=["fullscreen"])
                shown = dict(type="pil", format="png", interactive=False, height=200,
                             buttons=["download", "fullscreen"])  # download gives the PNG
                with gr.Row():
                    c["out"] = gr.Image(label="Translation", elem_id="translation", **shown)
                    c["trip"] = gr.Image(label="Round trip", elem_id="round-trip", **shown)
                c["trip_msg"] = gr.Markdown("", label="round_trip_error", elem_id="round-trip-msg")
        c["batch"] = batch.create()
        c["loaded"] = gr.State([])        # this visitor's loaded models: {spec, label, arch}
    return c


def wire(shared: dict) -> None:
    c = shared["translate"]
    arch, model, loaded, direction = c["arch"], c["model"], c["loaded"], c["direction"]
    # The image reaches our handlers unprocessed (preprocess=False): gr.Image would open it with
    # PIL first, and a broken upload would fail there with PIL's message instead of ours.
    # Translating and loading share the CPU: CYCLEGAN_TRANSLATE_CONCURRENCY of them at once.
    work = dict(concurrency_limit=limits.current().translate_concurrency, concurrency_id="work")
    c["go"].click(translate, [c["image"], model, direction, c["size"], c["sample"], c["seed"], c["batch_stats"]],
                  [c["out"], c["trip"], c["trip_msg"]], api_name="translate", preprocess=False, **work).success(
        before_after, [c["image"], c["out"]], c["slider"], preprocess=False, show_progress="hidden", **PRIVATE)
    c["image"].upload(check_upload, c["image"], c["image"], show_progress="hidden", preprocess=False, **PRIVATE)
    picked = [direction, c["model_info"], c["trip"], c["sample"], c["seed"], c["batch_stats"]]
    model.change(select_model, model, picked, **PRIVATE)
    arch.input(filter_models, [arch, model, loaded], model, **PRIVATE)
    c["tab"].select(refresh_models, [arch, model, loaded], model, **PRIVATE)
    c["load_btn"].click(load_user_model, [c["hub_id"], c["upload"], loaded], [arch, model, loaded, c["load_msg"]],
                        api_name="load_model", **work).success(filter_models, [arch, model, loaded], model, **PRIVATE)
    zoo_box.wire(c, lambda event: event.success(filter_models, [arch, model, loaded], model, **PRIVATE))
    shared["page"].load(refresh_models, [arch, model, loaded], model, **PRIVATE).then(
        select_model, model, picked, **PRIVATE)
