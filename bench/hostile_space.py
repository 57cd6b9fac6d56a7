"""The hostile-input table against the app running as a public Space: `python app.py` with
SPACE_ID set, HF_TOKEN holding a fake token of the Space's owner and HF_ENDPOINT pointing at a fake
Hub on 127.0.0.1 that records every request's Authorization header. Every case of
tests/hostile_inputs.py goes in through the door a stranger would use (the named endpoints, the
page's own events, plain HTTP), plus the attacks of issue #11 (tokens, other visitors' files and
runs, server paths, floods, the disk). While each group runs, a normal visitor translates a
256 px photo with the built-in model once a second; its latencies are reported per group.

    python -m bench.hostile_space [--quick] [--out report.json]

Each attempt is judged: `well` (the right result, or a refusal whose message names the problem),
`poor` (refused, but the message does not say why, or names a server path), or `failure`
(something a stranger must not get: another's file, the owner's token at the Hub, a stalled
server, a traceback). Prints one JSON object; exits 1 if there is any failure.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
OWNER_TOKEN = "hf_" + "0wner" * 7
VISITOR_TOKEN = "hf_" + "v1sitor" * 5


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class App:
    """The app as a Space, in a process of its own, and the plain-HTTP ways a stranger talks to it."""

    def __init__(self, hub_endpoint: str, work: Path):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/"
        self.runs = work / "runs"
        env = {k: v for k, v in os.environ.items() if not k.startswith("CYCLEGAN_")}
        env.update(SPACE_ID="owner/cyclegan-studio", HF_TOKEN=OWNER_TOKEN, HF_ENDPOINT=hub_endpoint,
                   HF_HOME=str(work / "hf"), CYCLEGAN_RUNS_DIR=str(self.runs), GRADIO_SERVER_NAME="127.0.0.1",
                   GRADIO_SERVER_PORT=str(self.port), GRADIO_ANALYTICS_ENABLED="False",
                   CYCLEGAN_MAX_RUNS="6", CYCLEGAN_TRAIN_THREADS="1")
        env.pop("HF_HUB_OFFLINE", None)
        self.log = open(work / "server.log", "w")
        self.proc = subprocess.Popen([sys.executable, "app.py"], cwd=ROOT, env=env, stdout=self.log,
                                     stderr=subprocess.STDOUT)
        deadline = time.time() + 240
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise SystemExit("the app did not start: " + (work / "server.log").read_text()[-2000:])
            try:
                if httpx.get(self.url + "config", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.5)
        self.config = httpx.get(self.url + "config").json()

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        self.log.close()

    def upload(self, path: Path) -> str:
        with open(path, "rb") as f:
            r = httpx.post(self.url + "gradio_api/upload", files=[("files", (path.name, f))], timeout=120)
        r.raise_for_status()
        return r.json()[0]

    def file_data(self, path: Path) -> dict:
        return {"path": self.upload(path), "orig_name": path.name, "meta": {"_type": "gradio.FileData"}}

    def cpu_seconds(self) -> float:
        """CPU time the app's process has used (user + system), from /proc."""
        fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def call(self, api_name: str, *data, timeout: float = 300, pad: bool = True) -> tuple[bool, object]:
        """A named endpoint over plain HTTP: (ok, result or error message). Gradio's plain API
        wants every parameter, so missing trailing ones are sent as None (their default), as
        gradio_client does; `pad=False` sends exactly `data`."""
        n = next((len(d["inputs"]) for d in self.config["dependencies"] if d.get("api_name") == api_name), 0)
        data = data + (None,) * max(0, n - len(data)) if pad else data
        r = httpx.post(self.url + f"gradio_api/call/{api_name}", json={"data": list(data)}, timeout=60)
        if r.status_code != 200:
            return False, f"HTTP {r.status_code}: {r.text[:300]}"
        event = r.json()["event_id"]
        kind, payload = None, None
        with httpx.stream("GET", self.url + f"gradio_api/call/{api_name}/{event}", timeout=timeout) as resp:
            for line in resp.iter_lines():
                if line.startswith("event:"):
                    kind = line[6:].strip()
                elif line.startswith("data:"):
                    payload = line[5:].strip()
                    if kind in ("complete", "error"):
                        break
        if kind == "complete":
            return True, json.loads(payload)
        try:
            return False, json.loads(payload) if payload else "(no message)"
        except ValueError:
            return False, payload

    def event(self, button_label: str, data: list, oauth_token: str | None = None) -> tuple[bool, object]:
        """The page's own event for the button labelled `button_label` (queue/join + stream)."""
        comp = next(c for c in self.config["components"] if c.get("props", {}).get("value") == button_label)
        dep = next(i for i, d in enumerate(self.config["dependencies"])
                   if any(t[0] == comp["id"] for t in d["targets"]))
        fn = self.config["dependencies"][dep]["id"]
        session = uuid.uuid4().hex
        body = {"data": data, "fn_index": fn, "session_hash": session, "trigger_id": comp["id"], "event_data": None}
        if oauth_token:
            body["oauth_token"] = oauth_token
        httpx.post(self.url + "gradio_api/queue/join", json=body, timeout=60).raise_for_status()
        with httpx.stream("GET", self.url + f"gradio_api/queue/data?session_hash={session}", timeout=600) as resp:
            for line in resp.iter_lines():
                if line.startswith("data:"):
                    msg = json.loads(line[5:])
                    if msg.get("msg") == "process_completed":
                        out = msg.get("output") or {}
                        return bool(msg.get("success")), out.get("data") if msg.get("success") else out.get("error")
        return False, "(stream ended)"

    def status(self) -> dict:
        ok, out = self.call("train_status")
        return out[0] if ok else {}

    def wait_idle(self, timeout=300) -> dict:
        deadline = time.time() + timeout
        while time.time() < deadline:
            s = self.status()
            if s.get("state") not in ("starting", "running", "stopping", "paused"):
                return s
            time.sleep(0.5)
        return self.status()


