"""The publisher's tool, ``innova-release``, run as the installed console script.

Covers the issue's acceptance flow (two products, three releases each, from plain
directories, signed and verified), keys, thresholds, refusals that change nothing,
refresh, rotation and verification of a damaged feed.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import stat
import subprocess
import sys
import zipfile
from datetime import timedelta
from pathlib import Path

import pytest
from packaging.version import Version

from tests.feedkit import Client, Feed, make_build, tree_digest
from tests.feedserver import feed_server
from updater.errors import PublishError, SigningKeyError
from updater.platform.windows import icacls_owner_only_argv
from updater.publish.keys import KeyRing, generate_key, load_public_key, load_signer
from updater.publish.repository import FeedRepository, InstallerSpec, ReleaseSpec, utcnow

RELEASE = [sys.executable, "-m", "updater.publish.cli"]


def release(*args: str | Path, check: bool = True, env: dict[str, str] | None = None) -> str:
    """Run innova-release; return its stdout (stderr too when it fails)."""
    result = subprocess.run(
        [*RELEASE, *map(str, args)],
        capture_output=True,
        text=True,
        env={**os.environ, "INNOVA_LANG": "en", **(env or {})},
        stdin=subprocess.DEVNULL,
        timeout=120,
    )
    if check:
        assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout + result.stderr


def notes(tmp: Path) -> tuple[Path, Path]:
    (tmp / "es.md").write_text("## Novedades\n- Corrección del cierre de caja\n", "utf-8")
    (tmp / "en.md").write_text("## What's new\n- Fixed the till closing\n", "utf-8")
    return tmp / "es.md", tmp / "en.md"


def test_two_products_three_releases_from_plain_directories(tmp_path: Path) -> None:
    """The acceptance flow: init, add 2x3 releases, publish, verify, then a client reads it."""
    work = tmp_path / "work"
    es, en = notes(tmp_path)
    release("init", work, "--no-passphrase")
    for product in ("tpv", "erp"):
        for version in ("2.0.0", "2.0.1", "2.1.0"):
            build = make_build(tmp_path / "builds" / f"{product}-{version}", product, version)
            release(
                "add", work, "--product", product, "--version", version,
                "--from-dir", build, "--notes-es", es, "--notes-en", en,
                "--prestashop", ">=1.7.8,<9",
            )  # fmt: skip
    out = release("publish", work)
    assert "Signed targets version 2." in out
    out = release("verify", work)
    assert "6 releases" in out and "The feed verifies." in out

    root = (work / "feed" / "metadata" / "1.root.json").read_bytes()
    for server in feed_server(work / "feed"):
        manifest = Client(server.url, root, tmp_path / "state").check()
        assert sorted(manifest.products) == ["erp", "tpv"]
        tpv = manifest.product("tpv")
        assert tpv is not None
        assert [str(r.version) for r in tpv.releases] == ["2.0.0", "2.0.1", "2.1.0"]
        assert [r.kind.value for r in tpv.releases] == ["feature", "bugfix", "feature"]
        assert tpv.releases[0].prestashop is not None and "8.1.0" in tpv.releases[0].prestashop


def test_packing_is_deterministic_across_workspaces(tmp_path: Path) -> None:
    """Same build directory, two workspaces, different mtimes: the same package bytes."""
    build = make_build(tmp_path / "build", "tpv", "1.0.0")
    es, en = notes(tmp_path)
    digests = []
    for name in ("a", "b"):
        os.utime(build / "VERSION", (1_000_000 * (len(digests) + 1),) * 2)
        release("init", tmp_path / name, "--no-passphrase")
        release(
            "add", tmp_path / name, "--product", "tpv", "--version", "1.0.0",
            "--from-dir", build, "--notes-es", es, "--notes-en", en, "--released", "2026-11-01",
        )  # fmt: skip
        releases = json.loads((tmp_path / name / "releases.json").read_text())
        digests.append(releases["products"]["tpv"]["releases"][0]["packages"][0]["sha256"])
    assert digests[0] == digests[1]


def test_release_from_zip_and_installer(tmp_path: Path) -> None:
    work = tmp_path / "work"
    es, en = notes(tmp_path)
    release("init", work, "--no-passphrase")
    foreign = tmp_path / "erp-build.zip"
    with zipfile.ZipFile(foreign, "w") as zf:
        zf.writestr("erp.exe", b"MZ" + b"\0" * 100)
        zf.writestr("data/config.ini", "[erp]\n")
    setup = tmp_path / "ERP Setup 5.0.exe"
    setup.write_bytes(b"MZ installer" * 100)
    release(
        "add", work, "--product", "erp", "--version", "5.0", "--from-zip", foreign,
        "--installer", setup, "--installer-arg", "/VERYSILENT", "--installer-arg", "/NORESTART",
        "--success-codes", "0", "--reboot-codes", "3010", "--notes-es", es, "--notes-en", en,
        "--critical", "--rollout", "25", "--kind", "feature",
    )  # fmt: skip
    release("publish", work)
    assert "The feed verifies." in release("verify", work)
    manifest = json.loads(FeedRepository(work).manifest_bytes("stable"))
    record = manifest["products"]["erp"]["releases"][0]
    assert record["critical"] is True and record["rollout_percent"] == 25
    zip_package, installer = record["packages"]
    assert zip_package["file_count"] == 2
    assert installer["target"] == "packages/erp/5.0/ERP-Setup-5.0.exe"
    assert installer["silent_args"] == ["/VERYSILENT", "/NORESTART"]
    assert installer["reboot_exit_codes"] == [3010]
    assert installer["sha256"] == hashlib.sha256(setup.read_bytes()).hexdigest()


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (["--version", "1.0.0"], "already in the feed"),
        (["--version", "not-a-version"], "not a valid version"),
        (["--channel", "nightly"], "Unknown channel"),
        (["--prestashop", "=>1.7"], "not a valid PrestaShop version range"),
        (["--rollout", "120"], "between 0 and 100"),
        (["--product", "TPV!"], "not a valid product name"),
    ],
)
def test_add_refusals_change_nothing(feed: Feed, change: list[str], message: str) -> None:
    work = feed.repo.workdir
    es, en = notes(feed.base)
    before = tree_digest(work)
    args = {"--product": "tpv", "--version": "9.0.0", "--channel": "stable"}
    for flag, value in zip(change[::2], change[1::2], strict=True):
        args[flag] = value
    flat = [item for pair in args.items() for item in pair]
    build = make_build(feed.base / "b", "tpv", "9.0.0")
    out = release(
        "add", work, *flat, "--from-dir", build, "--notes-es", es, "--notes-en", en, check=False
    )
    assert message in out
    assert tree_digest(work) == before


def test_release_notes_not_in_utf8_are_refused_with_a_clear_error(feed: Feed) -> None:
    """Notes saved by an editor in the Windows code page ("ANSI") are refused, not a
    traceback; nothing changes. Notepad's UTF-8 with a BOM is UTF-8 and accepted."""
    work = feed.repo.workdir
    es, en = notes(feed.base)
    es.write_bytes("## Novedades\n- Corrección del cierre de caja\n".encode("cp1252"))
    build = make_build(feed.base / "b", "tpv", "9.0.0")
    before = tree_digest(work)
    args = ["add", work, "--product", "tpv", "--version", "9.0.0", "--from-dir", build]
    out = release(*args, "--notes-es", es, "--notes-en", en, check=False)
    assert f"The release notes {es} are not UTF-8 text (byte 24 cannot be read)." in out
    assert "Save the file as UTF-8" in out and "Traceback" not in out
    assert tree_digest(work) == before
    es.write_bytes("\ufeff## Novedades\n- Corrección\n".encode())  # UTF-8 with a BOM
    release(*args, "--notes-es", es, "--notes-en", en)
    products = feed.repo.releases_document()["products"]
    [added] = [r for r in products["tpv"]["releases"] if r["version"] == "9.0.0"]
    assert added["notes"]["es"] == "## Novedades\n- Corrección\n"  # no BOM left


