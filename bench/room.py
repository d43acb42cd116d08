"""A room drawing at once: simulated visitors over Streamlit's WebSocket, each drawing a stroke every 1.5 s.

The messages a visitor sends are recorded from real Chromium drawing on the page (never written by
hand), then replayed by many light asyncio visitors. Each is timed from sending a stroke's message to
the end of the rerun it causes, against the bare-canvas page (bench/echo_app.py) in the same run.

    python -m bench.room                      # N = 1, 30, 60, 120: one process, and `digitnet serve`
    python -m bench.room --visitors 5 10      # chosen room sizes only
"""

from __future__ import annotations

import argparse
import asyncio
import concurrent.futures
import logging
import os
import random
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from bench.run import ROOT, Row, format_table, write_results
from digitnet.replicas import free_port
from tests.chromium import ANSWER, CANVAS, CHROMIUM, CHROMIUM_FLAGS, start_app, wait_for_app

STROKE_PERIOD = 1.5  # seconds between a visitor's strokes
PHASE_SECONDS = 15.0  # how long each room size draws, after every visitor has arrived
ECHO_APP = ROOT / "bench" / "echo_app.py"
# The strokes recorded, in canvas pixels: a 7, then a bar across its stem, then a 1 beside them.
RECORDED_STROKES = [
    [(75, 60), (205, 60), (160, 140), (120, 235)],
    [(110, 150), (200, 150)],
    [(240, 60), (238, 150), (236, 240)],
]

log = logging.getLogger("bench.room")


@dataclass(frozen=True)
class Recording:
    """What one real browser sent over the WebSocket: its first run, each stroke, its idle poll."""

    load: bytes
    strokes: tuple[bytes, ...]
    poll: bytes | None  # the sidebar fragment's auto-rerun; the bare page has none
    poll_every: float = 10.0  # ui/sidebar.py's IDLE_POLL_SECONDS


def record(browser, url: str) -> Recording:
    """Draw RECORDED_STROKES on the page at `url` in `browser` and keep the rerun messages it sends."""
    from streamlit.proto.BackMsg_pb2 import BackMsg

    sent: list[bytes] = []
    page = browser.new_page(viewport={"width": 1400, "height": 1100})
    page.on("websocket", lambda ws: ws.on("framesent", lambda frame: sent.append(
        frame if isinstance(frame, bytes) else frame.encode())))
    page.goto(url, timeout=60_000)
    page.locator(CANVAS).wait_for(timeout=60_000)
    page.wait_for_timeout(11_000)  # long enough for one idle poll of the sidebar (ui/sidebar.py)
    for number, points in enumerate(RECORDED_STROKES, start=1):
        before = len(sent)
        box = page.locator(CANVAS).bounding_box()
        page.mouse.move(box["x"] + points[0][0], box["y"] + points[0][1])
        page.mouse.down()
        for x, y in points[1:]:
            page.mouse.move(box["x"] + x, box["y"] + y, steps=6)
        page.mouse.up()
        page.locator(ANSWER).wait_for(timeout=30_000)
        deadline = time.monotonic() + 10
        while len(_strokes(sent[before:])) < 1 and time.monotonic() < deadline:
            page.wait_for_timeout(50)
    page.close()
    messages = [(raw, BackMsg.FromString(raw)) for raw in sent]
    reruns = [(raw, msg.rerun_script) for raw, msg in messages if msg.WhichOneof("type") == "rerun_script"]
    polls = [raw for raw, rerun in reruns if rerun.is_auto_rerun]
    strokes = _strokes(sent)
    if not reruns or len(strokes) < len(RECORDED_STROKES):
        raise RuntimeError(f"recorded {len(strokes)} strokes of {len(RECORDED_STROKES)} from {url}")
    return Recording(load=reruns[0][0], strokes=tuple(strokes[:len(RECORDED_STROKES)]),
                     poll=polls[0] if polls else None)


def _strokes(sent: list[bytes]) -> list[bytes]:
    """The rerun messages among `sent` that carry a new drawing of the canvas."""
    from streamlit.proto.BackMsg_pb2 import BackMsg

    found, last = [], None
    for raw in sent:
        rerun = BackMsg.FromString(raw).rerun_script
        if rerun.is_auto_rerun:
            continue
        drawing = next((w.json_value for w in rerun.widget_states.widgets if "canvas" in w.id and w.json_value), None)
        if drawing and drawing != last:
            found.append(raw)
            last = drawing
    return found


