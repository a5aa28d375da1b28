"""Apps that really run from an install folder, as TPV.exe does, for engine tests."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

_PY_APP = """
import signal, sys, time
if sys.argv[1] == "ignore-term":
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
print("ready", flush=True)
time.sleep(60)
"""

_SH_APP = """
if [ "$1" = ignore-term ]; then trap '' TERM; fi
fifo="$(mktemp -u)"; mkfifo "$fifo"; exec 3<>"$fifo"; rm -f "$fifo"
echo ready
read -t 60 -u 3 _
"""


@dataclass
class Launcher:
    """How to start a program that runs from ``exe`` (inside an install folder)."""

    exe: Path
    kind: str  # "python", "bash" or "windowed" (tests/standin/app.c, on Windows)

    def argv(self, mode: str) -> list[str]:
        if self.kind == "windowed":
            return [str(self.exe), mode]
        if self.kind == "python":
            return [str(self.exe), "-c", _PY_APP, mode]
        return [str(self.exe), "-c", _SH_APP, "app", mode]


#: Where .ci/windows-lane (and the Windows workflow) put the stand-ins they build.
APP_ENV = "INNOVA_TEST_APP_EXE"
STANDIN_INSTALLER_ENV = "INNOVA_TEST_INSTALLER_EXE"


def standin(env: str, source: str) -> Path:
    """A Windows stand-in program built from ``tests/standin/<source>`` (by mingw-w64, in
    .ci/windows-lane and the Windows workflow), named by the environment variable ``env``."""
    built = os.environ.get(env)
    if not built:
        pytest.skip(
            f"Windows runs only real programs: this one is built from tests/standin/{source} "
            f"with mingw-w64 by .ci/windows-lane ({env})"
        )
    return Path(built)


def install_app(install_dir: Path, name: str = "tpv") -> Launcher:
    """Copy a real interpreter into ``install_dir`` so that processes run from there.

    The real Python binary is preferred (the venv's ``python`` is a symlink, and the OS
    reports the resolved path, so the file itself is copied); if a copied Python cannot
    run here (it may not find its library), a copy of bash is used instead: bash builtins
    alone can ignore SIGTERM and block, so no process outside the folder is involved.

    On Windows a program is asked to close through its windows (``WM_CLOSE``), so the
    app is the windowed stand-in of tests/standin/app.c, copied in as ``<name>.exe``.
    """
    install_dir.mkdir(parents=True, exist_ok=True)
    if sys.platform == "win32":
        exe = install_dir / f"{name}.exe"
        shutil.copy2(standin(APP_ENV, "app.c"), exe)
        return Launcher(exe, "windowed")
    exe = install_dir / name
    shutil.copy2(Path(sys.executable).resolve(), exe)
    probe = subprocess.run([str(exe), "-c", "pass"], capture_output=True, timeout=30)
    if probe.returncode == 0:
        return Launcher(exe, "python")
    bash = shutil.which("bash")
    if bash is None:
        pytest.skip("neither a copied python nor bash can run from a temporary folder")
    shutil.copy2(Path(bash).resolve(), exe)
    return Launcher(exe, "bash")
