"""A room's wall: the projector's view of everyone's drawings, with the presenter's controls."""

import html
import time
from collections.abc import Callable

import segno
import streamlit as st
from streamlit import config

from digitnet.data.collected import keep_room_drawings
from digitnet.state import links
from digitnet.state.results import results_csv, results_zip
from digitnet.state.room import SHOWN_EVERY_S, RoomError, RoomState, RoomStoreError, prompt_words, summary
from ui import keys
from ui.admin import admin_password, admin_ui, rerun_when_retrain_starts_or_ends, start_retrain
from ui.guard import within_budget
from ui.phone import ROOM_QUERY, sender
from ui.resources import collected_drawings, get_job, get_rooms, get_store
from ui.style import WALL_CSS, pixels_html

WALL_QUERY = "wall"  # ?presenter=1&wall=CODE: the projector's address while it shows room CODE
WALL_POLL_SECONDS = 1.0  # how soon the wall shows a new drawing
TILE_SIDE = 64  # pixels: three rows of eight fit under the controls, beside the QR code, at 1280x720
WALL_TILES = 24  # those three rows
PROMPT_CHOICES = ["any digit", *range(10)]
# When the rooms' store cannot be reached: nothing it holds is lost, and it is tried again by itself.
RECONNECTING = "Reconnecting to the room's store: the wall catches up by itself. Phones are asked to send again."


def presenter_allowed() -> bool:
    """Whether this presenter may run a room: no admin password is set, or it was typed right."""
    return admin_ui("Admin password, to start or run a room")


def start_room_ui(allowed: bool) -> None:
    """Presenter mode's Start a room (behind the admin password when one is set), or the room this
    browser's address names (?wall=CODE): a projector that reloads, or whose server restarted, gets its
    room back."""
    resumed = st.query_params.get(WALL_QUERY)
    if resumed and allowed:
        try:
            show_room(get_rooms().check(resumed))
        except RoomError:
            del st.query_params[WALL_QUERY]  # ended meanwhile: start another
    if st.button("Start a room", key="start_room", icon=":material/groups:", disabled=not allowed,
                 help="Everyone draws on their phone; this screen shows all the drawings."):
        try:
            # Without a password anyone may start a room: each network address holds only a few.
            show_room(get_rooms().open(opener=None if admin_password() else sender()))
        except RoomError as exc:
            st.error(f"{exc}.")


def show_room(code: str) -> None:
    """Turn this page into room `code`'s wall, and keep its code in the address for a reload."""
    st.session_state[keys.ROOM] = code
    st.query_params[WALL_QUERY] = code
    st.rerun()


def join_link(code: str) -> links.JoinLink:
    """The link phones open: the operator's address when set, else one this machine has on the network."""
    address, port = (st.get_option(name) if config.is_manually_set(name) else None
                     for name in ("browser.serverAddress", "browser.serverPort"))
    return links.join_link(st.context.url or "", code, ROOM_QUERY, address, port, links.network_address())


def behind_proxy() -> bool:
    """Whether a reverse proxy (make serve's nginx, an ingress) stands between the browser and this page."""
    headers = st.context.headers
    return any(name in headers for name in ("X-Forwarded-For", "Forwarded", "Via"))


def join_html(link: str, code: str) -> str:
    """The QR code, as wide as its column (a third of a 1280x720 projector's height), the code big under it,
    in two groups of three letters to read out (the space is a margin: a copied code has none)."""
    qr = segno.make(link, error="m").svg_inline(omitsize=True, dark="#000", light="#fff")
    return (f"<div class='room-qr' role='img' aria-label='A QR code of the link'>{qr}</div>"
            f"<p class='room-code-line'>Room code <b class='room-code'>{code[:3]}<span>{code[3:]}</span></b></p>"
            f"<p class='room-link'>Join: <b>{html.escape(link)}</b></p>")


