"""The app's named endpoints, called the way a user's script would: through gradio_client; and
the Train tab's handlers that have no endpoint (download, push, the recipe form)."""
import io
import json
import os
import re
import threading
import time
import zipfile
from pathlib import Path

import numpy as np
import pytest
from gradio_client import Client, handle_file
from PIL import Image

import cyclegan
from conftest import tiny_model
from hostile_inputs import stop_any_run, wait_status
from ui import api, export, state, train_tab, translate_tab

ARCHS = ("cyclegan", "discogan", "dualgan")
DIRECT_OWNER = "direct-caller-owner-secret-0123456789"
ENDPOINTS = {"/translate", "/load_model", "/load_official", "/cancel_download", "/translate_image", "/translate_batch",
             "/live_frame", "/translate_video", "/train_start", "/train_status", "/train_stop", "/train_pause",
             "/train_resume", "/download_run"}


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
    """An untrained tiny model of each architecture, saved as a model folder."""
    root = tmp_path_factory.mktemp("models")
    return {arch: cyclegan.save_model(tiny_model(arch), root / arch) for arch in ARCHS}


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


def test_translate_as_a_sample(client, tiny_models, photo):
    """DualGAN's sample switch through the API: the same seed gives the same picture, another seed
    another; off is deterministic. Picking the model sets the switches to its recipe's default."""
    spec = str(tiny_models["dualgan"])               # the default recipe: the authors' Aug 2017 code

    def run(sample, seed):
        out, _, msg = client.predict(handle_file(str(photo)), spec, "a2b", None, sample, seed, False,
                                     api_name="/translate")
        return np.asarray(Image.open(out)).astype(int), msg

    s1, msg = run(True, 1)
    assert "(a sample, seed 1)" in msg
    assert np.array_equal(s1, run(True, 1)[0])
    assert not np.array_equal(s1, run(True, 2)[0])
    fixed, msg = run(False, 1)
    assert "sample" not in msg and np.array_equal(fixed, run(False, 7)[0]) and not np.array_equal(fixed, s1)
    picked = translate_tab.select_model(spec)
    # (direction, facts, round-trip pane, sample, seed, batch statistics)
    assert picked[2]["visible"] is True and picked[3]["value"] is True and picked[3]["visible"] is True
    assert picked[5]["visible"] is False
    picked = translate_tab.select_model(str(tiny_models["discogan"]))
    assert picked[3]["visible"] is False and picked[5] == {"value": False, "visible": True, "__type__": "update"}
    with pytest.raises(Exception, match="decoder dropout"):
        client.predict(handle_file(str(photo)), str(tiny_models["cyclegan"]), "a2b", None, True, 0, False,
                       api_name="/translate")


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
    assert spec.startswith("upload:") and "/" not in spec     # a name for the kept upload, not a path
    assert "dual.zip" in msg and "day ↔ night" in msg
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


def test_the_named_endpoints(client):
    """The same names as ever; the API-only ones need no hidden components any more."""
    api_info = client.view_api(return_format="dict", print_info=False)
    assert set(api_info["named_endpoints"]) == ENDPOINTS
    start = [p["parameter_name"] for p in api_info["named_endpoints"]["/train_start"]["parameters"]]
    assert start == ["data", "arch", "scale", "size", "steps", "batch", "recipe", "score_every", "init"]
    assert len(api_info["named_endpoints"]["/train_status"]["returns"]) == 2
    assert not api_info["unnamed_endpoints"]


def test_train_rejects_bad_settings(client):
    with pytest.raises(Exception, match="steps must be a whole number of at least 1"):
        client.predict("demo:daynight", "cyclegan", "quick", 32, 0, None, api_name="/train_start")
    with pytest.raises(Exception, match="unknown demo world 'atlantis'"):
        client.predict("demo:atlantis", "cyclegan", "quick", 32, 10, None, api_name="/train_start")
    with pytest.raises(Exception, match="too small for discogan"):
        client.predict("demo:daynight", "discogan", "quick", 32, 10, None, api_name="/train_start")
    with pytest.raises(Exception, match="unknown architecture 'dualgan-code'; choose one of: cyclegan, discogan, "
                                        "dualgan, cut"):
        client.predict("demo:daynight", "dualgan-code", "quick", 32, 10, None, api_name="/train_start")
    with pytest.raises(Exception, match="unknown recipe 'gp' for dualgan"):
        client.predict("demo:daynight", "dualgan", "quick", 32, 10, None, "gp", api_name="/train_start")
    with pytest.raises(Exception, match="unknown scale 'paper'"):
        client.predict("demo:daynight", "cyclegan", "paper", 32, 10, None, api_name="/train_start")


