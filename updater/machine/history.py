"""The history of every check, update, rollback and restore, kept in SQLite.

The tray app and the command line (often running as different accounts) write to the
same database, ``history.sqlite3`` in the state folder, at the same time. So:

* every call is one short transaction of its own; writes start with ``BEGIN IMMEDIATE``
  so that two writers queue on SQLite's lock (busy timeout :data:`BUSY_TIMEOUT`) instead
  of failing with "database is locked";
* the database runs in WAL mode with ``synchronous=FULL``: a committed entry survives a
  crash or power loss, and readers never wait for a writer;
* an operation is written as ``IN_PROGRESS`` when it starts (:meth:`History.start`) and
  completed when it ends (:meth:`History.finish`). One that is still in progress after
  its process died was interrupted, which :meth:`History.mark_interrupted` records. The
  writing process (pid and start time) is kept in each row so that an operation still
  running in another process is never taken for an interrupted one.

History must never stop an update. A database that is not one, or is corrupt, is
renamed aside (``history.sqlite3.corrupt-<timestamp>``, with its ``-wal`` and ``-shm``
files) and a new one is started; if even that fails, the history of this run is kept in
memory only, with a warning in the log. Errors that a retry cannot help (disk full, a
writer holding the database for longer than the busy timeout) are raised as
:class:`~updater.errors.StorageError`, for the caller to log and carry on.

Timestamps are stored as ISO 8601 text in UTC. The schema version is SQLite's
``PRAGMA user_version``; :func:`migrate` brings older databases up to date.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Collection, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from types import TracebackType
from typing import Any, Final, Self, TypeVar

import psutil

from updater.errors import StorageError
from updater.i18n import N_, _, render, source_of

__all__ = [
    "BUSY_TIMEOUT",
    "SCHEMA_VERSION",
    "History",
    "HistoryEntry",
    "Operation",
    "Outcome",
    "migrate",
]

log = logging.getLogger(__name__)

_T = TypeVar("_T")

#: Seconds a call waits for another process's write to finish before giving up.
BUSY_TIMEOUT: Final = 10.0
#: Two readings of one process's start time differ by less than this (seconds).
_START_TIME_TOLERANCE: Final = 1.0


class Operation(StrEnum):
    """What the updater did."""

    CHECK = "check"
    UPDATE = "update"
    #: Automatic, after a failed update.
    ROLLBACK = "rollback"
    #: Manual: a person asked to go back to a snapshot.
    RESTORE = "restore"
    #: Finishing or undoing an operation that a crash interrupted.
    RECOVERY = "recovery"


class Outcome(StrEnum):
    """How it ended."""

    SUCCESS = "success"
    FAILED = "failed"
    ROLLED_BACK = "rolled_back"
    ROLLBACK_FAILED = "rollback_failed"
    CANCELLED = "cancelled"
    NOTHING_TO_DO = "nothing_to_do"
    IN_PROGRESS = "in_progress"


#: How operations and outcomes read for people (the stored values stay as they are).
_LABELS: Final = {
    "check": N_("check"),
    "update": N_("update"),
    "rollback": N_("rollback"),
    "restore": N_("restore"),
    "recovery": N_("recovery"),
    "success": N_("done"),
    "failed": N_("failed"),
    "rolled_back": N_("failed, previous version restored"),
    "rollback_failed": N_("failed, previous version NOT restored"),
    "cancelled": N_("cancelled"),
    "nothing_to_do": N_("nothing to do"),
    "in_progress": N_("in progress"),
}


def history_label(value: str) -> str:
    """An :class:`Operation` or :class:`Outcome` value in words, in the person's language."""
    return _(_LABELS[value]) if value in _LABELS else value


