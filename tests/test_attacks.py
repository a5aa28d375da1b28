"""TUF's threat list, one attack per test, each against a feed made by our publisher tool.

Every test builds the attack for real (tampered files served over HTTP on 127.0.0.1,
attacker keys, stolen keys, old copies of the feed), runs our client, and shows the
attack refused with our typed error and nothing installed. docs/security.md maps
each threat to its test.
"""

from __future__ import annotations

import hashlib
import io
import json
import shutil
import time
import zipfile
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from tuf.api.metadata import Metadata, MetaFile, Root, TargetFile
from tuf.api.serialization.json import JSONSerializer

from tests.feedkit import Client, Feed, build_feed, tree_digest
from tests.feedserver import FeedServer, feed_server
from updater.errors import (
    ExpiredMetadataError,
    IntegrityError,
    MetadataTooLargeError,
    RollbackError,
    SignatureError,
    SlowRetrievalError,
    TargetMismatchError,
    TrustError,
    UnknownTargetError,
)
from updater.feed.fetch import NetworkLimits
from updater.publish.keys import KeyRing, generate_key
from updater.publish.repository import utcnow


@pytest.fixture
def install_dir(tmp_path: Path) -> Path:
    """An installed TPV 1.0.0 that an attack must leave exactly as it is."""
    target = tmp_path / "install" / "tpv"
    target.mkdir(parents=True)
    (target / "VERSION").write_text("1.0.0\n")
    (target / "tpv.py").write_text("print('tpv 1.0.0')\n")
    return target


@pytest.fixture
def client(feed: Feed, server: FeedServer, tmp_path: Path) -> Client:
    return Client(server.url, feed.root, tmp_path / "state")


def assert_nothing_installed(client: Client, install_dir: Path, before: dict[str, str]) -> None:
    """The program is untouched and no package sits in the downloads as if verified
    (an interrupted download may leave a resumable ``.partial``, never a final file)."""
    assert tree_digest(install_dir) == before, "the installed program was changed"
    leftovers = list(client.downloads.rglob("*")) if client.downloads.exists() else []
    finals = [p for p in leftovers if p.is_file() and ".partial" not in p.name]
    assert not finals, f"files left in downloads: {finals}"


def current(feed: Feed) -> dict[str, Metadata[Any]]:
    return feed.repo.current()


def versioned(role: str, md: Metadata[Any]) -> str:
    return f"metadata/{md.signed.version}.{role}.json"


def resign(md: Metadata[Any], keyring: KeyRing, keyids: list[str]) -> bytes:
    md.signatures.clear()
    for keyid in keyids:
        md.sign(keyring.signer(keyid), append=True)
    return md.to_bytes(JSONSerializer(compact=True))


Signers = tuple[KeyRing, list[str]]


def forge_chain(
    md: dict[str, Metadata[Any]],
    *,
    targets: Signers,
    snapshot: Signers,
    timestamp: Signers,
    edited_bin: str | None = None,
) -> dict[str, bytes]:
    """New versions of the (already edited) targets, or of the edited hash bin
    ``edited_bin`` (in ``md`` under its role name), and of a snapshot and a timestamp
    that point to it, signed by the given keys: {path in the feed: bytes}."""
    forged: dict[str, bytes] = {}
    role = edited_bin or "targets"
    targets_md = md[role]
    targets_md.signed.version += 1
    forged[versioned(role, targets_md)] = resign(targets_md, *targets)
    snapshot_md = md["snapshot"]
    snapshot_md.signed.version += 1
    snapshot_md.signed.meta[f"{role}.json"] = MetaFile(targets_md.signed.version)
    forged[versioned("snapshot", snapshot_md)] = resign(snapshot_md, *snapshot)
    timestamp_md = md["timestamp"]
    timestamp_md.signed.version += 1
    timestamp_md.signed.snapshot_meta = MetaFile(snapshot_md.signed.version)
    forged["metadata/timestamp.json"] = resign(timestamp_md, *timestamp)
    return forged


