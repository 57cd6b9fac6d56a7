"""The built-in models as one list, in the order people should meet them, and what each one knows.

`demo:vintage` (vintagify's generator, trained on real photos) comes first, then the models this
project trained on photo ↔ vintage, then the procedural-world demos, which know only the world
they were drawn from (CycleModel.trained_on() says so for any model).
"""
from __future__ import annotations

from . import vintage
from .checkpoints import builtin_models, summary


def catalogue() -> list[dict]:
    """[{spec, architecture, domains, directions, real_photos}], real-photo models first."""
    out = []
    if vintage.available():
        out.append({"spec": f"demo:{vintage.NAME}", "architecture": "cyclegan", "domains": vintage.DOMAINS,
                    "directions": ["a2b"], "real_photos": True})
    for name, folder in builtin_models():
        s = summary(folder)
        if s:
            data = str(s["provenance"].get("data", ""))
            out.append({"spec": f"demo:{name}", "architecture": s["architecture"], "domains": s["domains"],
                        "directions": list(s.get("config", {}).get("directions") or ["a2b", "b2a"]),
                        "real_photos": not data.startswith("demo:")})
    return sorted(out, key=lambda e: not e["real_photos"])     # stable: the folder order stays within each


__all__ = ["catalogue"]
