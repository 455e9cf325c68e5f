"""The disk failing under a bot process, by real fault injection (libfiu's POSIX preload:
`fiu-run -x`, `fiu-ctrl`): the process's own pwrite, fsync/fdatasync or open calls fail with
EIO, ENOSPC or EROFS, once, intermittently or persistently, at a random moment while its bots
write. Expected, each time: every call that failed gets an AsyncStoreError saying so (never
anything outside the tree), no call hangs, the Store writes again once the fault clears, the
process stops cleanly on SIGTERM, and after reopening, `PRAGMA integrity_check` is ok and every
acknowledged trade is there.

SQLite only: a PostgreSQL Store does no file I/O of its own (the server's disk faults reach it as
errors of the server, or lost connections: tests/test_postgres_unavailable.py).
"""

from __future__ import annotations

import asyncio
import csv
import errno
import os
import random
import shutil
import signal
import sqlite3
import sys
import uuid
from collections import Counter
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path

import pytest

from asyncstore import Store, TradeRepository
from asyncstore.schema.tables import TRADES
from tests.conftest import wait_until
from tests.processes.rows import paper_trade

pytestmark = pytest.mark.sqlite_only

ROOT = Path(__file__).resolve().parent.parent
BOTS = 4


@dataclass(frozen=True)
class Fault:
    point: str  # libfiu's failure point (fiu-utils' function_list)
    errno_name: str
    mode: str  # once, intermittent, persistent
    durability: str = "normal"  # "full": every commit fsyncs, so fsync faults hit commits
    probability: float = 0.05  # of each call failing, when intermittent

    @property
    def enable(self) -> str:
        code = getattr(errno, self.errno_name)
        if self.mode == "once":
            return f"enable name={self.point},failinfo={code},onetime"
        if self.mode == "intermittent":
            return f"enable_random name={self.point},failinfo={code},probability={self.probability}"
        return f"enable name={self.point},failinfo={code}"

    def __str__(self) -> str:
        return f"{self.point.rsplit('/', 1)[-1]}-{self.errno_name}-{self.mode}-{self.durability}"


FAULTS = [
    *(
        Fault("posix/io/rw/pwrite", name, mode)
        for name in ("EIO", "ENOSPC", "EROFS")
        for mode in ("once", "intermittent", "persistent")
    ),
    # SQLite syncs its files with fdatasync on Linux; with durability "full" every commit does.
    *(Fault("posix/io/sync/fdatasync", "EIO", mode, "full") for mode in ("once", "persistent")),
    Fault("posix/io/sync/fdatasync", "ENOSPC", "intermittent", "full"),
    # Files are opened by a Store starting (the observer's, every 0.2 s), not by writes.
    Fault("posix/io/oc/open", "EIO", "persistent"),
    Fault("posix/io/oc/open", "EROFS", "intermittent", probability=0.5),
]


class Child:
    """The bot process under fiu-run, its output read as it comes."""

    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self.process = process
        self.acks: list[str] = []
        self.errors: list[str] = []
        self.bad: list[str] = []
        self.observed: list[str] = []  # the observer's counts: a read-only Store opened
        self.tries: list[str] = []  # the observer's attempts
        self.other: list[str] = []

    async def read_until(self, done: object, limit_s: float = 60.0) -> None:
        assert self.process.stdout is not None
        async with asyncio.timeout(limit_s):  # a hang fails the test here
            while not done():  # type: ignore[operator]
                line = (await self.process.stdout.readline()).decode().strip()
                assert line, f"the bot process ended: {await self._stderr()}"
                self._take(line)

    def _take(self, line: str) -> None:
        kind, _, rest = line.partition(" ")
        lists = {
            "ACK": self.acks,
            "ERR": self.errors,
            "BAD": self.bad,
            "OBS": self.observed,
            "TRY": self.tries,
        }
        lists.get(kind, self.other).append(rest or kind)

    async def control(self, command: str) -> None:
        fiu_ctrl = await asyncio.create_subprocess_exec(
            "fiu-ctrl", "-c", command, str(self.process.pid)
        )
        assert await fiu_ctrl.wait() == 0, command

    async def stop(self) -> int:
        assert self.process.stdout is not None
        self.process.send_signal(signal.SIGTERM)
        out, _ = await asyncio.wait_for(self.process.communicate(), 60)
        for line in out.decode().splitlines():
            self._take(line.strip())
        return self.process.returncode if self.process.returncode is not None else -1

    async def _stderr(self) -> str:
        assert self.process.stderr is not None
        return (await self.process.stderr.read()).decode()[-2000:]


