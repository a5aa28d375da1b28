"""The transaction module on real directories: each step, each failure, each crash point.

The invariant every test protects: after any failure or interruption the product is
exactly the old version or exactly the new one, and its data is exactly what it was.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests import disks
from tests.enginekit import Machine, make_machine, tree
from tests.links import symlink
from tests.wine import not_under_wine, under_wine
from updater.errors import ArchiveError, FileLockedError, InstallError, StorageError
from updater.install.filelist import FileList
from updater.install.transaction import (
    Entry,
    SnapshotInfo,
    UpdateTransaction,
    list_snapshots,
    pending_journals,
    prune_snapshots,
    recover,
)
from updater.observer import NullObserver, Step
from updater.platform import current as platform


class Recorder(NullObserver):
    def __init__(self) -> None:
        self.journal_entries: list[str] = []
        self.steps: list[Step] = []
        self.progress_calls = 0

    def step(self, product: str, step: Step) -> None:
        self.steps.append(step)

    def journal(self, product: str, entry: str) -> None:
        self.journal_entries.append(entry)

    def progress(
        self, product: str, step: Step, done: int, total: int | None, rate: float | None = None
    ) -> None:
        self.progress_calls += 1


@pytest.fixture
def machine(tmp_path: Path) -> Machine:
    return make_machine(tmp_path)


def begin(
    machine: Machine,
    observer: Any = None,
    *,
    versions: tuple[str, str] = ("1.0.0", "2.0.0"),
    reason: str = "update to 2.0.0",
) -> UpdateTransaction:
    return UpdateTransaction.begin(
        journal_dir=machine.journal_dir,
        snapshots_root=machine.snapshots,
        product="tpv",
        install_dir=machine.install_dir,
        from_version=versions[0],
        to_version=versions[1],
        data_paths=[machine.data_dir, machine.settings_file],
        observer=observer or NullObserver(),
        reason=reason,
    )


def assert_old(machine: Machine) -> None:
    assert tree(machine.install_dir) == machine.old_tree, "program is not exactly the old version"
    assert tree(machine.data_dir) == machine.old_data, "data is not exactly what it was"
    assert machine.settings_file.read_text() == machine.old_settings
    assert machine.leftovers() == []
    assert pending_journals(machine.journal_dir) == []


def new_version_writes_data(machine: Machine) -> None:
    """What a new version does on first start: migrate the database, rewrite settings."""
    (machine.data_dir / "shop.db").write_bytes(b"migrated by 2.0.0")
    (machine.data_dir / "new-table.db").write_bytes(b"2.0.0 only")
    machine.settings_file.unlink()


def test_update_commits_and_keeps_a_snapshot(machine: Machine) -> None:
    observer = Recorder()
    tx = begin(machine, observer)
    tx.stage(machine.package, machine.file_list)
    tx.snapshot()
    tx.swap()
    tx.mark_healthy()
    tx.commit()
    assert tree(machine.install_dir) == machine.new_tree
    assert tree(machine.data_dir) == machine.old_data
    assert machine.leftovers() == []
    assert observer.journal_entries == [
        "begin", "staged", "snapshot", "old_out", "new_in", "swapped", "healthy", "committed"
    ]  # fmt: skip
    assert observer.steps == [Step.STAGE, Step.SNAPSHOT, Step.SWAP, Step.COMMIT]
    assert observer.progress_calls > 0
    [snapshot] = list_snapshots(machine.snapshots, "tpv")
    assert snapshot.version == "1.0.0" and snapshot.reason == "update to 2.0.0"
    assert tree(snapshot.path / "program") == machine.old_tree
    assert tree(snapshot.path / "data" / "0") == machine.old_data
    assert pending_journals(machine.journal_dir) == []
    assert len(list((machine.journal_dir / "done").glob("*.journal"))) == 1


def test_failure_after_swap_rolls_back_program_and_data(machine: Machine) -> None:
    tx = begin(machine)
    tx.stage(machine.package, machine.file_list)
    tx.snapshot()
    tx.swap()
    new_version_writes_data(machine)
    assert tx.abort_or_roll_back() == Entry.ROLLED_BACK
    assert_old(machine)
    assert list_snapshots(machine.snapshots, "tpv") == []


def test_failure_while_staging_changes_nothing(machine: Machine) -> None:
    wrong = FileList(machine.file_list.files[1:])  # the package holds a file not listed
    tx = begin(machine)
    with pytest.raises(ArchiveError):
        tx.stage(machine.package, wrong)
    assert tx.abort_or_roll_back() == Entry.ABORTED
    assert_old(machine)


def test_corrupted_package_changes_nothing(machine: Machine) -> None:
    data = bytearray(machine.package.read_bytes())
    data[len(data) // 2] ^= 0xFF
    machine.package.write_bytes(bytes(data))
    tx = begin(machine)
    with pytest.raises(ArchiveError):
        tx.stage(machine.package, machine.file_list)
    assert tx.abort_or_roll_back() == Entry.ABORTED
    assert_old(machine)


def test_snapshot_failure_changes_nothing(machine: Machine) -> None:
    """A data path holding a link cannot be proven restorable: refuse before any move."""
    symlink(machine.data_dir / "link", machine.install_dir, directory=True)
    machine = dataclasses.replace(machine, old_data=tree(machine.data_dir))
    tx = begin(machine)
    tx.stage(machine.package, machine.file_list)
    with pytest.raises(ArchiveError, match="link"):
        tx.snapshot()
    assert tx.abort_or_roll_back() == Entry.ABORTED
    assert tree(machine.install_dir) == machine.old_tree
    assert machine.leftovers() == []
    assert not any((machine.snapshots / "tpv").iterdir())


class LockingPlatform(type(platform)):  # type: ignore[misc]
    """Windows' file locks cannot exist here: this twin reports one, as Windows would."""

    def find_locked_file(self, root: Path) -> Path | None:
        return root / "lib0" / "sub0" / "file0.dll"


