"""The Gradio page of cyclegan-studio (see page.py); the work happens in cyclegan/ and train/."""
import os

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")  # offline: gradio reads this at import

from .page import build, launch  # noqa: E402

__all__ = ["build", "launch"]
