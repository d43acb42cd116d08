"""Collected drawings: saved atomically in Keras' folder layout, read back, exported, used to train."""

import io

import numpy as np
import pytest

from digitnet.config import DRAWINGS_ENV, RENAMED_ENV, drawings_dir
from digitnet.data.collected import CollectedDrawings, with_drawings
from digitnet.data.mnist import Mnist


def digit_image(seed: int) -> np.ndarray:
    return np.random.default_rng(seed).random((28, 28)).astype(np.float32)


@pytest.fixture
def store(tmp_path):
    return CollectedDrawings(tmp_path / "drawings")


def test_saves_in_keras_folder_layout_with_the_original(store):
    original = np.zeros((280, 280, 4), np.uint8)
    path = store.add(digit_image(0), 7, original=original)
    assert path.parent == store.digits_dir / "7" and path.suffix == ".png"
    assert (store.originals_dir / "7" / path.name).is_file()
    assert store.counts() == [0, 0, 0, 0, 0, 0, 0, 1, 0, 0]


def test_reads_back_what_was_saved(store):
    x = digit_image(1)
    for label in (3, 3, 5, 9, 9, 9, 0, 1, 2, 4, 6, 8):
        store.add(x, label)
    drawings = store.load()
    assert len(drawings) == 12
    assert sorted(np.concatenate([drawings.y_train, drawings.y_test]).tolist()) == sorted(
        [3, 3, 5, 9, 9, 9, 0, 1, 2, 4, 6, 8])
    first = drawings.x_train[0] if len(drawings.x_train) else drawings.x_test[0]
    np.testing.assert_allclose(first / 255, x, atol=1 / 255)


def test_broken_files_are_skipped_with_a_warning(store, caplog):
    store.add(digit_image(2), 4)
    (store.digits_dir / "4" / "broken.png").write_bytes(b"not a png")
    (store.digits_dir / "4" / ".tmp-half.png").write_bytes(b"half")
    assert store.counts()[4] == 2
    assert len(store.load()) == 1
    assert "broken.png" in caplog.text


def test_export_is_an_npz_in_mnist_layout(store):
    for label in range(10):
        store.add(digit_image(label), label)
    with np.load(io.BytesIO(store.export_npz())) as npz:
        assert set(npz.files) == {"x_train", "y_train", "x_test", "y_test"}
        assert npz["x_train"].dtype == np.uint8 and npz["x_train"].shape[1:] == (28, 28)
        assert len(npz["y_train"]) + len(npz["y_test"]) == 10


def test_delete_all(store):
    store.add(digit_image(3), 1, original=np.zeros((10, 10, 4), np.uint8))
    store.delete_all()
    assert store.counts() == [0] * 10 and not store.originals_dir.exists()


def test_bad_label_is_refused(store):
    with pytest.raises(ValueError, match="0..9"):
        store.add(digit_image(4), 12)


def test_default_folder_is_the_users_not_the_projects(monkeypatch, tmp_path):
    monkeypatch.delenv(DRAWINGS_ENV, raising=False)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path))
    assert drawings_dir() == tmp_path / "digitnet" / "drawings"
    monkeypatch.setenv(DRAWINGS_ENV, str(tmp_path / "mine"))
    assert drawings_dir() == tmp_path / "mine"


def test_the_setting_s_old_name_still_works_and_says_to_rename_it(monkeypatch, tmp_path, caplog):
    monkeypatch.delenv(DRAWINGS_ENV, raising=False)
    monkeypatch.setenv(RENAMED_ENV[DRAWINGS_ENV], str(tmp_path / "old"))
    assert drawings_dir() == tmp_path / "old"
    assert f"{RENAMED_ENV[DRAWINGS_ENV]} is now called {DRAWINGS_ENV}" in caplog.text


