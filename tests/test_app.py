"""The app's named endpoints, called the way a user's script would: through gradio_client."""
import io
import re
import threading
import time
import zipfile
from pathlib import Path

import numpy as np
import pytest
from gradio_client import handle_file
from PIL import Image

import cyclegan
from hostile_inputs import wait_status

ARCHS = ("cyclegan", "discogan", "dualgan")


def png_bytes(img: Image.Image) -> bytes:
    buf = io.BytesIO()
    img.save(buf, "PNG")
    return buf.getvalue()


@pytest.fixture(scope="module")
def photo(tmp_path_factory) -> Path:
    """An odd-sized image, so 'same size out' is not true by accident."""
    rng = np.random.default_rng(0)
    p = tmp_path_factory.mktemp("img") / "photo.png"
    Image.fromarray(rng.integers(0, 256, (75, 101, 3), dtype=np.uint8)).save(p)
    return p


@pytest.fixture(scope="module")
def tiny_models(tmp_path_factory) -> dict[str, Path]:
    """An untrained quick model of each architecture, saved as a model folder."""
    root = tmp_path_factory.mktemp("models")
    return {arch: cyclegan.save_model(cyclegan.CycleModel(cyclegan.get_preset(arch, "quick"), domains=("day", "night")),
                                      root / arch) for arch in ARCHS}


def assert_png(path, size):
    data = Path(path).read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", f"{path} is not a PNG"
    with Image.open(path) as im:
        assert im.size == size


@pytest.mark.parametrize("arch", ARCHS)
def test_translate_both_directions(client, tiny_models, photo, arch):
    for direction in ("a2b", "b2a"):
        out, trip, msg = client.predict(handle_file(str(photo)), str(tiny_models[arch]), direction, None,
                                        api_name="/translate")
        assert_png(out, (101, 75))
        assert_png(trip, (101, 75))
        assert "mean absolute error" in msg
        err = float(msg.split("**")[1])
        assert 0.0 <= err <= 1.0


def test_translate_processing_size_changes_result(client, tiny_models, photo):
    spec = str(tiny_models["cyclegan"])
    small, _, _ = client.predict(handle_file(str(photo)), spec, "a2b", 32, api_name="/translate")
    native, _, _ = client.predict(handle_file(str(photo)), spec, "a2b", 0, api_name="/translate")
    assert_png(small, (101, 75))
    assert_png(native, (101, 75))
    assert not np.array_equal(np.asarray(Image.open(small)), np.asarray(Image.open(native)))


def test_load_model_upload_zip(client, tiny_models, photo, tmp_path):
    z = tmp_path / "dual.zip"
    with zipfile.ZipFile(z, "w") as zf:
        for f in tiny_models["dualgan"].iterdir():
            zf.write(f, f"dual/{f.name}")
    arch, spec, msg = client.predict("", [handle_file(str(z))], api_name="/load_model")
    assert arch == "dualgan"
    assert spec.endswith("dual.zip")
    assert "day ↔ night" in msg
    out, _, _ = client.predict(handle_file(str(photo)), spec, "b2a", None, api_name="/translate")
    assert_png(out, (101, 75))


def test_load_model_errors(client, tmp_path):
    bad = tmp_path / "weights.safetensors"
    bad.write_bytes(b"not really safetensors")
    with pytest.raises(Exception, match="not a readable safetensors file"):
        client.predict("", [handle_file(str(bad))], api_name="/load_model")
    with pytest.raises(Exception, match="not a Hub model id"):
        client.predict("not a hub id", None, api_name="/load_model")


