"""How ``planview serve`` runs uvicorn: limits and timeouts for slow or stalled clients.

uvicorn closes idle kept-alive connections (``timeout_keep_alive``) and caps the size of
an incomplete request head (h11's ``max_incomplete_event_size``), but it has no timeout
for a client that opens a connection and sends its headers slowly or never finishes them
(slowloris): each such connection is held for ever. ``HeaderTimeoutH11Protocol`` adds one.
The request *body* is timed per read by ``server.middleware.BodyTimeout`` (408).
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import h11
import uvicorn
from uvicorn.protocols.http.h11_impl import H11Protocol

from server.settings import Settings

log = logging.getLogger(__name__)
_TIMEOUT_TEXT = "请求头未按时收到 / request headers not received in time\n".encode()
REQUEST_TIMEOUT = (b"HTTP/1.1 408 Request Timeout\r\nContent-Type: text/plain; charset=utf-8\r\nConnection: close\r\n"
                   b"Content-Length: %d\r\n\r\n%s" % (len(_TIMEOUT_TEXT), _TIMEOUT_TEXT))


class HeaderTimeoutH11Protocol(H11Protocol):
    """uvicorn's h11 protocol with a deadline for each request's head (request line and headers).

    The clock starts when the connection opens, and again when the next request on a kept-alive
    connection begins; it stops when the head is complete. Past it, the connection is closed
    (with a 408 if part of a head had arrived).
    """

    header_timeout: float = 10.0

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._head_started = False
        self._head_deadline: asyncio.TimerHandle | None = self.loop.call_later(self.header_timeout, self._head_too_slow)

    def data_received(self, data: bytes) -> None:
        if self.conn.their_state is h11.IDLE:
            self._head_started = True
            if self._head_deadline is None:  # the next request on this connection: its head is timed too
                self._head_deadline = self.loop.call_later(self.header_timeout, self._head_too_slow)
        super().data_received(data)
        if self.conn.their_state is not h11.IDLE:
            self._stop_head_clock()

    def connection_lost(self, exc: Exception | None) -> None:
        self._stop_head_clock()
        super().connection_lost(exc)

    def on_response_complete(self) -> None:
        self._head_started = False
        super().on_response_complete()

    def _stop_head_clock(self) -> None:
        if self._head_deadline is not None:
            self._head_deadline.cancel()
            self._head_deadline = None

    def _head_too_slow(self) -> None:
        self._head_deadline = None
        if self.conn.their_state is not h11.IDLE or self.transport.is_closing():
            return
        log.info("%s: request headers not complete after %g s; connection closed", self.client, self.header_timeout)
        if self._head_started:
            self.transport.write(REQUEST_TIMEOUT)
        self.transport.close()


def header_timeout_protocol(timeout: float) -> type[HeaderTimeoutH11Protocol]:
    """The protocol class with this deadline (uvicorn instantiates the class itself)."""
    return type("HeaderTimeoutH11Protocol", (HeaderTimeoutH11Protocol,), {"header_timeout": timeout})


def server_config(app: Any, settings: Settings, host: str | None = None, port: int | None = None,
                  **options: Any) -> uvicorn.Config:
    """The uvicorn configuration ``planview serve`` uses (tests start servers with it too)."""
    return uvicorn.Config(app, host=host or settings.host, port=port or settings.port,
                          http=header_timeout_protocol(settings.header_timeout_s),
                          timeout_keep_alive=settings.keep_alive_s,
                          h11_max_incomplete_event_size=settings.max_header_kb * 1024, **options)
