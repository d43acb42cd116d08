"""digitnet: draw a digit and watch a neural network read it."""

import html
import os
from pathlib import Path

import altair as alt
import numpy as np
import pandas as pd
import streamlit as st
from streamlit_drawable_canvas import st_canvas

import digitnet
from digitnet import explain, segment
from digitnet.auth import ADMIN_PASSWORD_ENV, password_matches
from digitnet.classifier import weights_path
from digitnet.corrections import Corrections, default_data_dir
from digitnet.evaluate import Evaluation, evaluate
from digitnet.jobs import JobStatus, TrainingJob
from digitnet.prediction import Prediction, enlarge_pixels
from digitnet.store import LoadedModel, ModelStore

# A 20 px brush on a 280 px canvas gives MNIST-like strokes once a digit is shrunk to 20x20;
# presenter mode scales both up, and the several-digits canvas is wide.
CANVAS = {"normal": (280, 280, 20), "presenter": (440, 440, 32), "number": (720, 240, 16)}
# Okabe-Ito colours: told apart with any colour vision, and high contrast on white.
TOP_COLOUR, OTHER_COLOUR = "#D55E00", "#56B4E9"
PRESENTER_CSS = """
<style>
[data-testid="stSidebar"], [data-testid="stSidebarCollapsedControl"] {display: none;}
.digit-answer {font-size: 14rem !important;}
.answer-sentence {font-size: 2.2rem !important;}
</style>
"""
UPLOAD_TYPES = ["png", "jpg", "jpeg", "gif", "bmp", "webp", "tif", "tiff"]

st.set_page_config(page_title="digitnet: draw a digit", page_icon="✏️", layout="wide")


@st.cache_resource
def get_store() -> ModelStore:
    return ModelStore()


@st.cache_resource
def get_corrections() -> Corrections:
    return Corrections(default_data_dir())


@st.cache_resource
def get_job() -> TrainingJob:
    return TrainingJob(get_store())


@st.cache_resource(max_entries=4, show_spinner="Loading the network...")
def load_model(path: str, modified: float) -> LoadedModel:
    """Load once per model file version: `modified` changes when a retrain replaces the file."""
    return get_store().load(Path(path))


def current_model() -> LoadedModel:
    """The model every session uses now; stops the page with a message if there is none."""
    path = get_store().active_path()
    try:
        if not weights_path(path).exists():  # the retrained model was removed a moment ago
            path = get_store().shipped
        return load_model(str(path), weights_path(path).stat().st_mtime)
    except (OSError, digitnet.ModelFileError) as exc:
        st.error(f"The network cannot be loaded: {exc}. Reinstall digitnet or retrain with "
                 "`python -m digitnet train`.")
        st.stop()


def admin_password() -> str | None:
    if os.environ.get(ADMIN_PASSWORD_ENV):
        return os.environ[ADMIN_PASSWORD_ENV]
    try:
        return st.secrets.get(ADMIN_PASSWORD_ENV)
    except FileNotFoundError:
        return None


def drawing_ui(kind: str) -> object | None:
    """The canvas and its Clear button; returns the drawing's RGBA array, or None before a stroke."""
    if "canvas_version" not in st.session_state:
        st.session_state.canvas_version = 0
    width, height, stroke = CANVAS[kind]
    result = st_canvas(
        stroke_width=stroke,
        stroke_color="#FFFFFF",
        background_color="#000000",
        width=width,
        height=height,
        drawing_mode="freedraw",
        return_image_data=True,
        key=f"canvas-{kind}-{st.session_state.canvas_version}",
    )
    st.button("Clear", key="clear", icon=":material/delete:", on_click=clear_canvas)
    return result.image_data


def clear_canvas() -> None:
    st.session_state.canvas_version += 1  # a new key gives a new, empty canvas


def upload_ui() -> object | None:
    """The file uploader; returns the opened image, or None (with a message) when there is none."""
    upload = st.file_uploader("A photo or scan of one handwritten digit", type=UPLOAD_TYPES, key="upload")
    if upload is None:
        return None
    try:
        return digitnet.open_image(upload.getvalue())
    except digitnet.ImageError as exc:
        st.error(f"Cannot read this file: {exc}")
        return None


