"""The Live tab: the webcam translated as it streams, and video files translated frame by frame.

The webcam view keeps up by itself: with the processing size left empty, each visitor's stream
starts the net at 128 px and moves the size down (to 64) when a frame takes longer than the
frame budget, and up (to 512) when frames come back well inside it; the frames per second and
the size in use are shown under the picture."""
import time

import gradio as gr

from cyclegan import UserInputError, limits
from cyclegan.model import check_direction
from cyclegan.video import translate_frames, translate_video

from . import forms, state
from .errors import friendly
from .files import output_path
from .translate_tab import GENERIC_DIRECTIONS, select_model
from .widgets import any_model

PRIVATE = dict(api_visibility="private")
STREAM_EVERY = 0.1              # seconds between frames the browser sends
BUDGET = 0.08                   # net seconds per frame the automatic size aims under
AUTO_START, AUTO_MIN, AUTO_MAX = 128, 64, 512
# A stream holds its queue slot from Record to Stop, so one slot (gradio's default) would make a
# second visitor wait out the first one's stream; each stream sizes itself down when the CPU is shared.
STREAMS = 4
SIZES = [("auto", "auto"), ("64 px", "64"), ("128 px", "128"), ("192 px", "192"), ("256 px", "256"),
         ("384 px", "384"), ("512 px", "512"), ("native (the frame's own)", "0")]


def _fixed_size(size, model) -> int | None:
    """The processing size chosen, None for auto (0 = the frame's own size)."""
    if size in (None, "", "auto"):
        return None
    return forms.work_size(size) or 0


def _auto_side(side: int, net_s: float) -> int:
    """The next processing size: a fifth smaller when over budget, a quarter larger when a frame
    takes under a third of it (multiples of 8)."""
    if net_s > BUDGET:
        side = int(side * 0.8)
    elif net_s < BUDGET / 3:
        side = int(side * 1.25)
    return max(AUTO_MIN, min(AUTO_MAX, side - side % 8))


@friendly
def live_frame(frame, model_spec, direction, size, stats):
    """One webcam frame (RGB array) -> its translation at the processing size, a line with the
    frames per second, and this stream's running numbers."""
    if frame is None:
        return None, gr.skip(), stats
    stats = dict(stats or {})
    now = time.perf_counter()
    if stats.get("last") is not None and now - stats["last"] > 2.0:    # a new stream: measure afresh
        stats = {"side": stats.get("side", AUTO_START)}
    state.use_translate_threads()
    model = state.MODELS.get(model_spec)
    direction = check_direction(direction or model.directions[0])
    fixed = _fixed_size(size, model)
    auto = fixed is None
    side = stats.get("side", AUTO_START) if auto else fixed
    t0 = time.perf_counter()
    out = translate_frames(model, [frame[..., :3]], direction, side, scale_back=False)[0]
    net_s = time.perf_counter() - t0
    last = stats.get("last")
    if last is not None:           # the time between frames, smoothed: what the viewer sees
        gap = now - last
        stats["gap"] = gap if "gap" not in stats else 0.8 * stats["gap"] + 0.2 * gap
    stats["net"] = net_s if "net" not in stats else 0.8 * stats["net"] + 0.2 * net_s
    stats["last"], stats["frames"] = now, stats.get("frames", 0) + 1
    if stats["frames"] == 1:
        del stats["net"]          # a stream's first frame pays for warming up: not a measure
    elif auto:
        stats["side"] = _auto_side(side, stats["net"])
    fps = f"**{1 / stats['gap']:.1f} frames/s**" if stats.get("gap") else "**starting**"
    h, w = out.shape[:2]
    line = (f"{fps} · net at {w}×{h}{' (auto)' if auto else ''} · {stats.get('net', net_s) * 1000:.0f} ms per "
            f"frame · {stats['frames']} frames")
    return out, line, stats


