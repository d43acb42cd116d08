"""The training recipe: MNIST plus pen digits drawn as on the canvas, split by whole writers."""

import numpy as np
import pytest

from digitnet import TrainConfig, load_pendigits, save_run, train
from digitnet.config import HISTORY_FILENAME
from digitnet.data.pendigits import load_unipen
from digitnet.state.history import load_record
from digitnet.training.recipe import held_out_drawings, training_sets

WITH_WRITERS = TrainConfig(epochs=3, batch_size=16, hidden_units=32, learning_rate=1e-2,
                    test_writer_share=0.34, validation_writer_share=0.17, teacher=False)


@pytest.fixture(scope="module")
def pen(tiny_pen_file):
    return load_pendigits(tiny_pen_file)


@pytest.fixture(scope="module")
def unipen(tiny_unipen_file):
    return load_unipen(tiny_unipen_file)


def test_no_writer_is_on_two_sides(tiny_mnist, pen):
    sets = training_sets(WITH_WRITERS, tiny_mnist, [pen])
    split = sets.splits[pen.name]
    train_writers = set(sets.train.writers.tolist()) - {0}  # 0: MNIST's anonymous writers
    assert train_writers == set(split.train)
    assert set(sets.validation.writers.tolist()) - {0} == set(split.validation)
    assert set(sets.held_out[pen.name].writers.tolist()) == set(split.test)
    assert not train_writers & set(split.test)
    assert len(split.test) == 2 and len(split.validation) == 1  # 34% and 17% of six writers


def test_each_collection_is_split_and_held_out_on_its_own(tiny_mnist, pen, unipen):
    sets = training_sets(WITH_WRITERS, tiny_mnist, [pen, unipen])
    assert set(sets.held_out) == {"UCI pen digits", "UNIPEN"}
    for collection in (pen, unipen):
        split = sets.splits[collection.name]
        held_out = sets.held_out[collection.name]
        np.testing.assert_array_equal(held_out.y, collection.select(split.test).labels)
        assert not set(split.test) & set(split.train) and not set(split.test) & set(split.validation)
    n_val = int(len(tiny_mnist.x_train) * WITH_WRITERS.validation_split)
    trained = sum(np.count_nonzero(np.isin(c.writers, sets.splits[c.name].train)) for c in (pen, unipen))
    assert len(sets.train) == len(tiny_mnist.x_train) - n_val + WITH_WRITERS.pen_copies * trained


def test_adds_each_training_writer_s_digits_pen_copies_times(tiny_mnist, pen):
    sets = training_sets(WITH_WRITERS.replace(pen_copies=3), tiny_mnist, [pen])
    n_val = int(len(tiny_mnist.x_train) * WITH_WRITERS.validation_split)
    pen_train = np.count_nonzero(np.isin(pen.writers, sets.splits[pen.name].train))
    assert len(sets.train) == len(tiny_mnist.x_train) - n_val + 3 * pen_train
    assert sets.train.x.dtype == np.uint8 and sets.train.x.shape[1:] == (28, 28)
    assert sets.train.x.max() == 255


def test_mnist_alone_when_asked(tiny_mnist, pen):
    sets = training_sets(WITH_WRITERS.replace(pen_digits=False), tiny_mnist, [pen])
    assert sets.held_out == {} and sets.splits == {}
    assert len(sets.train) + len(sets.validation) == len(tiny_mnist.x_train)


def test_held_out_drawings_are_the_same_every_time_and_in_order(tiny_mnist, pen):
    split = training_sets(WITH_WRITERS, tiny_mnist, [pen]).splits[pen.name]
    first, second = held_out_drawings(pen, split.test), held_out_drawings(pen, split.test)
    np.testing.assert_array_equal(first.x, second.x)
    np.testing.assert_array_equal(first.y, pen.select(split.test).labels)
    np.testing.assert_array_equal(first.writers, pen.select(split.test).writers)


