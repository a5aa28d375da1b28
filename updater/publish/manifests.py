"""The channel manifests, rendered from the release catalogue (``releases.json``).

Owns how a channel's manifest and its archive are made from the catalogue (its
releases plus those of more stable channels; the newest in the manifest, the older in
the archive), checking a catalogue, or one changed release of it, with the
client's own manifest rules (:mod:`updater.feed.manifest`), and listing the feed files
that a package record refers to. Pure functions of documents: nothing is read or written.

Imports: the core, :mod:`updater.feed.manifest`, :mod:`updater.feed.trust` (target
paths) and :mod:`~updater.publish.workspace`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from packaging.version import Version

from updater.errors import ManifestError, PublishError
from updater.feed.manifest import (
    MANIFEST_MEDIA_TYPE,
    SCHEMA_VERSION,
    default_kind,
    parse_manifest,
    validate_document,
)
from updater.feed.trust import archive_target, manifest_target
from updater.publish.workspace import compact_json_bytes, json_bytes

__all__ = [
    "channel_documents",
    "channel_files",
    "check_document",
    "check_release",
    "manifest_bytes",
    "manifest_document",
    "package_refs",
]


def manifest_document(
    document: Mapping[str, Any],
    channels: Sequence[str],
    channel: str,
    *,
    current: int | None = None,
) -> dict[str, Any]:
    """The manifest of ``channel``: its releases plus those of more stable channels
    (``channels`` lists them all, most stable first); with ``current``, only each
    product's newest ``current`` releases (see :func:`channel_documents`)."""
    return channel_documents(document, channels, channel, current=current)[0]


def channel_documents(
    document: Mapping[str, Any],
    channels: Sequence[str],
    channel: str,
    *,
    current: int | None = None,
) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """The manifest of ``channel`` and its archive (None when it would list nothing).

    The manifest lists each product's newest ``current`` releases on the channel (all
    of them when ``current`` is None) and its withdrawn ones, the archive the older
    ones, in the same format, so that what a PC downloads after a publish does not
    grow with the feed's history. A release the manifest lists after another than in
    the full history carries its ``kind`` even when the publisher gave none: its
    default kind depends on the release before it (``docs/manifest.md``).
    """
    allowed = set(channels[: channels.index(channel) + 1])
    products: dict[str, Any] = {}
    archived: dict[str, Any] = {}
    for product_id in sorted(document["products"]):
        raw = document["products"][product_id]
        releases = sorted(
            (r for r in raw["releases"] if r["channel"] in allowed),
            key=lambda r: Version(r["version"]),
        )
        split = 0 if current is None else max(0, len(releases) - current)
        # Withdrawn releases stay in the manifest however old: a PC must never put one
        # back from a saved copy, and it decides that from the manifest alone.
        listed = [r for i, r in enumerate(releases) if i >= split or r.get("withdrawn")]
        older = [r for i, r in enumerate(releases) if i < split]
        entry: dict[str, Any] = {"releases": _kinds_kept(releases, listed)}
        for name in ("name", "min_version"):
            if name in raw:
                entry[name] = raw[name]
        products[product_id] = entry
        archived[product_id] = {**entry, "releases": older}
    head = {"schema_version": SCHEMA_VERSION, "media_type": MANIFEST_MEDIA_TYPE, "channel": channel}
    archive = (
        {**head, "products": archived} if any(p["releases"] for p in archived.values()) else None
    )
    return {**head, "products": products}, archive


def _kinds_kept(
    releases: Sequence[Mapping[str, Any]], listed: Sequence[Mapping[str, Any]]
) -> list[Mapping[str, Any]]:
    """``listed`` (a part of ``releases``, both oldest first), each release that gives
    no ``kind`` and would follow another release in ``listed`` than in ``releases``
    given the kind it has among all of them (the default kind depends on the release
    before it)."""
    before = {id(r): p for p, r in zip([None, *releases], releases, strict=False)}
    kept: list[Mapping[str, Any]] = []
    for previous, record in zip([None, *listed], listed, strict=False):
        true_previous = before[id(record)]
        if "kind" not in record and true_previous is not previous:
            derived = default_kind(
                Version(record["version"]),
                Version(true_previous["version"]) if true_previous is not None else None,
            )
            record = {**record, "kind": str(derived)}
        kept.append(record)
    return kept


def manifest_bytes(
    document: Mapping[str, Any],
    channels: Sequence[str],
    channel: str,
    *,
    current: int | None = None,
) -> bytes:
    """The manifest of ``channel`` as published (deterministic bytes)."""
    return compact_json_bytes(manifest_document(document, channels, channel, current=current))


def channel_files(
    document: Mapping[str, Any], channels: Sequence[str], current: int
) -> dict[str, bytes]:
    """Every channel's manifest and archive as published: TUF target path -> bytes."""
    files: dict[str, bytes] = {}
    for channel in channels:
        manifest, archive = channel_documents(document, channels, channel, current=current)
        files[manifest_target(channel)] = compact_json_bytes(manifest)
        if archive is not None:
            files[archive_target(channel)] = compact_json_bytes(archive)
    return files


def check_release(product_id: str, product: Mapping[str, Any], record: Mapping[str, Any]) -> None:
    """Validate one changed release as it will appear in a manifest (the rest is
    unchanged, and publishing validates every channel's whole manifest again).

    Raises:
        PublishError: the release breaks a rule of the manifest.
    """
    entry: dict[str, Any] = {"releases": [record]}
    for name in ("name", "min_version"):
        if name in product:
            entry[name] = product[name]
    document = {
        "schema_version": SCHEMA_VERSION,
        "media_type": MANIFEST_MEDIA_TYPE,
        "channel": record["channel"],
        "products": {product_id: entry},
    }
    try:
        parse_manifest(json_bytes(document))
    except ManifestError as exc:
        raise PublishError(exc.message) from exc


def check_document(
    document: Mapping[str, Any], channels: Sequence[str], *, current: int | None = None
) -> None:
    """Validate the manifest (and archive) of every channel made from the catalogue
    ``document``.

    Raises:
        PublishError: a manifest breaks a rule of the schema.
    """
    for channel in channels:
        try:
            for part in channel_documents(document, channels, channel, current=current):
                if part is not None:
                    validate_document(part)
        except ManifestError as exc:
            raise PublishError(exc.message) from exc


def package_refs(package: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """The feed files of a package record: the package, its file list, its deltas."""
    refs: list[Mapping[str, Any]] = [package]
    if "file_list" in package:
        refs.append(package["file_list"])
    refs.extend(package.get("deltas", ()))
    return refs
