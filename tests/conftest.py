"""Shared fixtures: small data the tests make, and the real MNIST file for integration tests."""

from __future__ import annotations

import gzip
import importlib.util
import os
import sys
from pathlib import Path
from typing import NoReturn

import numpy as np
import pytest
from PIL import Image, ImageDraw

from digitnet.config import DRAWINGS_ENV, TrainConfig
from digitnet.data.mnist import MNIST_ENV, Mnist

ROOT = Path(__file__).resolve().parent.parent
# A retrain that takes seconds: two epochs of a small network on MNIST alone.
QUICK_RETRAIN = TrainConfig(epochs=2, batch_size=16, hidden_units=16, learning_rate=1e-2, pen_digits=False,
                            teacher=False)


def pytest_collection_modifyitems(items) -> None:
    """Mark the tests that use Chromium or PostgreSQL by the fixtures they ask for (a store of each kind
    asks for PostgreSQL by its parameter): `make check` leaves them out."""
    for item in items:
        parameters = getattr(item, "callspec", None)
        if "browser" in item.fixturenames:
            item.add_marker(pytest.mark.browser)
        if "postgres" in item.fixturenames or (parameters and "postgresql" in parameters.id.split("-")):
            item.add_marker(pytest.mark.postgres)


@pytest.fixture(scope="session", autouse=True)
def drawing_cache(tmp_path_factory) -> Path:
    """Drawn pen digits are cached in a folder of the test run's own, not the user's cache; and the
    page's servers do not draw the real pen digits in the background (a test that wants it asks)."""
    from digitnet.config import CACHE_ENV, DRAW_AHEAD_ENV

    folder = tmp_path_factory.mktemp("drawn-cache")
    os.environ[CACHE_ENV] = str(folder)
    os.environ[DRAW_AHEAD_ENV] = "0"
    return folder


@pytest.fixture
def pen_digits_drawn(drawing_cache) -> Path:
    """The pen digits a retrain of the shipped model draws, drawn into the run's cache at this process's
    priority: the page's own drawing ahead runs at the lowest, and beside a busy machine's other work it
    would take hours. The page then finds them all drawn, as it does once it has been up a few minutes."""
    from digitnet.data.pendigits import load_pen_collections
    from digitnet.state.store import ModelStore
    from digitnet.training.recipe import draw_pen_digits

    draw_pen_digits(ModelStore(retrained_dir=drawing_cache / "none").settings_in_use(), load_pen_collections())
    return drawing_cache


def unavailable(message: str) -> NoReturn:
    """What a test needs is not on this machine: a failure in CI (CI=true), a skip elsewhere."""
    if os.environ.get("CI"):
        pytest.fail(message)
    pytest.skip(message)


def nginx() -> str:
    """Where nginx is."""
    from digitnet.replicas import ServeError, nginx_binary

    try:
        return nginx_binary()
    except ServeError as exc:
        unavailable(str(exc))


@pytest.fixture(scope="session")
def postgres():
    """A PostgreSQL cluster for the whole test run (Debian's server, started here, stopped at the end);
    `postgres.database()` gives each test an empty database of its own."""
    from postgres import Cluster, server_binaries

    binaries = server_binaries()
    if binaries is None:
        unavailable("PostgreSQL not found: install it with `sudo apt-get install -y postgresql`")
    if importlib.util.find_spec("psycopg") is None:  # the store's driver, in requirements.txt
        unavailable("psycopg not installed: `make test` installs requirements.txt")
    cluster = Cluster(*binaries)
    try:
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture(autouse=True)
def database_connections_closed():
    """Each test's databases are its own: the connections this process kept open to them close with it."""
    yield
    if "digitnet.state.database" in sys.modules:  # only once a test used it: never imports psycopg
        sys.modules["digitnet.state.database"].close_pools()


