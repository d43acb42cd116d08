"""The room's store, SQLite and PostgreSQL alike: concurrent writers, a killed writer, bad input, limits."""

import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest
from conftest import ROOT, corrupt_store
from waiting import TIMEOUT_S, eventually

from digitnet.state.room import (CODE_LENGTH, COUNTS, MAX_OPEN_ROOMS, ROOM_HOURS, SEND_INTERVAL_S, UNSHOWN_S,
                                  RoomError, RoomLimits, Rooms, RoomStoreError, normalised, prompt_words, summary)

SEVEN = np.zeros((28, 28), np.float32)
SEVEN[6, 8:20] = 1.0
SEVEN[6:22, 18] = 1.0


@pytest.fixture(params=["sqlite", "postgresql"])
def new_rooms(request, tmp_path):
    """Makes a store of each kind (once per test): a SQLite file, or a PostgreSQL database."""
    def make(limits: RoomLimits = RoomLimits()) -> Rooms:
        if request.param == "sqlite":
            return Rooms(tmp_path / "rooms.sqlite3", limits)
        return Rooms(limits=limits, url=request.getfixturevalue("postgres").database())
    return make


@pytest.fixture
def rooms(new_rooms) -> Rooms:
    """A store whose phones may send as soon as they join: the tests of the other limits say when."""
    return new_rooms(RoomLimits(join_wait_s=0))


@pytest.fixture
def sqlite_rooms(tmp_path) -> Rooms:
    """A SQLite store, for what only a file can suffer: deletion, corruption, an earlier schema."""
    return Rooms(tmp_path / "rooms.sqlite3", RoomLimits(join_wait_s=0))


def rows(rooms: Rooms, sql: str) -> list[tuple]:
    """What `sql` reads from the store itself, of either kind."""
    with rooms.database.transaction(write=False) as db:
        return db.execute(sql).fetchall()


def test_a_room_collects_drawings_labelled_by_its_prompt(rooms):
    code = rooms.open()
    assert len(code) == CODE_LENGTH and rooms.check(code.lower()) == code
    rooms.join(code, "phone-a")
    rooms.send(code, "phone-a", SEVEN, answer=7, confidence=0.98, now=100.0)  # before any prompt
    rooms.set_prompt(code, 7)
    rooms.send(code, "phone-a", SEVEN, answer=7, confidence=0.9, now=103.0)
    rooms.send(code, "phone-b", SEVEN, answer=1, confidence=0.6, now=103.5)
    state = rooms.state(code)
    assert (state.prompt, state.people, state.drawings, state.prompted, state.read_right) == (7, 2, 3, 2, 1)
    assert [t.answer for t in state.tiles] == [1, 7, 7]  # newest first
    assert [t.missed for t in state.tiles] == [True, False, False]  # the first had no prompt to miss
    np.testing.assert_array_equal(state.tiles[0].pixels, np.rint(SEVEN * 255).astype(np.uint8))
    assert state.confusion[7, 1] == 1 and state.confusion[7, 7] == 1 and state.confusion.sum() == 2
    ids, x, y = rooms.labelled(code)
    assert len(ids) == 2 and x.shape == (2, 28, 28) and y.tolist() == [7, 7]


def test_a_phone_sends_at_most_one_drawing_every_two_seconds(rooms):
    code = rooms.open()
    rooms.send(code, "phone-a", SEVEN, 7, 0.9, now=10.0)
    with pytest.raises(RoomError, match="every 2 seconds"):
        rooms.send(code, "phone-a", SEVEN, 7, 0.9, now=10.0 + SEND_INTERVAL_S / 2)
    rooms.send(code, "phone-b", SEVEN, 7, 0.9, now=10.5)  # another phone is not held back
    rooms.send(code, "phone-a", SEVEN, 7, 0.9, now=10.0 + SEND_INTERVAL_S)
    assert rooms.state(code).drawings == 3


@pytest.mark.parametrize("pixels", [np.zeros((28, 27)), np.full((28, 28), np.nan), np.full((28, 28), 2.0),
                                    np.array([["a"] * 28] * 28), "a drawing", None])