def probability_bars(prediction: Prediction, top: int = 10) -> None:
    """Bars of the `top` most likely digits (all ten by default), the answer's bar highlighted.

    Plain HTML rather than a chart: it is drawn with the answer instead of a beat after it.
    """
    digits = sorted(np.argsort(prediction.probabilities)[-top:])
    height, font, small_font = (160, "1rem", "0.8rem") if top == 10 else (240, "2.5rem", "1.6rem")
    bars = []
    for digit in digits:
        probability = float(prediction.probabilities[digit])
        colour, weight = (TOP_COLOUR, 700) if digit == prediction.digit else (OTHER_COLOUR, 400)
        bars.append(
            f"<div style='flex:1;text-align:center'>"
            f"<div style='font-size:{small_font}'>{probability:.0%}</div>"
            f"<div style='height:{height}px;display:flex;align-items:flex-end'>"
            f"<div style='width:100%;height:{max(probability * height, 2):.0f}px;background:{colour};"
            f"border-radius:3px 3px 0 0'></div></div>"
            f"<div style='font-size:{font};font-weight:{weight}'>{digit}</div></div>"
        )
    described = ", ".join(f"{digit}: {prediction.probabilities[digit]:.0%}" for digit in digits)
    st.markdown(
        f"<div class='probability-bars' role='img' aria-label='How likely each digit is: {described}' "
        f"style='display:flex;gap:6px'>{''.join(bars)}</div>",
        unsafe_allow_html=True,
    )


TEST_DIGIT = "A test digit"


@st.cache_resource(max_entries=2, show_spinner="Scoring the network on 10,000 test digits...")
def test_scores(path: str, modified: float) -> tuple[digitnet.Mnist, Evaluation] | None:
    """The MNIST test set and how this model does on it; None when the data cannot be loaded."""
    try:
        data = digitnet.load_mnist()
    except digitnet.DataError:
        return None
    return data, evaluate(load_model(path, modified).classifier, data)


def current_scores(model: LoadedModel) -> tuple[digitnet.Mnist, Evaluation] | None:
    return test_scores(str(model.path), weights_path(model.path).stat().st_mtime)


def test_digit_ui(model: LoadedModel):
    """One MNIST test digit, picked in the evaluation panel below, as the input."""
    scores = current_scores(model)
    if scores is None:
        st.info("Set DIGITNET_MNIST to a local mnist.npz to look at the test digits.")
        return None
    data, result = scores
    mistakes = result.mistakes()
    index = st.session_state.get("test_digit", int(mistakes[0]) if len(mistakes) else 0)
    st.image(enlarge_pixels(data.x_test[index] / 255, scale=10), width=280,
             caption=f"Test digit #{index}, labelled {data.y_test[index]}")
    return data.x_test[index]


DRAW_PROMPT = "Draw a digit from 0 to 9 on the black square, and I'll tell you which one it is."


def answer_ui(image, model: LoadedModel, presenter: bool) -> None:
    """The network's answer for `image`: the digit, a sentence, the bars and the 28x28 input."""
    if image is None:
        st.info(DRAW_PROMPT)
        return
    try:
        x = digitnet.to_mnist(image)
    except digitnet.BlankImageError:
        st.info(DRAW_PROMPT)
        return
    except digitnet.ImageError as exc:
        st.error(f"Cannot read this image: {exc}")
        return
    prediction = Prediction(model.classifier.predict_proba(x))
    if presenter:
        big_answer(str(prediction.digit), prediction.sentence())
        probability_bars(prediction, top=3)
        return
    guess, seen = st.columns([1, 1])
    with guess:
        big_answer(str(prediction.digit), prediction.sentence())
    with seen:
        st.image(enlarge_pixels(x), caption="What the network sees: 28 x 28 pixels", width=224)
    probability_bars(prediction)
    feedback_ui(x, image, prediction)
    if st.toggle("Why this answer?", key="explain"):
        why_ui(x, prediction, model)


