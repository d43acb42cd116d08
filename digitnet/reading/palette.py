"""The page's colours: Okabe and Ito's palette, which colour-blind people tell apart, named as they name it."""

from __future__ import annotations

import numpy as np

ORANGE = "#E69F00"  # what pushes the network toward its answer; validation curves
SKY_BLUE = "#56B4E9"  # the other probability bars
BLUISH_GREEN = "#009E73"
BLUE = "#0072B2"  # what pushes the network away from its answer; training curves
VERMILLION = "#D55E00"  # the answer's own probability bar


def rgb(colour: str) -> np.ndarray:
    """A "#RRGGBB" colour as float32 red, green, blue 0..255, for blending into pictures."""
    return np.array([int(colour[i : i + 2], 16) for i in (1, 3, 5)], dtype=np.float32)
