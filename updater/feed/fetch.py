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

HTTPS certificates are checked against the operating system's trust store (the
Windows certificate store, the macOS keychain, OpenSSL's system store on Linux) through
``truststore``, so that a TLS-inspecting proxy whose root certificate IT installed in
Windows is trusted like it is by the browsers; a ``ca_bundle`` from the configuration
replaces the store. Certificate failures are explained in a sentence with a hint
(:func:`describe_tls_error`).

Hostile or broken servers are bounded by :class:`NetworkLimits`: a connect timeout, a
read timeout (the longest silence allowed between two bytes) and a throughput floor
that catches servers dripping a byte every few seconds, which a read timeout alone
never would.
"""

from __future__ import annotations

import os
import re
import ssl
import time
import urllib.parse
import urllib.request
from collections import deque
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, BinaryIO

import requests
import truststore
import urllib3.exceptions
from requests.adapters import DEFAULT_POOLBLOCK, HTTPAdapter
from tuf.api import exceptions as tuf_exceptions
from tuf.ngclient import FetcherInterface
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

from updater.feed.limits import DEFAULT_USER_AGENT, NetworkLimits
from updater.feed.schedule import parse_retry_after
from updater.i18n import _
from updater.locations import HTTP_SCHEMES, redact_url

__all__ = [
    "DEFAULT_USER_AGENT",
    "FeedFetcher",
    "NetworkLimits",
    "describe_tls_error",
    "make_session",
]


class _SystemTrustAdapter(HTTPAdapter):
    """An :class:`~requests.adapters.HTTPAdapter` whose HTTPS connections verify
    certificates with the operating system's trust store.

    The given ``ssl_context`` (a :class:`truststore.SSLContext`) goes to the pool
    manager and to every proxy manager, so it is used for direct connections and for
    connections tunnelled through an HTTP proxy (``CONNECT``) alike. Nothing global is
    patched: other sessions and libraries keep their own certificate handling.
    """

    def __init__(self, ssl_context: ssl.SSLContext) -> None:
        # Set before HTTPAdapter.__init__, which calls init_poolmanager().
        self._ssl_context = ssl_context
        super().__init__()

    def init_poolmanager(
        self,
        connections: int,
        maxsize: int,
        block: bool = DEFAULT_POOLBLOCK,
        **pool_kwargs: Any,
    ) -> None:
        pool_kwargs.setdefault("ssl_context", self._ssl_context)
        super().init_poolmanager(connections, maxsize, block, **pool_kwargs)

    def proxy_manager_for(self, proxy: str, **proxy_kwargs: Any) -> Any:
        proxy_kwargs.setdefault("ssl_context", self._ssl_context)
        return super().proxy_manager_for(proxy, **proxy_kwargs)

    def cert_verify(
        self,
        conn: HTTPConnectionPool,
        url: str,
        verify: bool | str,
        cert: str | tuple[str, str] | None,
    ) -> None:
        super().cert_verify(conn, url, verify, cert)  # type: ignore[no-untyped-call]
        if verify is True and isinstance(conn, HTTPSConnectionPool):
            # requests names its own (certifi) bundle here, which urllib3 would load
            # into the context on every connection: the system store is the trust.
            # A bundle path (REQUESTS_CA_BUNDLE, CURL_CA_BUNDLE) is still loaded, and
            # then trusted in addition to the system store.
            conn.ca_certs = None
            conn.ca_cert_dir = None


class RetryAfterHTTPError(tuf_exceptions.DownloadHTTPError):
    """python-tuf's HTTP error, with the server's ``Retry-After`` (seconds) when it sent
    one on a 429 or 503, so that the poll schedule can honour it."""

    def __init__(self, message: str, status_code: int, *, retry_after: float | None) -> None:
        super().__init__(message, status_code)
        self.retry_after = retry_after


def _retry_after(response: requests.Response) -> float | None:
    header = response.headers.get("Retry-After")
    if response.status_code not in (429, 503) or header is None:
        return None
    return parse_retry_after(header, datetime.now(UTC))


def too_slow_message(
    limits: NetworkLimits, received: int, elapsed: float, shown: str
) -> str | None:
    """The throughput floor: a sentence when ``received`` bytes in ``elapsed`` seconds
    are below it (after the grace period), else None."""
    if (
        limits.min_bytes_per_second > 0
        and elapsed > limits.throughput_grace_seconds
        and received / elapsed < limits.min_bytes_per_second
    ):
        return _(
            "The download of {url} is too slow: {received} bytes in "
            "{seconds:.1f} seconds (at least {minimum} bytes per second "
            "are required)."
        ).format(url=shown, received=received, seconds=elapsed, minimum=limits.min_bytes_per_second)
    return None


def make_session(*, ca_bundle: str | None = None, user_agent: str) -> requests.Session:
    """Create the HTTP session the updater uses; make one per process and share it.

    HTTPS certificates are verified against the operating system's trust store (the
    Windows certificate store, the macOS keychain, OpenSSL's system store on Linux)
    through ``truststore``: a TLS-inspecting proxy whose root certificate IT installed
    in Windows is trusted, as it is by the browsers. Nothing global is patched
    (``truststore.inject_into_ssl()`` is not used); the session's ``https://``
    adapter carries its own context. ``ca_bundle`` replaces the system store with the
    certificate authorities in that file, for feeds behind a private CA.

    Proxies come from the environment, as ``trust_env`` stays on: ``HTTP_PROXY``,
    ``HTTPS_PROXY``, ``NO_PROXY``, and on Windows, when none of those is set, the
    system proxy settings, which ``urllib.request.getproxies()`` reads from the
    registry (Internet Options: ``ProxyEnable``/``ProxyServer``, with ``ProxyOverride``
    for the exceptions). A proxy auto-configuration script (PAC/WPAD) is not
    evaluated: such networks need ``HTTPS_PROXY`` set or a fixed proxy in Windows.
    ``REQUESTS_CA_BUNDLE`` and ``CURL_CA_BUNDLE`` are honoured too; without
    ``ca_bundle`` their certificates are trusted in addition to the system store.

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
    else:
        context = truststore.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        session.mount("https://", _SystemTrustAdapter(context))
    return session


