"""cyclegan-studio web app: translate images with CycleGAN / DiscoGAN / DualGAN models and train
new ones in the browser. The page lives in ui/, the work in cyclegan/ and train/.

Run with `python app.py` (honours GRADIO_SERVER_NAME / GRADIO_SERVER_PORT). Named API endpoints
for gradio_client: /translate, /load_model, /translate_image, /train_start, /train_status,
/train_stop, /train_pause, /train_resume; the same as MCP tools at /gradio_api/mcp/ (CYCLEGAN_MCP=0
turns that off).
"""
import logging
import os

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")  # offline: no telemetry, no version check

import ui  # noqa: E402  (after the analytics switch, which gradio reads at import)

demo = ui.build()

if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO)
    ui.launch(demo)
