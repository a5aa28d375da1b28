"""Downloading update packages: streamed, verified, resumable and cancellable.

Packages are large (up to a few hundred megabytes) and shops often sit behind slow or
flaky connections, so :func:`download_target` streams a package straight to disk,
hashing it on the way (in a second thread, :mod:`updater.feed._background`), and
continues an interrupted download where it stopped instead of starting again.

Trust decisions stay python-tuf's. This module does not decide what a package should
be: the caller passes the ``length`` and ``sha256`` of python-tuf's verified
``TargetFile`` (what :meth:`updater.feed.trust.TrustedFeed.check_ref` returns, which also
proves the release manifest agrees with the signed targets metadata), and the URL is
the consistent-snapshot target URL python-tuf itself would use,
``<targets base>/<dir>/<sha256>.<name>`` (see :func:`target_url`). This module only
proves that the bytes it wrote are exactly ``length`` bytes with that SHA-256, which
is the same check python-tuf's ``TargetFile.verify_length_and_hashes()`` makes; a
file that fails it is never handed on.

How a download goes:

* ``dest`` already exists with the right length and SHA-256: it is returned without a
  request (already downloaded and verified is not fetched again).
* Bytes go to ``dest`` + ``.partial`` next to ``dest``; a small sidecar
  ``dest`` + ``.partial.json`` records which file the partial belongs to and the
  server's validator (``ETag``, or else ``Last-Modified``) from the first response::

      {"sha256": "<hex>", "length": 123, "etag": "\\"65a-1f\\"", "last_modified": null}

* When a partial and a sidecar for the same ``sha256`` and ``length`` exist, the
  partial's bytes are hashed and only the rest is asked for, with
  ``Range: bytes=<size>-`` and ``If-Range: <validator>``. Only a ``206`` whose
  ``Content-Range`` is ``bytes <size>-<length - 1>/<length>`` continues the partial; a
  ``200`` (the server ignores ranges, or the file changed and ``If-Range`` did not
  match) restarts from zero with that same response, and a wrong ``Content-Range`` or a
  ``416`` restarts from zero with a new request. A partial without a matching sidecar,
  or longer than ``length``, is discarded. As the URL names the content's hash, a
  changed file at that URL means a broken upload; the final check catches it anyway.
* Never more than ``length`` bytes are written; a server sending more is refused. At
  the end the size must be ``length`` and the SHA-256 must match, otherwise the
  partial and its sidecar are deleted and :class:`~updater.errors.IntegrityError`
  is raised (a damaged resumed partial cannot be repaired, only downloaded again).
  A verified partial is flushed to disk and renamed to ``dest`` with ``os.replace``.
* A broken connection, a stall or a cancellation keeps the partial, so the next call
  resumes. HTTP errors raise :class:`HTTPStatusError` (a
  :class:`~updater.errors.NetworkError`) carrying the status and ``Retry-After``.

``file:`` URLs (a feed in a folder, on a share or a USB stick) are copied with the same
hashing, limits and progress reports; an interrupted copy also resumes.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import http.client
import json
import os
import re
import threading
import time
import urllib.parse
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import closing
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, BinaryIO

import requests
import urllib3.exceptions
from tuf.api import exceptions as tuf_exceptions

from updater.errors import (
    CancelledError,
    HTTPStatusError,
    IntegrityError,
    NetworkError,
    SlowRetrievalError,
    StorageError,
)
from updater.feed._background import HashThread, WriteBack
from updater.feed.fetch import (
    NetworkLimits,
    _file_url_to_path,
    _reason,
    too_slow_message,
)
from updater.feed.schedule import parse_retry_after
from updater.i18n import _
from updater.locations import redact_url

__all__ = [
    "CancelToken",
    "DownloadProgress",
    "ProgressCallback",
    "download_target",
    "target_url",
]

#: Progress is reported at most this often (seconds), plus once at the end.
_PROGRESS_INTERVAL = 0.1
#: The rate in :class:`DownloadProgress` is measured over this many recent seconds.
_RATE_WINDOW = 3.0
_SHA256 = re.compile(r"[0-9a-f]{64}")
_CONTENT_RANGE = re.compile(r"\s*bytes\s+(\d+)-(\d+)/(\d+)\s*", re.IGNORECASE)


# --- public types ------------------------------------------------------------------------


@dataclass(frozen=True)
class DownloadProgress:
    """How far a download is.

    Attributes:
        done: Bytes of the file on disk so far (a resumed download starts at the size
            of its partial).
        total: The file's length.
        rate: Bytes per second over the last few seconds (0.0 until measurable).
    """

    done: int
    total: int
    rate: float


ProgressCallback = Callable[[DownloadProgress], None]


class CancelToken:
    """Asks a running download to stop; :meth:`cancel` may be called from any thread.

    The download notices it before the request and between two chunks, so at once
    while data flows; on a silent connection at the latest when the read timeout ends.
    """

    def __init__(self) -> None:
        self._event = threading.Event()

    def cancel(self) -> None:
        """Ask the download to stop (it raises :class:`~updater.errors.CancelledError`)."""
        self._event.set()

    @property
    def cancelled(self) -> bool:
        """Whether :meth:`cancel` was called."""
        return self._event.is_set()

    def wait(self, timeout: float) -> bool:
        """Sleep up to ``timeout`` seconds, waking early on cancel; True if cancelled.

        Handy for waiting out a ``Retry-After`` before trying again.
        """
        return self._event.wait(timeout)


def target_url(targets_base_url: str, target_path: str, sha256: str) -> str:
    """The consistent-snapshot URL of a target, as python-tuf forms it.

    ``target_url("https://h/feed/targets/", "packages/tpv/1.1.0/tpv.zip", "ab…")`` is
    ``"https://h/feed/targets/packages/tpv/1.1.0/ab….tpv.zip"``: the SHA-256 prefixes
    the file name inside the target's folder. Like python-tuf, the target path is used
    as it is (target paths are URL-safe by the feed's own rules).
    """
    base = targets_base_url if targets_base_url.endswith("/") else targets_base_url + "/"
    dirname, sep, basename = target_path.rpartition("/")
    return f"{base}{dirname}{sep}{sha256}.{basename}"


# --- the download ------------------------------------------------------------------------


def download_target(
    session: requests.Session,
    url: str,
    dest: Path,
    *,
    length: int,
    sha256: str,
    limits: NetworkLimits,
    progress: ProgressCallback | None = None,
    cancel: CancelToken | None = None,
) -> Path:
    """Download ``url`` to ``dest`` and prove it is ``length`` bytes with ``sha256``.

    See the module documentation for resuming and the files used next to ``dest``.

    Args:
        session: The shared HTTP session (:func:`updater.feed.fetch.make_session`).
        url: The target's consistent-snapshot URL (:func:`target_url`); ``http``,
            ``https`` or ``file``.
        dest: Where the verified file goes; the partial and its sidecar are written
            next to it.
        length, sha256: From python-tuf's verified ``TargetFile``.
        limits: Timeouts, throughput floor and chunk size.
        progress: Called at most about ten times a second, and once at the end.
            An exception it raises stops the download (the partial is kept).
        cancel: Checked between chunks.

    Returns:
        ``dest``.

    Raises:
        IntegrityError: the file is not the one the publisher signed (wrong size,
            wrong hash, or more data than signed); nothing is left behind.
        HTTPStatusError: the server answered with an error status (404: the file is
            missing); ``retry_after`` says when to try again, if the server said so.
        SlowRetrievalError: the server stopped sending or sent too slowly; the partial
            is kept.
        NetworkError: no connection, or it broke; the partial is kept.
        CancelledError: ``cancel`` was used; the partial is kept.
        StorageError: the partial or ``dest`` could not be written.
    """
    if length < 0:
        raise ValueError("length must not be negative")
    if not _SHA256.fullmatch(sha256):
        raise ValueError("sha256 must be 64 lowercase hexadecimal digits")
    what = _display_name(url, sha256)
    if _is_verified(dest, length, sha256):
        if progress is not None:
            progress(DownloadProgress(length, length, 0.0))
        return dest

    part = _Partial(dest, length=length, sha256=sha256, what=what)
    part.prepare()
    if cancel is not None and cancel.cancelled:
        raise _cancelled()
    part.load()
    tracker = _Tracker(progress, length)
    if not part.matches():  # a complete, verified partial needs no request
        if part.done == length:
            # A complete partial with the wrong hash: nothing in it can be trusted.
            part.discard()
        scheme = urllib.parse.urlsplit(url).scheme.lower()
        if scheme in ("http", "https"):
            _download_http(session, url, part, limits, tracker, cancel)
        elif scheme == "file" or scheme == "" or len(scheme) == 1:
            _copy_file(url, part, limits, tracker, cancel)
        else:
            raise NetworkError(
                _(
                    "Unsupported address {url}: only http, https and local files can be used."
                ).format(url=redact_url(url))
            )
    part.finish()
    tracker.finish()
    return dest


# --- HTTP ----------------------------------------------------------------------------------


def _download_http(
    session: requests.Session,
    url: str,
    part: _Partial,
    limits: NetworkLimits,
    tracker: _Tracker,
    cancel: CancelToken | None,
) -> None:
    shown = redact_url(url)
    # The second round only happens after a wrong Content-Range or a 416, and then
    # without Range, so it always either streams or raises.
    for _round in range(2):
        offset = part.done
        headers = {"Accept-Encoding": "identity"}
        if offset > 0:
            headers["Range"] = f"bytes={offset}-"
            if part.validator:
                headers["If-Range"] = part.validator
        started = time.monotonic()
        response = _open(session, url, headers, limits, shown)
        try:
            start = _body_start(response, offset, part, shown)
            if start is None:
                part.restart(validator=None)
                continue
            if start == 0:
                part.restart(validator=_validator(response))
            tracker.begin(part.done)
            _stream(_http_reader(response, limits, shown), part, limits, tracker, cancel, started)
            return
        finally:
            response.close()
    raise AssertionError("unreachable: a request without Range always streams or raises")


def _open(
    session: requests.Session,
    url: str,
    headers: dict[str, str],
    limits: NetworkLimits,
    shown: str,
) -> requests.Response:
    try:
        return session.get(
            url,
            headers=headers,
            stream=True,
            timeout=(limits.connect_timeout, limits.read_timeout),
        )
    except requests.exceptions.ConnectTimeout as e:
        raise NetworkError(
            _("Could not connect to {url} within {seconds} seconds.").format(
                url=shown, seconds=limits.connect_timeout
            ),
            hint=_("Check the internet connection and try again later."),
        ) from e
    except requests.exceptions.Timeout as e:
        raise SlowRetrievalError(
            _("The server at {url} did not answer within {seconds} seconds.").format(
                url=shown, seconds=limits.read_timeout
            ),
            hint=_("Check the internet connection and try again later."),
        ) from e
    except requests.exceptions.RequestException as e:
        raise NetworkError(
            _("Could not connect to {url}: {error}").format(url=shown, error=_reason(e)),
            hint=_("Check the internet connection and try again later."),
        ) from e


def _body_start(response: requests.Response, offset: int, part: _Partial, shown: str) -> int | None:
    """Where the response's body goes in the file: 0 (start over with this response),
    ``offset`` (continue the partial), or None (start over with a new request).

    Raises the error the response stands for, if it is one.
    """
    status = response.status_code
    length = part.length
    if status in (200, 206):
        encoding = response.headers.get("Content-Encoding", "").strip().lower()
        if encoding not in ("", "identity"):
            raise NetworkError(
                _(
                    "The server sent {url} compressed ({encoding}) although it was "
                    "asked not to; compressed responses are not accepted."
                ).format(url=shown, encoding=encoding)
            )
    declared = _content_length(response)
    if status == 200:
        if declared is not None and declared != length:
            part.discard()
            raise part.integrity_error(larger=declared > length)
        return 0
    if status == 206:
        found = _CONTENT_RANGE.fullmatch(response.headers.get("Content-Range", ""))
        if found is not None:
            first, last, total = (int(g) for g in found.groups())
            if (
                first == offset
                and total == length
                and last == length - 1
                and (declared is None or declared == last - first + 1)
            ):
                return offset
        if offset > 0:
            return None
    elif status == 416 and offset > 0:
        return None
    raise _status_error(response, part.what)


def _status_error(response: requests.Response, what: str) -> HTTPStatusError:
    status = response.status_code
    retry_after = None
    if status in (429, 503):
        header = response.headers.get("Retry-After")
        if header is not None:
            retry_after = parse_retry_after(header, datetime.now(UTC))
    if status == 404:
        return HTTPStatusError(
            _("The file {what} is missing on the update server (error 404).").format(what=what),
            hint=_("Nothing was changed.")
            + " "
            + _("The publisher must complete the feed; try again later."),
            status=status,
            retry_after=None,
        )
    return HTTPStatusError(
        _("The update server answered with error {status}.").format(status=status),
        hint=_("Try again later."),
        status=status,
        retry_after=retry_after,
    )


def _content_length(response: requests.Response) -> int | None:
    value = response.headers.get("Content-Length")
    if value is None or not value.strip().isdigit():
        return None
    return int(value)


def _validator(response: requests.Response) -> str | None:
    """The value for a later ``If-Range``: a strong ETag, else Last-Modified."""
    etag = response.headers.get("ETag")
    if etag and not etag.startswith("W/"):
        return etag
    return response.headers.get("Last-Modified") or None


def _http_reader(
    response: requests.Response, limits: NetworkLimits, shown: str
) -> Callable[[int], bytes]:
    raw: Any = response.raw

    def read(size: int) -> bytes:
        try:
            # urllib3 2.x: read1() returns whatever has arrived (up to size) instead of
            # waiting for size bytes, so a dripping server is noticed. Compressed
            # responses were refused, so the bytes are the file's bytes.
            chunk: bytes = raw.read1(size, decode_content=False)
        except urllib3.exceptions.ReadTimeoutError as e:
            raise SlowRetrievalError(
                _(
                    "The server at {url} stopped sending data for more than {seconds} seconds."
                ).format(url=shown, seconds=limits.read_timeout),
                hint=_("Check the internet connection and try again later."),
            ) from e
        except (urllib3.exceptions.HTTPError, http.client.HTTPException, OSError) as e:
            raise _interrupted(shown, str(e)) from e
        return chunk

    return read


# --- local files -----------------------------------------------------------------------------


def _copy_file(
    url: str,
    part: _Partial,
    limits: NetworkLimits,
    tracker: _Tracker,
    cancel: CancelToken | None,
) -> None:
    shown = redact_url(url)
    try:
        is_url = urllib.parse.urlsplit(url).scheme.lower() == "file"
        path = _file_url_to_path(url) if is_url else Path(url)
    except tuf_exceptions.DownloadError as e:
        raise NetworkError(str(e)) from e
    started = time.monotonic()
    try:
        handle = path.open("rb")
    except (FileNotFoundError, NotADirectoryError) as e:
        raise NetworkError(
            _("The file {path} does not exist.").format(path=path),
            hint=_("Nothing was changed.")
            + " "
            + _("The publisher must complete the feed; try again later."),
        ) from e
    except OSError as e:
        raise NetworkError(_("Could not read {url}: {error}").format(url=shown, error=e)) from e
    with handle:
        try:
            size = os.fstat(handle.fileno()).st_size
        except OSError as e:
            raise NetworkError(_("Could not read {url}: {error}").format(url=shown, error=e)) from e
        if size != part.length:
            part.discard()
            raise part.integrity_error(larger=size > part.length)
        if part.done == 0:
            part.restart(validator=None)
        else:
            # A local file has no validator; the name carries the hash, and the final
            # check covers a file replaced in between.
            try:
                handle.seek(part.done)
            except OSError as e:
                raise NetworkError(
                    _("Could not read {url}: {error}").format(url=shown, error=e)
                ) from e
        tracker.begin(part.done)
        _stream(_file_reader(handle, shown), part, limits, tracker, cancel, started)


def _file_reader(handle: BinaryIO, shown: str) -> Callable[[int], bytes]:
    def read(size: int) -> bytes:
        try:
            return handle.read(size)
        except OSError as e:
            raise NetworkError(_("Could not read {url}: {error}").format(url=shown, error=e)) from e

    return read


# --- streaming into the partial --------------------------------------------------------------


def _stream(
    read: Callable[[int], bytes],
    part: _Partial,
    limits: NetworkLimits,
    tracker: _Tracker,
    cancel: CancelToken | None,
    started: float,
) -> None:
    """Copy the body into the partial, at most up to ``part.length`` bytes in all."""
    shown = part.what
    received = 0
    with part.open() as write:
        while part.done < part.length:
            if cancel is not None and cancel.cancelled:
                raise _cancelled()
            chunk = read(min(limits.chunk_size, part.length - part.done))
            if not chunk:
                raise _interrupted(
                    shown,
                    _("the connection was closed after {done} of {total} bytes").format(
                        done=part.done, total=part.length
                    ),
                )
            write(chunk)
            received += len(chunk)
            elapsed = time.monotonic() - started
            too_slow = too_slow_message(limits, received, elapsed, shown)
            if too_slow is not None:
                raise SlowRetrievalError(
                    too_slow, hint=_("Check the internet connection and try again later.")
                )
            tracker.update(part.done)
        # All signed bytes are here; anything more means it is not the signed file. A
        # failure while looking is no reason to doubt the bytes: the hash decides.
        try:
            extra = read(1)
        except NetworkError:
            extra = b""
    if extra:
        part.discard()
        raise part.integrity_error(larger=True)


class _Partial:
    """``dest.partial`` and its sidecar: what is on disk so far, and its running hash."""

    def __init__(self, dest: Path, *, length: int, sha256: str, what: str) -> None:
        self.dest = dest
        self.path = dest.with_name(dest.name + ".partial")
        self.sidecar = dest.with_name(dest.name + ".partial.json")
        self.length = length
        self.sha256 = sha256
        self.what = what
        self.done = 0
        self.validator: str | None = None
        self._hash = hashlib.sha256()

    # -- setup --------------------------------------------------------------------------

    def prepare(self) -> None:
        """Create the folder; remove a ``dest`` that is not the signed file."""
        try:
            self.dest.parent.mkdir(parents=True, exist_ok=True)
            self.dest.unlink(missing_ok=True)
        except OSError as e:
            raise self._storage_error(e) from e

    def load(self) -> None:
        """Take over an existing partial if its sidecar says it is this file."""
        info = self._read_sidecar()
        try:
            size = self.path.stat().st_size
        except FileNotFoundError:
            size = None
        except OSError as e:
            raise self._storage_error(e) from e
        if size is None or info is None or size > self.length:
            self.discard()
            return
        etag, modified = info.get("etag"), info.get("last_modified")
        if isinstance(etag, str) and etag and not etag.startswith("W/"):
            self.validator = etag
        elif isinstance(modified, str) and modified:
            self.validator = modified
        try:
            with self.path.open("rb") as handle:
                self._hash = hashlib.file_digest(handle, "sha256")
                self.done = handle.tell()
        except OSError as e:
            raise self._storage_error(e) from e

    def _read_sidecar(self) -> dict[str, Any] | None:
        try:
            info = json.loads(self.sidecar.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        if (
            not isinstance(info, dict)
            or info.get("sha256") != self.sha256
            or info.get("length") != self.length
        ):
            return None
        return info

    # -- writing ------------------------------------------------------------------------

    def restart(self, *, validator: str | None) -> None:
        """Start the file over from zero, recording in the sidecar which file it is."""
        self.done = 0
        self._hash = hashlib.sha256()
        self.validator = validator
        etag = validator if validator is not None and validator.startswith('"') else None
        info = {
            "sha256": self.sha256,
            "length": self.length,
            "etag": etag,
            "last_modified": validator if etag is None else None,
        }
        temporary = self.sidecar.with_name(self.sidecar.name + ".tmp")
        try:
            self.path.write_bytes(b"")
            temporary.write_text(json.dumps(info), encoding="utf-8")
            temporary.replace(self.sidecar)
        except OSError as e:
            raise self._storage_error(e) from e

    @contextlib.contextmanager
    def open(self) -> Iterator[Callable[[bytes], None]]:
        """A function appending to the partial at ``done``. Chunks are hashed in a second
        thread and written back to the disk in a third (:mod:`._background`); on leaving,
        on every path, both are joined (the hash is complete) and the file is fsynced."""
        try:
            handle = self.path.open("r+b") if self.path.exists() else self.path.open("w+b")
            handle.seek(self.done)
            handle.truncate()
        except OSError as e:
            raise self._storage_error(e) from e
        with contextlib.ExitStack() as stack:  # every exit runs, in reverse order
            stack.callback(handle.close)
            stack.callback(_flush_to_disk, handle)
            writeback = stack.enter_context(closing(WriteBack(handle.fileno(), start=self.done)))
            hasher = stack.enter_context(closing(HashThread(self._hash)))

            def write(chunk: bytes) -> None:
                if self.done + len(chunk) > self.length:  # the readers never ask for more
                    raise AssertionError("more bytes than signed were about to be written")
                try:
                    handle.write(chunk)
                except OSError as e:
                    raise self._storage_error(e) from e
                hasher.update(chunk)
                self.done += len(chunk)
                writeback.wrote(self.done)

            yield write

    # -- the end ------------------------------------------------------------------------

    def matches(self) -> bool:
        return self.done == self.length and self._hash.hexdigest() == self.sha256

    def finish(self) -> None:
        """Rename a verified partial to ``dest``; delete a wrong one and raise."""
        if not self.matches():
            self.discard()
            raise self.integrity_error(larger=False)
        try:
            with self.path.open("rb+") as handle:  # a failed last flush left it short?
                short = os.fstat(handle.fileno()).st_size != self.length
                os.fsync(handle.fileno())
            if short:
                raise OSError(errno.EIO, _("the file on disk is shorter than what was received"))
            self.path.replace(self.dest)
        except OSError as e:
            raise self._storage_error(e) from e
        _fsync_folder(self.dest.parent)
        with contextlib.suppress(OSError):
            self.sidecar.unlink(missing_ok=True)

    def discard(self) -> None:
        """Delete the partial and its sidecar; the next bytes start from zero."""
        self.done = 0
        self._hash = hashlib.sha256()
        self.validator = None
        for path in (self.path, self.sidecar):
            try:
                path.unlink(missing_ok=True)
            except OSError as e:
                raise self._storage_error(e) from e

    def integrity_error(self, *, larger: bool) -> IntegrityError:
        nothing = _("Nothing was changed.")
        if larger:
            return IntegrityError(
                _("The file {what} is larger than the publisher signed; it was refused.").format(
                    what=self.what
                ),
                hint=nothing,
            )
        return IntegrityError(
            _("The downloaded file {what} is not the one the publisher signed.").format(
                what=self.what
            ),
            hint=nothing + " " + _("The download may be damaged; try again later."),
        )

    def _storage_error(self, error: OSError) -> StorageError:
        return StorageError(
            _("Cannot write to the updater's folder {path}: {error}").format(
                path=self.dest.parent, error=error.strerror or error
            ),
            hint=_("Check the disk space and the folder's permissions."),
        )


# --- progress --------------------------------------------------------------------------------


class _Tracker:
    """Calls the progress callback at most every ``_PROGRESS_INTERVAL`` seconds."""

    def __init__(self, callback: ProgressCallback | None, total: int) -> None:
        self._callback = callback
        self._total = total
        self._samples: deque[tuple[float, int]] = deque()
        self._last_report = float("-inf")
        self._done = 0

    def begin(self, done: int) -> None:
        """A (new) response starts at ``done``: the rate counts from here."""
        self._samples.clear()
        self._samples.append((time.monotonic(), done))
        self._done = done

    def update(self, done: int) -> None:
        self._done = done
        now = time.monotonic()
        if now - self._last_report >= _PROGRESS_INTERVAL:
            self._report(now)

    def finish(self) -> None:
        self._done = self._total
        self._report(time.monotonic())

    def _report(self, now: float) -> None:
        self._last_report = now
        samples = self._samples
        samples.append((now, self._done))
        while len(samples) > 2 and now - samples[1][0] >= _RATE_WINDOW:
            samples.popleft()
        first_time, first_done = samples[0]
        elapsed = now - first_time
        rate = (self._done - first_done) / elapsed if elapsed > 0 else 0.0
        if self._callback is not None:
            self._callback(DownloadProgress(self._done, self._total, max(rate, 0.0)))


# --- helpers -----------------------------------------------------------------------------------


def _is_verified(dest: Path, length: int, sha256: str) -> bool:
    """Whether ``dest`` already is exactly the signed file."""
    try:
        if not dest.is_file() or dest.stat().st_size != length:
            return False
        with dest.open("rb") as handle:
            digest = hashlib.file_digest(handle, "sha256")
    except OSError:
        return False
    return digest.hexdigest() == sha256


def _display_name(url: str, sha256: str) -> str:
    """The file's name for messages: the URL's last segment without the hash prefix."""
    path = urllib.parse.unquote(urllib.parse.urlsplit(url).path)
    name = path.rstrip("/").rsplit("/", 1)[-1] or redact_url(url)
    prefix = sha256 + "."
    return name[len(prefix) :] if name.startswith(prefix) and len(name) > len(prefix) else name


def _interrupted(what: str, detail: str) -> NetworkError:
    return NetworkError(
        _("The download of {url} was interrupted: {error}").format(url=what, error=detail),
        hint=_("Check the internet connection and try again later."),
    )


def _cancelled() -> CancelledError:
    return CancelledError(_("The update was cancelled; nothing was changed."))


def _flush_to_disk(handle: BinaryIO) -> None:
    with contextlib.suppress(OSError):  # a kept partial is hashed again when resumed
        handle.flush()
        os.fsync(handle.fileno())


def _fsync_folder(folder: Path) -> None:
    """Make a rename in ``folder`` durable (POSIX; Windows cannot open folders)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        with contextlib.suppress(OSError):
            os.fsync(fd)
    finally:
        os.close(fd)
