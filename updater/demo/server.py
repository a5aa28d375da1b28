"""The demo's feed on http://127.0.0.1, served from a thread of this process.

:func:`served` serves the feed folder on a free local port while the demo runs, and
:func:`local_session` is the updater's HTTP session without proxies, since the demo
only talks to 127.0.0.1.

May import: the feed side (:mod:`updater.feed.fetch`), :mod:`requests` and the standard
library.
"""

from __future__ import annotations

import contextlib
import functools
import sys
import threading
from collections.abc import Iterator
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import requests

from updater.feed.fetch import NetworkLimits, make_session

__all__ = ["FeedServer", "local_session", "served"]


class _QuietHandler(SimpleHTTPRequestHandler):
    # Headers and body go out in two writes: without TCP_NODELAY the body may wait for
    # the client's delayed ACK (~40 ms a file).
    disable_nagle_algorithm = True

    def log_message(self, format: str, *args: Any) -> None:
        pass


class _QuietServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        if not isinstance(sys.exc_info()[1], OSError):  # a client hanging up is normal
            super().handle_error(request, client_address)


class FeedServer:
    """Serves a folder on http://127.0.0.1:<free port>/ from a thread."""

    def __init__(self, folder: Path) -> None:
        handler = functools.partial(_QuietHandler, directory=str(folder))
        self._httpd = _QuietServer(("127.0.0.1", 0), handler)
        self.url = f"http://127.0.0.1:{self._httpd.server_address[1]}/"
        self._thread = threading.Thread(
            target=self._httpd.serve_forever,
            kwargs={"poll_interval": 0.05},
            name="innova-demo-feed",
            daemon=True,
        )
        self._thread.start()

    def stop(self) -> None:
        self._httpd.shutdown()
        self._thread.join(5)
        self._httpd.server_close()


@contextlib.contextmanager
def served(folder: Path) -> Iterator[FeedServer]:
    server = FeedServer(folder)
    try:
        yield server
    finally:
        server.stop()


def local_session() -> requests.Session:
    """The updater's HTTP session, without proxies: the demo only talks to 127.0.0.1."""
    session = make_session(user_agent=NetworkLimits().user_agent)
    session.trust_env = False
    session.proxies.clear()
    return session
