"""The run budget that keeps one flooding visitor from slowing everyone else."""

import pytest

from digitnet.serving.limits import RerunBudget


def test_a_person_s_pace_is_never_refused():
    budget = RerunBudget(rate=4, burst=10, updated=0.0)
    # A page load, then a stroke every 0.3 s for a minute.
    assert all(budget.take(now=0.3 * n) == 0 for n in range(200))


def test_a_flood_is_refused_after_the_burst_and_told_how_long_to_wait():
    budget = RerunBudget(rate=4, burst=10, updated=0.0)
    assert [budget.take(now=0.0) for _ in range(10)] == [0.0] * 10
    wait = budget.take(now=0.0)
    assert wait == pytest.approx(0.25)
    assert budget.refused == 1
    assert budget.take(now=0.1) > 0  # still too soon
    assert budget.take(now=0.3) == 0  # a token came back
    assert budget.refused == 0


def test_the_budget_refills_only_to_the_burst():
    budget = RerunBudget(rate=4, burst=10, updated=0.0)
    budget.take(now=1000.0)
    assert budget.tokens == pytest.approx(9)
