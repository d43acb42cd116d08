"""Hard to break: bad drawings and uploads, broken model and data files, faults while saving, threads."""

import io
import signal
import subprocess
import sys
import threading
import time
import tomllib

import numpy as np
import pytest
from conftest import QUICK_RETRAIN, ROOT, as_canvas, stroke_image
from PIL import Image
from waiting import TIMEOUT_S

from digitnet import BlankImageError, ImageError, ModelFileError, load_classifier, open_image, to_mnist
from digitnet.state.auth import password_matches
from digitnet.reading.classifier import Classifier, weights_path
from digitnet.state.store import ModelStore
from digitnet.training.jobs import SUCCEEDED, TrainingJob
from digitnet.training.model import build_model, save_model



def png_bytes(image: Image.Image, **save_args) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, **save_args)
    return buffer.getvalue()


def paper(digit: str = "7") -> Image.Image:
    """Dark ink on white paper, as a greyscale photo."""
    return Image.fromarray(255 - stroke_image(digit))


# Drawings and uploads


@pytest.mark.parametrize(
    "image",
    [
        as_canvas(np.full((280, 280), 255, np.uint8)),  # filled completely
        as_canvas(stroke_image("7"), ink=(30, 30, 30), background=(30, 30, 30)),  # ink as the background
        np.zeros((1, 1, 4), np.uint8),  # 1x1
        np.zeros((0, 280, 4), np.uint8),  # no pixels at all
    ],
    ids=["filled", "invisible-ink", "1x1", "empty"],
)
def test_drawings_without_a_digit_are_blank(image):
    with pytest.raises(BlankImageError):
        to_mnist(image)


def test_a_huge_array_is_refused_without_touching_its_pixels():
    huge = np.broadcast_to(np.zeros((1, 1, 4), np.uint8), (10_000, 10_000, 4))  # no memory behind it
    with pytest.raises(ImageError, match="too large"):
        to_mnist(huge)


def test_a_decompression_bomb_is_refused_before_decoding():
    bomb = png_bytes(Image.new("1", (20_000, 20_000)), format="PNG")
    assert len(bomb) < 200_000
    with pytest.raises(ImageError, match="too large"):
        open_image(bomb)


def test_a_large_photo_is_read(tmp_path):
    big = paper().resize((4000, 4000))
    assert to_mnist(open_image(png_bytes(big, format="PNG"))).shape == (28, 28)


def test_animated_gif_reads_its_first_frame():
    frames = [paper("7").convert("P"), paper("0").convert("P")]
    gif = io.BytesIO()
    frames[0].save(gif, format="GIF", save_all=True, append_images=frames[1:], duration=100)
    np.testing.assert_allclose(to_mnist(open_image(gif.getvalue())), to_mnist(paper("7")), atol=0.05)


def test_16_bit_png_reads_like_8_bit():
    sixteen = Image.fromarray((255 - stroke_image("7")).astype(np.uint16) * 257)
    data = png_bytes(sixteen, format="PNG")
    assert Image.open(io.BytesIO(data)).mode.startswith("I")
    np.testing.assert_allclose(to_mnist(open_image(data)), to_mnist(paper("7")), atol=0.05)


def test_cmyk_jpeg_is_read():
    data = png_bytes(paper("7").convert("CMYK"), format="JPEG", quality=95)
    np.testing.assert_allclose(to_mnist(open_image(data)), to_mnist(paper("7")), atol=0.15)


def test_exif_rotated_photo_is_read_upright():
    sideways = paper("7").rotate(90, expand=True)  # the camera held sideways
    exif = Image.Exif()
    exif[0x0112] = 6  # orientation: turn 90 degrees clockwise to view upright
    data = png_bytes(sideways.convert("RGB"), format="JPEG", quality=95, exif=exif)
    np.testing.assert_allclose(to_mnist(open_image(data)), to_mnist(paper("7")), atol=0.15)


@pytest.mark.parametrize("bad", [np.full((28, 28), np.nan), np.full((28, 28), -np.inf), np.zeros((28, 28, 28, 2))])
def test_nan_inf_and_wrong_shapes_name_the_problem(bad):
    with pytest.raises(ImageError):
        to_mnist(bad)
    with pytest.raises(ImageError):
        Classifier.from_keras(build_model(QUICK_RETRAIN)).predict_proba(bad)


