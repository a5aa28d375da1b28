"""The files of a feed workspace, and reading them back.

Owns the layout (``publisher.json``, ``releases.json``, ``keys/``, ``feed/metadata/``,
``feed/targets/``), the publisher's settings (:class:`Settings`), the rules for channel
and product names, and :class:`Workspace`: an existing workspace's paths, its release
catalogue as stored, where each target lives on disk, and the published metadata of
each role. It writes nothing but ``releases.json``; what goes into the feed is decided
by :mod:`~updater.publish.catalogue` and :mod:`~updater.publish.publishing`.

Imports: the core (errors, i18n) and ``fsutil``; nothing else of the publisher.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath
from typing import Any

from tuf.api.metadata import Metadata

from updater.errors import PublishError
from updater.fsutil import write_atomic
from updater.i18n import _

__all__ = [
    "DEFAULT_CHANNELS",
    "DEFAULT_EXPIRY_DAYS",
    "FEED_DIR",
    "KEYS_DIR",
    "RELEASES_FILE",
    "ROLES",
    "SETTINGS_FILE",
    "Settings",
    "Workspace",
    "check_id",
    "json_bytes",
    "utcnow",
]

SETTINGS_FILE = "publisher.json"
RELEASES_FILE = "releases.json"
FEED_DIR = "feed"
KEYS_DIR = "keys"
ROLES = ("root", "targets", "snapshot", "timestamp")

#: Default validity of each role's signature, in days (see docs/security.md).
DEFAULT_EXPIRY_DAYS: Mapping[str, int] = {
    "root": 365,
    "targets": 90,
    "snapshot": 30,
    "timestamp": 7,
}
DEFAULT_CHANNELS = ("stable", "beta")
#: Each product's newest releases in a channel's manifest (the rest: its archive).
DEFAULT_CURRENT_RELEASES = 3


def utcnow() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


def json_bytes(document: Any) -> bytes:
    """``document`` as the workspace writes JSON: indented, sorted, UTF-8 (deterministic)."""
    return (json.dumps(document, indent=2, sort_keys=True, ensure_ascii=False) + "\n").encode()


def compact_json_bytes(document: Any) -> bytes:
    """``document`` as a file every PC downloads: sorted, UTF-8, no indentation (a
    third smaller than :func:`json_bytes`), a final newline (deterministic)."""
    text = json.dumps(document, separators=(",", ":"), sort_keys=True, ensure_ascii=False)
    return (text + "\n").encode()


def check_id(value: str, what: str) -> None:
    """Raise :class:`PublishError` unless ``value`` is a valid channel or product name."""
    if not re.fullmatch(r"[a-z][a-z0-9_-]{0,63}", value):
        raise PublishError(
            _(
                "'{value}' is not a valid {what} name: use lowercase letters, digits, '-' "
                "and '_', starting with a letter."
            ).format(value=value, what=what)
        )


@dataclass(frozen=True)
class Settings:
    """The publisher's settings of one workspace (``publisher.json``)."""

    channels: tuple[str, ...] = DEFAULT_CHANNELS
    expiry_days: Mapping[str, int] = field(default_factory=lambda: dict(DEFAULT_EXPIRY_DAYS))
    #: How many of each product's newest releases a channel's manifest lists; the older
    #: ones go to the channel's archive (``docs/manifest.md``).
    current_releases: int = DEFAULT_CURRENT_RELEASES

    def to_json(self) -> bytes:
        return json_bytes(
            {
                "format": 1,
                "channels": list(self.channels),
                "expiry_days": dict(self.expiry_days),
                "current_releases": self.current_releases,
            }
        )

    @classmethod
    def load(cls, path: Path) -> Settings:
        try:
            raw = json.loads(path.read_text(encoding="utf-8"))
            channels = tuple(str(c) for c in raw["channels"])
            expiry = {role: int(raw["expiry_days"][role]) for role in ROLES}
            current = raw.get("current_releases", DEFAULT_CURRENT_RELEASES)
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
            raise PublishError(_("{path} is missing or damaged.").format(path=path)) from exc
        if type(current) is not int or current < 1:
            raise PublishError(
                _(
                    "{path}: current_releases must be a whole number of at least 1, not {value}."
                ).format(path=path, value=json.dumps(current))
            )
        return cls(channels=channels, expiry_days=expiry, current_releases=current)


