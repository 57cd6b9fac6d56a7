"""The Train tab: data, architecture, recipe, scale and a few numbers; Start / Pause / Resume /
Stop; every second the status, loss chart, live score chart, sample grid and log of the server's
one run (only the visitor who started it may control it; everyone watches); the export section
(ui/export.py)."""
from pathlib import Path

import gradio as gr

import cyclegan
from cyclegan import UserInputError, demo, limits, zoo

from . import api, export, forms, state, train_charts, visitor
from .errors import friendly, scrub
from .translate_tab import refresh_models

PRIVATE = dict(api_visibility="private")
SCALES = [("Quick (small nets, fine on a CPU)", "quick"), ("Full (the published nets)", "full")]
# What each recipe is, named by its source and version (cyclegan/presets.py cites each).
RECIPE_LABELS = {("cyclegan", "paper"): "Paper (Zhu et al. 2017): ResNet-6 below 256 px, 9 from 256",
                 ("cyclegan", "code"): "Official code (c05b30e): ResNet-9 at every size",
                 ("discogan", "code"): "Authors' code (SKTBrain/DiscoGAN, f044178)",
                 ("dualgan", "paper"): "Paper (Yi et al. 2017): WGAN + weight clipping, RMSProp, λ 100",
                 ("dualgan", "code-2017-04"): "Authors' code, Apr 2017 (d71400c): WGAN + clipping, 3 critic steps, λ 200",
                 ("dualgan", "code-2017-08"): "Authors' code, Aug 2017 (3139ecf): sigmoid cross-entropy, λ 20, RMSProp",
                 ("dualgan", "code-2020"): "Authors' code, 2020 (915116c): WGAN-GP, λ 500, global critic, RMSProp",
                 ("cut", "cut"): "CUT (Park et al. 2020), authors' code (b3ac297) defaults: PatchNCE λ 1 + identity NCE",
                 ("cut", "fastcut"): "FastCUT (Park et al. 2020), authors' code (b3ac297) defaults: PatchNCE λ 10, flip-equivariance"}
TWO_COLUMNS = ("real A", "fake B", "rec A", "real B", "fake A", "rec B")


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
    one = len(p.directions) == 1
    a, b = p.directions[0][0].upper(), p.directions[0][-1].upper()
    note = (f"**One direction**: {p.title.split(' (')[0]} trains a single generator {a} → {b}, so its model has "
            f"no {b} → {a} and no round trip. The live score and the sample grids show {a} → {b} only." if one else "")
    return (p.image_size, p.batch_size, p.lr_g, p.lr_d, p.lambda_cycle, p.lambda_identity,
            gr.update(choices=choices, value=recipe, visible=len(choices) > 1), gr.update(visible=not one),
            gr.update(value=p.lambda_nce if p.nce_layers else None, visible=bool(p.nce_layers)), note)


def arch_form(arch, scale):
    """A new architecture starts from its own default recipe: keeping the last one's name would
    turn CycleGAN's "paper" into DualGAN's paper recipe, which is not DualGAN's default."""
    return recipe_form(arch, None, scale)


def status_line(snap: dict | None, mine: bool = True, interrupted: dict | None = None) -> str:
    if snap is None:
        if interrupted:
            return (f"**Interrupted**: run `{interrupted['name']}` stopped when the server restarted. "
                    + ("Press **Resume** to continue it from its newest checkpoint." if mine else
                       "The visitor who started it can resume it; you can start a new run."))
        return "**No training run yet.** Choose data and settings, then press **Start**."
    state_ = snap["state"]
    parts = [f"**{state_.capitalize()}**", f"step {snap['step']} / {snap['total']}"]
    if snap.get("it_per_s"):
        parts.append(f"{snap['it_per_s']:.2f} steps/s")
    if snap.get("eta_s") is not None and state_ in ("running", "starting"):
        eta = snap["eta_s"]
        parts.append(f"ETA {eta:.0f} s" if eta < 120 else f"ETA {eta / 60:.1f} min")
    parts += [f"device {snap['device']}", f"run `{Path(snap['run_dir']).name}`"]
    if snap.get("best"):
        parts.append(train_charts.best_line(snap["best"]))
    line = " · ".join(parts)
    scores = snap.get("sample_scores")
    if scores:
        ways = f"A → B **{scores['a2b']:.1f} dB**" + (f", B → A **{scores['b2a']:.1f} dB**" if "b2a" in scores else "")
        line += f"\n\nSamples against the ground truth: {ways} PSNR (doing nothing: {scores['identity']:.1f} dB)"
    if state_ in ("starting", "running", "paused", "stopping") and not mine:
        line += "\n\nAnother visitor started this run: you can watch it; only they can pause, resume or stop it."
    if snap.get("error"):
        line += f"\n\n⚠️ {scrub(snap['error'])}"
    elif snap.get("notice"):
        line += f"\n\nℹ️ {snap['notice']}"
    if snap.get("data_note"):
        line += f"\n\nℹ️ Data: {scrub(snap['data_note'])}"
    if not snap.get("error") and state_ in ("finished", "stopped") and snap.get("latest_checkpoint"):
        line += "\n\n✅ The model is in the **Translate** tab's model list."
    return line