@friendly
def video(path, model_spec, direction, size, progress=gr.Progress()):
    """Translate a video file frame by frame; the same size, frame rate and frame count, audio copied."""
    path = forms.upload_path(path)
    if not path:
        raise UserInputError("upload a video first")
    state.use_translate_threads()
    model = state.MODELS.get(model_spec)
    direction = check_direction(direction or model.directions[0])
    fixed = _fixed_size(size, model)
    out = output_path(".mp4", f"translated-{direction}.mp4")
    progress(0, desc="translating frames")
    r = translate_video(model, path, out, direction, fixed,
                        progress=lambda done, total: progress((done, total) if total else done, unit="frames"))
    msg = (f"Translated **{r['frames']} frames** ({r['width']}×{r['height']}, {r['fps']:.3g} frames/s, "
           f"{r['seconds']:.1f} s) {model.direction_label(direction)}: **{r['seconds_per_frame']:.3f} s per frame** "
           f"(net at {r['work_size']}{'' if r['work_size'] == 'native' else ' px'}). Audio: {r['audio']}.")
    return r["output"], msg


def create() -> dict:
    lim = limits.current()
    first = [(e["label"], e["spec"]) for e in state.model_entries()]
    c = {}
    with gr.Tab("Live", id="live") as c["tab"]:
        with gr.Row():
            c["model"] = any_model(gr.Dropdown(first, value=first[0][1] if first else None, label="Model",
                                               elem_id="live-model", allow_custom_value=True, filterable=True, scale=3))
            c["direction"] = gr.Radio(GENERIC_DIRECTIONS, value="a2b", label="Direction", elem_id="live-direction",
                                      scale=2)
            c["size"] = gr.Dropdown(SIZES, value="auto", label="Processing size", elem_id="live-size", scale=2,
                                    info="short side the net runs at; auto: webcam keeps up, videos at the model's size")
        with gr.Row(equal_height=False):
            with gr.Column():
                gr.Markdown("### Webcam\nPress record: frames are translated as they stream "
                            f"(up to {lim.max_stream_seconds} s per stream).")
                c["cam"] = gr.Image(sources=["webcam"], streaming=True, type="numpy", label="Webcam", elem_id="webcam",
                                    height=300)
            with gr.Column():
                c["cam_out"] = gr.Image(label="Translated, live", elem_id="webcam-out", interactive=False,
                                        height=300, format="jpeg")
                c["fps"] = gr.Markdown("", elem_id="webcam-fps")
        with gr.Row(equal_height=False):
            with gr.Column():
                gr.Markdown(f"### Video file\nUp to {lim.max_video_seconds} s and {lim.max_video_side} px a side; "
                            "the result has the same size, frame rate and frame count, with the audio copied.")
                c["video"] = gr.Video(sources=["upload"], label="Video", elem_id="video-in", height=260)
                c["video_btn"] = gr.Button("Translate video", variant="primary", elem_id="video-btn")
            with gr.Column():
                c["video_out"] = gr.Video(label="Translated video", elem_id="video-out", interactive=False, height=260)
                c["video_msg"] = gr.Markdown("", elem_id="video-msg")
        c["stats"] = gr.State({})
    return c


def wire(shared: dict) -> None:
    c = shared["live"]
    lim = limits.current()
    model, direction, loaded = c["model"], c["direction"], shared["translate"]["loaded"]
    c["cam"].stream(live_frame, [c["cam"], model, direction, c["size"], c["stats"]], [c["cam_out"], c["fps"], c["stats"]],
                    stream_every=STREAM_EVERY, time_limit=lim.max_stream_seconds, concurrency_limit=STREAMS,
                    show_progress="hidden", api_name="live_frame")
    c["video_btn"].click(video, [c["video"], model, direction, c["size"]], [c["video_out"], c["video_msg"]],
                         api_name="translate_video", preprocess=False,
                         concurrency_limit=limits.current().translate_concurrency, concurrency_id="work")
    model.change(lambda spec: select_model(spec)[0], model, direction, **PRIVATE)
    c["tab"].select(lambda current, ld: _all_models(current, ld), [model, loaded], model, **PRIVATE)


def _all_models(current, loaded):
    """Every architecture's models in one list (the Live tab has no architecture switch)."""
    choices = [(e["label"], e["spec"]) for e in state.model_entries(loaded)]
    return gr.update(choices=choices, value=current or (choices[0][1] if choices else None))
