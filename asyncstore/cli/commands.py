"""The `asyncstore` subcommands: each runs one admin operation and prints it (rich or JSON)."""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import sys
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from asyncstore.backend import BackendAdmin, admin_for
from asyncstore.config import StoreSettings
from asyncstore.errors import AsyncStoreError, ConfigurationError
from asyncstore.operations import preview_cleanup
from asyncstore.operations.activity_retention import ActivityCleanup
from asyncstore.operations.archive import ARCHIVE_FORMATS, open_archive
from asyncstore.operations.compaction import compact_database
from asyncstore.operations.export import TRADES, export_trades
from asyncstore.operations.retention import CleanupPreview, CleanupProgress
from asyncstore.operations.summary import DatabaseSummary, database_summary
from asyncstore.repository import TradeRepository
from asyncstore.store import Store

__all__ = [
    "COMMANDS",
    "EXIT_ERROR",
    "EXIT_OK",
    "EXIT_PROBLEMS",
    "EXIT_USAGE",
    "CommandContext",
    "size_text",
]

EXIT_OK = 0
EXIT_ERROR = 1
EXIT_USAGE = 2
EXIT_PROBLEMS = 3


def _plain(value: Any) -> Any:
    """JSON-ready values: paths and decimals as text, times as ISO 8601."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, dict):
        return {str(key): _plain(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(item) for item in value]
    if isinstance(value, Path | Decimal):
        return str(value)
    if isinstance(value, datetime):
        return value.isoformat()
    return value


def size_text(num_bytes: int) -> str:
    """A number of bytes for people: 512 B, 96.0 KiB, 13.9 MiB."""
    for unit in ("B", "KiB", "MiB", "GiB"):
        if num_bytes < 1024 or unit == "GiB":
            return f"{num_bytes:.0f} {unit}" if unit == "B" else f"{num_bytes:.1f} {unit}"
        num_bytes /= 1024  # type: ignore[assignment]
    raise AssertionError("unreachable")


@dataclass
class CommandContext:
    args: argparse.Namespace
    settings: StoreSettings

    @property
    def console(self) -> Console:
        # soft_wrap: a path in a message stays on one line when stdout is a pipe or a file;
        # tables get room too there (rich would assume 80 columns and cut bot ids).
        console = Console(highlight=False, soft_wrap=True)
        if not console.is_terminal:
            console = Console(highlight=False, soft_wrap=True, width=160)
        return console

    def emit(self, data: Any, render: Callable[[Console], None]) -> None:
        if getattr(self.args, "json", False):
            print(json.dumps(_plain(data), indent=2))
        else:
            render(self.console)

    @property
    def admin(self) -> BackendAdmin:
        return admin_for(self.settings)

    def open_store(self) -> Store:
        self.admin.require_database()  # never create a database file by accident
        return Store(**self.settings.model_dump())


def _backup(ctx: CommandContext) -> int:
    destination = Path(ctx.args.path) if ctx.args.path else None
    info = asyncio.run(ctx.admin.backup(destination))
    ctx.emit(
        info,
        lambda out: out.print(
            f"backup verified (integrity_check ok): {info.path} "
            f"({size_text(info.size_bytes)}, {info.seconds:.2f} s)"
        ),
    )
    return EXIT_OK


def _restore(ctx: CommandContext) -> int:
    report = asyncio.run(ctx.admin.restore(Path(ctx.args.path)))

    def render(out: Console) -> None:
        out.print(f"restored from {report.restored_from} ({report.revision.describe()})")
        if report.previous_saved_to is not None:
            out.print(f"the database as it was is saved in {report.previous_saved_to}")
        if report.damaged_moved_to is not None:
            out.print(f"the damaged database was moved aside to {report.damaged_moved_to}")
        if report.revision.status == "behind":
            out.print("the restored schema is older: run `asyncstore upgrade` before the bots")

    ctx.emit(report, render)
    return EXIT_OK


def _cleanup_everything_unconfirmed(args: argparse.Namespace) -> str | None:
    """Why a cleanup that empties a table needs --yes (None: it does not, or has it)."""
    if args.yes or args.dry_run:
        return None
    emptied = []
    if args.days == 0:
        emptied.append("--days 0 deletes every closed and cancelled trade")
    if args.metrics_days == 0:
        emptied.append("--metrics-days 0 deletes every performance_metrics row")
    if not emptied:
        return None
    return (
        f"{' and '.join(emptied)}; nothing was deleted. Add --yes to confirm, or run it with "
        "--dry-run first to see how many rows would go"
    )


def _cleanup_dry_run(ctx: CommandContext) -> int:
    args = ctx.args

    async def run() -> CleanupPreview:
        async with ctx.open_store() as store:  # reads only: the same rules, counted
            return await preview_cleanup(store, args.days, metrics_days_to_keep=args.metrics_days)

    report = asyncio.run(run())

    def render(out: Console) -> None:
        out.print("dry run: nothing was deleted")
        for table, count in report.would_delete.items():
            cutoff = f"{report.cutoffs[table]:%Y-%m-%d %H:%M:%S} UTC"
            out.print(f"would delete {count} old {table} rows (older than {cutoff})")
        if args.archive:
            out.print(f"would archive them to {args.archive} first")
        out.print(f"{report.total} rows would be deleted in all")
        _render_activity(out, report.activity, "would ")

    data = {"dry_run": True, "would_delete": report.would_delete, "total": report.total}
    ctx.emit({**data, "cutoffs": report.cutoffs, "activity": report.activity}, render)
    return EXIT_OK


def _render_activity(out: Console, activity: ActivityCleanup, would: str = "") -> None:
    """Bot activity's retention, apart from the rows deleted (its buckets are derived data)."""
    if activity.buckets_deleted:
        before = f"{activity.deleted_before:%Y-%m-%d %H:%M} UTC"
        verb = "delete" if would else "deleted"
        out.print(f"{would}{verb} {activity.buckets_deleted} bot activity buckets before {before}")
    if activity.minutes_rolled_up:
        before = f"{activity.rolled_up_before:%Y-%m-%d %H:%M} UTC"
        verb = "roll" if would else "rolled"
        out.print(
            f"{would}{verb} {activity.minutes_rolled_up} minute buckets of bot activity before "
            f"{before} up into {activity.hours_written} hourly ones"
        )