def legit(feed: Feed, role: str) -> Signers:
    """The publisher's own keys of ``role`` (as a thief of all of them would have)."""
    return feed.keyring, feed.repo.current()["root"].signed.roles[role].keyids


def bin_of(feed: Feed, target: str) -> tuple[str, Metadata[Any]]:
    """The hash bin that signs ``target``: its role name and its published metadata."""
    md = current(feed)
    succinct = md["targets"].signed.delegations.succinct_roles
    name = succinct.get_role_for_target(target)
    bin_md = feed.repo.current_bins(md)[name]
    assert target in bin_md.signed.targets
    return name, bin_md


def forge_bin(
    feed: Feed, target: str, entry: TargetFile | None, *, signed_by: Signers
) -> dict[str, bytes]:
    """The bin that signs ``target``, with ``entry`` in its place (``None``: left out),
    signed by ``signed_by``, and a snapshot and timestamp pointing to it signed by the
    publisher's online keys: {path in the feed: bytes}."""
    md = current(feed)
    name, bin_md = bin_of(feed, target)
    if entry is None:
        del bin_md.signed.targets[target]
    else:
        bin_md.signed.targets[target] = entry
    md[name] = bin_md
    return forge_chain(
        md,
        targets=signed_by,
        snapshot=legit(feed, "snapshot"),
        timestamp=legit(feed, "timestamp"),
        edited_bin=name,
    )


def target_path_on_server(feed: Feed, target: str) -> str:
    info = feed.repo.published_targets()[target]
    path = feed.repo.target_file(target, info.hashes["sha256"])
    return str(path.relative_to(feed.repo.feed_dir))


# --- arbitrary installation -------------------------------------------------------------


def test_arbitrary_installation_tampered_package_is_refused(
    feed: Feed, server: FeedServer, client: Client, install_dir: Path
) -> None:
    """The server (or a man in the middle) swaps the newest TPV zip for its own."""
    before = tree_digest(install_dir)
    evil = io.BytesIO()
    with zipfile.ZipFile(evil, "w") as zf:
        zf.writestr("tpv.py", "print('pwned')\n")
    path = target_path_on_server(feed, "packages/tpv/1.1.0/tpv-1.1.0.zip")
    server.override(path, body=evil.getvalue())
    with pytest.raises(IntegrityError, match="not the one the publisher signed"):
        client.install_latest("tpv", install_dir)
    assert_nothing_installed(client, install_dir, before)


def test_arbitrary_installation_metadata_signed_by_attacker_key_is_refused(
    feed: Feed, server: FeedServer, client: Client, install_dir: Path, tmp_path: Path
) -> None:
    """An attacker rebuilds targets, snapshot and timestamp and signs them with a key of theirs."""
    before = tree_digest(install_dir)
    attacker = KeyRing([generate_key(tmp_path / "attacker", "evil").private_path.parent])
    evil_keyid = next(iter(attacker._private))  # the attacker's only key
    md = current(feed)
    md["targets"].signed.targets["packages/tpv/9.9.9/tpv-9.9.9.zip"] = TargetFile(
        4, {"sha256": "0" * 64}, "packages/tpv/9.9.9/tpv-9.9.9.zip"
    )
    evil: Signers = (attacker, [evil_keyid])
    for path, body in forge_chain(md, targets=evil, snapshot=evil, timestamp=evil).items():
        server.override(path, body=body)
    with pytest.raises(SignatureError, match="not signed by enough valid"):
        client.install_latest("tpv", install_dir)
    assert_nothing_installed(client, install_dir, before)


# --- endless data -----------------------------------------------------------------------


def test_endless_data_instead_of_timestamp_is_cut_off(
    server: FeedServer, client: Client, install_dir: Path
) -> None:
    before = tree_digest(install_dir)
    server.override("metadata/timestamp.json", endless=True)
    with pytest.raises(MetadataTooLargeError, match="more data than allowed"):
        client.install_latest("tpv", install_dir)
    assert_nothing_installed(client, install_dir, before)


