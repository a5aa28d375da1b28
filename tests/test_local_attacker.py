"""A standard user of the shop's PC against the elevated updater (docs/security.md,
"Local attacker"): each test performs one attack as such a user would, through the
same hand-over the tray uses, and shows it refused with nothing changed.

The attacks on the hand-over itself (a squatter on the channel, floods, oversized or
malformed requests, a silent requester) are in tests/test_elevation.py."""

from __future__ import annotations

import http.server
import os
import shutil
import stat
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import QObject, QUrl, Slot
from PySide6.QtGui import QDesktopServices, QImage, QTextDocument

from gui.windows.update import ReleaseNotes
from tests.elevating import ElevatingPlatform
from tests.enginekit import tree
from tests.links import symlink
from tests.shopkit import Shop
from tests.wine import not_under_wine
from updater.errors import ConfigError, PreflightError, UpdaterError
from updater.machine.config import load_config
from updater.machine.preferences import MAX_PREFERENCES_BYTES, Preferences, PreferencesStore
from updater.machine.setup import setup_machine
from updater.observer import NullObserver, Step
from updater.platform import current as current_platform
from updater.platform.posix import PosixPlatform
from updater.platform.windows import others_may_replace, untrusted_rights
from updater.service import UpdaterService
from updater.support.doctor import run_doctor


def as_user(shop: Shop, platform: ElevatingPlatform) -> UpdaterService:
    """The shop's updater as a standard user runs it (the tray, or the CLI)."""
    return UpdaterService(load_config(shop.config_path), platform=platform)


def installed(shop: Shop) -> str:
    return (shop.install_dir / "VERSION").read_text().strip()


def test_a_user_cannot_downgrade_a_product(shop: Shop, elevating: ElevatingPlatform) -> None:
    shop.publish("1.0.1")
    shop.service.update("tpv")
    before = tree(shop.install_dir)
    with pytest.raises(PreflightError, match=r"not newer than the installed version 1\.0\.1"):
        as_user(shop, elevating).update("tpv", to_version="1.0.0")
    assert tree(shop.install_dir) == before
    # An administrator may (the CLI's --to-version, run elevated).
    shop.service.update("tpv", to_version="1.0.0")
    assert installed(shop) == "1.0.0"


def test_a_user_cannot_jump_the_staged_rollout(shop: Shop, elevating: ElevatingPlatform) -> None:
    shop.publish("1.0.1", rollout_percent=0)  # held back: 0 % of the PCs
    before = tree(shop.install_dir)
    with pytest.raises(PreflightError, match="released gradually"):
        as_user(shop, elevating).update("tpv", to_version="1.0.1")
    assert tree(shop.install_dir) == before
    shop.service.update("tpv", to_version="1.0.1")  # an administrator may
    assert installed(shop) == "1.0.1"


def test_a_withdrawn_release_is_installed_by_no_one(
    shop: Shop, elevating: ElevatingPlatform
) -> None:
    shop.publish("1.0.1")
    shop.feed.repo.set_release("tpv", "1.0.1", withdrawn=True)
    shop.feed.repo.publish(shop.feed.keyring)
    before = tree(shop.install_dir)
    found = shop.service.check()
    assert found.choices[0].offer is None
    assert [n.reason for n in found.choices[0].not_offered] == ["the publisher withdrew it"]
    with pytest.raises(PreflightError, match="the publisher withdrew it"):
        as_user(shop, elevating).update("tpv", to_version="1.0.1")
    with pytest.raises(PreflightError, match="the publisher withdrew it"):
        shop.service.update("tpv", to_version="1.0.1")  # nor by an administrator
    assert tree(shop.install_dir) == before


def test_no_one_restores_a_version_below_the_signed_minimum(
    shop: Shop, elevating: ElevatingPlatform
) -> None:
    shop.publish("1.0.1")
    shop.service.update("tpv")  # keeps a saved copy of 1.0.0
    shop.feed.repo.set_minimum("tpv", "1.0.1")  # 1.0.0 has a flaw
    shop.feed.repo.publish(shop.feed.keyring)
    shop.service.check()
    before = tree(shop.install_dir)
    for service in (as_user(shop, elevating), shop.service):
        with pytest.raises(PreflightError, match=r"no longer allows versions older than 1\.0\.1"):
            service.restore("tpv")
    assert tree(shop.install_dir) == before and installed(shop) == "1.0.1"


