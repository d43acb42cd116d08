"""A room full of strangers: forged messages and floods against a real page, measured.

    python -m bench.strangers      # part of make bench; about 2 minutes; needs DIGITNET_MNIST and Chromium

Records what Chromium sends while drawing on the page, alters it as an attacker would (a giant PNG as
the canvas' value, values that are not drawings, a message over Streamlit's limit, five sessions
sending 150 reruns a second) and sends it over a real WebSocket beside a normal visitor; prints the
server's added memory and the visitor's stroke-to-answer against the same visitor idle, same run.
"""

from __future__ import annotations

import asyncio
import base64
import io
import json
import logging
import os
import statistics
import struct
import sys
import tempfile
import threading
import time
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from bench.room import PHONE, Recording, canvas_reruns, connect, record, rerun, run_async, sent_drawing, start_one
from bench.run import BENCH_DOCS, ROOT, Row, format_table, write_results
from digitnet.config import DRAW_AHEAD_ENV, DRAWINGS_ENV
from digitnet.state.room import (BUSY, CODE_ALPHABET, CODE_LENGTH, MAX_OPEN_ROOMS, ROOMS_FILENAME, UNLIMITED,
                                   RoomLimits, Rooms)
from tests.chromium import CHROMIUM, CHROMIUM_FLAGS, PAD, draw
from tests.processes import cpu_seconds, rss_mb

log = logging.getLogger("bench.strangers")

# The bound on what one forged message may cost the server, in resident memory.
MEMORY_BOUND_MB = 250
REFUSED = "That drawing could not be read"
FLOODERS, FLOOD_RATE, FLOOD_SECONDS = 5, 150, 5.0
ROOM_FLOOD_SESSIONS = 200


def png_of_zeros(width: int, height: int) -> bytes:
    """A valid PNG of `width` x `height` black pixels, made without holding them: a few hundred KB."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    packer = zlib.compressobj(9)
    row = bytes(width + 1)  # filter byte 0, then grey 0s
    body = b"".join(packer.compress(row) for _ in range(height)) + packer.flush()
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", body) + chunk(b"IEND", b"")


def drawing_png(side: int) -> bytes:
    """A real drawing of a 1 on a black canvas of `side` x `side` pixels."""
    image = Image.new("RGBA", (side, side), (0, 0, 0, 255))
    ImageDraw.Draw(image).line([(side // 2, side // 8), (side // 2, side * 7 // 8)], fill="white", width=side // 14)
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()


def forged(stroke: bytes, value: str) -> bytes:
    """The recorded stroke's message with the canvas' value replaced by `value`."""
    from streamlit.proto.BackMsg_pb2 import BackMsg

    message = BackMsg.FromString(stroke)
    widget = next(w for w in message.rerun_script.widget_states.widgets if "canvas" in w.id)
    widget.json_value = value
    return message.SerializeToString()


def canvas_value(stroke: bytes, png: bytes | None = None, data_url: str | None = None) -> str:
    """The recorded canvas value, its drawing replaced by `png` (or any `data_url`)."""
    from streamlit.proto.BackMsg_pb2 import BackMsg

    widget = next(w for w in BackMsg.FromString(stroke).rerun_script.widget_states.widgets if "canvas" in w.id)
    value = json.loads(widget.json_value)
    value["drawing"]["data"] = data_url or "data:image/png;base64," + base64.b64encode(png).decode()
    return json.dumps(value)


@dataclass(frozen=True)
class SendRecording:
    """What Chromium sent while a phone joined a room, drew a 1 and pressed Send to the screen."""

    load: bytes  # the phone form's first run: the phone joins the room
    send: bytes  # the Send, with the drawing: the phone's strokes stay in the browser (ui/pad.js)


def record_send(browser, url: str) -> SendRecording:
    """Join the room at `url` (?room=CODE) on a phone-sized page, draw a 1, send it; keep the messages."""
    from streamlit.proto.BackMsg_pb2 import BackMsg

    sent: list[bytes] = []
    page = browser.new_page(viewport=PHONE)
    page.on("websocket", lambda ws: ws.on("framesent", lambda frame: sent.append(
        frame if isinstance(frame, bytes) else frame.encode())))
    page.goto(url, timeout=60_000)
    page.locator(PAD).wait_for(timeout=60_000)
    draw(page, "1", scale=page.locator(PAD).bounding_box()["width"] / 280, canvas=PAD)
    page.get_by_role("button", name="Send to the screen").click()
    page.get_by_text("is on the screen").wait_for(timeout=30_000)
    page.close()
    reruns = [raw for raw in sent if BackMsg.FromString(raw).WhichOneof("type") == "rerun_script"]
    send = next(raw for raw in reruns if sent_drawing(BackMsg.FromString(raw).rerun_script))
    return SendRecording(load=reruns[0], send=send)


@dataclass
class RoomFlood:
    """What a flood of new sessions, each sending one drawing to a room, was told."""

    sessions: int
    accepted: int = 0  # "... is on the screen"
    busy: int = 0  # told to wait: the room's or the address's limit
    other: list[str] = field(default_factory=list)  # anything else: errors, exceptions, no answer
    seconds: float = 0.0


def flood_a_room(url: str, recording: SendRecording, sessions: int, at_once: int, source: str) -> RoomFlood:
    """`sessions` new sessions from `source`, `at_once` at a time, each joining and sending a drawing, as
    a script that opens a new session for every drawing would; what they were told."""
    flood = RoomFlood(sessions)
    gate = asyncio.Semaphore(at_once)

    async def one() -> None:
        async with gate:
            try:
                ws = await connect(url, source)
                try:
                    await rerun(ws, recording.load)
                    shown = await rerun(ws, recording.send)
                finally:
                    await ws.close()
            except Exception as exc:  # a refused or dropped connection is what the flood was told
                flood.other.append(f"{type(exc).__name__}: {exc}")
                return
            alerts = " | ".join(shown["alerts"])
            if "is on the screen" in alerts:
                flood.accepted += 1
            elif BUSY.split(":")[0] in alerts:
                flood.busy += 1
            else:
                flood.other.append(alerts or "; ".join(shown["exceptions"]) or "no answer")

    async def scene() -> None:
        started = time.monotonic()
        await asyncio.gather(*(one() for _ in range(sessions)))
        flood.seconds = time.monotonic() - started

    run_async(scene())
    return flood


class PeakMemory:
    """The server's resident memory, sampled every 20 ms from a thread, while the block runs."""

    def __init__(self, pids: list[int]):
        self.pids = pids
        self.before = self.peak = rss_mb(pids)
        self._done = threading.Event()

    def __enter__(self) -> "PeakMemory":
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        time.sleep(1.0)  # what a refused message leaves behind counts too
        self._done.set()
        self._thread.join()

    def _sample(self) -> None:
        while not self._done.is_set():
            self.peak = max(self.peak, rss_mb(self.pids))
            time.sleep(0.02)

    @property
    def added_mb(self) -> float:
        return self.peak - self.before


