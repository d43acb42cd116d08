"""The classifier that serves: a numpy forward pass over the network's weights, read from a file that
needs neither TensorFlow nor Keras and cannot run code."""

from __future__ import annotations

import hashlib
import logging
import os
import zipfile
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import numpy as np

from digitnet.config import SHIPPED_MODEL
from digitnet.errors import ImageError, ModelFileError
from digitnet.files import replaced_whole
from digitnet.reading.preprocess import scale_pixels, upright

log = logging.getLogger(__name__)

NUM_CLASSES = 10
INPUT_SHAPE = (28, 28)
# Images per forward pass when reading many: the pixels scaled to floats never hold more than a few MB.
BATCH = 2000
ACTIVATIONS = ("relu", "softmax", "linear")
# The answer is the network's average over the input and the input moved a pixel up, down, left and
# right: one pass reads a digit a pixel off where it expects it a little differently, and averaging
# over these took a third of the misreads away on held-out writers (docs/model.md, "An answer that does not hang on one pixel").
SHIFTS = ((0, 0), (1, 0), (-1, 0), (0, 1), (0, -1))


def weights_path(model_path: str | os.PathLike) -> Path:
    """The weights file that sits beside a .keras model file: what the page loads."""
    return Path(model_path).with_suffix(".npz")


@dataclass(frozen=True)
class DenseLayer:
    kernel: np.ndarray
    bias: np.ndarray
    activation: str


@dataclass(frozen=True)
class Forward:
    """One forward pass: every layer's activations, from the input pixels to the ten probabilities."""

    activations: tuple[np.ndarray, ...]  # [input (n, 784), hidden 1, hidden 2, ..., probabilities (n, 10)]
    pre_activations: tuple[np.ndarray, ...]  # each Dense layer's output before its activation

    @property
    def probabilities(self) -> np.ndarray:
        return self.activations[-1]


class Classifier:
    """Predicts digits with a numpy forward pass over read-only weights.

    Any number of threads may call it at once, and a call costs microseconds instead of
    model.predict's tens of milliseconds.
    """

    def __init__(self, dense_layers: list[DenseLayer], path: Path | None = None):
        self.dense = tuple(dense_layers)  # in order: dense[i] computes Forward.activations[i + 1]
        self.path = path

    def into(self, layer: int) -> DenseLayer:
        """The Dense layer that computes activations[layer]: 1 and 2 the hidden layers, 3 (or -1) the
        probabilities."""
        return self.dense[layer - 1 if layer > 0 else layer]

    @classmethod
    def from_keras(cls, model, path: Path | None = None) -> "Classifier":
        """Copy the weights of a Sequential of Flatten, Dropout and Dense layers."""
        dense = []
        for layer in model.layers:
            kind = type(layer).__name__
            if kind == "Dense":
                kernel, bias = (np.array(w, dtype=np.float32) for w in layer.get_weights())
                dense.append(DenseLayer(kernel, bias, layer.get_config()["activation"]))
            elif kind not in ("Flatten", "Dropout", "InputLayer"):
                raise ModelFileError(f"Unsupported layer {layer.name!r} of type {kind} in the model")
        return cls(_checked(dense), path)

    @property
    def num_parameters(self) -> int:
        return sum(d.kernel.size + d.bias.size for d in self.dense)

    @cached_property
    def fingerprint(self) -> str:
        """What identifies these weights, recorded in history.json beside them: the two must agree. Read
        on every full run of the page (the live answer's file is named by it): hashed once, as the
        weights never change."""
        digest = hashlib.sha256()
        for layer in self.dense:
            digest.update(layer.activation.encode())
            digest.update(np.ascontiguousarray(layer.kernel, np.float32).tobytes())
            digest.update(np.ascontiguousarray(layer.bias, np.float32).tobytes())
        return digest.hexdigest()[:16]

    def forward(self, x: np.ndarray) -> Forward:
        """Every layer's activations for a batch of (n, 28, 28) images in [0, 1]."""
        h = x.reshape(len(x), INPUT_SHAPE[0] * INPUT_SHAPE[1]).astype(np.float32)
        activations, pre_activations = [h], []
        for layer in self.dense:
            z = h @ layer.kernel + layer.bias
            h = _ACTIVATIONS[layer.activation](z)
            pre_activations.append(z)
            activations.append(h)
        return Forward(tuple(activations), tuple(pre_activations))

    def layer_outputs(self, images: np.ndarray, layer: int) -> np.ndarray:
        """One layer's activations (1, 2: the hidden layers; -1: the probabilities) for uint8 images in
        MNIST's form, read BATCH at a time."""
        return _in_batches(images, lambda batch: self.forward(batch).activations[layer])

    def predict_proba(self, x: np.ndarray) -> np.ndarray:
        """Probabilities of the ten digits: (10,) for one 28x28 image, (n, 10) for a batch, in [0, 1],
        white on black: to_mnist's, or MNIST's own (`x_test / 255`), slanted or not."""
        x = np.asarray(x)
        single = x.shape == INPUT_SHAPE
        if not single and (x.ndim != 3 or x.shape[1:] != INPUT_SHAPE):
            raise ImageError(f"Expected a (28, 28) image or an (n, 28, 28) batch, got shape {x.shape}")
        if not np.issubdtype(x.dtype, np.number) or not np.isfinite(x).all():
            raise ImageError("The image must hold finite numbers (no NaN or infinity)")
        p = self._averaged(x.reshape(-1, *INPUT_SHAPE))
        return p[0] if single else p

    def read_many(self, images: np.ndarray) -> np.ndarray:
        """predict_proba for many uint8 images in MNIST's form, BATCH at a time."""
        return _in_batches(images, self._averaged)

    def _averaged(self, batch: np.ndarray) -> np.ndarray:
        """The probabilities for the batch made upright (the network learned upright digits; to_mnist's
        are already, and stay as they are), averaged over it moved by each of SHIFTS (rows, columns)."""
        batch = upright(batch.astype(np.float32, copy=False))
        moved = np.concatenate([np.roll(batch, shift, axis=(1, 2)) for shift in SHIFTS])
        return self.forward(moved).probabilities.reshape(len(SHIFTS), len(batch), NUM_CLASSES).mean(axis=0)

    def predict(self, x: np.ndarray) -> np.ndarray | int:
        """The most likely digit for one image, or an array of them for a batch."""
        p = self.predict_proba(x)
        return int(p.argmax()) if p.ndim == 1 else p.argmax(axis=1)


