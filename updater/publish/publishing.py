"""Signing and publishing the feed's TUF metadata: publish, refresh, rotate keys.

Owns deciding which roles must be signed again (a changed catalogue, a signature past
half its validity, a forced role), building the new targets, snapshot and timestamp
metadata, and writing them in the order that keeps the feed consistent for clients at
every moment: the manifests and versioned metadata first, then the root, and
``timestamp.json`` (the only file that makes clients see a change) last, after the real
client verified the staged result (:func:`~updater.publish.verification.verify_staged`).

Imports: the core, ``fsutil``, :mod:`updater.feed.trust`, the publisher's ``keys`` and
:mod:`~updater.publish.workspace`, :mod:`~updater.publish.manifests`,
:mod:`~updater.publish.signing`, :mod:`~updater.publish.verification`.
"""

from __future__ import annotations

import contextlib
import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from securesystemslib.signer import SSlibKey
from tuf.api.metadata import Metadata, MetaFile, Root, Snapshot, TargetFile, Targets, Timestamp

from updater.errors import PublishError
from updater.fsutil import write_atomic
from updater.i18n import _
from updater.publish import bins
from updater.publish.keys import KeyRing
from updater.publish.manifests import channel_files, check_document, package_refs
from updater.publish.signing import can_sign, rotated_root, serializer, sign
from updater.publish.verification import verify_staged
from updater.publish.workspace import ROLES, Workspace

__all__ = ["PublishResult", "publish", "refresh", "rotate_keys"]


@dataclass
class PublishResult:
    """What a publish, refresh or rotation changed."""

    signed: dict[str, int] = field(default_factory=dict)  # role -> new version
    bins_signed: dict[str, int] = field(default_factory=dict)  # hash bin -> new version
    new_targets: list[str] = field(default_factory=list)
    expires: dict[str, datetime] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return bool(self.signed or self.bins_signed)


