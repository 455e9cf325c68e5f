"""A real PostgreSQL primary with a hot standby that streams its WAL, for the replica tests.

Both are private clusters in a temporary folder, on free ports, so the machine's own server and
its configuration are left alone. PostgreSQL refuses to run as root, so as root the clusters
run as the `postgres` user; without root they run as the current user.
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


class StandbyUnavailable(Exception):
    """This machine cannot run the pair (no PostgreSQL binaries, or no user to run them)."""


def _bin_dir() -> Path:
    pg_config = shutil.which("pg_config")
    if pg_config is None:
        raise StandbyUnavailable("pg_config is not on PATH (PostgreSQL server binaries needed)")
    found = subprocess.run([pg_config, "--bindir"], capture_output=True, text=True, check=True)
    bin_dir = Path(found.stdout.strip())
    if not (bin_dir / "initdb").exists():
        raise StandbyUnavailable(f"no initdb in {bin_dir} (the PostgreSQL server package)")
    return bin_dir


def _run_as_server_user() -> list[str]:
    if os.geteuid() != 0:
        return []
    try:
        pwd.getpwnam(SERVER_USER)
    except KeyError as exc:
        raise StandbyUnavailable(f"running as root, and no {SERVER_USER!r} user") from exc
    return ["runuser", "-u", SERVER_USER, "--"]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass(frozen=True)
class StreamingPair:
    primary_url: str
    standby_url: str
    stop_standby: Callable[[], None]  # as an operator's `pg_ctl stop` would


@contextmanager
def streaming_standby() -> Iterator[StreamingPair]:
    """A primary and its hot standby (database `postgres`); stopped and removed after."""
    bin_dir = _bin_dir()
    as_server = _run_as_server_user()
    with ExitStack() as cleanup:
        base = Path(tempfile.mkdtemp(prefix="asyncstore-standby-"))
        cleanup.callback(shutil.rmtree, base, ignore_errors=True)
        if as_server:
            shutil.chown(base, SERVER_USER)

        def run(*args: str) -> None:
            done = subprocess.run(
                [*as_server, *args], capture_output=True, text=True, timeout=120, check=False
            )
            if done.returncode != 0:
                raise RuntimeError(f"{' '.join(args)} failed:\n{done.stdout}{done.stderr}")

        def stop(data: Path) -> None:
            if (data / "postmaster.pid").exists():
                run(str(bin_dir / "pg_ctl"), "-D", str(data), "-m", "immediate", "-w", "stop")

        def start(data: Path, port: int) -> None:
            options = f"-p {port} -k {base} -c listen_addresses=127.0.0.1"
            # Registered first: a start that gives up waiting may still leave a server running.
            cleanup.callback(stop, data)
            run(str(bin_dir / "pg_ctl"), "-D", str(data), "-o", options, "-l", f"{data}.log",
                "-w", "start")  # fmt: skip

        primary, standby = base / "primary", base / "standby"
        primary_port, standby_port = free_port(), free_port()
        # initdb's --auth=trust also admits local replication connections.
        run(str(bin_dir / "initdb"), "-D", str(primary), "-U", "postgres", "--auth=trust",
            "--no-sync")  # fmt: skip
        start(primary, primary_port)
        # -R writes standby.signal and primary_conninfo: the copy starts as a hot standby.
        run(str(bin_dir / "pg_basebackup"), "-h", "127.0.0.1", "-p", str(primary_port),
            "-U", "postgres", "-D", str(standby), "-R", "-X", "stream", "--no-sync")  # fmt: skip
        start(standby, standby_port)
        yield StreamingPair(_url(primary_port), _url(standby_port), lambda: stop(standby))


def _url(port: int) -> str:
    return f"postgresql+asyncpg://postgres@127.0.0.1:{port}/postgres"