def feedback_ui(x, image, prediction: Prediction) -> None:
    """Right? Yes, or the right digit: either way the drawing is kept, labelled, to learn from."""
    yes, which, save = st.columns([1, 1.2, 0.8], vertical_alignment="bottom")
    label = None
    if yes.button(f"Right, it's a {prediction.digit}", key="confirm", icon=":material/check:"):
        label = prediction.digit
    correct = which.selectbox("No, it was a", range(10), index=None, key="correct_label", placeholder="digit")
    if save.button("Save", key="save_correction", disabled=correct is None):
        label = correct
    if label is not None:
        get_corrections().add(x, label, original=image)
        st.session_state.just_saved = label
        st.rerun()  # the whole page, so the sidebar's count grows too


@st.cache_resource(max_entries=2, show_spinner="Finding the training digits...")
def look_alikes(path: str, modified: float) -> explain.LookAlikes | None:
    """Features of the first 10,000 MNIST training digits under this model; None without the data."""
    try:
        data = digitnet.load_mnist()
    except digitnet.DataError:
        return None
    return explain.LookAlikes.build(load_model(path, modified).classifier, data.x_train[:10_000],
                                    data.y_train[:10_000])


def why_ui(x, prediction: Prediction, model: LoadedModel) -> None:
    """Which pixels pushed the network to its answer, and training digits it finds alike."""
    heat, alike = st.columns([1, 2])
    with heat:
        st.image(explain.saliency_overlay(x, explain.saliency(model.classifier, x)), width=180,
                 caption=f"Orange pixels made it say {prediction.digit}; blue ones argued against it.")
    with alike:
        index = look_alikes(str(model.path), weights_path(model.path).stat().st_mtime)
        if index is None:
            st.caption("Set DIGITNET_MNIST to a local mnist.npz to see the training digits it finds alike.")
            return
        nearest = index.nearest(model.classifier, x)
        st.caption(f"It thinks your {prediction.digit} looks like these training digits:")
        st.image([enlarge_pixels(index.images[i] / 255, scale=3) for i in nearest],
                 caption=[f"a {index.labels[i]}" for i in nearest], width=64)


def big_answer(text: str, sentence: str) -> None:
    """The answer in huge type, announced to screen readers, with its sentence below."""
    st.markdown(
        f"<div class='digit-answer' data-testid='digit-answer' role='status' aria-live='polite' "
        f"aria-label='{html.escape(sentence)}' style='font-size:7rem;font-weight:700;line-height:1;"
        f"text-align:center'>{html.escape(text)}</div>",
        unsafe_allow_html=True,
    )
    st.markdown(f"<p class='answer-sentence' style='font-weight:600'>{html.escape(sentence)}</p>",
                unsafe_allow_html=True)


def number_ui(image, model: LoadedModel) -> None:
    """Several digits side by side: the number, and how sure the network is of each digit."""
    try:
        pieces = segment.split_digits(image) if image is not None else []
        predictions = [Prediction(model.classifier.predict_proba(digitnet.to_mnist(p))) for p in pieces]
    except digitnet.BlankImageError:
        predictions = []
    if not predictions:
        st.info("Write a number, say 2026, across the black strip, digits side by side.")
        return
    number = "".join(str(p.digit) for p in predictions)
    big_answer(number, f"I read the number {number}.")
    for column, prediction in zip(st.columns(len(predictions)), predictions):
        column.metric(f"digit {prediction.digit}", f"{prediction.confidence:.0%}", border=True)


@st.fragment
def draw_and_read(presenter: bool) -> None:
    """Canvas (or upload) and answer in one fragment: a stroke reruns only this part of the page."""
    model = current_model()
    sources = ["Draw", "Several digits", "Upload a photo"] + ([] if presenter else [TEST_DIGIT])
    source = st.segmented_control("Input", sources, default="Draw", key="source", label_visibility="collapsed")
    if source == "Several digits":
        image = drawing_ui("number")
        number_ui(image, model)
        return
    left, right = st.columns([1, 1.4], gap="large")
    with left:
        st.space("small")  # room for the canvas' own toolbar above it
        if source == "Upload a photo":
            image = upload_ui()
        elif source == TEST_DIGIT:
            image = test_digit_ui(model)
        else:
            image = drawing_ui("presenter" if presenter else "normal")
    with right:
        answer_ui(image, model, presenter)


