"""Every error stays in the AsyncStoreError tree, and rows read back are trusted.

1. Junk of every kind in every argument of every public call (repositories, Store, bots
   helpers): the call succeeds or raises an AsyncStoreError; a wrong-typed argument is an
   InvalidDataError naming that argument, and a call refused that way wrote nothing.
2. Rows another tool wrote that break the input rules but fit their columns load as stored.
3. A stored value that cannot be decoded is an UnreadableRowError naming table, row and column.
"""

from __future__ import annotations

import contextlib
import inspect
import json
import math
import signal
import sqlite3
import uuid
from collections.abc import AsyncIterable, AsyncIterator, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel
from sqlalchemy import select
from sqlalchemy.engine import make_url
from sqlalchemy.sql.expression import Executable

import asyncstore.bots
from asyncstore import (
    AsyncStoreError,
    BotHeartbeat,
    BotInstanceCreate,
    BotRepository,
    InvalidDataError,
    Store,
    TradeRecord,
    TradeRepository,
    UnreadableRowError,
    find_stale_bots,
    mark_stale_bots,
    recover_bot,
    stop_on_signals,
)
from asyncstore.schema.tables import BOTS, DATA_TABLES, METRICS, TRADES
from asyncstore.writes import AtomicStatements, InsertRows, StampHeartbeat, UpdateRow, WriteOp
from tests.conftest import BOT_ID, trade_data

# --- what each kind of argument accepts, and junk for it --------------------------------------


def _is(*types: Any, none: bool = False) -> Callable[[Any], bool]:
    """Instances of `types` (never a bool, unless bool is one of them), or None if `none`."""
    exact = bool in types
    return lambda v: (
        (none and v is None) or (isinstance(v, types) and (exact or not isinstance(v, bool)))
    )


# Argument kind -> the types it takes. Junk of any other type must be an InvalidDataError.
ACCEPTS: dict[str, Callable[[Any], bool]] = {
    "store": _is(Store),
    "repo": _is(TradeRepository),
    "text": _is(str),
    "text?": _is(str, none=True),
    "row_id": _is(str, uuid.UUID),
    "data": _is(Mapping, BaseModel),
    "rows": lambda v: (
        _is(Iterable, AsyncIterable)(v) and not _is(str, bytes, Mapping, BaseModel)(v)
    ),
    "limit": _is(int, none=True),
    "money": _is(Decimal, int, float, str, none=True),
    "days": _is(int),
    "archive": _is(str, Path, none=True),
    "callback": lambda v: v is None or callable(v),
    "number": _is(int, float),
    "sql": _is(str, Executable),
    "params": lambda v: _is(Sequence, Mapping)(v) and not _is(str, bytes)(v),
    "flag": _is(bool),
    "op": _is(AtomicStatements, InsertRows, StampHeartbeat, UpdateRow),
    "time?": _is(datetime, none=True),
    "signals": lambda v: (
        _is(Sequence)(v)
        and not _is(str, bytes)(v)
        and bool(v)
        and all(isinstance(item, signal.Signals) for item in v)
    ),
    "page": _is(int),
    "tables": lambda v: (
        _is(Sequence)(v)
        and not _is(str, bytes)(v)
        and all(item in [table.name for table in DATA_TABLES] for item in v)
    ),
    "after": _is(TradeRecord, str, uuid.UUID, none=True),
}


class WrongModel(BaseModel):
    x: int = 1


async def _one_junk_row() -> AsyncIterator[Any]:
    yield 1


