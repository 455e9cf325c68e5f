"""The command line of the benchmarks that compare conditions in rotating rounds, on SQLite and
then PostgreSQL (benchmarks.feed, benchmarks.tenants, benchmarks.activity)."""

from __future__ import annotations

import argparse
import tempfile
from collections.abc import Awaitable, Callable
from pathlib import Path

from benchmarks.harness import Table
from benchmarks.postgres import fresh_database

__all__ = ["Measure", "on_both_backends", "rounds_parser"]

# (url, bots, seconds, rounds, backend label) -> the table of one backend.
Measure = Callable[[str, int, float, int, str], Awaitable[Table]]


def rounds_parser(
    prog: str, description: str | None, *, bots: int, rounds: int
) -> argparse.ArgumentParser:
    """--bots, --seconds, --rounds and --no-postgresql, with this benchmark's defaults."""
    parser = argparse.ArgumentParser(prog=prog, description=description)
    parser.add_argument("--bots", type=int, default=bots)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--rounds", type=int, default=rounds)
    parser.add_argument("--no-postgresql", action="store_true")
    return parser


async def on_both_backends(measure: Measure, name: str, args: argparse.Namespace) -> None:
    """Print `measure`'s table on a fresh SQLite file, then (unless --no-postgresql) on a fresh
    PostgreSQL database."""
    with tempfile.TemporaryDirectory(prefix=f"asyncstore-{name}-") as tmp:
        url = f"sqlite+aiosqlite:///{Path(tmp) / f'{name}.db'}"
        table = await measure(url, args.bots, args.seconds, args.rounds, "SQLite")
        print(table.render(), flush=True)
    if not args.no_postgresql:
        async with fresh_database() as url:
            table = await measure(url, args.bots, args.seconds, args.rounds, "PostgreSQL")
            print(table.render(), flush=True)
