"""The benchmark's own logic: ratios against baselines, the table, the JSON it writes."""

import json

from bench.run import Row, format_table, timed_calls, write_results


def test_times_compare_as_speedups_and_scores_as_multiples():
    assert Row("latency", 2.0, "ms", baseline=70.0).ratio == 35.0
    assert Row("accuracy", 97.0, "%", baseline=20.0).ratio == 97.0 / 20.0
    assert Row("no baseline", 1.0, "MB").ratio is None


def test_table_and_json_carry_every_row(tmp_path):
    rows = [Row("latency", 2.0, "ms", 70.0, "ms model.predict", "<= 2 ms", True),
            Row("accuracy", 97.0, "%", 20.0, "squashed", ">= 98%", False)]
    table = format_table(rows)
    assert "35.00x" in table and "(met)" in table and "(NOT met)" in table
    path = tmp_path / "results.json"
    write_results(rows, path, tmp_path / "results.md")
    records = json.loads(path.read_text())["rows"]
    markdown = (tmp_path / "results.md").read_text()
    assert "| latency | 2 ms | 70 ms model.predict | 35.00x | <= 2 ms: met |" in markdown
    assert "| accuracy | 97 % | 20 squashed | 4.85x | >= 98%: **not met** |" in markdown
    assert [r["name"] for r in records] == ["latency", "accuracy"]
    assert records[0]["ratio"] == 35.0 and records[1]["met"] is False


def test_timed_calls_counts_only_the_timed_calls():
    calls = []
    times = timed_calls(lambda: calls.append(1), calls=7, warmup=3)
    assert len(times) == 7 and len(calls) == 10
    assert all(t >= 0 for t in times)