# Certificate verification failures by error code: OpenSSL's X509_V_ERR_* (with a
# ca_bundle, and with the system store on Linux), the Windows CERT_E_* that truststore
# reports there, and the macOS errSec* codes.
_UNTRUSTED, _EXPIRED, _NOT_YET_VALID, _WRONG_HOST = "untrusted", "expired", "not-yet", "host"
_VERIFY_CODES: dict[int, str] = {
    2: _UNTRUSTED,  # X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT
    18: _UNTRUSTED,  # X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT
    19: _UNTRUSTED,  # X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN
    20: _UNTRUSTED,  # X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY
    21: _UNTRUSTED,  # X509_V_ERR_UNABLE_TO_VERIFY_LEAF_SIGNATURE
    27: _UNTRUSTED,  # X509_V_ERR_CERT_UNTRUSTED
    9: _NOT_YET_VALID,  # X509_V_ERR_CERT_NOT_YET_VALID
    10: _EXPIRED,  # X509_V_ERR_CERT_HAS_EXPIRED
    62: _WRONG_HOST,  # X509_V_ERR_HOSTNAME_MISMATCH
    64: _WRONG_HOST,  # X509_V_ERR_IP_ADDRESS_MISMATCH
    0x800B0109: _UNTRUSTED,  # CERT_E_UNTRUSTEDROOT
    0x800B010A: _UNTRUSTED,  # CERT_E_CHAINING
    0x800B010D: _UNTRUSTED,  # CERT_E_UNTRUSTEDTESTROOT
    0x800B0112: _UNTRUSTED,  # CERT_E_UNTRUSTEDCA
    0x800B0101: _EXPIRED,  # CERT_E_EXPIRED (also "not valid yet")
    0x800B010F: _WRONG_HOST,  # CERT_E_CN_NO_MATCH
    -67843: _UNTRUSTED,  # errSecNotTrusted
    -67818: _EXPIRED,  # errSecCertificateExpired
    -67819: _NOT_YET_VALID,  # errSecCertificateNotValidYet
    -67602: _WRONG_HOST,  # errSecHostNameMismatch
}
# When there is no known code: words of OpenSSL's and urllib3's messages.
_VERIFY_WORDS: tuple[tuple[str, str], ...] = (
    ("self-signed", _UNTRUSTED),
    ("self signed", _UNTRUSTED),
    ("unable to get local issuer", _UNTRUSTED),
    ("unable to get issuer", _UNTRUSTED),
    ("unable to verify the first certificate", _UNTRUSTED),
    ("not trusted", _UNTRUSTED),
    ("not yet valid", _NOT_YET_VALID),
    ("expired", _EXPIRED),
    ("mismatch", _WRONG_HOST),
    ("doesn't match", _WRONG_HOST),
    ("does not match", _WRONG_HOST),
)


