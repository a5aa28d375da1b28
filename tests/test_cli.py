"""``innova-update`` run as IT staff run it: the installed console script, in a
subprocess, against a real feed on 127.0.0.1. Every exit code has a test.

POSIX keeps only the low 8 bits of an exit status, so 3010, 1618 and 1602 are seen here
as 194, 82 and 66 (Windows reports them whole)."""

from __future__ import annotations

import importlib.metadata
import json
import os
import signal
import subprocess
import sys
import time
import tomllib
from datetime import UTC, datetime, timedelta
from datetime import time as clock
from pathlib import Path
from typing import Any

import pytest
from packaging.version import Version

import updater
from tests.apps import install_app
from tests.shopkit import REBOOT_CODE, Shop, package_path, publish_installer, write_config
from tests.wine import not_under_wine
from updater.cli.exitcodes import Exit
from updater.feed.schedule import PollState, PollStore
from updater.machine.preferences import OpeningHours

SCRIPT = Path(sys.executable).parent / "innova-update"


def run(
    shop: Shop, *args: str | Path, config: Path | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(SCRIPT), *map(str, args), "--config", str(config or shop.config_path)],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "INNOVA_LANG": "en"},
        stdin=subprocess.DEVNULL,
    )


def code(value: Exit) -> int:
    """The exit code a parent process sees: Windows keeps all 32 bits, POSIX the low 8."""
    return int(value) if sys.platform == "win32" else int(value) % 256


def as_json(result: subprocess.CompletedProcess[str]) -> Any:
    document = json.loads(result.stdout)
    assert document["schema"] == 1 and code(Exit(document["exit_code"])) == result.returncode
    return document


def test_check_up_to_date_is_0_and_updates_available_is_100(shop: Shop) -> None:
    result = run(shop, "check")
    assert result.returncode == code(Exit.OK), result.stderr
    assert "up to date" in result.stdout
    shop.publish("1.0.1")
    result = run(shop, "check")
    assert result.returncode == code(Exit.UPDATES_AVAILABLE)
    assert "update to 1.0.1 available (bug-fix" in result.stdout
    document = as_json(run(shop, "check", "--json"))
    [product] = document["products"]
    assert product["offer"]["version"] == "1.0.1" and product["offer"]["kind"] == "bugfix"


def test_silent_update_is_0_and_says_what_happened(shop: Shop) -> None:
    shop.publish("1.0.1")
    result = run(shop, "update", "--silent")
    assert result.returncode == code(Exit.OK), result.stderr
    assert result.stdout.strip() == "InnovaCommerce TPV updated to 1.0.1."
    assert run(shop, "update").stdout.strip() == "InnovaCommerce TPV is up to date."


def test_update_with_a_reboot_pending_is_3010(shop: Shop) -> None:
    publish_installer(shop, "1.5.0", code=REBOOT_CODE)  # declared "restart needed"
    result = run(shop, "update", "--silent")
    assert result.returncode == code(Exit.REBOOT_REQUIRED), result.stderr
    assert "Restart the PC" in result.stdout


def test_another_update_in_progress_is_1618(shop: Shop) -> None:
    with shop.service.state.lock():
        result = run(shop, "update")
    assert result.returncode == code(Exit.BUSY)
    assert "Another update is in progress" in result.stderr


@not_under_wine("GenerateConsoleCtrlEvent fails, so CTRL_BREAK_EVENT cannot be sent")
def test_cancelled_is_1602(shop: Shop) -> None:
    """Ctrl+C on POSIX (SIGINT); on Windows CTRL_BREAK_EVENT to the updater's process
    group, as a deployment tool stops a console program (Ctrl+C cannot be sent to
    another process group there)."""
    shop.publish("1.0.1")
    shop.server.override(package_path(shop, "1.0.1"), drip=(100, 0.5))
    windows = sys.platform == "win32"
    process = subprocess.Popen(
        [str(SCRIPT), "update", "--config", str(shop.config_path)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "INNOVA_LANG": "en"},
        creationflags=subprocess.CREATE_NEW_PROCESS_GROUP if windows else 0,
    )  # fmt: skip
    assert process.stdout is not None
    for line in process.stdout:
        if "Downloading" in line:
            break
    time.sleep(0.5)  # inside the download
    process.send_signal(signal.CTRL_BREAK_EVENT if windows else signal.SIGINT)
    assert process.wait(timeout=30) == code(Exit.CANCELLED), process.stderr
    assert process.stderr is not None
    assert "The update was cancelled; nothing was changed." in process.stderr.read()
    assert (shop.install_dir / "VERSION").read_text() == "1.0.0\n"


