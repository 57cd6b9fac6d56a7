"""Inference on any image: never squashed. Pads to what the net needs and crops back; images over
`max_side` run as overlapping tiles blended with linear ramps instead of being refused."""
import math
import time

import torch
import torch.nn.functional as F
from PIL import Image

from . import limits
from .errors import UserInputError
from .settings import whole_number

DEFAULT_MAX_SIDE = 1024
# The processing size when none is asked for: the image's own resolution, but a short side of at
# most this many pixels (512 on a CPU: a full-width ResNet-9 takes about 2 s there; a GPU has room
# for 1024). Larger photos are shrunk for the net and the result scaled back to their size.
DEFAULT_WORK_SIDE = {"cpu": 512}
GPU_WORK_SIDE = 1024


def padded_side(side: int, multiple: int, min_side: int = 1) -> int:
    """The smallest side >= max(side, min_side) that is a multiple of `multiple`."""
    side = max(side, min_side, 1)
    return side + (-side) % multiple


def pad_to_multiple(x: torch.Tensor, multiple: int, min_side: int = 1) -> torch.Tensor:
    """Reflect-pad right and bottom up to a multiple (and at least `min_side`); reflection needs
    pad < side, so small images fall back to replicate padding."""
    h, w = x.shape[-2:]
    ph, pw = padded_side(h, multiple, min_side) - h, padded_side(w, multiple, min_side) - w
    if not ph and not pw:
        return x
    mode = "reflect" if ph < h and pw < w else "replicate"
    return F.pad(x, (0, pw, 0, ph), mode=mode)


def _min_side(net) -> int:
    return int(getattr(net, "min_side", 1))


def run_padded(net, x: torch.Tensor, multiple: int) -> torch.Tensor:
    h, w = x.shape[-2:]
    return net(pad_to_multiple(x, multiple, _min_side(net)))[..., :h, :w]


def _starts(length: int, tile: int, step: int) -> list[int]:
    if length <= tile:
        return [0]
    starts = list(range(0, length - tile, step))
    return starts + [length - tile]


