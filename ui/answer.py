"""The network's answer: the digit in huge type, a sentence, the ten bars, the 28x28 input, corrections."""

import hashlib
import html
import json

import numpy as np
import streamlit as st
import streamlit.components.v1 as components

import digitnet
from digitnet.reading import segment
from digitnet.reading.prediction import Prediction, a_digit, number_sentence, spoken
from digitnet.reading.reader import read_image
from digitnet.state.store import LoadedModel
from ui import keys
from ui.explanations import why_ui
from ui.guard import within_budget
from ui.inputs import (CANVAS, ON_CANVAS, NUMBER, TEST_DIGIT, UPLOAD, canvas_ui, drawing_ui, test_digit_ui,
                       unreadable_drawing, upload_ui)
from ui.curves import glance_ui
from ui.inside import inside_ui, presenter_inside_ui
from ui.resources import current_model, collected_drawings, drawing_reader
from ui.style import pixels_html

INVITATIONS = {
    ON_CANVAS: "Draw a digit from 0 to 9 on the black square, and I'll tell you which one it is.",
    UPLOAD: "Upload a photo or a scan of one handwritten digit, and I'll tell you which one it is.",
    TEST_DIGIT: "Pick a test digit in the \"How good is it\" tab.",
}


@st.fragment
def draw_and_read(presenter: bool) -> None:
    """Canvas (or upload) and answer in one fragment: a stroke reruns only this part of the page."""
    within_budget()  # a stroke's run is this fragment's alone
    model = current_model()
    sources = [ON_CANVAS, NUMBER, UPLOAD] + ([] if presenter else [TEST_DIGIT])
    source = st.segmented_control("Input", sources, default=ON_CANVAS, key=keys.SOURCE, label_visibility="collapsed")
    if source == NUMBER:
        image = drawing_ui("number")
        with st.container(key="answer"):
            number_ui(image, model)
        if not presenter:
            glance_ui(model)
        return
    invitation = INVITATIONS.get(source, INVITATIONS[ON_CANVAS])
    left, right = st.columns([1, 1.4], gap="large")
    with left:
        if source == UPLOAD:
            image = upload_ui()
            if image is None and st.session_state.get(keys.UPLOADED_FILE) is not None:
                invitation = ""  # a file that cannot be read: the uploader has said why, no invitation beside it
        elif source == TEST_DIGIT:
            image = test_digit_ui(model)
        else:
            image = canvas_ui("digit")  # its PNG: read_ui has it read beside the server
        if not presenter:  # under the canvas, on the first screen beside the answer
            glance_ui(model)
    with right.container(key="answer"):
        read = answer_ui(image, model, presenter, invitation)
    if presenter and read:
        presenter_inside_ui(*read, model)


def answer_ui(image, model: LoadedModel, presenter: bool, invitation: str) -> tuple[np.ndarray, Prediction] | None:
    """The network's answer for `image`, as presenter mode or a visitor's desk shows it; `invitation`
    while there is nothing to read, and the reason when what is there is not a digit. Returns the
    28x28 input and the prediction, or None when there was nothing to read."""
    read = read_ui(image, model, invitation)
    if read is None:
        return None
    x, prediction = read
    st.session_state[keys.CURRENT_INPUT] = x  # a running retrain reads it after each epoch (the sidebar)
    drawing_id = hashlib.sha256(x.tobytes()).hexdigest()  # which drawing this is, to act on it once
    if presenter:
        presenter_answer_ui(prediction, drawing_id)
    else:
        desk_answer_ui(x, image, prediction, model, drawing_id)
    return x, prediction


def presenter_answer_ui(prediction: Prediction, drawing_id: str) -> None:
    """The huge answer, said aloud once per drawing when the presenter asked for it."""
    st.markdown(big_answer_html(prediction), unsafe_allow_html=True)
    if st.session_state.get(keys.SPEAK):
        say_once(spoken(prediction), drawing_id)


