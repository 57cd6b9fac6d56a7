"""Builders of hostile (and awkward-but-valid) inputs, shared by test_hostile.py and test_load.py.

Each `Case` writes one input into a folder and says what a user must be told about it: a phrase
of the `UserInputError` message, or `ok=True` with the size the output must have. The same table
is driven through the library, the CLIs and the app's endpoints, so one list of inputs checks
every door a file can come in by.
"""
from __future__ import annotations

import io
import json
import os
import pickle
import stat
import struct
import time
import zipfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import torch
from PIL import Image

from conftest import tiny_model
from cyclegan import save_model

VICTIM = "pwned.txt"  # what the malicious pickle would create next to itself
ESCAPED = "cyclegan-hostile-escaped"  # the name zip entries that try to climb out of their folder use


@dataclass(frozen=True)
class Case:
    name: str
    build: Callable[[Path], Path]      # folder -> the input written inside it
    expect: str | None = None          # phrase the user-facing message must contain
    size: tuple[int, int] | None = None  # (w, h) the output must have, for inputs that must work
    env: dict = field(default_factory=dict)  # limits lowered for this case

    @property
    def ok(self) -> bool:
        return self.expect is None

    def __str__(self):  # pytest ids
        return self.name


# --- images ------------------------------------------------------------------------------------
def encode(img: Image.Image, fmt: str = "PNG", **kw) -> bytes:
    buf = io.BytesIO()
    img.save(buf, fmt, **kw)
    return buf.getvalue()


def noise(w: int = 48, h: int = 40, seed: int = 0) -> Image.Image:
    return Image.fromarray(np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8))


