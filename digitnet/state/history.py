"""A model's history.json, read into one typed record: how it was trained, its curves, its scores."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

from digitnet.config import HISTORY_FILENAME, TrainConfig
from digitnet.errors import ModelFileError
from digitnet.files import replaced_whole

METRICS = ("accuracy", "val_accuracy", "loss", "val_loss")


def history_path(model_path: str | os.PathLike) -> Path:
    """The history.json that sits beside a model file."""
    return Path(model_path).with_name(HISTORY_FILENAME)


@dataclass(frozen=True)
class HeldOutScore:
    """How a model read the pen digits of writers it never trained on: all collections together (with
    `collections`), or one collection (with `per_writer`)."""

    accuracy: float
    per_digit: tuple[float, ...]
    writers: int
    misreads: int
    refused: int  # drawings the page would have refused to read, counted as misreads
    confident_misreads: float  # the share of misreads said with at least 90% confidence
    calibration_error: float
    per_writer: dict[str, float]  # one collection's: accuracy per writer, as the collection numbers them
    collections: dict[str, "HeldOutScore"]  # all together's: each collection alone

    @property
    def every_writer(self) -> dict[str, float]:
        """Accuracy per writer, keyed "collection writer" when there are collections."""
        if not self.collections:
            return self.per_writer
        return {f"{name} {w}": a for name, score in self.collections.items() for w, a in score.per_writer.items()}

    @property
    def worst_writer(self) -> tuple[str, float] | None:
        """The writer read worst, and how well; None when no writer is recorded."""
        every = self.every_writer
        return min(every.items(), key=lambda item: item[1]) if every else None

    def to_json(self) -> dict:
        record = {"accuracy": self.accuracy, "per_digit": list(self.per_digit), "writers": self.writers,
                  "misreads": self.misreads, "refused": self.refused, "confident_misreads": self.confident_misreads,
                  "calibration_error": self.calibration_error}
        if self.collections:
            record["collections"] = {name: score.to_json() for name, score in self.collections.items()}
        else:
            record["per_writer"] = self.per_writer
        return record

    @classmethod
    def from_json(cls, record: dict) -> "HeldOutScore":
        collections = {name: cls.from_json(value) for name, value in record.get("collections", {}).items()}
        per_writer = {str(w): float(a) for w, a in record.get("per_writer", {}).items()}
        return cls(
            accuracy=float(record["accuracy"]), per_digit=tuple(float(a) for a in record["per_digit"]),
            writers=int(record.get("writers", len(per_writer) or sum(c.writers for c in collections.values()))),
            misreads=int(record["misreads"]), refused=int(record.get("refused", 0)),
            confident_misreads=float(record["confident_misreads"]),
            calibration_error=float(record["calibration_error"]), per_writer=per_writer, collections=collections)


@dataclass(frozen=True)
class ModelRecord:
    """What a model's history.json says about it: the one reader and writer of that file."""

    config: TrainConfig
    curves: dict[str, list[float]]  # per epoch, for each of METRICS
    test_accuracy: float | None  # on MNIST's 10,000 test digits
    held_out_writers: HeldOutScore | None  # on the pen digits of writers it never trained on
    sources: tuple[dict, ...]  # each data source: name, file, fingerprint, and a pen collection's writer split
    trained_at: str | None  # ISO 8601, UTC
    training_seconds: float | None
    temperature: float | None  # folded into the last layer when it was calibrated
    weights: str | None  # the fingerprint of the weights it describes

    @property
    def epochs_completed(self) -> int:
        return len(self.curves["loss"])

    def to_json(self) -> dict:
        return {
            "config": self.config.to_json(), "history": self.curves, "test_accuracy": self.test_accuracy,
            "held_out_writers": self.held_out_writers.to_json() if self.held_out_writers else None,
            "temperature": self.temperature, "trained_at": self.trained_at,
            "training_seconds": self.training_seconds, "sources": list(self.sources), "weights": self.weights,
        }


def load_record(path: str | os.PathLike) -> ModelRecord:
    """Load and check a history.json; raise ModelFileError saying what is wrong."""
    path = Path(path)
    try:
        raw = json.loads(path.read_text())
    except FileNotFoundError as exc:
        raise ModelFileError(f"No training history at {path}") from exc
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ModelFileError(f"The training history {path} is unreadable: {exc}") from exc
    curves = raw.get("history") if isinstance(raw, dict) else None
    if not isinstance(curves, dict) or not all(isinstance(curves.get(m), list) for m in METRICS):
        raise ModelFileError(f"The training history {path} lacks per-epoch {', '.join(METRICS)}")
    try:
        return ModelRecord(
            config=TrainConfig.from_json(raw.get("config") or {}),
            curves={m: [float(v) for v in curves[m]] for m in METRICS},
            test_accuracy=_number_or_none(raw.get("test_accuracy")),
            held_out_writers=_held_out_or_none(raw.get("held_out_writers")),
            sources=tuple(s for s in raw.get("sources") or () if isinstance(s, dict)),
            trained_at=raw.get("trained_at"),
            training_seconds=_number_or_none(raw.get("training_seconds")),
            temperature=_number_or_none(raw.get("temperature")),
            weights=raw.get("weights"),
        )
    except (TypeError, ValueError, AttributeError) as exc:
        raise ModelFileError(f"The training history {path} is unreadable: {exc}") from exc


def save_record(record: ModelRecord, path: str | os.PathLike) -> None:
    """Write `record` as the history.json at `path`, replaced whole."""
    with replaced_whole(Path(path)) as tmp:
        tmp.write_text(json.dumps(record.to_json(), indent=2))


def _number_or_none(value: object) -> float | None:
    return float(value) if isinstance(value, (int, float)) else None


def _held_out_or_none(record: object) -> HeldOutScore | None:
    """The held-out writers' score; None when there is none or it cannot be read."""
    try:
        return HeldOutScore.from_json(record) if isinstance(record, dict) else None
    except (KeyError, TypeError, ValueError, AttributeError):
        return None


def held_out_sentence(people: HeldOutScore) -> str:
    """The held-out writers' score in words, for the page."""
    collections = "; ".join(f"{name}: {score.accuracy:.2%} of {score.writers}"
                            for name, score in people.collections.items())
    worst = people.worst_writer
    text = (f"Real people it never saw: {people.accuracy:.2%} of the pen digits of {people.writers} writers kept "
            f"out of its training, drawn as on this canvas")
    text += f" ({collections})." if collections else "."
    if worst is not None:
        text += f" The writer it reads worst: {worst[1]:.0%}."
    return text + (f" Of its {people.misreads} misreads, {people.confident_misreads:.0%} were said with 90% "
                   f"confidence or more (calibration error {people.calibration_error:.3f}).")