@pytest.mark.training
def test_training_records_every_source_and_the_held_out_writers(tiny_mnist, pen, unipen, tmp_path):
    from digitnet.training.evaluate import Evaluation

    run = train(WITH_WRITERS, tiny_mnist, [pen, unipen])
    assert set(run.held_out) == {pen.name, unipen.name}
    save_run(run, tmp_path)
    record = load_record(tmp_path / HISTORY_FILENAME)
    mnist_source, pen_source, unipen_source = record.sources
    assert mnist_source["fingerprint"] == tiny_mnist.fingerprint()
    assert (pen_source["name"], pen_source["fingerprint"]) == (pen.name, pen.fingerprint)
    assert (unipen_source["name"], unipen_source["fingerprint"]) == (unipen.name, unipen.fingerprint)
    assert pen_source["writers"]["test"] == sorted(run.held_out[pen.name].per_writer())
    assert unipen_source["writers"]["test"] == sorted(run.held_out[unipen.name].per_writer())
    score = record.held_out_writers
    assert score.accuracy == pytest.approx(Evaluation.joined(run.held_out.values()).accuracy)
    assert score.writers == 3  # two of six, one of four
    assert score.collections[unipen.name].accuracy == pytest.approx(run.held_out[unipen.name].accuracy)
    assert len(score.every_writer) == 3 and score.worst_writer[1] == min(score.every_writer.values())
    assert record.temperature == pytest.approx(run.temperature) and run.temperature > 0


def test_drawings_the_page_would_refuse_are_left_out_and_counted_wrong(tiny_mnist, tmp_path):
    from conftest import pen_shape, pen_text

    from digitnet.reading.classifier import Classifier
    from digitnet.training.evaluate import evaluate_drawings
    from digitnet.training.model import build_model

    dot = [[(250, 250)]]  # one touch of the pen: a disc, which the page refuses as a blob
    digits = [(1, writer, pen_shape(1, 0)) for writer in (1, 2, 3, 4) for _ in range(3)]
    digits += [(0, writer, dot) for writer in (1, 2, 3, 4)]
    path = tmp_path / "dots.tra"
    path.write_text(pen_text(digits))
    pen = load_pendigits(path)
    sets = training_sets(WITH_WRITERS.replace(test_writer_share=0.25, validation_writer_share=0.25), tiny_mnist, [pen])
    held_out = sets.held_out[pen.name]
    assert held_out.refused == 1 and len(held_out) == 3
    # Two writers' three 1s, each drawn pen_copies times; no dots.
    assert np.count_nonzero(sets.train.writers) == 2 * 3 * WITH_WRITERS.pen_copies
    result = evaluate_drawings(Classifier.from_keras(build_model(WITH_WRITERS)), held_out)
    assert result.accuracy <= 3 / 4


def test_a_job_drawn_before_is_read_from_the_cache(pen, monkeypatch, drawing_cache):
    import subprocess

    from digitnet.data.render import Hand
    from digitnet.training.recipe import draw

    first = draw(pen.select([1, 2]), Hand(), seed=77)
    assert len(list(drawing_cache.glob("*.npz"))) >= 4
    monkeypatch.setattr(subprocess, "Popen", lambda *a, **k: pytest.fail("drew again instead of reading the cache"))
    again = draw(pen.select([1, 2]), Hand(), seed=77)
    np.testing.assert_array_equal(first.x, again.x)


def test_the_same_file_in_another_checkout_finds_its_digits_drawn(tiny_pen_file, tmp_path, monkeypatch,
                                                                 drawing_cache):
    import shutil
    import subprocess

    from digitnet.data.render import Hand
    from digitnet.training.recipe import draw

    original = load_pendigits(tiny_pen_file).select([5])
    first = draw(original, Hand(), seed=80)
    clone = tmp_path / "clone" / tiny_pen_file.name
    clone.parent.mkdir()
    shutil.copy(tiny_pen_file, clone)
    moved = load_pendigits(clone).select([5])
    assert moved.source != original.source
    monkeypatch.setattr(subprocess, "Popen", lambda *a, **k: pytest.fail("drew again instead of reading the cache"))
    np.testing.assert_array_equal(draw(moved, Hand(), seed=80).x, first.x)


def test_a_broken_cache_file_is_drawn_again(pen, drawing_cache):
    from digitnet.data.render import Hand
    from digitnet.training.recipe import draw

    first = draw(pen.select([3]), Hand(), seed=78)
    for path in drawing_cache.glob("*.npz"):
        path.write_bytes(b"half a file")
    again = draw(pen.select([3]), Hand(), seed=78)
    np.testing.assert_array_equal(first.x, again.x)


def test_a_failing_worker_says_why(pen, monkeypatch):
    from digitnet.data.render import Hand
    from digitnet.training.recipe import draw

    monkeypatch.setattr("sys.executable", "/bin/false")
    with pytest.raises(RuntimeError, match="drawing worker failed"):
        draw(pen.select([4]), Hand(), seed=79)
