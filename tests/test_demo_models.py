"""The models shipped in cyclegan/demo/models load, are small, and clearly beat doing nothing in
every direction they have (CUT: day → night only); the real-photo ones (photo-vintage-ARCH) keep a
real photo and give it the look. cyclegan-studio/1 configs (the first demos' format) are read
through the migration, tested in test_checkpoints."""
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from bench.photos import colour
from cyclegan import load_model
from cyclegan.checkpoints import DEMO_DIR
from cyclegan.evaluate import evaluate
from cyclegan.images import image_to_tensor

ALL = sorted(p.name for p in DEMO_DIR.iterdir() if (p / "model.safetensors").is_file()) if DEMO_DIR.is_dir() else []
PHOTO = [n for n in ALL if n.startswith("photo-vintage-")]
SHIPPED = [n for n in ALL if n not in PHOTO]           # the drawn-world demos
ROCKET = Path(__file__).resolve().parents[1] / "ui" / "examples" / "rocket.jpg"


def test_one_demo_model_per_architecture_is_shipped():
    assert SHIPPED == ["cut", "cyclegan", "discogan", "dualgan"]
    assert "photo-vintage-cyclegan" in PHOTO


@pytest.mark.parametrize("name", PHOTO)
def test_real_photo_model_keeps_the_photo_and_fades_it(name):
    """At the photo's full size (the app's default), as the browser test checks through the page."""
    folder = DEMO_DIR / name
    assert sum(f.stat().st_size for f in folder.iterdir()) <= 10 * 1024 * 1024
    model = load_model(f"demo:{name}")
    assert model.domains == ("photo", "vintage") and model.preset.architecture == name.rsplit("-", 1)[1]
    assert "command" in model.provenance and "public-domain" in model.trained_on()
    photo = Image.open(ROCKET).convert("RGB")
    out = model.translate(photo, "a2b")
    x, y = image_to_tensor(photo)[None], image_to_tensor(out)[None]
    assert out.size == photo.size
    assert np.corrcoef(x.mean(1).flatten(), y.mean(1).flatten())[0, 1] > 0.9
    # bench.photos' colour statistics, as docs/photos.md and the browser test report them
    assert colour(y)["saturation"] < 0.6 * colour(x)["saturation"]     # vintagify's own: 0.458 → 0.147


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
