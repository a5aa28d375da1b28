"""The channel manifests, rendered from the release catalogue (``releases.json``).

Owns how a channel's manifest is made from the catalogue (its releases plus those of
more stable channels), checking a catalogue, or one changed release of it, with the
client's own manifest rules (:mod:`updater.feed.manifest`), and listing the feed files
that a package record refers to. Pure functions of documents: nothing is read or written.

Imports: the core, :mod:`updater.feed.manifest` and :mod:`~updater.publish.workspace`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from packaging.version import Version

from updater.errors import ManifestError, PublishError
from updater.feed.manifest import (
    MANIFEST_MEDIA_TYPE,
    SCHEMA_VERSION,
    parse_manifest,
    validate_document,
)
from updater.publish.workspace import json_bytes

__all__ = ["check_document", "check_release", "manifest_bytes", "manifest_document", "package_refs"]


def manifest_document(
    document: Mapping[str, Any], channels: Sequence[str], channel: str
) -> dict[str, Any]:
    """The manifest of ``channel``: its releases plus those of more stable channels
    (``channels`` lists them all, most stable first)."""
    allowed = set(channels[: channels.index(channel) + 1])
    products: dict[str, Any] = {}
    for product_id in sorted(document["products"]):
        raw = document["products"][product_id]
        releases = sorted(
            (r for r in raw["releases"] if r["channel"] in allowed),
            key=lambda r: Version(r["version"]),
        )
        entry: dict[str, Any] = {"releases": releases}
        for name in ("name", "min_version"):
            if name in raw:
                entry[name] = raw[name]
        products[product_id] = entry
    return {
        "schema_version": SCHEMA_VERSION,
        "media_type": MANIFEST_MEDIA_TYPE,
        "channel": channel,
        "products": products,
    }


def manifest_bytes(document: Mapping[str, Any], channels: Sequence[str], channel: str) -> bytes:
    """The manifest of ``channel`` as published (deterministic bytes)."""
    return json_bytes(manifest_document(document, channels, channel))


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


def check_document(document: Mapping[str, Any], channels: Sequence[str]) -> None:
    """Validate the manifest of every channel made from the catalogue ``document``.

    Raises:
        PublishError: a manifest breaks a rule of the schema.
    """
    for channel in channels:
        try:
            validate_document(manifest_document(document, channels, channel))
        except ManifestError as exc:
            raise PublishError(exc.message) from exc


def package_refs(package: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """The feed files of a package record: the package, its file list, its deltas."""
    refs: list[Mapping[str, Any]] = [package]
    if "file_list" in package:
        refs.append(package["file_list"])
    refs.extend(package.get("deltas", ()))
    return refs
