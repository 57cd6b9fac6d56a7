"""The app in a real browser: translate, switch models, train, and use the trained model.
Also checks that the page asks nothing of any host but the app's own."""
import io
import json
import os
import re
import shutil
import time
import zipfile
from pathlib import Path
from urllib.parse import urlparse

import numpy as np
import pytest
from PIL import Image

import cyclegan
from conftest import tiny_model
from cyclegan.checkpoints import DEMO_DIR
from ui import export, translate_tab
from ui.state import ARCH_TITLES

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]
ROOT = Path(__file__).resolve().parents[1]
# Steps before the grid is judged (README: "Learning per CPU-minute"). DualGAN's default recipe
# (code-2017-08) scores about 19 / 16 dB on its grid by step 300 (one thread); its case waits for
# step 500, a margin kept from when the page trained the paper recipe there by mistake (the
# recipe box kept CycleGAN's "paper" when the architecture changed). DiscoGAN's quick default
# passes +8 dB both ways by ~1,300 steps.
MIN_STEPS = {"dualgan": 450, "discogan": 1000}

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason=f"no Chromium at {CHROMIUM} (apt-get install chromium)"),
]


def publish_screenshot(artifacts: Path, name: str) -> None:
    """Screenshots land in artifacts/; README's copies in docs/screenshots change only on request
    (CYCLEGAN_SCREENSHOTS=1), so a test run leaves the checkout as it was."""
    if os.environ.get("CYCLEGAN_SCREENSHOTS") == "1":
        shots = ROOT / "docs" / "screenshots"
        shots.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(artifacts / name, shots / name)


def publish(artifacts: Path, *names: str) -> None:
    """publish_screenshot for each of `names` that a test took."""
    for name in names:
        if (artifacts / name).is_file():
            publish_screenshot(artifacts, name)


@pytest.fixture(scope="module")
def artifacts() -> Path:
    out = Path(os.environ.get("ARTIFACTS_DIR") or ROOT / "artifacts")
    out.mkdir(parents=True, exist_ok=True)
    return out


@pytest.fixture(scope="module")
def playwright():
    """One playwright for the module: a second sync_playwright() inside the first is refused."""
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as p:
        yield p


@pytest.fixture(scope="module")
def page(app_server, playwright):
    url, _, runs = app_server
    # Two untrained models as if they were finished runs, so both architectures have one to pick.
    for arch in ("cyclegan", "dualgan"):
        cyclegan.save_model(tiny_model(arch), runs / f"tiny-{arch}" / "latest")
    requests: list[str] = []
    browser = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
    pg = browser.new_page(viewport={"width": 1400, "height": 1000})
    pg.on("request", lambda r: requests.append(r.url))
    pg.goto(url)
    pg.locator("#translate-btn").wait_for()
    pg.set_default_timeout(30_000)
    yield pg, runs, requests
    browser.close()


def model_for(arch: str) -> tuple[str, tuple[str, str]]:
    """(text of its entry in the model list, its domains): the built-in model where one is
    shipped (nicer screenshots), else the untrained stand-in the fixture wrote."""
    folder = DEMO_DIR / arch
    if (folder / "model.safetensors").is_file():
        cfg = json.loads((folder / "config.json").read_text())
        a, b = cfg["domains"]
        return f"built-in: {ARCH_TITLES[arch]} {a} ↔ {b}", (a, b)
    return f"tiny-{arch}", ("day", "night")


def run_name_in(status: str) -> str | None:
    m = re.search(r"run (\S+)", status)
    return m.group(1) if m else None


def choose_model(pg, text: str) -> None:
    pg.locator("#model input").click()
    pg.get_by_role("option", name=re.compile(re.escape(text))).first.click()
    pg.wait_for_function("t => document.querySelector('#model input').value.includes(t)", arg=text)


def translate(pg, expect: str) -> None:
    """Press Translate and wait (`wait_for_translation`); the demo inputs are 256 px."""
    wait_for_translation(pg, expect)
    assert pg.evaluate("document.querySelector('#translation img').naturalWidth") == 256  # the input's size


