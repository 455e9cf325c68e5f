"""The creation clock: strictly increasing stamps, and their stored text made cheaply."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from asyncstore import clock
from asyncstore.types import UTCDateTime


def test_stamps_increase_across_calls_and_stay_near_the_wall_clock() -> None:
    before = datetime.now(UTC)
    stamps = clock.utc_stamps(3) + [clock.utc_now()] + clock.utc_stamps(2)
    texts = clock.utc_stamp_texts(4)
    assert stamps == sorted(set(stamps)) and all(s.tzinfo is UTC for s in stamps)
    assert texts == sorted(set(texts)) and UTCDateTime.to_db(stamps[-1]) < texts[0]
    assert stamps[0] >= before and stamps[-1] - datetime.now(UTC) < timedelta(milliseconds=1)


def test_stamp_texts_across_a_second_boundary(monkeypatch: pytest.MonkeyPatch) -> None:
    """The shortcut formats only the microsecond digits; where they carry into the next second,
    each text is made from the datetime, and is the same text as `utc_stamps` gives."""
    almost = datetime.now(UTC).replace(microsecond=999_997) + timedelta(seconds=1)
    monkeypatch.setattr(clock, "_last", almost)
    texts = clock.utc_stamp_texts(5)
    expected = [almost + timedelta(microseconds=n) for n in range(1, 6)]
    assert texts == [UTCDateTime.to_db(stamp) for stamp in expected]
    assert texts[2].endswith(".000000") and texts == sorted(texts)
