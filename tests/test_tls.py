"""HTTPS: the system trust store, a configured ca_bundle, and what certificate failures say.

Real TLS servers on 127.0.0.1 with certificates made here (a test CA, certificates it
issued for 127.0.0.1/localhost, an expired one, one not valid yet, one for another
host, a self-signed one); no mocks. The test CA is in no trust store, so the system
store must refuse it; on Linux, where truststore uses OpenSSL's system store, pointing
``SSL_CERT_FILE`` at the test CA plays "IT installed the certificate in Windows".
"""

from __future__ import annotations

import contextlib
import datetime
import ipaddress
import platform
import select
import socket
import ssl
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import requests
import truststore
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from requests.adapters import HTTPAdapter
from tuf.api.exceptions import DownloadError

from tests.feedkit import Feed
from tests.wine import not_under_wine
from updater.errors import NetworkError
from updater.feed.fetch import FeedFetcher, describe_tls_error, make_session
from updater.feed.trust import TrustedFeed

PAYLOAD = b"signed feed bytes " * 1000

UNTRUSTED = (
    "The server's certificate was not issued by a certificate authority that this PC "
    "trusts. If this network inspects HTTPS traffic, IT must install its certificate in "
    "Windows or set ca_bundle in the configuration."
)
EXPIRED = (
    "The server's certificate is expired according to this PC's clock. Check this PC's "
    "date and time; if it is right, the server's certificate has expired."
)
NOT_YET_VALID = (
    "The server's certificate is not valid yet according to this PC's clock. Check this "
    "PC's date and time; if it is right, the server's certificate is not valid yet."
)
OTHER_HOST = (
    "The server's certificate was issued for another address. The address may be wrong, "
    "or a proxy or captive portal is answering instead of the update server."
)

_ENV_VARS = (
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "ALL_PROXY",
    "NO_PROXY",
    "REQUEST_METHOD",
    "REQUESTS_CA_BUNDLE",
    "CURL_CA_BUNDLE",
)

#: Wine 8's crypt32 verifies chains unlike Windows: it answers a self-signed or
#: unknown-CA chain with CERT_E_CN_NO_MATCH (0x800B010F) where Windows answers
#: CERT_E_UNTRUSTEDROOT, and refuses an extra CA handed to it ("Invalid parameter").
wine_crypt32 = not_under_wine(
    "its crypt32 reports an untrusted chain as a name mismatch and refuses an extra CA"
)

openssl_system_store = pytest.mark.skipif(
    platform.system() in ("Windows", "Darwin"),
    reason="SSL_CERT_FILE only feeds truststore's OpenSSL backend (Linux and other Unixes)",
)


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """No proxy or CA bundle of the machine running the tests may get involved."""
    for name in _ENV_VARS:
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.lower(), raising=False)


# --- certificates -----------------------------------------------------------------------

_NOW = datetime.datetime.now(datetime.UTC)
_DAY = datetime.timedelta(days=1)
_LOCAL_NAMES: tuple[x509.GeneralName, ...] = (
    x509.DNSName("localhost"),
    x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
)


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def _ca_certificate(key: ec.EllipticCurvePrivateKey) -> x509.Certificate:
    return (
        x509.CertificateBuilder()
        .subject_name(_name("InnovaCommerce Test Root CA"))
        .issuer_name(_name("InnovaCommerce Test Root CA"))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(_NOW - 60 * _DAY)
        .not_valid_after(_NOW + 60 * _DAY)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )


def _server_certificate(
    key: ec.EllipticCurvePrivateKey,
    *,
    issuer: x509.Certificate | None,
    issuer_key: ec.EllipticCurvePrivateKey,
    names: tuple[x509.GeneralName, ...] = _LOCAL_NAMES,
    not_before: datetime.datetime = _NOW - _DAY,
    not_after: datetime.datetime = _NOW + 30 * _DAY,
) -> x509.Certificate:
    """A TLS server certificate; ``issuer=None`` makes it self-signed."""
    subject = _name(str(names[0].value))
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer.subject if issuer is not None else subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.SubjectAlternativeName(list(names)), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_key.public_key()),
            critical=False,
        )
        .sign(issuer_key, hashes.SHA256())
    )


def _write_pem(path: Path, *items: x509.Certificate | ec.EllipticCurvePrivateKey) -> Path:
    blobs = [
        item.public_bytes(serialization.Encoding.PEM)
        if isinstance(item, x509.Certificate)
        else item.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        for item in items
    ]
    path.write_bytes(b"".join(blobs))
    return path


