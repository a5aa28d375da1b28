"""Tests of updater.feed.fetch against a real HTTP server on 127.0.0.1 (no mocks)."""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from tuf.api.exceptions import (
    DownloadError,
    DownloadHTTPError,
    DownloadLengthMismatchError,
    SlowRetrievalError,
)

from tests.feedserver import FeedServer, feed_server
from updater.errors import ConfigError
from updater.feed.fetch import (
    DEFAULT_USER_AGENT,
    FeedFetcher,
    NetworkLimits,
    make_session,
)
from updater.locations import feed_url

PAYLOAD = bytes(range(256)) * 1200  # 300 KiB: several chunks

_PROXY_VARS = ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY", "REQUEST_METHOD")


@pytest.fixture(autouse=True)
def _no_proxy_from_outside(monkeypatch: pytest.MonkeyPatch) -> None:
    """Proxy settings of the machine running the tests must not reroute 127.0.0.1."""
    for name in _PROXY_VARS:
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.lower(), raising=False)


@pytest.fixture
def root(tmp_path: Path) -> Path:
    feed = tmp_path / "feed"
    (feed / "metadata").mkdir(parents=True)
    (feed / "metadata" / "1.root.json").write_bytes(PAYLOAD)
    (feed / "small.bin").write_bytes(b"0123456789" * 100)
    return feed


@pytest.fixture
def server(root: Path) -> Iterator[FeedServer]:
    yield from feed_server(root)


@pytest.fixture
def session() -> Iterator[requests.Session]:
    s = make_session(user_agent="test-agent/1")
    yield s
    s.close()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
    return port


# --- HTTP -------------------------------------------------------------------------------


def test_download_whole_file(server: FeedServer, session: requests.Session) -> None:
    fetcher = FeedFetcher(session)
    url = server.url + "metadata/1.root.json"
    assert fetcher.download_bytes(url, max_length=len(PAYLOAD)) == PAYLOAD
    assert b"".join(fetcher.fetch(url)) == PAYLOAD
    assert server.requests_log == ["/metadata/1.root.json"] * 2


def test_chunks_are_handed_on_as_they_arrive(server: FeedServer, session: requests.Session) -> None:
    server.override("small.bin", body=b"a" * 100, drip=(10, 0.2))
    chunks = FeedFetcher(session).fetch(server.url + "small.bin")
    started = time.monotonic()
    first = next(iter(chunks))
    assert time.monotonic() - started < 1.0  # not after chunk_size bytes or the whole body
    assert 0 < len(first) <= 10
    assert first + b"".join(chunks) == b"a" * 100


def test_missing_file_is_404(server: FeedServer, session: requests.Session) -> None:
    with pytest.raises(DownloadHTTPError) as info:
        FeedFetcher(session).download_bytes(server.url + "metadata/2.root.json", 1000)
    assert info.value.status_code == 404


def test_server_error_status(server: FeedServer, session: requests.Session) -> None:
    server.override("metadata/1.root.json", status=503)
    with pytest.raises(DownloadHTTPError) as info:
        FeedFetcher(session).download_bytes(server.url + "metadata/1.root.json", 10**6)
    assert info.value.status_code == 503


def test_connection_refused(session: requests.Session) -> None:
    url = f"http://127.0.0.1:{free_port()}/metadata/1.root.json"
    with pytest.raises(DownloadError) as info:
        FeedFetcher(session).download_bytes(url, 1000)
    assert type(info.value) is DownloadError
    assert isinstance(info.value.__cause__, requests.exceptions.ConnectionError)
    assert "127.0.0.1" in str(info.value)


def test_dripping_server_hits_throughput_floor(
    server: FeedServer, session: requests.Session
) -> None:
    server.override("small.bin", drip=(1, 0.3))
    fetcher = FeedFetcher(
        session, NetworkLimits(min_bytes_per_second=100, throughput_grace_seconds=1)
    )
    started = time.monotonic()
    with pytest.raises(SlowRetrievalError, match="bytes in"):
        fetcher.download_bytes(server.url + "small.bin", 10**6)
    assert time.monotonic() - started < 5


def test_silent_server_hits_read_timeout(server: FeedServer, session: requests.Session) -> None:
    server.override("small.bin", drip=(1, 5))
    fetcher = FeedFetcher(session, NetworkLimits(read_timeout=0.5))
    started = time.monotonic()
    with pytest.raises(SlowRetrievalError):
        fetcher.download_bytes(server.url + "small.bin", 10**6)
    assert time.monotonic() - started < 4


def test_endless_stream_is_capped_by_tuf_length_check(
    server: FeedServer, session: requests.Session
) -> None:
    server.override("metadata/timestamp.json", endless=True)
    with pytest.raises(DownloadLengthMismatchError):
        FeedFetcher(session).download_bytes(
            server.url + "metadata/timestamp.json", max_length=100_000
        )


