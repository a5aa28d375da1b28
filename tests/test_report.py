"""The diagnostic report: a real configuration, state folder, history and logs on disk,
zipped; what must be in it is, and secrets and private keys are not."""

from __future__ import annotations

import json
import sys
import tomllib
import zipfile
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

from updater.errors import StorageError
from updater.machine.config import CONFIG_ENV, load_config
from updater.machine.history import History, Operation, Outcome
from updater.machine.state import StateDir
from updater.support import report
from updater.support.doctor import Check, run_doctor
from updater.support.report import HISTORY_LIMIT, build_report, redact_config_text

SECRETS = ("s3cret", "m1rror-pw", "hunter2", "t0ken-value", "db-pass")
ROOT_JSON = b'{"signed": {"_type": "root", "version": 1}, "signatures": []}'
PRIVATE_KEY = (
    ed25519.Ed25519PrivateKey.generate()
    .private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    .decode()
)
CHECKS = [
    Check("config", True, "The configuration is valid."),
    Check("disk", False, "Little disk space is left.", "Free some disk space."),
]


@dataclass(frozen=True)
class Pc:
    base: Path
    config_path: Path
    state: StateDir
    install_dir: Path
    ca_bundle: Path


def config_text(pc_base: Path, *, extra: str = "") -> str:
    return f"""
# the shop's configuration
state_dir = 'state'
[feed]
url = 'https://shop:s3cret@updates.example.com/feed/'
mirrors = ['http://backup:m1rror-pw@192.0.2.10/feed/']
root = 'root.json'
ca_bundle = 'company-ca.pem'
[products.tpv]
name = "InnovaCommerce TPV"
install_dir = '{pc_base / "TPV"}'
executable = "tpv.exe"
health_check = ['{{install_dir}}/tpv.exe', '--self-test', '--password=hunter2']
prestashop_command = ['php', 'version.php', '--token', 't0ken-value', 'DB_PASSWORD=db-pass']
[products.tpv.hooks]
pre_snapshot = ['{{install_dir}}/backup.exe', '--quiet']
timeout = 120
{extra}
"""


@pytest.fixture
def pc(tmp_path: Path) -> Pc:
    base = tmp_path / "pc"
    base.mkdir()
    (base / "root.json").write_bytes(ROOT_JSON)
    ca = base / "company-ca.pem"
    ca.write_text("-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n")
    install = base / "TPV"
    install.mkdir()
    (install / "VERSION").write_text("1.4.2\n")
    config = base / "config.toml"
    config.write_text(config_text(base))
    state = StateDir(base / "state")
    state.ensure()
    with History(state.history_db) as history:
        history.record(Operation.CHECK, Outcome.SUCCESS, message="tpv 1.4.3")
        history.record(
            Operation.UPDATE, Outcome.ROLLED_BACK, "tpv", "1.4.2", "1.4.3",
            error_code="install.health", message="The self-check failed.",
        )  # fmt: skip
    (state.logs_dir / "updater.log").write_text(
        "INFO fetching https://shop:s3cret@updates.example.com/feed/metadata/timestamp.json\n"
        "INFO done\n"
    )
    (state.logs_dir / "updater.log.1").write_text(f"DEBUG pasted by mistake:\n{PRIVATE_KEY}end\n")
    (state.logs_dir / "updater.log.key").write_text(PRIVATE_KEY)
    (state.logs_dir / "notes.txt").write_text("not a log")
    metadata = state.feed_cache / "metadata"
    metadata.mkdir()
    (metadata / "timestamp.json").write_text('{"signed": {"_type": "timestamp"}}')
    (state.root / "signing.key").write_text(PRIVATE_KEY)
    return Pc(base, config, state, install, ca)


def read_zip(path: Path) -> dict[str, bytes]:
    with zipfile.ZipFile(path) as archive:
        assert archive.testzip() is None
        return {name: archive.read(name) for name in archive.namelist()}


def assert_clean(members: dict[str, bytes]) -> None:
    for name, data in members.items():
        assert not name.endswith(".key"), name
        assert b"PRIVATE KEY" not in data, name
        for secret in SECRETS:
            assert secret.encode() not in data, (name, secret)


