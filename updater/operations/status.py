"""What IT staff and the tray read about the machine, without taking the lock.

:func:`status` (what is installed, the last check, unfinished updates, snapshots),
:func:`activity` (another process updating now, from the lock's owner file) and
:func:`history` (past operations).

May import: the feed side (the last check), the install side, the machine, the core
and the operations' ``context`` and ``results``.
"""

from __future__ import annotations

import os

from packaging.version import Version

from updater.errors import UpdaterError
from updater.feed.schedule import LAST_CHECK_FILE, load_last_check
from updater.install.transaction import describe_size, list_snapshots
from updater.machine.history import History, HistoryEntry, Operation
from updater.operations.context import OperationContext
from updater.operations.results import Activity, ProductStatus, StatusResult

__all__ = ["activity", "history", "status"]


def activity(ctx: OperationContext) -> Activity | None:
    """Whether another process (the CLI, a scheduled task) is updating now, read
    without touching the lock: ``None`` when no other process holds it."""
    owner = ctx.state.lock_owner()
    if owner is None or owner.pid == os.getpid():
        return None
    journals = ctx.state.journal_dir.glob("*.journal")
    products = tuple(sorted(p.name.removesuffix(".journal") for p in journals))
    return Activity(owner, products)


def history(
    ctx: OperationContext, product_id: str | None = None, limit: int = 100
) -> list[HistoryEntry]:
    """Past checks, updates, rollbacks and restores, newest first."""
    ctx.state.ensure()
    with History(ctx.state.history_db) as entries:
        return entries.entries(product_id, limit=limit)


def status(ctx: OperationContext) -> StatusResult:
    """What is installed, the last check, unfinished or failed updates, snapshots."""
    ctx.state.ensure()
    last = load_last_check(ctx.state.root / LAST_CHECK_FILE)
    products = []
    with History(ctx.state.history_db) as past:
        for product in ctx.config.products.values():
            try:
                installed: Version | str | None = ctx.installed_version(product)
            except UpdaterError as exc:
                installed = exc.message
            updates = past.entries(
                product.id, limit=1, operations=(Operation.UPDATE, Operation.RESTORE)
            )
            snapshots = list_snapshots(ctx.state.snapshots_dir, product.id)
            products.append(
                ProductStatus(
                    product=product.id,
                    name=product.name,
                    installed=installed,
                    last_operation=updates[0] if updates else None,
                    # False where this account may not read the journal folder
                    interrupted=os.path.exists(  # noqa: PTH110 - never raises
                        ctx.state.journal_dir / f"{product.id}.journal"
                    ),
                    snapshots=tuple(snapshots),
                )
            )
    return StatusResult(
        products=tuple(products),
        last_check=last.checked_at if last else None,
        channel=ctx.config.feed.channel,
        state_dir=ctx.state.root,
        disk_used=describe_size(ctx.state.root),
    )
