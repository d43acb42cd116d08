"""A room: everyone draws on a phone, the projector shows the room. Its drawings live in SQLite.

One SQLite file in WAL mode, beside the collected drawings, which every replica on the machine
shares: SQLite orders the writes of all replicas, a reader never sees half of a row, and a write cut
short (a replica killed mid-send) is rolled back whole. A drawing that `send` accepted is committed,
synchronously, before it returns. Several machines would need a database server in its place
(PostgreSQL, say), as the README says.

A room keeps no names and no addresses: each phone is a random token its page made, so the room can
count people and pace sends. Ending a room deletes its drawings, unless the presenter keeps them.
"""

from __future__ import annotations

import secrets
import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from digitnet.config import data_dir
from digitnet.errors import DigitnetError
from digitnet.serving.prediction import DIGIT_NAMES, a_digit

CODE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no 0 and O, no 1 and I: read off a projector
CODE_LENGTH = 4
SEND_INTERVAL_S = 2.0  # a phone sends at most one drawing this often
ROOMS_FILENAME = "rooms.sqlite3"
WALL_TILES = 60  # the most tiles a wall shows; more never fit a projector
MAX_OPEN_ROOMS = 20  # a flood of Start a room clicks fills no disk
ROOM_HOURS = 12.0  # a room left open this long ends by itself, its drawings deleted
# When MAX_OPEN_ROOMS are open, rooms whose wall no projector has shown for this long end to make room:
# throwaway sessions that opened rooms and left cannot lock the presenter out for more than that.
UNSHOWN_S = 600.0
SHOWN_EVERY_S = 30.0  # how often an open wall says it is shown: a write, so not on every refresh
SCHEMA = """
CREATE TABLE IF NOT EXISTS rooms (
    code TEXT PRIMARY KEY, opened REAL NOT NULL, ended REAL, prompt INTEGER, cleared_before INTEGER DEFAULT 0,
    shown REAL
);
CREATE TABLE IF NOT EXISTS phones (room TEXT NOT NULL, phone TEXT NOT NULL, PRIMARY KEY (room, phone));
CREATE TABLE IF NOT EXISTS drawings (
    id INTEGER PRIMARY KEY AUTOINCREMENT, room TEXT NOT NULL, phone TEXT NOT NULL, sent REAL NOT NULL,
    prompt INTEGER, answer INTEGER NOT NULL, confidence REAL NOT NULL, pixels BLOB NOT NULL,
    hidden INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS drawings_by_room ON drawings (room, id);
CREATE INDEX IF NOT EXISTS drawings_counted ON drawings (room, hidden, prompt, answer);
"""


# The wall's counters, counted by SQLite from the index drawings_counted alone: the drawings' pixels are
# never read (at 100,000 drawings a refresh took 156 ms when every row came to Python, 12 ms now).
COUNTS = "SELECT prompt, answer, COUNT(*) FROM drawings WHERE room = ? AND hidden = 0 GROUP BY prompt, answer"


class RoomError(DigitnetError):
    """A room code that names no open room, or a drawing the room cannot take."""


class RoomStoreError(RoomError):
    """The rooms' store could not be used: gone, corrupt, read-only or full."""


class RoomExpired(RoomError):
    """A room this call found open longer than ROOM_HOURS, and ended: its ending is kept."""


@dataclass(frozen=True)
class Tile:
    """One drawing on the wall: what the network saw, what it answered, and what it was asked for."""

    id: int
    pixels: np.ndarray  # (28, 28) uint8, the network's input
    answer: int
    confidence: float
    prompt: int | None

    @property
    def missed(self) -> bool:
        """Whether the network read something other than the digit the room was asked to draw."""
        return self.prompt is not None and self.answer != self.prompt


@dataclass(frozen=True)
class RoomState:
    """What the wall shows: the prompt, the counters, and the latest tiles, newest first."""

    code: str
    opened: float  # time.time() when the room was opened
    prompt: int | None
    people: int
    drawings: int
    prompted: int  # drawings sent to a prompt
    read_right: int  # of those, the ones the network read as the prompt
    tiles: tuple[Tile, ...]
    confusion: np.ndarray  # (10, 10): prompt (row) read as answer (column), over the room's prompted drawings

    def wall(self) -> list[Tile]:
        """The tiles in the order the wall shows them: the misreads of the prompt first, newest first."""
        return sorted(self.tiles, key=lambda tile: (not tile.missed, -tile.id))


