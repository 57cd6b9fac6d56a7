"""A public server's visitors, as strangers to each other and to the server: they act on the Hub
only as themselves, cannot read each other's uploads or control each other's runs, cannot make
the server open a file it does not serve, and cannot take its threads, queue or disk.

Hub traffic goes to a fake Hub on 127.0.0.1 (tests/fake_hub.py) that records the Authorization
header of every request, while HF_TOKEN holds a fake token of the server's owner.
"""
from __future__ import annotations

import io
import json
import os
import re
import secrets
import sys
import threading
import time
import zipfile
from pathlib import Path

import httpx
import pytest
from PIL import Image
from gradio_client import Client, handle_file
from gradio_client.exceptions import AppError

import cyclegan
from conftest import tiny_model
from fake_hub import FakeHub, Repo
from hostile_inputs import data_files, noise, stop_any_run, ui_call, wait_status
from ui import api, state, storage, train_tab, visitor

OWNER_TOKEN = "hf_" + secrets.token_hex(17)      # the server's own, in HF_TOKEN
VISITOR_TOKEN = "hf_" + secrets.token_hex(17)    # a signed-in visitor's
pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture
def fake_hub(monkeypatch, tmp_path):
    from huggingface_hub import constants
    folder = cyclegan.save_model(tiny_model(domains=("plain", "fancy")), tmp_path / "m")
    files = {p.name: p.read_bytes() for p in folder.iterdir()}
    hub = FakeHub({"someone/public": Repo(files), "someone/private": Repo(files, VISITOR_TOKEN)}).start()
    monkeypatch.setattr(constants, "ENDPOINT", hub.endpoint)
    monkeypatch.setattr(constants, "HUGGINGFACE_CO_URL_TEMPLATE", hub.endpoint + "/{repo_id}/resolve/{revision}/{filename}")
    monkeypatch.setenv("HF_TOKEN", OWNER_TOKEN)
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)     # CI runs with it set; huggingface_hub read it at import
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    try:
        yield hub
    finally:
        hub.stop()


def _error(call) -> str:
    with pytest.raises(AppError) as e:
        call()
    return e.value.message


# === the Hub: only the visitor's credential ======================================================
def test_hub_loads_are_anonymous_unless_signed_in(app_server, client, fake_hub, tmp_path):
    url, app, runs = app_server
    arch, spec, msg = client.predict("someone/public", None, api_name="/load_model")
    assert spec == "someone/public" and "plain ↔ fancy" in msg
    assert fake_hub.requests and {r.authorization for r in fake_hub.requests} == {None}   # not the owner's token

    fake_hub.requests.clear()
    msg = _error(lambda: client.predict("someone/private", None, api_name="/load_model"))
    assert "not found (or private" in msg and OWNER_TOKEN not in msg
    assert {r.authorization for r in fake_hub.requests} == {None}

    fake_hub.requests.clear()   # signed in: the visitor's token, and only for this visitor
    done, raw = ui_call(url, app, "load_user_model", ["someone/private", None, []], oauth_token=VISITOR_TOKEN)
    assert done["success"], done
    assert {r.authorization for r in fake_hub.requests} == {f"Bearer {VISITOR_TOKEN}"}
    assert VISITOR_TOKEN not in raw
    photo = tmp_path / "p.png"
    noise(40, 30).save(photo)
    msg = _error(lambda: client.predict(handle_file(str(photo)), "someone/private", "a2b", None,
                                        api_name="/translate"))     # another visitor, not signed in
    assert "not found (or private" in msg
    image = {"path": _upload(url, photo), "meta": {"_type": "gradio.FileData"}}
    done, _ = ui_call(url, app, "translate", [image, "someone/private", "a2b", None, None, None, None],
                      oauth_token=VISITOR_TOKEN)
    assert done["success"], done