def _cleanup(ctx: CommandContext) -> int:
    args = ctx.args
    refusal = _cleanup_everything_unconfirmed(args)
    if refusal is not None:
        print(f"asyncstore cleanup: {refusal}", file=sys.stderr)
        return EXIT_USAGE
    if args.dry_run:
        return _cleanup_dry_run(ctx)

    async def run(on_progress: Callable[[CleanupProgress], None]) -> Any:
        async with ctx.open_store() as store:
            return await TradeRepository(store).cleanup(
                args.days,
                metrics_days_to_keep=args.metrics_days,
                archive=args.archive,
                on_progress=on_progress,
            )

    progress = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=Console(stderr=True),
        disable=args.json,
    )
    tasks: dict[str, Any] = {}

    def on_progress(step: CleanupProgress) -> None:
        if step.table not in tasks:
            tasks[step.table] = progress.add_task(f"deleting old {step.table}", total=step.expected)
        progress.update(tasks[step.table], completed=step.deleted)

    deleted: dict[str, int] = {}

    def on_step(step: CleanupProgress) -> None:
        deleted[step.table] = step.deleted
        on_progress(step)

    with progress:
        try:
            report = asyncio.run(run(on_step))
        except (AsyncStoreError, OSError, ValueError) as exc:
            done = sum(deleted.values())
            if not done:
                raise
            archived = f" (archived to {args.archive})" if args.archive else ""
            raise AsyncStoreError(
                f"{exc}; {done} old rows had already been deleted{archived}: run the same "
                "cleanup again to finish"
            ) from exc

    def render(out: Console) -> None:
        for table, count in report.deleted.items():
            out.print(f"deleted {count} old {table} rows")
        for path in report.archives:
            out.print(f"archived to {path}")
        out.print(f"{report.total} rows deleted in all")
        _render_activity(out, report.activity)
        if report.vacuumed:
            out.print(f"vacuumed {', '.join(report.vacuumed)}")
        if report.vacuum_error:
            out.print(f"the VACUUM afterwards failed: {report.vacuum_error}", markup=False)

    data = {
        "deleted": report.deleted,
        "total": report.total,
        "archives": report.archives,
        "vacuumed": report.vacuumed,
        "vacuum_error": report.vacuum_error,
    }
    ctx.emit({**data, "activity": report.activity}, render)
    return EXIT_OK


