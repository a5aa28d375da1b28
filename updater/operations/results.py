"""What the operations return: the result objects of checks, updates, restores and status.

Frozen dataclasses only, re-exported by the facade (:mod:`updater.service`), where the
CLI and the tray import them from.

May import: the feed and install sides, the machine and the core (for the types the
results carry).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Literal

from packaging.version import Version

from updater.feed.choose import Choice
from updater.install.transaction import SnapshotInfo
from updater.machine.history import HistoryEntry
from updater.machine.state import LockOwner

__all__ = [
    "Activity",
    "CheckResult",
    "IfRunning",
    "PollResult",
    "ProductStatus",
    "RestoreResult",
    "StatusResult",
    "UpdateResult",
]

#: What an update or a restore does when the program is running.
IfRunning = Literal["fail", "wait", "close"]


@dataclass(frozen=True)
class CheckResult:
    """What a check found, product by product.

    ``offline`` is True when the feed could not be reached and this is what the last
    successful check (at ``checked_at``) found, shown while its signatures are valid.
    """

    channel: str
    choices: tuple[Choice, ...]
    checked_at: datetime
    offline: bool = False


@dataclass(frozen=True)
class PollResult:
    """What :meth:`UpdaterService.poll` did: a check when one was due, and when the next
    one is."""

    due: bool
    next_check: datetime | None
    check: CheckResult | None = None


@dataclass(frozen=True)
class Activity:
    """Another process holding the updater's lock, and the products it is updating
    (those with an unfinished journal)."""

    owner: LockOwner
    products: tuple[str, ...]


@dataclass(frozen=True)
class UpdateResult:
    """The outcome of an update that did not fail."""

    product: str
    outcome: Literal["updated", "nothing_to_do", "dry_run"]
    from_version: Version | None
    to_version: Version | None
    choice: Choice | None = None
    reboot_required: bool = False
    #: How the new version was obtained: the full package, a delta from the installed
    #: version, or an installer; and the bytes downloaded for it.
    method: Literal["full", "delta", "installer"] | None = None
    downloaded_bytes: int = 0


@dataclass(frozen=True)
class RestoreResult:
    """The outcome of a manual restore."""

    product: str
    from_version: Version | None
    to_version: Version | None
    restored: SnapshotInfo
    #: Data paths that had changed since the restored snapshot; what they held before
    #: the restore is kept in the snapshot ``undo`` (restore it to undo this restore).
    changed_data: tuple[Path, ...] = field(default_factory=tuple)
    undo: SnapshotInfo | None = None


@dataclass(frozen=True)
class ProductStatus:
    """One product in :meth:`UpdaterService.status`."""

    product: str
    name: str
    installed: Version | str | None  # a message when the version cannot be read
    last_operation: HistoryEntry | None
    interrupted: bool  # an unfinished update waits for recovery
    snapshots: tuple[SnapshotInfo, ...]


@dataclass(frozen=True)
class StatusResult:
    """The machine's state as IT staff see it."""

    products: tuple[ProductStatus, ...]
    last_check: datetime | None
    channel: str
    state_dir: Path
    disk_used: int
