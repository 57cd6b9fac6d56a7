"""The Train tab: data, architecture, recipe, scale and a few numbers; Start / Pause / Resume /
Stop; every second the status, loss chart, sample grid and log of the server's one run; export
the run as a zip or push its model to the Hub."""
import logging
from pathlib import Path

import gradio as gr
import pandas as pd

import cyclegan
from cyclegan import UserInputError, demo, limits

from . import api, state, style
from .errors import friendly
from .translate_tab import refresh_models

log = logging.getLogger("cyclegan.app")
PRIVATE = dict(api_visibility="private")
LOSS_SKIP = {"step", "lr", "sec_per_step", "images_per_s", "time", "G_total"}  # G_total would flatten the rest
SCALES = [("Quick (small nets, fine on a CPU)", "quick"), ("Full (the published nets)", "full")]
# What each recipe is, named by its source and version (cyclegan/presets.py cites each).
RECIPE_LABELS = {("cyclegan", "paper"): "Paper (Zhu et al. 2017): ResNet-6 below 256 px, 9 from 256",
                 ("cyclegan", "code"): "Official code: ResNet-9 at every size",
                 ("discogan", "code"): "Authors' code (SKTBrain/DiscoGAN)",
                 ("dualgan", "paper"): "Paper (Yi et al. 2017): WGAN + weight clipping, RMSProp, λ 100",
                 ("dualgan", "code-2017-04"): "Authors' code, Apr 2017: WGAN + clipping, 3 critic steps, λ 200",
                 ("dualgan", "code-2017-08"): "Authors' code, Aug 2017: sigmoid cross-entropy, λ 20, RMSProp",
                 ("dualgan", "code-2020"): "Authors' code, 2020: WGAN-GP, λ 500, global critic, RMSProp"}


def recipe_choices(arch: str) -> list[tuple[str, str]]:
    return [(RECIPE_LABELS.get((arch, r), p.title), r) for r, p in cyclegan.RECIPES.get(arch, {}).items()]


@friendly
def recipe_form(arch, recipe, scale):
    """The recipe list follows the architecture (hidden when it has one recipe); size, batch and
    the advanced numbers follow the architecture, recipe and scale."""
    choices = recipe_choices(arch)
    if recipe not in [r for _, r in choices]:
        recipe = cyclegan.DEFAULT_RECIPE.get(arch)
    p = cyclegan.get_preset(arch, recipe, scale)
    return (p.image_size, p.batch_size, p.lr_g, p.lr_d, p.lambda_cycle, p.lambda_identity,
            gr.update(choices=choices, value=recipe, visible=len(choices) > 1))


def status_line(snap: dict | None) -> str:
    if snap is None:
        return "**No training run yet.** Choose data and settings, then press **Start**."
    state_ = snap["state"]
    parts = [f"**{state_.capitalize()}**", f"step {snap['step']} / {snap['total']}"]
    if snap.get("it_per_s"):
        parts.append(f"{snap['it_per_s']:.2f} steps/s")
    if snap.get("eta_s") is not None and state_ in ("running", "starting"):
        eta = snap["eta_s"]
        parts.append(f"ETA {eta:.0f} s" if eta < 120 else f"ETA {eta / 60:.1f} min")
    parts += [f"device {snap['device']}", f"run `{Path(snap['run_dir']).name}`"]
    line = " · ".join(parts)
    scores = snap.get("sample_scores")
    if scores:
        line += (f"\n\nSamples against the ground truth: A → B **{scores['a2b']:.1f} dB**, B → A "
                 f"**{scores['b2a']:.1f} dB** PSNR (doing nothing: {scores['identity']:.1f} dB)")
    if snap.get("error"):
        line += f"\n\n⚠️ {snap['error']}"
    elif state_ in ("finished", "stopped") and snap.get("latest_checkpoint"):
        line += "\n\n✅ The model is in the **Translate** tab's model list."
    return line


