"""One thing changed on gradio's own components."""
import gradio as gr


def any_model(box: gr.Dropdown) -> gr.Dropdown:
    """The model list's API schema accepts any text: the list offers the models it knows, but a
    Hub id or a run's checkpoint passed by a client is valid too. gr.Dropdown's schema is an
    enum of the choices it was built with, even with allow_custom_value, and MCP clients
    enforce it. Set on the instance: a subclass of a gradio component would make gradio write a
    .pyi file beside this one at import."""
    box.api_info = lambda: {"type": "string"}
    return box
