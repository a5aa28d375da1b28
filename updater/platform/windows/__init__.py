"""The :class:`~updater.platform.base.Platform` for Windows, the system the apps run on.

The package imports on any OS, so that its logic can be tested on the Linux build
machines: ``winreg``, ``msvcrt`` and the ``ctypes`` Windows DLLs are only touched inside
the functions that need them, each of which starts by refusing to run elsewhere. The
decisions are small pure functions (:func:`path_key`, :func:`format_file_version`,
:func:`registry_lookups`, :func:`is_sharing_violation`, :func:`extended_path`, ...),
tested everywhere; the thin layers that call the Win32 API are only exercised on
Windows. One job per module:

* :mod:`._win32`: the Win32 constants, structures, DLL declarations, error and handle
  helpers, shared by the others;
* :mod:`.paths`: how paths compare (letter case ignored) and the ``\\\\?\\`` form;
* :mod:`.processes`: WM_CLOSE to ask programs to close, job objects for commands,
  program files, sessions, the console, running the system's tools;
* :mod:`.files`: sharing violations, files in use, the no-follow open, scan and remove;
* :mod:`.security`: SIDs, owners and DACLs, who else may change a path, ``icacls``;
* :mod:`.channel`: the named pipe to the elevated updater;
* :mod:`.tasks`: the scheduled tasks and ``schtasks``;
* :mod:`.registry` and :mod:`.versions`: installed versions, the uninstall entry,
  pending restarts.

:class:`WindowsPlatform`, here, puts them together behind the
:class:`~updater.platform.base.Platform` interface.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
from collections.abc import Sequence
from pathlib import Path
from typing import Any, BinaryIO, ClassVar

import psutil

from updater.platform.base import APPLY_TASK, Channel, PsutilPlatform
from updater.platform.windows import files, registry, security, tasks
from updater.platform.windows._win32 import (
    CREATE_SUSPENDED,
    ERROR_SHARING_VIOLATION,
    KEY_READ,
    KEY_WOW64_32KEY,
    KEY_WOW64_64KEY,
)
from updater.platform.windows.channel import CHANNEL_SDDL, PipeListener, connect_pipe
from updater.platform.windows.files import is_sharing_violation
from updater.platform.windows.paths import extended_path, is_inside, path_key
from updater.platform.windows.processes import (
    close_windows_of,
    creation_flags,
    end_job,
    installer_argv,
    query_image_path,
    run_checked,
    session_id,
    start_job,
    stdin_is_console,
    windows_by_pid,
)
from updater.platform.windows.registry import (
    UNINSTALL_KEY,
    reg_export_argv,
    reg_import_argv,
    reg_view_flag,
    registry_lookups,
    registry_text,
    renames_pending,
)
from updater.platform.windows.security import (
    SID_SYSTEM,
    icacls_lockdown_argv,
    icacls_owner_only_argv,
    icacls_private_argv,
    icacls_setowner_argv,
    icacls_users_write_argv,
    is_admin,
    others_may_replace,
    process_sid,
    untrusted_rights,
)
from updater.platform.windows.tasks import (
    schtasks_create_argv,
    schtasks_delete_argv,
    schtasks_run_argv,
    task_xml,
)
from updater.platform.windows.versions import format_file_version, read_file_version

__all__ = [
    "CHANNEL_SDDL",
    "ERROR_SHARING_VIOLATION",
    "KEY_READ",
    "KEY_WOW64_32KEY",
    "KEY_WOW64_64KEY",
    "UNINSTALL_KEY",
    "WindowsPlatform",
    "creation_flags",
    "extended_path",
    "format_file_version",
    "icacls_lockdown_argv",
    "icacls_owner_only_argv",
    "icacls_private_argv",
    "icacls_setowner_argv",
    "icacls_users_write_argv",
    "installer_argv",
    "is_inside",
    "is_sharing_violation",
    "others_may_replace",
    "path_key",
    "reg_export_argv",
    "reg_import_argv",
    "reg_view_flag",
    "registry_lookups",
    "registry_text",
    "renames_pending",
    "schtasks_create_argv",
    "schtasks_delete_argv",
    "schtasks_run_argv",
    "task_xml",
    "untrusted_rights",
    "windows_by_pid",
]


class WindowsPlatform(PsutilPlatform):
    """Windows: WM_CLOSE to ask, TerminateProcess to force, retries for files in use."""

    name: ClassVar[str] = "windows"
    sep: ClassVar[str] = "\\"

    def __init__(self) -> None:
        super().__init__()
        #: The job object of each command started by :meth:`start_child`, by pid.
        self._jobs: dict[int, int] = {}

    def path_key(self, path: str) -> str:
        return path_key(path)

    # --- processes --------------------------------------------------------------------

    def _ask_to_close(self, procs: Sequence[psutil.Process]) -> None:
        """Post WM_CLOSE to every top-level window of ``procs``.

        psutil's ``terminate()`` would be ``TerminateProcess``, which kills: it is not
        used here. A process without windows gets nothing and is left for ``force``.
        """
        close_windows_of(proc.pid for proc in procs)

    def _is_retryable(self, exc: OSError) -> bool:
        return is_sharing_violation(exc)

    def _image_path(self, proc: psutil.Process) -> str | None:
        """psutil's answer, else ``QueryFullProcessImageNameW``'s.

        psutil asks ``NtQuerySystemInformation(SystemProcessIdInformation)``, which some
        systems refuse with ERROR_INVALID_PARAMETER (Wine 8 always does); psutil passes
        that on as a plain ``OSError``, which would otherwise end the whole search.
        """
        try:
            return proc.exe() or None
        except OSError:
            return query_image_path(proc.pid)

    def desktop_session(self) -> str:
        """The Remote Desktop Services session id (0 is services, 1 the first console)."""
        return str(session_id())

    def popen_kwargs(self) -> dict[str, Any]:
        return {"creationflags": creation_flags()}

    def start_child(self, argv: Sequence[str], **kwargs: Any) -> subprocess.Popen[bytes]:
        """Started suspended, put in a job object of its own (see
        :func:`~updater.platform.windows.processes.start_job`), then let run: nothing it
        starts can slip out before it is in the job. Where no job can be made, it runs
        all the same, and only a time-out ends its children (those still linked to it)."""
        flags = creation_flags() | CREATE_SUSPENDED
        proc: subprocess.Popen[bytes] = subprocess.Popen(list(argv), creationflags=flags, **kwargs)
        with contextlib.suppress(OSError):
            self._jobs[proc.pid] = start_job(int(proc._handle))  # type: ignore[attr-defined]
        return proc

    def wait_child_tree(self, proc: subprocess.Popen[bytes], timeout: float) -> bool:
        """As everywhere, then the job ends what the command left running."""
        job = self._jobs.pop(proc.pid, None)
        try:
            return super().wait_child_tree(proc, timeout)
        finally:
            if job is not None:
                end_job(job)

    def stdin_is_terminal(self) -> bool:
        """Standard input is a console (``GetConsoleMode`` succeeds on its handle)."""
        return stdin_is_console()

    # --- installed programs -----------------------------------------------------------

    def pending_reboot(self) -> bool | None:
        """Whether any mark of :data:`~updater.platform.windows.registry.REBOOT_PENDING`
        is set."""
        return registry.pending_reboot()

    def read_registry_version(self, registry_key: str) -> str | None:
        return registry.read_registry_version(registry_key)

    def read_file_version(self, exe: Path) -> str | None:
        return read_file_version(exe)

    def installer_command(self, installer: Path, fmt: str, args: Sequence[str]) -> list[str]:
        return installer_argv(str(installer), fmt, args)

    def export_uninstall_entry(self, registry_key: str, dest: Path) -> str | None:
        return registry.export_uninstall_entry(registry_key, dest)

    def import_uninstall_entry(self, source: Path, where: str) -> None:
        registry.import_uninstall_entry(source, where)

    # --- files ------------------------------------------------------------------------

    def find_locked_file(self, root: Path) -> Path | None:
        return files.find_locked_file(root)

    def fsync_dir(self, path: Path) -> None:
        """Nothing to do: NTFS journals metadata (renames, new entries), so a completed
        rename survives a power cut, and Windows has no way to flush a folder."""
        return None

    def flush_tree(self, root: Path, files: Sequence[Path], folders: Sequence[Path]) -> None:
        """``FlushFileBuffers`` on each new file once all are written (it needs a handle
        that may write); NTFS journals the folders' entries itself. Flushing the whole
        volume at once would need administrator rights and flushes only open files."""
        for path in files:
            fd = os.open(path, os.O_RDWR | getattr(os, "O_BINARY", 0))
            try:
                os.fsync(fd)
            finally:
                os.close(fd)

    def open_no_follow(self, path: Path) -> BinaryIO:
        return files.open_no_follow(path)

    def scan_no_follow(self, folder: Path) -> list[tuple[str, bool, int]]:
        return files.scan_no_follow(folder)

    def remove_no_follow(self, path: Path) -> None:
        files.remove_no_follow(path)

    # --- machine setup (run by the installer, as administrator) -------------------------

    def needs_elevation(self, install_dir: Path) -> bool:
        """True unless this process is an administrator (or SYSTEM)."""
        return not is_admin()

    def start_elevated_worker(self) -> None:
        run_checked(schtasks_run_argv(APPLY_TASK))

    #: The on-demand task runs as SYSTEM.
    elevated_identity: str = SID_SYSTEM

    def own_identity(self) -> str:
        return process_sid(os.getpid())

    def is_system(self) -> bool:
        return self.own_identity() == SID_SYSTEM

    def listen_elevated(self, name: str) -> PipeListener:
        """A named pipe that authenticated users may write but not serve
        (:data:`CHANNEL_SDDL`), local clients only; each client is known by
        impersonating it at identification level."""
        return PipeListener(name)

    def connect_elevated(self, name: str) -> Channel:
        return connect_pipe(name, self.elevated_identity)

    def register_daily_task(
        self, name: str, program: Path, arguments: str, description: str, at: tuple[int, int]
    ) -> None:
        tasks.register_task(name, task_xml(
            program=str(program), arguments=arguments, description=description, daily_at=at
        ))  # fmt: skip

    def register_on_demand_task(
        self, name: str, program: Path, arguments: str, description: str
    ) -> None:
        tasks.register_task(name, task_xml(
            program=str(program), arguments=arguments, description=description,
            daily_at=None, users_may_run=True,
        ))  # fmt: skip

    def remove_task(self, name: str) -> None:
        tasks.remove_task(name)

    def allow_users_to_submit(self, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        run_checked(icacls_users_write_argv(str(folder)))

    def restrict_to_administrators(self, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        run_checked(icacls_lockdown_argv(str(folder)))

    def make_private(self, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        run_checked(icacls_private_argv(str(folder)))

    def restrict_to_owner(self, path: Path) -> None:
        run_checked(icacls_owner_only_argv(str(path), self.own_identity()))

    def take_ownership(self, folder: Path) -> None:
        run_checked(icacls_setowner_argv(str(folder)))

    # --- paths that others may change ---------------------------------------------------

    def others_may_write(self, folder: Path) -> str | None:
        return security.others_may_write(folder, self.own_identity())

    def writable_by_others(self, program: Path) -> str | None:
        reason = self.replaceable_by_others(program)
        if reason is not None:
            return reason
        return security.others_may_change(program, self.own_identity())

    def replaceable_by_others(self, path: Path) -> str | None:
        return security.replaceable_by_others(path, self.own_identity())
