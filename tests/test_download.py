"""Package downloads: streamed, verified, resumed, cancelled, against real servers.

nginx stands for a production feed server (ranges, If-Range, ETags); FeedServer
injects the faults of flaky networks and hostile servers. Everything is on 127.0.0.1.
"""

from __future__ import annotations

import email.utils
import hashlib
import json
import os
import random
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import requests

from tests.feedserver import FeedServer, feed_server
from tests.nginx import NginxServer, nginx_server
from updater.errors import (
    CancelledError,
    HTTPStatusError,
    IntegrityError,
    NetworkError,
    SlowRetrievalError,
    StorageError,
)
from updater.feed import _background
from updater.feed._background import HashThread, WriteBack
from updater.feed.download import (
    CancelToken,
    DownloadProgress,
    download_target,
    target_url,
)
from updater.feed.fetch import NetworkLimits

TARGET = "packages/tpv/2.0.0/tpv-2.0.0.zip"
LIMITS = NetworkLimits(connect_timeout=5, read_timeout=5, min_bytes_per_second=0)


class Package:
    """A package published under its consistent-snapshot name in a targets folder."""

    def __init__(self, targets: Path, data: bytes) -> None:
        self.targets = targets
        self.data = data
        self.sha256 = hashlib.sha256(data).hexdigest()
        self.length = len(data)
        self.rel = target_url("/", TARGET, self.sha256).lstrip("/")
        self.path = targets / self.rel
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.path.write_bytes(data)

    def url(self, base: str) -> str:
        return target_url(base, TARGET, self.sha256)


def _data(size: int, seed: int = 1) -> bytes:
    return random.Random(seed).randbytes(size)


def _partial(dest: Path) -> Path:
    return dest.with_name(dest.name + ".partial")


def _sidecar(dest: Path) -> Path:
    return dest.with_name(dest.name + ".partial.json")


def _write_partial(dest: Path, package: Package, content: bytes, etag: str | None) -> None:
    dest.parent.mkdir(parents=True, exist_ok=True)
    _partial(dest).write_bytes(content)
    _sidecar(dest).write_text(
        json.dumps(
            {
                "sha256": package.sha256,
                "length": package.length,
                "etag": etag,
                "last_modified": None,
            }
        )
    )


def _nothing_left(dest: Path) -> bool:
    return not dest.exists() and not _partial(dest).exists() and not _sidecar(dest).exists()


def _workers() -> list[str]:
    """The download's own threads still running (updater.feed._background names them)."""
    return sorted(t.name for t in threading.enumerate() if t.name.startswith("download-"))


def _download(
    session: requests.Session,
    package: Package,
    base: str,
    dest: Path,
    *,
    limits: NetworkLimits = LIMITS,
    progress: Callable[[DownloadProgress], None] | None = None,
    cancel: CancelToken | None = None,
) -> Path:
    return download_target(
        session,
        package.url(base),
        dest,
        length=package.length,
        sha256=package.sha256,
        limits=limits,
        progress=progress,
        cancel=cancel,
    )


@pytest.fixture
def session() -> Iterator[requests.Session]:
    with requests.Session() as s:
        s.headers["Accept-Encoding"] = "identity"
        yield s


# --- against nginx ---------------------------------------------------------------------------


@pytest.fixture
def www(tmp_path: Path) -> Path:
    return tmp_path / "www"


@pytest.fixture
def big(www: Path) -> Package:
    return Package(www, _data(4 << 20))


@pytest.fixture
def nginx(www: Path, big: Package) -> Iterator[NginxServer]:
    yield from nginx_server(www)


def _etag(session: requests.Session, url: str) -> str:
    etag = session.head(url).headers["ETag"]
    assert etag.startswith('"')
    return etag


def test_full_download_equals_the_file_and_progress_reaches_total(
    nginx: NginxServer, big: Package, session: requests.Session, tmp_path: Path
) -> None:
    dest = tmp_path / "state" / "tpv.zip"
    reports: list[DownloadProgress] = []
    assert _download(session, big, nginx.url, dest, progress=reports.append) == dest
    assert dest.read_bytes() == big.data
    assert not _partial(dest).exists() and not _sidecar(dest).exists()
    assert reports[-1] == DownloadProgress(big.length, big.length, reports[-1].rate)
    assert all(r.total == big.length and r.rate >= 0 for r in reports)
    assert [r.done for r in reports] == sorted(r.done for r in reports)
    [entry] = nginx.requests(at_least=1)
    assert (entry.status, entry.bytes, entry.range) == (200, big.length, "")


