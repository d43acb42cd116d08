"""The shared training job on its own: one at a time, cancel, failure keeps the old model, success swaps it."""

import threading

import numpy as np
import pytest

from digitnet import DataError, TrainConfig
from digitnet.jobs import CANCELLED, FAILED, SUCCEEDED, TrainingJob
from digitnet.model import build_model, save_model
from digitnet.store import ModelStore

QUICK = TrainConfig(epochs=2, batch_size=16, hidden_units=16, learning_rate=1e-2, pen_digits=False)


@pytest.fixture
def store(tmp_path):
    shipped = tmp_path / "shipped" / "digitnet.keras"
    save_model(build_model(QUICK), shipped)
    return ModelStore(shipped=shipped, retrained_dir=tmp_path / "retrained")


def test_success_saves_and_swaps_the_model(store, tiny_mnist):
    job = TrainingJob(store, load_data=lambda: tiny_mnist)
    assert store.active_path() == store.shipped
    assert job.start(QUICK)
    status = job.wait(120)
    assert status.state == SUCCEEDED, status.message
    assert status.epochs_done == 2 and len(status.history["val_accuracy"]) == 2
    assert store.active_path() == store.retrained
    loaded = store.load()
    assert loaded.path == store.retrained and loaded.history["config"]["epochs"] == 2


def test_only_one_training_at_a_time_and_cancel(store, tiny_mnist):
    release = threading.Event()

    def slow_data():
        release.wait(30)
        return tiny_mnist

    job = TrainingJob(store, load_data=slow_data)
    assert job.start(QUICK.replace(epochs=200))
    assert job.status().running
    assert not job.start(QUICK)
    job.cancel()
    release.set()
    status = job.wait(120)
    assert status.state == CANCELLED
    assert "unchanged" in status.message
    assert store.active_path() == store.shipped
    assert job.start(QUICK)  # a new run may start once the last one ended
    assert job.wait(120).state == SUCCEEDED


def test_failure_keeps_the_model_in_use(store, tiny_mnist):
    good = TrainingJob(store, load_data=lambda: tiny_mnist)
    good.start(QUICK)
    good.wait(120)
    before = store.retrained.read_bytes()

    def broken_data():
        raise DataError("y_train must hold labels 0..9, found 0..12")

    job = TrainingJob(store, load_data=broken_data)
    job.start(QUICK)
    status = job.wait(60)
    assert status.state == FAILED
    assert "labels 0..9" in status.message and "unchanged" in status.message
    assert store.retrained.read_bytes() == before


def test_failure_while_saving_keeps_the_model_in_use(store, tiny_mnist, monkeypatch):
    def disk_full(run):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(store.__class__, "save", lambda self, run: disk_full(run))
    job = TrainingJob(store, load_data=lambda: tiny_mnist)
    job.start(QUICK)
    status = job.wait(120)
    assert status.state == FAILED and "No space left" in status.message
    assert store.active_path() == store.shipped


def test_progress_and_time_left(store, tiny_mnist):
    job = TrainingJob(store, load_data=lambda: tiny_mnist)
    job.start(QUICK)
    status = job.wait(120)
    assert status.fraction_done == 1.0
    assert status.seconds_left() is None  # finished: nothing left to estimate


def test_restore_shipped_and_broken_retrained_model_falls_back(store, tiny_mnist):
    job = TrainingJob(store, load_data=lambda: tiny_mnist)
    job.start(QUICK)
    job.wait(120)
    store.retrained.write_bytes(b"truncated")
    loaded = store.load()
    assert loaded.path == store.shipped
    assert "could not be loaded" in loaded.warnings[0]
    store.restore_shipped()
    assert store.active_path() == store.shipped
    assert np.isfinite(store.load().classifier.predict_proba(np.zeros((28, 28)))).all()


def test_retrain_with_drawings_reports_before_and_after(store, tiny_mnist, tmp_path):
    from digitnet.corrections import Corrections

    corrections = Corrections(tmp_path / "drawings")
    for _ in range(40):
        corrections.add(tiny_mnist.x_test[0].astype(np.float32) / 255, int(tiny_mnist.y_test[0]))
    job = TrainingJob(store, load_data=lambda: tiny_mnist, corrections=corrections)
    job.start(QUICK.replace(include_drawings=True, drawing_repeats=5))
    status = job.wait(120)
    assert status.state == SUCCEEDED, status.message
    assert "held-out drawings" in status.message and "before" in status.message and "after" in status.message


def test_retrain_learns_from_pen_digits_by_default_and_says_so(store, tiny_mnist, tiny_pen_file):
    from digitnet import load_pendigits

    job = TrainingJob(store, load_data=lambda: tiny_mnist, load_pen=lambda: load_pendigits(tiny_pen_file))
    job.start(QUICK.replace(pen_digits=True, test_writers=2, validation_writers=1))
    status = job.wait(180)
    assert status.state == SUCCEEDED, status.message
    assert "real people" in status.message
    record = store.load().history
    assert [source["name"] for source in record["sources"]] == ["MNIST", "UCI pen digits"]
    assert 0 <= record["held_out_writers"]["accuracy"] <= 1


def test_a_broken_pen_digit_file_fails_the_retrain_and_keeps_the_model(store, tiny_mnist, tmp_path):
    from digitnet import load_pendigits

    broken = tmp_path / "broken.tra"
    broken.write_text('.SEGMENT DIGIT 0 ? "4"\n.COMMENT 4 1 0\n.PEN_DOWN\n 10 20\n')
    job = TrainingJob(store, load_data=lambda: tiny_mnist, load_pen=lambda: load_pendigits(broken))
    job.start(QUICK.replace(pen_digits=True))
    status = job.wait(60)
    assert status.state == FAILED
    assert "truncated" in status.message and "unchanged" in status.message
    assert store.active_path() == store.shipped
