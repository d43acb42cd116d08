"""The retrain in its own process: one at a time across app processes, cancel, crashes and kills keep
the model in use, success swaps it."""

import dataclasses
import os
import signal

import numpy as np
import pytest
from conftest import QUICK_RETRAIN
from waiting import TIMEOUT_S, eventually

from digitnet import TrainConfig
from digitnet.cli import build_parser
from digitnet.errors import TrainingError
from digitnet.reading.classifier import load_classifier, weights_path
from digitnet.state.store import ModelStore
from digitnet.training.jobs import CANCELLED, FAILED, RUNNING, SUCCEEDED, JobFiles, JobStatus, TrainingJob, config_flags
from digitnet.training.model import build_model, save_model

pytestmark = pytest.mark.training

# 100 epochs of batch 16 over the slow data: minutes, until the test cancels or kills it.
LONG = QUICK_RETRAIN.replace(epochs=100)


@pytest.fixture
def store(tmp_path):
    shipped = tmp_path / "shipped" / "digitnet.keras"
    save_model(build_model(QUICK_RETRAIN), shipped)
    return ModelStore(shipped=shipped, retrained_dir=tmp_path / "retrained")


def npz(path, x, y, x_test, y_test):
    np.savez(path, x_train=x, y_train=y, x_test=x_test, y_test=y_test)
    return path


@pytest.fixture
def env(train_env):
    return train_env


@pytest.fixture
def slow_env(env, tmp_path, tiny_mnist):
    env["DIGITNET_MNIST"] = str(npz(tmp_path / "slow.npz", np.tile(tiny_mnist.x_train, (20, 1, 1)),
                                    np.tile(tiny_mnist.y_train, 20), tiny_mnist.x_test, tiny_mnist.y_test))
    return env


def test_success_saves_and_swaps_the_model(store, env):
    job = TrainingJob(store, env)
    assert store.active_path() == store.shipped
    assert job.start(QUICK_RETRAIN)
    status = job.wait(TIMEOUT_S)
    assert status.state == SUCCEEDED, status.message
    assert status.epochs_done == 2 and len(status.curves["val_accuracy"]) == 2
    assert status.message.startswith("Done: MNIST test accuracy")
    # The network after each epoch is kept, for the pages to show how its answers changed.
    epochs = JobFiles(store.retrained_dir).epoch_files()
    assert [(epoch, path.name) for epoch, path, _ in epochs] == [(1, "epoch-001.npz"), (2, "epoch-002.npz")]
    assert load_classifier(epochs[-1][1]).predict_proba(np.zeros((28, 28))).shape == (10,)
    assert store.active_path() == store.retrained
    loaded = store.load()
    assert loaded.path == store.retrained and loaded.record.config.epochs == 2


def test_pen_digits_are_learned_by_default_and_reported(store, env):
    job = TrainingJob(store, env)
    assert job.start(QUICK_RETRAIN.replace(pen_digits=True, test_writer_share=0.34, validation_writer_share=0.17))
    status = job.wait(TIMEOUT_S)
    assert status.state == SUCCEEDED, status.message
    assert "real people it never saw" in status.message
    assert [s["name"] for s in store.load().record.sources] == ["MNIST", "UCI pen digits", "UNIPEN"]


def test_one_retrain_at_a_time_across_app_processes_then_cancel(store, slow_env):
    job = TrainingJob(store, slow_env)
    other_app = TrainingJob(ModelStore(shipped=store.shipped, retrained_dir=store.retrained_dir), slow_env)
    assert job.start(LONG)
    assert other_app.status().running
    assert not other_app.start(QUICK_RETRAIN)
    eventually(lambda: job.status().epochs_done >= 1, "an epoch done")
    other_app.cancel()  # any page may cancel it
    status = job.wait(TIMEOUT_S)
    assert status.state == CANCELLED
    assert "unchanged" in status.message and "after" in status.message
    assert store.active_path() == store.shipped
    assert not JobFiles(store.retrained_dir).cancel_path.exists()
    assert other_app.start(QUICK_RETRAIN.replace(train_subset=500))  # a new run may start once the last one ended
    assert other_app.wait(TIMEOUT_S).state == SUCCEEDED


