"""A Hub token typed into the Train tab's "Push to the Hub" box must never be seen again: not in
the message the page shows, not in the server's logs or output, not in the run folder, metrics or
training status; also when the Hub answers with an error that quotes the token back.

The push is a UI-only event (no API name), so it is driven two ways: the Python handler itself,
and the browser's path through the running server (queue/join + the event stream), with
huggingface_hub.HfApi's methods replaced by fakes that fail, quoting the token.
"""
from __future__ import annotations

import json
import logging
import secrets
import tempfile
import time
import uuid
from pathlib import Path
from types import SimpleNamespace

import gradio as gr
import httpx
import huggingface_hub
import pytest

from ui import export, state

HF_TOKEN = "hf_" + secrets.token_hex(17)            # the shape of a real user access token
OTHER_TOKEN = "org-key-" + secrets.token_hex(12)    # a token without the hf_ prefix
REPO = "someone/day2night"


@pytest.fixture(scope="module")
def finished_run(app_server, client):
    """A run with a checkpoint, so the push gets as far as talking to the Hub."""
    state.RUNS.stop_and_wait(60)
    client.predict("demo:daynight", "cyclegan", "quick", 32, 2, 1, api_name="/train_start")
    deadline = time.time() + 120
    while time.time() < deadline:
        status = client.predict(api_name="/train_status")[0]
        if status["state"] not in ("starting", "running"):
            break
        time.sleep(0.2)
    assert status["state"] == "finished" and status["latest_checkpoint"], status
    return status


def ui_call(url: str, app, fn_name: str, data: list) -> tuple[dict, str]:
    """Run a UI event the way the page does: join the queue, read the event stream. Returns the
    completion message and the raw stream text."""
    fn_id = next(k for k, fn in app.demo.fns.items() if fn.name == fn_name)
    cfg = httpx.get(url + "config").json()
    dep = next(d for d in cfg["dependencies"] if d["id"] == fn_id)
    session = uuid.uuid4().hex
    r = httpx.post(url + "gradio_api/queue/join", json={"data": data, "fn_index": fn_id, "session_hash": session,
                                                        "trigger_id": dep["targets"][0][0], "event_data": None})
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


def _fail(where: str, make_error):
    """Replace HfApi.create_repo / upload_folder; `where` says which one fails, and how."""
    calls = []

    def create_repo(self, repo_id, **kw):
        calls.append(("create_repo", repo_id, self.token))
        if where == "create_repo":
            raise make_error()

    def upload_folder(self, repo_id, folder_path, **kw):
        calls.append(("upload_folder", repo_id, sorted(p.name for p in Path(folder_path).iterdir())))
        if where == "upload_folder":
            raise make_error()
        return SimpleNamespace(repo_url=f"https://huggingface.co/{repo_id}")

    return calls, create_repo, upload_folder


def _chained(token):
    try:
        raise ValueError(f"request headers: {{'authorization': 'Bearer {token}'}}")
    except ValueError as inner:
        try:
            raise ConnectionError("connection reset by peer") from inner
        except ConnectionError as outer:
            return outer


FAILURES = {  # name: (token, which call fails, the error it raises)
    "401_quotes_token": (HF_TOKEN, "create_repo", lambda t: RuntimeError(
        f"401 Client Error: Unauthorized for url: https://huggingface.co/api/repos/create (token {t} is invalid)")),
    "token_on_second_line": (HF_TOKEN, "upload_folder", lambda t: RuntimeError(
        f"upload failed\nAuthorization: Bearer {t}\n")),
    "token_is_the_message": (HF_TOKEN, "create_repo", lambda t: PermissionError(t)),
    "token_in_args_repr": (HF_TOKEN, "upload_folder", lambda t: OSError(13, "forbidden", {"token": t})),
    "token_in_chained_cause": (HF_TOKEN, "upload_folder", _chained),
    "token_without_hf_prefix": (OTHER_TOKEN, "create_repo", lambda t: RuntimeError(f"bad credentials: {t}")),
    "token_with_spaces_typed": ("  " + HF_TOKEN + "\n", "create_repo", lambda t: RuntimeError(
        f"invalid token {t.strip()}")),
}


def _files_mentioning(root: Path, needle: bytes, since: float | None = None) -> list[str]:
    hits = []
    for p in root.rglob("*"):
        try:
            if p.is_file() and not p.is_symlink() and (since is None or p.stat().st_mtime >= since):
                if needle in p.read_bytes():
                    hits.append(str(p))
        except OSError:
            continue
    return hits


