"""The elevated hand-over: both sides of a request (:mod:`updater.machine.elevation`).

The asking side (``ask_check``, ``ask_poll``, ``ask_update``, ``ask_restore``): where
this process may not write, the elevated updater runs the operation, its progress goes
to the observer, and its answer is read back into the usual result. The serving side
(:func:`apply_requests`): the elevated updater runs each request it is sent as the
operation here, on behalf of the requesting user, and answers with a document. Both
ends of that document are in this module.

May import: the install side, the machine (the elevation protocol), the platform, the
core and the other operations (it runs them).
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from packaging.version import Version

from updater.errors import ManifestError, StorageError
from updater.i18n import _
from updater.install.transaction import SnapshotInfo
from updater.machine.config import ProductConfig
from updater.machine.elevation import ChannelObserver, Request, ask, serve
from updater.observer import Observers
from updater.operations import checking, restoring, updating
from updater.operations.context import OperationContext, maybe_version, parse_version
from updater.operations.results import (
    CheckResult,
    IfRunning,
    PollResult,
    RestoreResult,
    UpdateResult,
)
from updater.operations.status import activity
from updater.platform.base import Platform, channel_name

__all__ = ["apply_requests", "ask_check", "ask_poll", "ask_restore", "ask_update"]

log = logging.getLogger(__name__)


# ------------------------------------------------------------------ asking side


def ask_check(ctx: OperationContext, products: Sequence[str] | None = None) -> CheckResult:
    """Have the elevated updater check, and read what it found.

    Raises:
        ManifestError: the check left no usable manifest; or as :func:`_delegate`.
    """
    document = _delegate(ctx, Request("check", "any"))
    found = checking.cached_check(ctx, products)
    if found is None:
        raise ManifestError(_("The check found no usable release manifest."))
    return dataclasses.replace(found, offline=bool(document.get("offline")))


def ask_poll(ctx: OperationContext) -> PollResult:
    """Have the elevated updater poll, and read what a check it made found."""
    document = _delegate(ctx, Request("poll", "any"))
    next_check = document.get("next_check")
    due = bool(document.get("due"))
    found = checking.cached_check(ctx) if due else None
    if found is not None:
        found = dataclasses.replace(found, offline=bool(document.get("offline")))
    return PollResult(due, datetime.fromisoformat(next_check) if next_check else None, found)


def ask_update(
    ctx: OperationContext, product: ProductConfig, target: Version | None, if_running: IfRunning
) -> UpdateResult:
    """Have the elevated updater update ``product`` (to ``target``, or what it offers)."""
    request = Request(
        "update", product.id, version=str(target) if target else None,
        if_running="close" if if_running == "close" else "fail",
    )  # fmt: skip
    document = _delegate(ctx, request)
    return UpdateResult(
        product.id,
        document.get("outcome", "updated"),
        maybe_version(document.get("from_version")),
        maybe_version(document.get("to_version")),
        reboot_required=bool(document.get("reboot_required")),
        method=document.get("method"),
        downloaded_bytes=int(document.get("downloaded_bytes") or 0),
    )


def ask_restore(
    ctx: OperationContext, product: ProductConfig, snapshot: str | None, if_running: IfRunning
) -> RestoreResult:
    """Have the elevated updater restore a snapshot of ``product``."""
    request = Request(
        "restore", product.id, snapshot=snapshot,
        if_running="close" if if_running == "close" else "fail",
    )  # fmt: skip
    document = _delegate(ctx, request)
    chosen = next(
        (s for s in restoring.snapshots(ctx, product.id) if s.id == document.get("restored")),
        None,
    )
    undo = next(
        (s for s in restoring.snapshots(ctx, product.id) if s.id == document.get("undo")), None
    )
    if chosen is None:  # it may have been pruned since; describe it from the result
        chosen = SnapshotInfo(
            id=str(document.get("restored")), product=product.id,
            version=document.get("to_version"), taken_at=datetime.now(UTC), reason="",
            size=0, path=ctx.state.snapshots_of(product.id),
        )  # fmt: skip
    return RestoreResult(
        product.id,
        maybe_version(document.get("from_version")),
        maybe_version(document.get("to_version")),
        chosen,
        tuple(Path(p) for p in document.get("changed_data", [])),
        undo,
    )


def _delegate(ctx: OperationContext, request: Request) -> dict[str, Any]:
    """Have the elevated updater run ``request`` (see :mod:`updater.machine.elevation`);
    its progress goes to the observer and a cancel goes back.

    Raises:
        UpdaterError: what the elevated updater raised, or that it could not be
            started, did not answer, or was not the real one.
    """
    return ask(
        ctx.platform,
        channel_name(ctx.state.root),
        request,
        ctx.observer,
        start_timeout=ctx.elevated_start_timeout,
        busy=lambda: activity(ctx) is not None,
    )


# ----------------------------------------------------------------- serving side


def apply_requests(ctx: OperationContext) -> int:
    """Serve the requesters that connect until none comes for a few seconds (see
    :meth:`updater.service.UpdaterService.apply_requests`). Returns how many ran."""
    try:
        listener = ctx.platform.listen_elevated(channel_name(ctx.state.root))
    except OSError as exc:
        log.error("Cannot serve the updater's channel: %s", exc)
        raise StorageError(
            _("The updater service cannot accept requests: {error}").format(
                error=exc.strerror or exc
            ),
            hint=_("Another copy of it may be running already."),
        ) from exc

    def handle(request: Request, user: str, channel: ChannelObserver) -> dict[str, Any]:
        worker = ctx.for_requester(
            user, Observers([ctx.observer, channel]), _Elevated(ctx.platform)
        )
        return _run_request(worker, request)

    try:
        return serve(listener, handle)
    finally:
        listener.close()


def _run_request(ctx: OperationContext, request: Request) -> dict[str, Any]:
    """Run ``request`` here and answer with the document the asking side reads."""
    if request.action == "check":
        return {"offline": checking.check(ctx).offline}
    if request.action == "poll":
        polled = checking.poll(ctx)
        return {
            "due": polled.due,
            "next_check": polled.next_check.isoformat() if polled.next_check else None,
            "offline": bool(polled.check and polled.check.offline),
        }
    product = ctx.config.product(request.product)
    if request.action == "update":
        result = updating.update(
            ctx,
            product,
            parse_version(request.version) if request.version else None,
            if_running=request.if_running,
        )
        return {
            "outcome": result.outcome,
            "from_version": str(result.from_version) if result.from_version else None,
            "to_version": str(result.to_version) if result.to_version else None,
            "reboot_required": result.reboot_required,
            "method": result.method,
            "downloaded_bytes": result.downloaded_bytes,
        }
    restored = restoring.restore(
        ctx, product, snapshot=request.snapshot, if_running=request.if_running
    )
    return {
        "from_version": str(restored.from_version) if restored.from_version else None,
        "to_version": str(restored.to_version) if restored.to_version else None,
        "restored": restored.restored.id,
        "undo": restored.undo.id if restored.undo else None,
        "changed_data": [str(p) for p in restored.changed_data],
    }


class _Elevated:
    """The platform as seen by the elevated updater: it never hands work on again."""

    def __init__(self, platform: Platform) -> None:
        self._platform = platform

    def needs_elevation(self, install_dir: Path) -> bool:
        return False

    def __getattr__(self, name: str) -> Any:
        return getattr(self._platform, name)
