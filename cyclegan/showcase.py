"""The README's picture: test scenes through each model next to their ground truth, made from
the models themselves so anyone can regenerate it."""
from PIL import Image, ImageDraw

from .checkpoints import load_model
from .demo import domains, render, test_seeds


def comparison_grid(specs: list[str], world: str = "daynight", n: int = 4, size: int = 128) -> Image.Image:
    """Per direction, one row per test scene: input | each model's translation | ground truth."""
    models = [load_model(s) for s in specs]
    names = [m.architecture for m in models]
    a, b = domains(world)
    pad, head = 4, 18
    cols = 2 + len(models)
    blocks = []
    for src, dst, direction, title in (("A", "B", "a2b", f"{a} -> {b}"), ("B", "A", "b2a", f"{b} -> {a}")):
        rows = []
        for seed in test_seeds(world, n):
            x, y = render(world, seed, src, size), render(world, seed, dst, size)
            outs = [m.translate(x, direction) if direction in m.directions else Image.new("RGB", x.size, "gray")
                    for m in models]
            rows.append([x, *outs, y])
        blocks.append((title, rows))
    W = cols * size + (cols + 1) * pad
    H = head + sum(head + len(rows) * (size + pad) for _, rows in blocks) + pad
    canvas = Image.new("RGB", (W, H), "white")
    draw = ImageDraw.Draw(canvas)
    for c, label in enumerate(["input", *names, "ground truth"]):
        draw.text((pad + c * (size + pad) + 4, 4), label, fill="black")
    y0 = head
    for title, rows in blocks:
        draw.text((pad, y0 + 4), title, fill="black")
        y0 += head
        for row in rows:
            for c, img in enumerate(row):
                canvas.paste(img, (pad + c * (size + pad), y0))
            y0 += size + pad
    return canvas
