"""The built-in dataset: procedural worlds whose two domains are two looks of the same scene.

Training seeds for A and B never overlap, so training is truly unpaired; test seeds are drawn
in both domains, which gives exact ground truth for scoring a translation.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from PIL import Image

from ..errors import UserInputError
from ..settings import whole_number
from .scenes import draw, make_scene

MIN_SIZE, MAX_SIZE = 8, 2048
_TRAIN_BASE = 1_000_000  # test seeds are 0 .. _TRAIN_BASE-1, train seeds start here


@dataclass(frozen=True)
class World:
    name: str
    domains: tuple[str, str]  # names of A and B; they are also the looks passed to scenes.draw
    description: str


WORLDS: dict[str, World] = {
    "daynight": World("daynight", ("day", "night"), "countryside by day (A) and by night (B)"),
    "summerwinter": World("summerwinter", ("summer", "winter"), "countryside in summer (A) and under snow (B)"),
}


def world_names() -> list[str]:
    return list(WORLDS)


def _world(world: str) -> World:
    try:
        return WORLDS[world]
    except (KeyError, TypeError):
        raise UserInputError(f"unknown demo world {world!r}; known worlds: {', '.join(WORLDS)}") from None


def domains(world: str) -> tuple[str, str]:
    return _world(world).domains


def _side(w: World, domain: str) -> int:
    """0 for A, 1 for B; the domain's own name ("day") is accepted as well as "A"."""
    if domain in ("A", "a", w.domains[0]):
        return 0
    if domain in ("B", "b", w.domains[1]):
        return 1
    raise UserInputError(f"unknown domain {domain!r} for world {w.name!r}: use 'A' ({w.domains[0]}) or 'B' ({w.domains[1]})")


def _check_size(size) -> int:
    return whole_number(size, "image size", MIN_SIZE, MAX_SIZE)


def _check_n(n, what: str = "n") -> int:
    return whole_number(n, what, 0, _TRAIN_BASE)


def render(world: str, seed: int, domain: str, size: int) -> Image.Image:
    """One scene of `world` in domain "A" or "B" as an RGB size x size image; same seed, same pixels."""
    w = _world(world)
    look = w.domains[_side(w, domain)]
    return draw(make_scene(int(seed)), look, _check_size(size))


def train_seeds(world: str, domain: str, n: int) -> list[int]:
    """A takes the even and B the odd seeds above the test range, so no scene is seen in both."""
    side = _side(_world(world), domain)
    return [_TRAIN_BASE + 2 * i + side for i in range(_check_n(n))]


def test_seeds(world: str, n: int) -> list[int]:
    _world(world)
    return list(range(_check_n(n)))


def export(world: str, out_dir, n: int = 1000, size: int = 128, n_test: int | None = None) -> dict:
    """Write the official CycleGAN layout (trainA/ trainB/ testA/ testB/); test files pair by name."""
    w = _world(world)
    size = _check_size(size)
    n = _check_n(n)
    n_test = _check_n(max(1, n // 5) if n_test is None else n_test, "n_test")
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise UserInputError(f"{out} exists and is not a folder")
    jobs = [("trainA", "A", train_seeds(world, "A", n)), ("trainB", "B", train_seeds(world, "B", n)),
            ("testA", "A", test_seeds(world, n_test)), ("testB", "B", test_seeds(world, n_test))]
    counts = {}
    for sub, side, seeds in jobs:
        folder = out / sub
        folder.mkdir(parents=True, exist_ok=True)
        for seed in seeds:
            draw(make_scene(seed), w.domains[_side(w, side)], size).save(folder / f"{seed:07d}.png")
        counts[sub] = len(seeds)
    return {"world": w.name, "domains": list(w.domains), "size": size, "dir": os.fspath(out), **counts}