@dataclass
class RoomResult:
    """What a room of simulated visitors saw."""

    visitors: int
    latencies_ms: list[float] = field(default_factory=list)
    polls: int = 0
    cpu_ms_per_stroke: float = float("nan")  # the server's, over the drawing (not the arrivals)
    errors: list[str] = field(default_factory=list)

    def percentile(self, q: float) -> float:
        return float(np.percentile(self.latencies_ms, q)) if self.latencies_ms else float("nan")


class RerunFailed(Exception):
    """A rerun ended with an exception on the page, an error status, or no answer in time."""


async def _wait_finished(ws, timeout: float) -> None:
    """Read server messages until the rerun in flight finishes; raise RerunFailed if it did not succeed."""
    from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

    ok = (ForwardMsg.FINISHED_SUCCESSFULLY, ForwardMsg.FINISHED_FRAGMENT_RUN_SUCCESSFULLY)
    failure = None
    async with asyncio.timeout(timeout):
        while True:
            msg = ForwardMsg.FromString(await ws.recv())
            kind = msg.WhichOneof("type")
            if kind == "delta" and msg.delta.new_element.WhichOneof("type") == "exception":
                failure = f"exception on the page: {msg.delta.new_element.exception.message[:200]}"
            elif kind == "script_finished":
                if msg.script_finished not in ok:
                    failure = failure or f"rerun ended with status {msg.script_finished}"
                if failure:
                    raise RerunFailed(failure)
                return


def _route_cookie(url: str) -> str:
    """The cookies a browser gets with the page (nginx's sticky-session cookie among them)."""
    with urllib.request.urlopen(url, timeout=30) as response:
        cookies = response.headers.get_all("Set-Cookie") or []
    return "; ".join(cookie.split(";", 1)[0] for cookie in cookies)


async def visit(url: str, recording: Recording, room: "Room", rng: random.Random,
                answer_timeout: float = 30.0) -> None:
    """One visitor: arrive, wait for the room to fill, then draw a recorded stroke every STROKE_PERIOD
    until the room ends, polling as the page's sidebar does; each stroke's time to its answer is kept."""
    import websockets

    await asyncio.sleep(rng.uniform(0, room.arrival_seconds))
    ws_url = url.replace("http://", "ws://") + "/_stcore/stream"
    try:
        cookie = await asyncio.to_thread(_route_cookie, url)
        async with websockets.connect(ws_url, subprotocols=["streamlit"], max_size=None, open_timeout=30,
                                      additional_headers={"Cookie": cookie} if cookie else None) as ws:
            await ws.send(recording.load)
            await _wait_finished(ws, answer_timeout)
            room.arrived()
            await room.full.wait()
            next_poll = time.monotonic() + rng.uniform(0, recording.poll_every)
            await asyncio.sleep(rng.uniform(0, STROKE_PERIOD))
            stroke = 0
            while time.monotonic() < room.until:
                started = time.monotonic()
                await ws.send(recording.strokes[stroke % len(recording.strokes)])
                await _wait_finished(ws, answer_timeout)
                room.result.latencies_ms.append((time.monotonic() - started) * 1000)
                stroke += 1
                if recording.poll is not None and time.monotonic() >= next_poll:
                    await ws.send(recording.poll)
                    await _wait_finished(ws, answer_timeout)
                    room.result.polls += 1
                    next_poll += recording.poll_every
                await asyncio.sleep(max(started + STROKE_PERIOD - time.monotonic(), 0))
    except (RerunFailed, TimeoutError, OSError, websockets.WebSocketException) as exc:
        room.result.errors.append(f"{type(exc).__name__}: {exc}")
        room.arrived()


class Room:
    """Visitors arrive over `arrival_seconds`; once all are in (`full`), they draw for `seconds`."""

    def __init__(self, visitors: int, seconds: float, on_full) -> None:
        self.result = RoomResult(visitors)
        self.arrival_seconds = min(visitors * 0.05, 5.0)  # a room fills in seconds, not all at once
        self.seconds = seconds
        self.full = asyncio.Event()
        self.until = float("inf")
        self._waiting = visitors
        self._on_full = on_full

    def arrived(self) -> None:
        self._waiting -= 1
        if self._waiting == 0:
            self._on_full()
            self.until = time.monotonic() + self.seconds
            self.full.set()