def test_locked_file_aborts_cleanly_naming_the_file(machine: Machine) -> None:
    tx = begin(machine)
    tx._platform = LockingPlatform()
    tx.stage(machine.package, machine.file_list)
    tx.snapshot()
    with pytest.raises(FileLockedError, match=r"file0\.dll"):
        tx.swap()
    assert tx.abort_or_roll_back() == Entry.ABORTED
    assert_old(machine)


def test_steps_out_of_order_are_refused(machine: Machine) -> None:
    tx = begin(machine)
    with pytest.raises(RuntimeError):
        tx.swap()
    tx.abort_or_roll_back()


def test_a_second_transaction_waits_for_recovery(machine: Machine) -> None:
    begin(machine)
    with pytest.raises(InstallError, match="not finished"):
        begin(machine)


class Crash(BaseException):
    """Stands for the process dying: nothing after it runs, no cleanup."""


class CrashAt(NullObserver):
    def __init__(self, entry: str) -> None:
        self.entry = entry

    def journal(self, product: str, entry: str) -> None:
        if entry == self.entry:
            raise Crash(entry)


UPDATE_ENTRIES = ["begin", "staged", "snapshot", "old_out", "new_in", "swapped", "healthy"]


@pytest.mark.parametrize("entry", UPDATE_ENTRIES)
def test_crash_at_each_entry_recovers_to_old_or_new(machine: Machine, entry: str) -> None:
    with pytest.raises(Crash):
        tx = begin(machine, CrashAt(entry))
        tx.stage(machine.package, machine.file_list)
        tx.snapshot()
        tx.swap()
        new_version_writes_data(machine)
        tx.mark_healthy()
        tx.commit()
    [result] = recover(machine.journal_dir, NullObserver())
    if entry == "healthy":
        assert result.outcome == Entry.COMMITTED
        assert tree(machine.install_dir) == machine.new_tree
        assert machine.leftovers() == []
    else:
        assert result.outcome in (Entry.ROLLED_BACK, Entry.ABORTED)
        assert_old(machine)
    assert recover(machine.journal_dir, NullObserver()) == []


@pytest.mark.parametrize("entry", ["rollback", "data_restored"])
def test_crash_during_rollback_is_finished_by_recovery(machine: Machine, entry: str) -> None:
    tx = begin(machine, CrashAt(entry))
    tx.stage(machine.package, machine.file_list)
    tx.snapshot()
    tx.swap()
    new_version_writes_data(machine)
    with pytest.raises(Crash):
        tx.abort_or_roll_back()
    [result] = recover(machine.journal_dir, NullObserver())
    assert result.outcome == Entry.ROLLED_BACK
    assert_old(machine)


def test_torn_last_journal_line_is_ignored(machine: Machine) -> None:
    with pytest.raises(Crash):
        tx = begin(machine, CrashAt("old_out"))
        tx.stage(machine.package, machine.file_list)
        tx.snapshot()
        tx.swap()
    journal = next(machine.journal_dir.glob("*.journal"))
    with journal.open("a") as handle:
        handle.write('{"entry": "new_i')  # power cut in the middle of a write
    [result] = recover(machine.journal_dir, NullObserver())
    assert result.outcome == Entry.ROLLED_BACK
    assert_old(machine)


