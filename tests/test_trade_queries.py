"""get_trades / iter_trades (filters, time ranges, keyset pages), the typed trade summary and
the per-strategy summary, on both backends."""

from __future__ import annotations

import asyncio
import random
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import bindparam, delete

from asyncstore import (
    InvalidDataError,
    NotFoundError,
    Store,
    StrategySummary,
    TradeRecord,
    TradeRepository,
    TradeSummary,
)
from asyncstore.schema.tables import TRADES
from asyncstore.writes import AtomicStatements
from tests.conftest import BOT_ID, trade_data

OTHER_BOT = "other_bot"
T0 = datetime(2024, 3, 1, 12, 0, tzinfo=UTC)


def trade_row(entry_time: datetime | None, **overrides: Any) -> dict[str, Any]:
    """A trade with a random (UUID4) id, so ties on entry_time are not in insertion order."""
    row = trade_data(id=str(uuid.uuid4()), entry_time=entry_time, **overrides)
    if row["status"] == "closed":
        row.setdefault("exit_price", "50100")
    return row


def in_order(rows: Sequence[dict[str, Any]]) -> list[str]:
    """The documented order: (entry_time, id), trades without an entry_time last, by id."""
    timed = sorted((r for r in rows if r["entry_time"] is not None), key=_time_and_id)
    untimed = sorted(r["id"] for r in rows if r["entry_time"] is None)
    return [r["id"] for r in timed] + untimed


def _time_and_id(row: dict[str, Any]) -> tuple[datetime, str]:
    return row["entry_time"], row["id"]


def ids(trades: Sequence[TradeRecord]) -> list[str]:
    return [trade.id for trade in trades]


async def every_page(repo: Any, limit: int, by_id: bool = False, **filters: Any) -> list[str]:
    """Every page of get_trades, `after` = the last trade of the page before (or its id)."""
    seen: list[str] = []
    after: TradeRecord | str | None = None
    while True:
        page = await repo.get_trades(**filters, limit=limit, after=after)
        assert len(page) <= limit
        assert not set(ids(page)) & set(seen), "a page repeated trades"  # (not loop forever)
        seen += ids(page)
        if len(page) < limit:
            return seen
        after = page[-1].id if by_id else page[-1]


@pytest.fixture
async def two_bots(repo: TradeRepository, bot: str) -> TradeRepository:
    await repo.create_bot_instance({"id": OTHER_BOT, "type": "live"})
    return repo


# --- filters and time ranges ------------------------------------------------------------------


def mixed_rows() -> list[dict[str, Any]]:
    """Every combination of two values of each filtered column, times spread, a few untimed."""
    rows = []
    n = 0
    for bot_id in (BOT_ID, OTHER_BOT):
        for symbol in ("BTCUSDT", "ETHUSDT"):
            for status in ("open", "closed", "cancelled"):
                for trade_type in ("paper", "optimization"):
                    for entry, exit_ in (("RSI", "ATR"), ("RSI", "Trail"), ("MACD", "ATR")):
                        entry_time = None if n % 9 == 4 else T0 + timedelta(minutes=n % 13)
                        rows.append(
                            trade_row(
                                entry_time,
                                bot_id=bot_id,
                                symbol=symbol,
                                status=status,
                                trade_type=trade_type,
                                entry_logic_name=entry,
                                exit_logic_name=exit_,
                            )
                        )
                        n += 1
    return rows


FILTERS = [
    {"bot_id": OTHER_BOT},
    {"symbol": "ETHUSDT"},
    {"status": "closed"},
    {"status": "cancelled"},
    {"trade_type": "optimization"},
    {"entry_logic_name": "MACD"},
    {"exit_logic_name": "Trail"},
    {"entry_logic_name": "RSI", "exit_logic_name": "ATR"},
    {"bot_id": BOT_ID, "symbol": "BTCUSDT", "status": "open", "trade_type": "paper"},
]


