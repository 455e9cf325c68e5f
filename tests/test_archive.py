"""Cleanup with an archive: what is deleted is in the archive, exactly, in CSV and in Parquet."""

from __future__ import annotations

import csv
import json
import sqlite3
from contextlib import closing
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest
from sqlalchemy import delete

from asyncstore import ConfigurationError, Store, TradeRecord, TradeRepository
from asyncstore.operations import retention as retention_module
from asyncstore.operations.archive import ArchiveFile, open_archive
from asyncstore.operations.retention import metrics_archive_path
from asyncstore.schema.tables import TRADES, Trade
from asyncstore.writes import AtomicStatements
from tests.conftest import BOT_ID, open_store_with_bot, rows_in, trade_data

NOW = datetime.now(UTC)
OLD = NOW - timedelta(days=100)


def _delete_trades(ids: list[str]) -> AtomicStatements:
    """Delete trades behind the cleanup's back, as a stopped run would have."""
    return AtomicStatements([(delete(TRADES).where(TRADES.c.id.in_(ids)), {})], "test")


def _closed(exit_time: datetime, index: int, status: str = "closed") -> dict[str, Any]:
    return trade_data(
        status=status,
        entry_time=exit_time - timedelta(hours=1),
        exit_time=exit_time,
        entry_price=Decimal("50000.12345678") + index,
        exit_price="50100.00000001",
        net_pnl=Decimal("-0.00000001") * index,
        pnl_percentage="1.2345",
        exit_reason=None if index % 2 else 'take profit, "quoted"\nnew line',
        extra_metadata={"i": index, "note": "ünïcode"},
    )


async def _populate(repo: TradeRepository) -> tuple[list[TradeRecord], list[TradeRecord]]:
    """Old closed/cancelled trades (to delete) and recent or open ones (to keep)."""
    old = await repo.bulk_create_trades(
        [
            _closed(OLD - timedelta(minutes=i), i, "cancelled" if i % 5 == 0 else "closed")
            for i in range(47)
        ]
    )
    keep = await repo.bulk_create_trades(
        [_closed(NOW - timedelta(days=1), i) for i in range(6)]
        + [trade_data(entry_time=OLD, entry_price=i + 1) for i in range(4)]  # old but open
    )
    assert old == 47 and keep == 10
    closed = await repo.get_closed_trades(bot_id=BOT_ID)
    opened = await repo.get_open_trades(bot_id=BOT_ID)
    doomed = [
        t for t in closed if t.exit_time is not None and t.exit_time < NOW - timedelta(days=30)
    ]
    doomed += [t for t in await _cancelled(repo)]
    kept = [t for t in closed if t not in doomed] + opened
    return doomed, kept


async def _cancelled(repo: TradeRepository) -> list[TradeRecord]:
    rows = await repo.store.fetch_all("SELECT id FROM trades WHERE status = 'cancelled'")
    return [t for (trade_id,) in rows if (t := await repo.get_trade_by_id(trade_id)) is not None]


def _from_csv(text: str, column: Any) -> Any:
    if text == "":
        return None
    type_name = type(column.type).__name__
    if type_name == "ExactDecimal":
        return Decimal(text)
    if type_name == "UTCDateTime":
        return datetime.fromisoformat(text)
    if type_name == "JSONDocument":
        return json.loads(text)
    return text


