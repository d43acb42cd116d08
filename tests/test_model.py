"""The network, the numpy Classifier over its weights, and saving models whole."""

import zipfile

import numpy as np
import pytest

from digitnet import Classifier, ImageError, ModelFileError, TrainConfig, load_classifier
from digitnet.model import build_model, save_model

CONFIG = TrainConfig(hidden_units=16)


@pytest.fixture(scope="module")
def model():
    return build_model(CONFIG)


def test_seed_architecture(model):
    kinds = [type(layer).__name__ for layer in model.layers]
    assert kinds == ["Flatten", "Dense", "Dropout", "Dense", "Dropout", "Dense"]
    assert model.output_shape == (None, 10)
    assert model.layers[-1].get_config()["activation"] == "softmax"


def test_building_does_not_rely_on_keras_automatic_names(monkeypatch):
    # Keras numbers automatic names with a per-thread counter; in a retrain's worker thread it has handed
    # out "dense" twice. Stand in for that: every automatic name comes out the same.
    monkeypatch.setattr("keras.src.utils.naming.uniquify", lambda name: name)
    model = build_model(CONFIG)
    names = [layer.name for layer in model.layers]
    assert len(set(names)) == len(names)


def test_classifier_matches_keras(model):
    x = np.random.default_rng(0).random((5, 28, 28), dtype=np.float32)
    expected = np.asarray(model(x, training=False))
    classifier = Classifier.from_keras(model)
    np.testing.assert_allclose(classifier.predict_proba(x), expected, rtol=1e-4, atol=1e-6)


def test_predict_proba_shapes_and_sums(model):
    classifier = Classifier.from_keras(model)
    one = classifier.predict_proba(np.zeros((28, 28)))
    batch = classifier.predict_proba(np.zeros((3, 28, 28)))
    assert one.shape == (10,) and batch.shape == (3, 10)
    np.testing.assert_allclose(batch.sum(axis=1), 1.0, rtol=1e-5)
    assert isinstance(classifier.predict(np.zeros((28, 28))), int)


@pytest.mark.parametrize("bad", [np.zeros((28, 27)), np.zeros((784,)), np.full((28, 28), np.inf)])
def test_predict_proba_refuses_bad_input(model, bad):
    with pytest.raises(ImageError):
        Classifier.from_keras(model).predict_proba(bad)


def test_classifier_weights_are_read_only(model):
    classifier = Classifier.from_keras(model)
    with pytest.raises(ValueError):
        classifier.layers[0].kernel[0, 0] = 1.0


def test_save_load_round_trip(model, tmp_path):
    path = tmp_path / "m.keras"
    save_model(model, path)
    x = np.random.default_rng(1).random((4, 28, 28), dtype=np.float32)
    np.testing.assert_allclose(
        load_classifier(path).predict_proba(x), np.asarray(model(x, training=False)), rtol=1e-4, atol=1e-6
    )
    assert [p.name for p in tmp_path.iterdir()] == ["m.keras"]


def test_failed_save_keeps_the_old_model(model, tmp_path, monkeypatch):
    path = tmp_path / "m.keras"
    save_model(model, path)
    before = path.read_bytes()

    def half_written(filepath, *args, **kwargs):
        with open(filepath, "wb") as f:
            f.write(b"PK\x03\x04 half a zip")
        raise OSError("disk full")

    monkeypatch.setattr(model, "save", half_written)
    with pytest.raises(OSError, match="disk full"):
        save_model(model, path)
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["m.keras"]


def test_broken_model_files_raise_model_file_error(tmp_path):
    with pytest.raises(ModelFileError, match="No model file"):
        load_classifier(tmp_path / "missing.keras")
    empty = tmp_path / "empty.keras"
    empty.write_bytes(b"")
    with pytest.raises(ModelFileError, match="empty"):
        load_classifier(empty)
    garbage = tmp_path / "garbage.keras"
    garbage.write_bytes(b"not a zip at all" * 10)
    with pytest.raises(ModelFileError, match="Cannot load"):
        load_classifier(garbage)


def test_truncated_model_file_raises_model_file_error(model, tmp_path):
    path = tmp_path / "m.keras"
    save_model(model, path)
    path.write_bytes(path.read_bytes()[:2000])
    with pytest.raises(ModelFileError):
        load_classifier(path)
    assert not zipfile.is_zipfile(path)
