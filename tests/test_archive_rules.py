"""The hostile-archive rules (updater.install.archive, updater.names), with real zip files."""

from __future__ import annotations

import hashlib
import stat
import struct
import zipfile
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.zipkit import Entry, entry_info, make_zip
from updater.errors import ArchiveError
from updater.install.archive import hash_zip_member, list_members, open_zip, read_zip_listing
from updater.names import PathIndex, validate_entry_name

# --- helpers ---------------------------------------------------------------------------------


def patch_sizes(path: Path, *, uncompressed: int) -> None:
    """Overwrite the declared uncompressed size of the only member in both its headers."""
    data = bytearray(path.read_bytes())
    local = data.index(b"PK\x03\x04")
    central = data.index(b"PK\x01\x02")
    struct.pack_into("<I", data, local + 22, uncompressed)
    struct.pack_into("<I", data, central + 24, uncompressed)
    path.write_bytes(bytes(data))


def refused(call: Callable[[], object]) -> ArchiveError:
    """Run ``call`` and return the ArchiveError it must raise."""
    with pytest.raises(ArchiveError) as caught:
        call()
    assert type(caught.value) is ArchiveError
    assert caught.value.code == "archive"
    return caught.value


def assert_names(error: ArchiveError, name: str) -> None:
    """The message names the entry (quoted with repr, so control characters show)."""
    assert repr(name) in error.message, error.message


# --- validate_entry_name: one test per rule family -----------------------------------------

GOOD_NAMES = {
    "app.exe": "app.exe",
    "bin/app.exe": "bin/app.exe",
    "dir/": "dir",
    "dir/sub/": "dir/sub",
    ".hidden": ".hidden",
    "a..b/c.d.e": "a..b/c.d.e",
    "a b/c d.txt": "a b/c d.txt",
    "ñandú/über 日本.txt": "ñandú/über 日本.txt",
    "console.exe": "console.exe",
    "auxiliary/nullable.txt": "auxiliary/nullable.txt",
    "COM10.txt": "COM10.txt",
    "LPT.txt": "LPT.txt",
    "CONIN.txt": "CONIN.txt",
    "x" * 255: "x" * 255,
}


@pytest.mark.parametrize(("name", "expected"), GOOD_NAMES.items())
def test_good_names_are_returned_normalised(name: str, expected: str) -> None:
    assert validate_entry_name(name) == expected


BAD_NAMES = {
    "empty": [""],
    "absolute": ["/etc/passwd", "/", "/a/"],
    "backslash": ["a\\b", "..\\evil.exe", "\\x", "dir\\"],
    "drive letter": ["C:x", "C:/Windows/x", "c:\\x", "z:"],
    "UNC": ["\\\\server\\share\\x", "//server/share/x", "\\\\?\\C:\\x"],
    "dot components": ["..", ".", "../x", "a/../b", "a/..", "./a", "a/./b", "a/../../x"],
    "empty components": ["a//b", "a//", "dir/sub//"],
    "device names": [
        "CON",
        "con",
        "Con.txt",
        "a/nul.tar.gz",
        "AUX/x.txt",
        "prn.log",
        "COM1",
        "com9.dll",
        "LPT1",
        "lpt9.x",
        "COM¹",
        "com².txt",
        "LPT³",
        "CONIN$",
        "conout$.txt",
        "NUL .txt",
    ],
    "trailing dot or space": ["a.", "a ", "dir./x", "dir /x", "...", "x/y. "],
    "alternate data streams": ["a.exe:x", "a:b", "dir/file:$DATA", "a.exe::$DATA"],
    "control characters": ["a\x00b", "a\x01", "a\x1fb", "line\nbreak", "tab\there", "del\x7f"],
    "forbidden characters": ["a<b", "a>b", 'a"b', "a|b", "a?b", "a*b", "dir/what?.txt"],
    "not unicode": ["bad\udcffname"],
    "too long": ["x" * 256, "dir/" + "é" * 256],
}


