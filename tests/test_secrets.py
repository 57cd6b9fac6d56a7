"""A Hub token typed into the Train tab's "Push to the Hub" box must never be seen again: not in
the message the page shows, not in the server's logs or output, not in the run folder, metrics or
training status; also when the Hub answers with an error that quotes the token back.

The push is a UI-only event (no API name), so it is driven two ways: the Python handler itself,
and the browser's path through the running server (queue/join + the event stream), with
huggingface_hub.HfApi's methods replaced by fakes that fail, quoting the token.

The same holds for the token Sign in with Hugging Face gives a Space page (gr.OAuthToken): given
to the handler's parameter directly and in the request body as Gradio accepts it; and a push
with no token of the visitor's never goes out with the server's own (HF_TOKEN).
"""
from __future__ import annotations

import json
import logging
import secrets
import tempfile
import time
from pathlib import Path
from types import SimpleNamespace

import gradio as gr
import huggingface_hub
import pytest

from hostile_inputs import ui_call
from ui import export, state

HF_TOKEN = "hf_" + secrets.token_hex(17)            # the shape of a real user access token
OAUTH_TOKEN = "hf_oauth_" + secrets.token_hex(16)   # what Sign in with Hugging Face gives a Space page
SERVER_TOKEN = "hf_" + secrets.token_hex(17)        # the Space owner's own token, in HF_TOKEN
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


# --- Sign in with Hugging Face, and no token at all ----------------------------------------------------
def _oauth(token: str) -> gr.OAuthToken:
    return gr.OAuthToken(token=token, scope="openid profile contribute-repos", expires_at=int(time.time()) + 3600)


@pytest.mark.parametrize("where", ["create_repo", "upload_folder", "nowhere"])
def test_signed_in_push_uses_the_visitors_token_and_never_shows_it(where, finished_run, app_server, client, caplog,
                                                                   capfd, monkeypatch):
    """The OAuth token reaches HfApi (not the server's HF_TOKEN), and like a typed one it is never
    seen again, also when the Hub's error quotes it."""
    url, app, runs = app_server
    monkeypatch.setenv("HF_TOKEN", SERVER_TOKEN)
    calls, create_repo, upload_folder = _fail(where, lambda: RuntimeError(f"401 for token {OAUTH_TOKEN}"))
    monkeypatch.setattr(huggingface_hub.HfApi, "create_repo", create_repo)
    monkeypatch.setattr(huggingface_hub.HfApi, "upload_folder", upload_folder)
    caplog.set_level(logging.DEBUG)
    since = time.time() - 1
    capfd.readouterr()
    texts = {}
    if where == "nowhere":
        texts["the handler's result"] = export.push_run(REPO, "", True, _oauth(OAUTH_TOKEN))
    else:
        with pytest.raises(gr.Error) as e:
            export.push_run(REPO, "", True, _oauth(OAUTH_TOKEN))
        texts["the handler's error"] = str(e.value.message)
        texts["the exception's args"] = repr(e.value.args)
    done, raw = ui_call(url, app, "push_run", [REPO, "", True], oauth_token=OAUTH_TOKEN)   # the page's own path
    texts["the event stream"] = raw
    assert done["success"] is (where == "nowhere"), done
    creates = [c for c in calls if c[0] == "create_repo"]
    assert len(creates) == 2 and all(c[2] == OAUTH_TOKEN for c in creates), creates   # the visitor's, both times
    assert SERVER_TOKEN not in raw
    assert_token_nowhere(OAUTH_TOKEN, texts=texts, app_server=app_server, client=client, caplog=caplog, capfd=capfd,
                         since=since)


def test_a_typed_token_wins_over_the_signed_in_one(finished_run, monkeypatch):
    calls, create_repo, upload_folder = _fail("nowhere", lambda: None)
    monkeypatch.setattr(huggingface_hub.HfApi, "create_repo", create_repo)
    monkeypatch.setattr(huggingface_hub.HfApi, "upload_folder", upload_folder)
    export.push_run(REPO, HF_TOKEN, True, _oauth(OAUTH_TOKEN))
    assert calls[0][2] == HF_TOKEN


def test_push_without_a_visitor_token_never_uses_the_servers(finished_run, app_server, client, caplog, capfd,
                                                              monkeypatch):
    """No typed token and not signed in, on a server that has a token of its own (HF_TOKEN, as a
    Space's secret): refused with a message saying what to do; the Hub is never asked."""
    url, app, runs = app_server
    monkeypatch.setenv("HF_TOKEN", SERVER_TOKEN)
    monkeypatch.setenv("SPACE_ID", "someone/cyclegan-studio")
    calls, create_repo, upload_folder = _fail("nowhere", lambda: None)
    monkeypatch.setattr(huggingface_hub.HfApi, "create_repo", create_repo)
    monkeypatch.setattr(huggingface_hub.HfApi, "upload_folder", upload_folder)
    caplog.set_level(logging.DEBUG)
    since = time.time() - 1
    capfd.readouterr()
    for typed in ("", "   "):
        with pytest.raises(gr.Error, match="needs your Hugging Face token") as e:
            export.push_run(REPO, typed, True, None)
        assert "never uses the server's own token" in str(e.value.message)
        done, raw = ui_call(url, app, "push_run", [REPO, typed, True])
        assert done["success"] is False and "needs your Hugging Face token" in done["output"]["error"]
    assert calls == []
    assert_token_nowhere(SERVER_TOKEN, texts={"the event stream": raw}, app_server=app_server, client=client,
                         caplog=caplog, capfd=capfd, since=since)
