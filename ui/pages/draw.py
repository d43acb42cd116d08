"""The Draw page: the canvas and the answer; presenter mode; why this answer; inside the network."""

import streamlit as st

from digitnet.prediction import a_digit
from ui import keys
from ui.answer import draw_and_read
from ui.style import PRESENTER_CSS

asked = st.query_params.get("presenter") == "1"
# In presenter mode the two switches sit side by side: stacked, they left a band above the title.
title, *switches = st.columns([3, 1, 1] if st.session_state.get(keys.PRESENTER, asked) else [4, 1],
                              vertical_alignment="bottom")
title.title("✏️ Draw a digit, watch a neural network read it")
presenter = switches[0].toggle("Presenter mode", key=keys.PRESENTER, value=asked,
                               help="For demos: a big canvas, a huge answer, no technical panels. Or open ?presenter=1")
if presenter:
    switches[-1].toggle("Say it aloud", key=keys.SPEAK, help="Speak each new answer through the browser's voice.")
    st.markdown(PRESENTER_CSS, unsafe_allow_html=True)
else:
    st.container(key="intro").caption(
        "A small neural network reads your drawing. It learned from 60,000 handwritten digits (MNIST) and "
        "from thousands more written with a pen by real people. "
        "It shows its answer, how sure it is, and the tiny 28 x 28 picture it actually looks at."
    )
if keys.JUST_SAVED in st.session_state:
    st.toast(f"Saved as {a_digit(st.session_state.pop(keys.JUST_SAVED))}. Retrain with your drawings to teach it.")

draw_and_read(presenter)