def test_push_with_an_empty_token_sends_nothing_to_the_hub(app_server, client, fake_hub, monkeypatch):
    """Issue #11 fault 1: the page's Push with the token box empty once went out with the server's
    HF_TOKEN. Against a fake Hub that records every request's Authorization header: no request
    at all without a visitor credential; a signed-in visitor's push carries only their token."""
    url, app, runs = app_server
    monkeypatch.setenv("SPACE_ID", "someone/studio")
    stop_any_run()
    client.predict("demo:daynight", "cyclegan", "quick", 32, 2, 1, api_name="/train_start")
    wait_status(client, lambda s, _: s["state"] not in ("starting", "running"))
    fake_hub.requests.clear()
    for typed in ("", "  "):
        done, raw = ui_call(url, app, "push_run", ["visitor/day2night", typed, True])
        assert done["success"] is False and "needs your Hugging Face token" in done["output"]["error"]
        assert OWNER_TOKEN not in raw
    assert fake_hub.requests == []                      # the Hub was never asked, with any token
    done, raw = ui_call(url, app, "push_run", ["visitor/day2night", "", True], oauth_token=VISITOR_TOKEN)
    assert fake_hub.requests, "the signed-in push never reached the Hub"
    assert {r.authorization for r in fake_hub.requests} == {f"Bearer {VISITOR_TOKEN}"}
    assert VISITOR_TOKEN not in raw and OWNER_TOKEN not in raw


def _upload(url: str, path: Path) -> str:
    with open(path, "rb") as f:
        return httpx.post(url + "gradio_api/upload", files=[("files", (path.name, f))]).json()[0]


def _fetch(url: str, path) -> int:
    return httpx.get(url + f"gradio_api/file={path}").status_code


# === runs: the owner controls, everyone watches ==================================================
@pytest.fixture
def long_run(app_server, client):
    stop_any_run()
    started = client.predict("demo:daynight", "cyclegan", "quick", 32, 100_000, 1, api_name="/train_start")
    wait_status(client, lambda s, _: s["state"] == "running")
    yield started
    stop_any_run()


def test_only_the_owner_or_the_admin_controls_a_run(app_server, client, long_run, monkeypatch):
    url, app, runs = app_server
    other = Client(url, analytics_enabled=False, verbose=False)
    token = long_run["owner_token"]
    assert token.startswith("own_") and "owner_token" not in json.dumps(other.predict(api_name="/train_status")[0])
    for call in (lambda: other.predict(api_name="/train_pause"), lambda: other.predict(0, api_name="/train_stop"),
                 lambda: other.predict(0, "own_" + "x" * 32, api_name="/train_stop"),
                 lambda: other.predict(api_name="/train_resume")):
        assert "started by another visitor" in _error(call)
    assert other.predict(api_name="/train_status")[0]["state"] == "running"
    # the page: another browser's id is refused too, the owner's works
    done, _ = ui_call(url, app, "ui_stop", ["another-browser-" + "y" * 24])
    assert done["success"] is False and "started by another visitor" in done["output"]["error"]
    assert visitor.may_control(state.RUNS.run.owner, token)
    monkeypatch.setenv("CYCLEGAN_ADMIN_TOKEN", "admin-" + "z" * 30)
    assert other.predict("admin-" + "z" * 30, api_name="/train_pause")["state"] == "paused"
    assert client.predict(token, api_name="/train_resume")["state"] == "running"
    assert client.predict(30, token, api_name="/train_stop")["state"] == "stopped"


