"""The network: building it, saving it whole, and a fast thread-safe classifier over its weights."""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path

import keras
import numpy as np
from keras import layers

from digitnet.config import SHIPPED_MODEL, TrainConfig
from digitnet.errors import ImageError, ModelFileError
from digitnet.files import replaced_whole

log = logging.getLogger(__name__)

NUM_CLASSES = 10
INPUT_SHAPE = (28, 28)


def build_model(config: TrainConfig) -> keras.Sequential:
    """The seed's dense network: Flatten, two Dense(relu) layers, Dense(10, softmax)."""
    # Explicit names: Keras' automatic ones come from a per-thread counter that has given two layers
    # the same name when a retrain builds its model in a worker thread while the page loads another.
    model = keras.Sequential(
        [
            keras.Input(shape=INPUT_SHAPE, name="pixels"),
            layers.Flatten(name="flatten"),
            layers.Dense(config.hidden_units, activation="relu", name="hidden_1"),
            layers.Dropout(config.dropout, name="dropout_1"),
            layers.Dense(config.hidden_units, activation="relu", name="hidden_2"),
            layers.Dropout(config.dropout, name="dropout_2"),
            layers.Dense(NUM_CLASSES, activation="softmax", name="probabilities"),
        ],
        name="digitnet",
    )
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate=config.learning_rate),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
        # Running several small batches per call into TensorFlow cuts Python overhead by a third.
        steps_per_execution=8,
    )
    return model


@dataclass(frozen=True)
class DenseLayer:
    kernel: np.ndarray
    bias: np.ndarray
    activation: str


class Classifier:
    """Predicts digits with a numpy forward pass over a copy of a Keras model's weights.

    The weights are read-only arrays, so any number of threads may call predict_proba at once,
    and a call costs microseconds instead of model.predict's tens of milliseconds.
    """

    def __init__(self, dense_layers: list[DenseLayer], path: Path | None = None):
        self.layers = dense_layers
        self.path = path

    @classmethod
    def from_keras(cls, model, path: Path | None = None) -> "Classifier":
        """Copy the weights of a Sequential of Flatten, Dropout and Dense layers."""
        dense = []
        for layer in model.layers:
            kind = type(layer).__name__
            if kind == "Dense":
                kernel, bias = (np.array(w, dtype=np.float32) for w in layer.get_weights())
                kernel.setflags(write=False)
                bias.setflags(write=False)
                dense.append(DenseLayer(kernel, bias, layer.get_config()["activation"]))
            elif kind not in ("Flatten", "Dropout", "InputLayer"):
                raise ModelFileError(f"Unsupported layer {layer.name!r} of type {kind} in the model")
        if not dense or dense[0].kernel.shape[0] != 28 * 28 or dense[-1].kernel.shape[1] != NUM_CLASSES:
            raise ModelFileError("The model does not map a 28x28 image to 10 digit probabilities")
        if any(d.activation not in ("relu", "softmax", "linear") for d in dense):
            raise ModelFileError("The model uses an activation other than relu and softmax")
        return cls(dense, path)

    @property
    def num_parameters(self) -> int:
        return sum(d.kernel.size + d.bias.size for d in self.layers)

    def predict_proba(self, x: np.ndarray) -> np.ndarray:
        """Probabilities of the ten digits: (10,) for one 28x28 image, (n, 10) for a batch."""
        x = np.asarray(x)
        single = x.shape == INPUT_SHAPE
        if not single and (x.ndim != 3 or x.shape[1:] != INPUT_SHAPE):
            raise ImageError(f"Expected a (28, 28) image or an (n, 28, 28) batch, got shape {x.shape}")
        if not np.issubdtype(x.dtype, np.number) or not np.isfinite(x).all():
            raise ImageError("The image must hold finite numbers (no NaN or infinity)")
        h = x.reshape(-1, 28 * 28).astype(np.float32)
        for layer in self.layers:
            h = h @ layer.kernel + layer.bias
            h = _ACTIVATIONS[layer.activation](h)
        return h[0] if single else h

    def predict(self, x: np.ndarray) -> np.ndarray | int:
        """The most likely digit for one image, or an array of them for a batch."""
        p = self.predict_proba(x)
        return int(p.argmax()) if p.ndim == 1 else p.argmax(axis=1)


def _softmax(z: np.ndarray) -> np.ndarray:
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


_ACTIVATIONS = {
    "relu": lambda z: np.maximum(z, 0.0),
    "softmax": _softmax,
    "linear": lambda z: z,
}


def load_keras_model(path: str | os.PathLike):
    """Load a .keras file in safe mode, turning every failure into a ModelFileError."""
    path = Path(path)
    if not path.is_file():
        raise ModelFileError(f"No model file at {path}")
    if path.stat().st_size == 0:
        raise ModelFileError(f"The model file {path} is empty")
    try:
        return keras.models.load_model(path, safe_mode=True, compile=False)
    except Exception as exc:  # Keras raises many unrelated types for a broken file.
        raise ModelFileError(f"Cannot load the model {path}: {exc}") from exc


def load_classifier(path: str | os.PathLike | None = None) -> Classifier:
    """Load a trained model (the shipped one by default) as a fast Classifier."""
    path = Path(path) if path else SHIPPED_MODEL
    classifier = Classifier.from_keras(load_keras_model(path), path)
    log.info("Loaded model %s (%d parameters)", path, classifier.num_parameters)
    return classifier


def save_model(model, path: str | os.PathLike) -> None:
    """Save a model whole: write a temporary file beside `path`, then rename it over `path`."""
    with replaced_whole(path) as tmp:
        model.save(tmp)
    log.info("Saved model to %s", path)
