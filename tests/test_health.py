"""updater.install.health with real commands: exit codes, time-outs that kill a whole process tree,
captured output, version files, and the health check's errors (on POSIX and Windows)."""

from __future__ import annotations

import contextlib
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import psutil
import pytest
from packaging.version import Version

from updater.errors import ConfigError, HealthCheckError, InstallError
from updater.install.health import (
    OUTPUT_LIMIT,
    check_health,
    read_installed_version,
    run_command,
)
from updater.platform.posix import PosixPlatform

WINDOWS = sys.platform == "win32"

PY = sys.executable


def py(code: str) -> list[str]:
    return [PY, "-c", code]


def is_gone(pid: int) -> bool:
    """Whether process ``pid`` has ended.

    A killed process whose parent has died stays a zombie until PID 1 reaps it, and in
    some containers PID 1 never does; a zombie that is not ours has ended all the same.
    """
    try:
        proc = psutil.Process(pid)
        return proc.status() == psutil.STATUS_ZOMBIE and proc.ppid() != os.getpid()
    except psutil.NoSuchProcess:
        return True


def wait_for_file(path: Path, timeout: float = 10) -> str:
    deadline = time.monotonic() + timeout
    while not path.exists() or not path.read_text(encoding="utf-8").strip():
        assert time.monotonic() < deadline, f"{path} never appeared"
        time.sleep(0.01)
    return path.read_text(encoding="utf-8").strip()


# --- run_command ----------------------------------------------------------------------------


def test_run_command_success_captures_stdout_and_stderr() -> None:
    result = run_command(
        py("import sys; print('out'); print('err', file=sys.stderr); sys.stdout.flush()"),
        timeout=30,
    )

    assert result.returncode == 0
    assert result.ok
    assert not result.timed_out
    assert "out\n" in result.output
    assert "err\n" in result.output
    assert 0 < result.duration < 30


def test_run_command_failure_keeps_the_exit_code() -> None:
    result = run_command(py("import sys; print('database locked'); sys.exit(3)"), timeout=30)

    assert result.returncode == 3
    assert not result.ok
    assert not result.timed_out
    assert result.output == "database locked\n"


def test_run_command_gets_no_input_and_uses_cwd_and_extra_env(tmp_path: Path) -> None:
    code = (
        "import os, sys; print(os.getcwd()); print(os.environ['INNOVA_X']); "
        "print(repr(sys.stdin.read()))"
    )
    result = run_command(py(code), timeout=30, cwd=tmp_path, env={"INNOVA_X": "42"})

    assert result.returncode == 0
    assert result.output.splitlines() == [str(tmp_path), "42", "''"]


def test_run_command_timeout_kills_the_command_and_its_children(tmp_path: Path) -> None:
    grandchild_pid = tmp_path / "grandchild.pid"
    code = f"""
import subprocess, sys, time
child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
open({str(grandchild_pid)!r}, "w").write(str(child.pid))
print("started", flush=True)
time.sleep(60)
"""
    started = time.monotonic()
    result = run_command(py(code), timeout=1.5)
    elapsed = time.monotonic() - started

    assert result.timed_out
    assert result.returncode is None
    assert not result.ok
    assert "started" in result.output
    assert 1.5 <= elapsed < 8
    grandchild = int(wait_for_file(grandchild_pid))
    assert is_gone(grandchild)
    # The command itself has been reaped: no zombie child of ours is left.
    assert not [p for p in psutil.Process().children() if p.status() == psutil.STATUS_ZOMBIE]


def test_run_command_kills_a_child_that_left_the_process_group(tmp_path: Path) -> None:
    grandchild_pid = tmp_path / "grandchild.pid"
    code = f"""
import subprocess, sys, time
child = subprocess.Popen(
    [sys.executable, "-c", "import time; time.sleep(60)"], start_new_session=True
)
open({str(grandchild_pid)!r}, "w").write(str(child.pid))
time.sleep(60)
"""
    result = run_command(py(code), timeout=1.5)

    assert result.timed_out
    assert is_gone(int(wait_for_file(grandchild_pid)))


def test_run_command_does_not_wait_for_nor_leave_a_background_process(tmp_path: Path) -> None:
    """What the command leaves running when it exits ends with it: its process group on
    POSIX, its job object on Windows."""
    grandchild_pid = tmp_path / "grandchild.pid"
    # The background process inherits the output file: the call must still return when
    # the command exits, and the leftover must be gone.
    code = f"""
import subprocess, sys
child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
open({str(grandchild_pid)!r}, "w").write(str(child.pid))
print("done")
"""
    started = time.monotonic()
    result = run_command(py(code), timeout=20)

    assert result.returncode == 0
    assert not result.timed_out
    assert time.monotonic() - started < 10
    assert is_gone(int(wait_for_file(grandchild_pid)))