def test_add_refuses_an_unsafe_zip(feed: Feed, tmp_path: Path) -> None:
    evil = tmp_path / "evil.zip"
    with zipfile.ZipFile(evil, "w") as zf:
        zf.writestr("../../outside.txt", "x")
    es, en = notes(tmp_path)
    before = tree_digest(feed.repo.workdir)
    out = release(
        "add", feed.repo.workdir, "--product", "tpv", "--version", "9.0",
        "--from-zip", evil, "--notes-es", es, "--notes-en", en, check=False,
    )  # fmt: skip
    assert "evil.zip" in out and "Error:" in out
    assert tree_digest(feed.repo.workdir) == before


def test_publish_without_the_targets_key_changes_nothing(feed: Feed, tmp_path: Path) -> None:
    feed.add("tpv", "1.2.0")
    online_only = tmp_path / "online"
    online_only.mkdir()
    for role in ("snapshot", "timestamp"):
        for suffix in (".key", ".pub"):
            shutil.copy(feed.keys_dir / f"{role}-1{suffix}", online_only)
    before = tree_digest(feed.repo.feed_dir)
    out = release("publish", feed.repo.workdir, "--keys", online_only, check=False)
    assert "Signing the targets role needs 1 of its 1 key(s); 0 found" in out
    assert tree_digest(feed.repo.feed_dir) == before


