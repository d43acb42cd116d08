"""A room drawing at once: phones on the room's phone form, each drawing a digit (three strokes) and
sending it every 5 s, while the wall is open on a projector.

The messages a phone sends are recorded from real Chromium drawing on the phone form of an open room
(never written by hand), then replayed by many light asyncio visitors over Streamlit's WebSocket. A
room's phone reads its strokes itself and sends only its Send (ui/pad.js); the bare-canvas page
(bench/echo_app.py), drawn on the same way in the same run, sends each stroke, as the page's canvas does.
Each message is timed to the end of the run it causes: on one process, and through `digitnet serve` with
1 and 2 replicas. The wall, open in Chromium at 1280x720, is timed from a drawing's send to its tile.

Each replica of `digitnet serve` runs in a CPU cgroup of its own (cgroup v1, written as root), with
0.4 of a core, and the simulator outside the quotas: how many phones a second replica adds is then
measured on a 2-core machine that also runs the simulator, the browser and nginx.

    python -m bench.room                        # about 25 minutes, as root
    python -m bench.room --visitors 60 120      # chosen room sizes only (one process)
"""

from __future__ import annotations

import argparse
import asyncio
import concurrent.futures
import contextlib
import json
import logging
import os
import random
import secrets
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

from bench.run import BENCH_DOCS, ROOT, Row, format_table, write_results
from digitnet.config import DRAWINGS_ENV
from digitnet.replicas import free_port
from digitnet.state.room import ROOMS_FILENAME, UNLIMITED, Rooms
from tests.chromium import ANSWER, CANVAS, CHROMIUM, CHROMIUM_FLAGS, PAD, mouse_strokes, phone_first_visit, start_app, wait_for_app
from tests.processes import command_of, cpu_seconds, descendants, rss_mb

STROKE_PERIOD = 1.5  # seconds between a visitor's strokes
DRAWING_PERIOD = 5.0  # seconds between a visitor's drawings: three strokes, then Send
PHASE_SECONDS = 15.0  # how long each room size draws, after every visitor has arrived
ECHO_APP = ROOT / "bench" / "echo_app.py"
CGROUP_CPU = Path("/sys/fs/cgroup/cpu")  # cgroup v1's CPU controller
REPLICA_CORES = 0.4  # each replica's share of a core, in the benchmark
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
    strokes: tuple[bytes, ...]  # a canvas that sends each stroke; none from a room's phone
    poll: bytes | None  # a fragment's timed rerun (the sidebar's, the phone's prompt); the bare page has none
    poll_every: float = 10.0  # seconds between two of them, as the browser sent them
    send: bytes | None = None  # a room's phone: its Send, with the finished drawing

    def drawing(self, number: int) -> tuple[bytes, ...]:
        """The messages drawing `number` sends: each stroke, or one Send of a drawing of its own (a room
        stores a phone's same drawing once)."""
        return (varied_send(self.send, number),) if self.send else self.strokes


DESKTOP = {"width": 1400, "height": 1100}
PHONE = {"width": 390, "height": 844}
PROJECTOR = {"width": 1280, "height": 720}