# ------------------------------------------------ the owner's file, read by SYSTEM


def planted(shop: Shop) -> Path:
    """Where users may write: the owner's preferences file (made by setup)."""
    path = PreferencesStore.in_state_dir(shop.service.state.root).path
    path.parent.mkdir(parents=True, exist_ok=True)
    return path


def reads_defaults(shop: Shop) -> bool:
    """What a fresh service (the elevated updater's, say) takes from the file."""
    return PreferencesStore.in_state_dir(shop.service.state.root).load() == Preferences()


def test_the_owners_file_read_through_a_link_is_ignored(shop: Shop, tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere.json"
    elsewhere.write_text('{"version": 1, "check_interval_hours": 2}')
    symlink(planted(shop), elsewhere)
    assert reads_defaults(shop)


def test_the_owners_file_as_a_second_name_of_another_file_is_ignored(
    shop: Shop, tmp_path: Path
) -> None:
    elsewhere = tmp_path / "elsewhere.json"
    elsewhere.write_text('{"version": 1, "check_interval_hours": 2}')
    try:
        os.link(elsewhere, planted(shop))
    except OSError:
        pytest.skip("this file system makes no hard links")
    assert reads_defaults(shop)


def test_a_huge_owners_file_is_not_read(shop: Shop) -> None:
    padding = " " * (MAX_PREFERENCES_BYTES + 10)
    planted(shop).write_text('{"version": 1, "check_interval_hours": 2' + padding + "}")
    assert reads_defaults(shop)
    planted(shop).write_text('{"version": 1, "check_interval_hours": 2}')
    assert not reads_defaults(shop)  # the same settings, small enough, are read


def test_a_folder_or_a_pipe_in_place_of_the_owners_file_is_ignored(shop: Shop) -> None:
    path = planted(shop)
    path.mkdir()
    assert reads_defaults(shop)
    path.rmdir()
    if hasattr(os, "mkfifo"):  # POSIX: reading a FIFO with no writer would hang
        os.mkfifo(path)
        assert reads_defaults(shop)


# ------------------------------------------------ data folders, written by the shop


def system32(tmp_path: Path) -> Path:
    """A stand-in for a folder only SYSTEM may read and write."""
    folder = tmp_path / "Windows" / "System32"
    (folder / "config").mkdir(parents=True)
    (folder / "config" / "SAM").write_bytes(b"SECRET-HASHES")
    return folder


def leaked(shop: Shop) -> list[Path]:
    """Files of the state folder (snapshots, downloads…) holding the stand-in's secret."""
    return [
        path
        for path in shop.service.state.root.rglob("*")
        if path.is_file() and not path.is_symlink() and b"SECRET-HASHES" in path.read_bytes()
    ]


def swap_for_link(folder: Path, target: Path) -> None:
    """What a user who may write in ``folder``'s parent does: move it away and put a
    link (a junction on Windows) in its place."""
    folder.rename(folder.with_name(folder.name + ".mine"))
    symlink(folder, target, directory=True)


def test_a_data_folder_swapped_for_a_link_is_neither_read_nor_written(
    shop: Shop, elevating: ElevatingPlatform, tmp_path: Path
) -> None:
    protected = system32(tmp_path)
    shop.publish("1.0.1")
    swap_for_link(shop.data_dir, protected)
    before = tree(shop.install_dir)
    with pytest.raises(PreflightError, match="is a link"):
        as_user(shop, elevating).update("tpv")
    assert tree(shop.install_dir) == before and leaked(shop) == []
    assert tree(protected) == {"config/SAM": tree(protected)["config/SAM"]}


def test_a_folder_above_the_data_path_swapped_for_a_link_is_refused(
    shop: Shop, elevating: ElevatingPlatform, tmp_path: Path
) -> None:
    protected = system32(tmp_path)
    shutil.copytree(shop.data_dir, protected / "TPV")  # the path below the link exists
    shop.publish("1.0.1")
    swap_for_link(shop.data_dir.parent, protected)
    with pytest.raises(PreflightError, match="is a link"):
        as_user(shop, elevating).update("tpv")
    assert leaked(shop) == []


def test_a_restore_writes_nothing_through_a_link(
    shop: Shop, elevating: ElevatingPlatform, tmp_path: Path
) -> None:
    """The proof of concept: plant a payload in the data folder, let it be saved with
    the version, swap the folder for a link to System32, then ask for a restore."""
    protected = system32(tmp_path)
    (shop.data_dir / "payload.dll").write_bytes(b"MZ evil")
    shop.publish("1.0.1")
    shop.service.update("tpv")  # the nightly task: 1.0.0 and its data are saved
    swap_for_link(shop.data_dir, protected)
    with pytest.raises(PreflightError, match="is a link"):
        as_user(shop, elevating).restore("tpv")
    assert not (protected / "payload.dll").exists()
    assert sorted(tree(protected)) == ["config/SAM"]
    assert installed(shop) == "1.0.1"


class SwapDuringSnapshot(NullObserver):
    """A user racing the snapshot: once the copy has begun, a folder it listed is
    swapped for a link to System32."""

    def __init__(self, folder: Path, target: Path) -> None:
        self.folder, self.target, self.swapped = folder, target, False

    def progress(
        self, product: str, step: Step, done: int, total: int | None, rate: float | None = None
    ) -> None:
        if step == Step.SNAPSHOT and not self.swapped:
            self.swapped = True
            swap_for_link(self.folder, self.target)


def test_a_folder_swapped_for_a_link_during_the_snapshot_is_not_followed(
    shop: Shop, tmp_path: Path
) -> None:
    protected = system32(tmp_path)
    (shop.data_dir / "zz").mkdir()
    (shop.data_dir / "zz" / "notes.txt").write_text("copied after the swap")
    shop.publish("1.0.1")
    racer = SwapDuringSnapshot(shop.data_dir / "zz", protected / "config")
    service = UpdaterService(load_config(shop.config_path), racer)
    before = tree(shop.install_dir)
    with pytest.raises(UpdaterError, match="link or junction"):
        service.update("tpv")
    assert racer.swapped and tree(shop.install_dir) == before and leaked(shop) == []


def test_deleting_a_tree_does_not_follow_a_link_swapped_into_it(tmp_path: Path) -> None:
    protected = system32(tmp_path)
    old = tmp_path / "old-data"
    (old / "sub").mkdir(parents=True)
    (old / "sub" / "f.txt").write_text("old")
    swap_for_link(old / "sub", protected / "config")
    current_platform.remove_no_follow(old)
    assert not old.exists() and (protected / "config" / "SAM").read_bytes() == b"SECRET-HASHES"


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX modes; Windows: the ACL test below")
def test_a_data_folder_whose_parent_others_may_write_is_refused(
    shop: Shop, elevating: ElevatingPlatform
) -> None:
    shop.publish("1.0.1")
    shop.data_dir.parent.chmod(0o777)  # any user may rename what is in it
    try:
        with pytest.raises(PreflightError, match="Other users may rename or replace"):
            as_user(shop, elevating).update("tpv")
        assert installed(shop) == "1.0.0"
        shop.data_dir.parent.chmod(0o1777)  # the sticky bit: only the owner (root) may
        as_user(shop, elevating).update("tpv")
        assert installed(shop) == "1.0.1"
    finally:
        shop.data_dir.parent.chmod(0o755)


def test_the_shops_data_in_a_snapshot_is_for_administrators_only(shop: Shop) -> None:
    shop.publish("1.0.1")
    shop.service.update("tpv")
    [snapshot] = shop.service.snapshots("tpv")
    data = snapshot.path / "data"
    assert data.is_dir()
    if sys.platform != "win32":  # Windows: icacls, argued in docs/security.md
        assert stat.S_IMODE(data.stat().st_mode) == 0o700


# ---------------------------------------- who may replace a folder on Windows (ACLs)

ME = "S-1-5-21-1-2-3-1001"  # the account the updater runs as (an administrator)
SHOP_USER = "S-1-5-21-1-2-3-1002"
FULL, MODIFY, READ = 0x001F01FF, 0x001301BF, 0x001200A9
ALLOW, INHERITABLE, INHERIT_ONLY = 0, 0x03, 0x08


def test_acl_rules_for_who_may_swap_a_folder() -> None:
    """What Windows' folders look like, as their DACLs read (docs/security.md)."""
    admins_only = [
        (ALLOW, INHERITABLE, FULL, "S-1-5-18"), (ALLOW, INHERITABLE, FULL, "S-1-5-32-544"),
        (ALLOW, INHERITABLE, READ, "S-1-5-32-545"),
    ]  # fmt: skip
    assert untrusted_rights("S-1-5-32-544", admins_only, ME) == READ
    program_files = untrusted_rights("S-1-5-32-544", admins_only, ME)
    # ProgramData's default: users may create files and folders ("this folder and
    # subfolders"), CREATOR OWNER gets full control of what they create.
    program_data = untrusted_rights(
        "S-1-5-18",
        [
            *admins_only,
            (ALLOW, INHERITABLE, 0x2 | 0x4, "S-1-5-32-545"),
            (ALLOW, INHERITABLE | INHERIT_ONLY, 0x10000000, "S-1-3-0"),
        ],
        ME,
    )
    data_modify = untrusted_rights("S-1-5-32-544", [(ALLOW, 0, MODIFY, SHOP_USER)], ME)
    data_write_only = untrusted_rights("S-1-5-32-544", [(ALLOW, 0, 0x2 | 0x4, SHOP_USER)], ME)
    # A data folder the shop user may modify (delete included), in a folder where users
    # may create: it can be swapped.
    assert others_may_replace(program_data, data_modify)
    # The same folder under Program Files (users only read there): it cannot.
    assert not others_may_replace(program_files, data_modify)
    # Users may create beside it but not delete it: it cannot either.
    assert not others_may_replace(program_data, data_write_only)
    # Nothing there yet: nothing to swap (what comes later is opened without following).
    assert not others_may_replace(program_data, None)
    # Owned by the shop user (they may rewrite its ACL), or GENERIC_ALL for Users.
    assert others_may_replace(program_files, untrusted_rights(SHOP_USER, [], ME))
    assert others_may_replace(
        untrusted_rights("S-1-5-18", [(ALLOW, 0, 0x10000000, "S-1-5-32-545")], ME), READ
    )
    # Our own account, SYSTEM, Administrators and TrustedInstaller are not "others".
    assert untrusted_rights(ME, [(ALLOW, 0, FULL, ME)], ME) == 0


@not_under_wine("ACLs are not kept: SetNamedSecurityInfoW succeeds and changes nothing")
@pytest.mark.skipif(sys.platform != "win32", reason="Windows ACLs")
def test_a_data_folder_in_a_folder_users_may_change_is_refused_on_windows(
    shop: Shop, elevating: ElevatingPlatform
) -> None:
    subprocess.run(
        ["icacls", str(shop.data_dir.parent), "/grant", "*S-1-5-32-545:(OI)(CI)M"],
        check=True, capture_output=True,
    )  # fmt: skip
    shop.publish("1.0.1")
    with pytest.raises(PreflightError, match="Other users may rename or replace"):
        as_user(shop, elevating).update("tpv")
    assert installed(shop) == "1.0.0"


# ------------------------------------------- the machine folder, made first by a user

NOBODY = 65534  # an account that is not an administrator


def made_by_a_user(folder: Path) -> None:
    """What a standard user can do before the updater is installed: make the machine
    folder in C:\\ProgramData (every user may), and fill it."""
    (folder / "metadata").mkdir(parents=True)
    (folder / "config.toml").write_text("[feed]\nurl = 'https://evil.example/'\n")
    (folder / "metadata" / "root.json").write_text('{"signed": "by the attacker"}')
    for path in [folder, *folder.rglob("*")]:
        os.chown(path, NOBODY, NOBODY)


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX owners; Windows: the runner")
def test_a_machine_folder_made_by_a_user_is_not_adopted(shop: Shop, tmp_path: Path) -> None:
    target = tmp_path / "ProgramData" / "InnovaCommerce Updater" / "config.toml"
    made_by_a_user(target.parent)
    setup = {"program": Path("/opt/innova/innova-update"), "config_path": target}
    # An upgrade-style setup (no configuration given) would adopt the planted one.
    with pytest.raises(ConfigError, match="belongs to another account"):
        setup_machine(PosixPlatform(), **setup)
    assert target.parent.stat().st_uid == NOBODY  # refused: nothing changed
    # With the configuration given, the folder is taken over and emptied.
    setup_machine(PosixPlatform(), config_from=shop.config_path, **setup)
    assert target.parent.stat().st_uid == os.geteuid()
    assert stat.S_IMODE(target.parent.stat().st_mode) == 0o755
    assert sorted(p.name for p in target.parent.iterdir()) == ["config.toml"]
    assert "evil.example" not in target.read_text()


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX owners; Windows: the runner")
def test_a_state_folder_made_by_a_user_loses_its_planted_trust(shop: Shop, tmp_path: Path) -> None:
    """A planted trusted root in the state folder would let the user's feed in."""
    state = tmp_path / "state-made-by-user"
    made_by_a_user(state)
    config = tmp_path / "given.toml"
    text = shop.config_path.read_text()
    config.write_text(
        text.replace(f"state_dir = '{shop.service.state.root}'", f"state_dir = '{state}'")
    )
    target = tmp_path / "pd" / "config.toml"
    setup_machine(
        PosixPlatform(), program=Path("/opt/innova/innova-update"), config_from=config,
        config_path=target,
    )  # fmt: skip
    assert state.stat().st_uid == os.geteuid()
    assert not (state / "metadata" / "root.json").exists() and not (state / "config.toml").exists()


# ------------------------------------------------ what SYSTEM runs for the shop's PC

needs_root = pytest.mark.skipif(
    not hasattr(os, "geteuid") or os.geteuid() != 0,
    reason="the check applies to SYSTEM (root on POSIX); Windows: argued in docs/security.md",
)


def configure(shop: Shop, old: str, new: str) -> None:
    text = shop.config_path.read_text()
    assert old in text
    shop.config_path.write_text(text.replace(old, new))
    shop.service = UpdaterService(load_config(shop.config_path))


def marker_script(folder: Path, marker: Path) -> Path:
    """A command that leaves a mark each time it runs and prints a PrestaShop version."""
    folder.mkdir(parents=True, exist_ok=True)
    script = folder / "tool.py"
    script.write_text(
        f"with open({str(marker)!r}, 'a') as f:\n    f.write('ran\\n')\nprint('PrestaShop 8.1.2')\n"
    )
    return script


@needs_root
def test_system_runs_no_hook_a_user_could_change(shop: Shop, tmp_path: Path) -> None:
    marker = tmp_path / "ran.txt"
    tools = tmp_path / "C" / "tools"  # a folder users may write (C:\tools, say)
    script = marker_script(tools, marker)
    tools.chmod(0o777)
    hook = f"[products.tpv.hooks]\npre_snapshot = ['{sys.executable}', '{script}']"
    configure(shop, "health_timeout = 20", f"health_timeout = 20\n{hook}")
    shop.publish("1.0.1")
    with pytest.raises(PreflightError, match=r"The pre_snapshot command of .* is not run"):
        shop.service.update("tpv")
    assert not marker.exists() and installed(shop) == "1.0.0"
    tools.chmod(0o755)
    script.chmod(0o666)  # the folder is locked, the script itself is not
    with pytest.raises(PreflightError, match="Other accounts may change"):
        shop.service.update("tpv")
    script.chmod(0o644)
    shop.service.update("tpv")  # administrators' only: it runs
    assert marker.read_text() == "ran\n" and installed(shop) == "1.0.1"


def test_a_request_never_makes_system_run_the_prestashop_command(
    shop: Shop, elevating: ElevatingPlatform, tmp_path: Path
) -> None:
    marker = tmp_path / "ran.txt"
    script = marker_script(tmp_path / "tools", marker)
    configure(
        shop, 'prestashop_version = "8.1.2"',
        f"prestashop_command = ['{sys.executable}', '{script}']",
    )  # fmt: skip
    shop.publish("1.0.1", prestashop=">=8.0")
    # A standard user's check, before any run of the command: the version is unknown.
    [choice] = as_user(shop, elevating).check().choices
    assert choice.offer is None and not marker.exists()
    assert "PrestaShop version is unknown" in choice.not_offered[0].reason
    shop.service.check()  # the nightly task (not a request) runs it, once
    assert marker.read_text() == "ran\n"
    [choice] = as_user(shop, elevating).check().choices
    assert choice.offer is not None and str(choice.offer.version) == "1.0.1"
    assert marker.read_text() == "ran\n"  # the request used what was found, ran nothing


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX modes; the DACL rules are above")
def test_doctor_names_what_a_user_could_swap_or_change(shop: Shop, tmp_path: Path) -> None:
    tools = tmp_path / "C" / "php"
    script = marker_script(tools, tmp_path / "ran.txt")
    hook = f"[products.tpv.hooks]\npost_swap = ['{sys.executable}', '{script}']"
    configure(shop, "health_timeout = 20", f"health_timeout = 20\n{hook}")
    checks = {c.id: c for c in run_doctor(shop.config_path)}
    assert checks["local_safety"].ok, checks["local_safety"].message
    tools.chmod(0o777)
    shop.data_dir.parent.chmod(0o777)
    try:
        check = {c.id: c for c in run_doctor(shop.config_path)}["local_safety"]
    finally:
        tools.chmod(0o755)
        shop.data_dir.parent.chmod(0o755)
    assert not check.ok
    assert str(shop.data_dir) in check.message and "post_swap command" in check.message
    assert "Let only administrators change" in (check.fix or "")


# ------------------------------------------------------------ release notes


class _Recorder(QObject):
    def __init__(self) -> None:
        super().__init__()
        self.opened: list[str] = []

    @Slot(QUrl)
    def open(self, url: QUrl) -> None:
        self.opened.append(url.toString())


def test_release_notes_load_nothing_and_open_only_https(qtbot: Any, tmp_path: Path) -> None:
    """Notes are the publisher's text, but a feed mirror or a stolen targets key is
    not: no raw HTML, no resource fetched (a UNC image would hand out the user's
    credentials), no link opened but https."""
    hits: list[str] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            hits.append(self.path)
            self.send_response(404)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            return None

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    port = server.server_address[1]
    picture = tmp_path / "pic.png"
    image = QImage(4, 4, QImage.Format.Format_RGB32)
    image.fill(0xFF0000)
    image.save(str(picture))
    local = QUrl.fromLocalFile(str(picture))
    notes = (
        f"![local]({local.toString()})\n\n"
        f"**Bold** and <b>raw</b> <img src='http://127.0.0.1:{port}/raw.png'>\n\n"
        f"![remote](http://127.0.0.1:{port}/x.png) ![share](file://127.0.0.1/share/x.png)\n\n"
        "[run](file://server/x.exe) [settings](ms-settings:privacy) "
        "[site](https://innovacommerce.example/notes)\n"
    )
    recorder = _Recorder()
    for scheme in ("file", "ms-settings", "https"):
        QDesktopServices.setUrlHandler(scheme, recorder, "open")
    try:
        view = ReleaseNotes()
        qtbot.addWidget(view)
        view.show_markdown(notes)
        view.show()
        qtbot.wait(300)
        text = view.toPlainText()
        assert "Bold" in text and "<b>raw</b>" in text  # raw HTML is shown, not obeyed
        for link in ("file://server/x.exe", "ms-settings:privacy",
                     "https://innovacommerce.example/notes"):  # fmt: skip
            view.anchorClicked.emit(QUrl(link))
        assert recorder.opened == ["https://innovacommerce.example/notes"]
        assert hits == []  # nothing was fetched
        loaded = view.document().resource(QTextDocument.ResourceType.ImageResource, local)
        assert loaded.width() == 1  # a blank pixel in its place: the file was not read
    finally:
        for scheme in ("file", "ms-settings", "https"):
            QDesktopServices.unsetUrlHandler(scheme)
        server.shutdown()


def test_what_a_failed_hook_printed_is_for_administrators_only(shop: Shop) -> None:
    """A hook may print anything (a database password in a dump tool's error): not
    into the history or the logs, which users read."""
    code = "print('connecting with SECRET-OUTPUT'); raise SystemExit(1)"
    hook = f"[products.tpv.hooks]\npre_snapshot = ['{sys.executable}', '-c', \"{code}\"]"
    configure(shop, "health_timeout = 20", f"health_timeout = 20\n{hook}")
    shop.publish("1.0.1")
    with pytest.raises(UpdaterError) as caught:
        shop.service.update("tpv")
    assert "SECRET-OUTPUT" not in f"{caught.value.message} {caught.value.hint}"
    [kept] = (shop.service.state.root / "logs" / "commands").iterdir()
    assert str(kept) in (caught.value.hint or "")
    assert "SECRET-OUTPUT" in kept.read_text()
    if sys.platform != "win32":
        assert stat.S_IMODE(kept.parent.stat().st_mode) == 0o700
    [entry] = shop.service.history("tpv", limit=1)
    assert "SECRET-OUTPUT" not in f"{entry.message} {entry.details}"
    for log_file in (shop.service.state.root / "logs").glob("*.log*"):
        assert "SECRET-OUTPUT" not in log_file.read_text(errors="replace")