def test_endless_data_instead_of_package_is_cut_off_at_its_signed_length(
    feed: Feed, server: FeedServer, client: Client, install_dir: Path
) -> None:
    before = tree_digest(install_dir)
    path = target_path_on_server(feed, "packages/tpv/1.1.0/tpv-1.1.0.zip")
    server.override(path, endless=True)
    with pytest.raises(IntegrityError, match="larger than the publisher signed"):
        client.install_latest("tpv", install_dir)
    assert_nothing_installed(client, install_dir, before)


# --- extraneous dependencies -----------------------------------------------------------


def test_extraneous_dependencies_added_to_manifest_are_refused(
    feed: Feed, server: FeedServer, client: Client, install_dir: Path
) -> None:
    """The attacker adds an extra installer to the newest TPV release in the manifest."""
    before = tree_digest(install_dir)

    path = target_path_on_server(feed, "manifests/stable.json")
    document = json.loads((feed.repo.feed_dir / path).read_bytes())
    release = document["products"]["tpv"]["releases"][-1]
    release["packages"].append(
        {
            "type": "installer",
            "format": "exe",
            "target": "packages/evil/setup.exe",
            "size": 10,
            "sha256": "1" * 64,
            "silent_args": ["/S"],
        }
    )
    server.override(path, body=json.dumps(document).encode())
    # Longer than the signed length: python-tuf stops reading there.
    with pytest.raises(TargetMismatchError, match="larger than the publisher signed"):
        client.install_latest("tpv", install_dir)
    assert_nothing_installed(client, install_dir, before)


def test_file_not_listed_in_signed_targets_is_never_downloaded(
    feed: Feed, server: FeedServer, client: Client, install_dir: Path
) -> None:
    """Even a correctly signed manifest cannot make the client fetch an unsigned target.

    The test plays a publisher whose targets key signs metadata that omits the package
    the (valid) manifest refers to.
    """
    before = tree_digest(install_dir)
    forged = forge_bin(
        feed, "packages/tpv/1.1.0/tpv-1.1.0.zip", None, signed_by=legit(feed, "targets")
    )
    for path, body in forged.items():
        server.override(path, body=body)
    with pytest.raises(UnknownTargetError, match="does not list the file"):
        client.install_latest("tpv", install_dir)
    assert_nothing_installed(client, install_dir, before)
    assert not any("tpv-1.1.0.zip" in p for p in server.requests_log)


# --- fast-forward -----------------------------------------------------------------------


def test_fast_forward_without_keys_is_refused_and_later_updates_still_work(
    feed: Feed, server: FeedServer, client: Client, install_dir: Path
) -> None:
    client.check()
    md = current(feed)
    timestamp = md["timestamp"]
    timestamp.signed.version = 10**9  # keep the signatures: they no longer match
    server.override("metadata/timestamp.json", body=timestamp.to_bytes())
    with pytest.raises(SignatureError):
        client.check()
    server.clear_overrides()
    feed.add("tpv", "1.2.0")
    feed.repo.publish(feed.keyring)
    assert client.install_latest("tpv", install_dir) == client.check().product("tpv").latest.version  # type: ignore[union-attr]
    assert (install_dir / "VERSION").read_text() == "1.2.0\n"


