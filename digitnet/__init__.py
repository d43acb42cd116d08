"""digitnet: read handwritten digits with a small dense Keras network trained on MNIST and real people's pen digits.

Names are imported on first use, so a process that only reads drawings (a rendering worker, say)
never pays for importing TensorFlow.
"""

from __future__ import annotations

import importlib

_HOMES = {
    "TrainConfig": "digitnet.config",
    "Mnist": "digitnet.data",
    "load_mnist": "digitnet.data",
    "BlankImageError": "digitnet.errors",
    "DataError": "digitnet.errors",
    "DigitnetError": "digitnet.errors",
    "EmptyImageError": "digitnet.errors",
    "ImageError": "digitnet.errors",
    "ModelFileError": "digitnet.errors",
    "TrainingCancelled": "digitnet.errors",
    "Classifier": "digitnet.classifier",
    "load_classifier": "digitnet.classifier",
    "PenDigits": "digitnet.pendigits",
    "load_pen_collections": "digitnet.pendigits",
    "load_pendigits": "digitnet.pendigits",
    "load_unipen": "digitnet.pendigits",
    "open_image": "digitnet.preprocess",
    "preview_image": "digitnet.preprocess",
    "read_canvas_png": "digitnet.preprocess",
    "to_mnist": "digitnet.preprocess",
    "TrainingRun": "digitnet.training",
    "save_run": "digitnet.training",
    "train": "digitnet.training",
}

__all__ = sorted(_HOMES)


def __getattr__(name: str) -> object:
    if name not in _HOMES:
        raise AttributeError(f"module 'digitnet' has no attribute {name!r}")
    return getattr(importlib.import_module(_HOMES[name]), name)
