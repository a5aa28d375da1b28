"""Setting the updater up on a PC (what the Windows installer runs) and removing it.

The Windows parts (Task Scheduler XML, icacls and schtasks command lines) are pure
functions tested here on Linux; registering a task needs Windows, so those tests record
what the platform was asked to do instead."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tomllib
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from tests.shopkit import Shop
from updater.errors import ConfigError, StorageError
from updater.machine.config import load_config
from updater.machine.setup import parse_time_of_day, remove_machine, set_feed_url, setup_machine
from updater.machine.state import StateDir
from updater.platform.base import NIGHTLY_TASK
from updater.platform.posix import PosixPlatform
from updater.platform.windows import (
    icacls_lockdown_argv,
    icacls_private_argv,
    icacls_setowner_argv,
    icacls_users_write_argv,
    schtasks_create_argv,
    schtasks_delete_argv,
    task_xml,
)

NS = {"t": "http://schemas.microsoft.com/windows/2004/02/mit/task"}
CLI = Path(sys.executable).with_name("innova-update")


def test_the_nightly_task_runs_as_system_at_the_hour_given() -> None:
    xml = task_xml(
        program=r"C:\Program Files\InnovaCommerce Updater\innova-update.exe",
        arguments='update --silent --only bugfix & "more"',
        description="Nightly <update>",
        daily_at=(3, 30),
    )
    root = ET.fromstring(xml.split("\n", 1)[1])  # ElementTree refuses the UTF-16 declaration
    assert root.findtext("t:Principals/t:Principal/t:UserId", namespaces=NS) == "S-1-5-18"
    assert root.findtext("t:Principals/t:Principal/t:RunLevel", namespaces=NS) == "HighestAvailable"
    trigger = root.find("t:Triggers/t:CalendarTrigger", NS)
    assert trigger is not None
    assert trigger.findtext("t:StartBoundary", namespaces=NS) == "2026-01-01T03:30:00"
    assert trigger.findtext("t:RandomDelay", namespaces=NS) == "PT30M"
    exec_ = root.find("t:Actions/t:Exec", NS)
    assert exec_ is not None
    assert exec_.findtext("t:Command", namespaces=NS).endswith("innova-update.exe")  # type: ignore[union-attr]
    assert exec_.findtext("t:Arguments", namespaces=NS) == 'update --silent --only bugfix & "more"'
    settings = root.find("t:Settings", NS)
    assert settings is not None
    assert settings.findtext("t:StartWhenAvailable", namespaces=NS) == "true"
    assert settings.findtext("t:MultipleInstancesPolicy", namespaces=NS) == "IgnoreNew"
    assert root.findtext("t:RegistrationInfo/t:Description", namespaces=NS) == "Nightly <update>"
    with pytest.raises(ValueError):
        task_xml(program="x", arguments="", description="", daily_at=(24, 0))


def test_windows_command_lines() -> None:
    folder = r"C:\ProgramData\InnovaCommerce Updater"
    argv = icacls_lockdown_argv(folder)
    assert argv[:3] == ["icacls.exe", folder, "/inheritance:r"]
    assert "*S-1-5-32-544:(OI)(CI)F" in argv and "*S-1-5-18:(OI)(CI)F" in argv
    assert "*S-1-5-32-545:(OI)(CI)RX" in argv  # users read, never write
    assert schtasks_create_argv(NIGHTLY_TASK, "t.xml") == [
        "schtasks.exe", "/Create", "/F", "/TN", NIGHTLY_TASK, "/XML", "t.xml",
    ]  # fmt: skip
    assert schtasks_delete_argv(NIGHTLY_TASK)[:3] == ["schtasks.exe", "/Delete", "/F"]
    # owner\: users create, replace (the atomic save needs DELETE on the old file) and
    # delete what is in it, but not the folder itself; private: administrators only.
    owner = icacls_users_write_argv(folder + r"\owner")
    assert "*S-1-5-32-545:(RX,W)" in owner and "*S-1-5-32-545:(OI)(CI)(IO)M" in owner
    assert not any("F" in arg.split(":")[-1] for arg in owner if arg.startswith("*S-1-5-32-545"))
    private = icacls_private_argv(folder + r"\journal")
    assert "/inheritance:r" in private and not any("S-1-5-32-545" in arg for arg in private)
    assert icacls_setowner_argv(folder)[2:4] == ["/setowner", "*S-1-5-32-544"]


def test_time_of_day() -> None:
    assert parse_time_of_day("03:00") == (3, 0)
    assert parse_time_of_day("23:59") == (23, 59)
    for bad in ("24:00", "3", "03:60", "three"):
        with pytest.raises(ConfigError):
            parse_time_of_day(bad)


def test_feed_url_is_set_in_the_feed_table_only() -> None:
    text = (
        "# PC of shop 12\nstate_dir = 'state'\n\n[feed]  # where updates come from\n"
        "url = 'https://old.example/feed/'\nroot = 'root.json'\n\n[products.tpv]\n"
        "url = 'not this one'\n"
    )
    changed = set_feed_url(text, 'https://updates.example/f"eed/')
    data = tomllib.loads(changed)
    assert data["feed"]["url"] == 'https://updates.example/f"eed/'
    assert data["products"]["tpv"]["url"] == "not this one"
    assert changed.startswith("# PC of shop 12\n")
    added = set_feed_url("[feed]\nroot = 'root.json'\n", "https://x.example/")
    assert tomllib.loads(added)["feed"] == {"url": "https://x.example/", "root": "root.json"}


class RecordingPlatform(PosixPlatform):
    """The POSIX platform, recording the scheduled task Windows would register."""

    def __init__(self) -> None:
        super().__init__()
        self.tasks: list[tuple[str, Path, str, tuple[int, int]]] = []

    def register_daily_task(
        self, name: str, program: Path, arguments: str, description: str, at: tuple[int, int]
    ) -> None:
        self.tasks.append((name, program, arguments, at))


def test_setup_installs_the_config_locks_the_folders_and_registers_the_task(
    shop: Shop, tmp_path: Path
) -> None:
    target = tmp_path / "ProgramData" / "InnovaCommerce Updater" / "config.toml"
    platform = RecordingPlatform()
    result = setup_machine(
        platform, program=Path("/opt/innova/innova-update"), config_from=shop.config_path,
        feed_url="https://updates.example/feed/", update_at=(2, 15), config_path=target,
    )  # fmt: skip
    assert result.config_path == target and result.task == NIGHTLY_TASK
    installed = load_config(target)
    assert installed.feed.url == "https://updates.example/feed/"
    assert platform.tasks == [
        (NIGHTLY_TASK, Path("/opt/innova/innova-update"), "update --silent", (2, 15))
    ]
    if sys.platform != "win32":  # Windows has no mode bits: its ACLs need a real Windows
        assert target.parent.stat().st_mode & 0o777 == 0o755
        assert installed.state_dir.stat().st_mode & 0o022 == 0  # nobody else may write
        # An update's journal is the administrators' alone.
        assert StateDir(installed.state_dir).journal_dir.stat().st_mode & 0o777 == 0o700
    # Made as administrator, so that the tray only has to read them:
    assert (installed.state_dir / "machine-id").is_file()
    assert (installed.state_dir / "owner").is_dir()  # the one folder users may write
    assert not (installed.state_dir / "requests").exists()  # requests go through a channel


def test_setup_removes_the_old_users_request_folder_without_following_links(
    shop: Shop, tmp_path: Path
) -> None:
    """Before 1.1 users could write ``requests``; what a user left there (a link to
    a folder they may not touch) goes, and the link's target stays."""
    from tests.links import symlink

    target = tmp_path / "pd" / "config.toml"
    kept = tmp_path / "protected"
    kept.mkdir()
    (kept / "system.dll").write_bytes(b"keep me")
    config = load_config(shop.config_path)
    legacy = config.state_dir / "requests"
    legacy.mkdir(parents=True)
    symlink(legacy / "link", kept, directory=True)
    (legacy / ("a" * 32 + ".json")).write_text("{}")
    setup_machine(
        RecordingPlatform(), program=Path("/opt/innova/innova-update"),
        config_from=shop.config_path, config_path=target, update_at=None,
    )  # fmt: skip
    assert not legacy.exists()
    assert (kept / "system.dll").read_bytes() == b"keep me"