def curves_chart(curves: dict[str, list[float]], metric: str, height: int = 220) -> None:
    """One metric per epoch, training and validation, with a legend and a y-axis fitted to the data."""
    epochs = range(1, len(curves[metric]) + 1)
    data = pd.concat(
        [
            pd.DataFrame({"epoch": epochs, metric: curves[metric], "data": "training"}),
            pd.DataFrame({"epoch": epochs, metric: curves[f"val_{metric}"], "data": "validation"}),
        ]
    )
    st.vega_lite_chart(
        data,
        {
            "height": height,
            "mark": {"type": "line", "point": True},
            "encoding": {
                "x": {"field": "epoch", "type": "quantitative", "axis": {"tickMinStep": 1}},
                "y": {"field": metric, "type": "quantitative", "scale": {"zero": False}},
                "color": {"field": "data", "type": "nominal", "legend": {"orient": "bottom", "title": None},
                          "scale": {"range": ["#1f77b4", "#ff7f0e"]}},
            },
        },
        width="stretch",
    )


def curves_ui(history: dict) -> None:
    accuracy, loss = st.columns(2)
    with accuracy:
        st.caption("Accuracy (higher is better)")
        curves_chart(history["history"], "accuracy")
    with loss:
        st.caption("Loss (lower is better)")
        curves_chart(history["history"], "loss")


def model_card_ui(model: LoadedModel) -> None:
    history = model.history or {}
    rows = {
        "Model": "retrained here" if model.path != get_store().shipped else "shipped with digitnet",
        "Test accuracy on 10,000 MNIST digits": f"{history['test_accuracy']:.2%}" if history else "unknown",
        "Real people it never saw": people_accuracy(history),
        "Trained": history.get("trained_at", "unknown").replace("T", " "),
        "Epochs": str(history.get("epochs_completed", "unknown")),
        "Parameters": f"{model.classifier.num_parameters:,}",
    }
    st.markdown("\n".join(f"- **{name}:** {value}" for name, value in rows.items()))


def people_accuracy(history: dict) -> str:
    people = history.get("held_out_writers")
    if not people:
        return "not measured"
    return f"{people['accuracy']:.2%} ({len(people['per_writer'])} writers' pen digits)"


def retrain_form_ui(job_running: bool, allowed: bool) -> digitnet.TrainConfig | None:
    """The retraining settings and button; returns the settings when Retrain is clicked."""
    defaults = digitnet.TrainConfig()
    epochs = st.number_input("Epochs", 1, 100, defaults.epochs, key="epochs")
    batch_size = st.select_slider("Batch size", [16, 32, 64, 128, 256, 512], defaults.batch_size, key="batch_size")
    hidden_units = st.select_slider("Hidden units per layer", [16, 32, 64, 128, 256, 512], defaults.hidden_units,
                                    key="hidden_units")
    learning_rate = st.number_input("Learning rate", 1e-5, 0.5, defaults.learning_rate, format="%.4f",
                                    key="learning_rate")
    validation_split = st.slider("Validation split", 0.05, 0.5, defaults.validation_split, 0.05,
                                 key="validation_split")
    with st.expander("Advanced"):
        train_subset = st.number_input("Training images (0 = all 60,000)", 0, 60_000, defaults.train_subset,
                                       step=1000, key="train_subset")
        augment = st.checkbox("Distort the training digits at random", defaults.augment, key="augment")
    pen_digits = st.checkbox("Learn from real people's pen digits", defaults.pen_digits, key="pen_digits",
                             help="Digits written with a pen by people MNIST never had, drawn as on this canvas: "
                                  "9s with a curled tail, 7s with a bar, 1s with a flag and a foot.")
    include_drawings = st.checkbox("Include my drawings", False, key="include_drawings",
                                   help="Each collected drawing counts as if it were drawn "
                                        f"{defaults.drawing_repeats} times.")
    clicked = st.button("Retrain", key="retrain", type="primary", disabled=job_running or not allowed,
                        icon=":material/model_training:")
    if not clicked:
        return None
    return defaults.replace(epochs=int(epochs), batch_size=int(batch_size), hidden_units=int(hidden_units),
                            learning_rate=float(learning_rate), validation_split=float(validation_split),
                            train_subset=int(train_subset), augment=bool(augment),
                            pen_digits=bool(pen_digits), include_drawings=bool(include_drawings))


