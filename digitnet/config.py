"""Training settings and the paths where models live."""

from __future__ import annotations

import ctypes
import dataclasses
import logging
import os
import signal
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent
MODELS_DIR = PACKAGE_DIR.parent / "models"
MODEL_FILENAME = "digitnet.keras"
HISTORY_FILENAME = "history.json"
CURVES_FILENAME = "training_curves.png"
SHIPPED_MODEL = MODELS_DIR / MODEL_FILENAME
# UCI's pen digits by 30 writers (CC BY 4.0, credited in the README), shipped so retraining works offline.
PENDIGITS_FILE = PACKAGE_DIR.parent / "data" / "pendigits-orig.tra.gz"
# UNIPEN's isolated digits by 202 more writers (CC BY 4.0, credited in the README), shipped for the same reason.
UNIPEN_FILE = PACKAGE_DIR.parent / "data" / "unipen-1a-digits.tra.gz"
# The pen digits whose label does not say what is drawn (`python -m digitnet audit-labels` lists them):
# a model neither learns from them nor is measured on them.
MISLABELLED_FILE = PACKAGE_DIR.parent / "data" / "mislabelled.csv"


CACHE_ENV = "DIGITNET_CACHE_DIR"
# Where visitors' drawings live: the collected ones and the rooms' store.
DRAWINGS_ENV = "DIGITNET_DRAWINGS_DIR"
# Held by `python -m digitnet draw-ahead` in the cache folder while it draws: one at a time.
DRAW_AHEAD_LOCK = "draw-ahead.lock"
# "0" stops the page's server from drawing the pen digits ahead when it starts (tests do).
DRAW_AHEAD_ENV = "DIGITNET_DRAW_AHEAD"
# Settings renamed, new name -> old name: the old one still works for one release, with a warning.
RENAMED_ENV = {DRAWINGS_ENV: "DIGITNET_DATA_DIR", DRAW_AHEAD_ENV: "DIGITNET_PREPARE"}


def child_environment(base: dict[str, str] | None = None) -> dict[str, str]:
    """The environment for a `python -m digitnet...` child process: `base` (default: this process's),
    with this digitnet first on PYTHONPATH, so the child imports it whatever its working directory."""
    env = dict(os.environ if base is None else base)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(PACKAGE_DIR.parent), env.get("PYTHONPATH", "")) if p)
    return env


def die_with_parent() -> None:
    """In a child, before it runs (Popen's preexec_fn): receive SIGTERM when the thread that started it
    ends, however it ends, so that nothing is left running after a killed `make serve` or retrain.
    Only for children started from a thread that lives as long as they should: a Streamlit script
    thread ends with its run."""
    PR_SET_PDEATHSIG = 1
    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


