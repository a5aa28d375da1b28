"""A channel's manifest lists each product's newest releases; the older ones are in the
channel's archive, a signed target that a PC reads only when a decision needs it
(docs/manifest.md, "The current manifest and the archive")."""

from __future__ import annotations

import json

import pytest

from tests.enginekit import tree
from tests.shopkit import Shop
from updater.errors import PreflightError, PublishError, TargetMismatchError
from updater.feed.manifest import ReleaseKind, parse_manifest
from updater.feed.trust import archive_target, manifest_target
from updater.machine.config import load_config
from updater.publish.repository import FeedRepository
from updater.publish.workspace import SETTINGS_FILE
from updater.service import UpdaterService


def installed(shop: Shop) -> str:
    return (shop.install_dir / "VERSION").read_text().strip()


def archive_requests(shop: Shop) -> list[str]:
    return [r for r in shop.server.requests_log if "archive" in r]


def published(repo: FeedRepository, path: str) -> dict[str, object] | None:
    """The document the signed targets metadata lists at ``path``, None if none."""
    info = repo.current()["targets"].signed.targets.get(path)
    if info is None:
        return None
    stored = repo.target_file(path, info.hashes["sha256"])
    document: dict[str, object] = json.loads(stored.read_bytes())
    return document


def versions(document: dict[str, object] | None, product: str = "tpv") -> list[str]:
    assert document is not None
    products = document["products"]
    assert isinstance(products, dict)
    return [r["version"] for r in products[product]["releases"]]


# ------------------------------------------------------------------------ publisher


def test_the_manifest_lists_the_newest_releases_and_the_archive_the_older(shop: Shop) -> None:
    repo = shop.feed.repo
    assert published(repo, archive_target("stable")) is None  # one release: no archive
    for version in ("1.1.0", "1.1.1", "1.1.2"):
        shop.publish(version)
    manifest = published(repo, manifest_target("stable"))
    assert versions(manifest) == ["1.1.0", "1.1.1", "1.1.2"]  # the newest 3 (the default)
    assert versions(published(repo, archive_target("stable"))) == ["1.0.0"]
    # The oldest listed release carries its kind: alone, 1.1.0 would read as a first
    # release (a feature release either way); 1.1.1 as the oldest would be a bug-fix.
    shop.publish("1.1.3")
    data = repo.manifest_bytes("stable")
    current = parse_manifest(data, expected_channel="stable").products["tpv"]
    assert [str(r.version) for r in current.releases] == ["1.1.1", "1.1.2", "1.1.3"]
    oldest = current.releases[0]
    assert (oldest.declared_kind, oldest.kind) == (ReleaseKind.BUGFIX, ReleaseKind.BUGFIX)
    assert versions(published(repo, archive_target("stable"))) == ["1.0.0", "1.1.0"]
    # Together they say what one manifest of every release would say.
    full = repo.releases_document()
    assert sorted(r["version"] for r in full["products"]["tpv"]["releases"]) == [
        "1.0.0", "1.1.0", "1.1.1", "1.1.2", "1.1.3",
    ]  # fmt: skip


def test_a_withdrawn_release_stays_in_the_manifest_however_old(shop: Shop) -> None:
    repo = shop.feed.repo
    for version in ("1.1.0", "1.1.1", "1.2.0"):
        shop.publish(version)
    assert versions(published(repo, manifest_target("stable"))) == ["1.1.0", "1.1.1", "1.2.0"]
    repo.set_release("tpv", "1.0.0", withdrawn=True)  # archived, then found flawed
    with pytest.raises(PublishError, match="unpublished changes"):
        repo.refresh(shop.feed.keyring)
    repo.publish(shop.feed.keyring)
    manifest = published(repo, manifest_target("stable"))
    assert versions(manifest) == ["1.0.0", "1.1.0", "1.1.1", "1.2.0"]
    # 1.1.0 follows 1.0.0 here as in the whole history: no kind needed. Withdraw 1.1.0
    # instead: listed first (withdrawn), it follows the archived 1.0.0 only in the
    # history, so it says its kind; 1.1.1 follows 1.1.0 in both and needs none.
    repo.set_release("tpv", "1.1.0", withdrawn=True)
    repo.set_release("tpv", "1.0.0", withdrawn=False)
    shop.publish("1.3.0")
    tpv = parse_manifest(repo.manifest_bytes("stable")).products["tpv"]
    listed = {str(r.version): (r.declared_kind, r.withdrawn) for r in tpv.releases}
    assert listed == {
        "1.1.0": (ReleaseKind.FEATURE, True),
        "1.1.1": (None, False),
        "1.2.0": (None, False),
        "1.3.0": (None, False),
    }
    assert versions(published(repo, archive_target("stable"))) == ["1.0.0", "1.1.0"]
    report = repo.verify()
    assert report.ok, report.problems
    assert report.releases == 5  # the client read the archive too


def test_how_many_releases_the_manifest_lists_is_the_publishers_setting(shop: Shop) -> None:
    repo = shop.feed.repo
    settings_file = repo.workdir / SETTINGS_FILE
    settings = json.loads(settings_file.read_text())
    assert settings["current_releases"] == 3
    settings["current_releases"] = 1
    settings_file.write_text(json.dumps(settings))
    object.__setattr__(shop.feed, "repo", FeedRepository(repo.workdir))  # as a new command
    repo = shop.feed.repo
    shop.publish("1.1.0")
    assert versions(published(repo, manifest_target("stable"))) == ["1.1.0"]
    assert versions(published(repo, archive_target("stable"))) == ["1.0.0"]


