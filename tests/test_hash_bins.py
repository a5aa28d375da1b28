"""The feed's hash bins (updater/publish/bins.py): the top-level targets metadata lists
only the manifests; every package, file list and delta is signed in one of 32 bins,
so that what a PC reads after a publish does not grow with the feed's history."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from tests.feedkit import Client, Feed
from tests.feedserver import feed_server
from tests.test_publisher import online_keys, release
from updater.publish.bins import BIN_BITS, in_top_level
from updater.publish.repository import utcnow


def bin_versions(feed: Feed) -> dict[str, int]:
    return {name: md.signed.version for name, md in feed.repo.current_bins().items()}


def test_the_top_level_lists_the_manifests_and_each_package_is_in_its_one_bin(
    feed: Feed,
) -> None:
    current = feed.repo.current()
    top = current["targets"].signed
    assert top.targets and all(in_top_level(path) for path in top.targets)
    succinct = top.delegations.succinct_roles
    assert succinct is not None and succinct.bit_length == BIN_BITS
    root = current["root"].signed.roles["targets"]
    assert sorted(succinct.keyids) == sorted(root.keyids)  # the targets keys sign the bins
    assert succinct.threshold == root.threshold
    bins = feed.repo.current_bins()
    assert len(bins) == 2**BIN_BITS  # every bin exists, empty ones too
    packages = [p for p in feed.repo.published_targets() if not in_top_level(p)]
    assert packages
    for path in packages:
        holders = [name for name, md in bins.items() if path in md.signed.targets]
        assert holders == [succinct.get_role_for_target(path)]


def test_a_publish_signs_again_only_the_bins_of_its_new_files(feed: Feed) -> None:
    before = bin_versions(feed)
    feed.add("tpv", "1.2.0")
    result = feed.repo.publish(feed.keyring)
    after = bin_versions(feed)
    changed = {name for name in after if after[name] != before[name]}
    assert changed == set(result.bins_signed)
    new_files = [p for p in result.new_targets if not in_top_level(p)]
    succinct = feed.repo.current()["targets"].signed.delegations.succinct_roles
    assert changed == {succinct.get_role_for_target(p) for p in new_files}
    assert 1 <= len(changed) <= len(new_files) < 2**BIN_BITS
    assert all(after[name] == before[name] + 1 for name in changed)


def install_newest(feed: Feed, tmp_path: Path) -> list[str]:
    """Install the newest TPV from the feed over HTTP; the requests the server saw."""
    install = tmp_path / "install" / "tpv"
    install.mkdir(parents=True)
    (install / "VERSION").write_text("1.0.0\n")
    for server in feed_server(feed.repo.feed_dir):
        client = Client(server.url, feed.root, tmp_path / "state")
        assert client.install_latest("tpv", install).public == "1.1.0"
        return list(server.requests_log)
    raise AssertionError("no server")


def test_a_client_installs_through_the_bins(feed: Feed, tmp_path: Path) -> None:
    fetched = [r for r in install_newest(feed, tmp_path) if ".bins-" in r]
    assert fetched  # the package's bin, read only for the download
    assert len(set(fetched)) <= 3  # its zip's and its file list's bins at most


def test_rotating_the_targets_keys_signs_every_bin_with_the_new_keys(
    feed: Feed, tmp_path: Path
) -> None:
    old = feed.repo.current()["root"].signed.roles["targets"].keyids[0]
    release("keygen", "targets-2", "--dir", feed.keys_dir, "--no-passphrase")
    release(
        "rotate-keys", feed.repo.workdir, "--role", "targets",
        "--add", feed.keys_dir / "targets-2.pub", "--remove", old[:10],
        "--keys", feed.keys_dir,
    )  # fmt: skip
    new = feed.repo.current()["root"].signed.roles["targets"].keyids
    for name, md in feed.repo.current_bins().items():
        assert set(md.signatures) == set(new), name
    install_newest(feed, tmp_path)


def test_a_refresh_without_the_targets_key_keeps_due_bins_and_says_by_when(
    feed: Feed, tmp_path: Path
) -> None:
    """50 days on, the bins (90 days, like targets) are due; the online keys alone keep
    the feed alive and the warning names the first expiry, once."""
    before = bin_versions(feed)
    result = feed.repo.refresh(
        online_keys(feed, tmp_path / "online"), now=utcnow() + timedelta(days=50)
    )
    assert set(result.signed) == {"snapshot", "timestamp"} and not result.bins_signed
    assert bin_versions(feed) == before
    assert len(result.warnings) == 1 and "publish with the targets key" in result.warnings[0]
