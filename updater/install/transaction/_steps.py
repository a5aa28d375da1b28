"""The steps of one update: :class:`UpdateTransaction`.

*Stage* the new version next to the install directory (from the zip package, a delta,
an installer package or a kept snapshot), take the *snapshot* (copies of the data paths,
the program's file list), *swap* (two renames on one volume, or the installer run in
place; a restore then puts the snapshot's data back), then *commit* or *roll back*
through :mod:`updater.install.transaction._recovery`, the code recovery runs after a
crash. Each step is written to the journal before it is taken, and reported to the
observer.

Private to :mod:`updater.install.transaction`, which re-exports
:class:`UpdateTransaction`. Every file it changes goes through
:mod:`updater.install.transaction._files`.

May import: the transaction's other private modules, :mod:`updater.install.archive`,
:mod:`updater.install.delta`, :mod:`updater.install.filelist`,
:mod:`updater.install.health` (to run an installer), :mod:`updater.install.snapshots`,
the platform and the core.
"""

from __future__ import annotations

import errno
import json
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path

from updater.errors import (
    ArchiveError,
    FileLockedError,
    InstallError,
    StorageError,
    UpdaterError,
)
from updater.i18n import _
from updater.install.archive import extract_zip, verify_tree
from updater.install.filelist import FileList, describe_tree
from updater.install.health import run_command
from updater.install.snapshots import SnapshotInfo, SnapshotRecord, describe_size, same_volume
from updater.install.transaction._files import (
    copy_verified,
    refuse_replaceable,
    remove,
    rename,
    restore_data_path,
    write_record,
)
from updater.install.transaction._installed import Stamps, forget, recall, remember, stamp
from updater.install.transaction._journal import ENDS, Entry, Journal, Plan, new_id
from updater.install.transaction._recovery import finish_commit, undo
from updater.observer import Observer, Step
from updater.platform import current as current_platform
from updater.platform.base import Platform


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
        #: The kept snapshot whose program a restore moved into its staging place.
        self._taken: Path | None = None
        #: The proven list of the staged program and its files' sizes and times, for
        #: ``installed.json`` at the commit (see ``_installed``).
        self._installed: tuple[FileList, Stamps] | None = None

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
            ),
            expected,
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
        # Imported here: zstandard is needed only by an update through a delta, and every
        # command (status, history) imports this module.
        from updater.install.delta import build_from_delta

        self._stage_with(
            lambda progress: build_from_delta(
                delta, self.plan.install_dir, self.plan.staging_dir, expected, progress=progress
            ),
            expected,
        )

    def _stage_with(
        self, build: Callable[[Callable[[int, int], None]], None], expected: FileList
    ) -> None:
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
        self._remember_staged(expected)
        self.journal.write(Entry.STAGED)
        self._done.append(Entry.STAGED)

    def _remember_staged(self, expected: FileList) -> None:
        """Note the staged files' sizes and times while they are exactly ``expected``."""
        stamps = stamp(self.plan.staging_dir, expected)
        self._installed = None if stamps is None else (expected, stamps)

    def stage_installer(self, installer: Path) -> None:
        """Record the (verified) installer package to run; installers change the program
        folder in place, so nothing is staged next to it."""
        self._expect(Entry.BEGIN)
        if self.plan.method != "installer":
            raise RuntimeError("stage_installer() needs a transaction begun with an installer")
        self.journal.write(Entry.STAGED, installer=str(installer))
        self._done.append(Entry.STAGED)

    def stage_snapshot(self, source: SnapshotInfo) -> None:
        """Stage the program of a kept snapshot (a restore).

        When the snapshot is on the install's volume, its program folder itself is moved
        to the staging place (a rename: the time does not grow with the program), once
        its names and sizes match its list (every byte was hashed when it was saved, and
        the health check runs it); the snapshot gives the folder up when the restore
        commits and gets it back when the restore is undone. On another volume the
        program is copied, and the hashes taken while copying must be its list's.

        Raises:
            StorageError: the saved program no longer matches its own list, or the copy
                failed (nothing was moved; a partial copy is removed).
        """
        self._expect(Entry.BEGIN)
        product = self.plan.product
        self._observer.step(product, Step.STAGE)
        record = SnapshotRecord.load(source.path)
        expected = record.program_list()
        if expected is None:
            raise StorageError(_("The snapshot {id} holds no program.").format(id=source.id))
        meter = self._meter(Step.STAGE, expected.installed_size)
        saved = source.path / "program"
        try:
            if same_volume(source.path, self.plan.install_dir.parent):
                verify_tree(saved, expected, contents=False)
                self.journal.write(Entry.TAKE_SAVED, source=str(source.path))
                rename(saved, self.plan.staging_dir, self._platform)
                self._taken = source.path
                meter.add(expected.installed_size)
            else:
                copied = copy_verified(saved, self.plan.staging_dir, meter.add, self._platform)
                if copied is None or _by_path(copied) != _by_path(expected):
                    raise ArchiveError(_("The saved program differs from its list."))
        except ArchiveError as exc:
            if self._taken is None:
                remove(self.plan.staging_dir)
            raise StorageError(
                _("The saved copy {id} is damaged: {problem}").format(
                    id=source.id, problem=exc.message
                )
            ) from exc
        except OSError as exc:
            if self._taken is None:
                remove(self.plan.staging_dir)
            raise _io_error(exc, _("preparing the saved version")) from exc
        self._platform.fsync_dir(self.plan.install_dir.parent)
        self._remember_staged(expected)
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
            program = recall(plan.snapshot_dir.parent, plan.from_version, plan.install_dir)
            if program is None:
                program = describe_tree(plan.install_dir, progress=meter.absolute())
            else:  # what the last update or restore put there, untouched since
                meter.add(program.installed_size)
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
            write_record(record, plan.snapshot_dir)
            self._platform.fsync_dir(plan.snapshot_dir)
        except OSError as exc:
            remove(plan.snapshot_dir)
            raise _io_error(exc, _("saving a copy of the current version")) from exc
        except UpdaterError:
            remove(plan.snapshot_dir)
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
        rename(plan.install_dir, plan.old_dir, self._platform)
        self.journal.write(Entry.NEW_IN)
        rename(plan.staging_dir, plan.install_dir, self._platform)
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
        finish_commit(self.plan, self.journal, self._platform, taken=self._taken)
        self._done.append(Entry.COMMITTED)
        folder = self.plan.snapshot_dir.parent
        if self._installed is None:  # an installer changed the folder in place
            forget(folder)
        else:
            remember(folder, self.plan.to_version, *self._installed)

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
        outcome = undo(self.plan, entries, self.journal, self._observer, self._platform)
        self._done.append(outcome)
        return outcome


def _by_path(files: FileList) -> dict[str, tuple[int, str]]:
    return {entry.path: (entry.size, entry.sha256) for entry in files.files}


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
