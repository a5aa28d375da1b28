"""Every filesystem change to an installed product, and the journal that makes it safe.

An update is one :class:`UpdateTransaction`: *stage* the new version next to the
install directory, take a *snapshot* (copies of the data paths, and the list with
hashes of every program file), *swap* (the program directory moves into the snapshot,
the staged one into its place: two renames on one volume), then *commit* or *roll
back*. Each step is written to the product's journal and fsynced before it happens, so
that :func:`recover`, which every command runs first, finds any transaction a crash,
kill or power cut interrupted and puts the product back to exactly the old version, or
finishes it when the journal proves the new one was complete and healthy.

Nothing else in the updater renames or deletes install folders. Decisions about *what*
to install, hooks and health checks are the service's; this module only moves files,
and it reports each durable journal entry to the observer.

Layout (all names derived from the plan written in the journal's first line)::

    <install_dir>                         the product, as the shop runs it
    <parent>/.<name>.innova-new-<txid>    staging: the new version (same volume)
    <parent>/.<name>.innova-old-<txid>    the old program when the snapshot store is on
                                          another volume (else it moves into the snapshot)
    <parent>/.<name>.innova-trash-<txid>  what a rollback moved out of the way
    <state>/snapshots/<product>/<id>/     snapshot.json, program/, data/<n>
    <state>/journal/<product>.journal     the journal of the transaction in progress
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import os
import shutil
import stat
import uuid
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Any

from updater.errors import (
    ArchiveError,
    FileLockedError,
    InstallError,
    PreflightError,
    StorageError,
    UpdaterError,
)
from updater.fsutil import is_link_like, write_atomic
from updater.i18n import _
from updater.install.archive import extract_zip, verify_tree
from updater.install.delta import build_from_delta
from updater.install.filelist import FileEntry, FileList, describe_tree
from updater.install.health import run_command
from updater.observer import Observer, Step
from updater.platform import current as current_platform
from updater.platform.base import LinkRefusedError, Platform

_CHUNK = 1 << 20
SNAPSHOT_FILE = "snapshot.json"


class Entry(StrEnum):
    """Journal entries, in the order an update writes them."""

    BEGIN = "begin"
    STAGED = "staged"
    SNAPSHOT = "snapshot"  # data copied and the program's file list recorded
    OLD_OUT = "old_out"  # about to move the old program away
    INSTALLING = "installing"  # about to run an installer package (it changes files in place)
    NEW_IN = "new_in"  # about to move the new program into place
    SWAPPED = "swapped"
    DATA_APPLIED = "data_applied"  # a restore put one data path back from its snapshot
    HEALTHY = "healthy"  # the service's checks passed: recovery may finish the commit
    COMMITTED = "committed"  # end
    ROLLBACK = "rollback"  # a rollback starts (or restarts, after a crash)
    DATA_RESTORED = "data_restored"  # one data path is back (with its index)
    ROLLED_BACK = "rolled_back"  # end
    ABORTED = "aborted"  # end: stopped before anything of the product changed


ENDS = frozenset({Entry.COMMITTED, Entry.ROLLED_BACK, Entry.ABORTED})


def new_id() -> str:
    """A sortable unique id: UTC time to the microsecond, then a random suffix (two
    snapshots taken in the same second still sort in the order they were taken)."""
    return datetime.now(UTC).strftime("%Y%m%dT%H%M%S.%fZ") + "-" + uuid.uuid4().hex[:8]


@dataclass(frozen=True)
class Plan:
    """Everything a transaction touches, written as the journal's first entry."""

    txid: str
    product: str
    install_dir: Path
    from_version: str | None
    to_version: str
    snapshot_dir: Path
    data_paths: tuple[Path, ...]
    reason: str
    method: str = "zip"  # "zip": staged folder swapped in; "installer": run in place
    registry_key: str | None = None  # the uninstall entry saved with the snapshot

    @property
    def _sibling_prefix(self) -> Path:
        return self.install_dir.parent / f".{self.install_dir.name}.innova"

    @property
    def staging_dir(self) -> Path:
        return Path(f"{self._sibling_prefix}-new-{self.txid}")

    @property
    def old_dir(self) -> Path:
        """Where the old program goes on the swap: into the snapshot when it is on the
        install's volume (a rename), else next to the install (its copy is verified)."""
        if same_volume(self.install_dir.parent, self.snapshot_dir.parent):
            return self.snapshot_dir / "program"
        return Path(f"{self._sibling_prefix}-old-{self.txid}")

    @property
    def restore_dir(self) -> Path:
        """Where a rollback of an installer prepares the verified copy of the old program."""
        return Path(f"{self._sibling_prefix}-restore-{self.txid}")

    @property
    def trash_dir(self) -> Path:
        return Path(f"{self._sibling_prefix}-trash-{self.txid}")

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["install_dir"] = str(self.install_dir)
        data["snapshot_dir"] = str(self.snapshot_dir)
        data["data_paths"] = [str(p) for p in self.data_paths]
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Plan:
        return cls(
            txid=str(data["txid"]),
            product=str(data["product"]),
            install_dir=Path(data["install_dir"]),
            from_version=data.get("from_version"),
            to_version=str(data["to_version"]),
            snapshot_dir=Path(data["snapshot_dir"]),
            data_paths=tuple(Path(p) for p in data["data_paths"]),
            reason=str(data.get("reason", "")),
            method=str(data.get("method", "zip")),
            registry_key=data.get("registry_key"),
        )