def test_rollback_detects_a_corrupted_snapshot(machine: Machine) -> None:
    tx = begin(machine)
    tx.stage(machine.package, machine.file_list)
    tx.snapshot()
    tx.swap()
    (tx.plan.old_dir / "VERSION").write_text("tampered\n")
    with pytest.raises(InstallError, match="could not be restored exactly"):
        tx.abort_or_roll_back()
    assert len(pending_journals(machine.journal_dir)) == 1  # a technician must look


def test_retention_keeps_the_newest_snapshots(tmp_path: Path) -> None:
    root = tmp_path / "snapshots"
    for index in range(4):
        folder = root / "tpv" / f"2026010{index}T000000Z-0000000{index}"
        folder.mkdir(parents=True)
        (folder / "snapshot.json").write_text(
            json.dumps(
                {
                    "id": folder.name,
                    "product": "tpv",
                    "version": f"1.{index}",
                    "taken_at": "2026-01-01T00:00:00+00:00",
                    "reason": "",
                    "kept": True,
                }
            )
        )
        (folder / "blob").write_bytes(b"x" * 1000)
    deleted = prune_snapshots(root, "tpv", keep=2)
    assert [s.version for s in deleted] == ["1.1", "1.0"]
    assert [s.version for s in list_snapshots(root, "tpv")] == ["1.3", "1.2"]
    prune_snapshots(root, "tpv", keep=2, max_bytes=1500)
    assert [s.version for s in list_snapshots(root, "tpv")] == ["1.3"]


def test_disk_errors_become_storage_errors(machine: Machine) -> None:
    tx = begin(machine)
    tx.stage(machine.package, machine.file_list)
    # The snapshot folder's place is taken by a file: creating it fails like a full disk.
    tx.plan.snapshot_dir.write_text("in the way")
    with pytest.raises(StorageError):
        tx.snapshot()


