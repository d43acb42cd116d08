"""The training recipe: MNIST plus pen digits drawn as on the canvas, split by whole writers."""

import numpy as np
import pytest

from digitnet import TrainConfig, load_pendigits, save_run, train
from digitnet.config import HISTORY_FILENAME
from digitnet.history import load_history
from digitnet.recipe import held_out_drawings, training_sets

QUICK = TrainConfig(epochs=3, batch_size=16, hidden_units=32, learning_rate=1e-2,
                    test_writers=2, validation_writers=1)


@pytest.fixture(scope="module")
def pen(tiny_pen_file):
    return load_pendigits(tiny_pen_file)


def test_no_writer_is_on_two_sides(tiny_mnist, pen):
    sets = training_sets(QUICK, tiny_mnist, pen)
    train_writers = set(sets.train.writers.tolist()) - {0}  # 0: MNIST's anonymous writers
    assert train_writers == set(sets.split.train)
    assert set(sets.validation.writers.tolist()) - {0} == set(sets.split.validation)
    assert set(sets.held_out.writers.tolist()) == set(sets.split.test)
    assert not train_writers & set(sets.split.test)


def test_adds_each_training_writer_s_digits_pen_copies_times(tiny_mnist, pen):
    sets = training_sets(QUICK.replace(pen_copies=3), tiny_mnist, pen)
    n_val = int(len(tiny_mnist.x_train) * QUICK.validation_split)
    pen_train = np.count_nonzero(np.isin(pen.writers, sets.split.train))
    assert len(sets.train) == len(tiny_mnist.x_train) - n_val + 3 * pen_train
    assert sets.train.x.dtype == np.uint8 and sets.train.x.shape[1:] == (28, 28)
    assert sets.train.x.max() == 255


def test_mnist_alone_when_asked(tiny_mnist, pen):
    sets = training_sets(QUICK.replace(pen_digits=False), tiny_mnist, pen)
    assert sets.held_out is None and sets.split is None
    assert len(sets.train) + len(sets.validation) == len(tiny_mnist.x_train)


def test_held_out_drawings_are_the_same_every_time_and_in_order(tiny_mnist, pen):
    split = training_sets(QUICK, tiny_mnist, pen).split
    first, second = held_out_drawings(pen, split.test), held_out_drawings(pen, split.test)
    np.testing.assert_array_equal(first.x, second.x)
    np.testing.assert_array_equal(first.y, pen.select(split.test).labels)
    np.testing.assert_array_equal(first.writers, pen.select(split.test).writers)


def test_training_records_every_source_and_the_held_out_writers(tiny_mnist, pen, tmp_path):
    run = train(QUICK, tiny_mnist, pen)
    assert run.held_out is not None and 0 <= run.held_out.accuracy <= 1
    save_run(run, tmp_path)
    record = load_history(tmp_path / HISTORY_FILENAME)
    mnist_source, pen_source = record["sources"]
    assert mnist_source["fingerprint"] == tiny_mnist.fingerprint()
    assert pen_source["fingerprint"] == pen.fingerprint
    assert pen_source["writers"]["test"] == sorted(run.held_out.per_writer())
    held_out = record["held_out_writers"]
    assert held_out["accuracy"] == pytest.approx(run.held_out.accuracy)
    assert set(held_out) >= {"per_digit", "per_writer", "confident_misreads", "calibration_error"}
    assert record["temperature"] > 0


def test_drawings_the_page_would_refuse_are_left_out_and_counted_wrong(tiny_mnist, tmp_path):
    from conftest import pen_shape, pen_text
    from digitnet.evaluate import evaluate_drawings
    from digitnet.classifier import Classifier
    from digitnet.model import build_model

    dot = [[(250, 250)]]  # one touch of the pen: a disc, which the page refuses as a blob
    digits = [(1, writer, pen_shape(1, 0)) for writer in (1, 2, 3, 4) for _ in range(3)]
    digits += [(0, writer, dot) for writer in (1, 2, 3, 4)]
    path = tmp_path / "dots.tra"
    path.write_text(pen_text(digits))
    pen = load_pendigits(path)
    sets = training_sets(QUICK.replace(test_writers=1, validation_writers=1), tiny_mnist, pen)
    assert sets.held_out.refused == 1 and len(sets.held_out) == 3
    assert np.count_nonzero(sets.train.writers) == 2 * 3 * 2  # two writers' three 1s, twice; no dots
    result = evaluate_drawings(Classifier.from_keras(build_model(QUICK)), sets.held_out)
    assert result.accuracy <= 3 / 4


def test_a_job_drawn_before_is_read_from_the_cache(pen, monkeypatch, drawing_cache):
    import subprocess

    from digitnet.recipe import draw
    from digitnet.render import Hand

    first = draw(pen.select([1, 2]), Hand(), seed=77)
    assert len(list(drawing_cache.glob("*.npz"))) >= 4
    monkeypatch.setattr(subprocess, "Popen", lambda *a, **k: pytest.fail("drew again instead of reading the cache"))
    again = draw(pen.select([1, 2]), Hand(), seed=77)
    np.testing.assert_array_equal(first.x, again.x)


def test_a_broken_cache_file_is_drawn_again(pen, drawing_cache):
    from digitnet.recipe import draw
    from digitnet.render import Hand

    first = draw(pen.select([3]), Hand(), seed=78)
    for path in drawing_cache.glob("*.npz"):
        path.write_bytes(b"half a file")
    again = draw(pen.select([3]), Hand(), seed=78)
    np.testing.assert_array_equal(first.x, again.x)


def test_a_failing_worker_says_why(pen, monkeypatch):
    from digitnet.recipe import draw
    from digitnet.render import Hand

    monkeypatch.setattr("sys.executable", "/bin/false")
    with pytest.raises(RuntimeError, match="drawing worker failed"):
        draw(pen.select([4]), Hand(), seed=79)
