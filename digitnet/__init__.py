"""digitnet: read handwritten digits with a small dense Keras network trained on MNIST and real people's pen digits.

Names are imported on first use, so a process that only reads drawings (a rendering worker, say)
never pays for importing TensorFlow.
"""

from __future__ import annotations

import importlib

_HOMES = {
    "TrainConfig": "digitnet.config",
    "Mnist": "digitnet.data.mnist",
    "load_mnist": "digitnet.data.mnist",
    "BlankImageError": "digitnet.errors",
    "DataError": "digitnet.errors",
    "DigitnetError": "digitnet.errors",
    "EmptyImageError": "digitnet.errors",
    "ImageError": "digitnet.errors",
    "ModelFileError": "digitnet.errors",
    "TrainingCancelled": "digitnet.errors",
    "Classifier": "digitnet.serving.classifier",
    "load_classifier": "digitnet.serving.classifier",
    "PenDigits": "digitnet.data.pendigits",
    "load_pen_collections": "digitnet.data.pendigits",
    "load_pendigits": "digitnet.data.pendigits",
    "load_unipen": "digitnet.data.pendigits",
    "open_image": "digitnet.serving.preprocess",
    "preview_image": "digitnet.serving.preprocess",
    "read_canvas_png": "digitnet.serving.preprocess",
    "to_mnist": "digitnet.serving.preprocess",
    "TrainingRun": "digitnet.training.train",
    "save_run": "digitnet.training.train",
    "train": "digitnet.training.train",
}

__all__ = sorted(_HOMES)


def __getattr__(name: str) -> object:
    if name not in _HOMES:
        raise AttributeError(f"module 'digitnet' has no attribute {name!r}")
    return getattr(importlib.import_module(_HOMES[name]), name)
