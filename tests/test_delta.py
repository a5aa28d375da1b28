"""Delta packages: made by the publisher, applied by the client, refused when wrong.

Trees are generated with changed, added, deleted, renamed (content-hash names), moved
and binary files; packages are real zips made by the packer; updates go through the
whole service against a real feed on 127.0.0.1."""

from __future__ import annotations

import dataclasses
import io
import os
import random
import re
import shutil
import stat
import subprocess
import sys
import tracemalloc
import zipfile
from collections.abc import Sequence
from pathlib import Path

import pytest
import zstandard

from tests.enginekit import tree
from tests.shopkit import Shop, make_tpv
from updater.errors import IntegrityError
from updater.i18n import format_size
from updater.install.archive import extract_zip, verify_tree
from updater.install.delta import (
    PATCHES_NAME,
    PLAN_NAME,
    DeltaBaseError,
    apply_patch,
    build_from_delta,
    compress_full,
    decompress_full,
    make_patch,
    read_plan,
)
from updater.machine.history import Operation
from updater.platform import current as current_platform
from updater.publish.delta import make_delta, make_prefix_patch, match_predecessors, name_stem
from updater.publish.pack import inspect_zip, pack_directory
from updater.publish.repository import ReleaseSpec


def noise(seed: int, size: int) -> bytes:
    return random.Random(seed).randbytes(size)


def edited(data: bytes, seed: int) -> bytes:
    """``data`` with a few bytes changed and a block inserted, as a rebuild does."""
    rng = random.Random(seed)
    out = bytearray(data)
    for _ in range(20):
        out[rng.randrange(len(out))] = rng.randrange(256)
    at = rng.randrange(len(out))
    return bytes(out[:at] + noise(seed + 1, 4096) + out[at:])


def old_tree(root: Path) -> Path:
    (root / "bin").mkdir(parents=True)
    (root / "data").mkdir()
    (root / "old").mkdir()
    (root / "bin" / "app.dll").write_bytes(noise(1, 600_000))
    (root / "bin" / "libfoo-3fa2b1c9.dll").write_bytes(noise(2, 300_000))
    (root / "bin" / "moved.dat").write_bytes(noise(3, 50_000))
    (root / "bin" / "plugin-a.pyd").write_bytes(noise(4, 100_000))
    (root / "data" / "same.txt").write_text("unchanged\n" * 100)
    (root / "old" / "remove-me.txt").write_text("deleted in the new version")
    (root / "empty.cfg").write_bytes(b"")
    (root / "run.sh").write_text("#!/bin/sh\necho hi\n")
    (root / "run.sh").chmod(0o755)
    return root


def new_tree(old: Path, root: Path) -> Path:
    shutil.copytree(old, root)
    (root / "bin" / "app.dll").write_bytes(edited((old / "bin" / "app.dll").read_bytes(), 10))
    (root / "bin" / "libfoo-3fa2b1c9.dll").unlink()  # renamed with a new content hash
    renamed = edited((old / "bin" / "libfoo-3fa2b1c9.dll").read_bytes(), 20)
    (root / "bin" / "libfoo-9e8d7c6b.dll").write_bytes(renamed)
    (root / "bin" / "plugin-a.pyd").unlink()  # renamed, no hash: matched by folder and size
    plugin = edited((old / "bin" / "plugin-a.pyd").read_bytes(), 30)
    (root / "bin" / "plugin-b.pyd").write_bytes(plugin)
    (root / "assets").mkdir()
    shutil.move(root / "bin" / "moved.dat", root / "assets" / "moved.dat")
    shutil.rmtree(root / "old")
    (root / "added.bin").write_bytes(noise(5, 80_000))
    return root


@pytest.fixture
def packages(tmp_path: Path) -> tuple[Path, Path, Path, Path]:
    old = old_tree(tmp_path / "v1")
    new = new_tree(old, tmp_path / "v2")
    pack_directory(old, tmp_path / "v1.zip")
    pack_directory(new, tmp_path / "v2.zip")
    return old, new, tmp_path / "v1.zip", tmp_path / "v2.zip"


def delta_of(old_zip: Path, new_zip: Path, tmp_path: Path) -> Path:
    """``tmp_path/delta.zip``: the delta from ``old_zip`` to ``new_zip`` (tpv 1 -> 2)."""
    delta = tmp_path / "delta.zip"
    make_delta(old_zip, new_zip, delta, product="tpv", from_version="1", to_version="2")
    return delta


