"""What the network answers for one drawing, in numbers and in plain words."""

from __future__ import annotations

import io
from dataclasses import dataclass

import numpy as np
from PIL import Image

# Below this probability for its top digit the model is "not sure".
CONFIDENT = 0.7
# The answer in words; the browser's engine fills the same ones in (web.py passes them on).
SURE = "I'm {confidence} sure this is {digit}."
UNSURE = "I'm not sure: it looks most like {digit} ({confidence}), but it could be {runner_up} ({runner_up_confidence})."


@dataclass(frozen=True)
class Prediction:
    """The ten probabilities for one drawing, with the top digit and the runner-up."""

    probabilities: np.ndarray

    @property
    def digit(self) -> int:
        return int(np.argmax(self.probabilities))

    @property
    def confidence(self) -> float:
        return float(self.probabilities[self.digit])

    @property
    def runner_up(self) -> int:
        return int(np.argsort(self.probabilities)[-2])

    @property
    def is_sure(self) -> bool:
        return self.confidence >= CONFIDENT

    def sentence(self) -> str:
        """The answer in plain words, for people who have never heard of MNIST."""
        if self.is_sure:
            return SURE.format(confidence=f"{self.confidence:.0%}", digit=a_digit(self.digit))
        return UNSURE.format(digit=a_digit(self.digit), confidence=f"{self.confidence:.0%}",
                             runner_up=a_digit(self.runner_up),
                             runner_up_confidence=f"{self.probabilities[self.runner_up]:.0%}")


def number_sentence(number: str, guessed: bool) -> str:
    """What the network says of a number it read digit by digit; `guessed` when touching digits were
    cut where they seemed to join."""
    if guessed:
        return f"I'm not sure: some digits touch. It may be {number}; leave a little space between the digits."
    return f"I read the number {number}."


DIGIT_NAMES = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")


def spoken(prediction: Prediction) -> str:
    """The answer as a presenter would say it aloud: "I think it's a seven", "Hmm, a four or a nine?"."""
    def said(digit: int) -> str:
        return f"{_article(digit)} {DIGIT_NAMES[digit]}"

    if prediction.is_sure:
        return f"I think it's {said(prediction.digit)}."
    return f"Hmm, {said(prediction.digit)} or {said(prediction.runner_up)}?"


def a_digit(digit: int) -> str:
    """The digit with its article, as it is said: "a 7", "an 8"."""
    return f"{_article(digit)} {digit}"


def _article(digit: int) -> str:
    return "an" if digit == 8 else "a"


def enlarge_pixels(x: np.ndarray, scale: int = 8) -> np.ndarray:
    """A (28, 28) image in [0, 1] as uint8 greyscale, each pixel a `scale`-sized square with a grid line."""
    big = np.kron(np.clip(x, 0, 1) * 255, np.ones((scale, scale))).astype(np.uint8)
    grid = np.zeros_like(big, dtype=bool)
    grid[::scale, :] = True
    grid[:, ::scale] = True
    # A dim grey grid shows the individual pixels on black and white alike.
    big[grid] = np.where(big[grid] > 128, 200, 60)
    return big


def input_png(x: np.ndarray) -> bytes:
    """A (28, 28) input in [0, 1] as a 28x28 greyscale PNG: a few hundred bytes, enlarged by whoever shows it."""
    buffer = io.BytesIO()
    Image.fromarray((np.clip(x, 0, 1) * 255).round().astype(np.uint8), "L").save(buffer, "PNG")
    return buffer.getvalue()
