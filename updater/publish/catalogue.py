"""The release catalogue (``releases.json``): adding, changing and removing releases.

Owns what ``add`` needs to know (:class:`ReleaseSpec`, :class:`InstallerSpec`), checking
a new release, packing its build folder or zip with its file list, making and proving its
delta packages against earlier releases, and storing every file under its
content-addressed name in ``feed/targets/``; and the later changes to the catalogue
(rollout, critical, withdrawn, the minimum version, removing an unpublished release).
Nothing here is visible to clients until :mod:`~updater.publish.publishing` signs it.

Imports: the core, ``fsutil``, the install side (extract, rebuild from a delta, hash),
the publisher's ``pack``, ``delta``, :mod:`~updater.publish.workspace` and
:mod:`~updater.publish.manifests`.
"""

from __future__ import annotations

import contextlib
import shutil
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.version import InvalidVersion, Version

from updater.errors import PublishError, UpdaterError
from updater.fsutil import fsync_file, remove_tree
from updater.i18n import _
from updater.install.archive import extract_zip
from updater.install.delta import DEFAULT_LEVEL, DELTA_MAX_SHARE, build_from_delta
from updater.install.filelist import hash_file
from updater.publish.delta import make_delta
from updater.publish.manifests import check_document, check_release, package_refs
from updater.publish.pack import inspect_zip, pack_directory
from updater.publish.workspace import Workspace, check_id

__all__ = [
    "DEFAULT_DELTAS",
    "INSTALLER_FORMATS",
    "InstallerSpec",
    "ReleaseSpec",
    "add_release",
    "remove_release",
    "set_minimum",
    "set_release",
]

INSTALLER_FORMATS = ("exe", "msi")

#: How many earlier releases get a delta package to each new release, by default.
DEFAULT_DELTAS = 3


@dataclass(frozen=True)
class InstallerSpec:
    """An installer file to publish with its silent-install arguments."""

    path: Path
    silent_args: tuple[str, ...]
    success_exit_codes: tuple[int, ...] = (0,)
    reboot_exit_codes: tuple[int, ...] = (3010, 1641)
    format: str | None = None


@dataclass(frozen=True)
class ReleaseSpec:
    """Everything ``add`` needs to know about a new release."""

    product: str
    version: str
    channel: str
    notes_es: str
    notes_en: str
    released: date | None = None
    kind: str | None = None
    critical: bool = False
    min_updater_version: str | None = None
    prestashop: str | None = None
    rollout_percent: int | None = None
    product_name: str | None = None
    build_dir: Path | None = None
    zip_path: Path | None = None
    installer: InstallerSpec | None = None
    #: Delta packages are made from this many of the newest earlier releases (0: none).
    deltas: int = DEFAULT_DELTAS
    #: The zstd level of delta packages (higher: smaller and slower to make).
    delta_level: int = DEFAULT_LEVEL
    #: Processes that make delta packages (None: one per CPU).
    delta_workers: int | None = None


