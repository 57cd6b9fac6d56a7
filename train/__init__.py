"""Training: one loop for all presets (Trainer), a background Run for the app, and the CLI."""
from .config import TrainConfig
from .trainer import Diverged, Hooks, Trainer

__all__ = ["TrainConfig", "Trainer", "Hooks", "Diverged"]
