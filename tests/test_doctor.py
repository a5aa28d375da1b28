"""The doctor on a real shop PC setup: a feed built by the publisher and served on
127.0.0.1, a configuration file, a program folder, a state folder; and for each check,
the real condition that makes it fail (no mocks of the things checked)."""

from __future__ import annotations

import contextlib
import datetime
import email.utils
import functools
import hashlib
import ipaddress
import shutil
import socket
import ssl
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tests.apps import install_app
from tests.feedkit import make_build
from tests.feedserver import FeedServer
from updater.machine.config import CONFIG_ENV, load_config
from updater.machine.state import StateDir
from updater.platform import posix
from updater.publish.keys import KeyRing, generate_key
from updater.publish.repository import FeedRepository, ReleaseSpec
from updater.service import UpdaterService
from updater.support import doctor
from updater.support.doctor import CHECK_IDS, Check, format_check, run_doctor

_PROXY_VARS = ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY", "REQUESTS_CA_BUNDLE")


# --- a shop PC and its feed -----------------------------------------------------------------


@dataclass(frozen=True)
class PublishedFeed:
    feed_dir: Path
    root: bytes


@pytest.fixture(scope="module")
def published(tmp_path_factory: pytest.TempPathFactory) -> PublishedFeed:
    """A signed feed with one TPV release, built once for the module."""
    base = tmp_path_factory.mktemp("doctor-feed")
    keys = base / "keys"
    roles = ("root", "targets", "snapshot", "timestamp")
    repo = FeedRepository.create(
        base / "work",
        role_keys={role: [generate_key(keys, role).public_key] for role in roles},
        thresholds={},
        keyring=KeyRing([keys]),
    )
    build = make_build(base / "build", "tpv", "1.0.0")
    spec = ReleaseSpec("tpv", "1.0.0", "stable", "es", "en", product_name="TPV", build_dir=build)
    repo.add_release(spec)
    repo.publish(KeyRing([keys]))
    return PublishedFeed(repo.feed_dir, (repo.metadata_dir / "1.root.json").read_bytes())


@pytest.fixture(scope="module")
def feed_url(published: PublishedFeed) -> Iterator[str]:
    with FeedServer(published.feed_dir) as server:
        yield server.url


def write_config(
    path: Path, *, url: str, root: Path, install: Path, state: Path, extra: str = ""
) -> Path:
    path.write_text(
        f"""
state_dir = '{state}'
[feed]
url = '{url}'
root = '{root}'
[products.tpv]
name = "InnovaCommerce TPV"
install_dir = '{install}'
executable = "tpv"
{extra}
"""
    )
    return path


@dataclass(frozen=True)
class Shop:
    base: Path
    root: Path
    install_dir: Path
    state_dir: Path
    config_path: Path

    @property
    def url(self) -> str:
        return load_config(self.config_path).feed.url

    def configure(self, url: str, **changes: Any) -> Path:
        """Rewrite the configuration with another feed address (and other paths)."""
        settings: dict[str, Any] = {
            "root": self.root, "install": self.install_dir, "state": self.state_dir,
        }  # fmt: skip
        settings.update(changes)
        return write_config(self.config_path, url=url, **settings)


def make_shop(base: Path, url: str, root: bytes) -> Shop:
    install = base / "Program Files" / "InnovaCommerce" / "TPV"
    install.mkdir(parents=True)
    (install / "VERSION").write_text("1.0.0\n")
    root_path = base / "root.json"
    root_path.write_bytes(root)
    state = base / "ProgramData" / "InnovaCommerce Updater"
    config = write_config(
        base / "config.toml", url=url, root=root_path, install=install, state=state
    )
    return Shop(base, root_path, install, state, config)


@pytest.fixture(autouse=True)
def restart_mark(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[[], None]]:
    """The platform's marks of a pending restart point at the test's own (a file on
    POSIX, a key under HKCU on Windows), so the machine's state does not count; call
    the fixture's value to set the mark."""
    if sys.platform != "win32":
        marker = tmp_path / "reboot-required"
        monkeypatch.setattr(posix, "REBOOT_REQUIRED_FILE", marker)
        yield functools.partial(marker.write_text, "*** System restart required ***\n")
        return
    import winreg

    from updater.platform.windows import registry

    subkey = f"Software\\InnovaTest-{uuid.uuid4().hex[:8]}-RebootRequired"
    monkeypatch.setattr(registry, "REBOOT_PENDING", (("HKEY_CURRENT_USER", subkey, None),))
    yield functools.partial(winreg.CreateKey, winreg.HKEY_CURRENT_USER, subkey)
    with contextlib.suppress(FileNotFoundError):
        winreg.DeleteKey(winreg.HKEY_CURRENT_USER, subkey)