def test_an_invalid_configuration_changes_nothing(tmp_path: Path) -> None:
    source = tmp_path / "given.toml"
    source.write_text("[feed]\nurl = 'https://x.example/'\n")  # no root, no products
    target = tmp_path / "pd" / "config.toml"
    platform = RecordingPlatform()
    with pytest.raises(ConfigError):
        setup_machine(platform, program=Path("x"), config_from=source, update_at=(3, 0),
                      config_path=target)  # fmt: skip
    assert not target.exists() and platform.tasks == []
    with pytest.raises(ConfigError, match="no configuration"):
        setup_machine(platform, program=Path("x"), config_path=tmp_path / "none" / "c.toml")


def test_where_tasks_cannot_be_registered_nothing_is_changed(shop: Shop, tmp_path: Path) -> None:
    target = tmp_path / "pd" / "config.toml"
    with pytest.raises(StorageError, match="could not be set up"):
        setup_machine(PosixPlatform(), program=Path("x"), config_from=shop.config_path,
                      update_at=(3, 0), config_path=target)  # fmt: skip
    assert not target.exists()


def test_remove_keeps_the_snapshots_only_when_asked(shop: Shop) -> None:
    shop.publish("1.0.1")
    shop.service.update("tpv")
    state = shop.service.state.root
    kept = remove_machine(PosixPlatform(), keep_snapshots=True, config_path=shop.config_path)
    assert (state / "snapshots").is_dir() and shop.config_path.exists()
    assert not (state / "history.sqlite3").exists()
    assert state / "snapshots" in kept.kept
    remove_machine(PosixPlatform(), keep_snapshots=False, config_path=shop.config_path)
    assert not state.exists() and not shop.config_path.exists()
    assert shop.install_dir.is_dir()  # nothing else in the configuration's folder


