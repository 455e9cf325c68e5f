"""Bot activity: the database records heartbeats per minute (a trigger), retention rolls minutes
up into hours, and the equity history and heartbeat timeline read them back, on both backends."""

from __future__ import annotations

import asyncio
import json
import sqlite3
from collections.abc import AsyncIterator
from contextlib import closing
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from alembic import command

from asyncstore import (
    ActivityBucket,
    BotHeartbeat,
    EquityPoint,
    InvalidDataError,
    NotFoundError,
    SchemaVersionError,
    Store,
    TradeRepository,
)
from asyncstore import clock as real_clock
from asyncstore.config import load_settings, sqlite_url
from asyncstore.repository import activity, bots
from asyncstore.schema.activity import ACTIVITY_TRIGGER
from asyncstore.schema.revisions import alembic_config
from asyncstore.sqlite.schema import upgrade_database
from tests.conftest import BOT_ID, run_cli

T0 = datetime(2026, 1, 5, 12, 0, tzinfo=UTC)


def at(minutes: float = 0, seconds: float = 0, base: datetime = T0) -> datetime:
    return base + timedelta(minutes=minutes, seconds=seconds)


class BeatClock:
    """The time the heartbeat path stamps (`asyncstore.repository.bots.utc_now`), set by the
    test: every write path takes its heartbeat time there (TradeRepository.heartbeat, the bot's
    own repository, BotHeartbeat, atomic units)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.now: datetime | None = None
        monkeypatch.setattr(bots, "utc_now", self)

    def __call__(self) -> datetime:
        return self.now if self.now is not None else real_clock.utc_now()

    async def beat(self, repo: TradeRepository, when: datetime, bot_id: str = BOT_ID) -> None:
        self.now = when
        assert await repo.heartbeat(bot_id) == when


@pytest.fixture
def beats(monkeypatch: pytest.MonkeyPatch) -> BeatClock:
    return BeatClock(monkeypatch)


async def _buckets(store: Store) -> list[tuple[Any, ...]]:
    """Every stored bucket, decoded: (bot, seconds, start, status, balance, pnl, beats, first,
    last)."""
    return [
        (
            bot,
            int(seconds),
            _time(start),
            status,
            None if balance is None else Decimal(balance),
            None if pnl is None else Decimal(pnl),
            int(count),
            _time(first),
            _time(last),
        )
        for bot, seconds, start, status, balance, pnl, count, first, last in await store.fetch_all(
            "SELECT * FROM bot_activity ORDER BY bot_id, bucket_seconds, bucket_start"
        )
    ]


def _time(stored: Any) -> datetime:
    from asyncstore.types import UTCDateTime

    value = UTCDateTime.from_db(str(stored))
    assert value is not None
    return value


async def test_each_minute_with_a_heartbeat_gets_a_bucket_as_of_its_recorded_beats(
    repo: TradeRepository, bot: str, beats: BeatClock
) -> None:
    balances = iter(["1000.00000001", "1000.5", "999.99999999", "1234567890.12345678", "7", "8"])

    async def beat(when: datetime) -> None:
        await repo.update_bot_instance(bot, {"current_balance": next(balances)})
        await beats.beat(repo, when)

    await beat(at(0, 5))  # 12:00: recorded (the bot's first beat of the minute)
    await beats.beat(repo, at(0, 35))  # same minute: not recorded
    await beats.beat(repo, at(0, 59.999999))
    await beat(at(1, 0))  # 12:01:00.000000 is the next minute's
    await beat(at(3, 10))  # nothing at 12:02: downtime
    timeline = await repo.heartbeat_timeline(bot)
    assert [(b.start, b.seconds, b.heartbeats, b.status) for b in timeline] == [
        (at(0), 60, 1, "running"),
        (at(1), 60, 1, "running"),
        (at(3), 60, 1, "running"),
    ]
    assert [(b.first_beat, b.last_beat) for b in timeline] == [
        (at(0, 5), at(0, 5)),
        (at(1, 0), at(1, 0)),
        (at(3, 10), at(3, 10)),
    ]
    stored = await _buckets(repo.store)
    assert [row[4] for row in stored] == [
        Decimal("1000.00000001"),
        Decimal("1000.5"),
        Decimal("999.99999999"),
    ]

    # A clock that goes back into a minute the bot had left: that beat is recorded there too,
    # and it is the minute's last beat, so its figures are the bucket's.
    await beat(at(0, 40))
    # Another one, older than that minute's last recorded beat: counted, figures kept.
    await beat(at(3, 30))
    await beat(at(0, 20))
    by_start = {row[2]: row for row in await _buckets(repo.store)}
    noon = by_start[at(0)]
    assert noon[6:] == (3, at(0, 5), at(0, 40))
    assert noon[4] == Decimal("1234567890.12345678")  # as of 12:00:40, not of 12:00:20
    assert by_start[at(3)][6:] == (2, at(3, 10), at(3, 30))


async def test_every_heartbeat_path_records_and_an_unknown_bot_records_nothing(
    repo: TradeRepository, beats: BeatClock
) -> None:
    names = [f"bot_{n:02d}" for n in range(30)]
    for name in names:
        await repo.create_bot_instance({"id": name, "type": "paper", "current_balance": 10})

    # The coalesced path: the heartbeats of a group commit go as ONE UPDATE of many bots, and
    # an unknown bot among them fails alone.
    beats.now = at(0, 1)
    outcomes = await asyncio.gather(
        *(repo.heartbeat(name) for name in [*names, "no_such_bot"]), return_exceptions=True
    )
    assert isinstance(outcomes[-1], NotFoundError)
    assert outcomes[:-1] == [at(0, 1)] * len(names)

    # The bot's own repository, an atomic unit, an update of last_heartbeat, BotHeartbeat.
    beats.now = at(1, 2)
    await repo.for_bot(names[0]).heartbeat()
    async with repo.atomic() as unit:
        beats.now = at(2, 3)
        unit.heartbeat(names[1])
    await repo.update_bot_instance(names[2], {"last_heartbeat": at(3, 4)})
    beats.now = at(4, 5)
    async with BotHeartbeat(repo, names[3], every=3600):
        pass

    with pytest.raises(NotFoundError):
        await repo.heartbeat("no_such_bot")
    stored = await _buckets(repo.store)
    assert {row[0] for row in stored} == set(names)  # nothing for the unknown bot
    assert [(row[0], row[2], row[6]) for row in stored if row[2] != at(0)] == [
        (names[0], at(1), 1),
        (names[1], at(2), 1),
        (names[2], at(3), 1),
        (names[3], at(4), 1),
    ]
    assert all(row[4] == Decimal(10) for row in stored)


async def test_money_in_buckets_is_exact(repo: TradeRepository, beats: BeatClock) -> None:
    await repo.create_bot_instance(
        {
            "id": BOT_ID,
            "type": "live",
            "current_balance": "999999999999.99999999",
            "total_pnl": "-0.00000001",
        }
    )
    await beats.beat(repo, at(0, 1))
    ((balance, pnl),) = await repo.store.fetch_all(
        "SELECT current_balance, total_pnl FROM bot_activity"
    )
    assert (str(balance), str(pnl)) == ("999999999999.99999999", "-0.00000001")
    (point,) = await repo.equity_history(BOT_ID)
    assert point == EquityPoint(
        at=at(0, 1), balance=Decimal("999999999999.99999999"), total_pnl=Decimal("-0.00000001")
    )


async def test_equity_history_is_downsampled_by_the_database_and_ends_at_the_bot_as_it_is(
    repo: TradeRepository, bot: str, beats: BeatClock
) -> None:
    minutes = 300
    for minute in range(minutes):
        await repo.update_bot_instance(bot, {"current_balance": Decimal(1000) + minute})
        await beats.beat(repo, at(minute, 7))
    everything = await repo.equity_history(bot)
    assert [p.balance for p in everything] == [Decimal(1000) + m for m in range(minutes)]
    assert [p.at for p in everything] == [at(m, 7) for m in range(minutes)]

    # A trade closed after the last heartbeat moves the balance: the last point shows it.
    await repo.update_bot_instance(bot, {"current_balance": "1234.56789012", "total_pnl": "5"})
    for max_points in (1, 7, 50, 299, 1000):
        points = await activity.equity_history(repo.store, bot, max_points=max_points)
        assert 1 <= len(points) <= max_points
        assert [p.at for p in points] == sorted({p.at for p in points})  # oldest first
        assert points[-1] == EquityPoint(
            at=at(minutes - 1, 7), balance=Decimal("1234.56789012"), total_pnl=Decimal(5)
        )
        assert {p.balance for p in points[:-1]} <= {p.balance for p in everything}
    wide = await repo.for_bot(bot).equity_history(max_points=50)
    assert len(wide) == 50  # 300 minutes in 50 groups of 6: none empty

    recent = await repo.equity_history(bot, since=at(290))
    assert [p.at for p in recent] == [at(m, 7) for m in range(290, minutes)]
    assert await repo.equity_history(bot, since=at(minutes)) == []
    assert await repo.equity_history("no_such_bot") == []


async def test_reads_check_their_arguments(repo: TradeRepository, bot: str) -> None:
    with pytest.raises(InvalidDataError, match="max_points"):
        await repo.equity_history(bot, max_points=0)
    with pytest.raises(InvalidDataError, match="max_points"):
        await repo.equity_history(bot, max_points=10_001)
    with pytest.raises(InvalidDataError, match="since"):
        await repo.heartbeat_timeline(bot, since=datetime(2026, 1, 1))  # naive
    with pytest.raises(InvalidDataError, match="bot"):
        await activity.heartbeat_timeline(repo.store, "")


# --- retention: minutes rolled up into hours ---------------------------------------------------


def _hour(moment: datetime) -> datetime:
    return moment.replace(minute=0, second=0, microsecond=0)


@pytest.fixture
async def activity_store(db_url: str) -> AsyncIterator[Store]:
    # Chunks of 60 rows: one hour of minutes per roll-up chunk, so the test crosses chunks.
    async with Store(db_url, bulk_chunk_rows=60) as opened:
        yield opened


async def test_cleanup_rolls_old_minutes_up_into_exact_hours_and_deletes_them(
    activity_store: Store, beats: BeatClock
) -> None:
    repo = TradeRepository(activity_store)
    await repo.create_bot_instance({"id": BOT_ID, "type": "paper", "current_balance": 0})
    await repo.create_bot_instance({"id": "other", "type": "paper"})
    old = _hour(datetime.now(UTC) - timedelta(days=3))
    # Two hours three days ago: 45 minutes with a heartbeat in the first, 20 in the second.
    minutes = [*range(0, 45), *range(60, 80)]
    for minute in minutes:
        balance = Decimal("100.00000001") * (minute + 1)
        status = "error" if minute == 79 else "running"
        await repo.update_bot_instance(BOT_ID, {"current_balance": balance, "status": status})
        await beats.beat(repo, at(minute, 30, base=old))
    await beats.beat(repo, at(10, 0, base=old), "other")
    ancient = _hour(datetime.now(UTC) - timedelta(days=100))
    for minute in range(3):
        await beats.beat(repo, at(minute, 0, base=ancient))
    beats.now = None
    await repo.heartbeat(BOT_ID)  # now: kept as a minute
    buckets_before = await _buckets(activity_store)

    from asyncstore.operations import preview_cleanup

    preview = (await preview_cleanup(activity_store, 90)).activity
    assert (preview.minutes_rolled_up, preview.hours_written, preview.buckets_deleted) == (
        len(minutes) + 1,
        3,
        3,
    )
    assert await _buckets(activity_store) == buckets_before  # a dry run writes nothing

    two_days_before = _hour(datetime.now(UTC) - timedelta(days=2))
    report = await repo.cleanup(90)
    assert report.deleted == {"trades": 0, "performance_metrics": 0}
    done = report.activity
    assert (done.minutes_rolled_up, done.hours_written, done.buckets_deleted) == (
        preview.minutes_rolled_up,
        preview.hours_written,
        preview.buckets_deleted,
    )
    assert done.rolled_up_before in {two_days_before, _hour(datetime.now(UTC) - timedelta(days=2))}

    stored = await _buckets(activity_store)
    hours = [row for row in stored if row[1] == 3600]
    first, second = old, at(60, 0, old)
    assert hours == [
        # Per hour: the last minute's status and money, the minutes' beats summed, first/last.
        (BOT_ID, 3600, first, "running", Decimal("4500.00000045"), None, 45, at(0, 30, old),
         at(44, 30, old)),
        (BOT_ID, 3600, second, "error", Decimal("8000.00000080"), None, 20, at(60, 30, old),
         at(79, 30, old)),
        ("other", 3600, first, "running", None, None, 1, at(10, 0, old), at(10, 0, old)),
    ]  # fmt: skip
    (kept,) = [row for row in stored if row[1] == 60]
    assert kept == [row for row in buckets_before if row[0] == BOT_ID][-1]  # now's: untouched
    timeline = await repo.heartbeat_timeline(BOT_ID)
    assert [(b.start, b.seconds) for b in timeline] == [
        (old, 3600),
        (at(60, 0, old), 3600),
        (kept[2], 60),
    ]
    points = await repo.equity_history(BOT_ID)
    assert [p.balance for p in points[:2]] == [Decimal("4500.00000045"), Decimal("8000.00000080")]

    # A minute that comes late into an hour already rolled up is merged on the next cleanup.
    await repo.update_bot_instance(BOT_ID, {"current_balance": "1", "status": "running"})
    await beats.beat(repo, at(59, 59, base=old))
    again = (await repo.cleanup(90)).activity
    assert (again.minutes_rolled_up, again.hours_written, again.buckets_deleted) == (1, 1, 0)
    first_hour = next(row for row in await _buckets(activity_store) if row[2] == old)
    assert first_hour[3:] == ("running", Decimal(1), None, 46, at(0, 30, old), at(59, 59, old))

    nothing = (await repo.cleanup(90)).activity
    assert (nothing.minutes_rolled_up, nothing.hours_written, nothing.buckets_deleted) == (0, 0, 0)


async def test_hours_go_with_the_trades_retention_and_the_setting_moves_the_roll_up(
    db_url: str, beats: BeatClock
) -> None:
    async with Store(db_url, activity_minutes_days=0) as store:
        repo = TradeRepository(store)
        await repo.create_bot_instance({"id": BOT_ID, "type": "paper"})
        this_hour = _hour(datetime.now(UTC))
        await beats.beat(repo, at(-61, base=this_hour))  # the hour before the last
        await beats.beat(repo, at(-1, base=this_hour))  # the last complete hour
        beats.now = None
        await repo.heartbeat(BOT_ID)  # this hour: not complete, never rolled up
        report = (await repo.cleanup(1)).activity
        assert (report.minutes_rolled_up, report.hours_written) == (2, 2)
        assert [(b.seconds, b.heartbeats) for b in await repo.heartbeat_timeline(BOT_ID)] == [
            (3600, 1),
            (3600, 1),
            (60, 1),
        ]
        # Trades kept 0 days: every activity bucket before this hour goes too.
        assert (await repo.cleanup(0)).activity.buckets_deleted == 2
        assert [b.seconds for b in await repo.heartbeat_timeline(BOT_ID)] == [60]


async def test_cli_cleanup_dry_run_counts_activity_the_real_run_then_does(
    db_url: str, tmp_path: Path, beats: BeatClock
) -> None:
    async with Store(db_url) as store:
        repo = TradeRepository(store)
        await repo.create_bot_instance({"id": BOT_ID, "type": "paper"})
        old = _hour(datetime.now(UTC) - timedelta(days=5))
        for minute in range(5):
            await beats.beat(repo, at(minute, 1, base=old))
        await beats.beat(repo, at(0, base=old - timedelta(days=200)))

    dry = run_cli(tmp_path, "cleanup", "--days", "90", "--dry-run", "--json", "--url", db_url)
    assert dry.returncode == 0, dry.stderr
    counted = json.loads(dry.stdout)["activity"]
    assert (counted["minutes_rolled_up"], counted["hours_written"]) == (5, 1)
    assert counted["buckets_deleted"] == 1
    text = run_cli(tmp_path, "cleanup", "--days", "90", "--dry-run", "--url", db_url)
    assert "would roll 5 minute buckets of bot activity" in text.stdout
    assert "up into 1 hourly ones" in text.stdout
    assert "would delete 1 bot activity buckets" in text.stdout

    real = run_cli(tmp_path, "cleanup", "--days", "90", "--json", "--url", db_url)
    assert real.returncode == 0, real.stderr
    done = json.loads(real.stdout)
    figures = ("minutes_rolled_up", "hours_written", "buckets_deleted")
    assert [done["activity"][name] for name in figures] == [counted[name] for name in figures]
    assert done["deleted"] == {"trades": 0, "performance_metrics": 0}


# --- revision 0005 -----------------------------------------------------------------------------


def _sqlite_objects(path: Path) -> set[tuple[str, str]]:
    with closing(sqlite3.connect(path)) as conn:
        return {(kind, name) for kind, name in conn.execute("SELECT type, name FROM sqlite_master")}


async def test_upgrade_from_0004_adds_the_table_and_the_trigger_on_sqlite(
    db_path: Path, beats: BeatClock
) -> None:
    url = sqlite_url(db_path)
    async with Store(url) as store:
        await TradeRepository(store).create_bot_instance({"id": BOT_ID, "type": "paper"})
    await asyncio.to_thread(command.downgrade, alembic_config(url), "0004")
    assert not {("table", "bot_activity"), ("trigger", ACTIVITY_TRIGGER)} & _sqlite_objects(db_path)
    report = await asyncio.to_thread(upgrade_database, db_path, load_settings(url, {}))
    assert (report.before.current, report.after) == ("0004", "0005")
    assert {("table", "bot_activity"), ("trigger", ACTIVITY_TRIGGER)} <= _sqlite_objects(db_path)
    async with Store(url) as store:
        repo = TradeRepository(store)
        await beats.beat(repo, at(0, 9))
        assert [b.start for b in await repo.heartbeat_timeline(BOT_ID)] == [at(0)]


async def test_upgrade_from_0004_adds_the_table_and_the_trigger_on_postgresql(
    pg_url: str, beats: BeatClock
) -> None:
    import asyncpg

    await asyncio.to_thread(command.upgrade, alembic_config(pg_url), "0004")
    with pytest.raises(SchemaVersionError, match="0004"):  # behind: refused unless asked
        await Store(pg_url).start()
    async with Store(pg_url, upgrade_schema=True) as store:
        assert store.schema is not None and store.schema.current == "0005"
        repo = TradeRepository(store)
        await repo.create_bot_instance({"id": BOT_ID, "type": "paper", "total_pnl": "0.5"})
        await beats.beat(repo, at(0, 9))
        assert await repo.heartbeat_timeline(BOT_ID) == [
            ActivityBucket(
                start=at(0),
                seconds=60,
                heartbeats=1,
                status="running",
                first_beat=at(0, 9),
                last_beat=at(0, 9),
            )
        ]
    conn = await asyncpg.connect(pg_url.replace("+asyncpg", ""))
    try:
        triggers = await conn.fetch(
            "SELECT tgname FROM pg_trigger WHERE tgrelid = 'bot_instances'::regclass "
            "AND NOT tgisinternal"
        )
        assert [row["tgname"] for row in triggers] == [ACTIVITY_TRIGGER]
    finally:
        await conn.close()


async def test_a_session_in_another_time_zone_keys_buckets_in_utc(
    pg_url: str, beats: BeatClock
) -> None:
    """The trigger truncates in UTC, whatever the TimeZone of the session that stamps. Today's
    zones are whole minutes off UTC, so the test takes Amsterdam in 1900 (+00:19:32), where
    truncating in local time would key the bucket 28 seconds off the minute."""
    import asyncpg

    async with Store(pg_url) as store:
        await TradeRepository(store).create_bot_instance({"id": BOT_ID, "type": "paper"})
    conn = await asyncpg.connect(
        pg_url.replace("+asyncpg", ""), server_settings={"TimeZone": "Europe/Amsterdam"}
    )
    try:
        await conn.execute(
            "UPDATE bot_instances SET last_heartbeat = '1900-01-05 12:07:30+00' WHERE id = $1",
            BOT_ID,
        )
        start = await conn.fetchval("SELECT bucket_start FROM bot_activity")
    finally:
        await conn.close()
    assert start == datetime(1900, 1, 5, 12, 7, tzinfo=UTC)
