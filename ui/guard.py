"""Keeping one visitor's flood of runs from slowing everyone else's page."""

import logging
import time

import streamlit as st

from digitnet.state.limits import RerunBudget
from ui import keys

log = logging.getLogger(__name__)

# A run asked for faster than a person could waits this long, then stops without doing anything. Its
# thread sleeps without holding Python's lock, and the flood's next messages meanwhile pile up into
# one rerun, which is refused the same way: a flooding session costs the server one idle run a second.
FLOOD_PAUSE_S = 1.0


def within_budget() -> None:
    """Stop this run, after a pause, when its session asks for runs faster than a person could."""
    budget = st.session_state.setdefault(keys.RERUN_BUDGET, RerunBudget())
    if not budget.take():
        return
    if budget.refused == 1:
        log.warning("A session asks for runs faster than a person could: each now waits %.0f s", FLOOD_PAUSE_S)
    time.sleep(FLOOD_PAUSE_S)
    budget.empty()
    st.stop()
