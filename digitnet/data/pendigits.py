"""Digits written with a pen by real people: reading pen-digit files in the UNIPEN format (UCI's pen
digits, UNIPEN's own digits) and splitting them by writer."""

from __future__ import annotations

import gzip
import hashlib
import logging
import os
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from digitnet.config import PENDIGITS_FILE, UNIPEN_FILE
from digitnet.data.labels import read_mislabelled, without_mislabelled
from digitnet.errors import DataError

log = logging.getLogger(__name__)

PENDIGITS_ENV = "DIGITNET_PENDIGITS"
UNIPEN_ENV = "DIGITNET_UNIPEN"
# The two collections' names, as history.json and the reports call them.
PENDIGITS_NAME = "UCI pen digits"
UNIPEN_NAME = "UNIPEN"

Stroke = np.ndarray  # (n, 2) float32 points x, y in tablet units; the tablet's y axis points up
Strokes = tuple[Stroke, ...]

_LABEL = re.compile(r'^\.SEGMENT\s+DIGIT\s+\S+\s+\S+\s+"(\d)"\s*$')
_COMMENT = re.compile(r"^\.COMMENT\s+(\d)\s+(\d+)\s+(\d+)\s*$")
_POINT = re.compile(r"^\s*(-?\d+)\s+(-?\d+)\s*$")


@dataclass(frozen=True)
class PenDigits:
    """Pen-written digits: each one's strokes, its label and the number of the person who wrote it."""

    strokes: tuple[Strokes, ...]
    labels: np.ndarray  # (n,) int digits 0..9
    writers: np.ndarray  # (n,) int writer numbers, each collection numbering its own from 1
    numbers: np.ndarray  # (n,) int each digit's place in its file, 0 first: what names it in data/mislabelled.csv
    source: str
    fingerprint: str  # sha256 of the file's text, shortened
    name: str = PENDIGITS_NAME  # which collection they come from

    def __len__(self) -> int:
        return len(self.labels)

    def select(self, writers: set[int] | list[int]) -> "PenDigits":
        """Only the digits of the given writers."""
        return self.subset(np.flatnonzero(np.isin(self.writers, list(writers))))

    def without(self, numbers: set[int] | list[int]) -> "PenDigits":
        """All but the digits whose place in the file is one of `numbers`."""
        return self.subset(np.flatnonzero(~np.isin(self.numbers, list(numbers))))

    def subset(self, keep: np.ndarray | slice) -> "PenDigits":
        """Only the digits at these positions of this collection."""
        positions = np.arange(len(self))[keep]
        return PenDigits(
            tuple(self.strokes[i] for i in positions), self.labels[positions], self.writers[positions],
            self.numbers[positions], self.source, self.fingerprint, self.name,
        )


def load_pendigits(path: str | os.PathLike | None = None) -> PenDigits:
    """UCI's pen digits by 30 writers: `path`, else $DIGITNET_PENDIGITS, else the copy shipped in the project."""
    return read_pen_file(Path(path or os.environ.get(PENDIGITS_ENV) or PENDIGITS_FILE), PENDIGITS_NAME)


def load_unipen(path: str | os.PathLike | None = None) -> PenDigits:
    """UNIPEN's digits by 202 writers: `path`, else $DIGITNET_UNIPEN, else the copy shipped in the project."""
    return read_pen_file(Path(path or os.environ.get(UNIPEN_ENV) or UNIPEN_FILE), UNIPEN_NAME)


def load_pen_collections(pendigits: str | os.PathLike | None = None, unipen: str | os.PathLike | None = None,
                         whole: bool = False) -> tuple[PenDigits, ...]:
    """Every collection of real people's pen digits a model learns from and is measured on, without
    the digits data/mislabelled.csv lists (`whole`: with them, to audit the labels again)."""
    pens = load_pendigits(pendigits), load_unipen(unipen)
    return pens if whole else without_mislabelled(pens, read_mislabelled())


def read_pen_file(path: Path, name: str) -> PenDigits:
    """Read a pen-digit file in the UNIPEN text format, plain or .gz, as the collection `name`."""
    if not path.is_file():
        raise DataError(f"Pen-digit file not found: {path}")
    try:
        raw = gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_bytes()
        text = raw.decode("ascii")
    except (OSError, EOFError, gzip.BadGzipFile, UnicodeDecodeError) as exc:
        raise DataError(f"{path} is not a readable pen-digit file: {exc}") from exc
    digits = parse_pendigits(text, str(path), name)
    log.info("Loaded %d pen digits by %d writers from %s", len(digits), len(set(digits.writers)), path)
    return digits