def test_compressed_response_is_refused(server: FeedServer, session: requests.Session) -> None:
    server.override("small.bin", headers={"Content-Encoding": "gzip"})
    with pytest.raises(DownloadError, match="compressed") as info:
        FeedFetcher(session).download_bytes(server.url + "small.bin", 10**6)
    assert not isinstance(info.value, DownloadHTTPError)


def test_interrupted_transfer(server: FeedServer, session: requests.Session) -> None:
    # Content-Length says 1000 bytes, the connection closes after 10.
    server.override(
        "small.bin", body=b"y" * 10, headers={"Content-Length": "1000", "Connection": "close"}
    )
    with pytest.raises(DownloadError) as info:
        FeedFetcher(session).download_bytes(server.url + "small.bin", 10**6)
    assert type(info.value) is DownloadError


def test_unknown_scheme(session: requests.Session) -> None:
    with pytest.raises(DownloadError, match="Unsupported"):
        FeedFetcher(session).download_bytes("ftp://example.invalid/x", 1000)


# --- session ----------------------------------------------------------------------------


def test_make_session(tmp_path: Path) -> None:
    bundle = tmp_path / "ca.pem"
    bundle.write_text("")
    with make_session(ca_bundle=str(bundle), user_agent="ua/2") as s:
        assert s.trust_env
        assert s.verify == str(bundle)
        assert s.headers["User-Agent"] == "ua/2"
    with make_session(user_agent="ua/3") as s:
        assert s.verify is True
    assert NetworkLimits().user_agent == DEFAULT_USER_AGENT
    assert DEFAULT_USER_AGENT.startswith("InnovaCommerce-Updater/")


def test_limits_are_validated() -> None:
    with pytest.raises(ValueError):
        NetworkLimits(read_timeout=0)
    with pytest.raises(ValueError):
        NetworkLimits(chunk_size=0)


def test_proxy_comes_from_environment(
    tmp_path: Path, session: requests.Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "proxied").mkdir()
    (tmp_path / "proxied" / "x").write_bytes(b"via proxy")
    with FeedServer(tmp_path / "proxied") as proxy:
        monkeypatch.setenv("HTTP_PROXY", proxy.url)
        monkeypatch.setenv("http_proxy", proxy.url)
        assert session.trust_env
        data = FeedFetcher(session).download_bytes("http://example.invalid/x", 1000)
        assert data == b"via proxy"
        assert proxy.requests_log == ["http://example.invalid/x"]


# --- local feeds ------------------------------------------------------------------------


def test_file_url(root: Path, session: requests.Session) -> None:
    fetcher = FeedFetcher(session)
    url = (root / "metadata" / "1.root.json").as_uri()
    assert fetcher.download_bytes(url, len(PAYLOAD)) == PAYLOAD


def test_file_url_with_escaped_characters(tmp_path: Path, session: requests.Session) -> None:
    folder = tmp_path / "my feed"
    folder.mkdir()
    (folder / "a b.json").write_bytes(b"{}")
    url = feed_url(str(folder)) + "a%20b.json"
    assert "%20" in url
    assert FeedFetcher(session).download_bytes(url, 100) == b"{}"


def test_plain_path(root: Path, session: requests.Session) -> None:
    path = str(root / "metadata" / "1.root.json")
    assert FeedFetcher(session).download_bytes(path, len(PAYLOAD)) == PAYLOAD


def test_relative_plain_path(
    root: Path, session: requests.Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(root)
    assert FeedFetcher(session).download_bytes("small.bin", 10_000) == b"0123456789" * 100


@pytest.mark.parametrize(
    "make_url",
    [
        lambda root: (root / "metadata" / "2.root.json").as_uri(),
        lambda root: str(root / "metadata" / "2.root.json"),
        lambda root: str(root / "small.bin" / "inside"),
        lambda root: "C:\\no\\such\\feed\\1.root.json",
    ],
    ids=["file-url", "plain-path", "under-a-file", "windows-drive"],
)
def test_missing_local_file_is_404(root: Path, session: requests.Session, make_url: object) -> None:
    assert callable(make_url)
    with pytest.raises(DownloadHTTPError) as info:
        FeedFetcher(session).download_bytes(make_url(root), 1000)
    assert info.value.status_code == 404


def test_unreadable_local_file(root: Path, session: requests.Session) -> None:
    with pytest.raises(DownloadError) as info:
        FeedFetcher(session).download_bytes(str(root / "metadata"), 1000)  # a folder
    assert not isinstance(info.value, DownloadHTTPError)


def test_remote_file_url_refused_off_windows(session: requests.Session) -> None:
    if os.name == "nt":
        pytest.skip("file://server/share is a UNC path on Windows")
    with pytest.raises(DownloadError, match="another computer"):
        FeedFetcher(session).download_bytes("file://server/share/1.root.json", 1000)


# --- feed_url ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("typed", "expected"),
    [
        ("https://feed.example.com/tpv", "https://feed.example.com/tpv/"),
        ("https://feed.example.com/tpv/", "https://feed.example.com/tpv/"),
        ("  http://127.0.0.1:8080  ", "http://127.0.0.1:8080/"),
        ("HTTPS://Feed.Example.com/a", "HTTPS://Feed.Example.com/a/"),
        ("file:///srv/feed", "file:///srv/feed/"),
        ("file:///C:/feed/", "file:///C:/feed/"),
    ],
)
def test_feed_url_for_urls(typed: str, expected: str) -> None:
    assert feed_url(typed) == expected


