"""A PostgreSQL cluster for the tests: Debian's server, in a temporary folder, on a free loopback port,
run by the `postgres` user when the tests run as root (it refuses root); each test gets a database of
its own. The cluster's superuser is always called `postgres`."""

from __future__ import annotations

import itertools
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from digitnet.replicas import free_port

USER = "postgres"


def server_binaries() -> tuple[str, str] | None:
    """initdb and pg_ctl: on the PATH, or in Debian's versioned folder; None when not installed."""
    found = [shutil.which(name) for name in ("initdb", "pg_ctl")]
    if all(found):
        return found[0], found[1]
    for version in sorted(Path("/usr/lib/postgresql").glob("*"), reverse=True):
        initdb, pg_ctl = version / "bin" / "initdb", version / "bin" / "pg_ctl"
        if initdb.exists() and pg_ctl.exists():
            return str(initdb), str(pg_ctl)
    return None


class Cluster:
    """A running cluster; `database()` makes a new, empty database and returns its URL."""

    def __init__(self, initdb: str, pg_ctl: str, durable: bool = False):
        self.pg_ctl = pg_ctl
        # Tests skip flushing to disk, which no test needs; a benchmark beside SQLite (which flushes) does not.
        self.fsync = "on" if durable else "off"
        self.folder = Path(tempfile.mkdtemp(prefix="digitnet-pg-"))
        self.as_root = os.geteuid() == 0  # PostgreSQL refuses root: then its own user runs it
        if self.as_root:
            shutil.chown(self.folder, USER, USER)
        self.port = free_port()
        self._names = itertools.count(1)
        self._run(initdb, "-D", str(self.folder / "data"), "-A", "trust", "-U", USER, "--no-sync", "-E", "UTF8")
        self.url = f"postgresql://{USER}@127.0.0.1:{self.port}"
        self.start_server()

    def start_server(self) -> None:
        """Start the server (again), and wait until it takes connections."""
        self._run(self.pg_ctl, "-D", str(self.folder / "data"), "-l", str(self.folder / "log"), "-w", "start", "-o",
                  f"-p {self.port} -k {self.folder} -c listen_addresses=127.0.0.1 -c fsync={self.fsync}")

    def stop_server(self) -> None:
        """Stop the server at once, as a crash would: its data stays."""
        self._run(self.pg_ctl, "-D", str(self.folder / "data"), "-w", "-m", "immediate", "stop")

    def _run(self, *command: str) -> None:
        as_user = ["runuser", "-u", USER, "--"] if self.as_root else []
        subprocess.run([*as_user, *command], check=True, capture_output=True, cwd=self.folder,
                       env={**os.environ, "LC_ALL": "C.UTF-8"})

    def database(self) -> str:
        import psycopg

        name = f"test_{next(self._names)}"
        with psycopg.connect(f"{self.url}/postgres", autocommit=True) as connection:
            connection.execute(f"CREATE DATABASE {name}")
        return f"{self.url}/{name}"

    def stop(self) -> None:
        """Stop the server and remove the cluster."""
        try:
            self.stop_server()
        except subprocess.CalledProcessError:
            pass  # stopped already: a test that stopped it failed before starting it again
        finally:
            shutil.rmtree(self.folder, ignore_errors=True)