def progress_ui(status: JobStatus, allowed: bool) -> None:
    if status.running:
        left = status.seconds_left()
        eta = f", about {left:.0f} s left" if left is not None else ""
        st.progress(status.fraction_done, text=f"Epoch {status.epochs_done} of {status.config.epochs}{eta}")
        st.caption(status.message)
        if status.history:
            curves_chart(status.history, "accuracy", height=160)
        if st.button("Cancel", key="cancel", disabled=not allowed, icon=":material/cancel:"):
            get_job().cancel()
    elif status.state == "succeeded":
        st.success(status.message)
    elif status.state in ("failed", "cancelled"):
        st.warning(status.message)


def evaluation_ui(model: LoadedModel) -> None:
    """Accuracy per digit, the confusion matrix, and a gallery of test digits it reads wrong."""
    scores = current_scores(model)
    if scores is None:
        st.info("Set DIGITNET_MNIST to a local mnist.npz to score the network on the 10,000 test digits.")
        return
    data, result = scores
    per_digit, confusion = st.columns(2, gap="large")
    with per_digit:
        st.caption(f"Accuracy per digit ({result.accuracy:.2%} over all 10,000 test digits)")
        st.vega_lite_chart(
            pd.DataFrame({"digit": [str(d) for d in range(10)], "accuracy": result.per_digit}),
            {"height": 260, "mark": {"type": "bar", "color": OTHER_COLOUR},
             "encoding": {"x": {"field": "digit", "type": "ordinal", "axis": {"labelAngle": 0}},
                          "y": {"field": "accuracy", "type": "quantitative", "scale": {"zero": False},
                                "axis": {"format": "%"}}}},
            width="stretch",
        )
    with confusion:
        st.caption("Confusion matrix: how often each digit (row) is read as each digit (column)")
        cells = [{"true": str(t), "read as": str(p), "count": int(result.confusion[t, p])}
                 for t in range(10) for p in range(10)]
        st.vega_lite_chart(
            pd.DataFrame(cells),
            {"height": 260, "encoding": {"x": {"field": "read as", "type": "ordinal", "axis": {"labelAngle": 0}},
                                         "y": {"field": "true", "type": "ordinal"}},
             "layer": [
                 {"mark": "rect", "encoding": {"color": {"field": "count", "type": "quantitative",
                                                         "scale": {"type": "symlog", "scheme": "blues"},
                                                         "legend": None}}},
                 {"mark": {"type": "text", "fontSize": 9},
                  "encoding": {"text": {"field": "count"},
                               "color": {"condition": {"test": "datum.count > 300", "value": "white"},
                                         "value": "black"}}},
             ]},
            width="stretch",
        )
    people_ui(model.history or {})
    mistakes = result.mistakes()
    st.caption(f"{len(mistakes)} test digits it reads wrong; the first 24:")
    shown = mistakes[:24]
    st.image([enlarge_pixels(data.x_test[i] / 255, scale=3) for i in shown], width=64,
             caption=[f"{data.y_test[i]} read as {result.predicted[i]}" for i in shown])
    pick, show = st.columns([2, 1], vertical_alignment="bottom")
    choice = pick.selectbox("Look at one closely", shown, key="mistake",
                            format_func=lambda i: f"#{i}: a {data.y_test[i]} read as {result.predicted[i]}")
    show.button("Show it as the input", key="show_mistake", on_click=show_test_digit, args=(int(choice),))


def people_ui(history: dict) -> None:
    """How well it reads real people it never trained on, as measured when it was trained."""
    people = history.get("held_out_writers")
    if not people:
        st.caption("This network was not measured on real people's handwriting: retrain it with "
                   "\"Learn from real people's pen digits\" to measure it.")
        return
    writers = len(people["per_writer"])
    st.caption(
        f"Real people it never saw: {people['accuracy']:.2%} of the pen digits of {writers} writers kept out "
        f"of its training, drawn as on this canvas. Of its {people['misreads']} misreads, "
        f"{people['confident_misreads']:.0%} were said with 90% confidence or more "
        f"(calibration error {people['calibration_error']:.3f})."
    )
    frame = pd.DataFrame({"digit": [str(d) for d in range(10)], "accuracy": people["per_digit"]})
    low = min(0.9, min(people["per_digit"]) - 0.02)  # start the axis where the differences show
    st.altair_chart(
        alt.Chart(frame, height=200).mark_bar(color=OTHER_COLOUR).encode(
            x=alt.X("digit:O", axis=alt.Axis(labelAngle=0)),
            y=alt.Y("accuracy:Q", scale=alt.Scale(domain=[low, 1], clamp=True),
                    axis=alt.Axis(format="%", title="accuracy on real people")),
        ),
        width="stretch",
    )


