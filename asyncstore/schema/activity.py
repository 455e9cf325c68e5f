"""The heartbeat trigger that fills `bot_activity`, and the bucket-time expressions it shares.

The database records activity itself: a row trigger `AFTER UPDATE OF last_heartbeat ON
bot_instances` upserts the minute bucket of NEW.last_heartbeat, whichever path stamped it (the
coalesced heartbeat UPDATE of a group commit, an atomic unit, update_bot_instance, another
tool's SQL).

What it records: a bot's heartbeat is recorded when it is the bot's first in a new minute (the
trigger's WHEN clause compares the minutes of OLD and NEW last_heartbeat); the other heartbeats
of that minute are not. Recording every one cost 15% (SQLite) and 33-42% (PostgreSQL) of the
heartbeats per second of 500 bots; this way the cost is within the noise of the measurement
(1.5% and 3% on a quiet machine; python -m benchmarks.activity). So a bucket holds the
heartbeats RECORDED in it: `heartbeats` is 1 for a minute with a heartbeat (more only when a
bot's clock went back into a minute it had left), and an hourly roll-up sums them: the minutes
of that hour with a heartbeat, its uptime in minutes. `first_beat` and `last_beat` are the
first and last recorded heartbeats, and status, current_balance and total_pnl are the bot's as
of the last one (money copied as stored, never through a float). A recorded beat older than the
bucket's last one (clocks of two hosts) is counted but does not overwrite newer figures.

SQLite stores times as asyncstore's text 'YYYY-MM-DD HH:MM:SS.ffffff' (UTC), so the minute is
the text's first 16 characters plus ':00.000000', which is that same format (text order is time
order). PostgreSQL truncates the timestamptz in UTC (`date_trunc(..., 'UTC')`), whatever the
session's TimeZone. The trigger assumes last_heartbeat holds asyncstore's text on SQLite, as
every asyncstore write path binds it; another tool writing another format gets oddly keyed
buckets, never a failed update.

The DDL lives here only, used by revision 0005 and by SQLite's build of an empty database at
head (PostgreSQL builds its head by running the revisions).

A later revision must keep the trigger alive:
- on SQLite, a batch rebuild of `bot_instances` (create, copy, drop, rename) drops the trigger
  with the old table: call `create_activity_trigger(op.get_bind())` after the rebuild;
- a rebuild of `bot_activity` itself must drop the trigger first (`drop_activity_trigger`) and
  create it again last: SQLite refuses to rename a table while a trigger names a missing one,
  as it does for the numeric views (asyncstore.schema.numeric_views).
"""

from __future__ import annotations

from sqlalchemy.engine import Connection

__all__ = [
    "ACTIVITY_TRIGGER",
    "MINUTE_SECONDS",
    "HOUR_SECONDS",
    "activity_trigger_statements",
    "create_activity_trigger",
    "drop_activity_trigger",
    "drop_activity_trigger_statements",
]

ACTIVITY_TRIGGER = "bot_activity_on_heartbeat"
# PostgreSQL runs a trigger through a function of its own.
ACTIVITY_FUNCTION = "bot_activity_record_heartbeat"
MINUTE_SECONDS = 60
HOUR_SECONDS = 3600

_COLUMNS = (
    "bot_id, bucket_seconds, bucket_start, status, current_balance, total_pnl, "
    "heartbeats, first_beat, last_beat"
)


