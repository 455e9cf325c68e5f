"""Work that grows with the data runs off the event loop; payloads past their limit are refused.

The spies below wrap the real functions (which still do all the work) only to see which thread
runs them: results of many rows are decoded, and metrics computed, on a worker thread, so a bot's
loop keeps running its own tasks (heartbeats, fills) meanwhile.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import orjson
import pytest

from asyncstore import InvalidDataError, Store, TradeRepository
from asyncstore.repository import metrics
from asyncstore.repository.trades import TRADE_CODEC
from asyncstore.schema import input_columns
from asyncstore.threads import SMALL_RESULT_ROWS
from tests.conftest import open_store_with_bot, rows_in, trade_data


def _threads_running(target: Any, name: str, monkeypatch: pytest.MonkeyPatch) -> set[int]:
    """Wrap `target.name` so each call records the thread that ran it."""
    seen: set[int] = set()
    real: Callable[..., Any] = getattr(target, name)

    def spy(*args: Any, **kwargs: Any) -> Any:
        seen.add(threading.get_ident())
        return real(*args, **kwargs)

    monkeypatch.setattr(target, name, spy)
    return seen


async def _closed_trades(repo: TradeRepository, count: int) -> None:
    rows = [trade_data(status="closed", net_pnl=Decimal(n % 7) - 3) for n in range(count)]
    await repo.bulk_create_trades(rows)


async def test_many_rows_are_decoded_off_the_loop_few_on_it(
    repo: TradeRepository, bot: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    await _closed_trades(repo, SMALL_RESULT_ROWS + 50)
    await repo.create_trade(trade_data())  # one open trade
    decoders = _threads_running(TRADE_CODEC, "decode", monkeypatch)

    closed = await repo.get_closed_trades(bot_id=bot)
    assert len(closed) == SMALL_RESULT_ROWS + 50
    assert decoders and threading.get_ident() not in decoders

    decoders.clear()
    (opened,) = await repo.get_open_trades(bot_id=bot)
    assert opened.status == "open"
    assert decoders == {threading.get_ident()}  # one row: no hop to a thread


async def test_metrics_are_computed_off_the_loop(
    repo: TradeRepository, bot: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    await _closed_trades(repo, SMALL_RESULT_ROWS + 1)
    computing = _threads_running(metrics, "compute_metrics", monkeypatch)
    figures = await repo.calculate_performance_metrics(bot, starting_balance=Decimal(10_000))
    assert figures.total_trades == SMALL_RESULT_ROWS + 1
    assert computing and threading.get_ident() not in computing


async def test_raw_reads_of_many_rows_come_back_as_tuples(store: Store, bot: str) -> None:
    repo = TradeRepository(store)
    await _closed_trades(repo, SMALL_RESULT_ROWS + 10)
    rows = await store.fetch_all("SELECT id, net_pnl FROM trades ORDER BY id")
    assert len(rows) == SMALL_RESULT_ROWS + 10
    assert all(type(row) is tuple and len(row) == 2 for row in rows)


async def test_metadata_over_the_limit_is_refused_naming_the_field(db_url: str) -> None:
    store, repo = await open_store_with_bot(db_url, max_metadata_bytes=1000)
    try:
        document = {"candles": ["x" * 100 for _ in range(20)]}  # ~2 kB of JSON
        with pytest.raises(InvalidDataError) as caught:
            await repo.create_trade(trade_data(extra_metadata=document))
        (error,) = caught.value.errors
        assert error.field == "extra_metadata"
        assert "over the limit of 1,000" in error.message and "max_metadata_bytes" in error.message
        assert await rows_in(store) == 0

        with pytest.raises(InvalidDataError) as caught:
            await repo.bulk_create_trades([trade_data(), trade_data(extra_metadata=document)])
        assert [e.field for e in caught.value.errors] == ["row 1.extra_metadata"]
        assert await rows_in(store) == 0

        trade = await repo.create_trade(trade_data(extra_metadata={"candles": ["x" * 100] * 5}))
        with pytest.raises(InvalidDataError) as caught:
            await repo.update_trade(trade.id, {"extra_metadata": document})
        assert [e.field for e in caught.value.errors] == ["extra_metadata"]
        stored = await repo.get_trade_by_id(trade.id)
        assert stored is not None and stored.extra_metadata == {"candles": ["x" * 100] * 5}
    finally:
        await store.close()


async def test_the_default_metadata_limit_is_one_mebibyte(db_url: str) -> None:
    store, repo = await open_store_with_bot(db_url)
    try:
        under = {"blob": "y" * (1024 * 1024 - 20)}
        trade = await repo.create_trade(trade_data(extra_metadata=under))
        assert trade.extra_metadata == under
        with pytest.raises(InvalidDataError, match="extra_metadata"):
            await repo.create_trade(trade_data(extra_metadata={"blob": "y" * (1024 * 1024)}))
        assert await rows_in(store) == 1
    finally:
        await store.close()


@pytest.mark.parametrize(
    ("document", "field", "reason"),
    [
        ({"a": [1, float("nan")]}, "extra_metadata", "NaN"),
        ({"a": {"b": "\ud800"}}, "extra_metadata.a.b", "not valid Unicode"),
        ({"a": {1: "x"}}, "extra_metadata.a", "keys must be text"),
        ({"a": [1, {2, 3}]}, "extra_metadata.a.1", "not JSON"),
        ({"a": "x\x00"}, "extra_metadata", "NUL"),
    ],
)
async def test_documents_that_are_not_json_are_refused_where_they_fail(
    repo: TradeRepository, bot: str, document: Any, field: str, reason: str
) -> None:
    with pytest.raises(InvalidDataError) as caught:
        await repo.create_trade(trade_data(extra_metadata=document))
    (error,) = caught.value.errors
    assert (error.field, reason in error.message) == (field, True), error


async def test_documents_read_back_as_stored(repo: TradeRepository, bot: str) -> None:
    document = {"big": 2**70, "small": -(2**63), "tuple": (1, "a"), "nested": {"k": [None, True]}}
    trade = await repo.create_trade(trade_data(extra_metadata=document))
    expected = {"big": 2**70, "small": -(2**63), "tuple": [1, "a"], "nested": {"k": [None, True]}}
    assert trade.extra_metadata == expected  # what create returns is what was stored
    stored = await repo.get_trade_by_id(trade.id)
    assert stored is not None and stored.extra_metadata == expected


async def test_a_small_document_is_copied_a_big_one_kept(repo: TradeRepository, bot: str) -> None:
    # Copying back a big document is one long C call on the loop; a small one's copy is cheap
    # and keeps the record safe from the caller changing their dict afterwards.
    small = {"signal": [1, 2]}
    trade = await repo.create_trade(trade_data(extra_metadata=small))
    small["signal"].append(3)
    assert trade.extra_metadata == {"signal": [1, 2]}

    big = {"candles": [[1_700_000_000 + n, 50000.5, 12.25] for n in range(4000)]}  # ~100 KB
    trade = await repo.create_trade(trade_data(extra_metadata=big))
    assert trade.extra_metadata is big
    stored = await repo.get_trade_by_id(trade.id)
    assert stored is not None and stored.extra_metadata == big


_SHAPES = {
    "top-level list": [[1_700_000_000 + n, 50000.5, "x" * (n % 7)] for n in range(9000)],
    "list one level down": {"candles": [[n, 0.25] for n in range(10_000)], "note": "ok"},
    "object one level down": {"by_time": {f"t{n}": n * 1.5 for n in range(8200)}},
    "many small parts": {f"k{n}": "y" * 300 for n in range(100)},
    "long text": {"log": "z" * 50_000, "more": ["a"] * 5000},
}


@pytest.mark.parametrize("shape", _SHAPES)
def test_measuring_big_parts_never_refuses_a_document_that_fits(shape: str) -> None:
    document = _SHAPES[shape]
    exact = len(orjson.dumps(document))
    assert not input_columns._big_parts_over(document, exact)  # a lower bound: fits exactly
    assert input_columns._big_parts_over(document, exact // 3)


async def test_a_huge_document_is_refused_without_encoding_all_of_it(
    db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    encoded: list[int] = []
    real_dumps = orjson.dumps

    def counting_dumps(value: Any, **options: Any) -> bytes:
        data = real_dumps(value, **options)
        encoded.append(len(data))
        return data

    monkeypatch.setattr(input_columns.orjson, "dumps", counting_dumps)
    document = {"candles": [[1_700_000_000 + 60 * n, 50000.12, 12.5] for n in range(200_000)]}
    whole = len(real_dumps(document))  # ~6 MB
    store, repo = await open_store_with_bot(db_url, max_metadata_bytes=100_000)
    try:
        encoded.clear()
        with pytest.raises(InvalidDataError) as caught:
            await repo.create_trade(trade_data(extra_metadata=document))
        (error,) = caught.value.errors
        assert error.field == "extra_metadata" and "over the limit of 100,000" in error.message
        assert sum(encoded) < whole / 10  # a few slices, not the document
        assert await rows_in(store) == 0
    finally:
        await store.close()