@pytest.mark.parametrize("name,data,message", [
    ("notes.png", b"hello, this is a text file\n", "it is a text file"),
    ("empty.png", b"", "empty (0 bytes)"),
    ("cut.png", None, "truncated or corrupt"),
])
def test_bad_uploads_say_why(client, tiny_models, tmp_path, name, data, message):
    if data is None:
        noise = np.random.default_rng(1).integers(0, 256, (64, 64, 3), dtype=np.uint8)
        data = png_bytes(Image.fromarray(noise))
        data = data[: len(data) // 2]
    p = tmp_path / name
    p.write_bytes(data)
    with pytest.raises(Exception, match=re.escape(message)) as info:
        client.predict(handle_file(str(p)), str(tiny_models["cyclegan"]), "a2b", None, api_name="/translate")
    assert "Traceback" not in str(info.value)
    assert "/tmp" not in str(info.value)  # no server paths in the message


def test_bad_model_spec(client, photo):
    with pytest.raises(Exception, match="no built-in model 'demo:nope'"):
        client.predict(handle_file(str(photo)), "demo:nope", "a2b", None, api_name="/translate")


def test_server_paths_only_where_allowed(client, tiny_models, photo, monkeypatch):
    monkeypatch.setenv("CYCLEGAN_ALLOW_SERVER_PATHS", "false")
    with pytest.raises(Exception, match="does not load models from its own folders"):
        client.predict(handle_file(str(photo)), str(tiny_models["cyclegan"]), "a2b", None, api_name="/translate")
    with pytest.raises(Exception, match="does not read training data from its own folders"):
        client.predict(str(photo.parent), "cyclegan", "quick", 32, 10, None, api_name="/train_start")


def test_train_rejects_bad_settings(client):
    with pytest.raises(Exception, match="steps must be at least 1"):
        client.predict("demo:daynight", "cyclegan", "quick", 32, 0, None, api_name="/train_start")
    with pytest.raises(Exception, match="unknown demo world 'atlantis'"):
        client.predict("demo:atlantis", "cyclegan", "quick", 32, 10, None, api_name="/train_start")
    with pytest.raises(Exception, match="too small for discogan"):
        client.predict("demo:daynight", "discogan", "quick", 32, 10, None, api_name="/train_start")


def test_train_status_stop_translate(app_server, client, photo):
    """Two simultaneous starts give one run; it shows losses and samples, stops with a
    checkpoint, and that checkpoint translates."""
    from gradio_client import Client
    other = Client(app_server[0], analytics_enabled=False, verbose=False)
    results, errors = [], []

    def start(c):
        try:
            results.append(c.predict("demo:daynight", "cyclegan", "quick", 32, 400, None, api_name="/train_start"))
        except Exception as e:  # noqa: BLE001 - the refusal is what we look for
            errors.append(str(e))

    threads = [threading.Thread(target=start, args=(c,)) for c in (client, other)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert len(results) == 1 and len(errors) == 1, (results, errors)
    assert "a run is in progress" in errors[0]
    assert results[0]["state"] in ("starting", "running")
    assert results[0]["total"] == 400

    status, sample = wait_status(client, lambda s, img: s["points"] >= 2 and img, timeout=90.0)
    assert status["state"] == "running"
    assert {"D_A", "D_B", "G_AB", "G_BA", "cycle_A", "cycle_B"} <= set(status["losses"])
    assert all(np.isfinite(v) for v in status["losses"].values())
    assert_png(sample, (6 * 32, 4 * 32))  # 4 rows of real A | fake B | rec A | real B | fake A | rec B

    with pytest.raises(Exception, match="a run is in progress"):
        client.predict("demo:daynight", "dualgan", "quick", 32, 10, None, api_name="/train_start")

    paused = client.predict(api_name="/train_pause")
    assert paused["state"] == "paused"
    time.sleep(1.0)
    still = client.predict(api_name="/train_status")[0]
    assert still["state"] == "paused" and still["step"] == client.predict(api_name="/train_status")[0]["step"]
    assert client.predict(api_name="/train_resume")["state"] == "running"

    stopped = client.predict(10, api_name="/train_stop")
    assert stopped["state"] == "stopped"
    assert 0 < stopped["step"] < 400
    assert stopped["latest_checkpoint"] and stopped["model"]
    assert Path(stopped["latest_checkpoint"]).name == f"step_{stopped['step']:06d}"

    out, trip, msg = client.predict(handle_file(str(photo)), stopped["model"], "b2a", None, api_name="/translate")
    assert_png(out, (101, 75))
    assert_png(trip, (101, 75))
    assert "night → day → night" in msg


def test_run_download_and_push_messages(app_server, client, photo):
    """After a run: the zip holds a loadable model, samples and metrics; a bad Hub id is refused
    with a message that never contains the token."""
    app = app_server[1]
    if not client.predict(api_name="/train_status")[0]["latest_checkpoint"]:
        pytest.skip("needs the run from test_train_status_stop_translate")
    z = Path(app.download_run())
    with zipfile.ZipFile(z) as zf:
        names = zf.namelist()
    assert any(n.endswith("model/model.safetensors") for n in names)
    assert any(n.endswith("metrics.jsonl") for n in names)
    assert any("/samples/step_" in n for n in names)
    model = cyclegan.load_model(str(z))
    assert model.domains == ("day", "night") and model.D_A is None  # generators only
    assert model.translate(str(photo), "a2b").size == (101, 75)

    with pytest.raises(Exception, match="not a Hub repository id") as info:
        app.push_run("not a repo id", "hf_SECRET_TOKEN_123", True)
    assert "hf_SECRET" not in str(info.value)


def test_dualgan_training_choice(app_server, client):
    """DualGAN's loss choice: the form follows it, and a run trains the chosen variant."""
    app = app_server[1]
    size, batch, lr_g, lr_d, lam_c, _, shown = app.preset_defaults("dualgan", "dualgan-code", "quick")
    assert (lr_g, lam_c) == (2e-4, 20.0) and shown["visible"] is True
    assert app.preset_defaults("dualgan", "dualgan", "quick")[4] == 100.0
    assert app.preset_defaults("cyclegan", "dualgan-code", "quick")[6]["visible"] is False
    assert app._train_arch("dualgan", "dualgan-gp") == "dualgan-gp" and app._train_arch("cyclegan", "dualgan-gp") == "cyclegan"

    client.predict("demo:daynight", "dualgan-code", "quick", 32, 4, None, api_name="/train_start")
    status, _ = wait_status(client, lambda s, _: s["state"] not in ("starting", "running"), timeout=90.0)
    assert status["state"] == "finished", status
    model = cyclegan.load_model(status["model"])
    assert model.architecture == "dualgan-code"
