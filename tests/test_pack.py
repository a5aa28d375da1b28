"""The publisher's deterministic packer and file lists, tested with real files."""

from __future__ import annotations

import hashlib
import json
import os
import stat
import sys
import tracemalloc
import zipfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from tests.links import symlink
from updater.errors import ArchiveError, ManifestError, PublishError
from updater.install.archive import read_zip_listing
from updater.publish.pack import (
    FileEntry,
    FileList,
    inspect_zip,
    pack_directory,
    scan_directory,
)

posix_only = pytest.mark.skipif(sys.platform == "win32", reason="POSIX file modes and links")

# --- helpers ---------------------------------------------------------------------------------

#: The build tree used by most tests: path -> (content, executable).
TREE: dict[str, tuple[bytes, bool]] = {
    "app.exe": (b"MZ" + bytes(range(256)) * 40, True),
    "README.txt": (b"Read me.\n", False),
    "lib/b.dll": (b"second library" * 100, False),
    "lib/a.dll": (b"first library" * 100, False),
    "lib/plugins/x.dll": (b"", False),
    "data/config.json": (b'{"shop": "Tienda n\xc2\xba 1"}', False),
    "ñandú/über.txt": ("¡Hola, mundo!".encode(), False),
    "a.txt": (b"sorts before a/ in the zip", False),
    "a/b.txt": (b"sorts after a.txt", False),
}


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def make_tree(
    root: Path, *, reverse: bool = False, mtime: int = 1_700_000_000, empty_dirs: bool = True
) -> Path:
    """Create :data:`TREE` under ``root`` in the given order with the given mtimes."""
    for path in sorted(TREE, reverse=reverse):
        content, executable = TREE[path]
        target = root / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(content)
        if executable:
            target.chmod(target.stat().st_mode | stat.S_IXUSR)
    if empty_dirs:
        (root / "empty" / "nested").mkdir(parents=True)
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            os.utime(Path(dirpath) / name, (mtime, mtime))
    return root


@contextmanager
def umask(mask: int) -> Iterator[None]:
    old = os.umask(mask)
    try:
        yield
    finally:
        os.umask(old)


def refused(error: type[Exception], call: Callable[[], object]) -> Any:
    """Run ``call`` and return the exception of exactly class ``error`` it must raise."""
    with pytest.raises(error) as caught:
        call()
    assert type(caught.value) is error
    return caught.value


# --- determinism ---------------------------------------------------------------------------


@posix_only
def test_same_tree_packs_to_the_same_bytes(tmp_path: Path) -> None:
    with umask(0o022):
        first = make_tree(tmp_path / "one", mtime=1_600_000_000)
    with umask(0o077):
        second = make_tree(tmp_path / "two", reverse=True, mtime=1_700_000_000, empty_dirs=False)
    if os.geteuid() == 0:  # another owner, where we may change it
        for dirpath, dirnames, filenames in os.walk(second):
            for name in dirnames + filenames:
                os.chown(Path(dirpath) / name, 4321, 4321)

    with umask(0o022):
        list_one = pack_directory(first, tmp_path / "one.zip")
    with umask(0o077):
        list_two = pack_directory(second, tmp_path / "two.zip")

    assert list_one == list_two
    one, two = (tmp_path / "one.zip").read_bytes(), (tmp_path / "two.zip").read_bytes()
    assert sha256(one) == sha256(two)
    # Packing again over an existing file gives the same bytes again.
    pack_directory(first, tmp_path / "one.zip")
    assert (tmp_path / "one.zip").read_bytes() == one