class Prober:
    """A normal visitor translating a 256 px photo with the built-in model once a second."""

    def __init__(self, app: App, photo: Path):
        self.app, self.photo = app, photo
        self.samples: list[tuple[float, float | None]] = []
        self._stop = threading.Event()
        self.thread = threading.Thread(target=self._loop, daemon=True)
        self.thread.start()

    def _loop(self):
        while not self._stop.is_set():
            t0, started = time.perf_counter(), time.time()     # a probe counts for the group it started in
            try:
                ok, _ = self.app.call("translate", self.app.file_data(self.photo), "demo:cyclegan", "a2b", None,
                                      timeout=600)
                self.samples.append((started, time.perf_counter() - t0 if ok else None))
            except Exception:  # noqa: BLE001 - a failed probe is a data point
                self.samples.append((started, None))
            self._stop.wait(max(0.0, 1.0 - (time.perf_counter() - t0)))

    def between(self, t0: float, t1: float) -> dict:
        got = [s for t, s in self.samples if t0 <= t <= t1]
        ok = [s for s in got if s is not None]
        return {"probes": len(got), "failed": len(got) - len(ok),
                "p50_s": round(statistics.median(ok), 2) if ok else None, "max_s": round(max(ok), 2) if ok else None}

    def stop(self):
        self._stop.set()
        self.thread.join(150)


class Judge:
    def __init__(self, app: App, roots: list[str]):
        self.app, self.roots = app, roots
        self.rows: list[dict] = []

    def record(self, group: str, name: str, verdict: str, detail: str = ""):
        self.rows.append({"group": group, "case": name, "verdict": verdict, "detail": str(detail)[:300]})

    def message(self, group: str, name: str, ok: bool, out, expect: str | None, expect_ok: bool = False):
        """`expect_ok`: the right answer is a result; otherwise a refusal containing `expect`."""
        text = out if isinstance(out, str) else json.dumps(out)
        leaked = [r for r in self.roots if r and r in text]
        if OWNER_TOKEN in text or VISITOR_TOKEN in text:
            return self.record(group, name, "failure", "a token is in the answer")
        if expect_ok:
            return self.record(group, name, "well" if ok else "failure", text if not ok else "")
        if ok:
            return self.record(group, name, "failure", f"accepted: {text}")
        if "Traceback" in text or "internal error" in text:
            return self.record(group, name, "failure", text)
        if leaked:
            return self.record(group, name, "poor", f"names a server path: {text}")
        if expect and expect not in text:
            return self.record(group, name, "poor", text)
        self.record(group, name, "well")


