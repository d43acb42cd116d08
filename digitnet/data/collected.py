"""Drawings people confirmed or corrected, kept as labelled images so the network can learn from them.

On one machine they are files: the 28x28 images in `<drawings dir>/digits/<label>/<id>.png`, the
layout Keras' image_dataset_from_directory reads, and what was drawn in
`<drawings dir>/originals/<label>/<id>.png`. With $DIGITNET_DATABASE_URL they are rows of a PostgreSQL
table that every machine shares. `collected_drawings()` gives the one in use; both have the same methods.
"""

from __future__ import annotations

import hashlib
import io
import logging
import secrets
import shutil
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from digitnet.config import drawings_dir
from digitnet.data.mnist import Mnist
from digitnet.errors import DrawingsError
from digitnet.files import TEMP_PREFIX, replaced_whole
from digitnet.reading.classifier import Classifier
from digitnet.state.database import PostgresDatabase, database_url
from digitnet.state.room import Rooms
from digitnet.reading.preprocess import preview_image, scale_pixels

ORIGINAL_SIDE = 720  # the widest canvas, the several-digits strip
MAX_DRAWINGS = 20_000  # about 60 MB with their originals: a room's worth many times over

log = logging.getLogger(__name__)

# One drawing in five (chosen by its id, so the choice never changes) is a test drawing: never trained
# on, it measures how well a retrained network reads people's drawings.
TEST_EVERY = 5


@dataclass(frozen=True)
class Drawings:
    """The collected labelled drawings, one PNG per drawing, split into training and test drawings."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray

    def __len__(self) -> int:
        return len(self.y_train) + len(self.y_test)

    def and_(self, other: "Drawings") -> "Drawings":
        """These drawings and `other`'s together, each keeping its split."""
        return Drawings(*(np.concatenate([getattr(self, part), getattr(other, part)])
                          for part in ("x_train", "y_train", "x_test", "y_test")))


def collected_drawings() -> CollectedDrawings | DrawingTable:
    """Where the collected drawings are kept: the PostgreSQL database at $DIGITNET_DATABASE_URL when it
    is set, else the drawings folder of this machine."""
    url = database_url()
    return DrawingTable(url) if url else CollectedDrawings(drawings_dir())


def keep_room_drawings(rooms: Rooms, code: str, collected: CollectedDrawings | DrawingTable) -> int:
    """Add a room's drawings sent to a prompt (and not hidden) to the collected drawings, labelled by
    the prompt; return how many."""
    _, x, labels = rooms.labelled(code)
    for image, label in zip(x, labels):
        collected.add(image / np.float32(255), int(label))
    return len(labels)


def room_drawings(rooms: Rooms, code: str) -> Drawings:
    """A room's drawings sent to a prompt and not hidden, labelled by the prompt, one in TEST_EVERY (by
    its id) a test drawing."""
    ids, x, y = rooms.labelled(code)
    test = ids % TEST_EVERY == 0
    return Drawings(x[~test], y[~test], x[test], y[test])