def test_fast_forward_with_stolen_timestamp_key_is_recovered_by_key_rotation(
    feed: Feed, server: FeedServer, client: Client, install_dir: Path, tmp_path: Path
) -> None:
    """An attacker with the timestamp key pushes its version far ahead; the publisher
    rotates that key and clients accept the lower, legitimate versions again."""
    client.check()
    keyring = feed.keyring
    md = current(feed)
    timestamp = md["timestamp"]
    timestamp.signed.version = 10**6
    server.override(
        "metadata/timestamp.json",
        body=resign(timestamp, keyring, md["root"].signed.roles["timestamp"].keyids),
    )
    client.check()  # the client accepts it: it is validly signed by the stolen key
    server.clear_overrides()

    # The publisher's next legitimate publish is now "older" for that client...
    feed.add("tpv", "1.2.0")
    feed.repo.publish(keyring)
    with pytest.raises(RollbackError):
        client.check()

    # ...until the compromised timestamp key is rotated out.
    old_keyid = md["root"].signed.roles["timestamp"].keyids[0]
    new_key = generate_key(feed.keys_dir, "timestamp-new").public_key
    feed.repo.rotate_keys("timestamp", KeyRing([feed.keys_dir]), add=[new_key], remove=[old_keyid])
    latest = client.check().product("tpv")
    assert latest is not None and str(latest.latest.version) == "1.2.0"  # type: ignore[union-attr]
    assert client.install_latest("tpv", install_dir).public == "1.2.0"


# --- indefinite freeze ------------------------------------------------------------------


def test_indefinite_freeze_with_expired_metadata_is_refused(
    tmp_path: Path, install_dir: Path
) -> None:
    """A server (or mirror) keeps serving metadata that has expired since."""
    before = tree_digest(install_dir)
    feed = build_feed(tmp_path / "frozen")
    feed.add("tpv", "1.2.0")
    ten_days_ago = utcnow() - timedelta(days=10)
    feed.repo.publish(
        feed.keyring, now=ten_days_ago, force=("timestamp",), verify_with_client=False
    )
    for srv in feed_server(feed.repo.feed_dir):
        client = Client(srv.url, feed.root, tmp_path / "state")
        with pytest.raises(ExpiredMetadataError) as caught:
            client.install_latest("tpv", install_dir)
        expected = (ten_days_ago + timedelta(days=7)).strftime("%Y-%m-%d")
        assert expected in caught.value.message
        assert caught.value.hint is not None and "date and time" in caught.value.hint
        assert_nothing_installed(client, install_dir, before)


# --- malicious mirrors ------------------------------------------------------------------


def test_malicious_mirror_serving_older_feed_cannot_downgrade(
    feed: Feed, server: FeedServer, client: Client, install_dir: Path, tmp_path: Path
) -> None:
    """A mirror keeps a copy of the feed from before the latest release."""
    stale = tmp_path / "stale-mirror"
    shutil.copytree(feed.repo.feed_dir, stale)
    feed.add("tpv", "1.2.0")
    feed.repo.publish(feed.keyring)
    assert client.install_latest("tpv", install_dir).public == "1.2.0"
    shutil.rmtree(client.downloads)  # installed: the download is no longer needed
    before = tree_digest(install_dir)
    for mirror in feed_server(stale):
        mirror_client = Client(mirror.url, feed.root, client.state)
        with pytest.raises(RollbackError, match="older update information"):
            mirror_client.check()
        assert_nothing_installed(mirror_client, install_dir, before)


def test_malicious_mirror_serving_different_manifest_is_refused(
    feed: Feed, client: Client, install_dir: Path, tmp_path: Path
) -> None:
    before = tree_digest(install_dir)
    mirror_dir = tmp_path / "evil-mirror"
    shutil.copytree(feed.repo.feed_dir, mirror_dir)
    path = mirror_dir / target_path_on_server(feed, "manifests/stable.json")
    path.write_bytes(path.read_bytes().replace(b"Version 1.1.0", b"Version 6.6.6"))
    for mirror in feed_server(mirror_dir):
        mirror_client = Client(mirror.url, feed.root, client.state)
        with pytest.raises(TargetMismatchError):
            mirror_client.install_latest("tpv", install_dir)
        assert_nothing_installed(mirror_client, install_dir, before)


# --- mix-and-match ----------------------------------------------------------------------


