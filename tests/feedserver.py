"""A real HTTP server on 127.0.0.1 that serves a feed folder to the tests.

It can also misbehave on request (see :meth:`FeedServer.override`): answer with an
error status or other bytes, drip the content slowly, stream without end, or send
extra or lying headers. Used as a context manager or through :func:`feed_server`::

    @pytest.fixture
    def server(tmp_path: Path) -> Iterator[FeedServer]:
        yield from feed_server(tmp_path)
"""

from __future__ import annotations

import contextlib
import os
import select
import socket
import sys
import threading
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import Any

__all__ = ["FeedServer", "feed_server"]

_ENDLESS_CHUNK = b"x" * 65536
_POLL_SECONDS = 0.05
_JOIN_SECONDS = 5.0


@dataclass(frozen=True)
class _Override:
    status: int | None
    body: bytes | None
    drip: tuple[int, float] | None
    endless: bool
    headers: dict[str, str]


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    feed: FeedServer

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client hanging up (or stop() cutting the socket) is normal here; report
        # anything else, it is a bug in the test server.
        if not isinstance(sys.exc_info()[1], OSError):
            super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Headers and body go out in two send() calls: without TCP_NODELAY the body waits
    # ~40 ms for the client's delayed ACK, which real feed servers do not do.
    disable_nagle_algorithm = True
    server: _Server

    def setup(self) -> None:
        super().setup()
        self.server.feed._register(self.connection)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.server.feed._unregister(self.connection)

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        try:
            self._answer()
        except OSError:
            self.close_connection = True

    def _answer(self) -> None:
        feed = self.server.feed
        feed._log(self.path)
        rel = urllib.parse.unquote(urllib.parse.urlsplit(self.path).path).lstrip("/")
        override = feed._override_for(rel)
        file = feed._resolve(rel)

        if override is None:
            if file is None:
                self._send(404, b"not found\n", {})
            else:
                self._send(200, file.read_bytes(), {})
            return

        status = override.status
        if override.endless:
            self._send_endless(status or 200, override.headers)
            return
        if override.body is not None:
            content = override.body
        elif status is not None and not 200 <= status < 300:
            content = b""
        elif file is not None:
            content = file.read_bytes()
        else:
            status, content = 404, b"not found\n"

        if override.drip is not None:
            self._send(status or 200, content, override.headers, drip=override.drip)
        else:
            self._send(status or 200, content, override.headers)

    def _start(self, status: int, headers: dict[str, str]) -> None:
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.end_headers()

    def _send(
        self,
        status: int,
        content: bytes,
        extra: dict[str, str],
        *,
        drip: tuple[int, float] | None = None,
    ) -> None:
        headers = _merge(
            {"Content-Type": "application/octet-stream", "Content-Length": str(len(content))},
            extra,
        )
        self._start(status, headers)
        if drip is None:
            self.wfile.write(content)
            return
        size, pause = drip
        size = max(size, 1)
        for start in range(0, len(content), size):
            if start and not self._wait(pause):
                self.close_connection = True
                return
            self.wfile.write(content[start : start + size])

    def _send_endless(self, status: int, extra: dict[str, str]) -> None:
        self.close_connection = True
        self._start(
            status,
            _merge({"Content-Type": "application/octet-stream", "Connection": "close"}, extra),
        )
        # Raw sends with a timeout, not a blocking write: a send blocked on a client that
        # stopped reading is not woken by stop()'s shutdown() on Windows, only on POSIX.
        # Partial sends need no care: the body is the same byte for ever.
        self.connection.settimeout(_POLL_SECONDS)
        while not self.server.feed._stopping.is_set():
            with contextlib.suppress(TimeoutError):
                self.connection.send(_ENDLESS_CHUNK)

    def _wait(self, seconds: float) -> bool:
        """Sleep ``seconds``; False as soon as the server stops or the client leaves."""
        stopping = self.server.feed._stopping
        remaining = seconds
        while True:
            step = min(_POLL_SECONDS, remaining)
            if stopping.wait(step):
                return False
            if self._client_gone():
                return False
            remaining -= step
            if remaining <= 0:
                return True

    def _client_gone(self) -> bool:
        try:
            readable, _, _ = select.select([self.connection], [], [], 0)
            if not readable:
                return False
            peeked: bytes = self.connection.recv(1, socket.MSG_PEEK)
            return peeked == b""
        except (OSError, ValueError):
            return True


def _merge(defaults: dict[str, str], extra: dict[str, str]) -> dict[str, str]:
    """``defaults`` updated with ``extra``, header names compared without case."""
    replaced = {name.lower() for name in extra}
    merged = {name: value for name, value in defaults.items() if name.lower() not in replaced}
    merged.update(extra)
    return merged