def _summary(ctx: CommandContext) -> int:
    async def run() -> DatabaseSummary:
        async with ctx.open_store() as store:
            return await database_summary(store)

    summary = asyncio.run(run())

    def render(out: Console) -> None:
        where = f"{summary.location}: revision {summary.revision}"
        if summary.path is None:  # a server: no file, and its log is its own business
            out.print(f"{where}, database size {size_text(summary.file_bytes)}")
        else:
            out.print(
                f"{where}, file {size_text(summary.file_bytes)}, WAL {size_text(summary.wal_bytes)}"
            )
        tables = Table("table", "rows", title="Tables")
        for name, count in summary.rows.items():
            tables.add_row(name, str(count))
        tables.add_row("trades (open)", str(summary.open_trades))
        out.print(tables)
        bots = Table("bot", "type", "status", "trades", "open", "last heartbeat", title="Bots")
        for bot in summary.bots:
            beat = f"{bot.last_heartbeat:%Y-%m-%d %H:%M:%S}" if bot.last_heartbeat else "never"
            bots.add_row(bot.id, bot.type, bot.status, str(bot.trades), str(bot.open_trades), beat)
        out.print(bots)

    ctx.emit(summary, render)
    return EXIT_OK


def _export(ctx: CommandContext) -> int:
    args = ctx.args
    suffix = f"-{args.bot}" if args.bot else ""
    from_suffix = Path(args.output).suffix.lstrip(".") if args.output else ""
    file_format = args.format or (from_suffix if from_suffix in ARCHIVE_FORMATS else "csv")
    output = Path(args.output or f"trades{suffix}.{file_format}")
    if output.exists():
        raise ConfigurationError(f"{output} exists; export never overwrites a file")

    async def run() -> int:
        async with ctx.open_store() as store:
            sink = await asyncio.to_thread(open_archive, output, TRADES, file_format)
            return await export_trades(store, sink, bot_id=args.bot)

    written = asyncio.run(run())
    ctx.emit(
        {"rows": written, "path": output.absolute(), "format": file_format},
        lambda out: out.print(f"exported {written} trades to {output}"),
    )
    return EXIT_OK


def _check(ctx: CommandContext) -> int:
    report = asyncio.run(ctx.admin.check())
    data = {**_plain(report), "ok": report.ok, "problems": report.problems}

    def render(out: Console) -> None:
        for note in report.notes:  # what was checked, in the database's own terms
            out.print(note)
        schema = report.schema
        out.print(
            f"schema: {schema.describe()} ({schema.status})" if schema else "schema: unreadable"
        )
        for problem in report.problems:
            out.print(f"problem: {problem}")
        out.print("healthy" if report.ok else "PROBLEMS FOUND")

    ctx.emit(data, render)
    return EXIT_OK if report.ok else EXIT_PROBLEMS


def _compact(ctx: CommandContext) -> int:
    report = asyncio.run(compact_database(ctx.settings, step_pages=ctx.args.step_pages))
    data = {**_plain(report), "bytes_freed": report.bytes_freed}

    def render(out: Console) -> None:
        out.print(f"compacted {report.location} ({report.method})")
        sizes = f"{size_text(report.bytes_before)} -> {size_text(report.bytes_after)}"
        freed = report.bytes_freed  # negative: the database grew (VACUUM's maps, bots' writes)
        change = f"{size_text(freed)} freed" if freed >= 0 else f"{size_text(-freed)} more"
        out.print(f"size: {sizes} ({change})")
        if report.log_bytes_before is not None and report.log_bytes_after is not None:
            out.print(
                f"WAL: {size_text(report.log_bytes_before)} -> {size_text(report.log_bytes_after)}"
            )
        if report.free_pages_before is not None:
            pages = f"{report.free_pages_before} -> {report.free_pages_after}"
            out.print(f"free pages: {pages} (page size {report.page_size} B)")
        longest = f"longest {report.longest_step_ms:.1f} ms"
        out.print(f"steps: {report.steps} ({longest}), {report.seconds:.2f} s in all")
        for note in report.notes:
            out.print(note)

    ctx.emit(data, render)
    return EXIT_OK


def _demo(ctx: CommandContext) -> int:
    args = ctx.args
    if args.bots < 1 or args.seconds <= 0 or args.optimizer_rows < 0:
        print(
            "asyncstore demo: --bots must be >= 1, --seconds > 0, --optimizer-rows >= 0",
            file=sys.stderr,
        )
        return EXIT_USAGE
    from asyncstore.cli.demo import run_demo

    report = asyncio.run(
        run_demo(
            ctx.settings.database_url,
            bots=args.bots,
            seconds=args.seconds,
            optimizer_rows=args.optimizer_rows,
        )
    )
    Console().print(report.table())
    print("asyncstore demo finished")
    for line in report.lines():
        print(f"  {line}")
    return EXIT_OK


COMMANDS: dict[str, Callable[[CommandContext], int]] = {
    "backup": _backup,
    "restore": _restore,
    "cleanup": _cleanup,
    "summary": _summary,
    "export": _export,
    "check": _check,
    "compact": _compact,
    "demo": _demo,
}