@dataclass(frozen=True)
class HistoryEntry:
    """One row of the history.

    ``finished_at`` and ``duration_seconds`` are ``None`` while the operation is in
    progress; ``duration_seconds`` is also ``None`` for an interrupted one, whose real
    end is unknown.
    """

    id: int
    started_at: datetime
    finished_at: datetime | None
    operation: Operation
    product: str | None
    from_version: str | None
    to_version: str | None
    outcome: Outcome
    error_code: str | None
    message: str | None
    details: str | None
    duration_seconds: float | None
    #: How ``message`` and ``details`` were made (``updater.i18n.source_of``), if known.
    message_source: str | None = None
    details_source: str | None = None

    @property
    def shown_message(self) -> str | None:
        """``message`` in the reader's language (as written when it cannot be)."""
        return render(self.message_source, self.message)

    @property
    def shown_details(self) -> str | None:
        """``details`` in the reader's language (as written when it cannot be)."""
        return render(self.details_source, self.details)


# --- schema -------------------------------------------------------------------------------

_COLUMNS: Final = (
    "id, started_at, finished_at, operation, product, from_version, to_version, "
    "outcome, error_code, message, details, duration_seconds, message_source, details_source"
)


def _create_v1(conn: sqlite3.Connection) -> None:
    conn.execute(
        """
        CREATE TABLE history (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            started_at TEXT NOT NULL,
            finished_at TEXT,
            operation TEXT NOT NULL,
            product TEXT,
            from_version TEXT,
            to_version TEXT,
            outcome TEXT NOT NULL,
            error_code TEXT,
            message TEXT,
            details TEXT,
            duration_seconds REAL,
            -- the process that wrote the entry: tells a crashed operation from a running one
            owner_pid INTEGER,
            owner_started REAL
        )
        """
    )
    conn.execute("CREATE INDEX history_by_product ON history (product, id)")
    conn.execute(
        "CREATE INDEX history_in_progress ON history (outcome) WHERE outcome = 'in_progress'"
    )


def _add_sources_v2(conn: sqlite3.Connection) -> None:
    # How each message was made (updater.i18n.source_of): the reader sees it in their
    # own language, whatever the language of the process that wrote it.
    conn.execute("ALTER TABLE history ADD COLUMN message_source TEXT")
    conn.execute("ALTER TABLE history ADD COLUMN details_source TEXT")


#: ``_MIGRATIONS[n]`` upgrades a database from schema version ``n`` to ``n + 1``. A new
#: version appends a function here. Keep changes additive (new tables, new nullable
#: columns), so that an older updater can still use a newer database.
_MIGRATIONS: Final[tuple[Callable[[sqlite3.Connection], None], ...]] = (
    _create_v1,
    _add_sources_v2,
)

#: The schema version this code writes.
SCHEMA_VERSION: Final = len(_MIGRATIONS)


def migrate(conn: sqlite3.Connection) -> int:
    """Bring the database up to :data:`SCHEMA_VERSION`, in one transaction.

    Several processes may open a new database at once: the version is read inside the
    write transaction, so only the first one migrates. A database from a newer updater
    is left alone (see :data:`_MIGRATIONS`). Returns the version found.
    """
    with _write_transaction(conn):
        found = int(conn.execute("PRAGMA user_version").fetchone()[0])
        if found > SCHEMA_VERSION:
            log.warning(
                "History database schema %d is newer than this updater's %d; using it as is",
                found,
                SCHEMA_VERSION,
            )
            return found
        for step in _MIGRATIONS[found:]:
            step(conn)
        if found != SCHEMA_VERSION:
            conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION:d}")
    return found


@contextlib.contextmanager
def _write_transaction(conn: sqlite3.Connection) -> Iterator[None]:
    # IMMEDIATE takes the write lock up front, waiting on the busy timeout for another
    # writer; a deferred transaction that upgrades later can fail at once instead.
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield
    except BaseException:
        if conn.in_transaction:
            with contextlib.suppress(sqlite3.Error):
                conn.execute("ROLLBACK")
        raise
    try:
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            with contextlib.suppress(sqlite3.Error):
                conn.execute("ROLLBACK")
        raise


# --- the history ----------------------------------------------------------------------------


class _CorruptDatabaseError(Exception):
    """The file is not a usable SQLite database."""