def _causes(exc: BaseException) -> Iterator[BaseException]:
    """``exc`` and every exception inside it, nearest first: ``__cause__``,
    ``__context__``, exceptions among ``args`` and urllib3's ``reason``."""
    queue: deque[BaseException] = deque([exc])
    seen: set[int] = set()
    while queue:
        current = queue.popleft()
        if id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        inner = (*current.args, current.__cause__, current.__context__)
        reason = getattr(current, "reason", None)
        queue.extend(e for e in (*inner, reason) if isinstance(e, BaseException))


def _verify_kind(error: ssl.SSLCertVerificationError) -> str | None:
    code = getattr(error, "verify_code", None)
    if isinstance(code, int) and code in _VERIFY_CODES:
        return _VERIFY_CODES[code]
    text = str(getattr(error, "verify_message", None) or error).lower()
    for words, kind in _VERIFY_WORDS:
        if words in text:
            return kind
    return None


def _verify_advice(kind: str) -> tuple[str, str]:
    """What was wrong with the certificate, and what to do: translated sentences."""
    if kind == _UNTRUSTED:
        return (
            _(
                "The server's certificate was not issued by a certificate authority "
                "that this PC trusts."
            ),
            _(
                "If this network inspects HTTPS traffic, IT must install its certificate "
                "in Windows or set ca_bundle in the configuration."
            ),
        )
    if kind == _EXPIRED:
        return (
            _("The server's certificate is expired according to this PC's clock."),
            _(
                "Check this PC's date and time; if it is right, the server's certificate "
                "has expired."
            ),
        )
    if kind == _NOT_YET_VALID:
        return (
            _("The server's certificate is not valid yet according to this PC's clock."),
            _(
                "Check this PC's date and time; if it is right, the server's certificate "
                "is not valid yet."
            ),
        )
    return (
        _("The server's certificate was issued for another address."),
        _(
            "The address may be wrong, or a proxy or captive portal is answering instead "
            "of the update server."
        ),
    )


def _ssl_words(error: ssl.SSLError) -> str:
    """OpenSSL's words in ``error`` ("wrong version number"), without the
    ``[SSL: CODE]`` prefix and the ``(_ssl.c:1006)`` suffix."""
    text = str(error.strerror or error)
    text = re.sub(r"^\[SSL(?:: [A-Z0-9_]+)?\]\s*", "", text)
    return re.sub(r"\s*\(_ssl\.c:\d+\)$", "", text).strip() or str(error)


def describe_tls_error(exc: BaseException) -> str | None:
    """Explain, for a person, why a secure (HTTPS) connection failed.

    ``exc`` is any exception of a download (a requests exception, an
    :class:`ssl.SSLError`, a python-tuf ``DownloadError`` raised from one ...); the
    TLS error is looked for inside it (``__cause__``, ``__context__``, ``args``).

    Returns:
        Translated text: what was wrong with the server's certificate (not trusted,
        expired, not valid yet, issued for another address) followed by what to do
        about it; for a certificate refused for another reason, or another TLS
        failure, that reason. ``None`` when ``exc`` is not a TLS failure.
    """
    other: ssl.SSLError | None = None
    for error in _causes(exc):
        if isinstance(error, ssl.SSLCertVerificationError):
            kind = _verify_kind(error)
            if kind is not None:
                return " ".join(_verify_advice(kind))
            reason = getattr(error, "verify_message", None) or _ssl_words(error)
            return _("The server's certificate could not be verified ({reason}).").format(
                reason=reason
            )
        if other is None and isinstance(error, ssl.SSLError):
            other = error
    if other is not None:
        return _("A secure connection could not be set up ({reason}).").format(
            reason=_ssl_words(other)
        )
    return None