def test_refresh_renews_timestamp_with_online_keys_only(feed: Feed, tmp_path: Path) -> None:
    online_only = tmp_path / "online"
    online_only.mkdir()
    for role in ("snapshot", "timestamp"):
        for suffix in (".key", ".pub"):
            shutil.copy(feed.keys_dir / f"{role}-1{suffix}", online_only)
    version = feed.repo.current()["timestamp"].signed.version
    out = release("refresh", feed.repo.workdir, "--keys", online_only)
    assert f"Signed timestamp version {version + 1}." in out
    assert "Signed targets" not in out
    assert "The feed verifies." in release("verify", feed.repo.workdir)


def test_refresh_refuses_unpublished_changes(feed: Feed) -> None:
    feed.add("tpv", "1.2.0")
    out = release("refresh", feed.repo.workdir, "--keys", feed.keys_dir, check=False)
    assert "unpublished changes" in out


def test_publish_with_nothing_new_signs_nothing(feed: Feed) -> None:
    before = tree_digest(feed.repo.feed_dir)
    out = release("publish", feed.repo.workdir, "--keys", feed.keys_dir)
    assert "Nothing to publish" in out
    assert tree_digest(feed.repo.feed_dir) == before


def test_verify_detects_a_damaged_package_on_disk(feed: Feed) -> None:
    info = feed.repo.published_targets()["packages/erp/1.0.1/erp-1.0.1.zip"]
    path = feed.repo.target_file(info.path, info.hashes["sha256"])
    path.write_bytes(path.read_bytes()[:-1] + b"!")
    out = release("verify", feed.repo.workdir, check=False)
    assert "erp-1.0.1.zip" in out and "The feed does NOT verify." in out


def test_verify_detects_a_missing_file(feed: Feed) -> None:
    info = feed.repo.published_targets()["packages/tpv/1.0.0/tpv-1.0.0.files.json"]
    feed.repo.target_file(info.path, info.hashes["sha256"]).unlink()
    out = release("verify", feed.repo.workdir, check=False)
    assert "Missing file" in out and "does NOT verify" in out


def test_set_rollout_zero_halts_a_release(feed: Feed, tmp_path: Path) -> None:
    release("set", feed.repo.workdir, "tpv", "1.1.0", "--rollout", "0")
    release("publish", feed.repo.workdir, "--keys", feed.keys_dir)
    for server in feed_server(feed.repo.feed_dir):
        tpv = Client(server.url, feed.root, tmp_path / "state").check().product("tpv")
        assert tpv is not None and tpv.latest is not None
        assert tpv.latest.rollout_percent == 0


