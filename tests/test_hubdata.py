"""`--data hub:owner/name`: Hugging Face datasets from a local HF cache this test builds (with
HF_HUB_OFFLINE=1, nothing reaches the network): an image folder repo, huggan-style parquet with
two image columns, parquet with an image and a label column; and one clear error for a malformed
parquet file, a repo without images, too many labels, a dataset over the size limit."""
import io
import json
from pathlib import Path

import pytest
from PIL import Image

from cyclegan import UserInputError
from cyclegan.data import open_unpaired

pa = pytest.importorskip("pyarrow")
pq = pytest.importorskip("pyarrow.parquet")

COMMIT = "fedcba9876543210fedcba9876543210fedcba98"
IMAGE = pa.struct([("bytes", pa.binary()), ("path", pa.string())])


def png(color, size=(40, 36)) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", size, color).save(buf, format="PNG")
    return buf.getvalue()


def snapshot(hf_home: Path, repo_id: str) -> Path:
    """The cache layout snapshot_download reads offline: refs/main -> a commit, snapshots/<commit>/."""
    repo = hf_home / "hub" / ("datasets--" + repo_id.replace("/", "--"))
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text(COMMIT)
    folder = repo / "snapshots" / COMMIT
    folder.mkdir(parents=True)
    return folder


def write_parquet(path: Path, columns: dict, features: dict | None = None) -> None:
    """A parquet file as `datasets` writes one: image columns as {bytes, path} structs, and the
    feature descriptions in the schema metadata."""
    path.parent.mkdir(parents=True, exist_ok=True)
    table = pa.table(columns)
    if features:
        table = table.replace_schema_metadata({b"huggingface": json.dumps({"info": {"features": features}}).encode()})
    pq.write_table(table, path)


def images(colors, prefix="x"):
    return pa.array([None if c is None else {"bytes": png(c), "path": f"{prefix}{i}.png"} for i, c in enumerate(colors)],
                    type=IMAGE)