def test_anything_but_the_network_s_input_is_refused_and_changes_nothing(rooms, pixels):
    code = rooms.open()
    with pytest.raises(RoomError, match="not a drawing of the page's canvas"):
        rooms.send(code, "phone-a", pixels, 7, 0.9)
    with pytest.raises(RoomError, match="not an answer"):
        rooms.send(code, "phone-a", SEVEN, 12, 0.9)
    assert rooms.state(code).drawings == 0


def test_a_wrong_or_ended_code_gets_one_clear_message(rooms):
    with pytest.raises(RoomError) as unknown:
        rooms.check("zzz zzz")
    assert str(unknown.value).startswith("There is no open room ZZZZZZ: check the code on the screen")
    for forged in ("[Win a prize](https://example.org/win)", "ZZ", "ZZZZ", "ZZZZZZZ", "O0I1A2", ""):
        with pytest.raises(RoomError) as refused:
            rooms.check(forged)
        assert str(refused.value) == "There is no room with that code: check the code on the screen"
    code = rooms.open()
    rooms.send(code, "phone-a", SEVEN, 7, 0.9)
    rooms.end(code)
    with pytest.raises(RoomError) as ended:
        rooms.send(code, "phone-b", SEVEN, 7, 0.9)
    assert str(ended.value) == str(unknown.value).replace("ZZZZZZ", code)  # a guesser cannot tell them apart
    # nothing of it is kept but its code and times
    assert rows(rooms, "SELECT COUNT(*) FROM drawings") == [(0,)] and rows(rooms, "SELECT COUNT(*) FROM phones") == [(0,)]
    assert normalised(" abc def ") == "ABCDEF"


def test_hidden_drawings_leave_the_wall_and_the_lesson_and_clearing_keeps_them_to_learn(rooms):
    code = rooms.open()
    rooms.set_prompt(code, 3)
    first = rooms.send(code, "a", SEVEN, 7, 0.9)
    second = rooms.send(code, "b", SEVEN, 3, 0.9)
    rooms.hide(code, first)
    state = rooms.state(code)
    assert [t.id for t in state.tiles] == [second] and state.drawings == 1
    rooms.clear_wall(code)
    assert rooms.state(code).tiles == () and rooms.state(code).drawings == 1  # still counted and taught
    third = rooms.send(code, "c", SEVEN, 3, 0.9)
    assert [t.id for t in rooms.state(code).tiles] == [third]
    assert rooms.labelled(code)[0].tolist() == [second, third]


def test_the_wall_shows_misreads_first_and_a_kept_room_joins_the_collected_drawings(rooms, tmp_path):
    from digitnet.data.collected import CollectedDrawings, keep_room_drawings, room_drawings

    code = rooms.open()
    rooms.set_prompt(code, 7)
    ids = [rooms.send(code, str(phone), SEVEN, answer, 0.9) for phone, answer in enumerate([7, 1, 7, 2, 7])]
    assert [t.id for t in rooms.state(code).wall()] == [ids[3], ids[1], ids[4], ids[2], ids[0]]
    lesson = room_drawings(rooms, code)  # one in five, by id, kept out to score
    assert len(lesson.y_test) == sum(i % 5 == 0 for i in ids) and len(lesson) == 5
    collected = CollectedDrawings(tmp_path / "collected")
    assert keep_room_drawings(rooms, code, collected) == 5
    rooms.end(code)
    assert collected.counts()[7] == 5 and sum(collected.counts()) == 5


# Writers in processes of their own, as replicas are: started with `python -c`, not multiprocessing,
# whose spawned children re-run whatever script is __main__ (after a page test, the app's).
WRITER = """
import sys, numpy as np
from pathlib import Path
from digitnet.state.room import UNLIMITED, Rooms
place, code, phone, count = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
key = sys.argv[5] if len(sys.argv) > 5 else None  # one drawing sent again and again
x = np.zeros((28, 28), np.float32); x[6, 8:20] = 1.0; x[6:22, 18] = 1.0
url = place if place.startswith("postgresql://") else None
store, i = Rooms(None if url else Path(place), UNLIMITED, url), 0
while count < 0 or i < count:  # a negative count: forever, each send from a new phone
    store.send(code, phone if count >= 0 else f"{phone}-{i}", x, 7, 0.9, now=1000.0 + 2.0 * i, drawing_key=key)
    i += 1
"""


