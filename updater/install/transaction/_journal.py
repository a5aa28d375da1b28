"""The journal of a transaction: its entries, its plan, its file.

One product's update in progress is ``<state>/journal/<product>.journal``: JSON lines,
the first one the :class:`Plan` (everything the transaction will touch), then one
:class:`Entry` per step, each appended and fsynced *before* the step it announces is
taken (:class:`Journal`). A torn last line (a crash mid-write) is ignored when read back.
An ended journal is filed away under ``done/``; :func:`pending_journals` lists the ones
that did not end, which recovery finishes or undoes.

Private to :mod:`updater.install.transaction`: only its modules import this one (the
package re-exports :class:`Entry`, :class:`Plan` and :func:`pending_journals`). This
module writes only the journal files, never an install, a data path or a snapshot.

May import: :mod:`updater.install.snapshots` (read-only), the platform and the core.
"""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Any

from updater.errors import InstallError, StorageError
from updater.i18n import _
from updater.install.snapshots import same_volume
from updater.observer import Observer
from updater.platform import current as current_platform


class Entry(StrEnum):
    """Journal entries, in the order an update writes them."""

    BEGIN = "begin"
    STAGED = "staged"
    TAKE_SAVED = "take_saved"  # about to move a kept snapshot's program into staging (restore)
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


def taken_from(entries: Sequence[dict[str, Any]]) -> Path | None:
    """The kept snapshot whose program folder a restore moved into its staging place
    (:data:`Entry.TAKE_SAVED`), or None: the snapshot gives it up when the restore
    commits, and gets it back when the restore is undone."""
    for entry in entries:
        if entry.get("entry") == Entry.TAKE_SAVED.value:
            return Path(str(entry["source"]))
    return None


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
        file_away(self.path)


def pending_journals(journal_dir: Path) -> list[Path]:
    """The journals of transactions that did not end (those that did are under ``done/``)."""
    return sorted(journal_dir.glob("*.journal")) if journal_dir.is_dir() else []


def file_away(path: Path) -> None:
    """Move an ended journal under ``done/`` (named by its transaction id)."""
    plan, _entries = Journal.read(path)
    done = path.parent / "done"
    done.mkdir(exist_ok=True)
    path.replace(done / f"{plan.txid}.journal")
    current_platform.fsync_dir(path.parent)
