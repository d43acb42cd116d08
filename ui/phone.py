"""A room's phone: the prompt, the canvas, the answer and Send to the screen, and the token that
makes it the same phone when it comes back."""

import hashlib
import html
import re
import secrets
import time

import streamlit as st

from digitnet.reading.prediction import Prediction
from digitnet.state.limits import client_address, trusted_proxies
from digitnet.state.room import RoomError, RoomStoreError, normalised, prompt_words
from ui import keys
from ui.answer import big_answer_html, read_ui
from ui.guard import within_budget
from ui.inputs import canvas_ui, clear_canvas
from ui.resources import current_model, get_rooms

ROOM_QUERY = "room"  # ?room=CODE opens the phone form of the page
PHONE_QUERY = "phone"  # ?room=CODE&phone=TOKEN: a phone's address once it joined
PHONE_TOKEN = re.compile(r"[0-9a-f]{16}")  # what secrets.token_hex(8) makes: nothing else is taken from an address
# How soon a phone shows a new prompt. Each look is a run of its own, 4.4 ms of the server's CPU
# (bench.room); every 3 s, a class's idle phones cost as much as a third of its strokes.
PROMPT_POLL_SECONDS = 5.0
# When the rooms' store cannot be reached: nothing it holds is lost, and it is tried again by itself.
NOT_SENT = "Your drawing did not reach the screen: send it again in a moment."
OUT_OF_REACH = "The screen cannot be reached just now: draw on, and send in a moment."


def sender() -> str:
    """The network address this session's page talks from: what a room's per-address limits count."""
    peer = st.context.ip_address  # a str, or None on loopback; Streamlit's AppTest gives a stand-in object
    return client_address(peer if isinstance(peer, str) else None, st.context.headers.get("X-Forwarded-For"),
                          trusted_proxies())


def phone_token() -> str:
    """This phone's random token: how the room counts a phone and paces its sends, with no name. It
    stays in the page's address (?phone=), so that a phone that reloads or loses the Wi-Fi comes back
    as the same phone: its count on the wall, its pace, no new wait to send."""
    if keys.PHONE not in st.session_state:
        given = st.query_params.get(PHONE_QUERY, "")
        st.session_state[keys.PHONE] = given if PHONE_TOKEN.fullmatch(given) else secrets.token_hex(8)
    if st.query_params.get(PHONE_QUERY) != st.session_state[keys.PHONE]:
        st.query_params[PHONE_QUERY] = st.session_state[keys.PHONE]
    return st.session_state[keys.PHONE]


def phone_ui(code: str) -> None:
    """The page as a phone in a room gets it."""
    try:
        code = get_rooms().check(code)
        st.session_state.setdefault(keys.JOINED, get_rooms().join(code, phone_token()))
    except RoomStoreError as exc:
        if not exc.passing or keys.JOINED not in st.session_state:  # nothing to draw for, for now
            st.error(f"{exc}.")
            return
        code = normalised(code)  # in the room already: keep drawing, and Send says when it fails
    except RoomError as exc:
        st.error(f"{exc}.")
        return
    st.fragment(prompt_ui, run_every=PROMPT_POLL_SECONDS)(code)
    st.fragment(phone_drawing_ui)(code)


def prompt_ui(code: str) -> None:
    within_budget()  # a timer's run, but a forged client could ask for thousands
    try:
        prompt, paused = get_rooms().prompt(code)
    except RoomStoreError as exc:
        (st.warning if exc.passing else st.error)(OUT_OF_REACH if exc.passing else f"{exc}.")
        return
    except RoomError as exc:
        st.error(f"{exc}.")
        return
    words = ("Paused: the presenter will say when to send again." if paused
             else f"{prompt_words(prompt)}, then send it to the screen.")
    st.markdown(f"<p class='room-prompt' style='font-size:1.6rem;font-weight:700;margin:0'>"
                f"{html.escape(words)}</p>", unsafe_allow_html=True)


def phone_drawing_ui(code: str) -> None:
    """Canvas, Send and answer, in one fragment: a stroke reruns only this part. Send sits right under
    the canvas, on a phone's first screen. One container, for the live answer (ui/live.js) to stand in."""
    within_budget()
    model = current_model()
    png = canvas_ui("digit", for_phone=True)
    sent = st.session_state.pop(keys.ROOM_SENT, None)
    if sent:
        (st.success if sent[0] == "ok" else st.warning)(sent[1])
    with st.container(key="answer"):  # where the browser's live reading stands in while the pen moves
        read = read_ui(png, model, invitation="" if sent else "Draw a digit from 0 to 9.")
        if read is not None:
            # The drawing's identity: this phone's and the PNG its canvas made. Sent twice, it is stored once.
            drawing_key = hashlib.sha256(phone_token().encode() + png).hexdigest()[:32]
            st.button("Send to the screen", key="send", type="primary", on_click=send, args=(code, *read, drawing_key))
            st.markdown(big_answer_html(read[1]), unsafe_allow_html=True)


def send(code: str, x, prediction: Prediction, drawing_key: str) -> None:
    # The room takes a phone's drawings only a few seconds after it joined, which a person drawing
    # never notices; one who was faster than that waits the rest here rather than being refused.
    joined = st.session_state.get(keys.JOINED, time.time())
    # At most the whole wait, even when the clock was set back since the phone joined.
    time.sleep(max(0.0, min(get_rooms().limits.join_wait_s, joined + get_rooms().limits.join_wait_s - time.time())))
    try:
        get_rooms().send(code, phone_token(), x, prediction.digit, prediction.confidence, sender=sender(),
                         drawing_key=drawing_key)
    except RoomStoreError as exc:
        st.session_state[keys.ROOM_SENT] = ("error", NOT_SENT if exc.passing else f"{exc}.")
        return
    except RoomError as exc:
        st.session_state[keys.ROOM_SENT] = ("error", f"{exc}.")
        return
    st.session_state[keys.ROOM_SENT] = ("ok", f"Sent: your {prediction.digit} is on the screen. Draw another!")
    clear_canvas()

