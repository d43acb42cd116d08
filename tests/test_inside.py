"""Inside the network: the picture shows the classifier's own forward pass and its strongest paths."""

from xml.etree import ElementTree

import numpy as np
import pytest

from digitnet.reading.classifier import Classifier, DenseLayer
from digitnet.reading.explain import FOR_COLOUR
from digitnet.reading.inside import (by_activity, most_exciting, network_picture, network_words, neuron_picture,
                                     neuron_words, strongest_paths)

SVG = "{http://www.w3.org/2000/svg}"


@pytest.fixture(scope="module")
def small():
    """A small network of the seed's shape, with random weights: 784 -> 6 -> 5 -> 10."""
    rng = np.random.default_rng(0)
    shapes = [(784, 6, "relu"), (6, 5, "relu"), (5, 10, "softmax")]
    return Classifier([DenseLayer(rng.normal(0, 0.3, (n_in, n_out)).astype(np.float32),
                                  rng.normal(0, 0.1, n_out).astype(np.float32), act) for n_in, n_out, act in shapes])


@pytest.fixture(scope="module")
def drawing():
    x = np.zeros((28, 28), np.float32)
    x[5:23, 12:16] = 1.0
    return x


def test_the_picture_shows_the_classifier_s_own_forward_pass(small, drawing):
    svg, forward, paths = network_picture(small, drawing)
    expected = small.forward(drawing[None])
    for shown, own in zip(forward.activations, expected.activations):
        np.testing.assert_array_equal(shown, own)
    picture = ElementTree.fromstring(svg)
    circles = picture.findall(f"{SVG}circle")
    assert len(circles) == 6 + 5 + 10  # every neuron of the small network
    # Each hidden neuron's shade is its activation: darkest for the most active of its layer.
    for layer, dots in ((1, circles[:6]), (2, circles[6:11])):
        activation = expected.activations[layer][0]
        shades = [int(dot.get("fill")[4:].split(",")[0]) for dot in dots]
        assert shades == [int(235 - 235 * a / max(activation.max(), 1e-9)) for a in activation]
    digit = int(expected.probabilities[0].argmax())
    outputs = circles[11:]
    assert [dot.get("fill") for dot in outputs].count("rgb(230,159,0)") == 1
    assert outputs[digit].get("fill") == "rgb(230,159,0)"
    assert [t.text for t in picture.findall(f"{SVG}text")][:10] == [str(d) for d in range(10)]
    assert len(picture.findall(f"{SVG}line")) == len(paths)
    # The input: one square per inked pixel, on a black square.
    assert len(picture.findall(f"{SVG}rect")) == 2 + np.count_nonzero(drawing)


def test_the_paths_are_the_strongest_contributions(small, drawing):
    forward = small.forward(drawing[None])
    digit = int(forward.probabilities[0].argmax())
    paths = strongest_paths(small, forward, digit, top=3, feeders=2)
    # Brute force: every hidden-2 neuron's activation x weight into the answer, largest first.
    h1, h2 = forward.activations[1][0], forward.activations[2][0]
    into_answer = sorted(((h2[j] * small.into(3).kernel[j, digit], j) for j in range(5)), reverse=True)
    expected = [j for value, j in into_answer[:3] if value > 0]
    assert [p.source for p in paths if p.layer == 2] == expected
    for j in expected:
        into_j = sorted(((h1[i] * small.into(2).kernel[i, j], i) for i in range(6)), reverse=True)
        assert [p.source for p in paths if p.layer == 1 and p.target == j] == [i for v, i in into_j[:2] if v > 0]
    assert all(p.amount > 0 for p in paths)


def test_a_neuron_s_picture_is_its_weights(small):
    picture = neuron_picture(small, 3, scale=1)
    weights = small.into(1).kernel[:, 3].reshape(28, 28)
    strongest = np.unravel_index(np.abs(weights).argmax(), weights.shape)
    assert picture.shape == (28, 28, 3)
    colour = FOR_COLOUR if weights[strongest] > 0 else np.array([0, 114, 178])
    np.testing.assert_allclose(picture[strongest], colour, atol=1)
    calm = np.unravel_index(np.abs(weights).argmin(), weights.shape)
    assert picture[calm].min() > 200  # a weight near zero is near white


def test_most_exciting_images_by_brute_force(small):
    images = np.random.default_rng(1).integers(0, 256, (50, 28, 28)).astype(np.uint8)
    chosen = most_exciting(small.layer_outputs(images, 2), neuron=1, count=5)
    activations = [small.forward(image[None] / 255.0).activations[2][0, 1] for image in images]
    assert sorted(chosen.tolist()) == sorted(np.argsort(activations)[::-1][:5].tolist())


def test_neurons_are_ranked_and_worded_by_how_hard_they_fire(small, drawing):
    forward = small.forward(drawing[None])
    hidden_1 = forward.activations[1][0]
    order = by_activity(forward, 1)
    assert sorted(order) == list(range(len(hidden_1)))
    assert all(hidden_1[a] >= hidden_1[b] for a, b in zip(order, order[1:]))
    busiest, quietest = order[0], order[-1]
    assert neuron_words(forward, 1, busiest) == (
        f"For your drawing, neuron #{busiest} fires at {hidden_1[busiest]:.1f}: the most active of {len(hidden_1)}.")
    if hidden_1[quietest] <= 0:
        assert "is silent" in neuron_words(forward, 1, quietest)
    else:
        assert f"number {len(hidden_1)} by activity" in neuron_words(forward, 1, quietest)
    assert "towards 7," in network_words(7)
