"""Take it home: the model in use as a file to download, in four forms, each with its model card."""

import numpy as np
import streamlit as st

from digitnet import export
from digitnet.reading.preprocess import upright
from digitnet.state.store import LoadedModel
from ui.resources import page_mnist


@st.cache_resource(max_entries=2, show_spinner=False)
def offline_page(fingerprint: str, _model: LoadedModel) -> bytes:
    """The offline page of the model with these weights, made once per model."""
    data = page_mnist()
    calibration = None if data is None else upright(data.x_train / np.float32(255))
    card = export.model_card(_model.classifier, _model.record, "html")
    return export.offline_page(_model.classifier, card, calibration).encode()


@st.cache_resource(max_entries=2, show_spinner=False)
def onnx_file(fingerprint: str, _model: LoadedModel) -> bytes:
    return export.onnx_model(_model.classifier, export.model_card(_model.classifier, _model.record, "onnx"))


def export_ui(model: LoadedModel) -> None:
    st.subheader("Take it home")
    st.caption("The network in use, to keep: one page that reads digits on any phone or laptop with no internet, "
               "or a file for your own code (its model card says what it expects and how good it is). "
               "A retrain that is still running is not in it until it ends.")
    fingerprint = model.classifier.fingerprint
    row = st.container(horizontal=True, key="export")
    row.download_button("Offline page (.html)", offline_page(fingerprint, model), file_name="digitnet.html",
                        mime="text/html", key="export_html", icon=":material/download:")
    row.download_button("ONNX", onnx_file(fingerprint, model), file_name="digitnet.onnx",
                        mime="application/octet-stream", key="export_onnx")
    for form, label in (("keras", "Keras"), ("tflite", "TensorFlow Lite")):
        row.download_button(f"{label} (.zip)", lambda form=form: export.exported_elsewhere(form, model.path),
                            file_name=f"digitnet-{form}.zip", mime="application/zip", key=f"export_{form}")
