"""Pictures a training saves, drawn with matplotlib: the training curves, and pages of digits."""

from __future__ import annotations

import math
import os
from collections.abc import Sequence

import matplotlib
import numpy as np

matplotlib.use("Agg")  # draw to files only: a training process has no screen

from matplotlib.figure import Figure  # noqa: E402

from digitnet.files import replaced_whole  # noqa: E402


def curves_figure(curves: dict[str, list[float]]) -> Figure:
    """Accuracy and loss per epoch, training and validation, side by side."""
    figure = Figure(figsize=(9, 3.5), layout="constrained")
    epochs = range(1, len(curves["loss"]) + 1)
    for ax, metric in zip(figure.subplots(1, 2), ("accuracy", "loss")):
        ax.plot(epochs, curves[metric], "o-", label="training")
        ax.plot(epochs, curves[f"val_{metric}"], "s-", label="validation")
        ax.set_xlabel("epoch")
        ax.set_title(metric)
        ax.grid(alpha=0.3)
        ax.legend()
    return figure


def save_curves(curves: dict[str, list[float]], path: str | os.PathLike) -> None:
    """Save the curves as a PNG, replacing any old one whole."""
    with replaced_whole(path) as tmp:
        curves_figure(curves).savefig(tmp, dpi=100)


def save_digits(images: Sequence[np.ndarray], captions: Sequence[str], path: str | os.PathLike,
                columns: int = 10) -> None:
    """A page of 28x28 digits (white on black, as the network sees them), each over its caption, saved
    as a PNG replaced whole."""
    rows = max(1, math.ceil(len(images) / columns))
    figure = Figure(figsize=(columns * 1.3, rows * 1.5), layout="constrained")
    for ax, image, caption in zip(figure.subplots(rows, columns, squeeze=False).flat, images, captions):
        ax.imshow(image, cmap="gray", vmin=0, vmax=255)
        ax.set_title(caption, fontsize=7)
    for ax in figure.axes:
        ax.set_axis_off()
    with replaced_whole(path) as tmp:
        figure.savefig(tmp, dpi=100)
