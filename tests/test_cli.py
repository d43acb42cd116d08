"""`python -m digitnet`: help, exit codes and output of train, evaluate and predict."""

import subprocess
import sys

import numpy as np
import pytest
from conftest import ROOT, stroke_image
from PIL import Image

from digitnet.cli import main
from digitnet.config import MODEL_FILENAME
from digitnet.state.history import history_path, load_record
from waiting import TIMEOUT_S


@pytest.fixture(scope="module")
def tiny_npz(tiny_mnist, tmp_path_factory):
    path = tmp_path_factory.mktemp("data") / "tiny.npz"
    np.savez(path, x_train=tiny_mnist.x_train, y_train=tiny_mnist.y_train,
             x_test=tiny_mnist.x_test, y_test=tiny_mnist.y_test)
    return path


@pytest.fixture(scope="module")
def tiny_model(tiny_npz, tiny_pen_file, tiny_unipen_file, tmp_path_factory):
    out = tmp_path_factory.mktemp("model")
    assert main(["train", "--mnist", str(tiny_npz), "--pendigits", str(tiny_pen_file),
                 "--unipen", str(tiny_unipen_file), "--out", str(out),
                 "--epochs", "1", "--hidden-units", "8", "--batch-size", "32",
                 "--test-writer-share", "0.34", "--validation-writer-share", "0.17"]) == 0
    return out / MODEL_FILENAME


