"""The release manifest: generated schema file, documented example, default kind, validation."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from packaging.specifiers import SpecifierSet
from packaging.version import Version

from updater.errors import ManifestError
from updater.feed.manifest import (
    DEFAULT_REBOOT_EXIT_CODES,
    DEFAULT_SUCCESS_EXIT_CODES,
    InstallerPackage,
    Manifest,
    ReleaseKind,
    ZipPackage,
    _validator,
    default_kind,
    parse_manifest,
    schema_json,
)

ROOT = Path(__file__).resolve().parent.parent
SCHEMA_FILE = ROOT / "manifests" / "manifest.schema.json"
EXAMPLE_FILE = ROOT / "manifests" / "example.stable.jsonc"


# --- helpers ---------------------------------------------------------------------------------


def strip_line_comments(text: str) -> str:
    """Remove ``//`` comments from JSONC text, leaving ``//`` inside strings alone.

    Each comment is removed up to (not including) its end of line, so line numbers in
    JSON errors still point at the original file.
    """
    out: list[str] = []
    in_string = False
    escaped = False
    i = 0
    while i < len(text):
        char = text[i]
        if in_string:
            out.append(char)
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
            i += 1
        elif char == '"':
            in_string = True
            out.append(char)
            i += 1
        elif text.startswith("//", i):
            end = text.find("\n", i)
            i = len(text) if end == -1 else end
        else:
            out.append(char)
            i += 1
    return "".join(out)


def load_example() -> dict[str, Any]:
    document: dict[str, Any] = json.loads(
        strip_line_comments(EXAMPLE_FILE.read_text(encoding="utf-8"))
    )
    return document


def encode(document: Any) -> bytes:
    return json.dumps(document, ensure_ascii=False).encode("utf-8")


def example_manifest() -> Manifest:
    return parse_manifest(encode(load_example()), expected_channel="stable")


H1 = "1f" * 32
H2 = "2e" * 32


def zip_package(product: str, version: str) -> dict[str, Any]:
    stem = f"packages/{product}/{version}/{product}-{version}"
    return {
        "type": "zip",
        "target": f"{stem}.zip",
        "size": 1_048_576,
        "sha256": H1,
        "installed_size": 3_145_728,
        "file_count": 12,
        "file_list": {"target": f"{stem}.files.json", "size": 1_700, "sha256": H2},
    }


def installer_package(product: str, version: str) -> dict[str, Any]:
    return {
        "type": "installer",
        "format": "msi",
        "target": f"packages/{product}/{version}/{product}-{version}.msi",
        "size": 2_097_152,
        "sha256": H2,
        "silent_args": ["/qn", "/norestart"],
    }


def release(version: str, **extra: Any) -> dict[str, Any]:
    record: dict[str, Any] = {
        "version": version,
        "channel": "stable",
        "released": "2026-02-03",
        "notes": {"es": f"Versión {version}", "en": f"Version {version}"},
        "packages": [zip_package("tpv", version)],
    }
    record.update(extra)
    return record


def minimal(*versions: str) -> dict[str, Any]:
    return {
        "schema_version": 1,
        "channel": "stable",
        "products": {
            "tpv": {
                "name": "InnovaCommerce TPV",
                "releases": [release(v) for v in versions or ("3.4.0", "3.4.1")],
            }
        },
    }


# --- (a) the generated schema file -------------------------------------------------------------


def test_schema_file_is_generated_from_the_code() -> None:
    assert SCHEMA_FILE.read_text(encoding="utf-8") == schema_json(), (
        "manifests/manifest.schema.json is out of date; regenerate it with "
        "`innova-release schema > manifests/manifest.schema.json`"
    )


# --- (b) the documented example ----------------------------------------------------------------


def test_comment_stripper_keeps_strings_intact() -> None:
    text = (
        '{"url": "https://example.com/a//b", // a comment with "quotes"\n'
        '  "esc": "back\\\\slash \\" // not a comment", "n": 1 // end\n'
        "}\n// trailing"
    )
    assert json.loads(strip_line_comments(text)) == {
        "url": "https://example.com/a//b",
        "esc": 'back\\slash " // not a comment',
        "n": 1,
    }
    assert strip_line_comments(text).count("\n") == text.count("\n")


def test_example_is_commented_jsonc_and_not_plain_json() -> None:
    text = EXAMPLE_FILE.read_text(encoding="utf-8")
    assert "//" in strip_line_comments(text)  # the links in the notes survive
    with pytest.raises(json.JSONDecodeError):
        json.loads(text)


def test_example_parses() -> None:
    manifest = example_manifest()
    assert manifest.channel == "stable"
    assert set(manifest.products) == {"tpv", "erp"}
    tpv = manifest.products["tpv"]
    erp = manifest.products["erp"]
    assert tpv.name == "InnovaCommerce TPV"
    assert erp.name == "InnovaCommerce ERP"
    assert [str(r.version) for r in tpv.releases] == ["3.4.0", "3.4.1", "3.5.0"]
    assert [str(r.version) for r in erp.releases] == ["2.7.0", "2.8.0"]
    assert all(r.channel == "stable" for p in manifest.products.values() for r in p.releases)


def test_example_kinds() -> None:
    manifest = example_manifest()
    tpv = manifest.products["tpv"]
    kinds = {str(r.version): (r.declared_kind, r.kind) for r in tpv.releases}
    assert kinds == {
        "3.4.0": (ReleaseKind.FEATURE, ReleaseKind.FEATURE),
        "3.4.1": (None, ReleaseKind.BUGFIX),  # by the default rule
        "3.5.0": (ReleaseKind.FEATURE, ReleaseKind.FEATURE),
    }
    erp = manifest.products["erp"]
    first = erp.release("2.7.0")
    assert first is not None
    assert (first.declared_kind, first.kind) == (None, ReleaseKind.FEATURE)  # first release


def test_example_flags_and_conditions() -> None:
    tpv = example_manifest().products["tpv"]
    r340, r341, r350 = tpv.releases

    assert not r340.critical and not r341.critical and r350.critical
    assert (r340.rollout_percent, r341.rollout_percent, r350.rollout_percent) == (100, 100, 25)
    assert r340.min_updater_version is None
    assert r350.min_updater_version == Version("1.2.0")
    assert r340.released == date(2026, 1, 20)

    assert r340.prestashop is None
    assert isinstance(r341.prestashop, SpecifierSet)
    for shop in ("1.7.8", "1.7.8.11", "8.0.4", "8.1.0", "8.2.1"):
        assert r341.prestashop.contains(shop), shop
    for shop in ("1.7.7.8", "1.6.1.24", "9.0.0", "9.0.1"):
        assert not r341.prestashop.contains(shop), shop
    assert r350.prestashop is not None
    assert r350.prestashop.contains("9.0.0")
    assert not r350.prestashop.contains("1.7.8.11")


def test_example_packages() -> None:
    manifest = example_manifest()
    tpv = manifest.products["tpv"]
    r341 = tpv.release("3.4.1")
    assert r341 is not None
    assert r341.installer_package is None
    zip_341 = r341.zip_package
    assert isinstance(zip_341, ZipPackage)
    assert zip_341.target == "packages/tpv/3.4.1/tpv-3.4.1.zip"
    assert zip_341.file_list.target == "packages/tpv/3.4.1/tpv-3.4.1.files.json"
    assert zip_341.file_count == 412

    r350 = tpv.latest
    assert r350 is not None
    assert isinstance(r350.zip_package, ZipPackage)
    msi = r350.installer_package
    assert isinstance(msi, InstallerPackage)
    assert msi.format == "msi"
    assert msi.silent_args == ("/qn", "/norestart")
    assert msi.success_exit_codes == (0,)
    assert msi.reboot_exit_codes == (3010, 1641)

    r280 = manifest.products["erp"].latest
    assert r280 is not None
    assert r280.zip_package is None
    exe = r280.installer_package
    assert isinstance(exe, InstallerPackage)
    assert exe.format == "exe"
    assert exe.silent_args == ("/VERYSILENT", "/SUPPRESSMSGBOXES", "/NORESTART")
    assert exe.success_exit_codes == DEFAULT_SUCCESS_EXIT_CODES == (0,)
    assert exe.reboot_exit_codes == DEFAULT_REBOOT_EXIT_CODES == (3010, 1641)

    refs = list(manifest.target_refs())
    assert len(refs) == 10  # 4 zips + 4 file lists + 2 installers
    for ref in refs:
        assert len(ref.sha256) == 64
        assert ref.size > 0


def test_example_notes_are_markdown_in_both_languages() -> None:
    tpv = example_manifest().products["tpv"]
    for rel in tpv.releases:
        assert set(rel.notes) == {"es", "en"}
        assert rel.notes["es"].startswith("## ")
        assert rel.notes["en"].startswith("## ")
    latest = tpv.latest
    assert latest is not None
    assert "https://innovacommerce.example/docs/tpv/3.5" in latest.notes_for("en")
    assert "VERI\\*FACTU" in latest.notes_for("es")


# --- (c) the default kind ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("version", "previous", "expected"),
    [
        ("3.4.1", "3.4.0", ReleaseKind.BUGFIX),
        ("3.4.3", "3.4.1", ReleaseKind.BUGFIX),  # skipped micro versions
        ("3.4.1", "3.4", ReleaseKind.BUGFIX),  # 3.4 is 3.4.0
        ("3.4.10", "3.4.9", ReleaseKind.BUGFIX),  # compared as numbers
        ("3.5.0", "3.4.1", ReleaseKind.FEATURE),
        ("4.0.0", "3.9.9", ReleaseKind.FEATURE),
        ("3.4.0", None, ReleaseKind.FEATURE),  # first release
        ("3.5.0rc1", "3.4.1", ReleaseKind.FEATURE),  # a pre-release
        ("3.4.2.dev1", "3.4.1", ReleaseKind.FEATURE),  # dev releases are pre-releases
        ("3.5.0", "3.5.0rc1", ReleaseKind.FEATURE),  # after a pre-release
        ("3.4.1.post1", "3.4.1", ReleaseKind.FEATURE),  # micro unchanged
        ("3.4.0.1", "3.4.0", ReleaseKind.FEATURE),  # only the micro part counts
        ("1!3.4.1", "3.4.0", ReleaseKind.FEATURE),  # another epoch
    ],
)
def test_default_kind(version: str, previous: str | None, expected: ReleaseKind) -> None:
    prev = Version(previous) if previous is not None else None
    assert default_kind(Version(version), prev) is expected


def test_default_kind_uses_the_previous_release_in_version_order() -> None:
    document = minimal("3.5.0", "3.4.1", "3.4.0", "3.5.1")
    document["products"]["tpv"]["releases"][1]["kind"] = "feature"  # 3.4.1 declared
    tpv = parse_manifest(encode(document)).products["tpv"]
    assert [(str(r.version), r.kind.value) for r in tpv.releases] == [
        ("3.4.0", "feature"),
        ("3.4.1", "feature"),  # the declared kind wins over the rule
        ("3.5.0", "feature"),
        ("3.5.1", "bugfix"),
    ]


# --- (d) invalid input --------------------------------------------------------------------------

Mutation = Callable[[dict[str, Any]], Any]


def _parent(document: dict[str, Any], path: str) -> tuple[Any, str | int]:
    """The container of the field at ``path`` (``a.b[0].c``) and the field's key."""
    keys: list[str | int] = [
        int(k) if k.isdigit() else k for k in path.replace("[", ".").replace("]", "").split(".")
    ]
    node: Any = document
    for key in keys[:-1]:
        node = node[key]
    return node, keys[-1]