def _fiu_run() -> str:
    found = shutil.which("fiu-run")
    if found is None:
        reason = "fiu-utils is not installed (apt-get install fiu-utils)"
        if os.environ.get("CI"):
            pytest.fail(reason)
        pytest.skip(reason)
    return found


def _stored(path: Path) -> tuple[list[str], set[str]]:
    with closing(sqlite3.connect(path)) as conn:
        problems = [row[0] for row in conn.execute("PRAGMA integrity_check")]
        ids = {row[0] for row in conn.execute("SELECT id FROM trades")}
    return problems, ids


@pytest.mark.parametrize("fault", FAULTS, ids=str)
async def test_a_failing_disk_fails_calls_clearly_and_loses_nothing_acknowledged(
    db_path: Path, fault: Fault
) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ASYNCSTORE_")}
    env["PYTHONPATH"] = str(ROOT)
    url = f"sqlite+aiosqlite:///{db_path}"
    process = await asyncio.create_subprocess_exec(
        _fiu_run(), "-x", sys.executable, "-m", "tests.processes.faulty_disk_bot",
        url, str(BOTS), fault.durability,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, env=env,
    )  # fmt: skip
    child = Child(process)
    try:
        # A random moment under load: after 20 to 400 acknowledged writes.
        moment = random.randint(20, 400)
        await child.read_until(lambda: "READY" in child.other and len(child.acks) >= moment)
        await child.control(fault.enable)
        calls_at, tries_at = len(child.acks) + len(child.errors), len(child.tries)
        # The fault stays on while the bots make 200 more calls and the observer opens a
        # Store 5 more times.
        await child.read_until(
            lambda: (
                len(child.acks) + len(child.errors) >= calls_at + 200
                and len(child.tries) >= tries_at + 5
            )
        )
        await child.control(f"disable name={fault.point}")
        cleared_at = len(child.acks)
        observed_at = len(child.observed)
        # Once the fault is gone the Store writes again (no hang, no reopening), and a new
        # Store opens again.
        await child.read_until(
            lambda: len(child.acks) >= cleared_at + 100 and len(child.observed) > observed_at
        )
        status = await child.stop()
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    assert child.bad == []  # every failure an AsyncStoreError
    assert status == 0 and child.other[-1] == "STOPPED"
    assert child.errors, "the fault never failed a call"  # it was real
    for error in child.errors:  # each says what happened
        words = ("disk", "i/o", "full", "read-only", "unable to open")
        assert any(word in error.lower() for word in words), error
    problems, stored = _stored(db_path)
    assert problems == ["ok"]
    assert set(child.acks) <= stored  # every acknowledged write survived


# The files asyncstore writes itself, with write() and fsync() (SQLite uses pwrite and fdatasync
# only): a cleanup's archive, and the batch it stages beside it before deleting.
ARCHIVE_FAULTS = [
    # "header": before the cleanup starts, the archive is new (its header line meets the fault);
    # "staging": before it starts, the archive exists (the batch staged beside it meets it);
    # "append": once the first chunk of the first batch is deleted (the archive's append does).
    (Fault("posix/io/rw/write", "EIO", "persistent"), "staging"),
    (Fault("posix/io/rw/write", "ENOSPC", "once"), "append"),
    (Fault("posix/io/rw/write", "EIO", "persistent"), "append"),
    (Fault("posix/io/sync/fsync", "EIO", "once"), "append"),
    (Fault("posix/io/sync/fsync", "EIO", "persistent"), "header"),
    (Fault("posix/io/sync/fsync", "ENOSPC", "once"), "staging"),
]
OLD_TRADES = 500