class History:
    """The updater's history database; safe to share between threads.

    Use it as a context manager, or call :meth:`close`.
    """

    def __init__(self, db_path: Path) -> None:
        self.path = Path(db_path)
        self._mutex = threading.RLock()
        self._conn: sqlite3.Connection | None = None
        #: Identity (st_dev, st_ino) of the file opened, to never rename aside another
        #: process's fresh database in place of the corrupt one this one found.
        self._file_id: tuple[int, int] | None = None
        self._persistent = False
        #: Monotonic start of the entries this instance started, for clock-proof durations.
        self._started_monotonic: dict[int, float] = {}
        self._open()

    @property
    def persistent(self) -> bool:
        """``False`` when the database could not be opened and history is only in memory."""
        return self._persistent

    # --- opening ---------------------------------------------------------------------

    def _open(self) -> None:
        try:
            self._conn = self._connect_not_racing(self.path)
            self._persistent = True
            return
        except _CorruptDatabaseError as exc:
            log.warning("History database %s is damaged (%s); starting a new one", self.path, exc)
        except (sqlite3.Error, OSError) as exc:
            self._fall_back_to_memory(exc)
            return
        self._recover_and_reopen()

    def _recover_and_reopen(self) -> None:
        """Move the damaged database aside and start a new one (or fall back to memory)."""
        self._close_connection()
        try:
            self._move_aside()
            self._conn = self._connect(self.path)
            self._persistent = True
        except (_CorruptDatabaseError, sqlite3.Error, OSError) as exc:
            self._fall_back_to_memory(exc)

    def _connect_not_racing(self, path: Path) -> sqlite3.Connection:
        """:meth:`_connect_waiting`, but a database that looks damaged is tried again a
        few times first: another process (the tray and the command line start together)
        may be creating it this very moment, and a healthy database must never be moved
        aside as damaged."""
        for attempt in range(5):
            try:
                return self._connect_waiting(path)
            except _CorruptDatabaseError:
                if attempt == 4:
                    raise
                time.sleep(0.1 * (attempt + 1))
        raise AssertionError("unreachable")

    def _connect_waiting(self, path: Path) -> sqlite3.Connection:
        """:meth:`_connect`, waiting while another process holds the database: switching
        it to WAL or migrating it needs a moment of exclusive access, and SQLite's busy
        timeout does not cover every step of that."""
        deadline = time.monotonic() + BUSY_TIMEOUT
        while True:
            try:
                return self._connect(path)
            except sqlite3.OperationalError as exc:
                busy = "locked" in str(exc).lower() or "busy" in str(exc).lower()
                if not busy or time.monotonic() > deadline:
                    raise
                time.sleep(0.05)

    def _connect(self, path: Path) -> sqlite3.Connection:
        """Open ``path``, configure it, check it and migrate it."""
        path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(
            path,
            timeout=BUSY_TIMEOUT,
            isolation_level=None,  # no implicit transactions: each call manages its own
            check_same_thread=False,  # shared between threads, serialised by self._mutex
        )
        try:
            with contextlib.suppress(OSError):
                st = path.stat()
                self._file_id = (st.st_dev, st.st_ino)
            self._configure(conn, path)
            return conn
        except BaseException as exc:
            conn.close()
            if isinstance(exc, sqlite3.Error) and _is_corruption(exc):
                raise _CorruptDatabaseError(str(exc)) from exc
            raise

    @staticmethod
    def _configure(conn: sqlite3.Connection, path: Path) -> None:
        conn.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT * 1000):d}")
        mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
        if str(mode).lower() != "wal":
            log.warning("History database %s cannot use WAL (journal mode %s)", path, mode)
        conn.execute("PRAGMA synchronous = FULL")
        check = conn.execute("PRAGMA quick_check").fetchall()
        if [tuple(row) for row in check] != [("ok",)]:
            raise _CorruptDatabaseError("; ".join(str(row[0]) for row in check[:5]))
        migrate(conn)
        # A newer schema is only usable if it still has every column this code reads.
        conn.execute(f"SELECT {_COLUMNS}, owner_pid, owner_started FROM history LIMIT 0")

    def _fall_back_to_memory(self, exc: BaseException) -> None:
        log.warning(
            "Cannot use the history database %s (%s); this run's history is kept in memory only",
            self.path,
            exc,
        )
        self._close_connection()
        conn = sqlite3.connect(":memory:", isolation_level=None, check_same_thread=False)
        migrate(conn)
        self._conn = conn
        self._persistent = False

    def _move_aside(self) -> None:
        """Rename the database and its WAL files to ``<name>.corrupt-<UTC timestamp>``."""
        try:
            st = self.path.stat()
        except FileNotFoundError:
            return
        if self._file_id is not None and (st.st_dev, st.st_ino) != self._file_id:
            log.info("History database %s was already replaced by another process", self.path)
            return
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S.%fZ")
        aside = self.path.with_name(f"{self.path.name}.corrupt-{stamp}")
        counter = 1
        while aside.exists():
            aside = self.path.with_name(f"{self.path.name}.corrupt-{stamp}-{counter}")
            counter += 1
        # The WAL goes with its database: left in place, SQLite would try to replay it
        # into the new one.
        for suffix in ("-wal", "-shm"):
            companion = self.path.with_name(self.path.name + suffix)
            with contextlib.suppress(FileNotFoundError):
                companion.replace(aside.with_name(aside.name + suffix))
        self.path.replace(aside)
        self._file_id = None
        log.warning("Moved the damaged history database aside to %s", aside)

    # --- running statements -----------------------------------------------------------

    def _run(self, action: Callable[[sqlite3.Connection], _T]) -> _T:
        """Run ``action`` on the connection; recover once from a database found corrupt."""
        with self._mutex:
            for attempt in (1, 2):
                conn = self._connection()
                try:
                    return action(conn)
                except sqlite3.Error as exc:
                    if attempt == 1 and self._persistent and _is_corruption(exc):
                        log.warning("History database %s is damaged (%s)", self.path, exc)
                        self._recover_and_reopen()
                        continue
                    raise StorageError(
                        _("Cannot write to the updater's folder {path}: {error}").format(
                            path=self.path, error=exc
                        ),
                        hint=_("Check the disk space and the folder's permissions."),
                    ) from exc
            raise AssertionError("unreachable")  # pragma: no cover

    def _connection(self) -> sqlite3.Connection:
        if self._conn is None:
            raise RuntimeError("the history database is closed")
        return self._conn

    # --- writing -------------------------------------------------------------------------

    def start(
        self,
        operation: Operation,
        product: str | None = None,
        from_version: str | None = None,
        to_version: str | None = None,
    ) -> int:
        """Record that ``operation`` starts now; returns the entry's id for :meth:`finish`."""
        operation = Operation(operation)
        now = _utcnow()
        pid, pid_started = _current_process()

        def insert(conn: sqlite3.Connection) -> int:
            with _write_transaction(conn):
                cursor = conn.execute(
                    "INSERT INTO history (started_at, operation, product, from_version,"
                    " to_version, outcome, owner_pid, owner_started)"
                    " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        _to_text(now),
                        operation.value,
                        product,
                        from_version,
                        to_version,
                        Outcome.IN_PROGRESS.value,
                        pid,
                        pid_started,
                    ),
                )
                entry_id = cursor.lastrowid
            assert entry_id is not None
            return entry_id

        entry_id = self._run(insert)
        self._started_monotonic[entry_id] = time.monotonic()
        return entry_id

    def finish(
        self,
        entry_id: int,
        outcome: Outcome,
        *,
        error_code: str | None = None,
        message: str | None = None,
        details: str | None = None,
    ) -> None:
        """Record how the operation :meth:`start` returned ``entry_id`` for ended.

        An entry that no longer exists (its database was damaged and replaced in the
        meantime) is only logged.
        """
        outcome = _final_outcome(outcome)
        now = _utcnow()
        began = self._started_monotonic.pop(entry_id, None)
        elapsed = None if began is None else time.monotonic() - began

        def update(conn: sqlite3.Connection) -> bool:
            with _write_transaction(conn):
                row = conn.execute(
                    "SELECT started_at FROM history WHERE id = ?", (entry_id,)
                ).fetchone()
                if row is None:
                    return False
                duration = elapsed
                if duration is None:  # started by another process: wall clock it is
                    duration = max((now - _from_text(row[0])).total_seconds(), 0.0)
                conn.execute(
                    "UPDATE history SET finished_at = ?, outcome = ?, error_code = ?,"
                    " message = ?, details = ?, duration_seconds = ?, message_source = ?,"
                    " details_source = ? WHERE id = ?",
                    (
                        _to_text(now),
                        outcome.value,
                        error_code,
                        _plain(message),
                        _plain(details),
                        duration,
                        source_of(message),
                        source_of(details),
                        entry_id,
                    ),
                )
            return True

        if not self._run(update):
            log.warning(
                "History entry %d does not exist; its outcome %s is lost", entry_id, outcome
            )

    def record(
        self,
        operation: Operation,
        outcome: Outcome,
        product: str | None = None,
        from_version: str | None = None,
        to_version: str | None = None,
        *,
        error_code: str | None = None,
        message: str | None = None,
        details: str | None = None,
        started_at: datetime | None = None,
    ) -> int:
        """Record an operation that has already ended (such as a check), in one write.

        ``started_at`` (timezone-aware) is when it began; by default, now, with a
        duration of zero.
        """
        operation = Operation(operation)
        outcome = _final_outcome(outcome)
        now = _utcnow()
        began = now if started_at is None else _aware(started_at)
        duration = max((now - began).total_seconds(), 0.0)
        pid, pid_started = _current_process()

        def insert(conn: sqlite3.Connection) -> int:
            with _write_transaction(conn):
                cursor = conn.execute(
                    "INSERT INTO history (started_at, finished_at, operation, product,"
                    " from_version, to_version, outcome, error_code, message, details,"
                    " duration_seconds, owner_pid, owner_started, message_source,"
                    " details_source) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        _to_text(began),
                        _to_text(now),
                        operation.value,
                        product,
                        from_version,
                        to_version,
                        outcome.value,
                        error_code,
                        _plain(message),
                        _plain(details),
                        duration,
                        pid,
                        pid_started,
                        source_of(message),
                        source_of(details),
                    ),
                )
                entry_id = cursor.lastrowid
            assert entry_id is not None
            return entry_id

        return self._run(insert)

    def mark_interrupted(self) -> list[HistoryEntry]:
        """Close the entries whose process died while they were in progress.

        They become ``FAILED`` with the error code and message ``interrupted`` and are
        returned, newest first. Entries whose process still runs (this one, or a tray
        app or command line working right now) are left alone.
        """
        now = _utcnow()

        def sweep(conn: sqlite3.Connection) -> list[int]:
            with _write_transaction(conn):
                rows = conn.execute(
                    "SELECT id, owner_pid, owner_started FROM history WHERE outcome = ?",
                    (Outcome.IN_PROGRESS.value,),
                ).fetchall()
                dead = [row[0] for row in rows if not _process_alive(row[1], row[2])]
                message = _("interrupted")
                for entry_id in dead:
                    conn.execute(
                        "UPDATE history SET finished_at = ?, outcome = ?, error_code = ?,"
                        " message = ?, message_source = ? WHERE id = ? AND outcome = ?",
                        (
                            _to_text(now),
                            Outcome.FAILED.value,
                            "interrupted",
                            str(message),
                            source_of(message),
                            entry_id,
                            Outcome.IN_PROGRESS.value,
                        ),
                    )
            return dead

        dead = self._run(sweep)
        if not dead:
            return []
        marks = ", ".join("?" * len(dead))
        return self._select(f"WHERE id IN ({marks}) ORDER BY id DESC", tuple(dead))

    # --- reading -------------------------------------------------------------------------

    def entries(
        self,
        product: str | None = None,
        limit: int = 100,
        operations: Collection[Operation] | None = None,
    ) -> list[HistoryEntry]:
        """The newest ``limit`` entries, newest first, of one product and/or operations.

        Order is the order in which entries were started (ids), which a clock set back
        cannot scramble.
        """
        if limit <= 0:
            return []
        conditions: list[str] = []
        params: list[Any] = []
        if product is not None:
            conditions.append("product = ?")
            params.append(product)
        if operations is not None:
            wanted = sorted({Operation(op).value for op in operations})
            if not wanted:
                return []
            conditions.append(f"operation IN ({', '.join('?' * len(wanted))})")
            params.extend(wanted)
        where = f"WHERE {' AND '.join(conditions)} " if conditions else ""
        return self._select(f"{where}ORDER BY id DESC LIMIT ?", (*params, limit))

    def get(self, entry_id: int) -> HistoryEntry | None:
        """The entry with this id, if there is one."""
        found = self._select("WHERE id = ?", (entry_id,))
        return found[0] if found else None

    def _select(self, tail: str, params: tuple[Any, ...]) -> list[HistoryEntry]:
        def query(conn: sqlite3.Connection) -> list[Any]:
            return conn.execute(f"SELECT {_COLUMNS} FROM history {tail}", params).fetchall()

        entries = []
        for row in self._run(query):
            entry = _entry_from_row(row)
            if entry is not None:
                entries.append(entry)
        return entries

    # --- closing -------------------------------------------------------------------------

    def close(self) -> None:
        """Close the database (again is harmless)."""
        with self._mutex:
            self._close_connection()

    def _close_connection(self) -> None:
        if self._conn is not None:
            with contextlib.suppress(sqlite3.Error):
                self._conn.close()
            self._conn = None

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