def test_already_verified_file_is_not_fetched_again(
    nginx: NginxServer, big: Package, session: requests.Session, tmp_path: Path
) -> None:
    dest = tmp_path / "tpv.zip"
    dest.write_bytes(big.data)
    reports: list[DownloadProgress] = []
    assert _download(session, big, nginx.url, dest, progress=reports.append) == dest
    # A later request marks the log: if the download had asked anything, it would be
    # logged before this one.
    session.get(nginx.url + "probe")
    entries = nginx.requests(at_least=1)
    assert [e.uri for e in entries] == ["/probe"]
    assert reports == [DownloadProgress(big.length, big.length, 0.0)]


def test_wrong_file_at_dest_is_replaced(
    nginx: NginxServer, big: Package, session: requests.Session, tmp_path: Path
) -> None:
    dest = tmp_path / "tpv.zip"
    dest.write_bytes(b"an older, different download")
    _download(session, big, nginx.url, dest)
    assert dest.read_bytes() == big.data


def test_interrupted_download_resumes_with_only_the_rest(
    nginx: NginxServer, big: Package, session: requests.Session, tmp_path: Path
) -> None:
    url = big.url(nginx.url)
    etag = _etag(session, url)
    half = big.length // 2
    dest = tmp_path / "tpv.zip"
    _write_partial(dest, big, big.data[:half], etag)
    reports: list[DownloadProgress] = []
    _download(session, big, nginx.url, dest, progress=reports.append)
    assert dest.read_bytes() == big.data
    assert not _partial(dest).exists() and not _sidecar(dest).exists()
    entry = nginx.requests(at_least=2)[-1]
    assert entry.status == 206
    assert entry.bytes == big.length - half
    assert (entry.range, entry.if_range) == (f"bytes={half}-", etag)
    assert reports[0].done >= half


def test_changed_file_on_the_server_starts_over(
    nginx: NginxServer, big: Package, session: requests.Session, tmp_path: Path
) -> None:
    """The partial came from another upload: If-Range does not match, nginx sends the
    whole file (200) and the download starts again from zero."""
    old = bytes(b ^ 0xFF for b in big.data[: 1 << 16]) + big.data[1 << 16 :]
    big.path.write_bytes(old)
    os.utime(big.path, (1_700_000_000, 1_700_000_000))
    old_etag = _etag(session, big.url(nginx.url))
    half = big.length // 2
    dest = tmp_path / "tpv.zip"
    _write_partial(dest, big, old[:half], old_etag)
    big.path.write_bytes(big.data)  # the fixed upload: new mtime, new ETag
    _download(session, big, nginx.url, dest)
    assert dest.read_bytes() == big.data
    entry = nginx.requests(at_least=2)[-1]
    assert (entry.status, entry.bytes, entry.if_range) == (200, big.length, old_etag)


def test_corrupt_partial_fails_the_hash_and_leaves_nothing_then_a_retry_succeeds(
    nginx: NginxServer, big: Package, session: requests.Session, tmp_path: Path
) -> None:
    etag = _etag(session, big.url(nginx.url))
    half = big.length // 2
    dest = tmp_path / "tpv.zip"
    _write_partial(dest, big, b"\0" * 100 + big.data[100:half], etag)
    with pytest.raises(
        IntegrityError, match=r"tpv-2\.0\.0\.zip is not the one the publisher signed"
    ):
        _download(session, big, nginx.url, dest)
    assert _nothing_left(dest)
    assert nginx.requests(at_least=2)[-1].status == 206
    _download(session, big, nginx.url, dest)
    assert dest.read_bytes() == big.data
    assert nginx.requests(at_least=3)[-1].status == 200


def test_partial_longer_than_the_file_or_without_sidecar_starts_over(
    nginx: NginxServer, big: Package, session: requests.Session, tmp_path: Path
) -> None:
    dest = tmp_path / "tpv.zip"
    _write_partial(dest, big, big.data + b"tail", None)
    _download(session, big, nginx.url, dest)
    assert dest.read_bytes() == big.data
    dest.unlink()
    _partial(dest).write_bytes(b"\0" * 1000)  # no sidecar: unknown origin
    _download(session, big, nginx.url, dest)
    assert dest.read_bytes() == big.data
    assert [e.range for e in nginx.requests(at_least=2)] == ["", ""]


# --- against FeedServer faults --------------------------------------------------------------


@pytest.fixture
def feedroot(tmp_path: Path) -> Path:
    return tmp_path / "feed"


@pytest.fixture
def small(feedroot: Path) -> Package:
    return Package(feedroot, _data(512 << 10, seed=2))


