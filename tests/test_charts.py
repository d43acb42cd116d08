"""The small SVG chart of how the network learned, shown beside the answer."""

from xml.etree import ElementTree

import pytest

from digitnet.reading.charts import HEIGHT, accuracy_svg
from digitnet.reading.palette import BLUE, ORANGE

SVG = "{http://www.w3.org/2000/svg}"


def points(line) -> list[tuple[float, float]]:
    return [tuple(float(v) for v in pair.split(",")) for pair in line.get("points").split()]


def test_one_point_per_epoch_higher_for_more_accurate():
    training, validation = [0.80, 0.90, 0.95], [0.85, 0.93, 0.97]
    svg = ElementTree.fromstring(accuracy_svg(training, validation, "Accuracy <per> epoch"))
    lines = svg.findall(f"{SVG}polyline")
    assert [line.get("stroke") for line in lines] == [BLUE, ORANGE]
    for line, values in zip(lines, (training, validation)):
        xs, ys = zip(*points(line))
        assert len(xs) == len(values) and list(xs) == sorted(xs)
        assert list(ys) == sorted(ys, reverse=True)  # accuracy rising: the line climbs
        assert all(0 <= y <= HEIGHT for y in ys)
    assert points(lines[1])[-1][1] < points(lines[0])[-1][1]  # 97% drawn above 95%
    assert svg.find(f"{SVG}title").text == "Accuracy <per> epoch"  # escaped, read back whole
    assert "epoch 3" in [text.text for text in svg.findall(f"{SVG}text")]


def test_curves_that_do_not_pair_up_are_refused():
    with pytest.raises(ValueError):
        accuracy_svg([0.9, 0.95], [0.9], "x")
    with pytest.raises(ValueError):
        accuracy_svg([], [], "x")
