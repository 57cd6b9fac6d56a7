"""The Train tab's two charts, as data: the loss curves and the live score (KID, random features,
with the untranslated images' KID as the line to beat), and the one rule for redrawing them
only when something changed since this page last looked."""
import gradio as gr
import pandas as pd

from . import style

LOSS_SKIP = {"step", "lr", "sec_per_step", "images_per_s", "time", "G_total"}  # G_total would flatten the rest
MAX_POINTS = 400    # keep the charts light on long runs
SCORE_TITLE = "Live score: KID (random features) on held-out images, lower is better"


def _thin(rows: list[dict]) -> list[dict]:
    if len(rows) > MAX_POINTS:
        stride = -(-len(rows) // MAX_POINTS)
        rows = rows[::stride] + [rows[-1]]
    return rows


def _frame(rows, series: str) -> pd.DataFrame:
    frame = pd.DataFrame(rows, columns=["step", series, "value"])
    # typed even when empty: the chart picks its axis kinds (numeric or not) from these
    return frame.astype({"step": "int64", series: "string", "value": "float64"})


def loss_frame(history: list[dict]) -> pd.DataFrame:
    rows = [(r["step"], k, float(v)) for r in _thin(history) for k, v in r.items()
            if k not in LOSS_SKIP and isinstance(v, (int, float))]
    return _frame(rows, "loss")


def score_series(direction: str, domains=None, identity: bool = False) -> str:
    a, b = domains or ("A", "B")
    label = f"{a} → {b}" if direction == "a2b" else f"{b} → {a}"
    return f"{label}, untranslated" if identity else label


def score_frame(scores: list[dict], domains=None) -> pd.DataFrame:
    """One series per direction, and per direction the KID of the untranslated source images
    (constant: the number a translator has to beat)."""
    rows = []
    for r in _thin(scores):
        for d in ("a2b", "b2a"):
            if f"kid_{d}" in r:
                rows.append((r["step"], score_series(d, domains), float(r[f"kid_{d}"])))
                rows.append((r["step"], score_series(d, domains, True), float(r[f"identity_kid_{d}"])))
    return _frame(rows, "series")


def update(seen: dict, key: str, rows: list[dict], make, colors=None):
    """(chart update, legend update) for `rows`, or skips when nothing changed. A new set of
    series needs a new color_map, which is what makes the chart redraw with them."""
    plot = legend = gr.skip()
    count_key, names_key = f"{key}_points", f"{key}_names"
    if not rows and seen.get(count_key) != 0:
        plot, legend, seen[count_key], seen[names_key] = None, "", 0, None
    elif rows and len(rows) != seen.get(count_key):
        plot = make(rows)
        seen[count_key] = len(rows)
        names = list(dict.fromkeys(plot[plot.columns[1]].tolist()))
        if names != seen.get(names_key):
            seen[names_key] = names
            cmap = (colors or style.loss_colors)(names)
            plot, legend = gr.update(value=plot, color_map=cmap), style.legend_html(cmap)
    return plot, legend


def score_colors(names: list[str]) -> dict[str, str]:
    """A direction and its untranslated baseline in one hue, the baseline lighter."""
    strong, light = ("#4c78a8", "#f58518"), ("#9ecae9", "#ffbf79")
    out, i = {}, 0
    for n in names:
        if not n.endswith(", untranslated"):
            out[n] = strong[i % 2]
            base = f"{n}, untranslated"
            if base in names:
                out[base] = light[i % 2]
            i += 1
    for n in names:
        out.setdefault(n, "#bab0ac")
    return {n: out[n] for n in names}


def best_line(best: dict | None) -> str:
    if not best:
        return ""
    return f"best: step {best['step']} (KID {best['score']:.4f}), kept as `best`"


def score_note(last: dict | None) -> str:
    """Under the score chart: what the images are and what one score costs."""
    if not last:
        return ("Every few steps the run translates held-out images and scores them with KID on a "
                "seeded random CNN (not Inception KID); the best-scoring checkpoint is kept.")
    held = "held-out test images" if last.get("split") == "test" else \
        "the training images (the data has no testA/ testB/: overfitting stays invisible)"
    cost = f"{last['seconds']:.2f} s per score"
    if last.get("fraction_of_wall_time") is not None:
        cost += f", {100 * last['fraction_of_wall_time']:.1f}% of the run's time"
    return f"{last.get('n_fake', '?')} images per side from {held}; {cost}."