@pytest.mark.parametrize(
    "name",
    [
        pytest.param(name, id=f"{family}-{name!r}")
        for family, names in BAD_NAMES.items()
        for name in names
    ],
)
def test_bad_names_are_refused(name: str) -> None:
    error = refused(lambda: validate_entry_name(name))
    assert_names(error, name)


# --- PathIndex: collisions -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("first", "second", "named"),
    [
        (("a.txt", False), ("a.txt", False), "a.txt"),  # duplicate
        (("A.txt", False), ("a.txt", False), "a.txt"),  # letter case
        (("Straße.txt", False), ("STRASSE.txt", False), "STRASSE.txt"),  # casefold
        (("caf\u00e9.txt", False), ("cafe\u0301.txt", False), "cafe\u0301.txt"),  # NFC/NFD
        (("Docs/a.txt", False), ("docs/b.txt", False), "docs"),  # a parent directory's case
        (("a", False), ("a/b", False), "a"),  # file, then used as a directory
        (("a/b", False), ("a", False), "a"),  # directory, then used as a file
        (("a", False), ("a/", True), "a"),  # file and explicit directory
        (("a/", True), ("A/", True), "A"),  # explicit directories in two cases
    ],
)
def test_path_index_refuses_collisions(
    first: tuple[str, bool], second: tuple[str, bool], named: str
) -> None:
    index = PathIndex()
    index.add(validate_entry_name(first[0]), is_dir=first[1])
    error = refused(lambda: index.add(validate_entry_name(second[0]), is_dir=second[1]))
    assert_names(error, named)


def test_path_index_accepts_a_normal_tree() -> None:
    index = PathIndex()
    index.add("dir", is_dir=True)
    for path in ("dir/a.txt", "dir/sub/b.txt", "dir.txt", "other/a.txt"):
        index.add(path)


# --- read_zip_listing ----------------------------------------------------------------------


def test_listing_of_a_good_zip(tmp_path: Path) -> None:
    zip_path = make_zip(
        tmp_path / "good.zip",
        [
            ("bin/", b""),
            ("bin/app.exe", b"MZ" * 100),
            (entry_info("run.sh", mode=stat.S_IFREG | 0o755), b"#!/bin/sh\n"),
            (entry_info("data/", mode=stat.S_IFDIR | 0o755, dos_attr=0x10), b""),
            (entry_info("data/windows.txt", dos_attr=0x20), b"made on Windows"),
        ],
    )
    members = read_zip_listing(zip_path, max_files=3, max_total_size=225)
    assert [(m.path, m.size, m.is_dir) for m in members] == [
        ("bin", 0, True),
        ("bin/app.exe", 200, False),
        ("run.sh", 10, False),
        ("data", 0, True),
        ("data/windows.txt", 15, False),
    ]
    assert members[1].zipinfo.filename == "bin/app.exe"


@pytest.mark.parametrize(
    ("entries", "culprit"),
    [
        ([("../evil.exe", b"x")], "../evil.exe"),
        ([("ok.txt", b""), ("dir\\evil.exe", b"x")], "dir\\evil.exe"),
        ([("C:/evil.exe", b"x")], "C:/evil.exe"),
        ([("app.exe:hidden", b"x")], "app.exe:hidden"),
        ([("aux.dll", b"x")], "aux.dll"),
        ([(entry_info("link", mode=0o120777), b"/etc/passwd")], "link"),
        ([(entry_info("fifo", mode=stat.S_IFIFO | 0o644), b"")], "fifo"),
        ([(entry_info("dev", mode=stat.S_IFCHR | 0o644), b"")], "dev"),
        ([(entry_info("junction", dos_attr=0x400 | 0x10), b"")], "junction"),
        ([(entry_info("notadir", mode=stat.S_IFDIR | 0o755), b"")], "notadir"),
        ([(entry_info("d/", mode=stat.S_IFREG | 0o644), b"")], "d/"),
        ([("d/", b"content in a directory")], "d/"),
        ([("a.txt", b"1"), ("a.txt", b"2")], "a.txt"),
        ([("A.txt", b"1"), ("a.txt", b"2")], "a.txt"),
        ([("lib", b"file"), ("lib/x.dll", b"x")], "lib"),
        ([("lib/x.dll", b"x"), ("lib", b"file")], "lib"),
        ([("lib/", b""), ("LIB", b"file")], "LIB"),
    ],
)
def test_listing_refuses_hostile_entries(
    tmp_path: Path, entries: list[Entry], culprit: str
) -> None:
    zip_path = make_zip(tmp_path / "hostile.zip", entries)
    assert_names(refused(lambda: read_zip_listing(zip_path)), culprit)


