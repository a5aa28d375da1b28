"""Verifying a feed as a client would: the staged metadata before it is published, and
a published feed (local or hosted) with every file on disk.

Owns :class:`VerifyReport`, running the real client (:class:`updater.feed.trust.TrustedFeed`,
from the feed's first root) against the feed, checking each package's file list
against the manifest, and the workspace checks around it: expiring roles, missing files,
files no signed metadata refers to, and a catalogue whose manifests break the schema.

Imports: the core, ``locations``, the feed side (fetch, trust, manifest), the
publisher's ``pack``, :mod:`~updater.publish.workspace` and
:mod:`~updater.publish.manifests`.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

from tuf.api.metadata import Metadata, Targets, Timestamp

from updater.errors import ManifestError, PublishError, UpdaterError
from updater.feed.fetch import FeedFetcher, NetworkLimits, make_session
from updater.feed.manifest import ZipPackage, parse_manifest
from updater.feed.trust import TrustedFeed
from updater.i18n import _
from updater.locations import feed_url
from updater.publish.bins import BIN_PREFIX
from updater.publish.manifests import channel_files
from updater.publish.pack import FileList
from updater.publish.workspace import Workspace

__all__ = ["VerifyReport", "verify", "verify_staged"]


@dataclass
class VerifyReport:
    """The outcome of :meth:`FeedRepository.verify`."""

    problems: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    expires: dict[str, datetime] = field(default_factory=dict)
    versions: dict[str, int] = field(default_factory=dict)
    targets_checked: int = 0
    releases: int = 0
    checked_timestamp_version: int | None = None  # what the client saw (hosted copy)

    @property
    def ok(self) -> bool:
        return not self.problems


def verify_staged(
    workspace: Workspace,
    staged: Mapping[str, bytes],
    timestamp: bytes,
    *,
    new_targets: Sequence[str],
) -> None:
    """Verify the metadata about to be published, as a client would (from root v1)."""
    with tempfile.TemporaryDirectory(prefix="innova-release-verify-") as tmp:
        meta = Path(tmp) / "metadata"
        meta.mkdir()
        for path in workspace.metadata_dir.glob("*.root.json"):
            shutil.copyfile(path, meta / path.name)
        current = workspace.current()
        unchanged = {r: md for r, md in current.items() if r in ("targets", "snapshot")}
        unchanged.update(workspace.current_bins(current))
        for role, md in unchanged.items():  # unchanged roles stay as published
            name = f"{md.signed.version}.{role}.json"
            shutil.copyfile(workspace.metadata_dir / name, meta / name)
        for name, data in staged.items():
            (meta / name).write_bytes(data)
        (meta / "timestamp.json").write_bytes(timestamp)
        report = VerifyReport()
        _client_check(
            workspace,
            report,
            metadata_url=meta.as_uri() + "/",
            cache=Path(tmp) / "cache",
            targets=new_targets,
        )
    if not report.ok:
        raise PublishError(
            _("The new feed would not verify, so nothing was published: {problems}").format(
                problems="; ".join(report.problems)
            )
        )


def _client_check(
    workspace: Workspace,
    report: VerifyReport,
    *,
    metadata_url: str | None,
    cache: Path,
    targets: Sequence[str] | None,
    base_url: str | None = None,
) -> None:
    """Run the real client against the feed (the local copy unless ``base_url``);
    ``targets=None`` downloads every target."""
    base = feed_url(base_url or str(workspace.feed_dir))
    session = make_session(user_agent=NetworkLimits().user_agent)
    try:
        try:
            first_root = (workspace.metadata_dir / "1.root.json").read_bytes()
        except OSError as exc:
            report.problems.append(
                _("The feed's first root (1.root.json) is missing: {error}").format(error=exc)
            )
            return
        fetcher = FeedFetcher(session, NetworkLimits())
        try:
            feed = TrustedFeed(
                base_url=base,
                cache_dir=cache,
                trusted_root=first_root,
                fetcher=fetcher,
                metadata_url=metadata_url,
            )
            feed.refresh()
            with contextlib.suppress(Exception):
                seen_ts: Metadata[Timestamp] = Metadata.from_file(
                    str(cache / "metadata" / "timestamp.json")
                )
                report.checked_timestamp_version = seen_ts.signed.version
            wanted = None if targets is None else set(targets)
            seen: set[str] = set()
            for channel in workspace.settings.channels:
                manifest = feed.full_manifest(channel)  # with its archive: every target
                if channel == workspace.settings.channels[-1]:  # the widest channel
                    report.releases = sum(len(p.releases) for p in manifest.products.values())
                for ref in manifest.target_refs():
                    if ref.target in seen:  # listed by several channels: check it once
                        continue
                    seen.add(ref.target)
                    feed.check_ref(ref)
                    if wanted is not None and ref.target not in wanted:
                        continue
                    dest = cache / "download" / ref.target
                    feed.download(ref, dest)
                    report.targets_checked += 1
                    if ref.target.endswith(".files.json"):
                        FileList.from_json(dest.read_bytes())
                    dest.unlink()
                for product in manifest.products.values():
                    for release in product.releases:
                        package = release.zip_package
                        if package is not None and (wanted is None or package.target in wanted):
                            _check_file_list(feed, package, cache, report)
        except UpdaterError as exc:
            report.problems.append(exc.message)
    finally:
        session.close()


def _check_file_list(
    feed: TrustedFeed, package: ZipPackage | None, cache: Path, report: VerifyReport
) -> None:
    if package is None:
        return
    ref = package.file_list
    dest = cache / "lists" / ref.target
    if not dest.exists():
        feed.download(ref, dest)
    file_list = FileList.from_json(dest.read_bytes())
    if (
        file_list.file_count != package.file_count
        or file_list.installed_size != package.installed_size
    ):
        report.problems.append(
            _("{target}: the file list does not match the counts in the manifest.").format(
                target=package.target
            )
        )


def verify(workspace: Workspace, *, now: datetime, url: str | None = None) -> VerifyReport:
    """Verify the published feed completely, as a client would, and every file on disk.

    With ``url``, the client reads the hosted copy at that address instead of the
    local ``feed/`` folder (to check an upload). Problems make the report fail;
    warnings (expiry within a quarter of a role's period, files not referenced by
    the signed metadata) do not.
    """
    report = VerifyReport()
    with tempfile.TemporaryDirectory(prefix="innova-release-verify-") as tmp:
        _client_check(
            workspace, report, metadata_url=None, cache=Path(tmp), targets=None, base_url=url
        )
    try:
        current = workspace.current()
    except PublishError as exc:
        report.problems.append(exc.message)
        return report
    local_ts = current["timestamp"].signed.version if "timestamp" in current else None
    hosted_ts = report.checked_timestamp_version
    if url and hosted_ts is not None and local_ts is not None and hosted_ts < local_ts:
        report.problems.append(
            _(
                "The copy at {url} is older than this workspace (timestamp version "
                "{hosted}, here {local}): upload the feed again."
            ).format(url=url, hosted=hosted_ts, local=local_ts)
        )
    try:
        hash_bins = workspace.current_bins(current)
    except PublishError as exc:
        report.problems.append(exc.message)
        hash_bins = {}
    for role, md in [*current.items(), *hash_bins.items()]:
        if role in current:  # the top-level roles; a bin's expiry is checked alike
            report.versions[role] = md.signed.version
            report.expires[role] = md.signed.expires
        remaining = md.signed.expires - now
        period = timedelta(days=workspace.settings.expiry_days[md.signed.type])
        if remaining < timedelta(0):
            report.problems.append(
                _("Role {role} expired on {when}.").format(
                    role=role, when=md.signed.expires.isoformat()
                )
            )
        elif remaining < period / 4:
            report.warnings.append(
                _("Role {role} expires on {when}; renew it soon.").format(
                    role=role, when=md.signed.expires.isoformat()
                )
            )
    if "targets" in current:
        signed = dict(current["targets"].signed.targets)
        for md in hash_bins.values():
            signed.update(md.signed.targets)
        referenced = {
            workspace.target_file(path, info.hashes["sha256"]) for path, info in signed.items()
        }
        for path in sorted(referenced):
            if not path.is_file():
                report.problems.append(
                    _("Missing file: {path}").format(path=path.relative_to(workspace.feed_dir))
                )
        # Older metadata versions keep their files (clients mid-check may fetch them).
        history: set[Path] = set()
        targets_files = [
            *workspace.metadata_dir.glob("*.targets.json"),
            *workspace.metadata_dir.glob(f"*.{BIN_PREFIX}-*.json"),
        ]
        for old in targets_files:
            with contextlib.suppress(Exception):
                old_md: Metadata[Targets] = Metadata.from_file(str(old))
                for name, info in old_md.signed.targets.items():
                    history.add(workspace.target_file(name, info.hashes["sha256"]))
        for path in sorted(_walk_files(workspace.targets_dir)):
            if path not in referenced and path not in history:
                report.warnings.append(
                    _("Not referenced by any signed metadata (not published yet?): {path}").format(
                        path=path.relative_to(workspace.feed_dir)
                    )
                )
    try:
        settings = workspace.settings
        document = workspace.releases_document()
        for data in channel_files(document, settings.channels, settings.current_releases).values():
            parse_manifest(data)
    except (PublishError, ManifestError) as exc:
        report.problems.append(exc.message)
    return report


def _walk_files(root: Path) -> Iterator[Path]:
    for dirpath, _dirs, files in os.walk(root):
        for name in files:
            yield Path(dirpath) / name
