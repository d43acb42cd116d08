"""Splitting a drawing of several digits into one per digit, left to right."""

import numpy as np
import pytest
from PIL import Image, ImageDraw

from conftest import as_canvas
from digitnet import BlankImageError, to_mnist
from digitnet.segment import split_digits


def number_drawing(kinds: str, width: int = 560, height: int = 200) -> np.ndarray:
    """White strokes on black: "1" a bar, "0" a ring, "7" a bar and a diagonal, "5" in two strokes."""
    image = Image.new("L", (width, height), 0)
    draw = ImageDraw.Draw(image)
    step = width // len(kinds)
    for i, kind in enumerate(kinds):
        left, right, top, bottom = i * step + 25, (i + 1) * step - 25, 30, height - 30
        if kind == "1":
            draw.line([((left + right) // 2, top), ((left + right) // 2, bottom)], fill=255, width=14)
        elif kind == "0":
            draw.ellipse((left, top, right, bottom), outline=255, width=14)
        elif kind == "7":
            draw.line([(left, top), (right, top), (left + 10, bottom)], fill=255, width=14)
        elif kind == "5":  # the body, then a separate top bar that does not touch it
            draw.arc((left, (top + bottom) // 2 - 20, right, bottom), 200, 160, fill=255, width=14)
            draw.line([(left + 15, top), (right, top)], fill=255, width=14)
    return as_canvas(np.asarray(image))


def centre_column(ink: np.ndarray) -> float:
    cols = np.flatnonzero(ink.max(axis=0) > 0)
    return (cols[0] + cols[-1]) / 2


def test_splits_left_to_right():
    pieces = split_digits(number_drawing("1071"))
    assert len(pieces) == 4
    centres = [centre_column(p) for p in pieces]
    assert centres == sorted(centres)
    assert all(to_mnist(p).shape == (28, 28) for p in pieces)


def test_a_digit_drawn_in_two_strokes_stays_one():
    assert len(split_digits(number_drawing("51"))) == 2


def test_pieces_do_not_share_ink():
    pieces = split_digits(number_drawing("707"))
    overlap = sum((p > 0).astype(int) for p in pieces)
    assert overlap.max() == 1


def test_blank_has_no_digits():
    with pytest.raises(BlankImageError):
        split_digits(as_canvas(np.zeros((200, 560), np.uint8)))
