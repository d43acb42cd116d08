"""The shipped model on the real data: MNIST's test digits, digits drawn like a person, and real people's
pen digits by writers it never trained on."""

import numpy as np
import pytest

from digitnet import load_classifier, load_mnist, to_mnist
from digitnet.config import SHIPPED_MODEL
from digitnet.data.drawn import FORMS, make_drawn_set, squash_to_28
from digitnet.data.pendigits import load_pen_collections
from digitnet.state.history import history_path, load_record
from digitnet.training.evaluate import Evaluation, drawn_accuracy, evaluate, evaluate_drawings
from digitnet.training.recipe import held_out_drawings, unseen_writers

pytestmark = pytest.mark.training

DRAWINGS = 3000
# Issue 29's aims for real people it never saw, which the shipped model meets (docs/handwriting.md).
PEOPLE_TARGET = 0.985
COLLECTION_TARGET = {"UCI pen digits": 0.98, "UNIPEN": 0.98}
DIGIT_TARGET = 0.97
MNIST_TARGET = 0.99  # MNIST's test digits as they come, through the public predict_proba
CONFIDENT_MISREADS_TARGET = 0.15  # of the misreads, those said with >= 90% confidence
CALIBRATION_TARGET = 0.02
# What the shipped model reaches, guarded so that no change makes it worse; the aim is higher (97.5%).
DRAWN_TARGET = 0.97


@pytest.fixture(scope="module")
def mnist(mnist_path):
    return load_mnist(mnist_path)


@pytest.fixture(scope="module")
def classifier():
    return load_classifier()


@pytest.fixture(scope="module")
def drawings(mnist):
    return make_drawn_set(mnist.x_test, mnist.y_test, DRAWINGS)


@pytest.fixture(scope="module")
def record():
    return load_record(history_path(SHIPPED_MODEL))


def test_shipped_model_reaches_target_test_accuracy(classifier, mnist):
    result = evaluate(classifier, mnist.upright())
    assert result.accuracy >= 0.987
    assert result.per_digit.min() >= 0.97


def test_the_public_api_reads_mnist_s_own_digits_as_they_come(classifier, mnist):
    """`x_test / 255`, slanted as people wrote them: predict_proba makes them upright itself."""
    raw = (classifier.predict_proba(mnist.x_test / 255.0).argmax(axis=1) == mnist.y_test).mean()
    assert raw >= MNIST_TARGET and raw == pytest.approx(evaluate(classifier, mnist.upright()).accuracy, abs=1e-3)


def test_shipped_history_matches_the_model(classifier, mnist, people, record):
    assert record.test_accuracy == pytest.approx(evaluate(classifier, mnist.upright()).accuracy, abs=1e-3)
    assert record.sources[0]["fingerprint"] == mnist.fingerprint()
    assert len(record.curves["val_accuracy"]) == record.config.epochs
    assert record.weights == classifier.fingerprint
    score = record.held_out_writers
    assert score.accuracy == pytest.approx(Evaluation.joined(people.values()).accuracy, abs=1e-3)
    for name, result in people.items():
        assert score.collections[name].accuracy == pytest.approx(result.accuracy, abs=1e-3)


@pytest.fixture(scope="module")
def pens(shared_pendigits, shared_unipen):
    """Both collections as training and measuring see them: without the digits whose label is wrong."""
    return load_pen_collections(shared_pendigits, shared_unipen)


@pytest.fixture(scope="module")
def people(classifier, pens, record) -> dict[str, Evaluation]:
    """The shipped model on each collection's pen digits by the writers it never trained on, drawn as on the canvas."""
    return {pen.name: evaluate_drawings(classifier, held_out_drawings(pen, unseen_writers(pen, record)))
            for pen in pens}


def test_shipped_model_never_trained_on_its_test_writers(pens, record):
    held_out = 0
    for pen in pens:
        source = next(s for s in record.sources if s["name"] == pen.name)
        assert source["fingerprint"] == pen.fingerprint
        writers = source["writers"]
        assert not set(writers["test"]) & (set(writers["train"]) | set(writers["validation"]))
        assert sorted(writers["train"] + writers["validation"] + writers["test"]) == sorted(set(pen.writers.tolist()))
        held_out += len(writers["test"])
    assert held_out >= 40


def test_shipped_model_reads_real_people_it_never_saw(people):
    together = Evaluation.joined(people.values())
    assert together.accuracy >= PEOPLE_TARGET
    assert together.per_digit.min() >= DIGIT_TARGET
    for name, result in people.items():
        assert result.accuracy >= COLLECTION_TARGET[name], name


def test_shipped_model_is_rarely_sure_when_wrong(people):
    together = Evaluation.joined(people.values())
    assert together.confident_misreads <= CONFIDENT_MISREADS_TARGET
    assert together.calibration_error <= CALIBRATION_TARGET


def test_drawn_set_covers_every_form(drawings):
    assert {d.form for d in drawings} == set(FORMS)
    assert {d.image.shape[2] for d in drawings} == {3, 4}


def test_drawings_are_read_like_mnist(classifier, drawings):
    accuracy = drawn_accuracy(classifier, drawings, to_mnist)
    baseline = drawn_accuracy(classifier, drawings, squash_to_28)
    assert accuracy >= DRAWN_TARGET
    assert baseline < 0.5


@pytest.mark.parametrize("form", FORMS)
def test_each_input_form_is_read(classifier, drawings, form):
    subset = [d for d in drawings if d.form == form]
    assert drawn_accuracy(classifier, subset, to_mnist) >= DRAWN_TARGET - 0.01


def test_classifier_agrees_with_keras(classifier, mnist):
    from digitnet.training.model import load_keras_model

    x = mnist.x_test[:256].astype(np.float32) / 255
    keras_model = load_keras_model(SHIPPED_MODEL)
    np.testing.assert_allclose(classifier.forward(x).probabilities, np.asarray(keras_model(x)),
                               rtol=1e-4, atol=1e-6)


def test_the_page_answers_test_digits_as_the_evaluation_scores_them(classifier, mnist):
    """Shown as the input, a test digit gets the answer the gallery of mistakes lists; none is refused."""
    result = evaluate(classifier, mnist.upright())
    once_refused_as_blobs = [7845, 7853, 7925]
    for index in once_refused_as_blobs + result.mistakes()[:30].tolist():
        assert classifier.predict(to_mnist(mnist.x_test[index])) == result.predicted[index]