def same_volume(a: Path, b: Path) -> bool:
    """Whether two existing folders are on one file system (so a rename can move between)."""
    return a.stat().st_dev == b.stat().st_dev


# ------------------------------------------------------------------------------ journal


class Journal:
    """Append-only JSON lines, each fsynced before the step it announces is taken."""

    def __init__(self, path: Path, product: str, observer: Observer) -> None:
        self.path = path
        self.product = product
        self._observer = observer

    @classmethod
    def begin(cls, journal_dir: Path, plan: Plan, observer: Observer) -> Journal:
        journal_dir.mkdir(parents=True, exist_ok=True)
        path = journal_dir / f"{plan.product}.journal"
        if path.exists():
            raise InstallError(
                _("An earlier update of {product} was not finished; run recovery first.").format(
                    product=plan.product
                )
            )
        journal = cls(path, plan.product, observer)
        journal.write(Entry.BEGIN, plan=plan.to_json())
        current_platform.fsync_dir(journal_dir)
        return journal

    def write(self, entry: Entry, **data: Any) -> None:
        line = json.dumps(
            {"entry": entry.value, "time": datetime.now(UTC).isoformat(), **data},
            ensure_ascii=False,
        )
        with self.path.open("a", encoding="utf-8") as handle:
            handle.write(line + "\n")
            handle.flush()
            os.fsync(handle.fileno())
        self._observer.journal(self.product, entry.value)

    @staticmethod
    def read(path: Path) -> tuple[Plan, list[dict[str, Any]]]:
        """The plan and entries of a journal; a torn last line (crash mid-write) is ignored.

        Raises:
            StorageError: the journal has no readable plan.
        """
        entries: list[dict[str, Any]] = []
        with path.open(encoding="utf-8", errors="replace") as handle:
            for line in handle:
                try:
                    entries.append(json.loads(line))
                except json.JSONDecodeError:
                    break
        if not entries or entries[0].get("entry") != Entry.BEGIN:
            raise StorageError(
                _(
                    "The update journal {path} is damaged; a technician must check the install."
                ).format(path=path)
            )
        return Plan.from_json(entries[0]["plan"]), entries

    def finish(self, entry: Entry) -> None:
        """Write the end entry and file the journal away under ``done/``."""
        self.write(entry)
        _file_away(self.path)


# ----------------------------------------------------------------------- file helpers


def _rename(src: Path, dst: Path, platform: Platform) -> None:
    platform.replace_dir_retrying(src, dst)
    platform.fsync_dir(dst.parent)
    if src.parent != dst.parent:
        platform.fsync_dir(src.parent)


def _remove(path: Path, platform: Platform = current_platform) -> None:
    """Delete a file or a tree (read-only entries too) if it exists, following no link
    on its way or in it (users may write in data folders, and in some program folders:
    a folder swapped for a junction while SYSTEM deletes must not lead it elsewhere)."""
    platform.remove_no_follow(path)


def _copy_file(src: Path, dst: Path, on_chunk: Callable[[int], None], platform: Platform) -> str:
    """Copy one file durably, reading it without following a link; returns the SHA-256
    of what was read."""
    digest = hashlib.sha256()
    with platform.open_no_follow(src) as reader, dst.open("xb") as writer:
        while chunk := reader.read(_CHUNK):
            writer.write(chunk)
            digest.update(chunk)
            on_chunk(len(chunk))
        writer.flush()
        os.fsync(writer.fileno())
    shutil.copystat(src, dst, follow_symlinks=False)
    return digest.hexdigest()


def _walk_no_follow(
    root: Path, platform: Platform
) -> tuple[list[tuple[str, Path, int]], list[str]]:
    """The regular files under ``root`` as (POSIX relative path, path, size) and its
    folders (relative), every folder listed through the platform's no-follow scan.

    Raises:
        LinkRefusedError: a link or junction is in it, or on the way to it.
        OSError: a folder cannot be read, or holds a special file.
    """
    files: list[tuple[str, Path, int]] = []
    folders: list[str] = []
    pending = [(root, "")]
    while pending:
        folder, prefix = pending.pop()
        for name, is_folder, size in platform.scan_no_follow(folder):
            if is_folder:
                folders.append(prefix + name)
                pending.append((folder / name, prefix + name + "/"))
            else:
                files.append((prefix + name, folder / name, size))
    return sorted(files), sorted(folders)


