"""Video files: a short synthetic clip round-trips with the same frame count, frame size and frame
rate, its audio copied; frames are the model's translations; limits and bad files are one-line
errors. (The app's /translate_video and the webcam stream are in test_live.py.)"""
import json
from fractions import Fraction

import numpy as np
import pytest

import cyclegan
from cyclegan import UserInputError
from cyclegan.cli import main as cli

av = pytest.importorskip("av")
from cyclegan.video import probe, translate_frames, translate_video  # noqa: E402


def make_clip(path, n=12, size=(64, 48), fps=10, audio=True):
    """n frames of a yellow square moving over a red ramp, H.264, and a 440 Hz AAC tone."""
    w, h = size
    with av.open(str(path), "w") as box:
        v = box.add_stream("libx264", rate=fps)
        v.width, v.height, v.pix_fmt = w, h, "yuv420p" if w % 2 == 0 and h % 2 == 0 else "yuv444p"
        a = box.add_stream("aac", rate=16000) if audio else None
        if a is not None:
            a.layout = "mono"
        for i in range(n):
            img = np.zeros((h, w, 3), np.uint8)
            img[..., 0] = (60 + 12 * i) % 256
            x = (3 * i) % max(1, w - 12)
            img[8:20, x:x + 12] = (250, 250, 60)
            for p in v.encode(av.VideoFrame.from_ndarray(img, format="rgb24")):
                box.mux(p)
        for p in v.encode(None):
            box.mux(p)
        if a is not None:
            t = np.arange(int(16000 * n / fps)) / 16000
            tone = (0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)[None]
            for k in range(0, tone.shape[1], 1024):
                fr = av.AudioFrame.from_ndarray(np.ascontiguousarray(tone[:, k:k + 1024]), format="fltp", layout="mono")
                fr.sample_rate = 16000
                for p in a.encode(fr):
                    box.mux(p)
            for p in a.encode(None):
                box.mux(p)
    return path


def frames_of(path) -> list[np.ndarray]:
    with av.open(str(path)) as box:
        return [f.to_ndarray(format="rgb24") for f in box.decode(video=0)]


def pts_of(path) -> list[Fraction]:
    with av.open(str(path)) as box:
        return [f.time for f in box.decode(video=0)]


@pytest.fixture(scope="module")
def model():
    return cyclegan.load_model("demo:cyclegan")


def test_clip_round_trips(tmp_path, model, one_thread):
    src = make_clip(tmp_path / "in.mp4")
    result = translate_video(model, src, tmp_path / "out.mp4", "a2b")
    assert (result["frames"], result["width"], result["height"], result["fps"]) == (12, 64, 48, 10.0)
    assert result["audio"] == "kept (aac, copied unchanged)"
    out = probe(tmp_path / "out.mp4")
    assert (out["width"], out["height"], out["fps"], out["codec"], out["audio"]) == (64, 48, 10.0, "h264", "aac")
    assert pts_of(tmp_path / "out.mp4") == pts_of(src)                     # same frames at the same times
    got, inp = frames_of(tmp_path / "out.mp4"), frames_of(src)
    assert len(got) == len(inp) == 12
    want = translate_frames(model, inp[:4], "a2b", model.image_size)
    for g, w, i in zip(got, want, inp):
        assert np.abs(g.astype(float) - w).mean() < 6          # the model's translation, through H.264 (crf 18)
        assert np.abs(g.astype(float) - i).mean() > 30         # and not the input
    with av.open(str(tmp_path / "out.mp4")) as box:
        assert box.streams.audio[0].sample_rate == 16000
        assert float(box.streams.audio[0].duration * box.streams.audio[0].time_base) == pytest.approx(1.2, abs=0.1)


def test_odd_size_and_no_audio(tmp_path, model, one_thread):
    src = make_clip(tmp_path / "odd.mp4", n=5, size=(65, 49), fps=24, audio=False)
    result = translate_video(model, src, tmp_path / "odd-out.mp4", "b2a", work_size=0)
    assert (result["frames"], result["width"], result["height"]) == (5, 65, 49)
    assert result["audio"] == "none in the input" and result["work_size"] == "native"
    assert len(frames_of(tmp_path / "odd-out.mp4")) == 5 and probe(tmp_path / "odd-out.mp4")["fps"] == 24.0


def test_limits_and_bad_files(tmp_path, model, monkeypatch):
    src = make_clip(tmp_path / "in.mp4", audio=False)
    monkeypatch.setenv("CYCLEGAN_MAX_VIDEO_SECONDS", "1")
    with pytest.raises(UserInputError, match=r"'in.mp4' is 1.2 s long, over this server's limit of 1 s "
                                             r"\(CYCLEGAN_MAX_VIDEO_SECONDS\)"):
        translate_video(model, src, tmp_path / "x.mp4")
    monkeypatch.setenv("CYCLEGAN_MAX_VIDEO_SECONDS", "60")
    monkeypatch.setenv("CYCLEGAN_MAX_VIDEO_SIDE", "32")
    with pytest.raises(UserInputError, match=r"'in.mp4' is 64×48, over this server's limit of 32 px a side"):
        translate_video(model, src, tmp_path / "x.mp4")
    assert not (tmp_path / "x.mp4").exists()
    (tmp_path / "notes.mp4").write_text("not a video at all")
    with pytest.raises(UserInputError, match=r"^'notes.mp4' is not a video FFmpeg can read: "):
        translate_video(model, tmp_path / "notes.mp4", tmp_path / "x.mp4")
    with av.open(str(tmp_path / "tone.m4a"), "w") as box:         # sound only
        a = box.add_stream("aac", rate=16000)
        a.layout = "mono"
        fr = av.AudioFrame.from_ndarray(np.zeros((1, 1024), np.float32), format="fltp", layout="mono")
        fr.sample_rate = 16000
        for p in [*a.encode(fr), *a.encode(None)]:
            box.mux(p)
    with pytest.raises(UserInputError, match=r"^'tone.m4a' has no video stream$"):
        translate_video(model, tmp_path / "tone.m4a", tmp_path / "x.mp4")


def test_cli(tmp_path, capsys, one_thread):
    src = make_clip(tmp_path / "in.mp4", n=4, audio=False)
    assert cli(["video", "--model", "demo:dualgan", str(src), "-o", str(tmp_path / "out.mp4"), "--work-size", "32"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["frames"] == 4 and result["work_size"] == 32 and result["seconds_per_frame"] > 0
    assert cli(["video", "--model", "demo:dualgan", str(src), "-o", str(tmp_path / "out.avi")]) == 2
    assert "must end in .mp4" in capsys.readouterr().err
    assert cli(["video", "--model", "demo:dualgan", str(tmp_path / "missing.mp4"), "-o", str(tmp_path / "o.mp4")]) == 2
    assert "file not found" in capsys.readouterr().err


@pytest.mark.slow
def test_bench_video(capsys):
    from bench.__main__ import main as bench
    assert bench(["video", "--model", "demo:discogan", "--frame", "64x48", "--seconds", "0.5", "--fps", "10",
                  "--live-sizes", "32", "64", "--n", "2", "--threads", "1"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["video"]["frames"] == 5 and out["video"]["seconds_per_frame"] > 0
    assert set(out["webcam_net_by_size"]) == {"32", "64"} and out["webcam_net_by_size"]["64"]["max_fps"] > 0