def run(quick: bool) -> dict:
    import hostile_inputs as H
    from fake_hub import FakeHub, Repo
    from PIL import Image

    import cyclegan
    from conftest import tiny_model
    work = Path(tempfile.mkdtemp(prefix="hostile-space-"))
    folder = cyclegan.save_model(tiny_model(domains=("plain", "fancy")), work / "hubmodel")
    files = {p.name: p.read_bytes() for p in folder.iterdir()}
    hub = FakeHub({"someone/public": Repo(files), "someone/private": Repo(files, VISITOR_TOKEN)}).start()
    app = App(hub.endpoint, work)
    judge = Judge(app, [str(work), tempfile.gettempdir() + "/", str(ROOT)])
    photo = work / "photo.png"
    Image.effect_noise((256, 256), 60).convert("RGB").save(photo)
    prober = Prober(app, photo)
    groups: dict[str, dict] = {}
    time.sleep(3)
    t_base = time.time()
    time.sleep(8)
    groups["(no attack)"] = prober.between(t_base, time.time())

    def group(name):
        class G:
            def __enter__(self):
                self.t0 = time.time()
                return self

            def __exit__(self, *exc):
                groups[name] = prober.between(self.t0, time.time())
        return G()

    cases_dir = work / "cases"
    cases_dir.mkdir()

    def build(case) -> Path:
        d = cases_dir / case.name
        d.mkdir(exist_ok=True)
        return case.build(d)

    # --- images through /translate -----------------------------------------------------------------
    with group("images (/translate)"):
        for case in H.IMAGE_CASES:
            path = build(case)
            ok, out = app.call("translate", app.file_data(path), "demo:cyclegan", "a2b", None)
            if case.ok and ok:
                with Image.open(_fetch_to(out[0]["url"], work / "o.png")) as im:
                    ok = im.size == case.size
            judge.message("images", case.name, ok, out, case.expect, case.ok)
        for w, h in ((1, 100_000), (100_000, 1), (1, 4_000_000)):
            strip = work / f"strip{w}x{h}.png"
            Image.new("RGB", (w, h), (90, 90, 90)).save(strip)
            t0, cpu0 = time.perf_counter(), app.cpu_seconds()
            ok, out = app.call("translate", app.file_data(strip), "demo:cyclegan", "a2b", None, timeout=600)
            dt, cpu = time.perf_counter() - t0, app.cpu_seconds() - cpu0
            # wall time, or on a shared machine the app's CPU time (the prober's translations included)
            verdict_ok = ok and min(dt, cpu) <= (5 if max(w, h) <= 100_000 else 60)
            judge.record("images", f"strip_{w}x{h}", "well" if verdict_ok else "failure",
                         f"{dt:.1f} s wall, {cpu:.1f} s app CPU, ok={ok}")

    # --- model files through /load_model ---------------------------------------------------------------
    with group("model files (/load_model)"):
        for case in H.MODEL_CASES:
            if case.env:
                judge.record("models", case.name, "skipped", "needs a lowered limit (the table runs it in-process)")
                continue
            path = build(case)
            ok, out = app.call("load_model", "", [app.file_data(path)])
            judge.message("models", case.name, ok, out, case.expect, case.ok)
            if (cases_dir / case.name / H.VICTIM).exists():
                judge.record("models", case.name + ":pickle_ran", "failure", "the victim file appeared")

    # --- training data through the page's Start ----------------------------------------------------------
    with group("dataset zips (Train tab)"):
        owner = "browser-" + uuid.uuid4().hex
        for case in H.DATA_CASES:
            if case.env:
                judge.record("data", case.name, "skipped", "needs a lowered limit (the table runs it in-process)")
                continue
            path = build(case)
            app.wait_idle()
            ok, out = app.event("Start", ["zip", "daynight", app.file_data(path), "", "horse2zebra", "cyclegan", None,
                                          "quick", 32, 2, 1, None, None, None, None, "", False, None, None, None,
                                          owner])
            if ok:
                s = app.wait_idle()
                ok, out = s.get("state") == "finished", s.get("error") or s
            judge.message("data", case.name, ok, out, case.expect, case.ok)

    # --- model specs: paths, commas, names ---------------------------------------------------------------
    with group("model specs (/translate)"):
        canary = work / "canary.pth"
        canary.write_bytes(b"x")
        run_model = next((f"{app.runs}/{p.name}/latest/model.safetensors" for p in app.runs.iterdir()
                          if (p / "latest").exists()), f"{app.runs}/x/latest/model.safetensors")
        for name, spec in (("comma_joined", f"{run_model},{canary}"), ("etc_shadow", "/etc/shadow"),
                           ("missing_path", str(work / "nope.pth")), ("existing_path", str(canary)),
                           ("dotdot_run", "run:../../etc"), ("bad_upload_id", "upload:../../x"),
                           ("unknown_demo", "demo:../x"), ("hub_private_anonymous", "someone/private"),
                           ("hub_missing", "someone/missing")):
            ok, out = app.call("translate", app.file_data(photo), spec, "a2b", None)
            expect = "not found (or private" if name.startswith("hub") else (
                "no run" if "run" in name else "no longer kept" if "upload" in name else
                "no built-in model" if "demo" in name else "does not load models from its own folders")
            judge.message("specs", name, ok, out, expect)
            ok, out = app.call("translate_image", app.file_data(photo), spec, "a2b", None)   # the MCP-style tool
            judge.message("specs", name + " (translate_image)", ok, out, expect)

    # --- tokens: the Hub only ever sees the visitor's ----------------------------------------------------------
    with group("tokens (push, Hub loads)"):
        app.call("train_start", "demo:daynight", "cyclegan", "quick", 32, 2, 1, None)
        app.wait_idle()
        before = len(hub.requests)
        ok, out = app.event("Push to the Hub", ["owner/any-repo", "", True])
        sent = hub.requests[before:]
        judge.message("tokens", "push_without_token", ok, out, "needs your Hugging Face token")
        judge.record("tokens", "push_without_token:hub_requests", "well" if not sent else "failure",
                     f"{len(sent)} requests reached the Hub")
        before = len(hub.requests)
        ok, out = app.call("load_model", "someone/public", None)
        judge.message("tokens", "hub_load_public", ok, out, None, expect_ok=True)
        ok, out = app.call("load_model", "someone/private", None)
        judge.message("tokens", "hub_load_private_anonymous", ok, out, "not found (or private")
        auths = {r.authorization for r in hub.requests[before:]}
        judge.record("tokens", "hub_loads_anonymous", "well" if auths == {None} else "failure", str(auths))
        before = len(hub.requests)
        ok, out = app.call("train_start", "hub:someone/private", "cyclegan", "quick", 32, 2, 1, None)
        judge.message("tokens", "hub_dataset_private_anonymous", ok, out, "private")
        auths = {r.authorization for r in hub.requests[before:]}
        judge.record("tokens", "hub_dataset_anonymous", "well" if auths <= {None} else "failure", str(auths))
        owner_seen = any(r.authorization and OWNER_TOKEN in r.authorization for r in hub.requests)
        judge.record("tokens", "owner_token_never_at_the_hub", "failure" if owner_seen else "well")

    # --- other visitors' files and runs -------------------------------------------------------------------------
    with group("privacy and control"):
        z = build(next(c for c in H.DATA_CASES if c.name == "data_ok"))
        z = z.rename(z.with_name("visitor-photos.zip"))   # a name no other case uses
        fd = app.file_data(z)
        owner = "browser-" + uuid.uuid4().hex
        app.wait_idle()
        ok, out = app.event("Start", ["zip", "daynight", fd, "", "horse2zebra", "cyclegan", None, "quick", 32, 400, 1,
                                      None, None, None, None, "", False, None, None, None, owner])
        code = httpx.get(app.url + f"gradio_api/file={fd['path']}").status_code
        judge.record("privacy", "fetch_others_dataset_upload", "well" if code in (403, 404) else "failure", code)
        st = app.status()
        text = json.dumps(st)
        judge.record("privacy", "status_names_no_path", "failure" if str(work) in text else "well")
        cfg_code = httpx.get(app.url + f"gradio_api/file={app.runs}/{st.get('run')}/config.json")
        cfg_text = cfg_code.text if cfg_code.status_code == 200 else ""
        judge.record("privacy", "config_names_no_upload_path",
                     "well" if '"upload:visitor-photos.zip"' in cfg_text and str(work) not in cfg_text.replace(str(app.runs), "")
                     else "failure", cfg_text[:200])
        private = next(iter(Path(work).glob(".cyclegan-private/uploads/*/visitor-photos.zip")), None)
        code = httpx.get(app.url + f"gradio_api/file={private}").status_code if private else 403
        judge.record("privacy", "fetch_private_folder", "well" if code == 403 else "failure", code)
        for path in ("/etc/passwd", f"{app.runs}/../server.log", "../../etc/passwd"):
            code = httpx.get(app.url + f"gradio_api/file={path}").status_code
            judge.record("privacy", f"fetch {path}", "well" if code in (403, 404) else "failure", code)
        for name, args in (("stop_without_token", ("train_stop", 0, None)), ("stop_wrong_token", ("train_stop", 0, "own_x")),
                           ("pause_without_token", ("train_pause", None)), ("resume_without_token", ("train_resume", None))):
            ok, out = app.call(*args)
            judge.message("control", name, ok, out, "started by another visitor")
        ok, out = app.event("Stop", ["browser-" + uuid.uuid4().hex])
        judge.message("control", "stop_from_another_browser", ok, out, "started by another visitor")
        ok, out = app.event("Stop", [owner])
        judge.message("control", "stop_by_its_owner", ok, out, None, expect_ok=True)
        s = app.wait_idle()
        judge.record("privacy", "upload_deleted_after_run", "well" if private is None or not private.exists()
                     else "failure", str(private))

    # --- training settings a machine cannot hold ----------------------------------------------------------------
    with group("training settings (/train_start)"):
        for name, args, expect in (
                ("paper_256_batch_512", ("demo:daynight", "cyclegan", "full", 256, 10, 512, None), "MB of memory"),
                ("steps_over_limit", ("demo:daynight", "cyclegan", "quick", 32, 10**7, 1, None),
                 "CYCLEGAN_MAX_TRAIN_STEPS"),
                ("size_zero", ("demo:daynight", "cyclegan", "quick", 0, 10, 1, None), "at least 16"),
                ("size_over_limit", ("demo:daynight", "cyclegan", "quick", 512, 10, 1, None), "CYCLEGAN_MAX_TRAIN_SIZE"),
                ("server_folder", ("/etc", "cyclegan", "quick", 32, 10, 1, None), "does not read training data"),
                ("unknown_world", ("demo:../../x", "cyclegan", "quick", 32, 10, 1, None), "unknown demo world"),
                ("unknown_recipe", ("demo:daynight", "dualgan", "quick", 32, 10, 1, "gp"), "unknown recipe")):
            ok, out = app.call("train_start", *args)
            judge.message("train", name, ok, out, expect)
        for name, field, value in (("nan_lambda", "lam_c", "NaN"), ("huge_lambda", "lam_c", 1e30),
                                   ("zero_lr", "lr_g", 0.0)):
            form = {"lr_g": None, "lr_d": None, "lam_c": None, "lam_i": None, field: value}
            try:
                ok, out = app.event("Start", ["demo", "daynight", None, "", "cyclegan", None, "quick", 32, 10, 1,
                                              form["lr_g"], form["lr_d"], form["lam_c"], form["lam_i"], "", False,
                                              None, None, "b-" + "q" * 30])
            except httpx.HTTPStatusError as e:   # not even valid JSON (NaN): refused at the door
                ok, out = False, f"HTTP {e.response.status_code}: must be a number (refused by the request parser)"
            judge.message("train", name, ok, out, "must be a number")
            app.wait_idle()

    # --- the live score and CUT (issue #15's additions) ---------------------------------------------------------
    with group("live score and CUT (/train_start)"):
        app.wait_idle()
        ok, out = app.call("train_start", "demo:daynight", "cyclegan", "quick", 32, 5000, 1, None, pad=False)
        judge.message("score", "pre_score_every_7_argument_http_call", ok, out, "score_every")
        for name, every, expect in (("score_every_step", 1, "CYCLEGAN_MAX_LIVE_SCORES"),
                                    ("score_every_10_of_5000", 10, "score every 100 steps or more"),
                                    ("score_every_negative", -1, "score"),
                                    ("score_every_huge", 10**12, None)):
            ok, out = app.call("train_start", "demo:daynight", "cyclegan", "quick", 32, 5000 if every != 10**12 else 4,
                               1, None, every)
            if every == 10**12:   # larger than the run: scored once, at its end
                judge.message("score", name, ok, out, None, expect_ok=True)
                app.wait_idle()
            else:
                judge.message("score", name, ok, out, expect)
        ok, out = app.call("train_start", "demo:daynight", "cut", "quick", 32, 4, 1, "fastcut", 2)
        judge.message("score", "cut_run_starts", ok, out, None, expect_ok=True)
        st = app.wait_idle()
        judge.record("score", "status_best_is_a_name", "well" if st.get("best") == f"run:{st.get('run')}@best"
                     and str(work) not in json.dumps(st) else "failure", json.dumps(st.get("best_score"))[:200])
        if st.get("best"):
            ok, out = app.call("translate", app.file_data(photo), st["best"], "a2b", None)
            judge.message("score", "translate_with_run_best", ok, out, None, expect_ok=True)
        for name, spec, expect in (("best_dotdot_checkpoint", f"run:{st.get('run')}@../../etc", "unknown checkpoint"),
                                   ("best_dotdot_run", "run:../../etc@best", "no run"),
                                   ("best_of_missing_run", "run:nope@best", "no run")):
            ok, out = app.call("translate", app.file_data(photo), spec, "a2b", None)
            judge.message("score", name, ok, out, expect)

    # --- floods ---------------------------------------------------------------------------------------------------
    with group("floods (stops, queue)"):
        app.wait_idle()
        ok, started = app.call("train_start", "demo:daynight", "cyclegan", "quick", 32, 5000, 1, None)
        token = started[0]["owner_token"] if ok else None
        results = []

        def stop():
            ok, out = app.call("train_stop", 600, token, timeout=900)
            results.append("stopped" if ok and out[0].get("state") == "stopped" else
                           "busy" if "503" in str(out) or "full" in str(out).lower() else str(out)[:100])

        threads = [threading.Thread(target=stop) for _ in range(45)]
        t0 = time.perf_counter()
        for t in threads:
            t.start()
        time.sleep(2)
        t_page = time.perf_counter()
        page_ok = httpx.get(app.url, timeout=30).status_code == 200
        page_s = time.perf_counter() - t_page
        for t in threads:
            t.join(900)
        answered = {r: results.count(r) for r in set(results)}
        judge.record("floods", "45_waiting_stops_page_loads",
                     "well" if page_ok and page_s <= 2 and set(answered) <= {"stopped", "busy"} else "failure",
                     f"page in {page_s:.2f} s; answers {answered} in {time.perf_counter() - t0:.1f} s")
        app.wait_idle()
        strip = work / "strip1x100000.png"
        flood, busy = [], []

        def translate():
            ok, out = app.call("translate", app.file_data(strip), "demo:cyclegan", "a2b", None, timeout=900)
            flood.append(ok)
            if not ok and ("full" in str(out).lower() or "503" in str(out)):
                busy.append(out)

        threads = [threading.Thread(target=translate) for _ in range(10 if quick else 60)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(900)
        judge.record("floods", f"{len(threads)}_strip_translations_at_once", "well",
                     f"{sum(flood)} done, {len(busy)} told the queue is full, {len(flood) - sum(flood) - len(busy)} other")

    # --- disk: every start/stop leaves a folder; the caps keep the folder bounded ----------------------------------------
    with group("disk (runs folder caps)"):
        for _ in range(3 if quick else 10):
            app.call("train_start", "demo:daynight", "cyclegan", "quick", 32, 1, 1, None)
            app.wait_idle()
            time.sleep(1.1)
        n = len([p for p in app.runs.iterdir() if p.is_dir() and not p.name.startswith(".")])
        judge.record("disk", "runs_folder_bounded", "well" if n <= 6 else "failure", f"{n} run folders (cap 6)")

    prober.stop()
    app.stop()
    hub.stop()
    rows = [r for r in judge.rows if r["verdict"] != "skipped"]
    counts = {v: sum(r["verdict"] == v for r in rows) for v in ("well", "poor", "failure")}
    return {"attempts": len(rows), **counts, "skipped": len(judge.rows) - len(rows),
            "translation_latency_during": groups,
            "poor": [r for r in rows if r["verdict"] == "poor"], "failures": [r for r in rows if r["verdict"] == "failure"],
            "load": os.getloadavg()[0], "cases": judge.rows}


def _fetch_to(url: str, dest: Path) -> Path:
    dest.write_bytes(httpx.get(url, timeout=60).content)
    return dest


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.hostile_space", description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="smaller floods")
    ap.add_argument("--out", default=None, help="also write the full report (every case) here")
    args = ap.parse_args(argv)
    report = run(args.quick)
    if args.out:
        Path(args.out).write_text(json.dumps(report, indent=2))
    print(json.dumps({k: v for k, v in report.items() if k != "cases"}, indent=1))
    return 1 if report["failure"] else 0


if __name__ == "__main__":
    sys.exit(main())
