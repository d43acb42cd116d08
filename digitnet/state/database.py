"""Where shared state lives: a SQLite file on this machine, or a PostgreSQL server that every machine
reaches ($DIGITNET_DATABASE_URL, psycopg 3). Both are used the same way, with SQLite's `?`
placeholders and the SQL both speak (ON CONFLICT, RETURNING): what is stored never asks which it has.

A transaction is one connection for one use: Streamlit runs sessions in threads, and neither kind of
connection is shared between them. Writers take turns (SQLite's write lock; a PostgreSQL advisory
lock, held by the transaction and freed by its end, a killed process's too); a reader sees one
snapshot and never waits for a writer.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import threading
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Protocol

from digitnet.errors import DigitnetError, SharedStateError

log = logging.getLogger(__name__)

DATABASE_ENV = "DIGITNET_DATABASE_URL"
WRITERS_LOCK = 0x64696769  # the advisory lock PostgreSQL writers take turns on ("digi")
RETRAIN_LOCK = 0x74726169  # the one a training process holds while it runs, on every machine ("trai")
# Each page process keeps up to this many connections open: a send or a look holds one for a few
# milliseconds. One that waits longer than POOL_WAIT_S for one is told the database cannot be reached.
POOL_SIZE = 8
POOL_WAIT_S = 3.0

_pools: dict[str, Any] = {}
_pools_guard = threading.Lock()


class Connection(Protocol):
    """What a transaction gives: SQLite's connection, or a PostgreSQL one that speaks like it."""

    def execute(self, sql: str, parameters: tuple = ...) -> Any: ...

    def executemany(self, sql: str, rows: Iterable[tuple]) -> Any: ...


class StoreGone(DigitnetError):
    """A SQLite store this process used was removed: said so, never silently made anew."""


class SqliteDatabase:
    """A SQLite file in WAL mode; `prepare(connection)` makes or upgrades its tables, once per process
    and whenever `create` asks for the file to be made."""

    errors: tuple[type[Exception], ...] = (sqlite3.Error,)

    def __init__(self, path: Path, prepare: Callable[[sqlite3.Connection], None]):
        self.path = path
        self.prepare = prepare
        self._seen = False  # whether this process has used the file: then its absence is news

    def describe(self, error: Exception) -> str:
        """What went wrong, in words fit for any visitor: SQLite's own ("file is not a database")."""
        return str(error).strip()

    def passing(self, error: Exception) -> bool:
        """Whether `error` goes away by itself: a file that is corrupt, read-only or full stays so."""
        return isinstance(error, sqlite3.OperationalError) and "locked" in str(error)

    @contextmanager
    def transaction(self, write: bool, create: bool = False,
                    keep: tuple[type[BaseException], ...] = ()) -> Iterator[sqlite3.Connection]:
        """A transaction, committed on success or on an exception of `keep`, rolled back on any other."""
        if self._seen and not create and not self.path.exists():
            raise StoreGone(f"{self.path.name} was removed")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        connection = sqlite3.connect(self.path, timeout=10, isolation_level=None)
        first, self._seen = not self._seen, True
        try:
            connection.execute("PRAGMA journal_mode=WAL")
            connection.execute("PRAGMA synchronous=FULL")  # what is committed survives a power cut too
            if first or create:
                self.prepare(connection)
            connection.execute("BEGIN IMMEDIATE" if write else "BEGIN")
            try:
                yield connection
            except keep:
                connection.execute("COMMIT")
                raise
            except BaseException:
                connection.execute("ROLLBACK")
                raise
            connection.execute("COMMIT")
        finally:
            connection.close()


