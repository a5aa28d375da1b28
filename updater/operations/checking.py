"""Checks: what the feed offers this machine, proven before it is believed.

The verified manifest from the feed's address or its mirrors, the one remembered from
the last successful check (the offline view, and what the publisher last said about
which versions may be put back), the shop's PrestaShop version (detected, and
remembered for the requests that never run the command), which release each product
is offered, and the check, the scheduled poll and the cached check themselves. All of
this runs here; handing a check over to the elevated updater is :mod:`.handover`'s.

May import: the feed side, the machine, the foundation, the core and the operations'
``context``, ``results`` and ``commands``.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import logging
import random
import re
from collections.abc import Callable, Sequence
from datetime import UTC, datetime

from packaging.version import InvalidVersion, Version

from updater.errors import ConfigError, FeedError, NetworkError, PreflightError, UpdaterError
from updater.feed.choose import Choice, Only, choose
from updater.feed.fetch import FeedFetcher
from updater.feed.manifest import Manifest, parse_manifest
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
from updater.fsutil import write_atomic
from updater.i18n import _
from updater.install.health import run_command
from updater.machine.config import ProductConfig
from updater.machine.history import Operation, Outcome
from updater.observer import Step
from updater.operations.commands import refuse_unsafe_commands
from updater.operations.context import OperationContext
from updater.operations.results import CheckResult, PollResult

__all__ = [
    "LAST_MANIFEST_FILE",
    "PRESTASHOP_FILE",
    "OlderReleases",
    "archive_online",
    "cached_check",
    "check",
    "choose_for",
    "last_verified_manifest",
    "poll",
    "prestashop_version",
    "reaches_back",
    "verified_manifest",
]

log = logging.getLogger(__name__)

_VERSION_IN_TEXT = re.compile(r"\d+(?:\.\d+)+")
LAST_MANIFEST_FILE = "last-manifest.json"
#: The PrestaShop version each product's command found last (for requests, which
#: never run it).
PRESTASHOP_FILE = "prestashop.json"


# ------------------------------------------------------------------ the manifest


def _feed(ctx: OperationContext, base_url: str) -> TrustedFeed:
    return TrustedFeed(
        base_url=base_url,
        cache_dir=ctx.state.feed_cache,
        trusted_root=_root_bytes(ctx),
        fetcher=FeedFetcher(ctx.session, ctx.limits),
    )


def verified_manifest(ctx: OperationContext) -> tuple[TrustedFeed, Manifest]:
    """The verified manifest from the first address of the feed that gives one.

    The addresses are the feed's URL, then its mirrors. Any failure on one (not
    reachable, an error page, or metadata python-tuf refuses: older, tampered) moves
    on to the next; the trusted metadata is shared, so no mirror can downgrade this
    PC. When all fail, the most serious failure is raised (a refused feed before a
    network problem). The manifest of a successful check is kept for
    :func:`_offline_manifest`.

    Raises:
        TrustError, ManifestError, NetworkError: no address gave a usable manifest.
    """
    failures: list[FeedError] = []
    channel = ctx.config.feed.channel
    last = load_last_check(ctx.state.root / LAST_CHECK_FILE)
    for url in ctx.config.feed.urls:
        feed = _feed(ctx, url)
        try:
            data = feed.manifest_bytes(channel)
            digest = hashlib.sha256(data).hexdigest()
            seen = last is not None and (last.channel, last.manifest_sha256) == (channel, digest)
            manifest = parse_manifest(data, expected_channel=channel, known_valid=seen)
        except FeedError as exc:
            failures.append(exc)
            continue
        _remember(ctx, feed, data, digest, manifest, kept=seen)
        return feed, manifest
    serious = [f for f in failures if not isinstance(f, NetworkError)]
    raise (serious or failures)[0]


def _remember(
    ctx: OperationContext,
    feed: TrustedFeed,
    data: bytes,
    digest: str,
    manifest: Manifest,
    *,
    kept: bool,
) -> None:
    """Keep the verified manifest and until when its signatures hold (offline view).

    The last check's SHA-256 also tells the next check that these bytes passed the
    schema here (``parse_manifest(known_valid=True)``). ``kept``: the same bytes are
    already kept, only the time of the check and the expiry are written again."""
    until = feed.trusted_until()
    if until is None:
        return
    try:
        if not kept or _kept_digest(ctx) != digest:
            write_atomic(ctx.state.root / LAST_MANIFEST_FILE, data)
        save_last_check(
            ctx.state.root / LAST_CHECK_FILE,
            LastCheck(
                checked_at=datetime.now(UTC),
                channel=manifest.channel,
                manifest_sha256=digest,
                expires=until,
                summary={},
            ),
        )
    except (OSError, UpdaterError):
        pass  # the offline view is a convenience: never fail a check for it


# ------------------------------------------------------------------ the archive


#: Gives the manifest with the channel's older releases added (the archive), loaded
#: at most once per check, and only when a decision needs a release the manifest does
#: not list.
OlderReleases = Callable[[], Manifest]


def reaches_back(manifest: Manifest, product_id: str, version: Version | None) -> bool:
    """Whether a decision about ``version`` (None: nothing installed) may need releases
    older than those the manifest offers for the product (withdrawn releases, which
    the manifest lists however old, are never offered)."""
    product = manifest.product(product_id)
    if product is None:
        return False
    offered = [r.version for r in product.releases if not r.withdrawn]
    return version is None or not offered or version < offered[0]


def archive_online(ctx: OperationContext, feed: TrustedFeed, manifest: Manifest) -> OlderReleases:
    """The manifest with the older releases of the feed's verified archive, read at
    most once (python-tuf downloads it only when it changed)."""

    @functools.cache
    def load() -> Manifest:
        data = feed.archive_bytes(manifest.channel)
        if data is None:
            return manifest
        return manifest.with_archive(parse_manifest(data, expected_channel=manifest.channel))

    return load


def _kept_digest(ctx: OperationContext) -> str | None:
    """The SHA-256 of the kept manifest's bytes, or None when there are none."""
    try:
        return hashlib.sha256((ctx.state.root / LAST_MANIFEST_FILE).read_bytes()).hexdigest()
    except OSError:
        return None


