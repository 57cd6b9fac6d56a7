"""Form values -> what the library takes: numbers typed into boxes, an uploaded image as Gradio
hands it over, and the training data the Train tab's choices name."""
import base64
import re
import binascii
from pathlib import Path

from cyclegan import UserInputError, demo, limits, zoo
from cyclegan.images import open_image
from cyclegan.settings import whole_number

MAX_WORK_SIZE = 4096


def opt_int(value, name: str) -> int | None:
    """A whole number from a box, None when the box is empty."""
    return None if value is None or value == "" else whole_number(value, name)


def opt_float(value, name: str) -> float | None:
    if value is None or value == "":
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        raise UserInputError(f"{name} must be a number, got {value!r}") from None


def work_size(size) -> int | None:
    """The processing size box, read as the library reads work_size: 0 or empty = automatic (the
    image's own size, short side capped at 512 px on a CPU; a number box shows and sends 0 when
    empty), N = N pixels."""
    if size is None or size == "":
        return None
    size = whole_number(size, "processing size (pixels; 0 = automatic)", 0)
    if size and not 8 <= size <= MAX_WORK_SIZE:
        raise UserInputError(f"processing size must be 0 (automatic: your image's own size, short side at most "
                             f"512 px) or 8..{MAX_WORK_SIZE} px, got {size}")
    return size or None


SAMPLE_INFO = ("DualGAN's decoder dropout stays on, as in every version of its authors' code: each seed "
               "gives another plausible translation")
BATCH_STATS_INFO = ("DiscoGAN's BatchNorm normalises by the image being translated, as the authors' code "
                    "does (it never switches to eval mode, and translates a whole test batch at once); off: "
                    "the running statistics, which scored better on one image at a time")


def inference_mode(model, sample, seed, batch_stats) -> dict:
    """The Translate form's switches -> translate()'s keywords. A switch the model lacks (hidden
    on the page) is left to the model; seed is a whole number (empty = 0)."""
    seed = 0 if seed is None or seed == "" else whole_number(seed, "seed")
    return {"sample": bool(sample) if sample is not None and (model.can_sample or sample) else None,
            "seed": seed,
            "batch_stats": bool(batch_stats) if batch_stats is not None and (model.has_batch_stats or batch_stats)
            else None}


def mode_note(model, mode: dict) -> str:
    """' (a sample, seed 3)' / ' (batch statistics)' / '' for the result message."""
    d = model.inference_defaults()
    parts = []
    if d["sample"] if mode["sample"] is None else mode["sample"]:
        parts.append(f"a sample, seed {mode['seed']}")
    if d["batch_stats"] if mode["batch_stats"] is None else mode["batch_stats"]:
        parts.append("batch statistics")
    return f" ({', '.join(parts)})" if parts else ""


def upload_path(payload) -> str | None:
    """Where an uploaded image lies: Gradio's payload (the events take it unprocessed, so that a
    broken upload fails with our message, not PIL's) or a plain path."""
    if isinstance(payload, dict):
        return payload.get("path") or None
    return payload or None


def open_upload(payload):
    """The uploaded image as an RGB picture. An image pasted inline arrives as a data: URL and
    skips Gradio's upload route and its size limit, so ours is applied here."""
    url = (payload.get("url") or "") if isinstance(payload, dict) else ""
    if url.startswith("data:"):
        data = url.split(",", 1)[-1]
        limit = limits.current().max_upload_mb
        if len(data) * 3 // 4 > limit * 1_000_000:
            raise UserInputError(f"the image is larger than this server's limit of {limit} MB (CYCLEGAN_MAX_UPLOAD_MB)")
        try:
            return open_image(base64.b64decode(data, validate=True))
        except binascii.Error:
            raise UserInputError("the pasted image is not valid base64 data") from None
    path = upload_path(payload)
    if path is None:
        raise UserInputError("upload an image first (or pick one of the examples)")
    if isinstance(path, (str, Path)):
        with open(path, "rb") as f:  # a file object, so messages name the file and not our cache path
            return open_image(f)
    return open_image(path)


def data_spec(data, uploaded: bool = False) -> tuple[str, str]:
    """(what TrainConfig reads, a short name for the run folder). Server paths only where allowed;
    a zip the visitor uploaded and the official datasets (public files) are always fine."""
    if not isinstance(data, (str, type(None))) and not uploaded:   # e.g. gradio_client's handle_file(...)
        raise UserInputError("the training data is text: demo:<world>, hub:owner/name, official:<name> or a folder "
                             "on the server; a .zip of your own images is uploaded in the page's Train tab")
    data = str(data or "").strip()
    if not data:
        raise UserInputError("choose the training data: a demo world, a .zip upload, a Hub dataset or a folder")
    if data.lower().startswith("official:"):      # a public download, capped by CYCLEGAN_ZOO_MAX_DATASET_MB
        name = zoo.dataset_name(zoo.parse_spec(data))
        return f"official:{name}", name
    if data.startswith("demo:"):
        world = data[5:]
        if world not in demo.world_names():
            raise UserInputError(f"unknown demo world {world!r}; choose one of: "
                                 + ", ".join(f"demo:{w}" for w in demo.world_names()))
        return data, world
    if data.startswith("hub:"):
        from cyclegan.hubdata import parse
        repo, _ = parse(data)
        return data, repo.split("/")[1]
    if not uploaded and not limits.current().allow_server_paths:
        raise UserInputError("this server does not read training data from its own folders "
                             "(CYCLEGAN_ALLOW_SERVER_PATHS is off): use a demo world or upload a .zip")
    return data, Path(data).stem


def md(text) -> str:
    """`text` shown literally inside Markdown: names from uploads (domains.json, file names) must
    not become links, images or HTML in every visitor's page. Bare URLs are links in GitHub's
    Markdown too, so their 'www.', '://' and '@' are escaped as well."""
    text = re.sub(r"([\\`*_{}\[\]()<>#+!|~:/@&=])", r"\\\1", str(text)).replace("\n", " ")
    return re.sub(r"(?i)\bwww\.", lambda m: m.group(0)[:-1] + "\\.", text)