def test_a_visitor_cannot_make_the_live_score_run_every_step(app_server, client, monkeypatch):
    """/train_start's score_every=1 would score (a generator and a feature pass over 100 held-out
    images, plus a checkpoint) after every step: on a Space a run is scored at most
    CYCLEGAN_MAX_LIVE_SCORES times, and the message says which interval would do."""
    stop_any_run()
    monkeypatch.setenv("SPACE_ID", "someone/studio")
    for every in (1, 10):
        msg = _error(lambda e=every: client.predict("demo:daynight", "cyclegan", "quick", 32, 5000, 1, None, e,
                                                    api_name="/train_start"))
        assert "at most 50 times (CYCLEGAN_MAX_LIVE_SCORES): score every 100 steps or more" in msg, msg
    assert state.RUNS.run is None or not state.RUNS.run.active
    api.check_live_scores(5000, None, 200)     # the default (each checkpoint) and 0 (off) stay allowed
    api.check_live_scores(5000, 0, 200)
    api.check_live_scores(5000, 100, 200)
    monkeypatch.setenv("CYCLEGAN_MAX_LIVE_SCORES", "0")   # 0: no limit, as on one's own machine
    api.check_live_scores(5000, 1, 200)
    monkeypatch.delenv("SPACE_ID")
    monkeypatch.delenv("CYCLEGAN_MAX_LIVE_SCORES")
    api.check_live_scores(5000, 1, 200)


@pytest.mark.slow
def test_waiting_stop_calls_cannot_starve_the_server(app_server, client, monkeypatch):
    """45 concurrent /train_stop(wait 600) by the owner while the run's step takes long: the
    waits hold no worker thread, so the page and the status still answer at once."""
    url, app, runs = app_server
    stop_any_run()
    import train.trainer as trainer_mod
    real = trainer_mod.Trainer.train_step

    def slow_step(self):
        time.sleep(25 if self.step >= 2 else 0)
        return real(self)

    monkeypatch.setattr(trainer_mod.Trainer, "train_step", slow_step)
    started = client.predict("demo:daynight", "cyclegan", "quick", 32, 1000, 1, api_name="/train_start")
    wait_status(client, lambda s, _: s["state"] == "running" and s["step"] >= 1)
    results = []

    def stop():   # the plain HTTP API: POST the call, then read its event stream
        try:
            r = httpx.post(url + "gradio_api/call/train_stop", json={"data": [600, started["owner_token"]]})
            with httpx.stream("GET", url + f"gradio_api/call/train_stop/{r.json()['event_id']}", timeout=200) as resp:
                lines = [line for line in resp.iter_lines() if line.startswith("data:")]
            results.append(json.loads(lines[-1][5:])[0]["state"])
        except Exception as e:  # noqa: BLE001
            results.append(repr(e))

    threads = [threading.Thread(target=stop) for _ in range(45)]
    for t in threads:
        t.start()
    time.sleep(3)
    timings = {}
    for what, call in (("page", lambda: httpx.get(url, timeout=30)), ("config", lambda: httpx.get(url + "config")),
                       ("status", lambda: client.predict(api_name="/train_status"))):
        t0 = time.perf_counter()
        call()
        timings[what] = time.perf_counter() - t0
    assert all(v <= 2.0 for v in timings.values()), timings
    for t in threads:
        t.join(120)
    assert results == ["stopped"] * 45, results[:3]


