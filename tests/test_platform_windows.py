"""updater.platform.windows against the real Windows API (the Windows lane, and the
GitHub Actions Windows runner): the registry, share modes, files in use, sessions.

The POSIX twin and the Windows module's pure logic are tested in test_platform.py and
test_machine.py; these need Windows itself (under Wine, or the real thing).
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

pytestmark = pytest.mark.skipif(
    sys.platform != "win32", reason="the Windows API itself (runs in the Windows lane)"
)

if sys.platform == "win32":
    import winreg

    from updater.platform.windows import UNINSTALL_KEY, WindowsPlatform, is_sharing_violation

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