@pytest.fixture(scope="module")
def browser():
    """Debian's Chromium, headless, driven by Playwright: one per test module."""
    from chromium import CHROMIUM, CHROMIUM_FLAGS
    from playwright.sync_api import sync_playwright

    if not Path(CHROMIUM).exists():
        unavailable(f"Chromium not found at {CHROMIUM}: install it with `sudo apt-get install -y chromium`")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
        _wait_as_long_as_every_test(browser)
        yield browser
        browser.close()


def _wait_as_long_as_every_test(browser) -> None:
    """Every page and context the browser opens waits up to WAIT_MS for what a test asks (a click, a
    locator), not Playwright's 30 s: a page answers slowly on a machine running two test suites."""
    from waiting import WAIT_MS

    open_context, open_page = browser.new_context, browser.new_page

    def new_context(*args, **kwargs):
        context = open_context(*args, **kwargs)
        context.set_default_timeout(WAIT_MS)
        return context

    def new_page(*args, **kwargs):
        page = open_page(*args, **kwargs)
        page.set_default_timeout(WAIT_MS)
        return page

    browser.new_context, browser.new_page = new_context, new_page


@pytest.fixture(scope="session")
def mnist_path() -> Path:
    """The real MNIST file named by $DIGITNET_MNIST; in CI its absence is a failure, not a skip."""
    value = os.environ.get(MNIST_ENV)
    path = Path(value) if value else ROOT.parent / "shared" / "data" / "mnist.npz"
    if not path.is_file():
        message = (
            f"MNIST file not found at {path}: download mnist.npz (the layout of "
            f"keras.datasets.mnist.load_data()) and set {MNIST_ENV}=/path/to/mnist.npz"
        )
        unavailable(message)
    return path


