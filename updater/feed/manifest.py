"""The release manifest: its JSON Schema, its typed model, and validation on load.

One manifest per feed channel lists every product and its releases. The manifest is a
TUF target of the feed (see :mod:`updater.feed.trust`), so by the time :func:`parse_manifest`
sees its bytes their length and hash are already proven; this module proves that the
content makes sense: it matches :data:`MANIFEST_SCHEMA`, versions and specifiers parse
with ``packaging``, and nothing is duplicated. Any problem is a :class:`ManifestError`
with the JSON path of the offending field, never a ``KeyError``.

``manifests/manifest.schema.json`` is generated from :data:`MANIFEST_SCHEMA`
(``innova-release schema``); a test keeps the two identical.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import date
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.version import InvalidVersion, Version

from updater.errors import ArchiveError, ManifestError
from updater.i18n import _
from updater.names import validate_entry_name

if TYPE_CHECKING:
    from jsonschema import Draft202012Validator
    from jsonschema.exceptions import ValidationError

SCHEMA_VERSION = 1
MANIFEST_MEDIA_TYPE = "application/vnd.innovacommerce.manifest+json"

_SHA256 = {"type": "string", "pattern": "^[0-9a-f]{64}$"}
_SIZE = {"type": "integer", "minimum": 0}
_TARGET_PATH = {
    "type": "string",
    "minLength": 1,
    "maxLength": 512,
    # POSIX relative path of safe characters; no "." or ".." components.
    "pattern": r"^(?!.*(^|/)\.\.?(/|$))[A-Za-z0-9._+-]+(/[A-Za-z0-9._+-]+)*$",
}
_ID = {"type": "string", "pattern": "^[a-z][a-z0-9_-]{0,63}$"}
_MARKDOWN = {"type": "string", "maxLength": 100_000}

MANIFEST_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "$id": "https://innovacommerce.example/schemas/manifest-1.json",
    "title": "InnovaCommerce release manifest",
    "description": "Every product and release offered on one channel of a feed. "
    "See docs/manifest.md for the meaning of each field.",
    "type": "object",
    "additionalProperties": False,
    "required": ["schema_version", "channel", "products"],
    "properties": {
        "$comment": {"type": "string"},
        "schema_version": {"const": SCHEMA_VERSION},
        "media_type": {"const": MANIFEST_MEDIA_TYPE},
        "channel": _ID,
        "generated_at": {"type": "string", "format": "date-time"},
        "products": {
            "type": "object",
            "propertyNames": _ID,
            "additionalProperties": {"$ref": "#/$defs/product"},
        },
    },
    "$defs": {
        "product": {
            "type": "object",
            "additionalProperties": False,
            "required": ["releases"],
            "properties": {
                "name": {"type": "string", "minLength": 1, "maxLength": 200},
                "min_version": {"type": "string", "minLength": 1, "maxLength": 64},
                "releases": {"type": "array", "items": {"$ref": "#/$defs/release"}},
            },
        },
        "release": {
            "type": "object",
            "additionalProperties": False,
            "required": ["version", "channel", "released", "notes", "packages"],
            "properties": {
                "version": {"type": "string", "minLength": 1, "maxLength": 64},
                "kind": {"enum": ["bugfix", "feature"]},
                "channel": _ID,
                "released": {"type": "string", "format": "date"},
                "notes": {
                    "type": "object",
                    "additionalProperties": False,
                    "required": ["es", "en"],
                    "properties": {"es": _MARKDOWN, "en": _MARKDOWN},
                },
                "critical": {"type": "boolean"},
                "min_updater_version": {"type": "string", "minLength": 1, "maxLength": 64},
                "prestashop": {"type": "string", "minLength": 1, "maxLength": 200},
                "rollout_percent": {"type": "integer", "minimum": 0, "maximum": 100},
                "withdrawn": {"type": "boolean"},
                "packages": {
                    "type": "array",
                    "minItems": 1,
                    "items": {"$ref": "#/$defs/package"},
                },
            },
        },
        "package": {
            # Chosen by "type", so that errors name the offending field of that kind.
            "type": "object",
            "required": ["type"],
            "properties": {"type": {"enum": ["zip", "installer"]}},
            "allOf": [
                {
                    "if": {"properties": {"type": {"const": "zip"}}},
                    "then": {"$ref": "#/$defs/zip_package"},
                },
                {
                    "if": {"properties": {"type": {"const": "installer"}}},
                    "then": {"$ref": "#/$defs/installer"},
                },
            ],
        },
        "target_ref": {
            "type": "object",
            "additionalProperties": False,
            "required": ["target", "size", "sha256"],
            "properties": {"target": _TARGET_PATH, "size": _SIZE, "sha256": _SHA256},
        },
        "zip_package": {
            "type": "object",
            "additionalProperties": False,
            "required": [
                "type",
                "target",
                "size",
                "sha256",
                "installed_size",
                "file_count",
                "file_list",
            ],
            "properties": {
                "type": {"const": "zip"},
                "target": _TARGET_PATH,
                "size": _SIZE,
                "sha256": _SHA256,
                "installed_size": _SIZE,
                "file_count": {"type": "integer", "minimum": 1},
                "file_list": {"$ref": "#/$defs/target_ref"},
                "deltas": {"type": "array", "items": {"$ref": "#/$defs/delta"}},
            },
        },
        "delta": {
            "type": "object",
            "additionalProperties": False,
            "required": ["from_version", "target", "size", "sha256"],
            "properties": {
                "from_version": {"type": "string", "minLength": 1, "maxLength": 64},
                "target": _TARGET_PATH,
                "size": _SIZE,
                "sha256": _SHA256,
            },
        },
        "installer": {
            "type": "object",
            "additionalProperties": False,
            "required": ["type", "format", "target", "size", "sha256", "silent_args"],
            "properties": {
                "type": {"const": "installer"},
                "format": {"enum": ["exe", "msi"]},
                "target": _TARGET_PATH,
                "size": _SIZE,
                "sha256": _SHA256,
                "silent_args": {"type": "array", "items": {"type": "string", "maxLength": 1000}},
                "success_exit_codes": {
                    "type": "array",
                    "minItems": 1,
                    "items": {"type": "integer"},
                },
                "reboot_exit_codes": {"type": "array", "items": {"type": "integer"}},
            },
        },
    },
}

DEFAULT_SUCCESS_EXIT_CODES = (0,)
DEFAULT_REBOOT_EXIT_CODES = (3010, 1641)


class ReleaseKind(StrEnum):
    """What a release is, as the shop owner is told: a bug-fix or new features."""

    BUGFIX = "bugfix"
    FEATURE = "feature"


@dataclass(frozen=True)
class TargetRef:
    """A file of the feed, named by its TUF target path, with its exact size and hash."""

    target: str
    size: int
    sha256: str


@dataclass(frozen=True)
class DeltaRef(TargetRef):
    """A delta package that makes this release from the installed ``from_version``
    (see :mod:`updater.install.delta`)."""

    from_version: Version


@dataclass(frozen=True)
class ZipPackage(TargetRef):
    """A full archive of the program directory, and deltas from earlier versions."""

    installed_size: int
    file_count: int
    file_list: TargetRef
    deltas: tuple[DeltaRef, ...] = ()

    def delta_from(self, version: Version | None) -> DeltaRef | None:
        """The delta from ``version``, if the publisher made one."""
        if version is None:
            return None
        return next((d for d in self.deltas if d.from_version == version), None)


@dataclass(frozen=True)
class InstallerPackage(TargetRef):
    """A Windows installer run silently."""

    format: str
    silent_args: tuple[str, ...]
    success_exit_codes: tuple[int, ...] = DEFAULT_SUCCESS_EXIT_CODES
    reboot_exit_codes: tuple[int, ...] = DEFAULT_REBOOT_EXIT_CODES


Package = ZipPackage | InstallerPackage


@dataclass(frozen=True)
class Release:
    """One version of one product."""

    product: str
    version: Version
    channel: str
    released: date
    notes: Mapping[str, str]
    packages: tuple[Package, ...]
    declared_kind: ReleaseKind | None = None
    kind: ReleaseKind = ReleaseKind.FEATURE
    critical: bool = False
    min_updater_version: Version | None = None
    prestashop: SpecifierSet | None = None
    rollout_percent: int = 100
    #: The publisher took it back: never installed again, nor restored to.
    withdrawn: bool = False

    def notes_for(self, language: str) -> str:
        """The release notes in ``language``, falling back to Spanish, then English."""
        return self.notes.get(language) or self.notes.get("es") or self.notes.get("en", "")

    @property
    def zip_package(self) -> ZipPackage | None:
        return next((p for p in self.packages if isinstance(p, ZipPackage)), None)

    @property
    def installer_package(self) -> InstallerPackage | None:
        return next((p for p in self.packages if isinstance(p, InstallerPackage)), None)


@dataclass(frozen=True)
class Product:
    """A product of the feed and its releases, oldest first."""

    id: str
    name: str
    releases: tuple[Release, ...] = field(default_factory=tuple)
    #: The oldest version that may be installed or restored (older ones have a flaw
    #: the publisher does not want back on any PC); None: no limit.
    min_version: Version | None = None

    def refusal(self, version: Version) -> str | None:
        """Why ``version`` may not be put on a PC by an update or a restore (a sentence
        for a person), None when it may."""
        if self.min_version is not None and version < self.min_version:
            return _("the publisher no longer allows versions older than {minimum}").format(
                minimum=self.min_version
            )
        found = self.release(version)
        if found is not None and found.withdrawn:
            return _("the publisher withdrew it")
        return None

    def release(self, version: Version | str) -> Release | None:
        wanted = Version(str(version))
        return next((r for r in self.releases if r.version == wanted), None)

    @property
    def latest(self) -> Release | None:
        return self.releases[-1] if self.releases else None


@dataclass(frozen=True)
class Manifest:
    """A validated release manifest of one channel."""

    channel: str
    products: Mapping[str, Product]
    generated_at: str | None = None

    def product(self, product_id: str) -> Product | None:
        return self.products.get(product_id)

    def with_archive(self, archive: Manifest) -> Manifest:
        """This channel's current manifest with the older releases of its ``archive``
        added (see ``docs/manifest.md``, "The current manifest and the archive"): the
        products, their names and minimum versions are this manifest's; a version listed
        by both is this manifest's entry."""
        products: dict[str, Product] = {}
        for product_id, product in self.products.items():
            older = archive.products.get(product_id)
            current = {r.version for r in product.releases}
            earlier = tuple(r for r in older.releases if r.version not in current) if older else ()
            products[product_id] = replace(
                product, releases=tuple(sorted(earlier + product.releases, key=_by_version))
            )
        return replace(self, products=products)

    def target_refs(self) -> Iterable[TargetRef]:
        """Every feed file this manifest refers to (packages and file lists)."""
        for product in self.products.values():
            for release in product.releases:
                for package in release.packages:
                    yield package
                    if isinstance(package, ZipPackage):
                        yield package.file_list
                        yield from package.deltas


