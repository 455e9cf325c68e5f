"""A bot's intraday equity history and heartbeat timeline, read from `bot_activity`.

The database fills `bot_activity` itself (a trigger records each bot's first heartbeat of every
minute, see asyncstore.schema.activity): one bucket per bot per minute with a heartbeat, folded
into hourly buckets by retention. Both reads are one range of the primary key (bot, bucket
size, time) per bucket size, and both are computed by the database:

- `equity_history`: the bot's balance and total PnL as of each bucket's last recorded
  heartbeat, then, as the newest point, the bot as it is now (bot_instances: its balance at
  its latest heartbeat, recorded or not). Downsampled IN SQL: the points in range are grouped
  into at most `max_points` groups of equal width in time, and each group gives its newest
  point. So the last point is always the bot's current balance. A stretch without buckets
  (downtime) gives no point. Money is decoded from its stored text, never through a float.
- `heartbeat_timeline`: every bucket, minute and hourly alike, oldest first: a missing bucket
  is time without a heartbeat.

`since` keeps the points and buckets with a (recorded) heartbeat at or after it. An unknown bot,
or one that never beat, has none: [].
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from decimal import Decimal
from functools import lru_cache
from typing import Any

from pydantic import BaseModel, ConfigDict
from sqlalchemy import (
    CTE,
    Integer,
    Select,
    bindparam,
    func,
    literal_column,
    select,
    text,
    true,
    union_all,
)
from sqlalchemy.sql.expression import ColumnElement, TextClause

from asyncstore.repository.records import from_values
from asyncstore.schema.activity import HOUR_SECONDS, MINUTE_SECONDS
from asyncstore.schema.expressions import EpochSeconds
from asyncstore.schema.tables import BOT_ACTIVITY, BOTS
from asyncstore.schema.validation import validate_bot_id, validate_page_rows, validate_time
from asyncstore.store import Store
from asyncstore.threads import per_rows_off_loop
from asyncstore.types import ExactDecimal, UTCDateTime

__all__ = [
    "ActivityBucket",
    "EquityPoint",
    "equity_history",
    "equity_history_query",
    "heartbeat_timeline",
    "heartbeat_timeline_query",
]

ACTIVITY = BOT_ACTIVITY
_MONEY = ExactDecimal(20, 8)  # the type of current_balance and total_pnl
# The widest bucket: a bucket with a heartbeat at or after `since` starts at most this long
# before it, which bounds the index range a `since` read scans.
_WIDEST_BUCKET = timedelta(seconds=HOUR_SECONDS)


class EquityPoint(BaseModel):
    """A bot's balance and total PnL as of one heartbeat (the newest of its group)."""

    model_config = ConfigDict(frozen=True)

    at: datetime  # that heartbeat's time, UTC
    balance: Decimal | None  # bot_instances.current_balance then
    total_pnl: Decimal | None


class ActivityBucket(BaseModel):
    """A bot's heartbeats in one bucket of time: `seconds` long (60, or 3600 once rolled up)."""

    model_config = ConfigDict(frozen=True)

    start: datetime  # UTC
    seconds: int
    heartbeats: int
    status: str  # the bot's status at the bucket's latest heartbeat
    first_beat: datetime
    last_beat: datetime


def _of_bot(since: bool) -> list[ColumnElement[bool] | TextClause]:
    """One bot's buckets (bind `bot_id`), those with a beat at or after `since` when asked
    (bind `since`, and `since_low`: the earliest start such a bucket can have)."""
    conditions: list[ColumnElement[bool] | TextClause] = [
        ACTIVITY.c.bot_id == bindparam("bot_id"),
        # Both sizes named: the primary key (bot, size, start) then serves each as a range.
        # (Literal SQL: an IN of bound values would be compiled anew for every call.)
        text(f"bot_activity.bucket_seconds IN ({MINUTE_SECONDS}, {HOUR_SECONDS})"),
    ]
    if since:
        conditions.append(ACTIVITY.c.bucket_start >= bindparam("since_low", type_=UTCDateTime()))
        conditions.append(ACTIVITY.c.last_beat >= bindparam("since", type_=UTCDateTime()))
    return conditions


def _points(since: bool) -> CTE:
    """Every equity point of one bot: (time, balance, total PnL, epoch seconds, live), its
    buckets' and, marked live, the bot's own row."""
    buckets = select(
        ACTIVITY.c.last_beat.label("at"),
        ACTIVITY.c.current_balance,
        ACTIVITY.c.total_pnl,
        EpochSeconds(ACTIVITY.c.last_beat).label("epoch"),
        literal_column("0").label("live"),
    ).where(*_of_bot(since))
    bot = select(
        BOTS.c.last_heartbeat,
        BOTS.c.current_balance,
        BOTS.c.total_pnl,
        EpochSeconds(BOTS.c.last_heartbeat),
        literal_column("1"),
    ).where(BOTS.c.id == bindparam("bot_id"), BOTS.c.last_heartbeat.is_not(None))
    if since:
        bot = bot.where(BOTS.c.last_heartbeat >= bindparam("since", type_=UTCDateTime()))
    return union_all(buckets, bot).cte("points")


