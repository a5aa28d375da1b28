"""How a transaction ends, live or after a crash: commit finished, or everything undone.

:func:`finish_commit` keeps the snapshot and drops what the swap left aside;
:func:`undo` puts the product back exactly as it was (or drops a transaction that
changed nothing), idempotently, so that an interrupted rollback can simply run again.
:class:`~updater.install.transaction.UpdateTransaction` ends through these two, and
:func:`recover` (which every command runs first) applies them to each journal a crash,
kill or power cut left: after ``HEALTHY`` it finishes the commit, otherwise it undoes.
A live rollback and a recovered one are therefore the same code.

Private to :mod:`updater.install.transaction` (the package re-exports :func:`recover`
and :class:`Recovered`). Every file it changes goes through
:mod:`updater.install.transaction._files`.

May import: the transaction's other private modules (not ``_steps``),
:mod:`updater.install.archive` (to verify a restore), :mod:`updater.install.snapshots`,
the platform and the core.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from updater.errors import ArchiveError, InstallError
from updater.i18n import _
from updater.install.archive import verify_tree
from updater.install.snapshots import SnapshotRecord
from updater.install.transaction._files import (
    copy_verified,
    remove,
    rename,
    restore_data_path,
    write_record,
)
from updater.install.transaction._journal import (
    ENDS,
    Entry,
    Journal,
    Plan,
    file_away,
    pending_journals,
    taken_from,
)
from updater.observer import Observer, Step
from updater.platform import current as current_platform
from updater.platform.base import Platform


@dataclass(frozen=True)
class Recovered:
    """What recovery did to one interrupted transaction."""

    product: str
    from_version: str | None
    to_version: str
    outcome: Entry  # COMMITTED, ROLLED_BACK or ABORTED


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
            file_away(path)
            outcome = Entry(last)
        elif Entry.HEALTHY.value in seen and Entry.ROLLBACK.value not in seen:
            finish_commit(plan, journal, platform, taken=taken_from(entries))
            outcome = Entry.COMMITTED
        else:
            outcome = undo(plan, entries, journal, observer, platform)
        results.append(Recovered(plan.product, plan.from_version, plan.to_version, outcome))
    return results


def finish_commit(
    plan: Plan, journal: Journal, platform: Platform, *, taken: Path | None = None
) -> None:
    """Mark the snapshot kept, drop what the swap left aside and end the journal;
    safe to re-run after a crash part-way. ``taken``: the kept snapshot a restore took
    its program from, which has given it up (its data is back in place) and goes."""
    if taken is not None:
        remove(taken)
    record = SnapshotRecord.load(plan.snapshot_dir)
    record.kept = True
    write_record(record, plan.snapshot_dir)
    platform.fsync_dir(plan.snapshot_dir)
    if plan.method == "zip" and plan.old_dir != plan.snapshot_dir / "program":
        remove(plan.old_dir)
    remove(plan.staging_dir)
    remove(plan.trash_dir)
    journal.finish(Entry.COMMITTED)


def undo(
    plan: Plan,
    entries: Sequence[dict[str, Any]],
    journal: Journal,
    observer: Observer,
    platform: Platform,
) -> Entry:
    """Put the product back as it was before ``plan``; idempotent, safe to re-run."""
    seen = {e.get("entry") for e in entries}
    taken = taken_from(entries)
    if Entry.OLD_OUT.value not in seen and Entry.INSTALLING.value not in seen:
        # Nothing of the product moved: drop the staging and the partial snapshot.
        if taken is not None:
            _give_back(plan, taken, platform)
        remove(plan.staging_dir)
        remove(plan.snapshot_dir)
        journal.finish(Entry.ABORTED)
        return Entry.ABORTED

    journal.write(Entry.ROLLBACK)
    record = SnapshotRecord.load(plan.snapshot_dir)
    # The program: whatever is in place goes to the trash, the old program comes back.
    if plan.method == "installer":
        # The installer changed the folder in place: bring back the snapshot's copy
        # through a verified copy next to it, then two renames.
        remove(plan.restore_dir)
        copy_verified(plan.snapshot_dir / "program", plan.restore_dir, lambda _n: None)
        _move_to_trash(plan, platform)
        rename(plan.restore_dir, plan.install_dir, platform)
    elif plan.old_dir.exists():
        if taken is not None:
            _give_back(plan, taken, platform)
        _move_to_trash(plan, platform)
        rename(plan.old_dir, plan.install_dir, platform)
    elif taken is not None:  # the swap had not started: the program never moved
        _give_back(plan, taken, platform)
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
    remove(plan.staging_dir)
    remove(plan.restore_dir)
    remove(plan.trash_dir)
    # The snapshot was of the version that is installed again: not a restore point.
    remove(plan.snapshot_dir)
    journal.finish(Entry.ROLLED_BACK)
    return Entry.ROLLED_BACK


def _give_back(plan: Plan, taken: Path, platform: Platform) -> None:
    """Put the program a restore took from the kept snapshot ``taken`` back into it, from
    wherever the restore got to: the staging place, or the install folder once the swap
    moved it there (known by the old program waiting in ``old_dir``). Idempotent."""
    saved = taken / "program"
    if saved.exists():
        return
    if plan.staging_dir.exists():
        rename(plan.staging_dir, saved, platform)
    elif plan.install_dir.exists() and plan.old_dir.exists():
        rename(plan.install_dir, saved, platform)


def _move_to_trash(plan: Plan, platform: Platform) -> None:
    """Move what is at the install dir now (a new or partly installed version) aside."""
    if plan.install_dir.exists():
        plan.trash_dir.mkdir(exist_ok=True)
        aside = plan.trash_dir / f"new-{len(list(plan.trash_dir.iterdir()))}"
        rename(plan.install_dir, aside, platform)