def _by_version(release: Release) -> Version:
    return release.version


def default_kind(version: Version, previous: Version | None) -> ReleaseKind:
    """The kind of a release that does not declare one.

    A release whose only change from the newest older release is the micro part
    (``3.4.0`` -> ``3.4.1``) is a bug-fix; anything else, including the first release
    of a product and pre-releases, is a feature release.
    """
    if previous is None or version.is_prerelease or previous.is_prerelease:
        return ReleaseKind.FEATURE
    if (version.epoch, version.major, version.minor) == (
        previous.epoch,
        previous.major,
        previous.minor,
    ) and version.micro > previous.micro:
        return ReleaseKind.BUGFIX
    return ReleaseKind.FEATURE


def _json_path(error: ValidationError) -> str:
    parts = ["manifest"]
    for item in error.absolute_path:
        parts.append(f"[{item}]" if isinstance(item, int) else f".{item}")
    return "".join(parts)


@functools.cache
def _validator() -> Draft202012Validator:
    """The schema's validator, built on first use: jsonschema takes a tenth of a second
    to import, which commands that read no manifest (``status``) need not pay."""
    from jsonschema import Draft202012Validator

    return Draft202012Validator(MANIFEST_SCHEMA, format_checker=Draft202012Validator.FORMAT_CHECKER)