def attack_beside_a_visitor(server, recording: Recording, attack: bytes) -> tuple[dict, dict, PeakMemory]:
    """Open two sessions; send `attack` from one while the other draws; return what each saw and the
    server's memory."""
    async def both():
        attacker, visitor = await connect(server.url), await connect(server.url)
        try:
            for ws in (attacker, visitor):
                assert (await rerun(ws, recording.load))["finished"] is not None
            assert not (await rerun(visitor, recording.strokes[0]))["exceptions"]
            with PeakMemory(server.pids()) as memory:
                attacked, answered = await asyncio.gather(rerun(attacker, attack),
                                                          rerun(visitor, recording.strokes[1]))
            return attacked, answered, memory
        finally:
            await attacker.close()
            await visitor.close()

    return run_async(both())


def flood_beside_a_visitor(server, recording: Recording, flooders: int = FLOODERS, rate: float = FLOOD_RATE,
                           seconds: float = FLOOD_SECONDS) -> tuple[list[dict], list[float], int]:
    """`flooders` sessions sending `rate` reruns a second each for `seconds` while a visitor draws
    throughout; what the visitor saw, its strokes' times to answer (ms) and how many reruns were sent."""
    async def flood(ws, until: float) -> int:
        sent = 0
        while time.monotonic() < until:
            await ws.send(recording.strokes[sent % len(recording.strokes)])
            sent += 1
            await asyncio.sleep(1 / rate)
        return sent

    async def drain(ws) -> None:
        try:
            while True:
                await ws.recv()
        except Exception:  # closed at the end: nothing more to read
            return

    async def scene():
        crowd = [await connect(server.url) for _ in range(flooders)]
        visitor = await connect(server.url)
        try:
            for ws in (*crowd, visitor):
                await rerun(ws, recording.load)
            until = time.monotonic() + seconds
            drains = [asyncio.create_task(drain(ws)) for ws in crowd]
            floods = [asyncio.create_task(flood(ws, until)) for ws in crowd]
            answers, times = [], []
            while time.monotonic() < until:
                started = time.monotonic()
                answers.append(await rerun(visitor, recording.strokes[len(answers) % len(recording.strokes)], 60))
                times.append((time.monotonic() - started) * 1000)
                await asyncio.sleep(0.5)
            sent = sum(await asyncio.gather(*floods))
            for task in drains:
                task.cancel()
            return answers, times, sent
        finally:
            for ws in (*crowd, visitor):
                await ws.close()

    return run_async(scene())