def wall_ui(code: str, allowed: bool) -> None:
    """The projector's view of the room: how to join beside the prompt, the controls and the wall."""
    link = join_link(code)
    st.markdown(WALL_CSS, unsafe_allow_html=True)
    join, room = st.columns([1.4, 3], gap="medium")
    with join.container(key="join"):
        st.markdown(join_html(link.url, code), unsafe_allow_html=True)
        if link.problem:
            st.error(link.problem)
        if not behind_proxy():
            st.caption("A class on one Wi-Fi loads faster, and more phones draw at once, with `make serve`: "
                       "compressed, one process per core.")
    with room:
        try:
            prompt, paused = get_rooms().prompt(code)
        except RoomError as exc:  # the store failed: say so, and keep End the room within reach
            st.error(f"{exc}.")
            prompt, paused = None, False
        words = "Paused: phones wait" if paused else prompt_words(prompt)
        st.markdown(f"<p class='room-prompt' style='font-size:2rem;font-weight:700;margin:0'>"
                    f"{words}</p>", unsafe_allow_html=True)
        st.segmented_control("Everyone draw", PROMPT_CHOICES, default="any digit" if prompt is None else prompt,
                             key=keys.ROOM_PROMPT, on_change=set_prompt, args=(code,),
                             format_func=lambda choice: str(choice), label_visibility="collapsed")
        buttons = st.container(horizontal=True, key="room-controls")
        buttons.button("Go on" if paused else "Pause", key="pause_room",
                       icon=":material/play_arrow:" if paused else ":material/pause:",
                       help="Phones are told to wait, and nothing they send is taken, until you go on.",
                       on_click=change_room, args=(get_rooms().pause, code, not paused))
        clear = buttons.popover("Clear the wall", icon=":material/layers_clear:")
        clear.button("Clear: keep them in the counts and the lesson", key="clear_wall",
                     on_click=change_room, args=(get_rooms().clear_wall, code))
        clear.button("Clear and forget them: never counted, never learned from", key="forget_wall",
                     on_click=change_room, args=(get_rooms().clear_wall, code, True))
        if buttons.button("Learn from the room", key="learn_room", icon=":material/model_training:",
                          disabled=not allowed or get_job().status().running):
            learn(code)
        results = buttons.popover("Download results", icon=":material/download:", disabled=not allowed)
        results.download_button("Results (.csv)", lambda: results_csv(get_rooms().results(code)),
                                file_name=f"room-{code}.csv", mime="text/csv", key="room_csv")
        results.download_button("Drawings, a folder per digit (.zip)", lambda: results_zip(get_rooms().results(code)),
                                file_name=f"room-{code}.zip", mime="application/zip", key="room_zip")
        results.caption("No names, no addresses: each phone is a number.")
        keep = buttons.checkbox("Keep its drawings", key="keep_room",
                                help="Add the room's labelled drawings to the collected drawings when it ends.")
        if buttons.button("End the room", key="end_room", icon=":material/logout:", disabled=not allowed):
            end(code, keep)
        st.fragment(wall_tiles_ui, run_every=WALL_POLL_SECONDS)(code)


def change_room(change: Callable[..., object], *args: object) -> None:
    """A presenter's change to the room; a store that fails says so in a toast, not a traceback."""
    try:
        change(*args)
    except RoomError as exc:
        st.toast(f"{exc}.")


def set_prompt(code: str) -> None:
    choice = st.session_state.get(keys.ROOM_PROMPT)
    change_room(get_rooms().set_prompt, code, None if choice in (None, "any digit") else int(choice))


def learn(code: str) -> None:
    """Retrain, in its own process, on the usual data and the room's labelled drawings."""
    start_retrain(get_store().settings_in_use(), room=code)


def end(code: str, keep: bool) -> None:
    """End the room; with `keep`, its labelled drawings join the collected drawings first."""
    if keep:
        change_room(keep_room_drawings, get_rooms(), code, collected_drawings())
    change_room(get_rooms().end, code)
    del st.session_state[keys.ROOM]  # the presenter leaves the room even when its store failed
    st.query_params.pop(WALL_QUERY, None)
    st.rerun()


