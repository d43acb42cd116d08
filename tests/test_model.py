"""The network, the numpy Classifier over its weights, and saving models whole."""

import json

import numpy as np
import pytest

from digitnet import Classifier, ImageError, ModelFileError, TrainConfig, load_classifier
from digitnet.training.model import build_model, save_model
from waiting import TIMEOUT_S

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
    # Keras numbers automatic names with a per-thread counter; models built in two threads of one process
    # have had "dense" twice. Stand in for that: every automatic name comes out the same.
    monkeypatch.setattr("keras.src.utils.naming.uniquify", lambda name: name)
    model = build_model(CONFIG)
    names = [layer.name for layer in model.layers]
    assert len(set(names)) == len(names)


def test_classifier_matches_keras(model):
    x = np.random.default_rng(0).random((5, 28, 28), dtype=np.float32)
    expected = np.asarray(model(x, training=False))
    classifier = Classifier.from_keras(model)
    np.testing.assert_allclose(classifier.forward(x).probabilities, expected, rtol=1e-4, atol=1e-6)


def test_the_answer_averages_the_network_over_one_pixel_moves(model):
    from digitnet.reading.classifier import SHIFTS

    classifier = Classifier.from_keras(model)
    x = np.zeros((28, 28), dtype=np.float32)
    x[6:22, 12:15] = 1.0  # a 1
    moved = [np.roll(x, shift, axis=(0, 1)) for shift in SHIFTS]
    expected = np.mean([classifier.forward(m[None]).probabilities[0] for m in moved], axis=0)
    np.testing.assert_allclose(classifier.predict_proba(x), expected, rtol=1e-5)
    assert not np.allclose(classifier.predict_proba(x), classifier.forward(x[None]).probabilities[0])
    uint8 = (np.stack([x, x[::-1]]) * 255).astype(np.uint8)
    np.testing.assert_allclose(classifier.read_many(uint8), classifier.predict_proba(uint8 / 255), rtol=1e-5)


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
        classifier.into(1).kernel[0, 0] = 1.0


