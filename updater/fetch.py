"""The network boundary: how the updater reads a release feed.

Everything the updater downloads goes through :class:`FeedFetcher`, the
:class:`tuf.ngclient.FetcherInterface` implementation handed to python-tuf. It only
implements ``_fetch()``, the documented extension point; python-tuf's public
``fetch()``, ``download_file()`` and ``download_bytes()`` wrap it and enforce the
length limits that the signed metadata sets.

A feed can live on a web server (``http://``, ``https://``) or in a local folder, a
network share or a USB stick (``file:`` URLs and plain paths). All failures are raised
as python-tuf download exceptions so that tuf's own logic (for example "403/404 while
looking for a newer root means there is none") works unchanged; converting them into
:mod:`updater.errors` happens at the caller.

Hostile or broken servers are bounded by :class:`NetworkLimits`: a connect timeout, a
read timeout (the longest silence allowed between two bytes) and a throughput floor
that catches servers dripping a byte every few seconds, which a read timeout alone
never would.
"""

from __future__ import annotations

import importlib.metadata
import os
import re
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import requests
import urllib3.exceptions
from tuf.api import exceptions as tuf_exceptions
from tuf.ngclient import FetcherInterface

from updater.errors import ConfigError
from updater.i18n import _

__all__ = [
    "DEFAULT_USER_AGENT",
    "FeedFetcher",
    "NetworkLimits",
    "feed_url",
    "make_session",
]


def _updater_version() -> str:
    try:
        return importlib.metadata.version("innovacommerce-updater")
    except importlib.metadata.PackageNotFoundError:
        return "dev"


#: ``User-Agent`` sent with every request unless the limits say otherwise.
DEFAULT_USER_AGENT = f"InnovaCommerce-Updater/{_updater_version()}"

_HTTP_SCHEMES = frozenset({"http", "https"})


@dataclass(frozen=True)
class NetworkLimits:
    """Bounds on how long and how slowly the updater lets a server answer.

    Attributes:
        connect_timeout: Seconds allowed to open the TCP (and TLS) connection.
        read_timeout: The longest silence, in seconds, allowed between two pieces of
            data from the server (this includes waiting for the response headers).
        min_bytes_per_second: Throughput floor for one transfer. A transfer whose
            average speed since its request was sent falls below this, once
            ``throughput_grace_seconds`` have passed, is abandoned. ``0`` disables the
            floor.
        throughput_grace_seconds: The floor only applies after this many seconds of
            one transfer, so that slow starts and small files are not punished.
        metadata_deadline_seconds: Total time allowed for one metadata refresh. The
            fetcher itself does not use it: a refresh spans several downloads, so it
            is enforced by whoever drives the refresh.
        chunk_size: The most bytes read (and handed to python-tuf) at a time.
        user_agent: ``User-Agent`` header for :func:`make_session`.
    """

    connect_timeout: float = 10.0
    read_timeout: float = 30.0
    min_bytes_per_second: int = 2048
    throughput_grace_seconds: float = 10.0
    metadata_deadline_seconds: float = 60.0
    chunk_size: int = 65536
    user_agent: str = DEFAULT_USER_AGENT

    def __post_init__(self) -> None:
        for name in ("connect_timeout", "read_timeout", "metadata_deadline_seconds"):
            if not getattr(self, name) > 0:
                raise ValueError(f"NetworkLimits.{name} must be positive")
        if self.chunk_size <= 0:
            raise ValueError("NetworkLimits.chunk_size must be positive")
        if self.min_bytes_per_second < 0 or self.throughput_grace_seconds < 0:
            raise ValueError(
                "NetworkLimits.min_bytes_per_second and throughput_grace_seconds "
                "must not be negative"
            )


def make_session(*, ca_bundle: str | None = None, user_agent: str) -> requests.Session:
    """Create the HTTP session the updater uses; make one per process and share it.

    Proxies come from the environment (``HTTP_PROXY``, ``HTTPS_PROXY``, ``NO_PROXY``,
    and on Windows the system settings), as ``trust_env`` stays on. ``ca_bundle``
    replaces the default certificate authorities, for feeds behind a private CA.

    Responses are requested without content encoding (``Accept-Encoding:
    identity``): feed files are signed byte for byte, and :class:`FeedFetcher`
    refuses compressed responses (see there).
    """
    session = requests.Session()
    session.trust_env = True
    session.headers["User-Agent"] = user_agent
    session.headers["Accept-Encoding"] = "identity"
    if ca_bundle is not None:
        session.verify = ca_bundle
    return session


def _reason(error: BaseException) -> str:
    """The operating system's words inside a requests error ("Connection refused"),
    without urllib3's pool and retry wrapping; the whole text when there are none."""
    text = str(error)
    found = re.search(r"\[Errno -?\d+\] ([^'\")\]]+)", text)
    return found.group(1).strip() if found else text


def _redact(url: str) -> str:
    """``url`` without any user name or password, for messages and logs."""
    try:
        parts = urllib.parse.urlsplit(url)
    except ValueError:
        return url
    if parts.username is None and parts.password is None:
        return url
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    try:
        port = parts.port
    except ValueError:
        port = None
    netloc = f"{host}:{port}" if port is not None else host
    return urllib.parse.urlunsplit(parts._replace(netloc=netloc))


class FeedFetcher(FetcherInterface):
    """Downloads feed files for python-tuf over HTTP(S) or from local files.

    Only ``_fetch()`` is implemented; use the inherited public methods. Every
    problem is raised as a :mod:`tuf.api.exceptions` download error:

    * an HTTP error status, or a missing local file (as 404):
      ``DownloadHTTPError``;
    * no connection, a broken connection, an unreadable local file, an unsupported
      URL: ``DownloadError`` (with the original exception as ``__cause__``);
    * silence longer than ``read_timeout`` or an average speed below the throughput
      floor: ``SlowRetrievalError``.

    Data is handed on as soon as it arrives, at most ``chunk_size`` bytes at a time,
    so the throughput floor is checked whenever any data arrives.
    """

    def __init__(self, session: requests.Session, limits: NetworkLimits = NetworkLimits()) -> None:
        self._session = session
        self._limits = limits

    @property
    def limits(self) -> NetworkLimits:
        """The limits this fetcher applies."""
        return self._limits

    def _fetch(self, url: str) -> Iterator[bytes]:
        """Open ``url`` and return an iterator over its content.

        Opening (connecting, reading the status and headers, opening the file)
        happens here, so that python-tuf's ``fetch()`` sees those errors at once;
        the returned iterator reads the body and always releases the connection or
        file when it is exhausted, fails, or is closed.
        """
        scheme = urllib.parse.urlsplit(url).scheme.lower()
        if scheme in _HTTP_SCHEMES:
            return self._fetch_http(url)
        if scheme == "file":
            return self._fetch_file(_file_url_to_path(url), url)
        if scheme == "" or len(scheme) == 1:
            # A plain path; a one-letter "scheme" is a Windows drive letter (C:\feed).
            return self._fetch_file(Path(url), url)
        raise tuf_exceptions.DownloadError(
            _("Unsupported address {url}: only http, https and local files can be used.").format(
                url=_redact(url)
            )
        )

    # --- HTTP -------------------------------------------------------------------------

    def _fetch_http(self, url: str) -> Iterator[bytes]:
        limits = self._limits
        shown = _redact(url)
        started = time.monotonic()
        try:
            response = self._session.get(
                url, stream=True, timeout=(limits.connect_timeout, limits.read_timeout)
            )
        except requests.exceptions.ConnectTimeout as e:
            raise tuf_exceptions.DownloadError(
                _("Could not connect to {url} within {seconds} seconds.").format(
                    url=shown, seconds=limits.connect_timeout
                )
            ) from e
        except requests.exceptions.Timeout as e:
            raise tuf_exceptions.SlowRetrievalError(
                _("The server at {url} did not answer within {seconds} seconds.").format(
                    url=shown, seconds=limits.read_timeout
                )
            ) from e
        except requests.exceptions.RequestException as e:
            raise tuf_exceptions.DownloadError(
                _("Could not connect to {url}: {error}").format(url=shown, error=_reason(e))
            ) from e

        try:
            if response.status_code >= 400:
                raise tuf_exceptions.DownloadHTTPError(
                    _("The server answered {status} {reason} for {url}.").format(
                        status=response.status_code, reason=response.reason or "", url=shown
                    ),
                    response.status_code,
                )
            encoding = response.headers.get("Content-Encoding", "").strip().lower()
            if encoding not in ("", "identity"):
                # Decompressing can keep a reader busy for ever without producing a
                # byte (endless empty deflate blocks, an endless gzip file name), out
                # of reach of both the length limit and the throughput floor.
                raise tuf_exceptions.DownloadError(
                    _(
                        "The server sent {url} compressed ({encoding}) although it was "
                        "asked not to; compressed responses are not accepted."
                    ).format(url=shown, encoding=encoding)
                )
        except BaseException:
            response.close()
            raise

        return self._http_chunks(response, shown, started)

    def _http_chunks(
        self, response: requests.Response, shown: str, started: float
    ) -> Iterator[bytes]:
        limits = self._limits
        raw = response.raw
        # urllib3 2.x: read1() returns whatever has arrived (up to chunk_size) instead
        # of waiting for chunk_size bytes, so a dripping server is noticed.
        read1 = getattr(raw, "read1", None)
        received = 0
        try:
            while True:
                try:
                    if read1 is not None:
                        chunk = read1(limits.chunk_size, decode_content=True)
                    else:  # pragma: no cover - urllib3 1.x has no read1()
                        chunk = raw.read(min(limits.chunk_size, 1024), decode_content=True)
                except urllib3.exceptions.ReadTimeoutError as e:
                    raise tuf_exceptions.SlowRetrievalError(
                        _(
                            "The server at {url} stopped sending data for more than "
                            "{seconds} seconds."
                        ).format(url=shown, seconds=limits.read_timeout)
                    ) from e
                except (urllib3.exceptions.HTTPError, OSError) as e:
                    raise tuf_exceptions.DownloadError(
                        _("The download of {url} was interrupted: {error}").format(
                            url=shown, error=e
                        )
                    ) from e
                if not chunk:
                    return
                received += len(chunk)
                elapsed = time.monotonic() - started
                if (
                    limits.min_bytes_per_second > 0
                    and elapsed > limits.throughput_grace_seconds
                    and received / elapsed < limits.min_bytes_per_second
                ):
                    raise tuf_exceptions.SlowRetrievalError(
                        _(
                            "The download of {url} is too slow: {received} bytes in "
                            "{seconds:.1f} seconds (at least {minimum} bytes per second "
                            "are required)."
                        ).format(
                            url=shown,
                            received=received,
                            seconds=elapsed,
                            minimum=limits.min_bytes_per_second,
                        )
                    )
                yield chunk
        finally:
            response.close()

    # --- local files --------------------------------------------------------------------

    def _fetch_file(self, path: Path, url: str) -> Iterator[bytes]:
        shown = _redact(url)
        try:
            handle = path.open("rb")
        except (FileNotFoundError, NotADirectoryError) as e:
            raise tuf_exceptions.DownloadHTTPError(
                _("The file {path} does not exist.").format(path=path), 404
            ) from e
        except OSError as e:
            raise tuf_exceptions.DownloadError(
                _("Could not read {url}: {error}").format(url=shown, error=e)
            ) from e
        return self._file_chunks(handle, shown)

    def _file_chunks(self, handle: BinaryIO, shown: str) -> Iterator[bytes]:
        try:
            while True:
                try:
                    chunk = handle.read(self._limits.chunk_size)
                except OSError as e:
                    raise tuf_exceptions.DownloadError(
                        _("Could not read {url}: {error}").format(url=shown, error=e)
                    ) from e
                if not chunk:
                    return
                yield chunk
        finally:
            handle.close()