# === privacy: uploads and paths ================================================================
def test_a_visitors_dataset_upload_is_private_and_gone_after_the_run(app_server, client, tmp_path):
    """The zip is moved out of Gradio's cache (its URL stops working), trained from a private
    folder nobody can fetch, recorded as 'upload:NAME' and deleted with its images when the run
    ends; nothing a visitor reads names a server path."""
    url, app, runs = app_server
    stop_any_run()
    z = tmp_path / "my-photos.zip"
    with zipfile.ZipFile(z, "w") as zf:
        for name, data in data_files(6, 6).items():   # enough images a side for the live score
            zf.writestr(name, data)
        jpeg = io.BytesIO()
        Image.new("RGB", (40, 30), "teal").save(jpeg, "JPEG")
        zf.writestr("trainA/cut.jpg", jpeg.getvalue()[:200])    # a download cut short: named, left out
    cached = _upload(url, z)
    assert _fetch(url, cached) == 200
    owner = visitor.ensure_owner(None)
    zip_value = {"path": cached, "orig_name": z.name, "meta": {"_type": "gradio.FileData"}}
    # the Train form's inputs in order (train_tab.wire), then the owner
    done, raw = ui_call(url, app, "ui_start", ["zip", "daynight", zip_value, "", "horse2zebra", "cyclegan", None, "quick",
                                               32, 6, 1, None, None, None, None, "", False, None, None, "", owner])
    assert done["success"], done
    assert _fetch(url, cached) in (403, 404) and not Path(cached).exists()
    run = state.RUNS.run
    private = Path(run.data_source)
    assert private.is_file() and storage.private_dir() in private.parents
    assert _fetch(url, private) == 403
    wait_status(client, lambda s, _: s["state"] not in ("starting", "running"))
    status = client.predict(api_name="/train_status")[0]
    assert status["state"] == "finished", status
    assert status["score"] and status["best"] == f"run:{status['run']}@best", status   # scored: its text is checked too
    assert status["data_note"].startswith("6 + 6 images from my-photos.zip; 1 unreadable: trainA/cut.jpg "
                                          "(trainA/cut.jpg: image is truncated or corrupt: 'cut.jpg'"), status
    text = json.dumps(status) + raw + json.dumps(state.model_choices("cyclegan"))
    for root in (str(tmp_path), str(storage.private_dir()), str(runs), "/tmp/"):
        assert root not in text, f"{root} named in what visitors read"
    saved = json.loads((runs / status["run"] / "config.json").read_text())
    assert saved["data"] == "upload:my-photos.zip"
    assert cyclegan.load_model(runs / status["run"] / "latest").provenance["data"] == "upload:my-photos.zip"
    assert not private.exists() and not storage.data_dir(status["run"]).exists()   # deleted when the run ended
    assert _fetch(url, runs / status["run"] / "config.json") == 200     # the runs folder itself stays public


def test_an_uploaded_model_is_private(app_server, client, tmp_path):
    url, app, runs = app_server
    path = cyclegan.save_model(tiny_model(), tmp_path / "mine.safetensors")
    cached = _upload(url, path)
    done, raw = ui_call(url, app, "load_user_model",
                        ["", [{"path": cached, "orig_name": path.name, "meta": {"_type": "gradio.FileData"}}], []])
    assert done["success"], done
    spec = done["output"]["data"][1]
    assert re.fullmatch(r"upload:[0-9a-f]{24}", spec)
    assert _fetch(url, cached) in (403, 404)
    kept = storage.uploaded_files(spec[7:])
    assert len(kept) == 1 and _fetch(url, kept[0]) == 403
    assert str(tmp_path) not in raw and str(storage.private_dir()) not in raw


def test_comma_spec_opens_no_file_and_paths_get_one_message(app_server, client, tmp_path, monkeypatch):
    """'<run model>,/some/file': the second part was once opened. Now a spec is one thing; on a
    Space every path (existing, missing, comma-joined) gets the same message and no file under
    it is opened."""
    url, app, runs = app_server
    canary = tmp_path / "canary.pth"
    canary.write_bytes(b"x")
    model = cyclegan.save_model(tiny_model(), runs / ".specs" / "model")
    opened = []
    sys.addaudithook(lambda event, args: opened.append(args[0]) if event == "open" and args
                     and str(args[0]).startswith(str(tmp_path)) else None)
    photo = tmp_path / "p.png"
    noise(20, 10).save(photo)
    monkeypatch.setenv("SPACE_ID", "someone/studio")
    messages = {_error(lambda s=s: client.predict(handle_file(str(photo)), s, "a2b", None, api_name="/translate"))
                for s in (f"{model}/model.safetensors,{canary}", str(canary), str(tmp_path / "missing.pth"),
                          f"{tmp_path}/a,b.pth", "/etc/shadow")}
    assert messages == {state.NOT_HERE}
    assert [p for p in opened if str(p) != str(photo) and "gradio" not in str(p)] == []
    monkeypatch.delenv("SPACE_ID")   # where paths are allowed, a name with a comma is one name
    comma = tmp_path / "a,b.safetensors"
    cyclegan.save_model(tiny_model(), comma)
    out, _, _ = client.predict(handle_file(str(photo)), str(comma), "a2b", None, api_name="/translate")
    assert Path(out).is_file()
    assert "model not found" in _error(lambda: client.predict(handle_file(str(photo)), f"{model},{canary}", "a2b",
                                                              None, api_name="/translate"))


