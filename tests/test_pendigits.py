"""Reading UCI's pen-digit files, splitting them by writer, and drawing them as the page's canvas does."""

import gzip

import numpy as np
import pytest
from conftest import pen_text

from digitnet import DataError, load_pendigits
from digitnet.config import PENDIGITS_FILE
from digitnet.data.pendigits import PENDIGITS_ENV, parse_pendigits, split_writers
from digitnet.data.render import BRUSH_PX, CANVAS_SIDE, PAGE_HAND, Hand, render_canvas
from digitnet.reading.preprocess import to_mnist

L_SHAPE = [[(100, 400), (100, 100), (300, 100)]]  # tablet y up: a stem, then a foot along the bottom


def test_parses_labels_writers_and_strokes():
    digits = parse_pendigits(pen_text([(8, 12, [[(1, 2), (3, 4)], [(5, 6)]]), (3, 7, L_SHAPE)]))
    assert digits.labels.tolist() == [8, 3]
    assert digits.writers.tolist() == [12, 7]
    assert len(digits.strokes[0]) == 2
    np.testing.assert_array_equal(digits.strokes[0][0], [[1, 2], [3, 4]])
    np.testing.assert_array_equal(digits.strokes[1][0][-1], [300, 100])


def test_segment_numbers_may_be_ranges():
    text = pen_text([(4, 1, L_SHAPE)]).replace("DIGIT    0 ?", "DIGIT    6-7 ?")
    assert parse_pendigits(text).labels.tolist() == [4]


def test_a_missing_label_names_its_line():
    text = pen_text([(4, 1, L_SHAPE)]).replace('? "4"', "?")
    with pytest.raises(DataError, match=r"line 6: expected .SEGMENT"):
        parse_pendigits(text)


def test_a_truncated_stroke_is_refused():
    text = pen_text([(4, 1, L_SHAPE)])
    with pytest.raises(DataError, match="truncated"):
        parse_pendigits(text[: text.rindex(".PEN_UP")])


def test_a_bad_point_names_its_line():
    text = pen_text([(4, 1, L_SHAPE)]).replace(" 100  400", " 100  x")
    with pytest.raises(DataError, match=r"line 9: expected a point"):
        parse_pendigits(text)


def test_a_file_without_digits_is_refused(tmp_path):
    path = tmp_path / "empty.tra"
    path.write_text(".INCLUDE dene.doc\n")
    with pytest.raises(DataError, match="holds no digits"):
        load_pendigits(path)
    with pytest.raises(DataError, match="not found"):
        load_pendigits(tmp_path / "missing.tra")


def test_loads_gzip_and_from_the_environment(tmp_path, monkeypatch):
    path = tmp_path / "pen.tra.gz"
    path.write_bytes(gzip.compress(pen_text([(1, 3, L_SHAPE)]).encode()))
    monkeypatch.setenv(PENDIGITS_ENV, str(path))
    assert load_pendigits().writers.tolist() == [3]


def test_the_shipped_copy_is_uci_s_file(shared_pendigits):
    shipped = load_pendigits(PENDIGITS_FILE)
    assert len(shipped) == 7494
    assert shipped.fingerprint == load_pendigits(shared_pendigits).fingerprint
    assert np.bincount(shipped.labels).tolist() == [780, 779, 780, 719, 780, 720, 720, 778, 719, 719]
    assert len(set(shipped.writers.tolist())) == 30


def test_split_keeps_each_writer_on_one_side():
    writers = np.repeat(np.arange(1, 31), 5)
    split = split_writers(writers, test_share=0.2, validation_share=0.07, seed=0)
    assert (len(split.train), len(split.validation), len(split.test)) == (22, 2, 6)
    assert set(split.train) | set(split.validation) | set(split.test) == set(range(1, 31))
    assert not set(split.train) & set(split.test)
    assert not set(split.train) & set(split.validation)
    assert not set(split.validation) & set(split.test)
    assert split_writers(writers, 0.2, 0.07, seed=0) == split
    assert split_writers(writers, 0.2, 0.07, seed=1) != split
    with pytest.raises(DataError, match="Cannot hold out"):
        split_writers(writers, 0.67, 0.33)