def writer(rooms: Rooms, code: str, phone: str, count: int, key: str | None = None) -> subprocess.Popen:
    place = str(rooms.path) if rooms.path else rooms.database.url
    return subprocess.Popen([sys.executable, "-c", WRITER, place, code, phone, str(count), *([key] if key else [])],
                            cwd=ROOT, stderr=subprocess.PIPE, text=True)


def test_writers_in_several_processes_lose_no_drawing(rooms):
    code = rooms.open()
    writers = [writer(rooms, code, f"phone-{i}", 25) for i in range(6)]
    for process in writers:
        assert process.wait(TIMEOUT_S) == 0, process.stderr.read()
    assert rooms.state(code).drawings == 6 * 25


def test_a_drawing_sent_again_is_stored_once_and_answered_as_sent(rooms):
    code = rooms.open()
    first = rooms.send(code, "phone", SEVEN, 7, 0.9, now=100.0, drawing_key="drawing-1")
    # A second click a moment later (within the phone's pace, which would refuse a new drawing), and a
    # retry after the answer was lost: the same drawing, the same id, nothing new.
    assert rooms.send(code, "phone", SEVEN, 7, 0.9, now=100.5, drawing_key="drawing-1") == first
    assert rooms.send(code, "phone", SEVEN, 7, 0.9, now=160.0, drawing_key="drawing-1") == first
    assert rooms.state(code).drawings == 1
    assert rows(rooms, "SELECT sends FROM phones WHERE phone = 'phone'") == [(1,)]
    second = rooms.send(code, "phone", SEVEN, 7, 0.9, now=170.0, drawing_key="drawing-2")  # a new one is stored
    assert second != first and rooms.state(code).drawings == 2
    other = rooms.open()  # a key names a drawing in its room only
    rooms.send(other, "phone", SEVEN, 7, 0.9, now=100.0, drawing_key="drawing-1")
    assert rooms.state(other).drawings == 1


def test_one_drawing_sent_from_several_processes_at_once_and_after_a_restart_is_one_row(rooms):
    code = rooms.open()
    writers = [writer(rooms, code, f"replica-{i}", 10, key="the-drawing") for i in range(4)]
    for process in writers:
        assert process.wait(TIMEOUT_S) == 0, process.stderr.read()
    restarted = Rooms(rooms.path, rooms.limits, None if rooms.path else rooms.database.url)
    restarted.send(code, "replica-0", SEVEN, 7, 0.9, drawing_key="the-drawing")
    assert rows(rooms, f"SELECT COUNT(*) FROM drawings WHERE room = '{code}'") == [(1,)]
    assert restarted.state(code).drawings == 1


def test_a_writer_killed_midway_leaves_only_whole_drawings(rooms):
    code = rooms.open()
    process = writer(rooms, code, "phone", -1)
    eventually(lambda: rooms.state(code).drawings >= 20, "20 drawings written")
    os.kill(process.pid, signal.SIGKILL)
    process.wait(TIMEOUT_S)
    state = rooms.state(code, tiles=10_000)
    assert state.drawings >= 20 and len(state.tiles) == state.drawings
    assert all(tile.pixels.shape == (28, 28) and tile.pixels.max() == 255 for tile in state.tiles)
    rooms.send(code, "after", SEVEN, 7, 0.9)  # the store still takes drawings
    assert rooms.state(code).drawings == state.drawings + 1


def test_the_wall_says_how_the_network_did_on_the_prompt_misreads_first(rooms):
    code = rooms.open()
    assert summary(rooms.state(code)) == "" and prompt_words(None) == "Draw any digit"
    rooms.set_prompt(code, 7)
    assert summary(rooms.state(code)) == "" and prompt_words(7) == "Everyone draw a 7"
    for phone, answer in enumerate([7, 7, 2, 1, 2, 7]):
        rooms.send(code, str(phone), SEVEN, answer, 0.9)
    assert summary(rooms.state(code)) == "The network read 3 of your 6 sevens; these 3 it took for 2s and 1s."
    rooms.set_prompt(code, 8)
    rooms.send(code, "8", SEVEN, 8, 0.9)
    assert summary(rooms.state(code)) == "The network read 1 of your 1 eight."