def test_a_withdrawn_release_and_a_minimum_version_are_signed_into_the_manifest(
    feed: Feed, tmp_path: Path
) -> None:
    out = release("set", feed.repo.workdir, "tpv", "1.1.0", "--withdrawn", "yes")
    assert "withdrawn: yes" in out
    out = release("minimum", feed.repo.workdir, "tpv", "1.0.1")
    assert "older than 1.0.1" in out
    refused = release("minimum", feed.repo.workdir, "tpv", "9.0", check=False)
    assert "No release of tpv is 9.0 or newer" in refused
    release("publish", feed.repo.workdir, "--keys", feed.keys_dir)
    for server in feed_server(feed.repo.feed_dir):
        tpv = Client(server.url, feed.root, tmp_path / "state").check().product("tpv")
        assert tpv is not None and tpv.min_version == Version("1.0.1")
        assert [str(r.version) for r in tpv.releases if r.withdrawn] == ["1.1.0"]
    release("minimum", feed.repo.workdir, "tpv", "none")
    release("set", feed.repo.workdir, "tpv", "1.1.0", "--withdrawn", "no")
    document = json.loads(feed.repo.manifest_bytes("stable"))
    assert "min_version" not in document["products"]["tpv"]
    assert not any("withdrawn" in r for r in document["products"]["tpv"]["releases"])


def test_keygen_writes_owner_only_encrypted_key(tmp_path: Path) -> None:
    out = release(
        "keygen", "root-1", "--dir", tmp_path, "--passphrase-env", "PW", env={"PW": "s3cret"}
    )
    assert "Key id:" in out
    private = tmp_path / "root-1.key"
    if sys.platform != "win32":  # Windows has no mode bits: the folder's ACL protects it
        assert stat.S_IMODE(private.stat().st_mode) == 0o600
    assert b"ENCRYPTED PRIVATE KEY" in private.read_bytes()
    public = load_public_key(tmp_path / "root-1.pub")
    assert load_signer(private, public, lambda _p: b"s3cret").public_key.keyid == public.keyid
    with pytest.raises(SigningKeyError, match="wrong passphrase"):
        load_signer(private, public, lambda _p: b"wrong")
    with pytest.raises(SigningKeyError, match="none was given"):
        load_signer(private, public)
    assert "already exists" in release(
        "keygen", "root-1", "--dir", tmp_path, "--no-passphrase", check=False
    )


def test_init_with_two_of_three_root_keys_and_passphrases(tmp_path: Path) -> None:
    keys = tmp_path / "keys"
    env = {"INNOVA_RELEASE_PASSPHRASE": "pw"}
    for n in (1, 2, 3):
        release("keygen", f"root-{n}", "--dir", keys, "--passphrase-env", "PW", env={"PW": "pw"})
    for role in ("targets", "snapshot", "timestamp"):
        release("keygen", role, "--dir", keys, "--no-passphrase")
    # Only two of the three root keys are at hand: enough for a threshold of 2.
    (keys / "root-3.key").rename(tmp_path / "root-3.key")
    args = ["init", tmp_path / "work", "--keys", keys, "--root-threshold", "2"]
    for n in (1, 2, 3):
        args += ["--root-key", keys / f"root-{n}.pub"]
    for role in ("targets", "snapshot", "timestamp"):
        args += [f"--{role}-key", keys / f"{role}.pub"]
    release(*args, env=env)
    root = json.loads((tmp_path / "work/feed/metadata/1.root.json").read_text())
    assert root["signed"]["roles"]["root"]["threshold"] == 2
    assert len(root["signed"]["roles"]["root"]["keyids"]) == 3
    assert len(root["signatures"]) == 2
    # With one root key, a threshold of 2 cannot be met: nothing is created.
    (keys / "root-2.key").rename(tmp_path / "root-2.key")
    args[1] = tmp_path / "work2"
    out = release(*args, env=env, check=False)
    assert "needs 2 of its 3 key(s); 1 found" in out
    assert not (tmp_path / "work2").exists()


