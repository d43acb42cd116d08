"""`python -m bench.wall`: a room's wall under load, against its targets, on this machine.

A real projector (Chromium at 1280x720, presenter mode) starts a room on `make serve`'s replicas. Then
120 simulated phones each send a drawing every 5 s through the room's store, as the page's Send does,
while 120 simulated visitors draw strokes on the page as in `bench.room` (WebSocket sessions replaying
what Chromium sent). Measured:

- every drawing a phone sent is in the store (count in = count stored);
- send to tile on the projector's wall, p50 and p95 (the wall polls each second);
- the visitors' stroke-to-answer meanwhile, beside the same room size without the wall and phones;
- the wall's own cost: the replicas' CPU per second with the wall open and nothing sent, beside the
  same time with no wall.
"""

from __future__ import annotations

import argparse
import logging
import os
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

from bench.room import PageServer, record, run_room, start_serve
from bench.run import BENCH_DOCS, ROOT, Row, format_table, write_results
from digitnet.config import DRAW_AHEAD_ENV, DRAWINGS_ENV
from digitnet.state.room import ROOMS_FILENAME, UNLIMITED, RoomError, Rooms
from tests.chromium import CHROMIUM, CHROMIUM_FLAGS
from tests.processes import cpu_seconds

log = logging.getLogger("bench")

PHONES = 120
SEND_EVERY_S = 5.0
SECONDS = 30.0
RESULTS = ROOT / "bench" / "wall-results.json"
# The tiles' ids on the wall, read in the projector's page.
TILE_IDS = """() => [...document.querySelectorAll('.st-key-wall figure.tile figcaption span')]
    .map(span => parseInt(span.textContent.slice(1)))"""


def phones_send(rooms: Rooms, code: str, seconds: float, sent: dict[int, float], refused: list[str]) -> int:
    """PHONES phones, each sending a drawing every SEND_EVERY_S (staggered), for `seconds`; returns how
    many sends the store accepted. `sent` gets each accepted drawing's id and time."""
    rng = np.random.default_rng(0)
    drawing = (rng.random((28, 28)) > 0.8).astype(np.float32)
    lock = threading.Lock()
    accepted = [0]
    stop = time.monotonic() + seconds

    def phone(number: int) -> None:
        next_send = time.monotonic() + SEND_EVERY_S * number / PHONES
        while next_send < stop:
            time.sleep(max(0.0, next_send - time.monotonic()))
            try:
                drawing_id = rooms.send(code, f"phone-{number}", drawing, answer=7, confidence=0.9)
            except RoomError as exc:
                refused.append(str(exc))
            else:
                with lock:
                    sent[drawing_id] = time.monotonic()
                    accepted[0] += 1
            next_send += SEND_EVERY_S

    threads = [threading.Thread(target=phone, args=(n,)) for n in range(PHONES)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return accepted[0]


def watch_wall(page, seen: dict[int, float], until: float) -> None:
    """Note when each tile first shows on the projector's wall."""
    while time.monotonic() < until:
        now = time.monotonic()
        for drawing_id in page.evaluate(TILE_IDS):
            seen.setdefault(drawing_id, now)
        page.wait_for_timeout(50)


def measure(visitors: int, replicas: int) -> list[Row]:
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory() as workdir, sync_playwright() as playwright:
        env = {**os.environ, "DIGITNET_RETRAINED_DIR": f"{workdir}/retrained", DRAWINGS_ENV: f"{workdir}/drawings",
               DRAW_AHEAD_ENV: "0"}
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
        server = start_serve(env, replicas)
        try:
            return _measure(browser, server, Rooms(Path(workdir) / "drawings" / ROOMS_FILENAME, UNLIMITED), visitors)
        finally:
            server.stop()
            browser.close()


def _measure(browser, server: PageServer, rooms: Rooms, visitors: int) -> list[Row]:
    recording = record(browser, server.url)
    pids = server.pids()
    quiet_start = cpu_seconds(pids)
    time.sleep(10)
    quiet = cpu_seconds(pids) - quiet_start

    projector = browser.new_page(viewport={"width": 1280, "height": 720})
    projector.goto(f"{server.url}/?presenter=1", timeout=60_000)
    projector.get_by_role("button", name="Start a room").click(timeout=60_000)
    code = projector.locator(".room-code").inner_text(timeout=30_000)
    projector.locator(".st-key-wall").wait_for(timeout=30_000)
    wall_start = cpu_seconds(pids)
    time.sleep(10)
    wall_cost_ms = (cpu_seconds(pids) - wall_start - quiet) * 1000 / 10

    strokes_alone = run_room(server.url, recording, visitors, seconds=SECONDS)
    sent: dict[int, float] = {}
    seen: dict[int, float] = {}
    refused: list[str] = []
    strokes: dict[str, object] = {}
    drawers = threading.Thread(target=lambda: strokes.update(result=run_room(server.url, recording, visitors,
                                                                                seconds=SECONDS)))
    drawers.start()
    accepted = phones_send(rooms, code, SECONDS, sent, refused)
    watch_wall(projector, seen, time.monotonic() + 5)  # the last sends' tiles
    drawers.join()
    stored = rooms.state(code).drawings
    # The wall shows the newest tiles: a drawing sent while 60 newer ones came has no tile to wait for.
    delays = [(seen[i] - sent[i]) * 1000 for i in sent if i in seen]
    with_room = strokes["result"]
    p95 = float(np.percentile(delays, 95)) if delays else float("nan")
    return [
        Row(f"wall: drawings stored of those {PHONES} phones sent in {SECONDS:.0f} s", stored, "", accepted,
            "sent and accepted", "all of them", stored == accepted and not refused),
        Row("wall: send -> tile on the projector, p50", statistics.median(delays) if delays else float("nan"), "ms"),
        Row(f"wall: send -> tile on the projector, p95 ({len(delays)} tiles seen)", p95, "ms",
            target="<= 2000 ms", met=p95 <= 2000),
        Row(f"wall: {visitors} visitors' stroke -> answer p95, during the room", with_room.percentile(95), "ms",
            strokes_alone.percentile(95), "ms the same visitors with no room", "<= 1.5x + 20 ms",
            with_room.percentile(95) <= 1.5 * strokes_alone.percentile(95) + 20),
        Row("wall: its own refresh, server CPU per second of wall", wall_cost_ms, "ms",
            quiet * 1000 / 10, "ms per second with no wall", "<= 20 ms", wall_cost_ms <= 20),
        Row("wall: session errors of the drawing visitors", len(with_room.errors), "", target="none",
            met=not with_room.errors),
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--visitors", type=int, default=120, help="simulated visitors drawing strokes meanwhile")
    parser.add_argument("--replicas", type=int, default=2, help="replicas behind nginx")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    rows = measure(args.visitors, args.replicas)
    print(format_table(rows))
    write_results(rows, RESULTS, table=BENCH_DOCS / "wall.md")
    return 0


if __name__ == "__main__":
    sys.exit(main())