# --- helpers ----------------------------------------------------------------------------


def _is_corruption(exc: sqlite3.Error) -> bool:
    """Whether SQLite says the file is damaged or not a database at all."""
    code = getattr(exc, "sqlite_errorcode", None)
    if not isinstance(code, int):
        return False
    return (code & 0xFF) in (sqlite3.SQLITE_CORRUPT, sqlite3.SQLITE_NOTADB)


def _final_outcome(outcome: Outcome) -> Outcome:
    outcome = Outcome(outcome)
    if outcome is Outcome.IN_PROGRESS:
        raise ValueError("an operation cannot finish in progress")
    return outcome


def _utcnow() -> datetime:
    return datetime.now(UTC)


def _aware(moment: datetime) -> datetime:
    if moment.tzinfo is None:
        raise ValueError("timestamps must be timezone-aware")
    return moment.astimezone(UTC)


def _to_text(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="microseconds")


def _from_text(text: str) -> datetime:
    moment = datetime.fromisoformat(text)
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


_own_process: tuple[int, float | None] | None = None


def _current_process() -> tuple[int, float | None]:
    """This process's pid and start time (seconds since the epoch), looked up once."""
    global _own_process
    pid = os.getpid()
    if _own_process is None or _own_process[0] != pid:
        started: float | None
        try:
            started = psutil.Process(pid).create_time()
        except (psutil.Error, OSError):
            started = None
        _own_process = (pid, started)
    return _own_process


