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


# A note travels short: tables and operations by a letter, a count of 1 left out, and a bot
# instance's own id not repeated as its bot (a group commit of 500 heartbeats logs ~10 KiB,
# not ~25 KiB). Names without a letter travel whole.
_TABLE_CODES = {"trades": "t", "bot_instances": "b", "performance_metrics": "m", "*": "*"}
_OPERATION_CODES = {"insert": "i", "update": "u", "delete": "d", "resync": "r"}
_TABLES = {code: name for name, code in _TABLE_CODES.items()}
_OPERATIONS = {code: name for name, code in _OPERATION_CODES.items()}


def _short(note: Note) -> list[Any]:
    table, operation, row_id, bot_id, count = note
    short: list[Any] = [
        _TABLE_CODES.get(table, table),
        _OPERATION_CODES.get(operation, operation),
        row_id,
    ]
    if count != 1:
        short += [bot_id, count]
    elif bot_id != row_id:
        short.append(bot_id)
    return short


def _note(short: list[Any]) -> Note:
    table, operation, row_id, *rest = short
    bot_id = rest[0] if rest else row_id
    count = rest[1] if len(rest) > 1 else 1
    return _TABLES.get(table, table), _OPERATIONS.get(operation, operation), row_id, bot_id, count


def encode_notes(notes: list[Note]) -> str:
    return orjson.dumps([_short(note) for note in notes]).decode()


def decode_notes(text: str | bytes) -> list[Note]:
    return [_note(short) for short in orjson.loads(text)]


def payloads(origin: str, committed_at: datetime, notes: list[Note]) -> Iterator[str]:
    """The notes of one commit as NOTIFY payloads of at most NOTIFY_PAYLOAD_BYTES each."""
    head: dict[str, Any] = {"origin": origin, "at": committed_at.isoformat(), "part": 0}
    part: list[bytes] = []
    size = 0
    for note in notes:
        encoded = orjson.dumps(_short(note))
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
    notes = [_note(short) for short in data["notes"]]
    return data["origin"], datetime.fromisoformat(data["at"]), notes
