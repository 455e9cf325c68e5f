"""The time asyncstore stamps on rows: aware UTC, and strictly increasing within a process.

`created_at` is how asyncstore orders rows "in creation order" (open trades, metrics' ties in
exit_time). Two rows made in the same microsecond, or a whole bulk chunk made at once, would tie
and fall back to their ids, which callers may choose in any order. So each stamp is at least one
microsecond after the previous one. A call takes the stamps of the rows it has just validated
(a bulk insert: one slice of 64 rows at a time), and validating a row takes far longer than a
microsecond, so the stamps run ahead of the wall clock by at most a slice's worth: well under a
millisecond.
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

__all__ = ["utc_now", "utc_stamps"]

_MICROSECOND = timedelta(microseconds=1)
_lock = threading.Lock()
_last = datetime.min.replace(tzinfo=UTC)


def utc_stamps(count: int) -> list[datetime]:
    """`count` increasing aware UTC times, the first no earlier than now."""
    global _last
    now = datetime.now(UTC)
    with _lock:
        first = max(now, _last + _MICROSECOND)
        _last = first + _MICROSECOND * (count - 1)
    return [first + _MICROSECOND * n for n in range(count)]


def utc_now() -> datetime:
    """Now, in UTC, later than every stamp this process handed out before."""
    return utc_stamps(1)[0]