def _offline_manifest(ctx: OperationContext) -> tuple[Manifest, datetime] | None:
    """The last verified manifest and when it was checked, while still trustworthy."""
    last = load_last_check(ctx.state.root / LAST_CHECK_FILE)
    if last is None or last.channel != ctx.config.feed.channel:
        return None
    if not usable_offline(last, datetime.now(UTC)):
        return None
    try:
        data = (ctx.state.root / LAST_MANIFEST_FILE).read_bytes()
    except OSError:
        return None
    if hashlib.sha256(data).hexdigest() != last.manifest_sha256:
        return None
    return parse_manifest(data, expected_channel=last.channel, known_valid=True), last.checked_at


def last_verified_manifest(ctx: OperationContext) -> Manifest | None:
    """The manifest of the last successful check, however old: what the publisher
    last said about which versions may be put back on a PC."""
    last = load_last_check(ctx.state.root / LAST_CHECK_FILE)
    if last is None:
        return None
    try:
        data = (ctx.state.root / LAST_MANIFEST_FILE).read_bytes()
        if hashlib.sha256(data).hexdigest() != last.manifest_sha256:
            return None
        return parse_manifest(data, expected_channel=last.channel, known_valid=True)
    except (OSError, UpdaterError):
        return None


def _root_bytes(ctx: OperationContext) -> bytes:
    try:
        return ctx.config.feed.root.read_bytes()
    except OSError as exc:
        raise ConfigError(
            _("Cannot read the root of trust {path}: {error}").format(
                path=ctx.config.feed.root, error=exc.strerror or exc
            )
        ) from exc


# -------------------------------------------------------------------- PrestaShop


def prestashop_version(ctx: OperationContext, product: ProductConfig) -> Version | None:
    """The shop's PrestaShop version, from the configuration (None when unknown)."""
    source = product.prestashop
    if source is None:
        return None
    if source.version is not None:
        return Version(source.version)
    if source.command is None:
        return None
    if ctx.on_behalf_of is not None or ctx.platform.needs_elevation(ctx.state.root):
        # A standard user's request never makes SYSTEM run a command, and the
        # requester (the tray) sees what SYSTEM will decide: the version found by
        # the last run that could run it (the nightly task, an administrator).
        return _remembered_prestashop(ctx, product)
    try:
        refuse_unsafe_commands(ctx, product, only=["prestashop_command"])
    except PreflightError as exc:
        log.warning("%s", exc.message)
        return _remembered_prestashop(ctx, product)
    result = run_command(product.expand(source.command), timeout=source.timeout)
    found = _VERSION_IN_TEXT.search(result.output or "") if result.ok else None
    try:
        version = Version(found.group(0)) if found else None
    except InvalidVersion:
        return None
    if version is not None:
        _remember_prestashop(ctx, product, version)
    return version


def _remembered_prestashop(ctx: OperationContext, product: ProductConfig) -> Version | None:
    try:
        data = json.loads((ctx.state.root / PRESTASHOP_FILE).read_bytes())
        return Version(str(data[product.id]))
    except (OSError, ValueError, KeyError, TypeError, InvalidVersion):
        return None


def _remember_prestashop(ctx: OperationContext, product: ProductConfig, version: Version) -> None:
    path = ctx.state.root / PRESTASHOP_FILE
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


