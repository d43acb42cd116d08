"""Loading and checking the MNIST data set."""

from __future__ import annotations

import hashlib
import logging
import os
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from digitnet.errors import DataError

log = logging.getLogger(__name__)

MNIST_ENV = "DIGITNET_MNIST"
ARRAYS = ("x_train", "y_train", "x_test", "y_test")


@dataclass(frozen=True)
class Mnist:
    """The four MNIST arrays, as keras.datasets.mnist.load_data() returns them, and where they came from."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    source: str

    def fingerprint(self) -> str:
        """A short hash of the arrays, so a history can say which data a model saw."""
        digest = hashlib.sha256()
        for name in ARRAYS:
            digest.update(np.ascontiguousarray(getattr(self, name)).tobytes())
        return digest.hexdigest()[:16]


def load_mnist(path: str | os.PathLike | None = None) -> Mnist:
    """Load MNIST from `path`, else from $DIGITNET_MNIST, else the standard Keras way (downloads once)."""
    path = path or os.environ.get(MNIST_ENV)
    if path:
        return load_npz(Path(path))
    return _load_from_keras()


def load_npz(path: Path) -> Mnist:
    """Load and check a local .npz file in the layout of keras.datasets.mnist.load_data()."""
    if not path.is_file():
        raise DataError(f"MNIST file not found: {path}")
    try:
        with np.load(path, allow_pickle=False) as npz:
            missing = [name for name in ARRAYS if name not in npz.files]
            if missing:
                raise DataError(
                    f"{path} lacks the array(s) {', '.join(missing)}; "
                    f"an MNIST .npz holds {', '.join(ARRAYS)}"
                )
            arrays = {name: npz[name] for name in ARRAYS}
    except DataError:
        raise
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as exc:
        raise DataError(f"{path} is not a readable .npz file: {exc}") from exc
    data = Mnist(**arrays, source=str(path))
    check_mnist(data)
    log.info("Loaded MNIST from %s", path)
    return data


def check_mnist(data: Mnist) -> None:
    """Raise DataError naming the first array that is not as MNIST's."""
    for split in ("train", "test"):
        x, y = getattr(data, f"x_{split}"), getattr(data, f"y_{split}")
        if x.ndim != 3 or x.shape[1:] != (28, 28) or x.shape[0] == 0:
            raise DataError(f"x_{split} must have shape (n, 28, 28) with n > 0, got {x.shape}")
        if x.dtype != np.uint8:
            raise DataError(f"x_{split} must be uint8 pixels 0..255, got dtype {x.dtype}")
        if y.shape != (x.shape[0],):
            raise DataError(f"y_{split} must have shape ({x.shape[0]},) to match x_{split}, got {y.shape}")
        if not np.issubdtype(y.dtype, np.integer):
            raise DataError(f"y_{split} must hold integer labels, got dtype {y.dtype}")
        if y.min() < 0 or y.max() > 9:
            raise DataError(f"y_{split} must hold labels 0..9, found {y.min()}..{y.max()}")


def _load_from_keras() -> Mnist:
    import keras

    try:
        (x_train, y_train), (x_test, y_test) = keras.datasets.mnist.load_data()
    except Exception as exc:  # Keras raises whatever urllib raised: there is no narrower class.
        raise DataError(
            f"Could not download MNIST ({exc}). Without a network, point digitnet at a local copy: "
            f"--data path/to/mnist.npz or {MNIST_ENV}=path/to/mnist.npz "
            "(the layout of keras.datasets.mnist.load_data())."
        ) from exc
    data = Mnist(x_train, y_train, x_test, y_test, source="keras.datasets.mnist")
    check_mnist(data)
    return data


def scale_pixels(x: np.ndarray) -> np.ndarray:
    """Min-max scale uint8 pixels 0..255 to float32 0..1, as in training and prediction."""
    return x.astype(np.float32) / np.float32(255.0)
