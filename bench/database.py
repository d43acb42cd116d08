"""What the shared state costs on PostgreSQL beside SQLite and files, in the same run
(`python -m bench.database`): a phone's send and the wall's refresh in a room of 1,000 drawings, and a
saved drawing. PostgreSQL runs in a temporary cluster on this machine, flushing to disk as SQLite does."""

from __future__ import annotations

import logging
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from bench.run import BENCH_DOCS, ROOT, Row, format_table, write_results
from bench.strangers import fill_room
from digitnet.data.collected import CollectedDrawings, DrawingTable
from digitnet.state.room import ROOMS_FILENAME, UNLIMITED, Rooms
from tests.postgres import Cluster, server_binaries

log = logging.getLogger(__name__)

ROOM_DRAWINGS = 1_000
TRIES = 50
# Shared state may cost more than a file of this machine, but not so much that a room feels it: a few
# milliseconds, when a stroke's answer takes 15.
WITHIN = 3.0


def median_ms(action: Callable[[int], object], tries: int = TRIES) -> float:
    times = []
    for n in range(tries):
        started = time.perf_counter()
        action(n)
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


def costs(rooms: Rooms, kept: CollectedDrawings | DrawingTable) -> dict[str, float]:
    """The median milliseconds of each thing the room and the sidebar do, on this store."""
    code = rooms.open()
    fill_room(rooms, code, ROOM_DRAWINGS)
    x = np.zeros((28, 28), np.float32)
    return {
        "a phone's send": median_ms(lambda n: rooms.send(code, f"phone-{n}", x, 1, 0.9)),
        "the wall's refresh": median_ms(lambda n: rooms.state(code, tiles=24)),
        "a saved drawing": median_ms(lambda n: kept.add(x, n % 10)),
        "the sidebar's count": median_ms(lambda n: kept.counts()),
    }


def measure() -> list[Row]:
    binaries = server_binaries()
    if binaries is None:
        raise SystemExit("PostgreSQL not found: install it with `sudo apt-get install -y postgresql`")
    with tempfile.TemporaryDirectory() as folder:
        local = costs(Rooms(Path(folder) / ROOMS_FILENAME, UNLIMITED), CollectedDrawings(Path(folder) / "drawings"))
    cluster = Cluster(*binaries, durable=True)
    try:
        url = cluster.database()
        shared = costs(Rooms(limits=UNLIMITED, url=url), DrawingTable(url))
    finally:
        cluster.stop()
    return [Row(f"{name} on PostgreSQL, median", shared[name], "ms", local[name], "ms on SQLite / files",
                f"<= {WITHIN:.0f}x SQLite / files", shared[name] <= WITHIN * local[name]) for name in shared]


def main() -> int:
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    rows = measure()
    print(format_table(rows))
    write_results(rows, ROOT / "bench" / "database-results.json", table=BENCH_DOCS / "database.md")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
