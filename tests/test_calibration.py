"""Honest confidence: fitting a temperature, folding it into the last layer, and the calibration figures."""

import keras
import numpy as np
import pytest

from digitnet.training.calibration import fit_temperature, fold_temperature
from digitnet.training.evaluate import Evaluation, calibration_error


def softmax(z):
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def overconfident(n=4000, true_temperature=2.5, seed=0):
    """Answers drawn from softmax(z), reported as softmax(z * true_temperature): sure far too often."""
    rng = np.random.default_rng(seed)
    z = rng.normal(0, 2, size=(n, 10))
    labels = np.array([rng.choice(10, p=p) for p in softmax(z)])
    return softmax(z * true_temperature), labels


def test_fits_the_temperature_that_made_answers_overconfident():
    probabilities, labels = overconfident()
    assert fit_temperature(probabilities, labels) == pytest.approx(2.5, rel=0.1)


def test_the_fitted_temperature_lowers_the_calibration_error():
    probabilities, labels = overconfident()
    t = fit_temperature(probabilities, labels)
    calibrated = softmax(np.log(probabilities) / t)
    assert calibration_error(calibrated, labels) < 0.5 * calibration_error(probabilities, labels)


def test_a_network_too_modest_is_left_as_it_is():
    """Sharpening would make its misreads surer too: the temperature stays 1."""
    probabilities, labels = overconfident(true_temperature=0.5)
    assert fit_temperature(probabilities, labels) == 1.0


def test_calibration_error_against_a_hand_count():
    # Two answers at 0.95 (one right), two at 0.55 (both right): |0.5-0.95|/2 + |1-0.55|/2 = 0.45.
    p = np.array([[0.95, 0.05], [0.95, 0.05], [0.55, 0.45], [0.45, 0.55]])
    p = np.pad(p, ((0, 0), (0, 8)))
    labels = np.array([0, 1, 0, 1])
    assert calibration_error(p, labels) == pytest.approx(0.45)


def test_folding_divides_the_logits_and_keeps_the_answers():
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3, activation="softmax")])
    x = np.random.default_rng(0).normal(size=(20, 4)).astype(np.float32)
    kernel, bias = model.layers[-1].get_weights()
    before = np.asarray(model(x))
    fold_temperature(model, 2.0)
    expected = softmax((x @ kernel + bias) / 2.0)
    np.testing.assert_allclose(np.asarray(model(x)), expected, rtol=1e-5, atol=1e-6)
    assert (before.argmax(axis=1) == np.asarray(model(x)).argmax(axis=1)).all()


def test_evaluation_counts_confident_misreads_and_writers():
    p = np.full((5, 10), 0.01)
    p[0, 1] = p[1, 2] = p[2, 3] = 0.91  # read as 1, 2, 3
    p[3, 4] = p[4, 5] = 0.5  # read as 4, 5
    result = Evaluation(labels=np.array([1, 2, 0, 0, 5]), probabilities=p, writers=np.array([7, 7, 8, 8, 8]))
    assert result.accuracy == pytest.approx(3 / 5)
    assert result.mistakes().tolist() == [2, 3]
    assert result.confident_misreads == pytest.approx(1 / 2)
    assert result.per_writer() == {7: 1.0, 8: pytest.approx(1 / 3)}
    assert result.per_digit[0] == 0.0 and result.per_digit[1] == 1.0
    assert result.score().misreads == 2
    assert [result.next_mistake(i) for i in (0, 2, 3)] == [2, 3, 2]  # round to the first after the last
    right = Evaluation(labels=np.array([1, 2]), probabilities=p[:2], writers=None)
    assert right.next_mistake(0) is None