def test_a_flood_of_new_rooms_is_capped_and_a_forgotten_room_ends_by_itself(rooms):
    opened = time.time() - ROOM_HOURS * 3600 - 60  # 12 hours and a minute ago
    old = rooms.open(now=opened)
    rooms.send(old, "phone", SEVEN, 7, 0.9, now=opened + 10)
    with pytest.raises(RoomError, match="no open room"):  # found so by the next look, whoever looks
        rooms.check(old)
    with pytest.raises(RoomError, match="no open room"):  # and ended for good by the next write
        rooms.send(old, "another phone", SEVEN, 7, 0.9)
    assert rows(rooms, "SELECT COUNT(*) FROM drawings") == [(0,)]  # its drawing went with it
    codes = [rooms.open() for _ in range(MAX_OPEN_ROOMS)]
    with pytest.raises(RoomError, match=f"{MAX_OPEN_ROOMS} rooms are open"):
        rooms.open()
    rooms.end(codes[0])
    assert rooms.check(rooms.open())

def test_the_wall_reads_while_a_phone_holds_the_write_lock(sqlite_rooms):
    code = sqlite_rooms.open()
    sqlite_rooms.send(code, "phone-a", SEVEN, 7, 0.9)
    writer = sqlite3.connect(sqlite_rooms.path, isolation_level=None)
    try:
        writer.execute("BEGIN IMMEDIATE")  # a send in the middle of its transaction
        writer.execute("INSERT INTO phones (room, phone) VALUES (?, 'phone-b')", (code,))
        state = sqlite_rooms.state(code)  # a reader that took the write lock would wait here, then fail
        assert state.drawings == 1 and state.people == 1 and sqlite_rooms.prompt(code) == (None, False)
    finally:
        writer.execute("ROLLBACK")
        writer.close()


def test_the_walls_counts_are_kept_as_drawings_come_not_counted_on_each_refresh(sqlite_rooms):
    code = sqlite_rooms.open()
    with sqlite3.connect(sqlite_rooms.path) as db:
        plan = " ".join(row[-1] for row in db.execute(f"EXPLAIN QUERY PLAN {COUNTS}", (code,)))
    assert "tallies USING INDEX" in plan and "drawings" not in plan


def test_a_store_deleted_under_an_open_room_is_said_so_and_not_made_anew(sqlite_rooms):
    code = sqlite_rooms.open()
    sqlite_rooms.send(code, "phone-a", SEVEN, 7, 0.9)
    os.remove(sqlite_rooms.path)
    for look in (lambda: sqlite_rooms.check(code), lambda: sqlite_rooms.state(code), lambda: sqlite_rooms.prompt(code),
                 lambda: sqlite_rooms.send(code, "phone-b", SEVEN, 7, 0.9)):
        with pytest.raises(RoomStoreError, match="store is gone"):
            look()
    assert not sqlite_rooms.path.exists()
    assert sqlite_rooms.check(sqlite_rooms.open())  # a new room makes a new store


def test_a_corrupt_store_is_one_clear_error_not_a_traceback(sqlite_rooms):
    code = sqlite_rooms.open()
    corrupt_store(sqlite_rooms.path)
    with pytest.raises(RoomStoreError, match="cannot be used .*file is not a database"):
        sqlite_rooms.state(code)


@contextmanager
def read_only(folder: Path) -> Iterator[None]:
    """The folder and its files made read-only: by their mode, or, for root, whom no mode stops, immutable."""
    paths = [*folder.iterdir(), folder]
    if os.geteuid() == 0:
        subprocess.run(["chattr", "+i", *map(str, paths)], check=True)
    else:
        for path in paths:
            path.chmod(0o555 if path.is_dir() else 0o444)
    try:
        yield
    finally:
        if os.geteuid() == 0:
            subprocess.run(["chattr", "-i", *map(str, paths)], check=True)
        folder.chmod(0o755)