def sample_label(columns) -> str:
    return "Samples: " + " · ".join(columns or TWO_COLUMNS)


def _buttons(active: bool, run_state: str | None, mine: bool, resumable: bool):
    return (gr.update(interactive=not active), gr.update(interactive=run_state == "running" and mine),
            gr.update(interactive=(run_state == "paused" and mine) or resumable),
            gr.update(interactive=active and mine))


def _view(owner):
    """(the run's snapshot, is it this visitor's, the interrupted run shown when none is active,
    may this visitor resume that one)."""
    run = state.RUNS.run
    snap = run.snapshot() if run is not None else None
    mine = run is not None and visitor.may_control(run.owner, owner)
    interrupted = None
    if run is None or not run.active:
        interrupted = state.interrupted_run()
    if interrupted is not None:
        snap = None
    resumable = interrupted is not None and visitor.may_control(interrupted.get("owner"), owner)
    return snap, mine or resumable, interrupted, resumable


def tick(seen, arch, current_model, loaded, owner):
    """Every second: refresh what changed since this page last looked."""
    seen = dict(seen or {})
    snap, mine, interrupted, resumable = _view(owner)
    run_id = snap["run_dir"] if snap else None
    if run_id != seen.get("run"):
        seen = {"run": run_id}
    plot, legend = train_charts.update(seen, "loss", snap["history"] if snap else [], train_charts.loss_frame)
    scores = snap.get("scores", []) if snap else []
    domains = snap.get("domains") if snap else None
    score_plot, score_legend = train_charts.update(seen, "score", scores,
                                                   lambda rows: train_charts.score_frame(rows, domains),
                                                   train_charts.score_colors)
    note = gr.skip()
    if (scores[-1]["step"] if scores else None) != seen.get("score_step"):
        seen["score_step"] = scores[-1]["step"] if scores else None
        note = train_charts.score_note(scores[-1] if scores else None)
    sample = gr.skip()
    latest = snap["latest_sample"] if snap else None
    if latest != seen.get("sample"):
        cols = snap.get("sample_columns") if snap else None
        sample = gr.update(value=latest, label=sample_label(cols))
        seen["sample"] = latest
    models = gr.skip()
    ckpt = snap["latest_checkpoint"] if snap else None
    if ckpt != seen.get("ckpt"):
        seen["ckpt"] = ckpt
        if ckpt:
            models = refresh_models(arch, current_model, loaded)
    run_state = snap["state"] if snap else None
    buttons = (gr.skip(),) * 4
    key = [run_state, mine, resumable]
    if key != seen.get("buttons"):
        seen["buttons"] = key
        buttons = _buttons(bool(snap) and run_state in ("starting", "running", "paused", "stopping"), run_state,
                           mine, resumable)
    log_text = scrub("\n".join(reversed(snap["log"][-20:]))) if snap else ""
    export.prune_exports()   # zips fetched through the API go a couple of minutes later
    return (status_line(snap, mine, interrupted), plot, legend, sample, log_text, models, *buttons, seen,
            score_plot, score_legend, note)


SCRATCH = ("Random weights (train from scratch)", "")


def init_choices(arch: str) -> list[tuple[str, str]]:
    """What a run of `arch` can start from: its built-in and trained models, and for CycleGAN the
    official zoo (downloaded when the run starts); any other spec can be typed (a Hub id, a file)."""
    own = [(label, spec) for label, spec in state.model_choices(arch) if not spec.startswith("official:")]
    zoo_models = [(f"official: {label}", spec) for label, spec in zoo.model_choices()] if arch == "cyclegan" else []
    return [SCRATCH, *own, *zoo_models]


def init_form(arch, current):
    choices = init_choices(arch)
    return gr.update(choices=choices, value=current if current in [v for _, v in choices] else "")


