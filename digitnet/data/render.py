"""Drawing pen strokes the way the page's canvas draws a finger or a mouse: round white brush on black."""

from __future__ import annotations

import dataclasses
import hashlib
import pickle
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from digitnet.config import PACKAGE_DIR, cache_dir, child_environment, die_with_parent
from digitnet.data.pendigits import PenDigits, Strokes
from digitnet.errors import BlankImageError
from digitnet.files import read_cached, replaced_whole
from digitnet.reading.preprocess import to_mnist

# The page's drawing canvas: 280x280 pixels, a 20 px white brush on black.
CANVAS_SIDE = 280
BRUSH_PX = 20
# Drawn at this many times the canvas' resolution, then averaged down: anti-aliased edges, as a
# browser's canvas draws them.
SUPERSAMPLE = 2
# Points along each curve between two pen samples: the tablet sampled every 100 ms, a browser
# every few milliseconds.
CURVE_STEPS = 4


@dataclass(frozen=True)
class Hand:
    """How a person draws on the canvas: the range of sizes, brush widths and tremor to pick from."""

    min_height: float = 0.35  # the digit's height as a fraction of the canvas
    max_height: float = 0.9
    min_brush: float = 14.0  # brush widths, in canvas pixels
    max_brush: float = 26.0
    tremor_px: float = 1.5  # standard deviation of the hand's wobble, in canvas pixels
    max_slant: float = 0.25  # horizontal shear, as a fraction of the height
    max_rotation_deg: float = 8.0
    max_stretch: float = 0.15  # widen or narrow by up to this fraction


PAGE_HAND = Hand(min_brush=BRUSH_PX, max_brush=BRUSH_PX, tremor_px=0.0, max_slant=0.0,
                 max_rotation_deg=0.0, max_stretch=0.0)
"""The page as it is: its own brush, random size and place, the writer's own shapes untouched."""


def render_canvas(strokes: Strokes, rng: np.random.Generator, hand: Hand = PAGE_HAND,
                  side: int = CANVAS_SIDE) -> np.ndarray:
    """Draw pen strokes as the page's canvas would hold them: an opaque (side, side, 4) uint8 RGBA array,
    white ink on black, at a random size and place, brush width and tremor chosen from `hand`."""
    points = [_smooth(_flip_y(s)) for s in strokes]
    points = _reshape(points, rng, hand)
    brush = rng.uniform(hand.min_brush, hand.max_brush)
    points = _place(points, rng, hand, side, brush)
    if hand.tremor_px:
        points = [p + _wobble(len(p), rng, hand.tremor_px) for p in points]
    return _opaque_rgba(_draw(points, brush, side))


def _opaque_rgba(ink: np.ndarray) -> np.ndarray:
    """Grey ink as opaque RGBA: each pixel's four bytes made as one little-endian 32-bit number
    (R, G and B the ink, A 255), a quarter of the time of filling the channels one by one."""
    pixels = ink.astype(np.uint32) * np.uint32(0x010101) | np.uint32(0xFF000000)
    return pixels.astype("<u4", copy=False).view(np.uint8).reshape(*ink.shape, 4)


def _flip_y(stroke: np.ndarray) -> np.ndarray:
    """Tablet y points up, a screen's y points down."""
    return stroke * np.array([1.0, -1.0], dtype=np.float32)


def _smooth(stroke: np.ndarray) -> np.ndarray:
    """The curve a canvas pencil draws through the points: quadratic pieces from midpoint to midpoint,
    each bent towards the sample between them (as fabric.js' PencilBrush does)."""
    if len(stroke) < 3:
        return stroke
    mids = (stroke[:-1] + stroke[1:]) / 2
    t = np.linspace(0.0, 1.0, CURVE_STEPS, endpoint=False, dtype=np.float32)[:, None, None]
    start, control, end = mids[:-1], stroke[1:-1], mids[1:]
    curves = (1 - t) ** 2 * start + 2 * (1 - t) * t * control + t**2 * end  # (steps, pieces, 2)
    middle = curves.transpose(1, 0, 2).reshape(-1, 2)
    return np.concatenate([stroke[:1], middle, mids[-1:], stroke[-1:]])


def _reshape(strokes: list[np.ndarray], rng: np.random.Generator, hand: Hand) -> list[np.ndarray]:
    """Slant, rotate and stretch the digit a little, as another hand might write it."""
    angle = np.deg2rad(rng.uniform(-hand.max_rotation_deg, hand.max_rotation_deg))
    slant = rng.uniform(-hand.max_slant, hand.max_slant)
    stretch = 1 + rng.uniform(-hand.max_stretch, hand.max_stretch)
    cos, sin = np.cos(angle), np.sin(angle)
    # Row vectors: x' = x @ matrix; shear x by y, widen x, then rotate.
    matrix = np.array([[stretch, 0.0], [slant, 1.0]]) @ np.array([[cos, sin], [-sin, cos]])
    return [(s @ matrix).astype(np.float32) for s in strokes]


def _place(strokes: list[np.ndarray], rng: np.random.Generator, hand: Hand, side: int,
           brush: float) -> list[np.ndarray]:
    """Scale the digit to a random height and move it to a random place where all of its ink fits."""
    every = np.concatenate(strokes)
    low, high = every.min(axis=0), every.max(axis=0)
    extent = np.maximum(high - low, 1e-3)
    room = side - brush - 2  # the brush's ink reaches half its width beyond the points
    scale = min(rng.uniform(hand.min_height, hand.max_height) * side / extent[1], room / extent.max())
    size = extent * scale
    offset = brush / 2 + 1 + rng.uniform(0, 1, size=2) * (room - size)
    return [(s - low) * scale + offset for s in strokes]


