"""Builders for tests: program directories, signed feeds, and a client that installs.

``Client`` stands for the updater's pipeline up to installation (fetch manifest,
verify, choose the newest release, download and verify its package, install it), so
that attack tests can show that a refused feed leaves nothing installed.
"""

from __future__ import annotations

import hashlib
import zipfile
from dataclasses import dataclass, replace
from pathlib import Path

import requests
from packaging.version import Version

from updater.feed.fetch import FeedFetcher, NetworkLimits
from updater.feed.manifest import Manifest
from updater.feed.trust import TrustedFeed
from updater.publish.keys import KeyRing, generate_key
from updater.publish.repository import FeedRepository, ReleaseSpec

PRODUCTS = {"tpv": "InnovaCommerce TPV", "erp": "InnovaCommerce ERP"}
VERSIONS = ("1.0.0", "1.0.1", "1.1.0")


def make_build(directory: Path, product: str, version: str, *, files: int = 5) -> Path:
    """A small but real program directory for ``product`` ``version``."""
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "VERSION").write_text(version + "\n")
    (directory / f"{product}.py").write_text(
        f"import sys\nprint('{product} {version}')\nsys.exit(0)\n"
    )
    lib = directory / "lib"
    lib.mkdir(exist_ok=True)
    for index in range(files):
        seed = hashlib.sha256(f"{product}-{version}-{index}".encode()).digest()
        (lib / f"module{index}.bin").write_bytes(seed * (50 + index * 20))
    return directory


@dataclass(frozen=True)
class Feed:
    """A signed feed built by the publisher tool, and where its keys are."""

    base: Path
    repo: FeedRepository
    keys_dir: Path

    @property
    def keyring(self) -> KeyRing:
        return KeyRing([self.keys_dir])

    @property
    def root(self) -> bytes:
        """The root of trust a machine's configuration ships (the feed's first root)."""
        return (self.repo.metadata_dir / "1.root.json").read_bytes()

    def moved_to(self, base: Path) -> Feed:
        return replace(self, base=base, repo=FeedRepository(base / "work"), keys_dir=base / "keys")

    def add(self, product: str, version: str, **extra: object) -> None:
        build = make_build(self.base / "builds" / f"{product}-{version}", product, version)
        spec = ReleaseSpec(
            product=product,
            version=version,
            channel="stable",
            notes_es=f"Versión {version}",
            notes_en=f"Version {version}",
            build_dir=build,
            product_name=PRODUCTS.get(product),
        )
        self.repo.add_release(replace(spec, **extra))  # type: ignore[arg-type]


def build_feed(
    base: Path,
    *,
    thresholds: dict[str, int] | None = None,
    key_counts: dict[str, int] | None = None,
) -> Feed:
    """A feed workspace in ``base/work`` with keys in ``base/keys``, published."""
    keys_dir = base / "keys"
    role_keys = {}
    for role in ("root", "targets", "snapshot", "timestamp"):
        count = (key_counts or {}).get(role, 1)
        role_keys[role] = [
            generate_key(keys_dir, f"{role}-{n}").public_key for n in range(1, count + 1)
        ]
    repo = FeedRepository.create(
        base / "work",
        role_keys=role_keys,
        thresholds=thresholds or {},
        keyring=KeyRing([keys_dir]),
    )
    feed = Feed(base=base, repo=repo, keys_dir=keys_dir)
    for product in PRODUCTS:
        for version in VERSIONS:
            feed.add(product, version)
    repo.publish(feed.keyring)
    return feed


class Client:
    """A machine's updater, as far as the trust layer goes, with its own state folder."""

    def __init__(
        self, url: str, root: bytes, state: Path, limits: NetworkLimits | None = None
    ) -> None:
        self.url = url
        self.root = root
        self.state = state
        self.limits = limits or NetworkLimits()
        self.downloads = state / "downloads"

    def _feed(self) -> TrustedFeed:
        session = requests.Session()
        return TrustedFeed(
            base_url=self.url,
            cache_dir=self.state / "feed",
            trusted_root=self.root,
            fetcher=FeedFetcher(session, self.limits),
        )

    def check(self, channel: str = "stable") -> Manifest:
        """One check: a new TrustedFeed (python-tuf Updater) on the same state folder."""
        return self._feed().manifest(channel)

    def install_latest(self, product: str, install_dir: Path) -> Version:
        """Check, download the newest release's zip and install it into ``install_dir``."""
        feed = self._feed()
        manifest = feed.manifest("stable")
        found = manifest.product(product)
        assert found is not None and found.latest is not None
        release = found.latest
        package = release.zip_package
        assert package is not None
        archive = feed.download(package, self.downloads / f"{product}-{release.version}.zip")
        install_dir.mkdir(parents=True, exist_ok=True)
        with zipfile.ZipFile(archive) as zf:
            zf.extractall(install_dir)
        return release.version


def tree_digest(root: Path) -> dict[str, str]:
    """Relative path (with ``/``) -> SHA-256 of every file under ``root`` (empty if it
    does not exist)."""
    if not root.exists():
        return {}
    return {
        p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }
