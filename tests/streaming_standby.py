"""Private PostgreSQL clusters for tests that do what the shared server must not suffer: a
primary with a hot standby streaming its WAL (the replica tests), and a single server a test may
stop and start again (the connection-loss tests).

Every cluster lives in a temporary folder, on a free port, so the machine's own server and its
configuration are left alone. PostgreSQL refuses to run as root, so as root the clusters run as
the `postgres` user; without root they run as the current user.
"""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

SERVER_USER = "postgres"


class ClusterUnavailable(Exception):
    """This machine cannot run private clusters (no PostgreSQL binaries, or no user to run them)."""


# The name the replica tests know it by.
StandbyUnavailable = ClusterUnavailable


def _bin_dir() -> Path:
    pg_config = shutil.which("pg_config")
    if pg_config is None:
        raise ClusterUnavailable("pg_config is not on PATH (PostgreSQL server binaries needed)")
    found = subprocess.run([pg_config, "--bindir"], capture_output=True, text=True, check=True)
    bin_dir = Path(found.stdout.strip())
    if not (bin_dir / "initdb").exists():
        raise ClusterUnavailable(f"no initdb in {bin_dir} (the PostgreSQL server package)")
    return bin_dir


def _run_as_server_user() -> list[str]:
    if os.geteuid() != 0:
        return []
    try:
        pwd.getpwnam(SERVER_USER)
    except KeyError as exc:
        raise ClusterUnavailable(f"running as root, and no {SERVER_USER!r} user") from exc
    return ["runuser", "-u", SERVER_USER, "--"]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class _Clusters:
    """Clusters in one temporary folder; `cleanup` stops each one, then removes the folder."""

    def __init__(self, cleanup: ExitStack, prefix: str) -> None:
        self.bin_dir = _bin_dir()
        self.as_server = _run_as_server_user()
        self.cleanup = cleanup
        self.base = Path(tempfile.mkdtemp(prefix=prefix))
        cleanup.callback(shutil.rmtree, self.base, ignore_errors=True)
        if self.as_server:
            shutil.chown(self.base, SERVER_USER)

    def run(self, program: str, *args: str) -> None:
        done = subprocess.run(
            [*self.as_server, str(self.bin_dir / program), *args],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        if done.returncode != 0:
            raise RuntimeError(f"{program} {' '.join(args)} failed:\n{done.stdout}{done.stderr}")

    def initdb(self, name: str) -> Path:
        data = self.base / name
        # --auth=trust also admits local replication connections (pg_basebackup).
        self.run("initdb", "-D", str(data), "-U", "postgres", "--auth=trust", "--no-sync")
        return data

    def start(self, data: Path, port: int) -> None:
        """Start the cluster and wait until it accepts connections (after crash recovery)."""
        options = f"-p {port} -k {self.base} -c listen_addresses=127.0.0.1"
        # Registered first: a start that gives up waiting may still leave a server running.
        # Once per start is harmless: stopping a stopped cluster does nothing.
        self.cleanup.callback(self.stop, data)
        self.run("pg_ctl", "-D", str(data), "-o", options, "-l", f"{data}.log", "-w", "start")

    def stop(self, data: Path) -> None:
        """`pg_ctl stop -m immediate`: every server process quits at once, without a checkpoint
        or a goodbye to the clients, as after a crash; the next start runs crash recovery."""
        if self.running(data):
            self.run("pg_ctl", "-D", str(data), "-m", "immediate", "-w", "stop")

    @staticmethod
    def running(data: Path) -> bool:
        return (data / "postmaster.pid").exists()


def _url(port: int) -> str:
    return f"postgresql+asyncpg://postgres@127.0.0.1:{port}/postgres"


@dataclass(frozen=True)
class StreamingPair:
    primary_url: str
    standby_url: str
    stop_standby: Callable[[], None]  # as an operator's `pg_ctl stop` would
    start_standby: Callable[[], None]  # back up (it catches up with the primary's WAL)


@contextmanager
def streaming_standby() -> Iterator[StreamingPair]:
    """A primary and its hot standby (database `postgres`); stopped and removed after."""
    with ExitStack() as cleanup:
        clusters = _Clusters(cleanup, "asyncstore-standby-")
        primary_port, standby_port = free_port(), free_port()
        primary = clusters.initdb("primary")
        clusters.start(primary, primary_port)
        standby = clusters.base / "standby"
        # -R writes standby.signal and primary_conninfo: the copy starts as a hot standby.
        clusters.run("pg_basebackup", "-h", "127.0.0.1", "-p", str(primary_port), "-U",
                     "postgres", "-D", str(standby), "-R", "-X", "stream", "--no-sync")  # fmt: skip
        clusters.start(standby, standby_port)

        def start_standby() -> None:
            if not clusters.running(standby):
                clusters.start(standby, standby_port)

        yield StreamingPair(
            _url(primary_port),
            _url(standby_port),
            lambda: clusters.stop(standby),
            start_standby,
        )


@dataclass(frozen=True)
class PrivateServer:
    """One private cluster a test may take down and bring back (same port, same data)."""

    url: str  # its database `postgres`
    stop: Callable[[], None]  # pg_ctl stop -m immediate: the server dies as in a crash
    start: Callable[[], None]  # back up, after crash recovery; nothing if it is running
    running: Callable[[], bool]


@contextmanager
def private_server() -> Iterator[PrivateServer]:
    """A single private PostgreSQL server; stopped and removed after."""
    with ExitStack() as cleanup:
        clusters = _Clusters(cleanup, "asyncstore-server-")
        port = free_port()
        data = clusters.initdb("server")

        def start() -> None:
            if not clusters.running(data):
                clusters.start(data, port)

        start()
        yield PrivateServer(
            _url(port), lambda: clusters.stop(data), start, lambda: clusters.running(data)
        )
