"""digitnet: read handwritten digits with a small dense Keras network trained on MNIST and real people's pen digits.

Reading drawings needs numpy and Pillow only. The training names import TensorFlow (4-9 s, 600 MB),
so they are imported on first use: the page's server never pays for them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from digitnet.config import TrainConfig
from digitnet.data.mnist import Mnist, load_mnist
from digitnet.data.pendigits import PenDigits, load_pen_collections, load_pendigits, load_unipen
from digitnet.errors import (BlankImageError, CanvasError, DataError, DigitnetError, EmptyImageError, ImageError,
                             ModelFileError, TrainingCancelled)
from digitnet.reading.classifier import Classifier, load_classifier
from digitnet.reading.preprocess import open_image, preview_image, read_canvas_png, to_mnist

if TYPE_CHECKING:
    from digitnet.training.train import TrainingRun, save_run, train

_TRAINING_NAMES = ("TrainingRun", "save_run", "train")

__all__ = [
    "BlankImageError", "CanvasError", "Classifier", "DataError", "DigitnetError", "EmptyImageError", "ImageError", "Mnist",
    "ModelFileError", "PenDigits", "TrainConfig", "TrainingCancelled", "TrainingRun", "load_classifier",
    "load_mnist", "load_pen_collections", "load_pendigits", "load_unipen", "open_image", "preview_image",
    "read_canvas_png", "save_run", "to_mnist", "train",
]


def __getattr__(name: str) -> object:
    if name not in _TRAINING_NAMES:
        raise AttributeError(f"module 'digitnet' has no attribute {name!r}")
    from digitnet.training import train as training

    return getattr(training, name)
