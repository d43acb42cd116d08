"""Two machines on this one: two replica groups with folders and home directories of their own (no
disk shared), one nginx in front of both, one PostgreSQL server that holds what they share."""

import os
import re
import signal
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
from conftest import ROOT, nginx
from waiting import TIMEOUT_S

from chromium import (WAIT_MS, answer, cookie_on_replica, draw, free_port, model_card, open_on_replica, phone_sends,
                      projector_room, retrain_settings, settled, wait_for_app)
from digitnet.config import DRAWINGS_ENV
from digitnet.state.database import DATABASE_ENV
from digitnet.state.store import RETRAINED_ENV

pytestmark = pytest.mark.server


@dataclass
class Machines:
    url: str  # the first machine's nginx, in front of both
    first: str  # each machine's replica, as nginx names it in X-Digitnet-Replica
    second: str
    processes: list[subprocess.Popen]


def machine_env(home: Path, database: str, mnist: Path) -> dict[str, str]:
    env = {**os.environ, "HOME": str(home), DATABASE_ENV: database, "DIGITNET_MNIST": str(mnist),
           RETRAINED_ENV: str(home / "retrained"), DRAWINGS_ENV: str(home / "drawings")}
    env.pop("DIGITNET_ADMIN_PASSWORD", None)
    return env


def start(command: list[str], env: dict[str, str], log: Path) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "digitnet", "serve", "--replicas", "1", *command], cwd=ROOT,
                            env=env, stdin=subprocess.DEVNULL, stdout=log.open("w"), stderr=subprocess.STDOUT,
                            start_new_session=True)


@pytest.fixture
def machines(postgres, mnist_path, tmp_path, pen_digits_drawn):
    nginx()
    database = postgres.database()
    second_port, port = free_port(), free_port()
    processes = []
    try:
        # The second machine runs its replica alone; the first, its own and nginx, in front of both.
        processes.append(start(["--replicas-only", "--port", str(second_port)],
                               machine_env(tmp_path / "second", database, mnist_path), tmp_path / "second.log"))
        wait_for_app(second_port, processes[-1])
        processes.append(start(["--port", str(port), "--upstream", f"127.0.0.1:{second_port}"],
                               machine_env(tmp_path / "first", database, mnist_path), tmp_path / "first.log"))
        url = wait_for_app(port, processes[-1])
        _, first = cookie_on_replica(url, {f"127.0.0.1:{second_port}"})
        yield Machines(url, first, f"127.0.0.1:{second_port}", processes)
    finally:
        for process in processes:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGINT)
            process.wait(TIMEOUT_S)


def test_phones_on_two_machines_feed_one_wall_and_a_saved_drawing_counts_on_both(browser, machines):
    projector, _, code = projector_room(browser, machines.url, {machines.second})
    for machine in (machines.first, machines.second):  # a phone on each machine
        phone_cookie, _ = cookie_on_replica(machines.url, {machines.first, machines.second} - {machine})
        phone_sends(browser, machines.url, code, cookie=phone_cookie)
    wall = projector.locator(".st-key-wall")
    wall.get_by_text("people: 2 · drawings: 2").wait_for(timeout=WAIT_MS)
    projector.context.close()
    # A drawing saved on the second machine is counted on the first.
    on_second, _, _ = open_on_replica(browser, machines.url, {machines.first})
    draw(on_second, "7")
    assert answer(on_second) == "7"
    on_second.get_by_role("button", name=re.compile(r"Right, it's a 7")).click()
    on_second.get_by_text("Saved as a 7").first.wait_for(timeout=WAIT_MS)  # a toast says it too
    on_first, _, _ = open_on_replica(browser, machines.url, {machines.second})
    on_first.locator(".st-key-drawings-count").get_by_text(re.compile(r"^1 drawing: ")).wait_for(timeout=WAIT_MS)


def test_a_retrain_on_one_machine_is_seen_refused_and_then_used_on_the_other(browser, machines):
    first, _, _ = open_on_replica(browser, machines.url, {machines.second})
    second, _, _ = open_on_replica(browser, machines.url, {machines.first})
    sidebar = retrain_settings(first, epochs=2, images=2000)
    sidebar.get_by_role("button", name="Retrain").click()
    # The second machine's sidebar shows the first one's retrain, and refuses a second one meanwhile.
    second.get_by_text(re.compile(r"Epoch \d of 2")).first.wait_for(timeout=WAIT_MS)
    assert second.locator('[data-testid="stSidebar"]').get_by_role("button", name="Retrain").is_disabled()
    for page in (first, second):
        page.get_by_text(re.compile(r"Done: MNIST test accuracy")).wait_for(timeout=WAIT_MS)
        settled(page)
        model_card(page).get_by_text("retrained here").wait_for(timeout=WAIT_MS)
    second.get_by_role("tab", name="Draw").click()
    draw(second, "7")  # read by the new model, copied from the database
    assert answer(second) == "7"
