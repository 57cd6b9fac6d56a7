"""The Hugging Face Hub as a place for files: repository ids, downloads through the HF cache
(so HF_HOME / HF_HUB_CACHE / HF_HUB_OFFLINE behave as users expect) and folder uploads whose
errors never show the token. What the files mean (a model folder) is cyclegan/checkpoints.py's.

huggingface_hub's download and upload machinery is imported inside the functions: it costs
start-up time that translating a local file never needs.
"""
import os
import re
from pathlib import Path

from huggingface_hub.utils import HFValidationError, validate_repo_id

from .errors import UserInputError
from .settings import env_bool


def is_repo_id(text) -> bool:
    """'owner/name' as the Hub accepts it (one slash; a bare name would be a local path here)."""
    if not isinstance(text, str) or text.count("/") != 1:
        return False
    try:
        validate_repo_id(text)
    except HFValidationError:
        return False
    return True


def check_repo_id(repo_id, redact=lambda text: text) -> str:
    """`repo_id` stripped, or a UserInputError; `redact` cleans the message (it may hold a token)."""
    text = repo_id.strip() if isinstance(repo_id, str) else repo_id
    if not is_repo_id(text):
        raise UserInputError(redact(f"'{repo_id}' is not a Hub repository id (expected 'owner/name')"))
    return text


def cache_dir() -> str | None:
    """huggingface_hub reads HF_HOME / HF_HUB_CACHE once, at import; read them now so a setting
    made later in the process (a test, a notebook) still counts."""
    if os.environ.get("HF_HUB_CACHE"):
        return os.path.expanduser(os.path.expandvars(os.environ["HF_HUB_CACHE"]))
    if os.environ.get("HF_HOME"):
        return os.path.join(os.path.expanduser(os.path.expandvars(os.environ["HF_HOME"])), "hub")
    return None


def offline() -> bool:
    from huggingface_hub import constants
    return (bool(constants.HF_HUB_OFFLINE) or env_bool("HF_HUB_OFFLINE", False)
            or env_bool("TRANSFORMERS_OFFLINE", False))


def download(repo_id: str, patterns: list[str], revision: str | None = None, repo_type: str = "model",
             token: str | bool | None = None, local_only: bool = False, cache: str | None = None,
             private_hint: str | None = None) -> Path:
    """The repository's files matching `patterns`, as a local folder in the HF cache (or in
    `cache`). `token`: None = huggingface_hub's own choice (your login, on your machine); False =
    none, anonymous; a string = that credential (a server acting for a visitor passes the
    visitor's token or False, never None). `local_only`: the cache, never the network.
    `private_hint` says how to reach a private repository (default: log in with a token)."""
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import LocalEntryNotFoundError, RepositoryNotFoundError, RevisionNotFoundError
    is_offline = offline() or local_only
    what = "Hub dataset" if repo_type == "dataset" else "Hub repository"
    redact = redactor(token if isinstance(token, str) else None)
    try:
        folder = snapshot_download(repo_id, revision=revision, cache_dir=cache or cache_dir(),
                                   local_files_only=is_offline, allow_patterns=patterns, repo_type=repo_type,
                                   token=token)
    except RepositoryNotFoundError:
        also = "" if repo_type == "dataset" or private_hint else "; there is no local file or folder of that name either"
        raise UserInputError(f"{what} '{repo_id}' not found (or private: {private_hint or 'log in with a token'})"
                             f"{also}") from None
    except RevisionNotFoundError:
        raise UserInputError(f"{what} '{repo_id}' has no revision {revision!r}") from None
    except LocalEntryNotFoundError:
        why = ("HF_HUB_OFFLINE is set" if offline() else "this run reads only the local cache" if local_only
               else "the Hub cannot be reached")
        if repo_type == "dataset":
            raise UserInputError(f"{what} '{repo_id}' is not in the local Hugging Face cache, and {why}: "
                                 "download it once online, or check the name") from None
        raise UserInputError(f"'{repo_id}' is neither a local file or folder nor in the local Hugging Face cache, "
                             f"and {why}: download it once online, or check the name") from None
    except HFValidationError as e:
        raise UserInputError(f"'{repo_id}' is not a valid Hub repository id: {str(e).splitlines()[0]}") from None
    except Exception as e:  # network layer (httpx, proxies, HTTP errors): one line, no traceback, no token
        msg = redact(str(e).splitlines()[0]) if str(e) else type(e).__name__
        raise UserInputError(f"could not fetch '{repo_id}' from the Hub: {msg}") from None
    return Path(folder)


def remote_size(repo_id: str, patterns: list[str], revision: str | None = None, repo_type: str = "dataset",
                token: str | bool | None = None) -> tuple[int, str] | None:
    """(bytes of the files matching `patterns`, the commit they belong to), asked of the Hub
    before downloading; None when offline or the Hub does not answer (the download then says why)."""
    if offline():
        return None
    from fnmatch import fnmatch

    from huggingface_hub import HfApi
    try:
        info = HfApi(token=token).repo_info(repo_id, repo_type=repo_type, revision=revision, files_metadata=True)
    except Exception:
        return None
    total = sum(int(getattr(f, "size", 0) or 0) for f in (info.siblings or [])
                if any(fnmatch(f.rfilename, p) for p in patterns))
    return total, info.sha


def redactor(token: str | None):
    """A function that removes `token` (and anything shaped like a user token) from a text."""
    def redact(text: str) -> str:
        if token:
            text = text.replace(token, "***")
        return re.sub(r"hf_[A-Za-z0-9]{8,}", "hf_***", text)
    return redact


def upload_folder(folder: Path, repo_id: str, token: str | bool | None = None, private: bool = True,
                  message: str = "Upload") -> str:
    """Create the model repository if needed and upload `folder` to it; returns its URL. The token
    goes straight to huggingface_hub and is never logged or shown in an error (None: this
    machine's login; a server acting for a visitor passes the visitor's token, never None)."""
    from huggingface_hub import HfApi
    redact = redactor(token)
    repo_id = check_repo_id(repo_id, redact)
    try:
        api = HfApi(token=token)
        api.create_repo(repo_id, repo_type="model", private=private, exist_ok=True)
        info = api.upload_folder(repo_id=repo_id, folder_path=str(folder), repo_type="model", commit_message=message)
    except Exception as e:
        text = redact(str(e))
        msg = text.splitlines()[0] if text.strip() else type(e).__name__
        raise UserInputError(f"push to the Hub failed: {msg}") from None
    url = getattr(info, "repo_url", None)
    return str(url) if url else f"https://huggingface.co/{repo_id}"
