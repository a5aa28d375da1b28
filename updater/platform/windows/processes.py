"""Processes on Windows: asking programs to close, naming their program files, job
objects for the commands the updater starts, sessions, the console, and running the
system's own tools.

psutil's ``terminate()`` is ``TerminateProcess``, a kill. To *ask* a program to close,
``WM_CLOSE`` is posted to its top-level windows, as ``taskkill`` (without ``/F``) does;
a program without windows can only be killed. Windows are per desktop, so an updater
running as a service in session 0 cannot reach the windows of a logged-in user's
programs. A process's program file comes from psutil, else from
``QueryFullProcessImageNameW`` when psutil's system call is refused (Wine always
refuses it).

May import :mod:`._win32` only.
"""

from __future__ import annotations

import ctypes
import subprocess
import sys
from collections.abc import Iterable, Sequence
from ctypes import wintypes

from updater.platform.windows._win32 import (
    CREATE_NEW_PROCESS_GROUP,
    CREATE_NO_WINDOW,
    JOB_OBJECT_EXTENDED_LIMIT_INFORMATION,
    JOB_OBJECT_LIMIT_BREAKAWAY_OK,
    JOB_OBJECT_LIMIT_KILL_ON_JOB_CLOSE,
    PROCESS_QUERY_LIMITED_INFORMATION,
    WM_CLOSE,
    ExtendedLimits,
    closing_handle,
    kernel32,
    last_error,
    ntdll,
    user32,
    window_enum_proc,
)


def creation_flags() -> int:
    """``Popen`` creation flags for a child command: its own process group (so that
    Ctrl+C in the updater's console does not reach it and it can be stopped as a
    whole) and no console window flashing up from the tray application."""
    return CREATE_NEW_PROCESS_GROUP | CREATE_NO_WINDOW


def windows_by_pid(pairs: Iterable[tuple[int, int]], pids: Iterable[int]) -> dict[int, list[int]]:
    """Group ``(window handle, process id)`` pairs by process, keeping only ``pids``."""
    wanted = set(pids)
    found: dict[int, list[int]] = {pid: [] for pid in wanted}
    for hwnd, pid in pairs:
        if pid in wanted:
            found[pid].append(hwnd)
    return found


def installer_argv(installer: str, fmt: str, args: Sequence[str]) -> list[str]:
    """How Windows runs an installer silently: msiexec for .msi packages (with a
    verbose log next to the package), the program itself for .exe installers."""
    if fmt == "msi":
        return ["msiexec.exe", "/i", installer, *args, "/l*v", installer + ".log"]
    return [installer, *args]


def run_checked(argv: Sequence[str]) -> None:
    """Run one of the system's tools, without a console window.

    Raises:
        OSError: it failed; the message is what it printed.
    """
    result = subprocess.run(list(argv), capture_output=True, creationflags=creation_flags())
    if result.returncode != 0:
        output = (result.stdout + result.stderr).decode(errors="replace").strip()
        raise OSError(result.returncode, output or f"{argv[0]} failed", argv[0])


# ---------------------------------------------------------------------- Win32 layer


def _top_level_windows() -> list[tuple[int, int]]:
    """Every top-level window of this desktop, as ``(handle, process id)``."""
    if sys.platform != "win32":
        raise NotImplementedError("EnumWindows exists only on Windows")
    pairs: list[tuple[int, int]] = []

    def collect(hwnd: int, _lparam: int) -> bool:
        pid = wintypes.DWORD()
        if user32().GetWindowThreadProcessId(hwnd, ctypes.byref(pid)):
            pairs.append((int(hwnd or 0), int(pid.value)))
        return True  # keep enumerating

    user32().EnumWindows(window_enum_proc()(collect), 0)
    return pairs


def _post_close(hwnds: Iterable[int]) -> int:
    """Post ``WM_CLOSE`` to each window; returns how many accepted the message."""
    if sys.platform != "win32":
        raise NotImplementedError("PostMessageW exists only on Windows")
    return sum(1 for hwnd in hwnds if user32().PostMessageW(hwnd, WM_CLOSE, 0, 0))