def _process_alive(pid: object, started: object) -> bool:
    """Whether the process that wrote an entry still runs (the same one, not a pid reuse)."""
    if not isinstance(pid, int):
        return False
    try:
        actual = psutil.Process(pid).create_time()
    except psutil.NoSuchProcess:  # includes zombies: they run no more code
        return False
    except (psutil.AccessDenied, OSError):
        return True  # it exists and nothing says it is another process
    if not isinstance(started, (int, float)):
        return True
    return abs(actual - started) < _START_TIME_TOLERANCE


def _plain(text: str | None) -> str | None:
    return None if text is None else str(text)


def _entry_from_row(row: tuple[Any, ...]) -> HistoryEntry | None:
    try:
        return HistoryEntry(
            id=int(row[0]),
            started_at=_from_text(row[1]),
            finished_at=_from_text(row[2]) if row[2] is not None else None,
            operation=Operation(row[3]),
            product=row[4],
            from_version=row[5],
            to_version=row[6],
            outcome=Outcome(row[7]),
            error_code=row[8],
            message=row[9],
            details=row[10],
            duration_seconds=float(row[11]) if row[11] is not None else None,
            message_source=row[12] if isinstance(row[12], str) else None,
            details_source=row[13] if isinstance(row[13], str) else None,
        )
    except (TypeError, ValueError) as exc:
        # A newer updater may record operations or outcomes this one does not know.
        log.warning("Skipping history entry %r that this version cannot read: %s", row[0], exc)
        return None