@dataclass(frozen=True)
class CollectedDrawings:
    root: Path

    @property
    def digits_dir(self) -> Path:
        return self.root / "digits"

    @property
    def originals_dir(self) -> Path:
        return self.root / "originals"

    def add(self, x: np.ndarray, label: int, original: np.ndarray | Image.Image | None = None) -> Path:
        """Save a 28x28 image in [0, 1] with its label (and what was drawn); return the image's path."""
        label = _checked(label)
        if sum(self.counts()) >= MAX_DRAWINGS:
            raise DrawingsError(_full())
        name = f"{time.time_ns()}-{secrets.token_hex(4)}.png"  # two replicas saving at once: two names
        path = self.digits_dir / str(label) / name
        try:
            _write_png(Image.fromarray(_pixels(x)), path)
            if original is not None:
                _write_png(_as_drawn(original), self.originals_dir / str(label) / name)
        except OSError as exc:
            raise DrawingsError(f"The drawing cannot be saved in {self.root}: {exc.strerror or exc}") from exc
        log.info("Saved a drawing of a %d as %s", label, path)
        return path

    def counts(self) -> list[int]:
        """How many drawings there are of each digit 0..9."""
        return [len(self._files(label)) for label in range(10)]

    def load(self) -> Drawings:
        """All readable drawings, split into training and test drawings; broken files are skipped."""
        parts: dict[bool, tuple[list, list]] = {False: ([], []), True: ([], [])}
        for label in range(10):
            for path in self._files(label):
                image = _read_digit(path)
                if image is None:
                    continue
                images, labels = parts[_is_test(path.name)]
                images.append(image)
                labels.append(label)
        return Drawings(*_arrays(*parts[False]), *_arrays(*parts[True]))

    def export_npz(self) -> bytes:
        """The drawings as an .npz in the MNIST layout (the test drawings as the test set)."""
        return _npz(self.load())

    def delete_all(self) -> None:
        for folder in (self.digits_dir, self.originals_dir):
            shutil.rmtree(folder, ignore_errors=True)
        log.info("Deleted the collected drawings in %s", self.root)

    def _files(self, label: int) -> list[Path]:
        folder = self.digits_dir / str(label)
        return sorted(p for p in folder.glob("*.png") if not p.name.startswith(TEMP_PREFIX))


_TABLE = """
CREATE TABLE IF NOT EXISTS collected (
    id BIGSERIAL PRIMARY KEY,
    label SMALLINT NOT NULL CHECK (label BETWEEN 0 AND 9),
    pixels BYTEA NOT NULL,  -- 28x28 bytes, 0..255, row by row
    original BYTEA,  -- what was drawn, a PNG at most ORIGINAL_SIDE pixels across
    added DOUBLE PRECISION NOT NULL
)"""


class DrawingTable:
    """The collected drawings in the PostgreSQL database at `url`, which the replicas of every machine
    share: CollectedDrawings' methods, one row per drawing. A drawing whose id is a multiple of
    TEST_EVERY is a test drawing. Adding one counts and inserts in one transaction, so the cap holds
    across machines."""

    def __init__(self, url: str):
        self.database = PostgresDatabase(url, lambda connection: connection.execute(_TABLE))

    def add(self, x: np.ndarray, label: int, original: np.ndarray | Image.Image | None = None) -> int:
        """Save a 28x28 image in [0, 1] with its label (and what was drawn); return its id."""
        label = _checked(label)
        drawn = None
        if original is not None:
            buffer = io.BytesIO()
            _as_drawn(original).save(buffer, format="PNG")
            drawn = buffer.getvalue()
        with self._transaction(write=True, doing="saved") as db:
            if db.execute("SELECT count(*) FROM collected").fetchone()[0] >= MAX_DRAWINGS:
                raise DrawingsError(_full())
            drawing = db.execute("INSERT INTO collected (label, pixels, original, added) VALUES (?, ?, ?, ?) "
                                 "RETURNING id", (label, _pixels(x).tobytes(), drawn, time.time())).fetchone()[0]
        log.info("Saved a drawing of a %d as row %d", label, drawing)
        return drawing

    def counts(self) -> list[int]:
        """How many drawings there are of each digit 0..9."""
        with self._transaction(write=False, doing="counted") as db:
            found = dict(db.execute("SELECT label, count(*) FROM collected GROUP BY label").fetchall())
        return [found.get(label, 0) for label in range(10)]

    def load(self) -> Drawings:
        """All drawings, split into training and test drawings."""
        with self._transaction(write=False, doing="read") as db:
            rows = db.execute("SELECT id, label, pixels FROM collected ORDER BY id").fetchall()
        ids = np.array([row[0] for row in rows], np.int64)
        labels = np.array([row[1] for row in rows], np.uint8)
        x = np.array([np.frombuffer(row[2], np.uint8).reshape(28, 28) for row in rows], np.uint8).reshape(-1, 28, 28)
        test = ids % TEST_EVERY == 0
        return Drawings(x[~test], labels[~test], x[test], labels[test])

    def export_npz(self) -> bytes:
        """The drawings as an .npz in the MNIST layout (the test drawings as the test set)."""
        return _npz(self.load())

    def delete_all(self) -> None:
        with self._transaction(write=True, doing="deleted") as db:
            db.execute("DELETE FROM collected")
        log.info("Deleted the collected drawings in the database")

    @contextmanager
    def _transaction(self, write: bool, doing: str) -> Iterator:
        """A transaction; the database's own errors become DrawingsError, in words fit for any visitor."""
        try:
            with self.database.transaction(write) as db:
                yield db
        except self.database.errors as exc:
            raise DrawingsError(f"The drawings cannot be {doing} just now ({self.database.describe(exc)}): "
                                "try again in a moment") from exc


