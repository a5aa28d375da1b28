"""updater.platform with real processes and real folders, and the Windows logic anywhere.

The "apps" are copies of a real executable placed in a temporary install folder, so that
the OS reports an executable path inside that folder, as it does for TPV.exe. They are
found, asked to close, ignore the request, get killed, for real: on POSIX with SIGTERM
and SIGKILL, on Windows (the Windows lane) with WM_CLOSE to the windowed stand-in of
tests/standin/app.c and TerminateProcess. What needs the Windows API itself beyond that
is in test_platform_windows.py.
"""

from __future__ import annotations

import errno
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import psutil
import pytest

from tests.apps import Launcher, install_app
from tests.links import symlink
from updater.errors import FileLockedError
from updater.platform import ProcessInfo, backoff_delays, current
from updater.platform.base import PsutilPlatform
from updater.platform.posix import PosixPlatform

WINDOWS = sys.platform == "win32"


def posix_only(reason: str) -> pytest.MarkDecorator:
    return pytest.mark.skipif(WINDOWS, reason=reason)


#: How an app ends when asked to close: SIGTERM on POSIX; on Windows the stand-in closes
#: its window and exits normally.
ASKED_EXIT = 0 if WINDOWS else -signal.SIGTERM
#: How an app ends when forced: SIGKILL on POSIX; on Windows psutil's kill() is
#: TerminateProcess with exit code 15 (SIGTERM's number).
FORCED_EXIT = 15 if WINDOWS else -signal.SIGKILL

Spawn = Callable[..., subprocess.Popen[str]]


@pytest.fixture
def spawn() -> Iterator[Spawn]:
    """Start an app and wait until it is ready (its signal setup done); reaps them all."""
    started: list[subprocess.Popen[str]] = []

    def start(launcher: Launcher, mode: str = "normal") -> subprocess.Popen[str]:
        proc = subprocess.Popen(
            launcher.argv(mode), stdout=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True
        )
        started.append(proc)
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == "ready"
        return proc

    yield start
    for proc in started:
        if proc.poll() is None:
            proc.kill()
        proc.wait(timeout=10)
        if proc.stdout:
            proc.stdout.close()


@pytest.fixture
def app(tmp_path: Path) -> Launcher:
    return install_app(tmp_path / "Apps" / "TPV")


def pids(procs: list[ProcessInfo]) -> set[int]:
    return {p.pid for p in procs}


# --- the module itself ----------------------------------------------------------------------


def test_current_platform_is_this_systems() -> None:
    from updater.platform.windows import WindowsPlatform

    expected = WindowsPlatform if WINDOWS else PosixPlatform
    assert type(current) is expected
    assert current.name == ("windows" if WINDOWS else "posix")


def test_windows_module_imports_everywhere() -> None:
    import updater.platform.windows as windows

    platform = windows.WindowsPlatform()
    assert platform.name == "windows"
    assert platform.popen_kwargs() == {"creationflags": 0x00000200 | 0x08000000}
    platform.fsync_dir(Path("/nonexistent"))  # nothing to do on NTFS, so no error


# --- finding processes ----------------------------------------------------------------------


def test_find_processes_finds_the_app_running_from_the_folder(
    app: Launcher, spawn: Spawn, tmp_path: Path
) -> None:
    proc = spawn(app)
    # A process of the same program from another folder whose name starts the same.
    other = install_app(tmp_path / "Apps" / "TPV-old")
    outsider = spawn(other)

    found = current.find_processes(app.exe.parent)

    assert pids(found) == {proc.pid}
    (info,) = found
    assert info.exe == app.exe.resolve()
    assert info.name == app.exe.name  # "tpv", or "tpv.exe" on Windows
    assert info.started == pytest.approx(psutil.Process(proc.pid).create_time())
    assert outsider.pid in pids(current.find_processes(other.exe.parent))
    # The parent folder contains both.
    assert pids(current.find_processes(tmp_path / "Apps")) == {proc.pid, outsider.pid}


