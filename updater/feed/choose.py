"""Choosing the release to offer: newest compatible, allowed by rollout and by the
person's choices, with the reason each newer release is not offered."""

from __future__ import annotations

import hashlib
from collections.abc import Collection
from dataclasses import dataclass, field
from typing import Literal

from packaging.version import Version

from updater.feed.manifest import Product, Release, ReleaseKind
from updater.i18n import _

Only = Literal["all", "bugfix", "feature"]


def rollout_bucket(machine_id: str, product: str, version: Version) -> int:
    """This machine's bucket (0-99) for one release: stable for the machine and the
    release, different between releases."""
    digest = hashlib.sha256(f"{machine_id}\0{product}\0{version}".encode()).digest()
    return int.from_bytes(digest[:8], "big") % 100


@dataclass(frozen=True)
class NotOffered:
    """A newer release that is not offered, and why (a sentence for a person)."""

    release: Release
    reason: str


@dataclass(frozen=True)
class Choice:
    """What a check found for one product."""

    product: str
    installed: Version | None
    offer: Release | None
    not_offered: tuple[NotOffered, ...] = field(default_factory=tuple)
    #: The shop's PrestaShop version the choice was made for (None when unknown).
    prestashop: Version | None = None


def choose(
    product: Product,
    installed: Version | None,
    *,
    prestashop: Version | None,
    updater_version: Version,
    machine_id: str,
    only: Only = "all",
    to_version: Version | None = None,
    ignore_rollout: bool = False,
    skipped: Collection[Version] = (),
    requested: bool = False,
) -> Choice:
    """The newest release newer than ``installed`` that this machine may install.

    With ``to_version``, only that release is considered, and an administrator may
    install it even when it is older than the installed one or held back by the staged
    rollout. Not when ``requested``: a standard user's request, run by the elevated
    updater, keeps every rule. No one gets a release the publisher withdrew or one
    older than the product's signed minimum version.
    """
    if to_version is not None:
        candidates = [r for r in product.releases if r.version == to_version]
    else:
        candidates = [r for r in product.releases if installed is None or r.version > installed]
    refused: list[NotOffered] = []
    offer: Release | None = None
    for release in sorted(candidates, key=lambda r: r.version, reverse=True):
        reason = product.refusal(release.version)
        if reason is None and requested and installed is not None and release.version <= installed:
            reason = _("it is not newer than the installed version {installed}").format(
                installed=installed
            )
        reason = reason or _why_not(
            release,
            prestashop=prestashop,
            updater_version=updater_version,
            machine_id=machine_id,
            only=only,
            ignore_rollout=ignore_rollout or (to_version is not None and not requested),
            skipped=skipped,
        )
        if reason is None and offer is None:
            offer = release
        elif reason is not None:
            refused.append(NotOffered(release, reason))
    return Choice(product.id, installed, offer, tuple(refused), prestashop)


def _why_not(
    release: Release,
    *,
    prestashop: Version | None,
    updater_version: Version,
    machine_id: str,
    only: Only,
    ignore_rollout: bool,
    skipped: Collection[Version],
) -> str | None:
    if only != "all" and release.kind != ReleaseKind(only):
        return (
            _("it adds new features and only bug-fix updates were asked for")
            if release.kind == ReleaseKind.FEATURE
            else _("it is a bug-fix update and only feature updates were asked for")
        )
    if release.min_updater_version is not None and updater_version < release.min_updater_version:
        return _("it needs InnovaCommerce Updater {needed} or newer (this one is {have})").format(
            needed=release.min_updater_version, have=updater_version
        )
    if release.prestashop is not None:
        if prestashop is None:
            return _(
                "it needs PrestaShop {spec} and this shop's PrestaShop version is unknown"
            ).format(spec=release.prestashop)
        if not release.prestashop.contains(prestashop, prereleases=True):
            return _("it needs PrestaShop {spec} and this shop has {have}").format(
                spec=release.prestashop, have=prestashop
            )
    if release.version in skipped and not release.critical:
        return _("it was skipped")
    if not ignore_rollout:
        bucket = rollout_bucket(machine_id, release.product, release.version)
        if bucket >= release.rollout_percent:
            return _("it is being released gradually and has not reached this PC yet")
    return None
