"""The real-photo dataset builder (photo ↔ vintage): its split keeps the two training domains and
the test set apart, test pairs are the same crop of the photo and of its vintage version, and
every source photo has a stated licence."""
import json

import numpy as np
import pytest
from PIL import Image

from cyclegan import UserInputError, photos

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.mark.parametrize("width", [300, 451, 512, 1411])
@pytest.mark.parametrize("index", [0, 1])
def test_bands_do_not_overlap(width, index):
    b = photos.bands(width, index)
    spans = sorted(b.values())
    assert spans[0][0] == 0 and spans[-1] == b["test"] and b["test"][1] == width
    for (_, end), (start, _) in zip(spans, spans[1:]):
        assert start - end >= photos.GAP                      # a gap between every two bands
    assert (b["A"] < b["B"]) == (index % 2 == 0)              # sides alternate from photo to photo
    assert b["test"][1] - b["test"][0] >= 0.29 * width


def test_every_source_states_a_licence():
    assert len(photos.SOURCES) >= 5
    for s in photos.SOURCES:
        assert s.licence.startswith(("public domain", "CC0")) and s.credit


def test_build_a_small_dataset(tmp_path, monkeypatch):
    pytest.importorskip("vintagify")
    try:
        path, _ = photos.source_path(photos.SOURCES[2])
    except UserInputError as e:
        pytest.skip(str(e))                                    # scikit-image is a dev requirement
    monkeypatch.setattr(photos, "SOURCES", (photos.SOURCES[2],))   # chelsea, 451×300: quick to vintagify
    root = tmp_path / "photos"
    manifest = photos.build(root, n=6, size=32, n_test=3, test_size=64, log=lambda m: None)
    assert [len(list((root / d).glob("*.png"))) for d in ("trainA", "trainB", "testA", "testB")] == [6, 6, 3, 3]
    assert json.loads((root / "domains.json").read_text()) == {"A": "photo", "B": "vintage"}
    assert sorted(p.name for p in (root / "testA").iterdir()) == sorted(p.name for p in (root / "testB").iterdir())
    assert Image.open(next((root / "trainB").iterdir())).size == (32, 32)
    src = manifest["sources"][0]
    assert src["name"] == "chelsea" and len(src["sha256"]) == 64 and src["licence"].startswith("CC0")
    photo = Image.open(path).convert("RGB")
    test_x = src["bands_x"]["test"][0]
    for j, box in enumerate(src["test_boxes"]):
        assert box[0] >= test_x                                # only held-out pixels
        a = np.asarray(Image.open(root / "testA" / f"chelsea_{j:02d}.png"), np.float32)
        b = np.asarray(Image.open(root / "testB" / f"chelsea_{j:02d}.png"), np.float32)
        assert a.shape == b.shape == (64, 64, 3)
        assert np.array_equal(a, np.asarray(photo.crop(tuple(box)), np.float32))
        assert float(np.abs(a - b).mean()) > 1                 # the vintage look, of the same place:
        assert np.corrcoef(a.mean(2).ravel(), b.mean(2).ravel())[0, 1] > 0.8
    with pytest.raises(UserInputError, match="not empty"):
        photos.build(root, n=1, log=lambda m: None)
    # --jpeg: the same crops (same seed), stored as JPEG; the ground truth stays PNG
    small = photos.build(tmp_path / "jpeg", n=6, size=32, n_test=3, test_size=64, log=lambda m: None, jpeg_quality=95)
    assert small["train_format"] == "jpeg 95" and manifest["train_format"] == "png"
    jpgs = sorted((tmp_path / "jpeg" / "trainA").iterdir())
    assert [p.suffix for p in jpgs] == [".jpg"] * 6 and len(list((tmp_path / "jpeg" / "testA").glob("*.png"))) == 3
    a = np.asarray(Image.open(jpgs[0]), np.float32)
    b = np.asarray(Image.open(root / "trainA" / jpgs[0].with_suffix(".png").name), np.float32)
    assert float(np.abs(a - b).mean()) < 3