def assert_token_nowhere(token: str, *, texts: dict, app_server, client, caplog, capfd, since: float):
    token = token.strip()
    url, app, runs = app_server
    for where, text in texts.items():
        assert token not in text, f"the token is in {where}: {text[:500]}"
    assert token not in caplog.text, "the token is in the log"
    for rec in caplog.records:  # the formatted message and any traceback attached to it
        formatted = logging.Formatter().format(rec)
        assert token not in formatted, f"the token is in a log record from {rec.name}"
    out, err = capfd.readouterr()
    assert token not in out and token not in err, "the token reached stdout/stderr"
    assert _files_mentioning(runs, token.encode()) == [], "the token was written into the runs folder"
    cache = Path(tempfile.gettempdir()) / "gradio"
    if cache.is_dir():
        assert _files_mentioning(cache, token.encode(), since) == [], "the token was written into Gradio's cache"
    status, _ = client.predict(api_name="/train_status")
    assert token not in json.dumps(status), "the token is in /train_status"
    run_dir = runs / status["run"]
    metrics = (run_dir / "metrics.jsonl").read_text()
    assert metrics and token not in metrics
    assert token not in json.dumps(state.RUNS.run.snapshot())


@pytest.mark.parametrize("name", list(FAILURES))
def test_failed_push_never_shows_the_token(name, finished_run, app_server, client, caplog, capfd, monkeypatch):
    url, app, runs = app_server
    token, where, make = FAILURES[name]
    calls, create_repo, upload_folder = _fail(where, lambda: make(token))
    monkeypatch.setattr(huggingface_hub.HfApi, "create_repo", create_repo)
    monkeypatch.setattr(huggingface_hub.HfApi, "upload_folder", upload_folder)
    caplog.set_level(logging.DEBUG)
    since = time.time() - 1
    capfd.readouterr()

    with pytest.raises(gr.Error) as e:   # the handler itself
        export.push_run(REPO, token, True)
    direct = str(e.value.message if hasattr(e.value, "message") else e.value)
    assert "push to the Hub failed" in direct, direct
    assert calls and calls[0][0] == "create_repo" and calls[0][2] == token.strip()  # the token did reach the Hub

    done, raw = ui_call(url, app, "push_run", [REPO, token, True])   # the page's own path
    assert done["success"] is False
    shown = done["output"]["error"]
    assert "push to the Hub failed" in shown, shown

    assert_token_nowhere(token, texts={"the handler's error": direct, "the page's error": shown,
                                       "the event stream": raw, "the exception's args": repr(e.value.args)},
                         app_server=app_server, client=client, caplog=caplog, capfd=capfd, since=since)


def test_successful_push_never_shows_the_token(finished_run, app_server, client, caplog, capfd, monkeypatch):
    url, app, runs = app_server
    calls, create_repo, upload_folder = _fail("nowhere", lambda: None)
    monkeypatch.setattr(huggingface_hub.HfApi, "create_repo", create_repo)
    monkeypatch.setattr(huggingface_hub.HfApi, "upload_folder", upload_folder)
    caplog.set_level(logging.DEBUG)
    since = time.time() - 1
    capfd.readouterr()
    direct = export.push_run(REPO, HF_TOKEN, True)
    assert direct == f"Pushed to [https://huggingface.co/{REPO}](https://huggingface.co/{REPO})"
    done, raw = ui_call(url, app, "push_run", [REPO, HF_TOKEN, False])
    assert done["success"] is True and f"https://huggingface.co/{REPO}" in done["output"]["data"][0]
    assert [c[0] for c in calls] == ["create_repo", "upload_folder"] * 2
    assert calls[1][2] == ["README.md", "config.json", "model.safetensors"]  # a model folder, no run files
    assert_token_nowhere(HF_TOKEN, texts={"the handler's result": direct, "the event stream": raw},
                         app_server=app_server, client=client, caplog=caplog, capfd=capfd, since=since)


def test_refused_push_never_shows_the_token(finished_run, app_server, client, caplog, capfd, monkeypatch):
    """Refused before the Hub is asked: the token pasted into the repository box as well (next to
    the name) makes the id invalid, and the refusal must not echo it back."""
    url, app, runs = app_server
    calls, create_repo, upload_folder = _fail("nowhere", lambda: None)
    monkeypatch.setattr(huggingface_hub.HfApi, "create_repo", create_repo)
    caplog.set_level(logging.DEBUG)
    since = time.time() - 1
    capfd.readouterr()
    done, raw = ui_call(url, app, "push_run", [f"someone/day2night {HF_TOKEN}", HF_TOKEN, True])
    shown = done["output"]["error"]
    assert done["success"] is False and calls == []
    assert "not a Hub repository id" in shown, shown
    assert_token_nowhere(HF_TOKEN, texts={"the page's error": shown, "the event stream": raw},
                         app_server=app_server, client=client, caplog=caplog, capfd=capfd, since=since)
