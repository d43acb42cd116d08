"""digitnet: draw a digit and watch a neural network read it. The frame every page shares; the pages
are in ui/pages/, their sections in ui/."""

import streamlit as st

from ui import keys, pages
from ui.guard import within_budget
from ui.resources import current_model, drawings_in_the_background
from ui.sidebar import sidebar_ui
from ui.style import BARS_CSS, CANVAS_TOOLBAR_SCRIPT, PAGE_CSS

st.set_page_config(page_title="digitnet: draw a digit", page_icon="✏️", layout="wide")
within_budget()
presenter = st.session_state.get(keys.PRESENTER, st.query_params.get("presenter") == "1")
page = st.navigation(
    [st.Page(pages.DRAW, title="Draw", icon=":material/draw:", default=True),
     st.Page(pages.LEARNED, title="How it learned", icon=":material/show_chart:", url_path="learned"),
     st.Page(pages.HOW_GOOD, title="How good is it", icon=":material/fact_check:", url_path="how-good")],
    position="hidden" if presenter else "top",  # the room sees the canvas and the answer alone
)
st.html(PAGE_CSS + BARS_CSS + CANVAS_TOOLBAR_SCRIPT, unsafe_allow_javascript=True)
for warning in current_model().warnings:
    st.warning(warning)
drawings_in_the_background()
page.run()
if not st.session_state.get(keys.PRESENTER, False):
    with st.sidebar:
        sidebar_ui()