@dataclass(frozen=True)
class Pki:
    ca_file: Path
    #: Server name -> PEM file holding its certificate and private key.
    servers: dict[str, Path]


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    folder = tmp_path_factory.mktemp("pki")
    ca_key = _key()
    ca = _ca_certificate(ca_key)
    issued: dict[str, dict[str, Any]] = {
        "good": {},
        "expired": {"not_before": _NOW - 30 * _DAY, "not_after": _NOW - _DAY},
        "not_yet_valid": {"not_before": _NOW + _DAY, "not_after": _NOW + 30 * _DAY},
        "other_host": {"names": (x509.DNSName("example.invalid"),)},
    }
    servers: dict[str, Path] = {}
    for name, options in issued.items():
        key = _key()
        cert = _server_certificate(key, issuer=ca, issuer_key=ca_key, **options)
        servers[name] = _write_pem(folder / f"{name}.pem", cert, key)
    key = _key()
    servers["self_signed"] = _write_pem(
        folder / "self_signed.pem", _server_certificate(key, issuer=None, issuer_key=key), key
    )
    return Pki(ca_file=_write_pem(folder / "ca.pem", ca), servers=servers)


# --- servers ----------------------------------------------------------------------------


class _QuietServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        # Refused handshakes and hang-ups are what these tests are about.
        if not isinstance(sys.exc_info()[1], OSError):
            super().handle_error(request, client_address)


class _FeedHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    timeout = 5.0

    def setup(self) -> None:
        super().setup()
        # The handshake happens here, in the request's thread, not in accept() in
        # the serving thread (the listening socket does not shake hands on connect).
        self.connection.do_handshake()

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(len(PAYLOAD)))
        self.end_headers()
        self.wfile.write(PAYLOAD)


class TLSServer:
    """An HTTPS server on 127.0.0.1 answering every GET with :data:`PAYLOAD`."""

    def __init__(self, pem: Path) -> None:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(pem)
        self._httpd = _QuietServer(("127.0.0.1", 0), _FeedHandler)
        self._httpd.socket = context.wrap_socket(
            self._httpd.socket, server_side=True, do_handshake_on_connect=False
        )
        self.port: int = self._httpd.server_address[1]
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()

    def url(self, host: str = "127.0.0.1") -> str:
        return f"https://{host}:{self.port}/metadata/timestamp.json"

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(5)


@pytest.fixture(scope="module")
def servers(pki: Pki) -> Iterator[dict[str, TLSServer]]:
    started = {name: TLSServer(pem) for name, pem in pki.servers.items()}
    yield started
    for server in started.values():
        server.stop()


class _ProxyServer(_QuietServer):
    tunnels: list[str]


class _ConnectHandler(BaseHTTPRequestHandler):
    """The part of a corporate proxy that matters here: ``CONNECT host:port``."""

    protocol_version = "HTTP/1.1"
    timeout = 5.0
    server: _ProxyServer

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_CONNECT(self) -> None:
        host, _, port = self.path.rpartition(":")
        self.server.tunnels.append(self.path)
        with socket.create_connection((host, int(port)), timeout=5) as upstream:
            self.send_response(200, "Connection established")
            self.end_headers()
            self._pipe(upstream)
        self.close_connection = True

    def _pipe(self, upstream: socket.socket) -> None:
        ends = (self.connection, upstream)
        while True:
            readable, _, _ = select.select(ends, [], [], 5)
            if not readable:
                return
            for end in readable:
                data = end.recv(65536)
                if not data:
                    return
                (upstream if end is self.connection else self.connection).sendall(data)


