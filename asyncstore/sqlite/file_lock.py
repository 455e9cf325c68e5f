"""Who has a database open: an advisory lock on a `<database>.lock` file beside it.

Every open Store holds a *shared* lock for its lifetime; a restore, or a schema upgrade, needs the
*exclusive* lock, so it is refused while any Store (in any process) has the file open instead of
rewriting a database under running bots. The kernel drops the lock when a process dies, so a
crashed bot never leaves the database "in use".

A separate lock file, not the database itself: SQLite's own POSIX locks are dropped when any
descriptor of the database file is closed in the process, so asyncstore never opens one.
The lock file is left in place when released (removing it would race with other processes).
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

from asyncstore.errors import DatabaseInUseError

__all__ = ["DatabaseLock", "lock_path"]


def lock_path(database: Path) -> Path:
    return database.with_name(database.name + ".lock")


class DatabaseLock:
    """A shared or exclusive hold on one database; never blocks (a busy lock raises at once)."""

    def __init__(self, database: Path) -> None:
        # The real file: two paths to one database (a symlink) must share one lock.
        self.database = database.resolve()
        self._fd: int | None = None

    @property
    def held(self) -> bool:
        return self._fd is not None

    def acquire_shared(self) -> None:
        self._lock(fcntl.LOCK_SH, "is being restored or upgraded by another process")

    def acquire_exclusive(self, purpose: str) -> None:
        """Exclusive hold (converts a shared one); `purpose` completes "cannot … while …"."""
        self._lock(
            fcntl.LOCK_EX,
            f"is open in another Store (a running bot?): cannot {purpose} while it is in use; "
            "stop the bots using it, then retry",
        )

    def downgrade(self) -> None:
        """From exclusive back to shared, e.g. after an upgrade, so other Stores may open."""
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_SH)

    def release(self) -> None:
        fd, self._fd = self._fd, None
        if fd is not None:
            os.close(fd)  # closing the descriptor releases the lock

    def _lock(self, mode: int, busy_reason: str) -> None:
        was_shared = self._fd is not None
        if self._fd is None:
            self.database.parent.mkdir(parents=True, exist_ok=True)
            self._fd = os.open(lock_path(self.database), os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(self._fd, mode | fcntl.LOCK_NB)
        except BlockingIOError:
            # Linux converts shared → exclusive by unlocking first: take the shared hold back.
            if not (was_shared and self._try(fcntl.LOCK_SH)):
                self.release()
            raise DatabaseInUseError(f"{self.database} {busy_reason}") from None

    def _try(self, mode: int) -> bool:
        try:
            fcntl.flock(self._fd or -1, mode | fcntl.LOCK_NB)
        except OSError:
            return False
        return True
