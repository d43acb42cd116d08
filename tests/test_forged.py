"""What a stranger can send over the page's WebSocket: messages recorded from Chromium drawing on a
real server, then altered. Each is refused with a message, within a memory bound, while another
visitor's strokes are still answered."""

import asyncio
import base64
import json
import os
import struct
import threading
import time
import zlib

import pytest
from PIL import Image, ImageDraw

from bench.room import Recording, record, rss_mb, run_async, start_one
from test_browser import browser  # noqa: F401 (a fixture)

# The bound on what one forged message may cost the server, in resident memory.
MEMORY_BOUND_MB = 250
REFUSED = "That drawing could not be read"


@pytest.fixture(scope="module")
def server():
    page = start_one({**os.environ})
    yield page
    page.stop()


@pytest.fixture(scope="module")
def recording(browser, server) -> Recording:
    return record(browser, server.url)


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
    import io

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


async def connect(url: str):
    import websockets

    return await websockets.connect(url.replace("http://", "ws://") + "/_stcore/stream", subprotocols=["streamlit"],
                                    max_size=None, open_timeout=30)


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


@pytest.mark.parametrize("png", [png_of_zeros(13000, 13000), drawing_png(6000)], ids=["13000x13000", "6000x6000"])
def test_a_forged_giant_canvas_png_is_refused_unread(server, recording, png):
    attack = forged(recording.strokes[0], canvas_value(recording.strokes[0], png))
    attacked, answered, memory = attack_beside_a_visitor(server, recording, attack)
    assert any(REFUSED in alert for alert in attacked["alerts"]), attacked
    assert not attacked["exceptions"]
    assert memory.added_mb <= MEMORY_BOUND_MB, f"the server grew by {memory.added_mb:.0f} MB"
    assert not answered["exceptions"] and answered["finished"] is not None  # the other visitor still answered


@pytest.mark.parametrize("value", [
    '{"drawing": 5}',
    "not JSON at all",
    '{"drawing": {"data": "data:image/png;base64,!!!!"}}',
    '{"drawing": {"data": "data:image/jpeg;base64,/9j/4AAQSkZJRgABAQ"}}',
    '[1, 2, 3]',
], ids=["a number", "not json", "bad base64", "a jpeg", "a list"])
def test_a_canvas_value_that_is_not_a_drawing_gets_a_message_not_a_traceback(server, recording, value):
    attacked, answered, _ = attack_beside_a_visitor(server, recording, forged(recording.strokes[0], value))
    if value == "not JSON at all":
        # Streamlit itself parses a component's value before the page's script runs: the sender gets
        # its redacted error (client.showErrorDetails = "none"), never a traceback or a server path.
        assert attacked["exceptions"] and all("redacted" in e and ".py" not in e for e in attacked["exceptions"])
    else:
        assert not attacked["exceptions"], attacked["exceptions"]
        # A drawing that is not a PNG of the canvas is refused; a value with no drawing in it is no drawing yet.
        names_a_drawing = value.startswith('{"drawing"')
        assert any(REFUSED in alert for alert in attacked["alerts"]) == names_a_drawing, attacked
    assert attacked["finished"] is not None
    assert not answered["exceptions"] and answered["finished"] is not None


def test_a_message_over_streamlit_s_limit_is_refused_and_costs_little(server, recording):
    import websockets

    huge = forged(recording.strokes[0], json.dumps({"drawing": {"raw": {"objects": ["x" * 3_000_000]}}}))

    async def attack():
        attacker, visitor = await connect(server.url), await connect(server.url)
        try:
            await rerun(attacker, recording.load)
            await rerun(visitor, recording.load)
            with PeakMemory(server.pids()) as memory:
                with pytest.raises((websockets.ConnectionClosed, TimeoutError)):
                    await rerun(attacker, huge, timeout=20)
                answered = await rerun(visitor, recording.strokes[0])
            return answered, memory
        finally:
            await attacker.close()
            await visitor.close()

    answered, memory = run_async(attack())
    assert not answered["exceptions"] and answered["finished"] is not None
    assert memory.added_mb <= MEMORY_BOUND_MB


def test_a_flood_of_reruns_from_five_sessions_leaves_another_visitor_answered(server, recording):
    """Five sessions sending 150 reruns a second each, for five seconds; a sixth draws throughout."""
    async def flood(ws, until: float) -> int:
        sent = 0
        while time.monotonic() < until:
            await ws.send(recording.strokes[sent % len(recording.strokes)])
            sent += 1
            await asyncio.sleep(1 / 150)
        return sent

    async def drain(ws, until: float) -> None:
        try:
            async with asyncio.timeout(max(until - time.monotonic(), 0) + 5):
                while True:
                    await ws.recv()
        except (TimeoutError, Exception):
            return

    async def scene():
        flooders = [await connect(server.url) for _ in range(5)]
        visitor = await connect(server.url)
        try:
            for ws in (*flooders, visitor):
                await rerun(ws, recording.load)
            until = time.monotonic() + 5
            tasks = [asyncio.create_task(flood(ws, until)) for ws in flooders]
            drains = [asyncio.create_task(drain(ws, until)) for ws in flooders]
            answers = []
            while time.monotonic() < until:
                answers.append(await rerun(visitor, recording.strokes[len(answers) % 3], timeout=30))
            sent = sum(await asyncio.gather(*tasks))
            for task in drains:
                task.cancel()
            return answers, sent
        finally:
            for ws in (*flooders, visitor):
                await ws.close()

    answers, sent = run_async(scene())
    assert sent >= 5 * 150 * 2  # the flood was one (at least 40% of the asked rate got out)
    assert answers and all(a["finished"] is not None and not a["exceptions"] for a in answers)