def _refuse_link(exc: LinkRefusedError) -> ArchiveError:
    return ArchiveError(
        _("{path} is a link or junction, which the updater does not copy.").format(
            path=exc.filename
        )
    )


def copy_verified(
    src: Path,
    dst: Path,
    on_chunk: Callable[[int], None],
    platform: Platform = current_platform,
) -> FileList | None:
    """Copy a file or a folder to ``dst`` (which must not exist), then prove the copy.
    The source is read without following any link (``src`` may be a data folder that
    users write): a link or junction in it, or on the way to it, is refused.

    Returns the copy's file list (a file's list holds one entry named ``""``), or None
    when ``src`` does not exist.

    Raises:
        ArchiveError: ``src`` holds (or is reached through) a link or junction.
        StorageError: a copy differs from its source after writing (bad disk).
        OSError: reading or writing failed (disk full, permissions).
    """
    try:
        info = src.lstat()
    except FileNotFoundError:
        return None
    made: list[Path] = []
    entries: list[FileEntry] = []
    try:
        if is_link_like(info):
            raise LinkRefusedError(errno.ELOOP, "a link", str(src))
        if not stat.S_ISDIR(info.st_mode):
            dst.parent.mkdir(parents=True, exist_ok=True)
            sha = _copy_file(src, dst, on_chunk, platform)
            written = describe_file(dst)
            if written.sha256 != sha:
                raise StorageError(_("The copy of {path} is damaged.").format(path=src))
            return FileList((written,))
        # One read of the source: its list is made of the hashes taken while copying.
        files, folders = _walk_no_follow(src, platform)
        dst.mkdir(parents=True)
        made.append(dst)
        for relative in folders:  # parents first (sorted), empty ones too
            folder = dst.joinpath(*relative.split("/"))
            folder.mkdir()
            made.append(folder)
        for relative, source, _size in files:
            target = dst.joinpath(*relative.split("/"))
            sha = _copy_file(source, target, on_chunk, platform)
            entries.append(FileEntry(relative, target.stat().st_size, sha))
    except LinkRefusedError as exc:
        raise _refuse_link(exc) from exc
    for folder in reversed(made):
        current_platform.fsync_dir(folder)  # the new entries survive a power cut
    source_list = FileList(tuple(entries))
    try:
        verify_tree(dst, source_list)
    except ArchiveError as exc:
        raise StorageError(
            _("The copy of {path} is damaged: {problem}").format(path=src, problem=exc.message)
        ) from exc
    return source_list


def describe_file(path: Path, platform: Platform = current_platform) -> FileEntry:
    """A file as a one-entry file list entry (path ``""``), read without following a
    link."""
    digest = hashlib.sha256()
    size = 0
    with platform.open_no_follow(path) as stream:
        while chunk := stream.read(_CHUNK):
            digest.update(chunk)
            size += len(chunk)
    return FileEntry("", size, digest.hexdigest())


def describe_path(path: Path, platform: Platform = current_platform) -> FileList | None:
    """The file list of a data path as it is now (None when it does not exist), read
    without following a link.

    Raises:
        ArchiveError: it holds (or is reached through) a link or junction.
    """
    try:
        info = path.lstat()
    except FileNotFoundError:
        return None
    try:
        if is_link_like(info):
            raise LinkRefusedError(errno.ELOOP, "a link", str(path))
        if not path.is_dir():
            return FileList((describe_file(path, platform),))
        files, _folders = _walk_no_follow(path, platform)
        entries = []
        for relative, source, _size in files:
            found = describe_file(source, platform)
            entries.append(FileEntry(relative, found.size, found.sha256))
    except LinkRefusedError as exc:
        raise _refuse_link(exc) from exc
    return FileList(tuple(entries))


def refuse_replaceable(paths: Sequence[Path], platform: Platform) -> None:
    """Refuse to work on a program folder or data path that someone other than an
    administrator could swap for a link or another folder while the updater works on
    it (``platform.replaceable_by_others``): the updater, often SYSTEM, would then read
    or write wherever that link points.

    Raises:
        PreflightError: one of them; nothing was changed.
    """
    for path in paths:
        reason = platform.replaceable_by_others(path)
        if reason is not None:
            raise PreflightError(
                _("The updater will not work on {path}: {reason}").format(path=path, reason=reason),
                hint=_(
                    "Nothing was changed. Only administrators may be able to rename or "
                    "replace the folders that hold it; ask your IT support."
                ),
            )


