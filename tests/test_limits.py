"""The run budget that keeps one flooding visitor from slowing everyone else."""

import pytest

from digitnet.state.limits import RerunBudget


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


def test_the_client_address_is_the_proxy_s_last_word_only_behind_a_proxy_on_this_machine():
    from digitnet.state.limits import client_address

    assert client_address("198.51.100.7", None) == "198.51.100.7"  # straight to Streamlit
    assert client_address("198.51.100.7", "203.0.113.1") == "198.51.100.7"  # a header a visitor wrote
    assert client_address(None, "203.0.113.1, 198.51.100.7") == "198.51.100.7"  # what nginx appended
    assert client_address(None, None) == "127.0.0.1"  # a presenter on localhost


def test_a_proxy_on_another_machine_is_believed_only_when_trusted(monkeypatch, caplog):
    from digitnet.state.limits import TRUSTED_PROXIES_ENV, client_address, trusted_proxies

    monkeypatch.setenv(TRUSTED_PROXIES_ENV, "10.0.0.0/8, 2001:db8::/32, not-a-network")
    proxies = trusted_proxies()
    assert len(proxies) == 2 and "not-a-network" in caplog.text
    assert client_address("10.1.2.3", "203.0.113.1, 198.51.100.7", proxies) == "198.51.100.7"  # an ingress
    assert client_address("2001:db8::5", "198.51.100.9", proxies) == "198.51.100.9"
    assert client_address("192.0.2.4", "198.51.100.7", proxies) == "192.0.2.4"  # not a proxy of ours
    assert client_address("10.1.2.3", None, proxies) == "10.1.2.3"
    monkeypatch.delenv(TRUSTED_PROXIES_ENV)
    assert trusted_proxies() == ()


def test_a_run_that_comes_late_with_an_earlier_time_refills_nothing():
    budget = RerunBudget(rate=1.0, burst=2.0, tokens=0.0, updated=10.0)
    assert budget.take(now=12.0) == 0  # two seconds: two tokens, one spent
    assert budget.take(now=11.0) == 0  # a send that waited for a lock: the last token
    assert budget.take(now=12.0) > 0  # nothing came back for the second counted twice
