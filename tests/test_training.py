"""Training on tiny data: per-epoch reports, cancellation, and saving a run."""

import numpy as np
import pytest

from digitnet import TrainConfig, TrainingCancelled, load_classifier, save_run, train
from digitnet.config import CURVES_FILENAME, HISTORY_FILENAME, MODEL_FILENAME
from digitnet.state.history import load_record
from digitnet.training.batches import augment

pytestmark = pytest.mark.training

MNIST_ONLY = TrainConfig(epochs=3, batch_size=16, hidden_units=32, learning_rate=1e-2, pen_digits=False,
                        teacher=False)


def test_reports_every_epoch_and_learns(tiny_mnist):
    reports = []
    run = train(MNIST_ONLY, tiny_mnist, on_epoch_end=lambda epoch, metrics: reports.append((epoch, metrics)))
    assert [epoch for epoch, _ in reports] == [1, 2, 3]
    assert set(reports[0][1]) == {"accuracy", "val_accuracy", "loss", "val_loss"}
    assert run.curves["loss"][-1] < run.curves["loss"][0]
    assert len(run.curves["val_accuracy"]) == 3
    assert 0.0 <= run.test_accuracy <= 1.0


def test_the_network_after_each_epoch_is_reported(tiny_mnist):
    networks = []
    run = train(MNIST_ONLY, tiny_mnist, on_epoch_weights=lambda epoch, classifier: networks.append((epoch, classifier)))
    assert [epoch for epoch, _ in networks] == [1, 2, 3]
    x = tiny_mnist.x_test[:8].astype(np.float32) / 255
    # The last epoch's network is the trained one (before its temperature is folded in: same answers).
    np.testing.assert_array_equal(networks[-1][1].predict(x), run.model(x, training=False).numpy().argmax(axis=1))
    assert not np.allclose(networks[0][1].into(1).kernel, networks[-1][1].into(1).kernel)


def test_cancel_between_batches(tiny_mnist):
    reports = []
    with pytest.raises(TrainingCancelled, match="after 1 complete epoch"):
        train(MNIST_ONLY.replace(epochs=50), tiny_mnist, on_epoch_end=lambda epoch, metrics: reports.append(epoch),
              should_stop=lambda: len(reports) >= 1)
    assert reports == [1]


def test_bad_config_is_refused(tiny_mnist):
    with pytest.raises(ValueError, match="epochs"):
        train(MNIST_ONLY.replace(epochs=0), tiny_mnist)


def test_save_run_writes_model_history_and_curves(tiny_mnist, tmp_path):
    run = train(MNIST_ONLY.replace(epochs=2), tiny_mnist)
    model_path = save_run(run, tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        [MODEL_FILENAME, "digitnet.npz", HISTORY_FILENAME, CURVES_FILENAME])
    record = load_record(tmp_path / HISTORY_FILENAME)
    assert record.config == run.config
    assert record.epochs_completed == 2
    assert record.sources[0] == {"name": "MNIST", "source": "tiny", "fingerprint": tiny_mnist.fingerprint()}
    assert record.test_accuracy == pytest.approx(run.test_accuracy)
    assert all(isinstance(v, float) for v in record.curves["loss"])
    assert (tmp_path / CURVES_FILENAME).read_bytes()[:4] == b"\x89PNG"
    x = tiny_mnist.x_test.astype(np.float32) / 255
    np.testing.assert_allclose(load_classifier(model_path).forward(x).probabilities,
                               np.asarray(run.model(x, training=False)), rtol=1e-4, atol=1e-6)
    assert record.held_out_writers is None  # MNIST alone: no real people to measure on
    assert [source["name"] for source in record.sources] == ["MNIST"]


def test_augment_moves_the_digit_but_keeps_its_ink(tiny_mnist):
    x = tiny_mnist.x_train[:32].astype(np.float32) / 255
    moved = np.asarray(augment(x, MNIST_ONLY.replace(max_stroke_change=0.0)))
    assert moved.shape == x.shape
    assert not np.allclose(moved, x)
    np.testing.assert_allclose(moved.sum(axis=(1, 2)), x.sum(axis=(1, 2)), rtol=0.35)


def test_augment_thickens_and_thins_strokes(tiny_mnist):
    x = tiny_mnist.x_train[:64].astype(np.float32) / 255
    still = MNIST_ONLY.replace(max_shift_px=0.0, max_rotation_deg=0.0, max_zoom=0.0, max_stroke_change=1.0)
    ratio = np.asarray(augment(x, still)).sum(axis=(1, 2)) / x.sum(axis=(1, 2))
    assert ratio.max() > 1.3 and ratio.min() < 0.7