def prompt_words(prompt: int | None) -> str:
    """The prompt as the phones show it."""
    return "Draw any digit" if prompt is None else f"Everyone draw {a_digit(prompt)}"


def summary(state: RoomState) -> str:
    """How the network did on the room's drawings of the current prompt, misreads first: "The network
    read 26 of your 30 sevens; these 4 it took for 2s and 1s." Empty before a drawing of it."""
    if state.prompt is None:
        return ""
    row = state.confusion[state.prompt]
    sent, right = int(row.sum()), int(row[state.prompt])
    if not sent:
        return ""
    name = DIGIT_NAMES[state.prompt] + ("s" if sent != 1 else "")
    text = f"The network read {right} of your {sent} {name}"
    wrong = [(int(count), digit) for digit, count in enumerate(row) if digit != state.prompt and count]
    if not wrong:
        return text + "."
    misread = sent - right
    if misread == 1:
        return text + f"; this one it took for {a_digit(wrong[0][1])}."
    taken = " and ".join(f"{digit}s" for _, digit in sorted(wrong, reverse=True))
    return text + f"; these {misread} it took for {taken}."


def normalised(code: str) -> str:
    """A code as typed ("ab c d", "abcd") in the form rooms use ("ABCD")."""
    return "".join(code.split()).upper()


def is_room_code(code: str) -> bool:
    """Whether `code` (normalised) is CODE_LENGTH letters of CODE_ALPHABET, as every room's code is."""
    return len(code) == CODE_LENGTH and all(letter in CODE_ALPHABET for letter in code)