def validate_document(document: Any) -> None:
    """Check ``document`` against :data:`MANIFEST_SCHEMA`.

    Raises:
        ManifestError: naming the first offending field (the deepest, most specific one).
    """
    errors = sorted(_validator().iter_errors(document), key=lambda e: e.path)
    if not errors:
        return
    from jsonschema.exceptions import best_match

    worst = best_match(errors)
    raise ManifestError(
        _("The release manifest is not valid: {where}: {problem}").format(
            where=_json_path(worst), problem=worst.message
        ),
        hint=_("The publisher must fix and republish the feed."),
    )


def parse_manifest(
    data: bytes, *, expected_channel: str | None = None, known_valid: bool = False
) -> Manifest:
    """Parse and validate a manifest document.

    ``known_valid``: these very bytes (the caller compared their SHA-256) passed the
    schema on this PC before, so the JSON Schema validation, three quarters of the
    work for a large feed, is skipped; the values are still parsed and checked. Should
    the document not have the schema's shape after all, the schema is checked then and
    its error raised, as for bytes never seen.

    Raises:
        ManifestError: the bytes are not JSON (for instance a proxy's HTML page), do not
            follow the schema, or hold values that do not parse (versions, specifiers,
            dates), duplicate versions, or another channel than ``expected_channel``.
    """
    try:
        document = json.loads(data.decode("utf-8"), object_pairs_hook=_no_duplicate_keys)
    except _DuplicateKeyError as exc:
        raise _bad(
            "manifest", _("the key '{key}' appears twice in one object").format(key=exc)
        ) from exc
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        raise ManifestError(
            _("The update server answered with something that is not a release manifest."),
            hint=_(
                "A proxy, firewall or hotspot login page may be in the way; check the "
                "internet connection and try again."
            ),
        ) from exc
    if not isinstance(document, dict) or "schema_version" not in document:
        raise ManifestError(
            _("The update server answered with something that is not a release manifest.")
        )
    found = document["schema_version"]
    if isinstance(found, int) and not isinstance(found, bool) and found != SCHEMA_VERSION:
        raise ManifestError(
            _("The release manifest uses format {found}, which this updater does not know.").format(
                found=found
            ),
            hint=_("Update InnovaCommerce Updater to a newer version."),
        )
    if known_valid:
        try:
            manifest = _build(document)
        except (KeyError, TypeError, AttributeError, ValueError):
            validate_document(document)  # names what is wrong
            raise
    else:
        validate_document(document)
        manifest = _build(document)
    if expected_channel is not None and manifest.channel != expected_channel:
        raise ManifestError(
            _("The feed sent the manifest of channel '{found}' instead of '{wanted}'.").format(
                found=manifest.channel, wanted=expected_channel
            )
        )
    return manifest


