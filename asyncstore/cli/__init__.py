"""The `asyncstore` command: set up, inspect, back up and prune a trading database.

Exit codes (for scripts): 0 done; 1 failed (the message says why; nothing was changed unless
it says so); 2 bad arguments; 3 `check` found problems. Every command takes `--url` (default:
$ASYNCSTORE_DATABASE_URL, else sqlite+aiosqlite:///db/trading.db), `--tenant` (that tenant's
data only; `upgrade` without it upgrades the database and every tenant), `--json` (one JSON
document on stdout) and `--echo` (log every SQL statement to stderr).
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence

from asyncstore.backend import COMPACT_STEP_PAGES
from asyncstore.cli.commands import COMMANDS, EXIT_ERROR, CommandContext
from asyncstore.cli.dashboard import add_dashboard_parser, run_dashboard
from asyncstore.cli.schema_commands import SCHEMA_COMMANDS
from asyncstore.config import load_settings
from asyncstore.errors import AsyncStoreError

__all__ = ["main"]


def days(text: str) -> int:
    """A number of days: argparse names this function in its error ("invalid days value")."""
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be a whole number of days >= 0, got {value}")
    return value


def pages(text: str) -> int:
    """A number of pages (argparse names this function in its error)."""
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a whole number of pages >= 1, got {value}")
    return value


def _common() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--url",
        default=None,
        help="database URL (default: $ASYNCSTORE_DATABASE_URL, else sqlite+aiosqlite:///db/trading.db)",
    )
    common.add_argument(
        "--tenant",
        default=None,
        help="only this tenant's data (default: $ASYNCSTORE_TENANT, else the database's own)",
    )
    common.add_argument("--json", action="store_true", help="print one JSON document on stdout")
    common.add_argument("--echo", action="store_true", help="log every SQL statement to stderr")
    return common


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="asyncstore", description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    common = [_common()]

    def add(name: str, help_text: str) -> argparse.ArgumentParser:
        return commands.add_parser(name, help=help_text, description=help_text, parents=common)

    add("init", "create the database (and its folder) at the current schema revision")
    add(
        "upgrade",
        "back up the database, then upgrade its schema to this version's revision (without "
        "--tenant: the database and every tenant, each reported)",
    )
    add("tenants", "list the database's tenants, with the room each takes")
    add("current", "show the database's schema revision and this version's")
    backup = add("backup", "take an online, verified backup (safe while bots write)")
    backup.add_argument("path", nargs="?", help="backup file (default: the backups folder)")
    restore = add("restore", "replace the database with a backup (refused while it is in use)")
    restore.add_argument("path", help="the backup file to restore")
    cleanup = add("cleanup", "delete old closed trades and old metrics, in chunks")
    cleanup.add_argument("--days", type=days, required=True, help="keep trades of the last N days")
    cleanup.add_argument(
        "--metrics-days",
        type=days,
        default=365,
        help="keep metrics of the last N days (default 365)",
    )
    cleanup.add_argument(
        "--archive", help="first write the deleted rows to this .csv or .parquet file"
    )
    cleanup.add_argument(
        "--dry-run",
        action="store_true",
        help="only count what would be deleted, per table (nothing is written)",
    )
    cleanup.add_argument(
        "--yes",
        action="store_true",
        help="confirm a cleanup that deletes every trade (--days 0) or every metric",
    )
    add("summary", "rows per table and per bot, open trades, last heartbeats, file sizes")
    export = add("export", "write trades to a CSV or Parquet file")
    export.add_argument("what", choices=["trades"], help="what to export")
    export.add_argument("--bot", help="only this bot's trades (default: every bot's)")
    export.add_argument(
        "--format",
        choices=["csv", "parquet"],
        help="file format (default: from the --output suffix, else csv)",
    )
    export.add_argument("--output", help="file to write (default: trades[-BOT].FORMAT)")
    add("check", "integrity, foreign keys and schema revision; exit 3 if anything is wrong")
    compact = add(
        "compact",
        "give deleted rows' space back while bots run (a SQLite file created with auto_vacuum "
        "NONE is converted once, only when no Store has it open)",
    )
    compact.add_argument(
        "--step-pages",
        type=pages,
        default=COMPACT_STEP_PAGES,
        help=f"SQLite: pages freed per short write transaction (default {COMPACT_STEP_PAGES})",
    )
    demo = commands.add_parser(
        "demo",
        help="run paper bots and an optimizer against a database",
        description="run paper bots and an optimizer against a database",
    )
    demo.add_argument("--url", default=None, help="database URL (default as for the others)")
    demo.add_argument(
        "--bots", type=int, default=20, help="paper bots trading at once (default 20)"
    )
    demo.add_argument(
        "--seconds", type=float, default=10.0, help="how long they trade (default 10)"
    )
    demo.add_argument(
        "--optimizer-rows", type=int, default=50_000, help="rows in the optimizer batch"
    )
    add_dashboard_parser(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if getattr(args, "echo", False):
        logging.basicConfig(
            stream=sys.stderr, level=logging.WARNING, format="%(name)s: %(message)s"
        )
        for name in ("asyncstore.sql", "sqlalchemy.engine", "alembic"):
            logging.getLogger(name).setLevel(logging.INFO)
    try:
        options: dict[str, object] = {"echo": True} if getattr(args, "echo", False) else {}
        if getattr(args, "tenant", None) is not None:
            options["tenant"] = args.tenant
        settings = load_settings(args.url, options)
        commands = {**COMMANDS, **SCHEMA_COMMANDS, "dashboard": run_dashboard}
        command = commands[args.command]
        return command(CommandContext(args, settings))
    except (AsyncStoreError, OSError, ValueError) as exc:
        # Expected failures get one line, not a traceback: a locked or damaged file, a folder
        # that cannot be written, a row that does not decode.
        print(f"asyncstore {args.command}: {_explain(exc)}", file=sys.stderr)
        return EXIT_ERROR


def _explain(exc: BaseException) -> str:
    if isinstance(exc, OSError) and exc.filename:
        return f"{exc.strerror}: {exc.filename}"
    return str(exc)
