"""Inference on any image: never squashed. Pads to what the net needs and crops back; images over
`max_side` run as overlapping tiles blended with linear ramps instead of being refused."""
import math

import torch
import torch.nn.functional as F
from PIL import Image

from . import limits
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


def run_tiled(net, x: torch.Tensor, multiple: int, tile: int, overlap: int, batch: int = 4) -> torch.Tensor:
    """Translate overlapping tiles (batched) and blend them; weights fall off in each overlap.
    The result is float32 on the CPU, [N, C_out, H, W] like the input."""
    n, _, h, w = x.shape
    tile = max(multiple, tile - tile % multiple)
    overlap = max(0, min(overlap, tile // 2))
    step = tile - overlap
    ys, xs = _starts(h, tile, step), _starts(w, tile, step)
    boxes = [(y, x0) for y in ys for x0 in xs]
    out = norm = None
    for k in range(n):
        img = x[k:k + 1]
        for i in range(0, len(boxes), batch):
            chunk = boxes[i:i + batch]
            tiles = torch.cat([img[..., y:y + tile, x0:x0 + tile] for y, x0 in chunk])
            result = run_padded(net, tiles, multiple).float().cpu()
            if out is None:
                out = torch.zeros((n, result.shape[1], h, w), dtype=torch.float32)
                norm = torch.zeros((1, 1, h, w), dtype=torch.float32)
            for (y, x0), r in zip(chunk, result):
                th, tw = r.shape[-2:]
                wy = _ramp(th, overlap, y == 0, y + th >= h)
                wx = _ramp(tw, overlap, x0 == 0, x0 + tw >= w)
                wgt = wy[:, None] * wx[None, :]
                out[k, :, y:y + th, x0:x0 + tw] += r * wgt
                if k == 0:
                    norm[0, 0, y:y + th, x0:x0 + tw] += wgt
    return out / norm


def run_generator(net, x: torch.Tensor, multiple: int, max_side: int = DEFAULT_MAX_SIDE,
                  overlap: int | None = None) -> torch.Tensor:
    """The net on an image of any size: padded and cropped back; as blended tiles when a side
    is over `max_side`."""
    if max_side is None or max(x.shape[-2:]) <= max_side:
        return run_padded(net, x, multiple)
    max_side = max(int(max_side), _min_side(net))
    return run_tiled(net, x, multiple, tile=max_side, overlap=overlap if overlap is not None else max_side // 8)


def default_work_side(device_type: str = "cpu") -> int:
    return DEFAULT_WORK_SIDE.get(device_type, GPU_WORK_SIDE)


def work_side(image_size: tuple[int, int], work_size, device_type: str = "cpu") -> int | None:
    """The short side the net runs at, or None for the image as it is. One convention for the
    library, the CLI and the app: None or 0 = automatic (the image's own size, its short side
    capped at `default_work_side`; 0 because a form's number box cannot be empty); N = a short
    side of N (the image's own short side = its full resolution, however large)."""
    n = 0 if work_size is None else whole_number(work_size, "processing size (pixels; 0 = automatic)", 0)
    if n:
        return n
    cap = default_work_side(device_type)
    return cap if min(image_size) > cap else None


def resize_short_side(img: Image.Image, short: int, max_pixels: int | None = None) -> Image.Image:
    """Scale so the short side is `short`, but never past `max_pixels` (default: the
    CYCLEGAN_MAX_IMAGE_PIXELS limit): a 1×4000 strip must not become a gigapixel tensor."""
    w, h = img.size
    s = short / min(w, h)
    cap = max_pixels if max_pixels is not None else limits.current().max_image_pixels
    if w * h * s * s > cap:
        s = math.sqrt(cap / (w * h))
    return img.resize((max(1, round(w * s)), max(1, round(h * s))), Image.Resampling.BICUBIC)
