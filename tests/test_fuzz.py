"""Bad input never reaches the database: every public write method, fuzzed with hypothesis.

Each call either stores the value and reads it back exactly, or raises an asyncstore error and
writes nothing. Any other exception (a driver error, a UnicodeEncodeError, a RecursionError)
fails the test.
"""

from __future__ import annotations

from datetime import UTC, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from asyncstore import AsyncStoreError, TradeRepository
from tests.conftest import BOT_ID, rows_in, trade_data
from tests.test_schema import SPEC_COLUMNS

EXAMPLES = settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

zones = st.sampled_from([None, UTC, timezone(timedelta(hours=14)), timezone(timedelta(hours=-12))])
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**30), max_value=10**30),
    st.floats(allow_nan=True, allow_infinity=True),
    st.decimals(allow_nan=True, allow_infinity=True),
    st.text(max_size=300),
    st.text(alphabet=st.characters(min_codepoint=0xD800, max_codepoint=0xDFFF), min_size=1),
    st.datetimes(timezones=zones),
    st.sampled_from(
        [
            "paper",
            "live",
            "optimization",
            "long",
            "short",
            "open",
            "closed",
            "cancelled",
            "running",
            "stopped",
            "error",
            "1E+400",
            "-0",
            "0.1",
        ]
    ),
)
json_like = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)
anything = st.one_of(scalars, json_like, st.binary(max_size=20))

# Every column a caller might try to set (the managed ones too), and one that does not exist.
TRADE_FIELDS = [*SPEC_COLUMNS["trades"], "no_such_column"]
BOT_FIELDS = [*SPEC_COLUMNS["bot_instances"], "no_such_column"]
METRICS_FIELDS = [*SPEC_COLUMNS["performance_metrics"], "no_such_column"]


def changes(fields: list[str]) -> st.SearchStrategy[dict[str, Any]]:
    return st.dictionaries(st.sampled_from(fields), anything, min_size=1, max_size=4)


async def _tables(repo: TradeRepository) -> tuple[int, int, int]:
    return (
        await rows_in(repo.store, "trades"),
        await rows_in(repo.store, "bot_instances"),
        await rows_in(repo.store, "performance_metrics"),
    )


@EXAMPLES
@given(fuzz=changes(TRADE_FIELDS))
async def test_create_trade(
    repo: TradeRepository, bot: str, db_path: Path, fuzz: dict[str, Any]
) -> None:
    before = await _tables(repo)
    try:
        trade = await repo.create_trade(trade_data(**fuzz))
    except AsyncStoreError:
        assert (await _tables(repo)) == before
        return
    assert await repo.get_trade_by_id(trade.id) == trade


@EXAMPLES
@given(fuzz=changes(TRADE_FIELDS))
async def test_update_trade(
    repo: TradeRepository, bot: str, db_path: Path, fuzz: dict[str, Any]
) -> None:
    trade = await repo.create_trade(trade_data())
    try:
        updated = await repo.update_trade(trade.id, fuzz)
    except AsyncStoreError:
        assert await repo.get_trade_by_id(trade.id) == trade
        return
    assert await repo.get_trade_by_id(trade.id) == updated


@EXAMPLES
@given(fuzz=changes(BOT_FIELDS))
async def test_create_and_update_bot(
    repo: TradeRepository, db_path: Path, fuzz: dict[str, Any]
) -> None:
    before = await _tables(repo)
    try:
        bot = await repo.create_bot_instance({"id": "fuzz_bot", "type": "paper", **fuzz})
    except AsyncStoreError:
        assert (await _tables(repo)) == before
        return
    assert await repo.get_bot_instance(bot.id) == bot
    try:
        updated = await repo.update_bot_instance(
            bot.id, {k: v for k, v in fuzz.items() if k != "id"}
        )
    except AsyncStoreError:
        assert await repo.get_bot_instance(bot.id) == bot
    else:
        assert await repo.get_bot_instance(bot.id) == updated
    await repo.heartbeat(bot.id)


@EXAMPLES
@given(fuzz=changes(METRICS_FIELDS))
async def test_create_performance_metrics(
    repo: TradeRepository, bot: str, db_path: Path, fuzz: dict[str, Any]
) -> None:
    before = await _tables(repo)
    try:
        await repo.create_performance_metrics({"bot_id": BOT_ID, **fuzz})
    except AsyncStoreError:
        assert (await _tables(repo)) == before


@EXAMPLES
@given(bot_id=anything)
async def test_heartbeat(repo: TradeRepository, bot: str, db_path: Path, bot_id: Any) -> None:
    before = await _tables(repo)
    try:
        await repo.heartbeat(bot_id)
    except AsyncStoreError:
        assert (await _tables(repo)) == before


@EXAMPLES
@given(fuzz=changes(TRADE_FIELDS), position=st.integers(min_value=0, max_value=9))
async def test_bulk_list(
    repo: TradeRepository, bot: str, db_path: Path, fuzz: dict[str, Any], position: int
) -> None:
    rows = [trade_data() for _ in range(10)]
    rows[position] = trade_data(**fuzz)
    before = await _tables(repo)
    try:
        inserted = await repo.bulk_create_trades(rows)
    except AsyncStoreError as exc:
        assert (await _tables(repo)) == before and exc.rows_committed == 0
        return
    assert inserted == 10 and (await _tables(repo))[0] == before[0] + 10


async def test_decimal_extremes_are_refused_cleanly(repo: TradeRepository, bot: str) -> None:
    for value in [Decimal("1E+400"), Decimal("-1E-400"), Decimal("sNaN"), 10**400, 1e308]:
        try:
            trade = await repo.create_trade(trade_data(net_pnl=value))
        except AsyncStoreError:
            continue
        assert await repo.get_trade_by_id(trade.id) == trade
