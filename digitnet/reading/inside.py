"""Inside the network: every neuron's activation for a drawing, the strongest paths to the answer,
and what one neuron looks for, as pictures."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from digitnet.reading.classifier import Classifier, Forward
from digitnet.reading.palette import BLUE, ORANGE, rgb

# As in "why this answer": orange for what argues for the answer, blue for what argues against it.
FOR_COLOUR, AGAINST_COLOUR = rgb(ORANGE), rgb(BLUE)

# The picture, in SVG units: the 28x28 input, then each hidden layer as a grid of dots, then the ten outputs.
WIDTH, HEIGHT = 720, 300
INPUT_BOX = (10, 60, 190, 240)  # left, top, right, bottom of the input picture
HIDDEN_COLUMNS = (300, 470)  # the centre of each hidden layer's grid
OUTPUT_X = 640
DOT = 9  # spacing of the hidden layers' dots, in pixels
GRID_COLUMNS = 8  # a hidden layer of 128 neurons is drawn as 16 rows of 8
FONT_SIZE = 16  # legible when the picture is shown on a projector or shrunk to a phone
PATHS, FEEDERS = 8, 3  # the strongest paths drawn: into the answer, and into each of those


@dataclass(frozen=True)
class Link:
    """A contribution from one neuron to one in the next layer: activation x weight."""

    layer: int  # its source's layer, as Forward.activations counts: 1 (hidden 1 -> 2) or 2 (hidden 2 -> outputs)
    source: int
    target: int
    amount: float


def strongest_paths(classifier: Classifier, forward: Forward, digit: int, top: int = PATHS,
                    feeders: int = FEEDERS) -> list[Link]:
    """The `top` hidden-2 neurons that pushed the output `digit` up most (activation x weight), and for
    each, the `feeders` hidden-1 neurons that pushed it up most."""
    hidden_1, hidden_2 = forward.activations[1][0], forward.activations[2][0]
    into_answer = hidden_2 * classifier.into(3).kernel[:, digit]
    paths = []
    for j in _largest(into_answer, top):
        paths.append(Link(2, j, digit, float(into_answer[j])))
        into_j = hidden_1 * classifier.into(2).kernel[:, j]
        paths += [Link(1, i, j, float(into_j[i])) for i in _largest(into_j, feeders)]
    return paths


NETWORK_WORDS = ("Your drawing's 784 pixels feed 128 neurons, which feed 128 more, which vote for the ten digits. "
                 "How to read this: a dark dot is a neuron firing hard for your drawing, a pale one is silent; "
                 "orange lines are the strongest pushes towards {digit}, thicker for stronger.")


def network_words(digit: int) -> str:
    """What the network picture shows, for someone who has never heard of neural networks."""
    return NETWORK_WORDS.format(digit=digit)


def picture_layout() -> dict:
    """What the browser's copy of `network_picture` (ui/live.js) reads: the picture's geometry, its
    colour for the paths, how many it draws, and its words."""
    return {"WIDTH": WIDTH, "HEIGHT": HEIGHT, "INPUT_BOX": list(INPUT_BOX), "HIDDEN_COLUMNS": list(HIDDEN_COLUMNS),
            "OUTPUT_X": OUTPUT_X, "DOT": DOT, "GRID_COLUMNS": GRID_COLUMNS, "FONT_SIZE": FONT_SIZE,
            "FOR_COLOUR": _rgb(FOR_COLOUR), "PATHS": PATHS, "FEEDERS": FEEDERS, "WORDS": NETWORK_WORDS}


def network_title(digit: int) -> str:
    """The network picture in one sentence: its title, and its alternative text."""
    return f"The network reading your drawing: 128 and 128 hidden neurons, and the ten outputs, where {digit} is lit."


def by_activity(forward: Forward, layer: int) -> list[int]:
    """The neurons of hidden layer `layer` (1 or 2), the most active for the drawing first."""
    return [int(i) for i in np.argsort(forward.activations[layer][0], kind="stable")[::-1]]


def neuron_words(forward: Forward, layer: int, neuron: int) -> str:
    """How one hidden neuron answers the drawing, in words: how hard it fires, and its rank."""
    activations = forward.activations[layer][0]
    if activations[neuron] <= 0:
        return f"For your drawing, neuron #{neuron} is silent: your ink does not look like what it looks for."
    rank = by_activity(forward, layer).index(neuron) + 1
    place = "the most active" if rank == 1 else f"number {rank} by activity"
    return f"For your drawing, neuron #{neuron} fires at {activations[neuron]:.1f}: {place} of {len(activations)}."


def _largest(values: np.ndarray, count: int) -> list[int]:
    """Indices of the `count` largest positive values, largest first."""
    order = np.argsort(values)[::-1][:count]
    return [int(i) for i in order if values[i] > 0]


def network_picture(classifier: Classifier, x: np.ndarray) -> tuple[str, Forward, list[Link]]:
    """The network reading `x`: an SVG picture, the forward pass it shows, and the paths it draws.

    Vector, not pixels: sharp on a projector and a phone alike, and it costs a tenth of encoding a
    PNG of it on every stroke.
    """
    forward = classifier.forward(x[None])
    digit = int(forward.probabilities[0].argmax())
    paths = strongest_paths(classifier, forward, digit)
    positions = [_grid(HIDDEN_COLUMNS[0], len(forward.activations[1][0])),
                 _grid(HIDDEN_COLUMNS[1], len(forward.activations[2][0])), output_centres()]
    parts = [f'<rect width="{WIDTH}" height="{HEIGHT}" fill="white"/>', _input_pixels(x)]
    strongest = max((p.amount for p in paths), default=1.0) or 1.0
    for path in paths:
        (x1, y1), (x2, y2) = positions[path.layer - 1][path.source], positions[path.layer][path.target]
        parts.append(f'<line x1="{x1:g}" y1="{y1:g}" x2="{x2:g}" y2="{y2:g}" stroke="{_rgb(FOR_COLOUR)}" '
                     f'stroke-width="{max(1, round(4 * path.amount / strongest))}"/>')
    for layer, points in enumerate(positions[:2], start=1):
        activation = forward.activations[layer][0]
        brightness = activation / max(float(activation.max()), 1e-9)
        for (cx, cy), b in zip(points, brightness):
            parts.append(f'<circle cx="{cx:g}" cy="{cy:g}" r="3.5" fill="{_grey(b)}"/>')
    for d, (cx, cy) in enumerate(positions[2]):
        p = float(forward.probabilities[0, d])
        fill = _rgb(FOR_COLOUR) if d == digit else _grey(p)
        parts.append(f'<circle cx="{cx:g}" cy="{cy:g}" r="9" fill="{fill}" stroke="rgb(120,120,120)"/>'
                     f'<text x="{cx + 14:g}" y="{cy:g}" dominant-baseline="central">{d}</text>')
    for label, cx in (("pixels", (INPUT_BOX[0] + INPUT_BOX[2]) // 2), ("hidden 1", HIDDEN_COLUMNS[0]),
                      ("hidden 2", HIDDEN_COLUMNS[1]), ("answer", OUTPUT_X)):
        parts.append(f'<text x="{cx}" y="8" text-anchor="middle" dominant-baseline="hanging">{label}</text>')
    title = network_title(digit)
    svg = (f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" '
           f'style="width:100%;height:auto" font-family="sans-serif" font-size="{FONT_SIZE}">'
           f'<title>{title}</title>{"".join(parts)}</svg>')
    return svg, forward, paths


def _input_pixels(x: np.ndarray) -> str:
    """The 28x28 input as squares on black: one per inked pixel, so it stays crisp at any size."""
    left, top, right, bottom = INPUT_BOX
    side = (right - left) / 28
    squares = [f'<rect x="{left}" y="{top}" width="{right - left}" height="{bottom - top}" fill="black"/>']
    for row, col in zip(*np.nonzero(x > 0)):
        grey = int(round(255 * min(float(x[row, col]), 1.0)))
        # A hair wider than a pixel, so neighbouring squares leave no seams between them.
        squares.append(f'<rect x="{left + col * side:g}" y="{top + row * side:g}" width="{side + 0.3:g}" '
                       f'height="{side + 0.3:g}" fill="rgb({grey},{grey},{grey})"/>')
    return "".join(squares)


def _grey(strength: float) -> str:
    """Dark for strongly active, pale for silent."""
    grey = int(235 - 235 * strength)
    return f"rgb({grey},{grey},{grey})"


def _rgb(colour: np.ndarray) -> str:
    return "rgb({},{},{})".format(*(int(c) for c in colour))


def _grid(centre_x: int, count: int) -> list[tuple[float, float]]:
    rows = -(-count // GRID_COLUMNS)
    top = (HEIGHT - rows * DOT) / 2 + DOT / 2
    left = centre_x - GRID_COLUMNS * DOT / 2 + DOT / 2
    return [(left + (i % GRID_COLUMNS) * DOT, top + (i // GRID_COLUMNS) * DOT) for i in range(count)]


def output_centres() -> list[tuple[float, float]]:
    """Where the ten output neurons are drawn in the network picture, 0 at the top."""
    step = (HEIGHT - 60) / 10
    return [(OUTPUT_X, 40 + step * d + step / 2) for d in range(10)]


def neuron_picture(classifier: Classifier, neuron: int, scale: int = 8) -> np.ndarray:
    """A first-hidden-layer neuron's 784 input weights as a 28x28 RGB picture: orange where ink excites
    it, blue where ink calms it, white where it does not care."""
    weights = classifier.into(1).kernel[:, neuron].reshape(28, 28)
    strength = weights / max(float(np.abs(weights).max()), 1e-9)
    colour = np.where(strength[..., None] > 0, FOR_COLOUR, AGAINST_COLOUR)
    alpha = np.abs(strength)[..., None]
    rgb = 255 * (1 - alpha) + colour * alpha
    return np.kron(rgb, np.ones((scale, scale, 1))).astype(np.uint8)


def most_exciting(activations: np.ndarray, neuron: int, count: int = 8) -> np.ndarray:
    """Indices of the `count` images whose activations (one row per image, from
    Classifier.layer_outputs) excite `neuron` most."""
    return np.argsort(activations[:, neuron])[::-1][:count]
