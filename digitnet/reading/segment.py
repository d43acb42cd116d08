"""Splitting a drawing of several digits ("2026") into one image per digit, left to right."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image

from digitnet.errors import BlankImageError
from digitnet.reading.preprocess import ink_map

# Connected parts are found on a grid this many times coarser than the image: fast, and it joins
# strokes of one digit that almost touch.
GRID = 4
# Parts whose columns overlap by more than this fraction of the narrower one belong to one digit
# (the bar and the body of a 5 drawn in two strokes).
SAME_DIGIT_OVERLAP = 0.5
# Parts smaller than this fraction of the largest one are specks, not digits.
MIN_PART = 0.05
# A handwritten digit is rarely wider than this fraction of its height: a part wider than that is
# several digits that touch, and is cut where the ink is thinnest.
DIGIT_WIDTH = 0.8
# A cut that goes through more ink than this many grid cells, in its column, cut through a stroke
# rather than a join: the split is a guess.
CLEAN_CUT = 2


@dataclass(frozen=True)
class Split:
    """One ink map per digit, left to right, each ready for to_mnist, and whether some were cut apart
    through their strokes (touching digits, where the split is a guess)."""

    digits: list[np.ndarray]
    guessed: bool


def split_digits(image: np.ndarray | Image.Image) -> Split:
    """Split a drawing of several digits, left to right; raise BlankImageError when there is no ink."""
    ink = ink_map(image)
    parts = _connected_parts(_coarse_mask(ink))
    largest = max((part.sum() for part in parts), default=0)
    digits, guessed = [], False
    for group in _group_by_columns([part for part in parts if part.sum() >= MIN_PART * largest]):
        pieces, cut_through_ink = _split_wide(group)
        digits += pieces
        guessed |= cut_through_ink
    if not digits:
        raise BlankImageError("There is no digit in the image")
    height, width = ink.shape
    masks = [np.kron(mask, np.ones((GRID, GRID), dtype=bool))[:height, :width] for mask in digits]
    return Split([ink * mask for mask in masks], guessed)


def _split_wide(group: np.ndarray) -> tuple[list[np.ndarray], bool]:
    """Cut a part wider than one digit into as many digits as its width holds, each cut at the
    column with the least ink near where it would fall; say whether a cut went through a stroke."""
    rows = np.flatnonzero(group.any(axis=1))
    left, right = _columns(group)
    width, height = right - left, rows[-1] - rows[0] + 1
    count = int(round(width / (DIGIT_WIDTH * height)))
    if count <= 1:
        return [group], False
    ink_per_column = group[:, left:right].sum(axis=0)
    cuts, guessed = [left], False
    for k in range(1, count):
        centre = k * width / count
        window = np.arange(int(centre - width / (4 * count)), int(centre + width / (4 * count)) + 1)
        cut = int(window[np.argmin(ink_per_column[window])])
        guessed |= bool(ink_per_column[cut] > CLEAN_CUT)
        cuts.append(left + cut)
    cuts.append(right)
    pieces = []
    for start, end in zip(cuts, cuts[1:]):
        piece = np.zeros_like(group)
        piece[:, start:end] = group[:, start:end]
        if piece.any():
            pieces.append(piece)
    return pieces, guessed


def _coarse_mask(ink: np.ndarray) -> np.ndarray:
    height, width = ink.shape
    rows, cols = -(-height // GRID), -(-width // GRID)
    padded = np.pad(ink, ((0, rows * GRID - height), (0, cols * GRID - width)))
    return padded.reshape(rows, GRID, cols, GRID).max(axis=(1, 3)) > 0.3


def _connected_parts(mask: np.ndarray) -> list[np.ndarray]:
    """The 8-connected parts of a boolean mask, each as a mask of its own."""
    labels = np.zeros(mask.shape, dtype=np.int32)
    parts = []
    for start in zip(*np.nonzero(mask)):
        if labels[start]:
            continue
        label = len(parts) + 1
        labels[start] = label
        stack = [start]
        while stack:
            row, col = stack.pop()
            for r in range(max(row - 1, 0), min(row + 2, mask.shape[0])):
                for c in range(max(col - 1, 0), min(col + 2, mask.shape[1])):
                    if mask[r, c] and not labels[r, c]:
                        labels[r, c] = label
                        stack.append((r, c))
        parts.append(labels == label)
    return parts


def _columns(mask: np.ndarray) -> tuple[int, int]:
    cols = np.flatnonzero(mask.any(axis=0))
    return cols[0], cols[-1] + 1


def _group_by_columns(parts: list[np.ndarray]) -> list[np.ndarray]:
    """Join parts whose columns overlap a lot (one digit drawn in several strokes), left to right."""
    digits: list[np.ndarray] = []
    for part in sorted(parts, key=lambda p: _columns(p)[0]):
        if digits and _column_overlap(_columns(digits[-1]), _columns(part)) > SAME_DIGIT_OVERLAP:
            digits[-1] = digits[-1] | part
        else:
            digits.append(part)
    return digits


def _column_overlap(a: tuple[int, int], b: tuple[int, int]) -> float:
    """How much two column ranges overlap, as a fraction of the narrower one."""
    overlap = min(a[1], b[1]) - max(a[0], b[0])
    return max(overlap, 0) / min(a[1] - a[0], b[1] - b[0])
