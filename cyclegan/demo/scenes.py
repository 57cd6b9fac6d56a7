"""Procedural landscapes: one hidden scene per seed, drawn in two looks (day/night, summer/winter).

Both domains are drawn from the same scene, so a test seed gives an exact ground-truth pair,
and hills, trees, houses, road and sky all vary with the seed, so there is nothing to memorise.
Geometry lives in relative coordinates (0..1, y down) and only becomes pixels in `draw`,
which is why any size works; drawing at 2x and box-downsampling gives cheap antialiasing.
"""
from __future__ import annotations

import colorsys
import math
import random
from dataclasses import dataclass, field

import numpy as np
from PIL import Image, ImageDraw

LOOKS = ("day", "night", "summer", "winter")

RGB = tuple[int, int, int]


@dataclass
class Tree:
    x: float
    y: float  # base, where the trunk meets the ground
    h: float
    kind: str  # "round", "pine" or "bush"
    crown: RGB
    trunk: RGB


@dataclass
class House:
    x0: float
    x1: float
    top: float  # top of the wall
    bottom: float
    roof_h: float
    wall: RGB
    roof: RGB
    door: tuple[float, float, float, float]
    windows: list[tuple[float, float, float, float]]
    lit: list[bool]  # which windows glow at night
    chimney: tuple[float, float, float, float] | None


@dataclass
class Hill:
    base: float
    waves: list[tuple[float, float, float]]  # (amplitude, cycles per width, phase)
    colour: RGB
    depth: float  # 0 = far, 1 = near; far hills are hazier and bluer at night
    things: list = field(default_factory=list)  # trees and houses standing on this hill

    def top(self, x: float) -> float:
        return self.base - sum(a * math.sin(2 * math.pi * (f * x + p)) for a, f, p in self.waves)


@dataclass
class Scene:
    horizon: float
    day_sky: tuple[RGB, RGB]  # top, horizon
    night_sky: tuple[RGB, RGB]
    winter_sky: tuple[RGB, RGB]
    sun: tuple[float, float, float]  # x, y, radius: the moon sits in the same place at night
    moon_bite: tuple[float, float] | None  # offset of the shadow disc that makes a crescent
    clouds: list[list[tuple[float, float, float, float]]]  # each cloud is a few ellipses
    stars: list[tuple[float, float, float, int]]  # x, y, brightness, size in output pixels
    hills: list[Hill]
    road: tuple[float, float, float, float, float] | None  # bottom x, bottom half-width, top x, top y, top half-width
    road_colour: RGB


def _mix(a, b, t: float) -> RGB:
    return tuple(int(round(x + (y - x) * t)) for x, y in zip(a, b))


def _hsv(h: float, s: float, v: float) -> RGB:
    return tuple(int(round(c * 255)) for c in colorsys.hsv_to_rgb(h % 1.0, s, v))