def test_run_best_spec_stays_inside_its_run_folder(tmp_path, monkeypatch):
    """run:NAME@best follows the run's best.txt only to a checkpoint inside that run's folder:
    a best.txt naming '../other/...' loads nothing, and the message is the plain 'no run' one."""
    runs = tmp_path / "runs"
    monkeypatch.setenv("CYCLEGAN_RUNS_DIR", str(runs))
    monkeypatch.setenv("CYCLEGAN_PRIVATE_DIR", str(tmp_path / "private"))
    cyclegan.save_model(tiny_model(), runs / "other" / "checkpoints" / "step_000002")
    cyclegan.save_model(tiny_model(), runs / "mine" / "checkpoints" / "step_000004")
    (runs / "mine" / "best.txt").write_text("checkpoints/step_000004")
    assert state.ModelCache().resolve("run:mine@best") == ("path", runs / "mine" / "checkpoints" / "step_000004")
    (runs / "mine" / "best.txt").write_text("../other/checkpoints/step_000002")
    with pytest.raises(cyclegan.UserInputError, match="no run 'mine' with a best-scoring checkpoint"):
        state.ModelCache().resolve("run:mine@best")
    for spec in ("run:../other@best", "run:mine@../../etc", "run:mine@latest"):
        with pytest.raises(cyclegan.UserInputError, match="no run|unknown checkpoint"):
            state.ModelCache().resolve(spec)


# === the runs folder: caps, oldest first, and the runs that were already there ===================
@pytest.mark.slow
def test_runs_folder_caps_remove_oldest_visitor_runs(app_server, client, monkeypatch):
    url, app, runs = app_server
    stop_any_run()
    keeper = runs / "owners-own-run"          # not started here: never removed
    cyclegan.save_model(tiny_model(), keeper / "latest")
    visitor_runs = [r["name"] for r in storage.records() if (runs / r["name"]).is_dir()]
    monkeypatch.setenv("CYCLEGAN_MAX_RUNS", str(len([p for p in runs.iterdir() if p.is_dir()
                                                     and not p.name.startswith(".")]) - len(visitor_runs) + 2))
    names = []
    for _ in range(3):
        names.append(client.predict("demo:daynight", "cyclegan", "quick", 32, 2, 1, api_name="/train_start")["run"])
        wait_status(client, lambda s, _: s["state"] not in ("starting", "running"))
        time.sleep(1.1)                        # run folders are named to the second
    left = {p.name for p in runs.iterdir() if p.is_dir()}
    assert keeper.name in left and names[-1] in left and names[-2] in left
    assert names[0] not in left and not any(v in left for v in visitor_runs)    # oldest first
    assert storage.read_record(names[0]) is None


