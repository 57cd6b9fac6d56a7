"""`python -m bench.click`: app click-to-result for one photo through gradio_client (the
/translate_image endpoint of an app this command starts and stops itself) against the library's
own time for the same call (`CycleModel.translate` on the decoded image), interleaved.

    python -m bench.click --model demo:cyclegan --photo 512x512 --n 8
"""
import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.click", description=__doc__)
    ap.add_argument("--model", default="demo:cyclegan")
    ap.add_argument("--photo", default="512x512", help="WxH of the synthetic photo (a smooth noise JPEG)")
    ap.add_argument("--size", default="0", help="the app's processing size box: 0 = native resolution (default)")
    ap.add_argument("--n", type=int, default=8)
    args = ap.parse_args(argv)
    w, h = (int(v) for v in args.photo.split("x"))
    tmp = tempfile.mkdtemp(prefix="bench-click-")
    photo = Path(tmp) / "photo.jpg"
    rng = np.random.default_rng(0)
    small = rng.integers(0, 255, (h // 16 + 1, w // 16 + 1, 3), dtype=np.uint8)
    Image.fromarray(small).resize((w, h), Image.Resampling.BICUBIC).save(photo, quality=90)

    port = _port()
    env = dict(os.environ, GRADIO_SERVER_PORT=str(port), GRADIO_SERVER_NAME="127.0.0.1", GRADIO_ANALYTICS_ENABLED="False",
               CYCLEGAN_RUNS_DIR=str(Path(tmp) / "runs"), CYCLEGAN_MCP="0")
    app = subprocess.Popen([sys.executable, "app.py"], cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL)
    try:
        from gradio_client import Client, handle_file
        t_end = time.monotonic() + 180
        client = None
        while client is None:
            try:
                client = Client(f"http://127.0.0.1:{port}/", verbose=False)
            except Exception:
                if time.monotonic() > t_end or app.poll() is not None:
                    raise SystemExit("error: the app did not start")
                time.sleep(1)

        import cyclegan
        from cyclegan import threads
        model = cyclegan.load_model(args.model)
        img = Image.open(photo).convert("RGB")
        ws = None if args.size in ("0", 0) else int(args.size)
        threads.apply()

        def click():
            return client.predict(handle_file(str(photo)), args.model, "a2b", args.size, api_name="/translate_image")

        def library():
            return model.translate(img, "a2b", work_size=ws)

        click(), library()                                  # warm-up: first load, first call
        times = {"click": [], "library": []}
        for i in range(args.n):
            for k, fn in ([("click", click), ("library", library)] if i % 2 == 0 else
                          [("library", library), ("click", click)]):
                t0 = time.perf_counter()
                fn()
                times[k].append(time.perf_counter() - t0)
        med = {k: statistics.median(v) for k, v in times.items()}
        print(json.dumps({"bench": "click", "model": args.model, "photo": args.photo, "size": args.size, "n": args.n,
                          "click_median_s": round(med["click"], 4), "library_median_s": round(med["library"], 4),
                          "overhead_s": round(med["click"] - med["library"], 4),
                          "click_times_s": [round(t, 4) for t in times["click"]],
                          "library_times_s": [round(t, 4) for t in times["library"]],
                          "load_avg_1m": round(os.getloadavg()[0], 2)}), flush=True)
    finally:
        app.terminate()
        try:
            app.wait(20)
        except subprocess.TimeoutExpired:
            app.kill()
            app.wait()
    return 0


if __name__ == "__main__":
    sys.exit(main())