def test_codec_round_trips_and_detects_a_wrong_base() -> None:
    old = noise(1, 200_000)
    new = edited(old, 2)
    patch = make_patch(old, new)
    assert len(patch) < len(new) // 20
    assert apply_patch(old, patch, len(new)) == new
    with pytest.raises(IntegrityError):
        apply_patch(noise(9, 200_000), patch, len(new))  # another base: checksum fails
    whole = compress_full(new)
    assert decompress_full(whole, len(new)) == new
    with pytest.raises(IntegrityError):
        decompress_full(whole[:-10] + b"0123456789", len(new))


def test_renamed_files_are_matched_to_their_predecessor() -> None:
    assert name_stem("bin/libfoo-3fa2b1c9.dll") == "bin/libfoo-#.dll"
    assert name_stem("python311.dll") == "python311.dll"  # a version is not a hash
    assert name_stem("Qt6Core.dll") == "Qt6Core.dll"
    assert name_stem("app-3.4.1/core.dll") == "app-#/core.dll"
    assert name_stem("PySide6_Essentials-6.8.0.2.dist-info/RECORD") == (
        "PySide6_Essentials-#.dist-info/RECORD"
    )


def test_delta_round_trip_on_a_generated_tree(
    packages: tuple[Path, Path, Path, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    old, new, old_zip, new_zip = packages
    renamed = match_predecessors(inspect_zip(old_zip), inspect_zip(new_zip))
    assert renamed == {
        "bin/libfoo-9e8d7c6b.dll": "bin/libfoo-3fa2b1c9.dll",
        "bin/plugin-b.pyd": "bin/plugin-a.pyd",
    }
    delta = tmp_path / "delta.zip"
    stats = make_delta(
        old_zip, new_zip, delta, product="tpv", from_version="1", to_version="2", workers=2
    )
    assert stats.by_path["bin/app.dll"] == "patch"
    assert stats.by_path["bin/libfoo-9e8d7c6b.dll"] == "patch"
    assert stats.by_path["bin/plugin-b.pyd"] == "patch"
    assert stats.by_path["assets/moved.dat"] == "same"  # moved, found by content
    assert stats.by_path["data/same.txt"] == "same"
    assert stats.by_path["added.bin"] == "full"
    assert stats.renamed == 2
    # Random data does not compress: the delta is the added file plus small patches.
    assert delta.stat().st_size < 80_000 + 3 * 10_000 + 10_000
    assert delta.stat().st_size < new_zip.stat().st_size / 5
    base = tmp_path / "installed"
    extract_zip(old_zip, base, inspect_zip(old_zip))
    rebuilt = tmp_path / "rebuilt"
    flushed: list[tuple[Path, Sequence[Path], Sequence[Path]]] = []
    real_flush = current_platform.flush_tree

    def flush_tree(root: Path, files: Sequence[Path], folders: Sequence[Path]) -> None:
        verify_tree(root, inspect_zip(new_zip))  # complete before its one flush
        flushed.append((root, files, folders))
        real_flush(root, files, folders)

    monkeypatch.setattr(current_platform, "flush_tree", flush_tree)
    build_from_delta(delta, base, rebuilt, inspect_zip(new_zip))
    assert [root for root, _files, _folders in flushed] == [rebuilt]
    assert len(flushed[0][1]) == inspect_zip(new_zip).file_count
    assert set(flushed[0][2]) == {p for p in rebuilt.rglob("*") if p.is_dir()} | {rebuilt}
    verify_tree(rebuilt, inspect_zip(new_zip))
    assert tree(rebuilt) == tree(new)
    assert "old/remove-me.txt" not in tree(rebuilt)
    if sys.platform != "win32":
        assert (rebuilt / "run.sh").stat().st_mode & stat.S_IXUSR
    assert tree(base) == tree(old)  # the installed version is only read


def test_a_changed_installed_file_is_reported_and_nothing_is_left(
    packages: tuple[Path, Path, Path, Path], tmp_path: Path
) -> None:
    _old, _new, old_zip, new_zip = packages
    delta = delta_of(old_zip, new_zip, tmp_path)
    base = tmp_path / "installed"
    extract_zip(old_zip, base, inspect_zip(old_zip))
    (base / "bin" / "app.dll").write_bytes(b"patched by hand")
    with pytest.raises(DeltaBaseError, match=r"bin/app\.dll"):
        build_from_delta(delta, base, tmp_path / "rebuilt", inspect_zip(new_zip))
    assert not (tmp_path / "rebuilt").exists()


def test_a_tampered_delta_member_is_refused(
    packages: tuple[Path, Path, Path, Path], tmp_path: Path
) -> None:
    _old, _new, old_zip, new_zip = packages
    delta = delta_of(old_zip, new_zip, tmp_path)
    plan = read_plan(delta)
    [patch] = [f for f in plan.files if f.path == "bin/app.dll"]
    assert patch.op == "patch" and patch.length > 0
    tampered = tmp_path / "tampered.zip"
    with zipfile.ZipFile(delta) as src, zipfile.ZipFile(tampered, "w") as dst:
        for info in src.infolist():
            data = src.read(info)
            if info.filename == PATCHES_NAME:
                data = data[:40] + bytes([data[40] ^ 0xFF]) + data[41:]
            dst.writestr(info, data)
    base = tmp_path / "installed"
    extract_zip(old_zip, base, inspect_zip(old_zip))
    with pytest.raises(IntegrityError):
        build_from_delta(tampered, base, tmp_path / "rebuilt", inspect_zip(new_zip))
    assert not (tmp_path / "rebuilt").exists()


def code_like(seed: int, records: int, shift: int = 0) -> bytes:
    """Machine code in miniature: an opcode and a 32-bit address per record; ``shift``
    moves every address, as relinking a program does (bsdiff's case, not zstd's)."""
    rng = random.Random(seed)
    return b"".join(
        rng.randbytes(4) + (rng.randrange(2**31) + shift).to_bytes(4, "little")
        for _ in range(records)
    )


def rewrite_member(delta: Path, out: Path, name: str, data: bytes) -> Path:
    """A copy of the zip ``delta`` with member ``name`` replaced by ``data``."""
    with zipfile.ZipFile(delta) as src, zipfile.ZipFile(out, "w") as dst:
        for info in src.infolist():
            dst.writestr(info, data if info.filename == name else src.read(info))
    return out


def raw_patches(delta: Path) -> bytes:
    with zipfile.ZipFile(delta) as zf:
        return zstandard.ZstdDecompressor().decompress(zf.read(PATCHES_NAME))


def test_the_fast_level_finds_the_old_file_as_a_prefix() -> None:
    old = noise(1, 3_000_000)
    new = edited(old, 2)
    fast = make_prefix_patch(old, new, 19, fast=True)
    assert len(fast) < len(new) // 200
    assert apply_patch(old, fast, len(new)) == new  # the client's decoder, unchanged
    # The same level with the old file as a dictionary finds next to nothing: the
    # reason the publisher gives it to zstd as a prefix.
    assert len(make_patch(old, new, 1)) > 100 * len(fast)


def test_the_patches_are_stored_largest_file_first_whatever_the_workers(
    packages: tuple[Path, Path, Path, Path], tmp_path: Path
) -> None:
    _old, _new, old_zip, new_zip = packages
    made = []
    for workers in (1, 2):
        delta = tmp_path / f"delta-{workers}.zip"
        make_delta(
            old_zip, new_zip, delta, product="tpv", from_version="1", to_version="2",
            workers=workers,
        )  # fmt: skip
        with zipfile.ZipFile(delta) as zf:
            stream = zf.read(PATCHES_NAME)
        patches = sorted(
            (f for f in read_plan(delta).files if f.op == "patch"), key=lambda f: f.offset
        )
        made.append((stream, patches))
    assert made[0] == made[1]  # the same bytes, however the workers' results came
    sizes = {e.path: e.size for e in inspect_zip(new_zip).files}
    assert [sizes[f.path] for f in made[0][1]] == sorted(
        (sizes[f.path] for f in made[0][1]), reverse=True
    )
    assert made[0][1][0].path == "bin/app.dll"


def test_bsdiff_is_tried_only_up_to_the_size_bound(tmp_path: Path) -> None:
    old, new = tmp_path / "v1", tmp_path / "v2"
    for root, shift in ((old, 0), (new, 0x1234)):
        (root / "bin").mkdir(parents=True)
        (root / "bin" / "core.dll").write_bytes(code_like(1, 40_000, shift))
    pack_directory(old, tmp_path / "v1.zip")
    pack_directory(new, tmp_path / "v2.zip")
    size = (new / "bin" / "core.dll").stat().st_size
    codecs = {}
    for bound in (size, size - 1):
        delta = tmp_path / f"delta-{bound}.zip"
        make_delta(
            tmp_path / "v1.zip", tmp_path / "v2.zip", delta, product="tpv",
            from_version="1", to_version="2", workers=1, bsdiff_max_size=bound,
        )  # fmt: skip
        [item] = [f for f in read_plan(delta).files if f.path == "bin/core.dll"]
        codecs[bound] = (item.codec, item.length)
        base = extract_tree(tmp_path / "v1.zip", tmp_path / f"installed-{bound}")
        rebuilt = tmp_path / f"rebuilt-{bound}"
        build_from_delta(delta, base, rebuilt, inspect_zip(tmp_path / "v2.zip"))
        assert tree(rebuilt) == tree(new)
    (within, within_size), (above, above_size) = codecs[size], codecs[size - 1]
    assert (within, above) == ("bsdiff", "zstd")
    assert within_size * 3 < above_size  # why bsdiff is worth its memory on code


def test_rebuilding_streams_every_file(tmp_path: Path) -> None:
    """A copied file is never whole in memory, nor is a patched one beyond its base and
    zstd's window: the peak is bounded by the largest patched file, not the program."""
    mib = 2**20
    old, new = tmp_path / "v1", tmp_path / "v2"
    old.mkdir()
    (old / "big.dat").write_bytes(noise(1, 24 * mib))
    (old / "changed.dll").write_bytes(noise(2, 4 * mib))
    shutil.copytree(old, new)
    (new / "changed.dll").write_bytes(edited((old / "changed.dll").read_bytes(), 3))
    (new / "added.dat").write_bytes(noise(4, 2 * mib) * 4)  # no predecessor: whole
    pack_directory(old, tmp_path / "v1.zip")
    pack_directory(new, tmp_path / "v2.zip")
    delta = tmp_path / "delta.zip"
    stats = make_delta(
        tmp_path / "v1.zip", tmp_path / "v2.zip", delta, product="tpv", from_version="1",
        to_version="2", level=3, workers=1, bsdiff_max_size=0,
    )  # fmt: skip
    assert stats.by_path == {"big.dat": "same", "changed.dll": "patch", "added.dat": "full"}
    base = extract_tree(tmp_path / "v1.zip", tmp_path / "installed")
    expected = inspect_zip(tmp_path / "v2.zip")
    tracemalloc.start()
    try:
        build_from_delta(delta, base, tmp_path / "rebuilt", expected, durable=False)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert tree(tmp_path / "rebuilt") == tree(new)
    # The 24 MiB copy and the 8 MiB whole file add a few buffers at most; the patch,
    # its 4 MiB base twice (read, then zstd's copy of it as the dictionary).
    assert peak < 2 * 4 * mib + 3 * mib, peak


def test_a_damaged_patch_is_told_apart_from_a_changed_install(
    packages: tuple[Path, Path, Path, Path], tmp_path: Path
) -> None:
    _old, _new, old_zip, new_zip = packages
    delta = delta_of(old_zip, new_zip, tmp_path)
    [patch] = [f for f in read_plan(delta).files if f.path == "bin/app.dll"]
    raw = bytearray(raw_patches(delta))
    raw[patch.offset + patch.length // 2] ^= 0x55  # inside app.dll's patch only
    compressed = zstandard.ZstdCompressor(write_checksum=True).compress(bytes(raw))
    damaged = rewrite_member(delta, tmp_path / "damaged.zip", PATCHES_NAME, compressed)
    base = extract_tree(old_zip, tmp_path / "installed")
    expected = inspect_zip(new_zip)
    with pytest.raises(IntegrityError) as raised:
        build_from_delta(damaged, base, tmp_path / "rebuilt", expected)
    assert not isinstance(raised.value, DeltaBaseError)  # the install is as it was
    assert not (tmp_path / "rebuilt").exists()
    (base / "bin" / "app.dll").write_bytes(b"patched by hand")
    with pytest.raises(DeltaBaseError, match=r"bin/app\.dll"):
        build_from_delta(damaged, base, tmp_path / "rebuilt", expected)
    assert not (tmp_path / "rebuilt").exists()


@pytest.mark.parametrize("change", ["longer", "shorter"])
def test_a_patches_stream_of_another_length_than_the_plan_is_refused(
    packages: tuple[Path, Path, Path, Path], tmp_path: Path, change: str
) -> None:
    _old, _new, old_zip, new_zip = packages
    delta = delta_of(old_zip, new_zip, tmp_path)
    raw = raw_patches(delta)
    raw = raw + b"\0" if change == "longer" else raw[:-1]
    compressed = zstandard.ZstdCompressor(write_checksum=True).compress(raw)
    damaged = rewrite_member(delta, tmp_path / "damaged.zip", PATCHES_NAME, compressed)
    base = extract_tree(old_zip, tmp_path / "installed")
    with pytest.raises(IntegrityError, match="not valid"):
        build_from_delta(damaged, base, tmp_path / "rebuilt", inspect_zip(new_zip))
    assert not (tmp_path / "rebuilt").exists()


def test_a_delta_from_an_earlier_publisher_still_rebuilds(
    packages: tuple[Path, Path, Path, Path], tmp_path: Path
) -> None:
    """Earlier publishers wrote the patches as a stream of unknown size, then an empty
    frame when it was closed: the same format, which clients still read."""
    _old, new, old_zip, new_zip = packages
    delta = delta_of(old_zip, new_zip, tmp_path)
    streamed = io.BytesIO()
    compressor = zstandard.ZstdCompressor(level=19, write_checksum=True)
    with compressor.stream_writer(streamed, closefd=False) as writer:
        writer.write(raw_patches(delta))
        writer.flush(zstandard.FLUSH_FRAME)
    assert zstandard.get_frame_parameters(streamed.getvalue()).content_size == (
        zstandard.CONTENTSIZE_UNKNOWN
    )
    earlier = rewrite_member(delta, tmp_path / "earlier.zip", PATCHES_NAME, streamed.getvalue())
    base = extract_tree(old_zip, tmp_path / "installed")
    build_from_delta(earlier, base, tmp_path / "rebuilt", inspect_zip(new_zip))
    assert tree(tmp_path / "rebuilt") == tree(new)


def test_patches_overlapping_in_the_plan_are_refused(
    packages: tuple[Path, Path, Path, Path], tmp_path: Path
) -> None:
    _old, _new, old_zip, new_zip = packages
    delta = delta_of(old_zip, new_zip, tmp_path)
    plan = read_plan(delta)
    first, second = sorted((f for f in plan.files if f.op == "patch"), key=lambda f: f.offset)[:2]
    files = tuple(
        dataclasses.replace(f, offset=first.offset) if f == second else f for f in plan.files
    )
    document = dataclasses.replace(plan, files=files).to_json()
    compressed = zstandard.ZstdCompressor().compress(document)
    bad = rewrite_member(delta, tmp_path / "bad.zip", PLAN_NAME, compressed)
    base = extract_tree(old_zip, tmp_path / "installed")
    with pytest.raises(IntegrityError, match="not valid"):
        build_from_delta(bad, base, tmp_path / "rebuilt", inspect_zip(new_zip))
    assert not (tmp_path / "rebuilt").exists()


def extract_tree(package: Path, dest: Path) -> Path:
    extract_zip(package, dest, inspect_zip(package), durable=False)
    return dest


# --- through the publisher and the service ---------------------------------------------


def publish_tree(shop: Shop, version: str, build: Path, deltas: int = 3) -> None:
    (build / "VERSION").write_text(version + "\n")
    shop.feed.repo.add_release(
        ReleaseSpec(product="tpv", version=version, channel="stable", notes_es="es",
                    notes_en="en", build_dir=build, deltas=deltas)
    )  # fmt: skip
    shop.feed.repo.publish(shop.feed.keyring)


def shop_with_binaries(shop: Shop) -> tuple[Path, Path]:
    """1.0.1 (big binary files) installed; 1.0.2 (a patch release of it) published."""
    v1 = make_tpv(shop.feed.base / "builds" / "1.0.1", "1.0.1")
    old_tree(v1 / "program")
    publish_tree(shop, "1.0.1", v1)
    assert shop.service.update("tpv").method == "full"
    v2 = shop.feed.base / "builds" / "1.0.2"
    shutil.copytree(v1, v2)
    shutil.rmtree(v2 / "program")
    new_tree(v1 / "program", v2 / "program")
    publish_tree(shop, "1.0.2", v2)
    return v1, v2


def test_update_downloads_the_delta_and_installs_the_exact_release(shop: Shop) -> None:
    _v1, v2 = shop_with_binaries(shop)
    [choice] = shop.service.check().choices
    package = choice.offer.zip_package  # type: ignore[union-attr]
    assert package is not None
    # From 1.0.0 (no binaries yet) a delta would save nothing: the publisher left it out.
    assert [str(d.from_version) for d in package.deltas] == ["1.0.1"]
    delta = package.delta_from(choice.installed)
    assert delta is not None and delta.size < package.size / 5
    result = shop.service.update("tpv")
    assert result.method == "delta"
    assert result.downloaded_bytes == delta.size
    assert tree(shop.install_dir) == tree(v2)
    [entry] = shop.service.history("tpv", limit=1)
    assert entry.operation == Operation.UPDATE and entry.message is not None
    assert entry.message.startswith("Only the changes were downloaded: ")
    assert entry.message.endswith(f" instead of {format_size(package.size)}.")
    assert "1.0.1" in [s.version for s in shop.service.snapshots("tpv")]


def test_a_hand_modified_install_falls_back_to_the_full_package(shop: Shop) -> None:
    _v1, v2 = shop_with_binaries(shop)
    (shop.install_dir / "program" / "bin" / "app.dll").write_bytes(b"hot-fixed by a technician")
    result = shop.service.update("tpv")
    assert result.method == "full"
    [choice_package] = [p for p in [result.choice.offer.zip_package] if p]  # type: ignore[union-attr]
    assert result.downloaded_bytes > choice_package.size  # the delta, then the full package
    assert tree(shop.install_dir) == tree(v2)  # byte-identical to the release


def test_a_tampered_delta_on_the_server_is_refused_and_the_full_package_used(
    shop: Shop,
) -> None:
    _v1, v2 = shop_with_binaries(shop)
    [choice] = shop.service.check().choices
    package = choice.offer.zip_package  # type: ignore[union-attr]
    assert package is not None
    delta = package.delta_from(choice.installed)
    assert delta is not None
    stored = shop.feed.repo.target_file(delta.target, delta.sha256)
    data = bytearray(stored.read_bytes())
    data[100] ^= 0xFF
    shop.server.override(str(stored.relative_to(shop.feed.repo.feed_dir)), body=bytes(data))
    result = shop.service.update("tpv")
    assert result.method == "full"
    assert tree(shop.install_dir) == tree(v2)


def test_publisher_makes_deltas_from_the_last_n_releases_only(shop: Shop) -> None:
    build = shop.feed.base / "builds" / "series"
    old_tree(build)
    for n, version in enumerate(["1.1.0", "1.2.0", "1.3.0", "1.4.0"]):
        (build / "bin" / "app.dll").write_bytes(edited(noise(1, 600_000), n))
        publish_tree(shop, version, build, deltas=2)
    [choice] = shop.service.check().choices
    package = choice.offer.zip_package  # type: ignore[union-attr]
    assert package is not None
    assert [str(d.from_version) for d in package.deltas] == ["1.3.0", "1.2.0"]
    (build / "VERSION").write_text("1.5.0\n")
    publish_tree(shop, "1.5.0", build, deltas=0)
    [choice] = shop.service.check().choices
    assert choice.offer.zip_package.deltas == ()  # type: ignore[union-attr]


def test_the_release_tool_makes_and_reports_deltas(shop: Shop, tmp_path: Path) -> None:
    v1 = make_tpv(shop.feed.base / "builds" / "1.0.1", "1.0.1")
    old_tree(v1 / "program")
    publish_tree(shop, "1.0.1", v1)
    v2 = tmp_path / "v2"
    shutil.copytree(v1, v2)
    shutil.rmtree(v2 / "program")
    new_tree(v1 / "program", v2 / "program")
    notes = tmp_path / "notes.md"
    notes.write_text("notes")
    tool = Path(sys.executable).with_name("innova-release")

    def add(version: str, *extra: str) -> str:
        (v2 / "VERSION").write_text(version + "\n")
        result = subprocess.run(
            [str(tool), "add", str(shop.feed.repo.workdir), "--product", "tpv",
             "--version", version, "--from-dir", str(v2), "--notes-es", str(notes),
             "--notes-en", str(notes), *extra],
            capture_output=True, text=True, timeout=300,
            env={**os.environ, "INNOVA_LANG": "en"},
        )  # fmt: skip
        assert result.returncode == 0, result.stderr
        return result.stdout

    out = add("1.0.2", "--deltas", "1")
    assert re.search(r"delta from 1\.0\.1: \d+ B \(\d+\.\d% of the full package\)", out)
    assert "delta from 1.0.0" not in out  # only the newest one was asked for
    assert "delta from" not in add("1.0.3", "--deltas", "0")