#: Runs the CLI's entry point and, once the download is under way, raises SIGBREAK in
#: the process: what Ctrl+Break, or CTRL_BREAK_EVENT from another program, delivers.
BREAK_DURING_UPDATE = """
import signal, sys, threading, time
from updater.cli.main import main
def brk():
    time.sleep(float(sys.argv[2]))
    signal.raise_signal(signal.SIGBREAK)
threading.Thread(target=brk, daemon=True).start()
sys.exit(main(["update", "--config", sys.argv[1]]))
"""


@pytest.mark.skipif(sys.platform != "win32", reason="SIGBREAK (Ctrl+Break) is Windows'")
def test_ctrl_break_cancels_like_ctrl_c(shop: Shop) -> None:
    shop.publish("1.0.1")
    shop.server.override(package_path(shop, "1.0.1"), drip=(100, 0.5))
    result = subprocess.run(
        [sys.executable, "-c", BREAK_DURING_UPDATE, str(shop.config_path), "3"],
        capture_output=True, text=True, timeout=60, env={**os.environ, "INNOVA_LANG": "en"},
    )  # fmt: skip
    assert result.returncode == code(Exit.CANCELLED), result.stdout + result.stderr
    assert "Downloading" in result.stdout
    assert "The update was cancelled; nothing was changed." in result.stderr
    assert (shop.install_dir / "VERSION").read_text() == "1.0.0\n"


def test_usage_and_configuration_errors_are_20(shop: Shop, tmp_path: Path) -> None:
    assert run(shop, "update", "--no-such-flag").returncode == code(Exit.USAGE)
    broken = tmp_path / "broken.toml"
    broken.write_text("[feed]\nurl = 1\n")
    result = run(shop, "status", config=broken)
    assert result.returncode == code(Exit.USAGE)
    assert "broken.toml" in result.stderr


def test_untrusted_feed_is_21(shop: Shop, tmp_path: Path) -> None:
    """The PC trusts another publisher's root: this feed's signatures are refused."""
    from tests.feedkit import build_feed

    other = build_feed(tmp_path / "other")
    root = tmp_path / "other-root.json"
    root.write_bytes(other.root)
    config = write_config(
        tmp_path / "untrusted.toml", url=shop.server.url, root=root, install=shop.install_dir,
        data=shop.data_dir, state=tmp_path / "state",
    )  # fmt: skip
    result = run(shop, "check", config=config)
    assert result.returncode == code(Exit.UNTRUSTED), result.stderr


def test_network_failure_is_22(shop: Shop) -> None:
    result = run(shop, "check", "--feed", "http://127.0.0.1:9/")
    assert result.returncode == code(Exit.NETWORK)
    assert "could not be reached" in result.stderr


def test_package_integrity_failure_is_23(shop: Shop) -> None:
    shop.publish("1.0.1")
    shop.server.override(package_path(shop, "1.0.1"), body=b"not the zip")
    assert run(shop, "update").returncode == code(Exit.INTEGRITY)


def test_app_running_is_24(shop: Shop) -> None:
    shop.publish("1.0.1")
    launcher = install_app(shop.install_dir, "tpv-app")
    app = subprocess.Popen(launcher.argv("normal"), stdout=subprocess.PIPE, text=True)
    try:
        assert app.stdout is not None and app.stdout.readline().strip() == "ready"
        result = run(shop, "update", "--if-running", "fail")
        assert result.returncode == code(Exit.APP_RUNNING)
        assert "running" in result.stderr
    finally:
        app.kill()
        app.wait()


def test_preflight_failure_is_25(shop: Shop) -> None:
    shop.publish("2.0.0", prestashop="<1.7")
    result = run(shop, "update", "--to", "2.0.0")
    assert result.returncode == code(Exit.PREFLIGHT)
    assert "needs PrestaShop <1.7" in result.stderr


def test_failed_update_rolled_back_is_26(shop: Shop) -> None:
    shop.publish("2.0.0", self_test_exit=1)
    result = run(shop, "update", "--json")
    assert result.returncode == code(Exit.ROLLED_BACK)
    [entry] = as_json(result)["products"]
    assert entry["error"]["code"] == "install.rolled_back"
    assert (shop.install_dir / "VERSION").read_text() == "1.0.0\n"


