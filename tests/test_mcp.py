"""The app as an MCP server: the session's app (launched on 127.0.0.1 with the README's launch)
lists its tools over the Streamable HTTP endpoint, and an MCP client translates an image and
reads the training status through them."""
import asyncio
import base64
import io

import numpy as np
import pytest
from PIL import Image

import cyclegan
from cyclegan import demo

pytest.importorskip("mcp")
from mcp import ClientSession  # noqa: E402
from mcp.client.streamable_http import streamablehttp_client  # noqa: E402

TOOLS = {"translate", "translate_image", "load_user_model", "train_start", "train_status", "train_stop",
         "train_pause", "train_resume", "download_run"}


def mcp_session(url: str, work):
    async def go():
        async with streamablehttp_client(url + "gradio_api/mcp/") as (read, write, _):
            async with ClientSession(read, write) as session:
                await session.initialize()
                return await work(session)
    return asyncio.run(go())


def data_uri(img: Image.Image) -> str:
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()


def test_tools_are_listed(app_server):
    tools = mcp_session(app_server[0], lambda s: s.list_tools())
    by_name = {t.name: t for t in tools.tools}
    assert TOOLS <= set(by_name), sorted(by_name)
    t = by_name["translate_image"]
    assert t.description.startswith("Translate an image with an unpaired image-to-image model")
    props = t.inputSchema["properties"]
    assert set(props) == {"image", "model_spec", "direction", "size"} and t.inputSchema["required"] == ["image"]
    assert "a2b is day → night" in props["direction"]["description"]
    # The model box accepts any model, not only the choices the page was built with.
    assert "enum" not in by_name["translate"].inputSchema["properties"]["model_spec"]


def test_translate_and_status_through_mcp(app_server):
    scene = demo.render("daynight", demo.test_seeds("daynight", 1)[0], "A", 96)

    async def work(s):
        out = await s.call_tool("translate_image", {"image": data_uri(scene), "model_spec": "demo:dualgan",
                                                    "direction": "a2b"})
        status = await s.call_tool("train_status", {})
        bad = await s.call_tool("translate_image", {"image": data_uri(scene), "model_spec": "demo:nope"})
        return out, status, bad

    out, status, bad = mcp_session(app_server[0], work)
    assert not out.isError
    image = next(c for c in out.content if c.type == "image")
    got = Image.open(io.BytesIO(base64.b64decode(image.data))).convert("RGB")
    assert got.size == scene.size
    want = cyclegan.load_model("demo:dualgan").translate(scene, "a2b")     # no size: automatic, as the app
    diff = np.abs(np.asarray(got, np.float32) - np.asarray(want, np.float32)).mean()
    assert diff < 1.0, diff                                       # the same translation (8-bit rounding)
    assert np.abs(np.asarray(got, np.float32) - np.asarray(scene, np.float32)).mean() > 20   # and not the input
    assert not status.isError and "'state'" in status.content[0].text
    assert bad.isError and "no built-in model 'demo:nope'" in bad.content[0].text


def test_mcp_can_be_turned_off(monkeypatch):
    from ui.page import mcp_enabled
    monkeypatch.delenv("CYCLEGAN_MCP", raising=False)
    assert mcp_enabled() is True
    monkeypatch.setenv("CYCLEGAN_MCP", "0")
    assert mcp_enabled() is False