def test_double_start_gives_one_run(app_server, client):
    """Two Starts at the same moment, through the API (two visitors) and straight into the app's
    start function from two threads (no queue in between): exactly one run, the other is told
    why, and only one run folder appears."""
    url, app, runs = app_server
    other = Client(url, analytics_enabled=False, verbose=False)

    def race(calls):
        results, errors = [], []
        barrier = threading.Barrier(len(calls))

        def one(call):
            barrier.wait()
            try:
                results.append(call())
            except Exception as e:  # noqa: BLE001 - the refusal is what we look for
                errors.append(str(e))

        threads = [threading.Thread(target=one, args=(c,)) for c in calls]
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)
        return results, errors

    def folders() -> set[str]:
        return {p.name for p in runs.iterdir() if p.is_dir() and not p.name.startswith(".")}

    for how in ("api", "direct"):
        stop_any_run()
        existing = folders()
        if how == "api":
            calls = [lambda c=c: c.predict("demo:daynight", "cyclegan", "quick", 32, 10_000, 1, api_name="/train_start")
                     for c in (client, other)]
        else:
            calls = [lambda: {**api.public_status(api.start_training("demo:daynight", "cyclegan", "quick", 32, 10_000,
                                                                     1, owner_secret=DIRECT_OWNER)),
                              "owner_token": DIRECT_OWNER}] * 2
        results, errors = race(calls)
        assert len(results) == 1 and len(errors) == 1, (how, results, errors)
        assert "a run is in progress" in errors[0]
        run = state.RUNS.run
        assert results[0]["state"] in ("starting", "running") and results[0]["total"] == 10_000
        assert results[0]["run"] == run.run_dir.name
        wait_status(client, lambda s, _: s["state"] == "running" and s["step"] >= 1)
        assert folders() - existing == {run.run_dir.name}, (how, folders() - existing)
        stopped = client.predict(30, results[0]["owner_token"], api_name="/train_stop")
        assert stopped["state"] == "stopped" and stopped["run"] == run.run_dir.name


def test_train_status_stop_translate(app_server, client, photo, tmp_path):
    """A run shows losses and samples (the sample grid arrives as a file the client downloads),
    pauses, resumes, stops with a checkpoint, and that checkpoint translates."""
    stop_any_run()
    started = client.predict("demo:daynight", "cyclegan", "quick", 32, 400, None, api_name="/train_start")
    assert started["state"] in ("starting", "running") and started["total"] == 400
    assert (started["arch"], started["recipe"], started["scale"]) == ("cyclegan", None, "quick")
    downloads = tmp_path / "downloads"
    mine = Client(app_server[0], analytics_enabled=False, verbose=False, download_files=str(downloads))
    status, sample = wait_status(mine, lambda s, img: s["points"] >= 2 and img, timeout=90.0)
    assert status["state"] == "running"
    assert {"D_A", "D_B", "G_AB", "G_BA", "cycle_A", "cycle_B"} <= set(status["losses"])
    assert all(np.isfinite(v) for v in status["losses"].values())
    assert Path(sample).is_relative_to(downloads)              # fetched over HTTP, not a server path
    assert_png(sample, (6 * 32, 4 * 32))  # 4 rows of real A | fake B | rec A | real B | fake A | rec B
    assert Path(sample).name == status["latest_sample"]           # written once, never rewritten; a name, not a path
    runs = app_server[2]
    assert Path(sample).read_bytes() == (runs / status["run"] / "samples" / status["latest_sample"]).read_bytes()

    with pytest.raises(Exception, match="a run is in progress"):
        client.predict("demo:daynight", "dualgan", "quick", 32, 10, None, api_name="/train_start")

    token = started["owner_token"]
    paused = client.predict(token, api_name="/train_pause")
    assert paused["state"] == "paused"
    time.sleep(1.0)
    still = client.predict(api_name="/train_status")[0]
    assert still["state"] == "paused" and still["step"] == client.predict(api_name="/train_status")[0]["step"]
    assert client.predict(token, api_name="/train_resume")["state"] == "running"

    stopped = client.predict(10, token, api_name="/train_stop")
    assert stopped["state"] == "stopped"
    assert 0 < stopped["step"] < 400
    assert stopped["model"] == f"run:{stopped['run']}"
    assert stopped["latest_checkpoint"] == f"step_{stopped['step']:06d}"

    out, trip, msg = client.predict(handle_file(str(photo)), stopped["model"], "b2a", None, api_name="/translate")
    assert_png(out, (101, 75))
    assert_png(trip, (101, 75))
    assert "night → day → night" in msg