@lru_cache(maxsize=2)
def equity_history_query(*, since: bool) -> Select[Any]:
    """At most `max_points` (bind) rows (at, current_balance, total_pnl), oldest first.

    Groups have a whole number of seconds as width: (newest - oldest) // max_points + 1, so the
    group numbers run from 0 to max_points - 1 at most. Within a group the newest point wins,
    the live one on a tie (the bot's row is at least as new as its last recorded beat)."""
    points = _points(since)
    max_points = bindparam("max_points", type_=Integer())
    span = select(
        func.min(points.c.epoch).label("low"),
        ((func.max(points.c.epoch) - func.min(points.c.epoch)) // max_points + 1).label("width"),
    ).cte("span")
    group = (points.c.epoch - span.c.low) // span.c.width
    newest_first = func.row_number().over(
        partition_by=group, order_by=(points.c.at.desc(), points.c.live.desc())
    )
    ranked = (
        select(
            points.c.at,
            points.c.current_balance,
            points.c.total_pnl,
            points.c.live,
            newest_first.label("newest_first"),
        )
        .select_from(points.join(span, true()))
        .subquery("ranked")
    )
    return (
        select(ranked.c.at, ranked.c.current_balance, ranked.c.total_pnl)
        .where(ranked.c.newest_first == literal_column("1"))
        .order_by(ranked.c.at, ranked.c.live)
    )


@lru_cache(maxsize=2)
def heartbeat_timeline_query(*, since: bool) -> Select[Any]:
    """Every bucket of one bot, oldest first (an hourly bucket before the minutes of its hour,
    should late minutes exist beside it)."""
    return (
        select(
            ACTIVITY.c.bucket_start,
            ACTIVITY.c.bucket_seconds,
            ACTIVITY.c.heartbeats,
            ACTIVITY.c.status,
            ACTIVITY.c.first_beat,
            ACTIVITY.c.last_beat,
        )
        .where(*_of_bot(since))
        .order_by(ACTIVITY.c.bucket_start, ACTIVITY.c.bucket_seconds.desc())
    )


def _bounds(bot_id: Any, since: Any) -> dict[str, Any]:
    values: dict[str, Any] = {"bot_id": validate_bot_id(bot_id)}
    if since is not None:
        at = validate_time("since", since)
        try:
            low = at - _WIDEST_BUCKET
        except OverflowError:  # `since` within an hour of year 1: nothing starts before it
            low = at
        values["since"], values["since_low"] = UTCDateTime.to_db(at), UTCDateTime.to_db(low)
    return values


async def equity_history(
    store: Store, bot_id: str, *, since: datetime | None = None, max_points: int = 1000
) -> list[EquityPoint]:
    """The bot's balance and total PnL over time, oldest first, at most `max_points` (1 to
    10,000) points, downsampled by the database; the last point is the latest heartbeat's."""
    values = _bounds(bot_id, since)
    values["max_points"] = validate_page_rows("max_points", max_points)
    rows = await store.fetch_all(equity_history_query(since=since is not None), values)
    return await per_rows_off_loop(_equity_points, rows)


async def heartbeat_timeline(
    store: Store, bot_id: str, *, since: datetime | None = None
) -> list[ActivityBucket]:
    """The bot's heartbeat buckets, oldest first; a gap between buckets is downtime."""
    values = _bounds(bot_id, since)
    rows = await store.fetch_all(heartbeat_timeline_query(since=since is not None), values)
    return await per_rows_off_loop(_buckets, rows)


# Stored rows are trusted: decoded into records, not validated again (asyncstore.repository
# .records).


def _equity_points(rows: Sequence[Sequence[Any]]) -> list[EquityPoint]:
    at, money = UTCDateTime.from_db, _MONEY.from_db
    return [
        from_values(
            EquityPoint, {"at": at(last), "balance": money(balance), "total_pnl": money(pnl)}
        )
        for last, balance, pnl in rows
    ]


def _buckets(rows: Sequence[Sequence[Any]]) -> list[ActivityBucket]:
    at = UTCDateTime.from_db
    return [
        from_values(
            ActivityBucket,
            {
                "start": at(start),
                "seconds": int(seconds),
                "heartbeats": int(heartbeats),
                "status": status,
                "first_beat": at(first_beat),
                "last_beat": at(last_beat),
            },
        )
        for start, seconds, heartbeats, status, first_beat, last_beat in rows
    ]