def test_runs_folder_size_and_age_caps(tmp_path, monkeypatch):
    """CYCLEGAN_MAX_RUNS_MB and CYCLEGAN_RUN_TTL_HOURS: visitors' ended runs past the age go, then
    the oldest until the folder is under its size; the owner's own runs (no record) and the
    active run stay; when only those are left over the cap, a new run is refused in one line."""
    runs = tmp_path / "runs"
    monkeypatch.setenv("CYCLEGAN_RUNS_DIR", str(runs))
    monkeypatch.setenv("CYCLEGAN_PRIVATE_DIR", str(tmp_path / "private"))
    for k in ("SPACE_ID", "CYCLEGAN_MAX_RUNS", "CYCLEGAN_MAX_RUNS_MB", "CYCLEGAN_RUN_TTL_HOURS"):
        monkeypatch.delenv(k, raising=False)

    def run(name, mb, ended_hours_ago=None):
        (runs / name).mkdir(parents=True)
        (runs / name / "blob").write_bytes(b"\0" * int(mb * 1e6))
        if ended_hours_ago is not None:
            storage.write_record(name, owner="x", ended="finished", ended_at=time.time() - ended_hours_ago * 3600)

    run("owners", 1.0)                      # already there: never a visitor's
    run("old", 1.0, ended_hours_ago=30)
    run("mid", 1.0, ended_hours_ago=3)
    run("new", 1.0, ended_hours_ago=1)
    run("active", 1.0)
    storage.write_record("active", owner="x", ended=None)
    storage.enforce_caps(active="active")
    assert {p.name for p in runs.iterdir()} == {"owners", "old", "mid", "new", "active"}   # no caps set: all stay
    monkeypatch.setenv("CYCLEGAN_RUN_TTL_HOURS", "24")
    storage.enforce_caps(active="active")
    assert not (runs / "old").exists() and storage.read_record("old") is None
    monkeypatch.setenv("CYCLEGAN_MAX_RUNS_MB", "3")         # 4 MB left: the oldest visitor runs go first
    storage.enforce_caps(active="active")
    assert {p.name for p in runs.iterdir()} == {"owners", "active"}
    assert storage.folder_mb(runs) < 3
    monkeypatch.setenv("CYCLEGAN_MAX_RUNS_MB", "1")
    with pytest.raises(cyclegan.UserInputError, match=r"^the runs folder is full \(2 MB, .*CYCLEGAN_MAX_RUNS_MB"):
        storage.enforce_caps(active="active")
    assert {p.name for p in runs.iterdir()} == {"owners", "active"}


def test_readme_limits_table_matches_the_code(monkeypatch):
    """Every setting cyclegan/limits.py reads is a row of README's Limits table, and the row's
    local and Space defaults are the values limits.current() gives without and with SPACE_ID."""
    from cyclegan import limits
    from conftest import ROOT
    code = re.findall(r'env_(?:int|bool)\("(CYCLEGAN_\w+)", *([^\n]*)', (ROOT / "cyclegan/limits.py").read_text())
    rows = {m[0]: (m[1].strip(), m[2].strip()) for m in
            re.findall(r"^\| `(CYCLEGAN_\w+)` \|([^|]*)\|([^|]*)\|", (ROOT / "README.md").read_text(), re.M)}
    for k in [k for k in os.environ if k.startswith("CYCLEGAN_")] + ["SPACE_ID"]:
        monkeypatch.delenv(k, raising=False)
    local = limits.current()
    monkeypatch.setenv("SPACE_ID", "someone/studio")
    space = limits.current()

    def value(text: str):
        text = text.replace(",", "").replace(" (none)", "")
        if text in ("true", "false"):
            return text == "true"
        if text == "the machine's memory":
            return limits.machine_memory_mb()
        if text.endswith(" GiB"):
            return int(text[:-4]) * limits.GiB
        return int(text)

    assert len(code) >= 25
    for var, _ in code:
        assert var in rows, f"{var} is not in README's Limits table"
        field = var[len("CYCLEGAN_"):].lower()
        assert (value(rows[var][0]), value(rows[var][1])) == (getattr(local, field), getattr(space, field)), var


def test_gradio_cache_is_cleaned_at_the_configured_age(monkeypatch):
    """Gradio's cache (uploads, results) never grows without bound: the page sets delete_cache
    from CYCLEGAN_CACHE_MINUTES (60 on a Space), checked at most every 10 minutes."""
    import ui
    monkeypatch.delenv("CYCLEGAN_CACHE_MINUTES", raising=False)
    monkeypatch.setenv("SPACE_ID", "someone/studio")
    assert ui.build().delete_cache == (600, 3600)
    monkeypatch.setenv("CYCLEGAN_CACHE_MINUTES", "5")
    assert ui.build().delete_cache == (300, 300)
    monkeypatch.delenv("SPACE_ID")
    monkeypatch.delenv("CYCLEGAN_CACHE_MINUTES")
    assert ui.build().delete_cache == (600, 1440 * 60)


