"""The :class:`~updater.platform.base.Platform` for Linux and macOS.

The programs the updater manages are Windows programs; this implementation exists so
that the updater can be developed and tested on a POSIX machine with real processes and
real files. What has no POSIX equivalent says so and returns ``None``:

* there is no registry and executables carry no version resource, so
  :meth:`read_registry_version` and :meth:`read_file_version` return ``None``;
* POSIX does not stop a file from being renamed because a program has it open, so
  :meth:`find_locked_file` returns ``None``.
"""

from __future__ import annotations

import ctypes
import errno
import functools
import itertools
import os
import shutil
import signal
import socket
import stat
import struct
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, BinaryIO, ClassVar

import psutil

from updater.i18n import _
from updater.platform.base import Channel, LinkRefusedError, PsutilPlatform, wait_gone

__all__ = ["REBOOT_REQUIRED_FILE", "PosixPlatform"]


@functools.cache
def _libc() -> ctypes.CDLL:
    """The C library, for the calls Python's :mod:`os` lacks (``syncfs``)."""
    return ctypes.CDLL(None, use_errno=True)


#: Debian's and Ubuntu's mark that a restart is needed (written by package scripts).
REBOOT_REQUIRED_FILE = Path("/var/run/reboot-required")


class PosixPlatform(PsutilPlatform):
    """Linux and macOS: SIGTERM to ask, SIGKILL to force, sessions to group processes."""

    name: ClassVar[str] = "posix"

    # Inherited as they are: path_key (case-sensitive), _ask_to_close (SIGTERM through
    # psutil's terminate), _is_retryable (PermissionError), find_locked_file (None).

    def pending_reboot(self) -> bool | None:
        """Whether Debian's mark :data:`REBOOT_REQUIRED_FILE` is there."""
        return REBOOT_REQUIRED_FILE.exists()

    def desktop_session(self) -> str:
        """The login session (``XDG_SESSION_ID``), else the display the process draws on."""
        for variable in ("XDG_SESSION_ID", "WAYLAND_DISPLAY", "DISPLAY"):
            if value := os.environ.get(variable):
                return f"{variable}={value}"
        return ""

    def read_registry_version(self, registry_key: str) -> str | None:
        """Not available: POSIX has no registry. Always ``None``."""
        return None

    def read_file_version(self, exe: Path) -> str | None:
        """Not available: POSIX executables carry no version resource. Always ``None``."""
        return None

    def find_locked_file(self, root: Path) -> Path | None:
        """Always ``None``: POSIX never refuses a rename because a file is open."""
        return None

    def installer_command(self, installer: Path, fmt: str, args: Sequence[str]) -> list[str]:
        """POSIX has no exe or msi installers; its twin runs the package as a shell
        script (what the tests publish), so that the engine's handling of installers,
        exit codes and rollbacks is exercised here."""
        return ["/bin/sh", str(installer), *args]

    def export_uninstall_entry(self, registry_key: str, dest: Path) -> str | None:
        """Nothing to save: POSIX has no registry. Always ``None``."""
        return None

    def import_uninstall_entry(self, source: Path, where: str) -> None:
        """Nothing to put back: POSIX has no registry."""
        return None

    def flush_tree(self, root: Path, files: Sequence[Path], folders: Sequence[Path]) -> None:
        """On Linux one ``syncfs`` of the file system that holds ``root``: every dirty
        page and inode, the new folders' entries included, and the journal committed once
        (instead of once per file). It reports a write error the kernel has not reported
        to anyone yet (Linux 5.8 and later). Elsewhere a sync per file and folder."""
        if sys.platform.startswith("linux"):
            fd = os.open(root, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
            try:
                if _libc().syncfs(fd) != 0:
                    code = ctypes.get_errno()
                    raise OSError(code, os.strerror(code), str(root))
            finally:
                os.close(fd)
            return
        super().flush_tree(root, files, folders)

    def fsync_dir(self, path: Path) -> None:
        """``fsync`` the folder itself, so that renames and new entries in it survive a
        power cut. File systems that cannot sync a folder (``EINVAL``) are skipped."""
        flags = os.O_RDONLY | getattr(os, "O_DIRECTORY", 0)
        fd = os.open(path, flags)
        try:
            os.fsync(fd)
        except OSError as exc:
            if exc.errno not in (errno.EINVAL, errno.ENOTSUP):
                raise
        finally:
            os.close(fd)

    # ------------------------------------------------------------------ child commands

    def popen_kwargs(self) -> dict[str, Any]:
        """A new session, hence a new process group whose id is the child's pid."""
        return {"start_new_session": True}

    def _kill_group(self, pid: int) -> None:
        """SIGKILL the process group ``pid`` leads (never the updater's own group)."""
        try:
            pgid = os.getpgid(pid)
        except (ProcessLookupError, PermissionError):
            return
        if pgid != pid or pgid == os.getpgrp():
            return
        members = _group_members(pgid)
        try:
            os.killpg(pgid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            return
        wait_gone([p for p in members if p.pid != pid], 5.0)

    def wait_child_tree(self, proc: subprocess.Popen[bytes], timeout: float) -> bool:
        """Wait without reaping, so that the exited child keeps its process group id
        reserved while the group's leftovers are killed; then reap it."""
        if not hasattr(os, "waitid"):  # macOS has no waitid: reap first, then clean up
            exited = super().wait_child_tree(proc, timeout)
            self._kill_group_after_reap(proc.pid)
            return exited
        try:
            exited = _wait_exit_keeping_zombie(proc.pid, timeout)
            if exited:
                self._kill_group(proc.pid)  # background processes it left behind
            else:
                self._kill_tree(proc.pid, self._descendants(proc.pid))
        except BaseException:  # interrupted (Ctrl+C): leave nothing behind
            self._kill_tree(proc.pid, self._descendants(proc.pid))
            proc.wait()
            raise
        proc.wait()
        return exited

    def _kill_group_after_reap(self, pgid: int) -> None:
        # The leader is gone, so getpgid() cannot confirm the group; its id stays
        # reserved by the kernel for as long as the group has members.
        if pgid == os.getpgrp():
            return
        members = _group_members(pgid)
        if not members:
            return
        try:
            os.killpg(pgid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            return
        wait_gone(members, 5.0)

    # --- elevation -------------------------------------------------------------------

    def needs_elevation(self, install_dir: Path) -> bool:
        """Never: on Linux and macOS the updater runs with the rights it needs (a
        missing right is a pre-flight error)."""
        return False

    def start_elevated_worker(self) -> None:
        raise OSError(errno.ENOTSUP, "no elevated updater task on this system")

    #: root, were there an elevated updater here (tests start one as themselves).
    elevated_identity: str = "0"

    def own_identity(self) -> str:
        return str(os.getuid())

    def listen_elevated(self, name: str) -> _SocketListener:
        """A Unix socket in Linux's abstract namespace (no file that anyone could
        replace); the connecting user comes from ``SO_PEERCRED``."""
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            sock.bind(_socket_address(name))
            sock.listen(16)
        except OSError:
            sock.close()
            raise
        return _SocketListener(sock)

    def connect_elevated(self, name: str) -> Channel:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            try:
                sock.connect(_socket_address(name))
            except ConnectionRefusedError as exc:  # the name is not bound
                raise FileNotFoundError(errno.ENOENT, "nobody serves the channel", name) from exc
            server = _peer_uid(sock)
            if server != self.elevated_identity:
                raise PermissionError(
                    errno.EACCES, f"the channel is served by uid {server}, not the updater", name
                )
        except OSError:
            sock.close()
            raise
        return _SocketChannel(sock, lambda: server)

    # --- machine setup ---------------------------------------------------------------

    def register_daily_task(
        self, name: str, program: Path, arguments: str, description: str, at: tuple[int, int]
    ) -> None:
        """Not done here: on Linux and macOS a cron entry or a systemd timer runs the
        update (docs/deploying.md shows both)."""
        raise OSError(errno.ENOTSUP, "scheduled tasks are set up by cron or systemd here", name)

    def register_on_demand_task(
        self, name: str, program: Path, arguments: str, description: str
    ) -> None:
        """Not needed: nothing is handed to an elevated updater here."""
        return None

    def allow_users_to_submit(self, folder: Path) -> None:
        """Only creates ``folder``: nothing is handed to an elevated updater here."""
        folder.mkdir(parents=True, exist_ok=True)

    def remove_task(self, name: str) -> None:
        return None

    def restrict_to_administrators(self, folder: Path) -> None:
        """Owner (root) may write, others read: mode 0755 on the folder and below."""
        folder.mkdir(parents=True, exist_ok=True)
        for path in [folder, *folder.rglob("*")]:
            if path.is_symlink():
                continue
            mode = 0o755 if path.is_dir() else (path.stat().st_mode & 0o755)
            path.chmod(mode)

    def make_private(self, folder: Path) -> None:
        """Mode 0700: the owner (root) only."""
        folder.mkdir(parents=True, exist_ok=True)
        folder.chmod(0o700)

    def others_may_write(self, folder: Path) -> str | None:
        return _foreign_or_writable(folder, _("Other accounts may write in {path}."))

    def stdin_is_terminal(self) -> bool:
        return sys.stdin is not None and sys.stdin.isatty()

    def restrict_to_owner(self, path: Path) -> None:
        path.chmod(0o600)

    def is_system(self) -> bool:
        return os.geteuid() == 0

    def writable_by_others(self, program: Path) -> str | None:
        return self.replaceable_by_others(program) or _foreign_or_writable(
            program, _("Other accounts may change {path}.")
        )

    def take_ownership(self, folder: Path) -> None:
        """``chown`` to this process's account (root, for the setup), no link followed."""
        for path in [folder, *folder.rglob("*")]:
            os.chown(path, os.geteuid(), os.getegid(), follow_symlinks=False)

    # --- paths that users may write ---------------------------------------------------

    def replaceable_by_others(self, path: Path) -> str | None:
        """From ``/`` down to ``path``: no link, and no folder that another account
        may write (the owner may chmod it; a group- or world-writable folder lets its
        writers rename what is in it, unless its sticky bit stops them for entries
        owned by root or by us). Nothing is there to swap below a name that does not
        exist (what is made there later is opened without following links)."""
        trusted = {0, os.geteuid()}
        current = Path(os.path.abspath(path))  # noqa: PTH100 - lexical, links not followed
        chain = [*reversed(current.parents), current]
        for parent, entry in itertools.pairwise(chain):
            try:
                info = entry.lstat()
            except (FileNotFoundError, NotADirectoryError):
                entry_uid = None  # not there
            else:
                if stat.S_ISLNK(info.st_mode):
                    return _("{path} is a link.").format(path=entry)
                entry_uid = info.st_uid
            folder = parent.lstat()
            writable = entry_uid is not None and folder.st_mode & (stat.S_IWGRP | stat.S_IWOTH)
            sticky_protects = bool(folder.st_mode & stat.S_ISVTX) and entry_uid in trusted
            if folder.st_uid not in trusted or (writable and not sticky_protects):
                return _("Other users may rename or replace what is in {folder}.").format(
                    folder=parent
                )
            if entry_uid is None:
                break
        return None

    def open_no_follow(self, path: Path) -> BinaryIO:
        descriptor = _open_beneath(path, os.O_RDONLY | os.O_NONBLOCK)
        try:
            if not stat.S_ISREG(os.fstat(descriptor).st_mode):
                raise OSError(errno.EINVAL, "not a regular file", str(path))
            os.set_blocking(descriptor, True)
            return os.fdopen(descriptor, "rb")
        except BaseException:
            os.close(descriptor)
            raise

    def scan_no_follow(self, folder: Path) -> list[tuple[str, bool, int]]:
        descriptor = _open_beneath(folder, os.O_RDONLY | os.O_DIRECTORY)
        found = []
        try:
            with os.scandir(descriptor) as entries:
                for entry in entries:
                    info = entry.stat(follow_symlinks=False)
                    if stat.S_ISLNK(info.st_mode):
                        raise LinkRefusedError(
                            errno.ELOOP, "a link, which the updater does not follow",
                            str(folder / entry.name),
                        )  # fmt: skip
                    if not (stat.S_ISDIR(info.st_mode) or stat.S_ISREG(info.st_mode)):
                        raise OSError(
                            errno.EINVAL, "not a regular file or folder", str(folder / entry.name)
                        )
                    found.append((entry.name, stat.S_ISDIR(info.st_mode), info.st_size))
        finally:
            os.close(descriptor)
        return sorted(found)

    def remove_no_follow(self, path: Path) -> None:
        """The folder holding ``path`` is reached without following a link; below it,
        :func:`shutil.rmtree` works through file descriptors (it avoids symlink attacks
        on Linux: ``shutil.rmtree.avoids_symlink_attacks``)."""
        path = Path(os.path.abspath(path))  # noqa: PTH100 - lexical, links not followed
        try:
            parent = _open_beneath(path.parent, os.O_RDONLY | os.O_DIRECTORY)
        except FileNotFoundError:
            return
        try:
            try:
                info = os.stat(path.name, dir_fd=parent, follow_symlinks=False)
            except FileNotFoundError:
                return
            if stat.S_ISDIR(info.st_mode):
                shutil.rmtree(path.name, dir_fd=parent)
            else:
                os.unlink(path.name, dir_fd=parent)
        finally:
            os.close(parent)


def _group_members(pgid: int) -> list[psutil.Process]:
    """The processes of process group ``pgid``."""
    members = []
    for proc in psutil.process_iter():
        try:
            if os.getpgid(proc.pid) == pgid:
                members.append(proc)
        except (ProcessLookupError, PermissionError, psutil.NoSuchProcess):
            continue
    return members


def _wait_exit_keeping_zombie(pid: int, timeout: float) -> bool:
    """Wait up to ``timeout`` seconds for child ``pid`` to exit, without reaping it."""
    deadline = time.monotonic() + max(timeout, 0.0)
    pause = 0.001
    while True:
        try:
            result = os.waitid(os.P_PID, pid, os.WEXITED | os.WNOWAIT | os.WNOHANG)
        except ChildProcessError:
            return True  # already reaped (or SIGCHLD is ignored): it has exited
        if result is not None and result.si_pid == pid:
            return True
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return False
        time.sleep(min(pause, remaining))
        pause = min(pause * 2, 0.05)


def _foreign_or_writable(path: Path, writable: str) -> str | None:
    """Why accounts other than root and ours may change ``path`` itself: they own it,
    or its mode lets group or others write (``writable`` names the second case)."""
    info = path.lstat()
    if info.st_uid not in (0, os.geteuid()):
        return _("{path} belongs to another account (uid {uid}).").format(
            path=path, uid=info.st_uid
        )
    if info.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
        return writable.format(path=path)
    return None


def _socket_address(name: str) -> str:
    if not sys.platform.startswith("linux"):
        raise OSError(errno.ENOTSUP, "no abstract Unix sockets on this system", name)
    return "\0" + name


def _peer_uid(sock: socket.socket) -> str:
    """The user of the process at the other end of a Unix socket, from the kernel."""
    creds = sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
    _pid, uid, _gid = struct.unpack("3i", creds)
    return str(uid)


#: How long the rest of a message may take once its first bytes came.
_MESSAGE_SECONDS = 10.0


class _SocketChannel(Channel):
    """Messages on a stream socket: a 4-byte big-endian length, then the bytes."""

    def __init__(self, sock: socket.socket, identify: Any) -> None:
        super().__init__(identify)
        self._sock = sock

    def send(self, data: bytes, timeout: float) -> None:
        self._sock.settimeout(max(timeout, 0.001))
        try:
            self._sock.sendall(struct.pack("!I", len(data)) + data)
        except TimeoutError:
            raise
        except OSError as exc:
            raise EOFError(str(exc)) from exc

    def receive(self, timeout: float, limit: int) -> bytes | None:
        self._sock.settimeout(max(timeout, 0.0) or None)
        if timeout <= 0:
            self._sock.setblocking(False)
        try:
            first = self._sock.recv(1)
        except (TimeoutError, BlockingIOError):
            return None
        if not first:
            raise EOFError("the other side closed the channel")
        deadline = time.monotonic() + _MESSAGE_SECONDS
        header = first + self._exactly(3, deadline)
        (size,) = struct.unpack("!I", header)
        if size > limit:
            raise OSError(errno.EMSGSIZE, f"a message of {size} bytes (at most {limit})")
        return self._exactly(size, deadline)

    def _exactly(self, size: int, deadline: float) -> bytes:
        chunks = []
        while size:
            left = deadline - time.monotonic()
            if left <= 0:
                raise OSError(errno.ETIMEDOUT, "a message did not arrive whole in time")
            self._sock.settimeout(left)
            try:
                chunk = self._sock.recv(min(size, 65536))
            except TimeoutError as exc:
                raise OSError(errno.ETIMEDOUT, "a message did not arrive whole in time") from exc
            if not chunk:
                raise EOFError("the other side closed the channel")
            chunks.append(chunk)
            size -= len(chunk)
        return b"".join(chunks)

    def close(self) -> None:
        self._sock.close()


class _SocketListener:
    def __init__(self, sock: socket.socket) -> None:
        self._sock = sock

    def accept(self, timeout: float) -> Channel | None:
        self._sock.settimeout(max(timeout, 0.0))
        try:
            client, _address = self._sock.accept()
        except TimeoutError:
            return None
        try:
            user = _peer_uid(client)
        except OSError:
            client.close()
            raise
        return _SocketChannel(client, lambda: user)

    def close(self) -> None:
        self._sock.close()


def _open_beneath(path: Path, flags: int) -> int:
    """Open ``path`` one name at a time, each relative to the folder before it and with
    ``O_NOFOLLOW``: a link anywhere on the way fails (``ELOOP``) instead of being
    followed, also if it appears while we walk."""
    parts = Path(os.path.abspath(path)).parts  # noqa: PTH100 - lexical: no link followed
    descriptor = os.open(parts[0], os.O_RDONLY | os.O_DIRECTORY)
    try:
        for index, name in enumerate(parts[1:], start=1):
            last = index == len(parts) - 1
            wanted = (flags if last else os.O_RDONLY | os.O_DIRECTORY) | os.O_NOFOLLOW
            try:
                following = os.open(name, wanted, dir_fd=descriptor)
            except OSError as exc:
                if exc.errno in (errno.ELOOP, errno.EMLINK) or (
                    exc.errno == errno.ENOTDIR
                    and stat.S_ISLNK(
                        os.stat(name, dir_fd=descriptor, follow_symlinks=False).st_mode
                    )
                ):
                    raise LinkRefusedError(
                        errno.ELOOP, "a link, which the updater does not follow",
                        str(Path(*parts[: index + 1])),
                    ) from exc  # fmt: skip
                raise
            os.close(descriptor)
            descriptor = following
        if len(parts) == 1:
            return os.open(parts[0], flags)
        return descriptor
    except BaseException:
        os.close(descriptor)
        raise
