"""Training: one loop for every preset (Trainer), its config (TrainConfig), the run folder
(runs.RunDir), a background Run and the one-run slot for servers (run.py), and the CLI."""
from .config import TrainConfig
from .trainer import Diverged, Hooks, Trainer

__all__ = ["TrainConfig", "Trainer", "Hooks", "Diverged"]