def _wobble(n: int, rng: np.random.Generator, sigma: float) -> np.ndarray:
    """A slow random drift: white noise smoothed over a few points, so the line wavers, not jitters."""
    noise = rng.standard_normal((n + 8, 2))
    kernel = np.ones(9) / 3.0  # sum of 9 unit normals / 3 has a standard deviation of 1
    drift = np.stack([np.convolve(noise[:, i], kernel, mode="valid") for i in range(2)], axis=1)
    return (sigma * drift[:n]).astype(np.float32)


def _draw(strokes: list[np.ndarray], brush: float, side: int) -> np.ndarray:
    """Round caps and joins: a line of the brush's width through the points and a disc at every point."""
    image = Image.new("L", (side * SUPERSAMPLE, side * SUPERSAMPLE), 0)
    draw = ImageDraw.Draw(image)
    width = brush * SUPERSAMPLE
    radius = width / 2
    for stroke in strokes:
        points = stroke.astype(np.float64) * SUPERSAMPLE
        # PIL's own round joins cost ten times more than drawing the discs.
        if len(points) > 1:
            draw.line(points.ravel().tolist(), fill=255, width=round(width))
        for box in np.concatenate([points - radius, points + radius], axis=1).tolist():
            draw.ellipse(box, fill=255)
    return np.asarray(image.reduce(SUPERSAMPLE))


def drawn_inputs(digits: PenDigits, hand: Hand = PAGE_HAND, seed: int = 0,
                 prepare: Callable[[np.ndarray], np.ndarray] = to_mnist) -> tuple[np.ndarray, np.ndarray]:
    """Each pen digit drawn on the canvas and read by `prepare` (to_mnist, as the page reads a drawing).

    Returns (n, 28, 28) uint8 pixels 0..255, like MNIST's, and which digits were read: a drawing
    that `prepare` refuses (a small 0 drawn with a wide brush can look like a blob) stays black.
    """
    rng = np.random.default_rng(seed)
    inputs = np.zeros((len(digits), 28, 28), dtype=np.uint8)
    read = np.ones(len(digits), dtype=bool)
    for i, strokes in enumerate(digits.strokes):
        try:
            inputs[i] = np.rint(prepare(render_canvas(strokes, rng, hand)) * 255)
        except BlankImageError:
            read[i] = False
    return inputs, read


def run_workers(jobs: list[tuple], folder: Path, processes: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """Run drawn_inputs(*job) for each job in `processes` worker processes, each taking its share of
    the jobs in turn; return the results in the jobs' order.

    A job done before, by the same drawing code, is read from the cache folder instead: the same
    job always draws the same digits, and drawing them is half of a retrain's time.
    """
    code = _drawing_code()
    results: list[tuple[np.ndarray, np.ndarray] | None] = []
    results_paths, pending = [], []
    for number, job in enumerate(jobs):
        cached = cache_dir() / f"{_cache_key(job, code)}.npz"
        results_paths.append(cached)
        results.append(read_cached(cached, _load_result))
        if results[-1] is None:
            path = folder / f"job-{number}.pickle"
            path.write_bytes(pickle.dumps(job))  # our own objects, read back by our own worker
            pending += [str(path), str(cached)]
    env = child_environment()
    workers = []
    for i in range(min(processes, len(pending) // 2)):
        share = [arg for pair in zip(pending[2 * i :: 2 * processes], pending[2 * i + 1 :: 2 * processes])
                 for arg in pair]
        log_path = folder / f"worker-{i}.log"
        with log_path.open("wb") as log_file:
            workers.append((subprocess.Popen([sys.executable, "-m", "digitnet.data.render", *share], env=env,
                                             stdout=log_file, stderr=subprocess.STDOUT,
                                             preexec_fn=die_with_parent), log_path))
    for worker, log_path in workers:
        _finish(worker, log_path)
    return [result if result is not None else _load_result(path) for result, path in zip(results, results_paths)]


def _cache_key(job: tuple, code: bytes) -> str:
    """What names a job's result in the cache: everything that decides its drawings (the digits' strokes
    and labels, the hand, the seed, how they are read) and the code that draws them, but not the path
    their file was read from: another checkout of the project, or a moved one, finds them drawn."""
    digits, *how = job
    return hashlib.sha256(pickle.dumps((dataclasses.replace(digits, source=""), *how)) + code).hexdigest()[:32]


def _drawing_code() -> bytes:
    """The code that draws a job: a change to it makes every job a new one."""
    return b"".join((PACKAGE_DIR / module).read_bytes() for module in ("data/render.py", "reading/preprocess.py"))


def _load_result(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """A job's inputs and read flags, from the file its worker wrote."""
    with np.load(path) as result:
        return result["inputs"], result["read"]


def _finish(worker: subprocess.Popen, log_path: Path) -> None:
    if worker.wait() != 0:
        output = log_path.read_text(errors="replace").strip()
        raise RuntimeError(f"A drawing worker failed (exit code {worker.returncode}): {output[-2000:]}")


def _work(job: Path, result: Path) -> None:
    """In a worker: read a job, draw it, write the inputs and read flags to `result`, whole."""
    inputs, read = drawn_inputs(*pickle.loads(job.read_bytes()))
    with replaced_whole(result) as tmp:
        np.savez_compressed(tmp, inputs=inputs, read=read)


if __name__ == "__main__":
    # Arguments come in pairs: a job file, and where its result goes.
    for job, result in zip(sys.argv[1::2], sys.argv[2::2]):
        _work(Path(job), Path(result))