def test_a_retrain_yields_the_cpu_to_the_page(store, slow_env):
    from digitnet.training.retrain import RETRAIN_NICENESS

    job = TrainingJob(store, slow_env)
    assert job.start(LONG)
    try:
        # The page's niceness plus the retrain's, at most 19: a test that ran a retrain in this process
        # (random order) left it niced already.
        lowest = min(os.getpriority(os.PRIO_PROCESS, 0) + RETRAIN_NICENESS, 19)

        def lowered() -> bool:
            status = job.status()
            assert status.running, f"the retrain ended before it was looked at: {status.message}"
            try:
                return os.getpriority(os.PRIO_PROCESS, status.pid) == lowest
            except ProcessLookupError:  # it ended between the two looks: the next look says how
                return False

        eventually(lowered, "the retrain at a lower priority than the page")
    finally:
        job.cancel()
        job.wait(TIMEOUT_S)


def test_cancel_before_the_first_epoch_stops_the_data_loading(store, env):
    job = TrainingJob(store, env)
    assert job.start(QUICK_RETRAIN.replace(pen_digits=True, pen_copies=5, test_writer_share=0.34, validation_writer_share=0.17))
    job.cancel()
    status = job.wait(TIMEOUT_S)
    assert status.state == CANCELLED and "after 0 complete epochs" in status.message
    assert store.active_path() == store.shipped


def test_a_killed_training_process_leaves_the_model_and_says_so(store, slow_env):
    job = TrainingJob(store, slow_env)
    assert job.start(LONG)
    running = eventually(lambda: (s := job.status()).epochs_done >= 1 and s, "an epoch done")
    assert running.state == RUNNING and 0 < running.fraction_done < 1
    assert running.seconds_left() > 0
    os.kill(running.pid, signal.SIGKILL)  # as the out-of-memory killer would
    status = eventually(lambda: (s := job.status()).state != RUNNING and s, "the retrain to stop")
    assert status.state == FAILED and "stopped unexpectedly" in status.message
    assert store.active_path() == store.shipped
    assert job.start(QUICK_RETRAIN)  # the lock died with the process: nothing is stuck
    assert job.wait(TIMEOUT_S).state == SUCCEEDED


def test_bad_data_fails_the_retrain_and_keeps_the_model(store, env, tmp_path):
    bad = tmp_path / "bad.npz"
    np.savez(bad, x_train=np.zeros((4, 28, 28), np.uint8))
    env["DIGITNET_MNIST"] = str(bad)
    job = TrainingJob(store, env)
    assert job.start(QUICK_RETRAIN)
    status = job.wait(TIMEOUT_S)
    assert status.state == FAILED
    assert "lacks the array(s) y_train, x_test, y_test" in status.message and "unchanged" in status.message
    assert store.active_path() == store.shipped


def test_a_broken_pen_digit_file_fails_the_retrain(store, env, tmp_path):
    broken = tmp_path / "broken.tra"
    broken.write_text('.SEGMENT DIGIT 0 ? "4"\n.COMMENT 4 1 0\n.PEN_DOWN\n 10 20\n')
    env["DIGITNET_PENDIGITS"] = str(broken)
    job = TrainingJob(store, env)
    assert job.start(QUICK_RETRAIN.replace(pen_digits=True))
    status = job.wait(TIMEOUT_S)
    assert status.state == FAILED and "truncated" in status.message
    assert store.active_path() == store.shipped


def test_a_process_that_cannot_start_says_so(tmp_path, env):
    blocked = tmp_path / "a file"
    blocked.write_text("not a folder")
    store = ModelStore(shipped=tmp_path / "none.keras", retrained_dir=blocked / "retrained")
    with pytest.raises(TrainingError, match="cannot use the folder .*Not a directory"):
        TrainingJob(store, env).start(QUICK_RETRAIN)


def test_a_leftover_lock_file_does_not_block(store, env):
    files = JobFiles(store.retrained_dir)
    files.lock()  # creates the folder
    (store.retrained_dir / "training.lock").write_text("")
    files.write(JobStatus(state=RUNNING, config=QUICK_RETRAIN, pid=999999))  # a run whose process is long gone
    job = TrainingJob(store, env)
    assert job.status().state == FAILED
    assert job.start(QUICK_RETRAIN)
    assert job.wait(TIMEOUT_S).state == SUCCEEDED