@pytest.fixture
def hf_home(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    monkeypatch.delenv("HF_HUB_CACHE", raising=False)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    return tmp_path / "hf"


def open_hub(source, tmp_path, split="train"):
    return open_unpaired(source, size=32, split=split, workdir=tmp_path / "work")


def pixels(ds, i):
    return tuple(round(float(v), 3) for v in ds[i].mean((1, 2)))


def test_image_folder_repo(hf_home, tmp_path):
    snap = snapshot(hf_home, "someone/horse2zebra")
    for sub, n, color in (("trainA", 3, (255, 0, 0)), ("trainB", 2, (0, 0, 255)), ("testA", 1, (9, 9, 9))):
        (snap / "data" / sub).mkdir(parents=True)
        for i in range(n):
            (snap / "data" / sub / f"{i}.png").write_bytes(png(color))
    (snap / "README.md").write_text("# horses and zebras")
    data = open_hub("hub:someone/horse2zebra", tmp_path)
    assert (len(data.domain_a), len(data.domain_b)) == (3, 2)
    assert data.domains == ("horse", "zebra")                     # from the repo name
    assert data.report.source == "hub:someone/horse2zebra"
    assert pixels(data.domain_a, 0)[0] == 1.0 and pixels(data.domain_b, 0)[2] == 1.0   # red A, blue B in [-1, 1]


def test_parquet_with_two_image_columns(hf_home, tmp_path):
    """huggan's layout: imageA / imageB per row (a missing image on one side is skipped)."""
    snap = snapshot(hf_home, "huggan/apple2orange")
    feats = {"imageA": {"_type": "Image"}, "imageB": {"_type": "Image"}}
    write_parquet(snap / "data" / "train-00000-of-00001.parquet",
                  {"imageA": images([(200, 0, 0)] * 4), "imageB": images([(255, 160, 0)] * 3 + [None])}, feats)
    write_parquet(snap / "data" / "test-00000-of-00001.parquet",
                  {"imageA": images([(1, 2, 3)]), "imageB": images([(4, 5, 6)])}, feats)
    data = open_hub("hub:huggan/apple2orange", tmp_path)
    assert (len(data.domain_a), len(data.domain_b)) == (4, 3)
    assert data.domains == ("apple", "orange")
    test = open_hub("hub:huggan/apple2orange", tmp_path, split="test")
    assert (len(test.domain_a), len(test.domain_b)) == (1, 1)
    assert list((tmp_path / "work").iterdir()), "images are unpacked into the run's data folder"


def test_parquet_with_a_label_column(hf_home, tmp_path):
    """An image folder pushed with `datasets`: one image column and a ClassLabel of two names."""
    snap = snapshot(hf_home, "someone/pets")
    feats = {"image": {"_type": "Image"}, "label": {"_type": "ClassLabel", "names": ["cat", "dog"]}}
    write_parquet(snap / "train.parquet", {"image": images([(10, 10, 10), (250, 250, 250), (12, 12, 12)]),
                                           "label": pa.array([0, 1, 0], pa.int64())}, feats)
    data = open_hub("hub:someone/pets", tmp_path)
    assert data.domains == ("cat", "dog")
    assert (len(data.domain_a), len(data.domain_b)) == (2, 1)
    assert pixels(data.domain_b, 0)[0] > 0.9 > pixels(data.domain_a, 0)[0]


def test_text_labels_and_a_third_label(hf_home, tmp_path):
    snap = snapshot(hf_home, "someone/seasons")
    write_parquet(snap / "data" / "train.parquet", {"image": images([(1, 1, 1)] * 3),
                                                    "domain": pa.array(["summer", "winter", "summer"])})
    data = open_hub("hub:someone/seasons", tmp_path)
    assert data.domains == ("summer", "winter") and (len(data.domain_a), len(data.domain_b)) == (2, 1)
    snap = snapshot(hf_home, "someone/three")
    write_parquet(snap / "train.parquet", {"image": images([(1, 1, 1)] * 3), "label": pa.array(["a", "b", "c"])})
    with pytest.raises(UserInputError, match=r"'train.parquet' in Hub dataset 'someone/three' has more than two labels"):
        open_hub("hub:someone/three", tmp_path)


def test_malformed_parquet_is_one_clear_error(hf_home, tmp_path):
    snap = snapshot(hf_home, "someone/broken")
    (snap / "data").mkdir()
    (snap / "data" / "train-00000-of-00001.parquet").write_bytes(b"PAR1 this is not really parquet")
    with pytest.raises(UserInputError) as e:
        open_hub("hub:someone/broken", tmp_path)
    msg = str(e.value)
    assert msg.startswith("'data/train-00000-of-00001.parquet' in Hub dataset 'someone/broken' is not a readable "
                          "parquet file: ") and "\n" not in msg
    assert not any((tmp_path / "work").iterdir()), "a failed unpack leaves nothing behind"


def test_repo_without_images_is_one_clear_error(hf_home, tmp_path):
    snap = snapshot(hf_home, "someone/empty")
    (snap / "README.md").write_text("nothing here yet")
    (snap / "notes.txt").write_text("todo")
    with pytest.raises(UserInputError, match=r"^Hub dataset 'someone/empty' has no images: no parquet files and no "
                                             r"trainA/ trainB/ \(or A/ B/\) image folders; it holds: README.md, notes.txt$"):
        open_hub("hub:someone/empty", tmp_path)
    snap = snapshot(hf_home, "someone/tabular")
    write_parquet(snap / "train.parquet", {"text": pa.array(["a", "b"]), "score": pa.array([1, 2])})
    with pytest.raises(UserInputError, match=r"'train.parquet' in Hub dataset 'someone/tabular' has no image column: "
                                             r"its columns are text \(string\), score \(int64\)"):
        open_hub("hub:someone/tabular", tmp_path)


def test_not_cached_offline_and_bad_ids(hf_home, tmp_path):
    with pytest.raises(UserInputError, match=r"Hub dataset 'someone/elsewhere' is not in the local Hugging Face "
                                             r"cache, and HF_HUB_OFFLINE is set"):
        open_hub("hub:someone/elsewhere", tmp_path)
    with pytest.raises(UserInputError, match=r"'nobody' is not a Hub dataset id: expected hub:owner/name"):
        open_hub("hub:nobody", tmp_path)


def test_size_limit_is_checked_before_downloading(hf_home, tmp_path, monkeypatch):
    from cyclegan import hub, hubdata
    monkeypatch.delenv("HF_HUB_OFFLINE")
    monkeypatch.setenv("CYCLEGAN_MAX_HUB_DATASET_MB", "50")
    asked = {}

    def fake_size(repo, patterns, revision, repo_type, token):
        asked.update(repo=repo, repo_type=repo_type, token=token, parquet="*.parquet" in patterns)
        return 80_000_000, COMMIT

    monkeypatch.setattr(hub, "remote_size", fake_size)
    monkeypatch.setattr(hub, "download", lambda *a, **k: pytest.fail("downloaded despite the limit"))
    with pytest.raises(UserInputError, match=r"'someone/huge' has 80 MB .* over this server's limit of 50 MB "
                                             r"\(CYCLEGAN_MAX_HUB_DATASET_MB\)"):
        hubdata.fetch("hub:someone/huge", token=False)
    assert asked == {"repo": "someone/huge", "repo_type": "dataset", "token": False, "parquet": True}


def test_pinned_commit_from_the_cache_only(hf_home, tmp_path, monkeypatch):
    from cyclegan import hubdata
    snap = snapshot(hf_home, "someone/pets2")
    write_parquet(snap / "train.parquet", {"image": images([(1, 1, 1), (2, 2, 2)]), "label": pa.array([0, 1])})
    import huggingface_hub
    from cyclegan import hub
    real = huggingface_hub.snapshot_download
    calls = []

    def only_local(*a, **k):            # online, but a cached pinned commit must not ask the Hub
        calls.append(k["local_files_only"])
        assert k["local_files_only"], "asked the Hub"
        return real(*a, **k)

    monkeypatch.setattr(huggingface_hub, "snapshot_download", only_local)
    monkeypatch.setattr(hub, "offline", lambda: False)
    monkeypatch.setattr(hub, "remote_size", lambda *a, **k: pytest.fail("asked the Hub for the size"))
    for cache_only in (True, False):
        folder, pinned = hubdata.fetch(f"hub:someone/pets2@{COMMIT}", cache_only=cache_only)
        assert folder == snap and pinned == f"someone/pets2@{COMMIT}"
    assert calls == [True, True]
    with pytest.raises(UserInputError, match="is not in the local Hugging Face cache"):
        hubdata.fetch("hub:someone/other@" + "0" * 40, cache_only=True)


def test_training_from_a_hub_dataset(hf_home, tmp_path, one_thread):
    from train.cli import main as train_cli
    import cyclegan
    snap = snapshot(hf_home, "huggan/day2dusk")
    write_parquet(snap / "data" / "train-00000-of-00001.parquet",
                  {"imageA": images([(220, 220, 200)] * 3), "imageB": images([(40, 30, 60)] * 3)},
                  {"imageA": {"_type": "Image"}, "imageB": {"_type": "Image"}})
    out = tmp_path / "run"
    assert train_cli(["--data", "hub:huggan/day2dusk", "--scale", "quick", "--size", "32", "--steps", "2",
                      "--batch", "2", "--threads", "1", "--quiet", "--out", str(out)]) == 0
    model = cyclegan.load_model(str(out / "latest"))
    assert model.domains == ("day", "dusk") and model.provenance["data"] == "hub:huggan/day2dusk"


def test_app_trains_on_a_hub_dataset_with_the_visitors_credential_only(hf_home, app_server, client, monkeypatch):
    """/train_start with hub:owner/name: the app fetches it without the server's token (anonymous
    here), pins the commit, and the run reads that snapshot from the cache only."""
    from cyclegan import hub
    from train.runs import RunDir
    from ui import state
    snap = snapshot(hf_home, "huggan/day2dusk")
    write_parquet(snap / "data" / "train-00000-of-00001.parquet",
                  {"imageA": images([(220, 220, 200)] * 2), "imageB": images([(40, 30, 60)] * 2)},
                  {"imageA": {"_type": "Image"}, "imageB": {"_type": "Image"}})
    calls, real = [], hub.download

    def recording(repo, patterns, revision=None, repo_type="model", token=None, local_only=False):
        calls.append((repo, revision, repo_type, token, local_only))
        return real(repo, patterns, revision, repo_type=repo_type, token=token, local_only=local_only)

    monkeypatch.setattr(hub, "download", recording)
    state.RUNS.stop_and_wait(60)
    client.predict("hub:huggan/day2dusk", "cyclegan", "quick", 32, 2, 2, api_name="/train_start")
    state.RUNS.run.join(120)
    status = client.predict(api_name="/train_status")[0]
    assert status["state"] == "finished", status
    cfg = RunDir(app_server[2] / status["run"]).read_config()
    assert cfg["data"] == f"hub:huggan/day2dusk@{COMMIT}" and cfg["hub_cache_only"] is True
    assert calls[0] == ("huggan/day2dusk", None, "dataset", False, False)        # the visitor's fetch: no token
    assert calls[-1] == ("huggan/day2dusk", COMMIT, "dataset", None, True)       # the run: the cache only
    assert all(c[3] is False or c[4] for c in calls), calls                      # never the server's token online
    assert state.MODELS.get(status["model"]).domains == ("day", "dusk")
