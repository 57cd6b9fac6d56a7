"""open_unpaired reads every accepted layout into [3, size, size] tensors; safe_extract_zip refuses
hostile zips and leaves nothing behind; limits come from the environment."""
import io
import pickle
import stat
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from cyclegan import demo, limits
from cyclegan.archive import safe_extract_zip
from cyclegan.data import DataReport, Preprocess, open_unpaired
from cyclegan.errors import UserInputError


def png(w=40, h=30, seed=0, color=None) -> bytes:
    if color is None:
        img = Image.fromarray(np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8))
    else:
        img = Image.new("RGB", (w, h), color)
    buf = io.BytesIO()
    img.save(buf, "PNG")
    return buf.getvalue()


def make_tree(root, files: dict):
    """files: {"trainA/0.png": bytes, ...}"""
    for rel, data in files.items():
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(data)
    return root


def pair(a="trainA", b="trainB", n_a=3, n_b=2, prefix=""):
    files = {f"{prefix}{a}/{i}.png": png(seed=i) for i in range(n_a)}
    files.update({f"{prefix}{b}/{i}.png": png(seed=100 + i) for i in range(n_b)})
    return files


def make_zip(path, files: dict):
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for rel, data in files.items():
            zf.writestr(rel, data)
    return path


def check_items(data, size, value_range=(-1.0, 1.0)):
    lo, hi = value_range
    for ds in (data.domain_a, data.domain_b):
        for i in range(len(ds)):
            x = ds[i]
            assert x.dtype == torch.float32 and tuple(x.shape) == (3, size, size)
            assert x.min() >= lo - 1e-6 and x.max() <= hi + 1e-6


# --- layouts ------------------------------------------------------------------------------

def test_official_layout(tmp_path):
    root = make_tree(tmp_path / "ds", pair() | {"testA/0.png": png(), "testB/0.png": png(), "testB/1.png": png()})
    data = open_unpaired(root, size=32)
    assert data.domains == ("A", "B")
    assert (len(data.domain_a), len(data.domain_b)) == (3, 2)
    assert (data.report.n_a, data.report.n_b, data.report.skipped_non_images, data.report.unreadable) == (3, 2, 0, [])
    check_items(data, 32)
    test = open_unpaired(root, size=32, split="test")
    assert (len(test.domain_a), len(test.domain_b)) == (1, 2)


def test_domains_json_names(tmp_path):
    root = make_tree(tmp_path / "ds", pair() | {"domains.json": b'{"A": "day", "B": "night"}'})
    assert open_unpaired(root, size=16).domains == ("day", "night")
    (root / "domains.json").write_text('["day", "night"]')
    with pytest.raises(UserInputError, match='domains.json .* must look like {"A": "day", "B": "night"}'):
        open_unpaired(root, size=16)


def test_a_b_layout(tmp_path):
    data = open_unpaired(make_tree(tmp_path, pair("A", "B", 2, 4)), size=16)
    assert data.domains == ("A", "B") and (data.report.n_a, data.report.n_b) == (2, 4)
    check_items(data, 16)


def test_two_named_folders(tmp_path):
    data = open_unpaired(make_tree(tmp_path, pair("zebras", "horses", 2, 3)), size=16)
    assert data.domains == ("horses", "zebras")
    assert (len(data.domain_a), len(data.domain_b)) == (3, 2)
    with pytest.raises(UserInputError, match="no testA/ and testB/ folders"):
        open_unpaired(tmp_path, size=16, split="test")


def test_no_train_folders(tmp_path):
    make_tree(tmp_path, {"photos/1.png": png(), "more/1.png": png(), "misc/1.png": png()})
    with pytest.raises(UserInputError) as e:
        open_unpaired(tmp_path, size=16)
    assert str(e.value).startswith(f"no trainA/ and trainB/ folders in '{tmp_path}': found folders: misc/, more/, photos/ ")
    assert "(expected trainA/ + trainB/, or A/ + B/" in str(e.value)


