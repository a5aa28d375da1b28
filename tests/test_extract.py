"""The safe extractor and tree check of updater.install.archive, with real zips and files."""

from __future__ import annotations

import errno
import hashlib
import io
import itertools
import os
import random
import stat
import struct
import sys
import zipfile
from collections.abc import Callable, Sequence
from pathlib import Path

import pytest

from tests.links import symlink
from tests.zipkit import Entry, entry_info, make_zip
from updater.errors import ArchiveError
from updater.fsutil import remove_tree
from updater.install import archive
from updater.install.archive import ExtractLimits, ProgressCallback, extract_zip, verify_tree
from updater.install.filelist import FileEntry, FileList
from updater.platform import current as current_platform
from updater.publish.pack import pack_directory, scan_directory

POSIX = pytest.mark.skipif(sys.platform == "win32", reason="POSIX permission bits")

# --- helpers ---------------------------------------------------------------------------------


def file_entry(path: str, data: bytes) -> FileEntry:
    return FileEntry(path, len(data), hashlib.sha256(data).hexdigest())


def listing(entries: Sequence[Entry]) -> FileList:
    """The file list that describes exactly the file entries of ``entries``, names as given."""
    files = []
    for name, data in entries:
        path = name.filename if isinstance(name, zipfile.ZipInfo) else name
        if not path.endswith("/"):
            files.append(file_entry(path, data))
    return FileList(tuple(sorted(files, key=lambda entry: entry.path)))


def patch_sizes(path: Path, member: str, *, uncompressed: int) -> None:
    """Overwrite the declared uncompressed size of ``member`` in both of its headers."""
    data = bytearray(path.read_bytes())
    name = member.encode()
    local = data.index(b"PK\x03\x04")
    while data[local + 30 : local + 30 + len(name)] != name:
        local = data.index(b"PK\x03\x04", local + 4)
    central = data.index(b"PK\x01\x02")
    while data[central + 46 : central + 46 + len(name)] != name:
        central = data.index(b"PK\x01\x02", central + 4)
    struct.pack_into("<I", data, local + 22, uncompressed)
    struct.pack_into("<I", data, central + 24, uncompressed)
    path.write_bytes(bytes(data))


def refused(call: Callable[[], object]) -> ArchiveError:
    """Run ``call`` and return the ArchiveError it must raise."""
    with pytest.raises(ArchiveError) as caught:
        call()
    assert type(caught.value) is ArchiveError
    return caught.value


def assert_names(error: ArchiveError, name: str) -> None:
    """The message names the entry (quoted with repr, so control characters show)."""
    assert repr(name) in error.message, error.message


def refused_extraction(
    zip_path: Path,
    dest: Path,
    expected: FileList,
    *,
    progress: ProgressCallback | None = None,
    limits: ExtractLimits | None = None,
) -> ArchiveError:
    """Extract, expect an ArchiveError, and check that nothing of ``dest`` is left."""
    error = refused(lambda: extract_zip(zip_path, dest, expected, progress=progress, limits=limits))
    assert not os.path.lexists(dest), "a refused package must leave no folder behind"
    return error