def add_release(workspace: Workspace, spec: ReleaseSpec, *, today: date) -> dict[str, Any]:
    """Add a release (its files go into the feed's targets, unpublished until published);
    ``today`` is its release date unless ``spec.released`` gives one.

    Raises:
        PublishError: invalid values, a version already present, no or unreadable
            package, or a zip that is unsafe. The workspace is unchanged on failure.
    """
    check_id(spec.product, _("product"))
    if spec.channel not in workspace.settings.channels:
        raise PublishError(
            _("Unknown channel '{channel}'; this feed has: {channels}.").format(
                channel=spec.channel, channels=", ".join(workspace.settings.channels)
            )
        )
    try:
        version = Version(spec.version)
    except InvalidVersion as exc:
        raise PublishError(
            _("'{value}' is not a valid version number (PEP 440).").format(value=spec.version)
        ) from exc
    if spec.min_updater_version is not None:
        try:
            Version(spec.min_updater_version)
        except InvalidVersion as exc:
            raise PublishError(
                _("'{value}' is not a valid version number (PEP 440).").format(
                    value=spec.min_updater_version
                )
            ) from exc
    if spec.prestashop is not None:
        try:
            SpecifierSet(spec.prestashop)
        except InvalidSpecifier as exc:
            raise PublishError(
                _("'{value}' is not a valid PrestaShop version range (e.g. >=1.7.8,<9).").format(
                    value=spec.prestashop
                )
            ) from exc
    if spec.kind is not None and spec.kind not in ("bugfix", "feature"):
        raise PublishError(_("The kind must be 'bugfix' or 'feature'."))
    if spec.rollout_percent is not None and not 0 <= spec.rollout_percent <= 100:
        raise PublishError(_("The rollout percentage must be between 0 and 100."))
    if not spec.notes_es.strip() or not spec.notes_en.strip():
        raise PublishError(_("Release notes are needed in Spanish and in English."))
    sources = [s for s in (spec.build_dir, spec.zip_path) if s is not None]
    if len(sources) > 1:
        raise PublishError(_("Give a build directory or a zip, not both."))
    if not sources and spec.installer is None:
        raise PublishError(
            _("A release needs a package: a build directory, a zip or an installer.")
        )

    document = workspace.releases_document()
    product = document["products"].get(spec.product, {"releases": []})
    for existing in product["releases"]:
        if Version(existing["version"]) == version:
            raise PublishError(
                _(
                    "{product} {version} is already in the feed; releases cannot be changed, "
                    "publish a new version instead."
                ).format(product=spec.product, version=existing["version"])
            )

    base = f"packages/{spec.product}/{version}"
    stem = f"{spec.product}-{version}"
    packages: list[dict[str, Any]] = []
    written: list[Path] = []
    try:
        with tempfile.TemporaryDirectory(dir=workspace.workdir, prefix=".add-") as tmp:
            if spec.build_dir is not None or spec.zip_path is not None:
                package = _zip_package(workspace, spec, Path(tmp), f"{base}/{stem}", written)
                earlier = [r for r in product["releases"] if Version(r["version"]) < version]
                deltas = _deltas(workspace, spec, package, earlier, Path(tmp), base, written)
                if deltas:
                    package["deltas"] = deltas
                packages.append(package)
            if spec.installer is not None:
                packages.append(_installer_package(workspace, spec.installer, base, written))
        record: dict[str, Any] = {
            "version": str(version),
            "channel": spec.channel,
            "released": (spec.released or today).isoformat(),
            "notes": {"es": spec.notes_es, "en": spec.notes_en},
            "packages": packages,
        }
        if spec.kind:
            record["kind"] = spec.kind
        if spec.critical:
            record["critical"] = True
        if spec.min_updater_version:
            record["min_updater_version"] = spec.min_updater_version
        if spec.prestashop:
            record["prestashop"] = spec.prestashop
        if spec.rollout_percent is not None:
            record["rollout_percent"] = spec.rollout_percent
        product["releases"].append(record)
        if spec.product_name:
            product["name"] = spec.product_name
        document["products"][spec.product] = product
        check_release(spec.product, product, record)
        workspace.write_releases(document)
    except BaseException:
        for path in written:
            with contextlib.suppress(OSError):
                path.unlink()
        raise
    return record


def set_release(
    workspace: Workspace,
    product: str,
    version: str,
    *,
    rollout_percent: int | None = None,
    critical: bool | None = None,
    withdrawn: bool | None = None,
) -> dict[str, Any]:
    """Change a release's rollout percentage, critical flag or withdrawal (halt it
    with 0 %; withdraw it so that no PC installs it or restores it again).

    Raises:
        PublishError: no such release or an invalid value.
    """
    if rollout_percent is not None and not 0 <= rollout_percent <= 100:
        raise PublishError(_("The rollout percentage must be between 0 and 100."))
    document = workspace.releases_document()
    record = _find(document, product, version)
    if rollout_percent is not None:
        record["rollout_percent"] = rollout_percent
    if critical is not None:
        if critical:
            record["critical"] = True
        else:
            record.pop("critical", None)
    if withdrawn is not None:
        if withdrawn:
            record["withdrawn"] = True
        else:
            record.pop("withdrawn", None)
    check_release(product, document["products"][product], record)
    workspace.write_releases(document)
    return record