def test_feed_url_for_folders(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "feed").mkdir()
    expected = tmp_path.resolve().joinpath("feed").as_uri() + "/"
    assert feed_url(str(tmp_path / "feed")) == expected
    assert feed_url(str(tmp_path / "feed") + os.sep) == expected
    monkeypatch.chdir(tmp_path)
    assert feed_url("feed") == expected
    assert feed_url(os.path.join(".", "feed")) == expected  # noqa: PTH118
    assert feed_url(str(tmp_path)) == tmp_path.resolve().as_uri() + "/"


def test_feed_url_of_folder_is_fetchable(root: Path, session: requests.Session) -> None:
    url = feed_url(str(root)) + "metadata/1.root.json"
    assert FeedFetcher(session).download_bytes(url, len(PAYLOAD)) == PAYLOAD


@pytest.mark.parametrize(
    "typed", ["", "   ", "ftp://feed.example.com/", "https://", "https://x/feed?token=1"]
)
def test_feed_url_rejects(typed: str) -> None:
    with pytest.raises(ConfigError):
        feed_url(typed)


# --- the test server itself -------------------------------------------------------------


def _in_thread(target: object) -> tuple[threading.Thread, list[BaseException | None]]:
    outcome: list[BaseException | None] = []

    def run() -> None:
        assert callable(target)
        try:
            target()
        except BaseException as e:
            outcome.append(e)
        else:
            outcome.append(None)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread, outcome


def test_stop_is_prompt_during_drip(root: Path, session: requests.Session) -> None:
    server = FeedServer(root)
    server.start()
    server.override("small.bin", drip=(1, 5))
    fetcher = FeedFetcher(session, NetworkLimits(read_timeout=30))
    thread, outcome = _in_thread(lambda: fetcher.download_bytes(server.url + "small.bin", 10**6))
    deadline = time.monotonic() + 5
    while not server.requests_log and time.monotonic() < deadline:
        time.sleep(0.02)
    time.sleep(0.2)  # the first byte is out, the server is pausing

    started = time.monotonic()
    server.stop()
    assert time.monotonic() - started < 2
    thread.join(5)
    assert not thread.is_alive()
    # The client saw the connection end early, not a slow server.
    assert type(outcome[0]) is DownloadError
    server.stop()  # idempotent


def test_stop_is_prompt_during_endless_stream(root: Path, session: requests.Session) -> None:
    server = FeedServer(root)
    server.start()
    server.override("endless", endless=True)
    chunks = FeedFetcher(session).fetch(server.url + "endless")
    assert next(iter(chunks))  # streaming; the client now stops reading, buffers fill up
    time.sleep(0.2)

    started = time.monotonic()
    server.stop()
    assert time.monotonic() - started < 2
    close = getattr(chunks, "close", None)
    if close is not None:
        close()


def test_stop_without_start_and_context_manager(root: Path, session: requests.Session) -> None:
    FeedServer(root).stop()
    with FeedServer(root) as server:
        assert server.url.startswith("http://127.0.0.1:") and server.url.endswith("/")
        assert FeedFetcher(session).download_bytes(server.url + "small.bin", 10_000)
    with pytest.raises(DownloadError):
        FeedFetcher(session).download_bytes(server.url + "small.bin", 10_000)


def test_overrides_can_be_cleared(server: FeedServer, session: requests.Session) -> None:
    fetcher = FeedFetcher(session)
    server.override("/small.bin", body=b"other")
    assert fetcher.download_bytes(server.url + "small.bin", 10_000) == b"other"
    server.clear_overrides()
    assert fetcher.download_bytes(server.url + "small.bin", 10_000) == b"0123456789" * 100


def test_server_refuses_paths_outside_root(
    server: FeedServer, session: requests.Session, root: Path
) -> None:
    (root.parent / "secret").write_bytes(b"no")
    with pytest.raises(DownloadHTTPError) as info:
        FeedFetcher(session).download_bytes(server.url + "%2E%2E/secret", 100)
    assert info.value.status_code == 404


def test_total_deadline_stops_a_steady_trickle(tmp_path: Path) -> None:
    """Fast enough for the throughput floor, but never finishing: the deadline ends it."""
    (tmp_path / "big.json").write_bytes(b"x" * 100_000)
    for server in feed_server(tmp_path):
        server.override("big.json", drip=(2000, 0.1))  # 20 kB/s, over the floor
        limits = NetworkLimits(min_bytes_per_second=100, metadata_deadline_seconds=1.0)
        fetcher = FeedFetcher(requests.Session(), limits)
        started = time.monotonic()
        with pytest.raises(SlowRetrievalError, match="took more than 1 seconds"):
            fetcher.download_bytes(server.url + "big.json", 200_000)
        assert time.monotonic() - started < 5
