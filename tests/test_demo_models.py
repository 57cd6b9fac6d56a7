"""The models shipped in cyclegan/demo/models load, are small, and clearly beat doing nothing in
every direction they have (CUT: day → night only). cyclegan-studio/1 configs (the first demos'
format) are read through the migration, tested in test_checkpoints."""
import json

import pytest

from cyclegan import load_model
from cyclegan.checkpoints import DEMO_DIR
from cyclegan.evaluate import evaluate

SHIPPED = sorted(p.name for p in DEMO_DIR.iterdir() if (p / "model.safetensors").is_file()) if DEMO_DIR.is_dir() else []


def test_one_demo_model_per_architecture_is_shipped():
    assert SHIPPED == ["cut", "cyclegan", "discogan", "dualgan"]


@pytest.mark.parametrize("name", SHIPPED)
def test_shipped_model_beats_identity(name):
    folder = DEMO_DIR / name
    assert sum(f.stat().st_size for f in folder.iterdir()) <= 10 * 1024 * 1024
    assert json.loads((folder / "config.json").read_text())["format"] in ("cyclegan-studio/1", "cyclegan-studio/2")
    model = load_model(f"demo:{name}")
    # each is its architecture's default recipe at the quick scale (two change numbers: their titles say which)
    recipe = {"cyclegan": "paper", "discogan": "code", "dualgan": "code-2017-08", "cut": "cut"}[name]
    assert model.preset.key == f"{name}/{recipe}/quick" and model.domains == ("day", "night")
    assert "command" in model.provenance
    assert model.directions == (("a2b",) if name == "cut" else ("a2b", "b2a"))
    score = evaluate(model, "demo:daynight", n=24, size=model.image_size)
    for d in model.directions:
        gain = score[d]["psnr"] - score["identity"][d]["psnr"]
        assert gain > 9.0, (name, d, score)     # the target is 10 dB on 200 pairs
        assert score[d]["l1"] < score["identity"][d]["l1"]
