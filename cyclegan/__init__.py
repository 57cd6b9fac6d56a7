"""cyclegan-studio: unpaired image-to-image translation with CycleGAN, DiscoGAN and DualGAN.
Importable without gradio."""
from .checkpoints import load_model, push_to_hub, save_model
from .errors import UserInputError
from .model import CycleModel
from .presets import ARCHITECTURES, PRESETS, Preset, get_preset

__all__ = ["load_model", "save_model", "push_to_hub", "UserInputError", "CycleModel",
           "PRESETS", "ARCHITECTURES", "Preset", "get_preset"]
