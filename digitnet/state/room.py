"""A room: everyone draws on a phone, the projector shows the room.

Its drawings live in one SQLite file in WAL mode, beside the collected drawings, which every replica
on the machine shares; or, with $DIGITNET_DATABASE_URL, in a PostgreSQL database that every machine
shares (digitnet.state.database). Either way writers take turns, a reader never sees half of a row,
and a write cut short (a replica killed mid-send) is rolled back whole. A drawing that `send`
accepted is committed before it returns.

A room keeps no names and no addresses: each phone is a random token its page made, and a phone's
network address is kept only as a keyed hash, to pace what one address sends (`RoomLimits`). Ending a
room deletes its drawings, its phones and those hashes, unless the presenter keeps the drawings.
"""

from __future__ import annotations

import hashlib
import hmac
import math
import secrets
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from digitnet.config import drawings_dir
from digitnet.errors import DigitnetError
from digitnet.state.database import Connection, PostgresDatabase, SqliteDatabase, StoreGone, database_url
from digitnet.state.limits import RerunBudget
from digitnet.reading.prediction import DIGIT_NAMES, a_digit

CODE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no 0 and O, no 1 and I: read off a projector
# 32^6 codes: guessing one of 20 open rooms at 300 tries a second, more than a replica answers, takes
# two days on average (docs/room-network.md). Four letters took 13 minutes.
CODE_LENGTH = 6
ROOMS_FILENAME = "rooms.sqlite3"
LATEST_TILES = 60  # how many of the newest drawings `state` reads unless asked for fewer
MAX_OPEN_ROOMS = 20  # a flood of Start a room clicks fills no disk
ROOM_HOURS = 12.0  # a room left open this long ends by itself, its drawings deleted
# When MAX_OPEN_ROOMS are open, rooms whose wall no projector has shown for this long end to make room:
# throwaway sessions that opened rooms and left cannot lock the presenter out for more than that.
UNSHOWN_S = 600.0
SHOWN_EVERY_S = 30.0  # how often an open wall says it is shown: a write, so not on every refresh
NO_ROOM = "There is no open room {code}: check the code on the screen, or ask the presenter for the new one"
BUSY = "The screen is taking many drawings just now: wait a few seconds and send again"
SCHEMA_VERSION = 3  # PRAGMA user_version: 2 had no drawing keys; 1, no limits, tallies or pause; 0, no `shown`
SQLITE_SCHEMA = """
CREATE TABLE IF NOT EXISTS rooms (
    code TEXT PRIMARY KEY, opened REAL NOT NULL, ended REAL, prompt INTEGER, cleared_before INTEGER DEFAULT 0,
    shown REAL, paused INTEGER NOT NULL DEFAULT 0, opener TEXT, sent INTEGER NOT NULL DEFAULT 0,
    tokens REAL, tokens_at REAL
);
CREATE TABLE IF NOT EXISTS phones (
    room TEXT NOT NULL, phone TEXT NOT NULL, joined REAL, last_sent REAL, sends INTEGER NOT NULL DEFAULT 0,
    stopped INTEGER NOT NULL DEFAULT 0, PRIMARY KEY (room, phone)
);
CREATE TABLE IF NOT EXISTS drawings (
    id INTEGER PRIMARY KEY AUTOINCREMENT, room TEXT NOT NULL, phone TEXT NOT NULL, sent REAL NOT NULL,
    prompt INTEGER, answer INTEGER NOT NULL, confidence REAL NOT NULL, pixels BLOB NOT NULL,
    hidden INTEGER NOT NULL DEFAULT 0, drawing_key TEXT
);
CREATE INDEX IF NOT EXISTS drawings_by_room ON drawings (room, id);
CREATE INDEX IF NOT EXISTS drawings_counted ON drawings (room, hidden, prompt, answer);
CREATE INDEX IF NOT EXISTS drawings_by_phone ON drawings (room, phone);
-- The wall's counters, kept as drawings come and go, so that a refresh costs the same at 100 drawings
-- as at 300,000. prompt -1: sent when the room asked for any digit.
CREATE TABLE IF NOT EXISTS tallies (
    room TEXT NOT NULL, prompt INTEGER NOT NULL, answer INTEGER NOT NULL, drawings INTEGER NOT NULL,
    PRIMARY KEY (room, prompt, answer)
);
-- What each network address (as a keyed hash) may still send to a room: a RerunBudget's tokens.
CREATE TABLE IF NOT EXISTS senders (
    room TEXT NOT NULL, sender TEXT NOT NULL, tokens REAL NOT NULL, tokens_at REAL NOT NULL,
    PRIMARY KEY (room, sender)
);
CREATE TABLE IF NOT EXISTS secret (key BLOB NOT NULL);
"""
# The same tables in PostgreSQL's types.
POSTGRES_SCHEMA = """
CREATE TABLE IF NOT EXISTS rooms (
    code TEXT PRIMARY KEY, opened DOUBLE PRECISION NOT NULL, ended DOUBLE PRECISION, prompt INTEGER,
    cleared_before BIGINT DEFAULT 0, shown DOUBLE PRECISION, paused INTEGER NOT NULL DEFAULT 0, opener TEXT,
    sent INTEGER NOT NULL DEFAULT 0, tokens DOUBLE PRECISION, tokens_at DOUBLE PRECISION
);
CREATE TABLE IF NOT EXISTS phones (
    room TEXT NOT NULL, phone TEXT NOT NULL, joined DOUBLE PRECISION, last_sent DOUBLE PRECISION,
    sends INTEGER NOT NULL DEFAULT 0, stopped INTEGER NOT NULL DEFAULT 0, PRIMARY KEY (room, phone)
);
CREATE TABLE IF NOT EXISTS drawings (
    id BIGSERIAL PRIMARY KEY, room TEXT NOT NULL, phone TEXT NOT NULL, sent DOUBLE PRECISION NOT NULL,
    prompt INTEGER, answer INTEGER NOT NULL, confidence DOUBLE PRECISION NOT NULL, pixels BYTEA NOT NULL,
    hidden INTEGER NOT NULL DEFAULT 0, drawing_key TEXT
);
ALTER TABLE drawings ADD COLUMN IF NOT EXISTS drawing_key TEXT;
CREATE INDEX IF NOT EXISTS drawings_by_room ON drawings (room, id);
CREATE INDEX IF NOT EXISTS drawings_by_phone ON drawings (room, phone);
CREATE UNIQUE INDEX IF NOT EXISTS drawings_once ON drawings (room, drawing_key);
CREATE TABLE IF NOT EXISTS tallies (
    room TEXT NOT NULL, prompt INTEGER NOT NULL, answer INTEGER NOT NULL, drawings BIGINT NOT NULL,
    PRIMARY KEY (room, prompt, answer)
);
CREATE TABLE IF NOT EXISTS senders (
    room TEXT NOT NULL, sender TEXT NOT NULL, tokens DOUBLE PRECISION NOT NULL, tokens_at DOUBLE PRECISION NOT NULL,
    PRIMARY KEY (room, sender)
);
CREATE TABLE IF NOT EXISTS secret (key BYTEA NOT NULL);
"""
# Columns that stores made by earlier versions lack, added in place: their open rooms carry on.
ADDED_COLUMNS = {
    "rooms": ["shown REAL", "paused INTEGER NOT NULL DEFAULT 0", "opener TEXT", "sent INTEGER NOT NULL DEFAULT 0",
              "tokens REAL", "tokens_at REAL"],
    "phones": ["joined REAL", "last_sent REAL", "sends INTEGER NOT NULL DEFAULT 0",
               "stopped INTEGER NOT NULL DEFAULT 0"],
    "drawings": ["drawing_key TEXT"],
}
# A drawing is stored once in its room, however often its phone sends it (NULL keys never clash).
SQLITE_KEY_INDEX = "CREATE UNIQUE INDEX IF NOT EXISTS drawings_once ON drawings (room, drawing_key)"
COUNTS = "SELECT prompt, answer, drawings FROM tallies WHERE room = ? AND drawings > 0"


