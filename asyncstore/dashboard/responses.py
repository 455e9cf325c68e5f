"""JSON as the dashboard's API writes it: money as exact decimal strings, times in UTC ISO 8601.

Money stays a string ("12.47640000", never a float: a browser's numbers are binary floats
and would show 0.1 + 0.2 wrongly); a time is "2026-01-01T12:00:00.123456Z"; unknown is null.
"""

from __future__ import annotations

import asyncio
from decimal import Decimal
from typing import Any

import orjson
from starlette.responses import Response

__all__ = ["ApiError", "JSONResponse", "encode", "encode_off_loop", "error_response"]

_OPTIONS = orjson.OPT_UTC_Z
# Values this many items long are encoded on a worker thread, not on the loop.
_BIG = 100


def _default(value: Any) -> Any:
    if isinstance(value, Decimal):
        return format(value, "f")  # str() would write 0E-8 for zero at scale 8
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def encode(content: Any) -> bytes:
    return orjson.dumps(content, default=_default, option=_OPTIONS)


class JSONResponse(Response):
    media_type = "application/json"

    def __init__(self, body: bytes, status_code: int = 200) -> None:
        super().__init__(body, status_code, headers={"Cache-Control": "no-store"})


async def encode_off_loop(content: Any, *, items: int) -> bytes:
    """`encode(content)`; `content` holding more than a hundred rows (`items`) is encoded on a
    worker thread, so a big page never holds the loop."""
    if items > _BIG:
        return await asyncio.to_thread(encode, content)
    return encode(content)


class ApiError(Exception):
    """A request the API refuses: its status, and a message naming what is wrong."""

    def __init__(self, status_code: int, message: str, *, parameter: str | None = None) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.message = message
        self.parameter = parameter


def error_response(exc: ApiError) -> JSONResponse:
    body: dict[str, Any] = {"error": exc.message}
    if exc.parameter is not None:
        body["parameter"] = exc.parameter
    return JSONResponse(encode(body), exc.status_code)
