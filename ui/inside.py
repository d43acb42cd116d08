"""Inside the network: every neuron reading the drawing, the strongest paths to the answer, one neuron."""

import base64
import html

import numpy as np
import streamlit as st

from digitnet.reading import inside
from digitnet.reading.prediction import Prediction, a_digit, enlarge_pixels
from digitnet.state.store import LoadedModel
from ui.resources import page_mnist, pool_activations, version


def presenter_inside_ui(x: np.ndarray, prediction: Prediction, model: LoadedModel) -> None:
    """Presenter mode's simple form, below the answer: the whole network reading the drawing, in words."""
    with st.container(key="network"):
        st.subheader("Inside the network")
        st.markdown(f"<p class='inside-words'>{inside.network_words(prediction.digit)}</p>", unsafe_allow_html=True)
        # Not st.image: Streamlit's picture has no alternative text (WCAG 1.1.1, axe's image-alt).
        svg = inside.network_picture(model.classifier, x)[0]
        st.container(key="network-picture").markdown(
            f"<img src='data:image/svg+xml;base64,{base64.b64encode(svg.encode()).decode()}' "
            f"alt='{html.escape(inside.network_title(prediction.digit))}' style='width:100%;height:auto'>",
            unsafe_allow_html=True)


def inside_ui(x: np.ndarray, prediction: Prediction, model: LoadedModel) -> None:
    svg, forward, _ = inside.network_picture(model.classifier, x)
    st.container(key="network-picture").image(svg, width="stretch", caption=inside.network_words(prediction.digit))
    layer = st.radio("Look at one neuron of", ["hidden 1", "hidden 2"], horizontal=True, key="neuron_layer")
    index = 1 if layer == "hidden 1" else 2
    activations = forward.activations[index][0]
    neuron = st.selectbox("Neuron (most active first)", inside.by_activity(forward, index), key=f"neuron_{index}",
                          format_func=lambda i: f"#{i}: fires {activations[i]:.1f}")
    words = inside.neuron_words(forward, index, neuron)
    if index == 1:
        st.image(inside.neuron_picture(model.classifier, neuron), width=168, caption=(
            "What it looks for: ink on orange pixels excites it, ink on blue pixels calms it. " + words))
        return
    data, activations = page_mnist(), pool_activations(*version(model), 2)
    if data is None:
        st.caption(words)
        return
    best = inside.most_exciting(activations, neuron)
    st.caption(f"The training digits that excite it most. {words}")
    st.image([enlarge_pixels(data.x_train[i] / 255, scale=3) for i in best],
             caption=[a_digit(data.y_train[i]) for i in best], width=64)