def test_the_unipen_copy_parses_with_the_same_reader(shared_unipen):
    from digitnet.config import UNIPEN_FILE
    from digitnet.data.pendigits import load_unipen

    shipped = load_unipen(UNIPEN_FILE)
    assert shipped.name == "UNIPEN" and shipped.fingerprint == load_unipen(shared_unipen).fingerprint
    assert np.bincount(shipped.labels).tolist() == [1574, 1681, 1583, 1523, 1567, 1461, 1455, 1481, 1494, 1483]
    assert sorted(set(shipped.writers.tolist())) == list(range(1, 203))
    assert 1 <= min(len(s) for s in shipped.strokes) and max(len(s) for s in shipped.strokes) <= 5


def test_unipen_s_writers_are_split_as_a_collection_of_their_own(shared_unipen):
    from digitnet.data.pendigits import load_unipen

    split = split_writers(load_unipen(shared_unipen).writers, 0.2, 0.07)
    assert (len(split.test), len(split.validation), len(split.train)) == (40, 14, 148)


def ink_box(rgba: np.ndarray) -> tuple[int, int, int, int]:
    rows = np.flatnonzero(rgba[..., 0].max(axis=1) > 127)
    cols = np.flatnonzero(rgba[..., 0].max(axis=0) > 127)
    return rows[0], rows[-1], cols[0], cols[-1]


def test_renders_an_opaque_canvas_with_the_page_s_brush():
    rgba = render_canvas((np.array([[100, 100], [100, 400]], np.float32),), np.random.default_rng(0))
    assert rgba.shape == (CANVAS_SIDE, CANVAS_SIDE, 4) and rgba.dtype == np.uint8
    assert (rgba[..., 3] == 255).all()
    assert (rgba[..., 0] == rgba[..., 1]).all()  # white ink on black
    top, bottom, left, right = ink_box(rgba)
    assert right - left + 1 == pytest.approx(BRUSH_PX, abs=2)  # a vertical bar is one brush wide
    grey = np.unique(rgba[..., 0])
    assert len(grey) > 2  # anti-aliased edges, not only black and white


def test_flips_the_tablet_s_y_axis():
    stroke = np.array(L_SHAPE[0], np.float32)
    rgba = render_canvas((stroke,), np.random.default_rng(0))
    top, bottom, left, right = ink_box(rgba)
    # The foot (low y on the tablet) must end up at the bottom of the screen.
    bottom_row = rgba[bottom - BRUSH_PX // 2, left:right + 1, 0]
    top_row = rgba[top + BRUSH_PX // 2, left:right + 1, 0]
    assert np.count_nonzero(bottom_row > 127) > 3 * np.count_nonzero(top_row > 127)


def test_size_and_place_vary_and_stay_on_the_canvas():
    stroke = (np.array(L_SHAPE[0], np.float32),)
    rng = np.random.default_rng(0)
    boxes = [ink_box(render_canvas(stroke, rng)) for _ in range(30)]
    heights = [bottom - top for top, bottom, _, _ in boxes]
    assert min(heights) < 0.5 * CANVAS_SIDE < max(heights)
    assert len({top for top, _, _, _ in boxes}) > 10
    assert all(top > 0 and left > 0 and bottom < CANVAS_SIDE - 1 and right < CANVAS_SIDE - 1
               for top, bottom, left, right in boxes)


def test_a_hand_varies_the_brush_and_wobbles():
    bar = (np.array([[100, 100], [100, 400]], np.float32),)
    widths = set()
    for seed in range(20):
        _, _, left, right = ink_box(render_canvas(bar, np.random.default_rng(seed), Hand(max_rotation_deg=0, max_slant=0)))
        widths.add(right - left)
    assert max(widths) - min(widths) >= 6
    still = render_canvas(bar, np.random.default_rng(1), PAGE_HAND)
    assert ink_box(still)[3] - ink_box(still)[2] <= BRUSH_PX + 1


def test_a_rendered_digit_reads_as_an_mnist_input():
    x = to_mnist(render_canvas((np.array(L_SHAPE[0], np.float32),), np.random.default_rng(0)))
    assert x.shape == (28, 28) and x.max() == pytest.approx(1.0)
