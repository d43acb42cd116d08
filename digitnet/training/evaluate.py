"""Measuring a classifier: test accuracy, per-digit accuracy, confusion matrix, drawn-set accuracy."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING

import numpy as np

from digitnet.errors import DigitnetError
from digitnet.reading.classifier import Classifier
from digitnet.state.history import HeldOutScore

if TYPE_CHECKING:  # types only: scoring needs neither the data's loaders nor the drawing code
    from digitnet.data.drawn import Drawing
    from digitnet.data.mnist import Mnist
    from digitnet.training.recipe import Examples


# An answer given with at least this probability is "very sure" (the page says "not sure" below
# prediction.CONFIDENT); a very sure misread is the worst kind.
VERY_SURE = 0.9
CALIBRATION_BINS = 10


@dataclass(frozen=True)
class Evaluation:
    """How a classifier read a set of labelled images: its answers, how sure it was, what it got wrong."""

    labels: np.ndarray
    probabilities: np.ndarray  # (n, 10)
    writers: np.ndarray | None = None  # who wrote each image, when known
    refused: int = 0  # drawings never read because the page refuses them as not a digit: wrong answers

    # Cached: the page reads these for every gallery caption on every run, over 10,000 images.
    @cached_property
    def predicted(self) -> np.ndarray:
        return self.probabilities.argmax(axis=1)

    @property
    def accuracy(self) -> float:
        return float(np.sum(self.predicted == self.labels) / (len(self.labels) + self.refused))

    @cached_property
    def confusion(self) -> np.ndarray:
        """confusion[true, predicted] = count"""
        return confusion_matrix(self.labels, self.predicted)

    @property
    def per_digit(self) -> np.ndarray:
        """Accuracy on each digit 0..9."""
        confusion = self.confusion
        return confusion.diagonal() / np.maximum(confusion.sum(axis=1), 1)

    def per_writer(self) -> dict[int, float]:
        """Accuracy on each writer's images; empty when the writers are not known."""
        if self.writers is None:
            return {}
        right = self.predicted == self.labels
        return {int(w): float(right[self.writers == w].mean()) for w in np.unique(self.writers)}

    def mistakes(self) -> np.ndarray:
        """Indices of the images read wrong."""
        return np.flatnonzero(self.predicted != self.labels)

    def next_mistake(self, index: int) -> int | None:
        """The first image after `index` read wrong, going round to the first; None when none is."""
        mistakes = self.mistakes()
        if not len(mistakes):
            return None
        later = mistakes[mistakes > index]
        return int(later[0] if len(later) else mistakes[0])

    @property
    def confident_misreads(self) -> float:
        """The share of misreads said with at least VERY_SURE probability (0 when there are none)."""
        wrong = self.mistakes()
        return float(np.mean(self.probabilities[wrong].max(axis=1) >= VERY_SURE)) if len(wrong) else 0.0

    @property
    def calibration_error(self) -> float:
        """Expected calibration error: how far confidence is from accuracy, averaged over confidence bins."""
        return calibration_error(self.probabilities, self.labels)

    @staticmethod
    def joined(evaluations: Iterable["Evaluation"]) -> "Evaluation":
        """One evaluation of all these images together (who wrote them is left out: each collection
        numbers its writers its own way)."""
        evaluations = list(evaluations)
        return Evaluation(np.concatenate([e.labels for e in evaluations]),
                          np.concatenate([e.probabilities for e in evaluations]),
                          refused=sum(e.refused for e in evaluations))

    def score(self, collections: dict[str, "Evaluation"] | None = None) -> HeldOutScore:
        """The figures a history.json or a report records; with `collections`, of them all together."""
        collections = collections or {}
        writers = (sum(len(np.unique(e.writers)) for e in collections.values() if e.writers is not None)
                   if collections else len(self.per_writer()))
        return HeldOutScore(
            accuracy=self.accuracy, per_digit=tuple(float(a) for a in self.per_digit), writers=writers,
            misreads=int(len(self.mistakes())), refused=self.refused, confident_misreads=self.confident_misreads,
            calibration_error=self.calibration_error,
            per_writer={} if collections else {str(w): a for w, a in self.per_writer().items()},
            collections={name: e.score() for name, e in collections.items()})


def held_out_score(collections: dict[str, Evaluation]) -> HeldOutScore:
    """What history.json records of the held-out writers: all collections together, and each one
    with its writers."""
    return Evaluation.joined(collections.values()).score(collections)


def evaluate(classifier: Classifier, data: Mnist) -> Evaluation:
    """Score the classifier on the MNIST test images, as they are in `data` (upright, for a network
    trained on upright digits: see Mnist.upright)."""
    return evaluate_images(classifier, data.x_test, data.y_test)


def evaluate_images(classifier: Classifier, x: np.ndarray, y: np.ndarray,
                    writers: np.ndarray | None = None, refused: int = 0) -> Evaluation:
    """Score the classifier on uint8 images in MNIST's form (and `refused` drawings it never got to read)."""
    return Evaluation(np.asarray(y), classifier.read_many(x), writers, refused)


def evaluate_drawings(classifier: Classifier, drawings: Examples) -> Evaluation:
    """Score the classifier on drawn pen digits, counting those the page would refuse as wrong."""
    return evaluate_images(classifier, drawings.x, drawings.y, drawings.writers, drawings.refused)


def calibration_error(probabilities: np.ndarray, labels: np.ndarray, bins: int = CALIBRATION_BINS) -> float:
    """Expected calibration error: |accuracy - mean confidence| in equal-width confidence bins,
    weighted by the share of answers in each bin."""
    confidence = probabilities.max(axis=1)
    right = probabilities.argmax(axis=1) == labels
    which = np.minimum((confidence * bins).astype(int), bins - 1)
    error = 0.0
    for b in range(bins):
        inside = which == b
        if inside.any():
            error += inside.mean() * abs(right[inside].mean() - confidence[inside].mean())
    return float(error)


def confusion_matrix(y_true: np.ndarray, y_pred: np.ndarray) -> np.ndarray:
    """A 10x10 count of (true digit, predicted digit) pairs."""
    confusion = np.zeros((10, 10), dtype=np.int64)
    np.add.at(confusion, (np.asarray(y_true, dtype=int), np.asarray(y_pred, dtype=int)), 1)
    return confusion


def format_confusion(confusion: np.ndarray) -> str:
    """The confusion matrix as a text table: rows are true digits, columns predicted ones."""
    width = max(5, len(str(confusion.max())) + 1)
    lines = ["true\\pred" + "".join(f"{d:>{width}}" for d in range(10))]
    lines += [f"{t:>9}" + "".join(f"{n:>{width}}" for n in row) for t, row in enumerate(confusion)]
    return "\n".join(lines)


def drawn_accuracy(
    classifier: Classifier, drawings: Sequence[Drawing], prepare: Callable[[np.ndarray], np.ndarray]
) -> float:
    """Fraction of drawings read right when each is turned into a 28x28 input by `prepare`.

    A drawing that `prepare` refuses (as blank, say) counts as read wrong.
    """
    inputs, labels = [], []
    for drawing in drawings:
        try:
            inputs.append(prepare(drawing.image))
            labels.append(drawing.label)
        except DigitnetError:
            continue
    if not inputs:
        return 0.0
    right = np.sum(classifier.predict(np.stack(inputs)) == np.array(labels))
    return float(right / len(drawings))
