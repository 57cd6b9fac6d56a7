"""cyclegan-studio: unpaired image-to-image translation with CycleGAN, DiscoGAN and DualGAN.
Importable without gradio."""
__version__ = "0.3.0"

from .checkpoints import builtin_models, load_from_hub, load_model, push_to_hub, save_model, summary
from .errors import UserInputError
from .model import CycleModel
from .presets import ARCHITECTURES, DEFAULT_RECIPE, PRESETS, RECIPES, SCALES, Preset, get_preset

__all__ = ["load_model", "load_from_hub", "save_model", "push_to_hub", "builtin_models", "summary", "UserInputError",
           "CycleModel",
           "PRESETS", "RECIPES", "DEFAULT_RECIPE", "ARCHITECTURES", "SCALES", "Preset", "get_preset"]