def parse_pendigits(text: str, source: str = "<text>", name: str = PENDIGITS_NAME) -> PenDigits:
    """Parse UNIPEN text: .SEGMENT DIGIT ... "label", .COMMENT label writer sample, .PEN_DOWN points .PEN_UP."""
    strokes: list[Strokes] = []
    labels: list[int] = []
    writers: list[int] = []
    digit: list[Stroke] | None = None
    points: list[tuple[int, int]] | None = None
    label = writer = None

    def fail(number: int, message: str) -> DataError:
        return DataError(f"{source}, line {number}: {message}")

    def finish_digit(number: int) -> None:
        if digit is None:
            return
        if writer is None:
            raise fail(number, f"the digit labelled {label} has no .COMMENT line naming its writer")
        if not digit:
            raise fail(number, f"the digit labelled {label} has no strokes")
        strokes.append(tuple(digit))
        labels.append(label)
        writers.append(writer)

    lines = text.splitlines()
    for number, line in enumerate(lines, start=1):
        if not line.strip() or line.startswith((".INCLUDE", ".LEXICON", ".HIERARCHY", ".DT")):
            continue
        if points is not None:
            if line.startswith(".PEN_UP"):
                if not points:
                    raise fail(number, "a stroke with no points")
                digit.append(np.array(points, dtype=np.float32))
                points = None
                continue
            match = _POINT.match(line)
            if not match:
                raise fail(number, f"expected a point 'x y' or .PEN_UP inside a stroke, got {line.strip()!r}")
            points.append((int(match[1]), int(match[2])))
            continue
        if line.startswith(".SEGMENT"):
            finish_digit(number)
            match = _LABEL.match(line)
            if not match:
                raise fail(number, f'expected .SEGMENT DIGIT <n> ? "<digit>", got {line.strip()!r}')
            digit, label, writer = [], int(match[1]), None
        elif line.startswith(".COMMENT"):
            match = _COMMENT.match(line)
            if digit is None or not match:
                raise fail(number, f"expected .COMMENT <label> <writer> <sample> after a .SEGMENT, got {line.strip()!r}")
            writer = int(match[2])
        elif line.startswith(".PEN_DOWN"):
            if digit is None:
                raise fail(number, ".PEN_DOWN before any .SEGMENT")
            points = []
        else:
            raise fail(number, f"unexpected line {line.strip()!r}")
    if points is not None:
        raise fail(len(lines), "the file ends inside a stroke (no .PEN_UP): it is truncated")
    finish_digit(len(lines))
    if not labels:
        raise DataError(f"{source} holds no digits: is it a UNIPEN pen-digit file?")
    fingerprint = hashlib.sha256(text.encode("ascii")).hexdigest()[:16]
    return PenDigits(tuple(strokes), np.array(labels), np.array(writers), np.arange(len(labels)), source,
                     fingerprint, name)


@dataclass(frozen=True)
class WriterSplit:
    """Which writers a model trains on, which tune it (validation) and which only measure it (test)."""

    train: tuple[int, ...]
    validation: tuple[int, ...]
    test: tuple[int, ...]


def split_writers(writers: np.ndarray, test_share: float, validation_share: float, seed: int = 0) -> WriterSplit:
    """Split whole writers, never single digits: shuffled by `seed`, the first `test_share` of them
    (at least one) are held out for testing, the next `validation_share` (at least one) for
    validation, the rest train."""
    order = [int(w) for w in np.random.default_rng(seed).permutation(np.unique(writers))]
    n_test = max(1, round(test_share * len(order)))
    n_validation = max(1, round(validation_share * len(order)))
    if n_test + n_validation >= len(order):
        raise DataError(f"Cannot hold out {n_test} + {n_validation} of {len(order)} writers and train on any")
    test, validation = order[:n_test], order[n_test : n_test + n_validation]
    train = order[n_test + n_validation :]
    return WriterSplit(tuple(sorted(train)), tuple(sorted(validation)), tuple(sorted(test)))