def wait_for_translation(pg, expect: str) -> None:
    """Press Translate; wait for a new output image and the round-trip message naming the direction."""
    js_src = "(document.querySelector('#translation img') || {}).src || ''"
    before = [pg.locator("#round-trip-msg").inner_text(), pg.evaluate(js_src)]
    pg.locator("#translate-btn").click()
    pg.wait_for_function(
        "([msg, src, e]) => { const t = document.querySelector('#round-trip-msg').innerText;"
        " const img = document.querySelector('#translation img');"
        " return t !== msg && t.includes(e) && img && img.src !== src && img.complete && img.naturalWidth > 0; }",
        arg=[*before, expect])


@pytest.mark.slow
def test_translate_train_and_use(page, artifacts):
    pg, runs, requests = page
    timings = {}

    # --- translate with a CycleGAN model, then switch architecture and direction ---------------
    entry, (a, b) = model_for("cyclegan")
    choose_model(pg, entry)
    examples = {Path(p).name: p for p in translate_tab.example_images()}   # what the page shows
    example = examples["daynight-day-0.png"]
    pg.locator("#input-image input[type=file]").set_input_files(str(example))
    pg.locator("#input-image img").wait_for()
    translate(pg, f"{a} → {b} → {a}")
    assert pg.locator("#round-trip img").count() == 1
    # The before/after slider: the input and the translation, both at the input's size.
    pg.wait_for_function("[...document.querySelectorAll('#before-after img')].filter(i => i.complete && "
                         "i.naturalWidth === 256).length === 2")
    pg.wait_for_timeout(800)
    pg.locator("#before-after").screenshot(path=str(artifacts / "slider.png"))

    pg.locator("#arch label", has_text="DualGAN").click()
    entry, (a, b) = model_for("dualgan")
    pg.wait_for_function("document.querySelector('#model input').value.includes('DualGAN')"
                         " || document.querySelector('#model input').value.includes('dualgan')")
    choose_model(pg, entry)
    pg.locator("#direction label", has_text=f"{b} → {a}").click()
    night = examples["daynight-night-0.png"]                  # the same scene at night
    pg.locator("#input-image button[aria-label='Remove Image']").click()
    pg.locator("#input-image input[type=file]").set_input_files(str(night))
    pg.locator("#input-image img").wait_for()
    translate(pg, f"{b} → {a} → {b}")
    pg.wait_for_timeout(800)  # let the outputs fade back in from their pending look
    pg.screenshot(path=str(artifacts / "translate.png"), full_page=True)

    # --- train a small CycleGAN on the demo world -------------------------------------------
    pg.get_by_role("tab", name="Train").click()
    pg.locator("#arch-train label", has_text="CycleGAN").click()
    pg.locator("#world input").click()
    pg.get_by_role("option", name=re.compile("^summerwinter")).click()  # unlike test_app's run
    pg.get_by_label("Image size").fill("32")
    pg.get_by_label("Steps").fill("400")
    old_run = run_name_in(pg.locator("#train-status").inner_text())
    old_sample = pg.evaluate("(document.querySelector('#sample-grid img') || {}).src || ''")
    t0 = time.perf_counter()
    pg.get_by_role("button", name="Start").click()
    # A page shows the last run until the new one reports; one refresh brings status and chart together.
    pg.wait_for_function("old => { const m = document.querySelector('#train-status').innerText.match(/run (\\S+)/);"
                         " return m && m[1] !== old; }", arg=old_run or "")
    pg.wait_for_function("[...document.querySelectorAll('#loss-chart g.mark-line path')]"
                         ".some(p => (p.getAttribute('d') || '').length > 0)", timeout=60_000)
    timings["start_to_first_loss_point_s"] = round(time.perf_counter() - t0, 2)
    pg.wait_for_function("old => { const i = document.querySelector('#sample-grid img');"
                         " return i && i.src && i.src !== old && i.complete && i.naturalWidth > 0; }",
                         arg=old_sample, timeout=60_000)
    timings["start_to_first_sample_grid_s"] = round(time.perf_counter() - t0, 2)
    pg.wait_for_function("document.querySelectorAll('#loss-chart g.mark-line path').length >= 6")
    legend = pg.locator("#loss-legend").inner_text()
    assert all(k in legend for k in ("D_A", "G_AB", "cycle_A", "cycle_B")), legend
    pg.wait_for_function("/step (4[5-9]|[5-9][0-9]|[1-3][0-9][0-9]) \\//.test("  # past the 2nd sample grid
                         "document.querySelector('#train-status').innerText)", timeout=90_000)
    status = pg.locator("#train-status").inner_text()
    assert status.startswith("Running"), status
    run_name = run_name_in(status)
    assert run_name and run_name != old_run
    pg.wait_for_timeout(1500)  # let the chart finish drawing
    pg.screenshot(path=str(artifacts / "train.png"), full_page=True)

    pg.get_by_role("button", name="Stop").click()
    pg.wait_for_function("document.querySelector('#train-status').innerText.startsWith('Stopped')", timeout=60_000)
    assert "Translate tab" in pg.locator("#train-status").inner_text()

    # --- the stopped run, downloaded as a zip through the page -----------------------------------
    pg.get_by_role("button", name=re.compile("Export the model")).click()
    pg.get_by_role("button", name="Download run (.zip)").click()
    link = pg.locator("#run-zip a[href]").first
    link.wait_for(timeout=60_000)
    assert f"{run_name}\n.zip" in pg.locator("#run-zip").inner_text()     # the page shows name and suffix
    zipped = pg.request.get(link.get_attribute("href"))         # what the browser's download fetches
    assert zipped.ok and zipped.body()[:2] == b"PK"
    with zipfile.ZipFile(io.BytesIO(zipped.body())) as zf:
        names = zf.namelist()
    assert f"{run_name}/model/model.safetensors" in names and any("/samples/step_" in n for n in names)
    pg.wait_for_timeout(500)   # the page's follow-up event removes the server's own copy of the zip
    assert not list(export.exports_dir().rglob("*.zip")), "the run zip was left in the server's temp folder"
    assert pg.locator("#hf-login").count() == 0     # Sign in with Hugging Face: only on a Space with OAuth

    # --- the new model is in the Translate tab's list and translates ----------------------------
    pg.get_by_role("tab", name="Translate").click()
    pg.locator("#arch label", has_text="CycleGAN").click()
    choose_model(pg, run_name)
    pg.locator("#direction label", has_text="summer → winter").click()
    translate(pg, "summer → winter → summer")

    hosts = {urlparse(u).hostname for u in requests if urlparse(u).scheme in ("http", "https", "ws", "wss")}
    assert hosts <= {"127.0.0.1", "localhost"}, f"requests left the machine: {sorted(hosts)}"

    for name in ("translate.png", "train.png", "slider.png"):
        publish_screenshot(artifacts, name)
    (artifacts / "browser_timings.json").write_text(json.dumps(timings, indent=2))
    print("browser timings:", timings)


