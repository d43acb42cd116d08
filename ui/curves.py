"""How the network learned: accuracy and loss per epoch, and the model's card."""

import html

import streamlit as st

from digitnet.reading.charts import accuracy_svg
from digitnet.state.history import ModelRecord
from digitnet.state.store import LoadedModel
from ui.resources import get_store
from ui.style import TRAINING_COLOUR, VALIDATION_COLOUR


def curves_chart(curves: dict[str, list[float]], metric: str, height: int = 220) -> None:
    """One metric per epoch, training and validation, with a legend and a y-axis fitted to the data."""
    spec = curves_spec(tuple(curves[metric]), tuple(curves[f"val_{metric}"]), metric, height)
    st.vega_lite_chart(spec, width="stretch")


@st.cache_data(max_entries=16)
def curves_spec(training: tuple[float, ...], validation: tuple[float, ...], metric: str, height: int) -> dict:
    """The same for every visitor of a model: built once (an Altair chart costs milliseconds to validate)."""
    # Imported here, where a chart is built: 0.7 s on a first run that the Draw tab need not wait for.
    import altair as alt
    import pandas as pd

    epochs = range(1, len(training) + 1)
    data = pd.concat([
        pd.DataFrame({"epoch": epochs, metric: training, "data": "training"}),
        pd.DataFrame({"epoch": epochs, metric: validation, "data": "validation"}),
    ])
    return alt.Chart(data, height=height).mark_line(point=True).encode(
        x=alt.X("epoch:Q", axis=alt.Axis(tickMinStep=1)),
        y=alt.Y(f"{metric}:Q", scale=alt.Scale(zero=False)),
        color=alt.Color("data:N", scale=alt.Scale(range=[TRAINING_COLOUR, VALIDATION_COLOUR]),
                        legend=alt.Legend(orient="bottom", title=None)),
    ).to_dict()


def glance_ui(model: LoadedModel) -> None:
    """Beside the answer: how the network learned, in one small chart (the tab "How it learned" has more)."""
    if not model.record:
        return
    curves = model.record.curves
    title = (f"How it learned: accuracy after each of its {model.record.epochs_completed} passes over the "
             f"training digits, on them (blue) and on digits it never trained on (orange, "
             f"{curves['val_accuracy'][-1]:.1%} at the end)")
    st.markdown(f"<figure class='glance' style='margin:0'>{glance_svg(curves)}<figcaption "
                f"style='font-size:0.875rem;opacity:0.8'>{html.escape(title)}</figcaption></figure>",
                unsafe_allow_html=True)


@st.cache_data(max_entries=4)
def glance_svg(curves: dict[str, list[float]]) -> str:
    return accuracy_svg(curves["accuracy"], curves["val_accuracy"], "Accuracy after each epoch")


def curves_ui(model: LoadedModel) -> None:
    if not model.record:
        st.info("This model has no training history to show.")
        return
    accuracy, loss = st.columns(2)
    with accuracy:
        st.caption("Accuracy (higher is better)")
        curves_chart(model.record.curves, "accuracy")
    with loss:
        st.caption("Loss (lower is better)")
        curves_chart(model.record.curves, "loss")


def model_card_ui(model: LoadedModel) -> None:
    record = model.record
    rows = {
        "Model": "retrained here" if model.path != get_store().shipped else "shipped with digitnet",
        "Test accuracy on 10,000 MNIST digits": (f"{record.test_accuracy:.2%}" if record and record.test_accuracy
                                                 is not None else "unknown"),
        "Real people it never saw": people_accuracy(record),
        "Trained": (record.trained_at or "unknown").replace("T", " ") if record else "unknown",
        "Epochs": str(record.epochs_completed) if record else "unknown",
        "Parameters": f"{model.classifier.num_parameters:,}",
    }
    st.markdown("\n".join(f"- **{name}:** {value}" for name, value in rows.items()))


def people_accuracy(record: ModelRecord | None) -> str:
    people = record.held_out_writers if record else None
    if people is None:
        return "not measured"
    return f"{people.accuracy:.2%} ({people.writers} writers' pen digits)"
