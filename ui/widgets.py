"""Components with one thing changed from gradio's own."""
import gradio as gr


class ModelBox(gr.Dropdown):
    """The model list, whose API schema accepts any text: it offers the models it knows, but a Hub
    id or a run's checkpoint passed by a client is valid too. gr.Dropdown's schema is an enum of
    the choices it was built with, even with allow_custom_value, and MCP clients enforce it.
    A template of gr.Dropdown: the page draws it with the dropdown's own front end."""

    is_template = True

    def api_info(self) -> dict:
        return {"type": "string"}