@pytest.mark.parametrize("value", [0, -2, "3", 2.5, None])
def test_a_bad_current_releases_setting_is_refused_by_name(shop: Shop, value: object) -> None:
    repo = shop.feed.repo
    settings_file = repo.workdir / SETTINGS_FILE
    settings = json.loads(settings_file.read_text())
    settings["current_releases"] = value
    settings_file.write_text(json.dumps(settings))
    feed_before = tree(repo.feed_dir)
    with pytest.raises(PublishError, match="current_releases must be a whole number"):
        FeedRepository(repo.workdir).publish(shop.feed.keyring)
    assert tree(repo.feed_dir) == feed_before


# --------------------------------------------------------------------------- client


def test_a_pc_on_a_listed_release_never_reads_the_archive(shop: Shop) -> None:
    for version in ("1.1.0", "1.2.0", "1.3.0"):
        shop.publish(version)
    shop.service.update("tpv", to_version="1.2.0")  # an administrator's choice
    shop.server.requests_log.clear()
    found = shop.service.check()
    assert found.choices[0].offer is not None
    assert str(found.choices[0].offer.version) == "1.3.0"
    shop.service.update("tpv")
    assert installed(shop) == "1.3.0"
    assert archive_requests(shop) == []


def test_a_pc_far_behind_is_offered_an_archived_release_that_fits_its_shop(
    shop: Shop,
) -> None:
    shop.publish("1.0.1")  # works with this shop's PrestaShop 8.1.2
    for version in ("1.1.0", "1.2.0", "1.3.0"):
        shop.publish(version, prestashop=">=9")  # the newest need PrestaShop 9
    assert "1.0.1" not in versions(published(shop.feed.repo, manifest_target("stable")))
    shop.server.requests_log.clear()
    found = shop.service.check()
    offer = found.choices[0].offer
    assert offer is not None and str(offer.version) == "1.0.1"
    assert archive_requests(shop)  # read because nothing newer fitted
    shop.service.update("tpv")
    assert installed(shop) == "1.0.1"
    shop.server.requests_log.clear()
    # On 1.0.1 the PC is still older than every listed release: the archive is read
    # again (python-tuf's cache: not downloaded again), and offers nothing newer.
    assert shop.service.check().choices[0].offer is None
    assert all("metadata" in r for r in shop.server.requests_log)


def test_an_administrator_may_install_an_archived_version(shop: Shop) -> None:
    for version in ("1.1.0", "1.2.0", "1.3.0", "1.4.0"):
        shop.publish(version)
    shop.service.update("tpv")
    assert installed(shop) == "1.4.0"
    assert "1.1.0" not in versions(published(shop.feed.repo, manifest_target("stable")))
    shop.service.update("tpv", to_version="1.1.0")  # older than the listed releases
    assert installed(shop) == "1.1.0"


def test_a_withdrawn_old_version_is_not_restored_even_offline(shop: Shop) -> None:
    for version in ("1.1.0", "1.2.0", "1.3.0"):
        shop.publish(version)
    shop.service.update("tpv")  # 1.0.0 -> 1.3.0: the saved copy is 1.0.0, archived
    shop.feed.repo.set_release("tpv", "1.0.0", withdrawn=True)  # a flaw found in 1.0.0
    shop.feed.repo.publish(shop.feed.keyring)
    shop.server.requests_log.clear()
    shop.service.check()  # the manifest lists the withdrawn 1.0.0: no archive needed
    assert archive_requests(shop) == []
    shop.server.stop()  # restoring never needs the network
    before = tree(shop.install_dir)
    fresh = UpdaterService(load_config(shop.config_path))
    with pytest.raises(PreflightError, match="the publisher withdrew it"):
        fresh.restore("tpv")
    assert tree(shop.install_dir) == before and installed(shop) == "1.3.0"


# -------------------------------------------------------------------------- attacks


def far_behind_shop(shop: Shop) -> tuple[str, bytes]:
    """A feed whose only release for this shop is archived: the path the server
    serves the archive at, and the archive of the publish before the last."""
    shop.publish("1.0.1")
    for version in ("1.1.0", "1.2.0"):
        shop.publish(version, prestashop=">=9")
    older = published_bytes(shop.feed.repo, archive_target("stable"))
    shop.publish("1.3.0", prestashop=">=9")
    info = shop.feed.repo.current()["targets"].signed.targets[archive_target("stable")]
    stored = shop.feed.repo.target_file(archive_target("stable"), info.hashes["sha256"])
    return str(stored.relative_to(shop.feed.repo.feed_dir)), older


def published_bytes(repo: FeedRepository, path: str) -> bytes:
    info = repo.current()["targets"].signed.targets[path]
    return repo.target_file(path, info.hashes["sha256"]).read_bytes()


@pytest.mark.parametrize("attack", ["tampered", "replayed", "manifest in its place"])
def test_an_archive_that_is_not_the_signed_one_is_refused(shop: Shop, attack: str) -> None:
    path, older = far_behind_shop(shop)
    genuine = (shop.feed.repo.feed_dir / path).read_bytes()
    forged = {
        # an archived release made to fit any PrestaShop
        "tampered": genuine.replace(b'"released"', b'"prestashop": ">=1", "released"', 1),
        "replayed": older,  # a genuine archive, of an earlier publish
        "manifest in its place": published_bytes(shop.feed.repo, manifest_target("stable")),
    }[attack]
    assert forged != genuine
    shop.server.override(path, body=forged)
    before = tree(shop.install_dir)
    with pytest.raises(TargetMismatchError):
        shop.service.update("tpv")
    assert tree(shop.install_dir) == before and installed(shop) == "1.0.0"
    shop.server.clear_overrides()
    shop.service.update("tpv")  # the genuine archive: the release that fits
    assert installed(shop) == "1.0.1"