async def _room(url: str, recording: Recording, visitors: int, seconds: float, seed: int,
                on_full) -> RoomResult:
    room = Room(visitors, seconds, on_full)
    rngs = [random.Random(seed * 1000 + i) for i in range(visitors)]
    await asyncio.gather(*(visit(url, recording, room, rng) for rng in rngs))
    return room.result


def run_room(url: str, recording: Recording, visitors: int, seconds: float = PHASE_SECONDS, seed: int = 0,
             on_full=lambda: None) -> RoomResult:
    """`visitors` simulated visitors drawing on the page at `url` for `seconds` once all have arrived;
    `on_full` is called when the last one has arrived and before anyone draws."""
    return run_async(_room(url, recording, visitors, seconds, seed, on_full))


def run_async(coroutine):
    """Run `coroutine` to its end in a thread of its own: Playwright's sync API holds this thread's loop."""
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coroutine).result()


async def _hold_sessions(url: str, recording: Recording, visitors: int, hold: asyncio.Event,
                         drawn: list[int], errors: list[str]) -> None:
    """Open `visitors` sessions, draw once in each, and keep them open until `hold` is set."""
    import websockets

    async def one() -> None:
        try:
            async with websockets.connect(url.replace("http://", "ws://") + "/_stcore/stream",
                                          subprotocols=["streamlit"], max_size=None, open_timeout=30) as ws:
                await ws.send(recording.load)
                await _wait_finished(ws, 60)
                await ws.send(recording.strokes[0])
                await _wait_finished(ws, 60)
                drawn.append(1)
                await hold.wait()
        except (RerunFailed, TimeoutError, OSError, websockets.WebSocketException) as exc:
            errors.append(f"{type(exc).__name__}: {exc}")

    await asyncio.gather(*(one() for _ in range(visitors)))