@pytest.fixture(autouse=True)
def _isolated(monkeypatch: pytest.MonkeyPatch) -> None:
    """No proxy or CA bundle of the machine running the tests counts."""
    for name in _PROXY_VARS:
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.lower(), raising=False)


@pytest.fixture
def shop(tmp_path: Path, published: PublishedFeed, feed_url: str) -> Shop:
    return make_shop(tmp_path / "pc", feed_url, published.root)


def by_id(checks: list[Check]) -> dict[str, Check]:
    assert len({c.id for c in checks}) == len(checks)
    return {c.id: c for c in checks}


def assert_failed(check: Check, *words: str) -> None:
    assert not check.ok, check
    assert check.fix, check
    assert "\n" not in check.message and "\n" not in check.fix
    for word in words:
        assert word in check.message + " " + check.fix, check


def others_ok(checks: list[Check], *failing: str) -> None:
    wrong = [c for c in checks if c.ok == (c.id in failing)]
    assert not wrong, wrong


def state_files(folder: Path) -> dict[str, tuple[str, int]]:
    return {
        p.relative_to(folder).as_posix(): (
            hashlib.sha256(p.read_bytes()).hexdigest(),
            p.stat().st_mtime_ns,
        )
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


@contextlib.contextmanager
def serving(server: ThreadingHTTPServer) -> Iterator[str]:
    """Serve from a thread; yields the base URL."""
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        host, port = server.server_address[:2]
        scheme = "https" if isinstance(server.socket, ssl.SSLSocket) else "http"
        yield f"{scheme}://{host!s}:{port}/"
    finally:
        server.shutdown()
        thread.join(5)
        server.server_close()


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


class _SkewedClockHandler(_QuietHandler):
    """Serves a folder with a ``Date`` header one hour ahead of the real time."""

    def date_time_string(self, timestamp: float | None = None) -> str:
        return email.utils.formatdate((timestamp or time.time()) + 3600, usegmt=True)


def self_signed_tls_context(folder: Path) -> ssl.SSLContext:
    """A server context with a certificate for 127.0.0.1 that nobody trusts."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=30))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .sign(key, hashes.SHA256())
    )
    pem = folder / "server.pem"
    pem.write_bytes(
        cert.public_bytes(serialization.Encoding.PEM)
        + key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(pem)
    return context


# --- a healthy PC ---------------------------------------------------------------------------


def test_every_check_passes_on_a_healthy_pc_and_nothing_trusted_changes(shop: Shop) -> None:
    UpdaterService(load_config(shop.config_path)).check()  # the PC has checked before
    trusted = StateDir(shop.state_dir).feed_cache
    before = state_files(trusted)
    assert "metadata/timestamp.json" in before

    checks = run_doctor(shop.config_path)

    assert [c.id for c in checks] == list(CHECK_IDS)
    assert all(c.ok and c.fix is None for c in checks), [c for c in checks if not c.ok]
    found = by_id(checks)
    assert str(shop.config_path) in found["config"].message
    assert "valid until" in found["feed"].message
    assert "directly, without a proxy" in found["tls_proxy"].message
    assert "agrees with the feed server" in found["clock"].message
    assert "MB free" in found["disk"].message
    assert str(shop.install_dir.parent) in found["write_access"].message
    # the doctor verified the feed in a copy: the trusted metadata was not even rewritten
    assert state_files(trusted) == before
    # and it left no probe file behind
    assert list(shop.base.rglob(".innova-doctor-*")) == []
    for check in checks:
        assert format_check(check).startswith(f"[OK] {check.id}: ")


def test_a_pc_that_never_checked_gets_no_state_from_the_doctor(shop: Shop) -> None:
    checks = run_doctor(shop.config_path)
    others_ok(checks)
    assert "No update has run on this PC yet" in by_id(checks)["state_lock"].message
    assert not shop.state_dir.exists()


# --- the configuration ----------------------------------------------------------------------


def test_a_bad_configuration_fails_alone_with_the_checks_that_need_none(shop: Shop) -> None:
    shop.config_path.write_text(shop.config_path.read_text() + "instal_dir = 'C:/x'\n")
    checks = run_doctor(shop.config_path)
    assert [c.id for c in checks] == ["config", "pending_reboot"]
    assert_failed(checks[0], "instal_dir")
    assert checks[1].ok
    line = format_check(checks[0])
    assert line.startswith("[FAIL] config: ") and "What to do: " in line


def test_the_configuration_is_found_through_the_environment(shop: Shop, tmp_path: Path) -> None:
    missing = tmp_path / "nowhere" / "config.toml"
    checks = run_doctor(None, environ={CONFIG_ENV: str(missing)})
    assert_failed(checks[0], str(missing), "does not exist")
    checks = run_doctor(None, environ={CONFIG_ENV: str(shop.config_path)})
    assert [c.id for c in checks] == list(CHECK_IDS)
    assert checks[0].ok


def test_passwords_in_addresses_never_reach_a_message(shop: Shop, feed_url: str) -> None:
    secret_url = feed_url.replace("http://", "http://alice:s3cret@")
    shop.configure(secret_url)
    checks = run_doctor(shop.config_path)
    others_ok(checks)  # the test server ignores the credentials
    assert "alice:***@" in by_id(checks)["config"].message
    # a configuration error that repeats the address
    text = shop.config_path.read_text().replace("[feed]", f"[feed]\nmirrors = ['{secret_url}']", 1)
    shop.config_path.write_text(text)
    checks = run_doctor(shop.config_path)
    assert_failed(checks[0], "listed more than once", "alice:***@")
    assert all("s3cret" not in format_check(c) for c in checks)


# --- the feed, TLS, proxy, clock ------------------------------------------------------------


def test_an_unreachable_feed(shop: Shop) -> None:
    shop.configure(f"http://127.0.0.1:{closed_port()}/")
    checks = run_doctor(shop.config_path)
    found = by_id(checks)
    assert_failed(found["feed"], "cannot be used", "Connection refused")
    others_ok(checks, "feed")
    assert found["clock"].message.startswith("Not checked")


def test_a_feed_that_is_not_genuine(shop: Shop, tmp_path: Path) -> None:
    """The configured root of trust belongs to another publisher."""
    keys = tmp_path / "other-keys"
    roles = ("root", "targets", "snapshot", "timestamp")
    other = FeedRepository.create(
        tmp_path / "other",
        role_keys={role: [generate_key(keys, role).public_key] for role in roles},
        thresholds={},
        keyring=KeyRing([keys]),
    )
    shutil.copy(other.metadata_dir / "1.root.json", shop.root)
    checks = run_doctor(shop.config_path)
    assert_failed(by_id(checks)["feed"], "cannot be used", "not signed by enough valid")
    others_ok(checks, "feed")


def test_a_server_clock_one_hour_off(shop: Shop, published: PublishedFeed) -> None:
    handler = functools.partial(_SkewedClockHandler, directory=str(published.feed_dir))
    with serving(ThreadingHTTPServer(("127.0.0.1", 0), handler)) as url:
        shop.configure(url)
        checks = run_doctor(shop.config_path)
    found = by_id(checks)
    assert_failed(found["clock"], "60 minutes behind", "Set the PC's clock")
    others_ok(checks, "clock")  # an hour is not enough to make the metadata expire


def test_a_certificate_this_pc_does_not_trust(shop: Shop, tmp_path: Path) -> None:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _QuietHandler)
    server.socket = self_signed_tls_context(tmp_path).wrap_socket(server.socket, server_side=True)
    with serving(server) as url:
        shop.configure(url)
        checks = run_doctor(shop.config_path)
    found = by_id(checks)
    assert_failed(
        found["tls_proxy"],
        "A secure connection to",
        "not issued by a certificate authority that this PC trusts",
        "ca_bundle",
    )
    assert "system's certificate store" in found["tls_proxy"].message
    assert not found["feed"].ok
    others_ok(checks, "feed", "tls_proxy")


def test_a_proxy_that_does_not_answer(shop: Shop, monkeypatch: pytest.MonkeyPatch) -> None:
    port = closed_port()
    monkeypatch.setenv("HTTP_PROXY", f"http://bob:pr0xy@127.0.0.1:{port}")
    checks = run_doctor(shop.config_path)
    found = by_id(checks)
    assert_failed(found["tls_proxy"], f"through the proxy http://bob:***@127.0.0.1:{port}")
    assert "proxy settings" in (found["tls_proxy"].fix or "")
    assert not found["feed"].ok
    assert all("pr0xy" not in format_check(c) for c in checks)
    # NO_PROXY is honoured as the updater honours it
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    others_ok(run_doctor(shop.config_path))


def test_a_feed_in_a_folder_needs_no_network(shop: Shop, published: PublishedFeed) -> None:
    shop.configure(str(published.feed_dir))
    checks = run_doctor(shop.config_path)
    others_ok(checks)
    found = by_id(checks)
    assert "is a folder" in found["tls_proxy"].message
    assert found["clock"].message.startswith("Not checked")


# --- folders --------------------------------------------------------------------------------


def test_a_file_where_the_install_folder_should_be(shop: Shop) -> None:
    blocker = shop.base / "Blocked"
    blocker.write_text("not a folder")
    shop.configure(shop.url, install=blocker / "TPV")
    checks = run_doctor(shop.config_path)
    found = by_id(checks)
    assert_failed(found["disk"], f"{blocker} is a file", "Move or delete")
    assert_failed(found["write_access"], f"{blocker} is a file")
    others_ok(checks, "disk", "write_access")


def test_little_disk_space_left(shop: Shop, monkeypatch: pytest.MonkeyPatch) -> None:
    free = shutil.disk_usage(shop.base).free
    monkeypatch.setattr(doctor, "LOW_DISK_BYTES", free + 2**40)
    checks = run_doctor(shop.config_path)
    assert_failed(by_id(checks)["disk"], "Little disk space", "Free some disk space")
    others_ok(checks, "disk")


def test_a_folder_the_updater_cannot_write_to(shop: Shop) -> None:
    # Even root cannot create files in /proc (a read-only folder would not stop root).
    if sys.platform != "linux":
        pytest.skip(
            "needs Linux's /proc; on Windows, a folder an administrator cannot write to "
            "needs a deny ACL, which Wine's icacls does not set"
        )
    shop.configure(shop.url, install=Path("/proc/innova-doctor-test/TPV"))
    checks = run_doctor(shop.config_path)
    assert_failed(by_id(checks)["write_access"], "cannot write to /proc", "administrator")


# --- programs, restart, lock ----------------------------------------------------------------


def test_the_program_is_running(shop: Shop) -> None:
    launcher = install_app(shop.install_dir)
    proc = subprocess.Popen(launcher.argv("normal"), stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
        checks = run_doctor(shop.config_path)
    finally:
        proc.kill()
        proc.wait(10)
    found = by_id(checks)
    assert_failed(found["app_running"], "InnovaCommerce TPV is running", str(proc.pid))
    assert "--if-running" in (found["app_running"].fix or "")
    others_ok(checks, "app_running")
    others_ok(run_doctor(shop.config_path))


def test_a_restart_is_pending(shop: Shop, restart_mark: Callable[[], None]) -> None:
    assert by_id(run_doctor(shop.config_path))["pending_reboot"].ok
    restart_mark()  # Debian's file on POSIX; the registry key Windows Update sets on Windows
    checks = run_doctor(shop.config_path)
    assert_failed(by_id(checks)["pending_reboot"], "waiting to be restarted", "Restart")
    others_ok(checks, "pending_reboot")


def test_another_update_holds_the_lock(shop: Shop) -> None:
    state = StateDir(shop.state_dir)
    state.ensure()
    with state.lock():
        checks = run_doctor(shop.config_path)
        assert state.lock_owner_file.exists()
    assert_failed(by_id(checks)["state_lock"], "Another update is in progress", "Wait")
    others_ok(checks, "state_lock")
    after = run_doctor(shop.config_path)
    others_ok(after)
    assert not state.lock_owner_file.exists()