def test_rotating_the_targets_key_keeps_existing_clients_working(
    feed: Feed, tmp_path: Path
) -> None:
    for server in feed_server(feed.repo.feed_dir):
        client = Client(server.url, feed.root, tmp_path / "state")
        client.check()
        old = feed.repo.current()["root"].signed.roles["targets"].keyids[0]
        release("keygen", "targets-2", "--dir", feed.keys_dir, "--no-passphrase")
        out = release(
            "rotate-keys", feed.repo.workdir, "--role", "targets",
            "--add", feed.keys_dir / "targets-2.pub", "--remove", old[:10],
            "--keys", feed.keys_dir,
        )  # fmt: skip
        assert "Signed root version 2." in out
        (feed.keys_dir / "targets-1.key").unlink()  # the old key is gone for good
        feed.add("tpv", "1.2.0")
        release("publish", feed.repo.workdir, "--keys", feed.keys_dir)
        tpv = client.check().product("tpv")
        assert tpv is not None and str(tpv.latest.version) == "1.2.0"  # type: ignore[union-attr]
        root = json.loads((feed.repo.metadata_dir / "2.root.json").read_text())
        assert old not in root["signed"]["roles"]["targets"]["keyids"]


def test_renewing_the_root_extends_its_expiry(feed: Feed) -> None:
    before = feed.repo.current()["root"].signed.expires
    release("rotate-keys", feed.repo.workdir, "--role", "root", "--keys", feed.keys_dir)
    after = feed.repo.current()["root"].signed
    assert after.version == 2 and after.expires >= before


def test_api_refuses_release_without_package_or_notes(feed: Feed) -> None:
    base = ReleaseSpec(product="tpv", version="3.0", channel="stable", notes_es="x", notes_en="y")
    with pytest.raises(PublishError, match="needs a package"):
        feed.repo.add_release(base)
    with pytest.raises(PublishError, match="Spanish and in English"):
        feed.repo.add_release(
            ReleaseSpec(
                product="tpv",
                version="3.0",
                channel="stable",
                notes_es="",
                notes_en="y",
                installer=InstallerSpec(feed.base / "nope.exe", ()),
            )
        )


def test_keyring_ignores_public_keys_without_private_half(tmp_path: Path) -> None:
    pair = generate_key(tmp_path, "lonely")
    pair.private_path.unlink()
    assert not KeyRing([tmp_path]).has(pair.public_key.keyid)


def test_release_tool_help_lists_every_subcommand() -> None:
    out = release("--help")
    for command in ("keygen", "init", "add", "set", "publish", "refresh", "verify", "rotate-keys"):
        assert command in out


def online_keys(feed: Feed, folder: Path) -> KeyRing:
    """Only the keys a scheduled job holds: snapshot and timestamp."""
    folder.mkdir()
    for role in ("snapshot", "timestamp"):
        for suffix in (".key", ".pub"):
            shutil.copy(feed.keys_dir / f"{role}-1{suffix}", folder)
    return KeyRing([folder])


def test_refresh_keeps_the_feed_alive_when_targets_is_due_without_its_key(
    feed: Feed, tmp_path: Path
) -> None:
    """50 days on, targets (90 days) is due for renewal but the job has no targets key:
    the timestamp and snapshot are renewed anyway and the deadline is announced."""
    later = utcnow() + timedelta(days=50)
    result = feed.repo.refresh(online_keys(feed, tmp_path / "online"), now=later)
    assert set(result.signed) == {"snapshot", "timestamp"}
    expires = feed.repo.current()["targets"].signed.expires.strftime("%Y-%m-%d %H:%M UTC")
    assert result.warnings == [
        f"The targets signature expires on {expires}; publish with the targets key before then."
    ]


def test_publish_warns_when_the_root_expires_soon(feed: Feed) -> None:
    feed.add("tpv", "1.2.0")
    result = feed.repo.publish(feed.keyring, now=utcnow() + timedelta(days=300))
    assert any("The root expires on" in w and "rotate-keys" in w for w in result.warnings)


def test_a_key_with_another_passphrase_does_not_block_a_met_threshold(tmp_path: Path) -> None:
    keys = tmp_path / "keys"
    root_keys = [
        generate_key(keys, "root-1").public_key,
        generate_key(keys, "root-2", b"A").public_key,
        generate_key(keys, "root-3", b"B").public_key,
    ]
    others = {r: [generate_key(keys, r).public_key] for r in ("targets", "snapshot", "timestamp")}
    repo = FeedRepository.create(
        tmp_path / "work",
        role_keys={"root": root_keys, **others},
        thresholds={"root": 2},
        keyring=KeyRing([keys], lambda _path: b"A"),
    )
    root = repo.current()["root"]
    assert len(root.signatures) == 2  # root-1 and root-2; root-3 could not be opened