def test_rollback_failed_is_27(shop: Shop, tmp_path: Path) -> None:
    """A post-swap hook damages the saved copy, then fails: the rollback cannot prove it
    restored the old version exactly, and says a technician is needed."""
    snapshots = shop.service.state.root / "snapshots" / "tpv"
    damage = (
        f"import glob; [open(p, 'w').write('damaged') for p in "
        f"glob.glob(r'{snapshots}/*/program/VERSION')]; raise SystemExit(1)"
    )
    config = write_config(
        tmp_path / "damage.toml", url=shop.server.url, root=shop.service.config.feed.root,
        install=shop.install_dir, data=shop.data_dir, state=shop.service.state.root,
        extra=f"[products.tpv.hooks]\npost_swap = [{json.dumps(sys.executable)}, \"-c\", "
        f"{json.dumps(damage)}]\n",  # JSON strings are TOML strings (Windows backslashes)
    )  # fmt: skip
    shop.publish("1.0.1")
    result = run(shop, "update", config=config)
    assert result.returncode == code(Exit.ROLLBACK_FAILED), result.stderr
    assert "technician" in result.stderr or "support" in result.stderr


def test_failure_before_anything_changed_is_28(shop: Shop, tmp_path: Path) -> None:
    config = write_config(
        tmp_path / "hook.toml", url=shop.server.url, root=shop.service.config.feed.root,
        install=shop.install_dir, data=shop.data_dir, state=shop.service.state.root,
        extra=f"[products.tpv.hooks]\npre_snapshot = ['{sys.executable}', '-c', 'exit(4)']\n",
    )  # fmt: skip
    shop.publish("1.0.1")
    assert run(shop, "update", config=config).returncode == code(Exit.FAILED)


def test_rollback_status_history_and_snapshots(shop: Shop) -> None:
    shop.publish("1.1.0")
    assert run(shop, "update").returncode == 0
    result = run(shop, "rollback", "tpv")
    assert result.returncode == 0, result.stderr
    assert "restored to 1.0.0" in result.stdout and "To undo this restore" in result.stdout
    status = as_json(run(shop, "status", "--json"))
    [product] = status["products"]
    # The saved 1.0.0 went back into place; what it replaced (1.1.0) is the saved copy now.
    assert product["installed"] == "1.0.0"
    assert [s["version"] for s in product["snapshots"]] == ["1.1.0"]
    history = as_json(run(shop, "history", "tpv", "--json"))
    assert [e["operation"] for e in history["entries"][:2]] == ["restore", "update"]
    assert run(shop, "update").returncode == 0  # tried again another day: 1.0.0 saved too
    pruned = as_json(run(shop, "snapshots", "--prune", "--keep", "1", "--json"))
    assert len(pruned["products"][0]["snapshots"]) == 1
    assert len(pruned["products"][0]["deleted"]) == 1


def test_status_and_check_follow_the_owners_settings_from_the_tray(shop: Shop) -> None:
    shop.publish("1.1.0")
    shop.service.skip("tpv", Version("1.1.0"))
    prefs = shop.service.preferences()
    shop.service.save_preferences(
        prefs.with_settings(
            check_interval_hours=12, channel=None, language=None, auto_install_bugfix=True,
            opening_hours=OpeningHours(clock(9), clock(21)),
        )
    )  # fmt: skip
    assert run(shop, "check").returncode == 0  # the skipped release is not offered
    status = as_json(run(shop, "status", "--json"))
    assert status["check_interval_hours"] == 12
    assert status["preferences"]["skipped"] == {"tpv": ["1.1.0"]}
    assert status["preferences"]["opening_hours"] == {"opens": "09:00", "closes": "21:00"}
    text = run(shop, "status").stdout
    assert "a check every 12 hours" in text
    assert "outside opening hours (09:00-21:00)" in text
    assert "Skipped by the shop owner: tpv 1.1.0." in text


def test_dry_run_changes_nothing(shop: Shop) -> None:
    shop.publish("1.0.1")
    result = run(shop, "update", "--dry-run")
    assert result.returncode == 0 and "nothing was changed" in result.stdout
    assert (shop.install_dir / "VERSION").read_text() == "1.0.0\n"


def test_a_usb_stick_feed_with_the_same_trust_rules(shop: Shop) -> None:
    shop.publish("1.0.1")
    result = run(shop, "update", "--feed", shop.feed.repo.feed_dir)
    assert result.returncode == 0, result.stderr
    assert (shop.install_dir / "VERSION").read_text() == "1.0.1\n"


def test_spanish_output(shop: Shop) -> None:
    shop.publish("1.0.1")
    result = run(shop, "check", "--lang", "es")
    assert "disponible" in result.stdout