# Model files


def test_a_model_with_a_lambda_layer_is_refused_by_safe_mode(tmp_path):
    import keras

    model = keras.Sequential([keras.Input((28, 28)), keras.layers.Lambda(lambda x: x * 2),
                              keras.layers.Flatten(), keras.layers.Dense(10, activation="softmax")])
    path = tmp_path / "lambda.keras"
    model.save(path)
    from digitnet.training.model import load_keras_model

    with pytest.raises(ModelFileError, match="(?i)lambda|safe"):
        load_keras_model(path)
    with pytest.raises(ModelFileError, match="No model weights"):  # the page reads weights, never code
        load_classifier(path)


def test_a_model_of_the_wrong_shape_is_refused(tmp_path):
    import keras

    model = keras.Sequential([keras.Input((28, 28)), keras.layers.Flatten(), keras.layers.Dense(3)])
    with pytest.raises(ModelFileError, match="10 digit"):
        Classifier.from_keras(model)


# Faults while saving


SAVE_FOREVER = """
import sys
from digitnet import TrainConfig
from digitnet.training.model import build_model, save_model
model = build_model(TrainConfig(hidden_units=512))
print("ready", flush=True)
while True:
    save_model(model, sys.argv[1])
    print("saved", flush=True)
"""


@pytest.mark.training
def test_killing_a_save_midway_leaves_a_loadable_model(tmp_path):
    path = tmp_path / "digitnet.keras"
    save_model(build_model(QUICK_RETRAIN), path)
    process = subprocess.Popen([sys.executable, "-c", SAVE_FOREVER, str(path)], cwd=ROOT,
                               stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    assert process.stdout.readline().strip() == b"ready"
    for _ in range(3):  # several saves, then a kill at an arbitrary point of the next
        assert process.stdout.readline().strip() == b"saved"
    process.send_signal(signal.SIGKILL)
    process.wait(TIMEOUT_S)
    assert load_classifier(path).predict_proba(np.zeros((28, 28))).shape == (10,)
    store = ModelStore(shipped=path, retrained_dir=tmp_path / "none")
    assert store.active_path() == path  # a stray .tmp-*.keras is never taken for the model


# Concurrency


@pytest.mark.training
def test_threads_predict_from_whole_models_while_a_retrain_swaps(tmp_path, tiny_mnist, train_env):
    shipped = tmp_path / "shipped" / "digitnet.keras"
    save_model(build_model(QUICK_RETRAIN), shipped)
    store = ModelStore(shipped=shipped, retrained_dir=tmp_path / "retrained")
    cache: dict[tuple[str, float], Classifier] = {}
    cache_lock = threading.Lock()

    def classifier_in_use() -> Classifier:
        """What the app's st.cache_resource does: one classifier per model file version."""
        path = store.active_path()
        key = (str(path), weights_path(path).stat().st_mtime)
        with cache_lock:
            if key not in cache:
                cache[key] = store.load(path).classifier
            return cache[key]

    x = tiny_mnist.x_test[:4].astype(np.float32) / 255
    old = load_classifier(shipped).predict_proba(x)
    seen = {"old": 0, "new": 0}
    torn, errors = [], []  # answers of neither whole model, and exceptions: both failures
    done, new_model_answered = threading.Event(), threading.Event()

    def session() -> None:
        # Paced like a busy page (a prediction every 10 ms), not a tight loop that starves the training
        # process on two cores; only counts are kept, so memory stays bounded however long it runs.
        while not done.wait(0.01):
            try:
                answer = classifier_in_use().predict_proba(x)
            except Exception as exc:  # any exception at all is a failure of this test
                errors.append(exc)
                return
            if np.allclose(answer, old):
                seen["old"] += 1
            elif new is not None and np.allclose(answer, new):
                seen["new"] += 1
                new_model_answered.set()
            else:
                torn.append(answer)

    new = None
    threads = [threading.Thread(target=session, daemon=True) for _ in range(8)]
    try:
        for thread in threads:
            thread.start()
        job = TrainingJob(store, train_env)
        assert job.start(QUICK_RETRAIN)
        assert not job.start(QUICK_RETRAIN)  # a second retrain is refused while one runs
        assert job.wait(TIMEOUT_S).state == SUCCEEDED
        new = load_classifier(store.retrained).predict_proba(x)
        assert new_model_answered.wait(TIMEOUT_S), "no session answered from the new model"
    finally:
        done.set()
        for thread in threads:
            thread.join(TIMEOUT_S)
    assert errors == [] and seen["old"] > 0
    # Answers from before `new` was known count as torn only if they are not the new model's either.
    assert all(np.allclose(answer, new) for answer in torn), f"{len(torn)} answers of neither model"


# Who may retrain


def test_password_check():
    assert password_matches(None, None) and password_matches("", "")
    assert password_matches("s3cret", "s3cret")
    assert not password_matches("s3cre", "s3cret")
    assert not password_matches(None, "s3cret")
    assert not password_matches("S3CRET", "s3cret")


def test_streamlit_config_caps_uploads_and_keeps_xsrf_on():
    config = tomllib.loads((ROOT / ".streamlit" / "config.toml").read_text())
    assert 0 < config["server"]["maxUploadSize"] <= 20
    assert config["server"].get("enableXsrfProtection", True) is True
    assert config["server"].get("enableCORS", True) is True


def test_an_eps_file_named_png_is_refused_without_being_interpreted():
    eps = b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 10 10\nnewpath 0 0 moveto 10 10 lineto stroke\n%%EOF\n"
    with pytest.raises(ImageError, match="not an image"):
        open_image(eps)


def test_a_big_photo_is_shrunk_before_it_becomes_floats():
    import tracemalloc

    photo = paper("7").resize((5000, 5000))
    tracemalloc.start()
    x = to_mnist(photo)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak < 40e6  # as float32, its three channels alone were 300 MB
    np.testing.assert_allclose(x, to_mnist(paper("7")), atol=0.15)


@pytest.mark.parametrize("mode", ["I;16", "I", "F", "CMYK", "P", "LA"])
def test_every_readable_upload_has_an_8_bit_preview(mode):
    from digitnet.reading.preprocess import preview_image

    image = paper("7")
    image = Image.fromarray(np.asarray(image, np.float32) * 257).convert(mode) if mode in ("I", "F") else (
        Image.fromarray(np.asarray(image).astype(np.uint16) * 257) if mode == "I;16" else image.convert(mode))
    preview = preview_image(image)
    assert preview.mode in ("L", "RGB", "RGBA") and max(preview.size) <= 560
    preview.save(io.BytesIO(), format="JPEG" if preview.mode != "RGBA" else "PNG")  # what st.image does


def test_wrong_guesses_wait_longer_and_longer_and_are_logged_without_the_guess(caplog):
    from digitnet.state.auth import WrongGuesses

    guesses = WrongGuesses(free=2, window=60, longest=3)
    with caplog.at_level("WARNING", logger="digitnet.state.auth"):
        delays = [guesses.delay() for _ in range(7)]
    assert delays == [0, 0, 1, 2, 3, 3, 3]
    assert len(caplog.records) == 7 and all("Wrong admin password" in r.getMessage() for r in caplog.records)


def test_wrong_guesses_older_than_the_window_are_forgotten(monkeypatch):
    from digitnet.state import auth

    clock = [1000.0]
    monkeypatch.setattr(auth.time, "monotonic", lambda: clock[0])
    guesses = auth.WrongGuesses(free=1, window=60, longest=5)
    assert [guesses.delay() for _ in range(3)] == [0, 1, 2]
    clock[0] += 61
    assert guesses.delay() == 0


def test_leftovers_of_an_interrupted_save_are_removed_and_nothing_else(tmp_path):
    from digitnet.files import remove_leftovers

    for name in (".tmp-abc.keras", ".tmp-def.json", "digitnet.keras", "history.json", "training.lock"):
        (tmp_path / name).write_text("x")
    assert [p.name for p in remove_leftovers(tmp_path)] == [".tmp-abc.keras", ".tmp-def.json"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["digitnet.keras", "history.json", "training.lock"]