@dataclass(frozen=True)
class RoomLimits:
    """What a room takes, whoever sends: a person's pace, an address's, a hall's, and a total.

    A new session is a new phone token, so a flood of sessions resets only the per-phone limits; the
    per-address and per-room ones hold. A class behind one Wi-Fi address (60 phones each sending a
    drawing every ten seconds or so, all at once after a new prompt) stays within its address's
    limit; one address flooding gets a quarter of the room's rate, so the other phones never notice.
    """

    send_interval_s: float = 2.0  # one phone: at most one drawing this often
    join_wait_s: float = 3.0  # one phone: its first drawing comes this long after it opened the room
    address_rate: float = 5.0  # one network address: drawings a second, after a burst of...
    address_burst: float = 60.0
    room_rate: float = 20.0  # one room, all addresses: a full hall's pace, after a burst of...
    room_burst: float = 120.0
    room_drawings: int = 20_000  # one room, in all: as many as the collected drawings keep
    rooms_per_address: int = 2  # rooms on show one address may have open, when no admin password is set


# For tools and tests that fill a room themselves, as fast as they like.
UNLIMITED = RoomLimits(send_interval_s=0.0, join_wait_s=0.0, address_rate=math.inf, address_burst=math.inf,
                       room_rate=math.inf, room_burst=math.inf, room_drawings=2**62, rooms_per_address=2**62)