def test_mix_and_match_old_targets_with_new_snapshot_is_refused(
    feed: Feed, server: FeedServer, client: Client, install_dir: Path
) -> None:
    before = tree_digest(install_dir)
    old_targets = current(feed)["targets"]
    old_bytes = (feed.repo.metadata_dir / f"{old_targets.signed.version}.targets.json").read_bytes()
    feed.add("tpv", "1.2.0")
    feed.repo.publish(feed.keyring)
    new_targets = current(feed)["targets"]
    server.override(versioned("targets", new_targets), body=old_bytes)
    with pytest.raises(TrustError):
        client.install_latest("tpv", install_dir)
    assert_nothing_installed(client, install_dir, before)


def test_mix_and_match_old_manifest_with_new_metadata_is_refused(
    feed: Feed, server: FeedServer, client: Client, install_dir: Path
) -> None:
    before = tree_digest(install_dir)
    old_manifest = feed.repo.manifest_bytes("stable")
    feed.add("tpv", "1.2.0")
    feed.repo.publish(feed.keyring)
    server.override(target_path_on_server(feed, "manifests/stable.json"), body=old_manifest)
    with pytest.raises(TargetMismatchError):
        client.install_latest("tpv", install_dir)
    assert_nothing_installed(client, install_dir, before)


def test_mix_and_match_an_earlier_hash_bin_is_refused(
    feed: Feed, server: FeedServer, client: Client, install_dir: Path
) -> None:
    """The bin that signs the new package is served as it was before the publish."""
    before = tree_digest(install_dir)
    feed.add("tpv", "1.2.0")
    feed.repo.publish(feed.keyring)
    name, new_bin = bin_of(feed, "packages/tpv/1.2.0/tpv-1.2.0.zip")
    old_bin = feed.repo.load_metadata(name, new_bin.signed.version - 1)
    assert "packages/tpv/1.2.0/tpv-1.2.0.zip" not in old_bin.signed.targets
    old_bytes = (feed.repo.metadata_dir / f"{old_bin.signed.version}.{name}.json").read_bytes()
    server.override(versioned(name, new_bin), body=old_bytes)
    with pytest.raises(RollbackError):
        client.install_latest("tpv", install_dir)
    assert_nothing_installed(client, install_dir, before)


def test_a_hash_bin_signed_by_an_attacker_with_the_online_keys_is_refused(
    feed: Feed, server: FeedServer, client: Client, install_dir: Path, tmp_path: Path
) -> None:
    """The attacker stole the online snapshot and timestamp keys and signs, with a key of
    theirs, the bin that lists the newest TPV, now naming their package."""
    before = tree_digest(install_dir)
    attacker = KeyRing([generate_key(tmp_path / "attacker", "evil").private_path.parent])
    evil_keyid = next(iter(attacker._private))
    data = b"PK\x05\x06" + bytes(18)  # an empty zip
    sha = hashlib.sha256(data).hexdigest()
    (feed.repo.targets_dir / "packages/tpv/1.1.0" / f"{sha}.tpv-1.1.0.zip").write_bytes(data)
    target = "packages/tpv/1.1.0/tpv-1.1.0.zip"
    forged = forge_bin(
        feed, target, TargetFile(len(data), {"sha256": sha}, target),
        signed_by=(attacker, [evil_keyid]),
    )  # fmt: skip
    for path, body in forged.items():
        server.override(path, body=body)
    with pytest.raises(SignatureError, match="not signed by enough valid"):
        client.install_latest("tpv", install_dir)
    assert_nothing_installed(client, install_dir, before)


# --- rollback ---------------------------------------------------------------------------


def test_rollback_to_older_timestamp_is_refused(
    feed: Feed, server: FeedServer, client: Client, install_dir: Path
) -> None:
    old_timestamp = (feed.repo.metadata_dir / "timestamp.json").read_bytes()
    feed.add("tpv", "1.2.0")
    feed.repo.publish(feed.keyring)
    client.check()
    before = tree_digest(install_dir)
    server.override("metadata/timestamp.json", body=old_timestamp)
    with pytest.raises(RollbackError):
        client.install_latest("tpv", install_dir)
    assert_nothing_installed(client, install_dir, before)