def _io_error(exc: OSError, what: str) -> UpdaterError:
    if exc.errno == errno.ENOSPC:
        return StorageError(
            _("The disk is full while {what}.").format(what=what),
            hint=_("Free some disk space and try again."),
        )
    if isinstance(exc, PermissionError):
        return StorageError(
            _("Permission denied while {what}: {path}").format(what=what, path=exc.filename),
            hint=_("Run the updater with administrator rights."),
        )
    return StorageError(_("Error while {what}: {error}").format(what=what, error=exc))


# ---------------------------------------------------------------------------- snapshots


@dataclass
class SnapshotRecord:
    """``snapshot.json``: what a snapshot holds and how to prove a restore."""

    id: str
    product: str
    version: str | None
    taken_at: str
    reason: str
    program: dict[str, Any] | None = None  # FileList document of the program dir
    data: list[dict[str, Any]] = field(default_factory=list)  # path, stored, list|None
    registry: dict[str, str] | None = None  # {"file": ..., "where": ...} when saved
    kept: bool = False  # True once the transaction that took it committed

    def write(self, directory: Path) -> None:
        data = json.dumps(asdict(self), indent=2, ensure_ascii=False).encode()
        write_atomic(directory / SNAPSHOT_FILE, data)

    @classmethod
    def load(cls, directory: Path) -> SnapshotRecord:
        raw = json.loads((directory / SNAPSHOT_FILE).read_text(encoding="utf-8"))
        return cls(**raw)

    def program_list(self) -> FileList | None:
        return FileList.from_json(json.dumps(self.program).encode()) if self.program else None


@dataclass(frozen=True)
class SnapshotInfo:
    """A kept snapshot, as listed to a person."""

    id: str
    product: str
    version: str | None
    taken_at: datetime
    reason: str
    size: int
    path: Path


def list_snapshots(snapshots_root: Path, product: str) -> list[SnapshotInfo]:
    """The kept snapshots of ``product``, newest first (unfinished ones are not listed)."""
    folder = snapshots_root / product
    found: list[SnapshotInfo] = []
    if not folder.is_dir():
        return found
    for directory in folder.iterdir():
        try:
            record = SnapshotRecord.load(directory)
        except (OSError, ValueError, TypeError):
            continue
        if not record.kept:
            continue
        size = sum(f.stat().st_size for f in directory.rglob("*") if f.is_file())
        found.append(
            SnapshotInfo(
                id=record.id,
                product=record.product,
                version=record.version,
                taken_at=datetime.fromisoformat(record.taken_at),
                reason=record.reason,
                size=size,
                path=directory,
            )
        )
    found.sort(key=lambda s: s.id, reverse=True)
    return found


def prune_snapshots(
    snapshots_root: Path, product: str, *, keep: int, max_bytes: int | None = None
) -> list[SnapshotInfo]:
    """Delete kept snapshots beyond the newest ``keep`` (and beyond the disk budget,
    always keeping the newest one). Returns what was deleted."""
    snapshots = list_snapshots(snapshots_root, product)
    doomed = snapshots[keep:]
    if max_bytes is not None:
        total = 0
        for index, snapshot in enumerate(snapshots[:keep]):
            total += snapshot.size
            if index > 0 and total > max_bytes:
                doomed.append(snapshot)
    for snapshot in doomed:
        _remove(snapshot.path)
    # Leftovers of transactions that never finished and are not being recovered.
    return doomed


# ------------------------------------------------------------------------ transactions


