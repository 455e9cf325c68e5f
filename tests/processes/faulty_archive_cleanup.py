"""A cleanup whose archive's disk fails under it (tests/test_io_faults.py), run under `fiu-run -x`.

    fiu-run -x python -m tests.processes.faulty_archive_cleanup <url> <archive> <moment>

The test turns a fault on with fiu-ctrl at a moment this process says it has reached. While
`write` fails it cannot print, so it says where it is by creating empty files (which calls no
write): `<archive>.ready` when it reaches the moment, then it waits for a line on stdin. The
moment "before" is before the cleanup starts (the fault meets the batch being staged, before any
row is deleted); "after" is once the first chunk of the first batch is deleted (the rest of the
batch goes, then the fault meets the archive's append). After the first try it creates
`<archive>.tried` and waits for a second line (the fault is cleared), then prints how the first
try ended, runs the same cleanup again and prints how that ended: `DONE <rows deleted>`,
`FAILED <error class> <message>` for an AsyncStoreError, `BAD <class> <message>` otherwise.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from asyncstore import AsyncStoreError, CleanupProgress, Store, TradeRepository


def _reached(archive: str, name: str) -> None:
    Path(f"{archive}.{name}").touch()


async def _attempt(repo: TradeRepository, archive: str, on_progress: object) -> str:
    try:
        report = await repo.cleanup(0, archive=archive, on_progress=on_progress)
    except AsyncStoreError as exc:
        return f"FAILED {type(exc).__name__} {exc}".replace("\n", " ")
    except Exception as exc:  # outside the error tree: the test fails on it
        return f"BAD {type(exc).__name__} {exc}".replace("\n", " ")
    return f"DONE {report.total}"


async def main(url: str, archive: str, moment: str) -> None:
    paused = False

    def pause_after_the_first_chunk(step: CleanupProgress) -> None:
        nonlocal paused
        if moment == "after" and step.deleted and not paused:
            paused = True
            _reached(archive, "ready")
            sys.stdin.readline()  # holds the loop, and so the cleanup, while the fault goes on

    # Small chunks: a batch (10 chunks) is 200 rows, so the cleanup takes several batches.
    async with Store(url, bulk_chunk_rows=20) as store:
        repo = TradeRepository(store)
        if moment == "before":
            _reached(archive, "ready")
            await asyncio.to_thread(sys.stdin.readline)
        first = await _attempt(repo, archive, pause_after_the_first_chunk)
        _reached(archive, "tried")
        await asyncio.to_thread(sys.stdin.readline)
        print(first, flush=True)
        print(await _attempt(repo, archive, None), flush=True)


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2], sys.argv[3]))
