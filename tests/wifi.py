"""A Wi-Fi that can drop: a TCP relay on loopback between a browser and a page server, whose
connections can all be cut (as a phone that leaves the Wi-Fi loses them) and then let through again.
The DevTools protocol's "offline" does not close an open WebSocket; this does."""

import contextlib
import socket
import threading

from digitnet.replicas import free_port


class Wifi:
    """Relays 127.0.0.1:`port` to `target_port`; `drop()` closes every connection and refuses new ones,
    `restore()` takes them again. Its threads are daemons, and `close()` ends them."""

    def __init__(self, target_port: int):
        self.target_port = target_port
        self.port = free_port()
        self._up = threading.Event()
        self._up.set()
        self._open: set[socket.socket] = set()
        self._lock = threading.Lock()
        self._listener = socket.create_server(("127.0.0.1", self.port))
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:  # closed
                return
            if not self._up.is_set():
                client.close()
                continue
            try:
                upstream = socket.create_connection(("127.0.0.1", self.target_port))
            except OSError:
                client.close()
                continue
            with self._lock:
                self._open.update((client, upstream))
            for source, sink in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(source, sink), daemon=True).start()

    def _pipe(self, source: socket.socket, sink: socket.socket) -> None:
        with contextlib.suppress(OSError):
            while data := source.recv(65536):
                sink.sendall(data)
        for end in (source, sink):
            self._forget(end)

    def _forget(self, end: socket.socket) -> None:
        with self._lock:
            self._open.discard(end)
        with contextlib.suppress(OSError):
            end.shutdown(socket.SHUT_RDWR)
        end.close()

    def drop(self) -> None:
        self._up.clear()
        with self._lock:
            ends = list(self._open)
        for end in ends:
            self._forget(end)

    def restore(self) -> None:
        self._up.set()

    def close(self) -> None:
        self.drop()
        self._listener.close()