def test_listing_refuses_a_nul_in_a_stored_name(tmp_path: Path) -> None:
    # zipfile cuts ``filename`` at a NUL; the rules must see the name as stored.
    # (Not "nul.zip": on Windows that name is the NUL device, and the zip would vanish.)
    zip_path = make_zip(tmp_path / "stored-nul.zip", [("evilXname.exe", b"x")])
    zip_path.write_bytes(zip_path.read_bytes().replace(b"evilXname", b"evil\x00name"))
    assert_names(refused(lambda: read_zip_listing(zip_path)), "evil\x00name.exe")


def test_listing_refuses_encrypted_entries(tmp_path: Path) -> None:
    zip_path = tmp_path / "encrypted.zip"
    with zipfile.ZipFile(zip_path, "w") as zf:
        zf.writestr("secret.txt", b"x")
        zf.getinfo("secret.txt").flag_bits |= 0x1  # written into the central directory
    assert_names(refused(lambda: read_zip_listing(zip_path)), "secret.txt")


@pytest.mark.parametrize("compression", [zipfile.ZIP_BZIP2, zipfile.ZIP_LZMA])
def test_listing_refuses_other_compression_methods(tmp_path: Path, compression: int) -> None:
    zip_path = make_zip(tmp_path / "method.zip", [("a.txt", b"abc")], compression=compression)
    assert_names(refused(lambda: read_zip_listing(zip_path)), "a.txt")


def test_listing_refuses_too_many_files(tmp_path: Path) -> None:
    zip_path = make_zip(
        tmp_path / "many.zip", [("d/", b"")] + [(f"{i}.txt", b"") for i in range(4)]
    )
    assert len(read_zip_listing(zip_path, max_files=4)) == 5  # directories do not count
    assert_names(refused(lambda: read_zip_listing(zip_path, max_files=3)), "3.txt")


def test_listing_refuses_a_declared_total_over_the_limit(tmp_path: Path) -> None:
    zip_path = make_zip(tmp_path / "big.zip", [("a.bin", b"\0" * 60), ("b.bin", b"\0" * 60)])
    assert len(read_zip_listing(zip_path, max_total_size=120)) == 2
    assert_names(refused(lambda: read_zip_listing(zip_path, max_total_size=119)), "b.bin")
    # A bomb that declares a huge size is refused from its directory alone.
    patch_sizes(bomb := make_zip(tmp_path / "bomb.zip", [("x", b"\0" * 60)]), uncompressed=2**31)
    assert_names(refused(lambda: read_zip_listing(bomb, max_total_size=2**30)), "x")