class Rooms:
    """Every room of this machine, in one SQLite file (by default in the drawings folder, which the
    replicas of `make serve` share)."""

    def __init__(self, path: Path | None = None):
        self.path = path or data_dir() / ROOMS_FILENAME
        self._seen = False  # whether this process has used the store: then its file's absence is news

    @contextmanager
    def _database(self, write: bool = True, create: bool = False) -> Iterator[sqlite3.Connection]:
        """A connection for one use (Streamlit runs sessions in threads; SQLite connections are not
        shared between them), committed on success and rolled back on any error but RoomExpired.
        Without `write`, it reads one snapshot and never waits for, nor holds up, a writer (WAL).
        A store this process has used and that is gone is said so, not silently made anew as if its
        rooms had never been; only `create` (opening a room) makes it again. SQLite's errors become
        RoomStoreError."""
        try:
            with self._connection(write, create) as connection:
                yield connection
        except sqlite3.Error as exc:
            raise RoomStoreError(f"The rooms' store cannot be used ({exc}): try again in a moment, "
                                 "or start a new room") from exc

    @contextmanager
    def _connection(self, write: bool, create: bool) -> Iterator[sqlite3.Connection]:
        if self._seen and not create and not self.path.exists():
            raise RoomStoreError(f"The rooms' store is gone ({self.path.name} was removed): start a new room")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        connection = sqlite3.connect(self.path, timeout=10, isolation_level=None)
        first, self._seen = not self._seen, True
        try:
            connection.execute("PRAGMA journal_mode=WAL")
            connection.execute("PRAGMA synchronous=FULL")  # a sent drawing survives a power cut too
            connection.executescript(SCHEMA)
            if first and "shown" not in {column[1] for column in connection.execute("PRAGMA table_info(rooms)")}:
                connection.execute("ALTER TABLE rooms ADD COLUMN shown REAL")  # a store made before it
            connection.execute("BEGIN IMMEDIATE" if write else "BEGIN")
            try:
                yield connection
            except RoomExpired:
                connection.execute("COMMIT")
                raise
            except BaseException:
                connection.execute("ROLLBACK")
                raise
            connection.execute("COMMIT")
        finally:
            connection.close()

    def open(self, now: float | None = None) -> str:
        """Open a new room; return its code. Rooms opened ROOM_HOURS ago end first; RoomError when
        MAX_OPEN_ROOMS are still open."""
        now = time.time() if now is None else now
        with self._database(create=True) as db:
            for (stale,) in db.execute("SELECT code FROM rooms WHERE ended IS NULL AND opened < ?",
                                       (now - ROOM_HOURS * 3600,)).fetchall():
                _end(db, stale, now)
            if _open_rooms(db) >= MAX_OPEN_ROOMS:
                for (unshown,) in db.execute("SELECT code FROM rooms WHERE ended IS NULL"
                                             " AND COALESCE(shown, opened) < ?", (now - UNSHOWN_S,)).fetchall():
                    _end(db, unshown, now)
            if _open_rooms(db) >= MAX_OPEN_ROOMS:
                raise RoomError(f"{MAX_OPEN_ROOMS} rooms are open on this server: end one before starting another")
            while True:
                code = "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))
                if db.execute("SELECT 1 FROM rooms WHERE code = ?", (code,)).fetchone() is None:
                    db.execute("INSERT INTO rooms (code, opened) VALUES (?, ?)", (code, now))
                    return code

    def shown(self, code: str, now: float | None = None) -> None:
        """Note that a projector shows room `code`'s wall now (written at most every SHOWN_EVERY_S)."""
        now = time.time() if now is None else now
        with self._database() as db:
            db.execute("UPDATE rooms SET shown = ? WHERE code = ? AND COALESCE(shown, 0) < ?",
                       (now, _open_room(db, code, now), now - SHOWN_EVERY_S))

    def check(self, code: str) -> str:
        """The open room `code` names, as rooms spell it; RoomError saying why when there is none."""
        with self._database(write=False) as db:
            return _open_room(db, code, writing=False)

    def join(self, code: str, phone: str) -> None:
        """Count a phone in the room (once)."""
        with self._database() as db:
            code = _open_room(db, code)
            db.execute("INSERT OR IGNORE INTO phones (room, phone) VALUES (?, ?)", (code, phone))

    def set_prompt(self, code: str, digit: int | None) -> None:
        """Ask the room to draw `digit` (None: any digit); drawings sent from now on are labelled by it."""
        if digit is not None and digit not in range(10):
            raise RoomError(f"A prompt is a digit from 0 to 9, not {digit!r}")
        with self._database() as db:
            db.execute("UPDATE rooms SET prompt = ? WHERE code = ?", (digit, _open_room(db, code)))

    def prompt(self, code: str) -> int | None:
        with self._database(write=False) as db:
            code = _open_room(db, code, writing=False)
            return db.execute("SELECT prompt FROM rooms WHERE code = ?", (code,)).fetchone()[0]

    def send(self, code: str, phone: str, pixels: np.ndarray, answer: int, confidence: float,
             now: float | None = None) -> int:
        """Put a drawing on the wall, labelled by the room's prompt; return its id. RoomError when the
        room is not open, the phone sent one less than SEND_INTERVAL_S ago, or it is not a drawing."""
        image = _checked_pixels(pixels)
        if int(answer) not in range(10) or not 0.0 <= float(confidence) <= 1.0:
            raise RoomError("That is not an answer of the network: a digit and a confidence from 0 to 1")
        now = time.time() if now is None else now
        with self._database() as db:
            code = _open_room(db, code, now)
            last = db.execute("SELECT MAX(sent) FROM drawings WHERE room = ? AND phone = ?",
                              (code, phone)).fetchone()[0]
            if last is not None and now - last < SEND_INTERVAL_S:
                raise RoomError(f"One drawing every {SEND_INTERVAL_S:.0f} seconds: wait a moment and send again")
            prompt = db.execute("SELECT prompt FROM rooms WHERE code = ?", (code,)).fetchone()[0]
            db.execute("INSERT OR IGNORE INTO phones (room, phone) VALUES (?, ?)", (code, phone))
            cursor = db.execute(
                "INSERT INTO drawings (room, phone, sent, prompt, answer, confidence, pixels)"
                " VALUES (?, ?, ?, ?, ?, ?, ?)",
                (code, phone, now, prompt, int(answer), float(confidence), image.tobytes()))
            return int(cursor.lastrowid)

    def state(self, code: str, tiles: int = WALL_TILES) -> RoomState:
        """What the wall shows now."""
        with self._database(write=False) as db:
            code = _open_room(db, code, writing=False)
            opened, prompt, cleared = db.execute("SELECT opened, prompt, cleared_before FROM rooms WHERE code = ?",
                                                 (code,)).fetchone()
            people = db.execute("SELECT COUNT(*) FROM phones WHERE room = ?", (code,)).fetchone()[0]
            counts = db.execute(COUNTS, (code,)).fetchall()
            latest = db.execute(
                "SELECT id, pixels, answer, confidence, prompt FROM drawings WHERE room = ? AND hidden = 0 AND id > ?"
                " ORDER BY id DESC LIMIT ?", (code, cleared, tiles)).fetchall()
        confusion = np.zeros((10, 10), dtype=np.int64)
        for asked, answer, count in counts:
            if asked is not None:
                confusion[asked, answer] += count
        return RoomState(
            code=code, opened=float(opened), prompt=prompt, people=int(people),
            drawings=sum(count for _, _, count in counts),
            prompted=int(confusion.sum()), read_right=int(np.trace(confusion)), confusion=confusion,
            tiles=tuple(Tile(int(i), np.frombuffer(p, dtype=np.uint8).reshape(28, 28), int(a), float(c), q)
                        for i, p, a, c, q in latest))

    def hide(self, code: str, drawing: int) -> None:
        """Take one drawing off the wall for good: it is not shown, counted or trained on."""
        with self._database() as db:
            db.execute("UPDATE drawings SET hidden = 1 WHERE room = ? AND id = ?", (_open_room(db, code), drawing))

    def clear_wall(self, code: str) -> None:
        """Start the wall afresh: the drawings sent so far leave it, but still count and teach."""
        with self._database() as db:
            code = _open_room(db, code)
            last = db.execute("SELECT COALESCE(MAX(id), 0) FROM drawings WHERE room = ?", (code,)).fetchone()[0]
            db.execute("UPDATE rooms SET cleared_before = ? WHERE code = ?", (last, code))

    def labelled(self, code: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The room's drawings sent to a prompt and not hidden: (ids, (n, 28, 28) uint8 inputs, labels)."""
        with self._database() as db:
            rows = db.execute("SELECT id, pixels, prompt FROM drawings"
                              " WHERE room = ? AND hidden = 0 AND prompt IS NOT NULL"
                              " ORDER BY id", (_open_room(db, code),)).fetchall()
        ids = np.array([r[0] for r in rows], dtype=np.int64)
        x = np.array([np.frombuffer(r[1], dtype=np.uint8) for r in rows], dtype=np.uint8).reshape(-1, 28, 28)
        return ids, x, np.array([r[2] for r in rows], dtype=np.uint8)

    def end(self, code: str) -> None:
        """End the room: its drawings and phones are deleted, and its code answers "ended" from now on."""
        with self._database() as db:
            _end(db, _open_room(db, code), time.time())


def _open_rooms(db: sqlite3.Connection) -> int:
    return db.execute("SELECT COUNT(*) FROM rooms WHERE ended IS NULL").fetchone()[0]


def _end(db: sqlite3.Connection, code: str, now: float) -> None:
    db.execute("DELETE FROM drawings WHERE room = ?", (code,))
    db.execute("DELETE FROM phones WHERE room = ?", (code,))
    db.execute("UPDATE rooms SET ended = ?, prompt = NULL WHERE code = ?", (now, code))


def _open_room(db: sqlite3.Connection, code: str, now: float | None = None, writing: bool = True) -> str:
    """The open room `code` names, in rooms' spelling. A room opened ROOM_HOURS before `now` has ended
    for whatever call finds it, not only when someone starts a room; a `writing` call ends it for good."""
    code = normalised(code)
    if not is_room_code(code):  # never shown back: a page's messages are Markdown ("[Win](https://...)")
        raise RoomError("There is no room with that code: check the code on the screen")
    row = db.execute("SELECT opened, ended FROM rooms WHERE code = ?", (code,)).fetchone()
    if row is None:
        raise RoomError(f"There is no room {code}: check the code on the screen")
    now = time.time() if now is None else now
    ended = f"The room {code} has ended: ask the presenter for the new one"
    if row[1] is not None:
        raise RoomError(ended)
    if row[0] < now - ROOM_HOURS * 3600:
        if not writing:
            raise RoomError(ended)  # a read's snapshot cannot safely become a write: the next write ends it
        _end(db, code, now)
        raise RoomExpired(ended)
    return code


def _checked_pixels(pixels: object) -> np.ndarray:
    """The network's (28, 28) input in [0, 1] as uint8; RoomError when it is anything else."""
    array = np.asarray(pixels)
    if array.shape != (28, 28) or not np.issubdtype(array.dtype, np.number) or not np.isfinite(array).all():
        raise RoomError("That is not a drawing of the page's canvas")
    if array.min() < 0 or array.max() > 1:
        raise RoomError("That is not a drawing of the page's canvas")
    return np.rint(array * 255).astype(np.uint8)
