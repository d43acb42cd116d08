"""A retrain as the pages of every machine see it, through PostgreSQL ($DIGITNET_DATABASE_URL).

The training process holds an advisory lock on a connection of its own for as long as it runs (the
server frees it when the process ends, however it ends), writes its status into a one-row table on
that connection, and reads there whether a page asked it to stop. Pages on any machine read that row;
on one machine, the status and cancel files beside the model (jobs.JobFiles) do the same.
"""

from __future__ import annotations

import json
import logging
import threading
import time

from digitnet.state.database import RETRAIN_LOCK, PostgresDatabase, database_url, held_lock
from digitnet.training.jobs import FAILED, JobStatus

log = logging.getLogger(__name__)

READ_EVERY_S = 1.0  # how old a page process's view of another machine's retrain may be

_TABLE = """
CREATE TABLE IF NOT EXISTS retrain (
    id INTEGER PRIMARY KEY CHECK (id = 1),  -- one row: the current or last retrain
    status TEXT NOT NULL,  -- JobStatus as JSON
    cancel BOOLEAN NOT NULL
)"""
_LOCK_HELD = ("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted AND classid = 0 "
              "AND objid = ? AND database = (SELECT oid FROM pg_database WHERE datname = current_database())")


class RetrainBoard:
    """What a page reads of the retrain that any machine runs, and how it asks it to stop."""

    def __init__(self, url: str):
        self.database = PostgresDatabase(url, lambda connection: connection.execute(_TABLE))
        self._guard = threading.Lock()
        self._read_at = -float("inf")
        self._last: JobStatus | None = None

    def status(self) -> JobStatus | None:
        """The current or last retrain as its process last wrote it (at most READ_EVERY_S old); one that
        says it runs while no process holds the lock reads as stopped. None when there was none, or
        when the database cannot be reached (said in the log)."""
        with self._guard:
            if time.monotonic() - self._read_at < READ_EVERY_S:
                return self._last
            self._read_at = time.monotonic()
            try:
                with self.database.transaction(write=False) as db:
                    row = db.execute("SELECT status FROM retrain WHERE id = 1").fetchone()
                    held = db.execute(_LOCK_HELD, (RETRAIN_LOCK,)).fetchone()[0]
            except self.database.errors as exc:
                log.warning("Could not read the retrain's status (%s)", self.database.describe(exc))
                row = None
            self._last = None if row is None else _checked(JobStatus.from_json(json.loads(row[0])), held > 0)
            return self._last

    def ask_to_stop(self) -> None:
        """Ask the running retrain to stop, whichever machine runs it."""
        try:
            with self.database.transaction(write=True) as db:
                db.execute("UPDATE retrain SET cancel = TRUE WHERE id = 1")
        except self.database.errors as exc:
            log.warning("Could not ask the retrain to stop (%s)", self.database.describe(exc))
        with self._guard:
            self._read_at = -float("inf")


    def forget(self) -> None:
        """Forget how the last retrain ended (unless one runs): its message is no longer true."""
        try:
            with self.database.transaction(write=True) as db:
                row = db.execute("SELECT status FROM retrain WHERE id = 1").fetchone()
                if row is not None and not JobStatus.from_json(json.loads(row[0])).running:
                    db.execute("DELETE FROM retrain WHERE id = 1")
        except self.database.errors as exc:
            log.warning("Could not forget the last retrain (%s)", self.database.describe(exc))
        with self._guard:
            self._read_at = -float("inf")


class HeldRetrain:
    """The training process's side: it holds the lock on `connection` and reports there."""

    def __init__(self, connection):
        self.connection = connection
        connection.execute(_TABLE)

    def write(self, status: JobStatus) -> None:
        """Say how the retrain goes; a database out of reach costs only the other machines' view of it."""
        self._execute("UPDATE retrain SET status = %s WHERE id = 1", (json.dumps(status.to_json()),))

    def start(self, status: JobStatus) -> None:
        """Say this retrain runs, and forget any earlier request to stop."""
        self._execute("INSERT INTO retrain (id, status, cancel) VALUES (1, %s, FALSE) ON CONFLICT (id) DO UPDATE "
                      "SET status = excluded.status, cancel = FALSE", (json.dumps(status.to_json()),))

    def stop_asked(self) -> bool:
        found = self._execute("SELECT cancel FROM retrain WHERE id = 1")
        return bool(found and found[0])

    def close(self) -> None:
        self.connection.close()

    def _execute(self, sql: str, parameters: tuple = ()) -> tuple | None:
        """The statement's first row, or None; a database that fails is said in the log, not raised."""
        import psycopg

        try:
            cursor = self.connection.execute(sql, parameters)
            return cursor.fetchone() if cursor.description else None
        except psycopg.Error as exc:
            log.warning("The database failed: %s; the retrain goes on, seen from this machine only", exc)
            return None


class OneMachine:
    """Without a database, the folder's lock and files are all there is."""

    def write(self, status: JobStatus) -> None:
        pass

    start = write

    def stop_asked(self) -> bool:
        return False

    def close(self) -> None:
        pass


def hold_retrain() -> HeldRetrain | OneMachine | None:
    """In the training process: the lock that lets one retrain run at a time on every machine (None
    when another machine's retrain holds it; SharedStateError when the database cannot be reached),
    or OneMachine without $DIGITNET_DATABASE_URL."""
    url = database_url()
    if url is None:
        return OneMachine()
    connection = held_lock(url, RETRAIN_LOCK)
    return None if connection is None else HeldRetrain(connection)


def retrain_board() -> RetrainBoard | None:
    """For a page: the board of every machine's retrain, or None without $DIGITNET_DATABASE_URL."""
    url = database_url()
    return RetrainBoard(url) if url else None


def _checked(status: JobStatus, lock_held: bool) -> JobStatus:
    if status.running and not lock_held:
        return JobStatus(state=FAILED, message="The retrain stopped unexpectedly (killed, or out of memory?). "
                                               "The model in use is unchanged.")
    return status