def test_the_compiled_move_reads_the_pixels_tensorflow_s_own_resampling_reads():
    import keras

    from digitnet.training.batches import _move

    rng = np.random.default_rng(3)
    x = rng.random((64, 28, 28), dtype=np.float32)  # ink up to the edges, and moves far larger than
    # training's: every read beyond the edges must be black
    angle, zoom = rng.uniform(-0.5, 0.5, 64), rng.uniform(0.7, 1.3, 64)
    shift_x, shift_y = rng.uniform(-5, 5, 64), rng.uniform(-5, 5, 64)
    cos, sin, centre = np.cos(angle) / zoom, np.sin(angle) / zoom, 13.5
    rows = np.stack([cos, -sin, centre - cos * centre + sin * centre - shift_x,
                     sin, cos, centre - sin * centre - cos * centre - shift_y, 0 * cos, 0 * cos], axis=1)
    expected = keras.ops.image.affine_transform(x[..., None], rows.astype(np.float32), interpolation="bilinear",
                                                fill_mode="constant", fill_value=0.0, data_format="channels_last")
    moved = _move(x, *(np.float32(v) for v in (angle, zoom, shift_x, shift_y)))
    np.testing.assert_allclose(np.asarray(moved), np.asarray(expected)[..., 0], atol=1e-5)


def test_a_save_stopped_after_the_model_shows_no_other_model_s_history(tiny_mnist, tmp_path, monkeypatch):
    import digitnet.training.train
    from digitnet.reading.classifier import Classifier
    from digitnet.state.store import ModelStore

    config = TrainConfig(epochs=1, batch_size=32, hidden_units=8, pen_digits=False, teacher=False)
    save_run(train(config, tiny_mnist), tmp_path)  # the last good model and its history
    second = train(config.replace(seed=5), tiny_mnist)

    def killed(record, path):
        raise OSError("killed while saving the history")

    monkeypatch.setattr(digitnet.training.train, "save_record", killed)
    with pytest.raises(OSError):
        save_run(second, tmp_path)
    loaded = ModelStore(shipped=tmp_path / "digitnet.keras").load()
    assert loaded.classifier.fingerprint == Classifier.from_keras(second.model).fingerprint  # the model came first
    assert loaded.record is None and any("describes another one" in w for w in loaded.warnings)


def test_a_student_s_targets_mix_the_label_and_the_teacher_s_softened_answer():
    from digitnet.training.batches import one_hot, soft_targets

    teacher = np.array([[0.7, 0.2, 0.1] + [0.0] * 7, [0.1] * 10], np.float32)
    labels = one_hot(np.array([1, 3]))
    np.testing.assert_allclose(soft_targets(labels, teacher, 1.0, 3.0).numpy()[0], np.eye(10)[1])
    softened = soft_targets(labels, teacher, 0.0, 2.0).numpy()
    expected = np.sqrt(teacher[0]) / np.sqrt(teacher[0]).sum()  # p ** (1/T), renormalised, at T = 2
    np.testing.assert_allclose(softened[0], expected, atol=1e-5)
    np.testing.assert_allclose(softened[1], np.full(10, 0.1), atol=1e-6)
    mixed = soft_targets(labels, teacher, 0.3, 2.0).numpy()
    np.testing.assert_allclose(mixed, 0.3 * np.eye(10)[[1, 3]] + 0.7 * softened, atol=1e-6)
    np.testing.assert_allclose(mixed.sum(axis=1), 1.0, atol=1e-6)


def test_a_student_s_batches_carry_the_teacher_s_answer_on_each_image(tiny_mnist):
    from digitnet.training.batches import one_hot, soft_targets, training_batches

    pixels = np.arange(40, dtype=np.uint8)[:, None, None] * np.ones((1, 28, 28), np.uint8)  # image i is all i
    labels = np.arange(40, dtype=np.int32) % 10
    answers = np.random.default_rng(0).dirichlet(np.ones(10), 40).astype(np.float32)
    config = MNIST_ONLY.replace(augment=False, teacher_label_share=0.4, teacher_temperature=2.0)
    x, targets = next(iter(training_batches(pixels, labels, config, answers)))
    which = np.rint(x.numpy()[:, 0, 0] * 255).astype(int)  # each image says where it came from
    assert len(set(which)) == len(which) == config.batch_size and which.tolist() != list(range(16))  # shuffled
    expected = soft_targets(one_hot(labels[which]), answers[which], 0.4, 2.0).numpy()
    np.testing.assert_allclose(targets.numpy(), expected, atol=1e-6)