def test_a_read_only_store_is_one_clear_error_and_changes_nothing(tmp_path):
    rooms = Rooms(tmp_path / "store" / "rooms.sqlite3", RoomLimits(join_wait_s=0))
    code = rooms.open()
    rooms.send(code, "phone-a", SEVEN, 7, 0.9)
    visitor = Rooms(rooms.path, RoomLimits(join_wait_s=0))
    with read_only(rooms.path.parent):
        for write in (lambda: visitor.send(code, "phone-b", SEVEN, 7, 0.9), visitor.open):
            with pytest.raises(RoomStoreError, match=r"^The rooms' store cannot be used \(.+\): try again") as said:
                write()
            assert not said.value.passing  # a read-only file stays so: no "reconnecting" that never ends
        try:
            assert visitor.state(code).drawings == 1  # reading may still work
        except RoomStoreError as exc:
            assert "cannot be used" in str(exc)
    assert rooms.state(code).drawings == 1


def test_rooms_no_wall_has_shown_for_a_while_make_room_for_a_presenter(rooms):
    now = time.time()
    earlier = now - UNSHOWN_S - 60
    codes = [rooms.open(now=earlier) for _ in range(MAX_OPEN_ROOMS)]  # throwaway sessions' rooms
    rooms.shown(codes[0], now=now - 60)  # a real projector shows this one
    fresh = rooms.open(now=now)  # the cap is reached: the rooms nobody shows end to make room
    assert rooms.check(fresh) and rooms.check(codes[0])
    for code in codes[1:]:
        with pytest.raises(RoomError, match="no open room"):
            rooms.check(code)


def test_a_store_made_by_an_earlier_version_keeps_its_open_rooms(tmp_path):
    path = tmp_path / "rooms.sqlite3"
    with sqlite3.connect(path) as db:  # the schema of the first rooms, with one room that has drawings
        db.execute("CREATE TABLE rooms (code TEXT PRIMARY KEY, opened REAL NOT NULL, ended REAL, prompt INTEGER,"
                   " cleared_before INTEGER DEFAULT 0)")
        db.execute("CREATE TABLE phones (room TEXT NOT NULL, phone TEXT NOT NULL, PRIMARY KEY (room, phone))")
        db.execute("CREATE TABLE drawings (id INTEGER PRIMARY KEY AUTOINCREMENT, room TEXT NOT NULL, phone TEXT NOT NULL,"
                   " sent REAL NOT NULL, prompt INTEGER, answer INTEGER NOT NULL, confidence REAL NOT NULL,"
                   " pixels BLOB NOT NULL, hidden INTEGER NOT NULL DEFAULT 0)")
        db.execute("INSERT INTO rooms (code, opened, prompt) VALUES ('ABCDEF', ?, 7)", (time.time(),))
        db.executemany("INSERT INTO phones VALUES ('ABCDEF', ?)", [("a",), ("b",), ("idle",)])
        db.executemany("INSERT INTO drawings (room, phone, sent, prompt, answer, confidence, pixels, hidden)"
                       " VALUES ('ABCDEF', ?, 0, 7, ?, 0.9, ?, ?)",
                       [("a", 7, bytes(784), 0), ("b", 1, bytes(784), 0), ("b", 7, bytes(784), 1)])
    rooms = Rooms(path, RoomLimits(join_wait_s=0))
    rooms.shown("ABCDEF")
    state = rooms.state("abcdef")
    assert (state.people, state.drawings, state.read_right, state.paused) == (2, 2, 1, False)
    rooms.send("ABCDEF", "idle", SEVEN, 7, 0.9)
    assert rooms.state("ABCDEF").confusion[7].tolist() == [0, 1, 0, 0, 0, 0, 0, 2, 0, 0]


def test_a_phone_sends_only_a_few_seconds_after_it_joined_and_a_client_that_never_joined_never(new_rooms):
    rooms = new_rooms()
    wait = rooms.limits.join_wait_s
    code = rooms.open()
    rooms.join(code, "phone", now=100.0)
    with pytest.raises(RoomError, match="You just joined"):
        rooms.send(code, "phone", SEVEN, 7, 0.9, now=100.0 + wait / 2)
    rooms.send(code, "phone", SEVEN, 7, 0.9, now=100.0 + wait)
    for later in (200.0, 300.0):  # a client that skipped the page's join, however long it waits
        with pytest.raises(RoomError, match="You just joined"):
            rooms.send(code, "forged", SEVEN, 7, 0.9, now=later)
    assert rooms.state(code).drawings == 1