@posix_only
def test_zip_entries_have_fixed_metadata(tmp_path: Path) -> None:
    root = make_tree(tmp_path / "build")
    pack_directory(root, tmp_path / "out.zip")
    with zipfile.ZipFile(tmp_path / "out.zip") as zf:
        infos = zf.infolist()
        assert zf.comment == b""
    assert [info.filename for info in infos] == sorted(TREE)  # files only, sorted by path
    for info in infos:
        mode = 0o100755 if TREE[info.filename][1] else 0o100644
        assert info.external_attr >> 16 == mode, info.filename
        assert info.date_time == (1980, 1, 1, 0, 0, 0)
        assert info.create_system == 3
        assert info.compress_type == zipfile.ZIP_DEFLATED
        assert info.extra == b""
        assert info.comment == b""
        assert not info.is_dir()
    assert not any(info.filename.startswith("empty") for info in infos)  # empty dirs not stored


def test_pack_inspect_and_scan_agree(tmp_path: Path) -> None:
    root = make_tree(tmp_path / "build")
    packed = pack_directory(root, tmp_path / "out.zip")
    scanned = scan_directory(root)
    inspected = inspect_zip(tmp_path / "out.zip")
    assert packed == scanned == inspected
    assert scanned.files == tuple(
        FileEntry(path, len(TREE[path][0]), sha256(TREE[path][0])) for path in sorted(TREE)
    )
    assert scanned.file_count == len(TREE)
    assert scanned.installed_size == sum(len(content) for content, _ in TREE.values())
    # The packer's own output passes every client-side rule.
    assert len(read_zip_listing(tmp_path / "out.zip", max_files=len(TREE))) == len(TREE)
    with zipfile.ZipFile(tmp_path / "out.zip") as zf:
        assert zf.read("ñandú/über.txt") == TREE["ñandú/über.txt"][0]


def test_pack_leaves_no_temporary_files(tmp_path: Path) -> None:
    root = make_tree(tmp_path / "build")
    out = tmp_path / "out"
    out.mkdir()
    pack_directory(root, out / "release.zip")
    assert [p.name for p in out.iterdir()] == ["release.zip"]


# --- what the packer refuses ---------------------------------------------------------------


@pytest.mark.parametrize("kind", ["file", "directory", "dangling"])
def test_symlinks_in_the_build_are_refused(tmp_path: Path, kind: str) -> None:
    root = make_tree(tmp_path / "build")
    target = {"file": root / "app.exe", "directory": root / "lib", "dangling": root / "gone"}[kind]
    symlink(root / "lib" / "link", target)
    for call in (
        lambda: scan_directory(root),
        lambda: pack_directory(root, tmp_path / "out.zip"),
    ):
        assert "link" in refused(PublishError, call).message
    assert not (tmp_path / "out.zip").exists()


@posix_only
def test_special_files_in_the_build_are_refused(tmp_path: Path) -> None:
    root = make_tree(tmp_path / "build")
    os.mkfifo(root / "data" / "pipe")
    assert "pipe" in refused(PublishError, lambda: scan_directory(root)).message


@pytest.mark.parametrize("name", ["aux.txt", "lib/con", "trailing.", "what?.txt", "a:b.txt"])
def test_unsafe_names_in_the_build_are_refused(tmp_path: Path, name: str) -> None:
    root = make_tree(tmp_path / "build")
    try:
        (root / name).write_bytes(b"x")
    except OSError:
        pytest.skip("this file system cannot even create the name")
    if Path(name).name not in {entry.name for entry in (root / name).parent.iterdir()}:
        # Windows writes "aux.txt" to the AUX device and drops a trailing dot.
        pytest.skip("this file system cannot hold the name (it made something else of it)")
    error = refused(PublishError, lambda: scan_directory(root))
    assert repr(name) in error.message
    assert isinstance(error.__cause__, ArchiveError)


def test_case_collisions_in_the_build_are_refused(tmp_path: Path) -> None:
    root = make_tree(tmp_path / "build")
    (root / "App.exe").write_bytes(b"other")
    if len(list(root.glob("*.exe"))) < 2:
        pytest.skip("case-insensitive file system")
    assert "App.exe" in refused(PublishError, lambda: scan_directory(root)).message