def test_remove_leaves_the_operators_root_of_trust_named_outside_the_updaters_folder(
    shop: Shop, tmp_path: Path
) -> None:
    operator_root = shop.service.config.feed.root  # an absolute path, in the shop's folder
    before = operator_root.read_bytes()
    target = tmp_path / "ProgramData" / "config.toml"
    setup_machine(PosixPlatform(), program=CLI, config_from=shop.config_path, config_path=target)
    assert load_config(target).feed.root == operator_root
    removed = remove_machine(PosixPlatform(), keep_snapshots=False, config_path=target)
    assert not target.exists() and target in removed.removed
    assert operator_root.read_bytes() == before  # the operator's file, untouched
    assert operator_root not in removed.removed


def test_remove_takes_the_root_of_trust_that_setup_copied_next_to_the_configuration(
    shop: Shop, tmp_path: Path
) -> None:
    source = tmp_path / "it" / "config.toml"
    source.parent.mkdir()
    shutil.copyfile(shop.service.config.feed.root, source.parent / "root.json")
    text = shop.config_path.read_text("utf-8")
    source.write_text(
        re.sub(r"(?m)^root = .*$", "root = 'root.json'", text, count=1), encoding="utf-8"
    )
    target = tmp_path / "ProgramData" / "config.toml"
    setup_machine(PosixPlatform(), program=CLI, config_from=source, config_path=target)
    copied = target.parent / "root.json"
    assert copied.is_file()
    removed = remove_machine(PosixPlatform(), keep_snapshots=False, config_path=target)
    assert copied in removed.removed and not copied.exists()
    assert (source.parent / "root.json").is_file()  # IT's own copy stays


def test_setup_machine_from_the_command_line(shop: Shop, tmp_path: Path) -> None:
    target = tmp_path / "pd" / "config.toml"
    env = {**os.environ, "INNOVA_LANG": "en"}
    done = subprocess.run(
        [str(CLI), "setup-machine", "--config", str(target), "--config-from",
         str(shop.config_path), "--no-task"],
        capture_output=True, text=True, env=env, timeout=60,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert f"Configuration: {target}" in done.stdout
    assert load_config(target).feed.url == shop.service.config.feed.url
    refused = subprocess.run(
        [str(CLI), "setup-machine", "--config", str(target), "--update-at", "25:00"],
        capture_output=True, text=True, env=env, timeout=60,
    )  # fmt: skip
    assert refused.returncode == 20 and "HH:MM" in refused.stderr
