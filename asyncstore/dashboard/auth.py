"""TokenGuard: with a token configured, every request must carry it, or gets a 401.

Three ways to carry it: `Authorization: Bearer TOKEN` (scripts), `?token=TOKEN` (a link that
opens the page), or the cookie the guard sets when it accepts a token from the query string
(HttpOnly: the page's scripts never see it; SameSite=Strict: another site's page cannot make
the browser send it), so the page's own requests and its event stream carry it without ever
putting it in a URL. Tokens are compared in constant time (hmac.compare_digest).
"""

from __future__ import annotations

import hmac
import re
from http.cookies import SimpleCookie
from urllib.parse import parse_qs

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .responses import encode

__all__ = ["COOKIE_NAME", "TokenGuard", "check_token"]

COOKIE_NAME = "asyncstore_dashboard_token"
# What a token may hold: it travels in a header, a cookie and a query string unquoted.
TOKEN_PATTERN = re.compile(r"[A-Za-z0-9._~+/=-]+")


def check_token(token: str) -> str:
    """`token` if it can be used as one; ValueError saying why not."""
    if not TOKEN_PATTERN.fullmatch(token):
        raise ValueError(
            "the dashboard token must be letters, digits and - . _ ~ + / = only (no spaces), "
            "e.g. python -c 'import secrets; print(secrets.token_urlsafe())'"
        )
    return token


class TokenGuard:
    def __init__(self, app: ASGIApp, token: str) -> None:
        self.app = app
        self._token = check_token(token).encode()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)  # lifespan
            return
        headers = _headers(scope)
        if self._matches(_bearer(headers)) or self._matches(_cookie(headers)):
            await self.app(scope, receive, send)
            return
        if self._matches(_query_token(scope)):
            await self.app(scope, receive, self._setting_cookie(send))
            return
        await _unauthorized(scope, send)

    def _matches(self, given: str | None) -> bool:
        return given is not None and hmac.compare_digest(given.encode(), self._token)

    def _setting_cookie(self, send: Send) -> Send:
        cookie = (
            f"{COOKIE_NAME}={self._token.decode()}; Path=/; HttpOnly; SameSite=Strict"
        ).encode()

        async def send_with_cookie(message: Message) -> None:
            if message["type"] == "http.response.start":
                message = {**message, "headers": [*message["headers"], (b"set-cookie", cookie)]}
            await send(message)

        return send_with_cookie


def _headers(scope: Scope) -> dict[bytes, bytes]:
    return {name.lower(): value for name, value in scope["headers"]}


def _bearer(headers: dict[bytes, bytes]) -> str | None:
    scheme, _, credentials = headers.get(b"authorization", b"").decode("latin-1").partition(" ")
    return credentials.strip() if scheme.lower() == "bearer" else None


def _cookie(headers: dict[bytes, bytes]) -> str | None:
    raw = headers.get(b"cookie")
    if raw is None:
        return None
    cookies: SimpleCookie = SimpleCookie()
    try:
        cookies.load(raw.decode("latin-1"))
    except Exception:  # a malformed Cookie header carries no token
        return None
    morsel = cookies.get(COOKIE_NAME)
    return None if morsel is None else morsel.value


def _query_token(scope: Scope) -> str | None:
    values = parse_qs(scope.get("query_string", b"").decode("latin-1")).get("token")
    return values[0] if values else None


async def _unauthorized(scope: Scope, send: Send) -> None:
    if scope["type"] == "websocket":
        await send({"type": "websocket.close", "code": 1008})
        return
    body = encode(
        {"error": "not authorised: give the dashboard's token (Authorization: Bearer, or ?token=)"}
    )
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
        (b"www-authenticate", b'Bearer realm="asyncstore dashboard"'),
        (b"cache-control", b"no-store"),
    ]
    await send({"type": "http.response.start", "status": 401, "headers": headers})
    await send({"type": "http.response.body", "body": body})
