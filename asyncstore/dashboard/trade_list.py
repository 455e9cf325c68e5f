"""GET /api/bots/{bot_id}/trades: one bot's trades, a keyset page at a time.

`?status=closed|open|cancelled&limit=50&after=CURSOR` → {"trades": [...], "next": CURSOR|null}.
Pages come from the repository's get_trades (asyncstore.repository.trade_pages), in (entry_time,
id) order; the cursor is the id of the page's last trade, which get_trades takes as `after`, so
a page costs the same however deep it is and no trade is repeated or skipped. A bad parameter
is a 400 naming it and why.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from asyncstore.errors import InvalidDataError, NotFoundError
from asyncstore.repository import TradeRepository
from asyncstore.schema.records import TradeRecord
from asyncstore.schema.tables import TRADE_STATUSES

from .responses import ApiError

__all__ = ["MAX_LIMIT", "TradeQuery", "trades_page"]

DEFAULT_LIMIT = 50
MAX_LIMIT = 500
_MAX_CURSOR = 64


@dataclass(frozen=True, slots=True)
class TradeQuery:
    status: str | None
    limit: int
    after: str | None

    @classmethod
    def parse(cls, params: Mapping[str, str]) -> TradeQuery:
        """The page asked for; ApiError(400) naming the first bad parameter."""
        status = params.get("status")
        if status is not None and status not in TRADE_STATUSES:
            raise _bad("status", f"must be one of {', '.join(TRADE_STATUSES)}, got {status!r:.40}")
        limit_text = params.get("limit")
        limit = DEFAULT_LIMIT
        if limit_text is not None:
            try:
                limit = int(limit_text)
            except ValueError:
                limit = -1
            if not 1 <= limit <= MAX_LIMIT:
                problem = f"must be a whole number from 1 to {MAX_LIMIT}, got {limit_text!r:.40}"
                raise _bad("limit", problem)
        after = params.get("after") or None
        if after is not None and len(after) > _MAX_CURSOR:
            raise _bad("after", "is not a cursor this API gave (too long)")
        return cls(status, limit, after)


def _bad(parameter: str, problem: str) -> ApiError:
    return ApiError(400, f"{parameter}: {problem}", parameter=parameter)


async def trades_page(repo: TradeRepository, bot_id: str, query: TradeQuery) -> dict[str, Any]:
    """The page as JSON-ready values; ApiError(404) for an unknown bot."""
    if await repo.get_bot_instance(bot_id) is None:
        raise ApiError(404, f"no bot with id {bot_id!r}")
    try:
        trades = await repo.for_bot(bot_id).get_trades(
            status=query.status, limit=query.limit, after=query.after
        )
    except (NotFoundError, InvalidDataError):
        # An id that is not a trade of this bot (or no longer exists): not a cursor we gave.
        raise _bad("after", f"no trade of bot {bot_id!r} with id {query.after!r}") from None
    full = len(trades) == query.limit
    return {
        "trades": [_trade(trade) for trade in trades],
        "next": trades[-1].id if full else None,
    }


def _trade(trade: TradeRecord) -> dict[str, Any]:
    return dict(trade)
