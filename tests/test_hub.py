"""The Hugging Face Hub, without the network: `load_model("owner/name")` from a pre-filled cache
with HF_HUB_OFFLINE=1, and `push_to_hub` against a fake HfApi."""
import json
import os
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import huggingface_hub
import pytest
import torch

from conftest import tiny_model
from cyclegan import UserInputError, load_model, push_to_hub, save_model

ROOT = Path(__file__).resolve().parents[1]
COMMIT = "0123456789abcdef0123456789abcdef01234567"


def tiny():
    return tiny_model(domains=("cat", "dog"))


def fill_cache(hf_home: Path, repo_id: str, model) -> Path:
    """The layout huggingface_hub's snapshot_download returns offline: refs/main names a commit,
    snapshots/<commit>/ holds the files."""
    repo = hf_home / "hub" / ("models--" + repo_id.replace("/", "--"))
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text(COMMIT)
    return save_model(model, repo / "snapshots" / COMMIT)


@pytest.fixture
def offline_home(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    monkeypatch.delenv("HF_HUB_CACHE", raising=False)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    return tmp_path / "hf"


def test_load_from_offline_cache(offline_home, monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)                      # no local folder called 'owner/name'
    model = tiny()
    fill_cache(offline_home, "owner/name", model)
    loaded = load_model("owner/name")
    assert loaded.domains == ("cat", "dog") and loaded.directions == ("a2b", "b2a")
    x = torch.rand(1, 3, 20, 28)
    assert torch.equal(loaded.translate_tensor(x, "a2b"), model.translate_tensor(x, "a2b"))


def test_missing_repo_offline_is_a_clear_error(offline_home, monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(UserInputError) as e:
        load_model("owner/not-there")
    msg = str(e.value)
    assert "owner/not-there" in msg and "cache" in msg and "HF_HUB_OFFLINE" in msg


def test_local_folder_wins_over_hub_id(offline_home, monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    save_model(tiny(), tmp_path / "owner" / "name")
    assert load_model("owner/name").domains == ("cat", "dog")


def test_cli_info_from_offline_cache_in_a_fresh_process(tmp_path):
    """huggingface_hub reads HF_HOME and HF_HUB_OFFLINE when imported: the real user path."""
    fill_cache(tmp_path / "hf", "owner/name", tiny())
    env = {**os.environ, "HF_HOME": str(tmp_path / "hf"), "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(ROOT)}
    env.pop("HF_HUB_CACHE", None)
    r = subprocess.run([sys.executable, "-m", "cyclegan", "info", "owner/name"], cwd=tmp_path, env=env,
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    info = json.loads(r.stdout)
    assert info["domains"] == ["cat", "dog"] and info["architecture"] == "cyclegan"


class FakeApi:
    calls: list = []
    fail_with: str | None = None

    def __init__(self, token=None, **kw):
        FakeApi.calls.append(("init", token))

    def create_repo(self, repo_id, **kw):
        FakeApi.calls.append(("create_repo", repo_id, kw.get("private")))

    def upload_folder(self, repo_id, folder_path, **kw):
        folder = Path(folder_path)
        FakeApi.calls.append(("upload_folder", repo_id, sorted(p.name for p in folder.iterdir()),
                              json.loads((folder / "config.json").read_text())))
        if FakeApi.fail_with:
            raise RuntimeError(FakeApi.fail_with)
        return SimpleNamespace(repo_url=f"https://huggingface.co/{repo_id}")


@pytest.fixture
def fake_api(monkeypatch):
    FakeApi.calls, FakeApi.fail_with = [], None
    monkeypatch.setattr(huggingface_hub, "HfApi", FakeApi)
    return FakeApi


def test_push_uploads_a_model_folder(fake_api):
    url = push_to_hub(tiny(), "me/cats2dogs", token="hf_secretsecret123")
    assert url == "https://huggingface.co/me/cats2dogs"
    assert fake_api.calls[0] == ("init", "hf_secretsecret123")
    assert fake_api.calls[1] == ("create_repo", "me/cats2dogs", True)
    _, repo, files, cfg = fake_api.calls[2]
    assert repo == "me/cats2dogs"
    assert files == ["README.md", "config.json", "model.safetensors"]
    assert cfg["domains"] == ["cat", "dog"]


@pytest.mark.parametrize("message", [
    "401 Client Error: invalid token hf_secretsecret123 for url https://huggingface.co/api/repos/create",
    "upload failed\nAuthorization: Bearer hf_secretsecret123",
])
def test_push_failure_never_shows_the_token(fake_api, message):
    fake_api.fail_with = message
    with pytest.raises(UserInputError) as e:
        push_to_hub(tiny(), "me/cats2dogs", token="hf_secretsecret123")
    assert "hf_secretsecret123" not in str(e.value)
    assert "push to the Hub failed" in str(e.value)


def test_push_refuses_a_bad_repo_id(fake_api):
    with pytest.raises(UserInputError, match="not a Hub repository id"):
        push_to_hub(tiny(), "no-slash-here", token="x")
    assert fake_api.calls == []
