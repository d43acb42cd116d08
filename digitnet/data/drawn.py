"""A test set of MNIST digits "drawn like a person": any size, anywhere, any stroke, three input forms."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageFilter

FORMS = ("canvas", "layer", "upload")
CANVAS_SIZE = 280


@dataclass(frozen=True)
class Drawing:
    image: np.ndarray
    label: int
    form: str


def make_drawn_set(x: np.ndarray, y: np.ndarray, n: int, seed: int = 0) -> list[Drawing]:
    """Turn the first n MNIST digits into drawings, cycling through the three input forms."""
    rng = np.random.default_rng(seed)
    return [
        Drawing(draw_like_a_person(x[i], FORMS[i % len(FORMS)], rng), int(y[i]), FORMS[i % len(FORMS)])
        for i in range(n)
    ]


def draw_like_a_person(digit: np.ndarray, form: str, rng: np.random.Generator) -> np.ndarray:
    """Enlarge a 28x28 MNIST digit to a random size and stroke, place it at random, render it as `form`."""
    height, width = (CANVAS_SIZE, CANVAS_SIZE) if form != "upload" else rng.integers(200, 600, size=2)
    ink = _place(_enlarge(_redraw_strokes(digit, rng), rng, min(height, width)), height, width, rng)
    if form == "canvas":
        return _render_canvas(ink, rng)
    if form == "layer":
        return _render_layer(ink, rng)
    return _render_paper_photo(ink, rng)


def squash_to_28(image: np.ndarray) -> np.ndarray:
    """The naive baseline: the whole image as greyscale, squashed to 28x28, scaled to [0, 1]."""
    grey = Image.fromarray(image).convert("L").resize((28, 28), Image.Resampling.BILINEAR)
    return np.asarray(grey, dtype=np.float32) / 255.0


def _redraw_strokes(digit: np.ndarray, rng: np.random.Generator) -> Image.Image:
    """Enlarge the digit 4x as a crisp pen stroke and thicken or thin it, as a different pen would."""
    # MNIST's grey edges come from shrinking black-and-white scans: thresholding the enlarged
    # digit gets a crisp stroke back, like one drawn on a canvas.
    image = Image.fromarray(digit).resize((112, 112), Image.Resampling.BICUBIC).point(lambda v: 255 * (v > 127))
    # Each step changes the width by 2 of these 112 pixels: from -1 to +2 px at MNIST's scale.
    steps = int(rng.integers(-2, 5))
    pen = ImageFilter.MaxFilter(3) if steps > 0 else ImageFilter.MinFilter(3)
    for _ in range(abs(steps)):
        image = image.filter(pen)
    return image


def _enlarge(image: Image.Image, rng: np.random.Generator, side: int) -> Image.Image:
    # MNIST digits fill 20 of their 28 pixels: scale so the digit itself is 25%..85% of the image.
    digit_px = rng.uniform(0.25, 0.85) * side
    size = max(28, round(28 * digit_px / 20))
    return image.resize((size, size), Image.Resampling.BILINEAR, reducing_gap=2.0)


def _place(image: Image.Image, height: int, width: int, rng: np.random.Generator) -> np.ndarray:
    """Paste the digit at a random position that keeps all of its ink on the image."""
    ink = np.asarray(image, dtype=np.float32) / 255.0
    rows = np.flatnonzero(ink.max(axis=1) > 0.05)
    cols = np.flatnonzero(ink.max(axis=0) > 0.05)
    ink = ink[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]
    ink = ink[: height - 2, : width - 2]
    top = rng.integers(1, height - ink.shape[0])
    left = rng.integers(1, width - ink.shape[1])
    field = np.zeros((height, width), dtype=np.float32)
    field[top : top + ink.shape[0], left : left + ink.shape[1]] = ink
    return field


def _render_canvas(ink: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Opaque RGBA: light ink on a dark background of a random colour, like the app's canvas."""
    background = rng.uniform(0, 80, size=3).astype(np.float32)
    colour = rng.uniform(180, 255, size=3).astype(np.float32)
    rgb = background + ink[..., None] * (colour - background)
    alpha = np.full(ink.shape + (1,), 255, dtype=np.float32)
    return (np.concatenate([rgb, alpha], axis=-1) + 0.5).astype(np.uint8)


def _render_layer(ink: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """RGBA with a transparent background: the ink's colour, opaque where there is ink."""
    colour = rng.uniform(0, 255, size=3)
    rgb = np.broadcast_to(colour.astype(np.float32), ink.shape + (3,))
    return (np.concatenate([rgb, 255 * ink[..., None]], axis=-1) + 0.5).astype(np.uint8)


def _render_paper_photo(ink: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """RGB dark ink on light paper, lit unevenly, with sensor noise."""
    height, width = ink.shape
    side = max(height, width)
    rows = np.arange(height, dtype=np.float32)[:, None] / side - 0.5
    cols = np.arange(width, dtype=np.float32)[None, :] / side - 0.5
    light = 235 + np.float32(rng.uniform(-40, 40)) * rows + np.float32(rng.uniform(-40, 40)) * cols
    paper = light[..., None] * rng.uniform(0.92, 1.0, size=3).astype(np.float32)
    colour = rng.uniform(10, 70, size=3).astype(np.float32)
    noise = 4 * rng.standard_normal(paper.shape, dtype=np.float32)
    rgb = paper + ink[..., None] * (colour - paper) + noise
    return np.clip(rgb, 0, 255).astype(np.uint8)
