"""The How it learned page: the training curves and the model card."""

import streamlit as st

from ui.curves import curves_ui, model_card_ui
from ui.resources import current_model

model = current_model()
st.title("How the network learned")
st.caption("Accuracy and loss after each pass (epoch) over the training digits. Validation digits were never "
           "trained on; they show how well it does on digits it has not seen.")
curves_col, card_col = st.columns([2.2, 1], gap="large")
with curves_col:
    curves_ui(model)
with card_col:
    model_card_ui(model)