def descendants(pid: int) -> list[int]:
    """`pid` and every process below it, from /proc."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                parent = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(parent, []).append(int(entry.name))
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        todo += children.get(current, [])
    return found


def cpu_seconds(pids: list[int]) -> float:
    """User plus system CPU time used so far by `pids`."""
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])
    return total / os.sysconf("SC_CLK_TCK")


def rss_mb(pids: list[int]) -> float:
    """Resident memory of `pids` in MB."""
    total = 0
    for pid in pids:
        try:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
        except OSError:
            continue
    return total / 1024


def streamlit_pids(root: int) -> list[int]:
    """The `streamlit run` processes at or under `root`: what serves the page (nginx aside)."""
    found = []
    for pid in descendants(root):
        try:
            command = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if b"streamlit" in b" ".join(command) and b"run" in command:
            found.append(pid)
    return found


@dataclass
class PageServer:
    """A running page: one `streamlit run`, or `python -m digitnet serve` with its replicas."""

    process: subprocess.Popen
    url: str

    def pids(self) -> list[int]:
        return streamlit_pids(self.process.pid)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)


def start_one(env: dict[str, str], script: Path = ROOT / "app.py", options: tuple[str, ...] = ()) -> PageServer:
    port = free_port()
    process = start_app(port, env, script, options)
    return PageServer(process, wait_for_app(port))


def start_serve(env: dict[str, str], replicas: int) -> PageServer:
    port = free_port()
    process = subprocess.Popen([sys.executable, "-m", "digitnet", "serve", "--replicas", str(replicas),
                                "--port", str(port)], cwd=ROOT, env=env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = wait_for_app(port)
    deadline = time.monotonic() + 60
    while len(streamlit_pids(process.pid)) < replicas and time.monotonic() < deadline:
        time.sleep(0.2)
    return PageServer(process, url)


def room_rows(label: str, server: PageServer, recording: Recording, sizes: list[int],
              floor: dict[int, RoomResult] | None) -> tuple[list[Row], dict[int, RoomResult]]:
    """Each room size against `server`: p50, p95, errors and CPU per stroke (beside `floor`'s)."""
    rows, results = [], {}
    for visitors in sizes:
        pids = server.pids()
        cpu = {"start": cpu_seconds(pids)}
        result = run_room(server.url, recording, visitors, on_full=lambda: cpu.update(full=cpu_seconds(pids)))
        arrival_cpu = (cpu["full"] - cpu["start"]) * 1000 / visitors
        cpu = (cpu_seconds(pids) - cpu["full"]) * 1000 / max(len(result.latencies_ms), 1)
        result.cpu_ms_per_stroke = cpu
        results[visitors] = result
        base = floor.get(visitors) if floor else None
        log.info("%s, %d visitors: p50 %.0f ms, p95 %.0f ms, %d strokes, %d polls, %d errors, "
                 "%.1f ms CPU/stroke, %.0f ms CPU/arrival", label, visitors, result.percentile(50),
                 result.percentile(95), len(result.latencies_ms), result.polls, len(result.errors), cpu, arrival_cpu)
        for error in result.errors[:3]:
            log.info("  error: %s", error)
        rows.append(Row(f"{label}, {visitors} visitors: p50", result.percentile(50), "ms",
                        base.percentile(50) if base else None, "ms bare canvas" if base else ""))
        rows.append(Row(f"{label}, {visitors} visitors: p95", result.percentile(95), "ms",
                        base.percentile(95) if base else None, "ms bare canvas" if base else ""))
        rows.append(Row(f"{label}, {visitors} visitors: session errors", len(result.errors), "",
                        target="0", met=not result.errors))
        rows.append(Row(f"{label}, {visitors} visitors: server CPU per stroke", cpu, "ms"))
        rows.append(Row(f"{label}, {visitors} visitors: server CPU per arrival", arrival_cpu, "ms"))
    return rows, results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--visitors", type=int, nargs="+", default=[1, 30, 60, 120], help="room sizes")
    parser.add_argument("--replicas", type=int, default=2, help="replicas for the `digitnet serve` rooms")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    rows = measure(args.visitors, args.replicas)
    print(format_table(rows))
    write_results(rows, ROOT / "bench" / "room-results.json")
    return 0


def measure(sizes: list[int], replicas: int) -> list[Row]:
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory() as workdir, sync_playwright() as playwright:
        env = {**os.environ, "DIGITNET_RETRAINED_DIR": f"{workdir}/retrained",
               "DIGITNET_DATA_DIR": f"{workdir}/drawings"}
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
        rows: list[Row] = []

        echo = start_one(env, ECHO_APP)
        try:
            echo_rows, floor = room_rows("bare canvas, 1 process", echo, record(browser, echo.url), sizes, None)
        finally:
            echo.stop()
        rows += echo_rows

        page = start_one(env)
        try:
            recording = record(browser, page.url)
            page_rows, one_process = room_rows("the page, 1 process", page, recording, sizes, floor)
            rows += page_rows
            rows += browser_under_load_rows(browser, page, recording)
        finally:
            page.stop()
        rows += memory_rows(env, recording)
        rows += churn_rows(env, recording)

        served = start_serve(env, replicas)
        try:
            serve_rows, through_nginx = room_rows(f"digitnet serve, {replicas} replicas", served, recording,
                                                  sizes, floor)
            rows += serve_rows
        finally:
            served.stop()
        browser.close()
    return target_rows(floor, one_process, through_nginx, replicas) + rows


def target_rows(floor: dict[int, RoomResult], one_process: dict[int, RoomResult],
                through_nginx: dict[int, RoomResult], replicas: int) -> list[Row]:
    """The issue's targets, each against the bare canvas measured in the same run."""
    rows = []
    for visitors in (30, 60):
        if visitors in one_process:
            p95, bare = one_process[visitors].percentile(95), floor[visitors].percentile(95)
            rows.append(Row(f"TARGET 1 process, {visitors} visitors: p95", p95, "ms", bare, "ms bare canvas p95",
                            "<= 1.5x bare + 20 ms, no errors",
                            p95 <= 1.5 * bare + 20 and not one_process[visitors].errors))
    if 120 in through_nginx:
        p95, bare = through_nginx[120].percentile(95), floor[120].percentile(95)
        rows.append(Row(f"TARGET serve {replicas} replicas, 120 visitors: p95", p95, "ms", bare,
                        "ms bare canvas, 1 process", "<= 250 ms and below bare, no errors",
                        p95 <= 250 and p95 < bare and not through_nginx[120].errors))
    largest = max(v for v in one_process if v in floor)
    cpu, bare_cpu = one_process[largest].cpu_ms_per_stroke, floor[largest].cpu_ms_per_stroke
    rows.append(Row(f"TARGET server CPU per stroke ({largest} visitors)", cpu, "ms", bare_cpu, "ms bare canvas",
                    "<= 2x bare", cpu <= 2 * bare_cpu))
    return rows


def browser_under_load_rows(browser, server: PageServer, recording: Recording, visitors: int = 60,
                            strokes: int = 9) -> list[Row]:
    """One real Chromium's stroke to answer on screen, idle and while `visitors` simulated ones draw."""
    from bench.run import _open_page, _stroke_times

    port = int(server.url.rsplit(":", 1)[1])
    page = _open_page(browser, port)
    idle = statistics.median(_stroke_times(page, strokes))
    room = threading.Thread(target=run_room, args=(server.url, recording, visitors, 40.0))
    room.start()
    time.sleep(min(visitors * 0.05, 5.0) + 3)  # the room has filled and is drawing
    busy = statistics.median(_stroke_times(page, strokes))
    room.join()
    page.close()
    log.info("one browser, stroke to answer: %.0f ms idle, %.0f ms with %d visitors drawing", idle, busy, visitors)
    return [Row(f"one browser, stroke to answer, {visitors} visitors drawing", busy, "ms", idle, "ms idle",
                "<= 1.3x idle", busy <= 1.3 * idle)]


def churn_rows(env: dict[str, str], recording: Recording, visitors: int = 500, ttl: int = 10) -> list[Row]:
    """RSS before and after `visitors` have come, drawn three strokes and gone, once Streamlit has let go of
    their sessions. The server keeps a disconnected session for `ttl` s instead of the default 120 s."""
    server = start_one(env, options=("--server.disconnectedSessionTTL", str(ttl)))
    try:
        run_room(server.url, recording, 5, 5.0)  # warm: caches filled, one of everything imported
        time.sleep(ttl + 5)
        pid = server.pids()[0]
        before = rss_mb([pid])
        for wave in range(visitors // 50):
            run_room(server.url, recording, 50, 4.5, seed=wave)
        during = rss_mb([pid])
        time.sleep(ttl + 10)
        after = rss_mb([pid])
    finally:
        server.stop()
    log.info("churn: %.0f MB before %d visitors, %.0f MB just after, %.0f MB %d s later", before, visitors,
             during, after, ttl + 10)
    return [Row(f"RSS after {visitors} visitors came and went", after, "MB", before, "MB before them",
                "within 30 MB", after - before <= 30)]


def memory_rows(env: dict[str, str], recording: Recording, sessions: int = 60) -> list[Row]:
    """RSS per open session on a fresh server (no earlier room's sessions lingering), with `sessions`
    open and each having drawn once."""
    server = start_one(env)
    try:
        return _memory_rows(server, recording, sessions)
    finally:
        server.stop()


def _memory_rows(server: PageServer, recording: Recording, sessions: int) -> list[Row]:
    run_room(server.url, recording, 2, 3.0)  # warm: the model, the caches and the imports in place
    pid = server.pids()[0]
    before = rss_mb([pid])
    drawn: list[int] = []
    errors: list[str] = []

    async def hold_then_measure() -> float:
        hold = asyncio.Event()
        task = asyncio.create_task(_hold_sessions(server.url, recording, sessions, hold, drawn, errors))
        deadline = time.monotonic() + 120
        while len(drawn) + len(errors) < sessions and time.monotonic() < deadline:
            await asyncio.sleep(0.5)
        await asyncio.sleep(2)
        measured = rss_mb([pid])
        hold.set()
        await task
        return measured

    held = run_async(hold_then_measure())
    per_session = (held - before) / sessions
    log.info("memory: %.0f MB before, %.0f MB with %d sessions open: %.2f MB per session", before, held,
             sessions, per_session)
    return [Row(f"memory per open session ({sessions} open)", per_session, "MB", target="<= 2 MB",
                met=per_session <= 2),
            Row(f"replica RSS with {sessions} sessions open", held, "MB", before, "MB before them",
                "<= 300 MB", held <= 300)]


if __name__ == "__main__":
    sys.exit(main())