def test_recipe_choice_in_the_form(page):
    """Picking DualGAN shows its recipes, its default the authors' Aug 2017 code; the paper's fills
    in its numbers; CycleGAN offers its paper and official code; DiscoGAN, one recipe, hides the list."""
    pg, _, _ = page
    pg.get_by_role("tab", name="Train").click()
    pg.get_by_role("button", name=re.compile("Advanced")).click()
    lam = pg.get_by_label("lambda_cycle", exact=True)
    pg.locator("#arch-train label", has_text="CycleGAN").click()
    pg.wait_for_function("el => el.value === '10'", arg=lam.element_handle())
    pg.locator("#recipe").wait_for(state="visible")
    assert "Paper (Zhu et al. 2017)" in pg.locator("#recipe input").input_value()
    pg.locator("#arch-train label", has_text="DiscoGAN").click()
    pg.locator("#recipe").wait_for(state="hidden")
    pg.locator("#arch-train label", has_text="DualGAN").click()
    pg.locator("#recipe").wait_for(state="visible")
    pg.wait_for_function("el => el.value === '20'", arg=lam.element_handle())    # Aug 2017 code: λ 20
    assert "Aug 2017" in pg.locator("#recipe input").input_value()
    pg.locator("#recipe input").click()
    pg.get_by_role("option", name=re.compile("^Paper")).click()
    pg.wait_for_function("el => el.value === '100'", arg=lam.element_handle())
    assert pg.get_by_label("lr_g (generators)").input_value() == "0.00005"