class UpdateTransaction:
    """One update of one product from a zip package. Steps must run in order.

    Raises (from every step): :class:`StorageError` for disk problems, with nothing left
    half-done by that step; :class:`RuntimeError` when steps are called out of order.
    """

    def __init__(
        self,
        plan: Plan,
        journal: Journal,
        observer: Observer,
        platform: Platform = current_platform,
    ) -> None:
        self.plan = plan
        self.journal = journal
        self._observer = observer
        self._platform = platform
        self._done: list[Entry] = [Entry.BEGIN]

    @classmethod
    def begin(
        cls,
        *,
        journal_dir: Path,
        snapshots_root: Path,
        product: str,
        install_dir: Path,
        from_version: str | None,
        to_version: str,
        data_paths: Sequence[Path],
        observer: Observer,
        reason: str = "",
        method: str = "zip",
        registry_key: str | None = None,
        platform: Platform = current_platform,
    ) -> UpdateTransaction:
        refuse_replaceable([install_dir, *data_paths], platform)
        txid = new_id()
        snapshot_dir = snapshots_root / product / txid
        snapshot_dir.parent.mkdir(parents=True, exist_ok=True)
        plan = Plan(
            txid=txid,
            product=product,
            install_dir=install_dir,
            from_version=from_version,
            to_version=to_version,
            snapshot_dir=snapshot_dir,
            data_paths=tuple(data_paths),
            reason=reason,
            method=method,
            registry_key=registry_key,
        )
        journal = Journal.begin(journal_dir, plan, observer)
        return cls(plan, journal, observer, platform)

    def _expect(self, previous: Entry) -> None:
        if self._done[-1] != previous:
            raise RuntimeError(f"transaction step out of order after {self._done[-1]}")

    def _meter(self, step: Step, total: int) -> _Meter:
        return _Meter(lambda done: self._observer.progress(self.plan.product, step, done, total))

    # -- 1. stage ------------------------------------------------------------------------

    def stage(self, package: Path, expected: FileList) -> None:
        """Extract the package next to the install dir and prove it is the release.

        Raises:
            ArchiveError: the package is unsafe or does not match its file list (the
                staging folder is removed).
            StorageError: disk full, permission denied.
        """
        self._stage_with(
            lambda progress: extract_zip(
                package, self.plan.staging_dir, expected, progress=progress
            )
        )

    def stage_delta(self, delta: Path, expected: FileList) -> None:
        """Build the new version next to the install dir from the installed one and a
        delta package (:mod:`updater.install.delta`), and prove it is the release.

        The installed version is only read. On failure the staging folder is removed and
        the transaction is still at its beginning, so :meth:`stage` can follow with the
        full package.

        Raises:
            DeltaBaseError: the installed files are not the delta's base.
            IntegrityError: the delta does not make exactly the release.
            ArchiveError, StorageError: the new files cannot be written.
        """
        self._stage_with(
            lambda progress: build_from_delta(
                delta, self.plan.install_dir, self.plan.staging_dir, expected, progress=progress
            )
        )

    def _stage_with(self, build: Callable[[Callable[[int, int], None]], None]) -> None:
        """Run ``build`` (which makes the staging folder, reporting its progress), then
        record the stage; a full disk or a refused write becomes a :class:`StorageError`."""
        self._expect(Entry.BEGIN)
        product = self.plan.product
        self._observer.step(product, Step.STAGE)
        try:
            build(lambda done, total: self._observer.progress(product, Step.STAGE, done, total))
        except ArchiveError as exc:
            cause = exc.__cause__
            if isinstance(cause, OSError) and cause.errno in (errno.ENOSPC, errno.EACCES):
                raise _io_error(cause, _("extracting the update")) from exc
            raise
        self._platform.fsync_dir(self.plan.install_dir.parent)
        self.journal.write(Entry.STAGED)
        self._done.append(Entry.STAGED)

    def stage_installer(self, installer: Path) -> None:
        """Record the (verified) installer package to run; installers change the program
        folder in place, so nothing is staged next to it."""
        self._expect(Entry.BEGIN)
        if self.plan.method != "installer":
            raise RuntimeError("stage_installer() needs a transaction begun with an installer")
        self.journal.write(Entry.STAGED, installer=str(installer))
        self._done.append(Entry.STAGED)

    def stage_snapshot(self, source: SnapshotInfo) -> None:
        """Stage the program of a kept snapshot (a restore) and prove it is exactly it.

        Raises:
            StorageError: the copy failed or the snapshot no longer matches its own list
                (the staging folder is removed).
        """
        self._expect(Entry.BEGIN)
        product = self.plan.product
        self._observer.step(product, Step.STAGE)
        record = SnapshotRecord.load(source.path)
        expected = record.program_list()
        if expected is None:
            raise StorageError(_("The snapshot {id} holds no program.").format(id=source.id))
        meter = self._meter(Step.STAGE, expected.installed_size)
        try:
            copy_verified(source.path / "program", self.plan.staging_dir, meter.add)
            verify_tree(self.plan.staging_dir, expected)
        except ArchiveError as exc:
            _remove(self.plan.staging_dir)
            raise StorageError(
                _("The saved copy {id} is damaged: {problem}").format(
                    id=source.id, problem=exc.message
                )
            ) from exc
        except OSError as exc:
            _remove(self.plan.staging_dir)
            raise _io_error(exc, _("preparing the saved version")) from exc
        self._platform.fsync_dir(self.plan.install_dir.parent)
        self.journal.write(Entry.STAGED, source=str(source.path))
        self._done.append(Entry.STAGED)

    # -- 2. snapshot ---------------------------------------------------------------------

    def snapshot(self) -> None:
        """Copy the data paths into the snapshot and record the program's file list.

        Raises:
            StorageError: a copy failed or is damaged (the partial snapshot is removed).
            ArchiveError: the program folder holds links the updater cannot restore.
        """
        self._expect(Entry.STAGED)
        plan = self.plan
        self._observer.step(plan.product, Step.SNAPSHOT)
        record = SnapshotRecord(
            id=plan.txid,
            product=plan.product,
            version=plan.from_version,
            taken_at=datetime.now(UTC).isoformat(),
            reason=plan.reason,
        )
        try:
            plan.snapshot_dir.mkdir(parents=True)
            if plan.data_paths:  # the shop's data is the shop's: administrators only
                self._platform.make_private(plan.snapshot_dir / "data")
            total = sum(describe_size(p) for p in plan.data_paths) + describe_size(plan.install_dir)
            meter = self._meter(Step.SNAPSHOT, total)
            for index, path in enumerate(plan.data_paths):
                stored = f"data/{index}"
                copied = copy_verified(path, plan.snapshot_dir / stored, meter.add, self._platform)
                record.data.append(
                    {
                        "path": str(path),
                        "stored": stored,
                        "kind": _kind(path, copied),
                        "list": None if copied is None else json.loads(copied.to_json()),
                    }
                )
            program = describe_tree(plan.install_dir, progress=meter.absolute())
            record.program = json.loads(program.to_json())
            if plan.method == "installer" or plan.old_dir != plan.snapshot_dir / "program":
                # An installer changes the folder in place, and another volume cannot
                # take a rename: the snapshot keeps a verified copy of the program.
                copy_verified(plan.install_dir, plan.snapshot_dir / "program", meter.add)
            if plan.registry_key:
                saved = plan.snapshot_dir / "uninstall.reg"
                where = self._platform.export_uninstall_entry(plan.registry_key, saved)
                if where is not None:
                    record.registry = {"file": saved.name, "where": where}
            record.write(plan.snapshot_dir)
            self._platform.fsync_dir(plan.snapshot_dir)
        except OSError as exc:
            _remove(plan.snapshot_dir)
            raise _io_error(exc, _("saving a copy of the current version")) from exc
        except UpdaterError:
            _remove(plan.snapshot_dir)
            raise
        self.journal.write(Entry.SNAPSHOT)
        self._done.append(Entry.SNAPSHOT)

    # -- 3. swap -------------------------------------------------------------------------

    def swap(self) -> None:
        """Move the old program out (into the snapshot) and the new one into place.

        Raises:
            FileLockedError: a file of the old program is in use (nothing moved).
            StorageError: a rename failed (the old program is put back first).
        """
        self._expect(Entry.SNAPSHOT)
        plan = self.plan
        self._observer.step(plan.product, Step.SWAP)
        locked = self._platform.find_locked_file(plan.install_dir)
        if locked is not None:
            raise FileLockedError(
                _("{path} is in use by another program; close it and try again.").format(
                    path=locked
                ),
                path=locked,
            )
        self.journal.write(Entry.OLD_OUT)
        _rename(plan.install_dir, plan.old_dir, self._platform)
        self.journal.write(Entry.NEW_IN)
        _rename(plan.staging_dir, plan.install_dir, self._platform)
        self.journal.write(Entry.SWAPPED)
        self._done.append(Entry.SWAPPED)

    def run_installer(
        self,
        installer: Path,
        *,
        fmt: str,
        args: Sequence[str],
        success_codes: Sequence[int],
        reboot_codes: Sequence[int],
        timeout: float,
    ) -> bool:
        """Run the installer package silently; returns whether a reboot is pending.

        Raises:
            InstallError: the installer failed (another exit code) or timed out; the
                caller rolls back.
        """
        self._expect(Entry.SNAPSHOT)
        product = self.plan.product
        self._observer.step(product, Step.SWAP)
        self.journal.write(Entry.INSTALLING)
        result = run_command(
            self._platform.installer_command(installer, fmt, args),
            timeout=timeout,
            cwd=installer.parent,
            platform=self._platform,
        )
        code = result.returncode
        if code is None or (code not in success_codes and code not in reboot_codes):
            raise InstallError(
                _("The installer of {product} failed (exit code {code}).").format(
                    product=product, code="timeout" if result.timed_out else code
                ),
                hint=result.output[-500:] or None,
            )
        reboot = code in reboot_codes
        self.journal.write(Entry.SWAPPED, reboot=reboot)
        self._done.append(Entry.SWAPPED)
        return reboot

    def apply_snapshot_data(self, source: SnapshotInfo) -> None:
        """After the swap of a restore: put the data paths back as ``source`` saved them
        (what they hold now is in this transaction's own snapshot)."""
        self._expect(Entry.SWAPPED)
        record = SnapshotRecord.load(source.path)
        saved = {item["path"]: item for item in record.data}
        for index, path in enumerate(self.plan.data_paths):
            item = saved.get(str(path))
            if item is None:  # not a data path when that snapshot was taken: leave it
                continue
            restore_data_path(source.path, self.plan.txid, item, self._platform)
            self.journal.write(Entry.DATA_APPLIED, index=index)
        if record.registry:
            self._platform.import_uninstall_entry(
                source.path / record.registry["file"], record.registry["where"]
            )

    # -- 4. commit or roll back ----------------------------------------------------------

    def mark_healthy(self) -> None:
        """The service's checks passed: from now on recovery finishes the commit."""
        self._expect(Entry.SWAPPED)
        self.journal.write(Entry.HEALTHY)
        self._done.append(Entry.HEALTHY)

    def commit(self) -> None:
        """Keep the snapshot, drop what the swap left aside, end the journal."""
        self._expect(Entry.HEALTHY)
        self._observer.step(self.plan.product, Step.COMMIT)
        _finish_commit(self.plan, self.journal, self._platform)
        self._done.append(Entry.COMMITTED)

    def abort_or_roll_back(self) -> Entry:
        """Undo whatever this transaction did; returns ABORTED or ROLLED_BACK.

        Raises:
            UpdaterError: the rollback itself failed (a technician is needed); the
                journal stays, so the next run's recovery tries again.
        """
        if self._done[-1] in ENDS:
            return self._done[-1]
        self._observer.step(self.plan.product, Step.ROLLBACK)
        _, entries = Journal.read(self.journal.path)
        outcome = _undo(self.plan, entries, self.journal, self._observer, self._platform)
        self._done.append(outcome)
        return outcome