def wall_tiles_ui(code: str) -> None:
    """The counters, how the network did on the prompt, and the latest drawings, newest first."""
    within_budget()
    try:
        state = get_rooms().state(code, tiles=WALL_TILES)
        if time.time() - st.session_state.get(keys.WALL_SHOWN, 0.0) > SHOWN_EVERY_S:
            get_rooms().shown(code)  # a room on a projector is never ended to make room for another
            st.session_state[keys.WALL_SHOWN] = time.time()
        st.session_state[keys.WALL_LAST] = state
    except RoomStoreError as exc:
        if not exc.passing:
            st.error(f"{exc}.")
            return
        # A database server restarting, say: the room lives on there, and the next look catches up.
        st.warning(RECONNECTING, icon=":material/sync:")
        state = st.session_state.get(keys.WALL_LAST)
        if state is None:
            return
    except RoomError as exc:
        st.error(f"{exc}.")
        return
    status = get_job().status()
    rerun_when_retrain_starts_or_ends(status.running)  # Learn from the room, outside this fragment, follows
    with st.container(key="wall"):
        counters, confusion = st.columns([1.2, 1], gap="small")
        counters.markdown(counters_html(state), unsafe_allow_html=True)
        confusion.markdown(confusion_html(state), unsafe_allow_html=True)
        if status.started >= state.opened:  # a retrain of this room's time: its progress, then how it ended
            st.caption(status.message if not status.running else
                       f"Learning from the room: epoch {status.epochs_done} of {status.config.epochs}...")
        st.markdown(tiles_html(state), unsafe_allow_html=True)
        if state.tiles:
            hide = st.container(horizontal=True, vertical_alignment="center")
            hide.pills("Hide a drawing (gone from the wall, never counted or learned from)", [t.id for t in state.tiles],
                       key=f"hide-{state.tiles[0].id}", format_func=lambda i: f"#{i}",
                       on_change=hide_picked, args=(code, f"hide-{state.tiles[0].id}"))
            hide.toggle("…and everything its phone sent, from now on too", key=keys.HIDE_PHONE)


def hide_picked(code: str, key: str) -> None:
    if st.session_state.get(key) is not None:
        hide = get_rooms().hide_phone if st.session_state.get(keys.HIDE_PHONE) else get_rooms().hide
        change_room(hide, code, int(st.session_state[key]))


def counters_html(state: RoomState) -> str:
    right = (f" · read right: <b>{state.read_right}</b> of {state.prompted}" if state.prompted else "")
    words = summary(state)
    return (f"<p class='room-counters' style='font-size:1.2rem;margin:0'>people: <b>{state.people}</b> · "
            f"drawings: <b>{state.drawings}</b>{right}</p>"
            + (f"<p class='room-summary' style='font-size:1.2rem;font-weight:700;margin:0'>{html.escape(words)}</p>"
               if words else ""))


def confusion_html(state: RoomState) -> str:
    """The room's prompted digits (rows) against what the network read (columns), rows with drawings only."""
    rows = [digit for digit in range(10) if state.confusion[digit].sum()]
    if not rows:
        return ""
    head = "".join(f"<th>{d}</th>" for d in range(10))
    body = "".join(f"<tr><th>{d}</th>" + "".join(
        f"<td style='{'font-weight:700' if a == d else ''}'>{state.confusion[d, a] or ''}</td>" for a in range(10))
        + "</tr>" for d in rows)
    return (f"<table class='room-confusion' style='font-size:0.85rem;margin:0.3rem 0'><caption "
            f"style='caption-side:top;text-align:left'>Asked for (rows), read as (columns)</caption>"
            f"<tr><th></th>{head}</tr>{body}</table>")


def tiles_html(state: RoomState) -> str:
    """Each drawing as the network saw it, its answer and how sure; misses of the prompt marked."""
    if not state.tiles:
        return "<p class='room-empty'>Drawings sent from the phones appear here.</p>"
    tiles = []
    for tile in state.wall():
        mark = "✗ " if tile.missed else ""
        tiles.append(
            f"<figure class='tile{' missed' if tile.missed else ''}' style='margin:0;text-align:center;"
            f"border:3px solid {'#D55E00' if tile.missed else 'transparent'};border-radius:6px;padding:2px'>"
            f"{pixels_html(tile.pixels / 255, TILE_SIDE, f'drawing {tile.id}')}"
            f"<figcaption style='font-size:0.95rem'>{mark}<b>{tile.answer}</b> {tile.confidence:.0%} "
            f"<span style='opacity:0.8'>#{tile.id}</span></figcaption></figure>")
    return f"<div class='room-tiles' style='display:flex;flex-wrap:wrap;gap:8px'>{''.join(tiles)}</div>"
