"""A model's history.json, read into one typed record: how it was trained, its curves, its scores."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

from digitnet.config import HISTORY_FILENAME, TrainConfig
from digitnet.errors import ModelFileError

METRICS = ("accuracy", "val_accuracy", "loss", "val_loss")


def history_path(model_path: str | os.PathLike) -> Path:
    """The history.json that sits beside a model file."""
    return Path(model_path).with_name(HISTORY_FILENAME)


@dataclass(frozen=True)
class PeopleScore:
    """How a model read the pen digits of writers it never trained on, as its history.json records it."""

    accuracy: float
    per_digit: tuple[float, ...]
    writers: int
    misreads: int
    confident_misreads: float  # the share of misreads said with at least 90% confidence
    calibration_error: float
    per_writer: dict[str, float]  # accuracy per writer, keyed "collection writer"
    collections: dict[str, "PeopleScore"]  # the same, for each collection alone; empty for a collection

    @property
    def worst_writer(self) -> tuple[str, float] | None:
        """The writer read worst, and how well; None when no writer is recorded."""
        return min(self.per_writer.items(), key=lambda item: item[1]) if self.per_writer else None


@dataclass(frozen=True)
class ModelRecord:
    """What a model's history.json says about it."""

    config: TrainConfig
    curves: dict[str, list[float]]  # per epoch, for each of METRICS
    test_accuracy: float | None  # on MNIST's 10,000 test digits
    people: PeopleScore | None  # on the pen digits of writers it never trained on
    sources: tuple[dict, ...]  # each data source: name, file, fingerprint, and a pen collection's writer split
    trained_at: str | None  # ISO 8601, UTC
    training_seconds: float | None
    temperature: float | None  # folded into the last layer when it was calibrated
    weights: str | None  # the fingerprint of the weights it describes

    @property
    def epochs_completed(self) -> int:
        return len(self.curves["loss"])


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
            people=_people_or_none(raw.get("held_out_writers")),
            sources=tuple(s for s in raw.get("sources") or () if isinstance(s, dict)),
            trained_at=raw.get("trained_at"),
            training_seconds=_number_or_none(raw.get("training_seconds")),
            temperature=_number_or_none(raw.get("temperature")),
            weights=raw.get("weights"),
        )
    except (TypeError, ValueError, AttributeError) as exc:
        raise ModelFileError(f"The training history {path} is unreadable: {exc}") from exc


def _number_or_none(value: object) -> float | None:
    return float(value) if isinstance(value, (int, float)) else None


def _people_or_none(people: object) -> PeopleScore | None:
    """The held-out writers' score (one collection before UNIPEN, several since); None when there is
    none or it cannot be read."""
    try:
        return _people_score(people, "") if isinstance(people, dict) else None
    except (KeyError, TypeError, ValueError, AttributeError):
        return None


def _people_score(people: dict, name: str) -> PeopleScore:
    collections = {key: _people_score(value, key) for key, value in people.get("collections", {}).items()}
    if collections:
        per_writer = {f"{key} {w}": a for key, score in collections.items() for w, a in score.per_writer.items()}
    else:
        per_writer = {(f"{name} {w}" if name else str(w)): float(a) for w, a in people["per_writer"].items()}
    return PeopleScore(
        accuracy=float(people["accuracy"]), per_digit=tuple(float(a) for a in people["per_digit"]),
        writers=int(people.get("writers", len(per_writer))), misreads=int(people["misreads"]),
        confident_misreads=float(people["confident_misreads"]),
        calibration_error=float(people["calibration_error"]), per_writer=per_writer, collections=collections,
    )


def people_sentence(people: PeopleScore) -> str:
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