NUMBERS = [None, 0, -1, 2**63, 10**30, True, False, 1.5, 0.0, math.nan, math.inf, -math.inf]
DECIMALS = [Decimal("NaN"), Decimal("sNaN"), Decimal("1E+400"), Decimal("-7"), complex(1, 2)]
TEXTS = [b"", b"my_bot_001", "", "abc", "x" * 100_000, "\x00", "\ud800", "90", "running"]
# Relative paths (the sweep runs in its own folder); the last one is under a file on SQLite.
PATHS = ["x.csv", "sub/dir/x.csv", "a\x00.csv", Path("x.csv"), "db/trading.db/x.csv"]
CONTAINERS = [[], [1, "a", None], [{"bot_id": BOT_ID}], (1, 2), {}, {"a": 1}, {1: 2}, {1, 2}]
OBJECTS = [frozenset(), range(3), object(), int, lambda *_: None, select(TRADES), uuid.uuid4()]
# A model of no table, a real one of another table, a write operation no backend runs.
MODELS = [WrongModel(), BotInstanceCreate(id="x", type="paper"), WriteOp()]
TIMES = [datetime(2024, 1, 1), datetime(2024, 1, 1, tzinfo=timezone(timedelta(hours=-5)))]
PLAIN = [*NUMBERS, *DECIMALS, *TEXTS, *PATHS, *CONTAINERS, *OBJECTS, *MODELS, *TIMES]
# Factories: iterators are one-shot, so each call gets a fresh one.
JUNK: list[Callable[[], Any]] = [*(lambda v=v: v for v in PLAIN), lambda: iter([None])]
JUNK.append(_one_junk_row)


# --- every public call, and how to call it with one argument replaced --------------------------


@dataclass(frozen=True)
class Param:
    name: str
    kind: str
    valid: Any
    keyword: bool = False


@dataclass
class World:
    store: Store
    repo: TradeRepository
    trade_id: str
    tables: list[list[tuple[Any, ...]]] | None = None  # as of the last call; None: unknown


async def _beat_once(repo: Any, bot_id: Any, *, every: Any) -> None:
    async with BotHeartbeat(repo, bot_id, every=every):
        pass


async def _stop_handlers_once(signals: Any, *, grace_s: Any) -> None:
    async with stop_on_signals(signals, grace_s=grace_s):
        pass


Target = tuple[Callable[..., Any], list[Param]]