def test_save_load_round_trip(model, tmp_path):
    path = tmp_path / "m.keras"
    save_model(model, path)
    x = np.random.default_rng(1).random((4, 28, 28), dtype=np.float32)
    np.testing.assert_allclose(
        load_classifier(path).forward(x).probabilities, np.asarray(model(x, training=False)), rtol=1e-4, atol=1e-6
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.keras", "m.npz"]


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
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.keras", "m.npz"]


def test_broken_weight_files_raise_model_file_error(model, tmp_path):
    with pytest.raises(ModelFileError, match="No model weights"):
        load_classifier(tmp_path / "missing.keras")
    save_model(model, tmp_path / "m.keras")
    weights = tmp_path / "m.npz"
    good = weights.read_bytes()
    for broken, message in [(b"", "Cannot read"), (b"not a zip at all" * 10, "Cannot read"),
                            (good[:2000], "Cannot read")]:
        weights.write_bytes(broken)
        with pytest.raises(ModelFileError, match=message):
            load_classifier(tmp_path / "m.keras")


def edited_weights(tmp_path, model, **changes):
    save_model(model, tmp_path / "m.keras")
    with np.load(tmp_path / "m.npz") as npz:
        arrays = {name: npz[name] for name in npz.files}
    arrays.update(changes)
    np.savez(tmp_path / "m.npz", **arrays)
    return tmp_path / "m.keras"


@pytest.mark.parametrize("change, message", [
    ({"kernel_1": np.zeros((3, 16), np.float32)}, "do not follow from 16 inputs"),
    ({"bias_0": np.full(16, np.nan, np.float32)}, "NaN or infinite"),
    ({"activations": np.array(["relu", "relu", "sigmoid"])}, "activation 'sigmoid'"),
    ({"activations": np.array(["relu", "relu"])}, "does not map a 28x28 image to 10"),
])
def test_weights_of_the_wrong_shape_or_kind_are_refused(model, tmp_path, change, message):
    with pytest.raises(ModelFileError, match=message):
        load_classifier(edited_weights(tmp_path, model, **change))


def test_weights_with_pickled_objects_are_refused(model, tmp_path):
    path = edited_weights(tmp_path, model, activations=np.array(["relu", "relu", "softmax"], dtype=object))
    with pytest.raises(ModelFileError, match="Cannot read"):
        load_classifier(path)


def test_forward_pass_gives_every_layer(model):
    classifier = Classifier.from_keras(model)
    x = np.random.default_rng(2).random((3, 28, 28), dtype=np.float32)
    forward = classifier.forward(x)
    assert [a.shape for a in forward.activations] == [(3, 784), (3, 16), (3, 16), (3, 10)]
    hidden = keras_hidden(model, x)
    np.testing.assert_allclose(forward.activations[1], hidden, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(forward.activations[-1], forward.probabilities)


def keras_hidden(model, x):
    import keras

    first_hidden = keras.Model(model.inputs[0], model.layers[1].output)
    return np.asarray(first_hidden(x, training=False))


def test_reading_and_state_import_neither_tensorflow_nor_streamlit_nor_the_drawing_code():
    """What the page uses to answer and to score loads no TensorFlow, no Streamlit, no rendering of pen
    digits, and starts no process."""
    import subprocess
    import sys

    from conftest import ROOT

    code = ("import sys, numpy as np, digitnet\n"
            "from digitnet.reading import explain, inside, prediction, segment\n"
            "from digitnet.state import store\n"
            "from digitnet.training import evaluate, jobs\n"
            "from digitnet.data import collected\n"
            "c = digitnet.load_classifier(); x = digitnet.to_mnist(np.pad(np.ones((20, 4)), 4))\n"
            "c.predict_proba(x); explain.saliency(c, x)\n"
            "import glob, os\n"
            "children = [c for f in glob.glob(f'/proc/{os.getpid()}/task/*/children') for c in open(f).read().split()]\n"
            "print(sorted(m for m in ('tensorflow', 'keras', 'streamlit', 'digitnet.data.render', 'digitnet.training.recipe')"
            " if m in sys.modules), len(children))")
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=TIMEOUT_S)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[] 0"


def test_layer_outputs_read_many_images_in_batches(model):
    classifier = Classifier.from_keras(model)
    images = np.random.default_rng(3).integers(0, 256, (2500, 28, 28)).astype(np.uint8)  # more than a batch
    whole = classifier.forward(images / np.float32(255))
    for layer in (1, 2, -1):
        np.testing.assert_allclose(classifier.layer_outputs(images, layer), whole.activations[layer],
                                   rtol=1e-5, atol=1e-5)  # batches of other sizes sum in another order
    assert classifier.layer_outputs(images[:0], -1).shape == (0, 10)


def test_a_history_that_describes_other_weights_is_not_shown_beside_these(model, tmp_path):
    from digitnet.state.store import ModelStore

    path = tmp_path / "m.keras"
    save_model(model, path)
    curves = {m: [0.5] for m in ("accuracy", "val_accuracy", "loss", "val_loss")}
    store = ModelStore(shipped=path, retrained_dir=tmp_path / "retrained")
    for weights, shown in [(Classifier.from_keras(model).fingerprint, True), ("0123456789abcdef", False),
                           (None, True)]:  # None: a history from before fingerprints, taken as it is
        record = {"history": curves, **({"weights": weights} if weights else {})}
        (tmp_path / "history.json").write_text(json.dumps(record))
        loaded = store.load(path)
        assert (loaded.record is not None) == shown
        assert any("describes another one" in w for w in loaded.warnings) == (not shown)


def test_a_history_is_read_into_its_record_with_the_config_rebuilt(tmp_path):
    from digitnet.state.history import load_record

    curves = {m: [0.5, 0.75] for m in ("accuracy", "val_accuracy", "loss", "val_loss")}
    config = TrainConfig(epochs=2, seed=7)
    # A history from before `seed` existed, and with a setting this version no longer has.
    old_settings = {k: v for k, v in config.to_json().items() if k != "seed"} | {"retired_setting": 1}
    (tmp_path / "history.json").write_text(json.dumps(
        {"history": curves, "config": old_settings, "test_accuracy": 0.9, "trained_at": "2026-12-01T10:00:00"}))
    record = load_record(tmp_path / "history.json")
    assert record.config == TrainConfig(epochs=2) and record.epochs_completed == 2
    assert (record.test_accuracy, record.held_out_writers, record.sources) == (0.9, None, ())
    assert TrainConfig.from_json(json.loads(json.dumps(config.to_json()))) == config


def test_a_history_with_a_config_of_the_wrong_shape_is_refused(tmp_path):
    from digitnet.state.history import load_record

    curves = {m: [0.5] for m in ("accuracy", "val_accuracy", "loss", "val_loss")}
    (tmp_path / "history.json").write_text(json.dumps({"history": curves, "config": [1, 2]}))
    with pytest.raises(ModelFileError, match="unreadable"):
        load_record(tmp_path / "history.json")


def test_the_store_names_the_model_in_use_its_version_and_its_settings(model, tmp_path):
    from digitnet.reading.classifier import weights_path
    from digitnet.state.store import ModelStore

    shipped = tmp_path / "shipped" / "m.keras"
    shipped.parent.mkdir()
    save_model(model, shipped)
    store = ModelStore(shipped=shipped, retrained_dir=tmp_path / "retrained")
    assert store.active_version() == (shipped, weights_path(shipped).stat().st_mtime)
    assert store.settings_in_use() == TrainConfig()  # no history: the defaults
    store.retrained_dir.mkdir()
    save_model(model, store.retrained)
    curves = {m: [0.5] for m in ("accuracy", "val_accuracy", "loss", "val_loss")}
    (store.retrained_dir / "history.json").write_text(json.dumps(
        {"history": curves, "config": TrainConfig(epochs=3, train_subset=500).to_json()}))
    path, changed = store.active_version()
    assert path == store.retrained and changed == (store.retrained_dir / "history.json").stat().st_mtime
    assert store.settings_in_use() == TrainConfig(epochs=3, train_subset=500)


def test_the_shipped_history_is_written_back_as_it_was_read(tmp_path):
    from digitnet.config import HISTORY_FILENAME, SHIPPED_MODEL
    from digitnet.state.history import history_path, load_record, save_record

    shipped = load_record(history_path(SHIPPED_MODEL))
    assert shipped.held_out_writers and shipped.held_out_writers.collections  # a full record, not a stub
    save_record(shipped, tmp_path / HISTORY_FILENAME)
    assert load_record(tmp_path / HISTORY_FILENAME) == shipped
