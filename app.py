"""digitnet: draw a digit and watch a neural network read it. The page's layout; its sections live in ui/."""

import streamlit as st

from digitnet.reading.prediction import a_digit
from ui import keys, views
from ui.answer import draw_and_read
from ui.curves import curves_ui, model_card_ui
from ui.evaluation import evaluation_ui
from ui.export import export_ui
from ui.guard import within_budget
from ui.live import BIG, DESK, PHONE, live_answer_html
from ui.resources import current_model, draw_ahead_in_the_background
from ui.phone import ROOM_QUERY, phone_ui
from ui.wall import presenter_allowed, start_room_ui, wall_ui
from ui.sidebar import sidebar_ui
from ui.style import BARS_CSS, CANVAS_TOOLBAR_SCRIPT, PAGE_CSS, PRESENTER_CSS

st.set_page_config(page_title="digitnet: draw a digit", page_icon="✏️", layout="wide")
within_budget()

if ROOM_QUERY in st.query_params:  # a phone that joined a room: the prompt, the canvas, the answer, Send
    st.html(PAGE_CSS + BARS_CSS, unsafe_allow_javascript=True)
    st.markdown(PRESENTER_CSS, unsafe_allow_html=True)
    st.title("✏️ Draw for the screen")
    st.html(live_answer_html(current_model(), PHONE), unsafe_allow_javascript=True)
    phone_ui(st.query_params[ROOM_QUERY])
    st.stop()

asked = st.query_params.get("presenter") == "1"
# In presenter mode the switches and Start a room sit side by side: stacked, they left a band above the title.
title, *switches = st.columns([3, 1, 1, 1] if st.session_state.get(keys.PRESENTER, asked) else [4, 1],
                              vertical_alignment="bottom")
title.title("✏️ Draw a digit, watch a neural network read it")
presenter = switches[0].toggle("Presenter mode", key=keys.PRESENTER, value=asked, on_change=views.show, args=(views.DRAW,),
                               help="For demos: a big canvas, a huge answer, no technical panels. Or open ?presenter=1")
if presenter:
    switches[1].toggle("Say it aloud", key=keys.SPEAK, help="Speak each new answer through the browser's voice.")
st.html(PAGE_CSS + BARS_CSS + CANVAS_TOOLBAR_SCRIPT, unsafe_allow_javascript=True)
if presenter:
    st.markdown(PRESENTER_CSS, unsafe_allow_html=True)
else:
    st.container(key="intro").caption(
        "A small neural network reads your drawing. It learned from 60,000 handwritten digits (MNIST) and "
        "from thousands more written with a pen by real people. "
        "It shows its answer, how sure it is, and the tiny 28 x 28 picture it actually looks at."
    )

model = current_model()
st.html(live_answer_html(model, BIG if presenter else DESK), unsafe_allow_javascript=True)
draw_ahead_in_the_background()
for warning in model.warnings:
    st.warning(warning)
if presenter:
    with switches[-1]:
        allowed = presenter_allowed()
        if keys.ROOM not in st.session_state:
            start_room_ui(allowed)
    if keys.ROOM in st.session_state:
        wall_ui(st.session_state[keys.ROOM], allowed)
        st.stop()  # the projector shows the room
if keys.JUST_SAVED in st.session_state:
    st.toast(f"Saved as {a_digit(st.session_state.pop(keys.JUST_SAVED))}. Retrain with your drawings to teach it.")

# Only the open tab runs: a visitor sees the canvas without waiting for the charts of the other two.
draw_tab, learned_tab, good_tab = st.tabs(views.VIEWS, key=keys.VIEW, on_change="rerun")
with draw_tab:
    draw_and_read(presenter)
if presenter:
    st.stop()  # the audience sees only the canvas and the answer (the tab bar is hidden)

if learned_tab.open:
    with learned_tab:
        st.caption("Accuracy and loss after each pass (epoch) over the training digits. Validation digits were "
                   "never trained on; they show how well it does on digits it has not seen.")
        curves_col, card_col = st.columns([2.2, 1], gap="large")
        with curves_col.container(key="curves"):
            curves_ui(model)
        with card_col.container(key="model-card"):
            model_card_ui(model)
        export_ui(model)
if good_tab.open:
    with good_tab.container(key="evaluation"):
        evaluation_ui(model)

with st.sidebar:
    sidebar_ui()
