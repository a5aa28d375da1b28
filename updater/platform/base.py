"""What the updater needs from the operating system, and the parts every OS shares.

:class:`Platform` is the contract; :mod:`updater.platform.posix` and
:mod:`updater.platform.windows` implement it, and :data:`updater.platform.current` is the
one for this computer. Everything that can be written once for both systems lives in
:class:`PsutilPlatform` here: finding the processes that run from a folder (through
psutil, which hides how each OS lists processes), waiting for them to end, killing a
process tree, and renaming a folder with retries while another program holds a file.

The OS-specific classes only override the hooks: how paths compare (Windows ignores
letter case), how a program is *asked* to close (SIGTERM, or WM_CLOSE to its windows),
which rename errors are worth retrying, and the things that only exist on one side
(the registry, file version resources, exclusive-open probes).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import subprocess
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO, ClassVar, Protocol

import psutil

from updater.errors import FileLockedError
from updater.i18n import _

#: The Task Scheduler folder of the updater's tasks.
TASK_FOLDER = "InnovaCommerce Updater"
#: The daily silent update, run as SYSTEM.
NIGHTLY_TASK = TASK_FOLDER + "\\Nightly update"
#: Run on demand, as SYSTEM, by the tray (users may start it, not change it):
#: ``innova-update apply-requests`` (see :mod:`updater.machine.elevation`).
APPLY_TASK = TASK_FOLDER + "\\Apply requests"


__all__ = [
    "KILL_WAIT_SECONDS",
    "Channel",
    "ChannelListener",
    "LinkRefusedError",
    "Platform",
    "ProcessInfo",
    "PsutilPlatform",
    "RenameFunc",
    "backoff_delays",
    "channel_name",
    "wait_gone",
]

#: How long to wait for a killed process to disappear. Killing cannot be refused, so
#: this only covers the OS tearing the process down (a process stuck in the kernel, for
#: example on a dead network drive, can take longer; it is then reported as alive).
KILL_WAIT_SECONDS = 5.0

#: The longest pause between two rename attempts.
MAX_RETRY_DELAY = 1.0

#: The PID-reuse guard: a process whose start time differs by more than this from the
#: one recorded when it was found is another process that got the same number.
_START_TIME_TOLERANCE = 0.01

#: How a folder is renamed; a parameter so that the retry loop can be tested.
RenameFunc = Callable[[Path, Path], None]


@dataclass(frozen=True)
class ProcessInfo:
    """A running process, as found by :meth:`Platform.find_processes`.

    Attributes:
        pid: The process id.
        name: The process name as the OS reports it (``TPV.exe``, ``tpv``).
        exe: The full path of its executable, resolved.
        started: When it started (seconds since the epoch, as psutil reports it), used
            to make sure a later close or kill does not hit another process that got
            the same id in the meantime. ``None`` skips that check.
    """

    pid: int
    name: str
    exe: Path
    started: float | None = None


class Platform(Protocol):
    """Everything the updater asks of the operating system."""

    @property
    def name(self) -> str:
        """``"windows"`` or ``"posix"``."""
        ...

    def find_processes(self, install_dir: Path) -> list[ProcessInfo]:
        """Processes whose executable lives inside ``install_dir`` (at any depth).

        Paths are resolved before they are compared (letter case is ignored on
        Windows). Processes the updater may not inspect (another user's, without
        administrator rights) and processes that end while being looked at are skipped.
        The updater's own process is never included.
        """
        ...

    def close_processes(
        self, procs: Sequence[ProcessInfo], *, graceful_timeout: float, force: bool
    ) -> list[ProcessInfo]:
        """Ask ``procs`` to close, wait up to ``graceful_timeout`` seconds, then kill the
        survivors if ``force``. Returns the processes still alive at the end."""
        ...

    def wait_for_exit(
        self, install_dir: Path, timeout: float, poll: float = 0.5
    ) -> list[ProcessInfo]:
        """Wait until no process runs from ``install_dir`` or ``timeout`` seconds pass.

        Returns what still runs (empty when everything has exited).
        """
        ...

    def pending_reboot(self) -> bool | None:
        """Whether the OS waits for a restart to finish installing something (an
        installer's replaced files may still be in use until then); ``None`` when this
        cannot be told on this system."""
        ...

    def desktop_session(self) -> str:
        """Which desktop session this process runs in, as text (``"1"``, ``":0"``).

        Two sessions of one user (a console and a remote desktop) get different values;
        ``""`` when the OS tells nothing (a process outside any desktop session).
        """
        ...

    def read_registry_version(self, registry_key: str) -> str | None:
        """``DisplayVersion`` of the program's uninstall entry, ``None`` if there is none."""
        ...

    def read_file_version(self, exe: Path) -> str | None:
        """The file version stored in an executable (``"4.2.0.17"``), ``None`` if none."""
        ...

    def replace_dir_retrying(
        self,
        src: Path,
        dst: Path,
        *,
        attempts: int = 8,
        first_delay: float = 0.05,
        rename: RenameFunc = os.rename,
    ) -> None:
        """Rename ``src`` to ``dst``, retrying while a file is briefly held by another
        program (an antivirus scanning a fresh file, an indexer).

        Only "in use" / permission errors are retried, with a pause that doubles after
        each attempt; when they persist, :class:`~updater.errors.FileLockedError` names
        the file in use (or ``src``). Any other error (``dst`` exists, ``src`` is
        missing, another drive) is raised at once, as the ``OSError`` it is.
        """
        ...

    def find_locked_file(self, root: Path) -> Path | None:
        """The first file or folder under ``root`` that another program holds open so
        that it cannot be renamed or replaced; ``None`` if there is none (or the OS has
        no such locks)."""
        ...

    def fsync_dir(self, path: Path) -> None:
        """Make the entries of folder ``path`` (renames, new files) durable on disk."""
        ...

    def flush_tree(self, root: Path, files: Sequence[Path], folders: Sequence[Path]) -> None:
        """Make a tree written without syncs durable in one batch: the new ``files``
        and ``folders`` (their entries) under ``root``. Called once, after the last file
        is written and before anything (the journal's ``staged``) says the tree is
        complete: the guarantee of a sync per file as it is written, for less.

        Raises:
            OSError: the disk reports that something could not be written.
        """
        ...

    def popen_kwargs(self) -> dict[str, Any]:
        """Extra :class:`subprocess.Popen` arguments that start a command in its own
        process group (so that it and its children can be stopped together) without
        opening a console window."""
        ...

    def start_child(self, argv: Sequence[str], **kwargs: Any) -> subprocess.Popen[bytes]:
        """Start ``argv`` (``kwargs`` as for :class:`subprocess.Popen`) so that
        :meth:`wait_child_tree` can end it with every process it starts: in a process
        group of its own on POSIX, in a job object on Windows.

        Raises:
            OSError: the program could not be started.
        """
        ...

    def installer_command(self, installer: Path, fmt: str, args: Sequence[str]) -> list[str]:
        """The command that runs an installer package silently (``fmt``: exe or msi)."""
        ...

    def export_uninstall_entry(self, registry_key: str, dest: Path) -> str | None:
        """Save the program's uninstall registry entry into ``dest``; returns where it
        was found (to import it back there), ``None`` when there is none."""
        ...

    def import_uninstall_entry(self, source: Path, where: str) -> None:
        """Put back an uninstall entry saved by :meth:`export_uninstall_entry`."""
        ...

    def needs_elevation(self, install_dir: Path) -> bool:
        """Whether updates of ``install_dir`` must be handed to the elevated updater
        (Windows: this process is not an administrator). False where the updater applies
        them itself."""
        ...

    def start_elevated_worker(self) -> None:
        """Start the elevated updater that serves requests (Windows: the on-demand
        SYSTEM task ``apply-requests``).

        Raises:
            OSError: it could not be started.
        """
        ...

    #: Who the elevated updater must be: the requester refuses a channel served by
    #: anyone else (Windows: the SID of SYSTEM; POSIX: uid 0).
    elevated_identity: str

    def own_identity(self) -> str:
        """Who this process runs as, in the form of :attr:`elevated_identity`."""
        ...

    def listen_elevated(self, name: str) -> ChannelListener:
        """Serve the channel ``name`` (the elevated side). Any local user may connect;
        each connection knows its user from the OS, not from what the user sends.

        Raises:
            OSError: the channel cannot be made, or another process already serves it.
        """
        ...

    def connect_elevated(self, name: str) -> Channel:
        """Connect to the channel ``name`` served by :attr:`elevated_identity`.

        Raises:
            FileNotFoundError: nobody serves it (yet).
            PermissionError: someone else serves it (a squatter); nothing was sent.
            OSError: it cannot be reached.
        """
        ...

    def register_daily_task(
        self, name: str, program: Path, arguments: str, description: str, at: tuple[int, int]
    ) -> None:
        """Run ``program arguments`` every day at ``at`` (hour, minute) with the highest
        rights (Windows: a SYSTEM scheduled task; replaced if it exists).

        Raises:
            OSError: it could not be registered (or the OS does it another way).
        """
        ...

    def register_on_demand_task(
        self, name: str, program: Path, arguments: str, description: str
    ) -> None:
        """Register a task that runs ``program arguments`` with the highest rights when
        started, and that ordinary users may start (not change).

        Raises:
            OSError: it could not be registered.
        """
        ...

    def allow_users_to_submit(self, folder: Path) -> None:
        """Let ordinary users create files in ``folder`` (inside a folder otherwise
        restricted to administrators).

        Raises:
            OSError: the permissions could not be set.
        """
        ...

    def remove_task(self, name: str) -> None:
        """Remove a task registered by :meth:`register_daily_task` (none is fine)."""
        ...

    def restrict_to_administrators(self, folder: Path) -> None:
        """Create ``folder`` if needed and let only administrators (and SYSTEM) change
        anything in it; everyone may read.

        Raises:
            OSError: the permissions could not be set.
        """
        ...

    def make_private(self, folder: Path) -> None:
        """Create ``folder`` if needed and let only administrators (and SYSTEM) into it
        at all: not even read (a snapshot's copy of the shop's data).

        Raises:
            OSError: the permissions could not be set.
        """
        ...

    def others_may_write(self, folder: Path) -> str | None:
        """Why accounts other than administrators (and this process's own) may change
        what is in ``folder``: they own it, or its permissions let them create or
        delete entries or change the permissions; ``None`` when they may not. A
        sentence for a person.

        Raises:
            OSError: the folder's permissions cannot be read.
        """
        ...

    def stdin_is_terminal(self) -> bool:
        """Whether a person can answer a prompt on standard input (``isatty`` alone
        is not enough on Windows, where the ``NUL`` device claims to be one)."""
        ...

    def restrict_to_owner(self, path: Path) -> None:
        """Let only this process's account read or change the file ``path`` (a private
        signing key): Windows ignores POSIX modes, so its ACL says so.

        Raises:
            OSError: the permissions could not be set.
        """
        ...

    def is_system(self) -> bool:
        """Whether this process runs as the machine's own account, as the updater's
        tasks do (Windows: SYSTEM; POSIX: root): then nothing it runs may be within
        reach of standard users."""
        ...

    def writable_by_others(self, program: Path) -> str | None:
        """Why someone other than an administrator (or this process's account) could
        change the file ``program``: its content, or what is at its path (a link or a
        swappable folder on the way, see :meth:`replaceable_by_others`); ``None`` when
        nobody but administrators can. A sentence for a person.

        Raises:
            OSError: its permissions cannot be read.
        """
        ...

    def take_ownership(self, folder: Path) -> None:
        """Make administrators the owner of ``folder`` and of everything in it (a folder
        someone else made first stays theirs otherwise, whatever its permissions say).

        Raises:
            OSError: the owner could not be changed.
        """
        ...

    # --- paths that users may write: never follow a link ------------------------------

    def replaceable_by_others(self, path: Path) -> str | None:
        """Why someone other than an administrator (or this process's own account)
        could put something else at ``path``: a folder on the way (or ``path`` itself)
        is a link or junction, or one may be renamed or deleted and made anew by such a
        user; ``None`` when nobody but administrators can. A sentence for a person.
        Only what exists is looked at."""
        ...

    def open_no_follow(self, path: Path) -> BinaryIO:
        """Open the regular file ``path`` for reading, following no link, junction or
        mount point anywhere on its way.

        Raises:
            LinkRefusedError: a link is on the way, or the file is one.
            OSError: it cannot be opened (not there, not a regular file…).
        """
        ...

    def scan_no_follow(self, folder: Path) -> list[tuple[str, bool, int]]:
        """The entries of ``folder`` as ``(name, is_folder, size)``, sorted by name,
        reached and listed without following a link.

        Raises:
            LinkRefusedError: a link is on the way, or one is in the folder.
            OSError: it cannot be listed, or it holds a special file.
        """
        ...

    def remove_no_follow(self, path: Path) -> None:
        """Delete the file or tree ``path`` (if there) without following a link on its
        way or in it: links in it are deleted themselves, their targets untouched, also
        when a folder is swapped for a link while the deletion runs.

        Raises:
            LinkRefusedError: a link is on the way to ``path``.
            OSError: something could not be deleted.
        """
        ...

    def wait_child_tree(self, proc: subprocess.Popen[bytes], timeout: float) -> bool:
        """Wait up to ``timeout`` seconds for ``proc`` (started with :meth:`popen_kwargs`).

        Returns ``True`` if it exited by itself, ``False`` if it was killed because the
        time ran out. Either way, on return ``proc`` has been reaped and the processes
        it started have been killed as far as the OS lets them be found.
        """
        ...


class LinkRefusedError(OSError):
    """A link, junction or mount point is where the updater will not follow one."""


class Channel:
    """One connection between a requester and the elevated updater: whole messages,
    each read only up to a size limit, never waiting longer than asked (a side that
    stops reading cannot hold the other), and the identity of the process at the other
    end as the OS reports it (never as that process claims). The platforms implement
    it on their transport."""

    def __init__(self, identify: Callable[[], str]) -> None:
        self._identify = identify
        self._peer: str | None = None

    def send(self, data: bytes, timeout: float) -> None:
        """Send one message, waiting at most ``timeout`` seconds for room.

        Raises:
            TimeoutError: the other side does not read.
            OSError (or EOFError): the other side is gone.
        """
        raise NotImplementedError

    def receive(self, timeout: float, limit: int) -> bytes | None:
        """The next message, or ``None`` when none began within ``timeout`` seconds.

        Raises:
            EOFError: the other side closed the channel.
            OSError: the message is longer than ``limit`` (it is not read), it did not
                arrive whole in time, or the channel broke.
        """
        raise NotImplementedError

    def peer(self) -> str:
        """Who the other side runs as (on Windows known only once it has sent a
        message: a pipe's client is identified by impersonating it).

        Raises:
            OSError: the OS cannot tell.
        """
        if self._peer is None:
            self._peer = self._identify()
        return self._peer

    def close(self) -> None:
        raise NotImplementedError


class ChannelListener(Protocol):
    """The elevated side of a channel: hands out one :class:`Channel` per requester."""

    def accept(self, timeout: float) -> Channel | None:
        """The next requester, or ``None`` when none came within ``timeout`` seconds."""
        ...

    def close(self) -> None: ...


def channel_name(state_root: Path) -> str:
    """The name of the elevated updater's channel for one state folder (the machine
    has one; tests have many, side by side)."""
    key = os.path.normcase(Path(state_root).absolute()).encode("utf-8")
    return "innova-updater-" + hashlib.sha256(key).hexdigest()[:24]


def backoff_delays(attempts: int, first_delay: float, cap: float = MAX_RETRY_DELAY) -> list[float]:
    """The pauses between ``attempts`` tries: ``first_delay`` doubling, at most ``cap``.

    There is one pause fewer than there are attempts (no pause after the last one).
    """
    if attempts < 1:
        raise ValueError("attempts must be at least 1")
    if first_delay < 0:
        raise ValueError("first_delay must not be negative")
    return [min(first_delay * 2**i, cap) for i in range(attempts - 1)]


def _resolved(path: str) -> str:
    """``path`` with links and ``..`` resolved; unchanged if that is not possible."""
    try:
        return str(Path(path).resolve())
    except (OSError, RuntimeError):
        return path


def _is_gone(proc: psutil.Process) -> bool:
    """Whether ``proc`` has ended. A zombie has ended: only its parent's bookkeeping is
    left (and reaping it is the parent's job, not ours)."""
    try:
        return not proc.is_running() or proc.status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True
    except psutil.AccessDenied:
        return False


def wait_gone(procs: Iterable[psutil.Process], timeout: float) -> list[psutil.Process]:
    """Poll until every process of ``procs`` has ended or ``timeout`` passes; returns the
    ones still running. Never reaps: a caller's own children stay theirs to wait for."""
    pending = list(procs)
    deadline = time.monotonic() + max(timeout, 0.0)
    pause = 0.005
    while True:
        pending = [p for p in pending if not _is_gone(p)]
        remaining = deadline - time.monotonic()
        if not pending or remaining <= 0:
            return pending
        time.sleep(min(pause, remaining))
        pause = min(pause * 2, 0.1)


class PsutilPlatform:
    """The parts of :class:`Platform` that are the same on every OS, built on psutil.

    Subclasses provide the hooks (:meth:`path_key`, :meth:`_ask_to_close`,
    :meth:`_is_retryable`) and the OS-only methods.
    """

    name: ClassVar[str] = "generic"
    #: The separator :meth:`path_key` uses.
    sep: ClassVar[str] = os.sep

    # ------------------------------------------------------------------ hooks

    def path_key(self, path: str) -> str:
        """A form of ``path`` in which equal paths are equal strings."""
        return os.path.normpath(path)

    def _ask_to_close(self, procs: Sequence[psutil.Process]) -> None:
        """Ask ``procs`` to close, without forcing them."""
        for proc in procs:
            with contextlib.suppress(psutil.NoSuchProcess, psutil.AccessDenied):
                proc.terminate()

    def _is_retryable(self, exc: OSError) -> bool:
        """Whether a failed rename may succeed if tried again a moment later."""
        return isinstance(exc, PermissionError)

    def _process_name(self, proc: psutil.Process) -> str | None:
        """What the OS calls ``proc``; ``None`` when it does not say (on Windows psutil
        reads the name from the image path, which may be refused: see
        :meth:`_image_path`)."""
        try:
            return proc.name() or None
        except (psutil.Error, OSError):
            return None

    def _image_path(self, proc: psutil.Process) -> str | None:
        """The program file ``proc`` runs, ``None`` when the OS does not tell.

        Raises:
            psutil.NoSuchProcess, psutil.AccessDenied: as ``proc.exe()`` does (psutil's
            errors are not ``OSError``).
        """
        try:
            return proc.exe() or None
        except OSError:  # an error psutil does not translate: nothing to go on
            return None

    def find_locked_file(self, root: Path) -> Path | None:
        return None

    def _kill_group(self, pid: int) -> None:
        """Kill the process group led by ``pid``, where the OS has such groups."""

    # ------------------------------------------------------------------ processes

    def is_inside(self, path: str, root_key: str) -> bool:
        """Whether ``path`` is inside the folder whose :meth:`path_key` is ``root_key``."""
        prefix = root_key if root_key.endswith(self.sep) else root_key + self.sep
        return self.path_key(path).startswith(prefix)

    def find_processes(self, install_dir: Path) -> list[ProcessInfo]:
        given = os.path.abspath(install_dir)  # noqa: PTH100 - a str, links not followed
        roots = {self.path_key(given), self.path_key(_resolved(given))}
        own = os.getpid()
        found: list[ProcessInfo] = []
        resolved_cache: dict[str, str] = {}
        for proc in psutil.process_iter(["create_time", "status"]):
            try:
                info = proc.info
                if proc.pid == own or info.get("status") == psutil.STATUS_ZOMBIE:
                    continue
                exe = self._image_path(proc)
                if not exe:
                    continue
                if not any(self.is_inside(exe, root) for root in roots):
                    if exe not in resolved_cache:
                        resolved_cache[exe] = _resolved(exe)
                    exe = resolved_cache[exe]
                    if not any(self.is_inside(exe, root) for root in roots):
                        continue
                found.append(
                    ProcessInfo(
                        pid=proc.pid,
                        name=self._process_name(proc) or Path(exe).name,
                        exe=Path(exe),
                        started=info.get("create_time"),
                    )
                )
            except (psutil.NoSuchProcess, psutil.AccessDenied):
                continue  # ZombieProcess is a NoSuchProcess
        return found

    def _handles(self, procs: Sequence[ProcessInfo]) -> list[tuple[ProcessInfo, psutil.Process]]:
        """psutil handles for the processes of ``procs`` that still run, skipping any
        whose id now belongs to another process."""
        handles: list[tuple[ProcessInfo, psutil.Process]] = []
        for info in procs:
            try:
                proc = psutil.Process(info.pid)
            except (psutil.NoSuchProcess, psutil.AccessDenied):
                continue
            if info.started is not None:
                try:
                    if abs(proc.create_time() - info.started) > _START_TIME_TOLERANCE:
                        continue  # the id now belongs to another process
                except psutil.NoSuchProcess:
                    continue
                except psutil.AccessDenied:
                    pass  # its start time cannot be read: trust the id
            if not _is_gone(proc):
                handles.append((info, proc))
        return handles

    def close_processes(
        self, procs: Sequence[ProcessInfo], *, graceful_timeout: float, force: bool
    ) -> list[ProcessInfo]:
        handles = self._handles(procs)
        if not handles:
            return []
        running = [proc for _info, proc in handles]
        self._ask_to_close(running)
        alive = wait_gone(running, graceful_timeout)
        if alive and force:
            for proc in alive:
                try:
                    proc.kill()
                except psutil.NoSuchProcess:
                    pass
                except psutil.AccessDenied:
                    pass  # reported as alive below
            alive = wait_gone(alive, KILL_WAIT_SECONDS)
        alive_pids = {proc.pid for proc in alive}
        return [info for info, proc in handles if proc.pid in alive_pids]

    def wait_for_exit(
        self, install_dir: Path, timeout: float, poll: float = 0.5
    ) -> list[ProcessInfo]:
        deadline = time.monotonic() + max(timeout, 0.0)
        while True:
            running = self.find_processes(install_dir)
            remaining = deadline - time.monotonic()
            if not running or remaining <= 0:
                return running
            time.sleep(min(max(poll, 0.01), remaining))

    def _kill_tree(self, pid: int, descendants: Sequence[psutil.Process]) -> None:
        """Kill ``pid``'s process group (where there is one), ``pid`` itself and
        ``descendants`` (found before, while ``pid`` was still alive), then wait for the
        descendants to end. ``pid`` itself is left for its parent to reap."""
        self._kill_group(pid)
        with contextlib.suppress(psutil.NoSuchProcess, psutil.AccessDenied):
            psutil.Process(pid).kill()
        for proc in descendants:
            with contextlib.suppress(psutil.NoSuchProcess, psutil.AccessDenied):
                proc.kill()
        wait_gone(descendants, KILL_WAIT_SECONDS)

    @staticmethod
    def _descendants(pid: int) -> list[psutil.Process]:
        try:
            return psutil.Process(pid).children(recursive=True)
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            return []

    def popen_kwargs(self) -> dict[str, Any]:
        return {}

    def start_child(self, argv: Sequence[str], **kwargs: Any) -> subprocess.Popen[bytes]:
        return subprocess.Popen(list(argv), **kwargs, **self.popen_kwargs())

    def wait_child_tree(self, proc: subprocess.Popen[bytes], timeout: float) -> bool:
        try:
            proc.wait(timeout=max(timeout, 0.0))
            return True
        except subprocess.TimeoutExpired:
            self._kill_tree(proc.pid, self._descendants(proc.pid))
            proc.wait()
            return False
        except BaseException:  # interrupted (Ctrl+C): leave nothing behind
            self._kill_tree(proc.pid, self._descendants(proc.pid))
            proc.wait()
            raise

    # ------------------------------------------------------------------ files

    def replace_dir_retrying(
        self,
        src: Path,
        dst: Path,
        *,
        attempts: int = 8,
        first_delay: float = 0.05,
        rename: RenameFunc = os.rename,
    ) -> None:
        delays = backoff_delays(attempts, first_delay)
        last: OSError | None = None
        for attempt in range(attempts):
            try:
                rename(src, dst)
                return
            except OSError as exc:
                if not self._is_retryable(exc):
                    raise
                last = exc
            if attempt < len(delays):
                time.sleep(delays[attempt])
        locked = self.find_locked_file(src) or src
        raise FileLockedError(
            _("The folder {src} could not be moved to {dst}: {path} is in use.").format(
                src=src, dst=dst, path=locked
            ),
            hint=_(
                "Close the program and any window that shows this folder, wait a moment "
                "(an antivirus may be checking the new files) and try again."
            ),
            path=locked,
        ) from last

    def fsync_dir(self, path: Path) -> None:
        return None

    def flush_tree(self, root: Path, files: Sequence[Path], folders: Sequence[Path]) -> None:
        """One sync per file, then per folder, after all are written (the portable way;
        the OS twins do better where they can)."""
        for path in files:
            fd = os.open(path, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        for folder in folders:
            self.fsync_dir(folder)

    def read_registry_version(self, registry_key: str) -> str | None:
        return None

    def read_file_version(self, exe: Path) -> str | None:
        return None