@pytest.fixture
def faulty(feedroot: Path, small: Package) -> Iterator[FeedServer]:
    yield from feed_server(feedroot)


def test_stall_mid_body_is_slow_retrieval_and_keeps_the_partial(
    faulty: FeedServer, small: Package, session: requests.Session, tmp_path: Path
) -> None:
    half = small.length // 2
    faulty.override(small.rel, drip=(half, 10.0))
    dest = tmp_path / "tpv.zip"
    limits = NetworkLimits(connect_timeout=5, read_timeout=0.5, min_bytes_per_second=0)
    with pytest.raises(SlowRetrievalError, match="stopped sending data"):
        _download(session, small, faulty.url, dest, limits=limits)
    assert _workers() == []
    assert _partial(dest).read_bytes() == small.data[:half]
    assert _sidecar(dest).exists() and not dest.exists()


def test_throughput_floor_stops_a_dripping_server(
    faulty: FeedServer, small: Package, session: requests.Session, tmp_path: Path
) -> None:
    faulty.override(small.rel, drip=(1024, 0.05))
    limits = NetworkLimits(
        connect_timeout=5,
        read_timeout=5,
        min_bytes_per_second=100_000,
        throughput_grace_seconds=0.3,
    )
    dest = tmp_path / "tpv.zip"
    with pytest.raises(SlowRetrievalError, match="too slow"):
        _download(session, small, faulty.url, dest, limits=limits)
    assert 0 < _partial(dest).stat().st_size < small.length


def test_connection_closed_early_keeps_the_partial_and_a_retry_finishes(
    faulty: FeedServer, small: Package, session: requests.Session, tmp_path: Path
) -> None:
    half = small.length // 2
    faulty.override(
        small.rel,
        body=small.data[:half],
        headers={"Content-Length": str(small.length), "Connection": "close"},
    )
    dest = tmp_path / "tpv.zip"
    with pytest.raises(NetworkError, match="interrupted") as caught:
        _download(session, small, faulty.url, dest)
    assert not isinstance(caught.value, SlowRetrievalError | HTTPStatusError)
    assert _workers() == []
    assert _partial(dest).read_bytes() == small.data[:half]
    faulty.clear_overrides()
    # FeedServer ignores Range and answers 200: the download starts over and ends right.
    _download(session, small, faulty.url, dest)
    assert dest.read_bytes() == small.data
    assert not _partial(dest).exists() and not _sidecar(dest).exists()
    assert len(faulty.requests_log) == 2


def test_wrong_content_range_starts_over_with_a_new_request(
    faulty: FeedServer, small: Package, session: requests.Session, tmp_path: Path
) -> None:
    """A 206 for another range than asked (here always the whole file) is not appended."""
    faulty.override(
        small.rel,
        status=206,
        headers={"Content-Range": f"bytes 0-{small.length - 1}/{small.length}"},
    )
    half = small.length // 2
    dest = tmp_path / "tpv.zip"
    _write_partial(dest, small, small.data[:half], None)
    _download(session, small, faulty.url, dest)
    assert dest.read_bytes() == small.data
    assert len(faulty.requests_log) == 2


def test_endless_body_is_refused_without_writing_more_than_signed(
    faulty: FeedServer, small: Package, session: requests.Session, tmp_path: Path
) -> None:
    faulty.override(small.rel, endless=True)
    dest = tmp_path / "tpv.zip"
    sizes: list[int] = []

    def watch(report: DownloadProgress) -> None:
        assert report.done <= small.length
        sizes.append(_partial(dest).stat().st_size)

    with pytest.raises(IntegrityError, match="larger than the publisher signed"):
        _download(session, small, faulty.url, dest, progress=watch)
    assert sizes and max(sizes) <= small.length
    assert _nothing_left(dest) and _workers() == []


def test_bigger_announced_length_is_refused(
    faulty: FeedServer, small: Package, session: requests.Session, tmp_path: Path
) -> None:
    faulty.override(small.rel, body=small.data + b"more")
    dest = tmp_path / "tpv.zip"
    with pytest.raises(IntegrityError, match="larger than the publisher signed"):
        _download(session, small, faulty.url, dest)
    assert _nothing_left(dest)


def test_503_with_retry_after_seconds(
    faulty: FeedServer, small: Package, session: requests.Session, tmp_path: Path
) -> None:
    faulty.override(small.rel, status=503, headers={"Retry-After": "120"})
    dest = tmp_path / "tpv.zip"
    with pytest.raises(NetworkError, match="error 503") as caught:
        _download(session, small, faulty.url, dest)
    assert isinstance(caught.value, HTTPStatusError)
    assert caught.value.status == 503
    assert caught.value.retry_after == 120
    assert not dest.exists()