def desk_answer_ui(x: np.ndarray, image, prediction: Prediction, model: LoadedModel, drawing_id: str) -> None:
    """The answer, the 28x28 input and the bars; Right / No, it was; and the two switches that open
    why this answer and the network inside."""
    # One element for the answer, the 28x28 input and the bars: each stroke sends one message for all
    # three instead of six, and the picture goes inline rather than through a media file and a request.
    st.markdown(f"<div class='answer-row' style='display:flex;flex-wrap:wrap;gap:1rem;align-items:center'>"
                f"<div class='answer-guess' style='flex:1 1 170px'>"
                f"{answer_html(str(prediction.digit), prediction.sentence())}</div>{input_picture_html(x)}</div>"
                + probability_bars_html(prediction), unsafe_allow_html=True)
    feedback_ui(x, image, prediction, drawing_id)
    why = inner = st.container(horizontal=True, gap="large", key="switches")
    if kept_toggle(why, "Why this answer?", "explain", keys.EXPLAIN):
        with st.container(key="why"):
            why_ui(x, prediction, model)
    if kept_toggle(inner, "Inside the network", "inside", keys.INSIDE):
        with st.container(key="network"):
            inside_ui(x, prediction, model)


def read_ui(image, model: LoadedModel, invitation: str) -> tuple[np.ndarray, Prediction] | None:
    """The 28x28 input and the network's prediction for `image` (a digit canvas' PNG is read beside
    the server, digitnet.reading.reader); None, with `invitation` or the reason shown, when there is
    nothing to read."""
    try:
        if image is None:
            reading = None
        elif isinstance(image, bytes):
            reading = drawing_reader().read(image, CANVAS["digit"][:2], model.classifier)
        else:
            reading = read_image(image, model.classifier)
    except digitnet.EmptyImageError:
        reading = None  # a canvas not drawn on yet, or cleared
    except digitnet.BlankImageError as exc:
        st.info(f"{exc}.")  # a dot, a blob or a tiny mark: say what is wrong with it
        return None
    except digitnet.CanvasError:
        unreadable_drawing()
        return None
    except digitnet.ImageError as exc:
        st.error(f"Cannot read this image: {exc}")
        return None
    if reading is None:
        if invitation:
            st.info(invitation)
        return None
    return reading.x, Prediction(reading.probabilities)


def big_answer_html(prediction: Prediction) -> str:
    """The answer as presenter mode and a room's phones show it: huge, with the three likeliest bars."""
    return answer_html(str(prediction.digit), prediction.sentence()) + probability_bars_html(prediction, top=3)


def kept_toggle(place, label: str, key: str, memory: str) -> bool:
    """A switch keyed `key`, also remembered under `memory`: Streamlit forgets a widget's state on a run
    that does not draw it, as after Clear, and the switch should stay as the user left it."""
    return place.toggle(label, key=key, value=st.session_state.get(memory, False),
                        on_change=lambda: st.session_state.update({memory: st.session_state[key]}))


def say_once(words: str, drawing_id: str) -> None:
    """Speak `words` through the browser's speech synthesis, once per new answer to a new drawing:
    a rerun that changes nothing says nothing."""
    if st.session_state.get(keys.SPOKEN) == (drawing_id, words):
        return
    st.session_state[keys.SPOKEN] = (drawing_id, words)
    components.html(f"<script>speechSynthesis.cancel();"
                    f"speechSynthesis.speak(new SpeechSynthesisUtterance({json.dumps(words)}));</script>",
                    height=0)


def big_answer(text: str, sentence: str) -> None:
    st.markdown(answer_html(text, sentence), unsafe_allow_html=True)


def answer_html(text: str, sentence: str) -> str:
    """The answer in huge type, announced to screen readers, with its sentence below."""
    return (
        f"<div class='digit-answer' data-testid='digit-answer' role='status' aria-live='polite' "
        f"aria-label='{html.escape(sentence)}' style='font-size:7rem;font-weight:700;line-height:1;"
        f"text-align:center'>{html.escape(text)}</div>"
        f"<p class='answer-sentence' style='font-weight:600'>{html.escape(sentence)}</p>"
    )


