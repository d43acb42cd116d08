"""Drawing the training curves with matplotlib."""

from __future__ import annotations

import os

import matplotlib

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
