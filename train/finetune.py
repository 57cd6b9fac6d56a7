"""Fine-tuning: a run that starts from a trained model's weights instead of random ones.

`--init SPEC` takes anything `load_model` opens (demo:NAME, official:NAME, a Hub id, a model
folder or file, a run's checkpoint). Its generators initialise the run's generators (G_AB only,
for a one-direction model such as demo:vintage or an official file; G_BA stays fresh), and its
discriminators the run's when it has them.

The nets are the init model's: its generator spec replaces the chosen preset's (and its
discriminator spec too, when it brings discriminators), because weights only fit the net they
were trained in; everything else (losses, schedule, learning rates, batch, image size) is the
chosen recipe and scale. Fine-tuning demo:vintage (a full-width ResNet-9 with affine instance
norm) with `--scale quick` so trains that ResNet-9 with the quick scale's discriminator and
batch. What cannot work (another architecture's model; nets that do not build at the run's image
size) is one UserInputError before anything trains. The nets chosen are written into the run's
config.json (`init_nets`), so `--resume` rebuilds them without the init model.
"""
from __future__ import annotations

import dataclasses

from cyclegan import zoo
from cyclegan.checkpoints import load_model
from cyclegan.errors import UserInputError
from cyclegan.model import CycleModel
from cyclegan.nets import size_rules
from cyclegan.presets import NetSpec, Preset


def load_init(spec: str, progress=None, cancel=None, source=None) -> CycleModel:
    """The model to start from; an official one is downloaded (with progress, cancellable) first.
    `source`: what `spec` was resolved to by the caller (a CycleModel, or a path to load)."""
    if isinstance(source, CycleModel):
        return source
    name = zoo.parse_spec(spec)
    if name is not None:
        zoo.fetch_model(zoo.model_name(name), progress=progress, cancel=cancel)
    try:
        return load_model(source if source is not None else spec)
    except UserInputError as e:
        raise UserInputError(f"--init {spec}: {e}") from None


def nets_of(model: CycleModel) -> dict:
    """The net specs a run starting from `model` uses: {generator, discriminator or None}."""
    return {"generator": model.preset.generator.to_dict(),
            "discriminator": model.preset.discriminator.to_dict() if model.has_discriminators else None}


def fit(preset: Preset, architecture: str, nets: dict, spec: str) -> Preset:
    """The run's preset with the init model's nets, or a UserInputError saying why they cannot train here."""
    if architecture != preset.architecture:
        raise UserInputError(f"--init {spec} is a {architecture} model and this run trains {preset.architecture}: "
                             f"fine-tuning keeps the model's nets, so use --arch {architecture} (or start from scratch)")
    gen = NetSpec.from_dict(nets["generator"])
    disc = NetSpec.from_dict(nets["discriminator"]) if nets.get("discriminator") else preset.discriminator
    for role, net in (("generator", gen), ("discriminator", disc)):
        built_for = net.kwargs.get("image_size")       # nets with a linear head fit one size only
        if built_for is not None and built_for != preset.image_size:
            raise UserInputError(f"--init {spec}: its {role} ({net.family}) was built for {built_for} px images; "
                                 f"train at --size {built_for}")
        multiple, smallest = size_rules(net.family, net.kwargs)
        if preset.image_size % multiple or preset.image_size < smallest:
            raise UserInputError(f"--init {spec}: its {role} ({net.family} {net.kwargs}) cannot train at "
                                 f"{preset.image_size} px: the size must be a multiple of {multiple} and at least "
                                 f"{smallest}")
    if (gen, disc) == (preset.generator, preset.discriminator):
        return preset
    return dataclasses.replace(preset, generator=gen, discriminator=disc, title=f"{preset.title}, nets from {spec}")


def copy_weights(run_model: CycleModel, init: CycleModel) -> list[str]:
    """Load every net the init model has into the run's model; returns their names."""
    done = []
    for name in ("G_AB", "G_BA", "D_A", "D_B"):
        src, dst = getattr(init, name), getattr(run_model, name)
        if src is None or dst is None:
            continue
        state = {k: v.detach().clone() for k, v in src.state_dict().items()}
        try:
            dst.load_state_dict(state)
        except RuntimeError as e:           # fit() makes this impossible; a bug if it happens
            raise RuntimeError(f"init weights of {name} do not fit: {str(e).splitlines()[0]}") from None
        done.append(name)
    return done


__all__ = ["load_init", "nets_of", "fit", "copy_weights"]