def loss_frame(history: list[dict]) -> pd.DataFrame:
    if len(history) > 400:  # keep the chart light on long runs
        stride = -(-len(history) // 400)
        history = history[::stride] + [history[-1]]
    rows = [(r["step"], k, float(v)) for r in history for k, v in r.items()
            if k not in LOSS_SKIP and isinstance(v, (int, float))]
    frame = pd.DataFrame(rows, columns=["step", "loss", "value"])
    # typed even when empty: the chart picks its axis kinds (numeric or not) from these
    return frame.astype({"step": "int64", "loss": "string", "value": "float64"})


def _buttons(active: bool, run_state: str | None):
    return (gr.update(interactive=not active), gr.update(interactive=run_state == "running"),
            gr.update(interactive=run_state == "paused"), gr.update(interactive=active))


def tick(seen, arch, current_model, loaded):
    """Every second: refresh what changed since this page last looked."""
    seen = dict(seen or {})
    snap = state.RUNS.snapshot()
    run_id = snap["run_dir"] if snap else None
    if run_id != seen.get("run"):
        seen = {"run": run_id}
    hist = snap["history"] if snap else []
    plot = legend = gr.skip()
    if not hist and seen.get("points") != 0:
        plot, legend, seen["points"], seen["names"] = None, "", 0, None
    elif hist and len(hist) != seen.get("points"):
        plot = loss_frame(hist)
        seen["points"] = len(hist)
        names = list(dict.fromkeys(plot["loss"].tolist()))
        if names != seen.get("names"):
            # The chart fixes its series when it is drawn; a new color_map makes it redraw.
            seen["names"] = names
            colors = style.loss_colors(names)
            plot, legend = gr.update(value=plot, color_map=colors), style.legend_html(colors)
    sample = gr.skip()
    latest = snap["latest_sample"] if snap else None
    if latest != seen.get("sample"):
        sample = latest
        seen["sample"] = latest
    models = gr.skip()
    ckpt = snap["latest_checkpoint"] if snap else None
    if ckpt != seen.get("ckpt"):
        seen["ckpt"] = ckpt
        if ckpt:
            models = refresh_models(arch, current_model, loaded)
    run_state = snap["state"] if snap else None
    buttons = (gr.skip(),) * 4
    if run_state != seen.get("state"):
        seen["state"] = run_state
        buttons = _buttons(bool(snap) and run_state in ("starting", "running", "paused", "stopping"), run_state)
    log_text = "\n".join(reversed(snap["log"][-20:])) if snap else ""
    return (status_line(snap), plot, legend, sample, log_text, models, *buttons, seen)


@friendly
def ui_start(source, world, zip_file, folder, arch, recipe, scale, size, steps, batch, lr_g, lr_d, lam_c, lam_i):
    if source == "demo":
        data = f"demo:{world}"
    elif source == "zip":
        if not zip_file:
            raise UserInputError("upload a .zip with trainA/ and trainB/ (or A/ and B/) folders first")
        data = zip_file
    else:
        data = (folder or "").strip()
        if not data:
            raise UserInputError("type the path of a folder on the server that holds trainA/ and trainB/")
    recipe = recipe if recipe in cyclegan.RECIPES.get(arch, {}) else None
    api.start_training(data, arch, scale, size, steps, batch, recipe, lr_g, lr_d, lam_c, lam_i, uploaded=source == "zip")
    # Clear the last run's chart and sample grid at once; the timer fills in the new run's.
    return status_line(state.RUNS.snapshot()), None, "", None, {}


def _control(action: str):
    @friendly
    def handler():
        run = state.RUNS.current()
        getattr(run, action)()
        return status_line(run.snapshot())
    handler.__name__ = f"ui_{action}"
    return handler


ui_pause, ui_resume, ui_stop = _control("pause"), _control("resume"), _control("stop")


@friendly
def download_run():
    """The run's newest model (generators only), sample grids and metrics as one zip; load_model reads it."""
    snap = state.RUNS.snapshot()
    if not snap or not snap.get("latest_checkpoint"):
        raise UserInputError("no checkpoint yet: a run writes one every few steps and when stopped")
    return str(state.RUNS.current().folder.export_zip())   # gr.File takes a str, not a Path


def push_run(repo_id, token, private):
    """The token goes straight to huggingface_hub; it is never logged, echoed or kept."""
    try:
        status = state.RUNS.status()
        if not status.get("latest_checkpoint"):
            raise UserInputError("no checkpoint yet: train (or stop a run) first")
        repo_id = (repo_id or "").strip()
        if not repo_id:
            raise UserInputError("give a Hub repository id like 'your-name/day2night'")
        model = cyclegan.load_model(status["latest_checkpoint"])
        url = cyclegan.push_to_hub(model, repo_id, token=(token or "").strip() or None, private=bool(private))
        return f"Pushed to [{url}]({url})"
    except UserInputError as e:
        raise gr.Error(str(e), print_exception=False) from None
    except Exception as e:  # no traceback: locals and messages could carry the token
        log.error("push to the Hub failed: %s", type(e).__name__)
        raise gr.Error("push to the Hub failed (internal error)", print_exception=False) from None


def create() -> dict:
    lim = limits.current()
    p0 = cyclegan.get_preset("cyclegan", None, "quick")
    worlds = [(f"{w} ({' ↔ '.join(demo.domains(w))})", w) for w in demo.world_names()]
    sources = [("Built-in demo world", "demo"), ("Upload a .zip", "zip")]
    if lim.allow_server_paths:
        sources.append(("Folder on the server", "folder"))
    c = {}
    with gr.Tab("Train", id="train"):
        with gr.Row(equal_height=False):
            with gr.Column(scale=4, min_width=300):
                c["source"] = gr.Radio(sources, value="demo", label="Training data")
                c["world"] = gr.Dropdown(worlds, value=worlds[0][1], label="Demo world", elem_id="world")
                c["zip"] = gr.File(label="Dataset .zip (trainA/ + trainB/, or A/ + B/)", file_types=[".zip"],
                                   visible=False, height=130)
                c["folder"] = gr.Textbox(label="Folder on the server", placeholder="/data/horse2zebra", visible=False)
                c["arch"] = gr.Radio(state.ARCH_CHOICES, value="cyclegan", label="Architecture", elem_id="arch-train")
                c["recipe"] = gr.Dropdown(recipe_choices("cyclegan"), value=cyclegan.DEFAULT_RECIPE["cyclegan"],
                                          label="Recipe", visible=len(recipe_choices("cyclegan")) > 1, elem_id="recipe",
                                          info="how the architecture is trained: its paper, or its authors' code")
                c["scale"] = gr.Radio(SCALES, value="quick", label="Scale", elem_id="scale")
                with gr.Row():
                    c["size"] = gr.Number(p0.image_size, label="Image size", precision=0, minimum=16,
                                          maximum=lim.max_train_size, min_width=90)
                    c["steps"] = gr.Number(1000, label="Steps", precision=0, minimum=1, maximum=lim.max_train_steps,
                                           min_width=90)
                    c["batch"] = gr.Number(p0.batch_size, label="Batch", precision=0, minimum=1, min_width=90)
                with gr.Accordion("Advanced", open=False):
                    with gr.Row():
                        c["lr_g"] = gr.Number(p0.lr_g, label="lr_g (generators)")
                        c["lr_d"] = gr.Number(p0.lr_d, label="lr_d (discriminators)")
                    with gr.Row():
                        c["lam_c"] = gr.Number(p0.lambda_cycle, label="lambda_cycle")
                        c["lam_i"] = gr.Number(p0.lambda_identity, label="lambda_identity (× lambda_cycle)")
                with gr.Row():
                    c["start"] = gr.Button("Start", variant="primary", min_width=70)
                    c["pause"] = gr.Button("Pause", interactive=False, min_width=70)
                    c["resume"] = gr.Button("Resume", interactive=False, min_width=70)
                    c["stop"] = gr.Button("Stop", variant="stop", interactive=False, min_width=70)
                gr.Markdown("One run at a time per server; everyone sees the run in progress. "
                            "**Stop** writes a final checkpoint.")
            with gr.Column(scale=7, min_width=360):
                c["status"] = gr.Markdown(status_line(None), elem_classes="status-line", elem_id="train-status")
                c["chart"] = gr.LinePlot(None, x="step", y="value", color="loss", colors_in_legend=[], label="Losses",
                                         elem_id="loss-chart", x_title="step", y_title="loss", height=300)
                c["legend"] = gr.HTML("", elem_id="loss-legend")
                c["sample"] = gr.Image(label="Samples: real A · fake B · rec A · real B · fake A · rec B",
                                       elem_id="sample-grid", type="filepath", interactive=False, height=300,
                                       buttons=["download", "fullscreen"])
                c["log"] = gr.Textbox(label="Log (newest first)", lines=8, max_lines=8, interactive=False,
                                      autoscroll=False)
                with gr.Accordion("Export the model", open=False):
                    gr.Markdown("The newest checkpoint as a model folder, with the sample grids and "
                                "metrics; `cyclegan.load_model` and **Load a model** read the zip as it is.")
                    c["dl_btn"] = gr.Button("Download run (.zip)")
                    c["dl_file"] = gr.File(label="Run zip", interactive=False, visible=False, height=80, elem_id="run-zip")
                    with gr.Row():
                        c["repo"] = gr.Textbox(label="Hub repository", placeholder="your-name/day2night")
                        c["token"] = gr.Textbox(label="Hub token (write access)", type="password", placeholder="hf_...")
                        c["private"] = gr.Checkbox(True, label="Private")
                    c["push_btn"] = gr.Button("Push to the Hub")
                    c["push_msg"] = gr.Markdown("")
        c["seen"] = gr.State({})          # what this page has shown of the run (see tick)
    return c


def wire(shared: dict) -> None:
    c, t = shared["train"], shared["translate"]
    c["source"].change(lambda s: (gr.update(visible=s == "demo"), gr.update(visible=s == "zip"),
                                  gr.update(visible=s == "folder")), c["source"], [c["world"], c["zip"], c["folder"]],
                       **PRIVATE)
    gr.on([c["arch"].change, c["recipe"].change, c["scale"].change], recipe_form, [c["arch"], c["recipe"], c["scale"]],
          [c["size"], c["batch"], c["lr_g"], c["lr_d"], c["lam_c"], c["lam_i"], c["recipe"]], **PRIVATE)
    chart = [c["status"], c["chart"], c["legend"], c["sample"], c["seen"]]
    c["start"].click(ui_start, [c[k] for k in ("source", "world", "zip", "folder", "arch", "recipe", "scale", "size",
                                               "steps", "batch", "lr_g", "lr_d", "lam_c", "lam_i")], chart, **PRIVATE)
    c["pause"].click(ui_pause, None, c["status"], **PRIVATE)
    c["resume"].click(ui_resume, None, c["status"], **PRIVATE)
    c["stop"].click(ui_stop, None, c["status"], **PRIVATE)
    gr.Timer(1.0).tick(tick, [c["seen"], t["arch"], t["model"], t["loaded"]],
                       [c["status"], c["chart"], c["legend"], c["sample"], c["log"], t["model"],
                        c["start"], c["pause"], c["resume"], c["stop"], c["seen"]],
                       show_progress="hidden", concurrency_limit=None, **PRIVATE)
    c["dl_btn"].click(lambda: gr.update(value=download_run(), visible=True), None, c["dl_file"], **PRIVATE)
    c["push_btn"].click(push_run, [c["repo"], c["token"], c["private"]], c["push_msg"], **PRIVATE)
