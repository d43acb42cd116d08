"""Who may change what every visitor shares (the model, the collected drawings, a room): the admin
password box, starting a retrain, and following it."""

import os

import streamlit as st

import digitnet
from digitnet.state.auth import ADMIN_PASSWORD_ENV, password_matches
from ui import keys
from ui.resources import get_job, get_wrong_guesses


def admin_password() -> str | None:
    """The admin password: $DIGITNET_ADMIN_PASSWORD, else Streamlit's secrets; None when none is set."""
    if os.environ.get(ADMIN_PASSWORD_ENV):
        return os.environ[ADMIN_PASSWORD_ENV]
    try:
        return st.secrets.get(ADMIN_PASSWORD_ENV)
    except FileNotFoundError:
        return None


def admin_ui(label: str, hint: str = "") -> bool:
    """The admin password box, when a password is set; whether this session may change shared things."""
    expected = admin_password()
    if not expected:
        return True
    typed = st.text_input(label, type="password", key=keys.PASSWORD, on_change=slow_down_wrong_guess,
                          args=(expected,))
    allowed = password_matches(typed, expected)
    if typed and not allowed:
        st.error("Wrong password.")
    elif not allowed and hint:
        st.caption(hint)
    return allowed


def slow_down_wrong_guess(expected: str) -> None:
    """Each new guess (not each rerun with the same one) that is wrong waits longer than the last."""
    typed = st.session_state.get(keys.PASSWORD)
    if typed and not password_matches(typed, expected):
        get_wrong_guesses().wait()


def start_retrain(config: digitnet.TrainConfig, room: str | None = None) -> None:
    """Start a retrain in its own process (also on room `room`'s drawings), and show it running; or say
    why it did not start."""
    try:
        started = get_job().start(config, room=room)
    except digitnet.DigitnetError as exc:
        st.error(str(exc))
        return
    if not started:
        st.warning("A training is already running: wait for it to finish.")
        return
    st.rerun()  # show the running state at once: progress, and the controls disabled


def rerun_when_retrain_starts_or_ends(running: bool) -> None:
    """Rerun the whole page (from a polling fragment) when a retrain has started or ended since this
    session last looked: the new model loads, and controls outside the fragment follow."""
    if st.session_state.get(keys.WATCHED_RUNNING, False) != running:
        st.session_state[keys.WATCHED_RUNNING] = running
        st.rerun()
