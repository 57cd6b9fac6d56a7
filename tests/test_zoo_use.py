"""The zoo where people meet it, against the loopback server of test_zoo.py (nothing leaves the
machine): `load_model("official:NAME")`, `python -m cyclegan translate --model official:NAME`,
`python -m train --data official:NAME` and `--init official:NAME`, and the Translate tab's zoo
box through gradio_client: success, a slow server, 404, a truncated download, cancel, offline."""
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import torch
from PIL import Image

import cyclegan
from cyclegan import UserInputError, cli, zoo
from test_zoo import DATASET, MODEL, assert_nothing_kept, cache_files, dataset_zip, official_pth, server  # noqa: F401
from train import cli as train_cli

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture
def photo(tmp_path) -> Path:
    p = tmp_path / "photo.jpg"
    Image.new("RGB", (40, 28), (200, 120, 40)).save(p)
    return p


def run_cli(main, argv, capsys) -> tuple[int, str, str]:
    rc = main(argv)
    out = capsys.readouterr()
    return rc, out.out, out.err


# --- the library and the command lines -----------------------------------------------------------------
def test_load_model_official_downloads_once(server, tmp_path, monkeypatch):
    body, net = official_pth()
    server.routes[MODEL.format("horse2zebra")] = ("ok", body)
    model = cyclegan.load_model("official:horse2zebra")
    assert model.domains == ("horse", "zebra") and model.directions == ("a2b",)
    monkeypatch.setenv("CYCLEGAN_OFFLINE", "1")                 # the second load needs no network
    again = cyclegan.load_model("Official:horse2zebra")
    x = torch.rand(1, 3, 24, 32)
    assert torch.equal(again.translate_tensor(x, "a2b"), model.translate_tensor(x, "a2b"))
    assert server.requests == [MODEL.format("horse2zebra")]


def test_cli_translate_with_an_official_model(server, tmp_path, photo, capsys):
    body, _ = official_pth()
    server.routes[MODEL.format("horse2zebra")] = ("slow", body)        # a slow server still gets there
    out = tmp_path / "z.jpg"
    rc, stdout, err = run_cli(cli.main, ["translate", "--model", "official:horse2zebra", str(photo), "-o", str(out)],
                              capsys)
    assert rc == 0, err
    assert stdout.strip() == str(out) and Image.open(out).size == (40, 28)


@pytest.mark.parametrize("fault", ["offline", "404", "truncate", "refused"])
def test_cli_translate_faults_are_one_error_line_and_exit_2(server, tmp_path, photo, capsys, monkeypatch, fault):
    body, _ = official_pth()
    route = MODEL.format("horse2zebra")
    if fault == "offline":
        monkeypatch.setenv("CYCLEGAN_OFFLINE", "1")
    elif fault == "truncate":
        server.routes[route] = ("truncate", body)
    elif fault == "refused":
        monkeypatch.setenv("CYCLEGAN_ZOO_URL", "http://127.0.0.1:9")       # discard port: nobody listens
    rc, stdout, err = run_cli(cli.main, ["translate", "--model", "official:horse2zebra", str(photo), "-o",
                                         str(tmp_path / "z.jpg")], capsys)
    assert rc == 2 and stdout == ""
    assert err.count("\n") == 1 and err.startswith("error: ")
    expect = {"offline": "CYCLEGAN_OFFLINE is set", "404": "HTTP 404", "truncate": "truncated",
              "refused": "cannot be reached"}[fault]
    assert expect in err, err
    if fault in ("offline", "refused"):
        assert str(tmp_path / "cache" / "models" / "horse2zebra.pth") in err      # where to put it by hand
    assert_nothing_kept(tmp_path)
    assert not (tmp_path / "z.jpg").exists()