def _set(path: str, value: Any) -> Mutation:
    """A mutation setting the field at ``path`` to ``value``."""

    def mutate(document: dict[str, Any]) -> None:
        node, key = _parent(document, path)
        node[key] = value

    return mutate


def _delete(path: str) -> Mutation:
    """A mutation removing the field at ``path``."""

    def mutate(document: dict[str, Any]) -> None:
        node, key = _parent(document, path)
        del node[key]

    return mutate


REL0 = "products.tpv.releases[0]"
PKG0 = f"{REL0}.packages[0]"


def _two_zips(document: dict[str, Any]) -> None:
    packages = document["products"]["tpv"]["releases"][0]["packages"]
    second = copy.deepcopy(packages[0])
    second["target"] = "packages/tpv/3.4.0/tpv-3.4.0-bis.zip"
    packages.append(second)


INVALID: list[tuple[str, Mutation, tuple[str, ...]]] = [
    # (test id, change to a valid manifest, words the message must contain)
    ("missing-products", _delete("products"), ("manifest:", "'products'")),
    ("unknown-top-level-field", _set("shop", "Tienda 1"), ("manifest:", "'shop'")),
    ("bad-version", _set(f"{REL0}.version", "abc"), (f"manifest.{REL0}.version", "'abc'")),
    (
        "duplicate-version",
        _set("products.tpv.releases[1].version", "3.4.0"),
        ("manifest.products.tpv.releases[1].version", "listed twice"),
    ),
    (
        "duplicate-version-spelled-differently",
        _set("products.tpv.releases[1].version", "3.4"),
        ("manifest.products.tpv.releases[1].version", "listed twice"),
    ),
    (
        "bad-prestashop-specifier",
        _set(f"{REL0}.prestashop", "=>1.7"),
        (f"manifest.{REL0}.prestashop", "'=>1.7'"),
    ),
    (
        "bad-min-updater-version",
        _set(f"{REL0}.min_updater_version", "uno"),
        (f"manifest.{REL0}.min_updater_version", "'uno'"),
    ),
    ("bad-date", _set(f"{REL0}.released", "2026-13-40"), (f"manifest.{REL0}.released",)),
    ("sha256-not-hex", _set(f"{PKG0}.sha256", "z" * 64), (f"manifest.{PKG0}",)),
    ("sha256-upper-case", _set(f"{PKG0}.sha256", "AB" * 32), (f"manifest.{PKG0}",)),
    ("negative-size", _set(f"{PKG0}.size", -1), (f"manifest.{PKG0}",)),
    ("zero-file-count", _set(f"{PKG0}.file_count", 0), (f"manifest.{PKG0}",)),
    (
        "rollout-above-100",
        _set(f"{REL0}.rollout_percent", 101),
        (f"manifest.{REL0}.rollout_percent", "101"),
    ),
    (
        "rollout-not-integer",
        _set(f"{REL0}.rollout_percent", "25"),
        (f"manifest.{REL0}.rollout_percent",),
    ),
    ("critical-not-boolean", _set(f"{REL0}.critical", "yes"), (f"manifest.{REL0}.critical",)),
    ("bad-kind", _set(f"{REL0}.kind", "hotfix"), (f"manifest.{REL0}.kind", "'hotfix'")),
    ("empty-packages", _set(f"{REL0}.packages", []), (f"manifest.{REL0}.packages",)),
    ("two-zip-packages", _two_zips, (f"manifest.{REL0}.packages", "at most one zip")),
    (
        "two-installers",
        _set(f"{REL0}.packages", [installer_package("tpv", "a"), installer_package("tpv", "b")]),
        (f"manifest.{REL0}.packages", "at most one zip and one installer"),
    ),
    ("unknown-package-type", _set(f"{PKG0}.type", "dmg"), (f"manifest.{PKG0}",)),
    ("target-with-dotdot", _set(f"{PKG0}.target", "packages/../tpv.zip"), (f"manifest.{PKG0}",)),
    ("absolute-target", _set(f"{PKG0}.target", "/etc/tpv.zip"), (f"manifest.{PKG0}",)),
    (
        "file-list-target-with-dotdot",
        _set(f"{PKG0}.file_list.target", "../files.json"),
        (f"manifest.{PKG0}",),
    ),
    ("notes-missing-en", _delete(f"{REL0}.notes.en"), (f"manifest.{REL0}.notes", "'en'")),
    ("notes-other-language", _set(f"{REL0}.notes.fr", "Notes"), (f"manifest.{REL0}.notes", "'fr'")),
    ("release-missing-channel", _delete(f"{REL0}.channel"), (f"manifest.{REL0}", "'channel'")),
    ("bad-product-id", _set("products.TPV", {"releases": []}), ("manifest.products", "'TPV'")),
    ("releases-not-a-list", _set("products.tpv.releases", {}), ("manifest.products.tpv.releases",)),
    ("channel-not-an-id", _set("channel", "Stable!"), ("manifest.channel", "'Stable!'")),
]