def test_the_teacher_reads_a_training_set_once(tiny_mnist, tmp_path, monkeypatch):
    import digitnet.training.teacher as teacher
    from digitnet.training.teacher import build_teacher, teacher_answers

    build_teacher(MNIST_ONLY).save(tmp_path / "teacher.keras")
    images = tiny_mnist.x_train[:50]
    first = teacher_answers(images, tmp_path / "teacher.keras")
    assert first.shape == (50, 10) and np.allclose(first.sum(axis=1), 1, atol=1e-5)
    loads = []
    monkeypatch.setattr(teacher, "load_teacher", lambda path: loads.append(path) or build_teacher(MNIST_ONLY))
    np.testing.assert_array_equal(teacher_answers(images, tmp_path / "teacher.keras"), first)
    assert loads == []  # from the cache
    teacher_answers(images[:49], tmp_path / "teacher.keras")
    build_teacher(MNIST_ONLY).save(tmp_path / "teacher.keras")  # another teacher
    teacher_answers(images, tmp_path / "teacher.keras")
    assert len(loads) == 2  # other images, and another teacher, are read anew


def test_a_teacher_of_several_members_answers_their_average():
    from digitnet.training.teacher import build_teacher, ensemble

    members = [build_teacher(MNIST_ONLY) for _ in range(2)]
    images = np.random.default_rng(0).random((4, 28, 28)).astype(np.float32)
    answers = [m.predict(images, verbose=0) for m in members]
    np.testing.assert_allclose(ensemble(members).predict(images, verbose=0), np.mean(answers, axis=0), atol=1e-6)


@pytest.mark.parametrize("members", [1, 2])
def test_a_student_learns_from_a_teacher_and_is_saved_as_the_seed_s_network(tiny_mnist, tmp_path, monkeypatch,
                                                                            members):
    from digitnet.training.model import load_keras_model
    from digitnet.training.teacher import TEACHER_ENV, build_teacher, ensemble

    trained = [build_teacher(MNIST_ONLY) for _ in range(members)]
    for member in trained:
        member.fit(tiny_mnist.x_train / np.float32(255), tiny_mnist.y_train, epochs=2, batch_size=32, verbose=0)
    (trained[0] if members == 1 else ensemble(trained)).save(tmp_path / "teacher.keras")
    monkeypatch.setenv(TEACHER_ENV, str(tmp_path / "teacher.keras"))
    reports = []
    run = train(MNIST_ONLY.replace(teacher=True), tiny_mnist,
                on_epoch_end=lambda e, m: reports.append(m))
    assert set(reports[0]) == {"accuracy", "val_accuracy", "loss", "val_loss"} and run.curves["loss"][-1] < run.curves["loss"][0]
    save_run(run, tmp_path / "student")
    student = load_keras_model(tmp_path / "student" / MODEL_FILENAME)
    assert [layer.name for layer in student.layers] == [layer.name for layer in run.model.layers]
    assert "conv" not in " ".join(layer.name for layer in student.layers)  # the dense network answers
    assert load_record(tmp_path / "student" / HISTORY_FILENAME).config.teacher


def test_a_retrain_asked_to_learn_from_a_missing_teacher_says_how_to_make_one(tiny_mnist, tmp_path, monkeypatch):
    from digitnet.errors import ModelFileError
    from digitnet.training.teacher import TEACHER_ENV

    monkeypatch.setenv(TEACHER_ENV, str(tmp_path / "none.keras"))
    with pytest.raises(ModelFileError, match="train-teacher"):
        train(MNIST_ONLY.replace(teacher=True), tiny_mnist)


def test_a_saved_teacher_answers_as_it_did_and_keeps_no_optimizer(tiny_mnist, tmp_path):
    from digitnet.training.model import load_keras_model
    from digitnet.training.teacher import TeacherRun, build_teacher, ensemble, save_teacher

    members = [build_teacher(MNIST_ONLY) for _ in range(2)]
    for member in members:
        member.fit(tiny_mnist.x_train / np.float32(255), tiny_mnist.y_train, epochs=1, batch_size=32, verbose=0)
    teacher = ensemble(members)
    save_teacher(TeacherRun(teacher, 0.0, {}, 0.0), tmp_path / "teacher.keras")
    loaded = load_keras_model(tmp_path / "teacher.keras")
    images = tiny_mnist.x_test[:16] / np.float32(255)
    np.testing.assert_allclose(loaded.predict(images, verbose=0), teacher.predict(images, verbose=0), atol=1e-6)
    assert all(getattr(layer, "optimizer", None) is None for layer in loaded.layers)