@pytest.mark.parametrize(
    "damage",
    [
        pytest.param(lambda data: b"this is not a zip file at all" * 10, id="not-a-zip"),
        pytest.param(lambda data: b"", id="empty-file"),
        pytest.param(lambda data: data[: len(data) - 30], id="truncated-end"),
        pytest.param(lambda data: data[: len(data) // 2], id="truncated-half"),
    ],
)
def test_listing_refuses_corrupt_files(tmp_path: Path, damage: Callable[[bytes], bytes]) -> None:
    zip_path = make_zip(tmp_path / "package.zip", [("a.txt", b"hello" * 50), ("b.txt", b"b")])
    zip_path.write_bytes(damage(zip_path.read_bytes()))
    error = refused(lambda: read_zip_listing(zip_path))
    assert "package.zip" in error.message
    assert isinstance(error.__cause__, zipfile.BadZipFile)


def test_listing_refuses_a_missing_file(tmp_path: Path) -> None:
    error = refused(lambda: read_zip_listing(tmp_path / "missing.zip"))
    assert "missing.zip" in error.message
    assert isinstance(error.__cause__, FileNotFoundError)


# --- hash_zip_member -------------------------------------------------------------------------


def test_hash_of_a_good_member(tmp_path: Path) -> None:
    data = bytes(range(256)) * 1000  # several chunks
    zip_path = make_zip(tmp_path / "good.zip", [("a.bin", data)])
    with open_zip(zip_path) as zf:
        (member,) = list_members(zf)
        size, digest = hash_zip_member(zf, member.zipinfo, max_size=len(data))
    assert (size, digest) == (len(data), hashlib.sha256(data).hexdigest())


def test_hash_refuses_a_member_over_max_size(tmp_path: Path) -> None:
    zip_path = make_zip(tmp_path / "big.zip", [("big.bin", b"\0" * 1000)])
    with open_zip(zip_path) as zf:
        info = zf.getinfo("big.bin")
        assert_names(refused(lambda: hash_zip_member(zf, info, max_size=999)), "big.bin")


@pytest.mark.parametrize("compression", [zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED])
def test_hash_refuses_a_stream_longer_than_declared(tmp_path: Path, compression: int) -> None:
    # A bomb: the headers declare 10 bytes but the data inflates to 100 000.
    zip_path = make_zip(
        tmp_path / "bomb.zip", [("bomb.bin", b"\0" * 100_000)], compression=compression
    )
    patch_sizes(zip_path, uncompressed=10)
    with open_zip(zip_path) as zf:
        (member,) = list_members(zf, max_total_size=10)
        error = refused(lambda: hash_zip_member(zf, member.zipinfo, max_size=10**9))
    assert_names(error, "bomb.bin")


def test_hash_refuses_a_stream_shorter_than_declared(tmp_path: Path) -> None:
    zip_path = make_zip(tmp_path / "short.zip", [("short.bin", b"abc" * 100)], compression=0)
    patch_sizes(zip_path, uncompressed=600)  # stored data is only 300 bytes, CRC still fits
    with open_zip(zip_path) as zf:
        info = zf.getinfo("short.bin")
        assert_names(refused(lambda: hash_zip_member(zf, info, max_size=10**9)), "short.bin")


def test_hash_refuses_damaged_data(tmp_path: Path) -> None:
    data = b"The quick brown fox jumps over the lazy dog. " * 200
    zip_path = make_zip(tmp_path / "damaged.zip", [("fox.txt", data)])
    raw = bytearray(zip_path.read_bytes())
    raw[60] ^= 0xFF  # inside the deflated data of the only member
    zip_path.write_bytes(bytes(raw))
    with open_zip(zip_path) as zf:
        info = zf.getinfo("fox.txt")
        error = refused(lambda: hash_zip_member(zf, info, max_size=10**9))
    assert_names(error, "fox.txt")
    assert error.__cause__ is not None


def test_hash_refuses_encrypted_members(tmp_path: Path) -> None:
    zip_path = tmp_path / "encrypted.zip"
    with zipfile.ZipFile(zip_path, "w") as zf:
        zf.writestr("secret.txt", b"x")
        zf.getinfo("secret.txt").flag_bits |= 0x1
    with open_zip(zip_path) as zf:
        info = zf.getinfo("secret.txt")
        assert_names(refused(lambda: hash_zip_member(zf, info, max_size=10)), "secret.txt")
