"""Hostile inputs, limits and faults, tried for real through every door a file comes in by: the
library (`load_model`, `translate`, `open_unpaired`), the CLIs (`python -m cyclegan`, `python -m
train`) and the app's named endpoints through gradio_client.

One table of inputs (tests/hostile_inputs.py) drives all of them. Each case must end in either
the right result (size kept) or a message that names the problem (a `UserInputError` in the
library, exit 2 and one `error:` line from a CLI, the gr.Error text at the client), and the app
must go on translating afterwards.

The CLI tables call each CLI's `main()` in this process (a fresh interpreter per case would cost
minutes on two cores); `test_cli_processes` runs a sample of the same cases as real processes.
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pytest
from gradio_client import handle_file
from gradio_client.exceptions import AppError
from PIL import Image

import cyclegan
from cyclegan import UserInputError, load_model
from cyclegan.data import open_unpaired
from train.runs import RunDir
from ui import state
from hostile_inputs import (stop_any_run, wait_status, CLI_CASES, DATA_CASES, ESCAPED, IMAGE_CASES, MODEL_CASES, VICTIM,
                            data_files, encode, huge_config_file, noise,
                            tiny_model)

ROOT = Path(__file__).resolve().parents[1]
PHOTO_SIZE = (48, 40)
LIMIT_VARS = ("SPACE_ID", "CYCLEGAN_MAX_UPLOAD_MB", "CYCLEGAN_MAX_IMAGE_PIXELS", "CYCLEGAN_MAX_ZIP_ENTRIES",
              "CYCLEGAN_MAX_ZIP_BYTES", "CYCLEGAN_MAX_TRAIN_STEPS", "CYCLEGAN_MAX_TRAIN_SIZE",
              "CYCLEGAN_ALLOW_SERVER_PATHS")


@pytest.fixture(autouse=True)
def clean_limits(monkeypatch):
    """Every case starts from the default limits; a case lowers the ones it tries."""
    for v in LIMIT_VARS:
        monkeypatch.delenv(v, raising=False)
    return monkeypatch


# The shared cores: tiny nets on two contended threads run ~50x slower than on one (OpenMP
# barriers wait for a descheduled thread). See `app_model` for the app's own setting.
pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def model():
    return tiny_model()


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """A tiny model folder and a plain photo, for the 'still works afterwards' checks."""
    root = tmp_path_factory.mktemp("hostile")
    folder = cyclegan.save_model(tiny_model(), root / "model")
    photo = root / "photo.png"
    noise(*PHOTO_SIZE, seed=3).save(photo)
    return {"model": folder, "photo": photo, "root": root}


def _set_env(monkeypatch, case):
    for k, v in case.env.items():
        monkeypatch.setenv(k, v)


def _nothing_escaped(tmp_path: Path):
    """No zip entry got out of its folder (wherever it was unpacked: under tmp_path, or in a
    temp folder), and no pickle ran code."""
    places = [tmp_path, tmp_path.parent, Path(tempfile.gettempdir()), Path("/etc")]
    escaped = [p for d in places for p in d.glob(ESCAPED + ".*")] + list(tmp_path.rglob(ESCAPED + ".*"))
    assert not escaped, f"a zip entry was written outside its folder: {escaped}"
    assert not (tmp_path / VICTIM).exists(), "unpickling ran code: the victim file was created"


# === the library ==================================================================================
@pytest.mark.parametrize("case", IMAGE_CASES, ids=str)
def test_library_translate(case, model, tmp_path):
    path = case.build(tmp_path)
    if case.ok:
        fake, rec = model.round_trip(path, "a2b")
        assert fake.size == rec.size == case.size and fake.mode == "RGB"
        assert model.translate(path.read_bytes(), "b2a").size == case.size
        return
    with pytest.raises(UserInputError) as e:
        model.translate(path, "a2b")
    assert case.expect in str(e.value)
    with pytest.raises(UserInputError) as e2:  # bytes, as an upload arrives, say the same
        model.translate(path.read_bytes(), "a2b")
    assert case.expect in str(e2.value)


@pytest.mark.parametrize("case", MODEL_CASES, ids=str)
def test_library_load_model(case, tmp_path, monkeypatch):
    path = case.build(tmp_path)
    _set_env(monkeypatch, case)
    if case.ok:
        m = load_model(path)
        assert m.translate(noise(*case.size), "a2b").size == case.size
    else:
        with pytest.raises(UserInputError) as e:
            load_model(path)
        assert case.expect in str(e.value), str(e.value)
    _nothing_escaped(tmp_path)


@pytest.mark.parametrize("case", DATA_CASES, ids=str)
def test_library_open_unpaired(case, tmp_path, monkeypatch):
    path = case.build(tmp_path)
    _set_env(monkeypatch, case)
    work = tmp_path / "work"
    if case.ok:
        data = open_unpaired(path, size=16, workdir=work)
        assert (data.report.n_a, data.report.n_b) == case.size
        assert tuple(data.domain_a[0].shape) == (3, 16, 16)
        unpacked = sum(f.stat().st_size for f in work.rglob("*") if f.is_file())
        assert unpacked < 1_000_000, f"{unpacked:,} bytes unpacked: files that are not images take disk"
    else:
        with pytest.raises(UserInputError) as e:
            open_unpaired(path, size=16, workdir=work)
        assert case.expect in str(e.value), str(e.value)
        assert not work.exists() or list(work.iterdir()) == []  # a refused zip leaves nothing behind
    _nothing_escaped(tmp_path)


# === the CLIs, in this process ========================================================================
def call_main(main, argv, capfd) -> tuple[int, str, str]:
    capfd.readouterr()
    try:
        code = main([str(a) for a in argv])
    except SystemExit as e:
        code = e.code
    out, err = capfd.readouterr()
    return code, out, err


def assert_one_error_line(code, err, phrase):
    assert code == 2, (code, err)
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    assert phrase in lines[0], lines[0]
    assert "Traceback" not in err


@pytest.mark.parametrize("case", IMAGE_CASES, ids=str)
def test_cli_translate(case, files, tmp_path, capfd):
    from cyclegan.cli import main
    path = case.build(tmp_path)
    out = tmp_path / "out" / "x.png"
    code, stdout, err = call_main(main, ["translate", "--model", files["model"], path, "-o", out], capfd)
    if case.ok:
        assert code == 0, err
        with Image.open(out) as im:
            assert im.size == case.size
    else:
        assert_one_error_line(code, err, case.expect)
        assert not out.exists()


@pytest.mark.parametrize("case", MODEL_CASES, ids=str)
def test_cli_info(case, tmp_path, capfd, monkeypatch):
    from cyclegan.cli import main
    path = case.build(tmp_path)
    _set_env(monkeypatch, case)
    code, stdout, err = call_main(main, ["info", path], capfd)
    if case.ok:
        assert code == 0, err
        assert json.loads(stdout)["architecture"] == "cyclegan"
    else:
        assert_one_error_line(code, err, case.expect)
    _nothing_escaped(tmp_path)


TRAIN_ARGS = ["--scale", "quick", "--size", "32", "--batch", "1", "--steps", "1", "--threads", "1",
              "--checkpoint-every", "1", "--quiet"]


@pytest.mark.parametrize("case", DATA_CASES, ids=str)
def test_cli_train_data(case, tmp_path, capfd, monkeypatch):
    from train.cli import main
    path = case.build(tmp_path)
    _set_env(monkeypatch, case)
    out = tmp_path / "run"
    code, stdout, err = call_main(main, ["--data", path, "--out", out, *TRAIN_ARGS], capfd)
    if case.ok:
        assert code == 0, err
        assert "finished at step 1" in stdout
        assert load_model(out / "latest").translate(noise(9, 7), "a2b").size == (9, 7)
    else:
        assert_one_error_line(code, err, case.expect)
        assert not (out / "checkpoints").exists()
    _nothing_escaped(tmp_path)


@pytest.mark.parametrize("case", CLI_CASES, ids=str)
def test_cli_mistakes_are_one_line(case, tmp_path, capfd):
    """Every ordinary command-line mistake: exit status 2 and one `error:` line, no traceback."""
    from cyclegan.cli import main as cyclegan_main
    from hostile_inputs import _cli_setup
    from train.cli import main as train_main
    _cli_setup(tmp_path)
    argv = [str(a).replace("{dir}", str(tmp_path)) for a in case.args]
    code, out, err = call_main(cyclegan_main if case.module == "cyclegan" else train_main, argv, capfd)
    assert_one_error_line(code, err, case.expect)


# === the CLIs as real processes: a sample of the same table ====================================================
def _case(table, name):
    return next(c for c in table if c.name == name)


@pytest.fixture(scope="module")
def cli_processes(tmp_path_factory, files):
    """Started together: each process spends most of its time importing torch."""
    root = tmp_path_factory.mktemp("procs")
    plan = {  # name: (module, args, case); one per CLI command, one of them under a lowered limit
        "image_strip": ("cyclegan", ["translate", "--model", files["model"], "{input}", "-o", root / "strip_out.png"],
                        _case(IMAGE_CASES, "1x4000")),
        "model_pickle": ("cyclegan", ["info", "{input}"], _case(MODEL_CASES, "pickle_creates_file")),
        "data_many": ("train", ["--data", "{input}", "--out", root / "run", *TRAIN_ARGS],
                      _case(DATA_CASES, "data_many_entries")),
    }
    procs, folders = {}, {}
    for name, (module, args, case) in plan.items():
        folder = root / name
        folder.mkdir()
        path = case.build(folder)
        env = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1", **case.env}
        for v in LIMIT_VARS:
            if v not in case.env:
                env.pop(v, None)
        argv = [str(path) if a == "{input}" else str(a) for a in args]
        procs[name] = subprocess.Popen([sys.executable, "-m", module, *argv], cwd=ROOT, env=env, text=True,
                                       stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        folders[name] = folder
    results = {}
    for name, p in procs.items():
        out, err = p.communicate(timeout=300)
        results[name] = (p.returncode, out, err, plan[name][2], folders[name])
    return results, root


@pytest.mark.slow
@pytest.mark.parametrize("name", ["image_strip", "model_pickle", "data_many"])
def test_cli_processes(cli_processes, name):
    results, root = cli_processes
    code, out, err, case, folder = results[name]
    if case.ok:
        assert code == 0, err
        with Image.open(root / "strip_out.png") as im:
            assert im.size == case.size
    else:
        assert_one_error_line(code, err, case.expect)
    assert not (folder / VICTIM).exists()


# === the app, through gradio_client ==============================================================================
@pytest.fixture(scope="module")
def app_model(app_server):
    """A tiny model inside the runs folder (allowed even where server paths are not), hidden from
    the model list by its dot-folder."""
    url, app, runs = app_server
    saved, state.DEFAULT_THREADS = state.DEFAULT_THREADS, 1  # the app sets this per request; see one_thread
    yield str(cyclegan.save_model(tiny_model(), runs / ".hostile" / "model"))
    state.DEFAULT_THREADS = saved


def app_error(call) -> str:
    with pytest.raises(AppError) as e:
        call()
    msg = e.value.message if hasattr(e.value, "message") else str(e.value)
    assert "Traceback" not in msg and "internal error" not in msg, msg
    assert tempfile.gettempdir() + os.sep not in msg, f"a server path reached the user: {msg}"
    return msg


def still_translates(client, app_model, photo):
    out, trip, msg = client.predict(handle_file(str(photo)), app_model, "a2b", None, api_name="/translate")
    with Image.open(out) as im:
        assert im.size == PHOTO_SIZE
    assert "Translated" in msg


@pytest.mark.parametrize("case", IMAGE_CASES, ids=str)
def test_app_translate(case, client, app_model, files, tmp_path):
    path = case.build(tmp_path)
    # The strip runs at native size here (0): at the default processing size it is scaled up to
    # 32×128,000 first, which is slow, and the subject of test_app_processing_size_...
    size = 0 if case.name == "1x4000" else None
    call = lambda: client.predict(handle_file(str(path)), app_model, "a2b", size, api_name="/translate")  # noqa: E731
    if case.ok:
        out, trip, msg = call()
        for p in (out, trip):
            with Image.open(p) as im:
                assert im.size == case.size
        assert "mean absolute error" in msg
    else:
        assert case.expect in app_error(call)
        still_translates(client, app_model, files["photo"])


@pytest.mark.parametrize("case", MODEL_CASES, ids=str)
def test_app_load_model(case, client, app_model, files, tmp_path, monkeypatch):
    path = case.build(tmp_path)
    _set_env(monkeypatch, case)
    call = lambda: client.predict("", [handle_file(str(path))], api_name="/load_model")  # noqa: E731
    if case.ok:
        arch, spec, msg = call()
        assert arch == "cyclegan" and "day ↔ night" in msg
        out, _, _ = client.predict(handle_file(str(files["photo"])), spec, "b2a", None, api_name="/translate")
        with Image.open(out) as im:
            assert im.size == PHOTO_SIZE
    else:
        assert case.expect in app_error(call)
        still_translates(client, app_model, files["photo"])
    _nothing_escaped(tmp_path)


@pytest.mark.parametrize("case", [c for c in DATA_CASES if c.name in
                                  ("data_dotdot", "data_bomb", "data_empty_domain", "data_only_broken_images")], ids=str)
def test_app_train_start_bad_data(case, app_server, client, app_model, files, tmp_path, monkeypatch):
    """A zip on the server given to /train_start: the run stops in state 'error' with the reason,
    which /train_status shows; the server goes on translating."""
    stop_any_run()
    path = case.build(tmp_path)
    _set_env(monkeypatch, case)
    first = client.predict(str(path), "cyclegan", "quick", 32, 5, None, api_name="/train_start")
    assert first["state"] in ("starting", "running", "error")
    status, _ = wait_status(client, lambda s, _: s["state"] not in ("starting", "running"))
    assert status["state"] == "error", status
    assert case.expect in status["error"], status["error"]
    assert "Traceback" not in status["error"]
    still_translates(client, app_model, files["photo"])
    _nothing_escaped(tmp_path)


# === limits ========================================================================================================
def test_limit_upload_mb_for_model_uploads(client, app_model, files, tmp_path, monkeypatch):
    big = tmp_path / "big.safetensors"
    big.write_bytes(np.random.default_rng(0).bytes(1_200_000))
    monkeypatch.setenv("CYCLEGAN_MAX_UPLOAD_MB", "1")
    msg = app_error(lambda: client.predict("", [handle_file(str(big))], api_name="/load_model"))
    assert "larger than this server's limit of 1 MB (CYCLEGAN_MAX_UPLOAD_MB)" in msg
    monkeypatch.setenv("CYCLEGAN_MAX_UPLOAD_MB", "2")  # under the limit: now it is read, and found wanting
    assert "not a readable safetensors file" in app_error(
        lambda: client.predict("", [handle_file(str(big))], api_name="/load_model"))
    still_translates(client, app_model, files["photo"])


def test_limit_image_pixels_everywhere(client, app_model, files, model, tmp_path, monkeypatch, capfd):
    """CYCLEGAN_MAX_IMAGE_PIXELS: library, translate CLI, /translate and training data alike."""
    from cyclegan.cli import main as cyclegan_main
    from train.cli import main as train_main
    monkeypatch.setenv("CYCLEGAN_MAX_IMAGE_PIXELS", "1000")  # the 48×40 photo is 1,920 pixels
    phrase = "over the limit of 1,000 pixels (CYCLEGAN_MAX_IMAGE_PIXELS)"
    with pytest.raises(UserInputError, match=phrase.replace("(", r"\(").replace(")", r"\)")):
        model.translate(files["photo"], "a2b")
    code, _, err = call_main(cyclegan_main, ["translate", "--model", files["model"], files["photo"], "-o",
                                             tmp_path / "o.png"], capfd)
    assert_one_error_line(code, err, phrase)
    assert phrase in app_error(lambda: client.predict(handle_file(str(files["photo"])), app_model, "a2b", None,
                                                      api_name="/translate"))
    import zipfile
    z = tmp_path / "d.zip"
    with zipfile.ZipFile(z, "w") as zf:
        for name, data in data_files().items():  # 40×30 = 1,200 pixels each
            zf.writestr(name, data)
    code, _, err = call_main(train_main, ["--data", z, "--out", tmp_path / "r", *TRAIN_ARGS], capfd)
    assert_one_error_line(code, err, "trainA/ has no images")
    assert "CYCLEGAN_MAX_IMAGE_PIXELS" in err
    monkeypatch.setenv("CYCLEGAN_MAX_IMAGE_PIXELS", "2000")
    still_translates(client, app_model, files["photo"])


@pytest.fixture
def pixel_guard(monkeypatch):
    """CYCLEGAN_MAX_WORK_PIXELS=200,000, and a watch on the generators: records the pixels of
    every tensor a net is given and refuses any over the limit before the net runs on it (the
    strips here are small enough that a faulty plan is cheap)."""
    import cyclegan.translate as translate_mod
    monkeypatch.setenv("CYCLEGAN_MAX_WORK_PIXELS", "200000")
    real, seen = translate_mod.run_padded, []

    def guarded(net, x, multiple):
        seen.append(x.shape[0] * x.shape[-1] * x.shape[-2])
        if seen[-1] > 200_000:
            raise MemoryError(f"working tensor of {seen[-1]:,} pixels, over the 200,000 pixel limit")
        return real(net, x, multiple)

    monkeypatch.setattr(translate_mod, "run_padded", guarded)
    return seen


def test_processing_size_cannot_exceed_the_work_limit(model, pixel_guard):
    """A 1×4000 strip (4,000 pixels) at a processing size of the model's training size (32 here)
    would become 32×128,000 = 4 megapixels inside `translate`: the work the net does is bounded
    (CYCLEGAN_MAX_UPSCALE, CYCLEGAN_MAX_WORK_PIXELS), not only the file. It must still succeed and
    keep its size."""
    strip = Image.new("RGB", (1, 4000), (90, 90, 90))
    out = model.translate(strip, "a2b", work_size=model.image_size)
    assert out.size == (1, 4000)
    assert 0 < sum(pixel_guard) <= 200_000


@pytest.mark.parametrize("size", [None, 4096])
def test_app_processing_size_cannot_exceed_the_work_limit(size, client, app_model, files, tmp_path, pixel_guard):
    """The same through /translate: at the default size and at the largest size the box allows,
    it works and the net never computes past the limit."""
    strip = tmp_path / "strip.png"
    Image.new("RGB", (1, 4000), (90, 90, 90)).save(strip)
    out, _, _ = client.predict(handle_file(str(strip)), app_model, "a2b", size, api_name="/translate")
    with Image.open(out) as im:
        assert im.size == (1, 4000)
    assert max(pixel_guard, default=0) <= 200_000 and sum(pixel_guard) <= 2 * 2 * 200_000   # 2 passes (round trip)
    still_translates(client, app_model, files["photo"])


def test_limit_train_steps_and_size(app_server, client, tmp_path, monkeypatch, capfd):
    from train.cli import main as train_main
    stop_any_run()
    monkeypatch.setenv("CYCLEGAN_MAX_TRAIN_STEPS", "50")
    monkeypatch.setenv("CYCLEGAN_MAX_TRAIN_SIZE", "48")
    steps_msg = "steps=51 is over this server's limit of 50 (CYCLEGAN_MAX_TRAIN_STEPS)"
    size_msg = "image size 64 is out of range: use 16..48 (CYCLEGAN_MAX_TRAIN_SIZE)"
    assert steps_msg in app_error(lambda: client.predict("demo:daynight", "cyclegan", "quick", 32, 51, None,
                                                         api_name="/train_start"))
    assert size_msg in app_error(lambda: client.predict("demo:daynight", "cyclegan", "quick", 64, 10, None,
                                                        api_name="/train_start"))
    assert size_msg in app_error(lambda: client.predict("demo:daynight", "cyclegan", "quick", None, 10, None,
                                                        api_name="/train_start"))  # the preset's 64 px
    base = ["--scale", "quick", "--batch", "1", "--threads", "1", "--quiet", "--out", tmp_path / "r"]
    code, _, err = call_main(train_main, [*base, "--size", "32", "--steps", "51"], capfd)
    assert_one_error_line(code, err, steps_msg)
    code, _, err = call_main(train_main, [*base, "--size", "64", "--steps", "5"], capfd)
    assert_one_error_line(code, err, size_msg)
    code, _, err = call_main(train_main, [*base, "--size", "32", "--steps", "2", "--checkpoint-every", "1"], capfd)
    assert code == 0, err
    code, _, err = call_main(train_main, [*base, "--steps", "51", "--resume"], capfd)  # resume: the same limit
    assert_one_error_line(code, err, steps_msg)
    assert client.predict(api_name="/train_status")[0]["state"] not in ("starting", "running")


def test_space_id_refuses_server_paths_and_tightens_limits(app_server, client, app_model, files, tmp_path,
                                                           monkeypatch):
    stop_any_run()
    monkeypatch.setenv("SPACE_ID", "someone/cyclegan-studio")
    assert "does not load models from its own folders" in app_error(
        lambda: client.predict(handle_file(str(files["photo"])), str(files["model"]), "a2b", None,
                               api_name="/translate"))
    z = DATA_CASES[-1].build(tmp_path)  # a good dataset zip, on the server's disk
    for data in (str(z), str(tmp_path)):
        assert "does not read training data from its own folders" in app_error(
            lambda: client.predict(data, "cyclegan", "quick", 32, 5, None, api_name="/train_start"))
    assert "over this server's limit of 5000" in app_error(
        lambda: client.predict("demo:daynight", "cyclegan", "quick", 32, 5001, None, api_name="/train_start"))
    assert "use 16..256" in app_error(
        lambda: client.predict("demo:daynight", "cyclegan", "quick", 260, 5, None, api_name="/train_start"))
    # a file given where text is asked (gradio_client sends it as a dict it never uploads): said so,
    # where the dict used to be read as a path ("not found: '{'path': ...}'")
    z_file = handle_file(str(z))
    assert "a .zip of your own images is uploaded in the page's Train tab" in app_error(
        lambda: client.predict(z_file, "cyclegan", "quick", 32, 5, None, api_name="/train_start"))
    still_translates(client, app_model, files["photo"])  # models in the runs folder stay usable


def test_space_id_hub_id_field_cannot_reach_server_folders(app_server, client, files, tmp_path, monkeypatch):
    """With SPACE_ID set, '/load_model' with a Hub id that happens to be a relative folder on the
    server ('owner/name' under the server's working directory) must not load that folder: the
    box is for Hub ids, and server paths are refused on a Space."""
    cyclegan.save_model(tiny_model(domains=("secret", "stuff")), tmp_path / "owner" / "private-model")
    monkeypatch.chdir(tmp_path)  # the server runs in this process: its working directory
    monkeypatch.setenv("SPACE_ID", "someone/cyclegan-studio")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    msg = app_error(lambda: client.predict("owner/private-model", None, api_name="/load_model"))
    assert "secret" not in msg


# --- the launch-time upload limit and a hosted server, in a process of their own ---------------------------------
@pytest.fixture(scope="module")
def hosted_server(tmp_path_factory):
    """`python app.py` as a Space would run it: SPACE_ID set, uploads limited to 1 MB."""
    import socket
    runs = tmp_path_factory.mktemp("hosted-runs")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {k: v for k, v in os.environ.items() if k not in LIMIT_VARS}
    env.update(SPACE_ID="someone/cyclegan-studio", CYCLEGAN_MAX_UPLOAD_MB="1", CYCLEGAN_RUNS_DIR=str(runs),
               GRADIO_SERVER_NAME="127.0.0.1", GRADIO_SERVER_PORT=str(port), OMP_NUM_THREADS="1",
               HF_HUB_OFFLINE="1", GRADIO_ANALYTICS_ENABLED="False")
    log = open(runs / "server.log", "w")
    p = subprocess.Popen([sys.executable, "app.py"], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/"
    import httpx
    deadline = time.time() + 180
    while time.time() < deadline:
        assert p.poll() is None, (runs / "server.log").read_text()[-3000:]
        try:
            if httpx.get(url + "config", timeout=2).status_code == 200:
                break
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    else:
        p.kill()
        raise AssertionError("hosted server did not start")
    model = cyclegan.save_model(tiny_model(), runs / ".m" / "model")
    try:
        yield url, runs, model
    finally:
        p.send_signal(signal.SIGTERM)
        try:
            p.wait(20)
        except subprocess.TimeoutExpired:
            p.kill()
        log.close()


@pytest.mark.slow
def test_hosted_upload_limit_is_set_at_launch(hosted_server, tmp_path):
    import httpx
    from gradio_client import Client
    url, runs, model = hosted_server
    cfg = httpx.get(url + "config").json()
    assert cfg["max_file_size"] == 1_000_000
    big = tmp_path / "big.png"
    noise(700, 600, seed=1).save(big)  # ~1.3 MB of incompressible noise
    assert big.stat().st_size > 1_000_000
    with open(big, "rb") as f:
        r = httpx.post(url + "gradio_api/upload", files=[("files", ("big.png", f, "image/png"))], timeout=60)
    assert r.status_code == 413, (r.status_code, r.text[:300])
    client = Client(url, analytics_enabled=False, verbose=False)
    with pytest.raises(Exception, match="exceeds the maximum file size"):
        client.predict(handle_file(str(big)), str(model), "a2b", None, api_name="/translate")
    small = tmp_path / "small.png"
    noise(*PHOTO_SIZE).save(small)
    out, _, _ = client.predict(handle_file(str(small)), str(model), "a2b", None, api_name="/translate")
    with Image.open(out) as im:
        assert im.size == PHOTO_SIZE
    labels = [c.get("props", {}).get("choices") for c in cfg["components"] if c.get("props", {}).get("label") == "Training data"]
    assert labels and all("folder" not in [v for _, v in ch] for ch in labels)  # no server folders on a Space


@pytest.mark.slow
def test_hosted_upload_limit_covers_inline_images(hosted_server, tmp_path):
    """An image can also arrive inline, as a data: URL inside the request (the browser's paste
    path, which UploadImage.preprocess decodes): that is an upload too, and the same 1 MB limit
    must refuse it."""
    import base64

    import httpx
    from gradio_client import Client
    url, runs, model = hosted_server
    small = tmp_path / "small.png"
    noise(*PHOTO_SIZE).save(small)
    with open(small, "rb") as f:
        cached = httpx.post(url + "gradio_api/upload", files=[("files", ("small.png", f, "image/png"))]).json()[0]
    big = encode(noise(700, 600, seed=1))
    assert len(big) > 1_000_000
    inline = {"path": cached, "url": "data:image/png;base64," + base64.b64encode(big).decode()}  # no meta: not re-uploaded
    client = Client(url, analytics_enabled=False, verbose=False)
    with pytest.raises(AppError) as e:
        client.predict(inline, str(model), "a2b", None, api_name="/translate")
    assert "CYCLEGAN_MAX_UPLOAD_MB" in e.value.message


@pytest.mark.slow
def test_hosted_defaults(hosted_server):
    from gradio_client import Client
    url, runs, model = hosted_server
    client = Client(url, analytics_enabled=False, verbose=False)
    assert "over this server's limit of 5000" in app_error(
        lambda: client.predict("demo:daynight", "cyclegan", "quick", 32, 6000, None, api_name="/train_start"))
    assert "does not read training data from its own folders" in app_error(
        lambda: client.predict(str(runs), "cyclegan", "quick", 32, 5, None, api_name="/train_start"))


# === faults ==========================================================================================================
def _complete(out: Path) -> list[int]:
    return [int(p.name[5:]) for p in RunDir(out).complete_checkpoints()]


def _assert_loadable(out: Path):
    """RUN/latest and every complete checkpoint open, and translate."""
    latest = out / "latest"
    assert latest.exists(), "RUN/latest dangles"
    m = load_model(latest)
    assert m.translate(noise(10, 6), "a2b").size == (10, 6)
    from train.state import read_state
    for step in _complete(out):
        ck = out / "checkpoints" / f"step_{step:06d}"
        load_model(ck)
        meta, tensors = read_state(*RunDir.state_paths(ck))
        assert meta["step"] == step
    return int(m.provenance["step"])


KILL_PLAN = [("while_writing", 0.0), ("after", 0.05), ("while_writing", 0.0), ("after", 0.37), ("after", 0.011)]


@pytest.mark.slow
def test_kill_9_repeatedly_then_resume(tmp_path):
    """SIGKILL a CLI run that checkpoints every step, at different moments (some while a
    checkpoint is being written), resuming each time: RUN/latest always loads, every checkpoint
    that looks complete is, and each resume starts from the newest one (so only the steps since
    the last checkpoint are lost)."""
    out = tmp_path / "k"
    args = [sys.executable, "-m", "train", "--scale", "quick", "--size", "32", "--batch", "1", "--steps", "100000",
            "--out", str(out), "--checkpoint-every", "1", "--keep", "2", "--sample-every", "100000", "--log-every", "1",
            "--threads", "1", "--quiet"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    newest = None
    torn = 0
    for i, (how, delay) in enumerate(KILL_PLAN):
        p = subprocess.Popen(args + (["--resume"] if i else []), cwd=ROOT, env=env, text=True,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        start = newest or 0
        deadline = time.time() + 120
        while not any(s > start + 1 for s in _complete(out)):  # this process has written checkpoints
            assert p.poll() is None, p.communicate()[1]
            assert time.time() < deadline, "no checkpoint appeared"
            time.sleep(0.01)
        if how == "while_writing":
            deadline = time.time() + 30
            while not list((out / "checkpoints").glob(".tmp-*")) and time.time() < deadline:
                pass  # spin: the write takes milliseconds
        else:
            time.sleep(delay)
        p.send_signal(signal.SIGKILL)
        _, err = p.communicate(timeout=30)
        assert p.returncode == -signal.SIGKILL, (p.returncode, err[-500:])  # our kill ended it, mid-run
        torn += bool(list((out / "checkpoints").glob(".tmp-*")))  # killed mid-write: a half checkpoint lies there
        if i:
            assert f"(step {newest})" in err, f"resume did not start at the newest checkpoint {newest}: {err[-500:]}"
        latest_step = _assert_loadable(out)
        previous, newest = newest, _complete(out)[0]
        assert newest > (previous or 0), (previous, newest)             # every resumed process got further
        assert latest_step in (newest, newest - 1), (latest_step, newest)  # killed between rename and pointer swap
    final = [str(newest + 2) if a == "100000" and args[k - 1] == "--steps" else a for k, a in enumerate(args)]
    r = subprocess.run(final + ["--resume"], cwd=ROOT, env=env, text=True, capture_output=True, timeout=300)
    assert r.returncode == 0, r.stderr
    assert f"(step {newest})" in r.stderr and f"finished at step {newest + 2}" in r.stdout
    assert _assert_loadable(out) == newest + 2
    assert torn >= 1, "no kill landed while a checkpoint was being written"
    assert not list((out / "checkpoints").glob(".tmp-*"))  # the resumed run cleaned them up


def _fail_at_step_6(kind, monkeypatch):
    """An OSError 28 at the checkpoint of step 6, in one of the ways a full disk shows: writing
    the weights, writing the training state, or renaming the finished temp folder into place."""
    import cyclegan.checkpoints as ckpts
    import train.trainer as trainer_mod

    def full(real):
        def fake(first, *a, **k):
            target = first if kind != "weights" else a[0]
            if "step_000006" in str(target) and (kind != "rename" or ".tmp-" in str(target)):
                raise OSError(28, "No space left on device")
            return real(first, *a, **k)
        return fake

    if kind == "weights":      # safetensors' writer, as save_model calls it: save_file(tensors, path)
        monkeypatch.setattr(ckpts, "save_file", full(ckpts.save_file))
    elif kind == "training_state":
        monkeypatch.setattr(trainer_mod, "write_state", full(trainer_mod.write_state))
    else:                      # os.replace(tmp_folder, final): only the checkpoint's rename fails
        monkeypatch.setattr(os, "replace", full(os.replace))


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["weights", "training_state", "rename"])
def test_disk_full_stops_the_app_run_and_keeps_the_checkpoint(kind, app_server, client, app_model, files,
                                                              monkeypatch):
    stop_any_run()
    _fail_at_step_6(kind, monkeypatch)
    # 6 steps: the app checkpoints every 3, so step 3 is written and step 6 hits the full disk
    client.predict("demo:daynight", "cyclegan", "quick", 32, 6, 1, api_name="/train_start")
    status, _ = wait_status(client, lambda s, _: s["state"] not in ("starting", "running"))
    assert status["state"] == "error", status
    assert "No space left on device" in status["error"] and "disk full" in status["error"], status["error"]
    assert "previous checkpoint is kept" in status["error"]
    run_dir = app_server[2] / status["run"]
    assert status["latest_checkpoint"] == "step_000003"
    assert sorted(p.name for p in (run_dir / "checkpoints").iterdir()) == ["step_000003"]  # no torn temp folder
    assert load_model(run_dir / "latest").provenance["step"] == 3
    assert status["model"] and state.MODELS.get(status["model"]).provenance["step"] == 3
    monkeypatch.undo()
    still_translates(client, app_model, files["photo"])


@pytest.mark.slow
def test_data_loader_exception_in_the_app_run(app_server, client, app_model, files, monkeypatch):
    """The loader raises mid-run: state 'error', the reason via /train_status, the server keeps
    serving, and Start works again."""
    stop_any_run()
    from cyclegan import demo
    real = demo.render
    calls = {"n": 0}

    def flaky(*a, **k):
        calls["n"] += 1
        if calls["n"] > 12:
            raise OSError(5, "Input/output error: the dataset disk went away")
        return real(*a, **k)

    monkeypatch.setattr(demo, "render", flaky)
    client.predict("demo:daynight", "cyclegan", "quick", 32, 500, 1, api_name="/train_start")
    status, _ = wait_status(client, lambda s, _: s["state"] not in ("starting", "running"))
    assert status["state"] == "error", status
    assert "the dataset disk went away" in status["error"]
    assert any("dataset disk went away" in line for line in status["log"])
    still_translates(client, app_model, files["photo"])
    monkeypatch.setattr(demo, "render", real)
    again = client.predict("demo:daynight", "cyclegan", "quick", 32, 3, 1, api_name="/train_start")
    assert again["state"] in ("starting", "running") and again["run"] != status["run"]
    done, _ = wait_status(client, lambda s, _: s["state"] not in ("starting", "running"))
    assert done["state"] == "finished" and done["step"] == 3, done


# === faults, continued: every disk-full path, on a real small filesystem where one can be mounted ====
@pytest.fixture
def small_fs(tmp_path):
    """A 20 MB tmpfs: room for one quick-scale checkpoint (12.6 MB) and the run's small files, not
    for a second. Mounting needs root (CI runs as root); elsewhere the test says why it skips."""
    mnt = tmp_path / "small"
    mnt.mkdir()
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=20m", "tmpfs", str(mnt)], capture_output=True, text=True)
    if r.returncode:
        pytest.skip(f"cannot mount a small tmpfs here ({(r.stderr or '').strip() or r.returncode}); the simulated "
                    "disk-full tests cover the same paths")
    try:
        yield mnt
    finally:
        subprocess.run(["umount", "-l", str(mnt)], capture_output=True)


def test_real_full_disk_cli_run_ends_with_one_line_and_keeps_the_checkpoint(small_fs, capfd):
    from train.cli import main as train_main
    out = small_fs / "run"
    code, _, err = call_main(train_main, ["--out", out, "--scale", "quick", "--size", "32", "--batch", "1", "--steps",
                                          "4", "--checkpoint-every", "1", "--threads", "1", "--quiet"], capfd)
    assert_one_error_line(code, err, "No space left on device (disk full?); the previous checkpoint is kept")
    assert _complete(out) == [1]
    assert _assert_loadable(out) == 1
    assert not list((out / "checkpoints").glob(".tmp-*"))


@pytest.mark.slow
def test_real_full_disk_app_run_says_so_and_keeps_the_checkpoint(small_fs, app_server, client, app_model, files,
                                                                  monkeypatch):
    stop_any_run()
    monkeypatch.setenv("CYCLEGAN_RUNS_DIR", str(small_fs))
    monkeypatch.setenv("CYCLEGAN_PRIVATE_DIR", str(app_server[2].parent / "private-small-fs"))
    client.predict("demo:daynight", "cyclegan", "quick", 32, 8, 1, api_name="/train_start")   # checkpoints every 4
    status, _ = wait_status(client, lambda s, _: s["state"] not in ("starting", "running"))
    assert status["state"] == "error" and "No space left on device (disk full?)" in status["error"], status
    assert "\n" not in status["error"] and "Traceback" not in status["error"]
    assert status["latest_checkpoint"] == "step_000004" and status["model"] == f"run:{status['run']}"
    assert _assert_loadable(small_fs / status["run"]) == 4
    monkeypatch.undo()
    state.RUNS.run = None    # its folder goes with the mount: later /train_status calls must not point there
    still_translates(client, app_model, files["photo"])


@pytest.mark.parametrize("what", ["weights_safetensor_error", "sample_grid", "metrics", "config"])
def test_each_write_of_a_run_fails_as_one_line(what, tmp_path, monkeypatch, capfd):
    """The real exception types: safetensors raises its own SafetensorError (worded as Rust's
    I/O error) for the weights; PIL and Python raise OSError 28 for the rest."""
    import cyclegan.checkpoints as ckpts
    import train.runs as runs_mod
    import train.trainer as trainer_mod
    from safetensors import SafetensorError
    from train.cli import main as train_main
    full = OSError(28, "No space left on device")

    if what == "weights_safetensor_error":
        real = ckpts.save_file

        def save_file(tensors, path, metadata=None):
            if "step_000002" in str(path):
                raise SafetensorError("Error while serializing: I/O error: No space left on device (os error 28)")
            return real(tensors, path, metadata=metadata)
        monkeypatch.setattr(ckpts, "save_file", save_file)
    elif what == "sample_grid":
        real_save = trainer_mod.save_image
        monkeypatch.setattr(trainer_mod, "save_image", lambda grid, p, *a, **k: (_ for _ in ()).throw(full)
                            if "step_000002" in str(p) else real_save(grid, p, *a, **k))
    elif what == "metrics":
        real_append = runs_mod.RunDir.append_metrics

        def append(self, record):
            if record["step"] == 2:
                raise full
            real_append(self, record)
        monkeypatch.setattr(runs_mod.RunDir, "append_metrics", append)
    else:
        monkeypatch.setattr(runs_mod.RunDir, "write_config", lambda self, cfg: (_ for _ in ()).throw(full))
    out = tmp_path / "run"
    code, _, err = call_main(train_main, ["--out", out, "--scale", "quick", "--size", "32", "--batch", "1", "--steps", "3",
                                          "--checkpoint-every", "1", "--sample-every", "1", "--log-every", "1",
                                          "--threads", "1", "--quiet"], capfd)
    phrase = {"weights_safetensor_error": "could not write the checkpoint at step 2: No space left on device",
              "sample_grid": "could not write the sample grid at step 2: No space left on device",
              "metrics": "could not write the metrics at step 2: No space left on device",
              "config": "could not write the run's config.json: No space left on device"}[what]
    assert_one_error_line(code, err, phrase)
    if what == "config":
        assert not (out / "checkpoints").exists()
    else:
        assert "(disk full?); the previous checkpoint is kept" in err
        assert _assert_loadable(out) == 1


# === bounded work per request ========================================================================
def test_huge_config_is_refused_before_any_memory_is_taken(tmp_path):
    """The 1.3 KB file whose config names 780 MB of nets: refused, and the process grew by at most
    200 MB (measured in a process of its own, by its peak RSS before and after)."""
    path = huge_config_file(tmp_path)
    assert path.stat().st_size < 2000
    code = ("import resource, sys, cyclegan\n"
            "before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss\n"
            "try:\n    cyclegan.load_model(sys.argv[1])\nexcept cyclegan.UserInputError as e:\n    print('refused:', e)\n"
            "print('grew_mb', (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024)\n")
    r = subprocess.run([sys.executable, "-c", code, str(path)], cwd=ROOT, capture_output=True, text=True, timeout=300,
                       env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert r.returncode == 0, r.stderr[-2000:]
    assert "refused:" in r.stdout and "does not match its architecture" in r.stdout, r.stdout
    grew = float(r.stdout.split("grew_mb")[1])
    assert grew <= 200, f"loading grew the process by {grew:.0f} MB"


def test_thin_strip_on_a_space_returns_quickly(client, app_model, files, tmp_path, monkeypatch):
    """A 278-byte 1×100,000 PNG once computed for minutes (scaled up to the pixel limit first).
    On a Space it returns its result within 5 s (CPU time of this process, so that other jobs on
    a shared machine do not count), at the processing size the app uses by default and at 0."""
    import resource
    strip = tmp_path / "strip.png"
    Image.new("RGB", (1, 100_000), (90, 90, 90)).save(strip)
    monkeypatch.setenv("SPACE_ID", "someone/cyclegan-studio")
    for size in (None, 0):
        cpu0, wall0 = resource.getrusage(resource.RUSAGE_SELF), time.perf_counter()
        out, trip, msg = client.predict(handle_file(str(strip)), app_model, "a2b", size, api_name="/translate")
        cpu1, wall = resource.getrusage(resource.RUSAGE_SELF), time.perf_counter() - wall0
        cpu = (cpu1.ru_utime - cpu0.ru_utime) + (cpu1.ru_stime - cpu0.ru_stime)
        with Image.open(out) as im:
            assert im.size == (1, 100_000)
        print(f"strip at size {size}: {wall:.2f} s wall, {cpu:.2f} s CPU (load {os.getloadavg()[0]:.1f})")
        assert min(wall, cpu) <= 5.0, (wall, cpu)
    still_translates(client, app_model, files["photo"])


def test_translation_time_limit_stops_between_tiles(model, monkeypatch):
    import cyclegan.translate as translate_mod
    monkeypatch.setenv("CYCLEGAN_MAX_TRANSLATE_SECONDS", "7")
    real = translate_mod.run_padded
    monkeypatch.setattr(translate_mod, "run_padded", lambda *a: (time.sleep(0.3), real(*a))[1])
    big = noise(300, 300)
    with pytest.raises(UserInputError, match=r"over this server's time limit of 7 s \(CYCLEGAN_MAX_TRANSLATE_SECONDS\)"):
        model.translate(big, "a2b", max_side=32, deadline=time.monotonic() + 0.5)


@pytest.mark.parametrize("args,phrase", [
    (("demo:daynight", "cyclegan", "full", 256, 10, 512), "CYCLEGAN_MAX_TRAIN_MEMORY_MB"),
    (("demo:daynight", "dualgan", "full", 256, 10, 16), "over this server's limit of 6,000 MB"),
])
def test_space_refuses_runs_the_machine_cannot_hold(args, phrase, app_server, client, monkeypatch):
    """The run that once OOM-killed the server (paper, 256 px, batch 512) is refused from an
    estimate, before anything is allocated; the message names the estimate and the limit."""
    stop_any_run()
    monkeypatch.setenv("SPACE_ID", "someone/cyclegan-studio")
    msg = app_error(lambda: client.predict(*args, api_name="/train_start"))
    assert phrase in msg and "would need about" in msg and "MB of memory" in msg, msg
    assert client.predict(api_name="/train_status")[0]["state"] not in ("starting", "running")


def test_run_time_limit_stops_the_run_with_its_checkpoint(app_server, client):
    stop_any_run()
    started = client.predict("demo:daynight", "cyclegan", "quick", 32, 100_000, 1, api_name="/train_start")
    state.RUNS.run.max_minutes = 0.02    # what CYCLEGAN_MAX_RUN_MINUTES sets at start, shortened for the test
    status, _ = wait_status(client, lambda s, _: s["state"] not in ("starting", "running", "stopping"))
    assert status["state"] == "stopped" and status["latest_checkpoint"], status
    assert "CYCLEGAN_MAX_RUN_MINUTES" in status["notice"] and status["error"] is None
    assert started["owner_token"] not in json.dumps(status)


def test_domain_names_cannot_become_markdown(client, app_model, tmp_path):
    """Names from an uploaded dataset reach every visitor's page: shown as text, never as a link."""
    evil = cyclegan.save_model(tiny_model(domains=("[click](https://evil.example/x)", "www.evil.example")),
                               tmp_path / "evil.safetensors")
    arch, spec, msg = client.predict("", [handle_file(str(evil))], api_name="/load_model")
    assert "](" not in msg and "https://" not in msg and "www.evil" not in msg, msg
    assert r"\[click\]\(https\:\/\/evil.example\/x\)" in msg


def test_domain_names_in_the_score_legend_are_text(tmp_path):
    """The Train tab's score legend is HTML that every visitor's page shows, and its series are
    the run's domain names, which an uploaded dataset's domains.json chooses (any printable text,
    tags included): they arrive escaped, so no element or handler of the visitor's reaches the page."""
    from ui import train_charts
    evil = ('<img src=x onerror="alert(1)">', "<script>alert(2)</script>")
    scores = [{"step": 2, "kid_a2b": 0.1, "identity_kid_a2b": 0.2, "kid_b2a": 0.3, "identity_kid_b2a": 0.4}]
    _, legend = train_charts.update({}, "score", scores, lambda rows: train_charts.score_frame(rows, evil),
                                    train_charts.score_colors)
    assert "<img" not in legend and "<script" not in legend and "onerror=\"" not in legend, legend
    assert "&lt;img src=x onerror=&quot;alert(1)&quot;&gt; → &lt;script&gt;" in legend, legend


@pytest.mark.slow
def test_queue_full_says_busy(tmp_path, monkeypatch):
    """A CPU Space's queue is bounded (CYCLEGAN_QUEUE_SIZE): a request past it is told the app is
    busy at once, instead of waiting behind everyone."""
    from gradio_client import Client
    from gradio_client.utils import QueueError

    import ui
    from conftest import free_port
    from cyclegan.model import CycleModel
    monkeypatch.setenv("CYCLEGAN_QUEUE_SIZE", "1")
    monkeypatch.setenv("CYCLEGAN_TRANSLATE_CONCURRENCY", "1")
    page = ui.build()
    _, url, _ = ui.launch(page, prevent_thread_lock=True, server_name="127.0.0.1", server_port=free_port(), quiet=True)
    real = CycleModel.round_trip
    monkeypatch.setattr(CycleModel, "round_trip", lambda self, *a, **k: (time.sleep(4), real(self, *a, **k))[1])
    try:
        photo = tmp_path / "p.png"
        noise(20, 10).save(photo)
        clients = [Client(url, analytics_enabled=False, verbose=False) for _ in range(3)]
        jobs = []
        for c in clients:
            jobs.append(c.submit(handle_file(str(photo)), "demo:cyclegan", "a2b", None, api_name="/translate"))
            time.sleep(0.5)
        outcomes = []
        for j in jobs:
            try:
                j.result(timeout=60)
                outcomes.append("done")
            except QueueError as e:
                outcomes.append(str(e))
        assert outcomes.count("done") == 2 and any("Queue is full" in o and "try again" in o for o in outcomes), outcomes
    finally:
        page.close()


@pytest.mark.slow
def test_app_starts_with_the_runs_disk_full(tmp_path):
    """`python app.py` with its runs folder on a full disk: the page still loads (the examples are
    rendered elsewhere, the private folder falls back to a temporary one)."""
    mnt = tmp_path / "full"
    mnt.mkdir()
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(mnt)], capture_output=True, text=True)
    if r.returncode:
        pytest.skip(f"cannot mount a small tmpfs here ({(r.stderr or '').strip() or r.returncode})")
    try:
        subprocess.run(["dd", "if=/dev/zero", f"of={mnt}/filler", "bs=4k"], capture_output=True)
        from conftest import free_port
        port = free_port()
        env = {**os.environ, "CYCLEGAN_RUNS_DIR": str(mnt / "runs"), "GRADIO_SERVER_NAME": "127.0.0.1",
               "GRADIO_SERVER_PORT": str(port), "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1"}
        p = subprocess.Popen([sys.executable, "app.py"], cwd=ROOT, env=env, stdout=subprocess.PIPE,
                             stderr=subprocess.STDOUT, text=True)
        import httpx
        try:
            deadline = time.time() + 180
            while time.time() < deadline:
                assert p.poll() is None, p.stdout.read()[-3000:]
                try:
                    if httpx.get(f"http://127.0.0.1:{port}/", timeout=2).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                time.sleep(0.5)
            else:
                raise AssertionError("the app did not start")
        finally:
            p.terminate()
            p.wait(30)
    finally:
        subprocess.run(["umount", "-l", str(mnt)], capture_output=True)
