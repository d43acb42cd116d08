"""The How good is it page: MNIST's test digits, real people it never saw, and the digits it reads wrong."""

import streamlit as st

from ui.evaluation import evaluation_ui
from ui.resources import current_model

st.title("How good is it")
evaluation_ui(current_model())
