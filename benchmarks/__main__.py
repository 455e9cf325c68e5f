"""python -m benchmarks [--quick] [--only NAME ...]: run the scenarios, print a table for each.

Every contender runs in this one process, on the same rows, with the same durability. Figures are
machine-dependent: compare the ratios within one run, not numbers across machines.
"""

from __future__ import annotations

import argparse
import asyncio
import platform
import sqlite3
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.dashboard import scenario as dashboard
from benchmarks.failures import failing_write
from benchmarks.operations import cleanup_under_load
from benchmarks.postgres import postgresql
from benchmarks.scenarios import SCENARIOS as CORE_SCENARIOS
from benchmarks.sizes import Sizes
from benchmarks.stalls import stalls
from benchmarks.tenants import scenario as tenants

SCENARIOS = {
    **CORE_SCENARIOS,
    "failures": failing_write,
    "cleanup": cleanup_under_load,
    "postgresql": postgresql,
    "stalls": stalls,
    "dashboard": dashboard,
    "tenants": tenants,
}


async def run(names: list[str], quick: bool) -> None:
    sizes = Sizes.for_mode(quick)
    mode = "quick" if quick else "full"
    print(
        f"asyncstore benchmarks ({mode}): Python {platform.python_version()}, "
        f"SQLite {sqlite3.sqlite_version}, WAL, synchronous=NORMAL unless stated",
        flush=True,
    )
    with tempfile.TemporaryDirectory(prefix="asyncstore-bench-") as tmp:
        for name in names:
            started = time.perf_counter()
            table = await SCENARIOS[name](Path(tmp), sizes)
            print(table.render(), flush=True)
            print(f"({name}: {time.perf_counter() - started:.0f} s)", file=sys.stderr, flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="small sizes (CI): a few minutes")
    parser.add_argument("--only", nargs="+", choices=sorted(SCENARIOS), default=list(SCENARIOS))
    args = parser.parse_args()
    asyncio.run(run(args.only, args.quick))


if __name__ == "__main__":
    main()