@pytest.mark.skipif(not WINDOWS, reason="job objects are Windows'")
def test_a_process_that_asks_to_leave_the_job_may(tmp_path: Path) -> None:
    """An installer may start the installed program for the user, detached from itself
    with CREATE_BREAKAWAY_FROM_JOB; refusing would make its CreateProcess fail. Such a
    program is left running; the rest of the tree still ends with the command."""
    pids = tmp_path / "pids.txt"
    code = f"""
import subprocess, sys
sleep = [sys.executable, "-c", "import time; time.sleep(60)"]
away = subprocess.Popen(sleep, creationflags=subprocess.CREATE_BREAKAWAY_FROM_JOB)
stays = subprocess.Popen(sleep)
open({str(pids)!r}, "w").write(f"{{away.pid}} {{stays.pid}}")
"""
    result = run_command(py(code), timeout=20)
    assert result.returncode == 0, result.output
    away, stays = (int(pid) for pid in wait_for_file(pids).split())
    try:
        assert is_gone(stays)
        assert not is_gone(away)
    finally:
        with contextlib.suppress(psutil.NoSuchProcess):
            psutil.Process(away).kill()


def test_run_command_with_a_missing_executable(tmp_path: Path) -> None:
    result = run_command([str(tmp_path / "no-such-program"), "--check"], timeout=5)

    assert result.returncode is None
    assert not result.timed_out
    assert not result.ok
    assert "no-such-program" in result.output
    assert ("[WinError 2]" if WINDOWS else "No such file") in result.output


def test_run_command_with_a_file_that_is_not_executable(tmp_path: Path) -> None:
    script = tmp_path / "check.sh"
    script.write_text("#!/bin/sh\nexit 0\n", encoding="utf-8")
    script.chmod(0o644)
    if os.access(script, os.X_OK):  # root may execute anything
        pytest.skip("this user may execute a file without the execute bit")
    result = run_command([str(script)], timeout=5)
    assert result.returncode is None
    assert "Permission denied" in result.output


def test_run_command_keeps_only_the_end_of_a_long_output() -> None:
    # 23003 bytes: the kept part starts in the middle of an "é" (two bytes in UTF-8).
    result = run_command(
        py("import sys; sys.stdout.write('é' * 10000 + 'x' * 2999 + 'END'); print()"), timeout=30
    )

    assert result.returncode == 0
    assert len(result.output) == OUTPUT_LIMIT
    assert result.output == "é" * 997 + "x" * 2999 + "END\n"


def test_run_command_output_that_is_not_utf8() -> None:
    result = run_command(
        py("import sys; sys.stdout.buffer.write(b'Versi\\xf3n 4.2 \\xff\\n')"), timeout=30
    )

    assert result.returncode == 0
    assert result.output.startswith("Versi")
    assert "4.2" in result.output


def test_run_command_refuses_an_empty_command() -> None:
    with pytest.raises(ValueError):
        run_command([], timeout=1)


# --- read_installed_version -----------------------------------------------------------------


@dataclass(frozen=True)
class Source:
    kind: str = "file"
    file: str | None = "VERSION"
    registry_key: str | None = None
    executable: str | None = None


class FakeWindows(PosixPlatform):
    """Answers the registry and version resource questions, which cannot exist here."""

    def __init__(self, registry: str | None = None, file_version: str | None = None) -> None:
        self.registry, self.file_version = registry, file_version
        self.asked: list[object] = []

    def read_registry_version(self, registry_key: str) -> str | None:
        self.asked.append(registry_key)
        return self.registry

    def read_file_version(self, exe: Path) -> str | None:
        self.asked.append(exe)
        return self.file_version


def test_version_from_a_text_file(tmp_path: Path) -> None:
    (tmp_path / "VERSION").write_text("4.2.0\nbuilt 2026-01-01\n", encoding="utf-8")
    assert read_installed_version(tmp_path, Source(), "tpv.exe") == Version("4.2.0")

    # Notepad's BOM, Windows line ends and spaces.
    (tmp_path / "version.txt").write_bytes(b"\xef\xbb\xbf 4.3.1 \r\n")
    source = Source(file="version.txt")
    assert read_installed_version(tmp_path, source, "tpv.exe") == Version("4.3.1")


def test_version_file_missing(tmp_path: Path) -> None:
    assert read_installed_version(tmp_path, Source(), "tpv.exe") is None
    assert read_installed_version(tmp_path / "not-installed", Source(), "tpv.exe") is None


@pytest.mark.parametrize("content", [b"not a version\n", b"", b"\n4.2.0\n", b"\xff\xfe4\x00"])
def test_version_file_with_garbage(tmp_path: Path, content: bytes) -> None:
    (tmp_path / "VERSION").write_bytes(content)
    with pytest.raises(InstallError) as caught:
        read_installed_version(tmp_path, Source(), "tpv.exe")
    assert "VERSION" in caught.value.message
    assert caught.value.hint


