"""The facade the CLI and the tray call: check, update, restore, snapshots, history.

Each operation takes the state directory's lock, runs recovery first, does its work
through the pipeline modules (trust, choose, transaction, health) and records itself
in the history. It reports through the observer and returns result objects; failures
are errors of :mod:`updater.errors`. It never prints, prompts or exits.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import logging
import os
import random
import re
import shutil
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

import requests
from packaging.version import InvalidVersion, Version

from updater import __version__
from updater.errors import (
    AppRunningError,
    CancelledError,
    ConfigError,
    FeedError,
    InstallError,
    IntegrityError,
    ManifestError,
    NetworkError,
    PreflightError,
    RollbackFailedError,
    RolledBackError,
    StorageError,
    UpdaterError,
)
from updater.feed.choose import Choice, Only, choose
from updater.feed.download import CancelToken, DownloadProgress
from updater.feed.fetch import FeedFetcher, NetworkLimits, make_session
from updater.feed.manifest import (
    DeltaRef,
    InstallerPackage,
    Manifest,
    Release,
    TargetRef,
    ZipPackage,
    parse_manifest,
)
from updater.feed.schedule import (
    LAST_CHECK_FILE,
    LastCheck,
    PollPolicy,
    PollStore,
    is_due,
    load_last_check,
    next_after_failure,
    next_after_success,
    next_on_start,
    save_last_check,
    usable_offline,
)
from updater.feed.trust import TrustedFeed
from updater.fsutil import write_atomic, write_probe
from updater.i18n import _, format_size
from updater.install.delta import DELTA_MAX_SHARE, DeltaBaseError
from updater.install.filelist import FileList
from updater.install.health import (
    check_health,
    command_programs,
    last_lines,
    product_commands,
    read_installed_version,
    run_command,
    unsafe_program,
)
from updater.install.transaction import (
    Entry,
    Recovered,
    SnapshotInfo,
    UpdateTransaction,
    changed_data_paths,
    describe_size,
    list_snapshots,
    prune_snapshots,
    recover,
    refuse_replaceable,
    same_volume,
)
from updater.machine.config import MachineConfig, ProductConfig
from updater.machine.elevation import ChannelObserver, Request, ask, serve
from updater.machine.history import History, HistoryEntry, Operation, Outcome
from updater.machine.preferences import Preferences, PreferencesStore, apply_preferences
from updater.machine.state import LockOwner, StateDir
from updater.observer import NullObserver, Observer, Observers, Step
from updater.platform import current as current_platform
from updater.platform.base import Platform, channel_name
from updater.support.report import send_report

log = logging.getLogger(__name__)

IfRunning = Literal["fail", "wait", "close"]
#: The longest an installer package may run (seconds).
INSTALLER_TIMEOUT = 1800.0
_SPACE_MARGIN = 50 * 1024 * 1024
_VERSION_IN_TEXT = re.compile(r"\d+(?:\.\d+)+")
LAST_MANIFEST_FILE = "last-manifest.json"
#: The PrestaShop version each product's command found last (for requests, which
#: never run it).
PRESTASHOP_FILE = "prestashop.json"
#: How long a handed-over request may wait for the elevated updater to pick it up
#: (it waits behind an update in progress, which then reports its own progress).
ELEVATED_START_TIMEOUT = 120.0


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
        self.file_config = config
        #: The standard user whose request this (elevated) service runs, who gets no
        #: more than that user could get from the tray: no downgrade, no release held
        #: back by the rollout, nothing run that the configuration names for the
        #: PrestaShop version. None: the caller acts with its own rights.
        self.on_behalf_of = on_behalf_of
        self.observer: Observer = observer or NullObserver()
        self.platform = platform
        self.limits = limits or NetworkLimits()
        self.state = StateDir(config.state_dir)
        #: Seconds the elevated updater has to start working on a handed-over request.
        self.elevated_start_timeout = ELEVATED_START_TIMEOUT
        self._preferences = PreferencesStore.in_state_dir(self.state.root)
        #: The configuration in effect: the file's, with the owner's settings applied.
        self.config = apply_preferences(config, self._preferences.load())
        self._session = session
        self.updater_version = _own_version()

    # ------------------------------------------------------------------ plumbing

    @property
    def session(self) -> requests.Session:
        if self._session is None:
            ca = str(self.config.feed.ca_bundle) if self.config.feed.ca_bundle else None
            self._session = make_session(ca_bundle=ca, user_agent=self.limits.user_agent)
        return self._session

    @contextlib.contextmanager
    def _locked(self) -> Iterator[History]:
        self.state.ensure()
        with self.state.lock(), History(self.state.history_db) as history:
            self._recover(history)
            yield history

    def _recover(self, history: History) -> list[Recovered]:
        history.mark_interrupted()
        results = recover(self.state.journal_dir, self.observer, self.platform)
        for result in results:
            outcome = {
                Entry.COMMITTED: Outcome.SUCCESS,
                Entry.ROLLED_BACK: Outcome.ROLLED_BACK,
                Entry.ABORTED: Outcome.CANCELLED,
            }[result.outcome]
            history.record(
                Operation.RECOVERY,
                outcome,
                product=result.product,
                from_version=result.from_version,
                to_version=result.to_version,
                message=_("An interrupted update was finished or undone."),
            )
        return results

    def recover(self) -> list[Recovered]:
        """Finish or undo any update a crash or power cut interrupted.

        Raises:
            BusyError: another update is in progress.
            UpdaterError: recovery failed (a technician is needed).
        """
        self.state.ensure()
        with self.state.lock(), History(self.state.history_db) as history:
            return self._recover(history)

    def _feed(self, base_url: str) -> TrustedFeed:
        return TrustedFeed(
            base_url=base_url,
            cache_dir=self.state.feed_cache,
            trusted_root=self._root_bytes(),
            fetcher=FeedFetcher(self.session, self.limits),
        )

    def _manifest(self) -> tuple[TrustedFeed, Manifest]:
        """The verified manifest from the first address of the feed that gives one.

        The addresses are the feed's URL, then its mirrors. Any failure on one (not
        reachable, an error page, or metadata python-tuf refuses: older, tampered) moves
        on to the next; the trusted metadata is shared, so no mirror can downgrade this
        PC. When all fail, the most serious failure is raised (a refused feed before a
        network problem). The manifest of a successful check is kept for
        :meth:`_offline_manifest`.

        Raises:
            TrustError, ManifestError, NetworkError: no address gave a usable manifest.
        """
        failures: list[FeedError] = []
        channel = self.config.feed.channel
        for url in self.config.feed.urls:
            feed = self._feed(url)
            try:
                data = feed.manifest_bytes(channel)
                manifest = parse_manifest(data, expected_channel=channel)
            except FeedError as exc:
                failures.append(exc)
                continue
            self._remember(feed, data, manifest)
            return feed, manifest
        serious = [f for f in failures if not isinstance(f, NetworkError)]
        raise (serious or failures)[0]

    def _remember(self, feed: TrustedFeed, data: bytes, manifest: Manifest) -> None:
        """Keep the verified manifest and until when its signatures hold (offline view)."""
        until = feed.trusted_until()
        if until is None:
            return
        try:
            write_atomic(self.state.root / LAST_MANIFEST_FILE, data)
            save_last_check(
                self.state.root / LAST_CHECK_FILE,
                LastCheck(
                    checked_at=datetime.now(UTC),
                    channel=manifest.channel,
                    manifest_sha256=hashlib.sha256(data).hexdigest(),
                    expires=until,
                    summary={},
                ),
            )
        except (OSError, UpdaterError):
            pass  # the offline view is a convenience: never fail a check for it

    def _offline_manifest(self) -> tuple[Manifest, datetime] | None:
        """The last verified manifest and when it was checked, while still trustworthy."""
        last = load_last_check(self.state.root / LAST_CHECK_FILE)
        if last is None or last.channel != self.config.feed.channel:
            return None
        if not usable_offline(last, datetime.now(UTC)):
            return None
        try:
            data = (self.state.root / LAST_MANIFEST_FILE).read_bytes()
        except OSError:
            return None
        if hashlib.sha256(data).hexdigest() != last.manifest_sha256:
            return None
        return parse_manifest(data, expected_channel=last.channel), last.checked_at

    def _last_verified_manifest(self) -> Manifest | None:
        """The manifest of the last successful check, however old: what the publisher
        last said about which versions may be put back on a PC."""
        last = load_last_check(self.state.root / LAST_CHECK_FILE)
        if last is None:
            return None
        try:
            data = (self.state.root / LAST_MANIFEST_FILE).read_bytes()
            if hashlib.sha256(data).hexdigest() != last.manifest_sha256:
                return None
            return parse_manifest(data, expected_channel=last.channel)
        except (OSError, UpdaterError):
            return None

    def _root_bytes(self) -> bytes:
        try:
            return self.config.feed.root.read_bytes()
        except OSError as exc:
            raise ConfigError(
                _("Cannot read the root of trust {path}: {error}").format(
                    path=self.config.feed.root, error=exc.strerror or exc
                )
            ) from exc

    def installed_version(self, product: ProductConfig) -> Version | None:
        """The version installed now (None when the product is not installed)."""
        return read_installed_version(
            product.install_dir, product.version, product.executable, self.platform
        )

    def prestashop_version(self, product: ProductConfig) -> Version | None:
        """The shop's PrestaShop version, from the configuration (None when unknown)."""
        source = product.prestashop
        if source is None:
            return None
        if source.version is not None:
            return Version(source.version)
        if source.command is None:
            return None
        if self.on_behalf_of is not None or self.platform.needs_elevation(self.state.root):
            # A standard user's request never makes SYSTEM run a command, and the
            # requester (the tray) sees what SYSTEM will decide: the version found by
            # the last run that could run it (the nightly task, an administrator).
            return self._remembered_prestashop(product)
        try:
            self._refuse_unsafe_commands(product, only=["prestashop_command"])
        except PreflightError as exc:
            log.warning("%s", exc.message)
            return self._remembered_prestashop(product)
        result = run_command(product.expand(source.command), timeout=source.timeout)
        found = _VERSION_IN_TEXT.search(result.output or "") if result.ok else None
        try:
            version = Version(found.group(0)) if found else None
        except InvalidVersion:
            return None
        if version is not None:
            self._remember_prestashop(product, version)
        return version

    def _remembered_prestashop(self, product: ProductConfig) -> Version | None:
        try:
            data = json.loads((self.state.root / PRESTASHOP_FILE).read_bytes())
            return Version(str(data[product.id]))
        except (OSError, ValueError, KeyError, TypeError, InvalidVersion):
            return None

    def _remember_prestashop(self, product: ProductConfig, version: Version) -> None:
        path = self.state.root / PRESTASHOP_FILE
        try:
            data = json.loads(path.read_bytes())
            if not isinstance(data, dict):
                data = {}
        except (OSError, ValueError):
            data = {}
        if data.get(product.id) == str(version):
            return
        data[product.id] = str(version)
        with contextlib.suppress(OSError):  # a standard user's tray may not write here
            write_atomic(path, json.dumps(data, sort_keys=True).encode("utf-8"))

    # ---------------------------------------------------------------------- check

    def _choose(
        self,
        manifest: Manifest,
        product: ProductConfig,
        *,
        only: Only = "all",
        to_version: Version | None = None,
        ignore_rollout: bool = False,
    ) -> Choice:
        found = manifest.product(product.id)
        installed = self.installed_version(product)
        if found is None:
            return Choice(product.id, installed, None)
        skipped = (
            self._preferences.load().skipped_versions(product.id) if to_version is None else ()
        )
        return choose(
            found,
            installed,
            prestashop=self.prestashop_version(product),
            updater_version=self.updater_version,
            machine_id=self.state.machine_id(),
            only=only,
            to_version=to_version,
            ignore_rollout=ignore_rollout and self.on_behalf_of is None,
            skipped=skipped,
            requested=self.on_behalf_of is not None,
        )

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
            document = self._delegate(Request("check", "any"))
            found = self.cached_check(products)
            if found is None:
                raise ManifestError(_("The check found no usable release manifest."))
            return dataclasses.replace(found, offline=bool(document.get("offline")))
        with self._locked() as history:
            started = datetime.now(UTC)
            wanted = (
                [self.config.product(p) for p in products]
                if products
                else list(self.config.products.values())
            )
            self.observer.step("*", Step.CHECK)
            try:
                _feed, manifest = self._manifest()
                choices = tuple(
                    self._choose(manifest, p, ignore_rollout=ignore_rollout) for p in wanted
                )
            except NetworkError as exc:
                offline = self._offline_manifest()
                history.record(
                    Operation.CHECK, Outcome.FAILED, error_code=exc.code, message=exc.message,
                    started_at=started,
                )  # fmt: skip
                if offline is None:
                    raise
                manifest, checked_at = offline
                choices = tuple(
                    self._choose(manifest, p, ignore_rollout=ignore_rollout) for p in wanted
                )
                return CheckResult(self.config.feed.channel, choices, checked_at, offline=True)
            except UpdaterError as exc:
                history.record(
                    Operation.CHECK, Outcome.FAILED, error_code=exc.code, message=exc.message,
                    started_at=started,
                )  # fmt: skip
                raise
            offered = [c for c in choices if c.offer is not None]
            history.record(
                Operation.CHECK,
                Outcome.SUCCESS if offered else Outcome.NOTHING_TO_DO,
                message=", ".join(f"{c.product} {c.offer.version}" for c in offered if c.offer),
                started_at=started,
            )
            return CheckResult(self.config.feed.channel, choices, started)

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
            document = self._delegate(Request("poll", "any"))
            next_check = document.get("next_check")
            due = bool(document.get("due"))
            found = self.cached_check() if due else None
            if found is not None:
                found = dataclasses.replace(found, offline=bool(document.get("offline")))
            return PollResult(
                due, datetime.fromisoformat(next_check) if next_check else None, found
            )
        now = now or datetime.now(UTC)
        rng = rng or random.SystemRandom()
        store = PollStore.in_state_dir(self.state.root)
        policy = PollPolicy.from_config(self.config)
        state = store.load()
        if state.next_check is None:  # the very first run on this PC: spread the fleet
            state = next_on_start(state, now, policy, rng)
            store.save(state)
        if not is_due(state, now):
            return PollResult(False, state.next_check)
        try:
            result = self.check()
        except UpdaterError as exc:
            store.save(
                next_after_failure(
                    state, now, policy, rng, retry_after=getattr(exc, "retry_after", None)
                )
            )
            raise
        if result.offline:
            state = next_after_failure(state, now, policy, rng)
        else:
            state = next_after_success(state, now, policy, rng)
        store.save(state)
        return PollResult(True, state.next_check, result)

    def cached_check(self, products: Sequence[str] | None = None) -> CheckResult | None:
        """What the last successful check found, worked out again for what is installed
        now, without the network: for showing at start-up. ``None`` when there is no
        check whose signatures still hold (for the channel in effect)."""
        cached = self._offline_manifest()
        if cached is None:
            return None
        manifest, checked_at = cached
        wanted = (
            [self.config.product(p) for p in products]
            if products
            else list(self.config.products.values())
        )
        choices = tuple(self._choose(manifest, p) for p in wanted)
        return CheckResult(self.config.feed.channel, choices, checked_at)

    # ----------------------------------------------------------------- preferences

    def preferences(self) -> Preferences:
        """The owner's settings and choices (:mod:`updater.machine.preferences`)."""
        return self._preferences.load()

    def save_preferences(self, preferences: Preferences) -> None:
        """Save the owner's settings and choices and put the settings in effect.

        A setting equal to the configuration file's is not saved as an override, so
        that a later change of the file by a technician still takes effect.

        Raises:
            ConfigError: the channel is not one the configuration lists (nothing
                changed).
            StorageError: they cannot be saved (nothing changed).
        """
        file = self.file_config
        if preferences.channel is not None and preferences.channel not in file.feed.channels:
            raise ConfigError(
                _("This PC may not follow the channel '{channel}'.").format(
                    channel=preferences.channel
                ),
                hint=_("The channels it may follow are: {channels}.").format(
                    channels=", ".join(file.feed.channels)
                ),
            )
        if preferences.channel == file.feed.channel:
            preferences = dataclasses.replace(preferences, channel=None)
        if preferences.check_interval_hours == file.check_interval_hours:
            preferences = dataclasses.replace(preferences, check_interval_hours=None)
        if preferences.language == file.language:
            preferences = dataclasses.replace(preferences, language=None)
        self.state.ensure()
        self._preferences.save(preferences)
        self.config = apply_preferences(self.file_config, preferences)

    def skip(self, product_id: str, version: Version) -> None:
        """Never offer ``version`` of the product again (unless it is critical)."""
        self.config.product(product_id)
        self.save_preferences(self.preferences().skip(product_id, version))

    def remind_later(self, product_id: str, version: Version, until: datetime) -> None:
        """Do not announce ``version`` again before ``until``."""
        self.config.product(product_id)
        self.save_preferences(self.preferences().remind_later(product_id, version, until))

    def mark_announced(self, product_id: str, version: Version) -> None:
        """Remember that the person was told about ``version``."""
        self.save_preferences(self.preferences().mark_announced(product_id, version))

    # -------------------------------------------------------------------- activity

    def activity(self) -> Activity | None:
        """Whether another process (the CLI, a scheduled task) is updating now, read
        without touching the lock: ``None`` when no other process holds it."""
        owner = self.state.lock_owner()
        if owner is None or owner.pid == os.getpid():
            return None
        journals = self.state.journal_dir.glob("*.journal")
        products = tuple(sorted(p.name.removesuffix(".journal") for p in journals))
        return Activity(owner, products)

    # --------------------------------------------------------------------- report

    def build_report(self, out: Path) -> Path:
        """Write the support bundle (:mod:`updater.support.report`) to ``out``.

        Raises:
            StorageError: the zip cannot be written.
        """
        from updater.support.doctor import run_doctor
        from updater.support.report import build_report

        checks = run_doctor(self.file_config.source)
        return build_report(
            out, config_path=self.file_config.source, checks=checks, state_dir=self.state.root
        )

    def send_report(self, bundle: Path) -> str:
        """Upload the support bundle to the configured support address; returns the
        reference the server gave (or an empty string).

        Raises:
            ConfigError: no support address is configured.
            NetworkError: the upload failed.
        """
        url = self.config.support_url
        if url is None:
            raise ConfigError(_("No support address is configured on this PC."))
        return send_report(self.session, url, bundle, machine_id=self.state.machine_id())

    # --------------------------------------------------------------------- update

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
        target = _parse_version(to_version) if to_version else None
        if not dry_run and self.platform.needs_elevation(product.install_dir):
            request = Request(
                "update", product.id, version=str(target) if target else None,
                if_running="close" if if_running == "close" else "fail",
            )  # fmt: skip
            document = self._delegate(request)
            return UpdateResult(
                product.id,
                document.get("outcome", "updated"),
                _maybe_version(document.get("from_version")),
                _maybe_version(document.get("to_version")),
                reboot_required=bool(document.get("reboot_required")),
                method=document.get("method"),
                downloaded_bytes=int(document.get("downloaded_bytes") or 0),
            )
        with self._locked() as history:
            feed, manifest = self._manifest()
            choice = self._choose(
                manifest, product, only=only, to_version=target, ignore_rollout=ignore_rollout
            )
            if choice.offer is None:
                if target is not None:
                    reasons = [n.reason for n in choice.not_offered] or [
                        _("there is no such release")
                    ]
                    raise PreflightError(
                        _("{product} {version} cannot be installed: {reason}.").format(
                            product=product.name, version=target, reason=reasons[0]
                        )
                    )
                return UpdateResult(product.id, "nothing_to_do", choice.installed, None, choice)
            release = choice.offer
            self._preflight(product, release, if_running, wait_seconds)
            if dry_run:
                return UpdateResult(
                    product.id, "dry_run", choice.installed, release.version, choice
                )
            return self._apply(feed, history, product, choice, release, if_running, wait_seconds)

    def _apply(
        self,
        feed: TrustedFeed,
        history: History,
        product: ProductConfig,
        choice: Choice,
        release: Release,
        if_running: IfRunning,
        wait_seconds: float,
    ) -> UpdateResult:
        package = release.zip_package or release.installer_package
        assert package is not None  # the schema requires at least one package
        from_version = str(choice.installed) if choice.installed else None
        entry = history.start(Operation.UPDATE, product.id, from_version, str(release.version))
        name = package.target.rsplit("/", 1)[-1]
        download = self.state.downloads / f"{product.id}-{release.version}-{name}"
        delta_ref = (
            _worth_it(package.delta_from(choice.installed), package)
            if isinstance(package, ZipPackage)
            else None
        )
        delta_file = self.state.downloads / f"{product.id}-{release.version}.delta.zip"
        tx: UpdateTransaction | None = None
        reboot = False
        method: Literal["full", "delta", "installer"] = (
            "installer" if isinstance(package, InstallerPackage) else "full"
        )
        downloaded = 0
        try:
            token = CancelToken()

            def fetch(ref: TargetRef, dest: Path) -> None:
                def on_progress(done: DownloadProgress) -> None:
                    self.observer.progress(
                        product.id, Step.DOWNLOAD, done.done, done.total, done.rate
                    )
                    if self.observer.cancelled():
                        token.cancel()

                self.observer.step(product.id, Step.DOWNLOAD)
                feed.download(ref, dest, progress=on_progress, cancel=token)

            file_list = None
            if isinstance(package, ZipPackage):
                file_list = self._file_list(feed, product, release, package)
            if delta_ref is not None:
                try:
                    fetch(delta_ref, delta_file)
                    downloaded += delta_ref.size
                except (FeedError, IntegrityError) as exc:
                    log.warning("The delta package was refused, using the full one: %s", exc)
                    delta_ref = None
            if delta_ref is None:
                fetch(package, download)
                downloaded += package.size
            tx = UpdateTransaction.begin(
                journal_dir=self.state.journal_dir,
                snapshots_root=self.state.snapshots_dir,
                product=product.id,
                install_dir=product.install_dir,
                from_version=from_version,
                to_version=str(release.version),
                data_paths=product.data_paths,
                observer=self.observer,
                reason=_("before the update to {version}").format(version=release.version),
                method="zip" if file_list is not None else "installer",
                registry_key=product.version.registry_key,
                platform=self.platform,
            )
            if file_list is not None and delta_ref is not None:
                try:
                    tx.stage_delta(delta_file, file_list)
                    method = "delta"
                except (DeltaBaseError, IntegrityError) as exc:
                    # E.g. the install was changed by hand: the full package still works.
                    log.warning("The delta could not be applied, using the full package: %s", exc)
                    fetch(package, download)
                    downloaded += package.size
                    tx.stage(download, file_list)
            elif file_list is not None:
                tx.stage(download, file_list)
            else:
                tx.stage_installer(download)
            self._check_cancelled()
            self._hook(product, "pre_snapshot")
            tx.snapshot()
            self._check_cancelled()
            self._ensure_closed(product, if_running, wait_seconds)
            if isinstance(package, InstallerPackage):
                reboot = tx.run_installer(
                    download,
                    fmt=package.format,
                    args=package.silent_args,
                    success_codes=package.success_exit_codes,
                    reboot_codes=package.reboot_exit_codes,
                    timeout=INSTALLER_TIMEOUT,
                )
            else:
                tx.swap()
            self._hook(product, "post_swap")
            self.observer.step(product.id, Step.HEALTH_CHECK)
            check_health(
                product.expand(product.health_check.command)
                if product.health_check.command
                else None,
                timeout=product.health_check.timeout,
                expected_version=release.version,
                read_version=lambda: self.installed_version(product),
                cwd=product.install_dir,
            )
            tx.mark_healthy()
            tx.commit()
        except BaseException as exc:
            self._after_failure(history, entry, product, tx, exc)  # raises when rolled back
            raise  # nothing was changed: the original error is the right one
        finally:
            for leftover in (download, delta_file):
                with contextlib.suppress(OSError):
                    leftover.unlink()
        for stale in self.state.downloads.glob("*.partial*"):  # other releases' leftovers
            with contextlib.suppress(OSError):
                stale.unlink()
        prune_snapshots(
            self.state.snapshots_dir,
            product.id,
            keep=self.config.retention.keep,
            max_bytes=_megabytes(self.config.retention.max_disk_mb),
        )
        history.finish(entry, Outcome.SUCCESS, message=_describe_method(method, downloaded))
        return UpdateResult(
            product.id, "updated", choice.installed, release.version, choice, reboot,
            method=method, downloaded_bytes=downloaded,
        )  # fmt: skip

    def _file_list(
        self, feed: TrustedFeed, product: ProductConfig, release: Release, package: ZipPackage
    ) -> FileList:
        """The release's signed file list, proven to agree with the manifest's counts."""
        file_list = FileList.from_json(
            feed.read_target(package.file_list.target, what=package.file_list.target)
        )
        if (file_list.file_count, file_list.installed_size) != (
            package.file_count,
            package.installed_size,
        ):
            raise ManifestError(
                _("The file list of {product} {version} does not match the manifest.").format(
                    product=product.name, version=release.version
                )
            )
        return file_list

    def _after_failure(
        self,
        history: History,
        entry: int,
        product: ProductConfig,
        tx: UpdateTransaction | None,
        exc: BaseException,
    ) -> None:
        """Undo a failed update, record it, and raise what the caller must see."""
        try:
            outcome = tx.abort_or_roll_back() if tx is not None else Entry.ABORTED
        except UpdaterError as undo_error:
            history.finish(
                entry, Outcome.ROLLBACK_FAILED, error_code=undo_error.code,
                message=undo_error.message, details=str(exc),
            )  # fmt: skip
            raise RollbackFailedError(
                _(
                    "The update of {product} failed and the previous version could not be "
                    "restored: {error}"
                ).format(product=product.name, error=undo_error.message),
                hint=_("Do not use the program; contact InnovaCommerce support."),
            ) from exc
        code = exc.code if isinstance(exc, UpdaterError) else type(exc).__name__
        message = exc.message if isinstance(exc, UpdaterError) else str(exc)
        details = getattr(exc, "details", None)
        if output := getattr(exc, "output", ""):
            details = "\n".join(
                filter(None, [details, self._keep_output(product, "health_check", output)])
            )
        if outcome == Entry.ROLLED_BACK:
            hook_note = self._hook_quietly(product, "post_restore")
            history.finish(
                entry, Outcome.ROLLED_BACK, error_code=code, message=message,
                details="\n".join(filter(None, [details, hook_note])) or None,
            )  # fmt: skip
            raise RolledBackError(
                _(
                    "The update could not be installed. Your previous version has been "
                    "restored and everything is as it was. You can try again later."
                ),
                hint=_("What went wrong: {error}").format(error=message),
            ) from exc
        cancelled = isinstance(exc, (CancelledError, KeyboardInterrupt))
        history.finish(
            entry, Outcome.CANCELLED if cancelled else Outcome.FAILED,
            error_code=code, message=message, details=details,
        )  # fmt: skip
        if isinstance(exc, KeyboardInterrupt):
            raise CancelledError(_("The update was cancelled; nothing was changed.")) from exc

    # --------------------------------------------------------------- preflight

    def _preflight(
        self, product: ProductConfig, release: Release, if_running: IfRunning, wait: float
    ) -> None:
        """Every check that can fail before anything changes.

        Raises:
            PreflightError: no write access, not enough disk space.
            AppRunningError: the program runs and the policy is ``fail``.
        """
        self.observer.step(product.id, Step.PREFLIGHT)
        refuse_replaceable([product.install_dir, *product.data_paths], self.platform)
        self._refuse_unsafe_commands(product)
        zip_package = release.zip_package
        installer = release.installer_package
        install_parent = product.install_dir.parent
        for folder in (install_parent, self.state.root):
            _check_writable(folder)
        program_size = describe_size(product.install_dir)
        data_size = sum(describe_size(p) for p in product.data_paths)
        self.state.snapshots_dir.mkdir(parents=True, exist_ok=True)
        other_volume = not same_volume(install_parent, self.state.snapshots_dir)
        if zip_package is not None:
            needs = {
                install_parent: zip_package.installed_size,  # staging
                self.state.root: zip_package.size
                + data_size
                + (program_size if other_volume else 0),  # download + snapshot copies
            }
        else:
            assert installer is not None
            needs = {
                install_parent: program_size,  # what the installer may write, roughly
                self.state.root: installer.size + data_size + program_size,
            }
        if same_volume(install_parent, self.state.root):
            needs = {install_parent: sum(needs.values())}
        for folder, size in needs.items():
            free = shutil.disk_usage(folder).free
            if free < size + _SPACE_MARGIN:
                raise PreflightError(
                    _(
                        "Not enough disk space in {folder}: the update needs {needed} MB "
                        "and {free} MB are free."
                    ).format(
                        folder=folder,
                        needed=(size + _SPACE_MARGIN) // 2**20,
                        free=free // 2**20,
                    ),
                    hint=_("Free some disk space and try again; nothing was changed."),
                )
        if if_running == "fail":
            self._ensure_closed(product, "fail", 0)

    def _ensure_closed(self, product: ProductConfig, if_running: IfRunning, wait: float) -> None:
        running = self.platform.find_processes(product.install_dir)
        if not running:
            return
        if if_running == "wait":
            running = self.platform.wait_for_exit(product.install_dir, wait)
        elif if_running == "close":
            running = self.platform.close_processes(
                running, graceful_timeout=min(wait, 30.0), force=True
            )
        if running:
            raise AppRunningError(
                _("{product} is running; close it to update it.").format(product=product.name),
                hint=_("Nothing was changed. Close the program and try again."),
                processes=tuple(p.pid for p in running),
            )

    def _refuse_unsafe_commands(
        self, product: ProductConfig, only: Sequence[str] | None = None
    ) -> None:
        """As SYSTEM, run nothing that a standard user could change: every program the
        product's hooks, health check and PrestaShop command name (and every script
        they are given) must be writable by administrators only, with every folder on
        its way (:meth:`Platform.writable_by_others`).

        Raises:
            PreflightError: one is not; nothing was changed.
        """
        if not self.platform.is_system():
            return
        for name, argv in product_commands(product).items():
            if only is not None and name not in only:
                continue
            for program in command_programs(argv):
                reason = unsafe_program(self.platform, program)
                if reason is not None:
                    raise PreflightError(
                        _("The {command} command of {product} is not run: {reason}").format(
                            command=name, product=product.name, reason=reason
                        ),
                        hint=_(
                            "Nothing was changed. The updater runs commands with the "
                            "rights of SYSTEM, so only administrators may be able to "
                            "change them and their folders; ask your IT support."
                        ),
                    )

    def _check_cancelled(self) -> None:
        if self.observer.cancelled():
            raise CancelledError(_("The update was cancelled; nothing was changed."))

    def _hook(self, product: ProductConfig, name: str) -> None:
        argv = getattr(product.hooks, name)
        if argv is None:
            return
        result = run_command(
            product.expand(argv), timeout=product.hooks.timeout, cwd=product.install_dir.parent
        )
        if not result.ok:
            raise InstallError(
                _("The {hook} command of {product} failed.").format(
                    hook=name, product=product.name
                ),
                hint=self._keep_output(product, name, last_lines(result.output)),
            )

    def _keep_output(self, product: ProductConfig, command: str, output: str) -> str:
        """Keep what a failed command printed where only administrators read it (it may
        hold anything: the history and the logs are readable by users); returns a note
        saying where, for the history and the person."""
        folder = self.state.root / "logs" / "commands"
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
        path = folder / f"{product.id}-{command}-{stamp}.log"
        try:
            self.platform.make_private(folder)
            write_atomic(path, (output or "(no output)").encode("utf-8", "replace"))
        except OSError as exc:
            log.warning("Cannot keep the output of %s: %s", command, exc)
            return _("Its output could not be kept: {error}").format(error=exc.strerror or exc)
        return _("What it printed is in {path}, which only administrators can read.").format(
            path=path
        )

    def _hook_quietly(self, product: ProductConfig, name: str) -> str | None:
        try:
            self._hook(product, name)
        except InstallError as exc:
            return f"{exc.message} {exc.hint or ''}".strip()
        return None

    # -------------------------------------------------------------------- restore

    def snapshots(self, product_id: str) -> list[SnapshotInfo]:
        """The kept snapshots of a product, newest first."""
        self.config.product(product_id)
        return list_snapshots(self.state.snapshots_dir, product_id)

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
            request = Request(
                "restore", product.id, snapshot=snapshot,
                if_running="close" if if_running == "close" else "fail",
            )  # fmt: skip
            document = self._delegate(request)
            chosen = next(
                (s for s in self.snapshots(product.id) if s.id == document.get("restored")), None
            )
            undo = next(
                (s for s in self.snapshots(product.id) if s.id == document.get("undo")), None
            )
            if chosen is None:  # it may have been pruned since; describe it from the result
                chosen = SnapshotInfo(
                    id=str(document.get("restored")), product=product.id,
                    version=document.get("to_version"), taken_at=datetime.now(UTC), reason="",
                    size=0, path=self.state.snapshots_of(product.id),
                )  # fmt: skip
            return RestoreResult(
                product.id,
                _maybe_version(document.get("from_version")),
                _maybe_version(document.get("to_version")),
                chosen,
                tuple(Path(p) for p in document.get("changed_data", [])),
                undo,
            )
        with self._locked() as history:
            available = list_snapshots(self.state.snapshots_dir, product.id)
            chosen = _pick_snapshot(available, snapshot)
            if chosen is None:
                raise PreflightError(
                    _("There is no saved version {which} of {product} to restore.").format(
                        which=snapshot or "", product=product.name
                    )
                )
            self._refuse_withdrawn(product, chosen)
            refuse_replaceable([product.install_dir, *product.data_paths], self.platform)
            self._refuse_unsafe_commands(product)
            self._ensure_closed(product, if_running, wait_seconds)
            installed = self.installed_version(product)
            changed = tuple(changed_data_paths(chosen))
            from_version = str(installed) if installed else None
            entry = history.start(Operation.RESTORE, product.id, from_version, chosen.version)
            tx: UpdateTransaction | None = None
            try:
                tx = UpdateTransaction.begin(
                    journal_dir=self.state.journal_dir,
                    snapshots_root=self.state.snapshots_dir,
                    product=product.id,
                    install_dir=product.install_dir,
                    from_version=from_version,
                    to_version=chosen.version or "",
                    data_paths=product.data_paths,
                    observer=self.observer,
                    reason=_("before restoring version {version}").format(version=chosen.version),
                    platform=self.platform,
                )
                self.observer.step(product.id, Step.RESTORE)
                tx.stage_snapshot(chosen)
                self._hook(product, "pre_snapshot")
                tx.snapshot()
                self._ensure_closed(product, if_running, wait_seconds)
                tx.swap()
                tx.apply_snapshot_data(chosen)
                self._hook(product, "post_restore")
                self.observer.step(product.id, Step.HEALTH_CHECK)
                expected = _parse_version(chosen.version) if chosen.version else None
                if expected is not None:
                    check_health(
                        product.expand(product.health_check.command)
                        if product.health_check.command
                        else None,
                        timeout=product.health_check.timeout,
                        expected_version=expected,
                        read_version=lambda: self.installed_version(product),
                        cwd=product.install_dir,
                    )
                tx.mark_healthy()
                tx.commit()
            except BaseException as exc:
                self._after_failure(history, entry, product, tx, exc)
                raise
            history.finish(entry, Outcome.SUCCESS)
            undo = next(
                (s for s in list_snapshots(self.state.snapshots_dir, product.id)
                 if tx is not None and s.id == tx.plan.txid),
                None,
            )  # fmt: skip
            return RestoreResult(
                product.id,
                installed,
                _parse_version(chosen.version) if chosen.version else None,
                chosen,
                changed,
                undo,
            )

    def _refuse_withdrawn(self, product: ProductConfig, chosen: SnapshotInfo) -> None:
        """A saved version the publisher took back (withdrawn, or below the signed
        minimum version) is not put back, by anyone.

        Raises:
            PreflightError: it is refused; nothing was changed.
        """
        manifest = self._last_verified_manifest()
        found = manifest.product(product.id) if manifest is not None else None
        version = _maybe_version(chosen.version)
        reason = found.refusal(version) if found is not None and version is not None else None
        if reason is not None:
            raise PreflightError(
                _("{product} {version} cannot be restored: {reason}.").format(
                    product=product.name, version=version, reason=reason
                ),
                hint=_("Nothing was changed. Install the newest version instead."),
            )

    # ------------------------------------------------------------------ elevation

    def _delegate(self, request: Request) -> dict[str, Any]:
        """Have the elevated updater run ``request`` (see :mod:`updater.machine.elevation`);
        its progress goes to the observer and a cancel goes back.

        Raises:
            UpdaterError: what the elevated updater raised, or that it could not be
                started, did not answer, or was not the real one.
        """
        return ask(
            self.platform,
            channel_name(self.state.root),
            request,
            self.observer,
            start_timeout=self.elevated_start_timeout,
            busy=lambda: self.activity() is not None,
        )

    def apply_requests(self) -> int:
        """Serve the requesters that connect (the elevated side: ``innova-update
        apply-requests``, started by the on-demand task) until none comes for a few
        seconds. Returns how many requests ran.

        Raises:
            StorageError: the channel cannot be served (another process serves it).
        """
        try:
            listener = self.platform.listen_elevated(channel_name(self.state.root))
        except OSError as exc:
            log.error("Cannot serve the updater's channel: %s", exc)
            raise StorageError(
                _("The updater service cannot accept requests: {error}").format(
                    error=exc.strerror or exc
                ),
                hint=_("Another copy of it may be running already."),
            ) from exc

        def handle(request: Request, user: str, channel: ChannelObserver) -> dict[str, Any]:
            worker = UpdaterService(
                self.file_config, Observers([self.observer, channel]),
                platform=_Elevated(self.platform), limits=self.limits, session=self._session,
                on_behalf_of=user,
            )  # fmt: skip
            return worker._run_request(request)

        try:
            return serve(listener, handle)
        finally:
            listener.close()

    def _run_request(self, request: Request) -> dict[str, Any]:
        if request.action == "check":
            return {"offline": self.check().offline}
        if request.action == "poll":
            polled = self.poll()
            return {
                "due": polled.due,
                "next_check": polled.next_check.isoformat() if polled.next_check else None,
                "offline": bool(polled.check and polled.check.offline),
            }
        if request.action == "update":
            result = self.update(
                request.product, to_version=request.version, if_running=request.if_running
            )
            return {
                "outcome": result.outcome,
                "from_version": str(result.from_version) if result.from_version else None,
                "to_version": str(result.to_version) if result.to_version else None,
                "reboot_required": result.reboot_required,
                "method": result.method,
                "downloaded_bytes": result.downloaded_bytes,
            }
        restored = self.restore(
            request.product, snapshot=request.snapshot, if_running=request.if_running
        )
        return {
            "from_version": str(restored.from_version) if restored.from_version else None,
            "to_version": str(restored.to_version) if restored.to_version else None,
            "restored": restored.restored.id,
            "undo": restored.undo.id if restored.undo else None,
            "changed_data": [str(p) for p in restored.changed_data],
        }

    # -------------------------------------------------------------------- history

    def history(self, product_id: str | None = None, limit: int = 100) -> list[HistoryEntry]:
        """Past checks, updates, rollbacks and restores, newest first."""
        self.state.ensure()
        with History(self.state.history_db) as history:
            return history.entries(product_id, limit=limit)

    def prune(self, product_id: str, keep: int | None = None) -> list[SnapshotInfo]:
        """Delete kept snapshots beyond the newest ``keep`` (default: the configured
        retention). Returns what was deleted.

        Raises:
            BusyError: another update is in progress.
            ConfigError: unknown product, or ``keep`` below 1.
        """
        product = self.config.product(product_id)
        keep = self.config.retention.keep if keep is None else keep
        if keep < 1:
            raise ConfigError(_("At least one snapshot must be kept."))
        with self._locked():
            return prune_snapshots(
                self.state.snapshots_dir,
                product.id,
                keep=keep,
                max_bytes=_megabytes(self.config.retention.max_disk_mb),
            )

    def status(self) -> StatusResult:
        """What is installed, the last check, unfinished or failed updates, snapshots."""
        self.state.ensure()
        last = load_last_check(self.state.root / LAST_CHECK_FILE)
        products = []
        with History(self.state.history_db) as history:
            for product in self.config.products.values():
                try:
                    installed: Version | str | None = self.installed_version(product)
                except UpdaterError as exc:
                    installed = exc.message
                updates = history.entries(
                    product.id, limit=1, operations=(Operation.UPDATE, Operation.RESTORE)
                )
                snapshots = list_snapshots(self.state.snapshots_dir, product.id)
                products.append(
                    ProductStatus(
                        product=product.id,
                        name=product.name,
                        installed=installed,
                        last_operation=updates[0] if updates else None,
                        # False where this account may not read the journal folder
                        interrupted=os.path.exists(  # noqa: PTH110 - never raises
                            self.state.journal_dir / f"{product.id}.journal"
                        ),
                        snapshots=tuple(snapshots),
                    )
                )
        return StatusResult(
            products=tuple(products),
            last_check=last.checked_at if last else None,
            channel=self.config.feed.channel,
            state_dir=self.state.root,
            disk_used=describe_size(self.state.root),
        )