@friendly
def ui_start(source, world, zip_file, folder, official, arch, recipe, scale, size, steps, batch, lr_g, lr_d, lam_c,
             lam_i, hub_data, tensorboard, lam_nce, score_every, init, owner,
             oauth_token: gr.OAuthToken | None = None):
    if source == "demo":
        data = f"demo:{world}"
    elif source == "official":
        if not official:
            raise UserInputError("choose one of the official datasets first")
        data = f"official:{official}"
    elif source == "hub":
        data = (hub_data or "").strip().removeprefix("hub:")
        if not data:
            raise UserInputError("type the id of a Hugging Face dataset, like huggan/horse2zebra")
        data = "hub:" + data
    elif source == "zip":
        if not zip_file:
            raise UserInputError("upload a .zip with trainA/ and trainB/ (or A/ and B/) folders first")
        data = zip_file
    else:
        data = (folder or "").strip()
        if not data:
            raise UserInputError("type the path of a folder on the server that holds trainA/ and trainB/")
    recipe = recipe if recipe in cyclegan.RECIPES.get(arch, {}) else None
    p = cyclegan.get_preset(arch, recipe, scale)
    if len(p.directions) == 1:      # the cycle boxes are hidden for a one-direction architecture
        lam_c = lam_i = None
    if init:   # rates left as the form shows them are the scale's fresh-start ones: a fine-tune keeps the recipe's
        lr_g, lr_d = (None if forms.opt_float(v, name) == getattr(p, name) else v
                      for v, name in ((lr_g, "lr_g"), (lr_d, "lr_d")))
    token = visitor.read_token(oauth_token)
    run = api.start_training(data, arch, scale, size, steps, batch, recipe, lr_g, lr_d, lam_c, lam_i,
                             uploaded=source == "zip", owner_secret=visitor.ensure_owner(owner),
                             log="tensorboard" if tensorboard else None, hub_token=token,
                             lambda_nce=lam_nce if p.nce_layers else None, score_every=score_every, init=init)
    # Clear the last run's charts and sample grid at once; the timer fills in the new run's.
    return status_line(run.snapshot()), None, "", None, {}, None, "", train_charts.score_note(None)


def _control(action: str):
    @friendly
    def handler(owner):
        run = state.RUNS.run
        if action == "resume" and (run is None or not run.active):
            found = state.interrupted_run()
            if found:   # the server restarted under this run: continue it from its checkpoint
                return status_line(api.resume_interrupted(found["name"], owner).snapshot())
        run = state.RUNS.current()
        visitor.check_control(run.owner, owner, action)
        getattr(run, action)()
        return status_line(run.snapshot())
    handler.__name__ = f"ui_{action}"
    return handler


ui_pause, ui_resume, ui_stop = _control("pause"), _control("resume"), _control("stop")


def create() -> dict:
    lim = limits.current()
    p0 = cyclegan.get_preset("cyclegan", None, "quick")
    worlds = [(f"{w} ({' ↔ '.join(demo.domains(w))})", w) for w in demo.world_names()]
    sources = [("Built-in demo world", "demo"), ("Official CycleGAN dataset", "official"), ("Upload a .zip", "zip"),
               ("Hugging Face dataset", "hub")]
    official = [(f"{n} ({a} ↔ {b})", n) for n, (a, b) in zoo.DATASET_DOMAINS.items()]
    if lim.allow_server_paths:
        sources.append(("Folder on the server", "folder"))
    c = {}
    with gr.Tab("Train", id="train") as c["tab"]:
        with gr.Row(equal_height=False):
            with gr.Column(scale=4, min_width=300):
                c["source"] = gr.Radio(sources, value="demo", label="Training data")
                c["world"] = gr.Dropdown(worlds, value=worlds[0][1], label="Demo world", elem_id="world")
                c["official"] = gr.Dropdown(official, value="horse2zebra", label="Official dataset", visible=False,
                                            elem_id="official-data", info="the CycleGAN authors' datasets, downloaded "
                                            "once into the cache when the run starts (Stop cancels the download)")
                c["zip"] = gr.File(label="Dataset .zip (trainA/ + trainB/, A/ + B/, or two folders like horses/ + "
                                   "zebras/)", file_types=[".zip"], visible=False, height=130, elem_id="train-zip")
                c["folder"] = gr.Textbox(label="Folder on the server", placeholder="/data/horse2zebra", visible=False)
                c["hub_data"] = gr.Textbox(label="Hugging Face dataset", placeholder="huggan/horse2zebra", visible=False,
                                           elem_id="hub-data", info="public: image folders (trainA/ trainB/) or "
                                           "parquet with two image columns or a two-value label")
                c["arch"] = gr.Radio(state.ARCH_CHOICES, value="cyclegan", label="Architecture", elem_id="arch-train")
                c["recipe"] = gr.Dropdown(recipe_choices("cyclegan"), value=cyclegan.DEFAULT_RECIPE["cyclegan"],
                                          label="Recipe", visible=len(recipe_choices("cyclegan")) > 1, elem_id="recipe",
                                          info="how the architecture is trained: its paper, or its authors' code")
                c["scale"] = gr.Radio(SCALES, value="quick", label="Scale", elem_id="scale")
                c["one_way"] = gr.Markdown("", elem_id="one-direction-note")
                c["init"] = gr.Dropdown(init_choices("cyclegan"), value="", label="Start from", elem_id="init",
                                        allow_custom_value=True, filterable=True,
                                        info="a trained model to fine-tune (its nets replace the scale's; a "
                                             "one-direction model gives G_AB only), or type a Hub id")
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
                    with gr.Row() as c["cycle_row"]:    # hidden for a one-direction architecture
                        c["lam_c"] = gr.Number(p0.lambda_cycle, label="lambda_cycle")
                        c["lam_i"] = gr.Number(p0.lambda_identity, label="lambda_identity (× lambda_cycle)")
                    c["lam_nce"] = gr.Number(None, label="lambda_NCE (PatchNCE weight)", visible=False)
                    c["score_every"] = gr.Number(None, label="Score every (steps)", precision=0, minimum=0,
                                                 elem_id="score-every",
                                                 info="KID (random features) on held-out images; empty: at "
                                                      "each checkpoint (every 200 steps, or half a short run); "
                                                      "0: off")
                    c["tensorboard"] = gr.Checkbox(False, label="TensorBoard log (beside the run's metrics)",
                                                   elem_id="tensorboard")
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
                c["score_chart"] = gr.LinePlot(None, x="step", y="value", color="series", colors_in_legend=[],
                                               label=train_charts.SCORE_TITLE, elem_id="score-chart", x_title="step",
                                               y_title="KID", height=220)
                c["score_legend"] = gr.HTML("", elem_id="score-legend")
                c["score_note"] = gr.Markdown(train_charts.score_note(None), elem_id="score-note")
                c["sample"] = gr.Image(label=sample_label(None),
                                       elem_id="sample-grid", type="filepath", interactive=False, height=300,
                                       buttons=["download", "fullscreen"])
                c["log"] = gr.Textbox(label="Log (newest first)", lines=8, max_lines=8, interactive=False,
                                      autoscroll=False, elem_id="train-log")
                c["export"] = export.create()
        c["seen"] = gr.State({})          # what this page has shown of the run (see tick)
    return c