def targets(w: World) -> dict[str, Target]:
    """Every public call, with valid arguments; the sweep replaces one at a time."""
    trade_id, bot_id = Param("trade_id", "row_id", w.trade_id), Param("bot_id", "text", BOT_ID)
    change = Param("data", "data", {"exit_reason": "sweep"})
    symbol, limit = Param("symbol", "text?", "BTCUSDT", True), Param("limit", "limit", 5, True)
    only = Param("bot_id", "text?", BOT_ID, True)
    balance = Param("starting_balance", "money", None)
    # The filters of get_trades / iter_trades (bot_id aside), and the page position.
    pages = [
        symbol,
        Param("status", "text?", "open", True),
        Param("trade_type", "text?", "paper", True),
        Param("entry_logic_name", "text?", "RSIBBVolumeEntryMixin", True),
        Param("exit_logic_name", "text?", "ATRExitMixin", True),
        Param("since", "time?", datetime(2024, 1, 1, tzinfo=UTC), True),
        Param("until", "time?", None, True),
    ]
    after = Param("after", "after", w.trade_id, True)
    both: dict[str, list[Param]] = {  # TradeRepository and BotRepository alike
        "create_trade": [Param("data", "data", trade_data())],
        "update_trade": [trade_id, change],
        "get_trade_by_id": [trade_id],
        "bulk_create_trades": [
            Param("rows", "rows", [trade_data()]),
            Param("on_conflict", "text", "error", True),
        ],
        "create_performance_metrics": [Param("data", "data", {"bot_id": BOT_ID})],
        "close_trade": [trade_id, Param("data", "data", {"exit_price": "50100"})],
        "bulk_update_trades": [
            Param("updates", "rows", [(w.trade_id, {"exit_reason": "sweep"})]),
            Param("missing", "text", "error", True),
        ],
        "atomic": [],
    }
    # The activity reads (equity_history takes both, heartbeat_timeline `since`).
    activity = [
        Param("since", "time?", datetime(2024, 1, 1, tzinfo=UTC), True),
        Param("max_points", "page", 5, True),
    ]
    cleanup = [Param("days_to_keep", "days", 90), Param("metrics_days_to_keep", "days", 365, True)]
    cleanup += [
        Param("archive", "archive", None, True),
        Param("on_progress", "callback", None, True),
    ]
    of_all = {
        "for_bot": [bot_id],
        "create_bot_instance": [Param("data", "data", {"id": "swept", "type": "paper"})],
        "get_bot_instance": [bot_id],
        "get_bot_instances": [Param("status", "text?", "running", True)],
        "update_bot_instance": [bot_id, Param("data", "data", {"config_file": "x.yaml"})],
        "heartbeat": [bot_id],
        "get_open_trades": [only, symbol],
        "get_closed_trades": [only, symbol, limit],
        "calculate_performance_metrics": [bot_id, balance],
        "get_trade_summary": [Param("bot_id", "text?", None)],
        "get_trades": [only, *pages, Param("limit", "page", 5, True), after],
        "iter_trades": [only, *pages, Param("page_size", "page", 5, True)],
        "get_strategy_summary": [
            Param("bot_id", "text?", None),
            Param("since", "time?", None),
            Param("until", "time?", None),
        ],
        "cleanup_old_data": cleanup,
        "cleanup": cleanup,
        "equity_history": [bot_id, *activity],
        "heartbeat_timeline": [bot_id, activity[0]],
    }
    of_one = {
        "get_bot_instance": [],
        "update_bot_instance": [Param("data", "data", {"config_file": "x.yaml"})],
        "heartbeat": [],
        "get_open_trades": [symbol],
        "get_closed_trades": [symbol, limit],
        "calculate_performance_metrics": [balance],
        "get_trade_summary": [],
        "get_trades": [*pages, Param("limit", "page", 5, True), after],
        "iter_trades": [*pages, Param("page_size", "page", 5, True)],
        "equity_history": activity,
        "heartbeat_timeline": activity[:1],
    }
    query = [Param("sql", "sql", "SELECT count(*) FROM trades"), Param("params", "params", ())]
    of_store = {
        "fetch_all": [*query, Param("primary", "flag", False, True)],
        "submit": [Param("op", "op", AtomicStatements([], "sweep"))],
        **{name: [] for name in ("health", "storage", "create_tables", "compact")},
        "reclaim_deleted": [Param("tables", "tables", ["trades"])],
    }
    calls: dict[str, Target] = {}
    for owner, methods in [
        (w.repo, {**both, **of_all}),
        (w.repo.for_bot(BOT_ID), {**both, **of_one}),
        (w.store, of_store),
    ]:
        calls |= {f"{type(owner).__name__}.{m}": (getattr(owner, m), p) for m, p in methods.items()}
    repo, store = Param("repo", "repo", w.repo), Param("store", "store", w.store)
    every, missed = Param("every", "number", 5, True), Param("missed", "number", 3, True)
    return calls | {
        "TradeRepository": (TradeRepository, [store]),
        "BotRepository": (BotRepository, [store, bot_id]),
        "BotHeartbeat": (_beat_once, [repo, bot_id, every]),
        "find_stale_bots": (find_stale_bots, [repo, every, missed]),
        "mark_stale_bots": (mark_stale_bots, [repo, every, missed]),
        "recover_bot": (recover_bot, [repo, bot_id]),
        "stop_on_signals": (
            _stop_handlers_once,
            [Param("signals", "signals", (signal.SIGTERM,)), Param("grace_s", "number", 30, True)],
        ),
    }


async def snapshot(store: Store) -> list[list[tuple[Any, ...]]]:
    return [await store.fetch_all(select(t).order_by(t.c.id), {}) for t in (BOTS, TRADES, METRICS)]


class CallbackFailed(Exception):
    """Raised by the caller's own callback: it reaches the caller unchanged, by design."""


def _guarded(callback: Callable[..., Any]) -> Callable[..., Any]:
    def call(*args: Any) -> Any:
        try:
            return callback(*args)
        except Exception as exc:
            raise CallbackFailed from exc

    return call


