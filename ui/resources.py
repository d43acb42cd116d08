"""Everything the page keeps between runs and shares between sessions: every cache is here."""

import logging
from pathlib import Path

import numpy as np
import streamlit as st

import digitnet
from digitnet.data import collected
from digitnet.reading import explain, web
from digitnet.reading.preprocess import upright
from digitnet.state.auth import WrongGuesses
from digitnet.reading.classifier import weights_path
from digitnet.reading.reader import CanvasReader
from digitnet.state.room import Rooms
from digitnet.state.store import LoadedModel, ModelStore
from digitnet.training.evaluate import Evaluation, evaluate
from digitnet.training.ahead import start_drawing_ahead
from digitnet.training.jobs import TrainingJob
from digitnet.training.shared import retrain_board

log = logging.getLogger(__name__)

LOOK_ALIKE_POOL = 10_000  # training digits searched for look-alikes
# Served by Streamlit at app/static/ (.streamlit/config.toml: server.enableStaticServing): the models'
# browser files and the live answer's script, made by the page.
STATIC = Path(__file__).resolve().parent.parent / "static"


@st.cache_resource
def get_store() -> ModelStore:
    return ModelStore()


@st.cache_resource
def collected_drawings() -> collected.CollectedDrawings | collected.DrawingTable:
    return collected.collected_drawings()


@st.cache_resource
def drawing_reader() -> CanvasReader:
    return CanvasReader()


@st.cache_resource
def get_rooms() -> Rooms:
    return Rooms()


@st.cache_resource
def get_wrong_guesses() -> WrongGuesses:
    return WrongGuesses()


@st.cache_resource
def get_job() -> TrainingJob:
    return TrainingJob(get_store(), board=retrain_board())


@st.cache_resource
def draw_ahead_in_the_background() -> None:
    """Once per server: draw the retrain's pen digits in a low-priority process, so that the first
    retrain from the page skips that."""
    start_drawing_ahead()


@st.cache_resource(max_entries=4, show_spinner="Loading the network...")
def load_model(path: str, modified: float) -> LoadedModel:
    """Load once per model version: `modified` changes when a retrain replaces the model or, a moment
    later, its history."""
    return get_store().load(Path(path))


def current_model() -> LoadedModel:
    """The model every session uses now; stops the page with a message if there is none."""
    try:
        path, changed = get_store().active_version()
        return load_model(str(path), changed)
    except (OSError, digitnet.ModelFileError) as exc:
        st.error(f"The network cannot be loaded: {exc}. Reinstall digitnet or retrain with "
                 "`python -m digitnet train`.")
        st.stop()


def version(model: LoadedModel) -> tuple[str, float]:
    """What identifies a model file's version, for the caches of what is computed from it."""
    return str(model.path), weights_path(model.path).stat().st_mtime


@st.cache_resource(show_spinner="Loading MNIST...")
def page_mnist() -> digitnet.Mnist | None:
    """The MNIST digits the page shows: all 10,000 test digits and the first 10,000 training digits
    (for look-alikes); None when the data cannot be loaded. Kept once for every session."""
    try:
        data = digitnet.load_mnist()
    except digitnet.DataError:
        return None
    pool = digitnet.Mnist(data.x_train[:LOOK_ALIKE_POOL], data.y_train[:LOOK_ALIKE_POOL].copy(),
                          data.x_test, data.y_test, data.source)
    return pool.upright()  # as the network reads them


@st.cache_resource(max_entries=4, show_spinner=False)
def browser_model(fingerprint: str, _classifier: digitnet.Classifier) -> str | None:
    """The address of the browser file of the model whose weights have `fingerprint`, made once per
    model (its rounding steered by the page's MNIST training digits, when it has them); None when it
    cannot be written, and the page answers after each stroke."""
    data = page_mnist()
    calibration = None if data is None else upright(data.x_train / np.float32(255))
    try:
        return "app/static/models/" + web.published(web.browser_weights(_classifier, calibration), STATIC / "models")
    except OSError as exc:
        log.warning("The model's browser file cannot be written (%s): the page answers after each stroke", exc)
        return None


@st.cache_resource(show_spinner=False)
def live_script(code: str) -> str | None:
    """The address of a script for browsers (`code`), written once into the page's static folder; None
    when it cannot be written."""
    try:
        return "app/static/scripts/" + web.published(code.encode(), STATIC / "scripts", ".js")
    except OSError as exc:
        log.warning("The live answer's script cannot be written (%s): the page answers after each stroke", exc)
        return None


@st.cache_resource(max_entries=2, show_spinner="Scoring the network on 10,000 test digits...")
def test_scores(path: str, modified: float) -> tuple[digitnet.Mnist, Evaluation] | None:
    """The MNIST test set and how this model does on it; None when the data cannot be loaded."""
    data = page_mnist()
    if data is None:
        return None
    return data, evaluate(load_model(path, modified).classifier, data)


@st.cache_resource(max_entries=2, show_spinner="Finding the training digits...")
def look_alikes(path: str, modified: float) -> explain.LookAlikes | None:
    """Features of the first 10,000 MNIST training digits under this model; None without the data."""
    data = page_mnist()
    if data is None:
        return None
    return explain.LookAlikes.build(load_model(path, modified).classifier, data.x_train, data.y_train)


@st.cache_resource(max_entries=2, show_spinner="Reading the training digits...")
def pool_activations(path: str, modified: float, layer: int) -> np.ndarray | None:
    """A layer's activations for each of the page's training digits under this model; None without them."""
    data = page_mnist()
    if data is None:
        return None
    return load_model(path, modified).classifier.layer_outputs(data.x_train, layer)


@st.cache_resource(max_entries=64)
def epoch_classifier(path: str, modified: float) -> digitnet.Classifier | None:
    """The network after one epoch of the running retrain; None if its file is gone or half there."""
    try:
        return digitnet.load_classifier(path)
    except digitnet.ModelFileError:
        return None