@pytest.mark.parametrize(
    ("change", "expected"),
    [pytest.param(change, expected, id=name) for name, change, expected in INVALID],
)
def test_invalid_manifest_is_refused(change: Mutation, expected: tuple[str, ...]) -> None:
    document = minimal()
    parse_manifest(encode(document))  # valid before the change
    change(document)
    with pytest.raises(ManifestError) as caught:
        parse_manifest(encode(document), expected_channel="stable")
    assert caught.value.message.startswith("The release manifest is not valid: ")
    for words in expected:
        assert words in caught.value.message
    assert caught.value.hint == "The publisher must fix and republish the feed."


NOT_A_MANIFEST = "The update server answered with something that is not a release manifest."


@pytest.mark.parametrize(
    "data",
    [
        pytest.param(
            b"<!DOCTYPE html>\n<html><head><title>Wi-Fi Hotel</title></head>"
            b"<body><form action='/login'>Acepte las condiciones</form></body></html>",
            id="captive-portal-html",
        ),
        pytest.param(b'{"schema_version": 1, "channel": "stable", \xff\xfe}', id="invalid-utf8"),
        pytest.param(b"[1, 2, 3]", id="json-array"),
        pytest.param(b"", id="empty"),
        pytest.param(b"null", id="json-null"),
        pytest.param(b'{"channel": "stable", "products": {}}', id="no-schema-version"),
        pytest.param(
            '{"schema_version": 1, "channel": "stable", "products": {}}'.encode("utf-16"),
            id="utf16",
        ),
        pytest.param(b'{"schema_version": 1, "channel": "stable", "products": {', id="truncated"),
    ],
)
def test_something_that_is_not_a_manifest(data: bytes) -> None:
    with pytest.raises(ManifestError) as caught:
        parse_manifest(data)
    assert caught.value.message == NOT_A_MANIFEST


