"""Retention of `bot_activity`: minutes rolled up into hours, old hours deleted, in chunks.

Part of every cleanup (asyncstore.operations.retention), after trades and metrics:
1. buckets of any size that start before the hour of the trades' retention cutoff are deleted
   (activity is kept as long as trades are);
2. minute buckets that start before the hour of now - `activity_minutes_days` (a Store setting,
   default 2) are folded into hourly buckets, then deleted: per bot and hour, the heartbeats
   summed, the first and last beat (min, max), and the status, current_balance and total_pnl of
   the minute with the latest beat. An hourly bucket already there (a roll-up of late minutes)
   is merged the same way. Money is copied by the database from row to row, never through
   Python or a float.

Both cutoffs are whole hours, so only complete hours are rolled up. Every chunk is one bot's
index range (the primary key starts with the bot), its own short transaction in the writer's
bulk lane like every retention chunk: a roll-up chunk inserts a few hours and deletes their
minutes (at most `bulk_chunk_rows` minutes, and at least one hour) atomically. Activity is
derived data: it is never archived.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cached_property
from typing import Any

from sqlalchemy import Delete, Insert, Select, bindparam, case, func, literal, select, text
from sqlalchemy.dialects import postgresql

from asyncstore.clock import utc_ago
from asyncstore.schema.activity import HOUR_SECONDS, MINUTE_SECONDS
from asyncstore.schema.expressions import HourStart, RowAddress
from asyncstore.schema.tables import BOT_ACTIVITY, BOTS
from asyncstore.store import Store
from asyncstore.types import UTCDateTime
from asyncstore.writes import AtomicStatements

__all__ = [
    "ACTIVITY_TABLE",
    "ActivityCleanup",
    "activity_cutoffs",
    "clean_activity",
    "count_activity",
]

ACTIVITY = BOT_ACTIVITY
ACTIVITY_TABLE = ACTIVITY.name
_HOUR = timedelta(seconds=HOUR_SECONDS)

Progress = Callable[[int, int], None]  # (buckets removed so far, buckets expected)


@dataclass(frozen=True, slots=True)
class ActivityCleanup:
    """What a cleanup did to bot_activity (in a dry run: would do)."""

    minutes_rolled_up: int = 0  # minute buckets folded into hourly ones, then deleted
    hours_written: int = 0  # hourly buckets written, or merged into
    buckets_deleted: int = 0  # buckets older than the trades' retention
    rolled_up_before: datetime | None = None  # minute buckets starting before this hour
    deleted_before: datetime | None = None  # buckets starting before this hour


def _hour_of(at: datetime) -> datetime:
    return at.replace(minute=0, second=0, microsecond=0)


def activity_cutoffs(store: Store, trade_cutoff: datetime) -> tuple[datetime, datetime]:
    """(delete buckets before, roll minute buckets up before): whole hours."""
    minutes_cutoff = utc_ago(days=store.settings.activity_minutes_days)
    return _hour_of(trade_cutoff), _hour_of(minutes_cutoff)


def _time(name: str) -> Any:
    return bindparam(name, type_=UTCDateTime())


# One bot's buckets (bind `bot_id`) of the sizes named: literal sizes, not binds, so each is a
# primary-key range (bot, size, start) the planner sees.
_BOT = ACTIVITY.c.bot_id == bindparam("bot_id")
# Its buckets of any size older than `delete_before`.
_OLD = (
    _BOT,
    text(f"bot_activity.bucket_seconds IN ({MINUTE_SECONDS}, {HOUR_SECONDS})"),
    ACTIVITY.c.bucket_start < _time("delete_before"),
)
# Its minute buckets in [low, high).
_MINUTES = (
    _BOT,
    text(f"bot_activity.bucket_seconds = {MINUTE_SECONDS}"),
    ACTIVITY.c.bucket_start >= _time("low"),
    ACTIVITY.c.bucket_start < _time("high"),
)


class _Statements:
    """The statements of activity retention, built once (each backend compiles them)."""

    @cached_property
    def plan(self) -> Select[Any]:
        """Per bot with buckets to act on: (bot id, buckets to delete, minutes to roll up,
        hours they make). Binds `delete_before` and `rollup_before`; each count is one bot's
        primary-key range."""
        activity = ACTIVITY.alias("activity")
        of_bot = activity.c.bot_id == BOTS.c.id

        def scalar(what: Any, *where: Any) -> Any:
            return select(what).where(of_bot, *where).scalar_subquery()

        old = scalar(
            func.count(),
            text(f"activity.bucket_seconds IN ({MINUTE_SECONDS}, {HOUR_SECONDS})"),
            activity.c.bucket_start < _time("delete_before"),
        )
        in_rollup = (
            text(f"activity.bucket_seconds = {MINUTE_SECONDS}"),
            activity.c.bucket_start >= _time("delete_before"),
            activity.c.bucket_start < _time("rollup_before"),
        )
        minutes = scalar(func.count(), *in_rollup)
        hours = scalar(func.count(func.distinct(HourStart(activity.c.bucket_start))), *in_rollup)
        plan = select(BOTS.c.id, old.label("old"), minutes.label("minutes"), hours.label("hours"))
        return plan.order_by(BOTS.c.id)

    @cached_property
    def delete_old(self) -> Delete:
        """Delete up to `limit` of one bot's buckets older than `delete_before`."""
        chunk = select(RowAddress(ACTIVITY)).where(*_OLD).limit(bindparam("limit"))
        return ACTIVITY.delete().where(RowAddress(ACTIVITY).in_(chunk.scalar_subquery()))

    @cached_property
    def oldest_minute(self) -> Select[Any]:
        """The start of one bot's oldest minute bucket in [low, high)."""
        return select(func.min(ACTIVITY.c.bucket_start)).where(*_MINUTES)

    @cached_property
    def roll_up(self) -> Insert:
        """One bot's minute buckets in [low, high) as hourly buckets, merged into any there."""
        hour = HourStart(ACTIVITY.c.bucket_start)
        minutes = (
            select(
                ACTIVITY.c.bot_id,
                hour.label("hour"),
                ACTIVITY.c.status,
                ACTIVITY.c.current_balance,
                ACTIVITY.c.total_pnl,
                func.sum(ACTIVITY.c.heartbeats).over(partition_by=hour).label("heartbeats"),
                func.min(ACTIVITY.c.first_beat).over(partition_by=hour).label("first_beat"),
                func.max(ACTIVITY.c.last_beat).over(partition_by=hour).label("last_beat"),
                func.row_number()
                .over(
                    partition_by=hour,
                    order_by=(ACTIVITY.c.last_beat.desc(), ACTIVITY.c.bucket_start.desc()),
                )
                .label("newest_first"),
            )
            .where(*_MINUTES)
            .subquery("minutes")
        )
        hours = select(
            minutes.c.bot_id,
            literal(HOUR_SECONDS),
            minutes.c.hour,
            minutes.c.status,
            minutes.c.current_balance,
            minutes.c.total_pnl,
            minutes.c.heartbeats,
            minutes.c.first_beat,
            minutes.c.last_beat,
        ).where(minutes.c.newest_first == literal(1))  # SQLite needs a WHERE before ON CONFLICT
        # ON CONFLICT … DO UPDATE is the same SQL on SQLite (3.24+) and PostgreSQL: SQLAlchemy's
        # PostgreSQL insert() compiles for both (the tests run it on both backends).
        insert = postgresql.insert(ACTIVITY).from_select([c.name for c in ACTIVITY.c], hours)
        new, stored = insert.excluded, ACTIVITY.c
        newer = new.last_beat >= stored.last_beat
        return insert.on_conflict_do_update(
            index_elements=["bot_id", "bucket_seconds", "bucket_start"],
            set_={
                "heartbeats": stored.heartbeats + new.heartbeats,
                "first_beat": case(
                    (new.first_beat < stored.first_beat, new.first_beat), else_=stored.first_beat
                ),
                "last_beat": case((newer, new.last_beat), else_=stored.last_beat),
                "status": case((newer, new.status), else_=stored.status),
                "current_balance": case((newer, new.current_balance), else_=stored.current_balance),
                "total_pnl": case((newer, new.total_pnl), else_=stored.total_pnl),
            },
        )

    @cached_property
    def delete_minutes(self) -> Delete:
        return ACTIVITY.delete().where(*_MINUTES)