def test_find_processes_resolves_symlinked_and_relative_install_dirs(
    app: Launcher, spawn: Spawn, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    proc = spawn(app)
    link = tmp_path / "shortcut"
    symlink(link, app.exe.parent, directory=True)

    assert pids(current.find_processes(link)) == {proc.pid}
    assert pids(current.find_processes(link / ".." / "Apps" / "TPV")) == {proc.pid}
    monkeypatch.chdir(tmp_path / "Apps")
    assert pids(current.find_processes(Path("TPV"))) == {proc.pid}


def test_find_processes_in_an_empty_or_missing_folder(tmp_path: Path) -> None:
    assert current.find_processes(tmp_path) == []
    assert current.find_processes(tmp_path / "missing") == []


def test_posix_compares_case_sensitively_windows_logic_does_not(
    app: Launcher, spawn: Spawn
) -> None:
    from updater.platform.windows import WindowsPlatform

    proc = spawn(app)
    shouting = Path(str(app.exe.parent).upper())

    # The Windows implementation's matching, run against real processes (on POSIX too).
    assert pids(WindowsPlatform().find_processes(shouting)) == {proc.pid}
    if not WINDOWS:
        assert current.find_processes(shouting) == []


def test_find_processes_skips_ended_processes(app: Launcher, spawn: Spawn) -> None:
    proc = spawn(app)
    proc.kill()
    # Ended but not yet reaped: a zombie on POSIX; on Windows the process object lives
    # on while our handle to it is open.
    deadline = time.monotonic() + 5
    while not ended_but_still_known(proc):
        assert time.monotonic() < deadline
        time.sleep(0.01)
    assert current.find_processes(app.exe.parent) == []
    proc.wait()
    assert current.find_processes(app.exe.parent) == []


def ended_but_still_known(proc: subprocess.Popen[str]) -> bool:
    if WINDOWS:
        # poll() reads the exit code through the handle, which stays open (no reaping).
        return proc.poll() is not None
    return psutil.Process(proc.pid).status() == psutil.STATUS_ZOMBIE


# --- closing processes ----------------------------------------------------------------------


def test_close_processes_asks_with_sigterm_or_wm_close(app: Launcher, spawn: Spawn) -> None:
    proc = spawn(app)
    found = current.find_processes(app.exe.parent)

    left = current.close_processes(found, graceful_timeout=5, force=False)

    assert left == []
    assert proc.wait(timeout=5) == ASKED_EXIT


def test_a_process_ignoring_sigterm_survives_until_forced(app: Launcher, spawn: Spawn) -> None:
    stubborn = spawn(app, "ignore-term")
    polite = spawn(app)
    found = current.find_processes(app.exe.parent)
    assert pids(found) == {stubborn.pid, polite.pid}

    started = time.monotonic()
    left = current.close_processes(found, graceful_timeout=0.5, force=False)
    assert 0.5 <= time.monotonic() - started < 3
    assert pids(left) == {stubborn.pid}
    assert stubborn.poll() is None
    assert polite.wait(timeout=5) == ASKED_EXIT

    left = current.close_processes(left, graceful_timeout=0.2, force=True)
    assert left == []
    assert stubborn.wait(timeout=5) == FORCED_EXIT
    assert current.find_processes(app.exe.parent) == []


def test_close_processes_does_not_touch_a_reused_process_id(app: Launcher, spawn: Spawn) -> None:
    proc = spawn(app)
    (info,) = current.find_processes(app.exe.parent)
    assert info.started is not None
    # The same id, but a start time that is not this process's: another process.
    stale = ProcessInfo(info.pid, info.name, info.exe, started=info.started - 100)

    assert current.close_processes([stale], graceful_timeout=0.1, force=True) == []
    assert proc.poll() is None


def test_close_processes_with_processes_already_gone(app: Launcher, spawn: Spawn) -> None:
    proc = spawn(app)
    found = current.find_processes(app.exe.parent)
    proc.kill()
    proc.wait()

    assert current.close_processes(found, graceful_timeout=1, force=True) == []
    assert current.close_processes([], graceful_timeout=1, force=True) == []


# --- waiting for exit -----------------------------------------------------------------------


def test_wait_for_exit_times_out_while_the_app_runs(app: Launcher, spawn: Spawn) -> None:
    proc = spawn(app)
    started = time.monotonic()

    left = current.wait_for_exit(app.exe.parent, timeout=0.3, poll=0.05)

    assert 0.3 <= time.monotonic() - started < 2
    assert pids(left) == {proc.pid}


def test_wait_for_exit_returns_when_the_app_exits(app: Launcher, spawn: Spawn) -> None:
    proc = spawn(app)
    timer = threading.Timer(0.3, proc.terminate)
    timer.start()
    try:
        started = time.monotonic()
        left = current.wait_for_exit(app.exe.parent, timeout=10, poll=0.05)
        elapsed = time.monotonic() - started
    finally:
        timer.cancel()

    assert left == []
    assert 0.25 <= elapsed < 3


def test_wait_for_exit_with_nothing_running(tmp_path: Path) -> None:
    started = time.monotonic()
    assert current.wait_for_exit(tmp_path, timeout=5) == []
    assert time.monotonic() - started < 1


# --- replacing folders ----------------------------------------------------------------------


def make_tree(root: Path) -> Path:
    (root / "sub").mkdir(parents=True)
    (root / "tpv.exe").write_bytes(b"MZ new")
    (root / "sub" / "data.txt").write_text("hello", encoding="utf-8")
    return root


def test_replace_dir_retrying_renames(tmp_path: Path) -> None:
    src = make_tree(tmp_path / "staged")
    dst = tmp_path / "TPV"

    current.replace_dir_retrying(src, dst)

    assert not src.exists()
    assert (dst / "tpv.exe").read_bytes() == b"MZ new"
    assert (dst / "sub" / "data.txt").read_text(encoding="utf-8") == "hello"


class FlakyRename:
    """Refuses the first ``failures`` renames as a busy file would, then renames for real."""

    def __init__(self, failures: int, error: Callable[[], OSError] | None = None) -> None:
        self.failures = failures
        self.error = error or (lambda: PermissionError(errno.EACCES, "in use"))
        self.calls: list[float] = []

    def __call__(self, src: Path, dst: Path) -> None:
        self.calls.append(time.monotonic())
        if len(self.calls) <= self.failures:
            raise self.error()
        os.rename(src, dst)  # noqa: PTH104 - what the platform does by default


def test_replace_dir_retrying_retries_a_busy_rename_with_backoff(tmp_path: Path) -> None:
    src = make_tree(tmp_path / "staged")
    dst = tmp_path / "TPV"
    rename = FlakyRename(failures=3)

    current.replace_dir_retrying(src, dst, attempts=8, first_delay=0.05, rename=rename)

    assert (dst / "tpv.exe").exists()
    assert len(rename.calls) == 4
    gaps = [b - a for a, b in zip(rename.calls, rename.calls[1:], strict=False)]
    for gap, expected in zip(gaps, [0.05, 0.1, 0.2], strict=True):
        assert gap >= expected * 0.9


def test_replace_dir_retrying_gives_up_with_file_locked_error(tmp_path: Path) -> None:
    src = make_tree(tmp_path / "staged")
    dst = tmp_path / "TPV"
    rename = FlakyRename(failures=100)

    with pytest.raises(FileLockedError) as caught:
        current.replace_dir_retrying(src, dst, attempts=3, first_delay=0.01, rename=rename)

    assert len(rename.calls) == 3
    assert caught.value.path == src
    assert str(src) in caught.value.message
    assert caught.value.hint
    assert isinstance(caught.value.__cause__, PermissionError)
    assert src.exists()
    assert not dst.exists()


def test_replace_dir_retrying_does_not_retry_other_errors(tmp_path: Path) -> None:
    src = make_tree(tmp_path / "staged")
    dst = make_tree(tmp_path / "TPV")  # a non-empty folder is in the way: a real error
    rename = FlakyRename(failures=0)

    with pytest.raises(OSError) as caught:
        current.replace_dir_retrying(src, dst, rename=rename)

    assert caught.value.errno in (errno.ENOTEMPTY, errno.EEXIST)
    assert not isinstance(caught.value, FileLockedError)
    assert len(rename.calls) == 1

    with pytest.raises(FileNotFoundError):
        current.replace_dir_retrying(tmp_path / "missing", tmp_path / "elsewhere")


def test_windows_retries_sharing_violations_only(tmp_path: Path) -> None:
    from updater.platform.windows import ERROR_SHARING_VIOLATION, WindowsPlatform

    def sharing_violation() -> OSError:
        exc = OSError(errno.EACCES, "The process cannot access the file")
        exc.winerror = ERROR_SHARING_VIOLATION  # type: ignore[attr-defined]
        return exc

    src = make_tree(tmp_path / "staged")
    rename = FlakyRename(failures=2, error=sharing_violation)
    WindowsPlatform().replace_dir_retrying(src, tmp_path / "TPV", first_delay=0.01, rename=rename)
    assert len(rename.calls) == 3

    def not_found() -> OSError:
        exc = FileNotFoundError(errno.ENOENT, "The system cannot find the file")
        exc.winerror = 2  # type: ignore[attr-defined]
        return exc

    rename = FlakyRename(failures=1, error=not_found)
    with pytest.raises(FileNotFoundError):
        WindowsPlatform().replace_dir_retrying(tmp_path / "TPV", tmp_path / "x", rename=rename)
    assert len(rename.calls) == 1


def test_backoff_delays() -> None:
    assert backoff_delays(8, 0.05) == pytest.approx([0.05, 0.1, 0.2, 0.4, 0.8, 1.0, 1.0])
    assert backoff_delays(1, 0.05) == []
    assert backoff_delays(4, 0.5, cap=0.6) == pytest.approx([0.5, 0.6, 0.6])
    with pytest.raises(ValueError):
        backoff_delays(0, 0.05)
    with pytest.raises(ValueError):
        backoff_delays(3, -1)


@posix_only("flushing a folder: Windows has no such call (fsync_dir does nothing there)")
def test_fsync_dir(tmp_path: Path) -> None:
    (tmp_path / "new").write_text("x", encoding="utf-8")
    current.fsync_dir(tmp_path)
    with pytest.raises(FileNotFoundError):
        current.fsync_dir(tmp_path / "missing")


def test_flush_tree_makes_a_written_tree_durable_and_reports_what_it_cannot_flush(
    tmp_path: Path,
) -> None:
    files = [tmp_path / "a.bin", tmp_path / "sub" / "b.bin"]
    files[1].parent.mkdir()
    for path in files:
        path.write_bytes(os.urandom(70_000))
    current.flush_tree(tmp_path, files, [files[1].parent, tmp_path])  # this OS's way
    if sys.platform != "win32":  # the portable way (macOS), a sync per file and folder
        PsutilPlatform.flush_tree(current, tmp_path, files, [files[1].parent, tmp_path])
        with pytest.raises(FileNotFoundError):
            PsutilPlatform.flush_tree(current, tmp_path, [tmp_path / "gone.bin"], [])
    with pytest.raises(FileNotFoundError):
        current.flush_tree(tmp_path / "gone", [tmp_path / "gone" / "x"], [tmp_path / "gone"])


@posix_only("the POSIX twin's answers; test_platform_windows.py reads Windows' own")
def test_posix_has_no_registry_version_resource_or_file_locks(app: Launcher, spawn: Spawn) -> None:
    spawn(app)  # a running program does not lock its files on POSIX
    assert current.read_registry_version("InnovaTPV") is None
    assert current.read_file_version(app.exe) is None
    assert current.find_locked_file(app.exe.parent) is None


# --- the Windows logic, tested here -------------------------------------------------------


def test_windows_path_keys_ignore_case_separators_and_prefixes() -> None:
    from updater.platform.windows import is_inside, path_key

    assert path_key(r"C:\Program Files\Innova\TPV.exe") == path_key(
        "c:/PROGRAM FILES/innova/tpv.EXE"
    )
    assert path_key("\\\\?\\C:\\Apps\\TPV\\") == path_key(r"C:\apps\tpv")
    assert path_key("\\\\?\\UNC\\server\\share\\TPV") == path_key(r"\\SERVER\share\tpv")
    assert path_key(r"C:\Apps\TPV\bin\..\tpv.exe") == path_key(r"C:\Apps\TPV\tpv.exe")
    # NTFS folds one character at a time: "ß" is not "SS".
    assert path_key("C:\\Straße") != path_key("C:\\STRASSE")
    assert path_key("C:\\Ñandú") == path_key("C:\\ñANDÚ")

    assert is_inside(r"C:\Apps\TPV\tpv.exe", r"c:\apps\tpv")
    assert is_inside(r"C:\Apps\TPV\bin\helper.exe", "C:/Apps/TPV/")
    assert not is_inside(r"C:\Apps\TPV-old\tpv.exe", r"C:\Apps\TPV")
    assert not is_inside(r"C:\Apps\TPV", r"C:\Apps\TPV")
    assert not is_inside(r"D:\Apps\TPV\tpv.exe", r"C:\Apps\TPV")
    assert is_inside(r"C:\tpv.exe", "C:\\")


def test_windows_file_version_from_the_fixed_file_info_dwords() -> None:
    from updater.platform.windows import format_file_version

    assert format_file_version(0x00040002, 0x00000011) == "4.2.0.17"
    assert format_file_version(0x00010000, 0x00030004) == "1.0.3.4"
    assert format_file_version(0xFFFFFFFF, 0xFFFFFFFF) == "65535.65535.65535.65535"
    assert format_file_version(0, 0) == "0.0.0.0"


def test_windows_registry_lookups_read_both_views_of_hklm_first() -> None:
    from updater.platform.windows import (
        KEY_READ,
        KEY_WOW64_32KEY,
        KEY_WOW64_64KEY,
        registry_lookups,
        registry_text,
    )

    subkey = r"SOFTWARE\Microsoft\Windows\CurrentVersion\Uninstall\{1234-ABCD}_is1"
    assert registry_lookups(" {1234-ABCD}_is1 ") == [
        ("HKEY_LOCAL_MACHINE", subkey, KEY_READ | KEY_WOW64_64KEY),
        ("HKEY_LOCAL_MACHINE", subkey, KEY_READ | KEY_WOW64_32KEY),
        ("HKEY_CURRENT_USER", subkey, KEY_READ),
    ]
    assert registry_lookups("") == []
    assert registry_lookups("..\\Other") == []
    assert registry_lookups("A\\\\B") == []

    assert registry_text(" 4.2.0 \x00") == "4.2.0"
    assert registry_text("") is None
    assert registry_text(42) == "42"
    assert registry_text(b"4.2") is None
    assert registry_text(None) is None


def test_windows_pending_renames_count_only_replacements() -> None:
    from updater.platform.windows import renames_pending

    deletions = "\\??\\C:\\Temp\\iu-1.tmp\\_unins.tmp\0\0\\??\\C:\\Temp\\iu-1.tmp\0\0\0"
    assert not renames_pending(deletions)  # what Inno Setup's uninstaller leaves
    replacement = "\\??\\C:\\TPV\\new.dll\0!\\??\\C:\\TPV\\tpv.dll\0\0"
    assert renames_pending(replacement)
    assert renames_pending(deletions[:-1] + replacement)  # a replacement after deletions
    assert not renames_pending("")
    assert not renames_pending("\0\0")
    assert not renames_pending("\\??\\C:\\x")  # cut short: no destination at all


def test_windows_rename_errors_worth_retrying() -> None:
    from updater.platform.windows import is_sharing_violation

    def with_winerror(exc: OSError, winerror: int) -> OSError:
        exc.winerror = winerror  # type: ignore[attr-defined]
        return exc

    assert is_sharing_violation(with_winerror(PermissionError(errno.EACCES, "x"), 32))
    assert is_sharing_violation(with_winerror(PermissionError(errno.EACCES, "x"), 33))
    assert is_sharing_violation(with_winerror(PermissionError(errno.EACCES, "x"), 5))
    assert not is_sharing_violation(with_winerror(FileNotFoundError(errno.ENOENT, "x"), 2))
    assert not is_sharing_violation(with_winerror(FileExistsError(errno.EEXIST, "x"), 183))
    assert is_sharing_violation(PermissionError(errno.EACCES, "x"))
    assert not is_sharing_violation(OSError(errno.ENOTEMPTY, "x"))


def test_windows_extended_paths_and_window_grouping() -> None:
    from updater.platform.windows import creation_flags, extended_path, windows_by_pid

    assert extended_path(r"C:\Apps\TPV\tpv.exe") == "\\\\?\\C:\\Apps\\TPV\\tpv.exe"
    assert extended_path("C:/Apps/./TPV") == "\\\\?\\C:\\Apps\\TPV"
    assert extended_path(r"\\server\share\TPV") == "\\\\?\\UNC\\server\\share\\TPV"
    assert extended_path("\\\\?\\C:\\x") == "\\\\?\\C:\\x"

    pairs = [(0x10, 7), (0x20, 8), (0x30, 7), (0x40, 99)]
    assert windows_by_pid(pairs, [7, 8, 9]) == {7: [0x10, 0x30], 8: [0x20], 9: []}
    assert creation_flags() == 0x00000200 | 0x08000000


@posix_only("the Windows module off Windows")
def test_windows_api_calls_refuse_to_run_elsewhere(tmp_path: Path) -> None:
    from updater.platform.windows import WindowsPlatform

    platform = WindowsPlatform()
    with pytest.raises(NotImplementedError):
        platform.read_registry_version("InnovaTPV")
    (tmp_path / "tpv.exe").write_bytes(b"MZ")
    with pytest.raises(NotImplementedError):
        platform.read_file_version(tmp_path / "tpv.exe")
    with pytest.raises(NotImplementedError):
        platform.find_locked_file(tmp_path)
    # Nothing to read: no Win32 call is needed to say so.
    assert platform.read_file_version(tmp_path / "missing.exe") is None
    assert platform.read_registry_version("") is None
    assert platform.find_locked_file(tmp_path / "missing") is None


def test_windows_runs_installers_silently_and_saves_the_uninstall_entry_per_view() -> None:
    """The command lines Windows would run (the Win32 side cannot run here)."""
    import updater.platform.windows as windows

    assert windows.installer_argv(r"C:\d\tpv.msi", "msi", ["/qn", "/norestart"]) == [
        "msiexec.exe", "/i", r"C:\d\tpv.msi", "/qn", "/norestart", "/l*v", r"C:\d\tpv.msi.log",
    ]  # fmt: skip
    assert windows.installer_argv(r"C:\d\setup.exe", "exe", ["/VERYSILENT"]) == [
        r"C:\d\setup.exe",
        "/VERYSILENT",
    ]
    [(hive64, key64, access64), (_, _, access32), _] = windows.registry_lookups("{GUID}_is1")
    assert windows.reg_export_argv(hive64, key64, access64, r"C:\s\u.reg") == [
        "reg.exe", "export",
        r"HKEY_LOCAL_MACHINE\SOFTWARE\Microsoft\Windows\CurrentVersion\Uninstall\{GUID}_is1",
        r"C:\s\u.reg", "/y", "/reg:64",
    ]  # fmt: skip
    assert windows.reg_view_flag(access32) == "/reg:32"
    assert windows.reg_import_argv(r"C:\s\u.reg", "/reg:32") == [
        "reg.exe", "import", r"C:\s\u.reg", "/reg:32",
    ]  # fmt: skip


def test_the_desktop_session_is_the_login_session_else_the_display(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for variable in ("XDG_SESSION_ID", "WAYLAND_DISPLAY", "DISPLAY"):
        monkeypatch.delenv(variable, raising=False)
    posix = PosixPlatform()
    assert posix.desktop_session() == ""
    monkeypatch.setenv("DISPLAY", ":3")
    assert posix.desktop_session() == "DISPLAY=:3"
    monkeypatch.setenv("WAYLAND_DISPLAY", "wayland-1")
    assert posix.desktop_session() == "WAYLAND_DISPLAY=wayland-1"
    monkeypatch.setenv("XDG_SESSION_ID", "c2")
    assert posix.desktop_session() == "XDG_SESSION_ID=c2"