def publish(
    workspace: Workspace,
    keyring: KeyRing,
    *,
    now: datetime,
    force: Sequence[str] = (),
    new_root: Metadata[Root] | None = None,
    verify_with_client: bool = True,
) -> PublishResult:
    """Sign and publish what changed: new releases, rollouts, and expiring signatures.

    ``force`` names roles to re-sign even when unchanged. The new metadata is
    verified by the real client before ``timestamp.json`` is replaced; only tests
    that build deliberately expired feeds (``now`` in the past) turn that off.

    Raises:
        PublishError: keys missing for a role that must be signed, or the new feed
            does not verify; the published feed is then unchanged.
    """
    current = workspace.current()
    root_md = new_root or current["root"]
    root = root_md.signed
    expiry = workspace.settings.expiry_days
    result = PublishResult()

    # Targets: the manifests plus every file they refer to.
    document = workspace.releases_document()
    settings = workspace.settings
    check_document(document, settings.channels, current=settings.current_releases)
    wanted: dict[str, TargetFile] = {}
    manifest_files = list(
        channel_files(document, settings.channels, settings.current_releases).items()
    )
    for path, data in manifest_files:
        wanted[path] = TargetFile(len(data), {"sha256": hashlib.sha256(data).hexdigest()}, path)
    for product in document["products"].values():
        for record in product["releases"]:
            for package in record["packages"]:
                for ref in package_refs(package):
                    wanted[ref["target"]] = TargetFile(
                        ref["size"], {"sha256": ref["sha256"]}, ref["target"]
                    )
    for path, info in wanted.items():
        stored = workspace.target_file(path, info.hashes["sha256"])
        if not stored.exists() and path.startswith("packages/"):
            raise PublishError(
                _("The file {file} of {target} is missing from the feed.").format(
                    file=stored, target=path
                )
            )

    # The top-level targets lists the manifests and delegates every other target to
    # the hash bins (updater/publish/bins.py), so that a check reads only small files.
    old_targets = current.get("targets")
    old_bins = workspace.current_bins(current)
    published = dict(old_targets.signed.targets) if old_targets else {}
    for md in old_bins.values():
        published.update(md.signed.targets)
    result.new_targets = sorted(p for p in wanted if p not in published)
    delegations = bins.delegations(root)
    top, by_bin = bins.split(wanted, delegations)
    due = {role: _due(expiry, current.get(role), now) for role in ("targets", "snapshot")}
    keys_changed = "targets" in force or (
        old_targets is not None and old_targets.signed.delegations != delegations
    )
    if not can_sign("targets", root, keyring):
        # A scheduled refresh holds only the online keys: keep the feed alive and say
        # by when the targets key is needed.
        held = [md for md in (old_targets, *old_bins.values()) if md is not None]
        unchanged = (
            old_targets is not None
            and dict(old_targets.signed.targets) == top
            and not keys_changed
            and all(dict(old_bins[n].signed.targets) == by_bin[n] for n in by_bin if n in old_bins)
            and set(old_bins) == set(by_bin)
        )
        if unchanged and all(md.signed.expires > now for md in held):
            soonest = min(md.signed.expires for md in held)
            if any(_due(expiry, md, now) for md in held):
                result.warnings.append(
                    _(
                        "The targets signature expires on {when}; publish with the targets "
                        "key before then."
                    ).format(when=_when(soonest))
                )
            due["targets"] = False
            by_bin = {}  # nothing to sign: every bin stays as published

    targets_md = old_targets
    if (
        old_targets is None
        or dict(old_targets.signed.targets) != top
        or keys_changed
        or due["targets"]
    ):
        targets_md = _next_targets(old_targets, now + timedelta(days=expiry["targets"]), top)
        targets_md.signed.delegations = delegations
        result.warnings += sign(targets_md, "targets", root, keyring)
        result.signed["targets"] = targets_md.signed.version
    assert targets_md is not None
    targets_bytes = targets_md.to_bytes(serializer("targets"))

    # Each bin is signed again when what it lists changed, when its signature is past
    # half its validity, or when the targets keys changed.
    bin_mds = dict(old_bins)
    for name, listed in by_bin.items():
        old = old_bins.get(name)
        if (
            old is None
            or dict(old.signed.targets) != listed
            or keys_changed
            or _due(expiry, old, now)
        ):
            bin_md = _next_targets(old, now + timedelta(days=expiry["targets"]), listed)
            result.warnings += sign(bin_md, name, targets_md.signed, keyring)
            bin_mds[name] = bin_md
            result.bins_signed[name] = bin_md.signed.version
    for name in set(bin_mds) - set(bins.names(delegations)):
        del bin_mds[name]  # bins of an earlier layout: no longer delegated
    result.warnings = list(dict.fromkeys(result.warnings))

    old_snapshot = current.get("snapshot")
    snapshot_md = old_snapshot
    bin_meta = {f"{name}.json": MetaFile(md.signed.version) for name, md in bin_mds.items()}
    if (
        old_snapshot is None
        or "targets" in result.signed
        or result.bins_signed
        or set(bin_meta) != set(old_snapshot.signed.meta) - {"targets.json"}
        or due["snapshot"]
        or ("snapshot" in force)
    ):
        version = old_snapshot.signed.version + 1 if old_snapshot else 1
        snapshot_md = Metadata(
            Snapshot(version=version, expires=now + timedelta(days=expiry["snapshot"]))
        )
        snapshot_md.signed.meta = {
            "targets.json": MetaFile(
                targets_md.signed.version,
                len(targets_bytes),
                {"sha256": hashlib.sha256(targets_bytes).hexdigest()},
            ),
            **bin_meta,
        }
        result.warnings += sign(snapshot_md, "snapshot", root, keyring)
        result.signed["snapshot"] = version
    assert snapshot_md is not None
    snapshot_bytes = snapshot_md.to_bytes(serializer("snapshot"))

    old_timestamp = current.get("timestamp")
    if (
        not result.signed
        and new_root is None
        and old_timestamp is not None
        and not _due(expiry, old_timestamp, now)
        and "timestamp" not in force
    ):
        result.expires = {r: m.signed.expires for r, m in current.items()}
        return result  # nothing changed and nothing expires soon

    ts_version = old_timestamp.signed.version + 1 if old_timestamp else 1
    timestamp_md = Metadata(
        Timestamp(version=ts_version, expires=now + timedelta(days=expiry["timestamp"]))
    )
    timestamp_md.signed.snapshot_meta = MetaFile(
        snapshot_md.signed.version,
        len(snapshot_bytes),
        {"sha256": hashlib.sha256(snapshot_bytes).hexdigest()},
    )
    result.warnings += sign(timestamp_md, "timestamp", root, keyring)
    result.signed["timestamp"] = ts_version
    timestamp_bytes = timestamp_md.to_bytes(serializer("timestamp"))

    root_left = root.expires - now
    if root_left < timedelta(days=workspace.settings.expiry_days["root"]) / 4:
        result.warnings.append(
            _(
                "The root expires on {when}; renew it with 'innova-release rotate-keys "
                "--role root' and the root keys before then."
            ).format(when=_when(root.expires))
        )

    # Write what clients cannot see yet: targets files and versioned metadata.
    new_files: list[Path] = []
    for path, data in manifest_files:
        stored = workspace.target_file(path, wanted[path].hashes["sha256"])
        if not stored.exists():
            write_atomic(stored, data)
            new_files.append(stored)
    staged: dict[str, bytes] = {}
    if "targets" in result.signed:
        staged[f"{targets_md.signed.version}.targets.json"] = targets_bytes
    for name, version in result.bins_signed.items():
        staged[f"{version}.{name}.json"] = bin_mds[name].to_bytes(serializer("targets"))
    if "snapshot" in result.signed:
        staged[f"{snapshot_md.signed.version}.snapshot.json"] = snapshot_bytes
    root_bytes = None
    if new_root is not None:
        root_bytes = new_root.to_bytes(serializer("root"))
        staged[f"{new_root.signed.version}.root.json"] = root_bytes
        result.signed["root"] = new_root.signed.version
    if verify_with_client:
        try:
            verify_staged(workspace, staged, timestamp_bytes, new_targets=result.new_targets)
        except BaseException:
            for stored in new_files:  # not published: leave no stray manifest behind
                with contextlib.suppress(OSError):
                    stored.unlink()
            raise

    # Publish: versioned files first, root next, timestamp.json last.
    for name, data in staged.items():
        if not name.endswith(".root.json"):
            write_atomic(workspace.metadata_dir / name, data)
    if root_bytes is not None and new_root is not None:
        write_atomic(workspace.metadata_dir / f"{new_root.signed.version}.root.json", root_bytes)
        write_atomic(workspace.metadata_dir / "root.json", root_bytes)
    write_atomic(workspace.metadata_dir / "timestamp.json", timestamp_bytes)
    result.expires = {
        "root": root.expires,
        "targets": targets_md.signed.expires,
        "snapshot": snapshot_md.signed.expires,
        "timestamp": timestamp_md.signed.expires,
    }
    return result