def fake_camera_clip(path: Path, n: int = 60) -> Path:
    """A Y4M clip chromium plays as its fake camera: a demo day scene, panning."""
    av = pytest.importorskip("av")
    import numpy as np
    from cyclegan import demo
    scene = demo.render("daynight", demo.test_seeds("daynight", 1)[0], "A", 480)
    with av.open(str(path), "w", format="yuv4mpegpipe") as box:
        s = box.add_stream("rawvideo", rate=10)
        s.width, s.height, s.pix_fmt = 320, 240, "yuv420p"
        for i in range(n):
            frame = np.asarray(scene.crop((2 * i, 60, 2 * i + 320, 300)))
            for packet in s.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")):
                box.mux(packet)
        for packet in s.encode(None):
            box.mux(packet)
    return path


@pytest.mark.slow
def test_webcam_mode(app_server, playwright, artifacts, tmp_path):
    """The Live tab with chromium's fake camera (fed a demo scene): Record streams frames to the
    server and the translated frames and the frames per second come back."""
    clip = fake_camera_clip(tmp_path / "camera.y4m")
    args = ARGS + ["--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream",
                   f"--use-file-for-fake-video-capture={clip}"]
    requests: list[str] = []
    browser = playwright.chromium.launch(executable_path=CHROMIUM, args=args)
    pg = browser.new_context(viewport={"width": 1400, "height": 1000}, permissions=["camera"]).new_page()
    pg.on("request", lambda r: requests.append(r.url))
    pg.set_default_timeout(30_000)
    pg.goto(app_server[0])
    pg.get_by_role("tab", name="Live").click()
    pg.locator("#live-model input").click()
    pg.get_by_role("option", name=re.compile("built-in: CycleGAN")).first.click()
    pg.locator("#webcam").get_by_text("Click to Access Webcam").click()
    pg.locator("#webcam").get_by_role("button", name=re.compile("capture photo")).click()
    pg.wait_for_function("() => { const i = document.querySelector('#webcam-out img');"
                         " return i && i.complete && i.naturalWidth > 0; }", timeout=60_000)
    pg.wait_for_function("/\\d+\\.\\d frames\\/s.* · (2[0-9]|[3-9][0-9]|[1-9][0-9]{2}) frames/"
                         ".test(document.querySelector('#webcam-fps').innerText)", timeout=90_000)
    line = pg.locator("#webcam-fps").inner_text()
    pg.wait_for_timeout(500)
    pg.screenshot(path=str(artifacts / "webcam.png"), full_page=False)
    browser.close()
    assert re.search(r"net at \d+×\d+ \(auto\)", line), line
    hosts = {urlparse(u).hostname for u in requests if urlparse(u).scheme in ("http", "https", "ws", "wss")}
    assert hosts <= {"127.0.0.1", "localhost"}, f"requests left the machine: {sorted(hosts)}"
    (artifacts / "webcam_line.txt").write_text(line)
    publish_screenshot(artifacts, "webcam.png")
    print("webcam in the browser:", line)