def test_wrong_channel() -> None:
    data = encode(minimal())
    assert parse_manifest(data, expected_channel="stable").channel == "stable"
    with pytest.raises(ManifestError, match="channel 'stable' instead of 'beta'"):
        parse_manifest(data, expected_channel="beta")


@pytest.mark.parametrize("found", [2, 0, 99])
def test_unknown_schema_version_asks_to_update_the_updater(found: int) -> None:
    document = minimal()
    document["schema_version"] = found
    with pytest.raises(ManifestError) as caught:
        parse_manifest(encode(document))
    assert caught.value.message == (
        f"The release manifest uses format {found}, which this updater does not know."
    )
    assert caught.value.hint == "Update InnovaCommerce Updater to a newer version."


@pytest.mark.parametrize("known_valid", [False, True], ids=["validated", "known-valid"])
def test_any_field_broken_or_removed_gives_only_manifest_errors(known_valid: bool) -> None:
    """Wrong values or missing fields anywhere give ManifestError, never KeyError or
    TypeError; also when the caller wrongly claims the bytes passed the schema before."""
    base = encode(load_example())
    document = json.loads(base)
    wrong_values: list[Any] = [None, True, -1, 1.5, "x", [], {}]
    paths: list[list[str | int]] = []

    def walk(node: Any, path: list[str | int]) -> None:
        if path:
            paths.append(path)
        if isinstance(node, dict):
            for key, value in node.items():
                walk(value, [*path, key])
        elif isinstance(node, list):
            for index, value in enumerate(node):
                walk(value, [*path, index])

    walk(document, [])
    checked = 0
    for path in paths:
        for wrong in wrong_values:
            broken = json.loads(base)
            node = broken
            for key in path[:-1]:
                node = node[key]
            if node[path[-1]] == wrong and type(node[path[-1]]) is type(wrong):
                continue
            node[path[-1]] = wrong
            try:
                parse_manifest(encode(broken), expected_channel="stable", known_valid=known_valid)
            except ManifestError:
                checked += 1
            # Some replacements are still valid (an empty silent_args, a string "x" in
            # the notes); they must simply parse.
        broken = json.loads(base)
        node = broken
        for key in path[:-1]:
            node = node[key]
        del node[path[-1]]
        try:
            parse_manifest(encode(broken), expected_channel="stable", known_valid=known_valid)
        except ManifestError:
            checked += 1
    assert checked > len(paths)