def _next_targets(
    old: Metadata[Targets] | None, expires: datetime, listed: dict[str, TargetFile]
) -> Metadata[Targets]:
    """The next version of a ``targets`` role (the top level or a hash bin), unsigned."""
    version = old.signed.version + 1 if old is not None else 1
    return Metadata(Targets(version=version, expires=expires, targets=listed))


def _due(expiry_days: Mapping[str, int], md: Metadata[Any] | None, now: datetime) -> bool:
    """True when less than half of a role's validity period remains (a hash bin's
    type is ``targets``: its period is the targets role's)."""
    if md is None:
        return True
    period = timedelta(days=expiry_days[md.signed.type])
    return bool(md.signed.expires - now < period / 2)


def refresh(workspace: Workspace, keyring: KeyRing, *, now: datetime) -> PublishResult:
    """Re-sign the timestamp, and snapshot or targets when they expire soon, nothing else.

    Meant for a scheduled job that holds only the online keys (timestamp, snapshot).

    Raises:
        PublishError: a role due for re-signing has no key available, or releases
            were added but not published (publish them first).
    """
    _refuse_unpublished_changes(workspace)
    return publish(workspace, keyring, now=now, force=("timestamp",))


def _refuse_unpublished_changes(workspace: Workspace) -> None:
    """Raise when releases.json holds changes that are not published yet.

    Raises:
        PublishError: asking to run ``publish`` first.
    """
    current = workspace.current()
    if "targets" not in current:
        return
    settings = workspace.settings
    files = channel_files(
        workspace.releases_document(), settings.channels, settings.current_releases
    )
    published = current["targets"].signed.targets
    stale = any(  # an archive that the catalogue no longer makes
        path.startswith("manifests/") and path not in files for path in published
    )
    for path, data in files.items():
        info = published.get(path)
        if stale or info is None or info.hashes.get("sha256") != hashlib.sha256(data).hexdigest():
            raise PublishError(
                _("There are unpublished changes; run 'innova-release publish' first.")
            )


def rotate_keys(
    workspace: Workspace,
    role: str,
    keyring: KeyRing,
    *,
    add: Sequence[SSlibKey] = (),
    remove: Sequence[str] = (),
    threshold: int | None = None,
    now: datetime,
) -> PublishResult:
    """Write a new root that changes ``role``'s keys or threshold, and re-sign with it.

    The new root is signed by a threshold of the old root keys and a threshold of
    the new ones, so clients that trust the old root accept it. With no change
    given, the root is only re-signed with a new expiry (root renewal).

    Raises:
        PublishError: unknown role or key, a threshold above the key count, or
            missing keys to sign with. The feed is unchanged on failure.
    """
    if role not in ROLES:
        raise PublishError(_("Unknown role '{role}'.").format(role=role))
    _refuse_unpublished_changes(workspace)
    new_md, root_warnings = rotated_root(
        workspace.load_metadata("root"),
        role,
        keyring,
        add=add,
        remove=remove,
        threshold=threshold,
        expires=now + timedelta(days=workspace.settings.expiry_days["root"]),
    )
    # Roles whose keys changed are re-signed with the new keys; snapshot and
    # timestamp always, so that clients recover from a fast-forward attack.
    force = (
        ("targets", "snapshot", "timestamp")
        if role == "targets"
        else (
            "snapshot",
            "timestamp",
        )
    )
    result = publish(workspace, keyring, now=now, force=force, new_root=new_md)
    result.warnings[:0] = dict.fromkeys(root_warnings)  # once each, first
    return result


def _when(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%d %H:%M UTC")
