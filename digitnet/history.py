"""Reading a model's history.json: its per-epoch curves and the facts for its model card."""

from __future__ import annotations

import json
import os
from pathlib import Path

from digitnet.config import HISTORY_FILENAME
from digitnet.errors import ModelFileError

METRICS = ("accuracy", "val_accuracy", "loss", "val_loss")


def history_path(model_path: str | os.PathLike) -> Path:
    """The history.json that sits beside a model file."""
    return Path(model_path).with_name(HISTORY_FILENAME)


def load_history(path: str | os.PathLike) -> dict:
    """Load and check a history.json; raise ModelFileError saying what is wrong."""
    path = Path(path)
    try:
        record = json.loads(path.read_text())
    except FileNotFoundError as exc:
        raise ModelFileError(f"No training history at {path}") from exc
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ModelFileError(f"The training history {path} is unreadable: {exc}") from exc
    curves = record.get("history") if isinstance(record, dict) else None
    if not isinstance(curves, dict) or not all(isinstance(curves.get(m), list) for m in METRICS):
        raise ModelFileError(f"The training history {path} lacks per-epoch {', '.join(METRICS)}")
    return record
