"""What a download hands to other threads: the SHA-256 and the write-back to the disk.

:mod:`updater.feed.download` reads a chunk, writes it to the partial, and passes it on
to :class:`HashThread`, which hashes it while the next chunk is read and written
(``hashlib`` releases the GIL for large buffers, so on two cores both really run at
once). The queue between them is bounded, so a slow hash slows the download instead of
holding the file in memory.

:class:`WriteBack` asks the operating system to write the partial's data to the disk
every few MiB while the download goes on (``os.fdatasync`` in its own thread), so the
final ``fsync`` that makes the file durable finds little left to write. Where
``os.fdatasync`` does not exist (Windows, macOS) it does nothing and the final
``fsync`` writes everything, as before.

Both must be closed on every path (:func:`contextlib.closing` or ``finally``): closing
joins their thread. Nothing here raises a user-facing error: a failed early write-back
is retried by the final ``fsync``, whose failure the caller reports.

May import: the standard library only.
"""

from __future__ import annotations

import contextlib
import os
import queue
import threading
from collections.abc import Callable
from typing import Protocol

__all__ = ["HashThread", "WriteBack"]

#: :class:`HashThread` hands chunks over in batches of about this many bytes.
BATCH = 256 << 10
#: Batches waiting to be hashed, at most.
MAX_PENDING = 4
#: :class:`WriteBack` starts writing after this many new bytes.
WRITE_BACK_EVERY = 8 << 20

#: ``os.fdatasync`` where it exists (Linux, the BSDs); None elsewhere.
_fdatasync: Callable[[int], None] | None = getattr(os, "fdatasync", None)


class _Hash(Protocol):
    def update(self, data: bytes, /) -> None: ...


class HashThread:
    """Feeds ``digest`` from a second thread; :meth:`update` blocks while the queue is full.

    Chunks are handed over in batches of at least ``batch`` bytes (each handover costs
    thread switches); at most ``max_pending`` batches wait, plus the one being hashed and
    the one being filled: with the defaults and 64 KiB chunks under 2 MiB, whatever the
    file's size. After :meth:`close` (idempotent), ``digest`` has seen every chunk given
    to :meth:`update`, in order, and the thread has ended.
    """

    def __init__(
        self, digest: _Hash, *, batch: int = BATCH, max_pending: int = MAX_PENDING
    ) -> None:
        self._digest = digest
        self._queue: queue.Queue[list[bytes] | None] = queue.Queue(max_pending)
        self._batch: list[bytes] = []
        self._batched = 0
        self._batch_size = batch
        self._error: BaseException | None = None
        self._stopping = False
        self._thread = threading.Thread(target=self._run, name="download-sha256", daemon=True)
        self._thread.start()

    def update(self, chunk: bytes) -> None:
        """Hash ``chunk`` (immutable ``bytes``) after the chunks given before it."""
        if self._stopping:
            raise RuntimeError("HashThread.update() after close()")
        self._batch.append(chunk)
        self._batched += len(chunk)
        if self._batched >= self._batch_size:
            self._queue.put(self._batch)
            self._batch, self._batched = [], 0

    def close(self) -> None:
        """Wait until every chunk is hashed and the thread has ended.

        Raises what hashing raised, if anything did (then ``digest`` is incomplete).
        """
        if not self._stopping:
            if self._batch:
                self._queue.put(self._batch)
                self._batch, self._batched = [], 0
            self._queue.put(None)
            self._stopping = True
        self._thread.join()
        if self._error is not None:
            raise self._error

    def _run(self) -> None:
        get = self._queue.get
        update = self._digest.update
        try:
            while (batch := get()) is not None:
                for chunk in batch:
                    update(chunk)
        except BaseException as e:  # handed to close(); keep draining so update() never hangs
            self._error = e
            while get() is not None:
                pass


class WriteBack:
    """Writes ``fd``'s data to the disk in the background, every ``every`` new bytes.

    ``start`` is the file's size when writing begins; call :meth:`wrote` with its size
    after each write. :meth:`close` (idempotent) waits for a write-back under way and
    ends the thread; it must come before ``fd`` is closed. A no-op where
    ``os.fdatasync`` does not exist.
    """

    def __init__(self, fd: int, *, start: int = 0, every: int = WRITE_BACK_EVERY) -> None:
        self._fd = fd
        self._every = every
        self._next = start + every
        self._wake = threading.Event()
        self._closing = False
        self._thread: threading.Thread | None = None
        if _fdatasync is not None:
            self._thread = threading.Thread(target=self._run, name="download-sync", daemon=True)
            self._thread.start()

    def wrote(self, done: int) -> None:
        """``done`` bytes of the file are written: start a write-back if enough are new."""
        if done >= self._next and self._thread is not None:
            self._next = done + self._every
            self._wake.set()

    def close(self) -> None:
        self._closing = True
        self._wake.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None

    def _run(self) -> None:
        sync = _fdatasync
        assert sync is not None
        while True:
            self._wake.wait()
            self._wake.clear()
            if self._closing:
                return
            with contextlib.suppress(OSError):  # the final fsync tries again, and reports
                sync(self._fd)