def test_429_with_retry_after_date(
    faulty: FeedServer, small: Package, session: requests.Session, tmp_path: Path
) -> None:
    when = datetime.now(UTC) + timedelta(seconds=90)
    faulty.override(
        small.rel, status=429, headers={"Retry-After": email.utils.format_datetime(when, True)}
    )
    with pytest.raises(HTTPStatusError) as caught:
        _download(session, small, faulty.url, tmp_path / "tpv.zip")
    assert caught.value.retry_after is not None
    assert 80 <= caught.value.retry_after <= 91


def test_404_names_the_file(
    faulty: FeedServer, small: Package, session: requests.Session, tmp_path: Path
) -> None:
    small.path.unlink()
    with pytest.raises(NetworkError, match=r"tpv-2\.0\.0\.zip is missing.*404") as caught:
        _download(session, small, faulty.url, tmp_path / "tpv.zip")
    assert isinstance(caught.value, HTTPStatusError) and caught.value.retry_after is None


def test_cancel_from_another_thread_keeps_the_partial(
    faulty: FeedServer, small: Package, session: requests.Session, tmp_path: Path
) -> None:
    faulty.override(small.rel, drip=(8192, 0.02))  # about 1.3 s for the whole file
    token = CancelToken()
    timer = threading.Timer(0.3, token.cancel)
    dest = tmp_path / "tpv.zip"
    timer.start()
    started = time.monotonic()
    try:
        with pytest.raises(CancelledError):
            _download(session, small, faulty.url, dest, cancel=token)
    finally:
        timer.cancel()
    assert time.monotonic() - started < 1.0
    size = _partial(dest).stat().st_size
    assert 0 < size < small.length
    assert _partial(dest).read_bytes() == small.data[:size]
    assert _sidecar(dest).exists() and not dest.exists()


def test_file_url_copies_and_verifies(
    small: Package, session: requests.Session, tmp_path: Path
) -> None:
    base = small.targets.as_uri() + "/"
    dest = tmp_path / "tpv.zip"
    reports: list[DownloadProgress] = []
    _download(session, small, base, dest, progress=reports.append)
    assert dest.read_bytes() == small.data
    assert reports[-1].done == small.length
    # A damaged copy on the stick is refused and leaves nothing.
    small.path.write_bytes(b"\0" + small.data[1:])
    other = tmp_path / "again.zip"
    with pytest.raises(IntegrityError, match="not the one the publisher signed"):
        _download(session, small, base, other)
    assert _nothing_left(other)


# --- the hash and write-back threads -------------------------------------------------------


