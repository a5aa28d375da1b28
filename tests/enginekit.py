"""Real program trees, packages and data folders for the engine's tests."""

from __future__ import annotations

import contextlib
import hashlib
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from updater.install.filelist import FileList
from updater.publish.pack import pack_directory


def make_program(root: Path, version: str, *, files: int = 60, seed: str = "tpv") -> Path:
    """A program directory of ``files`` files in nested folders, content depending on version.

    About a third of the files are the same in every version (as in real releases).
    """
    root.mkdir(parents=True, exist_ok=True)
    (root / "VERSION").write_text(version + "\n")
    for index in range(files):
        stable = index % 3 == 0
        key = f"{seed}-{index}" if stable else f"{seed}-{version}-{index}"
        data = hashlib.sha256(key.encode()).digest() * (16 + index % 40)
        folder = root / f"lib{index % 7}" / f"sub{index % 3}"
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"file{index}.dll").write_bytes(data)
    return root


def make_data(root: Path, label: str) -> Path:
    """A data folder (database, settings) whose content says who wrote it."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "shop.db").write_bytes(f"database written by {label}\n".encode() * 200)
    (root / "config").mkdir(exist_ok=True)
    (root / "config" / "tpv.ini").write_text(f"[tpv]\nwriter={label}\n")
    return root


def tree(root: Path) -> dict[str, str]:
    """Relative path -> SHA-256 of every file under ``root`` ({} when it does not exist)."""
    if not root.exists():
        return {}
    if root.is_file():
        return {"": hashlib.sha256(root.read_bytes()).hexdigest()}
    return {
        p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


@dataclass(frozen=True)
class Machine:
    """A shop PC: an installed old version, its data, a package of the new version."""

    install_dir: Path
    data_dir: Path
    settings_file: Path
    package: Path
    file_list: FileList
    state: Path
    old_tree: dict[str, str]
    new_tree: dict[str, str]
    old_data: dict[str, str]
    old_settings: str

    @property
    def journal_dir(self) -> Path:
        return self.state / "journal"

    @property
    def snapshots(self) -> Path:
        return self.state / "snapshots"

    def leftovers(self) -> list[Path]:
        """Staging, trash or restore folders a transaction left next to the installs."""
        return sorted(
            p
            for folder in (self.install_dir.parent, self.data_dir.parent)
            for p in folder.iterdir()
            if ".innova-" in p.name
        )


def make_machine(base: Path, *, files: int = 60) -> Machine:
    install_dir = make_program(base / "Program Files" / "TPV", "1.0.0", files=files)
    data_dir = make_data(base / "ProgramData" / "TPV" / "data", "1.0.0")
    settings = base / "ProgramData" / "TPV" / "tpv.ini"
    settings.write_text("[tpv]\nprinter=EPSON\n")
    new = make_program(base / "build" / "tpv-2.0.0", "2.0.0", files=files)
    package = base / "downloads" / "tpv-2.0.0.zip"
    package.parent.mkdir(parents=True)
    file_list = pack_directory(new, package)
    return Machine(
        install_dir=install_dir,
        data_dir=data_dir,
        settings_file=settings,
        package=package,
        file_list=file_list,
        state=base / "state",
        old_tree=tree(install_dir),
        new_tree=tree(new),
        old_data=tree(data_dir),
        old_settings=settings.read_text(),
    )


_HOLD_LOCK = """
import os, sys
from pathlib import Path
from updater.machine.state import StateDir
state = StateDir(Path(sys.argv[1]))
state.journal_dir.mkdir(parents=True, exist_ok=True)
with state.lock():
    (state.journal_dir / "tpv.journal").write_text("")
    print("locked", os.getpid(), flush=True)
    sys.stdin.readline()
(state.journal_dir / "tpv.journal").unlink()
"""


@contextlib.contextmanager
def lock_held_elsewhere(state_root: Path) -> Iterator[int]:
    """Another process holds the state folder's lock, as an update of tpv in progress
    would (with its journal), until the block ends. Yields that Python's process id
    (on Windows a venv's python.exe is a launcher whose child runs the code)."""
    holder = subprocess.Popen(
        [sys.executable, "-c", _HOLD_LOCK, str(state_root)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert holder.stdout is not None
        said, pid = holder.stdout.readline().split()
        assert said == "locked"
        yield int(pid)
    finally:
        holder.communicate("\n", timeout=30)
