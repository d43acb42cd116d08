"""How good is it: accuracy per digit, the confusion matrix, real people, and the digits it reads wrong."""

import html

import numpy as np
import streamlit as st

from digitnet.state.history import HeldOutScore, held_out_sentence
from digitnet.reading.prediction import a_digit
from digitnet.state.store import LoadedModel
from ui.inputs import show_test_digit
from ui.resources import test_scores, version
from ui.style import OTHER_COLOUR, pixels_html


def evaluation_ui(model: LoadedModel) -> None:
    """Accuracy per digit, the confusion matrix, real people, and a gallery of test digits it reads wrong."""
    scores = test_scores(*version(model))
    if scores is None:
        st.info("MNIST's 10,000 test digits are not available on this server, so they cannot be scored here.")
        return
    data, result = scores
    per_digit, confusion = st.columns(2, gap="large")
    with per_digit:
        st.caption(f"Accuracy per digit ({result.accuracy:.2%} over all 10,000 test digits)")
        accuracy_chart(result.per_digit, "accuracy on MNIST")
    with confusion:
        st.caption("Confusion matrix: how often each digit (row) is read as each digit (column)")
        confusion_chart(result.confusion)
    with st.container(key="people"):
        people_ui(model.record.held_out_writers if model.record else None)
    mistakes = result.mistakes()
    st.caption(f"{len(mistakes)} test digits it reads wrong; the first 24:")
    shown = mistakes[:24]
    st.markdown(gallery_html(data.x_test[shown], tuple(f"{data.y_test[i]} read as {result.predicted[i]}"
                                                       for i in shown)), unsafe_allow_html=True)
    pick, show = st.columns([2, 1], vertical_alignment="bottom")
    choice = pick.selectbox("Look at one closely", shown, key="mistake",
                            format_func=lambda i: f"#{i}: {a_digit(data.y_test[i])} read as {result.predicted[i]}")
    show.button("Show it as the input", key="show_mistake", on_click=show_test_digit, args=(int(choice), True))


# The figures below are the same for every visitor of a model: each is built once, keyed by what it shows,
# as building and validating an Altair chart costs 5-15 ms of the one core a page's process has.


@st.cache_data(max_entries=16)
def gallery_html(images: np.ndarray, captions: tuple[str, ...]) -> str:
    """28x28 digits (uint8) side by side, each enlarged 3x by the browser, with its caption."""
    tiles = "".join(
        f"<figure style='margin:0;width:84px;text-align:center'>{pixels_html(image / 255, 84, caption)}"
        f"<figcaption style='font-size:0.75rem'>{html.escape(caption)}</figcaption></figure>"
        for image, caption in zip(images, captions))
    return f"<div class='digit-gallery' style='display:flex;flex-wrap:wrap;gap:6px'>{tiles}</div>"


def accuracy_chart(per_digit, title: str, height: int = 220) -> None:
    """Accuracy per digit as bars, the axis starting where the differences show."""
    st.vega_lite_chart(accuracy_spec(tuple(float(a) for a in per_digit), title, height), width="stretch")


@st.cache_data(max_entries=16)
def accuracy_spec(per_digit: tuple[float, ...], title: str, height: int) -> dict:
    import altair as alt  # imported where a chart is built, as in ui/curves.py
    import pandas as pd

    frame = pd.DataFrame({"digit": [str(d) for d in range(10)], "accuracy": list(per_digit)})
    low = min(0.9, min(per_digit) - 0.02)
    return alt.Chart(frame, height=height).mark_bar(color=OTHER_COLOUR).encode(
        x=alt.X("digit:O", axis=alt.Axis(labelAngle=0)),
        y=alt.Y("accuracy:Q", scale=alt.Scale(domain=[low, 1], clamp=True), axis=alt.Axis(format="%", title=title)),
    ).to_dict()


def confusion_chart(confusion: np.ndarray) -> None:
    st.vega_lite_chart(confusion_spec(confusion), width="stretch")


@st.cache_data(max_entries=8)
def confusion_spec(confusion: np.ndarray) -> dict:
    import altair as alt
    import pandas as pd

    cells = pd.DataFrame([{"true": str(t), "read as": str(p), "count": int(confusion[t, p])}
                          for t in range(10) for p in range(10)])
    # Every row and column labelled: Vega-Lite would otherwise drop every other label it finds crowded.
    base = alt.Chart(cells, height=280).encode(
        x=alt.X("read as:O", axis=alt.Axis(labelAngle=0, labelOverlap=False)),
        y=alt.Y("true:O", axis=alt.Axis(labelOverlap=False)),
    )
    squares = base.mark_rect().encode(
        color=alt.Color("count:Q", scale=alt.Scale(type="symlog", scheme="blues"), legend=None))
    counts = base.mark_text(fontSize=9).encode(
        text="count:Q",
        color=alt.condition(alt.datum.count > 300, alt.value("white"), alt.value("black")),
    )
    return (squares + counts).to_dict()


def people_ui(people: HeldOutScore | None) -> None:
    """How well it reads real people it never trained on, as measured when it was trained."""
    if people is None:
        st.caption("This network was not measured on real people's handwriting: retrain it with "
                   "\"Learn from real people's pen digits\" to measure it.")
        return
    st.caption(held_out_sentence(people))
    accuracy_chart(list(people.per_digit), "accuracy", height=200)  # the caption says on whom