def _in_batches(images: np.ndarray, read) -> np.ndarray:
    """`read` of uint8 images in MNIST's form, scaled to [0, 1] BATCH at a time, joined."""
    return np.concatenate([read(scale_pixels(images[i : i + BATCH]))
                           for i in range(0, max(len(images), 1), BATCH)])


def _softmax(z: np.ndarray) -> np.ndarray:
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


_ACTIVATIONS = {
    "relu": lambda z: np.maximum(z, 0.0),
    "softmax": _softmax,
    "linear": lambda z: z,
}


def save_weights(classifier: Classifier, path: str | os.PathLike) -> None:
    """Write the weights as a plain .npz (numbers and names only, no pickle), replaced whole."""
    arrays = {"activations": np.array([layer.activation for layer in classifier.dense])}
    for i, layer in enumerate(classifier.dense):
        arrays[f"kernel_{i}"], arrays[f"bias_{i}"] = layer.kernel, layer.bias
    with replaced_whole(path) as tmp:
        np.savez(tmp, **arrays)


def load_classifier(path: str | os.PathLike | None = None) -> Classifier:
    """Load a trained model's weights (the shipped model's by default) as a Classifier.

    `path` may name the .keras model or its weights file beside it. Every failure is a ModelFileError.
    """
    path = weights_path(path or SHIPPED_MODEL)
    if not path.is_file():
        raise ModelFileError(f"No model weights at {path}")
    try:
        with np.load(path, allow_pickle=False) as npz:
            activations = [str(a) for a in npz["activations"]]
            dense = [DenseLayer(npz[f"kernel_{i}"].astype(np.float32), npz[f"bias_{i}"].astype(np.float32), a)
                     for i, a in enumerate(activations)]
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as exc:
        raise ModelFileError(f"Cannot read the model weights {path}: {exc}") from exc
    classifier = Classifier(_checked(dense, path), path)
    log.info("Loaded model %s (%d parameters)", path, classifier.num_parameters)
    return classifier


def _checked(dense: list[DenseLayer], path: Path | None = None) -> list[DenseLayer]:
    """The layers, read-only, if they map 28x28 pixels to 10 probabilities; else a ModelFileError."""
    where = f" in {path}" if path else ""
    width = INPUT_SHAPE[0] * INPUT_SHAPE[1]
    for i, layer in enumerate(dense):
        if layer.kernel.ndim != 2 or layer.kernel.shape[0] != width or layer.bias.shape != layer.kernel.shape[1:]:
            raise ModelFileError(f"Layer {i}{where} has weights of shapes {layer.kernel.shape} and "
                                 f"{layer.bias.shape}, which do not follow from {width} inputs")
        if layer.activation not in ACTIVATIONS:
            raise ModelFileError(f"Layer {i}{where} uses the activation {layer.activation!r}, "
                                 f"not one of {', '.join(ACTIVATIONS)}")
        if not (np.isfinite(layer.kernel).all() and np.isfinite(layer.bias).all()):
            raise ModelFileError(f"Layer {i}{where} holds NaN or infinite weights")
        layer.kernel.setflags(write=False)
        layer.bias.setflags(write=False)
        width = layer.kernel.shape[1]
    if not dense or width != NUM_CLASSES:
        raise ModelFileError(f"The model{where} does not map a 28x28 image to 10 digit probabilities")
    return dense