def test_version_from_the_registry_and_the_executable(tmp_path: Path) -> None:
    platform = FakeWindows(registry="4.2.0.17", file_version="4.2.0.0")

    source = Source(kind="registry", file=None, registry_key="InnovaTPV_is1")
    assert read_installed_version(tmp_path, source, "tpv.exe", platform) == Version("4.2.0.17")

    source = Source(kind="file_version", file=None)
    assert read_installed_version(tmp_path, source, "tpv.exe", platform) == Version("4.2")
    source = Source(kind="file_version", file=None, executable="bin/erp.exe")
    read_installed_version(tmp_path, source, "tpv.exe", platform)
    assert platform.asked == ["InnovaTPV_is1", tmp_path / "tpv.exe", tmp_path / "bin" / "erp.exe"]

    with pytest.raises(InstallError):
        read_installed_version(
            tmp_path, Source(kind="registry", registry_key="x"), "tpv.exe", FakeWindows("5 beta")
        )


def test_version_sources_that_do_not_exist_on_posix(tmp_path: Path) -> None:
    (tmp_path / "tpv.exe").write_bytes(b"MZ")
    registry = Source(kind="registry", registry_key="InnovaTPV_is1")
    assert read_installed_version(tmp_path, registry, "tpv.exe") is None
    assert read_installed_version(tmp_path, Source(kind="file_version"), "tpv.exe") is None


def test_version_source_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError):
        read_installed_version(tmp_path, Source(kind="magic"), "tpv.exe")
    with pytest.raises(ConfigError):
        read_installed_version(tmp_path, Source(kind="registry"), "tpv.exe")


def test_config_version_source_is_accepted(tmp_path: Path) -> None:
    config = pytest.importorskip("updater.machine.config")
    (tmp_path / "VERSION").write_text("1.0\n", encoding="utf-8")
    source = config.VersionSource(kind="file", file="VERSION")
    assert read_installed_version(tmp_path, source, "tpv.exe") == Version("1.0")


# --- check_health ---------------------------------------------------------------------------


def test_check_health_passes() -> None:
    check_health(
        py("print('ok')"),
        timeout=30,
        expected_version=Version("4.2.0"),
        read_version=lambda: Version("4.2"),
    )
    check_health(
        None, timeout=1, expected_version=Version("4.2.0"), read_version=lambda: Version("4.2.0")
    )


def test_check_health_wrong_version() -> None:
    with pytest.raises(HealthCheckError) as caught:
        check_health(
            None,
            timeout=1,
            expected_version=Version("4.2.0"),
            read_version=lambda: Version("4.1.9"),
        )
    error = caught.value
    assert "4.1.9" in error.message
    assert "4.2.0" in error.message
    assert error.hint
    assert "expected version 4.2.0" in error.details
    assert "found 4.1.9" in error.details
    assert error.code == "install.health"


def test_check_health_version_missing_or_unreadable(tmp_path: Path) -> None:
    with pytest.raises(HealthCheckError) as caught:
        check_health(None, timeout=1, expected_version=Version("1"), read_version=lambda: None)
    assert "no version found" in caught.value.details

    (tmp_path / "VERSION").write_text("garbage\n", encoding="utf-8")
    with pytest.raises(HealthCheckError) as caught:
        check_health(
            None,
            timeout=1,
            expected_version=Version("1"),
            read_version=lambda: read_installed_version(tmp_path, Source(), "tpv.exe"),
        )
    assert "garbage" in caught.value.details
    assert isinstance(caught.value.__cause__, InstallError)


def test_check_health_failing_command() -> None:
    code = (
        "import sys\nfor i in range(50): print('line', i)\n"
        "print('Error: DB schema mismatch')\nsys.exit(3)"
    )
    with pytest.raises(HealthCheckError) as caught:
        check_health(
            py(code), timeout=30, expected_version=Version("1"), read_version=lambda: Version("1")
        )
    error = caught.value
    assert "3" in error.message
    assert "exit code 3" in error.details and "command: " in error.details
    # What it printed is kept apart (for administrators only), the last lines of it:
    assert "Error: DB schema mismatch" in error.output and "line 49" in error.output
    assert "line 10\n" not in error.output
    assert (
        "last output" not in error.details and "Error: DB" not in error.details.split("result:")[1]
    )


def test_check_health_command_timing_out() -> None:
    started = time.monotonic()
    with pytest.raises(HealthCheckError) as caught:
        check_health(
            py("import time; print('checking', flush=True); time.sleep(60)"),
            timeout=1,
            expected_version=Version("1"),
            read_version=lambda: Version("1"),
        )
    assert time.monotonic() - started < 8
    error = caught.value
    assert "within 1 second." in error.message
    assert "timed out after 1 s" in error.details
    assert "checking" in error.output


def test_check_health_command_that_cannot_start(tmp_path: Path) -> None:
    with pytest.raises(HealthCheckError) as caught:
        check_health(
            [str(tmp_path / "missing.exe")],
            timeout=5,
            expected_version=Version("1"),
            read_version=lambda: Version("1"),
        )
    assert "could not be started" in caught.value.details
