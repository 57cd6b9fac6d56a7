"""`python -m bench video`: seconds per frame of a video file translated end to end (decode,
net, encode) on a synthetic clip (a demo scene panning, H.264), and the webcam path's net time
per frame at a few processing sizes (one frame at a time, as the Live tab runs it), which bounds
the frames per second a stream can reach on this machine."""
from __future__ import annotations

import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from cyclegan import demo
from cyclegan.video import translate_frames, translate_video

from .timing import environment, set_threads
from .translate_bench import open_model


def make_clip(path: Path, width: int, height: int, seconds: float, fps: int) -> Path:
    import av
    scene = demo.render("daynight", demo.test_seeds("daynight", 1)[0], "A", 2 * max(width, height))
    n = max(1, round(seconds * fps))
    with av.open(str(path), "w") as box:
        s = box.add_stream("libx264", rate=fps)
        s.width, s.height, s.pix_fmt = width, height, "yuv420p"
        for i in range(n):
            x = int(i * (scene.width - width) / max(1, n - 1))
            frame = np.asarray(scene.crop((x, scene.height - height, x + width, scene.height)))
            for p in s.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")):
                box.mux(p)
        for p in s.encode(None):
            box.mux(p)
    return path


def run(args) -> dict:
    set_threads(args.threads)
    model = open_model(args.model, args.recipe, args.scale, None, args.seed).eval()
    w, h = (int(v) for v in args.frame.lower().split("x"))
    with tempfile.TemporaryDirectory(prefix="cyclegan-video-bench-") as tmp:
        clip = make_clip(Path(tmp) / "clip.mp4", w, h, args.seconds, args.fps)
        video = translate_video(model, clip, Path(tmp) / "out.mp4", args.direction, args.work_size)
    frame = np.asarray(demo.render("daynight", 7, "A", max(w, h)).resize((w, h)))
    live = {}
    for side in args.live_sizes:
        translate_frames(model, [frame], args.direction, side, scale_back=False)     # warm-up
        times = []
        for _ in range(args.n):
            t = time.perf_counter()
            translate_frames(model, [frame], args.direction, side, scale_back=False)
            times.append(time.perf_counter() - t)
        med = statistics.median(times)
        live[str(side)] = {"net_s_per_frame": round(med, 4), "max_fps": round(1 / med, 1)}
    return {"bench": "video", "model": args.model, "threads": torch.get_num_threads(), "frame": [w, h],
            "video": {k: video[k] for k in ("frames", "fps", "work_size", "wall_s", "seconds_per_frame",
                                            "net_seconds_per_frame")},
            "webcam_net_by_size": live, "environment": environment(torch.device("cpu"))}