async def check_call(w: World, name: str, position: int | None, junk: Any) -> str | None:
    """Call `name` with argument `position` replaced by `junk` (None: all valid arguments);
    returns what went wrong, or None."""
    target, params = targets(w)[name]
    wrong = None if position is None else params[position]
    if wrong is not None and wrong.kind == "callback" and callable(junk):
        junk = _guarded(junk)  # e.g. int: callable, but it fails when given the progress
    args = [junk if p is wrong else p.valid for p in params if not p.keyword]
    kwargs = {p.name: junk if p is wrong else p.valid for p in params if p.keyword}
    call = f"{name}({'' if wrong is None else wrong.name}={junk!r:.60})"
    if wrong is not None and ACCEPTS[wrong.kind](junk):
        wrong = None  # the right type (perhaps a bad value): any AsyncStoreError will do
    before = w.tables if w.tables is not None else await snapshot(w.store)
    w.tables = None  # a call that is not refused may write
    try:
        result = target(*args, **kwargs)
        if inspect.isawaitable(result):
            await result
    except InvalidDataError as exc:
        w.tables = await snapshot(w.store)
        if w.tables != before:
            return f"{call} was refused but wrote"
        named = wrong is None or wrong.name in {error.field for error in exc.errors}
        return None if named and all(exc.errors) else f"{call}: {exc} does not name the argument"
    except CallbackFailed:
        return None
    except AsyncStoreError as exc:
        return None if wrong is None else f"{call}: {type(exc).__name__}, not InvalidDataError"
    except Exception as exc:
        return f"{call} escaped the AsyncStoreError tree: {type(exc)}: {exc!r:.200}"
    return None if wrong is None else f"{call}: a wrong-typed {wrong.name} was accepted"


