"""Video files, frame by frame: decode with PyAV (FFmpeg), translate each frame with a model at a
processing size, encode H.264 in MP4 at the input's size, with the input's frame timestamps (so
the same frame count and frame rate, variable rates included). Audio is kept: its packets are
copied unchanged into the output when MP4 can hold the codec, otherwise dropped (and said so).

Frames are translated a few at a time (one batch through the net); the net runs at
`work_size` (short side, default the model's training size) and the result is scaled back to
the frame size, as `CycleModel.translate(work_size=...)` does for images. Length and frame size
are bounded by CYCLEGAN_MAX_VIDEO_SECONDS and CYCLEGAN_MAX_VIDEO_SIDE.
"""
from __future__ import annotations

import time
from fractions import Fraction
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from . import limits
from .errors import UserInputError
from .model import CycleModel, check_direction
from .settings import whole_number

BATCH = 4
INSTALL = "pip install av (or 'cyclegan-studio[video]')"


def _av():
    try:
        import av
    except ImportError:
        raise UserInputError(f"video needs PyAV: {INSTALL}") from None
    return av


def probe(path) -> dict:
    """Frame size, duration, rate and frame count of a video's first video stream, checked against
    the server's limits before any frame is decoded."""
    av = _av()
    name = Path(path).name
    try:
        with av.open(str(path)) as box:
            if not box.streams.video:
                raise UserInputError(f"'{name}' has no video stream")
            s = box.streams.video[0]
            width, height = s.codec_context.width, s.codec_context.height
            rate = s.average_rate or s.guessed_rate
            seconds = float(s.duration * s.time_base) if s.duration else (box.duration or 0) / 1e6
            info = {"width": width, "height": height, "fps": float(rate) if rate else None, "seconds": seconds,
                    "frames": int(s.frames or 0), "codec": s.codec_context.name,
                    "audio": box.streams.audio[0].codec_context.name if box.streams.audio else None}
    except UserInputError:
        raise
    except (av.error.FFmpegError, OSError, ValueError) as e:
        raise UserInputError(f"'{name}' is not a video FFmpeg can read: {_first_line(e)}") from None
    if not width or not height:
        raise UserInputError(f"'{name}' has a video stream without a frame size")
    _check_limits(info, name)
    return info


def _check_limits(info: dict, name: str) -> None:
    lim = limits.current()
    if info["seconds"] > lim.max_video_seconds:
        raise UserInputError(f"'{name}' is {info['seconds']:.1f} s long, over this server's limit of "
                             f"{lim.max_video_seconds} s (CYCLEGAN_MAX_VIDEO_SECONDS)")
    if max(info["width"], info["height"]) > lim.max_video_side:
        raise UserInputError(f"'{name}' is {info['width']}×{info['height']}, over this server's limit of "
                             f"{lim.max_video_side} px a side (CYCLEGAN_MAX_VIDEO_SIDE)")


def _first_line(e: Exception) -> str:
    return str(e).splitlines()[0] if str(e) else type(e).__name__


def _work_shape(h: int, w: int, work_size: int | None) -> tuple[int, int]:
    if not work_size:
        return h, w
    s = work_size / min(h, w)
    return max(1, round(h * s)), max(1, round(w * s))


@torch.inference_mode()
def translate_frames(model: CycleModel, frames: list[np.ndarray], direction: str,
                     work_size: int | None, scale_back: bool = True) -> list[np.ndarray]:
    """RGB uint8 [H, W, 3] frames of one size -> their translations, at the frames' size (or,
    without `scale_back`, at the size the net ran at: a live view lets the browser scale)."""
    x = torch.from_numpy(np.stack(frames)).permute(0, 3, 1, 2).float().div_(255)
    h, w = x.shape[-2:]
    wh, ww = _work_shape(h, w, work_size)
    if (wh, ww) != (h, w):
        x = F.interpolate(x, size=(wh, ww), mode="bilinear", antialias=True, align_corners=False)
    y = model.translate_tensor(x, direction)
    if (wh, ww) != (h, w) and scale_back:
        y = F.interpolate(y, size=(h, w), mode="bicubic", align_corners=False)
    y = y.clamp_(0, 1).mul_(255).round_().to(torch.uint8).permute(0, 2, 3, 1).contiguous().numpy()
    return list(y)