def input_picture_html(x: np.ndarray) -> str:
    """The 28x28 input, enlarged by the browser pixel by pixel, under a grid that shows each pixel."""
    return (
        f"<figure class='network-input' style='margin:0 auto;text-align:center'>"
        f"<div style='position:relative;width:224px;height:224px;margin:0 auto'>"
        f"{pixels_html(x, 224, 'What the network sees: your drawing as 28 x 28 grey pixels')}"
        f"<div style='position:absolute;inset:0;background-size:8px 8px;background-image:"
        f"linear-gradient(to right,rgba(128,128,128,.45) 1px,transparent 1px),"
        f"linear-gradient(to bottom,rgba(128,128,128,.45) 1px,transparent 1px)'></div></div>"
        f"<figcaption style='font-size:0.875rem;opacity:0.8'>What the network sees: 28 x 28 pixels</figcaption>"
        f"</figure>"
    )


def probability_bars_html(prediction: Prediction, top: int = 10) -> str:
    """Bars of the `top` most likely digits (all ten by default), the answer's bar highlighted.

    Plain HTML rather than a chart: it is drawn with the answer instead of a beat after it. Styled by
    the page's CSS (ui/style.py), so that a stroke sends only the heights.
    """
    digits = sorted(np.argsort(prediction.probabilities)[-top:])
    bars = "".join(
        f"<div class='pbar{' top' if digit == prediction.digit else ''}'><span>{prediction.probabilities[digit]:.0%}"
        f"</span><div><i style='height:{max(float(prediction.probabilities[digit]), 0.0125):.1%}'></i></div>"
        f"<b>{digit}</b></div>"
        for digit in digits)
    described = ", ".join(f"{digit}: {prediction.probabilities[digit]:.0%}" for digit in digits)
    size = "" if top == 10 else " big"
    return (f"<div class='probability-bars{size}' role='img' aria-label='How likely each digit is: {described}'>"
            f"{bars}</div>")


def feedback_ui(x, image, prediction: Prediction, drawing_id: str) -> None:
    """Right? Yes, or the right digit: either way the drawing is kept, labelled, to learn from, once."""
    saved = st.session_state.get(keys.SAVED_DRAWING)
    if saved and saved[0] == drawing_id:
        st.success(f"Saved as {a_digit(saved[1])}. Draw another one, or retrain with your drawings.")
        return
    row = st.container(horizontal=True, vertical_alignment="bottom", key="feedback")
    label = None
    if row.button(f"Right, it's {a_digit(prediction.digit)}", key="confirm", icon=":material/check:"):
        label = prediction.digit
    correct = row.selectbox("No, it was a", range(10), index=None, key="correct_label", placeholder="digit",
                            width=130)
    if row.button("Save", key="save_correction", disabled=correct is None):
        label = correct
    if label is not None:
        try:
            original = digitnet.read_canvas_png(image, CANVAS["digit"][:2]) if isinstance(image, bytes) else image
            collected_drawings().add(x, label, original=original)
        except digitnet.DigitnetError as exc:
            st.error(f"{exc}.")
            return
        st.session_state[keys.SAVED_DRAWING] = (drawing_id, label)
        st.session_state[keys.JUST_SAVED] = label
        st.rerun()  # the whole page, so the sidebar's count grows too


def number_ui(image, model: LoadedModel) -> None:
    """Several digits side by side: the number, and how sure the network is of each digit."""
    try:
        split = segment.split_digits(image) if image is not None else None
        predictions = [Prediction(model.classifier.predict_proba(digitnet.to_mnist(d)))
                       for d in (split.digits if split else [])]
    except digitnet.BlankImageError:
        predictions = []
    if not predictions:
        st.info("Write a number, say 2026, across the black strip, digits side by side.")
        return
    number = "".join(str(p.digit) for p in predictions)
    big_answer(number, number_sentence(number, split.guessed))
    digits_sureness(predictions)


def digits_sureness(predictions: list[Prediction]) -> None:
    """Each digit read and how sure the network is of it, in one row that wraps on a narrow screen."""
    cards = "".join(
        f"<div style='border:1px solid rgba(49,51,63,0.2);border-radius:0.5rem;padding:0.2rem 0.6rem;"
        f"text-align:center'><div style='font-size:1.8rem;font-weight:700'>{p.digit}</div>"
        f"<div style='font-size:0.85rem'>{p.confidence:.0%} sure</div></div>"
        for p in predictions)
    st.markdown(f"<div class='digits-sureness' style='display:flex;flex-wrap:wrap;gap:0.5rem'>{cards}</div>",
                unsafe_allow_html=True)