def test_rollback_survives_a_new_client_process(
    feed: Feed, server: FeedServer, client: Client, tmp_path: Path
) -> None:
    """The trusted state is on disk: a fresh client on the same state folder remembers it."""
    old_timestamp = (feed.repo.metadata_dir / "timestamp.json").read_bytes()
    feed.add("tpv", "1.2.0")
    feed.repo.publish(feed.keyring)
    client.check()
    server.override("metadata/timestamp.json", body=old_timestamp)
    fresh = Client(server.url, feed.root, client.state)
    with pytest.raises(RollbackError):
        fresh.check()


# --- slow retrieval ---------------------------------------------------------------------


SLOW = NetworkLimits(min_bytes_per_second=200, throughput_grace_seconds=0.5, read_timeout=5)


def test_slow_retrieval_of_metadata_is_stopped(
    feed: Feed, server: FeedServer, install_dir: Path, tmp_path: Path
) -> None:
    before = tree_digest(install_dir)
    server.override("metadata/timestamp.json", drip=(1, 0.2))
    client = Client(server.url, feed.root, tmp_path / "state", SLOW)
    started = time.monotonic()
    with pytest.raises(SlowRetrievalError, match="too slowly"):
        client.install_latest("tpv", install_dir)
    assert time.monotonic() - started < 10, "a dripping server held the client too long"
    assert_nothing_installed(client, install_dir, before)


def test_slow_retrieval_of_package_is_stopped(
    feed: Feed, server: FeedServer, install_dir: Path, tmp_path: Path
) -> None:
    before = tree_digest(install_dir)
    path = target_path_on_server(feed, "packages/tpv/1.1.0/tpv-1.1.0.zip")
    server.override(path, drip=(10, 0.2))
    client = Client(server.url, feed.root, tmp_path / "state", SLOW)
    with pytest.raises(SlowRetrievalError):
        client.install_latest("tpv", install_dir)
    assert_nothing_installed(client, install_dir, before)


# --- key compromise below the threshold ------------------------------------------------


@pytest.fixture(scope="module")
def threshold_feed_template(tmp_path_factory: pytest.TempPathFactory) -> Feed:
    """Root and targets need 2 of 3 signatures."""
    return build_feed(
        tmp_path_factory.mktemp("threshold"),
        thresholds={"root": 2, "targets": 2},
        key_counts={"root": 3, "targets": 3},
    )


@pytest.fixture
def threshold_feed(threshold_feed_template: Feed, tmp_path: Path) -> Feed:
    shutil.copytree(threshold_feed_template.base, tmp_path / "tf")
    return threshold_feed_template.moved_to(tmp_path / "tf")


def test_one_stolen_targets_key_of_two_needed_cannot_sign_a_release(
    threshold_feed: Feed, install_dir: Path, tmp_path: Path
) -> None:
    """The attacker holds one targets key and the online snapshot and timestamp keys."""
    feed = threshold_feed
    before = tree_digest(install_dir)
    keyring = feed.keyring
    md = current(feed)
    root: Root = md["root"].signed
    evil_zip = io.BytesIO()
    with zipfile.ZipFile(evil_zip, "w") as zf:
        zf.writestr("tpv.py", "print('pwned')\n")

    data = evil_zip.getvalue()
    sha = hashlib.sha256(data).hexdigest()
    (feed.repo.targets_dir / "packages/tpv/1.1.0" / f"{sha}.tpv-1.1.0.zip").write_bytes(data)
    stolen: Signers = (keyring, root.roles["targets"].keyids[:1])
    target = "packages/tpv/1.1.0/tpv-1.1.0.zip"  # in the bin that signs it
    forged = forge_bin(
        feed, target, TargetFile(len(data), {"sha256": sha}, target), signed_by=stolen
    )
    for path, body in forged.items():
        (feed.repo.feed_dir / path).write_bytes(body)
    for srv in feed_server(feed.repo.feed_dir):
        client = Client(srv.url, feed.root, tmp_path / "state")
        with pytest.raises(SignatureError):
            client.install_latest("tpv", install_dir)
        assert_nothing_installed(client, install_dir, before)