def test_bytes_known_valid_skip_the_schema_but_not_the_values() -> None:
    """What ``known_valid`` saves is the JSON Schema; the values are still parsed."""
    document = minimal("1.0.0")
    document["products"]["tpv"]["surprise"] = True  # only the schema forbids this
    data = encode(document)
    with pytest.raises(ManifestError, match="surprise"):
        parse_manifest(data, expected_channel="stable")
    used = _validator.cache_info()
    assert parse_manifest(data, expected_channel="stable", known_valid=True).product("tpv")
    assert _validator.cache_info() == used  # the validator was not asked
    document["products"]["tpv"]["releases"][0]["version"] = "not a version"
    with pytest.raises(ManifestError, match="not a version"):
        parse_manifest(encode(document), known_valid=True)


def test_deeply_nested_json_is_a_manifest_error() -> None:
    depth = 100_000
    data = b'{"schema_version": 1, "channel": "stable", "products": ' + b"[" * depth
    data += b"]" * depth + b"}"
    with pytest.raises(ManifestError):
        parse_manifest(data)


# --- (e) the model --------------------------------------------------------------------------


def test_releases_are_sorted_by_version_whatever_the_order_listed() -> None:
    document = minimal("3.10.0", "3.4.1", "3.5.0rc1", "3.4.0", "3.9.2", "3.5.0")
    tpv = parse_manifest(encode(document)).products["tpv"]
    assert [str(r.version) for r in tpv.releases] == [
        "3.4.0",
        "3.4.1",
        "3.5.0rc1",
        "3.5.0",
        "3.9.2",
        "3.10.0",
    ]
    assert tpv.latest is not None
    assert tpv.latest.version == Version("3.10.0")