def idle_stroke_ms(server, recording: Recording, strokes: int = 10) -> list[float]:
    """A lone visitor's strokes' times to answer, in ms."""
    async def alone():
        ws = await connect(server.url)
        try:
            await rerun(ws, recording.load)
            times = []
            for n in range(strokes):
                started = time.monotonic()
                await rerun(ws, recording.strokes[n % len(recording.strokes)])
                times.append((time.monotonic() - started) * 1000)
                await asyncio.sleep(0.5)
            return times
        finally:
            await ws.close()

    return run_async(alone())


def guesses_per_second(url: str, load: bytes, workers: int = 4, seconds: float = 10.0) -> float:
    """Room codes a script tries a second: `workers` sessions at once, each replaced by a new one every
    12 tries (a session's run budget), each try the phone form's first run with another code."""
    import random

    from streamlit.proto.BackMsg_pb2 import BackMsg

    rng = random.Random(0)

    def guess() -> bytes:
        message = BackMsg.FromString(load)
        message.rerun_script.query_string = "room=" + "".join(rng.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))
        return message.SerializeToString()

    async def worker(until: float) -> int:
        tries = 0
        while time.monotonic() < until:
            ws = await connect(url)
            try:
                for _ in range(12):
                    shown = await rerun(ws, guess())
                    assert any("no open room" in alert for alert in shown["alerts"]), shown
                    tries += 1
            finally:
                await ws.close()
        return tries

    async def scene() -> float:
        started = time.monotonic()
        tries = await asyncio.gather(*(worker(started + seconds) for _ in range(workers)))
        return sum(tries) / (time.monotonic() - started)

    return run_async(scene())


def fill_room(rooms: Rooms, code: str, drawings: int) -> None:
    """Put `drawings` drawings in room `code` at once, as a full day of phones would have: written in one
    transaction with the wall's counters, since sending 300,000 one by one takes a quarter of an hour."""
    pixels = np.zeros(784, np.uint8).tobytes()
    with rooms.database.transaction(write=True) as db:  # SQLite's or PostgreSQL's
        db.executemany("INSERT INTO drawings (room, phone, sent, prompt, answer, confidence, pixels)"
                       " VALUES (?, ?, 0, 7, ?, 0.9, ?)",
                       ((code, f"filler-{n % 500}", n % 10, pixels) for n in range(drawings)))
        db.execute("INSERT INTO tallies SELECT room, prompt, answer, COUNT(*) FROM drawings WHERE room = ?"
                   " GROUP BY room, prompt, answer ON CONFLICT (room, prompt, answer) DO UPDATE SET drawings ="
                   " excluded.drawings", (code,))


def store_rows(folder: Path, small: int = 100, large: int = 300_000, looks: int = 20) -> list[Row]:
    """The wall's refresh and one send, in a room of `small` drawings and in one of `large`."""
    rooms = Rooms(folder / ROOMS_FILENAME, UNLIMITED)
    times: dict[int, tuple[float, float]] = {}
    for size in (small, large):
        code = rooms.open(now=time.time())
        fill_room(rooms, code, size)
        refresh, send = [], []
        x = np.zeros((28, 28), np.float32)
        for look in range(looks):
            started = time.perf_counter()
            rooms.state(code, tiles=60)
            refresh.append((time.perf_counter() - started) * 1000)
            started = time.perf_counter()
            rooms.send(code, f"probe-{look}", x, 1, 0.9)
            send.append((time.perf_counter() - started) * 1000)
        times[size] = statistics.median(refresh), statistics.median(send)
    return [
        Row(f"wall refresh at {large:,} drawings, median", times[large][0], "ms", times[small][0],
            f"ms at {small}", "about the same (<= 2x)", times[large][0] <= 2 * times[small][0]),
        Row(f"one send at {large:,} drawings, median", times[large][1], "ms", times[small][1],
            f"ms at {small}", "about the same (<= 2x)", times[large][1] <= 2 * times[small][1]),
    ]