def test_retrain_with_drawings_reports_before_and_after(store, env, tiny_mnist, tmp_path):
    from digitnet.data.collected import CollectedDrawings

    corrections = CollectedDrawings(tmp_path / "drawings")
    for _ in range(40):
        corrections.add(tiny_mnist.x_test[0].astype(np.float32) / 255, int(tiny_mnist.y_test[0]))
    job = TrainingJob(store, env)
    assert job.start(QUICK_RETRAIN.replace(include_drawings=True, drawing_repeats=5))
    status = job.wait(TIMEOUT_S)
    assert status.state == SUCCEEDED, status.message
    assert "test drawings" in status.message and "before" in status.message and "after" in status.message


def test_learning_from_a_room_trains_on_its_prompted_drawings_and_scores_on_a_fifth(store, env, tiny_mnist, tmp_path):
    from digitnet.state.room import ROOMS_FILENAME, UNLIMITED, Rooms

    rooms = Rooms(tmp_path / "drawings" / ROOMS_FILENAME, UNLIMITED)  # where the training process looks
    code = rooms.open()
    rooms.set_prompt(code, int(tiny_mnist.y_test[0]))
    for phone in range(10):
        rooms.send(code, str(phone), tiny_mnist.x_test[0] / np.float32(255), 0, 0.5)
    job = TrainingJob(store, env)
    assert job.start(QUICK_RETRAIN.replace(drawing_repeats=5), room=code)
    status = job.wait(TIMEOUT_S)
    assert status.state == SUCCEEDED, status.message
    assert "On the room's 2 test drawings (never trained on):" in status.message  # ids 5 and 10 of 10
    assert store.load().record.sources[0]["source"].endswith("+ 8 drawings x5")


def test_restore_shipped_and_a_broken_retrained_model_falls_back(store):
    save_model(build_model(QUICK_RETRAIN), store.retrained)
    assert store.active_path() == store.retrained
    weights_path(store.retrained).write_bytes(b"truncated")
    loaded = store.load()
    assert loaded.path == store.shipped
    assert "could not be loaded" in loaded.warnings[0]
    store.restore_shipped()
    assert store.active_path() == store.shipped
    assert not store.retrained.exists()
    assert np.isfinite(store.load().classifier.predict_proba(np.zeros((28, 28)))).all()


def test_config_flags_give_back_the_config():
    config = QUICK_RETRAIN.replace(epochs=7, augment=False, learning_rate=0.0125, include_drawings=True)
    args = build_parser().parse_args(["train", *config_flags(config)])
    names = [setting.name for setting in dataclasses.fields(TrainConfig)]
    assert TrainConfig(**{name: getattr(args, name) for name in names}) == config


def test_status_survives_a_round_trip_and_estimates_time_left():
    status = JobStatus(state=RUNNING, config=QUICK_RETRAIN.replace(epochs=4), epochs_done=1, started=100.0,
                       curves={"loss": [0.5]}, pid=1)
    again = JobStatus.from_json(status.to_json())
    assert again == status
    assert again.seconds_left(now=110.0) == pytest.approx(30.0)
    assert again.fraction_done == 0.25


@pytest.mark.parametrize("text", ["[]", "null", "3", '{"config": []}', '{"state": "running", "bogus": 1}', "{"])
def test_a_status_file_that_is_not_ours_reads_as_no_retrain(tmp_path, text):
    files = JobFiles(tmp_path)
    files.status_path.write_text(text)
    assert files.read() == JobStatus()


def test_stray_files_in_the_epochs_folder_are_not_taken_for_epochs(tmp_path):
    files = JobFiles(tmp_path)
    files.epochs_folder.mkdir(parents=True)
    for name in ("epoch-abc.npz", "epoch-1.npz", "epoch-002.npz.tmp", "notes.txt"):
        (files.epochs_folder / name).write_bytes(b"")
    files.epoch_path(3).write_bytes(b"")
    assert files.epoch_files() == [(3, files.epoch_path(3), files.epoch_path(3).stat().st_mtime)]


