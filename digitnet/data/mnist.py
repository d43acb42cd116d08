"""Loading and checking the MNIST data set."""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import os
import subprocess
import sys
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from digitnet.errors import DataError
from digitnet.reading.preprocess import deskew

log = logging.getLogger(__name__)

MNIST_ENV = "DIGITNET_MNIST"
ARRAYS = ("x_train", "y_train", "x_test", "y_test")
# Where keras.datasets.mnist.load_data() keeps its download: $KERAS_HOME, else ~/.keras, else (when
# that cannot be written) /tmp/.keras; each holds it as datasets/mnist.npz.
KERAS_HOME_ENV = "KERAS_HOME"
KERAS_FILE = Path("datasets") / "mnist.npz"
# Run in a child process, so that reading MNIST never loads TensorFlow (4 s, 600 MB) into the page's server.
DOWNLOAD_CODE = "import keras; keras.datasets.mnist.load_data()"
DOWNLOAD_TIMEOUT_S = 600


@dataclass(frozen=True)
class Mnist:
    """The four MNIST arrays, as keras.datasets.mnist.load_data() returns them, and where they came from."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    source: str

    def upright(self) -> "Mnist":
        """The same digits with their slant undone, as the network reads every input (see preprocess.deskew)."""
        return dataclasses.replace(self, x_train=deskew(self.x_train), x_test=deskew(self.x_test))

    def fingerprint(self) -> str:
        """A short hash of the arrays, so a history can say which data a model saw."""
        digest = hashlib.sha256()
        for name in ARRAYS:
            digest.update(np.ascontiguousarray(getattr(self, name)).tobytes())
        return digest.hexdigest()[:16]


def load_mnist(path: str | os.PathLike | None = None) -> Mnist:
    """Load MNIST from `path`, else from $DIGITNET_MNIST, else the standard Keras way: Keras' own
    download, made once on this machine (in a child process) and read from its cache."""
    path = path or os.environ.get(MNIST_ENV)
    if path:
        return load_npz(Path(path))
    cached = _keras_download()
    if cached is None:
        _download_with_keras()
        cached = _keras_download()
    if cached is None:
        raise DataError(f"Keras downloaded MNIST but it is in none of {', '.join(map(str, _keras_files()))}")
    return load_npz(cached)


def _keras_download() -> Path | None:
    """The MNIST file keras.datasets.mnist.load_data() downloaded on this machine, if it did."""
    return next((path for path in _keras_files() if path.is_file()), None)


def _keras_files() -> list[Path]:
    homes = [Path(os.environ.get(KERAS_HOME_ENV) or Path.home() / ".keras"), Path("/tmp") / ".keras"]
    return [home / KERAS_FILE for home in homes]


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


def _download_with_keras() -> None:
    """Have keras.datasets.mnist.load_data() download MNIST into Keras' cache, in a child process."""
    log.info("Downloading MNIST with Keras")
    try:
        result = subprocess.run([sys.executable, "-c", DOWNLOAD_CODE], capture_output=True, text=True,
                                env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}, timeout=DOWNLOAD_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        reason = f"no answer in {DOWNLOAD_TIMEOUT_S} s"
    else:
        if result.returncode == 0:
            return
        reason = (result.stderr.strip().splitlines() or [f"exit code {result.returncode}"])[-1]
    raise DataError(
        f"Could not download MNIST ({reason}). Without a network, point digitnet at a local copy: "
        f"--mnist path/to/mnist.npz or {MNIST_ENV}=path/to/mnist.npz "
        "(the layout of keras.datasets.mnist.load_data())."
    )
