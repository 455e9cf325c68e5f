"""The `asyncstore` command. Exit codes: 0 ok, 1 asyncstore error, 2 bad arguments."""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Sequence

from asyncstore.errors import AsyncStoreError

__all__ = ["main"]


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="asyncstore", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    demo = commands.add_parser("demo", help="run paper bots and an optimizer against a database")
    demo.add_argument(
        "--url",
        default=None,
        help="database URL (default: $ASYNCSTORE_DATABASE_URL, else sqlite+aiosqlite:///db/trading.db)",
    )
    demo.add_argument(
        "--bots", type=int, default=20, help="paper bots trading at once (default 20)"
    )
    demo.add_argument(
        "--seconds", type=float, default=10.0, help="how long they trade (default 10)"
    )
    demo.add_argument(
        "--optimizer-rows",
        type=int,
        default=50_000,
        help="rows in the optimizer batch (default 50000)",
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.bots < 1 or args.seconds <= 0 or args.optimizer_rows < 0:
        print(
            "asyncstore demo: --bots must be >= 1, --seconds > 0, --optimizer-rows >= 0",
            file=sys.stderr,
        )
        return 2
    from asyncstore.demo import run_demo

    try:
        report = asyncio.run(
            run_demo(
                args.url, bots=args.bots, seconds=args.seconds, optimizer_rows=args.optimizer_rows
            )
        )
    except AsyncStoreError as exc:
        print(f"asyncstore demo: {exc}", file=sys.stderr)
        return 1
    from rich.console import Console

    console = Console()
    console.print(report.table())
    print("asyncstore demo finished")
    for line in report.lines():
        print(f"  {line}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
