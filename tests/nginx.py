"""A real nginx on 127.0.0.1 serving a folder, for tests that need a real web server.

Range requests, ``If-Range``, ETags and ``sendfile`` behave exactly as on a feed's
production server. Everything nginx writes (configuration, pid, logs, temp folders)
lives in a private temporary folder; nginx runs in the foreground (``daemon off;``) as
a child of the test process, with one worker. The access log has one JSON object per
request, so tests can count requests and bytes::

    @pytest.fixture
    def nginx(tmp_path: Path) -> Iterator[NginxServer]:
        yield from nginx_server(tmp_path / "www")

nginx is required, not optional: when it is missing the fixture fails with the Debian
package to install (CI installs it). On Windows these tests skip: the nginx here is
Debian's, a Linux program; the download code they test is the same on every OS, and
the other download tests serve feeds with the tests' own HTTP server on every lane.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

__all__ = ["DEBIAN_PACKAGE", "AccessEntry", "NginxServer", "nginx_server"]

#: The Debian package that provides ``/usr/sbin/nginx``.
DEBIAN_PACKAGE = "nginx"

_START_SECONDS = 10.0
_STOP_SECONDS = 5.0
_PORT_ATTEMPTS = 3

_CONFIG = """\
daemon off;
master_process on;
worker_processes 1;
worker_shutdown_timeout 1s;
{user}pid {pid};
lock_file {lock};
error_log {error_log} info;

events {{
    worker_connections 64;
}}

http {{
    log_format tests escape=json
        '{{"method":"$request_method","uri":"$uri","status":$status,'
        '"bytes":$body_bytes_sent,"range":"$http_range","if_range":"$http_if_range"}}';
    access_log {access_log} tests;

    client_body_temp_path {temp}/client_body;
    proxy_temp_path {temp}/proxy;
    fastcgi_temp_path {temp}/fastcgi;
    uwsgi_temp_path {temp}/uwsgi;
    scgi_temp_path {temp}/scgi;

    types {{ }}
    default_type application/octet-stream;
    sendfile on;
    etag on;
    gzip off;
    keepalive_timeout 5s;

    server {{
        listen 127.0.0.1:{port};
        server_name localhost;
        root {root};
        location / {{
        }}
    }}
}}
"""


@dataclass(frozen=True)
class AccessEntry:
    """One line of the access log."""

    method: str
    uri: str
    status: int
    bytes: int  # body bytes sent
    range: str  # the request's Range header ("" if none)
    if_range: str  # the request's If-Range header ("" if none)


@dataclass(frozen=True)
class NginxServer:
    """A running nginx serving ``root`` at ``url`` (``http://127.0.0.1:<port>/``)."""

    root: Path
    url: str
    workdir: Path
    process: subprocess.Popen[bytes]

    @property
    def access_log(self) -> Path:
        return self.workdir / "access.log"

    @property
    def error_log(self) -> Path:
        return self.workdir / "error.log"

    def access_log_lines(self) -> list[str]:
        """The access log's lines so far (one JSON object per request)."""
        try:
            text = self.access_log.read_text(encoding="utf-8")
        except FileNotFoundError:
            return []
        return text.splitlines()

    def requests(self, *, at_least: int = 0, timeout: float = 5.0) -> list[AccessEntry]:
        """The parsed access log, after waiting (up to ``timeout``) for ``at_least``
        entries: nginx logs a request when it finishes sending, which may be a moment
        after the client has read the last byte."""
        deadline = time.monotonic() + timeout
        while True:
            lines = self.access_log_lines()
            if len(lines) >= at_least or time.monotonic() >= deadline:
                return [_entry(json.loads(line)) for line in lines]
            time.sleep(0.02)


def _entry(data: dict[str, Any]) -> AccessEntry:
    return AccessEntry(
        method=str(data["method"]),
        uri=str(data["uri"]),
        status=int(data["status"]),
        bytes=int(data["bytes"]),
        range=str(data["range"]),
        if_range=str(data["if_range"]),
    )


def nginx_binary() -> str:
    """The nginx executable; fails the test (it is a CI requirement) when missing."""
    if sys.platform == "win32":
        pytest.skip("nginx comes from Debian's packages: a Linux program, not for Windows")
    found = shutil.which("nginx") or shutil.which("nginx", path="/usr/sbin:/usr/local/sbin")
    if found is None:
        pytest.fail(
            f"nginx is not installed: install the Debian package '{DEBIAN_PACKAGE}' "
            f"(apt-get install {DEBIAN_PACKAGE}); the download tests need a real web server.",
            pytrace=False,
        )
    return found


def nginx_server(root: Path) -> Iterator[NginxServer]:
    """Generator for a pytest fixture: nginx serving ``root``, stopped and reaped after."""
    binary = nginx_binary()
    root = Path(root).resolve()
    root.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="nginx-") as temporary:
        workdir = Path(temporary)
        server = _start(binary, root, workdir)
        try:
            yield server
        finally:
            _stop(server.process)


def _start(binary: str, root: Path, workdir: Path) -> NginxServer:
    failure = ""
    for _attempt in range(_PORT_ATTEMPTS):
        port = _free_port()
        config = workdir / "nginx.conf"
        config.write_text(_config(root, workdir, port), encoding="utf-8")
        with (workdir / "stderr.log").open("wb") as stderr:
            process = subprocess.Popen(
                [binary, "-p", str(workdir), "-c", str(config), "-e", str(workdir / "error.log")],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=stderr,
                start_new_session=True,  # its own process group, so workers can be killed
            )
        server = NginxServer(root, f"http://127.0.0.1:{port}/", workdir, process)
        if _wait_until_listening(process, port):
            return server
        _stop(process)
        failure = _read(workdir / "error.log") + _read(workdir / "stderr.log")
        if "Address already in use" not in failure:
            break
    pytest.fail(f"nginx did not start:\n{failure}", pytrace=False)


def _config(root: Path, workdir: Path, port: int) -> str:
    user = ""
    if os.geteuid() == 0:
        import grp
        import pwd

        # Workers would otherwise run as "nobody" and could not read the test's folder.
        name = _quote(pwd.getpwuid(os.geteuid()).pw_name)
        group = _quote(grp.getgrgid(os.getegid()).gr_name)
        user = f"user {name} {group};\n"
    temp = workdir / "temp"
    temp.mkdir(exist_ok=True)
    return _CONFIG.format(
        user=user,
        pid=_quote(workdir / "nginx.pid"),
        lock=_quote(workdir / "nginx.lock"),
        error_log=_quote(workdir / "error.log"),
        access_log=_quote(workdir / "access.log"),
        temp=str(temp),
        port=port,
        root=_quote(root),
    )


def _quote(value: object) -> str:
    text = str(value)
    if any(c in text for c in "\"'\\;{}$") or any(c.isspace() for c in text):
        raise ValueError(f"path not usable in an nginx configuration: {text!r}")
    return text


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _wait_until_listening(process: subprocess.Popen[bytes], port: int) -> bool:
    deadline = time.monotonic() + _START_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            return False
        # A bare connection that sends nothing is not written to the access log.
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.5):
            return True
        time.sleep(0.02)
    return False


def _stop(process: subprocess.Popen[bytes]) -> None:
    """Graceful shutdown (SIGQUIT), then SIGKILL to nginx's process group; always reaped."""
    if process.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            process.send_signal(signal.SIGQUIT)
        try:
            process.wait(_STOP_SECONDS)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""