@pytest.mark.slow
def test_only_the_browser_that_started_a_run_controls_it(app_server, playwright):
    """Two browsers (two visitors): the one that pressed Start may pause and stop its run, also
    after reloading the page (its id lives in its own localStorage); the other watches the same
    run with those buttons disabled and is told why."""
    from ui import state
    url, _, _ = app_server
    state.RUNS.stop_and_wait(60)
    browser = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
    try:
        mine, other = (browser.new_context(viewport={"width": 1400, "height": 1000}).new_page() for _ in range(2))
        for pg in (mine, other):
            pg.set_default_timeout(60_000)
            pg.goto(url)
            pg.get_by_role("tab", name="Train").click()
        mine.get_by_label("Image size").fill("32")
        mine.get_by_label("Steps").fill("100000")
        mine.get_by_role("button", name="Start").click()
        for pg in (mine, other):
            pg.wait_for_function("document.querySelector('#train-status').innerText.startsWith('Running')")
        stop_mine = mine.get_by_role("button", name="Stop")
        stop_other = other.get_by_role("button", name="Stop")
        mine.wait_for_function("b => !b.disabled", arg=stop_mine.element_handle())
        other.wait_for_timeout(1500)          # a few refreshes: its buttons must stay disabled
        assert stop_mine.is_enabled() and mine.get_by_role("button", name="Pause").is_enabled()
        assert not stop_other.is_enabled() and not other.get_by_role("button", name="Pause").is_enabled()
        assert "Another visitor started this run" in other.locator("#train-status").inner_text()
        assert "Another visitor" not in mine.locator("#train-status").inner_text()
        mine.reload()                                    # the same browser: still its run
        mine.get_by_role("tab", name="Train").click()
        mine.wait_for_function("document.querySelector('#train-status').innerText.startsWith('Running')")
        stop_mine = mine.get_by_role("button", name="Stop")
        mine.wait_for_function("b => !b.disabled", arg=stop_mine.element_handle())
        stop_mine.click()
        for pg in (mine, other):
            pg.wait_for_function("document.querySelector('#train-status').innerText.startsWith('Stopped')")
    finally:
        browser.close()
        state.RUNS.stop_and_wait(60)


@pytest.mark.slow
def test_cut_score_curve_and_best(page, artifacts):
    """Pick CUT, train briefly: the one-direction note, the live score curve next to the
    untranslated baseline, the best checkpoint in the status; then translate with `best` from
    the Translate tab, which offers it first and shows no round trip."""
    pg, _, _ = page
    pg.get_by_role("tab", name="Train").click()
    pg.locator("#world input").click()
    pg.get_by_role("option", name=re.compile("^daynight")).click()
    pg.locator("#arch-train label", has_text="CUT").click()
    pg.locator("#recipe").wait_for(state="visible")
    pg.wait_for_function("document.querySelector('#one-direction-note').innerText.includes('no B → A')")
    pg.get_by_label("Image size").fill("32")
    pg.get_by_label("Steps").fill("40")
    old_run = run_name_in(pg.locator("#train-status").inner_text())
    pg.get_by_role("button", name="Start").click()
    pg.wait_for_function("old => { const m = document.querySelector('#train-status').innerText.match(/run (\\S+)/);"
                         " return m && m[1] !== old; }", arg=old_run or "")
    # the score chart draws two lines (scores at steps 20 and 40): day → night and its untranslated baseline
    pg.wait_for_function("[...document.querySelectorAll('#score-chart g.mark-line path')]"
                         ".filter(p => /^M[^M]*L/.test(p.getAttribute('d') || '')).length >= 2", timeout=120_000)
    legend = pg.locator("#score-legend").inner_text()
    assert "day → night" in legend and "day → night, untranslated" in legend and "night → day" not in legend
    pg.wait_for_function("document.querySelector('#train-status').innerText.startsWith('Finished')", timeout=120_000)
    status = pg.locator("#train-status").inner_text()
    assert re.search(r"best: step \d+ \(KID \d\.\d{4}\)", status), status
    assert "per score" in pg.locator("#score-note").inner_text()
    assert "real B · G_AB(real B)" in pg.locator("#sample-grid").inner_text()
    run_name = run_name_in(status)
    pg.wait_for_timeout(1000)
    pg.screenshot(path=str(artifacts / "train_cut.png"), full_page=True)

    pg.get_by_role("tab", name="Translate").click()
    pg.locator("#arch label", has_text="CUT").click()
    pg.locator("#model input").click()
    pg.wait_for_function("n => [...document.querySelectorAll('[role=option]')].filter("
                         "o => o.innerText.includes(n)).length === 2", arg=run_name)
    options = [o.inner_text().replace("✓", "").strip() for o in pg.get_by_role("option").all()]
    mine = [o for o in options if o.startswith(run_name)]
    assert len(mine) == 2 and "— best (day → night, step" in mine[0], options    # best first, then latest
    pg.get_by_role("option", name=mine[0]).click()
    pg.wait_for_function("t => document.querySelector('#model input').value.includes(t)", arg="best")
    pg.locator("#round-trip").wait_for(state="hidden")
    examples = {Path(p).name: p for p in translate_tab.example_images()}
    if pg.locator("#input-image button[aria-label='Remove Image']").count():
        pg.locator("#input-image button[aria-label='Remove Image']").click()
    pg.locator("#input-image input[type=file]").set_input_files(str(examples["daynight-day-0.png"]))
    pg.locator("#input-image img").wait_for()
    translate(pg, "No round trip: this model only translates day → night")
    radios = pg.locator("#direction input")
    assert radios.count() == 2 and radios.nth(1).is_disabled()          # night → day greyed out: it has none