def stroke_image(kind: str, size: int = 280, box: tuple[int, int, int, int] = (100, 60, 180, 220),
                 width: int = 18) -> np.ndarray:
    """A white-on-black greyscale drawing of a simple shape: "1" (a bar), "0" (a ring) or "7"."""
    image = Image.new("L", (size, size), 0)
    draw = ImageDraw.Draw(image)
    left, top, right, bottom = box
    if kind == "1":
        centre = (left + right) // 2
        draw.line([(centre, top), (centre, bottom)], fill=255, width=width)
    elif kind == "0":
        draw.ellipse(box, outline=255, width=width)
    elif kind == "7":
        draw.line([(left, top), (right, top), (left + (right - left) // 3, bottom)], fill=255, width=width)
    else:
        raise ValueError(kind)
    return np.asarray(image)


def as_canvas(grey: np.ndarray, ink=(255, 255, 255), background=(0, 0, 0)) -> np.ndarray:
    """An opaque RGBA canvas with `grey` (0..255) as the amount of ink of the given colour."""
    amount = grey[..., None].astype(np.float32) / 255
    rgb = np.array(background) + amount * (np.array(ink) - np.array(background))
    alpha = np.full(grey.shape + (1,), 255)
    return np.concatenate([rgb, alpha], axis=-1).round().astype(np.uint8)


@pytest.fixture(scope="session")
def tiny_mnist() -> Mnist:
    """A small learnable data set in MNIST's layout: bars, rings and sevens as digits 1, 0 and 7."""
    rng = np.random.default_rng(0)
    images, labels = [], []
    for i in range(240):
        digit = ("0", "1", "7")[i % 3]
        left, top = rng.integers(2, 8, size=2)
        grey = stroke_image(digit, size=28, box=(left, top, left + 14, top + 18), width=2)
        images.append(grey)
        labels.append(int(digit))
    x = np.stack(images).astype(np.uint8)
    y = np.array(labels, dtype=np.uint8)
    return Mnist(x[:180], y[:180], x[180:], y[180:], source="tiny")


def pen_text(digits: list[tuple[int, int, list[list[tuple[int, int]]]]]) -> str:
    """UNIPEN text as in UCI's pen-digit files, for (label, writer, strokes) triples."""
    lines = [".INCLUDE        dene.doc", "", '.LEXICON "0" "1" "2" "3" "4" "5" "6" "7" "8" "9"',
             ".HIERARCHY      DIGIT", ""]
    for number, (label, writer, strokes) in enumerate(digits):
        lines += [f'.SEGMENT DIGIT    {number} ? "{label}"', f".COMMENT {label} {writer}  {number}"]
        for stroke in strokes:
            lines.append(".PEN_DOWN")
            lines += [f" {x:3d}  {y:3d}" for x, y in stroke]
            lines.append(".PEN_UP")
        lines += [".DT 100", ""]
    return "\n".join(lines) + "\n"


def pen_shape(label: int, jitter: int) -> list[list[tuple[int, int]]]:
    """Tablet strokes (y up) of a 1 (a bar), a 0 (a ring) or a 7 (a bar and a stem)."""
    if label == 1:
        return [[(250 + jitter, 400), (250, 250), (250 - jitter, 100)]]
    if label == 0:
        ring = [(250 + int(90 * np.cos(a)), 250 + int(150 * np.sin(a))) for a in np.linspace(0, 2 * np.pi, 24)]
        return [[(x + jitter, y) for x, y in ring]]
    if label == 7:
        return [[(150, 400), (350 + jitter, 400), (230, 100 + jitter)]]
    raise ValueError(label)


@pytest.fixture(scope="session")
def tiny_pen_file(tmp_path_factory) -> Path:
    """A small pen-digit file: 1s, 0s and 7s by six writers, ten of each."""
    rng = np.random.default_rng(0)
    digits = [(label, writer, pen_shape(label, int(rng.integers(-20, 20))))
              for writer in range(1, 7) for label in (0, 1, 7) for _ in range(10)]
    path = tmp_path_factory.mktemp("pen") / "pendigits.tra"
    path.write_text(pen_text(digits))
    return path


@pytest.fixture(scope="session")
def tiny_unipen_file(tmp_path_factory) -> Path:
    """A second small collection in the same format, as UNIPEN's: 1s, 0s and 7s by four writers, six of each."""
    rng = np.random.default_rng(1)
    digits = [(label, writer, pen_shape(label, int(rng.integers(-20, 20))))
              for writer in range(1, 5) for label in (0, 1, 7) for _ in range(6)]
    path = tmp_path_factory.mktemp("unipen") / "unipen.tra.gz"
    path.write_bytes(gzip.compress(pen_text(digits).encode()))
    return path


def shared_data(name: str, what: str) -> Path:
    """A data file beside the project; in CI its absence is a failure, not a skip."""
    path = ROOT.parent / "shared" / "data" / name
    if not path.is_file():
        unavailable(f"{what} not found at {path}")
    return path


@pytest.fixture(scope="session")
def shared_pendigits() -> Path:
    """UCI's pen-digit file beside the project."""
    return shared_data("pendigits-orig.tra", "Pen-digit file")


@pytest.fixture(scope="session")
def shared_unipen() -> Path:
    """UNIPEN's digits beside the project."""
    return shared_data("unipen-1a-digits.tra.gz", "UNIPEN file")


@pytest.fixture
def train_env(tmp_path, tiny_mnist, tiny_pen_file, tiny_unipen_file) -> dict[str, str]:
    """The environment of a training process on the tiny data sets, with no drawings collected."""
    path = tmp_path / "tiny.npz"
    np.savez(path, x_train=tiny_mnist.x_train, y_train=tiny_mnist.y_train,
             x_test=tiny_mnist.x_test, y_test=tiny_mnist.y_test)
    return {**os.environ, MNIST_ENV: str(path), "DIGITNET_PENDIGITS": str(tiny_pen_file),
            "DIGITNET_UNIPEN": str(tiny_unipen_file),
            DRAWINGS_ENV: str(tmp_path / "drawings")}


def corrupt_store(path: Path) -> None:
    """Replace a SQLite store (and its WAL files) by bytes that are not a database."""
    for suffix in ("-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    path.write_bytes(b"this is not a database" * 100)