SEND_INTERVAL_S = RoomLimits().send_interval_s


class RoomError(DigitnetError):
    """A room code that names no open room, or a drawing the room cannot take."""


class RoomStoreError(RoomError):
    """The rooms' store could not be used: gone, corrupt, read-only or full; or, `passing`, out of
    reach for a while (a database server restarting), and then it goes on by itself."""

    def __init__(self, message: str, passing: bool = False):
        super().__init__(message)
        self.passing = passing


class RoomExpired(RoomError):
    """A room this call found open longer than ROOM_HOURS, and ended: its ending is kept."""


@dataclass(frozen=True)
class Sent:
    """One drawing of a room's results: when, which phone (a number, not who), what it was asked for,
    what the network read and how sure it was, and the network's input."""

    time: float
    phone: int
    prompt: int | None
    answer: int
    confidence: float
    pixels: np.ndarray  # (28, 28) uint8


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
    paused: bool  # the presenter paused sends
    people: int  # phones that sent a drawing
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
    """Every room: in one SQLite file of this machine (by default in the drawings folder, which the
    replicas of `make serve` share), or in the PostgreSQL database at `url` (default:
    $DIGITNET_DATABASE_URL) that every machine shares; taking what `limits` allow."""

    def __init__(self, path: Path | None = None, limits: RoomLimits = RoomLimits(), url: str | None = None):
        url = url or (None if path else database_url())
        self.limits = limits
        self.path = None if url else path or drawings_dir() / ROOMS_FILENAME
        self.database = PostgresDatabase(url, _prepare_postgres) if url else SqliteDatabase(self.path, _migrate)

    @contextmanager
    def _database(self, write: bool = True, create: bool = False) -> Iterator[Connection]:
        """A transaction, committed on success and rolled back on any error but RoomExpired. Without
        `write`, it reads one snapshot and never waits for, nor holds up, a writer. A SQLite store this
        process has used and that is gone is said so, not silently made anew as if its rooms had never
        been; only `create` (opening a room) makes it again. The store's own errors become RoomStoreError."""
        try:
            with self.database.transaction(write, create, keep=(RoomExpired,)) as connection:
                yield connection
        except StoreGone as exc:
            raise RoomStoreError(f"The rooms' store is gone ({exc}): start a new room") from exc
        except self.database.errors as exc:
            raise RoomStoreError(f"The rooms' store cannot be used ({self.database.describe(exc)}): try again in "
                                 "a moment, or start a new room", passing=self.database.passing(exc)) from exc

    def open(self, now: float | None = None, opener: str | None = None) -> str:
        """Open a new room; return its code. Rooms opened ROOM_HOURS ago end first; RoomError when
        MAX_OPEN_ROOMS are still open, or when the network address `opener` (None: a presenter who
        typed the admin password) has `limits.rooms_per_address` open."""
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
            opener_key = None if opener is None else _keyed(db, opener)
            # Rooms no projector shows any more (a tab closed without End the room) do not count.
            if opener_key is not None and db.execute(
                    "SELECT COUNT(*) FROM rooms WHERE ended IS NULL AND opener = ? AND COALESCE(shown, opened) >= ?",
                    (opener_key, now - UNSHOWN_S)).fetchone()[0] >= self.limits.rooms_per_address:
                raise RoomError(f"{self.limits.rooms_per_address} rooms are open from this network already: "
                                "end one, or set an admin password and type it")
            while True:
                code = "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))
                if db.execute("SELECT 1 FROM rooms WHERE code = ?", (code,)).fetchone() is None:
                    db.execute("INSERT INTO rooms (code, opened, opener) VALUES (?, ?, ?)", (code, now, opener_key))
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

    def join(self, code: str, phone: str, now: float | None = None) -> float:
        """Note when a phone opened the room (once): it sends from `limits.join_wait_s` later. Returns
        when it first joined: a phone that comes back (a reload, a dropped Wi-Fi) keeps its place."""
        now = time.time() if now is None else now
        with self._database() as db:
            code = _open_room(db, code, now)
            db.execute("INSERT INTO phones (room, phone, joined) VALUES (?, ?, ?) ON CONFLICT DO NOTHING",
                       (code, phone, now))
            joined = db.execute("SELECT joined FROM phones WHERE room = ? AND phone = ?", (code, phone)).fetchone()
            return float(joined[0]) if joined and joined[0] is not None else now

    def set_prompt(self, code: str, digit: int | None) -> None:
        """Ask the room to draw `digit` (None: any digit); drawings sent from now on are labelled by it."""
        if digit is not None and digit not in range(10):
            raise RoomError(f"A prompt is a digit from 0 to 9, not {digit!r}")
        with self._database() as db:
            db.execute("UPDATE rooms SET prompt = ? WHERE code = ?", (digit, _open_room(db, code)))

    def prompt(self, code: str) -> tuple[int | None, bool]:
        """What the room is asked to draw (None: any digit), and whether the presenter paused sends."""
        with self._database(write=False) as db:
            code = _open_room(db, code, writing=False)
            prompt, paused = db.execute("SELECT prompt, paused FROM rooms WHERE code = ?", (code,)).fetchone()
            return prompt, bool(paused)

    def pause(self, code: str, paused: bool) -> None:
        """Stop taking drawings (phones are told the room is paused), or take them again."""
        with self._database() as db:
            db.execute("UPDATE rooms SET paused = ? WHERE code = ?", (int(paused), _open_room(db, code)))

    def send(self, code: str, phone: str, pixels: np.ndarray, answer: int, confidence: float,
             now: float | None = None, sender: str = "", drawing_key: str | None = None) -> int:
        """Put a drawing on the wall, labelled by the room's prompt; return its id. `sender` is the
        phone's network address; `drawing_key` the drawing's identity, made where it was drawn: a
        drawing sent again with the key it was stored under is not stored again, and its id is returned. RoomError
        when the room is not open or paused, it is not a drawing, or it is more than `limits` allow
        (the phone is told what to do); nothing is kept then."""
        image = _checked_pixels(pixels)
        if int(answer) not in range(10) or not 0.0 <= float(confidence) <= 1.0:
            raise RoomError("That is not an answer of the network: a digit and a confidence from 0 to 1")
        now = time.time() if now is None else now
        limits = self.limits
        with self._database() as db:
            code = _open_room(db, code, now)
            stored = drawing_key and db.execute("SELECT id FROM drawings WHERE room = ? AND drawing_key = ?",
                                                (code, drawing_key)).fetchone()
            if stored:  # a second click, or a retry after an answer that did not arrive: sent already
                return int(stored[0])
            prompt, paused, sent, tokens, tokens_at = db.execute(
                "SELECT prompt, paused, sent, tokens, tokens_at FROM rooms WHERE code = ?", (code,)).fetchone()
            if paused:
                raise RoomError("The presenter has paused the room: wait, and send when it goes on")
            # A phone that never opened the room's page (a forged client) has no row: it never sends.
            phone_row = db.execute("SELECT COALESCE(joined, 0), last_sent, stopped FROM phones"
                                   " WHERE room = ? AND phone = ?", (code, phone)).fetchone()
            joined, last, stopped = phone_row or (now, None, 0)
            if stopped:
                raise RoomError("The presenter took this phone's drawings off the screen")
            if limits.join_wait_s and (phone_row is None or now - joined < limits.join_wait_s):
                raise RoomError("You just joined: draw your digit, then send it")
            db.execute("INSERT INTO phones (room, phone, joined) VALUES (?, ?, ?) ON CONFLICT DO NOTHING",
                       (code, phone, now))
            if last is not None and now - last < limits.send_interval_s:
                raise RoomError(f"One drawing every {limits.send_interval_s:.0f} seconds: wait a moment and send again")
            if sent >= limits.room_drawings:
                raise RoomError(f"This room has all the {limits.room_drawings:,} drawings it takes: "
                                "ask the presenter to start a new one")
            key = _keyed(db, sender)
            row = db.execute("SELECT tokens, tokens_at FROM senders WHERE room = ? AND sender = ?",
                             (code, key)).fetchone()
            address = _spend(row, now, limits.address_rate, limits.address_burst)
            room = _spend((tokens, tokens_at), now, limits.room_rate, limits.room_burst)
            if address is None or room is None:
                raise RoomError(BUSY)
            db.execute("INSERT INTO senders (room, sender, tokens, tokens_at) VALUES (?, ?, ?, ?) ON CONFLICT"
                       " (room, sender) DO UPDATE SET tokens = excluded.tokens, tokens_at = excluded.tokens_at",
                       (code, key, address.tokens, address.updated))
            db.execute("UPDATE rooms SET sent = sent + 1, tokens = ?, tokens_at = ? WHERE code = ?",
                       (room.tokens, room.updated, code))
            db.execute("UPDATE phones SET last_sent = ?, sends = sends + 1 WHERE room = ? AND phone = ?",
                       (now, code, phone))
            drawing = db.execute(
                "INSERT INTO drawings (room, phone, sent, prompt, answer, confidence, pixels, drawing_key)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
                (code, phone, now, prompt, int(answer), float(confidence), image.tobytes(),
                 drawing_key)).fetchone()[0]
            _tally(db, code, [(prompt, int(answer), 1)])
            return int(drawing)

    def state(self, code: str, tiles: int = LATEST_TILES) -> RoomState:
        """What the wall shows now, read from tallies and the newest rows only: as fast in a full room."""
        with self._database(write=False) as db:
            code = _open_room(db, code, writing=False)
            opened, prompt, paused, cleared = db.execute(
                "SELECT opened, prompt, paused, cleared_before FROM rooms WHERE code = ?", (code,)).fetchone()
            people = db.execute("SELECT COUNT(*) FROM phones WHERE room = ? AND sends > 0", (code,)).fetchone()[0]
            counts = db.execute(COUNTS, (code,)).fetchall()
            latest = db.execute(
                "SELECT id, pixels, answer, confidence, prompt FROM drawings WHERE room = ? AND hidden = 0 AND id > ?"
                " ORDER BY id DESC LIMIT ?", (code, cleared, tiles)).fetchall()
        confusion = np.zeros((10, 10), dtype=np.int64)
        for asked, answer, count in counts:
            if asked >= 0:
                confusion[asked, answer] += count
        return RoomState(
            code=code, opened=float(opened), prompt=prompt, paused=bool(paused), people=int(people),
            drawings=sum(count for _, _, count in counts),
            prompted=int(confusion.sum()), read_right=int(np.trace(confusion)), confusion=confusion,
            tiles=tuple(Tile(int(i), np.frombuffer(p, dtype=np.uint8).reshape(28, 28), int(a), float(c), q)
                        for i, p, a, c, q in latest))

    def hide(self, code: str, drawing: int) -> None:
        """Take one drawing off the wall for good: it is not shown, counted or trained on."""
        with self._database() as db:
            _hide(db, _open_room(db, code), "id = ?", (drawing,))

    def hide_phone(self, code: str, drawing: int) -> None:
        """Take every drawing of the phone that sent `drawing` off the wall for good, and take no more
        from that phone."""
        with self._database() as db:
            code = _open_room(db, code)
            row = db.execute("SELECT phone FROM drawings WHERE room = ? AND id = ?", (code, drawing)).fetchone()
            if row is None:
                return
            _hide(db, code, "phone = ?", row)
            db.execute("UPDATE phones SET stopped = 1 WHERE room = ? AND phone = ?", (code, row[0]))

    def clear_wall(self, code: str, forget: bool = False) -> None:
        """Start the wall afresh: the drawings sent so far leave it, and still count and teach; or,
        with `forget`, are hidden for good: never counted, never trained on."""
        with self._database() as db:
            code = _open_room(db, code)
            last = db.execute("SELECT COALESCE(MAX(id), 0) FROM drawings WHERE room = ?", (code,)).fetchone()[0]
            db.execute("UPDATE rooms SET cleared_before = ? WHERE code = ?", (last, code))
            if forget:
                _hide(db, code, "id <= ?", (last,))

    def labelled(self, code: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The room's drawings sent to a prompt and not hidden: (ids, (n, 28, 28) uint8 inputs, labels)."""
        with self._database() as db:
            rows = db.execute("SELECT id, pixels, prompt FROM drawings"
                              " WHERE room = ? AND hidden = 0 AND prompt IS NOT NULL"
                              " ORDER BY id", (_open_room(db, code),)).fetchall()
        ids = np.array([r[0] for r in rows], dtype=np.int64)
        x = np.array([np.frombuffer(r[1], dtype=np.uint8) for r in rows], dtype=np.uint8).reshape(-1, 28, 28)
        return ids, x, np.array([r[2] for r in rows], dtype=np.uint8)

    def results(self, code: str) -> tuple[Sent, ...]:
        """Every drawing the room kept on its wall, oldest first, each phone a number in the order it
        first sent: no token, no address. RoomError when the room is not open."""
        with self._database(write=False) as db:
            rows = db.execute("SELECT sent, phone, prompt, answer, confidence, pixels FROM drawings"
                              " WHERE room = ? AND hidden = 0 ORDER BY id", (_open_room(db, code, writing=False),)).fetchall()
        numbers: dict[str, int] = {}
        return tuple(Sent(float(sent), numbers.setdefault(phone, len(numbers) + 1), prompt, int(answer),
                          float(confidence), np.frombuffer(pixels, dtype=np.uint8).reshape(28, 28))
                     for sent, phone, prompt, answer, confidence, pixels in rows)

    def end(self, code: str) -> None:
        """End the room: its drawings and phones are deleted, and its code names no open room from now on."""
        with self._database() as db:
            _end(db, _open_room(db, code), time.time())


def _prepare_postgres(db: Connection) -> None:
    """Make the tables in a PostgreSQL database (one transaction, under the writers' lock)."""
    db.execute(POSTGRES_SCHEMA)


def _migrate(db: Connection) -> None:
    """Make the tables in a SQLite file, and bring a store an earlier version made up to them."""
    db.executescript(SQLITE_SCHEMA)
    if db.execute("PRAGMA user_version").fetchone()[0] >= SCHEMA_VERSION:
        return
    db.execute("BEGIN IMMEDIATE")
    if db.execute("PRAGMA user_version").fetchone()[0] >= SCHEMA_VERSION:  # another replica did it meanwhile
        db.execute("COMMIT")
        return
    for table, columns in ADDED_COLUMNS.items():
        present = {column[1] for column in db.execute(f"PRAGMA table_info({table})")}
        for column in columns:
            if column.split()[0] not in present:
                db.execute(f"ALTER TABLE {table} ADD COLUMN {column}")
    db.execute(SQLITE_KEY_INDEX)
    db.execute("DELETE FROM tallies")
    db.execute("INSERT INTO tallies SELECT room, COALESCE(prompt, -1), answer, COUNT(*) FROM drawings"
               " WHERE hidden = 0 GROUP BY room, COALESCE(prompt, -1), answer")
    db.execute("UPDATE phones SET sends = (SELECT COUNT(*) FROM drawings"
               " WHERE drawings.room = phones.room AND drawings.phone = phones.phone)")
    db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
    db.execute("COMMIT")


def _keyed(db: Connection, address: str) -> str:
    """A network address as the store keeps it: a hash keyed by the store's own secret, so that the
    store's file alone never tells anyone's address."""
    row = db.execute("SELECT key FROM secret").fetchone()
    if row is None:
        row = (secrets.token_bytes(32),)
        db.execute("INSERT INTO secret (key) VALUES (?)", row)
    return hmac.new(bytes(row[0]), address.encode(), hashlib.sha256).hexdigest()[:32]


def _spend(bucket: tuple[float | None, float | None] | None, now: float, rate: float,
           burst: float) -> RerunBudget | None:
    """A budget of `burst` drawings refilled at `rate` a second, stored as `bucket` (tokens, when), after
    one more drawing at `now`; None when none was left."""
    tokens, at = bucket if bucket is not None and bucket[0] is not None else (burst, now)
    budget = RerunBudget(rate=rate, burst=burst, tokens=tokens, updated=at)
    return budget if math.isinf(burst) or budget.take(now) == 0 else None


def _tally(db: Connection, code: str, changes: list[tuple[int | None, int, int]]) -> None:
    """Add (prompt, answer, drawings) to the wall's counters."""
    db.executemany("INSERT INTO tallies (room, prompt, answer, drawings) VALUES (?, ?, ?, ?)"
                   " ON CONFLICT (room, prompt, answer) DO UPDATE SET drawings = tallies.drawings + excluded.drawings",
                   [(code, -1 if prompt is None else prompt, answer, count) for prompt, answer, count in changes])


def _hide(db: Connection, code: str, which: str, arguments: tuple) -> None:
    """Hide the room's drawings that `which` (an SQL condition) picks, and take them off the counters."""
    counts = db.execute(f"SELECT prompt, answer, COUNT(*) FROM drawings WHERE room = ? AND hidden = 0 AND {which}"
                        " GROUP BY prompt, answer", (code, *arguments)).fetchall()
    _tally(db, code, [(prompt, answer, -count) for prompt, answer, count in counts])
    db.execute(f"UPDATE drawings SET hidden = 1 WHERE room = ? AND hidden = 0 AND {which}", (code, *arguments))


def _open_rooms(db: Connection) -> int:
    return db.execute("SELECT COUNT(*) FROM rooms WHERE ended IS NULL").fetchone()[0]


def _end(db: Connection, code: str, now: float) -> None:
    for table in ("drawings", "phones", "tallies", "senders"):
        db.execute(f"DELETE FROM {table} WHERE room = ?", (code,))
    db.execute("UPDATE rooms SET ended = ?, prompt = NULL, opener = NULL WHERE code = ?", (now, code))


def _open_room(db: Connection, code: str, now: float | None = None, writing: bool = True) -> str:
    """The open room `code` names, in rooms' spelling. A room opened ROOM_HOURS before `now` has ended
    for whatever call finds it, not only when someone starts a room; a `writing` call ends it for good.
    A code that never named a room and one whose room ended get the same answer: a guesser learns
    nothing from it."""
    code = normalised(code)
    if not is_room_code(code):  # never shown back: a page's messages are Markdown ("[Win](https://...)")
        raise RoomError("There is no room with that code: check the code on the screen")
    row = db.execute("SELECT opened, ended FROM rooms WHERE code = ?", (code,)).fetchone()
    if row is None or row[1] is not None:
        raise RoomError(NO_ROOM.format(code=code))
    now = time.time() if now is None else now
    if row[0] < now - ROOM_HOURS * 3600:
        if not writing:
            raise RoomError(NO_ROOM.format(code=code))  # a read's snapshot cannot become a write: the next write ends it
        _end(db, code, now)
        raise RoomExpired(NO_ROOM.format(code=code))
    return code


def _checked_pixels(pixels: object) -> np.ndarray:
    """The network's (28, 28) input in [0, 1] as uint8; RoomError when it is anything else."""
    array = np.asarray(pixels)
    if array.shape != (28, 28) or not np.issubdtype(array.dtype, np.number) or not np.isfinite(array).all():
        raise RoomError("That is not a drawing of the page's canvas")
    if array.min() < 0 or array.max() > 1:
        raise RoomError("That is not a drawing of the page's canvas")
    return np.rint(array * 255).astype(np.uint8)