def test_run_download_and_push_messages(app_server, client, photo):
    """A run of its own: the zip holds a loadable model (generators only), every sample grid, the
    metrics and the training config; a bad Hub id is refused with a message that never contains
    the token."""
    stop_any_run()
    client.predict("demo:daynight", "cyclegan", "quick", 32, 4, 1, api_name="/train_start")
    status, _ = wait_status(client, lambda s, _: s["state"] not in ("starting", "running"), timeout=90.0)
    assert status["state"] == "finished" and status["step"] == 4, status
    downloads = app_server[2].parent / "client-downloads"
    z = Path(Client(app_server[0], analytics_enabled=False, verbose=False, download_files=str(downloads))
             .predict(api_name="/download_run"))             # over HTTP, as a script would
    assert z.is_relative_to(downloads)
    made = list(export.exports_dir().rglob("*.zip"))       # the server's own copy, until it is a few minutes old
    for folder in export.exports_dir().iterdir():
        os.utime(folder, (time.time() - 600, time.time() - 600))
    export.prune_exports()
    assert made and not any(p.exists() for p in made)
    run = status["run"]
    assert z.name == f"{run}.zip"
    with zipfile.ZipFile(z) as zf:
        names = set(zf.namelist())
        metrics = zf.read(f"{run}/metrics.jsonl").decode().splitlines()
    samples = {n for n in names if n.startswith(f"{run}/samples/")}
    assert {f"{run}/model/model.safetensors", f"{run}/model/config.json", f"{run}/train_config.json"} <= names
    assert samples == {f"{run}/samples/step_00000{i}.png" for i in (1, 2, 3, 4)}   # a 4-step run samples each step
    assert [json.loads(m)["step"] for m in metrics][-1] == 4
    model = cyclegan.load_model(str(z))
    assert model.domains == ("day", "night") and model.D_A is None  # generators only
    assert model.provenance["step"] == 4
    assert model.translate(str(photo), "a2b").size == (101, 75)

    with pytest.raises(Exception, match="not a Hub repository id") as info:
        export.push_run("not a repo id", "hf_SECRET_TOKEN_123", True)
    assert "hf_SECRET" not in str(info.value)


def test_recipe_choice(app_server, client):
    """The Train tab's recipe list follows the architecture (hidden when there is one recipe), the
    numbers follow the recipe and scale, and a run trains the chosen recipe."""
    size, batch, lr_g, lr_d, lam_c, _, recipe, *_ = train_tab.recipe_form("dualgan", "code-2017-08", "quick")
    q = cyclegan.get_preset("dualgan", "code-2017-08", "quick")
    assert (lr_g, lam_c, size) == (q.lr_g, 20.0, 64) and recipe["visible"] is True
    assert [v for _, v in recipe["choices"]] == ["paper", "code-2017-04", "code-2017-08", "code-2020"]
    labels = dict((v, k) for k, v in recipe["choices"])
    assert "Aug 2017" in labels["code-2017-08"] and "Paper (Yi et al. 2017)" in labels["paper"]
    assert recipe["value"] == "code-2017-08"
    assert train_tab.recipe_form("dualgan", "paper", "quick")[4] == 100.0
    assert train_tab.recipe_form("dualgan", "paper", "full")[0] == 256
    assert train_tab.recipe_form("dualgan", "code-2017-04", "full")[0] == 128
    shown = train_tab.recipe_form("cyclegan", "code-2017-08", "quick")[6]    # the last one does not apply
    assert shown["visible"] is True and shown["value"] == "paper"             # CycleGAN: paper or code
    assert train_tab.recipe_form("discogan", None, "quick")[6]["visible"] is False
    # a new architecture starts from its default recipe: CycleGAN's "paper" must not carry over
    assert train_tab.arch_form("dualgan", "quick")[6]["value"] == "code-2017-08"
    assert train_tab.arch_form("cyclegan", "quick")[6]["value"] == "paper"

    stop_any_run()
    client.predict("demo:daynight", "dualgan", "quick", 32, 4, None, "paper", api_name="/train_start")
    status, _ = wait_status(client, lambda s, _: s["state"] not in ("starting", "running"), timeout=90.0)
    assert status["state"] == "finished", status
    model = state.MODELS.get(status["model"])
    assert model.preset.key == "dualgan/paper/quick" and model.inference_defaults()["sample"] is False
    assert status["sample_scores"]["identity"] < 10 < status["sample_scores"]["a2b"] + 100   # scored on demo data