def test_one_stolen_root_key_of_two_needed_cannot_replace_the_root(
    threshold_feed: Feed, install_dir: Path, tmp_path: Path
) -> None:
    """The attacker signs a new root (trusting their own timestamp key) with one root key."""
    feed = threshold_feed
    before = tree_digest(install_dir)
    keyring = feed.keyring
    md = current(feed)
    root_md: Metadata[Root] = md["root"]
    evil = generate_key(tmp_path / "attacker", "evil").public_key
    for keyid in list(root_md.signed.roles["timestamp"].keyids):
        root_md.signed.revoke_key(keyid, "timestamp")
    root_md.signed.add_key(evil, "timestamp")
    root_md.signed.version += 1
    stolen = root_md.signed.roles["root"].keyids[:1]
    body = resign(root_md, keyring, stolen)
    (feed.repo.metadata_dir / f"{root_md.signed.version}.root.json").write_bytes(body)
    for srv in feed_server(feed.repo.feed_dir):
        client = Client(srv.url, feed.root, tmp_path / "state")
        with pytest.raises(SignatureError):
            client.install_latest("tpv", install_dir)
        assert_nothing_installed(client, install_dir, before)


def test_two_of_three_keys_do_sign_a_valid_release(
    threshold_feed: Feed, install_dir: Path, tmp_path: Path
) -> None:
    """The other side of the threshold: with 2 of 3 keys present, publishing works."""
    feed = threshold_feed
    only_two = tmp_path / "two-keys"
    only_two.mkdir()
    for path in feed.keys_dir.iterdir():
        if not path.name.startswith(("targets-3", "root-3")):
            shutil.copy(path, only_two / path.name)
    feed.add("tpv", "1.2.0")
    feed.repo.publish(KeyRing([only_two]))
    for srv in feed_server(feed.repo.feed_dir):
        client = Client(srv.url, feed.root, tmp_path / "state")
        assert client.install_latest("tpv", install_dir).public == "1.2.0"


# --- wrong software installation --------------------------------------------------------


def test_wrong_software_signed_package_of_another_product_is_refused(
    feed: Feed, server: FeedServer, client: Client, install_dir: Path
) -> None:
    """The server answers the TPV download with the (validly signed) ERP package."""
    before = tree_digest(install_dir)
    erp = feed.repo.feed_dir / target_path_on_server(feed, "packages/erp/1.1.0/erp-1.1.0.zip")
    path = target_path_on_server(feed, "packages/tpv/1.1.0/tpv-1.1.0.zip")
    server.override(path, body=erp.read_bytes())
    with pytest.raises(IntegrityError):
        client.install_latest("tpv", install_dir)
    assert_nothing_installed(client, install_dir, before)


def test_wrong_software_manifest_of_another_channel_is_refused(
    feed: Feed, server: FeedServer, client: Client, install_dir: Path
) -> None:
    """The server answers the stable manifest with the (validly signed) beta manifest."""
    before = tree_digest(install_dir)
    feed.add("tpv", "2.0.0b1", channel="beta")
    feed.repo.publish(feed.keyring)
    beta = feed.repo.feed_dir / target_path_on_server(feed, "manifests/beta.json")
    server.override(target_path_on_server(feed, "manifests/stable.json"), body=beta.read_bytes())
    with pytest.raises(TargetMismatchError):
        client.install_latest("tpv", install_dir)
    assert_nothing_installed(client, install_dir, before)


def test_untampered_feed_installs(client: Client, install_dir: Path) -> None:
    """The control: without an attack, the same client installs the newest release."""
    assert client.install_latest("tpv", install_dir).public == "1.1.0"
    assert (install_dir / "VERSION").read_text() == "1.1.0\n"