@pytest.mark.slow
def test_cli_translate_offline_as_a_process(tmp_path, photo):
    """The exact command line, as a new process with no network to reach: one line, status 2."""
    env = {"PATH": "/usr/bin:/bin", "CYCLEGAN_CACHE": str(tmp_path / "cache"), "CYCLEGAN_OFFLINE": "1",
           "PYTHONPATH": str(ROOT), "HOME": str(tmp_path)}
    p = subprocess.run([sys.executable, "-m", "cyclegan", "translate", "--model", "official:horse2zebra", str(photo),
                        "-o", str(tmp_path / "z.jpg")], env=env, cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert p.returncode == 2 and p.stdout == ""
    assert p.stderr.count("\n") == 1 and p.stderr.startswith("error: cannot download the official CycleGAN model")


def test_train_on_an_official_dataset(server, tmp_path, capsys):
    server.routes[DATASET.format("mini")] = ("ok", dataset_zip("mini"))
    out = tmp_path / "run"
    rc, stdout, err = run_cli(train_cli.main, ["--data", "official:mini", "--scale", "quick", "--size", "32",
                                               "--steps", "2", "--threads", "1", "--out", str(out)], capsys)
    assert rc == 0, err
    assert "finished at step 2" in stdout
    assert (tmp_path / "cache" / "datasets" / "mini" / "trainA").is_dir()
    assert cyclegan.load_model(str(out / "latest")).provenance["data"] == "official:mini"
    rc, _, err = run_cli(train_cli.main, ["--data", "official:horse2zebra", "--steps", "2", "--out",
                                          str(tmp_path / "run2")], capsys)
    assert rc == 2 and err.startswith("error: ") and "HTTP 404" in err


def test_train_download_is_cancelled_by_the_run_stop(server, tmp_path):
    """In the app a run downloads its data before training; Stop cancels the download."""
    from train import TrainConfig
    from train.run import Run
    server.routes[DATASET.format("facades")] = ("slow", dataset_zip("facades") + bytes(2_000_000))
    run = Run(TrainConfig(data="official:facades", scale="quick", size=32, steps=2, threads=1,
                          out=str(tmp_path / "run"))).start()
    deadline = time.time() + 30
    while not any("downloading" in line for line in run.snapshot()["log"]) and time.time() < deadline:
        time.sleep(0.05)
    run.stop()
    run.join(30)
    snap = run.snapshot()
    assert snap["state"] == "stopped" and snap["error"] is None, snap
    assert any("nothing of the download was kept" in line for line in snap["log"])
    assert not (tmp_path / "cache" / "datasets" / "facades").exists()
    assert not [p for p in cache_files(tmp_path) if ".part" in p or p.endswith(".zip")]


def test_init_from_an_official_model(server, tmp_path):
    from train import TrainConfig
    from train.trainer import Trainer
    body, net = official_pth()
    server.routes[MODEL.format("style_monet")] = ("ok", body)
    cfg = TrainConfig(data="demo:daynight", init="official:style_monet", scale="quick", size=32, steps=1,
                      threads=1, out=str(tmp_path / "run"))
    t = Trainer(cfg)
    assert t.preset.generator.kwargs["ngf"] == 4 and t.preset.generator.kwargs["n_blocks"] == 9
    want = net.state_dict()
    got = t.model.G_AB.state_dict()
    assert all(torch.equal(got[k], want[k]) for k in want)


# --- the app's zoo box through gradio_client ---------------------------------------------------------
def test_app_loads_an_official_model_with_progress(server, client, tmp_path, photo):
    from gradio_client import handle_file
    body, _ = official_pth()
    server.routes[MODEL.format("zebra2horse")] = ("slow", body)
    job = client.submit("zebra2horse", api_name="/load_official")
    seen = []
    while not job.done():
        units = job.status().progress_data or []
        seen += [(u.index, u.length, u.unit) for u in units if u.unit == "bytes"]
        time.sleep(0.02)
    arch, spec, msg = job.result(timeout=60)
    assert (arch, spec) == ("cyclegan", "official:zebra2horse")
    assert "downloaded from" in msg and "zebra → horse" in msg
    assert seen and {length for _, length, _ in seen} == {len(body)}          # the page's progress bar, in bytes
    assert max(done for done, _, _ in seen) > 0
    out, trip, text = client.predict(handle_file(str(photo)), spec, "a2b", None, api_name="/translate")
    assert Image.open(out).size == (40, 28) and trip is None and "zebra → horse" in text
    _, _, msg = client.predict("official:zebra2horse", api_name="/load_official")
    assert "from the cache" in msg and server.requests == [MODEL.format("zebra2horse")]


@pytest.mark.parametrize("fault", ["404", "truncate", "unknown"])
def test_app_zoo_faults(server, client, tmp_path, fault):
    body, _ = official_pth()
    if fault == "truncate":
        server.routes[MODEL.format("apple2orange")] = ("truncate", body)
    name = "apple2orang" if fault == "unknown" else "apple2orange"
    with pytest.raises(Exception, match={"404": "HTTP 404", "truncate": "truncated",
                                         "unknown": "did you mean 'apple2orange'"}[fault]):
        client.predict(name, api_name="/load_official")
    assert_nothing_kept(tmp_path)
    if fault == "unknown":
        assert server.requests == []


def test_app_zoo_download_can_be_cancelled_and_the_next_try_works(server, client, tmp_path):
    body, _ = official_pth()
    route = MODEL.format("style_vangogh")
    server.routes[route] = ("slow", body + bytes(2_000_000))      # 2.2 MB at 8 KB / 20 ms: about 5 s
    job = client.submit("style_vangogh", api_name="/load_official")
    deadline = time.time() + 20
    while route not in server.requests and time.time() < deadline:
        time.sleep(0.01)
    msg = client.predict(api_name="/cancel_download")
    assert msg.startswith("Cancelling")
    with pytest.raises(Exception, match="cancelled; nothing was kept"):
        job.result(timeout=30)
    assert_nothing_kept(tmp_path)
    assert client.predict(api_name="/cancel_download") == "No download in progress."
    server.routes[route] = ("ok", body)
    arch, spec, _ = client.predict("style_vangogh", api_name="/load_official")
    assert spec == "official:style_vangogh" and zoo.fetch_model("style_vangogh").read_bytes() == body


def test_app_trains_on_an_official_dataset_and_from_an_official_model(server, client, tmp_path):
    from hostile_inputs import stop_any_run, wait_status
    body, _ = official_pth()
    server.routes[MODEL.format("map2sat")] = ("ok", body)
    server.routes[DATASET.format("maps")] = ("ok", dataset_zip("maps"))
    stop_any_run()
    client.predict("official:maps", "cyclegan", "quick", 32, 2, None, None, None, "official:map2sat", api_name="/train_start")
    status, _ = wait_status(client, lambda s, _: s["state"] in ("finished", "error"), timeout=120)
    assert status["state"] == "finished", status
    from ui import state
    model = state.MODELS.get(status["model"])             # run:NAME, as a visitor names it
    assert model.provenance["data"] == "official:maps" and model.provenance["init"] == "official:map2sat"
    assert model.preset.generator.kwargs["ngf"] == 4        # the official file's net, not the quick scale's


def test_on_a_space_the_zoo_keeps_the_limits(server, client, tmp_path, monkeypatch):
    """A visitor on a Space reaches the zoo (public files) only within its caps: the model cap
    holds through the app's zoo box and its Start from, and an official dataset's default cap
    is a Hub dataset's (1000 MB) there; a zoo name never opens a server path."""
    from hostile_inputs import stop_any_run
    from ui import state
    body, _ = official_pth()
    server.routes[MODEL.format("summer2winter_yosemite")] = ("ok", body)
    monkeypatch.setenv("SPACE_ID", "someone/studio")
    assert zoo.settings().max_dataset_bytes == 1_000_000_000 and zoo.settings().max_model_bytes == 200_000_000
    monkeypatch.setenv("CYCLEGAN_ZOO_MAX_MODEL_MB", "0.05")
    with pytest.raises(Exception, match=r"over the download limit of 0\.\d+ MB"):
        client.predict("summer2winter_yosemite", api_name="/load_official")
    assert_nothing_kept(tmp_path)
    stop_any_run()
    with pytest.raises(Exception, match="unknown official CycleGAN model"):   # checked before the run starts
        client.predict("demo:daynight", "cyclegan", "quick", 32, 2, None, None, None, "official:../../etc/passwd",
                       api_name="/train_start")
    with pytest.raises(UserInputError, match="unknown official CycleGAN model"):
        state.MODELS.resolve("official:/etc/passwd")
    monkeypatch.delenv("CYCLEGAN_ZOO_MAX_MODEL_MB")
    arch, spec, msg = client.predict("summer2winter_yosemite", api_name="/load_official")
    assert spec == "official:summer2winter_yosemite" and "downloaded" in msg
