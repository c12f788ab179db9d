"""The guard in front of the application: authentication and the body limit, before anything is read."""

from __future__ import annotations

import asyncio
import json
import secrets

from starlette.exceptions import HTTPException

from advisor.service.models import MAX_BODY_BYTES, PROBLEM

# -- the guard: authentication and the body limit, before the application reads anything -------------


class _BodyTooLarge(HTTPException):
    def __init__(self) -> None:
        super().__init__(413, f"the body may hold at most {MAX_BODY_BYTES} bytes")


DRAIN_BYTES = 64 * 2**20
DRAIN_S = 30.0
"""After refusing a request whose body it will not read (401, 413), the server still takes and discards up to
this much more of that body, for up to this long: a client that sends its whole body before it reads the answer
(most HTTP libraries) then reads the status instead of a connection reset. Nothing is kept, so memory stays flat."""


async def _drain(receive, limit_bytes: int = DRAIN_BYTES, limit_s: float = DRAIN_S) -> None:
    """Read and discard the rest of a request body, within ``limit_bytes`` and ``limit_s``."""
    loop = asyncio.get_running_loop()
    deadline, got = loop.time() + limit_s, 0
    while got <= limit_bytes:
        try:
            message = await asyncio.wait_for(receive(), timeout=max(0.0, deadline - loop.time()))
        except (asyncio.TimeoutError, OSError):
            return
        if message["type"] != "http.request" or not message.get("more_body", False):
            return
        got += len(message.get("body", b""))


async def _send_problem(send, status: int, title: str, detail: str, headers: dict[str, str] | None = None, drain=None) -> None:
    """Answer with an RFC 9457 problem. With ``drain`` (the request's receive), the whole answer is sent first and
    the unread request body discarded after it (:data:`DRAIN_BYTES`), before the connection is closed."""
    body = json.dumps({"type": "about:blank", "title": title, "status": status, "detail": detail}).encode()
    raw = [(b"content-type", PROBLEM.encode()), (b"content-length", str(len(body)).encode())]
    raw += [(b"connection", b"close")] if drain is not None else []
    raw += [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in (headers or {}).items()]
    await send({"type": "http.response.start", "status": status, "headers": raw})
    if drain is None:
        await send({"type": "http.response.body", "body": body})
        return
    await send({"type": "http.response.body", "body": body, "more_body": True})  # on the wire, complete by its length
    await _drain(drain)
    await send({"type": "http.response.body", "body": b""})


class Guard:
    """Pure ASGI middleware in front of the application.

    1. Every request but those to ``open_paths`` needs ``Authorization: Bearer <token>``; it is
       checked from the headers alone, so a request without it gets 401 before a byte of its body
       is read or parsed.
    2. The body is counted as the application receives it, chunked bodies included: past
       ``max_body`` bytes the request is answered 413 and nothing more is read (a declared
       Content-Length over the limit is refused before reading).
    """

    def __init__(self, app, token: str, max_body: int = MAX_BODY_BYTES, open_paths: tuple[str, ...] = ("/health",)):
        self.app, self.token, self.max_body, self.open_paths = app, token.encode(), max_body, open_paths

    def _authorised(self, headers: list[tuple[bytes, bytes]]) -> bool:
        value = next((v for k, v in headers if k.lower() == b"authorization"), b"")
        scheme, _, credentials = value.strip().partition(b" ")
        return scheme.lower() == b"bearer" and secrets.compare_digest(credentials.strip(), self.token)

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)  # lifespan
            return
        headers = scope.get("headers") or []
        if scope.get("path") not in self.open_paths and not self._authorised(headers):
            if scope["type"] == "websocket":
                await send({"type": "websocket.close", "code": 1008})
                return
            await _send_problem(
                send, 401, "Unauthorized", "a valid bearer token is required", {"WWW-Authenticate": "Bearer"}, drain=receive
            )
            return
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        length = next((v for k, v in headers if k.lower() == b"content-length"), None)
        if length is not None and (not length.isdigit() or int(length) > self.max_body):
            await _send_problem(send, 413, "Payload Too Large", f"the body may hold at most {self.max_body} bytes", drain=receive)
            return

        received, over, started = 0, False, False

        async def counted():
            nonlocal received, over
            if over:
                return {"type": "http.disconnect"}
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_body:
                    over = True
                    raise _BodyTooLarge()
            return message

        async def guarded(message) -> None:
            nonlocal started
            if over:
                return  # whatever the application answers to a cut-off body, the answer is the 413 below
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, counted, guarded)
        except Exception:
            if not over:
                raise
        if over and not started:
            await _send_problem(send, 413, "Payload Too Large", f"the body may hold at most {self.max_body} bytes", drain=receive)
