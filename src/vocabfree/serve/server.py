"""Running the app under uvicorn with the server-level guards a public service needs.

uvicorn closes idle keep-alive connections (``timeout_keep_alive``), caps the request head
(``h11_max_incomplete_event_size``) and concurrent connections (``limit_concurrency``: 503 beyond), but has no
timeout for a request's *headers*: a client trickling one header byte a minute keeps its connection, and
enough of them exhaust the file descriptors. ``GuardedH11Protocol`` adds that timer. Request bodies are
bounded by ``middleware.BodyTimeoutMiddleware``. Under a flood the access log is rate-limited
(``AccessLogLimiter``) so it cannot fill the disk; skipped lines are counted in the next line written.
"""

from __future__ import annotations

import asyncio
import copy
import logging
import time
from typing import Any

from vocabfree.serve.settings import ServeSettings


def guarded_protocol(header_timeout_s: float) -> type:
    """uvicorn's h11 protocol with a deadline for each request's headers (from connect or the last response)."""
    from uvicorn.protocols.http.h11_impl import H11Protocol

    class GuardedH11Protocol(H11Protocol):
        def connection_made(self, transport) -> None:
            super().connection_made(transport)
            self._header_timer: asyncio.TimerHandle | None = None
            self._timed_cycle: object | None = None
            self._arm_header_timer()

        def _arm_header_timer(self) -> None:
            self._cancel_header_timer()
            self._header_timer = self.loop.call_later(header_timeout_s, self._header_timed_out)

        def _cancel_header_timer(self) -> None:
            if self._header_timer is not None:
                self._header_timer.cancel()
                self._header_timer = None

        def handle_events(self) -> None:
            super().handle_events()
            if self.cycle is not None and self.cycle is not self._timed_cycle:  # a request's headers are in
                self._timed_cycle = self.cycle
                self._cancel_header_timer()

        def on_response_complete(self) -> None:
            super().on_response_complete()
            if not self.transport.is_closing():
                self._arm_header_timer()  # the next request's headers get the same deadline

        def connection_lost(self, exc) -> None:
            self._cancel_header_timer()
            super().connection_lost(exc)

        def _header_timed_out(self) -> None:
            self._header_timer = None
            if self.cycle is None or self.cycle.response_complete:  # still waiting for (more) headers
                self.transport.close()

    GuardedH11Protocol.__name__ = GuardedH11Protocol.__qualname__ = "GuardedH11Protocol"
    return GuardedH11Protocol


class AccessLogLimiter(logging.Filter):
    """Token bucket over log records: at most ``per_second`` lines a second (bursts of as many); the first line
    after a quiet spell says how many were skipped."""

    def __init__(self, per_second: float = 20.0):
        super().__init__()
        self.per_second = per_second
        self.tokens = per_second
        self.last = time.monotonic()
        self.skipped = 0

    def filter(self, record: logging.LogRecord) -> bool:
        now = time.monotonic()
        self.tokens = min(self.per_second, self.tokens + (now - self.last) * self.per_second)
        self.last = now
        if self.tokens < 1:
            self.skipped += 1
            return False
        self.tokens -= 1
        if self.skipped:
            record.msg = f"[{self.skipped} access log lines skipped: over {self.per_second:g}/s] {record.msg}"
            self.skipped = 0
        return True


def log_config(settings: ServeSettings) -> dict[str, Any]:
    """uvicorn's logging config with the access-log limiter on ``uvicorn.access``."""
    from uvicorn.config import LOGGING_CONFIG

    config = copy.deepcopy(LOGGING_CONFIG)
    config.setdefault("filters", {})["access_limit"] = {
        "()": AccessLogLimiter,
        "per_second": settings.access_log_per_s,
    }
    config["loggers"]["uvicorn.access"]["filters"] = ["access_limit"]
    return config


def uvicorn_options(settings: ServeSettings) -> dict[str, Any]:
    """Keyword arguments for ``uvicorn.run`` / ``uvicorn.Config`` from the settings (timeouts and limits)."""
    return {
        "host": settings.host,
        "port": settings.port,
        "log_level": settings.log_level,
        "log_config": log_config(settings),
        "root_path": settings.root_path,  # the server applies it (FastAPI's own parameter is deprecated)
        "proxy_headers": True,  # trust X-Forwarded-* from the reverse proxy (127.0.0.1 by default)
        "timeout_graceful_shutdown": 10,
        "timeout_keep_alive": settings.keep_alive_s,
        "limit_concurrency": settings.max_connections,
        "h11_max_incomplete_event_size": settings.max_header_bytes,
        "http": guarded_protocol(settings.header_timeout_s),
    }


def run(app: Any, settings: ServeSettings) -> None:
    """Serve ``app`` until interrupted (blocking)."""
    import uvicorn

    uvicorn.run(app, **uvicorn_options(settings))