def translate_video(model: CycleModel, src, dst, direction: str = "a2b", work_size: int | None = None,
                    progress=None) -> dict:
    """Translate the video `src` into the MP4 `dst` (see the module docstring). `work_size`:
    the short side the net runs at (None: the model's training size; 0: the frame's own).
    `progress(done, total)` is called after each batch. Returns what was done and how fast."""
    av = _av()
    direction = check_direction(direction)
    model.generator(direction)
    work = model.image_size if work_size is None else whole_number(work_size, "work_size (pixels)", 0)
    info = probe(src)
    name = Path(src).name
    lim = limits.current()
    t0 = time.perf_counter()
    frames_done, net_s = 0, 0.0
    audio_note = "none in the input"
    dst = Path(dst)
    dst.parent.mkdir(parents=True, exist_ok=True)
    try:
        with av.open(str(src)) as inp, av.open(str(dst), "w", format="mp4") as out:
            vin = inp.streams.video[0]
            vin.thread_type = "AUTO"
            rate = vin.average_rate or vin.guessed_rate or Fraction(25)
            vout = out.add_stream("libx264", rate=rate)
            vout.width, vout.height = info["width"], info["height"]
            # 4:2:0 (what every player takes) needs even sides; odd ones keep full chroma.
            vout.pix_fmt = "yuv420p" if info["width"] % 2 == 0 and info["height"] % 2 == 0 else "yuv444p"
            vout.time_base = vin.time_base
            vout.options = {"crf": "18", "preset": "veryfast"}
            ain = aout = None
            if inp.streams.audio:
                ain = inp.streams.audio[0]
                try:
                    aout = out.add_stream_from_template(ain)
                    audio_note = f"kept ({ain.codec_context.name}, copied unchanged)"
                except (av.error.FFmpegError, ValueError) as e:
                    ain = None
                    audio_note = f"dropped (MP4 cannot hold {inp.streams.audio[0].codec_context.name}: {_first_line(e)})"
            pending: list = []

            def flush():
                nonlocal frames_done, net_s
                t = time.perf_counter()
                outs = translate_frames(model, [f.to_ndarray(format="rgb24") for f in pending], direction, work)
                net_s += time.perf_counter() - t
                for src_frame, arr in zip(pending, outs):
                    frame = av.VideoFrame.from_ndarray(arr, format="rgb24")
                    frame.pts, frame.time_base = src_frame.pts, src_frame.time_base
                    out.mux(vout.encode(frame))
                frames_done += len(pending)
                pending.clear()
                if progress:
                    progress(frames_done, info["frames"] or None)

            streams = [vin] + ([ain] if ain is not None else [])
            for packet in inp.demux(*streams):
                if packet.stream is ain:
                    if packet.dts is not None:
                        packet.stream = aout
                        out.mux(packet)
                    continue
                for frame in packet.decode():
                    if frame.time is not None and frame.time > lim.max_video_seconds + 1:
                        raise UserInputError(f"'{name}' runs past this server's limit of {lim.max_video_seconds} s "
                                             "(CYCLEGAN_MAX_VIDEO_SECONDS), whatever its header says")
                    pending.append(frame)
                    if len(pending) == BATCH:
                        flush()
            if pending:
                flush()
            out.mux(vout.encode(None))
    except UserInputError:
        dst.unlink(missing_ok=True)
        raise
    except (av.error.FFmpegError, OSError, ValueError) as e:
        dst.unlink(missing_ok=True)
        raise UserInputError(f"could not translate '{name}': {_first_line(e)}") from None
    if frames_done == 0:
        dst.unlink(missing_ok=True)
        raise UserInputError(f"'{name}' has no frames to translate")
    total = time.perf_counter() - t0
    return {"output": str(dst), "frames": frames_done, "width": info["width"], "height": info["height"],
            "fps": info["fps"], "seconds": round(info["seconds"], 3), "audio": audio_note,
            "work_size": work or "native", "wall_s": round(total, 3), "seconds_per_frame": round(total / frames_done, 4),
            "net_seconds_per_frame": round(net_s / frames_done, 4)}