@pytest.mark.parametrize("filters", FILTERS, ids=lambda f: "+".join(f))
async def test_each_filter_returns_exactly_its_trades_in_order(
    two_bots: TradeRepository, filters: dict[str, Any]
) -> None:
    rows = mixed_rows()
    await two_bots.bulk_create_trades(rows)
    expected = in_order([r for r in rows if all(r[k] == v for k, v in filters.items())])
    assert 0 < len(expected) < len(rows)
    assert ids(await two_bots.get_trades(**filters, limit=1000)) == expected
    assert await every_page(two_bots, 7, **filters) == expected
    assert [t.id async for t in two_bots.iter_trades(**filters, page_size=5)] == expected


async def test_no_filter_returns_every_trade_and_the_records_are_complete(
    two_bots: TradeRepository,
) -> None:
    rows = mixed_rows()
    await two_bots.bulk_create_trades(rows)
    trades = await two_bots.get_trades(limit=1000)
    assert ids(trades) == in_order(rows)
    by_id = {row["id"]: row for row in rows}
    for trade in trades:
        assert trade == await two_bots.get_trade_by_id(trade.id)  # decoded as other reads are
        assert trade.entry_time == by_id[trade.id]["entry_time"]


async def test_since_is_inclusive_and_until_exclusive(repo: TradeRepository, bot: str) -> None:
    tick = timedelta(microseconds=1)
    start, end = T0, T0 + timedelta(hours=1)
    times = [start - tick, start, start + tick, end - tick, end, end + tick, None]
    rows = [trade_row(t) for t in times]
    await repo.bulk_create_trades(rows)
    inside = in_order(rows[1:4])

    assert ids(await repo.get_trades(since=start, until=end)) == inside
    assert ids(await repo.get_trades(since=start)) == in_order(rows[1:6])  # no untimed trade
    assert ids(await repo.get_trades(until=end)) == in_order(rows[:4])
    assert await repo.get_trades(since=start, until=start) == []
    # Any zone: the same instants, given in UTC-5 and UTC+9.
    west, east = timezone(timedelta(hours=-5)), timezone(timedelta(hours=9))
    assert ids(await repo.get_trades(since=start.astimezone(west), until=end.astimezone(east))) == (
        inside
    )
    # Pages inside a range stay inside it.
    assert await every_page(repo, 2, since=start, until=end) == inside
    paged = [t.id async for t in repo.iter_trades(since=start, until=end, page_size=1)]
    assert paged == inside


async def test_a_position_before_since_starts_the_range_and_one_past_until_ends_it(
    repo: TradeRepository, bot: str
) -> None:
    rows = [trade_row(T0 + timedelta(minutes=m)) for m in range(10)]
    await repo.bulk_create_trades(rows)
    order = in_order(rows)
    first, last = await repo.get_trade_by_id(order[0]), await repo.get_trade_by_id(order[-1])
    since, until = T0 + timedelta(minutes=3), T0 + timedelta(minutes=7)
    assert ids(await repo.get_trades(since=since, until=until, after=first)) == order[3:7]
    assert await repo.get_trades(since=since, until=until, after=last) == []
    third = await repo.get_trade_by_id(order[4])
    assert ids(await repo.get_trades(since=since, until=until, after=third)) == order[5:7]


# --- keyset pages -----------------------------------------------------------------------------


async def test_pages_over_thousands_of_tied_trades_give_each_once_in_order(
    repo: TradeRepository, bot: str
) -> None:
    # 3,000 trades on 6 entry times (500 share each), and 200 without an entry time.
    rows = [trade_row(T0 + timedelta(seconds=n % 6)) for n in range(3_000)]
    rows += [trade_row(None) for _ in range(200)]
    random.Random(1).shuffle(rows)
    await repo.bulk_create_trades(rows)
    expected = in_order(rows)

    assert await every_page(repo, 97) == expected
    assert await every_page(repo, 500, by_id=True) == expected  # after= an id string
    assert [t.id async for t in repo.iter_trades(page_size=211)] == expected
    limits = await repo.get_trades(limit=10_000)
    assert ids(limits) == expected


