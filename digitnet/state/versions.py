"""The model in use, shared by the replicas of several machines through PostgreSQL ($DIGITNET_DATABASE_URL).

A retrain publishes its files (the .keras model, its weights, history.json and the curves) as one new
version, in one transaction; Restore shipped model publishes a version that says "the shipped one".
Each machine keeps the newest version it has seen in its own retrained folder, and every replica
looks for a newer one every few seconds: the rest of the page reads files, as on one machine.
"""

from __future__ import annotations

import logging
import threading
import time
from pathlib import Path

from digitnet.config import CURVES_FILENAME, HISTORY_FILENAME, MODEL_FILENAME
from digitnet.errors import ModelFileError, SharedStateError
from digitnet.files import replaced_whole
from digitnet.reading.classifier import weights_path
from digitnet.state.database import PostgresDatabase

log = logging.getLogger(__name__)

LOOK_EVERY_S = 2.0  # how often a replica asks for a newer version: a retrain is in use everywhere within it
VERSION_FILENAME = "version"  # in a retrained folder: the number of the version its files are

_TABLE = """
CREATE TABLE IF NOT EXISTS model_versions (
    id BIGSERIAL PRIMARY KEY,
    published DOUBLE PRECISION NOT NULL,
    shipped BOOLEAN NOT NULL,  -- "use the shipped model": no files
    model BYTEA, history BYTEA, curves BYTEA, weights BYTEA  -- model_files()' order
)"""


def model_files(folder: Path) -> list[Path]:
    """A retrained folder's files of one model, in the order they are replaced: the weights, which say
    a retrained model is there, last."""
    model = folder / MODEL_FILENAME
    return [model, folder / HISTORY_FILENAME, folder / CURVES_FILENAME, weights_path(model)]


class ModelVersions:
    """The versions of the model in the PostgreSQL database at `url`."""

    def __init__(self, url: str):
        self.database = PostgresDatabase(url, lambda connection: connection.execute(_TABLE))
        self._looked = -float("inf")  # time.monotonic() of this process's last look
        self._looking = threading.Lock()  # one session's thread looks; the others use what is there

    def publish(self, saved: Path, folder: Path) -> int:
        """Make the model saved in `saved` the newest version, for every machine and then in `folder`;
        its number. SharedStateError when the database cannot take it: then nothing changed."""
        contents = [path.read_bytes() if path.exists() else None for path in model_files(saved)]
        if contents[0] is None or contents[-1] is None:
            raise ModelFileError(f"No whole model in {saved} to publish")
        version = self._insert(False, *contents)
        _use(folder, version, shipped=False, contents=contents)
        return version

    def publish_shipped(self, folder: Path) -> int:
        """Make "the shipped model" the newest version, for every machine and then in `folder`."""
        version = self._insert(True, None, None, None, None)
        _use(folder, version, shipped=True, contents=())
        return version

    def follow(self, folder: Path) -> None:
        """Bring `folder` to the newest version, when LOOK_EVERY_S has passed since the last look. A
        database out of reach leaves the model in use as it is (and is said in the log): serving an
        answer needs no database."""
        now = time.monotonic()
        if now - self._looked < LOOK_EVERY_S or not self._looking.acquire(blocking=False):
            return
        try:
            self._looked = now
            with self.database.transaction(write=False) as db:
                newest = db.execute("SELECT max(id) FROM model_versions").fetchone()[0]
                if newest is None or newest == _read_version(folder):
                    return
                shipped, *contents = db.execute("SELECT shipped, model, history, curves, weights FROM "
                                                "model_versions WHERE id = ?", (newest,)).fetchone()
            _use(folder, newest, shipped, contents)
        except self.database.errors as exc:
            log.warning("Could not look for a newer model (%s): keeping the one in use",
                        self.database.describe(exc))
        finally:
            self._looking.release()

    def _insert(self, shipped: bool, *contents: bytes | None) -> int:
        try:
            with self.database.transaction(write=True) as db:
                return db.execute("INSERT INTO model_versions (published, shipped, model, history, curves, "
                                  "weights) VALUES (?, ?, ?, ?, ?, ?) RETURNING id",
                                  (time.time(), shipped, *contents)).fetchone()[0]
        except self.database.errors as exc:
            raise SharedStateError(f"The model cannot be shared with the other machines just now "
                                   f"({self.database.describe(exc)}): try again in a moment") from exc


def _use(folder: Path, version: int, shipped: bool, contents: list[bytes | None] | tuple) -> None:
    """Make `folder` hold version `version`: the shipped model (no files) or `contents`, in the order
    of model_files()."""
    if shipped:
        for path in reversed(model_files(folder)):  # the weights first: never half a model in use
            path.unlink(missing_ok=True)
    else:
        for path, content in zip(model_files(folder), contents):
            if content is None:
                path.unlink(missing_ok=True)
                continue
            with replaced_whole(path) as tmp:
                tmp.write_bytes(content)
    _write_version(folder, version)
    log.info("Now using version %d of the model (%s)", version, "the shipped one" if shipped else "a retrain")


def _read_version(folder: Path) -> int | None:
    try:
        return int((folder / VERSION_FILENAME).read_text())
    except (OSError, ValueError):
        return None


def _write_version(folder: Path, version: int) -> None:
    with replaced_whole(folder / VERSION_FILENAME) as tmp:
        tmp.write_text(str(version))
