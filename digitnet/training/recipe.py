"""What a model learns from and is measured on: MNIST, and real people's pen digits drawn as on the canvas."""

from __future__ import annotations

import logging
import os
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from digitnet.config import TrainConfig
from digitnet.data.mnist import Mnist
from digitnet.data.pendigits import PenDigits, WriterSplit, split_writers
from digitnet.data.render import PAGE_HAND, Hand, run_workers
from digitnet.state.history import ModelRecord
from digitnet.reading.preprocess import to_mnist

Prepare = Callable[[np.ndarray], np.ndarray]

log = logging.getLogger(__name__)

# The held-out writers stay the same whatever the training seed, so every model is measured on
# people it never saw, and models can be compared.
WRITER_SPLIT_SEED = 0
# Held-out writers are drawn once, the same way for every model.
HELD_OUT_DRAWING_SEED = 12345
# Rendering is split into this many parts whatever the number of cores, so a seed gives the same
# drawings on any machine.
RENDER_PARTS = 4


@dataclass(frozen=True)
class Examples:
    """Images in MNIST's form (uint8 0..255, white on black) with their digits and who wrote them."""

    x: np.ndarray
    y: np.ndarray
    writers: np.ndarray | None = None  # None for MNIST's anonymous writers
    refused: int = 0  # drawings left out because the page would refuse them as not a digit
    numbers: np.ndarray | None = None  # pen digits drawn once each: each one's place in its file

    def __len__(self) -> int:
        return len(self.y)


@dataclass(frozen=True)
class TrainingSets:
    train: Examples
    validation: Examples
    test: Examples  # MNIST's test images
    # Each pen collection's held-out writers, drawn as on the page, by collection name; empty without pen digits.
    held_out: dict[str, Examples]
    splits: dict[str, WriterSplit]  # how each pen collection's writers were split, by collection name

    def sources(self, mnist: Mnist, pens: Sequence[PenDigits], config: TrainConfig) -> list[dict]:
        """Every data source with its fingerprint, and how each pen collection's writers were split. A
        source is named by its file's name alone: the fingerprint identifies it, and a path would only
        say where some machine kept it."""
        records = [{"name": "MNIST", "source": Path(mnist.source).name, "fingerprint": mnist.fingerprint()}]
        for pen in pens:
            split = self.splits.get(pen.name)
            if split is None:
                continue
            records.append({
                "name": pen.name, "source": Path(pen.source).name, "fingerprint": pen.fingerprint,
                "copies_per_digit": config.pen_copies,
                "writers": {"train": list(split.train), "validation": list(split.validation),
                            "test": list(split.test)},
            })
        return records


def training_sets(config: TrainConfig, mnist: Mnist, pens: Sequence[PenDigits] = ()) -> TrainingSets:
    """Split MNIST into training and validation images (its last ones validate, as Keras' validation_split
    does); with pen digits, split each collection's writers three ways: the training writers' digits
    are drawn `pen_copies` times and added, the validation writers' validate too, and the test
    writers' are kept for measuring only."""
    used, n_val = mnist_split(config, len(mnist.x_train))
    upright = mnist.upright()  # the pen digits come upright out of to_mnist
    x, y = upright.x_train[:used], mnist.y_train[:used].astype(np.int32)
    train, validation = Examples(x[:-n_val], y[:-n_val]), Examples(x[-n_val:], y[-n_val:])
    test = Examples(upright.x_test, mnist.y_test.astype(np.int32))
    if not pens or not config.pen_digits:
        return TrainingSets(train, validation, test, {}, {})

    splits = writer_splits(config, pens)
    drawn = draw_many(drawing_requests(config, pens, splits))
    per_pen = config.pen_copies + 2
    held_out = {}
    for n, pen in enumerate(pens):
        *copies, validation_drawn, held_out[pen.name] = drawn[n * per_pen : (n + 1) * per_pen]
        train = _join(train, *copies)
        validation = _join(validation, validation_drawn)
    order = np.random.default_rng(config.seed).permutation(len(train))
    train = Examples(train.x[order], train.y[order], train.writers[order])
    log.info("Training on %d images (%d from MNIST, the rest drawn pen digits by %d writers); validating on %d; "
             "%d writers held out", len(train), len(x) - n_val, sum(len(s.train) for s in splits.values()),
             len(validation), sum(len(s.test) for s in splits.values()))
    return TrainingSets(train, validation, test, held_out, splits)


def writer_splits(config: TrainConfig, pens: Sequence[PenDigits]) -> dict[str, WriterSplit]:
    """How each pen collection's writers are split, by collection name."""
    return {pen.name: split_writers(pen.writers, config.test_writer_share, config.validation_writer_share,
                                    WRITER_SPLIT_SEED) for pen in pens}