def _csv_records(path: Path) -> dict[str, dict[str, Any]]:
    columns = Trade.__table__.columns
    with path.open(newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    return {row["id"]: {c.name: _from_csv(row[c.name], c) for c in columns} for row in rows}


def _expected(trades: list[TradeRecord]) -> dict[str, dict[str, Any]]:
    return {t.id: t.model_dump() for t in trades}


async def test_csv_archive_holds_exactly_the_deleted_rows(db_url: str, tmp_path: Path) -> None:
    # Chunks of 3 rows, archive batches of 30: several batches and several chunks per batch.
    store, repo = await open_store_with_bot(db_url, bulk_chunk_rows=3)
    try:
        doomed, kept = await _populate(repo)
        old_metrics = await repo.create_performance_metrics(
            {"bot_id": BOT_ID, "sharpe_ratio": "1.2345", "calculated_at": NOW - timedelta(days=400)}
        )
        await repo.create_performance_metrics({"bot_id": BOT_ID, "calculated_at": NOW})
        archive = tmp_path / "archive" / "old.csv"
        report = await repo.cleanup(30, archive=archive)
        remaining = await repo.get_closed_trades(bot_id=BOT_ID) + await repo.get_open_trades(
            bot_id=BOT_ID
        )
    finally:
        await store.close()

    assert report.deleted == {"trades": len(doomed), "performance_metrics": 1}
    assert report.archives == [archive, metrics_archive_path(archive)]
    assert _csv_records(archive) == _expected(doomed)
    assert sorted(t.id for t in remaining) == sorted(t.id for t in kept)
    with metrics_archive_path(archive).open(newline="", encoding="utf-8") as handle:
        (metrics_row,) = list(csv.DictReader(handle))
    assert metrics_row["id"] == old_metrics.id and metrics_row["sharpe_ratio"] == "1.2345"


async def test_parquet_archive_keeps_types_exactly(db_url: str, tmp_path: Path) -> None:
    store, repo = await open_store_with_bot(db_url, bulk_chunk_rows=4)
    try:
        doomed, _ = await _populate(repo)
        archive = tmp_path / "old.parquet"
        deleted = await repo.cleanup_old_data(30, archive=archive)
    finally:
        await store.close()
    assert deleted == len(doomed)
    table = pq.read_table(archive)  # noqa: ASYNC240  (the test reading its result)
    assert str(table.schema.field("entry_price").type) == "decimal128(20, 8)"
    assert str(table.schema.field("exit_time").type) == "timestamp[us, tz=UTC]"
    rows = {row["id"]: row for row in table.to_pylist()}
    for trade_id, expected in _expected(doomed).items():
        row = rows.pop(trade_id)
        row["extra_metadata"] = json.loads(row["extra_metadata"])
        assert row == expected
    assert rows == {}
    assert not archive.with_name("old.parquet.parts").exists()  # noqa: ASYNC240


@pytest.mark.sqlite_only  # reads the SQLite file itself
async def test_rows_changed_during_the_cleanup_are_kept_and_not_archived(
    db_url: str, db_path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store, repo = await open_store_with_bot(db_url, bulk_chunk_rows=5)
    changed: list[str] = []

    def open_with_concurrent_edits(path: Path, table: Any, fmt: str | None = None) -> ArchiveFile:
        archive = open_archive(path, table, fmt)
        real_stage = archive.stage

        def stage(rows: Any) -> None:
            real_stage(rows)
            if not changed and table.name == "trades":
                # Another process edits two rows just read, before they are deleted: it reopens
                # one (now kept), and corrects the other, which stays old and closed: deleted
                # later, archived as corrected, never as read before the correction.
                changed.extend([rows[0][0], rows[1][0]])
                with closing(sqlite3.connect(db_path, timeout=10)) as conn:
                    conn.execute("UPDATE trades SET status = 'open' WHERE id = ?", (rows[0][0],))
                    conn.execute(
                        "UPDATE trades SET exit_reason = 'corrected', updated_at = ? WHERE id = ?",
                        (NOW.strftime("%Y-%m-%d %H:%M:%S.%f"), rows[1][0]),
                    )
                    conn.commit()

        archive.stage = stage  # type: ignore[method-assign]
        return archive

    monkeypatch.setattr(retention_module, "open_archive", open_with_concurrent_edits)
    try:
        doomed, _ = await _populate(repo)
        archive = tmp_path / "old.csv"
        deleted = await repo.cleanup_old_data(30, archive=archive)
        reopened, corrected = [await repo.get_trade_by_id(trade_id) for trade_id in changed]
    finally:
        await store.close()
    assert reopened is not None and reopened.status == "open"
    assert corrected is None
    assert deleted == len(doomed) - 1
    records = _csv_records(archive)
    assert set(records) == {t.id for t in doomed} - {changed[0]}
    assert records[changed[1]]["exit_reason"] == "corrected"


async def _staged_and_deleted(
    store: Store, archive: Path, trades: list[TradeRecord]
) -> tuple[ArchiveFile, list[Any]]:
    """A run that staged these trades as its batch and deleted them, then died: its archive,
    and the rows it staged."""
    marks = ", ".join("?" * len(trades))
    rows = await store.fetch_all(
        f"SELECT * FROM trades WHERE id IN ({marks})", [t.id for t in trades]
    )
    stopped = open_archive(archive, Trade.__table__)  # type: ignore[arg-type]
    stopped.stage(rows)
    await store.submit(_delete_trades([t.id for t in trades]))
    return stopped, rows


async def test_a_batch_deleted_by_a_stopped_run_is_archived_by_the_next(
    db_url: str, tmp_path: Path
) -> None:
    archive = tmp_path / "old.csv"
    store, repo = await open_store_with_bot(db_url)
    try:
        doomed, _ = await _populate(repo)
        # A run that staged a batch and deleted it, then died before archiving it.
        first = doomed[:10]
        await _staged_and_deleted(store, archive, first)
        assert await repo.cleanup_old_data(30, archive=archive) == len(doomed) - len(first)
    finally:
        await store.close()
    records = _csv_records(archive)
    assert records == _expected(doomed)  # the stopped run's batch included, each row once
    assert not archive.with_name("old.csv.pending").exists()  # noqa: ASYNC240


async def test_a_second_cleanup_continues_the_same_csv(db_url: str, tmp_path: Path) -> None:
    archive = tmp_path / "old.csv"
    store, repo = await open_store_with_bot(db_url)
    try:
        doomed, _ = await _populate(repo)
        assert await repo.cleanup_old_data(30, archive=archive) == len(doomed)
        await repo.bulk_create_trades([_closed(OLD, 7)])
        assert await repo.cleanup_old_data(30, archive=archive) == 1
    finally:
        await store.close()
    text = archive.read_text(encoding="utf-8")  # noqa: ASYNC240
    assert text.count("id,bot_id,") == 1
    assert len(_csv_records(archive)) == len(doomed) + 1


@pytest.mark.parametrize(
    ("name", "prepare", "message"),
    [
        ("old.txt", None, "unknown format 'txt'"),
        ("other.csv", "a,b,c\n1,2,3\n", "header differs"),
        ("taken.parquet", "not parquet", "already exists"),
    ],
)
async def test_a_bad_archive_is_refused_before_anything_is_deleted(
    db_url: str, db_path: Path, tmp_path: Path, name: str, prepare: str | None, message: str
) -> None:
    archive = tmp_path / name
    if prepare is not None:
        archive.write_text(prepare)  # noqa: ASYNC240
    store, repo = await open_store_with_bot(db_url)
    try:
        await _populate(repo)
        before = await rows_in(store)
        with pytest.raises(ConfigurationError, match=message):
            await repo.cleanup_old_data(30, archive=archive)
        assert await rows_in(store) == before
    finally:
        await store.close()
    if prepare is not None:
        assert archive.read_text() == prepare  # noqa: ASYNC240


async def test_parquet_parts_left_by_a_stopped_run_are_joined_by_the_next(
    db_url: str, tmp_path: Path
) -> None:
    archive = tmp_path / "old.parquet"
    store, repo = await open_store_with_bot(db_url)
    try:
        doomed, _ = await _populate(repo)
        # A run that archived (and deleted) its first batch, then died before joining the parts.
        first = doomed[:10]
        interrupted = open_archive(archive, Trade.__table__)  # type: ignore[arg-type]
        rows = await store.fetch_all(
            f"SELECT * FROM trades WHERE id IN ({', '.join('?' * len(first))})",
            [t.id for t in first],
        )
        interrupted.append(rows)
        await store.submit(_delete_trades([t.id for t in first]))
        assert await repo.cleanup_old_data(30, archive=archive) == len(doomed) - len(first)
    finally:
        await store.close()
    ids = {row["id"] for row in pq.read_table(archive).to_pylist()}  # noqa: ASYNC240
    assert ids == {t.id for t in doomed}


async def test_cleanup_without_old_rows_writes_no_archive(db_url: str, tmp_path: Path) -> None:
    async with Store(db_url) as store:
        report = await TradeRepository(store).cleanup(archive=tmp_path / "old.csv")
    assert report.total == 0 and report.archives == []
    assert not (tmp_path / "old.csv").exists()  # noqa: ASYNC240


def test_csv_times_from_postgresql_text_of_the_same_width() -> None:
    """PostgreSQL prints a TIMESTAMPTZ whose microseconds end in 000 as '….038+00': 26
    characters, like asyncstore's own format, but with an offset; both are archived alike."""
    from asyncstore.operations.archive import _csv_time

    expected = "2026-12-02T02:54:47.038000+00:00"
    assert _csv_time("2026-12-02 02:54:47.038+00") == expected
    assert _csv_time("2026-12-02 02:54:47.038000") == expected


@pytest.mark.parametrize(
    ("name", "left"),
    [
        ("old.csv", "a torn line"),
        ("old.csv", "the whole batch"),
        ("old.parquet", "the whole batch"),
    ],
)
async def test_what_a_stopped_run_appended_of_its_batch_is_cut_before_the_batch_goes_in_once(
    db_url: str, tmp_path: Path, name: str, left: str
) -> None:
    """A run that deleted its staged batch and died while appending it (a torn line), or after
    appending it but before dropping the staged copy: the next run cuts the archive back to
    where it ended when the batch was staged, then appends the batch once, whole."""
    archive = tmp_path / name
    store, repo = await open_store_with_bot(db_url)
    try:
        doomed, _ = await _populate(repo)
        first = doomed[:10]
        stopped, rows = await _staged_and_deleted(store, archive, first)
        if left == "a torn line":
            with archive.open("a", encoding="utf-8") as handle:  # noqa: ASYNC230
                handle.write(f'{first[0].id},{BOT_ID},"half a ro')
        else:
            stopped.append(rows)
        assert await repo.cleanup_old_data(30, archive=archive) == len(doomed) - len(first)
    finally:
        await store.close()
    if archive.suffix == ".csv":
        with archive.open(newline="", encoding="utf-8") as handle:  # noqa: ASYNC230
            ids = [row["id"] for row in csv.DictReader(handle)]
        assert _csv_records(archive) == _expected(doomed)
    else:
        ids = pq.read_table(archive).column("id").to_pylist()  # noqa: ASYNC240
    assert sorted(ids) == sorted(t.id for t in doomed)  # every deleted trade once, none torn
