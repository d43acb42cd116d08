"""Pen digits whose label does not say what is drawn: the rules on strokes that find some of them, and
the list (data/mislabelled.csv) of those a model neither learns from nor is measured on.

UNIPEN's labels were never fully verified: some of its segments hold two or four digits under one
label ("00", "0000"), a single point, or only the first stroke of a 4. `python -m digitnet audit-labels`
finds candidates with these rules and with confident learning (digitnet/training/audit.py); those a
person finds wrong, looking at them, make the list.
"""

from __future__ import annotations

import csv
import logging
import os
from collections.abc import Iterable, Sequence
from dataclasses import astuple, dataclass, fields
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from digitnet.config import MISLABELLED_FILE
from digitnet.errors import DataError
from digitnet.files import replaced_whole

if TYPE_CHECKING:  # pendigits applies the list when it loads the collections
    from digitnet.data.pendigits import PenDigits, Strokes

log = logging.getLogger(__name__)

# A segment at least this many times wider than tall may hold several digits side by side...
SIDE_BY_SIDE = 1.2
# ...and does when two or more groups of its strokes (strokes whose spans across overlap form one
# group) are each at least this share of its height: a five's separate top bar is not a digit.
DIGIT_HEIGHT = 0.6
# A segment whose strokes each span less than this share of its writer's usual digit height is dots.
DOT = 0.15
# A single stroke that strays less than this share of its length from the line between its ends is
# straight: only a 1 is drawn so, and a 0 or a 4 drawn so is the first stroke of a digit whose rest
# the segment lacks (five writers of one lab in UNIPEN).
STRAIGHT = 0.09


@dataclass(frozen=True)
class Mislabelled:
    """One pen digit whose label does not say what is drawn, and why."""

    collection: str  # the collection's name
    fingerprint: str  # of the file it is in: the list applies to that file only
    number: int  # its place in that file, 0 first
    writer: int
    label: int
    reason: str


def rule_findings(pen: PenDigits) -> list[Mislabelled]:
    """The digits of `pen` that the rules on strokes alone find: several digits side by side under one
    label, dots, or one straight stroke under another label than 1."""
    heights = {int(w): float(np.median([_extent(pen.strokes[i])[1] for i in np.flatnonzero(pen.writers == w)]))
               for w in np.unique(pen.writers)}
    found = []
    for i, strokes in enumerate(pen.strokes):
        width, height = _extent(strokes)
        writer, label = int(pen.writers[i]), int(pen.labels[i])
        if all(max(_extent((stroke,))) < DOT * heights[writer] for stroke in strokes):
            reason = "dots, not a digit"
        elif width >= SIDE_BY_SIDE * height and (count := digits_side_by_side(strokes)) >= 2:
            reason = f"{count} digits side by side under one label"
        elif label != 1 and len(strokes) == 1 and is_straight(strokes[0], heights[writer]):
            reason = "one straight stroke: the rest of its digit is missing"
        else:
            continue
        found.append(Mislabelled(pen.name, pen.fingerprint, int(pen.numbers[i]), writer, label, reason))
    return found


def is_straight(stroke: np.ndarray, digit_height: float) -> bool:
    """Whether the stroke is a line (at least a third of `digit_height` long) that strays less than
    STRAIGHT of its length from the line between its ends."""
    start, end = stroke[0], stroke[-1]
    length = float(np.hypot(*(end - start)))
    if length < digit_height / 3:
        return False
    off = end - start
    strays = np.abs(off[0] * (stroke[:, 1] - start[1]) - off[1] * (stroke[:, 0] - start[0])) / length
    return float(strays.max()) < STRAIGHT * length


def digits_side_by_side(strokes: Strokes) -> int:
    """How many groups of strokes, side by side, are each nearly as tall as all the strokes together."""
    spans = sorted((s[:, 0].min(), s[:, 0].max(), s[:, 1].min(), s[:, 1].max()) for s in strokes)
    groups: list[list[float]] = []
    for left, right, bottom, top in spans:
        if groups and left <= groups[-1][1]:  # overlaps the group before it, across
            group = groups[-1]
            group[1], group[2], group[3] = max(group[1], right), min(group[2], bottom), max(group[3], top)
        else:
            groups.append([left, right, bottom, top])
    height = _extent(strokes)[1]
    return sum(top - bottom >= DIGIT_HEIGHT * height for _, _, bottom, top in groups)


def _extent(strokes: Strokes) -> tuple[float, float]:
    """The width and height of the strokes' ink, in tablet units."""
    points = np.concatenate(strokes)
    return float(np.ptp(points[:, 0])), float(np.ptp(points[:, 1]))


def read_mislabelled(path: str | os.PathLike | None = None) -> list[Mislabelled]:
    """The list at `path` (default: the shipped data/mislabelled.csv); DataError if it cannot be read."""
    path = Path(path or MISLABELLED_FILE)
    try:
        with path.open(newline="") as file:
            rows = list(csv.DictReader(file))
        return [Mislabelled(row["collection"], row["fingerprint"], int(row["number"]), int(row["writer"]),
                            int(row["label"]), row["reason"]) for row in rows]
    except (OSError, KeyError, ValueError, TypeError, csv.Error) as exc:
        raise DataError(f"{path} is not a readable list of mislabelled digits: {exc}") from exc


def write_mislabelled(found: Iterable[Mislabelled], path: str | os.PathLike) -> None:
    """Write the list to `path`, replaced whole, sorted by collection and place in the file."""
    path = Path(path)
    with replaced_whole(path) as tmp, open(tmp, "w", newline="") as file:
        writer = csv.writer(file)
        writer.writerow(field.name for field in fields(Mislabelled))
        writer.writerows(astuple(row) for row in sorted(found, key=lambda row: (row.collection, row.number)))


def without_mislabelled(pens: Sequence[PenDigits], listed: Sequence[Mislabelled]) -> tuple[PenDigits, ...]:
    """Each collection without the digits `listed` for its file (a list made for another file of the
    same name does not apply: its numbers would name other digits)."""
    kept = []
    for pen in pens:
        numbers = {row.number for row in listed if row.fingerprint == pen.fingerprint}
        if any(row.collection == pen.name and row.fingerprint != pen.fingerprint for row in listed):
            log.warning("The list of mislabelled digits was made for another %s file than %s: not applied",
                        pen.name, pen.source)
        kept.append(pen.without(numbers) if numbers else pen)
    return tuple(kept)