# ------------------------------------------------------------------------ helpers


def _worth_it(delta: DeltaRef | None, package: ZipPackage) -> DeltaRef | None:
    """``delta`` when downloading it saves enough over the full package."""
    if delta is None or delta.size > DELTA_MAX_SHARE * package.size:
        return None
    return delta


def _describe_method(method: str, downloaded: int) -> str:
    if method == "delta":
        return _("Delta update: {size} downloaded.").format(size=format_size(downloaded))
    return _("{size} downloaded.").format(size=format_size(downloaded))


class _Elevated:
    """The platform as seen by the elevated updater: it never hands work on again."""

    def __init__(self, platform: Platform) -> None:
        self._platform = platform

    def needs_elevation(self, install_dir: Path) -> bool:
        return False

    def __getattr__(self, name: str) -> Any:
        return getattr(self._platform, name)


def _maybe_version(text: object) -> Version | None:
    try:
        return Version(str(text)) if text else None
    except InvalidVersion:
        return None


def _own_version() -> Version:
    try:
        return Version(__version__)
    except InvalidVersion:
        return Version("0")


def _parse_version(text: str) -> Version:
    try:
        return Version(text)
    except InvalidVersion as exc:
        raise ConfigError(_("'{value}' is not a valid version number.").format(value=text)) from exc


def _megabytes(value: int | None) -> int | None:
    return None if value is None else value * 1024 * 1024


def _pick_snapshot(available: list[SnapshotInfo], which: str | None) -> SnapshotInfo | None:
    if which is None:
        return available[0] if available else None
    for snapshot in available:
        if snapshot.id == which or snapshot.version == which:
            return snapshot
    return None


def _check_writable(folder: Path) -> None:
    """Refuse to start when the updater cannot create files in ``folder``."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        error: OSError | None = exc
    else:
        error = write_probe(folder)
    if error is not None:
        raise PreflightError(
            _("The updater cannot write to {folder}: {error}").format(
                folder=folder, error=error.strerror or error
            ),
            hint=_("Run the updater with administrator rights; nothing was changed."),
        ) from error