def make_tree(root: Path, *, files: int = 300, seed: int = 7) -> dict[str, bytes]:
    """A build folder of ``files`` files in nested folders; returns path -> content."""
    rng = random.Random(seed)
    contents: dict[str, bytes] = {}
    folders = ["", "bin", "lib", "lib/plugins", "lib/plugins/extra", "data/é/ñ", "Docs/Manual"]
    for number in range(files):
        folder = folders[number % len(folders)]
        size = rng.choice([0, 1, 100, 4096, 70_000]) if number % 50 else 300_000
        data = rng.randbytes(size) if number % 3 else bytes(size // 2) + b"x" * (size - size // 2)
        path = f"{folder}/file{number:03}.bin" if folder else f"file{number:03}.bin"
        contents[path] = data
        target = root / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
    return contents


@pytest.fixture(scope="module")
def release(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, FileList, dict[str, bytes]]:
    """A packed build of 300 files (with an executable) and its file list."""
    base = tmp_path_factory.mktemp("release")
    build = base / "build"
    contents = make_tree(build)
    (build / "bin" / "run.sh").write_bytes(b"#!/bin/sh\necho hello\n")
    (build / "bin" / "run.sh").chmod(0o755)
    contents["bin/run.sh"] = b"#!/bin/sh\necho hello\n"
    zip_path = base / "release.zip"
    file_list = pack_directory(build, zip_path)
    return zip_path, file_list, contents


# --- the happy path --------------------------------------------------------------------------


def test_round_trip_of_a_packed_build(
    release: tuple[Path, FileList, dict[str, bytes]], tmp_path: Path
) -> None:
    zip_path, file_list, contents = release
    assert file_list.file_count == 301
    dest = tmp_path / "staging" / "app"  # parents are created
    calls: list[tuple[int, int]] = []
    extract_zip(zip_path, dest, file_list, progress=lambda done, total: calls.append((done, total)))

    verify_tree(dest, file_list)
    assert scan_directory(dest) == file_list
    for path, data in contents.items():
        assert (dest / path).read_bytes() == data, path
    # Progress: starts at 0, grows after each chunk, ends exactly at the total.
    total = file_list.installed_size
    assert calls[0] == (0, total)
    assert calls[-1] == (total, total)
    assert all(seen_total == total for _done, seen_total in calls)
    done = [seen for seen, _total in calls]
    assert done == sorted(done)
    assert len(calls) > file_list.file_count  # several calls for files bigger than a chunk
    assert max(after - before for before, after in itertools.pairwise(done)) <= archive.CHUNK_SIZE


def test_a_durable_extraction_flushes_the_whole_tree_once_after_the_last_file(
    release: tuple[Path, FileList, dict[str, bytes]],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    zip_path, file_list, _contents = release
    flushed: list[tuple[Path, list[Path], list[Path]]] = []
    real_flush = current_platform.flush_tree

    def flush_tree(root: Path, files: Sequence[Path], folders: Sequence[Path]) -> None:
        verify_tree(root, file_list)  # every file is complete before the one flush
        flushed.append((root, list(files), list(folders)))
        real_flush(root, files, folders)

    synced: list[int] = []
    monkeypatch.setattr(os, "fsync", synced.append)
    monkeypatch.setattr(current_platform, "flush_tree", flush_tree)
    extract_zip(zip_path, tmp_path / "fast", file_list, durable=False)
    assert flushed == []
    verify_tree(tmp_path / "fast", file_list)

    dest = tmp_path / "durable"
    extract_zip(zip_path, dest, file_list)
    assert len(flushed) == 1
    root, files, folders = flushed[0]
    assert root == dest
    assert sorted(f.relative_to(dest).as_posix() for f in files) == sorted(
        entry.path for entry in file_list.files
    )
    made = {p for p in dest.rglob("*") if p.is_dir()} | {dest}
    assert set(folders) == made and folders[-1] == dest  # every new folder, the root last
    assert all(a.parent != b for i, a in enumerate(folders) for b in folders[:i])  # child first


def test_progress_of_an_empty_package_reaches_its_total(tmp_path: Path) -> None:
    entries: list[Entry] = [("empty.txt", b"")]
    zip_path = make_zip(tmp_path / "p.zip", entries)
    calls: list[tuple[int, int]] = []
    extract_zip(zip_path, tmp_path / "d", listing(entries), progress=lambda *c: calls.append(c))
    assert calls == [(0, 0)]
    assert (tmp_path / "d" / "empty.txt").read_bytes() == b""


def test_directory_entries_create_folders(tmp_path: Path) -> None:
    entries: list[Entry] = [
        ("logs/", b""),
        (entry_info("cache/tmp/", mode=stat.S_IFDIR | 0o777), b""),
        ("bin/", b""),
        ("bin/app.exe", b"MZ"),
    ]
    dest = tmp_path / "d"
    extract_zip(make_zip(tmp_path / "p.zip", entries), dest, listing(entries))
    assert (dest / "logs").is_dir()
    assert (dest / "cache" / "tmp").is_dir()
    assert (dest / "bin" / "app.exe").read_bytes() == b"MZ"
    verify_tree(dest, listing(entries))  # empty folders are not files


@POSIX
def test_only_the_execute_bit_is_kept(tmp_path: Path) -> None:
    entries: list[Entry] = [
        (entry_info("run.sh", mode=stat.S_IFREG | 0o744), b"#!/bin/sh\n"),
        (entry_info("suid", mode=stat.S_IFREG | stat.S_ISUID | stat.S_ISGID | 0o4777), b"x"),
        (entry_info("sticky", mode=stat.S_IFREG | stat.S_ISVTX | 0o777), b"y"),
        (entry_info("plain.txt", mode=stat.S_IFREG | 0o666), b"z"),
        (entry_info("secret.txt", mode=stat.S_IFREG | 0o000), b"s"),
        ("windows.txt", b"no unix mode"),
    ]
    dest = tmp_path / "d"
    extract_zip(make_zip(tmp_path / "p.zip", entries), dest, listing(entries))

    def mode(name: str) -> int:
        return stat.S_IMODE((dest / name).stat().st_mode)

    for name in ("run.sh", "suid", "sticky"):
        assert mode(name) == 0o755, name
    umask_mode = 0o666 & ~_umask()
    for name in ("plain.txt", "secret.txt", "windows.txt"):
        assert mode(name) == umask_mode, name  # zip permissions are not copied


@POSIX
def test_packed_executable_keeps_its_bit(
    release: tuple[Path, FileList, dict[str, bytes]], tmp_path: Path
) -> None:
    zip_path, file_list, _contents = release
    extract_zip(zip_path, tmp_path / "d", file_list, durable=False)
    assert stat.S_IMODE((tmp_path / "d" / "bin" / "run.sh").stat().st_mode) == 0o755
    assert not (tmp_path / "d" / "bin" / "file001.bin").stat().st_mode & 0o111


def _umask() -> int:
    current = os.umask(0o022)
    os.umask(current)
    return current


# --- hostile packages: refused as a whole, nothing left -----------------------------------------


@pytest.mark.parametrize(
    ("bad", "culprit"),
    [
        pytest.param(("../x", b"x"), "../x", id="parent"),
        pytest.param(("/etc/x", b"x"), "/etc/x", id="absolute"),
        pytest.param(("C:x", b"x"), "C:x", id="drive-relative"),
        pytest.param(("C:/x", b"x"), "C:/x", id="drive"),
        pytest.param(("dir\\x.exe", b"x"), "dir\\x.exe", id="backslash"),
        pytest.param(("CON.txt", b"x"), "CON.txt", id="device"),
        pytest.param(("lib/nul", b"x"), "lib/nul", id="device-in-folder"),
        pytest.param(("trailing.", b"x"), "trailing.", id="trailing-dot"),
        pytest.param(("trailing ", b"x"), "trailing ", id="trailing-space"),
        pytest.param(("a.exe:stream", b"x"), "a.exe:stream", id="ads"),
        pytest.param(
            (entry_info("link", mode=stat.S_IFLNK | 0o777), b"/etc/passwd"), "link", id="symlink"
        ),
        pytest.param(
            (entry_info("fifo", mode=stat.S_IFIFO | 0o644), b""), "fifo", id="special-file"
        ),
    ],
)
def test_hostile_names_and_types_refuse_the_whole_package(
    tmp_path: Path, bad: Entry, culprit: str
) -> None:
    entries: list[Entry] = [("ok/first.txt", b"fine"), bad, ("ok/last.txt", b"fine too")]
    zip_path = make_zip(tmp_path / "hostile.zip", entries)
    dest = tmp_path / "out" / "app"
    error = refused_extraction(zip_path, dest, listing(entries))
    assert_names(error, culprit)
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["hostile.zip", "out"]


def test_encrypted_entry_is_refused(tmp_path: Path) -> None:
    zip_path = tmp_path / "encrypted.zip"
    with zipfile.ZipFile(zip_path, "w") as zf:
        zf.writestr("ok.txt", b"fine")
        zf.writestr("secret.txt", b"x")
        zf.getinfo("secret.txt").flag_bits |= 0x1  # written into the central directory
    expected = FileList((file_entry("ok.txt", b"fine"), file_entry("secret.txt", b"x")))
    assert_names(refused_extraction(zip_path, tmp_path / "d", expected), "secret.txt")


@pytest.mark.parametrize(
    ("entries", "culprit"),
    [
        pytest.param([("a.txt", b"1"), ("a.txt", b"1")], "a.txt", id="duplicate"),
        pytest.param([("App.exe", b"1"), ("app.exe", b"2")], "app.exe", id="case"),
        pytest.param([("Lib/a.dll", b"1"), ("lib/b.dll", b"2")], "lib", id="case-in-folder"),
        pytest.param(
            [("caf\u00e9.txt", b"1"), ("cafe\u0301.txt", b"2")], "cafe\u0301.txt", id="nfc"
        ),
    ],
)
def test_colliding_names_are_refused(tmp_path: Path, entries: list[Entry], culprit: str) -> None:
    zip_path = make_zip(tmp_path / "collide.zip", entries)
    expected = FileList(
        tuple({e.path: e for e in listing(entries).files}.values())  # as the list would say
    )
    assert_names(refused_extraction(zip_path, tmp_path / "d", expected), culprit)


def test_corrupt_crc_is_refused_after_good_files_were_written(tmp_path: Path) -> None:
    data = b"The quick brown fox jumps over the lazy dog. " * 2000
    entries: list[Entry] = [("a/good.txt", data), ("b/fox.txt", data)]
    zip_path = make_zip(tmp_path / "crc.zip", entries, compression=zipfile.ZIP_STORED)
    raw = bytearray(zip_path.read_bytes())
    second = raw.index(b"PK\x03\x04", 4)
    raw[second + 30 + len("b/fox.txt") + 5000] ^= 0xFF  # inside the stored data of fox.txt
    zip_path.write_bytes(bytes(raw))
    written: list[int] = []
    error = refused_extraction(
        zip_path, tmp_path / "d", listing(entries), progress=lambda done, _t: written.append(done)
    )
    assert_names(error, "b/fox.txt")
    assert isinstance(error.__cause__, zipfile.BadZipFile)
    assert max(written) >= len(data)  # good.txt was complete before the refusal


@pytest.mark.parametrize(
    "damage",
    [
        pytest.param(lambda data: data[: len(data) - 30], id="truncated-end"),
        pytest.param(lambda data: data[: len(data) // 2], id="truncated-half"),
        pytest.param(lambda data: b"", id="empty"),
    ],
)
def test_truncated_zip_is_refused(tmp_path: Path, damage: Callable[[bytes], bytes]) -> None:
    entries: list[Entry] = [("a.txt", b"hello" * 5000), ("b.txt", b"b")]
    zip_path = make_zip(tmp_path / "package.zip", entries)
    zip_path.write_bytes(damage(zip_path.read_bytes()))
    error = refused_extraction(zip_path, tmp_path / "d", listing(entries))
    assert "package.zip" in error.message
    assert isinstance(error.__cause__, zipfile.BadZipFile)


def test_missing_zip_is_refused(tmp_path: Path) -> None:
    error = refused_extraction(tmp_path / "gone.zip", tmp_path / "d", listing([("a", b"")]))
    assert "gone.zip" in error.message
    assert isinstance(error.__cause__, FileNotFoundError)


def test_more_files_than_expected_are_refused(tmp_path: Path) -> None:
    entries: list[Entry] = [("a.txt", b"a"), ("b.txt", b"b"), ("c.txt", b"c")]
    zip_path = make_zip(tmp_path / "many.zip", entries)
    expected = listing(entries[:2])
    assert_names(refused_extraction(zip_path, tmp_path / "d", expected), "c.txt")


def test_total_size_over_installed_size_is_refused(tmp_path: Path) -> None:
    entries: list[Entry] = [("a.bin", b"\0" * 10), ("b.bin", b"\0" * 100)]
    zip_path = make_zip(tmp_path / "big.zip", entries)
    expected = FileList((file_entry("a.bin", b"\0" * 10), file_entry("b.bin", b"\0" * 10)))
    assert_names(refused_extraction(zip_path, tmp_path / "d", expected), "b.bin")


def test_limits_from_the_manifest_apply(tmp_path: Path) -> None:
    entries: list[Entry] = [("a.bin", b"a" * 10), ("b.bin", b"b" * 10)]
    zip_path = make_zip(tmp_path / "p.zip", entries)
    expected = listing(entries)
    assert ExtractLimits.of(expected) == ExtractLimits(max_files=2, max_total_size=20)
    tight = ExtractLimits(max_files=2, max_total_size=19)
    error = refused_extraction(zip_path, tmp_path / "d", expected, limits=tight)
    assert_names(error, "b.bin")
    error = refused_extraction(zip_path, tmp_path / "d", expected, limits=ExtractLimits(1, 20))
    assert_names(error, "b.bin")


MEGABYTE_OF_ZEROS = b"\0" * 1_000_000


def test_zip_bomb_bigger_than_its_list_entry_is_refused(tmp_path: Path) -> None:
    # The member inflates to 1 MB; the signed list says 10 bytes.
    zip_path = make_zip(tmp_path / "bomb.zip", [("bomb.bin", MEGABYTE_OF_ZEROS)])
    assert zip_path.stat().st_size < 5_000
    expected = FileList((FileEntry("bomb.bin", 10, "0" * 64),))
    assert_names(refused_extraction(zip_path, tmp_path / "d", expected), "bomb.bin")


def test_zip_bomb_hidden_behind_a_balanced_total_is_refused(tmp_path: Path) -> None:
    # Same total as the list, but the bomb declares 1 MB where the list says 10 bytes.
    entries: list[Entry] = [("bomb.bin", MEGABYTE_OF_ZEROS), ("pad.bin", b"p" * 10)]
    zip_path = make_zip(tmp_path / "bomb.zip", entries)
    expected = FileList(
        (FileEntry("bomb.bin", 10, "0" * 64), FileEntry("pad.bin", 1_000_000, "0" * 64))
    )
    written: list[int] = []
    error = refused_extraction(
        zip_path, tmp_path / "d", expected, progress=lambda done, _t: written.append(done)
    )
    assert_names(error, "bomb.bin")
    assert written == [0]  # refused from the directory, before a byte was written


@pytest.mark.parametrize("compression", [zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED])
def test_zip_bomb_lying_about_its_size_is_refused(tmp_path: Path, compression: int) -> None:
    # Headers and list both say 10 bytes; the data inflates to 1 MB.
    zip_path = make_zip(
        tmp_path / "bomb.zip", [("bomb.bin", MEGABYTE_OF_ZEROS)], compression=compression
    )
    patch_sizes(zip_path, "bomb.bin", uncompressed=10)
    expected = FileList((file_entry("bomb.bin", MEGABYTE_OF_ZEROS[:10]),))
    written: list[int] = []
    error = refused_extraction(
        zip_path, tmp_path / "d", expected, progress=lambda done, _t: written.append(done)
    )
    assert_names(error, "bomb.bin")
    assert max(written) <= 10


def test_writing_stops_at_the_expected_size_even_if_zipfile_does_not(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Do not rely on zipfile alone: a stream that goes on is cut at the listed size.
    entries: list[Entry] = [("bomb.bin", b"0123456789")]
    zip_path = make_zip(tmp_path / "bomb.zip", entries)
    monkeypatch.setattr(
        zipfile.ZipFile, "open", lambda self, info: io.BytesIO(MEGABYTE_OF_ZEROS * 3)
    )
    written: list[int] = []
    error = refused_extraction(
        zip_path, tmp_path / "d", listing(entries), progress=lambda done, _t: written.append(done)
    )
    assert_names(error, "bomb.bin")
    assert "more than 10 bytes" in error.message
    assert written == [0]


def test_right_size_but_wrong_content_is_refused(tmp_path: Path) -> None:
    entries: list[Entry] = [("a.txt", b"good"), ("b.dll", b"evil code!")]
    zip_path = make_zip(tmp_path / "p.zip", entries)
    expected = FileList((file_entry("a.txt", b"good"), file_entry("b.dll", b"good code!")))
    error = refused_extraction(zip_path, tmp_path / "d", expected)
    assert_names(error, "b.dll")
    assert "SHA-256" in error.message


def test_extra_file_not_in_the_list_is_refused(tmp_path: Path) -> None:
    entries: list[Entry] = [("a.txt", b"a"), ("payload.exe", b"MZ")]
    zip_path = make_zip(tmp_path / "p.zip", entries)
    expected = FileList((file_entry("a.txt", b"a"), file_entry("b.txt", b"MZ")))
    error = refused_extraction(zip_path, tmp_path / "d", expected)
    assert_names(error, "payload.exe")
    assert_names(error, "b.txt")  # and the one that is missing


def test_missing_file_is_refused(tmp_path: Path) -> None:
    entries: list[Entry] = [("a.txt", b"a")]
    zip_path = make_zip(tmp_path / "p.zip", entries)
    expected = FileList((file_entry("a.txt", b"a"), file_entry("lib/needed.dll", b"")))
    error = refused_extraction(zip_path, tmp_path / "d", expected)
    assert_names(error, "lib/needed.dll")
    assert "missing" in error.message


def test_many_differences_name_the_first_few(tmp_path: Path) -> None:
    entries: list[Entry] = [(f"extra{i:02}.txt", b"") for i in range(12)]
    zip_path = make_zip(tmp_path / "p.zip", entries)
    expected = FileList((file_entry("wanted.txt", b""),))
    error = refused_extraction(zip_path, tmp_path / "d", expected, limits=ExtractLimits(12, 0))
    assert_names(error, "extra00.txt")
    assert "extra11.txt" not in error.message
    assert "and 7 more" in error.message


def test_name_differing_from_the_list_only_in_case_is_refused(tmp_path: Path) -> None:
    zip_path = make_zip(tmp_path / "p.zip", [("App.exe", b"MZ")])
    expected = FileList((file_entry("app.exe", b"MZ"),))
    error = refused_extraction(zip_path, tmp_path / "d", expected)
    assert_names(error, "App.exe")
    assert_names(error, "app.exe")


def test_declared_size_differing_from_the_list_is_refused(tmp_path: Path) -> None:
    entries: list[Entry] = [("a.txt", b"abc"), ("b.txt", b"de")]
    zip_path = make_zip(tmp_path / "p.zip", entries)
    expected = FileList((file_entry("a.txt", b"ab"), file_entry("b.txt", b"dec")))
    assert_names(refused_extraction(zip_path, tmp_path / "d", expected), "a.txt")


# --- the destination ----------------------------------------------------------------------------


def test_existing_destination_is_refused_and_untouched(tmp_path: Path) -> None:
    entries: list[Entry] = [("a.txt", b"new")]
    zip_path = make_zip(tmp_path / "p.zip", entries)
    dest = tmp_path / "app"
    dest.mkdir()
    (dest / "a.txt").write_bytes(b"old")
    (dest / "keep.txt").write_bytes(b"mine")
    error = refused(lambda: extract_zip(zip_path, dest, listing(entries)))
    assert str(dest) in error.message
    assert sorted(p.name for p in dest.iterdir()) == ["a.txt", "keep.txt"]
    assert (dest / "a.txt").read_bytes() == b"old"


def test_existing_file_or_dangling_link_as_destination_is_refused(tmp_path: Path) -> None:
    entries: list[Entry] = [("a.txt", b"new")]
    zip_path = make_zip(tmp_path / "p.zip", entries)
    as_file = tmp_path / "file"
    as_file.write_bytes(b"mine")
    assert str(as_file) in refused(lambda: extract_zip(zip_path, as_file, listing(entries))).message
    assert as_file.read_bytes() == b"mine"
    link = tmp_path / "link"
    symlink(link, tmp_path / "nowhere")
    assert str(link) in refused(lambda: extract_zip(zip_path, link, listing(entries))).message
    assert link.is_symlink()
    assert not (tmp_path / "nowhere").exists()


def test_a_link_planted_during_extraction_is_not_followed(tmp_path: Path) -> None:
    entries: list[Entry] = [("a.txt", b"first"), ("b.txt", b"attacker wants this written")]
    zip_path = make_zip(tmp_path / "p.zip", entries)
    dest = tmp_path / "d"
    victim = tmp_path / "victim.txt"
    victim.write_bytes(b"precious")

    def plant(done: int, _total: int) -> None:
        if done and not os.path.lexists(dest / "b.txt"):
            (dest / "b.txt").symlink_to(victim)

    symlink(tmp_path / "probe", victim)  # or skip: no links to plant here
    error = refused_extraction(zip_path, dest, listing(entries), progress=plant)
    assert "b.txt" in error.message
    assert isinstance(error.__cause__, FileExistsError)
    assert victim.read_bytes() == b"precious"


def test_a_flush_that_fails_refuses_the_package_and_keeps_its_errno(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    entries: list[Entry] = [("a.txt", b"a"), ("sub/big.bin", b"b" * 100_000)]
    zip_path = make_zip(tmp_path / "p.zip", entries)

    def full(root: Path, files: Sequence[Path], folders: Sequence[Path]) -> None:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(current_platform, "flush_tree", full)
    error = refused_extraction(zip_path, tmp_path / "d", listing(entries))
    assert str(tmp_path / "d") in error.message
    assert isinstance(error.__cause__, OSError)
    assert error.__cause__.errno == errno.ENOSPC


def test_permission_denied_keeps_its_errno(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    entries: list[Entry] = [("sub/a.txt", b"a")]
    zip_path = make_zip(tmp_path / "p.zip", entries)
    real_mkdir = Path.mkdir

    def denied(self: Path, *args: object, **kwargs: object) -> None:
        if self.name == "sub":
            raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), str(self))
        real_mkdir(self, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(Path, "mkdir", denied)
    error = refused_extraction(zip_path, tmp_path / "d", listing(entries))
    assert "sub" in error.message
    assert isinstance(error.__cause__, OSError)
    assert error.__cause__.errno == errno.EACCES


def test_a_failing_progress_callback_stops_and_cleans_up(tmp_path: Path) -> None:
    entries: list[Entry] = [("a.txt", b"a"), ("b.txt", b"b")]
    zip_path = make_zip(tmp_path / "p.zip", entries)

    class CancelledError(Exception):
        pass

    def cancel(done: int, _total: int) -> None:
        if done:
            raise CancelledError

    with pytest.raises(CancelledError):
        extract_zip(zip_path, tmp_path / "d", listing(entries), progress=cancel)
    assert not (tmp_path / "d").exists()


@POSIX
def test_cleanup_removes_read_only_entries(tmp_path: Path) -> None:
    root = tmp_path / "tree"
    (root / "ro").mkdir(parents=True)
    (root / "ro" / "file.txt").write_bytes(b"x")
    (root / "ro" / "file.txt").chmod(0o444)
    (root / "ro").chmod(0o555)
    outside = tmp_path / "outside.txt"
    outside.write_bytes(b"x")
    outside.chmod(0o444)
    symlink(root / "link", outside)
    remove_tree(root)
    assert not root.exists()
    assert stat.S_IMODE(outside.stat().st_mode) == 0o444  # a link's target is not touched


def test_cleanup_retries_an_entry_it_could_not_remove(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # What Windows does with a read-only file: the first attempt is refused.
    root = tmp_path / "tree"
    (root / "sub").mkdir(parents=True)
    (root / "sub" / "locked.dll").write_bytes(b"x")
    real_unlink = os.unlink
    refusals: list[str] = []

    def unlink(path: str, *args: object, **kwargs: object) -> None:
        if Path(path).name == "locked.dll" and not refusals:
            refusals.append(path)
            raise PermissionError(errno.EACCES, "read-only", path)
        real_unlink(path, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(os, "unlink", unlink)
    remove_tree(root)
    assert refusals
    assert not root.exists()


# --- verify_tree ------------------------------------------------------------------------------


@pytest.fixture
def tree(tmp_path: Path) -> tuple[Path, FileList]:
    root = tmp_path / "app"
    for path, data in {"a.txt": b"a", "lib/b.dll": b"bb", "lib/sub/c.dat": b"c" * 1000}.items():
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        (root / path).write_bytes(data)
    (root / "empty").mkdir()
    return root, scan_directory(root)


def test_verify_tree_accepts_the_same_tree(tree: tuple[Path, FileList]) -> None:
    root, expected = tree
    verify_tree(root, expected)


def test_verify_tree_names_missing_files(tree: tuple[Path, FileList]) -> None:
    root, expected = tree
    (root / "lib" / "b.dll").unlink()
    error = refused(lambda: verify_tree(root, expected))
    assert_names(error, "lib/b.dll")
    assert "missing" in error.message


def test_verify_tree_names_extra_files(tree: tuple[Path, FileList]) -> None:
    root, expected = tree
    (root / "empty" / "intruder.exe").write_bytes(b"MZ")
    error = refused(lambda: verify_tree(root, expected))
    assert_names(error, "empty/intruder.exe")
    assert "not in the list" in error.message


@pytest.mark.parametrize(
    "change",
    [
        pytest.param(b"c" * 999 + b"X", id="same-size"),
        pytest.param(b"c" * 1001, id="other-size"),
        pytest.param(b"", id="emptied"),
    ],
)
def test_verify_tree_names_changed_files(tree: tuple[Path, FileList], change: bytes) -> None:
    root, expected = tree
    (root / "lib" / "sub" / "c.dat").write_bytes(change)
    error = refused(lambda: verify_tree(root, expected))
    assert_names(error, "lib/sub/c.dat")
    assert "changed" in error.message


def test_verify_tree_names_several_differences_at_once(tree: tuple[Path, FileList]) -> None:
    root, expected = tree
    (root / "a.txt").unlink()
    (root / "lib" / "b.dll").write_bytes(b"BB")
    (root / "new.txt").write_bytes(b"")
    error = refused(lambda: verify_tree(root, expected))
    for name in ("a.txt", "lib/b.dll", "new.txt"):
        assert_names(error, name)


@pytest.mark.parametrize("target_kind", ["file", "folder", "dangling"])
def test_verify_tree_refuses_links(
    tree: tuple[Path, FileList], tmp_path: Path, target_kind: str
) -> None:
    root, expected = tree
    outside = tmp_path / "outside"
    if target_kind == "file":
        outside.write_bytes(b"a")
    elif target_kind == "folder":
        outside.mkdir()
    symlink(root / "lib" / "linked", outside, directory=target_kind == "folder")
    error = refused(lambda: verify_tree(root, expected))
    assert_names(error, "lib/linked")


def test_verify_tree_refuses_a_listed_file_replaced_by_a_link(
    tree: tuple[Path, FileList], tmp_path: Path
) -> None:
    root, expected = tree
    copy = tmp_path / "copy.txt"
    copy.write_bytes(b"a")  # same content as a.txt
    (root / "a.txt").unlink()
    symlink(root / "a.txt", copy)
    assert_names(refused(lambda: verify_tree(root, expected)), "a.txt")


def test_verify_tree_refuses_a_root_that_is_not_a_folder(
    tree: tuple[Path, FileList], tmp_path: Path
) -> None:
    _root, expected = tree
    error = refused(lambda: verify_tree(tmp_path / "nowhere", expected))
    assert "nowhere" in error.message
    assert isinstance(error.__cause__, FileNotFoundError)
    (tmp_path / "plain-file").write_bytes(b"")
    assert "plain-file" in refused(lambda: verify_tree(tmp_path / "plain-file", expected)).message
