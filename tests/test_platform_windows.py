"""updater.platform.windows against the real Windows API (the Windows lane, and the
GitHub Actions Windows runner): the registry in both views and its export/import round
trip, version resources of a real program, share modes, files in use, sessions.
WM_CLOSE to a real windowed program is in test_platform.py; msiexec-style exit codes
from a real installer program in test_service.py and test_cli.py.

The POSIX twin and the Windows module's pure logic are tested in test_platform.py and
test_machine.py; these need Windows itself (under Wine, or the real thing).
"""

from __future__ import annotations

import contextlib
import subprocess
import sys
import textwrap
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.apps import STANDIN_INSTALLER_ENV, install_app, standin
from updater.platform.windows import (
    KEY_WOW64_32KEY,
    KEY_WOW64_64KEY,
    UNINSTALL_KEY,
    WindowsPlatform,
    is_sharing_violation,
)

pytestmark = pytest.mark.skipif(
    sys.platform != "win32", reason="the Windows API itself (runs in the Windows lane)"
)

if sys.platform == "win32":
    import winreg

#: Holds ``argv[1]`` open (as programs do: shared read and write, not delete) until its
#: standard input closes.
HOLD_OPEN = textwrap.dedent(
    """
    import sys
    with open(sys.argv[1], "rb"):
        print("open", flush=True)
        sys.stdin.read()
    """
)


@pytest.fixture
def held(tmp_path: Path) -> Iterator[Path]:
    """A file that another process has open."""
    path = tmp_path / "TPV.dll"
    path.write_bytes(b"MZ" + b"\0" * 64)
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD_OPEN, str(path)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline() == "open\n"
        yield path
    finally:
        holder.communicate("", timeout=30)