# ------------------------------------------------------------------------- check


def choose_for(
    ctx: OperationContext,
    manifest: Manifest,
    product: ProductConfig,
    *,
    only: Only = "all",
    to_version: Version | None = None,
    ignore_rollout: bool = False,
    older: OlderReleases | None = None,
) -> Choice:
    """Which release of ``manifest`` this machine is offered for ``product``.

    When the manifest offers nothing and the installed version (or ``to_version``) is
    older than every release it lists, the channel's archive (``older``) may: a PC far
    behind whose shop fits none of the newest releases, or an administrator's older
    ``--to-version``."""
    installed = ctx.installed_version(product)
    if manifest.product(product.id) is None:
        return Choice(product.id, installed, None)
    skipped = ctx.preferences.load().skipped_versions(product.id) if to_version is None else ()
    prestashop = prestashop_version(ctx, product)

    def choose_in(releases: Manifest) -> Choice:
        found = releases.product(product.id)
        assert found is not None  # the archive never takes a product away
        return choose(
            found,
            installed,
            prestashop=prestashop,
            updater_version=ctx.updater_version,
            machine_id=ctx.state.machine_id(),
            only=only,
            to_version=to_version,
            ignore_rollout=ignore_rollout and ctx.on_behalf_of is None,
            skipped=skipped,
            requested=ctx.on_behalf_of is not None,
        )

    choice = choose_in(manifest)
    if (
        choice.offer is None
        and older is not None
        and reaches_back(manifest, product.id, to_version or installed)
    ):
        choice = choose_in(older())
    return choice


def _wanted(ctx: OperationContext, products: Sequence[str] | None) -> list[ProductConfig]:
    return (
        [ctx.config.product(p) for p in products]
        if products
        else list(ctx.config.products.values())
    )


def check(
    ctx: OperationContext, products: Sequence[str] | None = None, *, ignore_rollout: bool = False
) -> CheckResult:
    """Check here, under the lock (see :meth:`updater.service.UpdaterService.check`)."""
    with ctx.locked() as history:
        started = datetime.now(UTC)
        wanted = _wanted(ctx, products)
        ctx.observer.step("*", Step.CHECK)
        try:
            feed, manifest = verified_manifest(ctx)
            older = archive_online(ctx, feed, manifest)
            choices = tuple(
                choose_for(ctx, manifest, p, ignore_rollout=ignore_rollout, older=older)
                for p in wanted
            )
        except NetworkError as exc:
            offline = _offline_manifest(ctx)
            history.record(
                Operation.CHECK, Outcome.FAILED, error_code=exc.code, message=exc.message,
                started_at=started,
            )  # fmt: skip
            if offline is None:
                raise
            manifest, checked_at = offline
            choices = tuple(
                choose_for(ctx, manifest, p, ignore_rollout=ignore_rollout) for p in wanted
            )
            return CheckResult(ctx.config.feed.channel, choices, checked_at, offline=True)
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
        return CheckResult(ctx.config.feed.channel, choices, started)


def poll(
    ctx: OperationContext, *, now: datetime | None = None, rng: random.Random | None = None
) -> PollResult:
    """Check here when the schedule says so (see :meth:`updater.service.UpdaterService.poll`)."""
    now = now or datetime.now(UTC)
    rng = rng or random.SystemRandom()
    store = PollStore.in_state_dir(ctx.state.root)
    policy = PollPolicy.from_config(ctx.config)
    state = store.load()
    if state.next_check is None:  # the very first run on this PC: spread the fleet
        state = next_on_start(state, now, policy, rng)
        store.save(state)
    if not is_due(state, now):
        return PollResult(False, state.next_check)
    try:
        result = check(ctx)
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
        state = next_after_success(state, now, policy, rng, staged=_staged_offer(result))
    store.save(state)
    return PollResult(True, state.next_check, result)


def _staged_offer(result: CheckResult) -> bool:
    """Whether the check offers a release whose rollout is still staged (below 100 %):
    the publisher may halt it, so the schedule comes back sooner."""
    return any(c.offer is not None and c.offer.rollout_percent < 100 for c in result.choices)


def cached_check(
    ctx: OperationContext, products: Sequence[str] | None = None
) -> CheckResult | None:
    """What the last successful check found, worked out again for what is installed
    now, without the network: for showing at start-up. ``None`` when there is no
    check whose signatures still hold (for the channel in effect)."""
    cached = _offline_manifest(ctx)
    if cached is None:
        return None
    manifest, checked_at = cached
    choices = tuple(choose_for(ctx, manifest, p) for p in _wanted(ctx, products))
    return CheckResult(ctx.config.feed.channel, choices, checked_at)