def test_remove_takes_back_an_unpublished_release_and_its_files(feed: Feed) -> None:
    before = tree_digest(feed.repo.workdir)
    releases_before = (feed.repo.workdir / "releases.json").read_bytes()
    feed.add("tpv", "1.2.0")
    out = release("remove", feed.repo.workdir, "tpv", "1.2.0")
    assert "Removed tpv 1.2.0" in out
    assert (feed.repo.workdir / "releases.json").read_bytes() == releases_before
    assert tree_digest(feed.repo.feed_dir) == {
        k.removeprefix("feed/"): v for k, v in before.items() if k.startswith("feed/")
    }


def test_remove_refuses_a_published_release(feed: Feed) -> None:
    out = release("remove", feed.repo.workdir, "tpv", "1.1.0", check=False)
    assert "already published and cannot be removed" in out


def test_failed_publish_leaves_no_stray_manifest(feed: Feed) -> None:
    feed.add("tpv", "1.2.0")
    record = json.loads((feed.repo.workdir / "releases.json").read_text())
    package = record["products"]["tpv"]["releases"][-1]["packages"][0]
    stored = feed.repo.target_file(package["target"], package["sha256"])
    stored.write_bytes(stored.read_bytes() + b"tampered")
    before = tree_digest(feed.repo.feed_dir)
    with pytest.raises(PublishError, match="would not verify"):
        feed.repo.publish(feed.keyring)
    assert tree_digest(feed.repo.feed_dir) == before


def test_rotate_keys_refusals(feed: Feed) -> None:
    work = feed.repo.workdir
    keyid = feed.repo.current()["root"].signed.roles["timestamp"].keyids[0]
    out = release("rotate-keys", work, "--role", "timestamp", "--remove", keyid, check=False)
    assert "would have no key left" in out
    out = release("rotate-keys", work, "--role", "timestamp", "--remove", "", check=False)
    assert "Give at least 4 characters of the key id" in out
    pub = feed.keys_dir / "timestamp-1.pub"
    out = release("rotate-keys", work, "--role", "timestamp", "--add", pub, check=False)
    assert "already has the key" in out
    feed.add("tpv", "1.2.0")
    out = release("rotate-keys", work, "--role", "root", check=False)
    assert "unpublished changes" in out


def test_verify_url_checks_the_hosted_copy(feed: Feed, tmp_path: Path) -> None:
    hosted = tmp_path / "hosted"
    shutil.copytree(feed.repo.feed_dir, hosted)
    for server in feed_server(hosted):
        assert "The feed verifies." in release("verify", feed.repo.workdir, "--url", server.url)
        info = feed.repo.published_targets()["packages/tpv/1.0.0/tpv-1.0.0.zip"]
        path = hosted / feed.repo.target_file(info.path, info.hashes["sha256"]).relative_to(
            feed.repo.feed_dir
        )
        path.unlink()  # an incomplete upload
        out = release("verify", feed.repo.workdir, "--url", server.url, check=False)
        assert "tpv-1.0.0.zip is missing on the update server" in out
        assert "does NOT verify" in out


def test_init_refuses_an_existing_feed_and_a_failed_init_leaves_nothing(
    feed: Feed, tmp_path: Path
) -> None:
    before = tree_digest(feed.repo.workdir)
    out = release("init", feed.repo.workdir, check=False)
    assert "already holds a feed" in out
    assert tree_digest(feed.repo.workdir) == before
    out = release("init", tmp_path / "x1", "--root-threshold", "2", "--no-passphrase", check=False)
    assert "threshold must be 1 to 1" in out
    assert not (tmp_path / "x1").exists()


