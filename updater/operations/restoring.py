"""Restores: the kept snapshots of a product, putting one back, and pruning old ones.

A restore is one transaction, like an update, that first snapshots what it replaces
so that the restore itself can be undone; it shares the update's handling of the
running program and of a failure (:mod:`.updating`). A version the publisher took
back is never put back. Handing a restore over to the elevated updater is
:mod:`.handover`'s.

May import: the install side, the machine, the core and the operations' ``context``,
``results``, ``commands``, ``checking`` and ``updating``.
"""

from __future__ import annotations

from updater.errors import ConfigError, PreflightError
from updater.i18n import _
from updater.install.health import check_health
from updater.install.transaction import (
    SnapshotInfo,
    UpdateTransaction,
    changed_data_paths,
    list_snapshots,
    prune_snapshots,
    refuse_replaceable,
)
from updater.machine.config import ProductConfig
from updater.machine.history import Operation, Outcome
from updater.observer import Step
from updater.operations.checking import last_verified_manifest
from updater.operations.commands import refuse_unsafe_commands, run_hook
from updater.operations.context import OperationContext, maybe_version, megabytes, parse_version
from updater.operations.results import IfRunning, RestoreResult
from updater.operations.updating import after_failure, ensure_closed

__all__ = ["prune", "restore", "snapshots"]


def snapshots(ctx: OperationContext, product_id: str) -> list[SnapshotInfo]:
    """The kept snapshots of a product, newest first."""
    ctx.config.product(product_id)
    return list_snapshots(ctx.state.snapshots_dir, product_id)


def restore(
    ctx: OperationContext,
    product: ProductConfig,
    *,
    snapshot: str | None = None,
    if_running: IfRunning = "fail",
    wait_seconds: float = 300.0,
) -> RestoreResult:
    """Restore here, under the lock (see :meth:`updater.service.UpdaterService.restore`)."""
    with ctx.locked() as history:
        available = list_snapshots(ctx.state.snapshots_dir, product.id)
        chosen = _pick_snapshot(available, snapshot)
        if chosen is None:
            raise PreflightError(
                _("There is no saved version {which} of {product} to restore.").format(
                    which=snapshot or "", product=product.name
                )
            )
        _refuse_withdrawn(ctx, product, chosen)
        refuse_replaceable([product.install_dir, *product.data_paths], ctx.platform)
        refuse_unsafe_commands(ctx, product)
        ensure_closed(ctx, product, if_running, wait_seconds)
        installed = ctx.installed_version(product)
        changed = tuple(changed_data_paths(chosen))
        from_version = str(installed) if installed else None
        entry = history.start(Operation.RESTORE, product.id, from_version, chosen.version)
        tx: UpdateTransaction | None = None
        try:
            tx = UpdateTransaction.begin(
                journal_dir=ctx.state.journal_dir,
                snapshots_root=ctx.state.snapshots_dir,
                product=product.id,
                install_dir=product.install_dir,
                from_version=from_version,
                to_version=chosen.version or "",
                data_paths=product.data_paths,
                observer=ctx.observer,
                reason=_("before restoring version {version}").format(version=chosen.version),
                platform=ctx.platform,
            )
            ctx.observer.step(product.id, Step.RESTORE)
            tx.stage_snapshot(chosen)
            run_hook(ctx, product, "pre_snapshot")
            tx.snapshot()
            ensure_closed(ctx, product, if_running, wait_seconds)
            tx.swap()
            tx.apply_snapshot_data(chosen)
            run_hook(ctx, product, "post_restore")
            ctx.observer.step(product.id, Step.HEALTH_CHECK)
            expected = parse_version(chosen.version) if chosen.version else None
            if expected is not None:
                check_health(
                    product.expand(product.health_check.command)
                    if product.health_check.command
                    else None,
                    timeout=product.health_check.timeout,
                    expected_version=expected,
                    read_version=lambda: ctx.installed_version(product),
                    cwd=product.install_dir,
                )
            tx.mark_healthy()
            tx.commit()
        except BaseException as exc:
            after_failure(ctx, history, entry, product, tx, exc)
            raise
        history.finish(entry, Outcome.SUCCESS)
        undo = next(
            (s for s in list_snapshots(ctx.state.snapshots_dir, product.id)
             if tx is not None and s.id == tx.plan.txid),
            None,
        )  # fmt: skip
        return RestoreResult(
            product.id,
            installed,
            parse_version(chosen.version) if chosen.version else None,
            chosen,
            changed,
            undo,
        )


def _refuse_withdrawn(ctx: OperationContext, product: ProductConfig, chosen: SnapshotInfo) -> None:
    """A saved version the publisher took back (withdrawn, or below the signed
    minimum version) is not put back, by anyone.

    Raises:
        PreflightError: it is refused; nothing was changed.
    """
    manifest = last_verified_manifest(ctx)
    found = manifest.product(product.id) if manifest is not None else None
    version = maybe_version(chosen.version)
    reason = found.refusal(version) if found is not None and version is not None else None
    if reason is not None:
        raise PreflightError(
            _("{product} {version} cannot be restored: {reason}.").format(
                product=product.name, version=version, reason=reason
            ),
            hint=_("Nothing was changed. Install the newest version instead."),
        )


def prune(ctx: OperationContext, product_id: str, keep: int | None = None) -> list[SnapshotInfo]:
    """Prune under the lock (see :meth:`updater.service.UpdaterService.prune`)."""
    product = ctx.config.product(product_id)
    keep = ctx.config.retention.keep if keep is None else keep
    if keep < 1:
        raise ConfigError(_("At least one snapshot must be kept."))
    with ctx.locked():
        return prune_snapshots(
            ctx.state.snapshots_dir,
            product.id,
            keep=keep,
            max_bytes=megabytes(ctx.config.retention.max_disk_mb),
        )


def _pick_snapshot(available: list[SnapshotInfo], which: str | None) -> SnapshotInfo | None:
    if which is None:
        return available[0] if available else None
    for snapshot in available:
        if snapshot.id == which or snapshot.version == which:
            return snapshot
    return None
