"""How a commit's notes travel between processes: JSON text, in SQLite's change log (one row per
commit) and in PostgreSQL NOTIFY payloads.

A NOTIFY payload must stay under 8000 bytes, so a commit's notes are split into as many
payloads as needed, each complete by itself (its origin, its commit time, its notes); all of a
transaction's payloads are delivered together, after its COMMIT, in commit order.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any

import orjson

from asyncstore.feed.change import Note

__all__ = ["NOTIFY_PAYLOAD_BYTES", "decode_notes", "decode_payload", "encode_notes", "payloads"]

# PostgreSQL's limit is 8000 bytes; the rest is room for the envelope.
NOTIFY_PAYLOAD_BYTES = 7600


def encode_notes(notes: list[Note]) -> str:
    return orjson.dumps(notes).decode()


def decode_notes(text: str | bytes) -> list[Note]:
    return [tuple(note) for note in orjson.loads(text)]


def payloads(origin: str, committed_at: datetime, notes: list[Note]) -> Iterator[str]:
    """The notes of one commit as NOTIFY payloads of at most NOTIFY_PAYLOAD_BYTES each."""
    head: dict[str, Any] = {"origin": origin, "at": committed_at.isoformat(), "part": 0}
    part: list[bytes] = []
    size = 0
    for note in notes:
        encoded = orjson.dumps(note)
        if part and size + len(encoded) > NOTIFY_PAYLOAD_BYTES:
            yield _payload(head, part)
            head["part"] += 1  # identical payloads in one transaction would be merged
            part, size = [], 0
        part.append(encoded)
        size += len(encoded) + 1
    if part:
        yield _payload(head, part)


def _payload(head: dict[str, Any], part: list[bytes]) -> str:
    envelope = orjson.dumps(head)[:-1] + b',"notes":[' + b",".join(part) + b"]}"
    return envelope.decode()


def decode_payload(payload: str) -> tuple[str, datetime, list[Note]]:
    """(origin, commit time, notes) of one NOTIFY payload."""
    data = orjson.loads(payload)
    notes = [tuple(note) for note in data["notes"]]
    return data["origin"], datetime.fromisoformat(data["at"]), notes