def close_windows_of(pids: Iterable[int]) -> None:
    """Post ``WM_CLOSE`` to every top-level window of the processes ``pids``."""
    by_pid = windows_by_pid(_top_level_windows(), pids)
    _post_close(hwnd for hwnds in by_pid.values() for hwnd in hwnds)


def query_image_path(pid: int) -> str | None:
    """``QueryFullProcessImageNameW`` of process ``pid``: its program file, ``None`` when
    the process cannot be opened or asked (ended, or another account's)."""
    if sys.platform != "win32":
        raise NotImplementedError("QueryFullProcessImageNameW exists only on Windows")
    handle = kernel32().OpenProcess(PROCESS_QUERY_LIMITED_INFORMATION, False, pid)
    if not handle:
        return None
    with closing_handle(handle):
        buffer = ctypes.create_unicode_buffer(32768)
        size = wintypes.DWORD(len(buffer))
        if not kernel32().QueryFullProcessImageNameW(handle, 0, buffer, ctypes.byref(size)):
            return None
        return buffer.value or None


def start_job(process: int) -> int:
    """Put the suspended process ``process`` (a handle) in a new job object that ends
    every process in it when it is closed, then let it run; returns the job's handle.
    The processes it starts are in the job too (Windows puts children in their parent's
    job), so none of them can outlive the job, unless one is started with
    ``CREATE_BREAKAWAY_FROM_JOB``: a program that asks to leave may (an installer that
    starts the installed program for the user; refused, its ``CreateProcess`` would fail
    and with it the install).

    Raises:
        OSError: the job could not be made or the process not put in it (the process
            is let run all the same).
    """
    if sys.platform != "win32":
        raise NotImplementedError("job objects exist only on Windows")
    kernel = kernel32()
    try:
        job = kernel.CreateJobObjectW(None, None)
        if not job:
            raise last_error()
        limits = ExtendedLimits()
        limits.BasicLimitInformation.LimitFlags = (
            JOB_OBJECT_LIMIT_KILL_ON_JOB_CLOSE | JOB_OBJECT_LIMIT_BREAKAWAY_OK
        )
        if not kernel.SetInformationJobObject(
            job, JOB_OBJECT_EXTENDED_LIMIT_INFORMATION, ctypes.byref(limits),
            ctypes.sizeof(limits),
        ) or not kernel.AssignProcessToJobObject(job, process):  # fmt: skip
            error = last_error()
            kernel.CloseHandle(job)
            raise error
        return int(job)
    finally:
        ntdll().NtResumeProcess(process)


def end_job(job: int) -> None:
    """End every process left in ``job`` and close it."""
    if sys.platform != "win32":
        raise NotImplementedError("job objects exist only on Windows")
    kernel32().TerminateJobObject(job, 1)
    kernel32().CloseHandle(job)


def session_id() -> int:
    """``ProcessIdToSessionId`` of this process: the session its windows belong to."""
    if sys.platform != "win32":
        raise NotImplementedError("ProcessIdToSessionId exists only on Windows")
    session = wintypes.DWORD()
    if not kernel32().ProcessIdToSessionId(kernel32().GetCurrentProcessId(), ctypes.byref(session)):
        raise last_error()
    return session.value


def stdin_is_console() -> bool:
    """Standard input is a console (``GetConsoleMode`` succeeds on its handle)."""
    if sys.platform != "win32":
        raise NotImplementedError("consoles exist only on Windows")
    import msvcrt

    if sys.stdin is None:
        return False
    try:
        handle = msvcrt.get_osfhandle(sys.stdin.fileno())
    except (OSError, ValueError):
        return False
    mode = wintypes.DWORD()
    return bool(kernel32().GetConsoleMode(handle, ctypes.byref(mode)))