@pytest.fixture
async def world(
    repo: TradeRepository, bot: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> World:
    monkeypatch.chdir(tmp_path)  # junk archive paths ("x.csv") land in the test's own folder
    return World(repo.store, repo, (await repo.create_trade(trade_data())).id)


def _public_coroutines(cls: type) -> set[str]:
    members = inspect.getmembers(cls, inspect.iscoroutinefunction)
    return {f"{cls.__name__}.{name}" for name, _ in members if not name.startswith("_")}


async def test_the_sweep_covers_every_public_call(world: World) -> None:
    lifecycle = {"Store.start", "Store.close"}  # no arguments, and they end the sweep's Store
    public = _public_coroutines(TradeRepository) | _public_coroutines(BotRepository)
    public |= _public_coroutines(Store) - lifecycle
    records = {"BotRecovery", "StopRequest"}  # results, not calls
    public |= {name for name in asyncstore.bots.__all__ if name not in records}
    assert public - set(targets(world)) == set()


async def test_every_argument_with_every_kind_of_junk(world: World) -> None:
    problems = []
    for name, (_, params) in targets(world).items():
        problems.append(await check_call(world, name, None, None))
        for position in range(len(params)):
            problems += [await check_call(world, name, position, make()) for make in JUNK]
    found = [problem for problem in problems if problem]
    assert not found, "\n".join(found)


# The call names, from a Store that is never opened (targets only looks the methods up).
_UNOPENED = Store("sqlite+aiosqlite:///never-opened.db")
CALLS = sorted(targets(World(_UNOPENED, TradeRepository(_UNOPENED), "")))
# Generated junk; text without path separators, as it may become an archive's file name.
GENERATED = st.one_of(
    st.sampled_from(JUNK).map(lambda make: make()),
    st.none() | st.booleans() | st.integers() | st.floats() | st.decimals() | st.uuids(),
    st.text(st.characters(exclude_characters="/\\"), max_size=40) | st.binary(max_size=20),
    st.datetimes(timezones=st.none() | st.just(UTC)),
    st.lists(st.integers() | st.text(max_size=4) | st.none(), max_size=3),
    st.dictionaries(st.text(max_size=6), st.integers() | st.text(max_size=4), max_size=3),
    st.sets(st.integers(), max_size=3) | st.builds(object) | st.tuples(st.integers()),
)
FIXTURES = [HealthCheck.function_scoped_fixture, HealthCheck.too_slow]


@settings(max_examples=150, deadline=None, suppress_health_check=FIXTURES)
@given(name=st.sampled_from(CALLS), position=st.integers(0, 3), junk=GENERATED)
async def test_random_junk_in_a_random_argument(
    world: World, name: str, position: int, junk: Any
) -> None:
    params = targets(world)[name][1]
    problem = await check_call(world, name, position % len(params) if params else None, junk)
    assert problem is None, problem


# --- the cases, one by one ------------------------------------------------------------

NAMED: list[tuple[str, Callable[[World], Any], str]] = [
    ("bulk_None", lambda w: w.repo.bulk_create_trades(None), "rows"),
    ("bulk_one_trade", lambda w: w.repo.bulk_create_trades(trade_data()), "rows"),
    ("bulk_str", lambda w: w.repo.bulk_create_trades("abc"), "rows"),
    ("bot_bulk_None", lambda w: w.repo.for_bot(BOT_ID).bulk_create_trades(None), "rows"),
    ("update_trade_123", lambda w: w.repo.update_trade(123, {"status": "closed"}), "trade_id"),
    ("get_trade_by_id_None", lambda w: w.repo.get_trade_by_id(None), "trade_id"),
    ("heartbeat_5", lambda w: w.repo.heartbeat(5), "bot_id"),
    ("cleanup_days_str", lambda w: w.repo.cleanup_old_data("90"), "days_to_keep"),
    ("cleanup_archive_5", lambda w: w.repo.cleanup_old_data(archive=5), "archive"),
    ("BotHeartbeat_every_str", lambda w: BotHeartbeat(w.repo, BOT_ID, every="5"), "every"),
    ("fetch_all_5", lambda w: w.store.fetch_all(5), "sql"),
    ("fetch_all_mapping", lambda w: w.store.fetch_all("SELECT ?", {"a": 1}), "params"),
    ("submit_str", lambda w: w.store.submit("not an op"), "op"),
    ("TradeRepository_None", lambda w: TradeRepository(None), "store"),
]


@pytest.mark.parametrize(("call", "field"), [c[1:] for c in NAMED], ids=[c[0] for c in NAMED])
async def test_named_wrong_types_are_invalid_data(
    world: World, call: Callable[[World], Any], field: str
) -> None:
    before = await snapshot(world.store)
    with pytest.raises(InvalidDataError) as caught:
        result = call(world)
        if inspect.isawaitable(result):
            await result
    assert [error.field for error in caught.value.errors] == [field], str(caught.value)
    assert await snapshot(world.store) == before


async def test_what_a_driver_refuses_stays_in_the_tree(world: World) -> None:
    # asyncpg's complaints about a query's parameters carry no SQLSTATE to translate by.
    for call in [
        lambda: world.store.fetch_all("SELECT 1", [1, 2]),
        lambda: world.store.fetch_all("SELECT ?", [object()]),
        lambda: world.store.submit(InsertRows(TRADES, [(1,)], "a row of one value")),
    ]:
        with pytest.raises(AsyncStoreError):
            await call()


async def test_intervals_are_finite_and_huge_spans_do_not_overflow(world: World) -> None:
    for every in (math.inf, math.nan, 10**400):  # an infinite interval would never beat again
        with pytest.raises(InvalidDataError, match="every: must be a finite number"):
            BotHeartbeat(world.repo, BOT_ID, every=every)
    await world.repo.heartbeat(BOT_ID)
    # Spans reaching back past year 1 mean "never": nothing that beat is stale, nothing is old.
    assert await find_stale_bots(world.repo, every=10**30) == []
    assert await world.repo.cleanup_old_data(10**30, metrics_days_to_keep=10**30) == 0


# --- rows written by another tool -------------------------------------------------------------

OTHER_BOT = "written_elsewhere"
WHEN = datetime(2024, 5, 6, 7, 8, 9, 123456, tzinfo=UTC)


async def insert_as_another_tool(store: Store, table: str, row: dict[str, Any]) -> None:
    """One INSERT through a plain driver connection (not asyncstore), values as stored."""
    columns = ", ".join(row)
    if store.backend == "sqlite":
        with sqlite3.connect(str(store.path)) as conn:
            marks = ", ".join("?" * len(row))
            conn.execute(f"INSERT INTO {table} ({columns}) VALUES ({marks})", _sqlite(row))
        conn.close()
        return
    conn = await asyncpg.connect(
        make_url(store.url).set(drivername="postgresql").render_as_string(False)
    )
    try:
        marks = ", ".join(f"${n}" for n in range(1, len(row) + 1))
        values = [json.dumps(v) if isinstance(v, dict) else v for v in row.values()]
        await conn.execute(f"INSERT INTO {table} ({columns}) VALUES ({marks})", *values)
    finally:
        await conn.close()


def _sqlite(row: dict[str, Any]) -> list[Any]:
    """Values as asyncstore stores them on SQLite (asyncstore/types.py): money as fixed-scale
    text ('-1.00000000'), times as naive UTC text, JSON as text."""
    stored = []
    for value in row.values():
        if isinstance(value, Decimal):
            value = f"{value:.8f}"
        elif isinstance(value, datetime):
            value = value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")
        stored.append(json.dumps(value) if isinstance(value, dict) else value)
    return stored


def odd_trade(**overrides: Any) -> dict[str, Any]:
    """A trade that breaks input rules (empty names, negative price and size) but fits every
    column and CHECK constraint."""
    names = {"strategy_name": "", "entry_logic_name": "", "exit_logic_name": "x", "interval": ""}
    return {
        "id": str(uuid.uuid4()),
        "bot_id": OTHER_BOT,
        "trade_type": "optimization",
        **names,
        "symbol": "BTCUSDT",
        "entry_time": WHEN,
        "entry_price": Decimal("-3.5"),
        "size": Decimal("-1"),
        "direction": "short",
        "status": "open",
        "extra_metadata": {"written_by": "another tool"},
        "created_at": WHEN,
        "updated_at": WHEN,
        **overrides,
    }


def assert_as_stored(record: BaseModel, row: dict[str, Any]) -> None:
    for column, stored in row.items():
        got = getattr(record, column)
        if isinstance(stored, Decimal):  # exactly, at the column's scale
            assert str(got) == f"{stored:.8f}", column
        else:
            assert got == stored, column


async def test_rows_breaking_input_rules_are_trusted(repo: TradeRepository, bot: str) -> None:
    odd_bot = {"id": OTHER_BOT, "type": "live", "config_file": "", "status": "stopped"}
    odd_bot |= {"current_balance": Decimal("-5"), "created_at": WHEN, "updated_at": WHEN}
    # SQLite does not enforce VARCHAR lengths: another tool may store a 25-character symbol.
    sqlite = repo.store.backend == "sqlite"
    opened = odd_trade(**({"symbol": "S" * 25, "interval": "I" * 15} if sqlite else {}))
    closed = odd_trade(status="closed", exit_price=Decimal("-1"), exit_reason="", exit_time=WHEN)
    closed["net_pnl"] = Decimal("12.5")
    for table, row in [("bot_instances", odd_bot), ("trades", opened), ("trades", closed)]:
        await insert_as_another_tool(repo.store, table, row)

    (record,) = await repo.get_open_trades(bot_id=OTHER_BOT)
    assert_as_stored(record, opened)
    assert await repo.get_trade_by_id(opened["id"]) == record
    assert await repo.for_bot(OTHER_BOT).get_open_trades() == [record]
    (ended,) = await repo.get_closed_trades(bot_id=OTHER_BOT)
    assert_as_stored(ended, closed)
    recovery = await recover_bot(repo, OTHER_BOT)
    assert recovery.open_trades == [record]
    assert_as_stored(
        recovery.bot,
        {k: v for k, v in odd_bot.items() if k != "status"}
        | {"updated_at": recovery.bot.updated_at},
    )
    metrics = await repo.calculate_performance_metrics(OTHER_BOT)
    assert (metrics.total_trades, metrics.largest_win) == (1, Decimal("12.5"))
    assert (await repo.get_trade_summary(OTHER_BOT))["total_net_pnl"] == Decimal("12.5")


async def test_a_nan_amount_is_trusted_and_named_where_it_cannot_count(
    repo: TradeRepository, bot: str, tmp_path: Path
) -> None:
    # PostgreSQL's NUMERIC holds NaN; on SQLite another tool can store the text.
    nan = Decimal("NaN") if repo.store.backend == "postgresql" else "NaN"
    old = datetime(2020, 1, 1, tzinfo=UTC)
    row = odd_trade(bot_id=BOT_ID, status="closed", net_pnl=nan, exit_time=old)
    await insert_as_another_tool(repo.store, "trades", row)
    (stored,) = await repo.get_closed_trades()
    assert stored.net_pnl is not None and stored.net_pnl.is_nan()
    with pytest.raises(UnreadableRowError, match=f"trades row '{row['id']}', column net_pnl"):
        await repo.calculate_performance_metrics(BOT_ID)
    # Parquet's decimal column cannot hold it: an AsyncStoreError, the row kept staged.
    with pytest.raises(AsyncStoreError, match="could not be archived"):
        await repo.cleanup_old_data(0, archive=tmp_path / "old.parquet")
    assert row["id"] in (tmp_path / "old.parquet.pending").read_text()


# --- stored values that cannot be read at all ------------------------------------------------


async def assert_unreadable(repo: TradeRepository, trade_id: str, column: str) -> None:
    for read in [
        lambda: repo.get_trade_by_id(trade_id),
        repo.get_open_trades,
        lambda: recover_bot(repo, BOT_ID),
    ]:
        with pytest.raises(UnreadableRowError) as caught:
            await read()
        message = str(caught.value)
        assert f"trades row '{trade_id}', column {column}:" in message, message
        assert isinstance(caught.value, AsyncStoreError)


@pytest.mark.sqlite_only  # SQLite stores any value in any column; PostgreSQL checks its types
@pytest.mark.parametrize(
    ("column", "stored"),
    [
        ("entry_price", "abc"),
        ("size", b"\x00"),  # a BLOB in a money column
        ("entry_time", "yesterday"),
        ("extra_metadata", "{not json"),
    ],
)
async def test_an_undecodable_value_names_table_row_and_column(
    repo: TradeRepository, bot: str, tmp_path: Path, column: str, stored: Any
) -> None:
    await repo.create_trade(trade_data())  # a good row beside the bad one
    row = odd_trade(bot_id=BOT_ID, **{column: stored})
    await insert_as_another_tool(repo.store, "trades", row)
    await assert_unreadable(repo, row["id"], column)
    with pytest.raises(UnreadableRowError, match="the update itself was committed"):
        await repo.update_trade(row["id"], {"exit_reason": "seen"})
    # Retention archives such a row as stored, or stops with an AsyncStoreError.
    old = odd_trade(bot_id=BOT_ID, status="cancelled", **{column: stored})
    await insert_as_another_tool(repo.store, "trades", old)
    for archive in ("old.csv", "old.parquet"):
        with contextlib.suppress(AsyncStoreError):
            await repo.cleanup_old_data(0, archive=tmp_path / archive)


async def test_a_time_with_no_datetime_is_unreadable_on_postgresql(pg_url: str) -> None:
    async with Store(pg_url) as store:
        repo = TradeRepository(store)
        await repo.create_bot_instance({"id": BOT_ID, "type": "paper"})
        row = odd_trade(bot_id=BOT_ID)
        await insert_as_another_tool(store, "trades", row)
        dsn = make_url(pg_url).set(drivername="postgresql").render_as_string(False)
        conn = await asyncpg.connect(dsn)
        try:  # TIMESTAMPTZ holds 'infinity', which no Python datetime can be
            await conn.execute("UPDATE trades SET entry_time = 'infinity' WHERE id = $1", row["id"])
        finally:
            await conn.close()
        await assert_unreadable(repo, row["id"], "entry_time")