class PostgresDatabase:
    """A PostgreSQL database; `prepare(connection)` makes its tables, once per process."""

    def __init__(self, url: str, prepare: Callable[["_Postgres"], None]):
        import psycopg

        self.url = url
        self.prepare = prepare
        self.errors = (psycopg.Error,)
        self._prepared = False

    def describe(self, error: Exception) -> str:
        """What went wrong, in words fit for any visitor: never the server's address or the query
        (the log has them)."""
        import psycopg

        log.warning("The database failed: %s", error)
        if isinstance(error, psycopg.OperationalError):
            return "the database server cannot be reached"
        return "the database refused a change"

    def passing(self, error: Exception) -> bool:
        """Whether `error` goes away by itself: a server out of reach comes back; a refused change does not."""
        import psycopg

        return isinstance(error, psycopg.OperationalError)

    @contextmanager
    def transaction(self, write: bool, create: bool = False,
                    keep: tuple[type[BaseException], ...] = ()) -> Iterator["_Postgres"]:
        """A transaction, committed on success or on an exception of `keep`, rolled back on any other."""
        with _pool(self.url).connection() as connection:
            if not self._prepared or create:
                connection.execute("SELECT pg_advisory_xact_lock(%s)", (WRITERS_LOCK,))  # one at a time
                self.prepare(_Postgres(connection))
                connection.commit()
                self._prepared = True
            if write:
                connection.execute("SELECT pg_advisory_xact_lock(%s)", (WRITERS_LOCK,))
            else:
                connection.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            try:
                yield _Postgres(connection)
            except keep:
                connection.commit()
                raise
            except BaseException:
                connection.rollback()
                raise
            connection.commit()


class _Postgres:
    """A psycopg connection that takes SQLite's `?` placeholders."""

    def __init__(self, connection):
        self.connection = connection

    def execute(self, sql: str, parameters: tuple = ()):
        return self.connection.execute(sql.replace("?", "%s"), parameters)

    def executemany(self, sql: str, rows) -> None:
        with self.connection.cursor() as cursor:
            cursor.executemany(sql.replace("?", "%s"), list(rows))


def _pool(url: str):
    """This process's connections to the database at `url`, kept open between uses: a new connection
    costs the server a process of its own, about 10 ms a send (bench.database). Each is checked as it
    is taken, so a server that restarted costs nothing but the connections it dropped."""
    from psycopg_pool import ConnectionPool

    with _pools_guard:
        if url not in _pools:
            _pools[url] = ConnectionPool(url, min_size=1, max_size=POOL_SIZE, timeout=POOL_WAIT_S, open=True,
                                         kwargs={"connect_timeout": 5}, check=ConnectionPool.check_connection,
                                         name="digitnet")
        return _pools[url]


def close_pools() -> None:
    """Close every pool this process opened, and their connections."""
    with _pools_guard:
        for pool in _pools.values():
            pool.close()
        _pools.clear()


def database_url() -> str | None:
    """$DIGITNET_DATABASE_URL: a PostgreSQL server to keep shared state in; None to keep it in files."""
    return os.environ.get(DATABASE_ENV) or None


def held_lock(url: str, key: int):
    """A connection to the PostgreSQL database at `url` that holds the advisory lock `key` until it is
    closed, or until its process ends however it ends (the server frees a lost connection's locks);
    None when another connection holds it. SharedStateError when the server cannot be reached."""
    import psycopg

    try:
        connection = psycopg.connect(url, connect_timeout=5, autocommit=True)
        if connection.execute("SELECT pg_try_advisory_lock(%s)", (key,)).fetchone()[0]:
            return connection
        connection.close()
        return None
    except psycopg.Error as exc:
        log.warning("The database failed: %s", exc)
        raise SharedStateError("The database server that the machines share cannot be reached") from exc


def check_usable(url: str) -> None:
    """Connect to `url` and create, write and read a table in a transaction that is rolled back: what the
    rooms and versions will do. SharedStateError, in one line an operator can act on, when it is not a
    PostgreSQL URL, its server cannot be reached or refuses the login, or the role may not create tables
    (with the SQL that lets it)."""
    import psycopg

    try:
        with psycopg.connect(url, connect_timeout=5) as connection:
            try:
                connection.execute("CREATE TABLE digitnet_setup_check (n INTEGER)")
                connection.execute("INSERT INTO digitnet_setup_check VALUES (1)")
                connection.execute("SELECT n FROM digitnet_setup_check").fetchone()
            except psycopg.errors.InsufficientPrivilege as exc:
                user, database = connection.info.user, connection.info.dbname
                raise SharedStateError(
                    f"{DATABASE_ENV} cannot be used: the role {user} may not create tables in the database "
                    f"{database} ({' '.join(str(exc).split())}; since PostgreSQL 15 only the database's owner "
                    f"may, in its public schema). As PostgreSQL's superuser, run: "
                    f"ALTER DATABASE {database} OWNER TO {user};") from exc
            finally:
                connection.rollback()
    except psycopg.Error as exc:
        reason = " ".join(str(exc).split()) or type(exc).__name__
        raise SharedStateError(f"{DATABASE_ENV} cannot be used: {reason}") from exc