def test_one_corrupted_byte_on_the_wire_is_an_integrity_error(
    nginx: NginxServer, big: Package, session: requests.Session, tmp_path: Path
) -> None:
    """The byte goes through the hash thread, far from the ends of the file."""
    damaged = bytearray(big.data)
    damaged[big.length // 2 + 12_345] ^= 0x01
    big.path.write_bytes(bytes(damaged))
    dest = tmp_path / "tpv.zip"
    with pytest.raises(
        IntegrityError, match=r"tpv-2\.0\.0\.zip is not the one the publisher signed"
    ):
        _download(session, big, nginx.url, dest)
    assert _nothing_left(dest) and _workers() == []


def test_cancelled_download_keeps_what_was_written_and_resumes_from_there(
    nginx: NginxServer, big: Package, session: requests.Session, tmp_path: Path
) -> None:
    token = CancelToken()
    seen: list[list[str]] = []

    def cut(report: DownloadProgress) -> None:  # the first report comes after one chunk
        seen.append(_workers())
        token.cancel()

    dest = tmp_path / "tpv.zip"
    with pytest.raises(CancelledError):
        _download(session, big, nginx.url, dest, progress=cut, cancel=token)
    assert "download-sha256" in seen[0]  # the hash ran in its thread, now joined
    assert _workers() == []
    kept = _partial(dest).read_bytes()
    assert 0 < len(kept) < big.length and kept == big.data[: len(kept)]
    _download(session, big, nginx.url, dest)
    assert dest.read_bytes() == big.data and _workers() == []
    entry = nginx.requests(at_least=2)[-1]
    assert (entry.status, entry.range, entry.bytes) == (
        206,
        f"bytes={len(kept)}-",
        big.length - len(kept),
    )


def test_threads_are_joined_when_the_progress_callback_raises(
    faulty: FeedServer, small: Package, session: requests.Session, tmp_path: Path
) -> None:
    class StopError(Exception):
        pass

    def stop(report: DownloadProgress) -> None:
        raise StopError

    dest = tmp_path / "tpv.zip"
    with pytest.raises(StopError):
        _download(session, small, faulty.url, dest, progress=stop)
    assert _workers() == []
    kept = _partial(dest).read_bytes()
    assert 0 < len(kept) < small.length and kept == small.data[: len(kept)]


def test_hash_thread_keeps_the_order_and_holds_a_bounded_number_of_chunks() -> None:
    release = threading.Event()
    digest = hashlib.sha256()

    class Slow:
        def update(self, data: bytes, /) -> None:
            release.wait()
            digest.update(data)

    hasher = HashThread(Slow(), batch=10_000, max_pending=2)  # batches of two chunks
    chunks = [bytes([i]) * 5000 for i in range(20)]
    given: list[bytes] = []

    def produce() -> None:
        for chunk in chunks:
            hasher.update(chunk)
            given.append(chunk)

    producer = threading.Thread(target=produce, daemon=True)
    producer.start()
    time.sleep(0.3)
    try:
        # One batch being hashed, two waiting, one being filled: the producer waits.
        assert len(given) <= 2 * 4
    finally:
        release.set()
        producer.join(5)
        hasher.close()
    assert not producer.is_alive() and _workers() == []
    assert digest.hexdigest() == hashlib.sha256(b"".join(chunks)).hexdigest()
    hasher.close()  # idempotent
    with pytest.raises(RuntimeError):
        hasher.update(b"late")


def test_hash_thread_failure_reaches_close_and_never_blocks_the_writer() -> None:
    class Broken:
        def update(self, data: bytes, /) -> None:
            raise MemoryError

    hasher = HashThread(Broken(), max_pending=1)

    def produce() -> None:
        for _ in range(20):
            hasher.update(b"x" * 4096)  # blocks for ever if the thread stopped reading

    producer = threading.Thread(target=produce, daemon=True)
    producer.start()
    producer.join(5)
    assert not producer.is_alive()
    with pytest.raises(MemoryError):
        hasher.close()
    assert _workers() == []


def test_write_back_syncs_in_its_thread_every_few_bytes(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    calls: list[tuple[int, str]] = []
    monkeypatch.setattr(
        _background, "_fdatasync", lambda fd: calls.append((fd, threading.current_thread().name))
    )
    with (tmp_path / "file").open("wb") as handle:
        fd = handle.fileno()
        writeback = WriteBack(fd, start=100, every=1000)
        try:
            writeback.wrote(1099)  # 999 new bytes: not yet
            time.sleep(0.1)
            assert calls == []
            writeback.wrote(1100)
            deadline = time.monotonic() + 5
            while not calls and time.monotonic() < deadline:
                time.sleep(0.01)
        finally:
            writeback.close()
        writeback.close()  # idempotent
    assert calls == [(fd, "download-sync")]
    assert _workers() == []


def test_write_back_without_fdatasync_starts_no_thread(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Windows and macOS: the final fsync writes everything, as before."""
    monkeypatch.setattr(_background, "_fdatasync", None)
    with (tmp_path / "file").open("wb") as handle:
        writeback = WriteBack(handle.fileno(), every=1)
        assert _workers() == []
        writeback.wrote(1 << 30)
        writeback.close()


def test_target_url_is_the_consistent_snapshot_name() -> None:
    sha = "ab" * 32
    assert (
        target_url("https://h/feed/targets", "packages/tpv/1.1.0/tpv.zip", sha)
        == f"https://h/feed/targets/packages/tpv/1.1.0/{sha}.tpv.zip"
    )
    assert target_url("file:///f/targets/", "a.json", sha) == f"file:///f/targets/{sha}.a.json"


def test_a_partial_shorter_on_disk_than_received_is_never_renamed(tmp_path: Path) -> None:
    """If the last buffered bytes never reached the file (a flush that failed while
    leaving), the hash of what was received matches but the file does not: refused."""
    from updater.feed.download import _Partial

    body = os.urandom(200_000)
    dest = tmp_path / "tpv.zip"
    part = _Partial(dest, length=len(body), sha256=hashlib.sha256(body).hexdigest(), what="x")
    part.prepare()
    with part.open() as write:
        write(body)
    assert part.matches()
    with part.path.open("r+b") as handle:
        handle.truncate(len(body) - 1)  # what a lost last write leaves
    with pytest.raises(StorageError):
        part.finish()
    assert not dest.exists()