def _full() -> str:
    return f"{MAX_DRAWINGS:,} drawings are kept already: export them and delete them from the sidebar to keep more"


def _checked(label: int) -> int:
    if not 0 <= int(label) <= 9:
        raise ValueError(f"label must be a digit 0..9, got {label}")
    return int(label)


def _pixels(x: np.ndarray) -> np.ndarray:
    """A 28x28 image in [0, 1] as the bytes kept: 0..255."""
    return (np.clip(x, 0, 1) * 255).round().astype(np.uint8)


def _as_drawn(original: np.ndarray | Image.Image) -> Image.Image:
    """What was drawn, at most ORIGINAL_SIDE pixels across: a 6000x6000 photo kept whole was 45 MB a save."""
    picture = original if isinstance(original, Image.Image) else Image.fromarray(original)
    return preview_image(picture, ORIGINAL_SIDE)


def _npz(drawings: Drawings) -> bytes:
    buffer = io.BytesIO()
    np.savez_compressed(buffer, x_train=drawings.x_train, y_train=drawings.y_train,
                        x_test=drawings.x_test, y_test=drawings.y_test)
    return buffer.getvalue()


def with_drawings(data: Mnist, drawings: Drawings, repeats: int, seed: int = 0) -> Mnist:
    """MNIST with the drawings' training part added `repeats` times over, shuffled together.

    Shuffled, because training holds out the *last* images for validation.
    """
    x = np.concatenate([data.x_train, np.repeat(drawings.x_train, repeats, axis=0)])
    y = np.concatenate([data.y_train, np.repeat(drawings.y_train, repeats).astype(data.y_train.dtype)])
    order = np.random.default_rng(seed).permutation(len(x))
    return Mnist(x[order], y[order], data.x_test, data.y_test,
                 source=f"{data.source} + {len(drawings.y_train)} drawings x{repeats}")


def accuracy_on_test_drawings(classifier: Classifier, drawings: Drawings) -> float | None:
    """How many of the test drawings the classifier reads right; None when there are none."""
    if len(drawings.y_test) == 0:
        return None
    return float(np.mean(classifier.predict(scale_pixels(drawings.x_test)) == drawings.y_test))


def _write_png(image: Image.Image, path: Path) -> None:
    with replaced_whole(path) as tmp:
        image.save(tmp, format="PNG")


def _read_digit(path: Path) -> np.ndarray | None:
    try:
        with Image.open(path) as image:
            pixels = np.asarray(image.convert("L"))
    except (OSError, UnidentifiedImageError, ValueError) as exc:
        log.warning("Skipping the broken drawing %s: %s", path, exc)
        return None
    if pixels.shape != (28, 28):
        log.warning("Skipping %s: it is %dx%d, not 28x28", path, *pixels.shape[::-1])
        return None
    return pixels


def _is_test(name: str) -> bool:
    return int(hashlib.sha256(name.encode()).hexdigest(), 16) % TEST_EVERY == 0


def _arrays(images: list, labels: list) -> tuple[np.ndarray, np.ndarray]:
    if not images:
        return np.zeros((0, 28, 28), np.uint8), np.zeros(0, np.uint8)
    return np.stack(images).astype(np.uint8), np.array(labels, dtype=np.uint8)