def _kind(path: Path, copied: FileList | None) -> str:
    if copied is None:
        return "missing"
    return "file" if path.is_file() else "dir"


class _Meter:
    """Adds up bytes done across several operations and reports the running total."""

    def __init__(self, report: Callable[[int], None]) -> None:
        self._report = report
        self.done = 0

    def add(self, size: int) -> None:
        self.done += size
        self._report(self.done)

    def absolute(self) -> Callable[[int, int], None]:
        """A (done, total) callback of a sub-operation, counted on top of what is done."""
        base = self.done

        def callback(done: int, _total: int) -> None:
            self.done = base + done
            self._report(self.done)

        return callback


def changed_data_paths(source: SnapshotInfo) -> list[Path]:
    """Data paths whose content now differs from what the snapshot saved."""
    record = SnapshotRecord.load(source.path)
    changed: list[Path] = []
    for item in record.data:
        path = Path(item["path"])
        now = describe_path(path)
        saved = item.get("list")
        now_doc = None if now is None else json.loads(now.to_json())
        if now_doc != saved:
            changed.append(path)
    return changed


def describe_size(path: Path) -> int:
    """Bytes under ``path`` (0 when it does not exist), links not followed (an
    estimate for progress: what is copied later refuses them)."""
    total = 0
    for folder, _subfolders, names in os.walk(path):
        for name in names:
            with contextlib.suppress(OSError):
                info = (Path(folder) / name).lstat()
                total += info.st_size if stat.S_ISREG(info.st_mode) else 0
    with contextlib.suppress(OSError):
        info = os.lstat(path)
        total += info.st_size if stat.S_ISREG(info.st_mode) else 0
    return total