def _reason(error: BaseException) -> str:
    """The operating system's words inside a requests error ("Connection refused"),
    without urllib3's pool and retry wrapping; the whole text when there are none."""
    text = str(error)
    found = re.search(r"\[Errno -?\d+\] ([^'\")\]]+)", text)
    return found.group(1).strip() if found else text


class FeedFetcher(FetcherInterface):
    """Downloads feed files for python-tuf over HTTP(S) or from local files.

    Only ``_fetch()`` is implemented; use the inherited public methods. Every
    problem is raised as a :mod:`tuf.api.exceptions` download error:

    * an HTTP error status, or a missing local file (as 404):
      ``DownloadHTTPError``;
    * no connection, a broken connection, an unreadable local file, an unsupported
      URL: ``DownloadError`` (with the original exception as ``__cause__``); for a
      certificate or other TLS failure its message says what went wrong and what to
      do (:func:`describe_tls_error`);
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

    @property
    def session(self) -> requests.Session:
        """The HTTP session this fetcher uses (package downloads share it)."""
        return self._session

    def _fetch(self, url: str) -> Iterator[bytes]:
        """Open ``url`` and return an iterator over its content.

        Opening (connecting, reading the status and headers, opening the file)
        happens here, so that python-tuf's ``fetch()`` sees those errors at once;
        the returned iterator reads the body and always releases the connection or
        file when it is exhausted, fails, or is closed.
        """
        scheme = urllib.parse.urlsplit(url).scheme.lower()
        if scheme in HTTP_SCHEMES:
            return self._fetch_http(url)
        if scheme == "file":
            return self._fetch_file(_file_url_to_path(url), url)
        if scheme == "" or len(scheme) == 1:
            # A plain path; a one-letter "scheme" is a Windows drive letter (C:\feed).
            return self._fetch_file(Path(url), url)
        raise tuf_exceptions.DownloadError(
            _("Unsupported address {url}: only http, https and local files can be used.").format(
                url=redact_url(url)
            )
        )

    # --- HTTP -------------------------------------------------------------------------

    def _fetch_http(self, url: str) -> Iterator[bytes]:
        limits = self._limits
        shown = redact_url(url)
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
            tls_problem = describe_tls_error(e)
            if tls_problem is not None:
                raise tuf_exceptions.DownloadError(
                    _("Could not connect securely to {url}. {problem}").format(
                        url=shown, problem=tls_problem
                    )
                ) from e
            raise tuf_exceptions.DownloadError(
                _("Could not connect to {url}: {error}").format(url=shown, error=_reason(e))
            ) from e

        try:
            if response.status_code >= 400:
                raise RetryAfterHTTPError(
                    _("The server answered {status} {reason} for {url}.").format(
                        status=response.status_code, reason=response.reason or "", url=shown
                    ),
                    response.status_code,
                    retry_after=_retry_after(response),
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
                if elapsed > limits.metadata_deadline_seconds:
                    raise tuf_exceptions.SlowRetrievalError(
                        _(
                            "The download of {url} took more than {seconds:.0f} seconds; "
                            "it was stopped."
                        ).format(url=shown, seconds=limits.metadata_deadline_seconds)
                    )
                too_slow = too_slow_message(limits, received, elapsed, shown)
                if too_slow is not None:
                    raise tuf_exceptions.SlowRetrievalError(too_slow)
                yield chunk
        finally:
            response.close()

    # --- local files --------------------------------------------------------------------

    def _fetch_file(self, path: Path, url: str) -> Iterator[bytes]:
        shown = redact_url(url)
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
                    url=redact_url(url)
                )
            )
        # file://server/share/dir -> \\server\share\dir
        return Path(urllib.request.url2pathname(f"//{host}{parts.path}"))
    return Path(urllib.request.url2pathname(parts.path))
