"""The pen digits whose label does not say what is drawn: the rules that find them, the list, and
training and measuring without them."""

import numpy as np
import pytest
from conftest import pen_shape, pen_text

from digitnet import DataError
from digitnet.config import MISLABELLED_FILE
from digitnet.data.labels import (Mislabelled, digits_side_by_side, read_mislabelled, rule_findings,
                                  without_mislabelled, write_mislabelled)
from digitnet.data.pendigits import UNIPEN_NAME, load_pen_collections, parse_pendigits


def ring(left: int) -> list[tuple[int, int]]:
    """A 0 as one stroke, 150 wide and 300 tall, its left edge at `left`."""
    return [(left + 75 + int(75 * np.cos(a)), 250 + int(150 * np.sin(a))) for a in np.linspace(0, 2 * np.pi, 24)]


FIVE_WITH_A_SEPARATE_BAR = [[(100, 400), (90, 260), (200, 280), (210, 150), (100, 100)], [(215, 400), (330, 400)]]


def collection() -> list:
    """(label, writer, strokes): a writer's ordinary digits (the 1s straight strokes), a "00" and a
    point under the label 0, a five whose top bar is a stroke of its own to the right, and a 4 that is
    one straight stroke."""
    digits = [(label, 1, pen_shape(label, jitter)) for label, jitter in ((1, 0), (0, 5), (7, 3), (1, 4), (0, 2))]
    return digits + [(0, 1, [ring(0), ring(220)]), (0, 1, [[(300, 300), (300, 300)]]), (5, 1, FIVE_WITH_A_SEPARATE_BAR),
                     (4, 1, [[(250, 400), (256, 250), (249, 100)]])]


def test_the_rules_find_several_digits_dots_and_a_lone_stroke_but_not_a_five_with_its_bar_apart():
    pen = parse_pendigits(pen_text(collection()))
    found = {row.number: row.reason for row in rule_findings(pen)}
    assert found == {5: "2 digits side by side under one label", 6: "dots, not a digit",
                     8: "one straight stroke: the rest of its digit is missing"}
    assert digits_side_by_side((np.array(ring(0)), np.array(ring(220)), np.array(ring(440)))) == 3
    assert digits_side_by_side(tuple(np.array(s, dtype=np.float32) for s in FIVE_WITH_A_SEPARATE_BAR)) == 1


def test_the_list_is_written_whole_and_read_back(tmp_path):
    rows = [Mislabelled(UNIPEN_NAME, "abc", 12, 201, 0, "2 digits side by side under one label"),
            Mislabelled(UNIPEN_NAME, "abc", 3, 7, 1, "read as a 7 (99%) by a network that never saw its writer")]
    path = tmp_path / "mislabelled.csv"
    write_mislabelled(rows, path)
    assert read_mislabelled(path) == sorted(rows, key=lambda row: row.number)
    assert [p.name for p in tmp_path.iterdir()] == ["mislabelled.csv"]  # no temporary file left


@pytest.mark.parametrize("text", ["collection,number\nUNIPEN,x\n", "not,a,list\n1,2,3\n"])
def test_an_unreadable_list_says_so(tmp_path, text):
    path = tmp_path / "mislabelled.csv"
    path.write_text(text)
    with pytest.raises(DataError, match="not a readable list of mislabelled digits"):
        read_mislabelled(path)
    with pytest.raises(DataError, match="not a readable list"):
        read_mislabelled(tmp_path / "missing.csv")


def test_only_the_listed_digits_of_the_listed_file_are_left_out(caplog):
    pen = parse_pendigits(pen_text(collection()), name=UNIPEN_NAME)
    listed = [Mislabelled(UNIPEN_NAME, pen.fingerprint, 5, 1, 0, "2 digits side by side under one label")]
    (kept,) = without_mislabelled([pen], listed)
    assert kept.numbers.tolist() == [0, 1, 2, 3, 4, 6, 7, 8]
    assert kept.labels.tolist() == pen.labels[[0, 1, 2, 3, 4, 6, 7, 8]].tolist()
    other_file = [Mislabelled(UNIPEN_NAME, "another", 5, 1, 0, "made for another file")]
    (untouched,) = without_mislabelled([pen], other_file)
    assert len(untouched) == len(pen)
    assert "made for another UNIPEN file" in caplog.text


def test_the_shipped_list_names_real_digits_and_the_collections_load_without_them(shared_pendigits, shared_unipen,
                                                                                  monkeypatch):
    monkeypatch.setenv("DIGITNET_PENDIGITS", str(shared_pendigits))
    monkeypatch.setenv("DIGITNET_UNIPEN", str(shared_unipen))
    listed = read_mislabelled(MISLABELLED_FILE)
    assert listed, "data/mislabelled.csv lists no digit"
    whole = {pen.name: pen for pen in load_pen_collections(whole=True)}
    clean = {pen.name: pen for pen in load_pen_collections()}
    for name, pen in whole.items():
        rows = [row for row in listed if row.collection == name]
        for row in rows:
            assert row.fingerprint == pen.fingerprint
            at = int(np.flatnonzero(pen.numbers == row.number)[0])
            assert (int(pen.writers[at]), int(pen.labels[at])) == (row.writer, row.label)
        assert len(clean[name]) == len(pen) - len(rows)
        assert not set(clean[name].numbers.tolist()) & {row.number for row in rows}


def test_confident_learning_finds_labels_that_answers_from_unseen_writers_contradict():
    from digitnet.training.audit import FoldAnswers, confident_findings

    rng = np.random.default_rng(0)
    labels = np.repeat(np.arange(10), 30)
    probabilities = np.full((len(labels), 10), 0.01)
    probabilities[np.arange(len(labels)), labels] = 0.91
    probabilities += rng.uniform(0, 0.02, probabilities.shape)
    wrong = [7, 95, 203]  # labelled 0, 3 and 6, read as surely as the rest as a 5
    for i in wrong:
        probabilities[i] = 0.01
        probabilities[i, 5] = 0.91
    probabilities /= probabilities.sum(axis=1, keepdims=True)
    pen = parse_pendigits(pen_text([(1, 1, pen_shape(1, 0))]), name=UNIPEN_NAME)
    answers = FoldAnswers(np.arange(1000, 1000 + len(labels)), labels, np.ones(len(labels), int), probabilities)
    found = confident_findings(pen, answers)
    assert sorted(row.number for row in found) == [1000 + i for i in wrong]
    assert all(row.reason.startswith("read as a 5 (9") for row in found)
