"""Retention from the repository: every argument checked before the first row is deleted, and
whatever stops a cleanup half-way reported inside the AsyncStoreError tree.

The deleting itself is asyncstore.operations.retention's.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from asyncstore.clock import utc_ago
from asyncstore.errors import AsyncStoreError, FieldError, InvalidDataError
from asyncstore.operations.retention import (
    CleanupProgress,
    CleanupReport,
    ProgressCallback,
    run_cleanup,
)
from asyncstore.schema.validation import require_callable, require_days
from asyncstore.store import Store

__all__ = ["cleanup"]


async def cleanup(
    store: Store, days: Any, metrics_days: Any, archive: Any, *, on_progress: Any
) -> CleanupReport:
    trade_cutoff = utc_ago(days=require_days("days_to_keep", days))
    metrics_cutoff = utc_ago(days=require_days("metrics_days_to_keep", metrics_days))
    require_callable("on_progress", on_progress)
    path = _archive_path(archive)
    callback = None if on_progress is None else _CallersCallback(on_progress)
    try:
        return await run_cleanup(
            store,
            trade_cutoff=trade_cutoff,
            metrics_cutoff=metrics_cutoff,
            archive=path,
            on_progress=callback,
        )
    except AsyncStoreError:
        raise
    except Exception as exc:
        if callback is not None and exc is callback.raised:
            raise  # the caller's own callback failed: its exception, unchanged
        raise _stopped(exc, path) from exc


class _CallersCallback:
    """The caller's on_progress, remembering what it raised: that exception is the caller's
    own and reaches them unchanged, while any other is asyncstore's to put in the tree."""

    def __init__(self, callback: ProgressCallback) -> None:
        self.callback = callback
        self.raised: BaseException | None = None

    def __call__(self, progress: CleanupProgress) -> None:
        try:
            self.callback(progress)
        except BaseException as exc:
            self.raised = exc
            raise


def _stopped(exc: Exception, archive: Path | None) -> AsyncStoreError:
    if archive is None:
        return AsyncStoreError(f"cleanup stopped: {type(exc).__name__}: {exc}")
    # OSError: the archive's folder or file is missing, not writable, or the disk is full.
    # Anything else: a stored row the archive could not convert (written by another tool).
    what = exc if isinstance(exc, OSError) else f"a row could not be archived ({exc})"
    return AsyncStoreError(
        f"cleanup stopped: archive {archive}: {what}. Every row deleted so far is in the "
        "archive or staged beside it; run the cleanup again with the same archive"
    )


def _archive_path(archive: Any) -> Path | None:
    if archive is None:
        return None
    # A NUL cannot be in a file name: open() would raise a bare ValueError much later.
    if isinstance(archive, str | Path) and str(archive) and "\x00" not in str(archive):
        return Path(archive)
    raise InvalidDataError(
        "retention",
        [FieldError("archive", f"must be a file path (.csv or .parquet), got {archive!r:.60}")],
    )
