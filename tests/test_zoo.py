"""The model and dataset zoo against a loopback HTTP server that this file starts and stops:
downloads land in the cache whole or not at all, a cached file needs no request, and every
fault (404, unknown name, truncation, a stalled server, cancellation, size cap, no network,
a damaged cache) is one clear UserInputError."""
import io
import os
import socket
import threading
import time
import zipfile
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import torch
from PIL import Image

from cyclegan import UserInputError, zoo
from cyclegan.nets.resnet import ResnetGenerator

pytestmark = pytest.mark.usefixtures("one_thread")

MODEL = "/cyclegan/pretrained_models/{}.pth"
DATASET = "/cyclegan/datasets/{}.zip"


class Server:
    """routes: path -> (behaviour, body); behaviour is 'ok', 'no_length' (stream, then close),
    'truncate' (promise all, send half), 'stall_headers' or 'stall_body' (wait until released),
    'slow' (all of it, 8 KB every 20 ms, until released: then the rest at once)."""

    def __init__(self):
        self.routes: dict[str, tuple[str, bytes]] = {}
        self.requests: list[str] = []
        self.release = threading.Event()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def do_GET(self):
                outer.requests.append(self.path)
                how, body = outer.routes.get(self.path, ("missing", b""))
                if how == "missing":
                    self.send_error(404)
                    return
                if how == "stall_headers":
                    outer.release.wait(10)
                    return
                self.send_response(200)
                self.send_header("Content-Type", "application/octet-stream")
                if how != "no_length":
                    self.send_header("Content-Length", str(len(body)))
                else:
                    self.send_header("Connection", "close")
                self.end_headers()
                if how == "truncate":
                    self.wfile.write(body[: len(body) // 2])
                elif how == "stall_body":
                    self.wfile.write(body[:1000])
                    self.wfile.flush()
                    outer.release.wait(10)
                elif how == "slow":
                    for i in range(0, len(body), 8192):
                        try:
                            self.wfile.write(body[i:i + 8192])
                            self.wfile.flush()
                        except OSError:          # the client hung up (a cancelled download)
                            return
                        if not outer.release.is_set():
                            time.sleep(0.02)
                else:
                    self.wfile.write(body)
                self.close_connection = True

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, args=(0.05,), daemon=True)
        self.thread.start()

    def close(self):
        self.release.set()
        self.httpd.shutdown()
        self.httpd.server_close()


def official_pth(seed=0) -> tuple[bytes, ResnetGenerator]:
    """An official-layout generator file: a plain state dict with the authors' keys (model.1,
    model.10.conv_block.1, ..., model.26), as torch.save writes it. ngf 4 keeps it ~0.2 MB."""
    torch.manual_seed(seed)
    net = ResnetGenerator(ngf=4, n_blocks=9).eval()
    assert "model.10.conv_block.5.weight" in net.state_dict() and "model.26.bias" in net.state_dict()
    buf = io.BytesIO()
    torch.save(net.state_dict(), buf)
    return buf.getvalue(), net


def dataset_zip(name="horse2zebra") -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for split in zoo.SPLITS:
            for i in range(2):
                img = io.BytesIO()
                Image.new("RGB", (8, 8), (40 * i, 100, 200)).save(img, "PNG")
                z.writestr(f"{name}/{split}/{i}.png", img.getvalue())
    return buf.getvalue()


@pytest.fixture
def server(tmp_path, monkeypatch):
    srv = Server()
    monkeypatch.setenv("CYCLEGAN_ZOO_URL", srv.url)
    monkeypatch.setenv("CYCLEGAN_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("CYCLEGAN_ZOO_TIMEOUT", "5")
    for var in ("CYCLEGAN_OFFLINE", "HF_HUB_OFFLINE", "CYCLEGAN_ZOO_MAX_MODEL_MB", "CYCLEGAN_ZOO_MAX_DATASET_MB"):
        monkeypatch.delenv(var, raising=False)
    for var in ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setattr(zoo, "PROGRESS_INTERVAL", 0.0)
    monkeypatch.setattr(zoo, "CHUNK", 16 * 1024)
    yield srv
    srv.close()


def cache_files(tmp_path) -> list[str]:
    root = tmp_path / "cache"
    return sorted(str(p.relative_to(root)) for p in root.rglob("*")) if root.exists() else []


def message(fn, *args, **kw) -> str:
    with pytest.raises(UserInputError) as e:
        fn(*args, **kw)
    text = str(e.value)
    assert "\n" not in text
    return text


# --- names ---------------------------------------------------------------------------------------
def test_the_official_names():
    assert len(zoo.MODEL_NAMES) == 18 and zoo.MODEL_NAMES[0] == "apple2orange"
    assert zoo.MODEL_DOMAINS["horse2zebra"] == ("horse", "zebra")
    assert zoo.MODEL_DOMAINS["style_monet"] == ("photo", "monet")
    assert "horse2zebra" in zoo.DATASET_NAMES and "cityscapes" not in zoo.DATASET_NAMES
    assert zoo.parse_spec("official:horse2zebra") == "horse2zebra" and zoo.parse_spec("demo:x") is None
    assert ("horse2zebra (horse → zebra)", "official:horse2zebra") in zoo.model_choices()
    assert len(zoo.model_choices()) == 18


def test_default_server_and_cache(monkeypatch, tmp_path):
    for var in ("CYCLEGAN_ZOO_URL", "CYCLEGAN_CACHE", "XDG_CACHE_HOME"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    assert zoo.model_url("horse2zebra") == "http://efrosgans.eecs.berkeley.edu/cyclegan/pretrained_models/horse2zebra.pth"
    assert zoo.dataset_url("maps") == "http://efrosgans.eecs.berkeley.edu/cyclegan/datasets/maps.zip"
    assert zoo.model_path("horse2zebra") == tmp_path / ".cache" / "cyclegan-studio" / "models" / "horse2zebra.pth"


# --- success and the offline second load --------------------------------------------------------------
def test_model_downloads_once_then_loads_without_a_request(server, tmp_path, monkeypatch):
    body, net = official_pth()
    server.routes[MODEL.format("horse2zebra")] = ("ok", body)
    path = zoo.fetch_model("horse2zebra")
    assert path == tmp_path / "cache" / "models" / "horse2zebra.pth"
    assert path.read_bytes() == body
    assert cache_files(tmp_path) == ["models", "models/horse2zebra.pth", "models/horse2zebra.pth.sha256"]
    import hashlib
    assert (tmp_path / "cache/models/horse2zebra.pth.sha256").read_text() == \
        f"{hashlib.sha256(body).hexdigest()}  horse2zebra.pth\n"
    assert server.requests == [MODEL.format("horse2zebra")]
    # second time: no request at all, even with downloads switched off
    monkeypatch.setenv("CYCLEGAN_OFFLINE", "1")
    model = zoo.load_official_model("horse2zebra")
    assert server.requests == [MODEL.format("horse2zebra")]
    assert model.domains == ("horse", "zebra") and model.directions == ("a2b",)
    assert model.provenance["zoo"] == "official:horse2zebra" and model.provenance["sha256"] == hashlib.sha256(body).hexdigest()
    x = torch.rand(1, 3, 32, 32)
    with torch.no_grad():
        want = ((net(x * 2 - 1) + 1) / 2).clamp(0, 1)
    assert torch.allclose(model.translate_tensor(x, "a2b"), want, atol=2e-5)


def test_progress_is_reported_with_increasing_counts(server):
    body, _ = official_pth()
    server.routes[MODEL.format("zebra2horse")] = ("ok", body)
    seen = []
    zoo.fetch_model("zebra2horse", progress=lambda done, total: seen.append((done, total)))
    counts = [d for d, _ in seen]
    assert len(seen) > 5 and counts[0] == 0 and counts[-1] == len(body)
    assert all(b > a for a, b in zip(counts, counts[1:]))
    assert {t for _, t in seen} == {len(body)}
    # the CLI's tqdm bar through the helper
    from tqdm import tqdm
    server.routes[MODEL.format("monet2photo")] = ("ok", body)
    with tqdm(unit="B", file=io.StringIO()) as bar:
        zoo.fetch_model("monet2photo", progress=zoo.tqdm_progress(bar))
        assert bar.n == bar.total == len(body)


def test_dataset_downloads_unpacks_and_is_then_offline(server, tmp_path):
    server.routes[DATASET.format("horse2zebra")] = ("ok", dataset_zip())
    folder = zoo.fetch_dataset("horse2zebra")
    assert folder == tmp_path / "cache" / "datasets" / "horse2zebra"
    assert sorted(p.name for p in folder.iterdir()) == sorted(zoo.SPLITS)
    assert len(list((folder / "trainA").glob("*.png"))) == 2
    assert cache_files(tmp_path)[:2] == ["datasets", "datasets/horse2zebra"]
    assert not (tmp_path / "cache/datasets/horse2zebra.zip").exists()          # unpacked, then dropped
    assert (tmp_path / "cache/datasets/horse2zebra.zip.sha256").is_file()
    assert not [p for p in cache_files(tmp_path) if ".part" in p]
    assert zoo.fetch_dataset("horse2zebra") == folder
    assert zoo.dataset_from_spec("official:horse2zebra") == folder and zoo.dataset_from_spec("my/folder") is None
    assert server.requests == [DATASET.format("horse2zebra")]


def test_dataset_zip_that_is_not_a_dataset(server, tmp_path):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("readme.txt", "hello")
    server.routes[DATASET.format("facades")] = ("ok", buf.getvalue())
    msg = message(zoo.fetch_dataset, "facades")
    assert "holds no trainA" in msg and "readme.txt" in msg and "delete it" in msg
    assert not (tmp_path / "cache/datasets/facades").exists()
    assert not [p for p in cache_files(tmp_path) if ".part" in p]
    server.routes[DATASET.format("apple2orange")] = ("ok", b"<html>not a zip</html>")
    msg = message(zoo.fetch_dataset, "apple2orange")
    assert "not a valid zip" in msg and "apple2orange.zip" in msg


# --- refusals before any request -------------------------------------------------------------------
def test_unknown_names_are_refused_before_any_request(server):
    msg = message(zoo.fetch_model, "horse2zebraa")
    assert "unknown official CycleGAN model 'horse2zebraa'" in msg and "did you mean 'horse2zebra'" in msg
    assert "style_vangogh" in msg and "iphone2dslr_flower" in msg
    assert "unknown official CycleGAN dataset" in message(zoo.fetch_dataset, "../etc")
    assert "cityscapes-dataset.com" in message(zoo.fetch_dataset, "cityscapes")
    assert server.requests == []


@pytest.mark.parametrize("var", ["CYCLEGAN_OFFLINE", "HF_HUB_OFFLINE"])
def test_offline_mode_names_the_url_and_the_place_for_the_file(server, tmp_path, monkeypatch, var):
    monkeypatch.setenv(var, "1")
    msg = message(zoo.fetch_model, "style_monet")
    assert f"{var} is set" in msg
    assert f"{server.url}/cyclegan/pretrained_models/style_monet.pth" in msg
    assert str(tmp_path / "cache" / "models" / "style_monet.pth") in msg
    assert server.requests == []
    # and a file put there by hand then loads, recorded on first use
    body, _ = official_pth()
    (tmp_path / "cache" / "models").mkdir(parents=True, exist_ok=True)
    (tmp_path / "cache" / "models" / "style_monet.pth").write_bytes(body)
    assert zoo.load_official_model("style_monet").domains == ("photo", "monet")
    assert (tmp_path / "cache" / "models" / "style_monet.pth.sha256").is_file()
    assert server.requests == []


def test_no_network(monkeypatch, tmp_path):
    monkeypatch.setenv("CYCLEGAN_CACHE", str(tmp_path / "cache"))
    for var in ("CYCLEGAN_OFFLINE", "HF_HUB_OFFLINE", "http_proxy", "HTTP_PROXY"):
        monkeypatch.delenv(var, raising=False)
    with socket.socket() as s:          # a port nobody listens on: connection refused
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    monkeypatch.setenv("CYCLEGAN_ZOO_URL", f"http://127.0.0.1:{port}")
    msg = message(zoo.fetch_model, "sat2map")
    assert f"http://127.0.0.1:{port}/cyclegan/pretrained_models/sat2map.pth" in msg
    assert "cannot be reached" in msg and str(tmp_path / "cache" / "models" / "sat2map.pth") in msg
    # a name that does not resolve (faked: tests never ask a real DNS server)
    def no_dns(*a, **k):
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
    monkeypatch.setattr(socket, "getaddrinfo", no_dns)
    monkeypatch.setenv("CYCLEGAN_ZOO_URL", "http://zoo.example")
    msg = message(zoo.fetch_model, "sat2map")
    assert "cannot be resolved" in msg and "http://zoo.example/cyclegan/pretrained_models/sat2map.pth" in msg
    assert cache_files(tmp_path) in ([], ["models"])


# --- faults during a download: nothing left behind, the next try works ------------------------------
def assert_nothing_kept(tmp_path):
    assert [p for p in cache_files(tmp_path) if p != "models"] == []


def test_404_names_the_model(server, tmp_path):
    msg = message(zoo.fetch_model, "orange2apple")
    assert "'orange2apple' is not on the server (HTTP 404" in msg
    assert f"{server.url}/cyclegan/pretrained_models/orange2apple.pth" in msg and "CYCLEGAN_ZOO_URL" in msg
    assert_nothing_kept(tmp_path)


def test_truncated_download_leaves_nothing_and_the_next_try_works(server, tmp_path):
    body, _ = official_pth()
    route = MODEL.format("apple2orange")
    server.routes[route] = ("truncate", body)
    msg = message(zoo.fetch_model, "apple2orange")
    assert "truncated" in msg or "broke off" in msg
    assert_nothing_kept(tmp_path)
    server.routes[route] = ("ok", body)
    assert zoo.fetch_model("apple2orange").read_bytes() == body


@pytest.mark.parametrize("stall", ["stall_headers", "stall_body"])
def test_stalled_server_times_out(server, tmp_path, monkeypatch, stall):
    body, _ = official_pth()
    server.routes[MODEL.format("map2sat")] = (stall, body)
    monkeypatch.setenv("CYCLEGAN_ZOO_TIMEOUT", "0.3")
    t = time.monotonic()
    msg = message(zoo.fetch_model, "map2sat")
    assert time.monotonic() - t < 1.5
    assert "0.3 s" in msg and "CYCLEGAN_ZOO_TIMEOUT" in msg
    assert_nothing_kept(tmp_path)
    server.routes[MODEL.format("map2sat")] = ("ok", body)
    assert zoo.fetch_model("map2sat").read_bytes() == body


@pytest.mark.parametrize("how", ["event", "callable"])
def test_cancelled_download_leaves_nothing_and_the_next_try_works(server, tmp_path, how):
    body, _ = official_pth()
    server.routes[MODEL.format("style_ukiyoe")] = ("ok", body)
    stop = threading.Event()
    seen = []

    def progress(done, total):
        seen.append(done)
        if done > 0:
            stop.set()          # as a UI's Stop button would, mid-download
    cancel = stop if how == "event" else stop.is_set
    with pytest.raises(zoo.DownloadCancelled, match="cancelled"):
        zoo.fetch_model("style_ukiyoe", progress=progress, cancel=cancel)
    assert 0 < max(seen) < len(body)
    assert_nothing_kept(tmp_path)
    assert zoo.fetch_model("style_ukiyoe").read_bytes() == body


@pytest.mark.parametrize("how", ["ok", "no_length"])
def test_size_cap(server, tmp_path, monkeypatch, how):
    body, _ = official_pth()
    assert len(body) > 100_000
    server.routes[MODEL.format("style_cezanne")] = (how, body)
    monkeypatch.setenv("CYCLEGAN_ZOO_MAX_MODEL_MB", "0.1")
    msg = message(zoo.fetch_model, "style_cezanne")
    assert "over the download limit of 0.1 MB" in msg and "CYCLEGAN_ZOO_MAX_MODEL_MB" in msg
    assert_nothing_kept(tmp_path)
    monkeypatch.delenv("CYCLEGAN_ZOO_MAX_MODEL_MB")
    assert zoo.fetch_model("style_cezanne").read_bytes() == body     # no Content-Length: read to the end


def test_damaged_cache_is_reported_not_used(server, tmp_path):
    body, _ = official_pth()
    server.routes[MODEL.format("facades_label2photo")] = ("ok", body)
    path = zoo.fetch_model("facades_label2photo")
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    msg = message(zoo.fetch_model, "facades_label2photo")
    assert str(path) in msg and "sha256" in msg and "delete it" in msg
    assert len(server.requests) == 1
    os.unlink(path)
    assert zoo.fetch_model("facades_label2photo").read_bytes() == body    # downloads again
    assert len(server.requests) == 2


@pytest.mark.parametrize("var,value", [("CYCLEGAN_ZOO_TIMEOUT", "soon"), ("CYCLEGAN_ZOO_TIMEOUT", "-1"),
                                       ("CYCLEGAN_ZOO_MAX_MODEL_MB", "0"), ("CYCLEGAN_ZOO_URL", "ftp://mirror")])
def test_bad_settings(server, monkeypatch, var, value):
    monkeypatch.setenv(var, value)
    assert var in message(zoo.fetch_model, "horse2zebra")
    assert server.requests == []


def test_part_files_a_killed_process_left_are_cleared(server, tmp_path):
    body, _ = official_pth()
    server.routes[MODEL.format("winter2summer_yosemite")] = ("ok", body)
    models = tmp_path / "cache" / "models"
    models.mkdir(parents=True)
    stale, live = models / ".winter2summer_yosemite.pth.abc.part", models / ".winter2summer_yosemite.pth.def.part"
    stale.write_bytes(b"half")
    live.write_bytes(b"half")
    os.utime(stale, (time.time() - 3600, time.time() - 3600))
    zoo.fetch_model("winter2summer_yosemite")
    assert not stale.exists() and live.exists()      # another download may still be writing that one
