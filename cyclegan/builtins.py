"""The built-in models as one list, in the order people should meet them, and what each one knows.

`demo:vintage` (vintagify's generator, trained on real photos) comes first, then the models this
project trained on photo ↔ vintage, then the procedural-world demos, which know only the world
they were drawn from. `trained_on(model)` says that in one line for any model (built-in, zoo,
file, run), from its provenance: the app shows it beside the model, the model card repeats it.
"""
from __future__ import annotations

from . import vintage
from .checkpoints import builtin_models, summary

WORLD_WORDS = {"demo:daynight": "day ↔ night", "demo:summerwinter": "summer ↔ winter"}


def catalogue() -> list[dict]:
    """[{spec, architecture, domains, real_photos}], real-photo models first."""
    out = []
    if vintage.available():
        out.append({"spec": f"demo:{vintage.NAME}", "architecture": "cyclegan", "domains": vintage.DOMAINS,
                    "real_photos": True})
    for name, folder in builtin_models():
        s = summary(folder)
        if s:
            data = str(s["provenance"].get("data", ""))
            out.append({"spec": f"demo:{name}", "architecture": s["architecture"], "domains": s["domains"],
                        "real_photos": not data.startswith("demo:")})
    return sorted(out, key=lambda e: not e["real_photos"])     # stable: the folder order stays within each


def trained_on(model) -> str:
    """What the model was trained on (data, resolution) and so what it can be expected to know."""
    prov = model.provenance or {}
    a, b = model.domains
    size = model.image_size
    if prov.get("trained_on"):                       # stated by whoever made it (vintagify, our photo models)
        text = str(prov["trained_on"])
    elif prov.get("zoo"):
        text = (f"the CycleGAN authors' {prov['zoo'][len('official:'):]} generator, trained on their {a} ↔ {b} "
                f"photos at 256 px")
    elif str(prov.get("data", "")).startswith("demo:"):
        world = WORLD_WORDS.get(prov["data"], prov["data"])
        return (f"trained at {size} px on the procedural {world} world only (drawn hills, trees, houses): it "
                f"knows only that world, not photos")
    elif prov.get("data"):
        text = f"trained on {prov['data']} at {size} px"
    elif prov.get("source") == "official CycleGAN checkpoint":
        text = f"an official-layout CycleGAN checkpoint ({', '.join(prov.get('files', []))})"
    else:
        text = f"{a} ↔ {b} at {size} px"
    if len(model.directions) == 1:
        text += f"; only {model.direction_label(model.directions[0])} exists"
    return text


__all__ = ["catalogue", "trained_on"]