def _finish_commit(plan: Plan, journal: Journal, platform: Platform) -> None:
    record = SnapshotRecord.load(plan.snapshot_dir)
    record.kept = True
    record.write(plan.snapshot_dir)
    platform.fsync_dir(plan.snapshot_dir)
    if plan.method == "zip" and plan.old_dir != plan.snapshot_dir / "program":
        _remove(plan.old_dir)
    _remove(plan.staging_dir)
    _remove(plan.trash_dir)
    journal.finish(Entry.COMMITTED)


def _undo(
    plan: Plan,
    entries: Sequence[dict[str, Any]],
    journal: Journal,
    observer: Observer,
    platform: Platform,
) -> Entry:
    """Put the product back as it was before ``plan``; idempotent, safe to re-run."""
    seen = {e.get("entry") for e in entries}
    if Entry.OLD_OUT.value not in seen and Entry.INSTALLING.value not in seen:
        # Nothing of the product moved: drop the staging and the partial snapshot.
        _remove(plan.staging_dir)
        _remove(plan.snapshot_dir)
        journal.finish(Entry.ABORTED)
        return Entry.ABORTED

    journal.write(Entry.ROLLBACK)
    record = SnapshotRecord.load(plan.snapshot_dir)
    # The program: whatever is in place goes to the trash, the old program comes back.
    if plan.method == "installer":
        # The installer changed the folder in place: bring back the snapshot's copy
        # through a verified copy next to it, then two renames.
        _remove(plan.restore_dir)
        copy_verified(plan.snapshot_dir / "program", plan.restore_dir, lambda _n: None)
        _move_to_trash(plan, platform)
        _rename(plan.restore_dir, plan.install_dir, platform)
    elif plan.old_dir.exists():
        _move_to_trash(plan, platform)
        _rename(plan.old_dir, plan.install_dir, platform)
    if record.registry:
        platform.import_uninstall_entry(
            plan.snapshot_dir / record.registry["file"], record.registry["where"]
        )
    expected = record.program_list()
    if expected is not None:
        try:
            verify_tree(plan.install_dir, expected)
        except ArchiveError as exc:
            raise InstallError(
                _(
                    "The previous version of {product} could not be restored exactly: "
                    "{problem} A technician must check it."
                ).format(product=plan.product, problem=exc.message)
            ) from exc
    # The data paths, each swapped back through a verified copy.
    restored = {e.get("index") for e in entries if e.get("entry") == Entry.DATA_RESTORED.value}
    for index, item in enumerate(record.data):
        if index in restored:
            continue
        restore_data_path(plan.snapshot_dir, plan.txid, item, platform)
        journal.write(Entry.DATA_RESTORED, index=index)
    _remove(plan.staging_dir)
    _remove(plan.restore_dir)
    _remove(plan.trash_dir)
    # The snapshot was of the version that is installed again: not a restore point.
    _remove(plan.snapshot_dir)
    journal.finish(Entry.ROLLED_BACK)
    return Entry.ROLLED_BACK


