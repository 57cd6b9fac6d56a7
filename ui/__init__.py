"""The Gradio page of cyclegan-studio (see page.py); the work happens in cyclegan/ and train/."""
from .page import build, launch

__all__ = ["build", "launch"]
