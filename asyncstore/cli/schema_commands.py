"""The commands that make and upgrade databases and their tenants: init, upgrade, current,
tenants."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from asyncstore.backend import BackendAdmin, admin_for
from asyncstore.cli.commands import EXIT_OK, CommandContext, size_text
from asyncstore.errors import AsyncStoreError, ConfigurationError
from asyncstore.reports import UpgradeReport
from asyncstore.store import Store

__all__ = ["SCHEMA_COMMANDS"]


def _init(ctx: CommandContext) -> int:
    async def run() -> tuple[Path | str, str | None]:
        async with Store(**ctx.settings.model_dump()) as store:
            return store.path or store.url, store.schema.current if store.schema else None

    path, revision = asyncio.run(run())
    ctx.emit(
        {"database": path, "revision": revision},
        lambda out: out.print(f"database ready at revision {revision}: {path}"),
    )
    return EXIT_OK


def _upgrade(ctx: CommandContext) -> int:
    """One database, or (without --tenant) the database and then each of its tenants."""
    tenants = [] if ctx.settings.tenant else sorted(asyncio.run(ctx.admin.tenants()))
    admins: dict[str, BackendAdmin] = {}
    if ctx.settings.tenant or not tenants or _has_own_database(ctx.admin):
        admins[""] = ctx.admin
    for tenant in tenants:
        admins[tenant] = admin_for(ctx.settings.model_copy(update={"tenant": tenant}))
    reports: dict[str, UpgradeReport] = {}
    failed: str | None = None
    for name, admin in admins.items():  # one at a time: each takes its backup (SQLite) first
        try:
            reports[name] = asyncio.run(admin.upgrade())
        except (AsyncStoreError, OSError) as exc:
            failed = f"{f'tenant {name}' if name else admin.location}: {exc}"
            break

    def facts(report: UpgradeReport) -> dict[str, Any]:
        return {"before": report.before.current, "after": report.after, "backup": report.backup}

    data = facts(reports[""]) if "" in reports else {}
    if tenants:
        data["tenants"] = {name: facts(reports[name]) for name in tenants if name in reports}

    def render(out: Console) -> None:
        for name, report in reports.items():
            which = f"tenant {name}: " if name else ""
            if report.before.status == "empty":
                out.print(f"{which}the database had no tables: created them at {report.after}")
            elif report.before.current == report.after:
                out.print(f"{which}already at revision {report.after}; nothing to do")
            else:
                where, before = admins[name].location, report.before.current
                out.print(f"{which}upgraded {where} from revision {before} to {report.after}")
                if report.backup is not None:
                    out.print(f"{which}backup taken first: {report.backup.path}")

    ctx.emit(data, render)
    if failed is not None:  # what was done is reported above; the rest was not tried
        untried = [name for name in admins if name and name not in reports][1:]
        rest = f"; not tried: {', '.join(untried)}" if untried else ""
        raise AsyncStoreError(f"{failed}{rest}")
    return EXIT_OK


def _has_own_database(admin: BackendAdmin) -> bool:
    """Whether a database with tenants also holds data of its own (a file, or tables)."""
    try:
        admin.require_database()
    except ConfigurationError:
        return False
    return asyncio.run(admin.schema_state()).status != "empty"


def _tenants(ctx: CommandContext) -> int:
    sizes = asyncio.run(ctx.admin.tenants())

    def render(out: Console) -> None:
        table = Table("tenant", "size", title=f"Tenants of {ctx.admin.location}")
        for name, size in sizes.items():
            table.add_row(name, size_text(size))
        out.print(table if sizes else "no tenants yet")

    ctx.emit({"tenants": [{"name": n, "bytes": b} for n, b in sizes.items()]}, render)
    return EXIT_OK


def _current(ctx: CommandContext) -> int:
    report = asyncio.run(ctx.admin.schema_state())
    ctx.emit(
        {"current": report.current, "head": report.head, "status": report.status},
        lambda out: out.print(f"{report.describe()}: {report.status}"),
    )
    return EXIT_OK


SCHEMA_COMMANDS: dict[str, Callable[[CommandContext], int]] = {
    "init": _init,
    "upgrade": _upgrade,
    "current": _current,
    "tenants": _tenants,
}
