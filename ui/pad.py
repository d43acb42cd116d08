"""A room's phone's drawing pad: a canvas whose strokes stay in the browser, and Send, which gives the
server the one finished drawing. A phone so costs the server one run per drawing, not one per stroke
(streamlit-drawable-canvas sends its whole drawing 200 ms after every stroke)."""

import base64
import binascii
from collections.abc import Callable
from pathlib import Path

import streamlit as st

from ui.inputs import BACKGROUND, CANVAS, INK

PAD_SCRIPT = Path(__file__).with_name("pad.js")
PNG_DATA_URL = "data:image/png;base64,"
PAD_HTML = ("<div class='pad'><canvas class='digit-pad' role='img'></canvas>"
            "<div class='pad-buttons'><button type='button' class='pad-clear'></button>"
            "<button type='button' class='pad-send'></button></div></div>")
# The page's look: the canvas as wide as a phone allows, up to the 340 px the Draw page shows; buttons
# as Streamlit draws its own, and big enough for a thumb.
PAD_CSS = """
.pad {display: flex; flex-direction: column; gap: 0.6rem; margin-top: 0.8rem;}
canvas.digit-pad {width: min(100%, 340px); aspect-ratio: 1; touch-action: none; display: block;
                  border-radius: 0.25rem; cursor: crosshair;}
.pad-buttons {display: flex; gap: 0.6rem;}
.pad-buttons button {min-height: 2.75rem; padding: 0.25rem 1rem; border-radius: 0.5rem; font: inherit;
                     cursor: pointer; border: 1px solid rgba(49, 51, 63, 0.2); background: transparent; color: inherit;}
.pad-buttons button.pad-send {background: var(--st-primary-color, #ff4b4b); border-color: transparent; color: #fff;
                              font-weight: 600;}
.pad-buttons button[aria-disabled] {opacity: 0.6; cursor: progress;}
.pad-buttons button:focus-visible, canvas.digit-pad:focus-visible {outline: 3px solid #1c83e1; outline-offset: 2px;}
"""
WORDS = {"send": "Send to the screen", "sending": "Sending…", "clear": "Clear",
         "canvas": "Drawing area: draw one digit with your finger"}

_pad = st.components.v2.component("digitnet.pad", html=PAD_HTML, css=PAD_CSS, js=PAD_SCRIPT.read_text())


def drawing_pad(key: str, sends: int, cleared: int, on_send: Callable[[bytes | None], None]) -> None:
    """The pad. `sends`: how many of its Sends the server has answered (the pad takes another at each
    new number); the pad is blank again at each new number `cleared`. `on_send` gets the PNG Send sent,
    before the run, or None when what came is not a PNG (a forged message)."""
    width, _, stroke = CANVAS["digit"]
    data = {"side": width, "stroke": stroke, "ink": INK, "background": BACKGROUND, "words": WORDS, "sends": sends,
            "cleared": cleared}
    _pad(key=key, data=data, on_send_change=lambda: on_send(sent_png(st.session_state[key]["send"])))


def sent_png(value: object) -> bytes | None:
    """The PNG in Send's value (a data URL, as the canvas makes it); None for anything else."""
    if not isinstance(value, str) or not value.startswith(PNG_DATA_URL):
        return None
    try:
        return base64.b64decode(value[len(PNG_DATA_URL):], validate=True)
    except (binascii.Error, ValueError):
        return None
