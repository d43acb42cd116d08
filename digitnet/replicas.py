"""Several replicas of the page behind nginx, for a room: start them, restart one that dies, stop them all.

`python -m digitnet serve` (and `make serve`) runs one `streamlit run app.py` per core on local ports,
and nginx in front of them with sticky sessions (deploy/nginx.conf). The replicas share the
retrained-model and drawings folders through the environment, as docs/operator.md describes.
"""

from __future__ import annotations

import logging
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from digitnet.config import PACKAGE_DIR, child_environment, die_with_parent
from digitnet.errors import DigitnetError
from digitnet.state.database import check_usable, database_url

NGINX_TEMPLATE = PACKAGE_DIR.parent / "deploy" / "nginx.conf"
APP = PACKAGE_DIR.parent / "app.py"
# A replica that dies this many times within RESTART_WINDOW seconds is left dead, and said so once.
MAX_RESTARTS = 3
RESTART_WINDOW = 60.0
STARTUP_SECONDS = 90.0

log = logging.getLogger(__name__)


class ServeError(DigitnetError):
    """The replicas or nginx could not be started."""


@dataclass(frozen=True)
class ServeConfig:
    """How many replicas, where nginx listens for visitors, and the replicas of other machines."""

    replicas: int = os.cpu_count() or 1
    port: int = 8501
    host: str = "0.0.0.0"  # a room's phones reach it over the local network
    upstreams: tuple[str, ...] = ()  # "host:port" of replicas on other machines, which nginx serves too
    # No nginx: the replicas listen on every interface, on `port` and the ports after it, for an nginx on
    # another machine to send visitors to (its `upstreams`).
    replicas_only: bool = False


def render_nginx_config(template: str, listen: str, replica_ports: list[int], prefix: Path,
                        upstreams: tuple[str, ...] = ()) -> str:
    """deploy/nginx.conf with its @NAME@ values filled in: this machine's replicas, and `upstreams`."""
    for upstream in upstreams:
        host, _, port = upstream.rpartition(":")
        if not host or not port.isdigit() or any(c in host for c in " ;{}#"):
            raise ServeError(f"{upstream!r} is not host:port, the address of a replica on another machine")
    addresses = [f"127.0.0.1:{port}" for port in replica_ports] + list(upstreams)
    servers = "\n".join(f"        server {address} max_fails=1 fail_timeout=5s;" for address in addresses)
    text = template.replace("@SERVERS@", servers).replace("@LISTEN@", listen).replace("@PREFIX@", str(prefix))
    if "@" in "".join(line.split("#")[0] for line in text.splitlines()):
        raise ServeError(f"{NGINX_TEMPLATE} holds a @NAME@ value that digitnet does not fill in")
    return text


def nginx_binary() -> str:
    """Where nginx is (Debian puts it in /usr/sbin, often not on a user's PATH); ServeError when it is not."""
    found = shutil.which("nginx") or shutil.which("nginx", path="/usr/sbin:/usr/local/sbin")
    if found is None:
        raise ServeError("nginx is not installed: install it with `sudo apt-get install -y nginx`")
    return found


def free_port() -> int:
    """A TCP port that nothing uses now, on any interface. It is drawn at random from below the kernel's
    ephemeral range: a port from that range (what binding port 0 gives) is also handed to outgoing
    connections, such as a health check or nginx's to its replicas, and one can take it between our
    choosing it and a server binding it ("Address already in use")."""
    lowest_ephemeral = _ephemeral_ports()[0]
    choices = range(10_000, lowest_ephemeral) if lowest_ephemeral > 11_000 else range(1_024, lowest_ephemeral)
    for _ in range(100):
        port = random.choice(choices)
        with socket.socket() as sock:
            try:
                sock.bind(("0.0.0.0", port))
            except OSError:
                continue
        return port
    raise ServeError(f"found no free TCP port between {choices.start} and {choices.stop - 1}")


def _ephemeral_ports() -> tuple[int, int]:
    """The kernel's range of ports for outgoing connections (Linux's default when it cannot be read)."""
    try:
        low, high = Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()
        return int(low), int(high)
    except (OSError, ValueError):
        return 32_768, 60_999


def how_it_ended(returncode: int) -> str:
    if returncode < 0:
        return f"killed by {signal.Signals(-returncode).name}"
    return f"exit code {returncode}"


@dataclass
class Replica:
    """One `streamlit run app.py` on a local port, and the times it died."""

    port: int
    env: dict[str, str]
    address: str = "127.0.0.1"  # every interface ("0.0.0.0") when an nginx on another machine fronts it
    process: subprocess.Popen | None = None
    deaths: list[float] = field(default_factory=list)
    given_up: bool = False

    def start(self) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "streamlit", "run", str(APP), "--server.address", self.address,
             "--server.port", str(self.port), "--server.headless", "true", "--browser.gatherUsageStats", "false"],
            cwd=APP.parent, env=self.env, stdout=subprocess.DEVNULL, preexec_fn=die_with_parent,
            start_new_session=True)  # Ctrl-C reaches the supervisor alone, which stops the replicas in order

    def healthy(self) -> bool:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/_stcore/health", timeout=1):
                return True
        except OSError:
            return False


