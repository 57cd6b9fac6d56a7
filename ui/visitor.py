"""Who a visitor is, as far as the app needs to know: which training run is theirs, and which Hub
credential acts for them.

Owner ids. A browser gets a random id the first time it opens the page, kept in its own
localStorage (gr.BrowserState), so it survives reloads and restarts of the server; a run started
from that browser records a hash of it. An API caller gets an owner token from /train_start. Only
the owner, or whoever holds the server's CYCLEGAN_ADMIN_TOKEN, may pause, resume or stop a run;
everyone else watches it.

Hub credentials. The app acts on the Hub only with the visitor's own credential: the token they
type, or the one Hugging Face's sign-in gives a Space (gr.LoginButton + gr.OAuthToken). It never
falls back to the server's (HF_TOKEN, a cached login, the Space's secret): every call passes the
visitor's token explicitly, or False for an anonymous read.
"""
from __future__ import annotations

import hashlib
import hmac
import importlib.util
import os
import re
import secrets
import socket

import gradio as gr

from cyclegan import UserInputError

from . import storage

OWNER_KEY = "cyclegan-studio-owner"
_ID = re.compile(r"[A-Za-z0-9_-]{20,100}")


def _browser_key() -> str:
    """BrowserState encrypts what it keeps with a key the page itself carries (so it is no
    secret: the id's worth is in being random and kept only in its browser). A key that stays the
    same across restarts of the server (derived from the Space's name or this host, and the runs
    folder; nothing written to disk) lets a browser keep its id, so the owner of an interrupted
    run can resume it."""
    where = os.environ.get("SPACE_ID") or socket.gethostname()
    return hashlib.sha256(f"cyclegan-studio|{where}|{storage.runs_dir().resolve()}".encode()).hexdigest()[:32]


def owner_state() -> gr.BrowserState:
    return gr.BrowserState(None, storage_key=OWNER_KEY, secret=_browser_key())


def ensure_owner(value) -> str:
    """The browser's owner id: the one it has, or a new random one (page load)."""
    return value if isinstance(value, str) and _ID.fullmatch(value) else secrets.token_urlsafe(24)


def new_owner_token() -> str:
    return "own_" + secrets.token_urlsafe(24)


def digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def is_admin(secret) -> bool:
    admin = os.environ.get("CYCLEGAN_ADMIN_TOKEN") or ""
    return bool(admin) and isinstance(secret, str) and hmac.compare_digest(secret.encode(), admin.encode())


def may_control(owner_hash: str | None, secret) -> bool:
    """Whether `secret` (a browser's id, an API owner token or the admin token) may control a
    run owned by `owner_hash`."""
    if is_admin(secret):
        return True
    if not owner_hash or not isinstance(secret, str) or not secret:
        return False
    return hmac.compare_digest(digest(secret), owner_hash)


def check_control(owner_hash: str | None, secret, action: str) -> None:
    if not may_control(owner_hash, secret):
        raise UserInputError(f"this run was started by another visitor: you can watch it, but only they can "
                             f"{action} it (API callers pass the owner_token /train_start returned)")


# --- Hub credentials -------------------------------------------------------------------------------
def login_available() -> bool:
    """Sign-in with Hugging Face works on a Space with OAuth enabled (`hf_oauth: true` in README's
    front matter sets these variables) when Gradio's OAuth extras are installed. Elsewhere Gradio
    would fake the sign-in with the server's own account, which is exactly what must not happen."""
    from gradio.utils import get_space
    needed = ("OAUTH_CLIENT_ID", "OAUTH_CLIENT_SECRET", "OAUTH_SCOPES", "OPENID_PROVIDER_URL")
    return (get_space() is not None and all(os.environ.get(k) for k in needed)
            and importlib.util.find_spec("authlib") is not None and importlib.util.find_spec("itsdangerous") is not None)


def hub_token(typed: str | None, oauth: gr.OAuthToken | None, what: str) -> str:
    """The visitor's token for an action that needs one: typed, else the signed-in one; never
    the server's. No token: a message saying how to give one."""
    token = (typed or "").strip()
    if not token and oauth is not None and getattr(oauth, "token", None):
        token = oauth.token
    if not token:
        how = "sign in with Hugging Face or paste" if login_available() else "paste"
        raise UserInputError(f"{what} needs your Hugging Face token: {how} a token with write access "
                             "(this app never uses the server's own token)")
    return token


def read_token(oauth: gr.OAuthToken | None) -> str | bool:
    """For reading from the Hub: the signed-in visitor's token, else False (anonymous)."""
    if oauth is not None and getattr(oauth, "token", None):
        return oauth.token
    return False