def test_product_lookups() -> None:
    manifest = example_manifest()
    tpv = manifest.product("tpv")
    assert tpv is not None
    assert manifest.product("crm") is None
    assert tpv.latest is not None and str(tpv.latest.version) == "3.5.0"
    found = tpv.release("3.4.1")
    assert found is not None and found.version == Version("3.4.1")
    assert tpv.release(Version("3.4.1")) is found
    assert tpv.release("3.4.1.0") is found  # PEP 440 equality
    assert tpv.release("3.3.9") is None

    empty = parse_manifest(
        encode({"schema_version": 1, "channel": "stable", "products": {"kds": {"releases": []}}})
    ).products["kds"]
    assert empty.latest is None
    assert empty.name == "kds"  # no name: the id


def test_notes_for_falls_back_to_spanish() -> None:
    tpv = example_manifest().products["tpv"]
    r341 = tpv.release("3.4.1")
    assert r341 is not None
    assert r341.notes_for("en").startswith("## Fixes")
    assert r341.notes_for("es").startswith("## Correcciones")
    assert r341.notes_for("fr") == r341.notes["es"]
    assert r341.notes_for("ca") == r341.notes_for("es")


def test_duplicate_keys_are_refused_not_silently_overwritten() -> None:
    data = encode(minimal("1.0.0")).replace(
        b'"channel": "stable"', b'"channel": "stable", "channel": "beta"', 1
    )
    assert data.count(b'"channel": "beta"') == 1
    with pytest.raises(ManifestError, match="'channel' appears twice"):
        parse_manifest(data)


def test_package_errors_name_the_offending_field() -> None:
    document = minimal("1.0.0")
    package = document["products"]["tpv"]["releases"][0]["packages"][0]
    package["sha256"] = "XYZ"
    with pytest.raises(ManifestError, match=r"packages\[0\]\.sha256"):
        parse_manifest(encode(document))


def test_target_paths_follow_the_archive_name_rules() -> None:
    document = minimal("1.0.0")
    package = document["products"]["tpv"]["releases"][0]["packages"][0]
    package["target"] = "packages/tpv/CON.zip"
    with pytest.raises(ManifestError, match=r"packages\[0\]\.target"):
        parse_manifest(encode(document))