def set_minimum(workspace: Workspace, product: str, version: str | None) -> None:
    """Set the oldest version of ``product`` that PCs may install or restore (None:
    no limit): versions below it have a flaw no PC should get back.

    Raises:
        PublishError: no such product, an invalid version, or no release at or
            above it that is not withdrawn (PCs would be left with nothing).
    """
    document = workspace.releases_document()
    entry = document["products"].get(product)
    if entry is None:
        raise PublishError(_("There is no product {product}.").format(product=product))
    if version is None:
        entry.pop("min_version", None)
    else:
        try:
            minimum = Version(version)
        except InvalidVersion as exc:
            raise PublishError(
                _("'{value}' is not a valid version number.").format(value=version)
            ) from exc
        if not any(
            Version(r["version"]) >= minimum and not r.get("withdrawn") for r in entry["releases"]
        ):
            raise PublishError(
                _("No release of {product} is {version} or newer: publish one first.").format(
                    product=product, version=minimum
                )
            )
        entry["min_version"] = str(minimum)
    check_document(document, workspace.settings.channels)
    workspace.write_releases(document)


def remove_release(workspace: Workspace, product: str, version: str) -> dict[str, Any]:
    """Remove a release that was added but not published yet, with its files.

    Raises:
        PublishError: no such release, or it is already published (published
            releases stay; halt one with a rollout of 0 instead).
    """
    document = workspace.releases_document()
    record = _find(document, product, version)
    published = workspace.published_targets()
    refs = [ref for package in record["packages"] for ref in package_refs(package)]
    if any(ref["target"] in published for ref in refs):
        raise PublishError(
            _(
                "{product} {version} is already published and cannot be removed; halt it "
                "with 'innova-release set ... --rollout 0' and publish a newer version."
            ).format(product=product, version=record["version"])
        )
    releases = document["products"][product]["releases"]
    releases.remove(record)
    if not releases:
        del document["products"][product]
    workspace.write_releases(document)
    for ref in refs:
        stored = workspace.target_file(ref["target"], ref["sha256"])
        with contextlib.suppress(OSError):
            stored.unlink()
        parent = stored.parent
        while parent != workspace.targets_dir and parent.is_dir() and not any(parent.iterdir()):
            parent.rmdir()
            parent = parent.parent
    return record


def _find(document: Mapping[str, Any], product: str, version: str) -> dict[str, Any]:
    try:
        wanted = Version(version)
    except InvalidVersion as exc:
        raise PublishError(
            _("'{value}' is not a valid version number (PEP 440).").format(value=version)
        ) from exc
    for record in document["products"].get(product, {}).get("releases", []):
        if Version(record["version"]) == wanted:
            result: dict[str, Any] = record
            return result
    raise PublishError(
        _("{product} {version} is not in the feed.").format(product=product, version=version)
    )


def _zip_package(
    workspace: Workspace, spec: ReleaseSpec, tmp: Path, target_stem: str, written: list[Path]
) -> dict[str, Any]:
    if spec.build_dir is not None:
        if not spec.build_dir.is_dir():
            raise PublishError(_("{path} is not a directory.").format(path=spec.build_dir))
        zip_file = tmp / "package.zip"
        file_list = pack_directory(spec.build_dir, zip_file)
    else:
        assert spec.zip_path is not None
        if not spec.zip_path.is_file():
            raise PublishError(_("{path} is not a file.").format(path=spec.zip_path))
        zip_file = spec.zip_path
        file_list = inspect_zip(spec.zip_path)
    list_file = tmp / "files.json"
    list_file.write_bytes(file_list.to_json())
    zip_ref = _store_target(workspace, zip_file, f"{target_stem}.zip", written)
    list_ref = _store_target(workspace, list_file, f"{target_stem}.files.json", written)
    return {
        "type": "zip",
        **zip_ref,
        "installed_size": file_list.installed_size,
        "file_count": file_list.file_count,
        "file_list": list_ref,
    }