def test_new_keys_are_encrypted_unless_asked_otherwise(tmp_path: Path) -> None:
    """No terminal to ask for a passphrase and no option: refused, nothing written."""
    out = release("keygen", "root-1", "--dir", tmp_path / "k", check=False)
    assert "protected by a passphrase" in out and "--no-passphrase" in out
    assert not (tmp_path / "k").exists() or not any((tmp_path / "k").iterdir())
    out = release("init", tmp_path / "w0", check=False)
    assert "protected by a passphrase" in out and not (tmp_path / "w0").exists()
    out = release("keygen", "t", "--dir", tmp_path / "k", "--no-passphrase", "--passphrase",
                  check=False)  # fmt: skip
    assert "cannot go with" in out
    release("keygen", "timestamp", "--dir", tmp_path / "k", "--no-passphrase")
    assert b"ENCRYPTED" not in (tmp_path / "k" / "timestamp.key").read_bytes()


def test_windows_key_files_get_an_owner_only_acl() -> None:
    """Windows ignores 0600: the private key's ACL names only its owner."""
    argv = icacls_owner_only_argv(r"C:\keys\root-1.key", "S-1-5-21-1-2-3-1001")
    assert argv == [
        "icacls.exe", r"C:\keys\root-1.key", "/inheritance:r", "/grant:r",
        "*S-1-5-21-1-2-3-1001:F", "/Q",
    ]  # fmt: skip


def test_init_can_protect_generated_keys_with_a_passphrase(tmp_path: Path) -> None:
    release("init", tmp_path / "w", "--passphrase-env", "PW", env={"PW": "pw"})
    assert b"ENCRYPTED" in (tmp_path / "w/keys/root.key").read_bytes()
    out = release("publish", tmp_path / "w", "--keys", tmp_path / "missing", check=False)
    assert "The key folder" in out and "does not exist" in out


def test_installer_exit_codes_cannot_mean_success_and_reboot(feed: Feed, tmp_path: Path) -> None:
    es, en = notes(tmp_path)
    setup = tmp_path / "setup.msi"
    setup.write_bytes(b"msi")
    out = release(
        "add", feed.repo.workdir, "--product", "erp", "--version", "9.0", "--installer", setup,
        "--success-codes", "0", "--reboot-codes", "0", "--notes-es", es, "--notes-en", en,
        check=False,
    )  # fmt: skip
    assert "cannot mean both success and reboot" in out
    out = release(
        "add", feed.repo.workdir, "--product", "erp", "--version", "9.0", "--installer", setup,
        "--notes-es", es, "--notes-en", en,
    )  # fmt: skip
    assert "no --installer-arg given" in out


def test_verify_url_refuses_an_outdated_upload(feed: Feed, tmp_path: Path) -> None:
    hosted = tmp_path / "hosted"
    shutil.copytree(feed.repo.feed_dir, hosted)  # uploaded, then a new release is published
    feed.add("tpv", "1.2.0")
    feed.repo.publish(feed.keyring)
    for server in feed_server(hosted):
        out = release("verify", feed.repo.workdir, "--url", server.url, check=False)
        assert "is older than this workspace" in out and "does NOT verify" in out


def test_a_key_that_cannot_be_opened_is_reported_when_the_threshold_is_met(
    tmp_path: Path,
) -> None:
    keys = tmp_path / "keys"
    targets = [generate_key(keys, f"targets-{n}", b"right").public_key for n in (1, 2)]
    targets.append(generate_key(keys, "targets-3", b"other").public_key)
    others = {r: [generate_key(keys, r).public_key] for r in ("root", "snapshot", "timestamp")}
    repo = FeedRepository.create(
        tmp_path / "work",
        role_keys={"targets": targets, **others},
        thresholds={"targets": 2},
        keyring=KeyRing([keys], lambda _path: b"right"),
    )
    build = make_build(tmp_path / "b", "tpv", "1.0")
    repo.add_release(ReleaseSpec("tpv", "1.0", "stable", "es", "en", build_dir=build))
    result = repo.publish(KeyRing([keys], lambda _path: b"right"))
    assert any(
        "targets-3.key" in w and "signed without one of its keys" in w for w in result.warnings
    )


def test_remove_leaves_no_empty_folder(feed: Feed) -> None:
    feed.add("tpv", "1.2.0")
    release("remove", feed.repo.workdir, "tpv", "1.2.0")
    assert not (feed.repo.targets_dir / "packages/tpv/1.2.0").exists()
