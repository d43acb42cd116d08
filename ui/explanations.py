"""Why this answer: the pixels that pushed the network, and the training digits it finds alike."""

import streamlit as st

from digitnet.reading import explain
from digitnet.reading.prediction import Prediction, a_digit, enlarge_pixels
from digitnet.state.store import LoadedModel
from ui.resources import look_alikes, version


def why_ui(x, prediction: Prediction, model: LoadedModel) -> None:
    """Which pixels pushed the network to its answer, and training digits it finds alike."""
    heat, alike = st.columns([1, 2])
    with heat:
        st.image(explain.saliency_overlay(x, explain.saliency(model.classifier, x)), width=180,
                 caption=f"Orange pixels made it say {prediction.digit}; blue ones argued against it.")
    with alike:
        index = look_alikes(*version(model))
        if index is None:
            st.caption("MNIST's training digits are not available on this server, so the look-alikes cannot be shown.")
            return
        nearest = index.nearest(model.classifier, x)
        st.caption(f"It thinks your {prediction.digit} looks like these training digits:")
        st.image([enlarge_pixels(index.images[i] / 255, scale=3) for i in nearest],
                 caption=[a_digit(index.labels[i]) for i in nearest], width=64)