def test_empty_domain(tmp_path):
    files = {"trainA/0.png": png(), **{f"trainB/{i}.txt": b"x" for i in range(11)}, "trainB/bad.png": b"<html>"}
    with pytest.raises(UserInputError, match=r"^trainB/ has no images: found 12 files, none readable as an image"):
        open_unpaired(make_tree(tmp_path, files), size=16)
    other = make_tree(tmp_path / "x", {"trainA/0.png": png()})
    (other / "trainB").mkdir()
    with pytest.raises(UserInputError, match="trainB/ has no images: the folder is empty"):
        open_unpaired(tmp_path / "x", size=16)


def test_non_images_skipped_and_unreadable_reported(tmp_path):
    good = png(seed=1)
    files = pair(n_a=2, n_b=2) | {
        "trainA/notes.txt": b"hi", "trainA/inner.zip": b"PK\x05\x06" + b"\0" * 18,
        "trainA/broken.png": good[: len(good) // 2], "trainB/fake.jpg": b"<html></html>",
        "trainA/.DS_Store": b"\0",
    }
    data = open_unpaired(make_tree(tmp_path, files), size=16)
    r = data.report
    assert (r.n_a, r.n_b, r.skipped_non_images) == (2, 2, 2)
    assert r.unreadable == ["trainA/broken.png", "trainB/fake.jpg"]
    assert "truncated or corrupt" in r.reasons["trainA/broken.png"]
    assert "2 unreadable" in r.summary() and "skipped 2 non-image files" in r.summary()
    assert sorted(p.name for p in data.domain_a.files) == ["0.png", "1.png"]


def test_a_jpeg_cut_short_is_reported_up_front_not_met_in_training(tmp_path):
    buf = io.BytesIO()
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (30, 40, 3), dtype=np.uint8)).save(buf, "JPEG")
    jpeg = buf.getvalue()
    data = open_unpaired(make_tree(tmp_path, pair(n_a=2, n_b=2) | {"trainA/cut.jpg": jpeg[: len(jpeg) * 3 // 4]}),
                         size=16)
    assert data.report.unreadable == ["trainA/cut.jpg"]
    assert "truncated or corrupt" in data.report.reasons["trainA/cut.jpg"]
    check_items(data, 16)        # every file the run will draw opens


def test_iphone_heic_photos_train_and_a_broken_one_is_named(tmp_path):
    heic = (Path(__file__).parent / "data" / "IMG_0001.HEIC").read_bytes()      # 128×192 once upright
    fake = b"\x00\x00\x00\x18ftypheic" + b"\x00" * 64
    data = open_unpaired(make_tree(tmp_path, pair(n_a=2, n_b=2) | {"trainA/IMG_0001.HEIC": heic,
                                                                   "trainA/IMG_0002.heic": fake}), size=16)
    r = data.report
    assert (r.n_a, r.skipped_non_images, r.unreadable) == (3, 0, ["trainA/IMG_0002.heic"])
    assert r.reasons["trainA/IMG_0002.heic"] == ("image is truncated or corrupt: 'IMG_0002.heic' starts like a "
                                                 "HEIC/HEIF photo but cannot be read")
    check_items(data, 16)        # every file the run will draw opens, the HEIC photo among them


def test_without_pi_heif_heic_photos_are_named_with_what_to_do(tmp_path, monkeypatch):
    from cyclegan import images
    monkeypatch.setattr(images, "_heif_registered", False)      # as where pi-heif is not installed
    heic = (Path(__file__).parent / "data" / "rocket.heic").read_bytes()
    data = open_unpaired(make_tree(tmp_path, pair(n_a=2, n_b=2) | {"trainA/IMG_0001.HEIC": heic}), size=16)
    r = data.report
    assert (r.n_a, r.skipped_non_images, r.unreadable) == (2, 0, ["trainA/IMG_0001.HEIC"])
    assert r.reasons["trainA/IMG_0001.HEIC"] == ("'IMG_0001.HEIC' is a HEIC/HEIF photo, the format iPhones save, "
                                                 "which this installation cannot read: install pi-heif (pip install "
                                                 "pi-heif) or export it as JPEG or PNG")
    with pytest.raises(UserInputError, match=r"trainB/ has no images: .*1 unreadable, e\.g\. '0\.heic' is a HEIC"):
        open_unpaired(make_tree(tmp_path / "all", {"trainA/0.png": png(), "trainB/0.heic": heic}), size=16)


def test_not_found_and_not_a_dataset(tmp_path):
    with pytest.raises(UserInputError, match="not found: .*nowhere"):
        open_unpaired(tmp_path / "nowhere", size=16)
    (tmp_path / "x.png").write_bytes(png())
    with pytest.raises(UserInputError, match="neither a folder nor a .zip file"):
        open_unpaired(tmp_path / "x.png", size=16)


def test_bad_settings(tmp_path):
    root = make_tree(tmp_path, pair())
    with pytest.raises(UserInputError, match="unknown preprocess 'zoom'"):
        open_unpaired(root, size=16, preprocess="zoom")
    with pytest.raises(UserInputError, match="split must be 'train' or 'test'"):
        open_unpaired(root, size=16, split="val")
    with pytest.raises(UserInputError, match="value_range"):
        open_unpaired(root, size=16, value_range=(1.0, -1.0))
    with pytest.raises(UserInputError, match="image size"):
        open_unpaired(root, size=0)


# --- tensors and preprocessing --------------------------------------------------------------

@pytest.mark.parametrize("value_range", [(-1.0, 1.0), (0.0, 1.0)])
def test_value_range_is_used(tmp_path, value_range):
    root = make_tree(tmp_path, {"trainA/w.png": png(color=(255, 255, 255)), "trainB/k.png": png(color=(0, 0, 0))})
    data = open_unpaired(root, size=16, value_range=value_range)
    check_items(data, 16, value_range)
    assert torch.allclose(data.domain_a[0], torch.full((3, 16, 16), value_range[1]))
    assert torch.allclose(data.domain_b[0], torch.full((3, 16, 16), value_range[0]))


@pytest.mark.parametrize("mode", ["resize_crop", "crop", "scale_width", "none", "resize"])
@pytest.mark.parametrize("wh", [(40, 30), (10, 50), (1, 400), (20, 20)])
def test_preprocess_modes_shape(mode, wh):
    t = Preprocess(24, mode)
    img = Image.fromarray(np.random.default_rng(0).integers(0, 256, (wh[1], wh[0], 3), dtype=np.uint8))
    x = t(img)
    assert tuple(x.shape) == (3, 24, 24) and x.dtype == torch.float32
    assert -1 <= x.min() and x.max() <= 1


def test_preprocess_details():
    g = np.tile(np.arange(64, dtype=np.uint8)[None, :, None] * 4, (64, 1, 3))  # horizontal ramp
    img = Image.fromarray(g)
    assert Preprocess(256).load_size == 286
    # "resize": exactly the resized image, no randomness when flip is off
    x = Preprocess(32, "resize", flip=False, value_range=(0.0, 1.0))(img)
    expect = torch.from_numpy(np.array(img.resize((32, 32), Image.BICUBIC))).permute(2, 0, 1).float() / 255
    assert torch.allclose(x, expect)
    # "crop" of a larger image keeps native pixels: every column is a run of the ramp
    x = Preprocess(16, "crop", flip=False, value_range=(0.0, 255.0))(img)
    cols = x[0, 0]
    assert torch.all(cols[1:] - cols[:-1] == 4)
    # "crop" of a smaller image pads by repeating the edge, not with a flat colour
    small = Image.fromarray(np.full((8, 8, 3), 77, np.uint8))
    x = Preprocess(16, "crop", flip=False, value_range=(0.0, 255.0))(small)
    assert torch.allclose(x, torch.full((3, 16, 16), 77.0))
    # "scale_width" keeps the aspect: a 32x64 image at width 16 becomes 16x32, cropped to 16x16
    tall = Image.fromarray(np.concatenate([np.zeros((32, 32, 3), np.uint8), np.full((32, 32, 3), 255, np.uint8)]))
    torch.manual_seed(0)
    seen = {round(float(Preprocess(16, "scale_width", flip=False, value_range=(0, 1))(tall).mean()), 1)
            for _ in range(200)}
    assert 0.0 in seen and 1.0 in seen  # both the black top and the white bottom can be cropped


def test_augmentation_uses_torch_rng_only(tmp_path):
    root = make_tree(tmp_path, {"trainA/0.png": png(64, 64, seed=3), "trainB/0.png": png(64, 64, seed=4)})
    ds = open_unpaired(root, size=32).domain_a
    torch.manual_seed(123)
    a = ds[0]
    torch.manual_seed(123)
    np.random.seed(0)
    import random
    random.seed(0)
    b = ds[0]
    assert torch.equal(a, b)
    draws = []
    for s in range(6):
        torch.manual_seed(s)
        draws.append(ds[0])
    assert any(not torch.equal(draws[0], d) for d in draws[1:])
    # no crop, no flip: nothing random is left, so any RNG state gives the plain resized image
    flipless = open_unpaired(root, size=32, preprocess="none", flip=False).domain_a
    with Image.open(root / "trainA" / "0.png") as im:
        expect = torch.from_numpy(np.array(im.resize((32, 32), Image.BICUBIC))).permute(2, 0, 1).float() / 255 * 2 - 1
    for s in range(4):
        torch.manual_seed(s)
        assert torch.allclose(flipless[0], expect, atol=1e-6)


def test_datasets_pickle_for_spawned_workers(tmp_path):
    data = open_unpaired(make_tree(tmp_path, pair()), size=16)
    clone = pickle.loads(pickle.dumps(data.domain_a))
    assert len(clone) == 3 and tuple(clone[0].shape) == (3, 16, 16)
    loader = torch.utils.data.DataLoader(data.domain_b, batch_size=2)
    assert tuple(next(iter(loader)).shape) == (2, 3, 16, 16)


# --- demo -----------------------------------------------------------------------------------

def test_demo_source(monkeypatch):
    data = open_unpaired("demo:daynight", size=32, demo_n=5)
    assert data.domains == tuple(demo.domains("daynight"))
    assert (len(data.domain_a), len(data.domain_b)) == (5, 5)
    assert not set(data.domain_a.seeds) & set(data.domain_b.seeds)  # unpaired
    assert data.report == DataReport(5, 5, 0, [], "demo:daynight")
    check_items(data, 32)
    test = open_unpaired("demo:daynight", size=32, split="test", demo_n=3, flip=False, preprocess="none")
    assert test.domain_a.seeds == test.domain_b.seeds
    assert not torch.equal(test.domain_a[0], test.domain_b[0])  # same scene, two looks
    renders = []
    real = demo.render
    monkeypatch.setattr(demo, "render", lambda *a: renders.append(a) or real(*a))
    first = test.domain_a[1]
    again = test.domain_a[1]                                 # from the cache: not drawn again
    assert len(renders) == 1 and torch.equal(first, again)
    assert torch.equal(first, Preprocess(32, "none", False)(real("daynight", test.domain_a.seeds[1], "A", 32)))
    clone = pickle.loads(pickle.dumps(test.domain_a))        # a worker's copy starts with an empty cache
    assert torch.equal(clone[1], first) and len(renders) == 2
    with pytest.raises(UserInputError, match="unknown demo world 'mars'"):
        open_unpaired("demo:mars", size=32)


# --- zips -----------------------------------------------------------------------------------

def test_zip_at_root_and_in_top_folder(tmp_path):
    work = tmp_path / "work"
    z1 = make_zip(tmp_path / "flat.zip", pair())
    data = open_unpaired(z1, size=16, workdir=work)
    assert (data.report.n_a, data.report.n_b) == (3, 2) and data.report.source == "flat.zip"
    assert all(work in p.parents for p in data.domain_a.files)
    check_items(data, 16)
    z2 = make_zip(tmp_path / "wrapped.zip", pair("horses", "zebras", prefix="horse2zebra/") | {"__MACOSX/._x": b"\0"})
    data = open_unpaired(z2, size=16)  # no workdir: a temp folder
    assert data.domains == ("horses", "zebras") and (data.report.n_a, data.report.n_b) == (3, 2)
    assert safe_extract_zip(z2, tmp_path / "out").name == "horse2zebra"
    assert not (tmp_path / "out" / "__MACOSX").exists()


def test_zip_missing_folders_names_the_zip(tmp_path):
    z = make_zip(tmp_path / "x.zip", {"pics/a.png": png(), "pics/b.png": png(), "other/c.png": png(), "third/d.png": png()})
    work = tmp_path / "work"
    with pytest.raises(UserInputError, match=r"no trainA/ and trainB/ folders in 'x.zip': found folders: other/, pics/, third/"):
        open_unpaired(z, size=16, workdir=work)
    assert list(work.iterdir()) == []  # the failed extraction was cleaned up


@pytest.mark.parametrize("name", ["../evil.png", "trainA/../../evil.png", "/etc/evil.png", "..\\evil.png", "C:/evil.png"])
def test_zip_slip_refused(tmp_path, name):
    z = make_zip(tmp_path / "x.zip", pair() | {name: png()})
    with pytest.raises(UserInputError, match="unsafe path in zip: '"):
        safe_extract_zip(z, tmp_path / "out")
    assert not (tmp_path / "evil.png").exists() and not (tmp_path / "out").exists()


def test_zip_symlink_refused(tmp_path):
    z = tmp_path / "link.zip"
    with zipfile.ZipFile(z, "w") as zf:
        for rel, data in pair().items():
            zf.writestr(rel, data)
        info = zipfile.ZipInfo("trainA/passwd.png")
        info.create_system = 3
        info.external_attr = (stat.S_IFLNK | 0o777) << 16
        zf.writestr(info, "/etc/passwd")
    with pytest.raises(UserInputError, match="symbolic link.*trainA/passwd.png"):
        open_unpaired(z, size=16, workdir=tmp_path / "w")


def test_zip_bomb_by_declared_size(tmp_path, monkeypatch):
    z = make_zip(tmp_path / "bomb.zip", pair() | {"trainA/zeros.bin": bytes(50_000_000)})
    assert z.stat().st_size < 200_000
    monkeypatch.setenv("CYCLEGAN_MAX_ZIP_BYTES", "10000000")
    with pytest.raises(UserInputError, match=r"zip would unpack to more than 10 MB \(CYCLEGAN_MAX_ZIP_BYTES\)"):
        safe_extract_zip(z, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_zip_bytes_enforced_while_streaming(tmp_path, monkeypatch):
    """Headers can understate sizes: what is actually written is counted too."""
    import cyclegan.archive as archive_mod
    z = make_zip(tmp_path / "z.zip", {"trainA/a.bin": bytes(3000), "trainB/b.bin": bytes(3000)})
    monkeypatch.setenv("CYCLEGAN_MAX_ZIP_BYTES", "5000")
    monkeypatch.setattr(archive_mod, "_declared_size", lambda plan: 0)  # headers that claim nothing
    with pytest.raises(UserInputError, match=r"zip would unpack to more than 0.005 MB"):
        safe_extract_zip(z, tmp_path / "out")
    assert not (tmp_path / "out").exists()
    existing = tmp_path / "existing"
    existing.mkdir()
    (existing / "keep.txt").write_text("mine")
    with pytest.raises(UserInputError, match="more than"):
        safe_extract_zip(z, existing)
    assert [p.name for p in existing.iterdir()] == ["keep.txt"]  # only what we wrote was removed


def test_zip_lying_header_is_corrupt(tmp_path):
    z = make_zip(tmp_path / "lie.zip", pair() | {"trainA/big.bin": bytes(1_000_000)})
    raw = bytearray(z.read_bytes())
    name = b"trainA/big.bin"
    for sig, off in ((b"PK\x03\x04", 22), (b"PK\x01\x02", 24)):  # uncompressed size field
        pos = 0
        while (pos := raw.find(sig, pos)) != -1:
            name_at = pos + (30 if sig == b"PK\x03\x04" else 46)
            if raw[name_at:name_at + len(name)] == name:
                raw[pos + off:pos + off + 4] = (1000).to_bytes(4, "little")
            pos += 4
    z.write_bytes(bytes(raw))
    with pytest.raises(UserInputError, match="not a valid zip file"):
        safe_extract_zip(z, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_zip_too_many_entries(tmp_path, monkeypatch):
    files = pair() | {f"trainA/n{i}.txt": b"" for i in range(2000)}
    z = make_zip(tmp_path / "many.zip", files)
    monkeypatch.setenv("CYCLEGAN_MAX_ZIP_ENTRIES", "1000")
    with pytest.raises(UserInputError, match=r"zip has 2,005 entries, over the limit of 1,000 \(CYCLEGAN_MAX_ZIP_ENTRIES\)"):
        open_unpaired(z, size=16, workdir=tmp_path / "w")
    monkeypatch.setenv("CYCLEGAN_MAX_ZIP_ENTRIES", "3000")
    assert open_unpaired(z, size=16, workdir=tmp_path / "w").report.skipped_non_images == 2000


def test_nested_zip_not_extracted(tmp_path):
    inner = io.BytesIO()
    with zipfile.ZipFile(inner, "w") as zf:
        zf.writestr("trainA/hidden.png", png())
    z = make_zip(tmp_path / "outer.zip", pair() | {"trainA/inner.zip": inner.getvalue()})
    data = open_unpaired(z, size=16, workdir=tmp_path / "w")
    assert data.report.skipped_non_images == 1 and data.report.n_a == 3
    assert [p.name for p in (tmp_path / "w").rglob("hidden.png")] == []


def test_not_a_zip(tmp_path):
    z = tmp_path / "fake.zip"
    z.write_bytes(b"this is not a zip")
    with pytest.raises(UserInputError, match="not a valid zip file: 'fake.zip'"):
        open_unpaired(z, size=16, workdir=tmp_path / "w")
    good = make_zip(tmp_path / "cut.zip", pair()).read_bytes()
    (tmp_path / "cut.zip").write_bytes(good[: len(good) // 2])
    with pytest.raises(UserInputError, match="not a valid zip file"):
        safe_extract_zip(tmp_path / "cut.zip", tmp_path / "out")


def test_non_utf8_names(tmp_path):
    z = make_zip(tmp_path / "legacy.zip", pair() | {"trainA/XXXX.png": png(seed=9), "trainB/YYYY.png": png(seed=8)})
    raw = z.read_bytes().replace(b"XXXX", b"\xe9\xff\x80\x81").replace(b"YYYY", b"\x82\xa0\x82\xa2")  # latin-1, Shift-JIS
    z.write_bytes(raw)
    data = open_unpaired(z, size=16, workdir=tmp_path / "w")
    assert (data.report.n_a, data.report.n_b) == (4, 3)
    check_items(data, 16)


# --- limits ---------------------------------------------------------------------------------

LIMIT_VARS = ["SPACE_ID", "CYCLEGAN_MAX_UPLOAD_MB", "CYCLEGAN_MAX_IMAGE_PIXELS", "CYCLEGAN_MAX_ZIP_ENTRIES",
              "CYCLEGAN_MAX_ZIP_BYTES", "CYCLEGAN_MAX_TRAIN_STEPS", "CYCLEGAN_MAX_TRAIN_SIZE",
              "CYCLEGAN_ALLOW_SERVER_PATHS", "CYCLEGAN_MAX_HUB_DATASET_MB", "CYCLEGAN_MAX_VIDEO_SECONDS",
              "CYCLEGAN_MAX_VIDEO_SIDE", "CYCLEGAN_MAX_STREAM_SECONDS", "CYCLEGAN_MAX_BATCH_IMAGES"]


@pytest.fixture
def clean_env(monkeypatch):
    import os
    for v in [*LIMIT_VARS, *(k for k in os.environ if k.startswith("CYCLEGAN_"))]:
        monkeypatch.delenv(v, raising=False)
    return monkeypatch


# (local default, Space default) of every limit, as README's limits table states them
DEFAULTS = {"max_upload_mb": (200, 200), "max_image_pixels": (40_000_000, 40_000_000),
            "max_zip_entries": (20_000, 20_000), "max_zip_bytes": (2 * 1024**3, 2 * 1024**3),
            "max_work_pixels": (40_000_000, 1_000_000), "max_upscale": (2, 2), "max_translate_seconds": (0, 60),
            "max_model_params": (400_000_000, 200_000_000), "max_train_steps": (1_000_000, 5_000),
            "max_train_size": (1024, 256), "max_train_memory_mb": (limits.machine_memory_mb(), 6000),
            "max_run_minutes": (0, 30), "max_runs": (0, 20), "max_runs_mb": (0, 5000), "run_ttl_hours": (0, 24),
            "max_stop_wait_s": (600, 60), "queue_size": (0, 32), "translate_concurrency": (2, 1),
            "cache_minutes": (1440, 60), "allow_server_paths": (True, False), "max_hub_dataset_mb": (2000, 1000),
            "max_video_seconds": (60, 20), "max_video_side": (1920, 1280), "max_stream_seconds": (600, 120),
            "max_batch_images": (100, 20), "max_live_scores": (0, 50), "hosted": (False, True)}


def test_limits_defaults(clean_env):
    import dataclasses
    assert {f.name for f in dataclasses.fields(limits.Limits)} == set(DEFAULTS)
    assert dataclasses.asdict(limits.current()) == {k: v[0] for k, v in DEFAULTS.items()}
    clean_env.setenv("SPACE_ID", "someone/cyclegan-studio")
    assert dataclasses.asdict(limits.current()) == {k: v[1] for k, v in DEFAULTS.items()}
    clean_env.setenv("SPACE_ID", "")
    assert limits.current().hosted is False


def test_limits_table_in_readme_lists_every_setting():
    """Each setting's variable and its two defaults appear in README's limits table."""
    from pathlib import Path
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    table = readme[readme.index("## Limits"):]
    rows = {line.split("|")[1].strip(" `"): line for line in table.splitlines() if line.startswith("| `CYCLEGAN_")}
    for name in (limits.__doc__ or "").split("`"):
        if name.startswith("CYCLEGAN_") and name.isupper():
            assert name in rows, f"{name} is missing from README's limits table"


def test_limits_from_env(clean_env):
    clean_env.setenv("SPACE_ID", "x/y")
    clean_env.setenv("CYCLEGAN_MAX_IMAGE_PIXELS", "1_000_000")
    clean_env.setenv("CYCLEGAN_MAX_ZIP_BYTES", "2e9")
    clean_env.setenv("CYCLEGAN_MAX_TRAIN_STEPS", " 20000 ")
    clean_env.setenv("CYCLEGAN_ALLOW_SERVER_PATHS", "Yes")
    clean_env.setenv("CYCLEGAN_MAX_UPLOAD_MB", "")  # empty counts as unset
    lim = limits.current()
    assert (lim.max_image_pixels, lim.max_zip_bytes, lim.max_train_steps, lim.allow_server_paths, lim.max_upload_mb) == \
        (1_000_000, 2_000_000_000, 20_000, True, 200)
    with pytest.raises(AttributeError):
        lim.max_train_steps = 1  # frozen


@pytest.mark.parametrize("var,value", [("CYCLEGAN_MAX_ZIP_ENTRIES", "lots"), ("CYCLEGAN_MAX_TRAIN_SIZE", "-5"),
                                       ("CYCLEGAN_MAX_UPLOAD_MB", "1.5"), ("CYCLEGAN_MAX_TRAIN_STEPS", "0"),
                                       ("CYCLEGAN_ALLOW_SERVER_PATHS", "maybe")])
def test_limits_bad_values_name_the_variable(clean_env, var, value):
    clean_env.setenv(var, value)
    with pytest.raises(UserInputError, match=f"^{var} must be .*got '{value}'"):
        limits.current()