class FeedServer:
    """Serves files under ``root`` on http://127.0.0.1:<free port>/ from a thread.

    It is a :class:`http.server.ThreadingHTTPServer` speaking HTTP/1.1 (keep-alive).
    Files are answered 200 with ``Content-Length``; missing files (and paths outside
    ``root``) 404. ``requests_log`` holds the request target of every GET, in order,
    exactly as sent: ``"/metadata/timestamp.json"`` for a normal request, an
    absolute URL such as ``"http://example.invalid/x"`` when the server is used as a
    proxy (an absolute URL is served from its path, as if sent directly).

    The port is bound in the constructor, so ``url`` is known before :meth:`start`.
    A stopped server cannot be started again.
    """

    def __init__(self, root: Path) -> None:
        self.root = Path(root).resolve()
        self.requests_log: list[str] = []
        self._lock = threading.Lock()
        self._overrides: dict[str, _Override] = {}
        self._connections: set[socket.socket] = set()
        self._handlers: set[threading.Thread] = set()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._stopped = False
        self._httpd = _Server(("127.0.0.1", 0), _Handler)
        self._httpd.feed = self
        port = self._httpd.server_address[1]
        self.url = f"http://127.0.0.1:{port}/"

    # --- lifecycle ----------------------------------------------------------------------

    def start(self) -> None:
        """Start serving from a background thread."""
        with self._lock:
            if self._stopped:
                raise RuntimeError("a stopped FeedServer cannot be started again")
            if self._thread is not None:
                return
            self._thread = threading.Thread(
                target=self._httpd.serve_forever,
                kwargs={"poll_interval": _POLL_SECONDS},
                name=f"FeedServer{self.url}",
                daemon=True,
            )
            self._thread.start()

    def stop(self) -> None:
        """Stop serving, cut every open connection, join the threads, close the socket.

        Returns promptly even while a drip or endless transfer is in progress.
        Calling it again does nothing.
        """
        with self._lock:
            if self._stopped:
                return
            self._stopped = True
            thread = self._thread
        self._stopping.set()
        if thread is not None:
            self._httpd.shutdown()
            thread.join(_JOIN_SECONDS)
        with self._lock:
            connections = list(self._connections)
        for conn in connections:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
        self._httpd.server_close()
        self._join_handlers()

    def _join_handlers(self) -> None:
        # Handler threads are daemons; wait (boundedly) for those still running.
        with self._lock:
            handlers = list(self._handlers)
        for handler in handlers:
            handler.join(_JOIN_SECONDS)

    def __enter__(self) -> FeedServer:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # --- misbehaviour -------------------------------------------------------------------

    def override(
        self,
        path: str,
        *,
        status: int | None = None,
        body: bytes | None = None,
        drip: tuple[int, float] | None = None,
        endless: bool = False,
        headers: dict[str, str] | None = None,
    ) -> None:
        """Change how ``path`` (relative to ``root``, e.g. ``"metadata/timestamp.json"``)
        is answered, until :meth:`clear_overrides`; an OS path (``os.sep``) works too.
        A later call for the same path replaces the earlier one.

        status: answer with this status (default 200; 404 if there is neither file
            nor ``body``). With a non-2xx status and no ``body`` the body is empty.
        body: serve these bytes instead of the file (``Content-Length`` matches them).
        drip: ``(nbytes, seconds)``: send the content ``nbytes`` at a time, pausing
            ``seconds`` between sends; stops as soon as the client disconnects or the
            server stops.
        endless: send ``b"x" * 65536`` chunks for ever, without ``Content-Length``,
            until the client disconnects or the server stops.
        headers: extra response headers; they replace default headers of the same
            name (case-insensitively), so a lying ``Content-Length`` can be sent.
        """
        entry = _Override(
            status=status, body=body, drip=drip, endless=endless, headers=dict(headers or {})
        )
        # A path made with pathlib on Windows has backslashes; URLs have slashes.
        key = path.replace(os.sep, "/").lstrip("/")
        with self._lock:
            self._overrides[key] = entry

    def clear_overrides(self) -> None:
        """Answer every path normally again."""
        with self._lock:
            self._overrides.clear()

    # --- used by the handler ------------------------------------------------------------

    def _log(self, target: str) -> None:
        with self._lock:
            self.requests_log.append(target)

    def _override_for(self, rel: str) -> _Override | None:
        with self._lock:
            return self._overrides.get(rel)

    def _resolve(self, rel: str) -> Path | None:
        if not rel:
            return None
        candidate = (self.root / rel).resolve()
        if not candidate.is_relative_to(self.root) or not candidate.is_file():
            return None
        return candidate

    def _register(self, conn: socket.socket) -> None:
        with self._lock:
            self._connections.add(conn)
            self._handlers.add(threading.current_thread())
            stopping = self._stopped
        if stopping:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)

    def _unregister(self, conn: socket.socket) -> None:
        with self._lock:
            self._connections.discard(conn)
            self._handlers.discard(threading.current_thread())


def feed_server(root: Path) -> Iterator[FeedServer]:
    """Generator for a pytest fixture: a started :class:`FeedServer`, stopped afterwards."""
    server = FeedServer(root)
    server.start()
    try:
        yield server
    finally:
        server.stop()
