"""The stroke-to-answer floor: a page with the same canvas that only echoes that something was drawn.

No model, no TensorFlow, no preprocessing. bench.run times it like the real page, in the same run,
so the real page's figure can be read against what Streamlit and the canvas component cost alone.
"""

import streamlit as st
from streamlit_drawable_canvas import st_canvas


def clear_canvas() -> None:
    st.session_state.canvas_version += 1


@st.fragment
def echo() -> None:
    if "canvas_version" not in st.session_state:
        st.session_state.canvas_version = 0
    result = st_canvas(stroke_width=20, stroke_color="#FFFFFF", background_color="#000000", width=280,
                       height=280, drawing_mode="freedraw", return_image_data=True,
                       key=f"canvas-{st.session_state.canvas_version}")
    st.button("Clear", key="clear", on_click=clear_canvas)
    if result.image_data is not None and result.image_data[..., :3].max() > 0:
        st.markdown("<div data-testid='digit-answer'>drawn</div>", unsafe_allow_html=True)


echo()
