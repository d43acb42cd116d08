"""Where the model in use lives: the shipped one, or the last successful retrain beside it."""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from pathlib import Path

from digitnet.config import MODEL_FILENAME, MODELS_DIR, SHIPPED_MODEL, TrainConfig
from digitnet.errors import ModelFileError
from digitnet.reading.classifier import Classifier, load_classifier, weights_path
from digitnet.state.database import database_url
from digitnet.state.history import ModelRecord, history_path, load_record
from digitnet.state.versions import ModelVersions, model_files

log = logging.getLogger(__name__)

RETRAINED_ENV = "DIGITNET_RETRAINED_DIR"
DEFAULT_RETRAINED_DIR = MODELS_DIR / "retrained"


@dataclass(frozen=True)
class LoadedModel:
    """A classifier ready to use, what its history.json says (None if unreadable), and what went wrong on the way."""

    classifier: Classifier
    record: ModelRecord | None
    path: Path
    warnings: tuple[str, ...]


@dataclass(frozen=True)
class ModelStore:
    """The shipped model is never written to; retrains go to their own folder and win while present."""

    shipped: Path = SHIPPED_MODEL
    retrained_dir: Path = field(default_factory=lambda: Path(os.environ.get(RETRAINED_ENV, DEFAULT_RETRAINED_DIR)))
    # With $DIGITNET_DATABASE_URL, the versions every machine shares: the retrained folder follows them.
    versions: ModelVersions | None = field(default_factory=lambda: _shared_versions(), compare=False)

    @property
    def retrained(self) -> Path:
        return self.retrained_dir / MODEL_FILENAME

    def active_path(self) -> Path:
        """The model file sessions should use now. A retrain's weights file is written last, so once
        it is there the whole retrained model is."""
        return self.retrained if self.is_retrained() else self.shipped

    def active_version(self) -> tuple[Path, float]:
        """The model file sessions should use now, and when it last changed: its weights, or a moment
        after them its history. A cache of the loaded model keys on both. Raises OSError when not even
        the shipped model's weights are there. Shared versions are looked at first (every few seconds)."""
        if self.versions is not None:
            self.versions.follow(self.retrained_dir)
        path = self.active_path()
        try:
            return path, _changed(path)
        except FileNotFoundError:  # the retrained model was removed since active_path looked
            return self.shipped, _changed(self.shipped)

    def is_retrained(self) -> bool:
        return weights_path(self.retrained).is_file()

    def settings_in_use(self) -> TrainConfig:
        """How the model in use was trained, which a retrain starts from; the defaults when its history
        cannot be read."""
        try:
            return load_record(history_path(self.active_path())).config
        except ModelFileError:
            return TrainConfig()

    def restore_shipped(self) -> None:
        """Go back to the shipped model by removing the retrained one, its weights first; with shared
        versions, on every machine."""
        if self.versions is not None:
            self.versions.publish_shipped(self.retrained_dir)  # SharedStateError: nothing changed
        for path in reversed(model_files(self.retrained_dir)):
            path.unlink(missing_ok=True)
        log.info("Restored the shipped model")

    def load(self, path: Path | None = None) -> LoadedModel:
        """Load `path` (default: the active model), falling back to the shipped model if it is broken."""
        path = path or self.active_path()
        warnings = []
        try:
            classifier = load_classifier(path)
        except ModelFileError as exc:
            if path == self.shipped:
                raise
            warnings.append(f"The retrained model could not be loaded ({exc}); using the shipped model.")
            path = self.shipped
            classifier = load_classifier(path)
        try:
            record = load_record(history_path(path))
        except ModelFileError as exc:
            warnings.append(f"No training curves to show: {exc}")
            record = None
        if record and record.weights not in (None, classifier.fingerprint):
            # The model is saved before its history: a save stopped between the two leaves the new
            # model beside the last one's history.
            warnings.append("No training curves to show: the training history beside this model describes "
                            "another one (a save that was interrupted, or is finishing).")
            record = None
        return LoadedModel(classifier, record, path, tuple(warnings))


def _shared_versions() -> ModelVersions | None:
    url = database_url()
    return ModelVersions(url) if url else None


def _changed(model_path: Path) -> float:
    """The time a model's weights, or its history beside them, last changed."""
    try:
        history = history_path(model_path).stat().st_mtime
    except OSError:
        history = 0.0
    return max(weights_path(model_path).stat().st_mtime, history)