async def _old_closed_trades(url: str) -> set[str]:
    async with Store(url) as store:
        repo = TradeRepository(store)
        await repo.create_bot_instance({"id": "archived-bot", "type": "paper"})
        ids = {str(uuid.uuid4()) for _ in range(OLD_TRADES)}
        closed = {"status": "closed", "exit_price": "50100"}
        rows = [{**paper_trade("archived-bot"), "id": id_, **closed} for id_ in ids]
        assert await repo.bulk_create_trades(rows) == OLD_TRADES
        return ids


def _archived_ids(archive: Path) -> list[str]:
    """The ids in the archive, each line checked whole (all columns, a trade of the test's)."""
    if not archive.exists():
        return []
    with archive.open(newline="", encoding="utf-8") as handle:
        rows = list(csv.reader(handle))
    columns = [column.name for column in TRADES.columns]
    assert rows == [] or rows[0] == columns, rows[:1]
    for row in rows[1:]:
        assert len(row) == len(columns), row  # a torn line has fewer fields
        record = dict(zip(columns, row, strict=True))
        assert record["bot_id"] == "archived-bot" and record["status"] == "closed", record
    return [row[columns.index("id")] for row in rows[1:]]


async def _reached(process: asyncio.subprocess.Process, marker: Path) -> None:
    """Wait for the child to create `marker` (failing at once if it died instead)."""
    await wait_until(lambda: marker.exists() or process.returncode is not None, limit_s=60)
    if not marker.exists():  # noqa: ASYNC240 (one stat, once)
        assert process.stderr is not None
        raise AssertionError((await process.stderr.read()).decode()[-2000:])


@pytest.mark.parametrize(("fault", "moment"), ARCHIVE_FAULTS, ids=lambda v: str(v))
async def test_an_archive_whose_disk_fails_holds_every_deleted_row_once(
    db_path: Path, tmp_path: Path, fault: Fault, moment: str
) -> None:
    """The cleanup fails with an error naming the archive and the disk's error; nothing is
    deleted that is not archived or staged; run again once the fault clears, it finishes, and
    the archive holds every deleted trade exactly once, every line whole."""
    url = f"sqlite+aiosqlite:///{db_path}"
    trades = await _old_closed_trades(url)
    archive = tmp_path / "old.csv"
    if moment == "staging":  # an archive earlier cleanups wrote: just its header here
        archive.write_text(",".join(c.name for c in TRADES.columns) + "\r\n")  # noqa: ASYNC240
    env = {k: v for k, v in os.environ.items() if not k.startswith("ASYNCSTORE_")}
    env["PYTHONPATH"] = str(ROOT)
    process = await asyncio.create_subprocess_exec(
        _fiu_run(), "-x", sys.executable, "-m", "tests.processes.faulty_archive_cleanup",
        url, str(archive), "after" if moment == "append" else "before",
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE, env=env,
    )  # fmt: skip
    assert process.stdin is not None
    child = Child(process)
    try:
        await _reached(process, Path(f"{archive}.ready"))
        await child.control(fault.enable)
        process.stdin.write(b"go\n")
        await _reached(process, Path(f"{archive}.tried"))  # the first try ended: no hang
        # Every fault met the first batch: the archive holds none of it, not even a torn line
        # (an append the disk failed is cut back); the batch is staged, or still in the table.
        assert _archived_ids(archive) == []
        await child.control(f"disable name={fault.point}")
        process.stdin.write(b"cleared\n")
        out, err = await asyncio.wait_for(process.communicate(), 60)
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    assert process.returncode == 0, err.decode()[-2000:]
    first, second = out.decode().splitlines()
    assert first.startswith("FAILED AsyncStoreError"), first  # the fault was real, and in the tree
    reason = "Input/output error" if fault.errno_name == "EIO" else "No space left on device"
    assert str(archive) in first and reason in first and "run the cleanup again" in first, first
    assert second.startswith("DONE"), second
    archived = _archived_ids(archive)
    assert Counter(archived) == Counter(trades)  # each deleted trade once, every line whole
    assert not archive.with_name("old.csv.pending").exists()  # noqa: ASYNC240
    async with Store(url) as store:
        assert await store.fetch_all("SELECT count(*) FROM trades") == [(0,)]