class Workspace:
    """An existing feed workspace's files: its settings, releases and published metadata.

    Raises:
        PublishError: ``workdir`` is not a feed workspace.
    """

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.feed_dir = workdir / FEED_DIR
        self.metadata_dir = self.feed_dir / "metadata"
        self.targets_dir = self.feed_dir / "targets"
        settings_file = workdir / SETTINGS_FILE
        if not settings_file.is_file() or not (self.metadata_dir / "root.json").is_file():
            raise PublishError(
                _("{path} is not a feed workspace (run 'innova-release init' first).").format(
                    path=workdir
                )
            )
        self.settings = Settings.load(workdir / SETTINGS_FILE)

    # ---------------------------------------------------------------- releases.json

    def releases_document(self) -> dict[str, Any]:
        try:
            document: dict[str, Any] = json.loads(
                (self.workdir / RELEASES_FILE).read_text(encoding="utf-8")
            )
        except (OSError, ValueError) as exc:
            raise PublishError(
                _("{path} is missing or damaged.").format(path=self.workdir / RELEASES_FILE)
            ) from exc
        return document

    def write_releases(self, document: Mapping[str, Any]) -> None:
        """Replace ``releases.json`` with ``document`` (atomically)."""
        write_atomic(self.workdir / RELEASES_FILE, json_bytes(document))

    # ---------------------------------------------------------------- the feed folder

    def target_file(self, target: str, sha256: str) -> Path:
        """Where a target is stored on disk (``<dir>/<sha256>.<name>``)."""
        posix = PurePosixPath(target)
        return self.targets_dir.joinpath(*posix.parent.parts, f"{sha256}.{posix.name}")

    def load_metadata(self, role: str, version: int | None = None) -> Metadata[Any]:
        """The published metadata of ``role`` (``version``: a versioned file; root and
        timestamp without one: the current file).

        Raises:
            PublishError: the file is missing or damaged.
        """
        if role == "timestamp":
            path = self.metadata_dir / "timestamp.json"
        elif role == "root" and version is None:
            path = self.metadata_dir / "root.json"
        else:
            if version is None:
                raise ValueError(role)
            path = self.metadata_dir / f"{version}.{role}.json"
        try:
            return Metadata.from_file(str(path))
        except Exception as exc:
            raise PublishError(
                _("The feed's metadata file {path} is missing or damaged.").format(path=path)
            ) from exc

    def current(self) -> dict[str, Metadata[Any]]:
        """The published metadata of each top-level role (empty before the first publish)."""
        result: dict[str, Metadata[Any]] = {"root": self.load_metadata("root")}
        if not (self.metadata_dir / "timestamp.json").exists():
            return result
        result["timestamp"] = self.load_metadata("timestamp")
        snapshot_version = result["timestamp"].signed.snapshot_meta.version
        result["snapshot"] = self.load_metadata("snapshot", snapshot_version)
        targets_version = result["snapshot"].signed.meta["targets.json"].version
        result["targets"] = self.load_metadata("targets", targets_version)
        return result

    def current_bins(self, current: Mapping[str, Metadata[Any]] | None = None) -> dict[str, Any]:
        """The published metadata of each hash bin (``bins-00`` …), by role name: every
        role the current snapshot lists besides ``targets`` (empty before the first
        publish, and for a feed published before bins existed).

        Raises:
            PublishError: a bin's file is missing or damaged.
        """
        current = self.current() if current is None else current
        if "snapshot" not in current:
            return {}
        bins: dict[str, Metadata[Any]] = {}
        for name, meta in sorted(current["snapshot"].signed.meta.items()):
            role = name.removesuffix(".json")
            if role != "targets":
                bins[role] = self.load_metadata(role, meta.version)
        return bins

    def published_targets(self) -> dict[str, Any]:
        """Every target the published metadata signs (the top-level targets and every
        bin's): TUF target path -> ``TargetFile``."""
        current = self.current()
        if "targets" not in current:
            return {}
        found = dict(current["targets"].signed.targets)
        for md in self.current_bins(current).values():
            found.update(md.signed.targets)
        return found
