"""The page's three views, as tabs: only the open one runs."""

import streamlit as st

from ui import keys

DRAW, LEARNED, GOOD = "Draw", "How it learned", "How good is it"
VIEWS = (DRAW, LEARNED, GOOD)


def show(view: str) -> None:
    """Open the tab `view` on the next run (a widget callback: before the tabs are drawn)."""
    st.session_state[keys.VIEW] = view