class _PlainHandler(BaseHTTPRequestHandler):
    timeout = 5.0

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def handle(self) -> None:
        self.wfile.write(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")


@pytest.fixture
def proxy(monkeypatch: pytest.MonkeyPatch) -> Iterator[_ProxyServer]:
    """An HTTP proxy on 127.0.0.1, announced the usual way (``HTTPS_PROXY``)."""
    httpd = _ProxyServer(("127.0.0.1", 0), _ConnectHandler)
    httpd.tunnels = []
    thread = threading.Thread(
        target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
    )
    thread.start()
    monkeypatch.setenv("HTTPS_PROXY", f"http://127.0.0.1:{httpd.server_address[1]}")
    yield httpd
    httpd.shutdown()
    httpd.server_close()
    thread.join(5)


# --- sessions -----------------------------------------------------------------------------


@pytest.fixture
def system_session() -> Iterator[requests.Session]:
    """The default: certificates checked against the operating system's trust store."""
    with contextlib.closing(make_session(user_agent="test-agent/1")) as session:
        yield session


@pytest.fixture
def bundle_session(pki: Pki) -> Iterator[requests.Session]:
    """A configured ``ca_bundle``: the test CA, and only it."""
    with contextlib.closing(
        make_session(ca_bundle=str(pki.ca_file), user_agent="test-agent/1")
    ) as session:
        yield session


@pytest.fixture
def ca_in_system_store(pki: Pki, monkeypatch: pytest.MonkeyPatch) -> None:
    """The test CA "installed by IT": in the OpenSSL system store truststore reads."""
    monkeypatch.setenv("SSL_CERT_FILE", str(pki.ca_file))


def download(session: requests.Session, url: str) -> bytes:
    return FeedFetcher(session).download_bytes(url, max_length=len(PAYLOAD))


def download_error(session: requests.Session, url: str) -> DownloadError:
    with pytest.raises(DownloadError) as caught:
        download(session, url)
    return caught.value


# --- which trust store --------------------------------------------------------------------


def https_adapter(session: requests.Session) -> HTTPAdapter:
    adapter = session.get_adapter("https://updates.example.com/feed/")
    assert isinstance(adapter, HTTPAdapter)
    return adapter


def test_default_session_verifies_with_truststore_without_global_patching() -> None:
    with contextlib.closing(make_session(user_agent="a/1")) as session:
        adapter = https_adapter(session)
        context = adapter.poolmanager.connection_pool_kw["ssl_context"]
        assert isinstance(context, truststore.SSLContext)
        assert context.verify_mode == ssl.CERT_REQUIRED and context.check_hostname
        assert session.verify is True and session.trust_env is True
        # Proxy managers (CONNECT tunnels) get the same context.
        manager = adapter.proxy_manager_for("http://proxy.example:3128")
        assert manager.connection_pool_kw["ssl_context"] is context
        # Each session has its own context.
        with contextlib.closing(make_session(user_agent="a/1")) as other:
            assert https_adapter(other).poolmanager.connection_pool_kw["ssl_context"] is not (
                context
            )
    # Nothing global was replaced.
    assert ssl.SSLContext is not truststore.SSLContext
    assert not isinstance(ssl.create_default_context(), truststore.SSLContext)


def test_ca_bundle_session_uses_only_that_bundle(pki: Pki) -> None:
    with contextlib.closing(make_session(ca_bundle=str(pki.ca_file), user_agent="a/1")) as s:
        assert "ssl_context" not in https_adapter(s).poolmanager.connection_pool_kw
        assert s.verify == str(pki.ca_file)


def test_ca_bundle_download_works(
    servers: dict[str, TLSServer], bundle_session: requests.Session
) -> None:
    assert download(bundle_session, servers["good"].url()) == PAYLOAD
    assert download(bundle_session, servers["good"].url("localhost")) == PAYLOAD


@wine_crypt32
def test_system_store_refuses_a_ca_it_does_not_hold(
    servers: dict[str, TLSServer], system_session: requests.Session
) -> None:
    """A TLS-inspecting proxy whose root IT has not installed looks exactly like this."""
    url = servers["good"].url()
    error = download_error(system_session, url)
    assert str(error) == f"Could not connect securely to {url}. {UNTRUSTED}"
    assert isinstance(error.__cause__, requests.exceptions.SSLError)
    assert describe_tls_error(error) == UNTRUSTED


@openssl_system_store
def test_a_ca_installed_in_the_system_store_is_trusted(
    servers: dict[str, TLSServer], system_session: requests.Session, ca_in_system_store: None
) -> None:
    assert download(system_session, servers["good"].url()) == PAYLOAD
    assert download(system_session, servers["good"].url("localhost")) == PAYLOAD
    # requests' own bundle (certifi) was not loaded into the connections' context.
    pools = https_adapter(system_session).poolmanager.pools
    keys = pools.keys()  # the container refuses plain iteration
    assert len(keys) == 2
    assert all(pools[key].ca_certs is None for key in keys)
    # requests on its own (certifi's bundle) would still refuse it: the system store
    # is really what the default session uses.
    with (
        contextlib.closing(requests.Session()) as plain,
        pytest.raises(requests.exceptions.SSLError),
    ):
        plain.get(servers["good"].url(), timeout=5)


@wine_crypt32
def test_requests_ca_bundle_environment_variable_is_still_honoured(
    servers: dict[str, TLSServer], pki: Pki, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(pki.ca_file))
    with contextlib.closing(make_session(user_agent="a/1")) as session:
        assert download(session, servers["good"].url()) == PAYLOAD


# --- what failures say ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "use_bundle",
    [
        pytest.param(False, marks=wine_crypt32, id="system-store"),
        pytest.param(True, id="ca-bundle"),
    ],
)
def test_self_signed_certificate_is_untrusted(
    servers: dict[str, TLSServer],
    system_session: requests.Session,
    bundle_session: requests.Session,
    use_bundle: bool,
) -> None:
    session = bundle_session if use_bundle else system_session
    url = servers["self_signed"].url()
    assert str(download_error(session, url)) == f"Could not connect securely to {url}. {UNTRUSTED}"


