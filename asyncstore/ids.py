"""Time-ordered ids (UUIDv7 layout, RFC 9562) made on the client.

New ids sort after older ones, so inserts append to the primary-key B-tree instead of splitting
pages all over it, and a batch never needs RETURNING to learn its ids. Within one millisecond a
12-bit counter keeps ids from this process strictly increasing (RFC 9562 §6.2, method 1).
"""

from __future__ import annotations

import os
import threading
import time

__all__ = ["new_id", "new_ids"]

_VERSION_7 = 0x7 << 76
_VARIANT_RFC = 0b10 << 62
_COUNTER_MAX = 0xFFF
_RANDOM_MASK = (1 << 62) - 1

_lock = threading.Lock()
_last_ms = 0
_counter = 0


def _advance() -> tuple[int, int]:
    """The next (unix_ms, counter) pair; call with _lock held."""
    global _last_ms, _counter
    now_ms = time.time_ns() // 1_000_000
    if now_ms > _last_ms:
        _last_ms = now_ms
        # Start each millisecond at a random point in the lower half, leaving room to count.
        _counter = int.from_bytes(os.urandom(2)) & 0x7FF
    elif _counter < _COUNTER_MAX:
        _counter += 1
    else:
        # Counter exhausted (4096 ids in one ms) or the clock stepped back: borrow the next ms.
        _last_ms += 1
        _counter = 0
    return _last_ms, _counter


def _format(value: int) -> str:
    digits = f"{value:032x}"
    return f"{digits[:8]}-{digits[8:12]}-{digits[12:16]}-{digits[16:20]}-{digits[20:]}"


def new_ids(count: int) -> list[str]:
    """`count` new UUIDv7s, increasing, as canonical 36-character lowercase strings."""
    randomness = os.urandom(8 * count)  # one system call for the whole batch
    ids = []
    with _lock:
        for n in range(count):
            unix_ms, counter = _advance()
            random_bits = int.from_bytes(randomness[8 * n : 8 * n + 8]) & _RANDOM_MASK
            value = (unix_ms << 80) | _VERSION_7 | (counter << 64) | _VARIANT_RFC | random_bits
            ids.append(_format(value))
    return ids


def new_id() -> str:
    """A new UUIDv7 as the canonical 36-character lowercase string."""
    return new_ids(1)[0]