def record(browser, url: str, viewport: dict = DESKTOP) -> Recording:
    """Draw RECORDED_STROKES on the page at `url` in `browser` and keep the rerun messages it sends."""
    from streamlit.proto.BackMsg_pb2 import BackMsg

    sent: list[bytes] = []
    sent_at: list[float] = []

    def keep(frame) -> None:
        sent.append(frame if isinstance(frame, bytes) else frame.encode())
        sent_at.append(time.monotonic())

    page = browser.new_page(viewport=viewport)
    page.on("websocket", lambda ws: ws.on("framesent", keep))
    page.goto(url, timeout=60_000)
    phone = "?room=" in url
    canvas = PAD if phone else CANVAS
    page.locator(canvas).wait_for(timeout=60_000)
    page.wait_for_timeout(11_000)  # long enough for two of the phone's prompt polls, one of the sidebar's
    for number, points in enumerate(RECORDED_STROKES, start=1):
        before = len(sent)
        scale = page.locator(canvas).bounding_box()["width"] / 280  # the phone form shows the canvas larger
        mouse_strokes(page, [points], scale, steps=6, canvas=canvas)
        if phone:
            continue  # the phone reads it itself
        page.locator(ANSWER).wait_for(timeout=30_000)
        deadline = time.monotonic() + 10
        while len(canvas_reruns(sent[before:])) < 1 and time.monotonic() < deadline:
            page.wait_for_timeout(50)
    if phone:
        page.get_by_role("button", name="Send to the screen").click()
        page.get_by_text("is on the screen").wait_for(timeout=30_000)
    page.close()
    messages = [(raw, at, BackMsg.FromString(raw)) for raw, at in zip(sent, sent_at)]
    reruns = [(raw, at, msg.rerun_script) for raw, at, msg in messages if msg.WhichOneof("type") == "rerun_script"]
    polls = [(raw, at) for raw, at, rerun in reruns if rerun.is_auto_rerun]
    strokes = canvas_reruns(sent)
    sends = [raw for raw, _, rerun in reruns if sent_drawing(rerun)]
    if not reruns or (len(sends) != 1 if phone else len(strokes) < len(RECORDED_STROKES)):
        raise RuntimeError(f"recorded {len(strokes)} strokes and {len(sends)} sends from {url}")
    gaps = [later - earlier for (_, earlier), (_, later) in zip(polls, polls[1:])]
    return Recording(load=reruns[0][0], strokes=tuple(strokes[:len(RECORDED_STROKES)]),
                     poll=polls[0][0] if polls else None,
                     poll_every=statistics.median(gaps) if gaps else Recording.poll_every,
                     send=sends[0] if phone else None)


def sent_drawing(rerun) -> str | None:
    """The drawing a room phone's Send carries in `rerun` (a RerunScript), as its data URL; None for any
    other run."""
    for widget in rerun.widget_states.widgets:
        if widget.WhichOneof("value") == "json_trigger_value":
            for event in json.loads(widget.json_trigger_value) or []:
                if isinstance(event, dict) and event.get("event") == "send":
                    return event.get("value")
    return None


def varied_send(send: bytes, number: int) -> bytes:
    """The recorded Send, its drawing moved `number` % 9 pixels to the right and down (a drawing of its
    own, as each of a phone's is)."""
    import base64
    import io

    from PIL import Image
    from streamlit.proto.BackMsg_pb2 import BackMsg

    message = BackMsg.FromString(send)
    widget = next(w for w in message.rerun_script.widget_states.widgets if w.WhichOneof("value") == "json_trigger_value")
    events = json.loads(widget.json_trigger_value)
    for event in events:
        if event.get("event") == "send":
            image = Image.open(io.BytesIO(base64.b64decode(event["value"].split(",", 1)[1])))
            moved = Image.new(image.mode, image.size, (0, 0, 0, 255))
            moved.paste(image.crop((0, 0, image.width - number % 9, image.height - number % 9)),
                        (number % 9, number % 9))
            out = io.BytesIO()
            moved.save(out, format="PNG")
            event["value"] = "data:image/png;base64," + base64.b64encode(out.getvalue()).decode()
    widget.json_trigger_value = json.dumps(events)
    return message.SerializeToString()


def canvas_reruns(sent: list[bytes]) -> list[bytes]:
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
    cpu_ms_per_drawing: float = float("nan")  # the server's, over the drawing (not the arrivals)
    reader_cpu_ms_per_drawing: float = 0.0  # its drawing readers' (digitnet.reading.reader), over the same
    errors: list[str] = field(default_factory=list)

    def percentile(self, q: float) -> float:
        return float(np.percentile(self.latencies_ms, q)) if self.latencies_ms else float("nan")


class RerunFailed(Exception):
    """A rerun ended with an exception on the page, an error status, or no answer in time."""