def test_a_flood_from_one_address_is_refused_and_other_phones_are_not_held_back(new_rooms):
    rooms = new_rooms(RoomLimits(join_wait_s=0))
    limits = rooms.limits
    code = rooms.open()
    refused, now = 0, 1000.0
    for session in range(200):  # a new session each time: a new phone token, the same address
        now += 0.01
        try:
            rooms.send(code, f"flood-{session}", SEVEN, 1, 0.9, now=now, sender="127.0.0.9")
        except RoomError as exc:
            assert "wait a few seconds" in str(exc)
            refused += 1
    taken = 200 - refused
    assert limits.address_burst <= taken <= limits.address_burst + limits.address_rate * 2 + 1
    for phone in range(10):  # the class, from its own address, meanwhile
        rooms.send(code, f"class-{phone}", SEVEN, 7, 0.9, now=now + 0.01 * phone, sender="192.0.2.10")
    state = rooms.state(code)
    assert state.drawings == taken + 10 and state.people == taken + 10  # people: phones that sent


def test_a_room_takes_at_most_a_full_hall_s_pace_and_a_total(new_rooms):
    limits = RoomLimits(join_wait_s=0, room_burst=30, room_rate=10.0, room_drawings=40)
    rooms = new_rooms(limits)
    code = rooms.open()
    taken = 0
    for phone in range(40):  # 40 addresses at once: the room's burst, then its pace
        try:
            rooms.send(code, f"p{phone}", SEVEN, 7, 0.9, now=10.0, sender=f"198.51.100.{phone}")
            taken += 1
        except RoomError as exc:
            assert "wait a few seconds" in str(exc)
    assert taken == 30
    for phone in range(40, 50):  # a second later: ten more
        rooms.send(code, f"p{phone}", SEVEN, 7, 0.9, now=11.0, sender=f"198.51.100.{phone}")
    with pytest.raises(RoomError, match="all the 40 drawings it takes"):
        rooms.send(code, "late", SEVEN, 7, 0.9, now=100.0, sender="203.0.113.1")
    assert rooms.state(code).drawings == 40


def test_a_paused_room_takes_nothing_until_it_goes_on(rooms):
    code = rooms.open()
    rooms.pause(code, True)
    assert rooms.prompt(code) == (None, True) and rooms.state(code).paused
    with pytest.raises(RoomError, match="paused"):
        rooms.send(code, "phone", SEVEN, 7, 0.9)
    rooms.pause(code, False)
    rooms.send(code, "phone", SEVEN, 7, 0.9)
    assert rooms.state(code).drawings == 1 and rooms.prompt(code) == (None, False)


def test_hiding_a_phone_hides_all_it_sent_and_takes_no_more_from_it(rooms):
    code = rooms.open()
    rooms.set_prompt(code, 7)
    troll = [rooms.send(code, "troll", SEVEN, 1, 0.9, now=10.0 + 2 * i) for i in range(3)]
    kept = rooms.send(code, "kind", SEVEN, 7, 0.9, now=10.0)
    rooms.hide_phone(code, troll[1])
    state = rooms.state(code)
    assert [t.id for t in state.tiles] == [kept] and (state.drawings, state.prompted, state.read_right) == (1, 1, 1)
    with pytest.raises(RoomError, match="took this phone's drawings off"):
        rooms.send(code, "troll", SEVEN, 1, 0.9, now=20.0)
    assert rooms.labelled(code)[0].tolist() == [kept]


def test_clearing_the_wall_can_forget_what_it_cleared(rooms):
    code = rooms.open()
    rooms.set_prompt(code, 7)
    for phone in range(3):
        rooms.send(code, str(phone), SEVEN, 7, 0.9)
    rooms.clear_wall(code, forget=True)
    state = rooms.state(code)
    assert (state.tiles, state.drawings, state.prompted) == ((), 0, 0) and len(rooms.labelled(code)[0]) == 0
    after = rooms.send(code, "3", SEVEN, 7, 0.9)
    assert [t.id for t in rooms.state(code).tiles] == [after] and rooms.labelled(code)[0].tolist() == [after]


