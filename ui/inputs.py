"""Where the input comes from: the drawing canvas, an uploaded photo, or an MNIST test digit."""

import numpy as np
import streamlit as st
from streamlit_drawable_canvas import st_canvas

import digitnet
from digitnet.reading.prediction import enlarge_pixels
from digitnet.state.store import LoadedModel
from ui import keys, views
from ui.resources import test_scores, version

# A 20 px brush on a 280 px canvas gives MNIST-like strokes once a digit is shrunk to 20x20; the
# several-digits canvas is wide. The page's CSS shows them larger or smaller (presenter mode, a phone)
# without changing the drawing, which so survives a switch to presenter mode.
CANVAS = {"digit": (280, 280, 20), "number": (720, 240, 16)}
INK, BACKGROUND = "#FFFFFF", "#000000"
UPLOAD_TYPES = ["png", "jpg", "jpeg", "gif", "bmp", "webp", "tif", "tiff"]
UNREADABLE = "That drawing could not be read: clear the canvas and draw again."
ON_CANVAS, NUMBER, UPLOAD, TEST_DIGIT = "Draw", "Several digits", "Upload a photo", "A test digit"
# Scrolls to the input picker (the segmented control, keyed keys.SOURCE), with the answer beside it.
SCROLL_TO_INPUT_SCRIPT = f"""<script>
document.querySelector(".st-key-{keys.SOURCE}").scrollIntoView({{behavior: "smooth", block: "start"}});
</script>"""


def canvas_ui(kind: str) -> bytes | None:
    """The canvas and its Clear button; returns the PNG the canvas sent, or None before a stroke (or
    when what was sent is not a canvas' value)."""
    if keys.CANVAS_VERSION not in st.session_state:
        st.session_state[keys.CANVAS_VERSION] = 0
    width, height, stroke = CANVAS[kind]
    try:
        # named, for the page's CSS to fit it to a phone
        with st.container(key=f"canvas-{kind}"):
            result = st_canvas(
                stroke_width=stroke,
                stroke_color=INK,
                background_color=BACKGROUND,
                width=width,
                height=height,
                drawing_mode="freedraw",
                return_image_data=True,
                key=f"canvas-{kind}-{st.session_state[keys.CANVAS_VERSION]}",
            )
        png = result.image_bytes  # None before the first stroke
        if png is not None and not isinstance(png, bytes):
            raise TypeError(f"a canvas sends a PNG's bytes, not {type(png).__name__}")
    except (ValueError, TypeError, KeyError, AttributeError):
        unreadable_drawing()
        png = None
    st.button("Clear", key="clear", icon=":material/delete:", on_click=clear_canvas)
    return png


def drawing_ui(kind: str) -> np.ndarray | None:
    """The canvas and its Clear button; returns the drawing's RGBA array, or None before a stroke (or
    when what was sent is not a drawing of this canvas)."""
    png = canvas_ui(kind)
    try:
        return None if png is None else digitnet.read_canvas_png(png, CANVAS[kind][:2])
    except digitnet.CanvasError:
        unreadable_drawing()
        return None


def unreadable_drawing() -> None:
    """What a canvas sent is not its drawing (a forged message): say so, and start a fresh canvas, since
    the canvas would send its broken value back on every run."""
    clear_canvas()
    st.warning(UNREADABLE)


def clear_canvas() -> None:
    st.session_state[keys.CANVAS_VERSION] += 1


def upload_ui() -> object | None:
    """The file uploader; returns the opened image, or None (with a message) when there is none."""
    upload = st.file_uploader("A photo or scan of one handwritten digit", type=UPLOAD_TYPES, key=keys.UPLOADED_FILE)
    if upload is None:
        return None
    try:
        image = digitnet.open_image(upload.getvalue())
    except digitnet.ImageError as exc:
        st.error(f"Cannot read this file: {exc}")
        return None
    st.image(digitnet.preview_image(image), caption="Your photo", width=280)
    return image


def test_digit_ui(model: LoadedModel) -> np.ndarray | None:
    """One MNIST test digit, picked in the evaluation panel below, as the input."""
    scores = test_scores(*version(model))
    if scores is None:
        st.info("MNIST's test digits are not available on this server.")
        return None
    data, result = scores
    mistakes = result.mistakes()
    index = st.session_state.get(keys.TEST_DIGIT_INDEX, int(mistakes[0]) if len(mistakes) else 0)
    if st.session_state.pop(keys.SCROLL_TO_INPUT, False):  # picked far below: bring input and answer into view
        st.html(SCROLL_TO_INPUT_SCRIPT, unsafe_allow_javascript=True)
    st.image(enlarge_pixels(data.x_test[index] / 255, scale=10), width=280,
             caption=f"Test digit #{index}, labelled {data.y_test[index]}")
    next_mistake = result.next_mistake(index)
    mistake, anyone = st.columns(2)
    mistake.button("Next mistake", key="next_mistake", on_click=show_test_digit, args=(next_mistake,),
                   icon=":material/skip_next:", disabled=next_mistake is None)
    anyone.button("Random digit", key="random_digit", icon=":material/casino:", on_click=show_test_digit,
                  args=(int(np.random.default_rng().integers(len(data.y_test))),))
    return data.x_test[index]


def show_test_digit(index: int, scroll: bool = False) -> None:
    """Make MNIST test digit `index` the input; `scroll` the page up to it, in the Draw tab."""
    st.session_state[keys.TEST_DIGIT_INDEX] = index
    st.session_state[keys.SOURCE] = TEST_DIGIT
    st.session_state[keys.SCROLL_TO_INPUT] = scroll
    if scroll:
        views.show(views.DRAW)