def test_a_run_that_just_finished_is_never_shown_as_interrupted(app_server, client):
    """Between a run's finishing (the slot's state) and its end being recorded (on_end, after the
    data's clean-up) the status once said 'the server restarted under this run' (seen by the
    hostile table as state 'interrupted' right after a Start). The slot's own run never is."""
    stop_any_run()
    owner = visitor.ensure_owner(None)
    run = api.start_training("demo:daynight", "cyclegan", "quick", 32, 2, 1, owner_secret=owner)
    run.join(120)
    storage.write_record(run.folder.name, ended=None)          # the end not recorded yet
    try:
        status = client.predict(api_name="/train_status")[0]
        assert status["state"] == "finished" and status["run"] == run.folder.name, status
        out = train_tab.tick({}, "cyclegan", None, [], owner)
        assert "Interrupted" not in out[0] and "Finished" in out[0], out[0]
    finally:
        storage.end_run(run.folder.name, "finished")


def test_interrupted_run_is_shown_and_its_owner_resumes_it(app_server, client):
    """A run the server stopped under (a record that never ended, as after kill -9) is shown
    with a Resume button its owner can use; it continues from its newest checkpoint and its
    metrics keep one row per step."""
    url, app, runs = app_server
    stop_any_run()
    owner = visitor.ensure_owner(None)
    run = api.start_training("demo:daynight", "cyclegan", "quick", 32, 4, 1, owner_secret=owner)
    run.join(120)
    name = run.folder.name
    storage.write_record(name, ended=None)     # as if the process had died mid-run
    (run.folder.metrics_path).write_text(run.folder.metrics_path.read_text() + json.dumps({"step": 9}) + "\n")
    saved, state.RUNS.run = state.RUNS.run, None
    try:
        cfg = json.loads((run.folder.config_path).read_text())
        cfg["steps"] = 6
        run.folder.config_path.write_text(json.dumps(cfg))
        out = train_tab.tick({}, "cyclegan", None, [], owner)
        assert "Interrupted" in out[0] and name in out[0] and "Resume" in out[0]
        assert out[8]["interactive"] is True                      # the Resume button, for its owner
        stranger = train_tab.tick({}, "cyclegan", None, [], visitor.ensure_owner(None))
        assert stranger[8]["interactive"] is False
        with pytest.raises(Exception, match="started by another visitor"):
            train_tab.ui_resume(visitor.ensure_owner(None))
        train_tab.ui_resume(owner)
        resumed = state.RUNS.run
        resumed.join(120)
        assert resumed.state == "finished" and resumed.step == 6, resumed.snapshot()
        steps = [r["step"] for r in run.folder.read_metrics()]
        assert steps == sorted(set(steps)) and steps[-1] == 6 and 9 not in steps
        assert storage.read_record(name)["ended"] == "finished"
    finally:
        if state.RUNS.run is None:
            state.RUNS.run = saved


