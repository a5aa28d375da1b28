"""Benchmark: a client's verified check of a large feed (1,000 releases) over HTTP.

A feed of ``PRODUCTS x VERSIONS_PER_PRODUCT`` releases is built once with the
publisher API (:class:`updater.publish.repository.FeedRepository`) into
``benchmarks/.data/verify_manifest/`` and reused while the code that makes it and
the data set's parameters stay the same. It is served by ``tests.feedserver``
(a real HTTP server on 127.0.0.1), and each repetition measures, with a fresh
client cache and a fresh HTTP session:

(a) the full check: ``TrustedFeed(...).refresh()`` + ``.manifest("stable")`` (TUF
    signature checks, downloads, length and hash checks, JSON Schema validation,
    model build);
(b) its parts: ``TrustedFeed.refresh()`` alone, ``parse_manifest(bytes)`` alone
    (schema + model) and, inside that, the schema validation alone;
(c) baselines: ``requests.get`` of the same manifest file from the same server, and
    ``json.loads`` of the same bytes.

Run ``python -m benchmarks.bench_verify_manifest`` (``--help`` for the options).
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import itertools
import json
import shutil
import statistics
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import requests

from benchmarks import (
    DATA_DIR,
    REPO_ROOT,
    Series,
    format_table,
    measure,
    ms,
    print_machine_once,
    without_proxies,
)
from tests.feedserver import FeedServer
from updater.feed.fetch import DEFAULT_USER_AGENT, FeedFetcher, NetworkLimits, make_session
from updater.feed.manifest import Manifest, parse_manifest, validate_document
from updater.feed.trust import TrustedFeed, archive_target, manifest_target
from updater.locations import feed_url
from updater.publish.keys import KeyRing, generate_key
from updater.publish.repository import ROLES, FeedRepository, ReleaseSpec
from updater.publish.workspace import DEFAULT_CURRENT_RELEASES

NAME = "verify_manifest"
CHANNEL = "stable"
PRODUCTS = {"tpv": "InnovaCommerce TPV", "erp": "InnovaCommerce ERP"}
VERSIONS_PER_PRODUCT = 500
DEFAULT_REPEAT = 15

#: Bump when the generated data set changes shape, to force a rebuild.
DATASET_FORMAT = 1
MARKER = "dataset.json"
#: A cached feed whose metadata expires sooner than this is rebuilt.
EXPIRY_MARGIN = timedelta(days=1)


# --- the data set -----------------------------------------------------------------------


def version_of(index: int) -> str:
    """The ``index``-th version of a product: 1.0.0 ... 1.9.9, 2.0.0 ... 5.9.9."""
    return f"{1 + index // 100}.{(index // 10) % 10}.{index % 10}"


def release_spec(product: str, index: int, build_dir: Path) -> ReleaseSpec:
    """A release with realistic notes and, now and then, the optional fields."""
    version = version_of(index)
    last = index == VERSIONS_PER_PRODUCT - 1
    return ReleaseSpec(
        product=product,
        version=version,
        channel=CHANNEL,
        notes_es=(
            f"Versión {version} de {PRODUCTS[product]}.\n\n"
            "- Corrige el cálculo del IVA en tickets con descuentos por línea.\n"
            "- La sincronización de stock con PrestaShop es más rápida.\n"
            "- Traducciones actualizadas."
        ),
        notes_en=(
            f"{PRODUCTS[product]} version {version}.\n\n"
            "- Fixes the VAT of receipts with per-line discounts.\n"
            "- Stock synchronisation with PrestaShop is faster.\n"
            "- Updated translations."
        ),
        released=date(2021, 1, 4) + timedelta(days=2 * index),
        critical=index % 25 == 24,
        min_updater_version="0.1.0" if index % 50 == 0 else None,
        prestashop=">=1.7.8,<9" if product == "erp" else None,
        rollout_percent=25 if last else None,
        product_name=PRODUCTS[product] if index == 0 else None,
        build_dir=build_dir,
    )


def write_build(build_dir: Path, product: str, version: str) -> None:
    """A small program directory whose content differs from one version to the next."""
    shutil.rmtree(build_dir, ignore_errors=True)
    (build_dir / "bin").mkdir(parents=True)
    (build_dir / "config").mkdir()
    (build_dir / "VERSION").write_text(f"{product} {version}\n", encoding="utf-8")
    (build_dir / "bin" / "main.py").write_text(
        f'"""{PRODUCTS[product]}."""\n\nVERSION = "{version}"\n\nprint(VERSION)\n',
        encoding="utf-8",
    )
    (build_dir / "config" / "defaults.json").write_text(
        json.dumps({"product": product, "version": version, "log_level": "info"}),
        encoding="utf-8",
    )


def code_fingerprint() -> str:
    """SHA-256 of the sources that make a feed: a cached feed is rebuilt when they change.

    That is ``updater/*.py`` and ``updater/publish/*.py``; the command lines and the
    translations (``updater/cli/``, ``updater/locale/``) do not change a feed.
    """
    digest = hashlib.sha256()
    package = REPO_ROOT / "updater"
    for path in sorted([*package.glob("*.py"), *(package / "publish").glob("*.py")]):
        digest.update(path.relative_to(REPO_ROOT).as_posix().encode())
        digest.update(b"\0")
        digest.update(path.read_bytes())
    return digest.hexdigest()


def dataset_fingerprint() -> dict[str, Any]:
    return {
        "format": DATASET_FORMAT,
        "products": sorted(PRODUCTS),
        "versions_per_product": VERSIONS_PER_PRODUCT,
        "code": code_fingerprint(),
    }


def build_feed(destination: Path) -> None:
    """Build the data set into ``destination`` (replacing it), through a staging folder."""
    if (
        destination.exists()
        and any(destination.iterdir())
        and not (destination / MARKER).exists()
        and not (destination / "workspace").exists()
    ):
        raise SystemExit(f"{destination} is not empty and holds no data set of ours; not using it")
    staging = destination.with_name(destination.name + ".building")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    keys_dir = staging / "keys"
    role_keys = {role: [generate_key(keys_dir, role).public_key] for role in ROLES}
    keyring = KeyRing([keys_dir])
    started = time.perf_counter()
    repo = FeedRepository.create(
        staging / "workspace",
        role_keys=role_keys,
        thresholds=dict.fromkeys(ROLES, 1),
        keyring=keyring,
    )
    build_dir = staging / "build"
    add_seconds: list[float] = []
    total = len(PRODUCTS) * VERSIONS_PER_PRODUCT
    print(f"Building a feed of {total} releases in {destination} ...", flush=True)
    for product in PRODUCTS:
        for index in range(VERSIONS_PER_PRODUCT):
            write_build(build_dir, product, version_of(index))
            spec = release_spec(product, index, build_dir)
            add_started = time.perf_counter()
            repo.add_release(spec)
            add_seconds.append(time.perf_counter() - add_started)
            if len(add_seconds) % 250 == 0:
                print(f"  {len(add_seconds)}/{total} releases added", flush=True)
    publish_started = time.perf_counter()
    repo.publish(keyring)
    finished = time.perf_counter()
    shutil.rmtree(build_dir)
    tenth = max(len(add_seconds) // 10, 1)
    marker = {
        "fingerprint": dataset_fingerprint(),
        "built": datetime.now(UTC).replace(microsecond=0).isoformat(),
        "build_seconds": round(finished - started, 2),
        "publish_seconds": round(finished - publish_started, 2),
        "add_release_ms_first_tenth": round(statistics.mean(add_seconds[:tenth]) * 1000, 2),
        "add_release_ms_last_tenth": round(statistics.mean(add_seconds[-tenth:]) * 1000, 2),
    }
    (staging / MARKER).write_text(json.dumps(marker, indent=2) + "\n", encoding="utf-8")
    shutil.rmtree(destination, ignore_errors=True)
    staging.rename(destination)


@dataclass(frozen=True)
class Feed:
    """The built data set, as the benchmark needs it."""

    feed_dir: Path
    trusted_root: bytes
    manifest_path: Path
    manifest_bytes: bytes
    #: The channel's archive (the releases too old for the manifest), 0 when none.
    archive_size: int
    targets_metadata_size: int
    target_count: int
    build: dict[str, Any]

    @property
    def manifest_url_path(self) -> str:
        return self.manifest_path.relative_to(self.feed_dir).as_posix()


def load_feed(destination: Path) -> Feed | None:
    """The data set in ``destination``; None when missing, outdated or expiring soon."""
    try:
        marker = json.loads((destination / MARKER).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(marker, dict) or marker.get("fingerprint") != dataset_fingerprint():
        return None
    try:
        repo = FeedRepository(destination / "workspace")
        current = repo.current()
    except Exception:  # a damaged cache is simply rebuilt
        return None
    if set(current) != set(ROLES) or any(
        md.signed.expires - datetime.now(UTC) < EXPIRY_MARGIN for md in current.values()
    ):
        return None
    targets = current["targets"].signed
    path = manifest_target(CHANNEL)
    manifest_path = repo.target_file(path, targets.targets[path].hashes["sha256"])
    archive = targets.targets.get(archive_target(CHANNEL))
    return Feed(
        feed_dir=repo.feed_dir,
        trusted_root=(repo.metadata_dir / "1.root.json").read_bytes(),
        manifest_path=manifest_path,
        manifest_bytes=manifest_path.read_bytes(),
        archive_size=archive.length if archive is not None else 0,
        targets_metadata_size=(repo.metadata_dir / f"{targets.version}.targets.json")
        .stat()
        .st_size,
        target_count=len(repo.published_targets()),
        build=marker,
    )


def prepare_feed(destination: Path, *, rebuild: bool) -> tuple[Feed, bool]:
    """The data set, built first when needed; True when it was built by this call."""
    feed = None if rebuild else load_feed(destination)
    if feed is not None:
        return feed, False
    build_feed(destination)
    feed = load_feed(destination)
    if feed is None:
        raise RuntimeError(f"the feed just built in {destination} cannot be loaded")
    return feed, True


# --- the server --------------------------------------------------------------------------


# --- the measured operations --------------------------------------------------------------


class Client:
    """A client's check, each call with a fresh metadata cache and a fresh HTTP session."""

    def __init__(self, base_url: str, trusted_root: bytes, cache_parent: Path) -> None:
        self.base_url = base_url
        self.trusted_root = trusted_root
        self.cache_parent = cache_parent
        self._counter = itertools.count()
        #: The SHA-256 of the manifest of the last check (the service keeps it).
        self.last_digest = ""

    @contextlib.contextmanager
    def _feed(self) -> Iterator[TrustedFeed]:
        session = make_session(user_agent=DEFAULT_USER_AGENT)
        try:
            yield TrustedFeed(
                base_url=self.base_url,
                cache_dir=self.cache_parent / f"cache-{next(self._counter)}",
                trusted_root=self.trusted_root,
                fetcher=FeedFetcher(session, NetworkLimits()),
            )
        finally:
            session.close()

    def full_check(self) -> Manifest:
        with self._feed() as feed:
            feed.refresh()
            return feed.manifest(CHANNEL)

    def far_behind_check(self) -> Manifest:
        """A check that also needs the older releases: the manifest and the archive."""
        with self._feed() as feed:
            feed.refresh()
            return feed.full_manifest(CHANNEL)

    def refresh(self) -> None:
        with self._feed() as feed:
            feed.refresh()

    def warm_check(self, *, known_valid: bool) -> Manifest:
        """A check when nothing changed, as the service makes it: the metadata cache of
        the previous checks (only the timestamp and the root probe go over the wire),
        the manifest from the target cache, and ``known_valid`` when its SHA-256 is that
        of the last check (``updater.operations.checking.verified_manifest``)."""
        session = make_session(user_agent=DEFAULT_USER_AGENT)
        try:
            feed = TrustedFeed(
                base_url=self.base_url,
                cache_dir=self.cache_parent / "warm",
                trusted_root=self.trusted_root,
                fetcher=FeedFetcher(session, NetworkLimits()),
            )
            data = feed.manifest_bytes(CHANNEL)
            seen = hashlib.sha256(data).hexdigest() == self.last_digest
            return parse_manifest(data, expected_channel=CHANNEL, known_valid=known_valid and seen)
        finally:
            session.close()


def plain_download(url: str) -> bytes:
    response = requests.get(url, timeout=30)
    response.raise_for_status()
    return response.content


def release_count(manifest: Manifest) -> int:
    return sum(len(product.releases) for product in manifest.products.values())


# --- the report -------------------------------------------------------------------------


def report(
    series: Sequence[Series], feed: Feed, releases: int, listed: int, built_now: bool
) -> str:
    by_key = {entry.name.split(" ", 1)[0]: entry for entry in series}
    full = by_key["(a)"].median
    rows = [
        [entry.name, ms(entry.median), ms(entry.minimum), f"{entry.median / full:.0%}"]
        for entry in series
    ]
    table = format_table(["measurement", "median ms", "min ms", "of (a)"], rows)
    plain = by_key["(c1)"].median + by_key["(c2)"].median
    rest = full - by_key["(b1)"].median - by_key["(b2)"].median
    build = feed.build
    how = "built now" if built_now else f"reused, built {build['built']}"
    lines = [
        f"Feed: {releases} releases ({len(PRODUCTS)} products x {VERSIONS_PER_PRODUCT} "
        f"versions) on channel '{CHANNEL}', {feed.target_count} targets",
        f"  {'manifest (' + CHANNEL + '):':<19}{len(feed.manifest_bytes):>12,} bytes "
        f"({listed} releases)",
        f"  {'archive:':<19}{feed.archive_size:>12,} bytes (the older releases)",
        f"  {'targets metadata:':<19}{feed.targets_metadata_size:>12,} bytes (top level)",
        f"  data set ({how}): build {build['build_seconds']} s, of which publish "
        f"{build['publish_seconds']} s",
        f"  add_release: {build['add_release_ms_first_tenth']} ms "
        f"each for the first tenth, {build['add_release_ms_last_tenth']} ms for the last tenth",
        f"Repetitions: {len(series[0].samples)} (after 1 warm-up), fresh client cache each",
        "",
        table,
        "",
        f"Verified check (a) vs plain download + json.loads (c1 + c2): "
        f"{full / plain:.0f}x ({ms(full - plain)} ms more)",
        f"(a) - (b1) - (b2), the manifest's download, hash check and cache write: {ms(rest)} ms "
        "(a difference of medians: noisy)",
    ]
    return "\n".join(lines)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.bench_verify_manifest",
        description="Time a client's verified check of a 1,000-release feed over HTTP.",
    )
    parser.add_argument(
        "--repeat",
        type=int,
        default=DEFAULT_REPEAT,
        help=f"timed repetitions of each measurement (default {DEFAULT_REPEAT})",
    )
    parser.add_argument(
        "--data-dir",
        type=Path,
        default=DATA_DIR / NAME,
        help="where the feed is built and cached (default benchmarks/.data/verify_manifest)",
    )
    parser.add_argument("--rebuild", action="store_true", help="rebuild the feed even if cached")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if args.repeat < 1:
        raise SystemExit("--repeat must be at least 1")
    without_proxies()
    print_machine_once()
    print(f"== {NAME} ==")
    feed, built_now = prepare_feed(args.data_dir, rebuild=args.rebuild)
    data = feed.manifest_bytes

    with (
        FeedServer(feed.feed_dir) as server,
        tempfile.TemporaryDirectory(prefix="bench-verify-manifest-") as caches,
    ):
        base_url = feed_url(server.url)
        manifest_url = base_url + feed.manifest_url_path
        client = Client(base_url, feed.trusted_root, Path(caches))

        # Prove that every measurement works on the data it is meant to, once.
        releases = release_count(client.far_behind_check())
        expected = len(PRODUCTS) * VERSIONS_PER_PRODUCT
        if releases != expected:
            raise RuntimeError(f"the manifest and archive hold {releases} releases, not {expected}")
        listed = release_count(client.full_check())
        window = len(PRODUCTS) * min(VERSIONS_PER_PRODUCT, DEFAULT_CURRENT_RELEASES)
        if listed != window or release_count(parse_manifest(data)) != window:
            raise RuntimeError(f"the manifest holds {listed} releases, not {window}")
        if release_count(client.warm_check(known_valid=False)) != window:
            raise RuntimeError("the warm check does not read the whole manifest")
        client.last_digest = hashlib.sha256(data).hexdigest()
        if plain_download(manifest_url) != data:
            raise RuntimeError(f"{manifest_url} does not serve the manifest's bytes")

        cases = [
            (f"(a)  full check: refresh() + manifest('{CHANNEL}')", client.full_check),
            ("(b1) TrustedFeed.refresh() only", client.refresh),
            (
                f"(e)  a PC far behind: refresh() + manifest + archive ({releases} releases)",
                client.far_behind_check,
            ),
            (
                "(d)  nothing changed: warm cache, bytes known valid",
                lambda: client.warm_check(known_valid=True),
            ),
            (
                "(d1)   the same with the schema (before 2026-12-07)",
                lambda: client.warm_check(known_valid=False),
            ),
            (
                "(d2) parse_manifest(bytes, known_valid=True): model only",
                lambda: parse_manifest(data, known_valid=True),
            ),
            ("(b2) parse_manifest(bytes): schema + model", lambda: parse_manifest(data)),
            (
                "(b3)   of which schema: validate_document(json.loads)",
                lambda: validate_document(json.loads(data)),
            ),
            ("(c1) baseline: requests.get(manifest)", lambda: plain_download(manifest_url)),
            ("(c2) baseline: json.loads(manifest)", lambda: json.loads(data)),
        ]
        series = measure(cases, repeat=args.repeat, warmup=1)

    print(report(series, feed, releases, listed, built_now))
    print()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