def make_scene(seed: int) -> Scene:
    """Draw every random choice up front, so both looks of a seed share one layout."""
    r = random.Random(seed)
    u = r.uniform
    horizon = u(0.42, 0.6)

    top = (int(u(30, 95)), int(u(105, 165)), int(u(195, 250)))
    day_sky = (top, _mix(top, (int(u(205, 240)), int(u(225, 245)), 255), u(0.55, 0.85)))
    night_sky = ((int(u(2, 10)), int(u(4, 12)), int(u(14, 34))), (int(u(18, 40)), int(u(26, 50)), int(u(58, 100))))
    g = u(150, 185)
    winter_sky = ((int(g), int(g + u(8, 18)), int(g + u(30, 45))), (int(u(215, 232)),) * 2 + (int(u(236, 248)),))

    sun = (u(0.08, 0.92), u(0.07, max(0.1, horizon - 0.16)), u(0.035, 0.065))
    moon_bite = None if r.random() < 0.4 else (u(-0.6, 0.6) * sun[2], u(-0.5, 0.5) * sun[2])

    clouds = []
    for _ in range(r.choice((0, 1, 2, 2, 3, 3, 4))):
        cx, cy, w = u(-0.05, 1.05), u(0.05, max(0.08, horizon - 0.12)), u(0.1, 0.28)
        puffs = []
        for _ in range(r.randint(3, 5)):
            px, pr = cx + u(-0.5, 0.5) * w, u(0.18, 0.32) * w
            py = cy - u(0, 0.35) * pr
            puffs.append((px - pr * 1.3, py - pr, px + pr * 1.3, cy + 0.25 * pr))
        clouds.append(puffs)

    stars = [(r.random(), u(0, horizon), u(0.35, 1.0), 2 if r.random() < 0.1 else 1)
             for _ in range(r.randint(25, 80))]

    n_hills = r.choice((1, 2, 2, 3, 3))
    hue0 = u(0.18, 0.36)
    haze = day_sky[1]
    hills, base = [], horizon
    for k in range(n_hills):
        depth = (k + 1) / n_hills
        if k:
            base = min(0.86, base + u(0.07, 0.14))
        waves = [(u(0.01, 0.06), u(0.4, 1.8), r.random()), (u(0.0, 0.018), u(2.0, 5.0), r.random())]
        if r.random() < 0.2:  # a ripe field instead of grass
            colour = _hsv(u(0.1, 0.15), u(0.45, 0.7), u(0.6, 0.85))
        else:
            colour = _hsv(hue0 + u(-0.05, 0.05), u(0.4, 0.8), u(0.45, 0.8))
        colour = _mix(colour, haze, 0.45 * (1 - depth))
        hills.append(Hill(base, waves, colour, depth))

    front = hills[-1]
    road, road_colour = None, _mix((int(u(95, 140)),) * 3, (140, 120, 90), u(0, 0.5))
    if r.random() < 0.45:
        bx = u(0.2, 0.8)
        tx = min(0.9, max(0.1, bx + u(-0.3, 0.3)))
        road = (bx, u(0.1, 0.22), tx, front.top(tx) + 0.005, u(0.008, 0.02))

    def on_road(x: float, y: float, half: float) -> bool:
        if road is None or y < road[3]:
            return False
        t = (y - road[3]) / max(1e-6, 1.0 - road[3])
        cx = road[2] + (road[0] - road[2]) * t
        hw = road[4] + (road[1] - road[4]) * t
        return abs(x - cx) < hw + half

    def spot(hill: Hill, half: float, taken: list[tuple[float, float]]) -> tuple[float, float] | None:
        for _ in range(12):
            x = u(0.03, 0.97)
            y = hill.top(x) + u(0.005, 0.035) * hill.depth
            if not on_road(x, y, half) and all(abs(x - tx) > half + th for tx, th in taken):
                taken.append((x, half))
                return x, y
        return None

    for k, hill in enumerate(hills):
        scale = 0.4 + 0.6 * hill.depth
        taken: list[tuple[float, float]] = []
        if k >= n_hills - 2:
            n_houses = r.choices((0, 1, 2, 3), (1, 8, 8, 4))[0] if k == n_hills - 1 else r.choice((0, 0, 1))
            for _ in range(n_houses):
                w = u(0.11, 0.19) * scale
                where = spot(hill, w / 2, taken)
                if where:
                    hill.things.append(_house(r, where[0], w, hill))
        for _ in range(r.randint(1, 3 + 2 * k)):
            kind = r.choice(("pine", "pine", "round", "round", "round", "bush"))
            h = u(0.08, 0.2) * scale * (0.35 if kind == "bush" else 1)
            where = spot(hill, 0.18 * h, [])  # trees may stand in front of each other
            if where:
                crown = _mix(_hsv(u(0.2, 0.42), u(0.45, 0.85), u(0.28, 0.6)), haze, 0.4 * (1 - hill.depth))
                trunk = _mix((int(u(80, 120)), int(u(55, 80)), int(u(30, 50))), haze, 0.4 * (1 - hill.depth))
                hill.things.append(Tree(where[0], where[1], h, kind, crown, trunk))
        hill.things.sort(key=lambda t: t.y if isinstance(t, Tree) else t.bottom)

    return Scene(horizon, day_sky, night_sky, winter_sky, sun, moon_bite, clouds, stars, hills, road, road_colour)