def test_logs_are_written(shop: Shop) -> None:
    shop.publish("1.0.1")
    run(shop, "update")
    logs = list((shop.service.state.root / "logs").glob("updater.log*"))
    assert logs and "tpv" in logs[0].read_text()


@pytest.mark.parametrize(
    "command",
    ["check", "update", "rollback", "status", "history", "snapshots", "doctor", "report", "demo"],
)
def test_every_subcommand_has_help(command: str) -> None:
    result = subprocess.run([str(SCRIPT), command, "--help"], capture_output=True, text=True)
    assert result.returncode == 0
    assert f"innova-update {command}" in result.stdout and "--json" in result.stdout


def test_doctor_on_a_healthy_shop_is_0_and_lists_every_check(shop: Shop) -> None:
    result = run(shop, "doctor")
    assert result.returncode == 0, result.stdout + result.stderr
    for check in ("config", "feed", "clock", "disk", "write_access", "app_running"):
        assert f"OK    {check}" in result.stdout
    document = as_json(run(shop, "doctor", "--json"))
    assert all(c["ok"] for c in document["checks"])


def test_doctor_names_the_fix_and_fails_with_25(shop: Shop) -> None:
    broken = shop.config_path.with_name("unreachable.toml")
    broken.write_text(shop.config_path.read_text().replace(shop.server.url, "http://127.0.0.1:9/"))
    result = run(shop, "doctor", config=broken)
    assert result.returncode == code(Exit.PREFLIGHT)
    assert "FIX   feed" in result.stdout


def test_report_writes_a_support_bundle(shop: Shop, tmp_path: Path) -> None:
    import zipfile

    shop.publish("1.0.1")
    run(shop, "update")
    out = tmp_path / "support.zip"
    result = run(shop, "report", "--out", out)
    assert result.returncode == 0, result.stderr
    names = zipfile.ZipFile(out).namelist()
    assert {"doctor.txt", "config.toml", "history.json", "versions.json"} <= set(names)
    assert any(n.startswith("logs/") for n in names)


def test_demo_runs_end_to_end_from_the_command_line(tmp_path: Path) -> None:
    result = subprocess.run(
        [str(SCRIPT), "demo", "--keep", "--dir", str(tmp_path / "demo")],
        capture_output=True, text=True, timeout=120, env={**os.environ, "INNOVA_LANG": "en"},
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    assert "innova-update-tray --config" in result.stdout
    kept = tmp_path / "demo" / "shop" / "config.toml"
    assert kept.is_file()
    check = subprocess.run(
        [str(SCRIPT), "check", "--config", str(kept), "--json"], capture_output=True, text=True
    )
    assert check.returncode == code(Exit.UPDATES_AVAILABLE)
    assert json.loads(check.stdout)["products"]


def test_check_if_due_waits_for_the_schedule(shop: Shop) -> None:
    store = PollStore.in_state_dir(shop.service.state.root)
    store.save(PollState(next_check=datetime.now(UTC) + timedelta(hours=3)))
    result = run(shop, "check", "--if-due")
    assert result.returncode == 0 and "No check is due yet" in result.stdout
    store.save(PollState(next_check=datetime.now(UTC) - timedelta(minutes=1)))
    shop.publish("1.0.1")
    document = as_json(run(shop, "check", "--if-due", "--json"))
    assert document["due"] is True and document["exit_code"] == 100


def test_the_command_line_starts_without_the_network_and_schema_libraries() -> None:
    """``status``, ``history`` and ``snapshots`` never touch the network: starting the
    command line must not import requests, python-tuf or jsonschema (a quarter of a
    second of a cold start); the commands that need them import them when they run."""
    heavy = ("requests", "urllib3", "truststore", "tuf", "jsonschema", "cryptography")
    code = (
        "import sys, updater.cli.main\n"
        f"print(sorted(name for name in {heavy!r} if name in sys.modules))"
    )
    started = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert started.stdout.strip() == "[]", started.stdout


def test_the_version_is_the_one_pyproject_declares() -> None:
    """``updater/_version.py`` is read instead of the package metadata (it is faster):
    it must say what ``pyproject.toml`` and the installed metadata say."""
    project = tomllib.loads(
        (Path(__file__).parents[1] / "pyproject.toml").read_text(encoding="utf-8")
    )["project"]
    assert updater.__version__ == project["version"]
    assert updater.__version__ == importlib.metadata.version("innovacommerce-updater")
    shown = subprocess.run(
        [sys.executable, "-m", "updater.cli.main", "--version"],
        capture_output=True, text=True, check=True, timeout=60,
    )  # fmt: skip
    assert shown.stdout.strip() == f"innova-update {project['version']}"
