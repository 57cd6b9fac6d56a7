"""The one rule for errors in the page: a UserInputError is the user's to fix, so its message is
shown; anything else is our bug, so its traceback goes to the server log and the page gets a
short note, and the server keeps serving. What a visitor reads never names a server folder:
`scrub` turns paths under the app's folders into their file names."""
import functools
import inspect
import logging
import re
import tempfile
from pathlib import Path

import gradio as gr

from cyclegan import UserInputError

from . import storage

log = logging.getLogger("cyclegan.app")


def _roots() -> list[str]:
    roots = {tempfile.gettempdir()}
    for get in (storage.private_dir, storage.gradio_upload_dir, lambda: storage.runs_dir().resolve()):
        try:
            roots.add(str(get()))
        except Exception:  # noqa: BLE001 - scrubbing must never fail
            pass
    return sorted(roots, key=len, reverse=True)


def scrub(text):
    """`text` with every path under the private folder, the runs folder, Gradio's uploads or the
    temporary folder replaced by its last part (a file or run name)."""
    if not isinstance(text, str):
        return text
    for root in _roots():
        text = re.sub(re.escape(root.rstrip("/")) + r"/[^\s'\"]*", lambda m: Path(m.group(0)).name or "…", text)
    return text


def _convert(fn, e):
    if isinstance(e, gr.Error):
        return e
    if isinstance(e, UserInputError):
        return gr.Error(scrub(str(e)), print_exception=False)
    log.error("internal error in %s", fn.__name__, exc_info=e)
    return gr.Error("internal error (the details are in the server log); please try again", print_exception=False)


def friendly(fn):
    if inspect.iscoroutinefunction(fn):
        @functools.wraps(fn)
        async def async_wrapper(*args, **kwargs):
            try:
                return await fn(*args, **kwargs)
            except Exception as e:
                raise _convert(fn, e) from None
        return async_wrapper

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except Exception as e:
            raise _convert(fn, e) from None
    return wrapper