def show_test_digit(index: int) -> None:
    st.session_state.test_digit = index
    st.session_state.source = TEST_DIGIT


def drawings_ui(allowed: bool) -> None:
    """How many drawings have been collected per digit; export them or delete them."""
    st.subheader("Collected drawings")
    counts = get_corrections().counts()
    st.caption(f"{sum(counts)} drawings: " + ", ".join(f"{d}: {n}" for d, n in enumerate(counts)))
    if not sum(counts):
        return
    # A callable: the drawings are read only when someone clicks, not on every rerun.
    st.download_button("Export as .npz (MNIST layout)", get_corrections().export_npz, "drawings.npz",
                       key="export", icon=":material/download:")
    sure = st.checkbox("Yes, delete them all", key="confirm_delete")
    if st.button("Delete drawings", key="delete_drawings", disabled=not (sure and allowed),
                 icon=":material/delete_forever:"):
        get_corrections().delete_all()
        st.rerun()


def training_watch(allowed: bool) -> None:
    """Polls the shared job; reruns the whole page when a run starts or ends, so the new model loads."""
    status = get_job().status()
    if st.session_state.get("watched_running", False) != status.running:
        st.session_state.watched_running = status.running
        st.rerun()
    progress_ui(status, allowed)


# The page

title, switch = st.columns([4, 1], vertical_alignment="bottom")
title.title("✏️ Draw a digit, watch a neural network read it")
presenter = switch.toggle("Presenter mode", key="presenter", value=st.query_params.get("presenter") == "1",
                          help="For demos: a big canvas, a huge answer, no technical panels. Or open ?presenter=1")
if presenter:
    st.markdown(PRESENTER_CSS, unsafe_allow_html=True)
else:
    st.caption(
        "A small neural network reads your drawing. It learned from 60,000 handwritten digits (MNIST) and "
        "from thousands more written with a pen by real people. "
        "It shows its answer, how sure it is, and the tiny 28 x 28 picture it actually looks at."
    )

model = current_model()
for warning in model.warnings:
    st.warning(warning)
if "just_saved" in st.session_state:
    st.toast(f"Saved as a {st.session_state.pop('just_saved')}. Retrain with your drawings to teach it.")

draw_and_read(presenter)
if presenter:
    st.stop()  # the audience sees only the canvas and the answer

st.subheader("How the network learned")
st.caption("Accuracy and loss after each pass (epoch) over the training digits. Validation digits were never "
           "trained on; they show how well it does on digits it has not seen.")
curves_col, card_col = st.columns([2.2, 1], gap="large")
with curves_col:
    if model.history:
        curves_ui(model.history)
    else:
        st.info("This model has no training history to show.")
with card_col:
    model_card_ui(model)

st.subheader("How good is it")
evaluation_ui(model)

with st.sidebar:
    st.header("Retrain the network")
    allowed = True
    expected = admin_password()
    if expected:
        allowed = password_matches(st.text_input("Admin password", type="password", key="password"), expected)
        if not allowed:
            st.caption("Retraining and restoring need the admin password.")
    job = get_job()
    status = job.status()
    config = retrain_form_ui(status.running, allowed)
    if config:
        try:
            started = job.start(config)
        except digitnet.DigitnetError as exc:
            st.error(str(exc))
        else:
            if started:
                st.rerun()  # show the running state at once: progress, and the controls disabled
            st.warning("A training is already running: wait for it to finish.")
    if get_store().is_retrained():
        if st.button("Restore shipped model", key="restore", disabled=status.running or not allowed,
                     icon=":material/restore:"):
            get_store().restore_shipped()
            st.rerun()
    drawings_ui(allowed)
    running = job.status().running
    st.session_state.watched_running = running
    # Poll each second while a training runs; otherwise just often enough to notice another session's.
    st.fragment(training_watch, run_every=1.0 if running else 5.0)(allowed)
