"""The machine-wide state directory shared by the tray app and the command line.

Everything the updater keeps between runs lives under one folder (on Windows, normally
``%ProgramData%\\InnovaCommerce\\Updater``): the feed cache, downloads, the install
journal, snapshots for rollback, the history database, logs and the machine id.
:class:`StateDir` names those paths and owns the one lock that makes updates exclusive.

The lock
    :meth:`StateDir.lock` takes an operating-system file lock (``flock`` on POSIX,
    ``LockFileEx`` on Windows, through :mod:`filelock`) on ``updater.lock``. The kernel
    drops such a lock when its holder dies, so a crashed or killed updater never blocks
    the next one. Every call opens its own handle on the lock file, so a second
    :meth:`~StateDir.lock` in the same process (from another thread, or nested in the
    same thread) is refused exactly like one from another process: the lock is not
    re-entrant. Who holds it is written, best effort, to ``updater.lock.owner`` so that
    a refused caller can say which process is busy.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import os
import re
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import psutil
from filelock import FileLock, Timeout

from updater.errors import BusyError, StorageError
from updater.i18n import _

__all__ = ["LockOwner", "StateDir"]

log = logging.getLogger(__name__)

#: Product ids as the release manifest allows them (also safe as folder names).
_PRODUCT_ID = re.compile(r"^[a-z][a-z0-9_-]{0,63}$")
_MACHINE_ID = re.compile(r"^[0-9a-f]{32}$")
#: Two readings of one process's start time differ by less than this (seconds).
_START_TIME_TOLERANCE = 1.0


@dataclass(frozen=True)
class LockOwner:
    """The process holding a state directory's lock, as it described itself.

    Attributes:
        pid: Its process id.
        name: Its process name (for example ``innova-update.exe``).
        process_started_at: When that process started (UTC), which tells it apart from
            a later process that reuses the pid; ``None`` if it could not be read.
        acquired_at: When it took the lock (UTC).
        user: The account it runs as, when known.
    """

    pid: int
    name: str
    process_started_at: datetime | None
    acquired_at: datetime | None
    user: str | None = None

    def to_json(self) -> str:
        return json.dumps(
            {
                "pid": self.pid,
                "name": self.name,
                "process_started_at": _iso(self.process_started_at),
                "acquired_at": _iso(self.acquired_at),
                "user": self.user,
            }
        )

    @classmethod
    def from_json(cls, text: str) -> LockOwner | None:
        """Parse an owner file; ``None`` if it is not one (empty, truncated, foreign)."""
        try:
            raw = json.loads(text)
            pid = raw["pid"]
            name = raw["name"]
            user = raw.get("user")
            if not isinstance(pid, int) or pid <= 0 or not isinstance(name, str):
                return None
            return cls(
                pid=pid,
                name=name,
                process_started_at=_parse_iso(raw.get("process_started_at")),
                acquired_at=_parse_iso(raw.get("acquired_at")),
                user=user if isinstance(user, str) else None,
            )
        except (ValueError, TypeError, KeyError, AttributeError):
            return None

    def is_alive(self) -> bool:
        """Whether this very process still runs (not just some process with its pid).

        A process whose start time cannot be read (another account's, without the right
        to ask) counts as alive: it exists and nothing says it is someone else.
        """
        try:
            started = psutil.Process(self.pid).create_time()
        except psutil.NoSuchProcess:  # also a zombie, whose handles are closed already
            return False
        except (psutil.AccessDenied, OSError):
            return True
        if self.process_started_at is None:
            return True
        return abs(started - self.process_started_at.timestamp()) < _START_TIME_TOLERANCE

    @classmethod
    def current(cls) -> LockOwner:
        """Describe the calling process, with ``acquired_at`` set to now."""
        process = psutil.Process()
        name: str
        try:
            name = process.name()
        except (psutil.Error, OSError):
            name = Path(sys.argv[0]).name if sys.argv and sys.argv[0] else "python"
        started: datetime | None
        try:
            started = datetime.fromtimestamp(process.create_time(), UTC)
        except (psutil.Error, OSError):
            started = None
        user: str | None
        try:
            user = process.username()
        except (psutil.Error, OSError, KeyError):  # KeyError: uid without a passwd entry
            user = None
        return cls(
            pid=os.getpid(),
            name=name,
            process_started_at=started,
            acquired_at=datetime.now(UTC),
            user=user,
        )


@dataclass(frozen=True)
class StateDir:
    """The updater's machine-wide state folder and the paths inside it.

    The object only names paths; :meth:`ensure` creates the folders. It holds no open
    files, so one instance can be shared between threads.
    """

    root: Path

    @property
    def lock_file(self) -> Path:
        """The file whose OS lock makes updates exclusive (see :meth:`lock`)."""
        return self.root / "updater.lock"

    @property
    def lock_owner_file(self) -> Path:
        """Who holds the lock, written after it is taken and removed before release."""
        return self.root / "updater.lock.owner"

    @property
    def feed_cache(self) -> Path:
        """Trusted feed metadata (python-tuf's metadata folder) and cached manifests."""
        return self.root / "feed"

    @property
    def downloads(self) -> Path:
        """Packages being or already downloaded."""
        return self.root / "downloads"

    @property
    def journal_dir(self) -> Path:
        """The journal of the install in progress, used to recover after a crash."""
        return self.root / "journal"

    @property
    def snapshots_dir(self) -> Path:
        """Copies of installed versions kept for rollback, one folder per product."""
        return self.root / "snapshots"

    @property
    def history_db(self) -> Path:
        """The SQLite database of every check, update, rollback and restore."""
        return self.root / "history.sqlite3"

    @property
    def logs_dir(self) -> Path:
        return self.root / "logs"

    @property
    def machine_id_file(self) -> Path:
        return self.root / "machine-id"

    def ensure(self) -> None:
        """Create the state folder and its subfolders (those that already exist are kept).

        Raises:
            StorageError: A folder cannot be created (permissions, a file in the way,
                disk full).
        """
        for folder in (
            self.root,
            self.feed_cache,
            self.downloads,
            self.journal_dir,
            self.snapshots_dir,
            self.logs_dir,
        ):
            try:
                folder.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise self._storage_error(folder, exc) from exc

    def snapshots_of(self, product: str) -> Path:
        """The folder of ``product``'s snapshots (not created here).

        Raises:
            ValueError: ``product`` is not a product id as the manifest allows them, so
                it could name a path outside the snapshots folder.
        """
        if not _PRODUCT_ID.fullmatch(product):
            raise ValueError(f"not a valid product id: {product!r}")
        return self.snapshots_dir / product

    # --- machine id ----------------------------------------------------------------------

    def machine_id(self) -> str:
        """This machine's updater id: 32 hex digits, random, created on first use.

        The id is published atomically (written to a temp file, fsynced, then moved into
        place), so readers never see half of one. When two processes create it at the
        same moment, the first to publish wins and both return that id: publishing uses
        a hard link, which never replaces an existing file. Only where hard links are
        not supported, or the existing file is damaged, is it published with
        ``os.replace``.

        Raises:
            StorageError: The id can neither be read nor created.
        """
        path = self.machine_id_file
        current = self._read_machine_id()
        if current is not None and _MACHINE_ID.fullmatch(current):
            return current
        if current is not None:
            log.warning("Replacing the damaged machine id file %s", path)
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            temp = self.root / f".machine-id.{uuid.uuid4().hex}.tmp"
            try:
                with temp.open("x", encoding="ascii", newline="\n") as handle:
                    handle.write(uuid.uuid4().hex + "\n")
                    handle.flush()
                    os.fsync(handle.fileno())
                if current is None:
                    try:
                        path.hardlink_to(temp)  # fails if another process published first
                    except FileExistsError:
                        pass
                    except OSError:  # no hard links on this file system
                        temp.replace(path)
                else:
                    temp.replace(path)
                _fsync_dir(self.root)
            finally:
                with contextlib.suppress(OSError):
                    temp.unlink()
        except OSError as exc:
            raise self._storage_error(path, exc) from exc
        published = self._read_machine_id()
        if published is None or not _MACHINE_ID.fullmatch(published):
            raise StorageError(
                _("The machine id in {path} cannot be read.").format(path=path),
                hint=_("Check the disk space and the folder's permissions."),
            )
        return published

    def _read_machine_id(self) -> str | None:
        """The stripped content of the machine id file; ``None`` if there is no file."""
        try:
            return self.machine_id_file.read_text(encoding="ascii", errors="replace").strip()
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise self._storage_error(self.machine_id_file, exc) from exc

    # --- the lock ------------------------------------------------------------------------

    @contextlib.contextmanager
    def lock(self, *, wait: float = 0.0) -> Iterator[None]:
        """Hold this state directory's exclusive lock for the ``with`` block.

        Args:
            wait: Seconds to keep trying while someone else holds the lock; ``0`` tries
                once. It must be finite: a lock never waits forever.

        Raises:
            BusyError: The lock is held (by another process, another thread, or an
                enclosing ``lock()`` of this thread) and was not released within
                ``wait`` seconds. The message names the holder when it is known.
            StorageError: The lock file cannot be created or opened.
            ValueError: ``wait`` is negative, infinite or not a number.
        """
        if not (math.isfinite(wait) and wait >= 0):
            raise ValueError(f"wait must be a finite number of seconds >= 0, not {wait!r}")
        # A new FileLock per call opens its own handle on the file: the OS then refuses
        # it while any other handle (in this process or another) holds the lock.
        # thread_local=False: the object belongs to this call, not to a thread.
        file_lock = FileLock(self.lock_file, timeout=wait, thread_local=False)
        try:
            file_lock.acquire()
        except Timeout as exc:  # before OSError: Timeout is a TimeoutError
            raise self._busy_error() from exc
        except OSError as exc:
            raise self._storage_error(self.lock_file, exc) from exc
        try:
            self._write_lock_owner()
            yield
        finally:
            try:
                # Removed while still holding the lock, so that it can only be ours.
                with contextlib.suppress(OSError):
                    self.lock_owner_file.unlink(missing_ok=True)
            finally:
                file_lock.release()

    def lock_owner(self) -> LockOwner | None:
        """The process that holds the lock, if it said so and is still alive.

        This only reads the owner file: it is a description for people, not a test of
        the lock (an owner file is written just after the lock is taken, and one left by
        a killed process is ignored because that process no longer runs).
        """
        try:
            text = self.lock_owner_file.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            return None
        owner = LockOwner.from_json(text)
        if owner is None or not owner.is_alive():
            return None
        return owner

    def _write_lock_owner(self) -> None:
        """Describe this process in the owner file; failures only cost the description."""
        temp = self.root / f".updater.lock.owner.{os.getpid()}.{uuid.uuid4().hex}.tmp"
        try:
            temp.write_text(LockOwner.current().to_json(), encoding="utf-8")
            temp.replace(self.lock_owner_file)
        except OSError as exc:
            log.warning("Cannot write the lock owner file %s: %s", self.lock_owner_file, exc)
            with contextlib.suppress(OSError):
                temp.unlink()

    def _busy_error(self) -> BusyError:
        hint = _("Try again later.")
        owner = self.lock_owner()
        if owner is None:
            return BusyError(_("Another update is in progress."), hint=hint)
        started = owner.process_started_at or owner.acquired_at
        if started is None:
            message = _("Another update is in progress: {name} (process {pid}).")
        else:
            message = _("Another update is in progress: {name} (process {pid}, started {started}).")
        return BusyError(
            message.format(
                name=owner.name, pid=owner.pid, started=_local_time(started) if started else ""
            ),
            hint=hint,
        )

    @staticmethod
    def _storage_error(path: Path, exc: OSError) -> StorageError:
        return StorageError(
            _("Cannot write to the updater's folder {path}: {error}").format(
                path=path, error=exc.strerror or exc
            ),
            hint=_("Check the disk space and the folder's permissions."),
        )


def _iso(moment: datetime | None) -> str | None:
    return moment.astimezone(UTC).isoformat() if moment else None


def _parse_iso(value: object) -> datetime | None:
    if not isinstance(value, str):
        return None
    moment = datetime.fromisoformat(value)
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _local_time(moment: datetime) -> str:
    return moment.astimezone().strftime("%Y-%m-%d %H:%M:%S")


def _fsync_dir(folder: Path) -> None:
    """Make a rename or link in ``folder`` durable (POSIX; Windows has no directory fsync)."""
    if os.name != "posix":
        return
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