@pytest.mark.parametrize("recipe", ["cut", "fastcut"])
def test_cut_trains_scores_and_translates_with_best(app_server, client, photo, recipe):
    """CUT from the API: one direction everywhere (losses, samples, translation without a round
    trip), the live score in /train_status, RUN/best offered first in the model list."""
    stop_any_run()
    client.predict("demo:daynight", "cut", "quick", 32, 8, 2, recipe, 4, api_name="/train_start")
    status, sample = wait_status(client, lambda s, _: s["state"] not in ("starting", "running"), timeout=120.0)
    assert status["state"] == "finished" and status["step"] == 8, status
    assert {"D_B", "G_AB", "nce"} <= set(status["losses"]) and not {"D_A", "G_BA", "cycle_A"} & set(status["losses"])
    assert ("nce_idt" in status["losses"]) == (recipe == "cut")
    assert status["n_scores"] == 2 and status["score"]["metric"] == "KID (random features)"
    assert status["score"]["step"] == 8 and "kid_a2b" in status["score"] and "kid_b2a" not in status["score"]
    best = status["best"]
    assert best == f"{status['model']}@best" and status["best_score"]["step"] in (4, 8)
    assert "checkpoint" not in status["best_score"]           # names only: no server path
    assert_png(sample, (4 * 32, 4 * 32))         # 4 rows of real A | fake B | real B | G_AB(real B)
    entries = [e for e in state.model_entries() if e["spec"].split("@")[0] == status["model"]]
    assert entries[0]["spec"] == best and "best (day → night, step" in entries[0]["label"] and "KID" in entries[0]["label"]
    assert entries[1]["spec"] == status["model"] and entries[0]["arch"] == "cut"
    out, trip, msg = client.predict(handle_file(str(photo)), best, "a2b", None, api_name="/translate")
    assert_png(out, (101, 75))
    assert trip is None and "No round trip: this model only translates day → night" in msg
    with pytest.raises(Exception, match="only translates day → night"):
        client.predict(handle_file(str(photo)), best, "b2a", None, api_name="/translate")
    assert state.MODELS.get(best).preset.key == f"cut/{recipe}/quick"


def test_cut_form_hides_what_one_direction_lacks():
    *_, recipe, cycle_row, lam_nce, note = train_tab.recipe_form("cut", "fastcut", "quick")
    assert [v for _, v in recipe["choices"]] == ["cut", "fastcut"] and recipe["visible"] is True
    assert cycle_row["visible"] is False and lam_nce == {"__type__": "update", "value": 10.0, "visible": True}
    assert "no B → A and no round trip" in note
    *_, cycle_row, lam_nce, note = train_tab.recipe_form("cyclegan", None, "quick")
    assert cycle_row["visible"] is True and lam_nce["visible"] is False and note == ""


def test_start_from_a_model_keeps_the_recipes_rates_unless_changed(monkeypatch):
    from ui import api as ui_api
    seen = []
    def record(*a, **k):
        seen.append(a)
        raise cyclegan.UserInputError("recorded")
    monkeypatch.setattr(ui_api, "start_training", record)
    base = dict(source="demo", world="daynight", zip_file=None, folder=None, official=None, arch="cyclegan",
                recipe="paper", scale="quick", size=64, steps=10, batch=4, lam_c=10, lam_i=0.5, hub_data=None,
                tensorboard=False, lam_nce=None, score_every=None, owner=None)
    for init, lr, want in (("demo:cyclegan", 6e-4, None), ("demo:cyclegan", 1e-3, 1e-3), ("", 6e-4, 6e-4)):
        with pytest.raises(Exception, match="recorded"):
            train_tab.ui_start(**base, lr_g=lr, lr_d=6e-4, init=init)
        assert seen[-1][7] == want and seen[-1][8] == (None if init else 6e-4), (init, lr, seen[-1][7:9])