def _file_url_to_path(url: str) -> Path:
    """The local path a ``file:`` URL names (drive letters and UNC shares on Windows)."""
    parts = urllib.parse.urlsplit(url)
    host = parts.netloc
    if host and host.lower() != "localhost":
        if os.name != "nt":
            raise tuf_exceptions.DownloadError(
                _("Unsupported address {url}: files on another computer cannot be read.").format(
                    url=_redact(url)
                )
            )
        # file://server/share/dir -> \\server\share\dir
        return Path(urllib.request.url2pathname(f"//{host}{parts.path}"))
    return Path(urllib.request.url2pathname(parts.path))


def feed_url(location: str) -> str:
    """Turn a feed location as a person typed it into a base URL ending in ``/``.

    ``location`` may be an ``http://`` or ``https://`` URL, a ``file:`` URL, or a
    folder path (relative to the working directory or absolute, Windows or POSIX
    style); folders become absolute ``file:`` URLs.

    Raises:
        ConfigError: ``location`` is empty, uses another scheme, or is an
            incomplete web address.
    """
    text = location.strip()
    if not text:
        raise ConfigError(_("No feed address was given."))
    parts = urllib.parse.urlsplit(text)
    scheme = parts.scheme.lower()
    if scheme in _HTTP_SCHEMES:
        if not parts.netloc:
            raise ConfigError(
                _("The feed address {url} has no server name.").format(url=_redact(text))
            )
        if parts.query or parts.fragment:
            raise ConfigError(
                _("The feed address {url} must not contain '?' or '#'.").format(url=_redact(text))
            )
        base = text
    elif scheme == "file":
        base = text
    elif scheme == "" or len(scheme) == 1:
        base = Path(text).expanduser().resolve().as_uri()
    else:
        raise ConfigError(
            _(
                "The feed address {url} is not supported: use an http or https address or a folder."
            ).format(url=_redact(text))
        )
    return base if base.endswith("/") else base + "/"