class Server:
    """The replicas and nginx in front of them."""

    def __init__(self, config: ServeConfig, workdir: Path):
        self.config = config
        self.workdir = workdir
        # glibc gives each of Streamlit's script threads a malloc arena of its own: with two, the memory of
        # visitors who have gone goes back to use (bench.room: +69 MB after 300 visitors, +29 MB with two).
        env = {"MALLOC_ARENA_MAX": "2", **child_environment()}
        if config.replicas_only:
            self.replicas = [Replica(config.port + n, env, "0.0.0.0") for n in range(config.replicas)]
        else:
            self.replicas = [Replica(free_port(), env) for _ in range(config.replicas)]
        self.nginx: subprocess.Popen | None = None
        self.stopping = False

    def start(self) -> None:
        nginx = None if self.config.replicas_only else nginx_binary()
        for replica in self.replicas:
            replica.start()
        deadline = time.monotonic() + STARTUP_SECONDS
        for replica in self.replicas:
            while not replica.healthy():
                if replica.process.poll() is not None:
                    raise ServeError(f"the replica on port {replica.port} did not start "
                                     f"({how_it_ended(replica.process.returncode)})")
                if time.monotonic() > deadline:
                    raise ServeError(f"the replica on port {replica.port} did not answer within {STARTUP_SECONDS:.0f} s")
                time.sleep(0.1)
        if nginx is None:
            log.info("digitnet: %d replicas on ports %s of every interface, for an nginx elsewhere; Ctrl-C "
                     "stops them", len(self.replicas), ", ".join(str(r.port) for r in self.replicas))
            return
        conf = self.workdir / "nginx.conf"
        conf.write_text(render_nginx_config(NGINX_TEMPLATE.read_text(), f"{self.config.host}:{self.config.port}",
                                            [r.port for r in self.replicas], self.workdir, self.config.upstreams))
        checked = subprocess.run([nginx, "-t", "-q", "-p", str(self.workdir), "-c", str(conf)],
                                 capture_output=True, text=True)
        if checked.returncode:
            raise ServeError(f"nginx refused its configuration: {checked.stderr.strip()}")
        self.nginx = subprocess.Popen([nginx, "-p", str(self.workdir), "-c", str(conf)], preexec_fn=die_with_parent,
                                      start_new_session=True)
        self._wait_for_nginx()
        host = "localhost" if self.config.host in ("0.0.0.0", "::", "127.0.0.1") else self.config.host
        log.info("digitnet: http://%s:%d (nginx in front of %d replicas on ports %s); Ctrl-C stops it all",
                 host, self.config.port, len(self.replicas), ", ".join(str(r.port) for r in self.replicas))

    def _wait_for_nginx(self) -> None:
        """Return once nginx takes connections on its port; ServeError when it stops first (its port is
        taken, say: nginx tries for two seconds before it gives up)."""
        host = {"0.0.0.0": "127.0.0.1", "::": "::1"}.get(self.config.host, self.config.host)
        deadline = time.monotonic() + STARTUP_SECONDS
        while self.nginx.poll() is None and time.monotonic() < deadline:
            try:
                socket.create_connection((host, self.config.port), timeout=1).close()
                return
            except OSError:
                time.sleep(0.1)
        if self.nginx.poll() is None:
            raise ServeError(f"nginx did not take connections on port {self.config.port} within "
                             f"{STARTUP_SECONDS:.0f} s")
        raise ServeError(f"nginx stopped at once ({how_it_ended(self.nginx.returncode)}); "
                         f"its log: {(self.workdir / 'error.log').read_text()[-500:]}")

    def watch(self) -> int:
        """Restart replicas that die, until stopped; the exit code to leave with."""
        while not self.stopping:
            if self.nginx is not None and self.nginx.poll() is not None:
                log.error("nginx stopped (%s): stopping the replicas", how_it_ended(self.nginx.returncode))
                return 1
            for replica in self.replicas:
                self._revive(replica)
            if all(replica.given_up for replica in self.replicas):
                log.error("every replica keeps dying: stopping")
                return 1
            time.sleep(0.5)
        return 0

    def _revive(self, replica: Replica) -> None:
        if replica.given_up or replica.process.poll() is None or self.stopping:
            return
        now = time.monotonic()
        replica.deaths = [t for t in replica.deaths if now - t < RESTART_WINDOW] + [now]
        ended = how_it_ended(replica.process.returncode)
        if len(replica.deaths) > MAX_RESTARTS:
            replica.given_up = True
            log.error("the replica on port %d died %d times within %.0f s (last: %s): not restarting it; the "
                      "others serve its visitors", replica.port, len(replica.deaths), RESTART_WINDOW, ended)
            return
        log.warning("the replica on port %d died (%s): restarting it; nginx sends its visitors to the others "
                    "meanwhile", replica.port, ended)
        replica.start()

    def stop(self) -> None:
        """Stop nginx and every replica, and wait for them: nothing is left running."""
        self.stopping = True
        running = [p for p in [self.nginx] + [r.process for r in self.replicas] if p and p.poll() is None]
        for process in running:
            process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + 15
        for process in running:
            try:
                process.wait(max(deadline - time.monotonic(), 0.1))
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def serve(config: ServeConfig) -> int:
    """Run the replicas behind nginx until Ctrl-C or SIGTERM; the exit code. With $DIGITNET_DATABASE_URL
    set, its database is tried first: a wrong URL, or a role that may not create tables, is said in one
    line, before anything starts."""
    die_with_parent()  # `make serve` killed: stop too, and so stop everything below
    url = database_url()
    if url is not None:
        check_usable(url)
    stop_requested = []

    def request_stop(signum, frame) -> None:
        stop_requested.append(signum)
        server.stopping = True

    with tempfile.TemporaryDirectory(prefix="digitnet-serve-") as workdir:
        os.chmod(workdir, 0o755)  # nginx's workers, as another user, read what lies there
        server = Server(config, Path(workdir))
        signal.signal(signal.SIGINT, request_stop)
        signal.signal(signal.SIGTERM, request_stop)
        try:
            server.start()
            code = server.watch()
        finally:
            server.stop()
        if stop_requested:
            log.info("digitnet: stopped (%s)", signal.Signals(stop_requested[0]).name)
        return code