async def test_trades_without_entry_time_come_last_by_id(repo: TradeRepository, bot: str) -> None:
    rows = [trade_row(None) for _ in range(7)] + [trade_row(T0 + timedelta(days=d)) for d in (2, 1)]
    await repo.bulk_create_trades(rows)
    expected = in_order(rows)
    assert ids(await repo.get_trades()) == expected
    assert [t.entry_time for t in await repo.get_trades()][2:] == [None] * 7
    # A page that crosses from timed to untimed trades, then pages among the untimed ones.
    assert await every_page(repo, 3) == expected
    untimed = await repo.get_trade_by_id(expected[4])
    assert ids(await repo.get_trades(after=untimed)) == expected[5:]
    assert ids(await repo.get_trades(after=expected[4])) == expected[5:]
    # A range leaves them out: an unknown entry time is in no range.
    assert ids(await repo.get_trades(since=T0)) == expected[:2]
    # A trade inserted later without an entry time goes by its id among the untimed ones.
    late = trade_row(None)
    await repo.bulk_create_trades([late])
    assert await every_page(repo, 2) == in_order([*rows, late])


async def test_a_record_position_outlives_its_trade(repo: TradeRepository, bot: str) -> None:
    rows = [trade_row(T0 + timedelta(minutes=m)) for m in range(5)]
    await repo.bulk_create_trades(rows)
    order = in_order(rows)
    second = await repo.get_trade_by_id(order[1])
    assert second is not None
    await delete_trade(repo.store, order[1])
    assert ids(await repo.get_trades(after=second)) == order[2:]
    with pytest.raises(NotFoundError):
        await repo.get_trades(after=order[1])  # an id must name a trade


async def delete_trade(store: Store, trade_id: str) -> None:
    statement = delete(TRADES).where(TRADES.c.id == bindparam("id"))
    await store.submit(AtomicStatements([(statement, {"id": trade_id})], "delete a trade"))


async def test_pages_while_twenty_writers_insert_miss_and_repeat_nothing(
    repo: TradeRepository, bot: str
) -> None:
    # Trades present before the iteration starts: 100 in the hour before now, 1,000 in the hour
    # after it, 100 without an entry time. The writers' trades (entry_time = now, increasing)
    # land ahead of the pages at first, then behind them once the pages pass now: a pager
    # that counted rows (OFFSET) would then see trades again.
    now = datetime.now(UTC)
    before = [trade_row(now - timedelta(seconds=36 * n)) for n in range(1, 101)]
    before += [trade_row(now + timedelta(seconds=60 + 3 * n)) for n in range(1000)]
    before += [trade_row(None) for _ in range(100)]
    await repo.bulk_create_trades(before)
    written: list[str] = []
    started = asyncio.Event()

    async def writer() -> None:
        await started.wait()
        for _ in range(15):
            trade = await repo.create_trade(trade_data(entry_time=datetime.now(UTC)))
            written.append(trade.id)

    writers = [asyncio.create_task(writer()) for _ in range(20)]
    seen: list[TradeRecord] = []
    during = 0
    async for trade in repo.iter_trades(page_size=50):
        seen.append(trade)
        started.set()
        during = len(written)
    await asyncio.gather(*writers)

    assert during > 0  # the writers really wrote while the pages were read
    seen_ids = ids(seen)
    assert len(seen_ids) == len(set(seen_ids))  # nothing repeated
    assert {row["id"] for row in before} <= set(seen_ids)  # nothing present before missed
    assert set(seen_ids) <= {row["id"] for row in before} | set(written)
    timed = [(t.entry_time, t.id) for t in seen if t.entry_time is not None]
    assert timed == sorted(timed)