def test_the_desktop_session_is_this_process_and_its_childrens() -> None:
    session = WindowsPlatform().desktop_session()
    assert session.isdigit()
    child = subprocess.run(
        [
            sys.executable,
            "-c",
            "from updater.platform.windows import WindowsPlatform;"
            "print(WindowsPlatform().desktop_session())",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert child.stdout.strip() == session


@pytest.mark.parametrize(
    ("kind", "value", "expected"),
    [(None, "4.2.0 ", "4.2.0"), ("dword", 7, "7"), (None, "", None)],
)
def test_the_uninstall_entrys_version_is_read_from_the_registry(
    kind: str | None, value: str | int, expected: str | None
) -> None:
    """A per-user uninstall entry (HKCU, where per-user installers register)."""
    name = f"InnovaTest-{uuid.uuid4().hex[:8]}_is1"
    subkey = f"{UNINSTALL_KEY}\\{name}"
    with winreg.CreateKey(winreg.HKEY_CURRENT_USER, subkey) as key:
        value_type = winreg.REG_DWORD if kind == "dword" else winreg.REG_SZ
        winreg.SetValueEx(key, "DisplayVersion", 0, value_type, value)
    try:
        assert WindowsPlatform().read_registry_version(name) == expected
    finally:
        winreg.DeleteKey(winreg.HKEY_CURRENT_USER, subkey)
    assert WindowsPlatform().read_registry_version(name) is None  # gone: no version


def test_a_file_another_program_has_open_is_found_by_the_share_mode_probe(
    held: Path,
) -> None:
    platform = WindowsPlatform()
    (held.parent / "free.txt").write_text("not open")
    assert platform.find_locked_file(held.parent) == held
    assert platform.find_locked_file(held.parent / "free.txt") is None


def test_replacing_a_file_in_use_is_a_sharing_violation_worth_retrying(held: Path) -> None:
    new = held.with_name("TPV.dll.new")
    new.write_bytes(b"MZ new")
    with pytest.raises(OSError) as caught:
        held.unlink()  # what a swap over a program's open file runs into
    assert is_sharing_violation(caught.value), caught.value
    assert held.read_bytes().startswith(b"MZ\0")  # unchanged


@pytest.fixture
def machine_entry() -> Iterator[str]:
    """A name for an uninstall entry under HKLM; every view of it is removed afterwards."""
    name = f"InnovaTest-{uuid.uuid4().hex[:8]}_is1"
    yield name
    for view in (KEY_WOW64_64KEY, KEY_WOW64_32KEY):
        with contextlib.suppress(FileNotFoundError):
            winreg.DeleteKeyEx(winreg.HKEY_LOCAL_MACHINE, f"{UNINSTALL_KEY}\\{name}", view)


def write_machine_entry(name: str, view: int, version: str) -> None:
    access = winreg.KEY_WRITE | view
    with winreg.CreateKeyEx(
        winreg.HKEY_LOCAL_MACHINE, f"{UNINSTALL_KEY}\\{name}", 0, access
    ) as key:
        winreg.SetValueEx(key, "DisplayVersion", 0, winreg.REG_SZ, version)
        winreg.SetValueEx(key, "DisplayName", 0, winreg.REG_SZ, "InnovaCommerce TPV (test)")


def test_a_32_bit_installers_entry_is_found_and_the_64_bit_view_comes_first(
    machine_entry: str,
) -> None:
    """A 32-bit installer (Inno Setup's) writes to the 32-bit view of HKLM; the
    updater is 64-bit and must look there too."""
    platform = WindowsPlatform()
    write_machine_entry(machine_entry, KEY_WOW64_32KEY, "4.1.0")
    assert platform.read_registry_version(machine_entry) == "4.1.0"
    write_machine_entry(machine_entry, KEY_WOW64_64KEY, "4.2.0")
    assert platform.read_registry_version(machine_entry) == "4.2.0"


@pytest.mark.parametrize(
    ("view", "flag"), [(KEY_WOW64_64KEY, "/reg:64"), (KEY_WOW64_32KEY, "/reg:32")], ids=["64", "32"]
)
def test_the_uninstall_entry_survives_reg_export_and_import(
    machine_entry: str, tmp_path: Path, view: int, flag: str
) -> None:
    """What a snapshot keeps of an installer-managed program, and a rollback puts back:
    the entry is exported with reg.exe from the view it is in, deleted (as an installer
    or its uninstaller would), and imported into that same view."""
    platform = WindowsPlatform()
    write_machine_entry(machine_entry, view, "4.1.0")
    saved = tmp_path / "uninstall.reg"

    assert platform.export_uninstall_entry(machine_entry, saved) == flag
    assert saved.read_bytes().startswith(b"\xff\xfeW\x00i\x00n\x00")  # reg.exe's UTF-16
    winreg.DeleteKeyEx(winreg.HKEY_LOCAL_MACHINE, f"{UNINSTALL_KEY}\\{machine_entry}", view)
    assert platform.read_registry_version(machine_entry) is None

    platform.import_uninstall_entry(saved, flag)
    assert platform.read_registry_version(machine_entry) == "4.1.0"
    other = KEY_WOW64_32KEY if view == KEY_WOW64_64KEY else KEY_WOW64_64KEY
    with pytest.raises(FileNotFoundError):  # back in its own view, not the other one
        winreg.OpenKeyEx(
            winreg.HKEY_LOCAL_MACHINE, f"{UNINSTALL_KEY}\\{machine_entry}", 0,
            winreg.KEY_READ | other,
        )  # fmt: skip


def test_no_entry_to_export_and_a_broken_file_to_import(tmp_path: Path) -> None:
    platform = WindowsPlatform()
    missing = f"InnovaTest-{uuid.uuid4().hex[:8]}_is1"
    assert platform.export_uninstall_entry(missing, tmp_path / "none.reg") is None
    broken = tmp_path / "broken.reg"
    broken.write_text("not a registry file")
    with pytest.raises(OSError):
        platform.import_uninstall_entry(broken, "/reg:64")


def test_the_file_version_of_a_real_program(tmp_path: Path) -> None:
    """The version resource that tests/standin/app.rc gives the windowed stand-in."""
    app = install_app(tmp_path / "TPV")
    platform = WindowsPlatform()
    assert platform.read_file_version(app.exe) == "4.2.0.17"
    plain = standin(STANDIN_INSTALLER_ENV, "installer.c")  # built with no version resource
    assert platform.read_file_version(plain) is None
    not_a_program = tmp_path / "notes.txt"
    not_a_program.write_text("hello")
    assert platform.read_file_version(not_a_program) is None


def test_running_programs_are_found_when_psutil_cannot_read_their_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """psutil's image path call is refused on some systems (always under Wine 8) with a
    plain OSError: the platform then asks QueryFullProcessImageNameW, and one process
    that cannot be asked does not end the search."""
    import psutil

    app = install_app(tmp_path / "TPV")
    running = subprocess.Popen(
        app.argv("normal"), stdout=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True
    )
    try:
        assert running.stdout is not None and running.stdout.readline().strip() == "ready"

        def refused(self: psutil.Process) -> str:
            error = OSError(22, "Invalid parameter")
            error.winerror = 87  # type: ignore[attr-defined]
            raise error

        monkeypatch.setattr(psutil.Process, "exe", refused)
        [found] = WindowsPlatform().find_processes(app.exe.parent)
        assert found.pid == running.pid
        assert found.exe.name.lower() == app.exe.name.lower()
    finally:
        running.kill()
        running.wait(timeout=30)
        if running.stdout:
            running.stdout.close()


@pytest.mark.parametrize(
    ("operations", "pending"),
    [
        (["C:\\Temp\\iu.tmp\\_unins.tmp", "", "C:\\Temp\\iu.tmp", ""], False),
        (["C:\\TPV\\new.dll", "!C:\\TPV\\tpv.dll"], True),
        (["C:\\Temp\\old.tmp", "", "C:\\TPV\\new.dll", "!C:\\TPV\\tpv.dll"], True),
    ],
    ids=["deletions", "replacement", "both"],
)
def test_a_restart_is_pending_only_for_files_to_replace(
    monkeypatch: pytest.MonkeyPatch, operations: list[str], pending: bool
) -> None:
    """Pending file operations read from a real REG_MULTI_SZ (winreg's own reading stops
    at the first empty destination); an uninstaller deleting its temporary copy at the
    next start does not make the doctor ask for a restart."""
    from updater.platform.windows import registry

    subkey = rf"Software\InnovaTest-{uuid.uuid4().hex[:8]}"
    with winreg.CreateKey(winreg.HKEY_CURRENT_USER, subkey) as key:
        winreg.SetValueEx(key, registry.PENDING_RENAMES, 0, winreg.REG_MULTI_SZ, operations)
    try:
        mark = ("HKEY_CURRENT_USER", subkey, registry.PENDING_RENAMES)
        monkeypatch.setattr(registry, "REBOOT_PENDING", (mark,))
        assert WindowsPlatform().pending_reboot() is pending
    finally:
        winreg.DeleteKey(winreg.HKEY_CURRENT_USER, subkey)