# --- real disk-full and permission-denied failures ----------------------------------------


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A real 3 MB disk (tests/disks.py), to fill up for real."""
    yield from disks.small_disk(tmp_path / "small-disk", "3m")


@not_under_wine("a write larger than the free space fails with EINVAL, not ENOSPC")
def test_disk_full_while_taking_the_snapshot_changes_nothing(
    tmp_path: Path, small_disk: Path
) -> None:
    """The state folder is on a small disk that the data copies fill up."""
    machine = make_machine(tmp_path / "pc")
    (machine.data_dir / "big.db").write_bytes(os.urandom(5 * 2**20))
    machine = dataclasses.replace(machine, old_data=tree(machine.data_dir))
    tx = UpdateTransaction.begin(
        journal_dir=small_disk / "journal",
        snapshots_root=small_disk / "snapshots",
        product="tpv",
        install_dir=machine.install_dir,
        from_version="1.0.0",
        to_version="2.0.0",
        data_paths=[machine.data_dir],
        observer=NullObserver(),
    )
    tx.stage(machine.package, machine.file_list)
    with pytest.raises(StorageError, match="disk is full"):
        tx.snapshot()
    assert tx.abort_or_roll_back() == Entry.ABORTED
    assert tree(machine.install_dir) == machine.old_tree
    assert tree(machine.data_dir) == machine.old_data
    assert machine.leftovers() == []
    assert not any((small_disk / "snapshots" / "tpv").iterdir())


@contextlib.contextmanager
def folder_that_cannot_move(folder: Path) -> Iterator[None]:
    """POSIX: the folder is immutable (even root is refused). Windows: a file in it is
    open without FILE_SHARE_DELETE, as a running program's files are, so the folder
    cannot be renamed."""
    if sys.platform == "win32":
        if under_wine():
            pytest.skip("Wine 8: a folder holding an open file renames at once")
        held = next(path for path in sorted(folder.rglob("*")) if path.is_file())
        with held.open("rb"):
            yield
        return
    subprocess.run(["chattr", "+i", str(folder)], check=False)
    attributes = subprocess.run(["lsattr", "-d", str(folder)], capture_output=True, text=True)
    if "i" not in attributes.stdout.split()[0]:
        pytest.skip("this file system cannot make a folder immutable")
    try:
        yield
    finally:
        subprocess.run(["chattr", "-i", str(folder)], check=True)


def test_permission_denied_at_the_swap_leaves_the_old_version(machine: Machine) -> None:
    """The install folder cannot be moved: the swap gives up, everything is put back."""
    with folder_that_cannot_move(machine.install_dir):
        tx = begin(machine)
        tx.stage(machine.package, machine.file_list)
        tx.snapshot()
        with pytest.raises(FileLockedError):
            tx.swap()
        assert tx.abort_or_roll_back() in (Entry.ROLLED_BACK, Entry.ABORTED)
    assert_old(machine)


def test_thousands_of_files_update_and_roll_back_exactly(tmp_path: Path) -> None:
    machine = make_machine(tmp_path / "pc", files=3000)
    assert len(machine.old_tree) > 3000
    tx = begin(machine)
    tx.stage(machine.package, machine.file_list)
    tx.snapshot()
    tx.swap()
    assert tree(machine.install_dir) == machine.new_tree
    new_version_writes_data(machine)
    assert tx.abort_or_roll_back() == Entry.ROLLED_BACK
    assert_old(machine)


def test_rollback_keeps_empty_data_folders(machine: Machine) -> None:
    (machine.data_dir / "exports" / "2026").mkdir(parents=True)
    tx = begin(machine)
    tx.stage(machine.package, machine.file_list)
    tx.snapshot()
    tx.swap()
    new_version_writes_data(machine)
    shutil.rmtree(machine.data_dir / "exports")
    tx.abort_or_roll_back()
    assert (machine.data_dir / "exports" / "2026").is_dir()


# --- a restore moves the saved program back by rename -----------------------------------


def updated(machine: Machine) -> None:
    """Update 1.0.0 -> 2.0.0 and let 2.0.0 write its data: 1.0.0 is the kept snapshot."""
    tx = begin(machine)
    tx.stage(machine.package, machine.file_list)
    tx.snapshot()
    tx.swap()
    tx.mark_healthy()
    tx.commit()
    new_version_writes_data(machine)


def begin_restore(machine: Machine, observer: Any = None) -> UpdateTransaction:
    return begin(
        machine, observer, versions=("2.0.0", "1.0.0"), reason="before restoring version 1.0.0"
    )


def restore_all(tx: UpdateTransaction, saved: SnapshotInfo) -> None:
    tx.stage_snapshot(saved)
    tx.snapshot()
    tx.swap()
    tx.apply_snapshot_data(saved)
    tx.mark_healthy()
    tx.commit()


def test_a_restore_moves_the_saved_program_into_place_and_the_snapshot_gives_it_up(
    machine: Machine,
) -> None:
    updated(machine)
    [saved] = list_snapshots(machine.snapshots, "tpv")
    saved_inode = (saved.path / "program").stat().st_ino
    observer = Recorder()
    restore_all(begin_restore(machine, observer), saved)
    assert tree(machine.install_dir) == machine.old_tree
    assert tree(machine.data_dir) == machine.old_data
    # Moved, not copied: the very folder the snapshot held is the install now.
    assert machine.install_dir.stat().st_ino == saved_inode
    assert observer.journal_entries[:3] == ["begin", "take_saved", "staged"]
    [undo] = list_snapshots(machine.snapshots, "tpv")
    assert undo.version == "2.0.0" and not saved.path.exists()
    assert tree(undo.path / "program") == machine.new_tree
    assert machine.leftovers() == []


# --- the next snapshot takes the list of what the updater installed by a stat pass ------


def snapshot_list(snapshot: SnapshotInfo) -> dict[str, str]:
    record = json.loads((snapshot.path / "snapshot.json").read_text())
    return {item["path"]: item["sha256"] for item in record["program"]["files"]}


def test_what_an_update_installed_is_remembered_and_listed_without_reading_it(
    machine: Machine,
) -> None:
    updated(machine)
    installed = json.loads((machine.snapshots / "tpv" / "installed.json").read_text())
    assert installed["version"] == "2.0.0"
    assert FileList.from_json(json.dumps(installed["list"]).encode()) == machine.file_list
    # Change a file's bytes but keep its size and modification time: only a read
    # would see it, and the snapshot of 2.0.0 taken by the restore does not read.
    victim = next(p for p in sorted(machine.install_dir.rglob("*")) if p.is_file())
    before = victim.stat()
    victim.write_bytes(bytes(b ^ 0xFF for b in victim.read_bytes()))
    os.utime(victim, ns=(before.st_atime_ns, before.st_mtime_ns))
    [saved] = list_snapshots(machine.snapshots, "tpv")
    restore_all(begin_restore(machine), saved)
    [undo] = list_snapshots(machine.snapshots, "tpv")
    listed = {e.path: e.sha256 for e in machine.file_list.files}
    assert snapshot_list(undo) == listed  # the remembered list, not a hash of the folder
    # The restore remembers what it put in place in turn.
    after = json.loads((machine.snapshots / "tpv" / "installed.json").read_text())
    assert after["version"] == "1.0.0"


def test_a_program_file_touched_since_the_update_makes_the_snapshot_hash_the_folder(
    machine: Machine,
) -> None:
    updated(machine)
    victim = next(p for p in sorted(machine.install_dir.rglob("*")) if p.is_file())
    victim.write_bytes(bytes(b ^ 0xFF for b in victim.read_bytes()))  # a new mtime
    os.utime(victim, ns=(victim.stat().st_atime_ns, victim.stat().st_mtime_ns + 10**9))
    [saved] = list_snapshots(machine.snapshots, "tpv")
    restore_all(begin_restore(machine), saved)
    [undo] = list_snapshots(machine.snapshots, "tpv")
    relative = victim.relative_to(machine.install_dir).as_posix()
    got = snapshot_list(undo)
    assert got[relative] == hashlib.sha256(victim_bytes(undo, relative)).hexdigest()
    assert got[relative] != {e.path: e.sha256 for e in machine.file_list.files}[relative]


def test_a_file_added_to_the_program_makes_the_snapshot_hash_the_folder(
    machine: Machine,
) -> None:
    updated(machine)
    (machine.install_dir / "extra.log").write_bytes(b"written by the program")
    [saved] = list_snapshots(machine.snapshots, "tpv")
    restore_all(begin_restore(machine), saved)
    [undo] = list_snapshots(machine.snapshots, "tpv")
    assert snapshot_list(undo)["extra.log"] == hashlib.sha256(b"written by the program").hexdigest()


def victim_bytes(snapshot: SnapshotInfo, relative: str) -> bytes:
    return (snapshot.path / "program" / relative).read_bytes()


def test_a_damaged_saved_program_is_refused_before_anything_moves(machine: Machine) -> None:
    updated(machine)
    [saved] = list_snapshots(machine.snapshots, "tpv")
    victim = next(p for p in (saved.path / "program").rglob("*") if p.is_file())
    victim.write_bytes(victim.read_bytes()[:-1])  # one byte short: a size check sees it
    tx = begin_restore(machine)
    with pytest.raises(StorageError, match="damaged"):
        tx.stage_snapshot(saved)
    assert tx.abort_or_roll_back() == Entry.ABORTED
    assert tree(machine.install_dir) == machine.new_tree
    assert (saved.path / "program").is_dir() and machine.leftovers() == []


RESTORE_ENTRIES = [
    "begin", "take_saved", "staged", "snapshot", "old_out", "new_in", "swapped", "data_applied",
    "healthy",
]  # fmt: skip


@pytest.mark.parametrize("entry", RESTORE_ENTRIES)
def test_a_crash_at_each_entry_of_a_restore_ends_restored_or_as_before_with_the_snapshot_whole(
    machine: Machine, entry: str
) -> None:
    updated(machine)
    new_data = tree(machine.data_dir)
    [saved] = list_snapshots(machine.snapshots, "tpv")
    with pytest.raises(Crash):
        restore_all(begin_restore(machine, CrashAt(entry)), saved)
    [result] = recover(machine.journal_dir, NullObserver())
    if entry == "healthy":
        assert result.outcome == Entry.COMMITTED
        assert tree(machine.install_dir) == machine.old_tree
        assert tree(machine.data_dir) == machine.old_data
        assert [s.version for s in list_snapshots(machine.snapshots, "tpv")] == ["2.0.0"]
    else:
        assert result.outcome in (Entry.ROLLED_BACK, Entry.ABORTED)
        assert tree(machine.install_dir) == machine.new_tree
        assert tree(machine.data_dir) == new_data
        # The saved 1.0.0 is whole again, and can be restored another day.
        assert [s.id for s in list_snapshots(machine.snapshots, "tpv")] == [saved.id]
        assert tree(saved.path / "program") == machine.old_tree
        restore_all(begin_restore(machine), saved)
        assert tree(machine.install_dir) == machine.old_tree
    assert machine.leftovers() == []
    assert recover(machine.journal_dir, NullObserver()) == []