def test_the_pen_digits_are_drawn_in_the_background_once_and_a_retrain_finds_them(
        tmp_path, monkeypatch, tiny_mnist, tiny_pen_file, tiny_unipen_file):
    import subprocess
    import sys

    from digitnet import TrainConfig, load_pendigits, load_unipen
    from digitnet.config import CACHE_ENV, DRAW_AHEAD_ENV
    from digitnet.training.ahead import start_drawing_ahead
    from digitnet.training.recipe import training_sets

    cache = tmp_path / "cache"
    env = {**os.environ, CACHE_ENV: str(cache), DRAW_AHEAD_ENV: "1", "DIGITNET_PENDIGITS": str(tiny_pen_file),
           "DIGITNET_UNIPEN": str(tiny_unipen_file)}
    assert start_drawing_ahead({**env, DRAW_AHEAD_ENV: "0"}) is None
    first = start_drawing_ahead(env)
    second = subprocess.run([sys.executable, "-m", "digitnet", "draw-ahead"], env=env, capture_output=True,
                            text=True, timeout=TIMEOUT_S)  # while the first holds the lock, or after it
    assert first.wait(TIMEOUT_S) == 0 and second.returncode == 0
    said = (cache / "draw-ahead.log").read_text() + second.stderr
    # One drew; the other found the lock held, or (had the first already finished) found it all drawn.
    assert said.count("are drawn and cached") == 2 or said.count("are drawn and cached") == 1 and \
        said.count("already being drawn") == 1, said
    drawn = sorted(cache.glob("*.npz"))
    assert drawn and not list(cache.glob("*.tmp*"))
    # A retrain with the default recipe draws nothing: everything it needs is in the cache.
    monkeypatch.setenv(CACHE_ENV, str(cache))
    monkeypatch.setattr(subprocess, "Popen", lambda *a, **k: pytest.fail("drew again instead of reading the cache"))
    sets = training_sets(TrainConfig(), tiny_mnist, [load_pendigits(tiny_pen_file), load_unipen(tiny_unipen_file)])
    assert len(sets.held_out["UNIPEN"]) > 0


def test_the_teacher_reads_ahead_what_a_retrain_of_the_model_in_use_learns_from(
        tmp_path, monkeypatch, train_env, tiny_mnist, tiny_pen_file, tiny_unipen_file):
    import subprocess
    import sys

    import digitnet.training.teacher as teacher
    from digitnet import load_pendigits, load_unipen, save_run, train
    from digitnet.config import CACHE_ENV
    from digitnet.state.store import RETRAINED_ENV
    from digitnet.training.recipe import training_sets
    from digitnet.training.teacher import TEACHER_ENV, build_teacher, teacher_answers

    build_teacher(QUICK_RETRAIN).save(tmp_path / "teacher.keras")
    in_use = QUICK_RETRAIN.replace(pen_digits=True, pen_copies=1, teacher=True)
    run = train(QUICK_RETRAIN, tiny_mnist)
    run.config = in_use  # the model in use says it learned from a teacher
    save_run(run, tmp_path / "retrained")
    cache = tmp_path / "cache"
    env = {**train_env, CACHE_ENV: str(cache), RETRAINED_ENV: str(tmp_path / "retrained"),
           TEACHER_ENV: str(tmp_path / "teacher.keras")}
    ahead = subprocess.run([sys.executable, "-m", "digitnet", "draw-ahead"], env=env, capture_output=True,
                           text=True, timeout=TIMEOUT_S)
    assert ahead.returncode == 0 and list(cache.glob("teacher-answers-*.npy")), ahead.stderr
    # A retrain of the model in use finds the teacher's answers: the teacher is not even loaded.
    monkeypatch.setenv(CACHE_ENV, str(cache))
    monkeypatch.setattr(teacher, "load_teacher", lambda path: pytest.fail("the teacher read its images again"))
    sets = training_sets(in_use, tiny_mnist, [load_pendigits(tiny_pen_file), load_unipen(tiny_unipen_file)])
    assert teacher_answers(sets.train.x, tmp_path / "teacher.keras").shape == (len(sets.train), 10)


def test_a_killed_preparation_leaves_only_whole_files(tmp_path, tiny_pen_file, tiny_unipen_file):
    import subprocess
    import sys

    from digitnet.config import CACHE_ENV
    from digitnet.data.render import _load_result
    from digitnet.files import TEMP_PREFIX, read_cached

    cache = tmp_path / "cache"
    env = {**os.environ, CACHE_ENV: str(cache), "DIGITNET_PENDIGITS": str(tiny_pen_file),
           "DIGITNET_UNIPEN": str(tiny_unipen_file)}
    process = subprocess.Popen([sys.executable, "-m", "digitnet", "draw-ahead"], env=env, start_new_session=True)
    eventually(lambda: list(cache.glob("*.npz")) or process.poll() is not None, "a first cached file", every=0.01)
    os.killpg(process.pid, signal.SIGKILL)  # the command and its drawing workers, midway
    process.wait(TIMEOUT_S)
    for path in cache.glob("*.npz"):
        if not path.name.startswith(TEMP_PREFIX):  # what a kill leaves being written, which no one reads
            assert read_cached(path, _load_result) is not None, f"{path.name} is half a file"


