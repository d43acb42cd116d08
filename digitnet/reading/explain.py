"""Why the network answered: which pixels pushed it, and which training digits look alike to it."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from digitnet.reading.classifier import Classifier
from digitnet.reading.palette import BLUE, ORANGE, rgb

# Okabe-Ito orange for pixels that argue for the answer, blue for those against it.
FOR_COLOUR, AGAINST_COLOUR = rgb(ORANGE), rgb(BLUE)


def saliency(classifier: Classifier, x: np.ndarray, digit: int | None = None) -> np.ndarray:
    """Gradient x input of the digit's score (default: the answer), as a (28, 28) map.

    Positive where a pixel's ink pushed the network toward `digit`, negative where it pushed away.
    """
    forward = classifier.forward(np.asarray(x)[None])
    logits = forward.pre_activations[-1][0]
    digit = int(logits.argmax()) if digit is None else digit
    # Back through the relu layers by hand: the softmax is left out, its score is the logit.
    gradient = classifier.into(-1).kernel[:, digit]
    for layer, z in zip(reversed(classifier.dense[:-1]), reversed(forward.pre_activations[:-1])):
        gradient = layer.kernel @ (gradient * (z[0] > 0))
    return (gradient * x.reshape(-1)).reshape(28, 28)


def saliency_overlay(x: np.ndarray, heat: np.ndarray, scale: int = 8) -> np.ndarray:
    """The 28x28 input in grey with the saliency painted over it, enlarged, as RGB uint8."""
    strength = heat / max(float(np.abs(heat).max()), 1e-9)
    grey = np.repeat((0.35 * np.clip(x, 0, 1) * 255)[..., None], 3, axis=2)
    colour = np.where(strength[..., None] > 0, FOR_COLOUR, AGAINST_COLOUR)
    alpha = np.abs(strength)[..., None]
    rgb = grey * (1 - alpha) + colour * alpha
    return np.kron(rgb, np.ones((scale, scale, 1))).astype(np.uint8)


def hidden_features(classifier: Classifier, x: np.ndarray) -> np.ndarray:
    """The last hidden layer's activations for a batch of 28x28 images: what the network 'sees'."""
    return classifier.forward(x).activations[-2]


@dataclass(frozen=True)
class LookAlikes:
    """Training digits and their hidden-layer features, to find the ones most like a drawing."""

    images: np.ndarray
    labels: np.ndarray
    features: np.ndarray  # unit length, so a dot product is the cosine similarity

    @classmethod
    def build(cls, classifier: Classifier, images: np.ndarray, labels: np.ndarray) -> "LookAlikes":
        features = classifier.layer_outputs(images, -2)  # the last hidden layer, as hidden_features
        features /= np.maximum(np.linalg.norm(features, axis=1, keepdims=True), 1e-9)
        return cls(images, labels, features)

    def nearest(self, classifier: Classifier, x: np.ndarray, k: int = 8) -> np.ndarray:
        """Indices of the k training digits whose features are closest to the drawing's."""
        query = hidden_features(classifier, x[None])[0]
        similarity = self.features @ (query / max(float(np.linalg.norm(query)), 1e-9))
        return np.argsort(similarity)[::-1][:k]
