"""Small charts as inline SVG: a few hundred bytes, sharp at any size, and no charting library to load."""

from __future__ import annotations

import html
from collections.abc import Sequence

from digitnet.reading.palette import BLUE, ORANGE

WIDTH, HEIGHT = 320, 120
MARGIN = (34, 10, 22, 12)  # left, top, bottom, right: room for the axis labels


def accuracy_svg(training: Sequence[float], validation: Sequence[float], title: str) -> str:
    """Training and validation accuracy per epoch as two lines, the y-axis fitted to the data."""
    if not training or len(training) != len(validation):
        raise ValueError("one training and one validation accuracy per epoch are needed")
    left, top, bottom, right = MARGIN
    low = min(min(training), min(validation))
    low = max(0.0, min(low, 1.0) - 0.01)
    high = 1.0
    epochs = len(training)

    def point(epoch: int, value: float) -> str:
        x = left + (WIDTH - left - right) * (epoch / max(epochs - 1, 1))
        y = top + (HEIGHT - top - bottom) * (high - value) / (high - low)
        return f"{x:.1f},{y:.1f}"

    def line(values: Sequence[float], colour: str) -> str:
        points = " ".join(point(i, v) for i, v in enumerate(values))
        return f"<polyline points='{points}' fill='none' stroke='{colour}' stroke-width='2.5'/>"

    labels = (f"<text x='{left - 4}' y='{top + 4}' text-anchor='end'>{high:.0%}</text>"
              f"<text x='{left - 4}' y='{HEIGHT - bottom}' text-anchor='end'>{low:.0%}</text>"
              f"<text x='{left}' y='{HEIGHT - 6}'>epoch 1</text>"
              f"<text x='{WIDTH - right}' y='{HEIGHT - 6}' text-anchor='end'>epoch {epochs}</text>")
    axes = (f"<line x1='{left}' y1='{top}' x2='{left}' y2='{HEIGHT - bottom}' stroke='#999'/>"
            f"<line x1='{left}' y1='{HEIGHT - bottom}' x2='{WIDTH - right}' y2='{HEIGHT - bottom}' stroke='#999'/>")
    return (f"<svg xmlns='http://www.w3.org/2000/svg' viewBox='0 0 {WIDTH} {HEIGHT}' role='img' "
            f"aria-label='{html.escape(title)}' style='width:100%;max-width:{WIDTH}px;font-size:11px;"
            f"font-family:sans-serif' fill='currentColor'><title>{html.escape(title)}</title>{axes}{labels}"
            f"{line(training, BLUE)}{line(validation, ORANGE)}</svg>")
