"""A room's phone: the prompt, the canvas, the answer and Send to the screen, and the token that
makes it the same phone when it comes back."""

import hashlib
import html
import re
import secrets
import time
from functools import partial

import streamlit as st

import digitnet
from digitnet.reading.prediction import Prediction
from digitnet.state.limits import client_address, trusted_proxies
from digitnet.state.room import RoomError, RoomStoreError, normalised, prompt_words
from ui import keys
from ui.guard import within_budget
from ui.inputs import CANVAS, UNREADABLE, clear_canvas
from ui.pad import drawing_pad
from ui.resources import current_model, drawing_reader, get_rooms

ROOM_QUERY = "room"  # ?room=CODE opens the phone form of the page
PHONE_QUERY = "phone"  # ?room=CODE&phone=TOKEN: a phone's address once it joined
PHONE_TOKEN = re.compile(r"[0-9a-f]{16}")  # what secrets.token_hex(8) makes: nothing else is taken from an address
# How soon a phone shows a new prompt. Each look is a run of its own, 4.4 ms of the server's CPU
# (bench.room); every 3 s, a class's idle phones cost as much as a third of its strokes.
PROMPT_POLL_SECONDS = 5.0
# When the rooms' store cannot be reached: nothing it holds is lost, and it is tried again by itself.
NOT_SENT = "Your drawing did not reach the screen: send it again in a moment."
SAID = {"ok": st.success, "info": st.info, "error": st.warning}
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
    """The pad and what became of the last Send, in one fragment. The phone reads its drawing itself as
    the pen moves (ui/live.js, in the answer's container); the server reads it once, when it is sent."""
    within_budget()
    st.session_state.setdefault(keys.CANVAS_VERSION, 0)
    st.session_state.setdefault(keys.ROOM_SENDS, 0)
    # One key for the pad: a sent drawing clears it, and its widget stays the same for the next Send.
    drawing_pad("pad", st.session_state[keys.ROOM_SENDS], st.session_state[keys.CANVAS_VERSION],
                on_send=partial(send, code))
    sent = st.session_state.pop(keys.ROOM_SENT, None)
    with st.container(key="answer"):  # where the browser's live reading stands while the pen moves
        if sent:
            SAID[sent[0]](sent[1])
        else:
            st.info("Draw a digit from 0 to 9, then send it.")


def send(code: str, png: bytes | None) -> None:
    """Read the drawing Send sent and put it on the room's screen; say how it went on the next run. A
    drawing that arrived is cleared from the pad; one that did not stays, to send again."""
    st.session_state[keys.ROOM_SENDS] = st.session_state.get(keys.ROOM_SENDS, 0) + 1
    outcome = sent_to_room(code, png)
    st.session_state[keys.ROOM_SENT] = outcome
    if outcome[0] == "ok":
        clear_canvas()


def sent_to_room(code: str, png: bytes | None) -> tuple[str, str]:
    """What became of a phone's drawing: ("ok" | "info" | "error", the words to show)."""
    model = current_model()
    try:
        if png is None:
            raise digitnet.CanvasError("not a PNG")
        reading = drawing_reader().read(png, CANVAS["digit"][:2], model.classifier)
    except digitnet.EmptyImageError:
        return "info", "Draw a digit from 0 to 9 first, then send it."
    except digitnet.BlankImageError as exc:
        return "info", f"{exc}."
    except digitnet.ImageError:  # a forged message: the canvas never sends anything else
        clear_canvas()
        return "error", UNREADABLE
    prediction = Prediction(reading.probabilities)
    # The drawing's identity: this phone's and the PNG its canvas made. Sent twice, it is stored once.
    drawing_key = hashlib.sha256(phone_token().encode() + png).hexdigest()[:32]
    # The room takes a phone's drawings only a few seconds after it joined, which a person drawing
    # never notices; one who was faster than that waits the rest here rather than being refused.
    joined = st.session_state.get(keys.JOINED, time.time())
    # At most the whole wait, even when the clock was set back since the phone joined.
    time.sleep(max(0.0, min(get_rooms().limits.join_wait_s, joined + get_rooms().limits.join_wait_s - time.time())))
    try:
        get_rooms().send(code, phone_token(), reading.x, prediction.digit, prediction.confidence, sender=sender(),
                         drawing_key=drawing_key)
    except RoomStoreError as exc:
        return "error", NOT_SENT if exc.passing else f"{exc}."
    except RoomError as exc:
        return "error", f"{exc}."
    return "ok", f"Sent: your {prediction.digit} is on the screen. Draw another!"
