"""Apps that really run from an install folder, as TPV.exe does, for engine tests."""

from __future__ import annotations

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
    kind: str  # "python" or "bash"

    def argv(self, mode: str) -> list[str]:
        if self.kind == "python":
            return [str(self.exe), "-c", _PY_APP, mode]
        return [str(self.exe), "-c", _SH_APP, "app", mode]


def install_app(install_dir: Path, name: str = "tpv") -> Launcher:
    """Copy a real interpreter into ``install_dir`` so that processes run from there.

    The real Python binary is preferred (the venv's ``python`` is a symlink, and the OS
    reports the resolved path, so the file itself is copied); if a copied Python cannot
    run here (it may not find its library), a copy of bash is used instead: bash builtins
    alone can ignore SIGTERM and block, so no process outside the folder is involved.
    """
    install_dir.mkdir(parents=True, exist_ok=True)
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