def _ramp(n: int, overlap: int, at_start: bool, at_end: bool) -> torch.Tensor:
    w = torch.ones(n)
    overlap = min(overlap, n // 2)
    if overlap > 0:
        r = torch.linspace(1.0 / (overlap + 1), overlap / (overlap + 1), overlap)
        if not at_start:
            w[:overlap] = r
        if not at_end:
            w[n - overlap:] = r.flip(0)
    return w


def run_tiled(net, x: torch.Tensor, multiple: int, tile, overlap: int, batch: int = 4,
              deadline: float | None = None) -> torch.Tensor:
    """Translate overlapping tiles (batched) and blend them; weights fall off in each overlap.
    `tile` is a side or (height, width). The result is float32 on the CPU, [N, C_out, H, W]."""
    n, _, h, w = x.shape
    th, tw = (tile, tile) if isinstance(tile, int) else tile
    th, tw = max(multiple, th - th % multiple) if th < h else th, max(multiple, tw - tw % multiple) if tw < w else tw
    overlap = max(0, min(overlap, min(th, tw) // 2 if th < h and tw < w else max(th, tw) // 2))
    ys, xs = _starts(h, th, th - overlap), _starts(w, tw, tw - overlap)
    boxes = [(y, x0) for y in ys for x0 in xs]
    out = norm = None
    for k in range(n):
        img = x[k:k + 1]
        for i in range(0, len(boxes), batch):
            _check_deadline(deadline)
            chunk = boxes[i:i + batch]
            tiles = torch.cat([img[..., y:y + th, x0:x0 + tw] for y, x0 in chunk])
            result = run_padded(net, tiles, multiple).float().cpu()
            if out is None:
                out = torch.zeros((n, result.shape[1], h, w), dtype=torch.float32)
                norm = torch.zeros((1, 1, h, w), dtype=torch.float32)
            for (y, x0), r in zip(chunk, result):
                rh, rw = r.shape[-2:]
                wy = _ramp(rh, overlap, y == 0, y + rh >= h)
                wx = _ramp(rw, overlap, x0 == 0, x0 + rw >= w)
                wgt = wy[:, None] * wx[None, :]
                out[k, :, y:y + rh, x0:x0 + rw] += r * wgt
                if k == 0:
                    norm[0, 0, y:y + rh, x0:x0 + rw] += wgt
    return out / norm


def tile_shape(h: int, w: int, multiple: int, min_side: int, max_side: int | None) -> tuple[int, int] | None:
    """(tile height, tile width) for an image over `max_side`, None when it runs whole. A strip
    (short side within max_side) runs in longer tiles (up to max_side² pixels, 4 max_side long),
    not in max_side squares that would each be padded up from the strip's few rows."""
    if max_side is None or max(h, w) <= max_side:
        return None
    max_side = max(int(max_side), min_side)
    if min(h, w) <= max_side:   # at most 4 max_side long: wider tensors ran slower per pixel on CPU
        along = min(4 * max_side, max(max_side, max_side * max_side // padded_side(min(h, w), multiple, min_side)))
        along = max(multiple, along - along % multiple)
        return (h, along) if w > h else (along, w)
    return max_side, max_side


def _check_deadline(deadline: float | None) -> None:
    if deadline is not None and time.monotonic() > deadline:
        limit = limits.current().max_translate_seconds
        raise UserInputError(f"translation stopped: it went over this server's time limit of {limit} s "
                             "(CYCLEGAN_MAX_TRANSLATE_SECONDS); try a smaller processing size")


def run_generator(net, x: torch.Tensor, multiple: int, max_side: int = DEFAULT_MAX_SIDE,
                  overlap: int | None = None, deadline: float | None = None) -> torch.Tensor:
    """The net on an image of any size: padded and cropped back; as blended tiles when a side
    is over `max_side` (the time.monotonic() `deadline` is checked before each batch of tiles)."""
    _check_deadline(deadline)
    h, w = x.shape[-2:]
    tile = tile_shape(h, w, multiple, _min_side(net), max_side)
    if tile is None:
        return run_padded(net, x, multiple)
    side = max(int(max_side), _min_side(net))
    return run_tiled(net, x, multiple, tile=tile, overlap=overlap if overlap is not None else side // 8,
                     deadline=deadline)


def default_work_side(device_type: str = "cpu") -> int:
    return DEFAULT_WORK_SIDE.get(device_type, GPU_WORK_SIDE)


def work_side(image_size: tuple[int, int], work_size, device_type: str = "cpu") -> int | None:
    """The short side the net runs at, or None for the image as it is. One convention for the
    library, the CLI and the app: None or 0 = automatic (the image's own size, its short side
    capped at `default_work_side`; 0 because a form's number box cannot be empty); N = a short
    side of N (the image's own short side = its full resolution, within the work limit of plan_size)."""
    n = 0 if work_size is None else whole_number(work_size, "processing size (pixels; 0 = automatic)", 0)
    if n:
        return n
    cap = default_work_side(device_type)
    return cap if min(image_size) > cap else None


def work_pixels(w: int, h: int, multiple: int, min_side: int, max_side: int | None) -> int:
    """Pixels the net computes for a w x h image: padded to its multiple and smallest side, and
    for an image over `max_side` every tile (overlaps included). A 1-pixel-high strip costs
    `min_side` rows per column, which is why a strip's cost is not its pixel count."""
    tile = tile_shape(h, w, multiple, min_side, max_side)
    if tile is None:
        return padded_side(w, multiple, min_side) * padded_side(h, multiple, min_side)
    th, tw = tile
    overlap = max(int(max_side), min_side) // 8
    ny = len(_starts(h, th, max(1, th - overlap))) if th < h else 1
    nx = len(_starts(w, tw, max(1, tw - overlap))) if tw < w else 1
    return ny * nx * padded_side(min(tw, w), multiple, min_side) * padded_side(min(th, h), multiple, min_side)


def plan_size(size: tuple[int, int], work_size: int | None, multiple: int, min_side: int,
              max_side: int | None) -> tuple[int, int]:
    """The (w, h) the net runs at for an image of `size`: `work_size` as its short side (None:
    as it is), but enlarged at most CYCLEGAN_MAX_UPSCALE times, and shrunk until the work
    (`work_pixels`) fits CYCLEGAN_MAX_WORK_PIXELS. The output is scaled back to `size`."""
    lim = limits.current()
    w, h = size
    s = 1.0 if not work_size else min(work_size / min(w, h), float(lim.max_upscale))
    for _ in range(60):
        ww, hh = max(1, round(w * s)), max(1, round(h * s))
        cost = work_pixels(ww, hh, multiple, min_side, max_side)
        if cost <= lim.max_work_pixels:
            return ww, hh
        if ww == 1 and hh == 1:
            break
        s *= min(0.97, math.sqrt(lim.max_work_pixels / cost))
    raise UserInputError(f"this image ({w}×{h}) needs more work than this server allows for one translation "
                         f"({lim.max_work_pixels:,} pixels, CYCLEGAN_MAX_WORK_PIXELS)")