@pytest.mark.parametrize("command", [[], ["train"], ["evaluate"], ["predict"]])
def test_help_explains_every_command(command, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(command + ["--help"])
    assert exit_info.value.code == 0
    assert "usage: python -m digitnet" in capsys.readouterr().out


def test_train_help_lists_every_setting(capsys):
    with pytest.raises(SystemExit):
        main(["train", "--help"])
    out = capsys.readouterr().out
    for flag in ("--epochs", "--batch-size", "--learning-rate", "--dropout", "--validation-split",
                 "--augment", "--mnist", "--out", "--pendigits", "--unipen", "--no-pen-digits", "--pen-copies",
                 "--test-writer-share"):
        assert flag in out


@pytest.mark.training
def test_train_writes_model_history_and_curves(tiny_model):
    names = {p.name for p in tiny_model.parent.iterdir()}
    assert names == {"digitnet.keras", "digitnet.npz", "history.json", "training_curves.png"}


def test_train_refuses_bad_settings_and_bad_data(tmp_path, tiny_npz):
    assert main(["train", "--mnist", str(tiny_npz), "--out", str(tmp_path), "--epochs", "0"]) == 2
    bad = tmp_path / "bad.npz"
    np.savez(bad, x_train=np.zeros((2, 28, 28), np.uint8))
    assert main(["train", "--mnist", str(bad), "--out", str(tmp_path)]) == 1
    assert not (tmp_path / MODEL_FILENAME).exists()


def test_evaluate_prints_mnist_and_the_writers_it_never_saw(tiny_model, tiny_npz, tiny_pen_file, tiny_unipen_file,
                                                            caplog):
    caplog.set_level("INFO")
    assert main(["evaluate", "--model", str(tiny_model), "--mnist", str(tiny_npz),
                 "--pendigits", str(tiny_pen_file), "--unipen", str(tiny_unipen_file)]) == 0
    assert "MNIST test accuracy:" in caplog.text
    assert "true\\pred" in caplog.text
    pen_source, unipen_source = load_record(history_path(tiny_model)).sources[1:]
    first, second = pen_source["writers"]["test"]
    assert f"UCI pen digits: 2 writers it never saw ({first} {second}), drawn as on the canvas: " \
           f"accuracy" in caplog.text
    assert "on 60 digits" in caplog.text  # 2 writers x 30 digits
    (unipen_writer,) = unipen_source["writers"]["test"]
    assert f"UNIPEN: 1 writers it never saw ({unipen_writer})" in caplog.text
    assert "on 18 digits" in caplog.text  # 1 writer x 18 digits
    assert "all 2 pen collections together, drawn as on the canvas: accuracy" in caplog.text
    assert "on 78 digits" in caplog.text
    assert "confidence:" in caplog.text and "calibration error" in caplog.text


@pytest.mark.training
def test_a_model_that_never_saw_pen_digits_is_measured_on_every_writer(tiny_npz, tiny_pen_file, tiny_unipen_file,
                                                                       tmp_path, caplog):
    assert main(["train", "--mnist", str(tiny_npz), "--out", str(tmp_path), "--epochs", "1",
                 "--hidden-units", "8", "--no-pen-digits"]) == 0
    caplog.set_level("INFO")
    assert main(["evaluate", "--model", str(tmp_path / MODEL_FILENAME), "--mnist", str(tiny_npz),
                 "--pendigits", str(tiny_pen_file), "--unipen", str(tiny_unipen_file)]) == 0
    assert "6 writers it never saw (1 2 3 4 5 6)" in caplog.text and "on 180 digits" in caplog.text
    assert "4 writers it never saw (1 2 3 4)" in caplog.text and "on 72 digits" in caplog.text


def test_predict_reports_each_file_and_fails_on_bad_ones(tiny_model, tmp_path, capsys, caplog):
    good = tmp_path / "seven.png"
    Image.fromarray(255 - stroke_image("7")).save(good)
    text = tmp_path / "notes.png"
    text.write_text("not an image")
    blank = tmp_path / "blank.png"
    Image.new("L", (100, 100), 255).save(blank)
    assert main(["predict", str(good), "--model", str(tiny_model)]) == 0
    assert main(["predict", str(good), str(text), str(blank), "--model", str(tiny_model)]) == 1
    out = capsys.readouterr().out
    assert out.count("seven.png: ") == 2
    assert "notes.png: error: " in caplog.text and "not an image" in caplog.text
    assert "blank.png: error: " in caplog.text


def test_missing_model_is_an_error_not_a_traceback(tmp_path, caplog):
    assert main(["predict", "x.png", "--model", str(tmp_path / "none.keras")]) == 1
    assert "No model weights" in caplog.text


def test_runs_as_a_module():
    result = subprocess.run([sys.executable, "-m", "digitnet", "--help"], cwd=ROOT,
                            capture_output=True, text=True, timeout=TIMEOUT_S)
    assert result.returncode == 0
    assert "train" in result.stdout and "predict" in result.stdout


def test_the_old_names_of_a_flag_and_a_command_still_work(tmp_path):
    from digitnet.cli import build_parser, run_draw_ahead

    assert build_parser().parse_args(["train", "--data", str(tmp_path)]).mnist == tmp_path
    assert build_parser().parse_args(["prepare"]).command is run_draw_ahead


@pytest.mark.training
def test_a_teacher_is_trained_saved_and_then_taught_from(tiny_npz, tiny_pen_file, tiny_unipen_file, tmp_path,
                                                          monkeypatch):
    from digitnet.state.history import load_record
    from digitnet.training.teacher import TEACHER_ENV, TEACHER_FILENAME

    data = ["--mnist", str(tiny_npz), "--pendigits", str(tiny_pen_file), "--unipen", str(tiny_unipen_file),
            "--test-writer-share", "0.34", "--validation-writer-share", "0.17", "--batch-size", "32"]
    assert main(["train-teacher", *data, "--out", str(tmp_path), "--epochs", "1"]) == 0
    assert (tmp_path / TEACHER_FILENAME).is_file()
    monkeypatch.setenv(TEACHER_ENV, str(tmp_path / TEACHER_FILENAME))
    assert main(["train", *data, "--out", str(tmp_path / "student"), "--epochs", "1", "--teacher"]) == 0
    assert load_record(tmp_path / "student" / "history.json").config.teacher


@pytest.mark.training
def test_the_label_audit_lists_candidates_and_pictures_them(tiny_npz, tiny_pen_file, tmp_path):
    from conftest import pen_shape, pen_text

    from digitnet.data.labels import read_mislabelled

    rng = np.random.default_rng(2)
    digits = [(label, writer, pen_shape(label, int(rng.integers(-20, 20))))
              for writer in range(1, 7) for label in (0, 1, 7) for _ in range(6)]
    digits.append((0, 3, [pen_shape(0, 0)[0], [(x + 300, y) for x, y in pen_shape(0, 0)[0]]]))  # "00" labelled 0
    unipen = tmp_path / "unipen.tra"
    unipen.write_text(pen_text(digits))
    out, picture = tmp_path / "candidates.csv", tmp_path / "candidates.png"
    assert main(["audit-labels", "--mnist", str(tiny_npz), "--pendigits", str(tiny_pen_file), "--unipen", str(unipen),
                 "--out", str(out), "--picture", str(picture)]) == 0
    found = read_mislabelled(out)
    assert any(row.number == len(digits) - 1 and row.writer == 3 and "2 digits side by side" in row.reason
               for row in found)
    assert picture.stat().st_size > 0
