"""Colours, sizes and the small pieces of HTML the sections share."""

import base64
import html

import numpy as np

from digitnet.reading.palette import BLUE, ORANGE, SKY_BLUE, VERMILLION
from digitnet.reading.prediction import input_png

TOP_COLOUR, OTHER_COLOUR = VERMILLION, SKY_BLUE
TRAINING_COLOUR, VALIDATION_COLOUR = BLUE, ORANGE
# Every screen: no empty band above the page; on a phone, a one-line title and no introduction, so
# that the canvas and, after a stroke, the answer fit the first screen.
PAGE_CSS = """
<style class="digitnet">
[data-testid="stElementContainer"]:has(style.digitnet) {display: none;}  /* these blocks take no room */
[data-testid="stMainBlockContainer"] {padding-top: 3.75rem;}  /* just below the header band */
.st-key-canvas-digit, .st-key-canvas-number {margin-top: 1rem;}  /* room for the canvas' own toolbar */
/* WCAG 2.2 AA text contrast (4.5:1), measured by axe: Streamlit's captions are 3.9:1 in its light theme,
   its picked segment 4.47:1. The body's colour, a little lighter, passes in either theme. */
[data-testid="stCaptionContainer"] {color: inherit !important; opacity: 0.8;}
button[data-variant="segmented_control"][aria-checked="true"] {color: #a52f3c !important;}
@media (max-width: 640px) {
  [data-testid="stMainBlockContainer"] {padding-top: 3.25rem;}
  /* Columns stack on a phone: the chart under the canvas would push the answer off the first screen.
     The tab "How it learned" has it. */
  [data-testid="stElementContainer"]:has(figure.glance) {display: none;}
  h1 {font-size: 1.35rem !important; padding: 0 0 0.5rem 0 !important;}
  .st-key-intro {display: none;}
  .digit-answer {font-size: 4.5rem !important;}
  /* stacked columns: the answer close under the canvas, not a wide column gap below it */
  [data-testid="stHorizontalBlock"] {row-gap: 0.5rem !important;}
  /* the 720 px strip for several digits, shrunk whole to a phone's width (the drawing keeps its pixels) */
  .st-key-canvas-number [data-testid="stBidiComponentIsolated"] {zoom: 0.49;}
}
</style>
"""
# The probability bars (ui/answer.py), styled here so that each stroke sends only their heights.
BARS_CSS = f"""
<style class="digitnet">
.probability-bars {{display: flex; gap: 6px; margin-top: 1rem;}}
.pbar {{flex: 1; text-align: center; font-size: 1rem;}}
.pbar span {{font-size: 0.8rem;}}
.pbar div {{height: 160px; display: flex; align-items: flex-end;}}
@media (max-height: 850px) {{.pbar div {{height: 100px;}}}}  /* a 1280x800 laptop: the bars on its first screen */
.pbar i {{display: block; width: 100%; background: {OTHER_COLOUR}; border-radius: 3px 3px 0 0;}}
.pbar.top i {{background: {TOP_COLOUR};}}
.pbar.top b {{font-weight: 700;}}
.pbar b {{font-weight: 400;}}
.probability-bars.big .pbar {{font-size: 2.5rem;}}
.probability-bars.big .pbar span {{font-size: 1.6rem;}}
.probability-bars.big .pbar div {{height: 170px;}}
/* While the pen moves, the browser's reading (ui/live.js) stands in for the server's answer. */
.st-key-answer.live > :not(.live-answer), .st-key-answer:not(.live) > .live-answer {{display: none;}}
.st-key-network.live > :not(.live-network) {{display: none;}}  /* presenter mode's network, read live */
.st-key-send button[data-sending] {{cursor: progress; opacity: 0.75;}}
.st-key-send button[data-sending] p {{font-size: 0;}}
.st-key-send button[data-sending] p::after {{content: "Sending…"; font-size: 1rem;}}
.live-refused {{padding: 1rem; border-radius: 0.5rem; background: rgba(28, 131, 225, 0.1);}}
</style>
"""
# Presenter mode: no sidebar, a small title, and canvas, Clear, answer and bars within 1280x720.
PRESENTER_CSS = """
<style class="digitnet">
[data-testid="stSidebar"], [data-testid="stSidebarCollapsedControl"] {display: none;}
.st-key-view [role="tablist"] {display: none;}  /* the Draw tab only */
h1 {font-size: 1.6rem !important; padding: 0 !important;}
.digit-answer {font-size: 10rem !important;}
.st-key-canvas-digit [data-testid="stBidiComponentIsolated"] {zoom: 1.2143;}  /* 340 px: fits 1280x720 and a phone */
.answer-sentence {font-size: 1.8rem !important;}
.inside-words {font-size: 1.4rem !important;}
@media (max-width: 640px) {
  h1 {padding: 0 0 0.5rem 0 !important;}
  .digit-answer {font-size: 4.5rem !important;}
  .answer-sentence {font-size: 1.2rem !important;}
}
</style>
"""
# A room's phone form: its only canvas, which it sends without a container, at presenter mode's size.
# The room's wall on a projector: a QR code a back row can scan (its column's width, about 290 px of a
# 1280x720 screen's height) above the room code in big letters, a one-line title, and the link for typing.
WALL_CSS = """
<style class="digitnet">
h1 {font-size: 1.3rem !important;}
.room-qr svg {width: 100%; height: auto; display: block;}
.room-code-line {font-size: 1.4rem; margin: 0; line-height: 1.1;}
.room-code {display: block; font-size: 3.6rem; letter-spacing: 0.12em; line-height: 1.1;}
.room-code span {margin-left: 0.3em;}
.room-link {font-size: 0.95rem; margin: 0.2rem 0 0 0; overflow-wrap: anywhere;}
</style>
"""
# The canvas' toolbar lives in the component's shadow root, out of the page CSS's reach: this puts a
# style into each canvas as it appears. It hides the "Edit" switch, which turns drawing into moving
# strokes around, a mode a visitor turns on by accident and takes for a broken canvas, and makes its
# buttons big enough to hit.
CANVAS_TOOLBAR_SCRIPT = """
<script>
if (!window.digitnetToolbar) {
  window.digitnetToolbar = true;
  const fix = () => document.querySelectorAll('[data-testid="stBidiComponentIsolated"]').forEach(host => {
    const root = host.shadowRoot;
    if (root && !root.querySelector("style.digitnet")) {
      const style = document.createElement("style");
      style.className = "digitnet";
      // Its icon buttons are 22.4 px: WCAG 2.2's targets are at least 24 px.
      style.textContent = 'button[title="Edit"], .dc-toolbar-separator {display: none !important;} ' +
        '.dc-icon-button {min-width: 24px; min-height: 24px;}';
      root.appendChild(style);
    }
  });
  fix();
  new MutationObserver(fix).observe(document.body, {childList: true, subtree: true});
}
</script>
"""


def pixels_html(x: np.ndarray, side: int, alt: str) -> str:
    """A (28, 28) image in [0, 1] as an inline PNG of a few hundred bytes, enlarged by the browser to
    `side` pixels square, each pixel kept sharp."""
    source = "data:image/png;base64," + base64.b64encode(input_png(x)).decode()
    return (f"<img src='{source}' alt='{html.escape(alt)}' width='{side}' height='{side}' "
            f"style='image-rendering:pixelated;display:block;width:{side}px;height:{side}px;max-width:none;"
            f"object-fit:fill'>")
