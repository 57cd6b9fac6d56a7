"""The one rule for errors in the page: a UserInputError is the user's to fix, so its message is
shown; anything else is our bug, so its traceback goes to the server log and the page gets a
short note, and the server keeps serving."""
import functools
import logging

import gradio as gr

from cyclegan import UserInputError

log = logging.getLogger("cyclegan.app")


def friendly(fn):
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except gr.Error:
            raise
        except UserInputError as e:
            raise gr.Error(str(e), print_exception=False) from None
        except Exception:
            log.exception("internal error in %s", fn.__name__)
            raise gr.Error("internal error (the details are in the server log); please try again",
                           print_exception=False) from None
    return wrapper
