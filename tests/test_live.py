"""The Live tab through the app's own endpoints: the webcam stream (/live_frame, driven with
synthetic frames over gradio's streaming protocol: join the queue once, push each next frame to
/stream/<event>, read the translated frames from the event stream, close), and a video file
through gradio_client (/translate_video)."""
import json
import os
import re
import time
import uuid
from pathlib import Path

import httpx
import numpy as np
import pytest
from gradio_client import handle_file
from PIL import Image

import cyclegan

av = pytest.importorskip("av")
from cyclegan.video import translate_frames  # noqa: E402
from test_video import frames_of, make_clip  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


class Stream:
    """gradio_client cannot drive a streaming event (it stops at the server's 'process_streaming'
    message), so this speaks the protocol the browser's webcam uses, over plain HTTP."""

    def __init__(self, url: str, api_name: str):
        self.api = url + "gradio_api"
        cfg = httpx.get(url + "config").json()
        self.dep = next(d for d in cfg["dependencies"] if d.get("api_name") == api_name)
        self.types = [next(c["type"] for c in cfg["components"] if c["id"] == i) for i in self.dep["inputs"]]
        self.session = uuid.uuid4().hex[:12]

    def _upload(self, img: Image.Image, tmp: Path) -> dict:
        path = tmp / f"frame-{uuid.uuid4().hex[:6]}.png"
        img.save(path)
        with open(path, "rb") as f:
            server_path = httpx.post(self.api + "/upload", files={"files": (path.name, f, "image/png")}).json()[0]
        return {"path": server_path, "orig_name": path.name, "meta": {"_type": "gradio.FileData"}}

    def _body(self, frame: dict, values: dict) -> dict:
        values = {k: list(v) if isinstance(v, (list, tuple)) else [v] for k, v in values.items()}
        data = [frame if t == "image" else None if t == "state" else values[t].pop(0) for t in self.types]
        return {"data": data, "fn_index": self.dep["id"], "session_hash": self.session, "event_data": None,
                "trigger_id": self.dep["targets"][0][0]}

    def run(self, frames: list[Image.Image], values: dict, tmp: Path) -> list[tuple[float, list]]:
        """Send the frames one at a time, each after the previous one's result (as the browser
        does at its stream_every pace, minus the wait); returns (arrival time, outputs) per frame."""
        join = httpx.post(self.api + "/queue/join", json=self._body(self._upload(frames[0], tmp), values)).json()
        event, sent, results = join["event_id"], 1, []
        with httpx.stream("GET", self.api + "/queue/data", params={"session_hash": self.session}, timeout=120) as r:
            for line in r.iter_lines():
                if not line.startswith("data:"):
                    continue
                msg = json.loads(line[5:])
                if msg["msg"] in ("process_streaming", "process_completed") and not msg["success"]:
                    raise RuntimeError(str((msg.get("output") or {}).get("error")))
                if msg["msg"] == "process_streaming":
                    results.append((time.perf_counter(), msg["output"]["data"]))
                    if sent < len(frames):
                        httpx.post(self.api + f"/stream/{event}", json=self._body(self._upload(frames[sent], tmp), values))
                        sent += 1
                    else:
                        httpx.post(self.api + f"/stream/{event}/close")
                elif msg["msg"] == "process_completed":
                    break
        return results


def synthetic_frames(n: int, size=(320, 240)) -> list[Image.Image]:
    """A day scene from the demo world, panned a little each frame: like a camera moving."""
    from cyclegan import demo
    scene = demo.render("daynight", demo.test_seeds("daynight", 1)[0], "A", 2 * size[1])
    return [scene.crop((4 * i, 40, 4 * i + size[0], 40 + size[1])) for i in range(n)]


def test_webcam_stream_translates_each_frame(app_server, tmp_path, artifacts_dir):
    frames = synthetic_frames(16)
    results = Stream(app_server[0], "live_frame").run(
        frames, {"dropdown": ["demo:cyclegan", "auto"], "radio": "a2b"}, tmp_path)
    assert len(results) == len(frames)
    model = cyclegan.load_model("demo:cyclegan")
    for (_, out), frame in zip(results[:1], frames):
        got = np.asarray(Image.open(out[0]["path"]).convert("RGB"), np.float32)
        assert got.shape == (128, 171, 3)                          # automatic size starts at 128 px
        want = translate_frames(model, [np.asarray(frame)], "a2b", 128, scale_back=False)[0]
        assert np.abs(got - want).mean() < 8                       # the model's translation (JPEG on the way)
        assert np.abs(got - np.asarray(frame.resize((171, 128)), np.float32)).mean() > 20   # not the input
    lines = [out[1] for _, out in results]
    assert lines[0].startswith("**starting**")
    assert re.match(r"\*\*\d+\.\d frames/s\*\* · net at \d+×\d+ \(auto\) · \d+ ms per frame · 16 frames", lines[-1])
    gaps = np.diff([t for t, _ in results[4:]])
    fps = 1 / float(np.median(gaps))
    sizes = [Image.open(out[0]["path"]).size for _, out in results]
    (artifacts_dir / "live_timings.json").write_text(json.dumps(
        {"frames": len(results), "frame_size": frames[0].size, "net_sizes": sizes, "fps_through_http": round(fps, 2),
         "server_line": lines[-1], "load_avg_1m": os.getloadavg()[0]}, indent=2))
    print("webcam stream:", lines[-1], f"({fps:.1f} frames/s end to end over HTTP)")


def test_webcam_fixed_size_and_bad_model(app_server, tmp_path):
    frames = synthetic_frames(3)
    results = Stream(app_server[0], "live_frame").run(
        frames, {"dropdown": ["demo:dualgan", "64"], "radio": "b2a"}, tmp_path)
    assert [Image.open(out[0]["path"]).size for _, out in results] == [(85, 64)] * 3
    assert "net at 85×64 ·" in results[-1][1][1] and "(auto)" not in results[-1][1][1]
    with pytest.raises(RuntimeError, match="no built-in model 'demo:nope'"):
        Stream(app_server[0], "live_frame").run(frames[:1], {"dropdown": ["demo:nope", "auto"], "radio": "a2b"},
                                                tmp_path)


def test_video_through_the_app(client, tmp_path):
    src = make_clip(tmp_path / "clip.mp4", n=10, size=(96, 64), fps=12)
    out, msg = client.predict(handle_file(str(src)), "demo:cyclegan", "b2a", "auto", api_name="/translate_video")
    assert Path(out).name == "translated-b2a.mp4"
    got = frames_of(out)
    assert len(got) == 10 and got[0].shape == (64, 96, 3)
    with av.open(out) as box:
        assert float(box.streams.video[0].average_rate) == 12.0 and box.streams.audio
    assert re.search(r"Translated \*\*10 frames\*\* \(96×64, 12 frames/s, 0.8 s\) night → day: \*\*\d\.\d{3} s per frame\*\*",
                     msg), msg
    assert "Audio: kept (aac" in msg
    notes = tmp_path / "notes.mp4"
    notes.write_text("not a video")
    with pytest.raises(Exception, match="'notes.mp4' is not a video FFmpeg can read"):
        client.predict(handle_file(str(notes)), "demo:cyclegan", "a2b", "auto", api_name="/translate_video")


@pytest.fixture
def artifacts_dir() -> Path:
    out = Path(os.environ.get("ARTIFACTS_DIR") or ROOT / "artifacts")
    out.mkdir(parents=True, exist_ok=True)
    return out