def test_drawings_are_oversampled_and_shuffled_into_mnist(store, tiny_mnist):
    for i in range(20):
        store.add(digit_image(i), 7)
    drawings = store.load()
    merged = with_drawings(tiny_mnist, drawings, repeats=10)
    assert isinstance(merged, Mnist)
    assert len(merged.x_train) == len(tiny_mnist.x_train) + 10 * len(drawings.y_train)
    np.testing.assert_array_equal(merged.x_test, tiny_mnist.x_test)
    tail = merged.y_train[-len(merged.y_train) // 10:]
    assert (tail == 7).mean() < 0.95  # shuffled: the held-out validation tail is not all drawings


def test_a_big_photo_is_kept_as_drawn_but_no_wider_than_the_widest_canvas(tmp_path):
    from PIL import Image

    from digitnet.data.collected import ORIGINAL_SIDE, CollectedDrawings

    corrections = CollectedDrawings(tmp_path)
    photo = Image.new("RGB", (6000, 4000), "white")
    path = corrections.add(np.zeros((28, 28), np.float32), 7, original=photo)
    kept = Image.open(corrections.originals_dir / "7" / path.name)
    assert kept.size == (ORIGINAL_SIDE, ORIGINAL_SIDE * 4000 // 6000)


def test_a_folder_that_cannot_be_written_is_a_clear_error(tmp_path):
    from digitnet.errors import DrawingsError

    (tmp_path / "digits").write_text("a file where the folder should be")
    with pytest.raises(DrawingsError, match="cannot be saved in"):
        CollectedDrawings(tmp_path).add(np.zeros((28, 28), np.float32), 3)


def test_a_full_folder_refuses_more_drawings(tmp_path, monkeypatch):
    from digitnet.data import collected as corrections
    from digitnet.errors import DrawingsError

    monkeypatch.setattr(corrections, "MAX_DRAWINGS", 2)
    folder = CollectedDrawings(tmp_path)
    for label in (1, 2):
        folder.add(np.zeros((28, 28), np.float32), label)
    with pytest.raises(DrawingsError, match="2 drawings are kept already"):
        folder.add(np.zeros((28, 28), np.float32), 3)
    assert folder.counts() == [0, 1, 1, 0, 0, 0, 0, 0, 0, 0]


# What the folder and the PostgreSQL table both do: the replicas of several machines share the table.


@pytest.fixture(params=["folder", "postgresql"])
def kept(request, tmp_path):
    """A store of collected drawings of each kind: the drawings folder, or a PostgreSQL database."""
    from digitnet.data.collected import DrawingTable

    if request.param == "folder":
        return CollectedDrawings(tmp_path / "drawings")
    return DrawingTable(request.getfixturevalue("postgres").database())


def test_either_store_keeps_counts_splits_exports_and_deletes_the_same(kept):
    labels = [label for label in range(10) for _ in range(3)]
    for i, label in enumerate(labels):
        kept.add(digit_image(i), label, original=np.zeros((300, 300, 4), np.uint8))
    assert kept.counts() == [3] * 10
    drawings = kept.load()
    assert len(drawings) == 30 and 0 < len(drawings.y_test) < 15  # one in TEST_EVERY, give or take
    assert sorted(np.concatenate([drawings.y_train, drawings.y_test]).tolist()) == sorted(labels)
    assert any(np.abs(drawings.x_train[0] / 255 - digit_image(i)).max() <= 1 / 255 for i in range(30))
    with np.load(io.BytesIO(kept.export_npz())) as npz:
        np.testing.assert_array_equal(npz["x_test"], drawings.x_test)
        np.testing.assert_array_equal(npz["y_train"], drawings.y_train)
    assert kept.load().y_test.tolist() == drawings.y_test.tolist()  # a drawing's split never changes
    kept.delete_all()
    assert kept.counts() == [0] * 10 and len(kept.load()) == 0


def test_either_store_refuses_a_wrong_label_and_past_the_cap_changes_nothing(kept, monkeypatch):
    from digitnet.data import collected
    from digitnet.errors import DrawingsError

    monkeypatch.setattr(collected, "MAX_DRAWINGS", 2)
    with pytest.raises(ValueError, match="0..9"):
        kept.add(digit_image(0), 10)
    for label in (1, 2):
        kept.add(digit_image(label), label)
    with pytest.raises(DrawingsError, match="2 drawings are kept already"):
        kept.add(digit_image(3), 3)
    assert kept.counts() == [0, 1, 1, 0, 0, 0, 0, 0, 0, 0]


def test_the_database_is_the_store_when_its_url_is_set(monkeypatch, tmp_path):
    from digitnet.data.collected import DrawingTable, collected_drawings
    from digitnet.state.database import DATABASE_ENV

    monkeypatch.setenv(DRAWINGS_ENV, str(tmp_path))
    monkeypatch.delenv(DATABASE_ENV, raising=False)
    assert collected_drawings() == CollectedDrawings(tmp_path)
    monkeypatch.setenv(DATABASE_ENV, "postgresql://digitnet@127.0.0.1:1/none")
    assert isinstance(collected_drawings(), DrawingTable)


@pytest.mark.postgres
def test_a_database_out_of_reach_is_a_clear_error_that_names_no_server(monkeypatch):
    from digitnet.data.collected import DrawingTable
    from digitnet.errors import DrawingsError
    from digitnet.replicas import free_port

    table = DrawingTable(f"postgresql://digitnet:secret@127.0.0.1:{free_port()}/digits")  # nothing listens
    for call in (table.counts, table.load, lambda: table.add(digit_image(0), 1)):
        with pytest.raises(DrawingsError, match="cannot be reached") as raised:
            call()
        assert "127.0.0.1" not in str(raised.value) and "secret" not in str(raised.value)


ADDER = """
import sys, numpy as np
from pathlib import Path
from digitnet.data.collected import CollectedDrawings, DrawingTable
place, count = sys.argv[1], int(sys.argv[2])
kept = DrawingTable(place) if place.startswith("postgresql://") else CollectedDrawings(Path(place))
x = np.zeros((28, 28), np.float32); x[6, 8:20] = 1.0; x[6:22, 18] = 1.0
i = 0
while count < 0 or i < count:  # a negative count: forever
    kept.add(x, i % 10, original=np.zeros((300, 300, 4), np.uint8))
    i += 1
"""


def adder(kept, count: int):
    """Another process (another replica, another machine) saving `count` drawings (-1: until killed)."""
    import subprocess
    import sys

    from conftest import ROOT

    place = str(kept.root) if isinstance(kept, CollectedDrawings) else kept.database.url
    return subprocess.Popen([sys.executable, "-c", ADDER, place, str(count)], cwd=ROOT, stderr=subprocess.PIPE,
                            text=True)


def test_either_store_loses_no_drawing_saved_by_several_processes_at_once(kept):
    from waiting import TIMEOUT_S

    adders = [adder(kept, 15) for _ in range(4)]
    for process in adders:
        assert process.wait(TIMEOUT_S) == 0, process.stderr.read()
        process.stderr.close()
    assert sum(kept.counts()) == 60 and len(kept.load()) == 60


def test_either_store_killed_midway_through_a_save_keeps_only_whole_drawings(kept):
    import signal

    from waiting import TIMEOUT_S, eventually

    process = adder(kept, -1)
    try:
        eventually(lambda: sum(kept.counts()) >= 20, "20 drawings saved")
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait(TIMEOUT_S)
        process.stderr.close()
    counted = sum(kept.counts())
    drawings = kept.load()
    assert len(drawings) == counted >= 20  # each one counted is read whole
    assert (np.concatenate([drawings.x_train, drawings.x_test]).max(axis=(1, 2)) == 255).all()
    kept.add(digit_image(0), 3)  # and the store takes more
    assert sum(kept.counts()) == counted + 1
