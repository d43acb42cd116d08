"""Measuring a classifier: test accuracy, per-digit accuracy, confusion matrix, drawn-set accuracy."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from digitnet.data import Mnist, scale_pixels
from digitnet.drawn import Drawing
from digitnet.errors import DigitnetError
from digitnet.model import Classifier


@dataclass(frozen=True)
class Evaluation:
    accuracy: float
    per_digit: np.ndarray  # accuracy on each digit 0..9
    confusion: np.ndarray  # confusion[true, predicted] = count
    predicted: np.ndarray  # the digit read for each test image

    def mistakes(self, y_true: np.ndarray) -> np.ndarray:
        """Indices of the test images read wrong."""
        return np.flatnonzero(self.predicted != y_true)


def evaluate(classifier: Classifier, data: Mnist) -> Evaluation:
    """Score the classifier on the MNIST test images."""
    predicted = classifier.predict(scale_pixels(data.x_test))
    confusion = confusion_matrix(data.y_test, predicted)
    per_digit = confusion.diagonal() / np.maximum(confusion.sum(axis=1), 1)
    return Evaluation(float(np.mean(predicted == data.y_test)), per_digit, confusion, predicted)


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
