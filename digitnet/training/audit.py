"""Auditing the pen digits' labels: each digit read by a network that never saw its writer (the writers
split into folds, one network trained without each fold), confident learning on those answers
(Northcutt, Jiang and Chuang 2021, through the `cleanlab` package), and the rules on strokes of
digitnet.data.labels. `python -m digitnet audit-labels` runs it and writes the candidates; a person
looks at them and copies those that are wrong into data/mislabelled.csv.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from digitnet.config import TrainConfig
from digitnet.data.labels import Mislabelled, rule_findings
from digitnet.data.mnist import Mnist
from digitnet.data.pendigits import PenDigits
from digitnet.errors import TrainingError
from digitnet.reading.classifier import Classifier
from digitnet.training.plots import save_digits
from digitnet.training.recipe import held_out_drawings
from digitnet.training.train import train

log = logging.getLogger(__name__)

FOLDS = 2  # each network learns from the other half of the writers
FOLD_SEED = 0
# The folds' networks only need to read well, not to be shipped: one drawing of each training
# writer's digits, fewer epochs, and (almost) every writer of the other folds trained on.
AUDIT_SETTINGS = {"epochs": 6, "pen_copies": 1, "test_writer_share": 0.01, "validation_writer_share": 0.05}


@dataclass(frozen=True)
class FoldAnswers:
    """A collection's digits as the page would draw them, each read by a network that never saw its writer."""

    numbers: np.ndarray  # each digit's place in its file (those the page would refuse are not here)
    labels: np.ndarray
    writers: np.ndarray
    probabilities: np.ndarray  # (n, 10)


def writer_folds(pen: PenDigits, folds: int = FOLDS, seed: int = FOLD_SEED) -> list[tuple[int, ...]]:
    """The collection's writers dealt at random into `folds` groups of (nearly) equal size."""
    order = np.random.default_rng(seed).permutation(np.unique(pen.writers))
    return [tuple(sorted(int(w) for w in order[fold::folds])) for fold in range(folds)]


def fold_answers(config: TrainConfig, mnist: Mnist, pens: Sequence[PenDigits], folds: int = FOLDS) -> dict[str, FoldAnswers]:
    """Every digit of `pens` read by the network trained (on MNIST and the other folds' writers) without
    its writer, by collection name."""
    config = config.replace(**AUDIT_SETTINGS, teacher=False, include_drawings=False)
    dealt = {pen.name: writer_folds(pen, folds) for pen in pens}
    parts: dict[str, list] = {pen.name: [] for pen in pens}
    for fold in range(folds):
        log.info("Audit: training the network of fold %d of %d", fold + 1, folds)
        others = [pen.select(set(pen.writers.tolist()) - set(dealt[pen.name][fold])) for pen in pens]
        classifier = Classifier.from_keras(train(config, mnist, others).model)
        for pen in pens:
            drawn = held_out_drawings(pen, dealt[pen.name][fold])
            parts[pen.name].append((drawn, classifier.read_many(drawn.x)))
    return {name: FoldAnswers(np.concatenate([d.numbers for d, _ in found]), np.concatenate([d.y for d, _ in found]),
                              np.concatenate([d.writers for d, _ in found]), np.concatenate([p for _, p in found]))
            for name, found in parts.items()}


def confident_findings(pen: PenDigits, answers: FoldAnswers) -> list[Mislabelled]:
    """The digits whose label confident learning finds wrong, given answers from networks that never
    saw their writers: most likely wrong first."""
    found = _find_label_issues()(answers.labels, answers.probabilities, return_indices_ranked_by="self_confidence")
    return [Mislabelled(pen.name, pen.fingerprint, int(answers.numbers[i]), int(answers.writers[i]),
                        int(answers.labels[i]), _read_as(answers.probabilities[i])) for i in found]


def _find_label_issues():
    """cleanlab's confident learning; TrainingError saying how to install it when it is missing."""
    try:
        from cleanlab.filter import find_label_issues
    except ImportError as exc:
        raise TrainingError("Auditing labels needs the cleanlab package: pip install -r requirements-dev.txt") from exc
    return find_label_issues


def _read_as(probabilities: np.ndarray) -> str:
    read = int(probabilities.argmax())
    return f"read as a {read} ({probabilities[read]:.0%}) by a network that never saw its writer"


def audit_labels(config: TrainConfig, mnist: Mnist, pens: Sequence[PenDigits], folds: int = FOLDS) -> list[Mislabelled]:
    """What the rules on strokes find, then what confident learning finds besides, in every collection."""
    _find_label_issues()  # before the networks train, not after
    answers = fold_answers(config, mnist, pens, folds)
    found: list[Mislabelled] = []
    for pen in pens:
        by_rule = rule_findings(pen)
        listed = {row.number for row in by_rule}
        confident = [row for row in confident_findings(pen, answers[pen.name]) if row.number not in listed]
        log.info("%s: %d of %d digits found by the rules, %d more by confident learning", pen.name, len(by_rule),
                 len(pen), len(confident))
        found += by_rule + confident
    return found


def save_audit_picture(pens: Sequence[PenDigits], found: Sequence[Mislabelled], path: str | os.PathLike) -> None:
    """A page of the digits found, as the page would draw them, each captioned with its writer, label and
    why (those the page would refuse, such as points, have no picture)."""
    images, captions = [], []
    for pen in pens:
        why = {row.number: row for row in found if row.fingerprint == pen.fingerprint}
        if not why:
            continue
        drawn = held_out_drawings(pen, tuple(sorted({row.writer for row in why.values()})))
        for image, number in zip(drawn.x, drawn.numbers):
            if (row := why.get(int(number))) is None:
                continue
            images.append(image)
            captions.append(f"{pen.name.split()[0]} w{row.writer} '{row.label}'\n{_short(row.reason)}")
    save_digits(images, captions, path)


def _short(reason: str) -> str:
    """The reason, cut to fit under a picture: "plainly a 7", "one straight stroke", "read as a 7 (99%)"."""
    reason = reason.removeprefix("looked at: ")
    for rest in (" (read as", " by a network", ": ", " under one label"):
        reason = reason.split(rest)[0]
    return reason
