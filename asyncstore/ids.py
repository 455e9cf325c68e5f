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

# Randomness is read from the OS a pool at a time: a system call per id (~10 us on a VM) cost
# more than making the id. A forked child drops the pool, so it never repeats its parent's bits.
_POOL_BYTES = 4096
_pool = b""
_pool_at = 0


def _random_bytes(count: int) -> bytes:
    """`count` bytes from the pool; call with _lock held."""
    global _pool, _pool_at
    if _pool_at + count > len(_pool):
        _pool, _pool_at = os.urandom(max(_POOL_BYTES, count)), 0
    taken = _pool[_pool_at : _pool_at + count]
    _pool_at += count
    return taken


def _forget_pool() -> None:
    global _pool, _pool_at
    _pool, _pool_at = b"", 0


os.register_at_fork(after_in_child=_forget_pool)


def _advance() -> tuple[int, int]:
    """The next (unix_ms, counter) pair; call with _lock held."""
    global _last_ms, _counter
    now_ms = time.time_ns() // 1_000_000
    if now_ms > _last_ms:
        _last_ms = now_ms
        # Start each millisecond at a random point in the lower half, leaving room to count.
        _counter = int.from_bytes(_random_bytes(2)) & 0x7FF
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
    ids = []
    with _lock:
        randomness = _random_bytes(8 * count)
        for n in range(count):
            unix_ms, counter = _advance()
            random_bits = int.from_bytes(randomness[8 * n : 8 * n + 8]) & _RANDOM_MASK
            value = (unix_ms << 80) | _VERSION_7 | (counter << 64) | _VARIANT_RFC | random_bits
            ids.append(_format(value))
    return ids


def new_id() -> str:
    """A new UUIDv7 as the canonical 36-character lowercase string."""
    return new_ids(1)[0]
