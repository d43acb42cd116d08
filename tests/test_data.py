"""Loading MNIST from a local file, and the errors for files that are not MNIST."""

import os

import numpy as np
import pytest

from digitnet import DataError, load_mnist
from digitnet.data.mnist import MNIST_ENV
from waiting import TIMEOUT_S


def write_npz(path, **overrides):
    arrays = {
        "x_train": np.zeros((6, 28, 28), np.uint8),
        "y_train": np.arange(6, dtype=np.uint8),
        "x_test": np.zeros((3, 28, 28), np.uint8),
        "y_test": np.arange(3, dtype=np.uint8),
    }
    arrays.update(overrides)
    np.savez(path, **{k: v for k, v in arrays.items() if v is not None})
    return path


def test_loads_from_path_and_from_environment(tmp_path, monkeypatch):
    path = write_npz(tmp_path / "m.npz")
    assert load_mnist(path).x_train.shape == (6, 28, 28)
    monkeypatch.setenv(MNIST_ENV, str(path))
    data = load_mnist()
    assert data.source == str(path)
    assert len(data.fingerprint()) == 16


@pytest.mark.parametrize(
    "overrides, message",
    [
        ({"y_test": None}, "lacks the array"),
        ({"x_train": np.zeros((6, 28, 27), np.uint8)}, "shape"),
        ({"x_train": np.zeros((6, 28, 28), np.float64)}, "uint8"),
        ({"y_train": np.arange(5, dtype=np.uint8)}, "to match"),
        ({"y_train": np.array([0, 1, 2, 3, 4, 10], np.uint8)}, "labels 0..9"),
        ({"x_test": np.zeros((0, 28, 28), np.uint8), "y_test": np.zeros(0, np.uint8)}, "n > 0"),
    ],
)
def test_wrong_files_name_the_problem(tmp_path, overrides, message):
    with pytest.raises(DataError, match=message):
        load_mnist(write_npz(tmp_path / "m.npz", **overrides))


def test_missing_and_unreadable_files(tmp_path):
    with pytest.raises(DataError, match="not found"):
        load_mnist(tmp_path / "nope.npz")
    junk = tmp_path / "junk.npz"
    junk.write_bytes(b"")
    with pytest.raises(DataError, match="not a readable"):
        load_mnist(junk)


def test_offline_download_says_how_to_supply_a_file(tmp_path, monkeypatch):
    import digitnet.data.mnist

    monkeypatch.delenv(MNIST_ENV, raising=False)
    monkeypatch.setattr(digitnet.data.mnist, "_keras_files", lambda: [tmp_path / "datasets" / "mnist.npz"])
    monkeypatch.setattr(digitnet.data.mnist, "DOWNLOAD_CODE", "raise OSError('Name or service not known')")
    with pytest.raises(DataError, match=f"Name or service not known.*--mnist .*{MNIST_ENV}"):
        load_mnist()


def test_reads_keras_download_without_importing_keras(tmp_path):
    """The page's server shows MNIST: reading Keras' download must not load TensorFlow into it."""
    import subprocess
    import sys

    from conftest import ROOT

    (tmp_path / "datasets").mkdir()
    write_npz(tmp_path / "datasets" / "mnist.npz")
    code = ("import sys, digitnet\n"
            "data = digitnet.load_mnist()\n"
            "print(data.source, data.x_test.shape, sorted(m for m in ('tensorflow', 'keras') if m in sys.modules))")
    env = {k: v for k, v in os.environ.items() if k != MNIST_ENV} | {"KERAS_HOME": str(tmp_path)}
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True,
                            timeout=TIMEOUT_S)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == [str(tmp_path / "datasets" / "mnist.npz"), "(3,", "28,", "28)", "[]"]