def cache_dir(env: Mapping[str, str] | None = None) -> Path:
    """Where drawn pen digits are kept between retrains: $DIGITNET_CACHE_DIR, else the user's cache
    folder; in `env` (default: this process's environment)."""
    env = os.environ if env is None else env
    if env.get(CACHE_ENV):
        return Path(env[CACHE_ENV])
    return Path(env.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "digitnet" / "drawn"


def setting(name: str, env: Mapping[str, str] | None = None) -> str | None:
    """The environment setting `name` in `env` (default: this process's), or, when only its old name
    (RENAMED_ENV) is set, that one's value, with a warning to rename it."""
    env = os.environ if env is None else env
    if env.get(name):
        return env[name]
    old = RENAMED_ENV.get(name)
    if old and env.get(old):
        logging.getLogger(__name__).warning("%s is now called %s: rename it, the old name goes in the next release",
                                            old, name)
        return env[old]
    return None


def drawings_dir(env: Mapping[str, str] | None = None) -> Path:
    """Where visitors' drawings live, the collected ones and the rooms': $DIGITNET_DRAWINGS_DIR, else
    the user's data folder (XDG), never inside the project's models/."""
    env = os.environ if env is None else env
    found = setting(DRAWINGS_ENV, env)
    if found:
        return Path(found)
    return Path(env.get("XDG_DATA_HOME") or Path.home() / ".local" / "share") / "digitnet" / "drawings"


def _setting(default, help: str):
    return field(default=default, metadata={"help": help})


@dataclass(frozen=True)
class TrainConfig:
    """Everything that decides how a model is trained; stored in its history.json."""

    epochs: int = _setting(30, "passes over the training images")
    batch_size: int = _setting(256, "images per gradient step")
    hidden_units: int = _setting(128, "units in each of the two hidden Dense layers")
    learning_rate: float = _setting(4e-3, "Adam's starting learning rate")
    final_lr_fraction: float = _setting(
        0.02, "the learning rate decays along a cosine to this fraction of its start by the last epoch"
    )
    # With this much varied data the two layers of 128 units have little to overfit: dropout bought
    # nothing on real people's digits (docs/handwriting.md).
    dropout: float = _setting(0.0, "fraction of hidden units dropped at random while training")
    validation_split: float = _setting(0.05, "fraction of the MNIST training images held out for validation")
    # Drawings vary more than MNIST does: random shifts, rotations and zooms teach the network that.
    # Small ones: to_mnist already centres, sizes and straightens every input, and a dense network
    # that must also learn large moves has fewer units left for the digits' shapes.
    augment: bool = _setting(True, "randomly shift, rotate and zoom the training digits")
    max_shift_px: float = _setting(1.0, "largest random shift, in pixels")
    max_rotation_deg: float = _setting(5.0, "largest random rotation, in degrees")
    max_zoom: float = _setting(0.05, "largest random zoom, as a fraction")
    max_stroke_change: float = _setting(
        0.6, "largest random thickening or thinning of the strokes, as a fraction of a pixel per side"
    )
    # MNIST's writers rarely make a 9 with a curled tail, a 7 with a bar or a 1 with a flag and a foot:
    # pen digits by 232 other people (UCI's and UNIPEN's), drawn as on the canvas, teach the network those styles.
    pen_digits: bool = _setting(True, "also learn from real people's pen digits, drawn as on the canvas")
    # Each copy is drawn by another random hand (brush, slant, stretch, tremor): more copies, more of
    # the ways a person's digit reaches the page.
    pen_copies: int = _setting(6, "how many differently drawn copies of each training writer's pen digit")
    test_writer_share: float = _setting(
        0.2, "share of each pen collection's writers held out of training, to measure the model on"
    )
    validation_writer_share: float = _setting(
        0.07, "share of each pen collection's writers held out of training, to validate and calibrate on"
    )
    # A network trained to be right is often sure when it is wrong; dividing its last layer by a
    # temperature fitted on the validation images makes its confidence honest without changing answers.
    calibrate: bool = _setting(True, "fit a temperature of 1 or more on the validation images and fold it "
                                     "into the last layer (it only softens)")
    # A stronger network's answers carry how alike the digits look, which labels alone do not: with the
    # shipped teacher (models/teacher.keras) the network reads MNIST's digits a little better and is
    # less often very sure of a misread; real people, as well as without it (docs/handwriting.md).
    teacher: bool = _setting(True, "learn from the teacher's softened answers as well as the labels "
                                   "(models/teacher.keras; python -m digitnet train-teacher makes another)")
    teacher_label_share: float = _setting(0.3, "share of the label in what the student learns; the rest is the teacher's")
    teacher_temperature: float = _setting(3.0, "how much the teacher's answers are softened")
    include_drawings: bool = _setting(False, "also train on the drawings people confirmed or corrected")
    # A few dozen drawings among 60,000 images would change nothing: each is shown this many times.
    drawing_repeats: int = _setting(50, "how many times each collected drawing is repeated per epoch")
    train_subset: int = _setting(0, "train on only this many training images (0 = all); for quick runs")
    seed: int = _setting(1, "random seed (the shipped model was trained with this one)")

    def replace(self, **changes: object) -> "TrainConfig":
        """Return a copy with some settings changed."""
        return dataclasses.replace(self, **changes)

    def to_json(self) -> dict[str, object]:
        """The settings as a JSON object: how history.json and the retrain's status file store them."""
        return dataclasses.asdict(self)

    @classmethod
    def from_json(cls, settings: Mapping[str, object]) -> "TrainConfig":
        """The settings `to_json` gave. A setting the file does not name (it was written before that
        setting existed) takes its default; one this version no longer has is ignored."""
        known = {setting.name for setting in dataclasses.fields(cls)}
        return cls(**{name: value for name, value in settings.items() if name in known})

    def validate(self) -> None:
        """Raise ValueError naming the first setting that makes no sense."""
        if self.epochs < 1:
            raise ValueError(f"epochs must be at least 1, got {self.epochs}")
        if self.batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, got {self.batch_size}")
        if self.hidden_units < 1:
            raise ValueError(f"hidden_units must be at least 1, got {self.hidden_units}")
        if not 0 < self.learning_rate < 1:
            raise ValueError(f"learning_rate must be in (0, 1), got {self.learning_rate}")
        if not 0 <= self.dropout < 1:
            raise ValueError(f"dropout must be in [0, 1), got {self.dropout}")
        if not 0 < self.validation_split < 1:
            raise ValueError(f"validation_split must be in (0, 1), got {self.validation_split}")
        if self.drawing_repeats < 1:
            raise ValueError(f"drawing_repeats must be at least 1, got {self.drawing_repeats}")
        if self.pen_copies < 1:
            raise ValueError(f"pen_copies must be at least 1, got {self.pen_copies}")
        if not (0 < self.test_writer_share < 1 and 0 < self.validation_writer_share < 1
                and self.test_writer_share + self.validation_writer_share < 1):
            raise ValueError("test_writer_share and validation_writer_share must be in (0, 1) and leave writers to train on")
        if self.train_subset < 0:
            raise ValueError(f"train_subset must be 0 (all) or positive, got {self.train_subset}")
        if not 0 <= self.teacher_label_share <= 1:
            raise ValueError(f"teacher_label_share must be in [0, 1], got {self.teacher_label_share}")
        if self.teacher_temperature <= 0:
            raise ValueError(f"teacher_temperature must be positive, got {self.teacher_temperature}")