async def test_iter_trades_reads_page_by_page_not_one_snapshot(
    db_url: str, repo: TradeRepository, bot: str
) -> None:
    rows = [trade_row(T0 + timedelta(minutes=m)) for m in range(25)]
    await repo.bulk_create_trades(rows)
    late = trade_row(T0 + timedelta(days=1))
    # One read connection: a page that held it would make the reads below wait forever.
    async with Store(db_url, read_pool_size=1) as store:
        narrow = TradeRepository(store)
        trades = narrow.iter_trades(page_size=10)
        first = [await anext(trades) for _ in range(10)]
        await asyncio.wait_for(narrow.get_trade_by_id(first[0].id), 30)
        await repo.bulk_create_trades([late])  # after the first page was read
        rest = [trade.id async for trade in trades]
    assert ids(first) + rest == [*in_order(rows), late["id"]]


async def test_the_bot_repository_pages_its_own_trades_only(two_bots: TradeRepository) -> None:
    rows = mixed_rows()
    await two_bots.bulk_create_trades(rows)
    mine = two_bots.for_bot(BOT_ID)
    expected = in_order([r for r in rows if r["bot_id"] == BOT_ID])
    assert ids(await mine.get_trades(limit=1000)) == expected
    assert await every_page(mine, 4, by_id=True) == expected
    assert [t.id async for t in mine.iter_trades(page_size=3)] == expected
    closed = in_order([r for r in rows if r["bot_id"] == BOT_ID and r["status"] == "closed"])
    assert ids(await mine.get_trades(status="closed", limit=1000)) == closed
    others = [r["id"] for r in rows if r["bot_id"] == OTHER_BOT]
    with pytest.raises(NotFoundError, match="of bot"):
        await mine.get_trades(after=others[0])  # another bot's trade, as if unknown


# --- summaries --------------------------------------------------------------------------------


async def test_trade_summary_is_a_model_that_reads_like_the_specs_dict(
    repo: TradeRepository, bot: str
) -> None:
    await repo.bulk_create_trades(
        [trade_row(T0, status="closed", net_pnl="1.5"), trade_row(T0, status="open")]
    )
    summary = await repo.get_trade_summary()
    assert isinstance(summary, TradeSummary)
    assert summary["total_trades"] == summary.total_trades == 2
    assert summary["total_net_pnl"] == Decimal("1.5")
    assert dict(summary) == summary.model_dump()
    assert list(summary.keys()) == [
        "total_trades",
        "open_trades",
        "closed_trades",
        "cancelled_trades",
        "winning_trades",
        "losing_trades",
        "total_net_pnl",
    ]
    with pytest.raises(KeyError):
        summary["net_pnl"]
    assert await repo.for_bot(BOT_ID).get_trade_summary() == summary


def random_pnl(rnd: random.Random) -> str:
    whole = rnd.choice([0, 1, 12, 999_999, 123_456_789_012])
    return f"{rnd.choice('-+')}{whole}.{rnd.randrange(10**8):08d}"


async def test_strategy_summary_sums_exactly_per_strategy(
    two_bots: TradeRepository,
) -> None:
    rnd = random.Random(5)
    strategies = [("RSI", "ATR"), ("RSI", "Trail"), ("MACD", "ATR")]
    rows = []
    for n in range(600):
        entry, exit_ = strategies[n % 3]
        status = rnd.choice(["open", "closed", "closed", "closed", "cancelled"])
        pnl = None if n % 17 == 0 else random_pnl(rnd)
        entry_time = None if n % 23 == 0 else T0 + timedelta(minutes=n)
        bot_id = BOT_ID if n % 4 else OTHER_BOT
        rows.append(
            trade_row(
                entry_time,
                bot_id=bot_id,
                status=status,
                net_pnl=pnl,
                entry_logic_name=entry,
                exit_logic_name=exit_,
            )
        )
    await two_bots.bulk_create_trades(rows)

    def expected(chosen: list[dict[str, Any]]) -> list[StrategySummary]:
        figures = []
        for entry, exit_ in sorted(strategies):
            mine = [
                r for r in chosen if (r["entry_logic_name"], r["exit_logic_name"]) == (entry, exit_)
            ]
            closed = [r for r in mine if r["status"] == "closed"]
            pnls = [Decimal(r["net_pnl"] or 0) for r in closed]
            winning = sum(1 for p in pnls if p > 0)
            rate = (Decimal(100) * winning / len(closed)).quantize(Decimal("0.01"))
            figures.append(
                StrategySummary(
                    entry_logic_name=entry,
                    exit_logic_name=exit_,
                    total_trades=len(mine),
                    closed_trades=len(closed),
                    winning_trades=winning,
                    losing_trades=sum(1 for p in pnls if p < 0),
                    total_net_pnl=sum(pnls, Decimal(0)),
                    win_rate=rate,
                )
            )
        return figures

    assert await two_bots.get_strategy_summary() == expected(rows)
    bots = await two_bots.get_strategy_summary(bot_id=OTHER_BOT)
    assert bots == expected([r for r in rows if r["bot_id"] == OTHER_BOT])
    since, until = T0 + timedelta(minutes=100), T0 + timedelta(minutes=400)
    in_range = [r for r in rows if r["entry_time"] is not None and since <= r["entry_time"] < until]
    assert await two_bots.get_strategy_summary(since=since, until=until) == expected(in_range)
    total = await two_bots.get_trade_summary()
    assert sum((s.total_net_pnl for s in await two_bots.get_strategy_summary()), Decimal(0)) == (
        total.total_net_pnl
    )


