"""How the page looks: theme, CSS, and the loss chart's colours."""
import html

import gradio as gr

THEME = gr.themes.Default(
    primary_hue="indigo", secondary_hue="slate", neutral_hue="slate",
    font=[gr.themes.Font("system-ui"), gr.themes.Font("-apple-system"), gr.themes.Font("Segoe UI"), "sans-serif"],
    font_mono=[gr.themes.Font("ui-monospace"), gr.themes.Font("Menlo"), gr.themes.Font("Consolas"), "monospace"],
)
CSS = """
.app-header h1 { margin-bottom: 0.1em; }
.app-header p { margin-top: 0; opacity: 0.85; }
.status-line { min-height: 2.5em; }
.loss-legend { display: flex; flex-wrap: wrap; gap: 4px 14px; font-size: 0.85em; padding: 0 8px; }
.loss-legend i { display: inline-block; width: 14px; height: 3px; margin-right: 5px; vertical-align: middle; }
#sample-grid img { width: 100%; height: 100%; object-fit: contain; image-rendering: pixelated; }
#webcam-out img { width: 100%; height: 100%; object-fit: contain; }
"""
LOSS_COLORS = {"D_A": "#4c78a8", "D_B": "#72b7b2", "G_AB": "#f58518", "G_BA": "#eeca3b", "cycle_A": "#e45756",
               "cycle_B": "#ff9da6", "idt_A": "#54a24b", "idt_B": "#88d27a", "fm_A": "#b279a2", "fm_B": "#d6a5c9"}
EXTRA_COLORS = ("#9d755d", "#bab0ac", "#439894", "#79706e")


def loss_colors(names: list[str]) -> dict[str, str]:
    extra = iter(EXTRA_COLORS * 4)
    return {n: LOSS_COLORS.get(n) or next(extra, "#888888") for n in names}


def legend_html(colors: dict[str, str]) -> str:
    """Our own legend: the chart's built-in one is cut off below the plot in this Gradio. Series
    names can be a visitor's domain names (the score chart), so they are escaped."""
    keys = "".join(f'<span><i style="background:{html.escape(c)}"></i>{html.escape(n)}</span>'
                   for n, c in colors.items())
    return f'<div class="loss-legend">{keys}</div>' if keys else ""