class _DuplicateKeyError(ValueError):
    pass


def _no_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """A JSON object hook refusing duplicate keys (which would make the meaning ambiguous)."""
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise _DuplicateKeyError(key)
        result[key] = value
    return result


def _bad(where: str, problem: str) -> ManifestError:
    return ManifestError(
        _("The release manifest is not valid: {where}: {problem}").format(
            where=where, problem=problem
        ),
        hint=_("The publisher must fix and republish the feed."),
    )


def _version(value: str, where: str) -> Version:
    try:
        return Version(value)
    except InvalidVersion as exc:
        raise _bad(where, _("'{value}' is not a valid version number").format(value=value)) from exc


def _date(value: str, where: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError as exc:
        raise _bad(where, _("'{value}' is not a valid date").format(value=value)) from exc


def _target_path(value: str, where: str) -> str:
    """A target path that is also safe as a local relative path (archive.py's rules)."""
    try:
        return validate_entry_name(value)
    except ArchiveError as exc:
        raise _bad(where, exc.message) from exc


def _target(raw: Mapping[str, Any], where: str) -> TargetRef:
    return TargetRef(
        target=_target_path(raw["target"], f"{where}.target"),
        size=int(raw["size"]),
        sha256=raw["sha256"],
    )


def _package(raw: Mapping[str, Any], where: str) -> Package:
    if raw["type"] == "zip":
        return ZipPackage(
            target=_target_path(raw["target"], f"{where}.target"),
            size=int(raw["size"]),
            sha256=raw["sha256"],
            installed_size=int(raw["installed_size"]),
            file_count=int(raw["file_count"]),
            file_list=_target(raw["file_list"], f"{where}.file_list"),
            deltas=tuple(
                DeltaRef(
                    target=_target_path(d["target"], f"{where}.deltas[{i}].target"),
                    size=int(d["size"]),
                    sha256=d["sha256"],
                    from_version=_version(d["from_version"], f"{where}.deltas[{i}].from_version"),
                )
                for i, d in enumerate(raw.get("deltas", ()))
            ),
        )
    return InstallerPackage(
        target=_target_path(raw["target"], f"{where}.target"),
        size=int(raw["size"]),
        sha256=raw["sha256"],
        format=raw["format"],
        silent_args=tuple(raw["silent_args"]),
        success_exit_codes=tuple(
            int(c) for c in raw.get("success_exit_codes", DEFAULT_SUCCESS_EXIT_CODES)
        ),
        reboot_exit_codes=tuple(
            int(c) for c in raw.get("reboot_exit_codes", DEFAULT_REBOOT_EXIT_CODES)
        ),
    )


def _build(document: Mapping[str, Any]) -> Manifest:
    products: dict[str, Product] = {}
    for product_id, raw_product in document["products"].items():
        parsed: list[tuple[Version, Mapping[str, Any], str]] = []
        seen: set[Version] = set()
        for index, raw in enumerate(raw_product["releases"]):
            where = f"manifest.products.{product_id}.releases[{index}]"
            version = _version(raw["version"], f"{where}.version")
            if version in seen:
                raise _bad(
                    f"{where}.version",
                    _("version {version} is listed twice").format(version=version),
                )
            seen.add(version)
            parsed.append((version, raw, where))
        parsed.sort(key=lambda item: item[0])

        releases: list[Release] = []
        previous: Version | None = None
        for version, raw, where in parsed:
            min_updater = (
                _version(raw["min_updater_version"], f"{where}.min_updater_version")
                if "min_updater_version" in raw
                else None
            )
            prestashop: SpecifierSet | None = None
            if "prestashop" in raw:
                try:
                    prestashop = SpecifierSet(raw["prestashop"])
                except InvalidSpecifier as exc:
                    raise _bad(
                        f"{where}.prestashop",
                        _("'{value}' is not a valid version range").format(value=raw["prestashop"]),
                    ) from exc
            packages = tuple(
                _package(p, f"{where}.packages[{i}]") for i, p in enumerate(raw["packages"])
            )
            if (
                sum(isinstance(p, ZipPackage) for p in packages) > 1
                or sum(isinstance(p, InstallerPackage) for p in packages) > 1
            ):
                raise _bad(
                    f"{where}.packages",
                    _("a release has at most one zip and one installer package"),
                )
            declared = ReleaseKind(raw["kind"]) if "kind" in raw else None
            releases.append(
                Release(
                    product=product_id,
                    version=version,
                    channel=raw["channel"],
                    released=_date(raw["released"], f"{where}.released"),
                    notes=dict(raw["notes"]),
                    packages=packages,
                    declared_kind=declared,
                    kind=declared or default_kind(version, previous),
                    critical=bool(raw.get("critical", False)),
                    min_updater_version=min_updater,
                    prestashop=prestashop,
                    rollout_percent=int(raw.get("rollout_percent", 100)),
                    withdrawn=bool(raw.get("withdrawn", False)),
                )
            )
            previous = version
        products[product_id] = Product(
            id=product_id,
            name=raw_product.get("name", product_id),
            releases=tuple(releases),
            min_version=(
                _version(raw_product["min_version"], f"manifest.products.{product_id}.min_version")
                if "min_version" in raw_product
                else None
            ),
        )
    return Manifest(
        channel=document["channel"],
        products=products,
        generated_at=document.get("generated_at"),
    )


def schema_json() -> str:
    """The schema as the text of ``manifests/manifest.schema.json``."""
    return json.dumps(MANIFEST_SCHEMA, indent=2, ensure_ascii=False) + "\n"