STATEMENTS = _Statements()


@dataclass(frozen=True, slots=True)
class _BotPlan:
    bot_id: str
    old: int
    minutes: int
    hours: int


async def _plan(store: Store, delete_before: str, rollup_before: str) -> list[_BotPlan]:
    rows = await store.fetch_all(
        STATEMENTS.plan,
        {"delete_before": delete_before, "rollup_before": rollup_before},
        primary=True,
    )
    plans = [_BotPlan(bot, int(old), int(minutes), int(hours)) for bot, old, minutes, hours in rows]
    return [plan for plan in plans if plan.old or plan.minutes]


async def count_activity(store: Store, trade_cutoff: datetime) -> ActivityCleanup:
    """The dry run: what `clean_activity` would do now (read on the primary, nothing written)."""
    delete_before, rollup_before = activity_cutoffs(store, trade_cutoff)
    plans = await _plan(store, _text(delete_before), _text(rollup_before))
    return ActivityCleanup(
        minutes_rolled_up=sum(plan.minutes for plan in plans),
        hours_written=sum(plan.hours for plan in plans),
        buckets_deleted=sum(plan.old for plan in plans),
        rolled_up_before=rollup_before,
        deleted_before=delete_before,
    )


def _text(at: datetime) -> str:
    return str(UTCDateTime.to_db(at))