def test_sign_in_button_only_where_the_sign_in_is_real(monkeypatch):
    """On a Space with OAuth configured (hf_oauth: true sets these variables; Spaces install
    Gradio's OAuth extras) the Train tab offers Sign in with Hugging Face; anywhere else it does
    not, because Gradio would then sign visitors in as the server's own account."""
    import importlib.util

    import gradio as gr

    import ui
    oauth = {"OAUTH_CLIENT_ID": "x", "OAUTH_CLIENT_SECRET": "y", "OAUTH_SCOPES": "openid profile read-repos",
             "OPENID_PROVIDER_URL": "https://huggingface.co"}
    assert visitor.login_available() is False
    import gradio.oauth
    monkeypatch.setenv("SPACE_ID", "someone/studio")
    for k, v in oauth.items():
        monkeypatch.setenv(k, v)
        monkeypatch.setattr(gradio.oauth, k, v)    # Gradio reads them once, at import
    assert visitor.login_available() is False           # not a Space's container (SYSTEM is not 'spaces')
    monkeypatch.setenv("SYSTEM", "spaces")
    real = importlib.util.find_spec
    missing = lambda name, *a: None if name in ("authlib", "itsdangerous") else real(name, *a)  # noqa: E731
    monkeypatch.setattr(importlib.util, "find_spec", missing)
    assert visitor.login_available() is False           # without Gradio's OAuth extras
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: object() if name in ("authlib", "itsdangerous")
                        else real(name, *a))
    assert visitor.login_available() is True
    page = ui.build()
    assert any(isinstance(b, gr.LoginButton) for b in page.blocks.values()) and page.expects_oauth
    monkeypatch.delenv("SYSTEM")
    assert not ui.build().expects_oauth


@pytest.mark.slow
def test_kill_9_of_the_app_then_its_owner_resumes_the_run(tmp_path):
    """`python app.py` killed with SIGKILL mid-run, then started again: /train_status says the run
    was interrupted, only its owner token resumes it (from its newest checkpoint, through
    /train_resume), and metrics.jsonl keeps one row per step."""
    import os
    import signal
    import subprocess

    from conftest import ROOT, free_port
    runs = tmp_path / "runs"
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("CYCLEGAN_")}
    env.update(CYCLEGAN_RUNS_DIR=str(runs), GRADIO_SERVER_NAME="127.0.0.1", GRADIO_SERVER_PORT=str(port),
               OMP_NUM_THREADS="1", HF_HUB_OFFLINE="1", CYCLEGAN_TRAIN_THREADS="1", CYCLEGAN_MCP="0")
    url = f"http://127.0.0.1:{port}/"

    def serve():
        p = subprocess.Popen([sys.executable, "app.py"], cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL)
        deadline = time.time() + 180
        while time.time() < deadline:
            assert p.poll() is None, "the app exited"
            try:
                if httpx.get(url + "config", timeout=2).status_code == 200:
                    return p, Client(url, analytics_enabled=False, verbose=False)
            except httpx.HTTPError:
                pass
            time.sleep(0.5)
        p.kill()
        raise AssertionError("the app did not start")

    p, c = serve()
    try:
        # 4,000 steps: an idle machine trains this at ~40 steps/s, and a 400-step run had finished
        # before a status poll saw it running with its first checkpoint (step 200)
        started = c.predict("demo:daynight", "cyclegan", "quick", 32, 4000, 1, None, api_name="/train_start")
        wait_status(c, lambda s, _: s["state"] == "running" and s.get("latest_checkpoint"), timeout=300)
        name = started["run"]
    finally:
        p.send_signal(signal.SIGKILL)
        p.wait(30)
    p, c = serve()
    try:
        status = c.predict(api_name="/train_status")[0]
        assert status["state"] == "interrupted" and status["run"] == name, status
        assert "started by another visitor" in _error(lambda: c.predict("own_" + "n" * 32, api_name="/train_resume"))
        resumed = c.predict(started["owner_token"], api_name="/train_resume")
        assert resumed["state"] in ("starting", "running") and resumed["run"] == name, resumed
        done, _ = wait_status(c, lambda s, _: s["state"] == "running" and s["step"] > 200, timeout=300)
        c.predict(30, started["owner_token"], api_name="/train_stop")
        steps = [json.loads(line)["step"] for line in (runs / name / "metrics.jsonl").read_text().splitlines()]
        assert steps == sorted(set(steps)), "a step appears twice in metrics.jsonl"
    finally:
        p.terminate()
        p.wait(30)
