"""Several images at once (the Translate tab's gallery), through the app's /translate_batch
endpoint: every readable image translated at its own size, one zip of them all, unreadable files
named and skipped, and the server's batch limit."""
import io
import zipfile
from pathlib import Path

import numpy as np
import pytest
from gradio_client import handle_file
from PIL import Image

import cyclegan


def gallery(*paths):
    return [{"image": handle_file(str(p)), "caption": None} for p in paths]


@pytest.fixture(scope="module")
def pictures(tmp_path_factory):
    folder = tmp_path_factory.mktemp("batch")
    rng = np.random.default_rng(3)
    paths = []
    for i, size in enumerate([(64, 48), (33, 70)]):
        p = folder / f"pic{i}.png"
        Image.fromarray(rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)).save(p)
        paths.append(p)
    (folder / "notes.png").write_text("shopping list")
    return folder, paths


def test_batch_translates_each_image_and_zips_them(client, pictures):
    folder, paths = pictures
    shown, zipped, msg = client.predict(gallery(*paths, folder / "notes.png"), "demo:cyclegan", "a2b", None,
                                        api_name="/translate_batch")
    assert [item["caption"] for item in shown] == ["pic0_a2b.png", "pic1_a2b.png"]
    model = cyclegan.load_model("demo:cyclegan")
    for item, src in zip(shown, paths):
        got = Image.open(item["image"]).convert("RGB")
        assert got.size == Image.open(src).size
        want = model.translate(str(src), "a2b")          # size None: automatic, as the library
        assert np.abs(np.asarray(got, np.float32) - np.asarray(want, np.float32)).mean() < 1.0
    assert Path(zipped).name == "translations-a2b.zip"
    with zipfile.ZipFile(zipped) as zf:
        assert sorted(zf.namelist()) == ["pic0_a2b.png", "pic1_a2b.png"]
        assert Image.open(io.BytesIO(zf.read("pic1_a2b.png"))).size == (33, 70)
    assert "Translated **2** images day → night" in msg
    assert "Skipped 1: notes.png (not an image" in msg


def test_batch_mistakes(client, pictures, monkeypatch):
    folder, paths = pictures
    with pytest.raises(Exception, match="none of the images could be read: notes.png"):
        client.predict(gallery(folder / "notes.png"), "demo:cyclegan", "a2b", None, api_name="/translate_batch")
    with pytest.raises(Exception, match="add images to the gallery first"):
        client.predict([], "demo:cyclegan", "a2b", None, api_name="/translate_batch")
    monkeypatch.setenv("CYCLEGAN_MAX_BATCH_IMAGES", "1")       # the server runs in this process
    with pytest.raises(Exception, match=r"2 images is over this server's limit of 1 at once \(CYCLEGAN_MAX_BATCH_IMAGES\)"):
        client.predict(gallery(*paths), "demo:cyclegan", "a2b", None, api_name="/translate_batch")


def test_an_iphone_heic_photo_translates(client):
    """Through the API as through the page: HEIC is read (pi-heif), upright, at its own size."""
    heic = Path(__file__).parent / "data" / "IMG_0001.HEIC"
    shown, zipped, msg = client.predict(gallery(heic), "demo:cyclegan", "a2b", None, api_name="/translate_batch")
    assert [item["caption"] for item in shown] == ["IMG_0001_a2b.png"]
    assert Image.open(shown[0]["image"]).size == (128, 192)
    assert "Translated **1** image day → night" in msg