def drawing_requests(config: TrainConfig, pens: Sequence[PenDigits],
                     splits: dict[str, WriterSplit]) -> list[tuple[PenDigits, Hand, int]]:
    """What a training draws, collection by collection: `pen_copies` drawings of each training
    writer's digits, then the validation writers' and the test writers' as on the page."""
    requests = []
    for pen in pens:
        split = splits[pen.name]
        requests += [(pen.select(split.train), Hand(), config.seed + copy) for copy in range(config.pen_copies)]
        requests += [_as_on_the_page(pen.select(split.validation)), _as_on_the_page(pen.select(split.test))]
    return requests


def draw_pen_digits(config: TrainConfig, pens: Sequence[PenDigits]) -> None:
    """Draw everything a training with `config` would draw, so that it finds all of it in the cache."""
    draw_many(drawing_requests(config, pens, writer_splits(config, pens)))


def mnist_split(config: TrainConfig, available: int) -> tuple[int, int]:
    """How many of the `available` MNIST training images a training uses, and how many of those validate."""
    used = min(config.train_subset or available, available)
    return used, max(1, int(used * config.validation_split))


def held_out_drawings(pen: PenDigits, writers: tuple[int, ...], prepare: Prepare = to_mnist) -> Examples:
    """These writers' digits, drawn as the page's canvas holds them (its brush, random size and place),
    and read by `prepare`: to_mnist, as the page reads them, unless a baseline is measured."""
    return draw_many([_as_on_the_page(pen.select(writers))], prepare)[0]


def _as_on_the_page(digits: PenDigits) -> tuple[PenDigits, Hand, int]:
    """How digits kept out of training are drawn: the page's own brush, the same way for every model."""
    return digits, PAGE_HAND, HELD_OUT_DRAWING_SEED


def draw(digits: PenDigits, hand: Hand, seed: int, prepare: Prepare = to_mnist) -> Examples:
    """Draw every digit once on the canvas with `hand` and read it with `prepare`, on every core."""
    return draw_many([(digits, hand, seed)], prepare)[0]


def draw_many(requests: list[tuple[PenDigits, Hand, int]], prepare: Prepare = to_mnist) -> list[Examples]:
    """draw() for each (digits, hand, seed), all at once: every core busy until the last drawing.

    The drawing happens in fresh `python -m digitnet.data.render` processes: threads would wait on each
    other (the work is mostly Python), and multiprocessing would run the page's own script again in
    each worker, as it re-imports the main module.
    """
    jobs = []
    for digits, hand, seed in requests:
        jobs += [(_part(digits, i), hand, seed * RENDER_PARTS + i, prepare) for i in range(RENDER_PARTS)]
    with tempfile.TemporaryDirectory(prefix="digitnet-draw-") as folder:
        results = run_workers(jobs, Path(folder), os.cpu_count() or 1)
    return [_gathered(digits, results[n * RENDER_PARTS : (n + 1) * RENDER_PARTS])
            for n, (digits, _, _) in enumerate(requests)]


def _part(digits: PenDigits, i: int) -> PenDigits:
    """Digits i, i + RENDER_PARTS, i + 2 * RENDER_PARTS, ..."""
    return digits.subset(slice(i, None, RENDER_PARTS))


def _gathered(digits: PenDigits, results: list[tuple[np.ndarray, np.ndarray]]) -> Examples:
    """The parts' drawings back in the digits' own order, without those `prepare` refused: the page
    would have answered those with a message, not a digit."""
    images = np.concatenate([images for images, _ in results])
    read = np.concatenate([read for _, read in results])
    order = np.argsort(np.concatenate([np.arange(len(digits))[i::RENDER_PARTS] for i in range(RENDER_PARTS)]))
    images, read = images[order], read[order]
    if not read.all():
        log.info("%d of %d drawings were refused as not a digit and left out", np.count_nonzero(~read), len(read))
    return Examples(images[read], digits.labels[read].astype(np.int32), digits.writers[read].astype(np.int32),
                    refused=int(np.count_nonzero(~read)), numbers=digits.numbers[read])


def _join(*parts: Examples) -> Examples:
    """One set of all the parts; MNIST's anonymous writers are numbered 0."""
    writers = [p.writers if p.writers is not None else np.zeros(len(p), dtype=np.int32) for p in parts]
    return Examples(np.concatenate([p.x for p in parts]), np.concatenate([p.y for p in parts]),
                    np.concatenate(writers))


def unseen_writers(pen: PenDigits, record: ModelRecord | None) -> tuple[int, ...]:
    """The writers of `pen` that the model of `record` never trained on: its recorded test writers if
    it trained on these pen digits, else all of them."""
    for source in record.sources if record else ():
        if source.get("writers") and source.get("fingerprint") == pen.fingerprint:
            return tuple(source["writers"]["test"])
    return tuple(sorted({int(w) for w in pen.writers}))
