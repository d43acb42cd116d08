"""The answer while you draw: the browser's engine and the page's script that runs it on the canvas."""

import json
from pathlib import Path

from digitnet.reading import inside, web
from digitnet.state.store import LoadedModel
from ui.inputs import BACKGROUND, CANVAS
from ui.resources import browser_model, live_script

LIVE_SCRIPT = Path(__file__).with_name("live.js")
# The answer beside the 28x28 input and ten bars; huge, with three bars; huge on a room's phone, where it
# stays until Send (the server reads a phone's drawing only then).
DESK, BIG, PHONE = "desk", "big", "phone"


def live_answer_html(model: LoadedModel, layout: str) -> str:
    """The scripts that read the digit canvas at every frame of a stroke with the model in use, shown
    as `layout`; nothing when their files cannot be made (the page answers after each stroke, as it
    does for a browser without JavaScript).

    The code is a file of its own, not inline: Streamlit's HTML sanitiser drops a script whose text
    holds a "<" before a letter, and a file is cached.
    """
    model_url = browser_model(model.classifier.fingerprint, model.classifier)
    script_url = live_script(web.engine_code() + LIVE_SCRIPT.read_text())
    if model_url is None or script_url is None:
        return ""
    config = {"url": model_url, "layout": layout, "canvas": CANVAS["digit"][0], "background": BACKGROUND,
              "constants": web.engine_constants(), "network": inside.picture_layout()}
    return (f"<style class='digitnet'></style>"  # like the page's other blocks of code: it takes no room
            f"<script>window.digitnetLiveConfig = {json.dumps(config)};</script>"
            f"<script src='{script_url}'></script>")