def _move_to_trash(plan: Plan, platform: Platform) -> None:
    """Move what is at the install dir now (a new or partly installed version) aside."""
    if plan.install_dir.exists():
        plan.trash_dir.mkdir(exist_ok=True)
        aside = plan.trash_dir / f"new-{len(list(plan.trash_dir.iterdir()))}"
        _rename(plan.install_dir, aside, platform)


def restore_data_path(source: Path, txid: str, item: dict[str, Any], platform: Platform) -> None:
    """Make one data path exactly its copy in the snapshot ``source`` again (or absent,
    if it was absent then), through a verified copy and two renames."""
    target = Path(item["path"])
    refuse_replaceable([target], platform)  # checked again: nothing is written through a link
    incoming = target.with_name(f".{target.name}.innova-restore-{txid}")
    replaced = target.with_name(f".{target.name}.innova-replaced-{txid}")
    _remove(incoming, platform)  # a partial copy from an interrupted attempt
    if item["kind"] != "missing":
        copy_verified(source / item["stored"], incoming, lambda _n: None, platform)
    if os.path.lexists(target):
        _remove(replaced, platform)
        _rename(target, replaced, platform)
    if item["kind"] != "missing":
        _rename(incoming, target, platform)
    _remove(replaced, platform)


# ------------------------------------------------------------------------------ recovery


@dataclass(frozen=True)
class Recovered:
    """What recovery did to one interrupted transaction."""

    product: str
    from_version: str | None
    to_version: str
    outcome: Entry  # COMMITTED, ROLLED_BACK or ABORTED


def pending_journals(journal_dir: Path) -> list[Path]:
    return sorted(journal_dir.glob("*.journal")) if journal_dir.is_dir() else []


def recover(
    journal_dir: Path, observer: Observer, platform: Platform = current_platform
) -> list[Recovered]:
    """Finish or undo every transaction a crash interrupted. Safe to run any time the
    state lock is held, and safe to interrupt and re-run.

    Raises:
        UpdaterError: a transaction could not be recovered (its journal stays).
    """
    results: list[Recovered] = []
    for path in pending_journals(journal_dir):
        plan, entries = Journal.read(path)
        journal = Journal(path, plan.product, observer)
        observer.step(plan.product, Step.RECOVERY)
        seen = {e.get("entry") for e in entries}
        last = entries[-1].get("entry")
        if last in {e.value for e in ENDS}:  # ended, but not yet filed away
            _file_away(path)
            outcome = Entry(last)
        elif Entry.HEALTHY.value in seen and Entry.ROLLBACK.value not in seen:
            _finish_commit(plan, journal, platform)
            outcome = Entry.COMMITTED
        else:
            outcome = _undo(plan, entries, journal, observer, platform)
        results.append(Recovered(plan.product, plan.from_version, plan.to_version, outcome))
    return results


def _file_away(path: Path) -> None:
    """Move an ended journal under ``done/`` (named by its transaction id)."""
    plan, _entries = Journal.read(path)
    done = path.parent / "done"
    done.mkdir(exist_ok=True)
    path.replace(done / f"{plan.txid}.journal")
    current_platform.fsync_dir(path.parent)