def grid_psnr(png: bytes, side: int) -> dict:
    """PSNR (dB) of a sample grid's translations against the ground truth it shows: on a demo
    world each row is one test scene, real A | fake B | rec A | real B | fake A | rec B."""
    img = np.asarray(Image.open(io.BytesIO(png)).convert("RGB"), np.float64) / 255.0
    rows = img.shape[0] // side
    tile = lambda r, c: img[r * side:(r + 1) * side, c * side:(c + 1) * side]

    def psnr(x, y):
        return 10 * np.log10(1.0 / max(((x - y) ** 2).mean(), 1e-12))

    def mean(col, ref):
        return float(np.mean([psnr(tile(r, col), tile(r, ref)) for r in range(rows)]))
    return {"a2b": mean(1, 3), "b2a": mean(4, 0), "identity": mean(0, 3)}


@pytest.mark.slow
@pytest.mark.parametrize("title, arch", [
    ("DualGAN", "dualgan"),
    ("DiscoGAN", "discogan"),
])
def test_default_runs_show_night_and_day(page, title, arch):
    """A DualGAN and a DiscoGAN run with the form's defaults (their default recipes, quick scale,
    64 px) on day/night: after a few hundred steps the grid shown in the page holds night scenes
    made from day ones and day scenes from night ones, measured against the ground truth the grid
    shows (its rows are held-out test scenes in both looks), well above doing nothing."""
    pg, _, _ = page
    pg.get_by_role("tab", name="Train").click()
    pg.locator("#world input").click()
    pg.get_by_role("option", name=re.compile("^daynight")).click()
    enough = MIN_STEPS[arch]
    pg.locator("#arch-train label", has_text=title).click()
    pg.wait_for_function("el => el.value === '64'", arg=pg.get_by_label("Image size").element_handle())
    if arch == "dualgan":      # its own default recipe, not the name CycleGAN's box held ("paper")
        pg.wait_for_function("el => el.value.includes('Aug 2017')", arg=pg.locator("#recipe input").element_handle())
    # Long enough to show a grid past `enough` and to be running still when Stop is pressed (an idle
    # machine trains DiscoGAN at ~20 steps/s: a run of enough + 100 steps had ended, and its Stop
    # button was disabled, by then). Neither recipe decays its rate, so steps beyond do not change
    # what is scored; the grid and checkpoint cadence (50, 200) are the same for both lengths.
    pg.get_by_label("Steps").fill(str(enough + 3000))
    old_run = run_name_in(pg.locator("#train-status").inner_text())
    pg.get_by_role("button", name="Start").click()
    pg.wait_for_function("old => { const m = document.querySelector('#train-status').innerText.match(/run (\\S+)/);"
                         " return m && m[1] !== old; }", arg=old_run or "")
    pg.wait_for_function(
        "n => { const t = document.querySelector('#train-status').innerText;"
        " const m = t.match(/step (\\d+) \\//); return m && +m[1] >= n && t.includes('ground truth'); }",
        arg=enough + 50, timeout=600_000)          # a grid written at or after `enough` steps
    pg.wait_for_timeout(1500)                      # the grid of the same refresh has loaded
    status = pg.locator("#train-status").inner_text()
    src = pg.evaluate("document.querySelector('#sample-grid img').src")
    shown = grid_psnr(pg.request.get(src).body(), 64)
    pg.get_by_role("button", name="Stop").click()
    pg.wait_for_function("/^Stopped/.test(document.querySelector('#train-status').innerText)", timeout=120_000)
    said = [float(x) for x in re.findall(r"([\d.]+) dB", status)]
    print(arch, "grid PSNR", shown, "status", said)
    assert shown["identity"] < 8                   # night and day differ: doing nothing scores ~6 dB
    assert shown["a2b"] > shown["identity"] + 6 and shown["b2a"] > shown["identity"] + 6, (arch, shown)
    # The status line's numbers are this grid's (up to the PNG's 8-bit rounding).
    assert said[:3] == pytest.approx([shown["a2b"], shown["b2a"], shown["identity"]], abs=0.3), (said, shown)


