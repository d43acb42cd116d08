"""The model in use, shared by several machines through PostgreSQL: a retrain published on one is used
on the others, Restore shipped model too, and a database out of reach changes no model in use."""

import logging
import shutil

import pytest
from waiting import eventually

from digitnet.config import MODELS_DIR
from digitnet.errors import SharedStateError
from digitnet.replicas import free_port
from digitnet.state.store import ModelStore
from digitnet.state.versions import ModelVersions, model_files


def machine(tmp_path, name: str, url: str) -> ModelStore:
    """One machine's model store: a retrained folder of its own, the versions in the shared database."""
    return ModelStore(retrained_dir=tmp_path / name, versions=ModelVersions(url))


def saved_model(folder):
    """A whole model saved in `folder`, as a retrain saves one (the shipped model's files, here)."""
    for shipped, path in zip(model_files(MODELS_DIR), model_files(folder)):
        folder.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(shipped, path)
    return folder


def unreachable() -> ModelVersions:
    return ModelVersions(f"postgresql://digitnet:secret@127.0.0.1:{free_port()}/digits")  # nothing listens


def test_a_model_published_on_one_machine_is_used_on_the_other_and_so_is_restore(postgres, tmp_path):
    url = postgres.database()
    first, second = machine(tmp_path, "first", url), machine(tmp_path, "second", url)
    assert second.active_version()[0] == second.shipped
    first.versions.publish(saved_model(tmp_path / "saved"), first.retrained_dir)
    assert first.active_path() == first.retrained
    eventually(lambda: second.active_version()[0] == second.retrained, "the second machine to use the retrain")
    for mine, theirs in zip(model_files(first.retrained_dir), model_files(second.retrained_dir)):
        assert mine.read_bytes() == theirs.read_bytes()
    assert second.load().record is not None  # with its history: the curves show there too
    second.restore_shipped()
    assert not second.is_retrained()
    eventually(lambda: first.active_version()[0] == first.shipped, "the first machine to go back to shipped")
    assert not any(path.exists() for path in model_files(first.retrained_dir))


@pytest.mark.postgres
def test_a_database_out_of_reach_keeps_every_model_in_use_and_restore_changes_nothing(tmp_path, caplog):
    store = ModelStore(retrained_dir=tmp_path / "retrained", versions=unreachable())
    saved_model(store.retrained_dir)
    with caplog.at_level(logging.WARNING):
        assert store.active_version()[0] == store.retrained  # serving needs no database
    assert "keeping the one in use" in caplog.text and "secret" not in caplog.text
    with pytest.raises(SharedStateError, match="cannot be reached") as raised:
        store.restore_shipped()
    assert "127.0.0.1" not in str(raised.value)
    assert store.is_retrained() and all(path.exists() for path in model_files(store.retrained_dir))


def test_a_folder_with_no_whole_model_is_not_published(postgres, tmp_path):
    from digitnet.errors import ModelFileError

    versions = ModelVersions(postgres.database())
    saved = saved_model(tmp_path / "saved")
    model_files(saved)[-1].unlink()  # no weights
    with pytest.raises(ModelFileError, match="No whole model"):
        versions.publish(saved, tmp_path / "retrained")
    store = ModelStore(retrained_dir=tmp_path / "retrained", versions=versions)
    assert store.active_version()[0] == store.shipped


def lock_is_free(url: str) -> bool:
    from digitnet.state.database import RETRAIN_LOCK, held_lock

    held = held_lock(url, RETRAIN_LOCK)
    if held is None:
        return False
    held.close()
    return True


def test_one_retrain_at_a_time_on_every_machine_and_a_killed_one_frees_the_lock(postgres, tmp_path):
    import os
    import signal
    import subprocess
    import sys

    from digitnet.state.database import DATABASE_ENV
    from digitnet.training.jobs import BUSY_EXIT
    from waiting import TIMEOUT_S

    url = postgres.database()
    env = {**os.environ, DATABASE_ENV: url}
    # Another machine's training process, as the lock sees it: a process holding it on its connection.
    other = subprocess.Popen([sys.executable, "-c", "import sys, time\n"
                              "from digitnet.state.database import RETRAIN_LOCK, held_lock\n"
                              f"held = held_lock({url!r}, RETRAIN_LOCK)\nprint(held is not None, flush=True)\n"
                              "time.sleep(3600)"], env=env, stdout=subprocess.PIPE, text=True)
    try:
        assert other.stdout.readline().strip() == "True"
        this_machine = subprocess.run([sys.executable, "-m", "digitnet", "train", "--out", str(tmp_path / "retrained"),
                                       "--report", "--epochs", "1"], env=env, capture_output=True, text=True,
                                      timeout=TIMEOUT_S)
        assert this_machine.returncode == BUSY_EXIT, this_machine.stderr
        assert "another retrain is running (on another machine)" in this_machine.stderr
        assert not lock_is_free(url)
        other.send_signal(signal.SIGKILL)  # killed, however: the server frees what its connection held
        other.wait(TIMEOUT_S)
        eventually(lambda: lock_is_free(url), "the killed process's lock to be freed")
    finally:
        other.kill()
        other.wait(TIMEOUT_S)
        other.stdout.close()


def test_a_retrain_whose_process_is_gone_reads_as_stopped_on_every_machine(postgres, monkeypatch):
    import time

    from conftest import QUICK_RETRAIN

    from digitnet.state.database import DATABASE_ENV
    from digitnet.training.jobs import FAILED, RUNNING, JobStatus
    from digitnet.training.shared import RetrainBoard, hold_retrain

    url = postgres.database()
    monkeypatch.setenv(DATABASE_ENV, url)
    held = hold_retrain()
    held.start(JobStatus(state=RUNNING, config=QUICK_RETRAIN, started=time.time(), message="Epoch 1 of 2 done."))
    assert RetrainBoard(url).status().running
    assert hold_retrain() is None  # a second training process, on any machine, is refused
    held.close()  # its connection gone, as when its process dies: the server frees the lock, a moment later
    gone = eventually(lambda: (status := RetrainBoard(url).status()).state == FAILED and status,
                      "the board to see the retrain's lock freed")
    assert "stopped unexpectedly" in gone.message
