"""The facade the CLI and the tray call: check, update, restore, snapshots, history.

Each operation takes the state directory's lock, runs recovery first, does its work
through the pipeline modules (trust, choose, transaction, health) and records itself
in the history. It reports through the observer and returns result objects; failures
are errors of :mod:`updater.errors`. It never prints, prompts or exits.

The work itself is in :mod:`updater.operations`, one module per job; this class says
what each operation promises and decides where it runs: here, or handed over to the
elevated updater where this process may not write (:mod:`updater.operations.handover`).
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from packaging.version import Version

from updater.feed.choose import Only
from updater.feed.limits import NetworkLimits
from updater.install.transaction import Recovered, SnapshotInfo
from updater.machine.config import MachineConfig, ProductConfig
from updater.machine.history import HistoryEntry
from updater.machine.preferences import Preferences
from updater.machine.state import StateDir
from updater.observer import Observer
from updater.operations import owner, status
from updater.operations.context import ELEVATED_START_TIMEOUT, OperationContext, parse_version
from updater.operations.results import (
    Activity,
    CheckResult,
    IfRunning,
    PollResult,
    ProductStatus,
    RestoreResult,
    StatusResult,
    UpdateResult,
)
from updater.platform import current as current_platform
from updater.platform.base import Platform

if TYPE_CHECKING:
    import requests

__all__ = [
    "ELEVATED_START_TIMEOUT",
    "Activity",
    "CheckResult",
    "IfRunning",
    "PollResult",
    "ProductStatus",
    "RestoreResult",
    "StatusResult",
    "UpdateResult",
    "UpdaterService",
]


class UpdaterService:
    """One machine's updater. Create one per process (it holds the HTTP session)."""

    def __init__(
        self,
        config: MachineConfig,
        observer: Observer | None = None,
        *,
        platform: Platform = current_platform,
        limits: NetworkLimits | None = None,
        session: requests.Session | None = None,
        on_behalf_of: str | None = None,
    ) -> None:
        self._context = OperationContext(
            config, observer, platform=platform, limits=limits, session=session,
            on_behalf_of=on_behalf_of,
        )  # fmt: skip

    # ---------------------------------------------------------------- attributes

    @property
    def file_config(self) -> MachineConfig:
        """The configuration file's settings, without the owner's."""
        return self._context.file_config

    @property
    def config(self) -> MachineConfig:
        """The configuration in effect: the file's, with the owner's settings applied."""
        return self._context.config

    @property
    def on_behalf_of(self) -> str | None:
        """The standard user whose request this (elevated) service runs (None: the
        caller acts with its own rights); see :class:`OperationContext`."""
        return self._context.on_behalf_of

    @property
    def observer(self) -> Observer:
        return self._context.observer

    @property
    def platform(self) -> Platform:
        return self._context.platform

    @property
    def limits(self) -> NetworkLimits:
        return self._context.limits

    @property
    def state(self) -> StateDir:
        return self._context.state

    @property
    def updater_version(self) -> Version:
        return self._context.updater_version

    @property
    def session(self) -> requests.Session:
        return self._context.session

    @property
    def elevated_start_timeout(self) -> float:
        """Seconds the elevated updater has to start working on a handed-over request."""
        return self._context.elevated_start_timeout

    @elevated_start_timeout.setter
    def elevated_start_timeout(self, seconds: float) -> None:
        self._context.elevated_start_timeout = seconds

    # ------------------------------------------------------------------- machine

    def recover(self) -> list[Recovered]:
        """Finish or undo any update a crash or power cut interrupted.

        Raises:
            BusyError: another update is in progress.
            UpdaterError: recovery failed (a technician is needed).
        """
        return self._context.recover()

    def installed_version(self, product: ProductConfig) -> Version | None:
        """The version installed now (None when the product is not installed)."""
        return self._context.installed_version(product)

    def prestashop_version(self, product: ProductConfig) -> Version | None:
        """The shop's PrestaShop version, from the configuration (None when unknown)."""
        from updater.operations import checking

        return checking.prestashop_version(self._context, product)

    # --------------------------------------------------------------------- check

    def check(
        self, products: Sequence[str] | None = None, *, ignore_rollout: bool = False
    ) -> CheckResult:
        """Fetch and verify the manifest and say what each product may install.

        Raises:
            TrustError, ManifestError, NetworkError: the feed cannot be used.
            ConfigError: an unknown product id.
        """
        if self.platform.needs_elevation(self.state.root):
            # The trusted metadata and the history are the administrators' to write: the
            # elevated updater checks, and this process reads what it found.
            from updater.operations import handover

            return handover.ask_check(self._context, products)
        from updater.operations import checking

        return checking.check(self._context, products, ignore_rollout=ignore_rollout)

    def poll(self, *, now: datetime | None = None, rng: random.Random | None = None) -> PollResult:
        """Check only when the poll schedule says so (for a task run every few minutes).

        The schedule (``state/poll.json``, :mod:`updater.feed.schedule`) spreads checks with
        jitter and a random first delay, backs off with jitter after failures, and
        honours a server's Retry-After. A check shown from the offline cache counts as a
        failure for the backoff.

        Raises:
            as :meth:`check` (after recording the failure in the schedule).
        """
        if self.platform.needs_elevation(self.state.root):
            from updater.operations import handover

            return handover.ask_poll(self._context)
        from updater.operations import checking

        return checking.poll(self._context, now=now, rng=rng)

    def cached_check(self, products: Sequence[str] | None = None) -> CheckResult | None:
        """What the last successful check found, worked out again for what is installed
        now, without the network: for showing at start-up. ``None`` when there is no
        check whose signatures still hold (for the channel in effect)."""
        from updater.operations import checking

        return checking.cached_check(self._context, products)

    # --------------------------------------------------------------- preferences

    def preferences(self) -> Preferences:
        """The owner's settings and choices (:mod:`updater.machine.preferences`)."""
        return owner.preferences(self._context)

    def save_preferences(self, preferences: Preferences) -> None:
        """Save the owner's settings and choices and put the settings in effect.

        A setting equal to the configuration file's is not saved as an override, so
        that a later change of the file by a technician still takes effect.

        Raises:
            ConfigError: the channel is not one the configuration lists (nothing
                changed).
            StorageError: they cannot be saved (nothing changed).
        """
        owner.save_preferences(self._context, preferences)

    def skip(self, product_id: str, version: Version) -> None:
        """Never offer ``version`` of the product again (unless it is critical)."""
        owner.skip(self._context, product_id, version)

    def remind_later(self, product_id: str, version: Version, until: datetime) -> None:
        """Do not announce ``version`` again before ``until``."""
        owner.remind_later(self._context, product_id, version, until)

    def mark_announced(self, product_id: str, version: Version) -> None:
        """Remember that the person was told about ``version``."""
        owner.mark_announced(self._context, product_id, version)

    # ------------------------------------------------------------------- support

    def build_report(self, out: Path, *, description: str = "", contact: str = "") -> Path:
        """Write the support bundle (:mod:`updater.support.report`) to ``out``, with what
        the person wrote about the problem and how to reach them.

        Raises:
            StorageError: the zip cannot be written.
        """
        from updater.operations import reporting

        return reporting.build_report(self._context, out, description=description, contact=contact)

    def send_report(self, bundle: Path) -> str:
        """Upload the support bundle to the configured support address; returns the
        reference the server gave (or an empty string).

        Raises:
            ConfigError: no support address is configured.
            NetworkError: the upload failed.
        """
        from updater.operations import reporting

        return reporting.send_report(self._context, bundle)

    # -------------------------------------------------------------------- update

    def update(
        self,
        product_id: str,
        *,
        only: Only = "all",
        to_version: str | None = None,
        if_running: IfRunning = "fail",
        wait_seconds: float = 300.0,
        ignore_rollout: bool = False,
        dry_run: bool = False,
    ) -> UpdateResult:
        """Download and apply the update ``check`` offers (or ``to_version``).

        On a failure before the swap nothing changes and the error is raised as is;
        after the swap the previous version is restored and :class:`RolledBackError`
        is raised (its cause is the original failure).

        Raises:
            PreflightError, AppRunningError, CancelledError: nothing was changed.
            TrustError, NetworkError, IntegrityError, ArchiveError: nothing was changed.
            RolledBackError: the update failed; the previous version is back.
            RollbackFailedError: the previous version could not be restored.
            BusyError: another update is in progress.
        """
        product = self.config.product(product_id)
        target = parse_version(to_version) if to_version else None
        if not dry_run and self.platform.needs_elevation(product.install_dir):
            from updater.operations import handover

            return handover.ask_update(self._context, product, target, if_running)
        from updater.operations import updating

        return updating.update(
            self._context, product, target, only=only, if_running=if_running,
            wait_seconds=wait_seconds, ignore_rollout=ignore_rollout, dry_run=dry_run,
        )  # fmt: skip

    # ------------------------------------------------------------------- restore

    def snapshots(self, product_id: str) -> list[SnapshotInfo]:
        """The kept snapshots of a product, newest first."""
        from updater.operations import restoring

        return restoring.snapshots(self._context, product_id)

    def restore(
        self,
        product_id: str,
        *,
        snapshot: str | None = None,
        if_running: IfRunning = "fail",
        wait_seconds: float = 300.0,
    ) -> RestoreResult:
        """Put back a kept snapshot (default: the newest), as one transaction that first
        snapshots what it replaces, so that the restore itself can be undone.

        ``snapshot`` is a snapshot id or a version.

        Raises:
            PreflightError: no such snapshot; nothing was changed.
            AppRunningError: the program runs; nothing was changed.
            RolledBackError / RollbackFailedError: as for :meth:`update`.
        """
        product = self.config.product(product_id)
        if self.platform.needs_elevation(product.install_dir):
            from updater.operations import handover

            return handover.ask_restore(self._context, product, snapshot, if_running)
        from updater.operations import restoring

        return restoring.restore(
            self._context, product, snapshot=snapshot, if_running=if_running,
            wait_seconds=wait_seconds,
        )  # fmt: skip

    def prune(self, product_id: str, keep: int | None = None) -> list[SnapshotInfo]:
        """Delete kept snapshots beyond the newest ``keep`` (default: the configured
        retention). Returns what was deleted.

        Raises:
            BusyError: another update is in progress.
            ConfigError: unknown product, or ``keep`` below 1.
        """
        from updater.operations import restoring

        return restoring.prune(self._context, product_id, keep)

    # ----------------------------------------------------------------- elevation

    def apply_requests(self) -> int:
        """Serve the requesters that connect (the elevated side: ``innova-update
        apply-requests``, started by the on-demand task) until none comes for a few
        seconds. Returns how many requests ran.

        Raises:
            StorageError: the channel cannot be served (another process serves it).
        """
        from updater.operations import handover

        return handover.apply_requests(self._context)

    # -------------------------------------------------------------------- status

    def activity(self) -> Activity | None:
        """Whether another process (the CLI, a scheduled task) is updating now, read
        without touching the lock: ``None`` when no other process holds it."""
        return status.activity(self._context)

    def history(self, product_id: str | None = None, limit: int = 100) -> list[HistoryEntry]:
        """Past checks, updates, rollbacks and restores, newest first."""
        return status.history(self._context, product_id, limit)

    def status(self) -> StatusResult:
        """What is installed, the last check, unfinished or failed updates, snapshots."""
        return status.status(self._context)