@pytest.mark.slow
def test_start_from_a_model_in_the_page(app_server, playwright):
    """Start from the built-in CycleGAN through the form: the run fine-tunes that model at the
    recipe's learning rates (2e-4), not at the quick scale's fresh-start 6e-4 the form shows, and
    a rate typed into the form is obeyed (the CLI's --init behaves the same)."""
    from ui import state
    url, _, runs = app_server
    state.RUNS.stop_and_wait(60)
    browser = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
    try:
        pg = browser.new_page(viewport={"width": 1400, "height": 1000})
        pg.set_default_timeout(60_000)
        pg.goto(url)
        pg.get_by_role("tab", name="Train").click()
        pg.locator("#arch-train label", has_text="CycleGAN").click()
        pg.get_by_label("Image size").fill("32")
        pg.get_by_label("Steps").fill("4")
        pg.locator("#init input").click()
        pg.get_by_role("option", name=re.compile(re.escape("built-in: CycleGAN day ↔ night"))).click()
        pg.get_by_role("button", name=re.compile("Advanced")).click()
        lr_g = pg.get_by_label("lr_g (generators)")
        assert float(lr_g.input_value()) == 6e-4                  # what the form shows: the quick scale's

        def run_once() -> dict:
            # the server's last run, not the page's status line, which may not show it yet
            old = state.RUNS.run.folder.name if state.RUNS.run is not None else None
            pg.get_by_role("button", name="Start").click()
            pg.wait_for_function("old => { const t = document.querySelector('#train-status').innerText;"
                                 " const m = t.match(/run (\\S+)/); return m && m[1] !== old"
                                 " && /^(Finished|Stopped|Failed)/.test(t); }", arg=old or "", timeout=120_000)
            status = pg.locator("#train-status").inner_text()
            assert status.startswith("Finished"), status
            name = run_name_in(status)
            cfg = json.loads((runs / name / "config.json").read_text())
            model = json.loads((runs / name / "latest" / "config.json").read_text())
            return {"name": name, "init": cfg["init"], "preset": model["preset"]}

        first = run_once()
        assert first["init"] == "demo:cyclegan"
        assert (first["preset"]["lr_g"], first["preset"]["lr_d"]) == (2e-4, 2e-4), first["preset"]["title"]
        assert "lr_g 0.0006 → 0.0002" in first["preset"]["title"]
        lr_g.fill("0.001")                                         # a rate the visitor chose
        second = run_once()
        assert (second["preset"]["lr_g"], second["preset"]["lr_d"]) == (1e-3, 2e-4), second["preset"]["title"]
    finally:
        browser.close()
        state.RUNS.stop_and_wait(60)