async def connect(url: str, source: str | None = None, cookie: str = ""):
    """A new session on the page at `url`, as a browser tab opens one: from the address `source` (one of
    127.0.0.0/8) when given, with `cookie` (a replica's sticky-session cookie) when given."""
    import websockets

    return await websockets.connect(url.replace("http://", "ws://") + "/_stcore/stream", subprotocols=["streamlit"],
                                    max_size=None, open_timeout=30, local_addr=(source, 0) if source else None,
                                    additional_headers={"Cookie": cookie} if cookie else None)


async def rerun(ws, message: bytes, timeout: float = 60) -> dict:
    """Send one rerun message; read until its run ends. What the page showed: its alerts, exceptions
    and finishing status."""
    from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

    await ws.send(message)
    shown = {"alerts": [], "exceptions": [], "finished": None}
    async with asyncio.timeout(timeout):
        while shown["finished"] is None:
            msg = ForwardMsg.FromString(await ws.recv())
            if msg.WhichOneof("type") == "delta":
                element = msg.delta.new_element
                if element.WhichOneof("type") == "alert":
                    shown["alerts"].append(element.alert.body)
                elif element.WhichOneof("type") == "exception":
                    shown["exceptions"].append(element.exception.message)
            elif msg.WhichOneof("type") == "script_finished":
                shown["finished"] = msg.script_finished
    return shown


async def rerun_ok(ws, message: bytes, timeout: float) -> None:
    """Send one rerun message and read until its run ends; RerunFailed unless it ran without an error."""
    from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

    shown = await rerun(ws, message, timeout)
    if shown["exceptions"]:
        raise RerunFailed(f"exception on the page: {shown['exceptions'][0][:200]}")
    if shown["finished"] not in (ForwardMsg.FINISHED_SUCCESSFULLY, ForwardMsg.FINISHED_FRAGMENT_RUN_SUCCESSFULLY):
        raise RerunFailed(f"rerun ended with status {shown['finished']}")


def _route_cookie(url: str) -> str:
    """The cookies a browser gets with the page (nginx's sticky-session cookie among them)."""
    with urllib.request.urlopen(url, timeout=30) as response:
        cookies = response.headers.get_all("Set-Cookie") or []
    return "; ".join(cookie.split(";", 1)[0] for cookie in cookies)


def phone_address(number: int) -> str:
    """The loopback address (127.0.0.0/8) phone `number` of a room talks from: each its own, as on a
    room's Wi-Fi, so that nginx's limits per address (deploy/nginx.conf) see a room, not one client."""
    return f"127.0.{1 + number // 250}.{1 + number % 250}"


async def visit(url: str, recording: Recording, room: "Room", rng: random.Random, source: str | None = None,
                answer_timeout: float = 30.0) -> None:
    """One visitor, from the address `source`: arrive, wait for the room to fill, then draw a recorded
    digit every DRAWING_PERIOD until the room ends, its messages STROKE_PERIOD apart (a phone's one Send
    after its three strokes' time), polling as the page does; each message's time to its answer is kept."""
    import websockets

    await asyncio.sleep(rng.uniform(0, room.arrival_seconds))
    try:
        cookie = await asyncio.to_thread(_route_cookie, url)
        async with await connect(url, source, cookie=cookie) as ws:
            await rerun_ok(ws, recording.load, answer_timeout)
            room.arrived()
            await room.full.wait()
            next_poll = time.monotonic() + rng.uniform(0, recording.poll_every)
            await asyncio.sleep(rng.uniform(0, DRAWING_PERIOD))
            number = rng.randrange(1000)
            while time.monotonic() < room.until:
                drawing_started = time.monotonic()
                if recording.send:
                    await asyncio.sleep(STROKE_PERIOD * (len(RECORDED_STROKES) - 1))  # drawn in the phone
                for message in recording.drawing(number):
                    started = time.monotonic()
                    await rerun_ok(ws, message, answer_timeout)
                    room.result.latencies_ms.append((time.monotonic() - started) * 1000)
                    if recording.poll is not None and time.monotonic() >= next_poll:
                        await rerun_ok(ws, recording.poll, answer_timeout)
                        room.result.polls += 1
                        next_poll += recording.poll_every
                    await asyncio.sleep(max(started + STROKE_PERIOD - time.monotonic(), 0))
                number += 1
                await asyncio.sleep(max(drawing_started + DRAWING_PERIOD - time.monotonic(), 0))
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
    await asyncio.gather(*(visit(url, recording, room, rng, phone_address(i)) for i, rng in enumerate(rngs)))
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
            async with await connect(url) as ws:
                await rerun_ok(ws, recording.load, 60)
                await rerun_ok(ws, recording.drawing(0)[0], 60)
                drawn.append(1)
                await hold.wait()
        except (RerunFailed, TimeoutError, OSError, websockets.WebSocketException) as exc:
            errors.append(f"{type(exc).__name__}: {exc}")

    await asyncio.gather(*(one() for _ in range(visitors)))