def _upsert(minute_of_beat: str, row: str, least: str, greatest: str) -> str:
    """The minute bucket's upsert. `row` names the stored bucket in DO UPDATE (SQLite's
    unqualified columns are the stored row; PostgreSQL's need the INSERT's alias)."""
    newer = f"EXCLUDED.last_beat >= {row}last_beat"

    def latest(column: str) -> str:
        return f"{column} = CASE WHEN {newer} THEN EXCLUDED.{column} ELSE {row}{column} END"

    return (
        f"INSERT INTO bot_activity {'AS bucket ' if row else ''}({_COLUMNS}) "
        f"VALUES (NEW.id, {MINUTE_SECONDS}, {minute_of_beat}, NEW.status, NEW.current_balance, "
        "NEW.total_pnl, 1, NEW.last_heartbeat, NEW.last_heartbeat) "
        "ON CONFLICT (bot_id, bucket_seconds, bucket_start) DO UPDATE SET "
        f"heartbeats = {row}heartbeats + 1, "
        f"first_beat = {least}({row}first_beat, EXCLUDED.first_beat), "
        f"{latest('status')}, {latest('current_balance')}, {latest('total_pnl')}, "
        f"last_beat = {greatest}({row}last_beat, EXCLUDED.last_beat)"
    )


def _sqlite_minute(time: str) -> str:
    return f"substr({time}, 1, 16)"


def _postgres_minute(time: str) -> str:
    return f"date_trunc('minute', {time}, 'UTC')"


def activity_trigger_statements(dialect_name: str, *, every_beat: bool = False) -> list[str]:
    """CREATE the heartbeat trigger (and PostgreSQL's function) for `dialect_name`.

    `every_beat=True` records every heartbeat instead of each minute's first: exact counts, at
    the cost measured by benchmarks/activity.py (the schema never uses it)."""
    if dialect_name == "sqlite":
        when = "NEW.last_heartbeat IS NOT NULL"
        if not every_beat:
            new, old = _sqlite_minute("NEW.last_heartbeat"), _sqlite_minute("OLD.last_heartbeat")
            when += f" AND {new} IS NOT {old}"
        minute = _sqlite_minute("NEW.last_heartbeat") + " || ':00.000000'"
        return [
            f"CREATE TRIGGER {ACTIVITY_TRIGGER} AFTER UPDATE OF last_heartbeat ON bot_instances "
            f"FOR EACH ROW WHEN {when} BEGIN {_upsert(minute, '', 'min', 'max')}; END"
        ]
    if dialect_name == "postgresql":
        when = "NEW.last_heartbeat IS NOT NULL"
        if not every_beat:
            new, old = (
                _postgres_minute("NEW.last_heartbeat"),
                _postgres_minute("OLD.last_heartbeat"),
            )
            when += f" AND {new} IS DISTINCT FROM {old}"
        minute = _postgres_minute("NEW.last_heartbeat")
        return [
            f"CREATE FUNCTION {ACTIVITY_FUNCTION}() RETURNS trigger LANGUAGE plpgsql AS $$ "
            f"BEGIN {_upsert(minute, 'bucket.', 'LEAST', 'GREATEST')}; RETURN NULL; END $$",
            # The WHEN clause runs before the function is called: most heartbeats never call it.
            f"CREATE TRIGGER {ACTIVITY_TRIGGER} AFTER UPDATE OF last_heartbeat ON bot_instances "
            f"FOR EACH ROW WHEN ({when}) EXECUTE FUNCTION {ACTIVITY_FUNCTION}()",
        ]
    raise ValueError(f"no activity trigger for the {dialect_name!r} dialect")


def drop_activity_trigger_statements(dialect_name: str) -> list[str]:
    if dialect_name == "postgresql":
        return [
            f"DROP TRIGGER IF EXISTS {ACTIVITY_TRIGGER} ON bot_instances",
            f"DROP FUNCTION IF EXISTS {ACTIVITY_FUNCTION}()",
        ]
    return [f"DROP TRIGGER IF EXISTS {ACTIVITY_TRIGGER}"]


def create_activity_trigger(connection: Connection) -> None:
    for sql in activity_trigger_statements(connection.dialect.name):
        connection.exec_driver_sql(sql)


def drop_activity_trigger(connection: Connection) -> None:
    for sql in drop_activity_trigger_statements(connection.dialect.name):
        connection.exec_driver_sql(sql)