async def clean_activity(
    store: Store, trade_cutoff: datetime, on_progress: Progress | None = None
) -> ActivityCleanup:
    """Delete buckets older than the trades' retention, then roll old minutes up into hours."""
    delete_before, rollup_before = activity_cutoffs(store, trade_cutoff)
    cleaner = _ActivityCleaner(store, delete_before, rollup_before, on_progress)
    return await cleaner.run()


class _ActivityCleaner:
    def __init__(
        self,
        store: Store,
        delete_before: datetime,
        rollup_before: datetime,
        on_progress: Progress | None,
    ) -> None:
        self.store = store
        self.delete_before = delete_before
        self.rollup_before = rollup_before
        self.on_progress = on_progress
        self.chunk = store.settings.bulk_chunk_rows
        # Hours per roll-up chunk: at most 60 minute buckets each.
        self.hours_per_chunk = max(1, self.chunk // (HOUR_SECONDS // MINUTE_SECONDS))
        self.expected = self.removed = 0
        self.minutes = self.hours = self.deleted = 0

    def _report(self) -> None:
        if self.on_progress is not None:
            self.on_progress(self.removed, self.expected)

    async def _write(self, statements: Sequence[tuple[Any, dict[str, Any]]]) -> list[int]:
        op = AtomicStatements(statements, f"cleanup of {ACTIVITY_TABLE}", bulk=True)
        return [int(count) for count in await self.store.submit(op)]

    async def run(self) -> ActivityCleanup:
        plans = await _plan(self.store, _text(self.delete_before), _text(self.rollup_before))
        self.expected = sum(plan.old + plan.minutes for plan in plans)
        self._report()
        for plan in plans:
            if plan.old:
                await self._delete_old(plan.bot_id)
            if plan.minutes:
                await self._roll_up(plan.bot_id)
        return ActivityCleanup(
            minutes_rolled_up=self.minutes,
            hours_written=self.hours,
            buckets_deleted=self.deleted,
            rolled_up_before=self.rollup_before,
            deleted_before=self.delete_before,
        )

    async def _delete_old(self, bot_id: str) -> None:
        params = {"bot_id": bot_id, "delete_before": _text(self.delete_before), "limit": self.chunk}
        while True:
            (count,) = await self._write([(STATEMENTS.delete_old, params)])
            self.deleted += count
            self.removed += count
            self._report()
            if count < self.chunk:
                return

    async def _roll_up(self, bot_id: str) -> None:
        low = self.delete_before
        while True:
            bounds = {"bot_id": bot_id, "low": _text(low), "high": _text(self.rollup_before)}
            ((oldest,),) = await self.store.fetch_all(
                STATEMENTS.oldest_minute, bounds, primary=True
            )
            if oldest is None:
                return
            low = _hour_of(UTCDateTime.from_db(str(oldest)) or low)
            high = min(low + _HOUR * self.hours_per_chunk, self.rollup_before)
            window = {"bot_id": bot_id, "low": _text(low), "high": _text(high)}
            hours, minutes = await self._write(
                [(STATEMENTS.roll_up, window), (STATEMENTS.delete_minutes, window)]
            )
            self.hours += hours
            self.minutes += minutes
            self.removed += minutes
            self._report()
            low = high