def machine_cpu_seconds() -> tuple[float, float]:
    """The CPU seconds all this machine's cores have been busy, and the seconds it has been up, from /proc/stat
    and /proc/uptime: how many cores a stretch of time kept busy, load simulator and browser included."""
    fields = [int(f) for f in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + fields[4]  # idle and waiting for I/O
    busy = (sum(fields[:8]) - idle) / os.sysconf("SC_CLK_TCK")
    return busy, float(Path("/proc/uptime").read_text().split()[0])


def streamlit_pids(root: int) -> list[int]:
    """The `streamlit run` processes at or under `root`: what serves the page (nginx aside)."""
    return [pid for pid in descendants(root) if "streamlit" in " ".join(command_of(pid)) and "run" in command_of(pid)]


@dataclass
class PageServer:
    """A running page: one `streamlit run`, or `python -m digitnet serve` with its replicas."""

    process: subprocess.Popen
    url: str

    def pids(self) -> list[int]:
        return streamlit_pids(self.process.pid)

    def reader_pids(self) -> list[int]:
        """The child processes that read the page's drawings beside it (digitnet.reading.reader)."""
        return [pid for pid in descendants(self.process.pid) if "digitnet.reading.reader" in command_of(pid)]

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
    return PageServer(process, wait_for_app(port, process))


@contextlib.contextmanager
def confined(server: PageServer, cores: float):
    """Each replica of `server` in a CPU cgroup of its own, `cores` of a core each, while the block runs;
    a replica's drawing reader, started from it, shares its cgroup. Needs root."""
    groups: list[Path] = []
    try:
        for number, pid in enumerate(server.pids()):
            group = CGROUP_CPU / f"digitnet-bench-{os.getpid()}-{number}"
            try:
                group.mkdir()
            except OSError as exc:
                raise RuntimeError(f"cannot make a CPU cgroup under {CGROUP_CPU} ({exc}): run the room benchmark "
                                   "as root, on a machine with cgroup v1's cpu controller") from exc
            groups.append(group)
            period = int((group / "cpu.cfs_period_us").read_text())
            (group / "cpu.cfs_quota_us").write_text(str(int(cores * period)))
            for member in [pid, *descendants(pid)]:
                (group / "cgroup.procs").write_text(str(member))
        yield
    finally:
        for group in groups:
            for member in (group / "cgroup.procs").read_text().split():
                with contextlib.suppress(OSError):  # ended meanwhile
                    (CGROUP_CPU / "cgroup.procs").write_text(member)
            group.rmdir()


def start_serve(env: dict[str, str], replicas: int) -> PageServer:
    port = free_port()
    process = subprocess.Popen([sys.executable, "-m", "digitnet", "serve", "--replicas", str(replicas),
                                "--port", str(port)], cwd=ROOT, env=env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = wait_for_app(port, process)
    deadline = time.monotonic() + 60
    while len(streamlit_pids(process.pid)) < replicas and time.monotonic() < deadline:
        time.sleep(0.2)
    return PageServer(process, url)


@dataclass
class Wall:
    """A room's wall open in Chromium on a projector, and the room's store, to send to it directly."""

    page: object  # Playwright's Page
    code: str
    rooms: Rooms

    def send_to_tile_ms(self, sends: int = 4) -> list[float]:
        """Send `sends` drawings as new phones; for each, the time until the wall counts it (its tile may be
        off the wall already in a big room, where newer drawings push it out of the 24 shown)."""
        x = np.zeros((28, 28), dtype=np.float32)
        x[4:24, 13:15] = 1.0  # a 1
        delays = []
        for _ in range(sends):
            sent = time.monotonic()
            self.rooms.send(self.code, f"probe-{secrets.token_hex(4)}", x, 1, 0.9)
            stored = self.rooms.state(self.code, tiles=0).drawings  # the probe's, and any sent meanwhile
            self.page.wait_for_function(
                """stored => {
                    const counters = document.querySelector(".st-key-wall .room-counters");
                    const found = counters && counters.innerText.replace(/,/g, "").match(/drawings: (\\d+)/);
                    return found && Number(found[1]) >= stored;
                }""", arg=stored, timeout=30_000)
            delays.append((time.monotonic() - sent) * 1000)
        return delays


def open_wall(browser, url: str, drawings_dir: Path) -> Wall:
    """A projector that opens the page in presenter mode and starts a room."""
    page = browser.new_page(viewport=PROJECTOR)
    page.goto(f"{url}/?presenter=1", timeout=60_000)
    page.get_by_role("button", name="Start a room").click(timeout=60_000)
    code = page.locator(".room-code").inner_text(timeout=30_000)
    return Wall(page, code, Rooms(drawings_dir / ROOMS_FILENAME, UNLIMITED))


def room_rows(label: str, server: PageServer, recording: Recording, sizes: list[int],
              floor: dict[int, RoomResult] | None, wall: Wall | None = None
              ) -> tuple[list[Row], dict[int, RoomResult]]:
    """Each room size against `server`: p50, p95, errors and CPU per drawing (beside `floor`'s), and with
    a `wall`, the time from a send to its tile while the room draws."""
    rows, results = [], {}
    for visitors in sizes:
        pids = server.pids()
        start = cpu_seconds(pids)
        at_full: dict = {}  # the CPU counters once everyone has arrived, before anyone draws
        full = threading.Event()

        def filled() -> None:
            readers = server.reader_pids()  # a reader starts at the page's first drawing
            at_full.update(server=cpu_seconds(pids), readers=readers, reader=cpu_seconds(readers),
                           machine=machine_cpu_seconds())
            full.set()

        drawing = concurrent.futures.ThreadPoolExecutor(1)
        running = drawing.submit(run_room, server.url, recording, visitors, on_full=filled)
        delays = []
        if wall is not None:
            full.wait(120)
            delays = wall.send_to_tile_ms()
        result = running.result()
        drawing.shutdown()
        arrival_cpu = (at_full["server"] - start) * 1000 / visitors
        drawings = max(len(result.latencies_ms), 1) / len(recording.drawing(0))  # three strokes, or one Send
        (busy, up), (busy_at_full, up_at_full) = machine_cpu_seconds(), at_full["machine"]
        busy_cores = (busy - busy_at_full) / max(up - up_at_full, 1e-9)
        readers = at_full["readers"]
        result.reader_cpu_ms_per_drawing = (cpu_seconds(readers) - at_full["reader"]) * 1000 / drawings
        cpu = result.cpu_ms_per_drawing = (cpu_seconds(pids) - at_full["server"]) * 1000 / drawings
        results[visitors] = result
        base = floor.get(visitors) if floor else None
        log.info("%s, %d phones: p50 %.0f ms, p95 %.0f ms, %d messages, %d polls, %d errors, "
                 "%.1f ms CPU/drawing (+ %.1f ms its reader), %.0f ms CPU/arrival, machine %.2f cores busy%s", label,
                 visitors, result.percentile(50), result.percentile(95), len(result.latencies_ms), result.polls,
                 len(result.errors), cpu, result.reader_cpu_ms_per_drawing, arrival_cpu, busy_cores,
                 f", send to tile {statistics.median(delays):.0f} ms" if delays else "")
        for error in result.errors[:3]:
            log.info("  error: %s", error)
        rows.append(Row(f"{label}, {visitors} phones: p50", result.percentile(50), "ms",
                        base.percentile(50) if base else None, "ms bare canvas" if base else ""))
        rows.append(Row(f"{label}, {visitors} phones: p95", result.percentile(95), "ms",
                        base.percentile(95) if base else None, "ms bare canvas" if base else ""))
        rows.append(Row(f"{label}, {visitors} phones: session errors", len(result.errors), "",
                        target="0", met=not result.errors))
        rows.append(Row(f"{label}, {visitors} phones: server CPU per drawing", cpu, "ms",
                        base.cpu_ms_per_drawing if base else None, "ms bare canvas" if base else ""))
        rows.append(Row(f"{label}, {visitors} phones: the machine's cores busy while they drew", busy_cores,
                        f"of {os.cpu_count()}"))
        if readers:
            rows.append(Row(f"{label}, {visitors} phones: its drawing reader's CPU per drawing",
                            result.reader_cpu_ms_per_drawing, "ms"))
        if delays:
            rows.append(Row(f"{label}, {visitors} phones: wall, send to tile (median)", statistics.median(delays),
                            "ms", target="<= 2 s", met=statistics.median(delays) <= 2000))
    return rows, results


def capacity(results: dict[int, RoomResult], p95_ms: float = 250.0) -> int:
    """The most phones that drew with a p95 of at most `p95_ms` and no errors (0 when none did)."""
    held = [n for n, r in results.items() if r.percentile(95) <= p95_ms and not r.errors]
    return max(held, default=0)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--visitors", type=int, nargs="+", default=[60, 120, 180, 240, 300, 360],
                        help="room sizes on one process: up to where the bare canvas and the phones stop keeping up")
    parser.add_argument("--replica-visitors", type=int, nargs="+", default=[20, 40, 60, 80, 100, 120, 140, 160],
                        help=f"room sizes through `digitnet serve`, each replica on {REPLICA_CORES} of a core")
    parser.add_argument("--replicas", type=int, default=2, help="replicas for the second `digitnet serve`")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    rows = measure(args.visitors, args.replica_visitors, args.replicas)
    print(format_table(rows))
    write_results(rows, ROOT / "bench" / "room-results.json", table=BENCH_DOCS / "room.md")
    return 0


def measure(sizes: list[int], replica_sizes: list[int], replicas: int) -> list[Row]:
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory() as workdir, sync_playwright() as playwright:
        drawings_dir = Path(workdir) / "drawings"
        env = {**os.environ, "DIGITNET_RETRAINED_DIR": f"{workdir}/retrained", DRAWINGS_ENV: str(drawings_dir)}
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
        rows: list[Row] = []

        echo = start_one(env, ECHO_APP)
        try:
            echo_rows, floor = room_rows("bare canvas, 1 process", echo, record(browser, echo.url, PHONE), sizes, None)
        finally:
            echo.stop()
        rows += echo_rows

        held: dict[str, dict[int, RoomResult]] = {}
        setups = [("1 process", lambda: start_one(env), sizes),
                  ("serve, 1 replica", lambda: start_serve(env, 1), replica_sizes),
                  (f"serve, {replicas} replicas", lambda: start_serve(env, replicas), replica_sizes)]
        for label, start, setup_sizes in setups:
            server = start()
            try:
                wall = open_wall(browser, server.url, drawings_dir)
                recording = record(browser, f"{server.url}/?room={wall.code}", PHONE)
                if label == "1 process":
                    rows += first_visit_rows(browser, server.url, wall.code, env)
                    phones = recording
                    setup_rows, held[label] = room_rows(f"phones, {label}", server, recording, sizes, floor, wall)
                else:  # each replica on REPLICA_CORES of a core, the simulator outside
                    with confined(server, REPLICA_CORES):
                        setup_rows, held[label] = room_rows(f"phones, {label} ({REPLICA_CORES} core each)", server,
                                                            recording, setup_sizes, None, wall)
                rows += setup_rows
                wall.rooms.end(wall.code)  # the projector's address may hold only a few rooms open at once
                wall.page.close()
            finally:
                server.stop()
        rows += memory_rows(env, phones)
        rows += churn_rows(env, phones)
        browser.close()
    return target_rows(floor, held, replicas) + rows


def first_visit_rows(browser, url: str, code: str, env: dict[str, str]) -> list[Row]:
    """A new phone's first visit on a crowded Wi-Fi (tests/chromium.ROOM_WIFI): straight from one
    process, as `make run` serves it, and through `digitnet serve`'s nginx (its room is in the same store)."""
    served = start_serve(env, 1)
    try:
        direct = [phone_first_visit(browser, f"{url}/?room={code}") for _ in range(3)]
        proxied = [phone_first_visit(browser, f"{served.url}/?room={code}") for _ in range(3)]
    finally:
        served.stop()
    seconds = statistics.median(v.seconds for v in proxied)
    megabytes = statistics.median(v.bytes_on_wire for v in proxied) / 1e6
    log.info("a phone's first visit: %.2f MB in %.2f s through nginx, %.2f MB in %.2f s from one process",
             megabytes, seconds, statistics.median(v.bytes_on_wire for v in direct) / 1e6,
             statistics.median(v.seconds for v in direct))
    return [Row("TARGET a phone's first visit, bytes on the wire", megabytes, "MB",
                statistics.median(v.bytes_on_wire for v in direct) / 1e6, "MB from one process",
                "<= 1.2 MB", megabytes <= 1.2),
            Row("TARGET a phone's first visit, canvas shown after", seconds, "s",
                statistics.median(v.seconds for v in direct), "s from one process", "<= 3.5 s", seconds <= 3.5)]


def target_rows(floor: dict[int, RoomResult], held: dict[str, dict[int, RoomResult]], replicas: int) -> list[Row]:
    """The issue's targets: phones held at p95 <= 250 ms, against the bare canvas in the same run."""
    bare = capacity(floor)
    one, served_one = capacity(held["1 process"]), capacity(held["serve, 1 replica"])
    served = capacity(held[f"serve, {replicas} replicas"])
    largest = max(held["1 process"])
    cpu, bare_cpu = held["1 process"][largest].cpu_ms_per_drawing, floor[largest].cpu_ms_per_drawing
    log.info("capacity at p95 <= 250 ms: bare canvas %d, phones on 1 process %d, serve 1 replica %d, "
             "%d replicas %d", bare, one, served_one, replicas, served)
    return [
        Row("TARGET phones held by 1 process (p95 <= 250 ms)", one, "phones", bare, "bare canvas", ">= 3x bare",
            bare > 0 and one >= 3 * bare),
        Row(f"TARGET phones held by serve, {replicas} replicas of {REPLICA_CORES} core", served, "phones", served_one,
            "serve, 1 replica", ">= 1.8x 1 replica", served_one > 0 and served >= 1.8 * served_one),
        Row(f"server CPU per drawing, 1 process ({largest} phones)", cpu, "ms", bare_cpu, "ms bare canvas"),
    ]


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
    reader = rss_mb(server.reader_pids())
    per_session = (held - before) / sessions
    log.info("memory: %.0f MB before, %.0f MB with %d sessions open: %.2f MB per session", before, held,
             sessions, per_session)
    return [Row(f"memory per open session ({sessions} open)", per_session, "MB", target="<= 2 MB",
                met=per_session <= 2),
            Row(f"replica RSS with {sessions} sessions open", held, "MB", before, "MB before them",
                "<= 300 MB", held <= 300),
            Row("  and its drawing reader's RSS", reader, "MB")]


if __name__ == "__main__":
    sys.exit(main())