def test_expired_certificate(
    servers: dict[str, TLSServer], bundle_session: requests.Session
) -> None:
    url = servers["expired"].url()
    assert str(download_error(bundle_session, url)) == (
        f"Could not connect securely to {url}. {EXPIRED}"
    )


def test_certificate_not_valid_yet(
    servers: dict[str, TLSServer], bundle_session: requests.Session
) -> None:
    url = servers["not_yet_valid"].url()
    assert str(download_error(bundle_session, url)) == (
        f"Could not connect securely to {url}. {NOT_YET_VALID}"
    )


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost"])
def test_certificate_for_another_host(
    servers: dict[str, TLSServer], bundle_session: requests.Session, host: str
) -> None:
    """127.0.0.1 is OpenSSL's "IP address mismatch", localhost its "Hostname mismatch"."""
    url = servers["other_host"].url(host)
    assert str(download_error(bundle_session, url)) == (
        f"Could not connect securely to {url}. {OTHER_HOST}"
    )


@openssl_system_store
@pytest.mark.parametrize(
    ("server", "message"),
    [("expired", EXPIRED), ("not_yet_valid", NOT_YET_VALID), ("other_host", OTHER_HOST)],
)
def test_system_store_failures_are_explained_too(
    servers: dict[str, TLSServer],
    system_session: requests.Session,
    ca_in_system_store: None,
    server: str,
    message: str,
) -> None:
    url = servers[server].url()
    assert str(download_error(system_session, url)) == (
        f"Could not connect securely to {url}. {message}"
    )


@wine_crypt32
def test_through_a_proxy_the_system_store_is_used_as_well(
    servers: dict[str, TLSServer], system_session: requests.Session, proxy: _ProxyServer
) -> None:
    url = servers["good"].url()
    error = download_error(system_session, url)
    assert str(error) == f"Could not connect securely to {url}. {UNTRUSTED}"
    assert proxy.tunnels == [f"127.0.0.1:{servers['good'].port}"]


@openssl_system_store
def test_through_a_proxy_an_installed_ca_is_trusted(
    servers: dict[str, TLSServer],
    system_session: requests.Session,
    proxy: _ProxyServer,
    ca_in_system_store: None,
) -> None:
    assert download(system_session, servers["good"].url()) == PAYLOAD
    assert proxy.tunnels == [f"127.0.0.1:{servers['good'].port}"]


def test_tls_handshake_failure_that_is_not_about_certificates(
    system_session: requests.Session,
) -> None:
    """A server that answers HTTPS with plain HTTP (a misconfigured proxy or port)."""
    httpd = _QuietServer(("127.0.0.1", 0), _PlainHandler)
    thread = threading.Thread(
        target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
    )
    thread.start()
    try:
        url = f"https://127.0.0.1:{httpd.server_address[1]}/x"
        message = str(download_error(system_session, url))
        assert message == (
            f"Could not connect securely to {url}. "
            "A secure connection could not be set up (wrong version number)."
        )
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(5)


def test_describe_tls_error_is_none_for_other_failures(system_session: requests.Session) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    error = download_error(system_session, f"https://127.0.0.1:{port}/x")
    assert str(error).startswith(f"Could not connect to https://127.0.0.1:{port}/x: ")
    assert describe_tls_error(error) is None
    assert describe_tls_error(ValueError("nope")) is None
    # The chain is walked however it was built, without looping on cycles.
    first, second = RuntimeError("a"), RuntimeError("b")
    first.__context__, second.__context__ = second, first
    assert describe_tls_error(first) is None


@wine_crypt32
def test_the_explanation_reaches_the_user_through_the_trust_layer(
    _feed_template: Feed, servers: dict[str, TLSServer], tmp_path: Path
) -> None:
    with contextlib.closing(make_session(user_agent="a/1")) as session:
        feed = TrustedFeed(
            base_url=f"https://127.0.0.1:{servers['good'].port}/",
            cache_dir=tmp_path / "cache",
            trusted_root=_feed_template.root,
            fetcher=FeedFetcher(session),
        )
        with pytest.raises(NetworkError) as caught:
            feed.refresh()
    url = f"https://127.0.0.1:{servers['good'].port}/metadata/2.root.json"
    assert caught.value.message == (
        f"The update server could not be reached: Could not connect securely to {url}. {UNTRUSTED}"
    )
