"""The change feed on PostgreSQL: NOTIFY in the writing transaction, LISTEN to watch.

Writer side: `Announcer.notify` sends a group commit's notes with `pg_notify` inside its
transaction, just before COMMIT (all payloads in one statement). PostgreSQL delivers
notifications only once their transaction committed, never for one rolled back, and in commit
order, whichever host wrote: exactly the feed's promise, with nothing stored.

Watcher side: `PostgresChangeWatcher` holds one connection of its own that LISTENs on the
channel; payloads from this Store's own writer are skipped (it delivered them already). If the
connection is lost it reconnects (backing off), and subscribers get one `resync` change:
notifications sent meanwhile were missed.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from asyncstore.clock import utc_now
from asyncstore.config import redacted
from asyncstore.errors import DatabaseUnavailableError
from asyncstore.feed.change import Note, changes_of, resync
from asyncstore.feed.hub import Publish
from asyncstore.feed.wire import decode_payload, payloads
from asyncstore.postgres.connection import CONNECT_TIMEOUT_S
from asyncstore.postgres.writes import StatementLog

__all__ = ["ALIVE_CHECK_S", "CHANNEL", "Announcer", "PostgresChangeWatcher"]

CHANNEL = "asyncstore_changes"
_NOTIFY = "SELECT pg_notify($1, payload) FROM unnest($2::text[]) AS payload"
_FIRST_BACKOFF_S = 0.05
_MAX_BACKOFF_S = 2.0
_CLOSE_TIMEOUT_S = 10.0
ALIVE_CHECK_S = 30.0
CHECK_TIMEOUT_S = 10.0


@dataclass(frozen=True, slots=True)
class Announcer:
    """One Store's writer (`origin`, in its payloads) and the channel its database's feed uses
    (a tenant's own: asyncstore.postgres.tenants)."""

    origin: str
    channel: str = CHANNEL

    async def notify(self, conn: Any, notes: list[Note], log: StatementLog) -> datetime:
        """Announce one commit's notes inside its open transaction; returns the commit time."""
        committed_at = utc_now()
        parts = list(payloads(self.origin, committed_at, notes))
        log(_NOTIFY, (self.channel, f"{len(parts)} payloads"))
        await conn.execute(_NOTIFY, self.channel, parts)
        return committed_at


class PostgresChangeWatcher:
    """Publishes the commits of other processes (see the module's docstring)."""

    def __init__(self, dsn: str, announcer: Announcer, publish: Publish) -> None:
        self._dsn = dsn
        self._origin = announcer.origin  # this Store's writer: its commits are published already
        self._channel = announcer.channel
        self._publish = publish
        self._conn: Any = None
        self._reconnecting: asyncio.Future[None] | None = None
        self._checking: asyncio.Future[None] | None = None
        self._stopped = False

    async def start(self) -> None:
        try:
            await self._listen()
        except Exception as exc:
            hint = ""
            if "recovery" in str(exc):  # a hot standby refuses LISTEN
                hint = " (a standby cannot LISTEN: the change feed needs the primary's URL)"
            raise DatabaseUnavailableError(
                f"the change feed cannot LISTEN on {redacted(self._dsn)}: {exc}{hint}",
                may_have_committed=False,
            ) from exc
        self._checking = asyncio.ensure_future(self._check_alive())

    async def stop(self) -> None:
        self._stopped = True
        for task in (self._reconnecting, self._checking):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        conn, self._conn = self._conn, None
        if conn is not None and not conn.is_closed():
            try:
                await asyncio.wait_for(conn.close(), _CLOSE_TIMEOUT_S)
            except Exception:  # the server is gone or stuck: just drop the socket
                conn.terminate()

    async def _listen(self) -> None:
        import asyncpg

        conn = await asyncpg.connect(
            self._dsn,
            timeout=CONNECT_TIMEOUT_S,
            server_settings={"application_name": "asyncstore-feed"},
        )
        try:
            await conn.add_listener(self._channel, self._on_notification)
        except BaseException:
            conn.terminate()
            raise
        conn.add_termination_listener(self._on_lost)
        self._conn = conn

    def _on_notification(self, conn: Any, pid: int, channel: str, payload: str) -> None:
        origin, committed_at, notes = decode_payload(payload)  # one payload: < 8000 bytes
        if origin != self._origin:
            self._publish(changes_of(notes, committed_at))

    def _on_lost(self, conn: Any) -> None:
        if conn is self._conn and not self._stopped:
            self._conn = None
            self._reconnecting = asyncio.ensure_future(self._reconnect())

    async def _check_alive(self) -> None:
        """A network path that died without a word (no FIN) would leave LISTEN deaf forever:
        every ALIVE_CHECK_S a query must answer within CHECK_TIMEOUT_S, or the connection is
        ended, which starts a reconnect (and a resync)."""
        while not self._stopped:
            await asyncio.sleep(ALIVE_CHECK_S)
            conn = self._conn
            if conn is None or conn.is_closed():
                continue
            try:
                await asyncio.wait_for(conn.fetchval("SELECT 1"), CHECK_TIMEOUT_S)
            except Exception:
                conn.terminate()  # the termination listener reconnects

    async def _reconnect(self) -> None:
        backoff = _FIRST_BACKOFF_S
        while not self._stopped:
            try:
                await self._listen()
            except Exception:
                await asyncio.sleep(backoff)
                backoff = min(2 * backoff, _MAX_BACKOFF_S)
                continue
            self._publish([resync(utc_now())])  # what was sent meanwhile is lost
            return