def _house(r: random.Random, cx: float, w: float, hill: Hill) -> House:
    u = r.uniform
    x0, x1 = cx - w / 2, cx + w / 2
    bottom = max(hill.top(x0), hill.top(x1)) + u(0.005, 0.02)
    wall_h = u(0.55, 0.95) * w
    top = bottom - wall_h
    wall = _hsv(r.random(), u(0.1, 0.55), u(0.7, 0.97))
    roof = r.choice([_hsv(u(0.0, 0.06), u(0.55, 0.8), u(0.45, 0.75)), _hsv(u(0.05, 0.1), u(0.3, 0.6), u(0.3, 0.5)),
                     _hsv(u(0.55, 0.65), u(0.1, 0.3), u(0.3, 0.5))])
    dw, dh = 0.2 * w, 0.55 * wall_h
    dx = x0 + r.choice((0.15, 0.4, 0.65)) * w
    door = (dx, bottom - dh, dx + dw, bottom)
    rows = 2 if wall_h > 0.75 * w and r.random() < 0.6 else 1
    cols = r.choice((1, 2, 2, 3))
    ww, wh = 0.19 * w, 0.22 * wall_h
    windows = []
    for i in range(rows):
        wy = top + wall_h * (0.18 + 0.38 * i)
        for j in range(cols):
            wx = x0 + w * (j + 0.5) / cols - ww / 2
            if wx < door[2] + 0.02 * w and wx + ww > door[0] - 0.02 * w and wy + wh > door[1]:
                continue  # would overlap the door
            windows.append((wx, wy, wx + ww, wy + wh))
    lit = [r.random() < 0.8 for _ in windows]
    if windows and not any(lit):
        lit[r.randrange(len(lit))] = True
    chimney = None
    if r.random() < 0.5:
        chx = x0 + u(0.6, 0.75) * w
        chimney = (chx, top - 0.55 * u(0.3, 0.55) * w, chx + 0.1 * w, top)
    return House(x0, x1, top, bottom, u(0.3, 0.55) * w, wall, roof, door, windows, lit, chimney)


def _night(c) -> RGB:
    """Moonlight: much darker, half desaturated and shifted to blue."""
    r, g, b = c
    lum = 0.3 * r + 0.59 * g + 0.11 * b
    r, g, b = (0.5 * r + 0.5 * lum, 0.5 * g + 0.5 * lum, 0.5 * b + 0.5 * lum)
    return (int(r * 0.19 + 5), int(g * 0.22 + 8), int(b * 0.33 + 22))


class _Look:
    """Maps the scene's (daylight) colours to one look; structural changes are done in `draw`."""

    def __init__(self, look: str):
        self.night = look == "night"
        self.winter = look == "winter"

    def __call__(self, c) -> RGB:
        if self.night:
            return _night(c)
        if self.winter:  # cold, slightly grey light
            lum = 0.3 * c[0] + 0.59 * c[1] + 0.11 * c[2]
            return _mix(c, (lum * 0.95, lum, lum * 1.08), 0.4)
        return tuple(c)

    def ground(self, hill: Hill) -> RGB:
        if self.winter:
            return _mix((196, 208, 228), (242, 245, 250), hill.depth)
        return self(hill.colour)


