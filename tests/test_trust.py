"""The trust adapter's own behaviour: bootstrap, local feeds, and what errors say."""

from __future__ import annotations

from pathlib import Path

import pytest
import requests

from tests.feedkit import Client, Feed
from tests.feedserver import FeedServer, feed_server
from updater.errors import (
    ConfigError,
    HTTPStatusError,
    IntegrityError,
    ManifestError,
    NetworkError,
    UnknownTargetError,
)
from updater.feed.fetch import FeedFetcher
from updater.feed.trust import TrustedFeed
from updater.locations import feed_url


def trusted(url: str, root: bytes, cache: Path) -> TrustedFeed:
    return TrustedFeed(
        base_url=url, cache_dir=cache, trusted_root=root, fetcher=FeedFetcher(requests.Session())
    )


def test_invalid_root_of_trust_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"root of trust \(root.json\) is not valid"):
        trusted("http://127.0.0.1:9/", b'{"signed": {}}', tmp_path)


def test_feed_on_a_local_folder_uses_the_same_trust_rules(feed: Feed, tmp_path: Path) -> None:
    """A USB stick: a path instead of a URL, same verification."""
    url = feed_url(str(feed.repo.feed_dir))
    assert url.startswith("file:")
    manifest = trusted(url, feed.root, tmp_path / "c").manifest("stable")
    assert manifest.product("tpv") is not None
    # The same tampering as over HTTP is refused from the folder too.
    targets = feed.repo.published_targets()
    info = targets["packages/tpv/1.1.0/tpv-1.1.0.zip"]
    feed.repo.target_file(info.path, info.hashes["sha256"]).write_bytes(b"not the zip")
    release = manifest.product("tpv").latest  # type: ignore[union-attr]
    assert release is not None and release.zip_package is not None
    with pytest.raises(IntegrityError):
        trusted(url, feed.root, tmp_path / "c").download(release.zip_package, tmp_path / "z.zip")
    assert not (tmp_path / "z.zip").exists()


def test_captive_portal_page_is_reported_as_not_a_manifest(feed: Feed, tmp_path: Path) -> None:
    """A hotspot login page answers every request with HTML and status 200."""
    page = b"<html><body><h1>Login to FreeWiFi</h1></body></html>"
    portal_root = tmp_path / "portal"
    portal_root.mkdir()
    for server in feed_server(portal_root):
        for name in ("metadata/2.root.json", "metadata/timestamp.json"):
            server.override(name, body=page)
        with pytest.raises(ManifestError, match="not a release manifest"):
            Client(server.url, feed.root, tmp_path / "state").check()


def test_unknown_channel_is_reported(feed: Feed, server: FeedServer, tmp_path: Path) -> None:
    with pytest.raises(UnknownTargetError, match=r"manifests/nightly\.json"):
        Client(server.url, feed.root, tmp_path / "state").check("nightly")


def test_unreachable_server_is_a_network_error(feed: Feed, tmp_path: Path) -> None:
    with pytest.raises(NetworkError, match="could not be reached"):
        Client("http://127.0.0.1:9/", feed.root, tmp_path / "state").check()


def test_server_error_is_a_network_error_naming_the_status(
    feed: Feed, server: FeedServer, tmp_path: Path
) -> None:
    server.override("metadata/timestamp.json", status=503)
    with pytest.raises(NetworkError, match="error 503"):
        Client(server.url, feed.root, tmp_path / "state").check()


def test_second_check_downloads_only_the_timestamp(
    feed: Feed, server: FeedServer, tmp_path: Path
) -> None:
    """Nothing changed: the cached, verified metadata and manifest are reused."""
    client = Client(server.url, feed.root, tmp_path / "state")
    client.check()
    server.requests_log.clear()
    client.check()
    assert server.requests_log == ["/metadata/2.root.json", "/metadata/timestamp.json"]


def test_retry_after_of_a_busy_server_reaches_the_caller(
    feed: Feed, server: FeedServer, tmp_path: Path
) -> None:
    """A 503 with Retry-After on a poll: the schedule gets the seconds to wait."""
    server.override("metadata/timestamp.json", status=503, headers={"Retry-After": "120"})
    with pytest.raises(HTTPStatusError) as caught:
        Client(server.url, feed.root, tmp_path / "state").check()
    assert (caught.value.status, caught.value.retry_after) == (503, 120.0)


def test_trusted_until_finds_the_root_where_no_link_to_it_was_made(
    feed: Feed, tmp_path: Path
) -> None:
    """python-tuf links metadata/root.json to the newest root_history/N.root.json; where
    no link is made (Wine reports one made and makes none), the history is read."""
    client = trusted(feed_url(str(feed.repo.feed_dir)), feed.root, tmp_path / "c")
    client.manifest("stable")  # refreshes: every role is verified and cached
    until = client.trusted_until()
    assert until is not None
    (tmp_path / "c" / "metadata" / "root.json").unlink(missing_ok=True)
    assert list((tmp_path / "c" / "metadata" / "root_history").glob("*.root.json"))
    assert client.trusted_until() == until
    assert client.expiry_of("root") is not None