def test_one_address_opens_only_a_few_rooms_unless_the_presenter_typed_the_password(rooms):
    per_address = rooms.limits.rooms_per_address
    flood = [rooms.open(opener="127.0.0.9") for _ in range(per_address)]
    with pytest.raises(RoomError, match="open from this network already"):
        rooms.open(opener="127.0.0.9")
    assert rooms.check(rooms.open(opener="127.0.0.1"))  # the presenter, from another address
    assert rooms.check(rooms.open(opener=None))  # a presenter who typed the admin password
    rooms.end(flood[0])
    assert rooms.check(rooms.open(opener="127.0.0.9"))
    later = time.time() + UNSHOWN_S + 1  # a presenter who closed the tabs without ending the rooms
    assert rooms.check(rooms.open(opener="127.0.0.9", now=later))
    stored = " ".join(str(row) for row in rows(rooms, "SELECT * FROM rooms"))  # addresses only as keyed hashes
    assert "127.0.0" not in stored


def test_a_database_server_that_restarts_costs_the_room_nothing_it_had(postgres):
    """PostgreSQL stopped as a crash would, and started again: sends meanwhile are refused with a
    message, nothing committed is lost, and the room goes on by itself."""
    from postgres import Cluster, server_binaries

    own = Cluster(*server_binaries())  # a cluster of its own: the shared one serves other tests
    try:
        rooms = Rooms(limits=RoomLimits(join_wait_s=0), url=own.database())
        code = rooms.open()
        kept = rooms.send(code, "a", SEVEN, 7, 0.9)
        own.stop_server()
        for call in (lambda: rooms.send(code, "b", SEVEN, 7, 0.9), lambda: rooms.state(code)):
            with pytest.raises(RoomStoreError, match=r"cannot be reached\): try again in a moment") as refused:
                call()
            assert str(own.port) not in str(refused.value)  # phones never see where the database is
        own.start_server()
        rooms.send(code, "b", SEVEN, 7, 0.9)
        assert [t.id for t in rooms.state(code).tiles][-1] == kept and rooms.state(code).drawings == 2
    finally:
        own.stop()


def test_a_room_s_results_say_what_each_phone_sent_and_nothing_of_who(rooms, tmp_path):
    import csv
    import io
    import zipfile

    from digitnet.state.results import results_csv, results_zip

    code = rooms.open()
    rooms.set_prompt(code, 7)
    for second, (phone, answer) in enumerate((("token-aaaa", 7), ("token-bbbb", 1), ("token-aaaa", 7))):
        rooms.send(code, phone, SEVEN, answer, 0.9, sender="203.0.113.9", now=time.time() + 10 * second)
    rooms.set_prompt(code, None)
    rooms.send(code, "token-cccc", SEVEN, 3, 0.5, sender="203.0.113.9", now=time.time() + 40)
    table = results_csv(rooms.results(code))
    rows = list(csv.DictReader(io.StringIO(table.decode())))
    assert [(r["phone"], r["prompt"], r["answer"], r["label"]) for r in rows] == [
        ("1", "7", "7", "7"), ("2", "7", "1", "7"), ("1", "7", "7", "7"), ("3", "", "3", "")]
    archive = zipfile.ZipFile(io.BytesIO(results_zip(rooms.results(code))))
    assert sorted(archive.namelist()) == ["drawings/7/00001.png", "drawings/7/00002.png", "drawings/7/00003.png",
                                          "results.csv"]
    archive.extractall(tmp_path)
    import keras

    loaded = keras.utils.image_dataset_from_directory(tmp_path / "drawings", image_size=(28, 28),
                                                      color_mode="grayscale", verbose=False)
    assert loaded.class_names == ["7"] and sum(len(labels) for _, labels in loaded) == 3
    everything = table + b"".join(archive.read(name) for name in archive.namelist())
    assert not any(secret in everything for secret in (b"token-", b"203.0.113", code.encode()))
    rooms.end(code)
    with pytest.raises(RoomError, match="no open room"):
        rooms.results(code)