def test_the_report_holds_what_support_needs_and_no_secret(pc: Pc, tmp_path: Path) -> None:
    out = tmp_path / "reports" / "report.zip"
    assert build_report(out, config_path=pc.config_path, checks=CHECKS, state_dir=None) == out

    members = read_zip(out)
    assert set(members) == {
        "doctor.txt",
        "config.toml",
        "history.json",
        "versions.json",
        "logs/updater.log",
        "logs/updater.log.1",
        "root.json",
        "trusted-metadata/timestamp.json",
    }
    assert_clean(members)

    assert members["doctor.txt"].decode().splitlines() == [
        "[OK] config: The configuration is valid.",
        "[FAIL] disk: Little disk space is left. What to do: Free some disk space.",
    ]

    config = tomllib.loads(members["config.toml"].decode())
    feed = config["feed"]
    assert feed["url"] == "https://shop:***@updates.example.com/feed/"
    assert feed["mirrors"] == ["http://backup:***@192.0.2.10/feed/"]
    assert feed["ca_bundle"] == str(pc.ca_bundle)  # paths are kept
    assert feed["root"] == str(pc.base / "root.json")
    assert config["state_dir"] == str(pc.state.root)
    tpv = config["products"]["tpv"]
    assert tpv["health_check"] == ["{install_dir}/tpv.exe", "--self-test", "--password=***"]
    assert tpv["prestashop_command"] == ["php", "version.php", "--token", "***", "DB_PASSWORD=***"]
    assert tpv["hooks"] == {
        "pre_snapshot": ["{install_dir}/backup.exe", "--quiet"],
        "timeout": 120.0,
    }
    # what is left is still a configuration the updater reads (with the passwords masked)
    redacted = tmp_path / "redacted.toml"
    redacted.write_bytes(members["config.toml"])
    assert load_config(redacted).feed.url == "https://shop:***@updates.example.com/feed/"

    history = json.loads(members["history.json"])
    assert [(e["operation"], e["outcome"]) for e in history] == [
        ("update", "rolled_back"),
        ("check", "success"),
    ]
    assert history[0]["error_code"] == "install.health" and "started_at" in history[0]

    versions = json.loads(members["versions.json"])
    assert versions["python"]["version"] == ".".join(map(str, sys.version_info[:3]))
    assert versions["packages"]["tuf"] and versions["packages"]["requests"]
    assert "PySide6" in versions["packages"] and versions["os"]["system"]
    assert versions["products"]["tpv"]["installed_version"] == "1.4.2"

    assert b"https://shop:***@updates.example.com" in members["logs/updater.log"]
    assert b"[private key removed]" in members["logs/updater.log.1"]
    assert members["root.json"] == ROOT_JSON
    assert not [p for p in out.parent.iterdir() if p != out]  # no temporary file left


def test_a_configuration_that_does_not_load_is_included_masked(pc: Pc, tmp_path: Path) -> None:
    pc.config_path.write_text(
        config_text(pc.base, extra="password = 'hunter2'\ninstal_dir = 'x'\n")
    )
    checks = run_doctor(pc.config_path)
    assert [c.id for c in checks] == ["config", "pending_reboot"] and not checks[0].ok
    out = build_report(
        tmp_path / "report.zip", config_path=pc.config_path, checks=checks, state_dir=pc.state.root
    )
    members = read_zip(out)
    assert {
        "doctor.txt",
        "config.toml",
        "history.json",
        "versions.json",
        "logs/updater.log",
    } <= set(members)
    assert "root.json" not in members
    assert_clean(members)
    text = members["config.toml"].decode()
    assert text.startswith("# The configuration could not be loaded: ")
    assert "# the shop's configuration" in text  # the file as written
    assert "url = 'https://shop:***@updates.example.com/feed/'" in text
    assert "password = '***'" in text
    assert "'--password=***'" in text
    assert "'--token', '***'" in text
    assert json.loads(members["versions.json"])["products"] == {}
    assert len(json.loads(members["history.json"])) == 2


def test_without_configuration_or_state(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    missing = tmp_path / "missing.toml"
    monkeypatch.setenv(CONFIG_ENV, str(missing))
    out = build_report(tmp_path / "report.zip", config_path=None, checks=[], state_dir=None)
    members = read_zip(out)
    assert set(members) == {"doctor.txt", "config.toml", "history.json", "versions.json"}
    assert str(missing) in members["config.toml"].decode()
    assert json.loads(members["history.json"]) == []
    assert members["doctor.txt"] == b""


def test_an_existing_report_is_replaced_whole(pc: Pc, tmp_path: Path) -> None:
    out = tmp_path / "report.zip"
    out.write_bytes(b"an old report")
    build_report(out, config_path=pc.config_path, checks=CHECKS, state_dir=None)
    assert "doctor.txt" in read_zip(out)


def test_a_report_that_cannot_be_written(pc: Pc, tmp_path: Path) -> None:
    blocker = tmp_path / "blocker"
    blocker.write_text("a file, not a folder")
    with pytest.raises(StorageError) as caught:
        build_report(blocker / "report.zip", config_path=pc.config_path, checks=[], state_dir=None)
    assert "cannot be written" in caught.value.message
    assert sorted(p.name for p in tmp_path.iterdir()) == ["blocker", "pc"]


def test_history_is_limited(pc: Pc, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert HISTORY_LIMIT == 500
    monkeypatch.setattr(report, "HISTORY_LIMIT", 3)
    with History(pc.state.history_db) as history:
        for _ in range(3):
            history.record(Operation.CHECK, Outcome.NOTHING_TO_DO)
    out = build_report(tmp_path / "r.zip", config_path=pc.config_path, checks=[], state_dir=None)
    entries = json.loads(read_zip(out)["history.json"])
    assert [e["outcome"] for e in entries] == ["nothing_to_do"] * 3


def test_redact_config_text() -> None:
    text = (
        "url = 'https://u:pw@host/feed/'  # token: abc\n"
        'health_check = ["x.exe", "--api-key=k3y", "--port=8080", "--pass", "p w"]\n'
        "root = 'C:\\\\ProgramData\\\\root.json'\n"
        'post_swap = ["x.exe", "--license-key", "AAAA", "Pwd=S3cret"]\n'
    )
    assert redact_config_text(text) == (
        "url = 'https://u:***@host/feed/'  # token: ***\n"
        'health_check = ["x.exe", "--api-key=***", "--port=8080", "--pass", "***"]\n'
        "root = 'C:\\\\ProgramData\\\\root.json'\n"
        'post_swap = ["x.exe", "--license-key", "***", "Pwd=***"]\n'
    )