def _deltas(
    workspace: Workspace,
    spec: ReleaseSpec,
    package: Mapping[str, Any],
    earlier: list[Mapping[str, Any]],
    tmp: Path,
    base: str,
    written: list[Path],
) -> list[dict[str, Any]]:
    """Delta packages from the newest ``spec.deltas`` earlier releases that have a zip,
    each proven by rebuilding the new version from the old one before it is kept."""
    if spec.deltas <= 0:
        return []
    with_zip = [(r, p) for r in earlier for p in r["packages"] if p.get("type") == "zip"]
    with_zip.sort(key=lambda item: Version(item[0]["version"]), reverse=True)
    new_zip = workspace.target_file(package["target"], package["sha256"])
    new_list = inspect_zip(new_zip)
    refs: list[dict[str, Any]] = []
    for record, old in with_zip[: spec.deltas]:
        old_version = str(Version(record["version"]))
        old_zip = workspace.target_file(old["target"], old["sha256"])
        out = tmp / f"from-{old_version}.delta.zip"
        make_delta(
            old_zip, new_zip, out, product=spec.product, from_version=old_version,
            to_version=spec.version, level=spec.delta_level, workers=spec.delta_workers,
        )  # fmt: skip
        old_tree, rebuilt = tmp / f"old-{old_version}", tmp / f"rebuilt-{old_version}"
        try:
            extract_zip(old_zip, old_tree, inspect_zip(old_zip), durable=False)
            build_from_delta(out, old_tree, rebuilt, new_list, durable=False)
        except UpdaterError as exc:
            raise PublishError(
                _("The delta from {version} does not rebuild this release: {error}").format(
                    version=old_version, error=exc.message
                )
            ) from exc
        finally:
            for folder in (old_tree, rebuilt):
                if folder.exists():
                    remove_tree(folder)
        if out.stat().st_size > DELTA_MAX_SHARE * package["size"]:
            continue  # too little saving: clients would take the full package anyway
        name = f"{base}/{spec.product}-{spec.version}.from-{old_version}.delta.zip"
        ref = _store_target(workspace, out, name, written)
        refs.append({"from_version": old_version, **ref})
    return refs


def _installer_package(
    workspace: Workspace, installer: InstallerSpec, base: str, written: list[Path]
) -> dict[str, Any]:
    if not installer.path.is_file():
        raise PublishError(_("{path} is not a file.").format(path=installer.path))
    fmt = (installer.format or installer.path.suffix.lstrip(".")).lower()
    if fmt not in INSTALLER_FORMATS:
        raise PublishError(
            _("{path}: an installer must be an .exe or .msi file.").format(path=installer.path)
        )
    name = "".join(c if c.isalnum() or c in "._+-" else "-" for c in installer.path.name)
    ref = _store_target(workspace, installer.path, f"{base}/{name}", written)
    return {
        "type": "installer",
        "format": fmt,
        **ref,
        "silent_args": list(installer.silent_args),
        "success_exit_codes": list(installer.success_exit_codes),
        "reboot_exit_codes": list(installer.reboot_exit_codes),
    }


def _store_target(
    workspace: Workspace, source: Path, target: str, written: list[Path]
) -> dict[str, Any]:
    """Copy ``source`` into the targets directory under its content-addressed name."""
    size, sha256 = hash_file(source)
    destination = workspace.target_file(target, sha256)
    if not destination.exists():
        destination.parent.mkdir(parents=True, exist_ok=True)
        tmp = destination.with_name(destination.name + ".tmp")
        shutil.copyfile(source, tmp)
        fsync_file(tmp)
        tmp.replace(destination)
        written.append(destination)
    return {"target": target, "size": size, "sha256": sha256}