async def test_strategy_summary_without_closed_trades_has_no_win_rate(
    repo: TradeRepository, bot: str
) -> None:
    assert await repo.get_strategy_summary() == []
    await repo.bulk_create_trades([trade_row(T0, status="open")])
    (only,) = await repo.get_strategy_summary()
    assert (only.total_trades, only.closed_trades, only.win_rate) == (1, 0, None)
    assert only.total_net_pnl == 0


# --- bad arguments ----------------------------------------------------------------------------

NAIVE = datetime(2024, 1, 1)
BAD = [
    ({"bot_id": 5}, "bot_id"),
    ({"bot_id": ""}, "bot_id"),
    ({"symbol": "X" * 21}, "symbol"),
    ({"symbol": b"BTCUSDT"}, "symbol"),
    ({"status": "done"}, "status"),
    ({"trade_type": "real"}, "trade_type"),
    ({"entry_logic_name": ""}, "entry_logic_name"),
    ({"exit_logic_name": "x" * 101}, "exit_logic_name"),
    ({"since": NAIVE}, "since"),
    ({"since": "2024-01-01T00:00:00Z"}, "since"),
    ({"until": T0.date()}, "until"),
    ({"since": T0, "until": T0 - timedelta(microseconds=1)}, "until"),
    ({"limit": 0}, "limit"),
    ({"limit": 10_001}, "limit"),
    ({"limit": True}, "limit"),
    ({"limit": "5"}, "limit"),
    ({"after": 5}, "after"),
    ({"after": {"id": "x"}}, "after"),
]


@pytest.mark.parametrize(("arguments", "named"), BAD, ids=[f"{a}" for a, _ in BAD])
async def test_a_bad_argument_is_an_error_naming_it(
    repo: TradeRepository, bot: str, arguments: dict[str, Any], named: str
) -> None:
    with pytest.raises(InvalidDataError) as caught:
        await repo.get_trades(**arguments)
    assert named in {error.field for error in caught.value.errors}


async def test_bad_arguments_of_iter_trades_and_strategy_summary(
    repo: TradeRepository, bot: str
) -> None:
    for page_size in (0, 10_001, 1.5, None):
        with pytest.raises(InvalidDataError, match="page_size"):
            repo.iter_trades(page_size=page_size)  # at the call, before any iteration
    with pytest.raises(InvalidDataError, match="since"):
        repo.for_bot(BOT_ID).iter_trades(since=NAIVE)
    with pytest.raises(InvalidDataError, match="since"):
        await repo.get_strategy_summary(since=NAIVE)
    with pytest.raises(InvalidDataError, match="bot_id"):
        await repo.get_strategy_summary(bot_id=7)
    for unknown in (str(uuid.uuid4()), "not-an-id", uuid.uuid4()):
        with pytest.raises(NotFoundError):
            await repo.get_trades(after=unknown)