def wire(shared: dict) -> None:
    c, t = shared["train"], shared["translate"]
    c["source"].change(lambda s: (gr.update(visible=s == "demo"), gr.update(visible=s == "official"),
                                  gr.update(visible=s == "zip"), gr.update(visible=s == "folder"),
                                  gr.update(visible=s == "hub")), c["source"],
                       [c["world"], c["official"], c["zip"], c["folder"], c["hub_data"]], **PRIVATE)
    c["arch"].change(init_form, [c["arch"], c["init"]], c["init"], **PRIVATE)
    c["tab"].select(init_form, [c["arch"], c["init"]], c["init"], **PRIVATE)     # new runs to start from
    recipe_outputs = [c["size"], c["batch"], c["lr_g"], c["lr_d"], c["lam_c"], c["lam_i"], c["recipe"], c["cycle_row"],
                      c["lam_nce"], c["one_way"]]
    c["arch"].change(arch_form, [c["arch"], c["scale"]], recipe_outputs, **PRIVATE)
    gr.on([c["recipe"].change, c["scale"].change], recipe_form, [c["arch"], c["recipe"], c["scale"]], recipe_outputs,
          **PRIVATE)
    chart = [c["status"], c["chart"], c["legend"], c["sample"], c["seen"], c["score_chart"], c["score_legend"],
             c["score_note"]]
    owner = shared["owner"]
    form = [c[k] for k in ("source", "world", "zip", "folder", "official", "arch", "recipe", "scale", "size", "steps",
                           "batch", "lr_g", "lr_d", "lam_c", "lam_i", "hub_data", "tensorboard", "lam_nce",
                           "score_every", "init")]
    c["start"].click(ui_start, [*form, owner], chart, **PRIVATE)
    c["pause"].click(ui_pause, owner, c["status"], **PRIVATE)
    c["resume"].click(ui_resume, owner, c["status"], **PRIVATE)
    c["stop"].click(ui_stop, owner, c["status"], **PRIVATE)
    gr.Timer(1.0).tick(tick, [c["seen"], t["arch"], t["model"], t["loaded"], owner],
                       [c["status"], c["chart"], c["legend"], c["sample"], c["log"], t["model"],
                        c["start"], c["pause"], c["resume"], c["stop"], c["seen"], c["score_chart"],
                        c["score_legend"], c["score_note"]],
                       show_progress="hidden", concurrency_limit=None, **PRIVATE)
    export.wire(c["export"])