def room_flood_rows(browser, folder: Path) -> list[Row]:
    """New sessions from one address, each sending a drawing, against a room, beside a real phone."""
    server = start_one({**os.environ, DRAW_AHEAD_ENV: "0", DRAWINGS_ENV: str(folder)})
    try:
        code = Rooms(folder / ROOMS_FILENAME).open()
        recording = record_send(browser, f"{server.url}/?room={code}")
        started = cpu_seconds(server.pids())
        flood = flood_a_room(server.url, recording, sessions=ROOM_FLOOD_SESSIONS, at_once=50, source="127.0.0.2")
        cpu = (cpu_seconds(server.pids()) - started) / flood.seconds
        phone = record_send(browser, f"{server.url}/?room={code}")  # a real phone right after: served
        state = Rooms(folder / ROOMS_FILENAME).state(code)
        guesses = guesses_per_second(server.url, recording.load)
    finally:
        server.stop()
    limits = RoomLimits()
    tried = flood.sessions / flood.seconds
    return [
        Row(f"room flood, {ROOM_FLOOD_SESSIONS} new sessions from one address: taken", flood.accepted / flood.seconds,
            "drawings/s", tried, "sent/s", f"<= {limits.address_burst:.0f} + {limits.address_rate:.0f}/s",
            flood.accepted <= limits.address_burst + limits.address_rate * flood.seconds + 1),
        Row("  told to wait", flood.busy, "", target="the rest", met=flood.busy + flood.accepted == flood.sessions),
        Row("  the room's people afterwards", state.people, "", flood.accepted + 2, "phones that sent",
            "phones that sent", state.people == flood.accepted + 2 and bool(phone.send)),
        Row("  server CPU during the flood", cpu * 100, "%"),
        Row("room codes a script tries, 4 sessions at once", guesses, "codes/s"),
        Row(f"  to find one of {MAX_OPEN_ROOMS} open rooms at that rate", _days_to_find(guesses), "days",
            _days_to_find(guesses, code_length=4), "days with 4 letters", "days", _days_to_find(guesses) >= 2),
    ]


def _days_to_find(per_second: float, code_length: int = CODE_LENGTH) -> float:
    """The mean time to hit one of MAX_OPEN_ROOMS codes, guessing at `per_second`, in days."""
    return len(CODE_ALPHABET) ** code_length / MAX_OPEN_ROOMS / per_second / 86_400


def measure() -> list[Row]:
    from playwright.sync_api import sync_playwright

    server = start_one({**os.environ, DRAW_AHEAD_ENV: "0"})
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
            recording = record(browser, server.url)
            browser.close()
        idle = statistics.median(idle_stroke_ms(server, recording))
        rows = []
        stroke = recording.strokes[0]
        attacks = {
            "canvas value: a 13000x13000 PNG": forged(stroke, canvas_value(stroke, png_of_zeros(13000, 13000))),
            "canvas value: a 6000x6000 drawing": forged(stroke, canvas_value(stroke, drawing_png(6000))),
            "canvas value: a JPEG": forged(stroke, canvas_value(stroke, data_url="data:image/jpeg;base64,/9j/4AAQ")),
        }
        for name, attack in attacks.items():
            started = time.monotonic()
            attacked, answered, memory = attack_beside_a_visitor(server, recording, attack)
            refused = any(REFUSED in alert for alert in attacked["alerts"]) and not attacked["exceptions"]
            rows.append(Row(f"{name}: server memory added", memory.added_mb, "MB", target=f"<= {MEMORY_BOUND_MB} MB, "
                            f"refused with a reason: {'yes' if refused else 'NO'}",
                            met=memory.added_mb <= MEMORY_BOUND_MB and refused))
            log.info("%s: %.1f s", name, time.monotonic() - started)
        answers, times, sent = flood_beside_a_visitor(server, recording)
        flooded = statistics.median(times)
        rows.append(Row(f"{FLOODERS} sessions x {FLOOD_RATE} reruns/s: another's stroke, median", flooded, "ms",
                        idle, "ms idle, same visitor", "<= 2x idle", flooded <= 2 * idle))
        rows.append(Row("  reruns the flood sent", sent, ""))
    finally:
        server.stop()
    with tempfile.TemporaryDirectory() as folder:
        rows += store_rows(Path(folder) / "store")
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
            try:
                rows += room_flood_rows(browser, Path(folder) / "drawings")
            finally:
                browser.close()
    return rows


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    rows = measure()
    print(format_table(rows))
    write_results(rows, ROOT / "bench" / "strangers-results.json", table=BENCH_DOCS / "strangers.md")
    return 0


if __name__ == "__main__":
    sys.exit(main())
