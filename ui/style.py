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
# Run once when the page loads (launch(js=...)). Chrome and Firefox on Windows and Linux know no
# type for an iPhone's .heic photo, and Gradio's upload then refuses it as "not an image" before
# the server, which reads HEIC, ever sees it; so such files get their type on the way in, for
# file pickers and drops alike, and the pickers list them.
JS = """
() => {
  const heif = /\\.(heic|heif)$/i;
  const typed = (files) => {
    const list = Array.from(files || []);
    if (!list.some((f) => heif.test(f.name) && !f.type.startsWith("image/"))) return null;
    const dt = new DataTransfer();
    for (const f of list) {
      const fix = heif.test(f.name) && !f.type.startsWith("image/");
      dt.items.add(fix ? new File([f], f.name, {type: "image/" + f.name.split(".").pop().toLowerCase(),
                                                lastModified: f.lastModified}) : f);
    }
    return dt;
  };
  document.addEventListener("change", (e) => {
    const input = e.target;
    if (input instanceof HTMLInputElement && input.type === "file") {
      const dt = typed(input.files);
      if (dt) input.files = dt.files;
    }
  }, true);
  const ours = new WeakSet();
  document.addEventListener("drop", (e) => {
    if (ours.has(e) || !e.dataTransfer) return;
    const dt = typed(e.dataTransfer.files);
    if (!dt) return;
    e.preventDefault();
    e.stopImmediatePropagation();
    const again = new DragEvent("drop", {bubbles: true, cancelable: true, dataTransfer: dt});
    ours.add(again);
    e.target.dispatchEvent(again);
  }, true);
  const listHeic = (input) => {
    const accept = input.getAttribute("accept") || "";
    if (accept.includes("image/") && !accept.includes(".heic")) input.setAttribute("accept", accept + ",.heic,.heif");
  };
  document.querySelectorAll("input[type=file]").forEach(listHeic);
  new MutationObserver((changes) => {
    for (const c of changes) {
      if (c.type === "attributes" && c.target.matches("input[type=file]")) listHeic(c.target);
      for (const n of c.addedNodes || []) {
        if (n.nodeType !== 1) continue;
        if (n.matches("input[type=file]")) listHeic(n);
        n.querySelectorAll("input[type=file]").forEach(listHeic);
      }
    }
  }).observe(document.body, {subtree: true, childList: true, attributes: true, attributeFilter: ["accept"]});
}
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