def test_a_deleted_lock_file_does_not_let_a_second_retrain_start(store, slow_env):
    job = TrainingJob(store, slow_env)
    other_app = TrainingJob(ModelStore(shipped=store.shipped, retrained_dir=store.retrained_dir), slow_env)
    assert job.start(LONG)
    try:
        (store.retrained_dir / "training.lock").unlink()
        assert other_app.status().running  # the process it names runs: not "stopped unexpectedly"
        assert not other_app.start(QUICK_RETRAIN)
        # Even a training process started by hand finds the first one running, and says so.
        from digitnet.cli import main
        assert main(["train", "--out", str(store.retrained_dir), "--report", "--epochs", "1"]) == 3
    finally:
        job.cancel()
        assert job.wait(TIMEOUT_S).state == CANCELLED


def test_a_deleted_retrained_folder_does_not_let_a_second_retrain_start(store, slow_env):
    import shutil

    job = TrainingJob(store, slow_env)
    assert job.start(LONG)
    try:
        eventually(lambda: job.status().epochs_done >= 1, "an epoch done")
        shutil.rmtree(store.retrained_dir)
        assert job.status().running
        assert not job.start(QUICK_RETRAIN)
    finally:
        job._child.kill()
        job._child.wait(TIMEOUT_S)


def test_cancel_ends_a_frozen_retrain(store, slow_env, monkeypatch):
    import digitnet.training.jobs

    monkeypatch.setattr(digitnet.training.jobs, "CANCEL_GRACE_S", 1.0)
    job = TrainingJob(store, slow_env)
    assert job.start(LONG)
    pid = job.status().pid
    os.kill(pid, signal.SIGSTOP)  # frozen: it will never see the cancel file
    job.cancel()
    status = eventually(lambda: (s := job.status()).state == CANCELLED and s, "the retrain cancelled")
    assert "did not answer Cancel" in status.message
    assert not digitnet.training.jobs.is_training_process(pid)
    assert job.start(QUICK_RETRAIN)  # Retrain is back for everyone
    assert job.wait(TIMEOUT_S).state == SUCCEEDED


def test_a_retrain_on_one_machine_is_used_on_another_through_the_database(store, env, postgres, tmp_path):
    from digitnet.state.database import DATABASE_ENV
    from digitnet.state.versions import ModelVersions

    url = postgres.database()
    first = dataclasses.replace(store, versions=ModelVersions(url))
    second = dataclasses.replace(store, retrained_dir=tmp_path / "second machine", versions=ModelVersions(url))
    job = TrainingJob(first, {**env, DATABASE_ENV: url})
    assert job.start(QUICK_RETRAIN)
    status = job.wait(TIMEOUT_S)
    assert status.state == SUCCEEDED, status.message
    eventually(lambda: second.active_version()[0] == second.retrained, "the second machine to use the retrain")
    assert second.load().classifier.fingerprint == first.load().classifier.fingerprint
    assert second.load().record.config.epochs == QUICK_RETRAIN.epochs


def test_a_retrain_on_one_machine_is_seen_refused_twice_and_cancelled_from_another(store, slow_env, postgres, tmp_path):
    from digitnet.state.database import DATABASE_ENV
    from digitnet.training.shared import RetrainBoard

    url = postgres.database()
    env = {**slow_env, DATABASE_ENV: url}
    first = TrainingJob(store, env, RetrainBoard(url))
    second = TrainingJob(dataclasses.replace(store, retrained_dir=tmp_path / "second machine"), env, RetrainBoard(url))
    assert second.status().state == "idle"
    assert first.start(LONG)
    try:
        eventually(lambda: second.status().epochs_done >= 1, "the second machine to see an epoch done")
        assert second.status().running and second.status().config.epochs == LONG.epochs
        assert not second.start(QUICK_RETRAIN)  # one retrain at a time, on every machine
        second.cancel()
        assert first.wait(TIMEOUT_S).state == CANCELLED
        eventually(lambda: second.status().state == CANCELLED, "the second machine to see it cancelled")
        second.forget()
        eventually(lambda: second.status().state == "idle", "the second machine to forget it")
    finally:
        first.cancel()
        first.wait(TIMEOUT_S)