def png_header_only(w: int, h: int) -> bytes:
    """A valid PNG signature + IHDR (with a correct CRC) + IEND: claims w x h, holds no pixels."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0)) + chunk(b"IEND", b"")


def _corrupt_png() -> bytes:
    """Whole length, right signature, but the pixel data is overwritten: a checksum/zlib error."""
    data = bytearray(encode(noise()))
    at = data.find(b"IDAT") + 8
    data[at:at + 64] = b"\xde\xad\xbe\xef" * 16
    return bytes(data)


def _corrupt_jpeg() -> bytes:
    """A JPEG start-of-image marker followed by garbage."""
    return b"\xff\xd8\xff\xe0" + os.urandom(500)


def _16bit() -> bytes:
    a = (np.linspace(0, 65535, 30 * 20).reshape(20, 30)).astype(np.uint16)
    return encode(Image.fromarray(a))


def _palette_transparency() -> bytes:
    p = Image.new("P", (24, 16), 0)
    p.putpalette([0, 0, 0, 255, 0, 0] + [0] * 762)
    p.paste(1, (0, 0, 12, 16))
    return encode(p, transparency=0)


def _animated_gif() -> bytes:
    frames = [Image.new("RGB", (20, 12), (255, 0, 0)), Image.new("RGB", (20, 12), (0, 0, 255))]
    return encode(frames[0], "GIF", save_all=True, append_images=frames[1:], duration=100, loop=0)


def _exif_rotated() -> bytes:
    exif = Image.Exif()
    exif[0x0112] = 6  # the camera says: rotate 90° clockwise to display
    return encode(noise(24, 12), "JPEG", exif=exif)


def _file(name: str, data: bytes | Callable[[], bytes]) -> Callable[[Path], Path]:
    def build(folder: Path) -> Path:
        p = Path(folder) / name
        p.write_bytes(data() if callable(data) else data)
        return p
    return build


_png = encode(noise())
_jpg = encode(noise(), "JPEG", quality=90)

IMAGE_CASES = [
    Case("truncated_png", _file("cut.png", _png[: len(_png) // 2]), "truncated or corrupt"),
    Case("truncated_jpeg", _file("cut.jpg", _jpg[: len(_jpg) // 2]), "truncated or corrupt"),
    Case("corrupt_png", _file("bad.png", _corrupt_png), "truncated or corrupt"),
    Case("corrupt_jpeg", _file("bad.jpg", _corrupt_jpeg), "truncated or corrupt"),
    Case("empty", _file("empty.png", b""), "empty (0 bytes)"),
    Case("text_as_png", _file("notes.png", b"shopping list: eggs, milk\n"), "it is a text file"),
    Case("html_as_png", _file("page.png", b"<!DOCTYPE html><html><body><img src=x.png></body></html>"),
         "it is a web page"),
    Case("bomb_50000x50000", _file("bomb.png", png_header_only(50000, 50000)),
         "over the limit of 40 megapixels (CYCLEGAN_MAX_IMAGE_PIXELS)"),
    Case("png_16bit", _file("scan16.png", _16bit), size=(30, 20)),
    Case("cmyk_jpeg", _file("print.jpg", lambda: encode(Image.new("CMYK", (26, 18), (200, 10, 0, 0)), "JPEG")),
         size=(26, 18)),
    Case("palette_transparency", _file("pal.png", _palette_transparency), size=(24, 16)),
    Case("animated_gif", _file("anim.gif", _animated_gif), size=(20, 12)),
    Case("exif_rotated", _file("phone.jpg", _exif_rotated), size=(12, 24)),  # displayed size, rotated
    Case("1x1", _file("dot.png", lambda: encode(Image.new("RGB", (1, 1), (10, 200, 30)))), size=(1, 1)),
    Case("1x4000", _file("strip.png", lambda: encode(Image.new("L", (1, 4000), 90))), size=(1, 4000)),
]


# --- models and checkpoints ------------------------------------------------------------------------
def model_folder(folder: Path, name: str = "model", arch: str = "cyclegan") -> Path:
    return save_model(tiny_model(arch), Path(folder) / name)


def _zip_files(path: Path, files: dict[str, bytes], extra: Callable[[zipfile.ZipFile], None] | None = None) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in files.items():
            zf.writestr(name, data)
        if extra:
            extra(zf)
    return path


def model_files(top: str = "model/") -> dict[str, bytes]:
    """The files of a tiny model folder, as zip entries under `top`."""
    import tempfile
    with tempfile.TemporaryDirectory() as tmp:
        folder = model_folder(Path(tmp))
        return {f"{top}{p.name}": p.read_bytes() for p in sorted(folder.iterdir())}


def _symlink_entry(name: str, target: str):
    def add(zf: zipfile.ZipFile):
        info = zipfile.ZipInfo(name)
        info.create_system = 3
        info.external_attr = (stat.S_IFLNK | 0o777) << 16
        zf.writestr(info, target)
    return add


class CreatesAFile:
    """Unpickling this calls open(path, 'w'): the file appearing would prove code ran."""

    def __init__(self, path: str):
        self.path = path

    def __reduce__(self):
        return (open, (self.path, "w"))


def _pickle_bomb(folder: Path) -> Path:
    p = Path(folder) / "horse2zebra.pth"
    torch.save({"model.1.weight": torch.zeros(1), "evil": CreatesAFile(str(Path(folder) / VICTIM))}, p)
    return p


def _plain_pickle(folder: Path) -> Path:
    p = Path(folder) / "latest_net_G_A.pth"
    p.write_bytes(pickle.dumps({"evil": CreatesAFile(str(Path(folder) / VICTIM))}, protocol=2))
    return p


def _random_bytes(name: str) -> Callable[[Path], Path]:
    return _file(name, lambda: np.random.default_rng(7).bytes(4096))


def _first_half(full: Path) -> Path:
    """`full` replaced by cut.<its suffix> holding its first half: a download that broke off."""
    data = full.read_bytes()
    full.unlink()
    p = full.with_name("cut" + full.suffix)
    p.write_bytes(data[: len(data) // 2])
    return p


def _truncated_safetensors(folder: Path) -> Path:
    return _first_half(save_model(tiny_model(), Path(folder) / "full.safetensors"))


def _truncated_pth(folder: Path) -> Path:
    torch.save(tiny_model().G_AB.state_dict(), Path(folder) / "full.pth")
    return _first_half(Path(folder) / "full.pth")


def _truncated_zip(folder: Path) -> Path:
    return _first_half(_zip_files(Path(folder) / "full.zip", model_files()))


def _other_arch_pth(folder: Path) -> Path:
    p = Path(folder) / "latest_net_G_A.pth"
    torch.save(tiny_model("dualgan").G_AB.state_dict(), p)
    return p


def _other_arch_folder(folder: Path) -> Path:
    """A DualGAN config with CycleGAN weights, zipped as a model upload."""
    cg = model_folder(folder, "cg", "cyclegan")
    dg = model_folder(folder, "dg", "dualgan")
    files = {f"dg/{p.name}": p.read_bytes() for p in dg.iterdir()}
    files["dg/model.safetensors"] = (cg / "model.safetensors").read_bytes()
    return _zip_files(Path(folder) / "mixed.zip", files)


def _wrong_shapes(folder: Path) -> Path:
    from safetensors import safe_open
    from safetensors.torch import load_file, save_file
    path = save_model(tiny_model(), Path(folder) / "shapes.safetensors")
    tensors = load_file(str(path))
    with safe_open(str(path), "pt") as f:
        meta = f.metadata()
    tensors["G_AB.model.1.weight"] = torch.zeros(5, 3, 7, 7)
    save_file(tensors, str(path), metadata=meta)
    return path


def _model_zip(name: str, extra=None, files: Callable[[], dict] | None = None) -> Callable[[Path], Path]:
    def build(folder: Path) -> Path:
        fs = files() if callable(files) else files
        return _zip_files(Path(folder) / name, model_files() if fs is None else fs, extra)
    return build


def _nested_model_zip(folder: Path) -> Path:
    inner = _zip_files(Path(folder) / "inner.zip", model_files())
    out = _zip_files(Path(folder) / "outer.zip", {"inner.zip": inner.read_bytes()})
    inner.unlink()
    return out


def _non_utf8_model_zip(folder: Path) -> Path:
    z = _zip_files(Path(folder) / "legacy.zip", model_files("modXXXX/"))
    return _non_utf8_names(z, b"XXXX", b"\x82\xa0\x82\xa2")  # a Shift-JIS folder name, no UTF-8 flag


def _non_utf8_names(z: Path, placeholder: bytes, raw: bytes) -> Path:
    data = z.read_bytes()
    assert data.count(placeholder) >= 2
    z.write_bytes(data.replace(placeholder, raw))
    return z


def _nan_weights(folder: Path) -> Path:
    """A model whose weights hold NaN (saved from a run that diverged): it would translate to black."""
    m = tiny_model()
    with torch.no_grad():
        m.G_AB.model[1].weight[0, 0, 0, 0] = float("nan")
        next(m.G_BA.parameters()).view(-1)[3] = float("inf")
    return save_model(m, Path(folder) / "diverged.safetensors")


def huge_config_file(folder: Path, name: str = "huge.safetensors") -> Path:
    """About 1.3 KB: a self-describing .safetensors whose config names two generators of 97 M
    parameters each (195 M in all: under every width, depth and parameter limit, also a Space's)
    and one tiny tensor. Building those nets would take 780 MB before the missing tensors were
    noticed."""
    from safetensors.torch import save_file
    from cyclegan.checkpoints import model_config
    cfg = model_config(tiny_model())
    cfg["preset"]["generator"] = {"family": "resnet", "kwargs": {"ngf": 128, "n_blocks": 20}}
    cfg.pop("provenance", None)
    path = Path(folder) / name
    save_file({"G_AB.x": torch.zeros(1)}, str(path), metadata={"format": "pt", "cyclegan_config": json.dumps(cfg)})
    return path


def _deep_json_model_zip(folder: Path) -> Path:
    files = model_files()
    files["model/config.json"] = b"[" * 100_000 + b"]" * 100_000
    return _zip_files(Path(folder) / "deep.zip", files)


class RunsACommand:
    def __reduce__(self):
        return (os.system, ("true",))


def _os_system_pickle(folder: Path) -> Path:
    p = Path(folder) / "latest_net_G_A.pth"
    torch.save({"model.1.weight": torch.zeros(1), "evil": RunsACommand()}, p)
    return p


def _protocol4_pickle(folder: Path) -> Path:
    p = Path(folder) / "new_pickle.pth"
    p.write_bytes(pickle.dumps({"evil": CreatesAFile(str(Path(folder) / VICTIM))}, protocol=4))
    return p


def _comma_name(folder: Path) -> Path:
    return save_model(tiny_model(), Path(folder) / "day,night v2.safetensors")


_BOMB_ENV = {"CYCLEGAN_MAX_ZIP_BYTES": "1000000"}
_MANY_ENV = {"CYCLEGAN_MAX_ZIP_ENTRIES": "200"}


def _many(prefix: str, n: int = 600) -> Callable[[zipfile.ZipFile], None]:
    def add(zf: zipfile.ZipFile):
        for i in range(n):
            zf.writestr(f"{prefix}n{i}.txt", b"")
    return add


# Model files, given to load_model / `python -m cyclegan info` / the app's /load_model.
MODEL_CASES = [
    Case("empty_pth", _file("empty.pth", b""), "empty (0 bytes)"),
    Case("random_pth", _random_bytes("noise.pth"), "not a readable PyTorch checkpoint"),
    Case("random_safetensors", _random_bytes("noise.safetensors"), "not a readable safetensors file"),
    Case("random_zip", _random_bytes("noise.zip"), "not a valid zip file"),
    Case("truncated_pth", _truncated_pth, "not a readable PyTorch checkpoint"),
    Case("truncated_safetensors", _truncated_safetensors, "not a readable safetensors file"),
    Case("truncated_zip", _truncated_zip, "not a valid zip file"),
    Case("pickle_creates_file", _pickle_bomb, "refused: this file would run code when loaded"),
    Case("plain_pickle_creates_file", _plain_pickle, "refused: this file would run code when loaded"),
    Case("other_arch_state_dict", _other_arch_pth, "not a CycleGAN generator: it looks like a DualGAN U-Net generator"),
    Case("other_arch_weights_in_folder", _other_arch_folder, "does not match its architecture 'dualgan'"),
    Case("safetensors_wrong_shapes", _wrong_shapes, "tensors have the wrong shape"),
    Case("zip_dotdot", _model_zip("slip.zip", files=lambda: {**model_files(), f"../{ESCAPED}.txt": b"x"}), "unsafe path in zip"),
    Case("zip_absolute", _model_zip("abs.zip", files=lambda: {**model_files(), f"/etc/{ESCAPED}.txt": b"x"}),
         "unsafe path in zip"),
    Case("zip_symlink", _model_zip("link.zip", _symlink_entry("model/passwd", "/etc/passwd")), "symbolic link"),
    Case("zip_bomb", _model_zip("bomb.zip", files=lambda: {**model_files(), "model/zeros.bin": bytes(3_000_000)}),
         "CYCLEGAN_MAX_ZIP_BYTES", env=_BOMB_ENV),
    Case("zip_many_entries", _model_zip("many.zip", _many("model/")), "CYCLEGAN_MAX_ZIP_ENTRIES", env=_MANY_ENV),
    Case("zip_nested", _nested_model_zip, "holds no model"),
    Case("zip_non_utf8_names", _non_utf8_model_zip, size=(48, 40)),
    Case("zip_ok", _model_zip("fine.zip"), size=(48, 40)),
    Case("nan_inf_weights", _nan_weights, "NaN or infinite weights"),
    Case("huge_config_few_tensors", huge_config_file, "does not match its architecture"),
    Case("deeply_nested_config", _deep_json_model_zip, "nested too deeply"),
    Case("pickle_runs_os_system", _os_system_pickle, "refused: this file would run code when loaded (it names posix.system)"),
    Case("pickle_protocol_4", _protocol4_pickle, "refused: this file would run code when loaded (it names"),
    Case("comma_in_file_name", _comma_name, size=(48, 40)),
]


# --- training data zips ------------------------------------------------------------------------------
def data_files(n_a: int = 3, n_b: int = 2, prefix: str = "", a: str = "trainA", b: str = "trainB") -> dict[str, bytes]:
    files = {f"{prefix}{a}/{i}.png": encode(noise(40, 30, i)) for i in range(n_a)}
    files.update({f"{prefix}{b}/{i}.png": encode(noise(40, 30, 100 + i)) for i in range(n_b)})
    return files


def _data_zip(name: str, files: dict | Callable[[], dict] | None = None, extra=None) -> Callable[[Path], Path]:
    def build(folder: Path) -> Path:
        fs = files() if callable(files) else files
        return _zip_files(Path(folder) / name, data_files() if fs is None else fs, extra)
    return build


def _nested_data_zip(folder: Path) -> Path:
    """trainA/ holds only a zip of images: never opened, so trainA/ has no images."""
    inner = io.BytesIO()
    with zipfile.ZipFile(inner, "w") as zf:
        for name, data in data_files(prefix="").items():
            zf.writestr(name, data)
    files = {k: v for k, v in data_files().items() if k.startswith("trainB/")}
    files["trainA/more.zip"] = inner.getvalue()
    return _zip_files(Path(folder) / "nested.zip", files)


def _non_utf8_data_zip(folder: Path) -> Path:
    files = data_files() | {"trainA/XXXX.png": encode(noise(40, 30, 9)), "trainB/YYYY.png": encode(noise(40, 30, 8))}
    z = _zip_files(Path(folder) / "legacy.zip", files)
    z = _non_utf8_names(z, b"XXXX", b"\xe9\xff\x80\x81")   # latin-1-ish bytes
    return _non_utf8_names(z, b"YYYY", b"\x82\xa0\x82\xa2")  # Shift-JIS


def _domains_zip(name: str, domains: dict) -> Callable[[Path], Path]:
    return _data_zip(name, lambda: data_files() | {"domains.json": json.dumps(domains).encode()})


def _junk_zip(folder: Path) -> Path:
    """50 MB of zeros beside the images: it compresses to 50 KB, and must not take 50 MB of disk."""
    with zipfile.ZipFile(Path(folder) / "junk.zip", "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in data_files().items():
            zf.writestr(name, data)
        with zf.open("trainA/junk.bin", "w") as f:
            for _ in range(50):
                f.write(bytes(1_000_000))
    return Path(folder) / "junk.zip"


DATA_CASES = [
    Case("data_dotdot", _data_zip("slip.zip", lambda: data_files() | {f"trainA/../../{ESCAPED}.png": b"x"}), "unsafe path in zip"),
    Case("data_absolute", _data_zip("abs.zip", lambda: data_files() | {f"/etc/{ESCAPED}.png": b"x"}),
         "unsafe path in zip"),
    Case("data_symlink", _data_zip("link.zip", extra=_symlink_entry("trainA/passwd.png", "/etc/passwd")),
         "symbolic link"),
    Case("data_bomb", _data_zip("bomb.zip", lambda: data_files() | {"trainA/zeros.bin": bytes(3_000_000)}),
         "CYCLEGAN_MAX_ZIP_BYTES", env=_BOMB_ENV),
    Case("data_many_entries", _data_zip("many.zip", extra=_many("trainA/")), "CYCLEGAN_MAX_ZIP_ENTRIES", env=_MANY_ENV),
    Case("data_nested_zip", _nested_data_zip, "trainA/ has no images"),
    Case("data_no_train_folders", _data_zip("flat.zip", lambda: {"pics/a.png": encode(noise()), "x/b.png": encode(noise()),
                                                                 "y/c.png": encode(noise())}),
         "no trainA/ and trainB/ folders"),
    Case("data_empty_domain", _data_zip("halfempty.zip", lambda: data_files(n_b=0), extra=lambda zf: zf.writestr("trainB/", b"")),
         "trainB/ has no images"),
    Case("data_only_broken_images", _data_zip("broken.zip", lambda: {**{k: v for k, v in data_files().items() if "trainA" in k},
                                                                     "trainB/bomb.png": png_header_only(50000, 50000),
                                                                     "trainB/cut.png": _png[:100]}),
         "trainB/ has no images"),
    Case("data_long_domain_name", _domains_zip("long.zip", {"A": "d" * 150, "B": "night"}),
         "a domain name must be 1 to 100 printable characters"),
    Case("data_control_chars_in_domain", _domains_zip("ctl.zip", {"A": "day\u0007", "B": "night"}),
         "a domain name must be 1 to 100 printable characters"),
    Case("data_markdown_domain_name", _domains_zip("md.zip", {"A": "[click](https://evil.example/x)", "B": "night"}),
         size=(3, 2)),
    Case("data_junk_file", _junk_zip, size=(3, 2)),
    Case("data_non_utf8_names", _non_utf8_data_zip, size=(4, 3)),   # size = (images in A, in B)
    Case("data_ok", _data_zip("fine.zip"), size=(3, 2)),
]


# --- the app's training run, as the app tests drive it ------------------------------------------
def train_status(client) -> dict:
    return client.predict(api_name="/train_status")[0]


def wait_status(client, pred, timeout=120.0) -> tuple[dict, str | None]:
    """Poll /train_status until pred(status, latest_sample) holds; returns both."""
    deadline = time.time() + timeout
    status = None
    while time.time() < deadline:
        status, sample = client.predict(api_name="/train_status")
        if pred(status, sample):
            return status, sample
        time.sleep(0.2)
    raise AssertionError(f"timed out; last status: {json.dumps(status)[:800]}")


def stop_any_run():
    """Stop the app's run, if one is active, and wait for its final checkpoint."""
    from ui import state
    state.RUNS.stop_and_wait(60)


def ui_call(url: str, app, fn_name: str, data: list, oauth_token: str | None = None) -> tuple[dict, str]:
    """Run a UI event the way the page does: join the queue, read the event stream. Returns the
    completion message and the raw stream text. `oauth_token` rides in the request body, which is
    how Gradio hands a signed-in visitor's token to a handler's gr.OAuthToken parameter when there
    is no browser session (a Space's session cookie would give the same)."""
    import uuid

    import httpx
    fn_id = next(k for k, fn in app.demo.fns.items() if fn.name == fn_name)
    cfg = httpx.get(url + "config").json()
    dep = next(d for d in cfg["dependencies"] if d["id"] == fn_id)
    session = uuid.uuid4().hex
    body = {"data": data, "fn_index": fn_id, "session_hash": session, "trigger_id": dep["targets"][0][0],
            "event_data": None}
    if oauth_token is not None:
        body["oauth_token"] = oauth_token
    r = httpx.post(url + "gradio_api/queue/join", json=body)
    r.raise_for_status()
    raw = []
    with httpx.stream("GET", url + f"gradio_api/queue/data?session_hash={session}", timeout=120) as resp:
        for line in resp.iter_lines():
            raw.append(line)
            if line.startswith("data:"):
                msg = json.loads(line[5:])
                if msg.get("msg") == "process_completed":
                    return msg, "\n".join(raw)
    raise AssertionError("the event stream ended without a result:\n" + "\n".join(raw))


# --- command-line mistakes: each is one `error:` line and exit status 2 --------------------------------
LONG = "x" * 300 + ".png"


@dataclass(frozen=True)
class CliCase:
    name: str
    module: str                     # "cyclegan" or "train"
    args: list                      # "{dir}" is the case's folder
    expect: str                     # phrase of the one error line
    setup: Callable[[Path], None] | None = None

    def __str__(self):
        return self.name


def _cli_setup(folder: Path) -> None:
    Image.new("RGB", (20, 20)).save(folder / "a.png")
    (folder / "afile").write_text("x")
    (folder / "badrun").mkdir()
    (folder / "badrun" / "config.json").write_text("{not json")
    deep = folder / "deepmodel"
    deep.mkdir()
    (deep / "config.json").write_text("[" * 100_000 + "]" * 100_000)
    save_model(tiny_model(), folder / "ok")
    (deep / "model.safetensors").write_bytes((folder / "ok" / "model.safetensors").read_bytes())


_Q = ["--scale", "quick", "--size", "32", "--steps", "1", "--batch", "1", "--threads", "1", "--quiet"]
CLI_CASES = [
    CliCase("input_name_too_long", "cyclegan", ["translate", "--model", "{dir}/ok", LONG, "-o", "{dir}/o.png"],
            "File name too long"),
    CliCase("output_name_too_long", "cyclegan", ["translate", "--model", "{dir}/ok", "{dir}/a.png", "-o", "{dir}/" + LONG],
            "File name too long"),
    CliCase("output_under_a_file", "cyclegan", ["translate", "--model", "{dir}/ok", "{dir}/a.png", "-o",
                                                "{dir}/afile/x.png"], "cannot create folder"),
    CliCase("deeply_nested_config", "cyclegan", ["info", "{dir}/deepmodel"], "nested too deeply"),
    CliCase("export_unwritable", "cyclegan", ["demo", "export", "/proc/no-such-folder", "--n", "2", "--size", "16"],
            "cannot use '/proc/no-such-folder'"),
    CliCase("grid_unwritable", "cyclegan", ["demo", "grid", "-o", "/proc/x.png", "--n", "1", "--size", "64"],
            "cannot use '/proc/x.png'"),
    CliCase("grid_missing_folder", "cyclegan", ["demo", "grid", "-o", "{dir}/nodir/x.png", "--n", "1"],
            "does not exist"),
    CliCase("grid_unknown_extension", "cyclegan", ["demo", "grid", "-o", "{dir}/x.xyz", "--n", "1"],
            "needs an image extension"),
    CliCase("argparse_unknown_flag", "cyclegan", ["translate", "--bogus"], "see 'python -m cyclegan translate --help'"),
    CliCase("train_argparse_unknown_flag", "train", ["--bogus"], "unrecognized arguments: --bogus (see 'python -m train --help')"),
    CliCase("train_data_name_too_long", "train", ["--data", "{dir}/" + LONG, "--out", "{dir}/r", *_Q], "File name too long"),
    CliCase("train_out_name_too_long", "train", ["--out", "{dir}/" + LONG, *_Q], "File name too long"),
    CliCase("train_out_under_a_file", "train", ["--out", "{dir}/afile/run", *_Q], "which is a file"),
    CliCase("train_out_is_a_file", "train", ["--out", "{dir}/afile", *_Q], "is a file: give a folder"),
    CliCase("train_pool_size_negative", "train", ["--out", "{dir}/r", "--pool-size", "-1", *_Q], "pool-size must be"),
    CliCase("train_workers_negative", "train", ["--out", "{dir}/r", "--workers", "-1", *_Q], "workers must be"),
    CliCase("train_resume_bad_config", "train", ["--out", "{dir}/badrun", "--resume", "--steps", "1"],
            "config.json of run 'badrun' is unreadable"),
    CliCase("train_size_zero", "train", ["--out", "{dir}/r", *_Q, "--size", "0"], "must be a whole number of at least 16"),
    CliCase("train_nan_lambda", "train", ["--out", "{dir}/r", *_Q, "--lambda-cycle", "nan"], "lambda-cycle must be a number"),
    CliCase("train_huge_lambda", "train", ["--out", "{dir}/r", *_Q, "--lambda-identity", "1e30"], "lambda-identity must"),
    CliCase("train_inf_lr", "train", ["--out", "{dir}/r", *_Q, "--lr-d", "inf"], "lr-d must be a number above 0"),
    CliCase("train_zero_clip", "train", ["--out", "{dir}/r", *_Q, "--clip-weights", "0"], "clip-weights must"),
    CliCase("train_memory_estimate", "train", ["--out", "{dir}/r", "--scale", "full", "--size", "256", "--batch", "512",
                                               "--steps", "1"], "CYCLEGAN_MAX_TRAIN_MEMORY_MB"),
]