def test_empty_build_is_refused(tmp_path: Path) -> None:
    (tmp_path / "build" / "only" / "dirs").mkdir(parents=True)
    assert "no files" in refused(PublishError, lambda: scan_directory(tmp_path / "build")).message
    refused(PublishError, lambda: pack_directory(tmp_path / "build", tmp_path / "out.zip"))
    refused(PublishError, lambda: scan_directory(tmp_path / "missing"))


def test_package_inside_the_build_is_refused(tmp_path: Path) -> None:
    root = make_tree(tmp_path / "build")
    refused(PublishError, lambda: pack_directory(root, root / "lib" / "out.zip"))


def test_unwritable_destination_is_refused(tmp_path: Path) -> None:
    root = make_tree(tmp_path / "build")
    error = refused(PublishError, lambda: pack_directory(root, tmp_path / "no" / "out.zip"))
    assert isinstance(error.__cause__, OSError)


# --- inspect_zip -----------------------------------------------------------------------------


def test_inspect_accepts_directories_but_does_not_list_them(tmp_path: Path) -> None:
    zip_path = tmp_path / "other.zip"
    with zipfile.ZipFile(zip_path, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("bin/", b"")
        zf.writestr("bin/tool.exe", b"tool")
        zf.writestr("empty/", b"")
    assert inspect_zip(zip_path) == FileList((FileEntry("bin/tool.exe", 4, sha256(b"tool")),))


@pytest.mark.parametrize(
    ("entries", "reason"),
    [
        ([("../evil.exe", b"x")], "'../evil.exe'"),
        ([("A.txt", b"1"), ("a.txt", b"2")], "'a.txt'"),
        ([("empty/", b"")], "no files"),
    ],
)
def test_inspect_refuses_bad_zips(
    tmp_path: Path, entries: list[tuple[str, bytes]], reason: str
) -> None:
    zip_path = tmp_path / "other.zip"
    with zipfile.ZipFile(zip_path, "w") as zf:
        for name, data in entries:
            zf.writestr(name, data)
    error = refused(PublishError, lambda: inspect_zip(zip_path))
    assert "other.zip" in error.message
    assert reason in error.message


def test_inspect_refuses_corrupt_zips(tmp_path: Path) -> None:
    zip_path = tmp_path / "broken.zip"
    zip_path.write_bytes(b"PK\x03\x04 but nothing else")
    error = refused(PublishError, lambda: inspect_zip(zip_path))
    assert "broken.zip" in error.message
    assert isinstance(error.__cause__, ArchiveError)


# --- FileList JSON ---------------------------------------------------------------------------

SAMPLE = FileList(
    (
        FileEntry("b/c.txt", 3, sha256(b"abc")),
        FileEntry("a.txt", 0, sha256(b"")),
        FileEntry("ñ.txt", 1, sha256(b"x")),
    )
)


def test_file_list_json_is_canonical_and_round_trips() -> None:
    data = SAMPLE.to_json()
    document = json.loads(data)
    assert data == json.dumps(
        document, sort_keys=True, separators=(",", ":"), ensure_ascii=False
    ).encode("utf-8")
    assert "ñ.txt".encode() in data  # not escaped
    assert document["schema_version"] == 1
    assert document["file_count"] == 3
    assert document["installed_size"] == 4
    assert [f["path"] for f in document["files"]] == ["a.txt", "b/c.txt", "ñ.txt"]
    restored = FileList.from_json(data)
    assert restored.files == tuple(sorted(SAMPLE.files, key=lambda entry: entry.path))
    assert restored.to_json() == data


def document_with(**changes: Any) -> dict[str, Any]:
    document: dict[str, Any] = json.loads(SAMPLE.to_json())
    document.update(changes)
    return document


def with_file(index: int, **changes: Any) -> dict[str, Any]:
    document = document_with()
    document["files"][index].update(changes)
    return document


def without(key: str, index: int | None = None) -> dict[str, Any]:
    document = document_with()
    del (document if index is None else document["files"][index])[key]
    return document


def encode(document: object) -> bytes:
    return json.dumps(document, ensure_ascii=False).encode("utf-8")


EMPTY_SHA = sha256(b"")
BAD_LISTS: dict[str, bytes] = {
    "not json": b"{not json",
    "not utf-8": SAMPLE.to_json().replace("ñ".encode(), b"\xf1"),
    "utf-8 bom": b"\xef\xbb\xbf" + SAMPLE.to_json(),
    "not an object": b"[]",
    "NaN size": SAMPLE.to_json().replace(b'"size":0', b'"size":NaN'),
    "duplicate key": SAMPLE.to_json().replace(
        b'{"file_count":3', b'{"file_count":3,"file_count":3'
    ),
    "missing files": encode(without("files")),
    "missing sha256": encode(without("sha256", 0)),
    "unknown key": encode(document_with(signed_by="me")),
    "unknown file key": encode(with_file(0, mode=0o755)),
    "schema 2": encode(document_with(schema_version=2)),
    "schema true": encode(document_with(schema_version=True)),
    "schema string": encode(document_with(schema_version="1")),
    "files not list": encode(document_with(files={})),
    "file not object": encode(document_with(files=["a.txt"], file_count=1, installed_size=0)),
    "count too high": encode(document_with(file_count=4)),
    "count negative": encode(document_with(file_count=-1)),
    "total wrong": encode(document_with(installed_size=5)),
    "total float": encode(document_with(installed_size=4.0)),
    "negative size": encode(with_file(0, size=-1)),
    "float size": encode(with_file(0, size=0.0)),
    "bool size": encode(with_file(0, size=False)),
    "string size": encode(with_file(0, size="0")),
    "sha uppercase": encode(with_file(0, sha256=EMPTY_SHA.upper())),
    "sha short": encode(with_file(0, sha256=EMPTY_SHA[:-1])),
    "sha long": encode(with_file(0, sha256=EMPTY_SHA + "0")),
    "sha not hex": encode(with_file(0, sha256="g" * 64)),
    "sha not string": encode(with_file(0, sha256=None)),
    "path not string": encode(with_file(0, path=1)),
    "path climbs": encode(with_file(0, path="../a.txt")),
    "path absolute": encode(with_file(0, path="/a.txt")),
    "path device": encode(with_file(0, path="nul.txt")),
    "path directory": encode(with_file(0, path="a/")),
    "duplicate path": encode(with_file(0, path="b/c.txt")),
    "case duplicate": encode(with_file(0, path="B/C.TXT")),
    "file and directory": encode(with_file(0, path="b")),
}


@pytest.mark.parametrize("data", BAD_LISTS.values(), ids=BAD_LISTS.keys())
def test_file_list_from_json_refuses(data: bytes) -> None:
    error = refused(ManifestError, lambda: FileList.from_json(data))
    assert error.message.startswith("The file list is not valid")


def test_file_list_refusals_name_the_path() -> None:
    error = refused(ManifestError, lambda: FileList.from_json(BAD_LISTS["path climbs"]))
    assert "../a.txt" in error.message
    assert isinstance(error.__cause__, ArchiveError)
    error = refused(ManifestError, lambda: FileList.from_json(BAD_LISTS["negative size"]))
    assert "a.txt" in error.message


# --- large files -----------------------------------------------------------------------------


@pytest.mark.slow
def test_large_file_is_streamed(tmp_path: Path) -> None:
    root = tmp_path / "build"
    root.mkdir()
    block = b"".join(hashlib.sha256(i.to_bytes(4, "little")).digest() for i in range(2048))
    digest = hashlib.sha256()
    with (root / "big.bin").open("wb") as stream:
        for _ in range(50 * 1024 * 1024 // len(block)):
            stream.write(block)
            digest.update(block)

    tracemalloc.start()
    try:
        packed = pack_directory(root, tmp_path / "big.zip")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()

    assert packed.files == (FileEntry("big.bin", 50 * 1024 * 1024, digest.hexdigest()),)
    assert peak < 10 * 1024 * 1024, f"peak traced memory {peak} bytes"
    assert inspect_zip(tmp_path / "big.zip") == packed