def draw(scene: Scene, look: str, size: int) -> Image.Image:
    """Render `scene` in `look` at size x size pixels (RGB)."""
    if look not in LOOKS:
        raise ValueError(f"unknown look {look!r}")
    ss = 2 if size <= 1024 else 1
    S = size * ss
    L = _Look(look)

    sky_top, sky_bot = scene.night_sky if L.night else scene.winter_sky if L.winter else scene.day_sky

    def sky_at(y: float) -> RGB:
        return _mix(sky_top, sky_bot, min(1.0, max(0.0, y / scene.horizon)) ** 0.8)

    t = np.clip(np.arange(S, dtype=np.float32) / (S * scene.horizon), 0, 1)[:, None] ** 0.8
    col = np.asarray(sky_top, np.float32) * (1 - t) + np.asarray(sky_bot, np.float32) * t
    img = Image.fromarray(np.ascontiguousarray(np.broadcast_to(col.astype(np.uint8)[:, None, :], (S, S, 3))))
    d = ImageDraw.Draw(img)

    def box(x0, y0, x1, y1):
        return (x0 * S, y0 * S, x1 * S, y1 * S)

    if L.night:
        for x, y, b, n in scene.stars:
            v = int(150 + 105 * b)
            p = n * ss
            d.rectangle((x * S, y * S, x * S + p - 1, y * S + p - 1), fill=_mix(sky_at(y), (v, v, min(255, v + 15)), b))

    sx, sy, sr = scene.sun
    if L.night:
        disc, glow, glow_t = (236, 234, 214), (190, 200, 230), 0.12
    elif L.winter:
        disc, glow, glow_t = (252, 248, 228), (255, 250, 235), 0.35
    else:
        disc, glow, glow_t = (255, 236, 120), (255, 240, 170), 0.45
    for rad, tt in ((2.2, glow_t * 0.5), (1.5, glow_t)):
        d.ellipse(box(sx - sr * rad, sy - sr * rad, sx + sr * rad, sy + sr * rad), fill=_mix(sky_at(sy), glow, tt))
    d.ellipse(box(sx - sr, sy - sr, sx + sr, sy + sr), fill=disc)
    if L.night and scene.moon_bite:
        bx, by = sx + scene.moon_bite[0], sy + scene.moon_bite[1]
        d.ellipse(box(bx - sr, by - sr, bx + sr, by + sr), fill=_mix(sky_at(sy), glow, glow_t))

    if L.night:
        cloud_col, shade = _mix(sky_bot, (90, 100, 130), 0.35), None
    elif L.winter:
        cloud_col, shade = (236, 238, 242), (205, 210, 220)
    else:
        cloud_col, shade = (255, 255, 255), (222, 228, 238)
    for puffs in scene.clouds:
        if shade:
            for x0, y0, x1, y1 in puffs:
                d.ellipse(box(x0, y0 + 0.15 * (y1 - y0), x1, y1 + 0.1 * (y1 - y0)), fill=shade)
        for p in puffs:
            d.ellipse(box(*p), fill=cloud_col)

    xs = [i / 40 * 1.04 - 0.02 for i in range(41)]
    for k, hill in enumerate(scene.hills):
        ground = L.ground(hill)
        d.polygon([(x * S, hill.top(x) * S) for x in xs] + [(1.02 * S, S + 2), (-0.02 * S, S + 2)], fill=ground)
        if k == len(scene.hills) - 1 and scene.road:
            _road(d, scene, L, S, ss)
        for thing in hill.things:
            if isinstance(thing, Tree):
                _tree(d, thing, L, S, ss)
            else:
                _house_draw(d, thing, L, S, ss, ground)

    if L.winter:  # falling snow, reusing the star positions spread over the whole picture
        for x, y, b, n in scene.stars[::2]:
            p = max(1, n * ss * size // 96)
            yy = y / scene.horizon
            d.ellipse((x * S, yy * S, x * S + p, yy * S + p), fill=(250, 250, 255))

    return img.reduce(ss) if ss > 1 else img


def _road(d: ImageDraw.ImageDraw, scene: Scene, L: _Look, S: int, ss: int) -> None:
    bx, bw, tx, ty, tw = scene.road
    colour = _mix(scene.road_colour, (235, 238, 245), 0.6) if L.winter else L(scene.road_colour)
    d.polygon([(S * (tx - tw), S * ty), (S * (tx + tw), S * ty), (S * (bx + bw), S + 2), (S * (bx - bw), S + 2)],
              fill=colour)
    line = L((235, 225, 170))
    for i in range(5):  # dashes, longer towards the viewer
        a, b = (i + 0.2) / 5, (i + 0.55) / 5
        a, b = a * a, b * b
        pts = [(S * (tx + (bx - tx) * t), S * (ty + (1 - ty) * t)) for t in (a, b)]
        d.line(pts, fill=line, width=max(1, int(S * 0.006 * (1 + 3 * b))))


def _tree(d: ImageDraw.ImageDraw, t: Tree, L: _Look, S: int, ss: int) -> None:
    x, y, h = t.x, t.y, t.h
    trunk = L(t.trunk)
    crown = L(t.crown)
    light = L(_mix(t.crown, (230, 240, 150), 0.25))
    if t.kind == "pine":
        tw = 0.07 * h
        d.rectangle((S * (x - tw), S * (y - 0.25 * h), S * (x + tw), S * y), fill=trunk)
        if L.winter:
            crown = _mix(crown, (30, 60, 50), 0.4)
        for i in range(3):
            yb = y - 0.18 * h - i * 0.25 * h
            half = 0.3 * h * (1 - 0.22 * i)
            tip = yb - 0.42 * h
            d.polygon([(S * (x - half), S * yb), (S * (x + half), S * yb), (S * x, S * tip)], fill=crown)
            if L.winter:  # snow on each tier
                f = 0.5
                d.polygon([(S * (x - half * f), S * (tip + (yb - tip) * f)), (S * (x + half * f), S * (tip + (yb - tip) * f)),
                           (S * x, S * tip)], fill=(240, 244, 250))
        return
    if t.kind == "bush":
        if L.winter:
            crown, light = (205, 214, 230), (240, 243, 250)
        d.ellipse((S * (x - 1.1 * h), S * (y - h), S * (x + 1.1 * h), S * (y + 0.5 * h)), fill=crown)
        d.ellipse((S * (x - 0.7 * h), S * (y - 0.9 * h), S * (x + 0.1 * h), S * (y - 0.3 * h)), fill=light)
        return
    tw = 0.06 * h
    d.rectangle((S * (x - tw), S * (y - 0.5 * h), S * (x + tw), S * y), fill=trunk)
    cy, r = y - 0.65 * h, 0.32 * h
    if L.winter:  # bare branches
        w = max(1, int(S * 0.12 * tw))
        for dx, dy in ((-0.8, -0.6), (0.7, -0.8), (-0.4, -1.1), (0.3, -1.2), (0.0, -1.0)):
            d.line([(S * x, S * (y - 0.45 * h)), (S * (x + dx * r), S * (cy + (dy + 0.6) * r))], fill=trunk, width=w)
        return
    d.ellipse((S * (x - r), S * (cy - r), S * (x + r), S * (cy + r)), fill=crown)
    d.ellipse((S * (x - 0.9 * r), S * (cy - 1.35 * r), S * (x + 0.5 * r), S * (cy + 0.1 * r)), fill=crown)
    d.ellipse((S * (x - 0.55 * r), S * (cy - 1.1 * r), S * (x + 0.05 * r), S * (cy - 0.45 * r)), fill=light)


def _house_draw(d: ImageDraw.ImageDraw, hs: House, L: _Look, S: int, ss: int, ground: RGB) -> None:
    wall = L(hs.wall)
    d.rectangle((S * hs.x0, S * hs.top, S * hs.x1, S * hs.bottom), fill=wall)
    d.rectangle((S * hs.x0, S * (hs.bottom - 0.12 * (hs.bottom - hs.top)), S * hs.x1, S * hs.bottom),
                fill=_mix(wall, (0, 0, 0), 0.2))  # plinth, gives the wall some depth
    if hs.chimney:
        d.rectangle(tuple(S * v for v in hs.chimney), fill=L(_mix(hs.roof, (60, 40, 40), 0.5)))
    oh = 0.08 * (hs.x1 - hs.x0)
    cx = (hs.x0 + hs.x1) / 2
    roof = [(S * (hs.x0 - oh), S * hs.top), (S * (hs.x1 + oh), S * hs.top), (S * cx, S * (hs.top - hs.roof_h))]
    d.polygon(roof, fill=L(hs.roof))
    if L.winter:
        lift = 0.18 * hs.roof_h * S
        d.polygon([(x, y - lift) for x, y in roof], fill=(244, 246, 252))
    d.rectangle(tuple(S * v for v in hs.door), fill=L(_mix(hs.wall, (70, 40, 20), 0.7)))
    frame = L(_mix(hs.wall, (255, 255, 255), 0.6))
    for (x0, y0, x1, y1), lit in zip(hs.windows, hs.lit):
        if L.night and lit:
            g = 0.35 * (x1 - x0)
            d.rectangle((S * (x0 - g), S * (y0 - g), S * (x1 + g), S * (y1 + g)), fill=_mix(wall, (255, 200, 90), 0.3))
            d.rectangle((S * x0, S * y0, S * x1, S * y1), fill=(255, 214, 110))
        else:
            d.rectangle((S * x0, S * y0, S * x1, S * y1), fill=frame)
            p = 0.15 * (x1 - x0)
            d.rectangle((S * (x0 + p), S * (y0 + p), S * (x1 - p), S * (y1 - p)), fill=L((45, 62, 92)))
