"""The tray app driven like a shop owner would, against a real local feed, real program
folders and real processes (pytest-qt, offscreen Qt)."""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
import zipfile
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psutil
import pytest
from packaging.version import Version
from PySide6.QtCore import QObject, QTimer, QUrl, Slot
from PySide6.QtGui import QDesktopServices
from PySide6.QtWidgets import QWidget
from pytestqt.qtbot import QtBot

from gui.app import instance_name
from gui.icons import TrayState
from gui.texts import PROGRESS_STEPS
from gui.tray import Tray
from gui.windows.progress import ProgressWindow
from gui.windows.restore import RestoreWindow
from gui.windows.settings import SettingsWindow
from gui.windows.update import UpdateWindow
from tests.apps import install_app
from tests.enginekit import lock_held_elsewhere, tree
from tests.shopkit import Shop, make_tpv, package_path
from updater.i18n import set_language
from updater.machine.config import load_config
from updater.publish.repository import ReleaseSpec

WAIT_MS = 60_000
ROLLED_BACK = (
    "The update could not be installed. Your previous version has been restored and "
    "everything is as it was. You can try again later."
)


@pytest.fixture
def tray(shop: Shop, qtbot: QtBot, tmp_path: Path) -> Iterator[Tray]:
    tray = Tray(
        load_config(shop.config_path), poll_every_ms=10**8, tick_ms=10**8,
        reports_dir=tmp_path / "reports",
    )  # fmt: skip
    yield tray
    tray.stop()
    if tray.progress is not None:
        tray.progress.deleteLater()


def installed(shop: Shop) -> str:
    return (shop.install_dir / "VERSION").read_text().strip()


def check(tray: Tray, qtbot: QtBot) -> None:
    job = tray.check_now()
    assert job is not None
    qtbot.waitUntil(lambda: job.done, timeout=WAIT_MS)
    assert job.error is None, job.error


def settle(tray: Tray, qtbot: QtBot) -> None:
    """Wait until the tray has no engine call running (its state is then final)."""
    qtbot.waitUntil(lambda: tray.idle, timeout=WAIT_MS)


def update_window(tray: Tray) -> UpdateWindow:
    window = tray.windows["update"]
    assert isinstance(window, UpdateWindow)
    return window


def wait_outcome(qtbot: QtBot, window: ProgressWindow | None) -> ProgressWindow:
    assert window is not None
    qtbot.waitUntil(lambda: window.page != "progress", timeout=WAIT_MS)
    return window


def test_notify_install_success(shop: Shop, tray: Tray, qtbot: QtBot) -> None:
    shop.publish("1.0.1", kind="bugfix")
    with qtbot.waitSignal(tray.notified, timeout=WAIT_MS) as note:
        check(tray, qtbot)
    assert note.args == [
        "InnovaCommerce TPV 1.0.1 is available",
        "Bug-fix. Click to see what is new and install it.",
    ]
    assert tray.state == TrayState.AVAILABLE
    assert "Update available: InnovaCommerce TPV 1.0.1 (Bug-fix)" in tray.icon.toolTip()
    tray.notification_clicked()
    window = update_window(tray)
    assert window.fact("Installed version") == "1.0.0"
    assert window.fact("New version") == "1.0.1"
    assert window.fact("Type") == "Bug-fix"
    assert window.fact("PrestaShop") == "works with any PrestaShop version"
    assert window.skip_button.isVisible() and window.later_button.isVisible()
    window.install_button.click()
    progress = wait_outcome(qtbot, tray.progress)
    assert progress.outcome_heading.text() == "InnovaCommerce TPV updated to 1.0.1"
    assert not progress.retry_button.isVisible()
    assert installed(shop) == "1.0.1"
    settle(tray, qtbot)
    assert tray.state == TrayState.UP_TO_DATE
    # Announced once: the next check does not notify again.
    with qtbot.assertNotEmitted(tray.notified):
        check(tray, qtbot)


def test_notification_in_spanish_says_correccion_de_errores(
    shop: Shop, tray: Tray, qtbot: QtBot
) -> None:
    set_language("es")
    shop.publish("1.0.1", kind="bugfix")
    with qtbot.waitSignal(tray.notified, timeout=WAIT_MS) as note:
        check(tray, qtbot)
    assert note.args[0] == "InnovaCommerce TPV 1.0.1 está disponible"
    assert note.args[1].startswith("Corrección de errores.")
    shop.publish("1.1.0", kind="feature")
    with qtbot.waitSignal(tray.notified, timeout=WAIT_MS) as note:
        check(tray, qtbot)
    assert note.args[1].startswith("Nuevas funcionalidades.")


def test_the_restore_confirmation_button_is_a_verb_in_spanish(
    shop: Shop, tray: Tray, qtbot: QtBot
) -> None:
    set_language("es")
    shop.publish("1.0.1")
    shop.service.update("tpv")
    window = tray.open_restore()
    assert isinstance(window, RestoreWindow)
    seen: list[str] = []

    def answer() -> None:
        box = window.confirmation
        assert box is not None
        seen.extend(b.text() for b in box.buttons())
        [cancel] = [b for b in box.buttons() if b.text() == "Cancelar"]
        cancel.click()

    QTimer.singleShot(200, answer)
    window.restore_button.click()
    assert sorted(seen) == ["Cancelar", "Restaurar"]  # the verb, not "Restauración"
    assert installed(shop) == "1.0.1"


def asked_check(tray: Tray, qtbot: QtBot) -> None:
    """ "Check for updates now" as the person clicks it in the menu."""
    [action] = [
        a
        for a in tray.menu.actions()
        if a.text() in ("Check for updates now", "Buscar actualizaciones ahora")
    ]
    with qtbot.waitSignal(tray.notified, timeout=WAIT_MS, raising=False):
        action.trigger()
    settle(tray, qtbot)


def test_an_asked_check_says_up_to_date_with_the_version_and_time(
    shop: Shop, tray: Tray, qtbot: QtBot
) -> None:
    set_language("es")
    tray.build_menu()
    with qtbot.waitSignal(tray.notified, timeout=WAIT_MS) as note:
        asked_check(tray, qtbot)
    assert note.args[0] == "Está al día"
    lines = note.args[1].split("\n")
    assert lines[0] == "InnovaCommerce TPV 1.0.0 es la versión más reciente."
    assert lines[1].startswith("Comprobado el ") and lines[1].endswith(".")
    checked = datetime.strptime(lines[1][len("Comprobado el ") : -1], "%d/%m/%Y %H:%M")
    assert abs(checked - datetime.now()) < timedelta(minutes=2)


def test_an_asked_check_shows_an_update_even_when_already_announced(
    shop: Shop, tray: Tray, qtbot: QtBot
) -> None:
    shop.publish("1.0.1")
    check(tray, qtbot)  # the scheduled check announced it
    tray.windows.pop("update", None)
    tray.build_menu()
    asked_check(tray, qtbot)
    window = tray.windows.get("update")
    assert isinstance(window, UpdateWindow) and window.isVisible()


def test_an_asked_check_that_fails_says_why(shop: Shop, tray: Tray, qtbot: QtBot) -> None:
    shop.server.override("metadata/timestamp.json", status=500)
    tray.build_menu()
    with qtbot.waitSignal(tray.notified, timeout=WAIT_MS) as note:
        asked_check(tray, qtbot)
    assert "error 500" in note.args[1]


def test_a_restore_whose_data_had_not_changed_says_so(shop: Shop, tray: Tray, qtbot: QtBot) -> None:
    shop.publish("1.0.1")
    shop.service.update("tpv")
    window = tray.open_restore()
    assert isinstance(window, RestoreWindow)
    tray.restore("tpv", window.snapshots[0].id)
    progress = wait_outcome(qtbot, tray.progress)
    assert progress.outcome_text.text() == (
        "Its data had not changed since the copy was made: nothing of it was lost."
    )


def test_the_details_of_a_failure_do_not_repeat_what_it_says(
    shop: Shop, tray: Tray, qtbot: QtBot
) -> None:
    shop.publish("1.0.1")
    check(tray, qtbot)
    shop.server.override(package_path(shop, "1.0.1"), status=404)
    tray.install("tpv", "1.0.1")
    progress = wait_outcome(qtbot, tray.progress)
    said = {line.strip() for line in progress.outcome_text.text().splitlines()}
    details = progress.details_box.toPlainText().splitlines()
    assert not said & {line.strip() for line in details}, details
    assert progress.details_button.isVisible() == bool(details)


@pytest.mark.parametrize(
    ("done", "rate", "left"),
    [
        (95 * 2**20, 2**20, "quedan unos segundos"),  # 5 s
        (70 * 2**20, 2**20, "quedan unos 30 segundos"),  # 30 s
        (10 * 2**20, 2**20, "quedan unos 2 minutos"),  # 90 s
        (40 * 2**20, 2**20, "queda alrededor de 1 minuto"),  # 60 s
    ],
)
def test_the_progress_window_says_the_time_left(
    qtbot: QtBot, done: int, rate: float, left: str
) -> None:
    set_language("es")
    window = ProgressWindow("Actualizando", PROGRESS_STEPS, "InnovaCommerce TPV")
    qtbot.addWidget(window)
    window.on_progress("tpv", "download", done, 100 * 2**20, rate)
    parts = window.detail.text().split(" · ")
    assert parts == [f"{done // 2**20},0 MB de 100,0 MB", "1,0 MB/s", left]
    window.on_progress("tpv", "download", 100 * 2**20, 100 * 2**20, rate)
    assert "queda" not in window.detail.text()  # done: nothing left to say


def test_failed_health_check_rolls_back_and_says_so(shop: Shop, tray: Tray, qtbot: QtBot) -> None:
    shop.publish("1.1.0", self_test_exit=1)
    before = tree(shop.install_dir)
    check(tray, qtbot)
    tray.install("tpv", "1.1.0")
    progress = wait_outcome(qtbot, tray.progress)
    assert progress.outcome_heading.text() == "InnovaCommerce TPV was not updated"
    assert progress.outcome_text.text() == ROLLED_BACK
    for button in (progress.retry_button, progress.details_button, progress.report_button):
        assert button.isVisible()
    progress.details_button.click()
    assert "failed its self-check (code 1)" in progress.details_box.toPlainText()
    assert tree(shop.install_dir) == before
    assert tray.state == TrayState.ATTENTION
    progress.report_button.click()
    assert "report" in tray.windows


def test_restore_previous_version_and_undo_it(shop: Shop, tray: Tray, qtbot: QtBot) -> None:
    shop.publish("1.0.1")
    shop.service.update("tpv")
    (shop.data_dir / "sales.db").write_text("sales written with 1.0.1")
    window = tray.open_restore()
    assert isinstance(window, RestoreWindow)
    assert window.table.rowCount() == 1
    assert window.table.item(0, 0).text() == "1.0.0"  # type: ignore[union-attr]
    text = window.confirmation_text(window.snapshots[0])
    assert "version 1.0.0" in text and "not lost" in text and "undo" in text

    def answer() -> None:
        box = window.confirmation
        assert box is not None
        [restore] = [b for b in box.buttons() if b.text() == "Restore"]
        restore.click()

    QTimer.singleShot(200, answer)
    window.restore_button.click()
    progress = wait_outcome(qtbot, tray.progress)
    assert progress.outcome_heading.text() == "InnovaCommerce TPV is back at version 1.0.0"
    assert progress.outcome_text.text().startswith("Its data went back too.")
    assert not progress.title.isVisible()
    assert installed(shop) == "1.0.0"
    assert not (shop.data_dir / "sales.db").exists()
    assert progress.skip_button.isVisible()
    assert progress.skip_button.text() == "Do not offer 1.0.1 again"
    progress.skip_button.click()  # the version just left misbehaved
    assert shop.service.preferences().skipped_versions("tpv") == {Version("1.0.1")}
    assert not progress.skip_button.isEnabled()
    settle(tray, qtbot)
    assert tray.offers() == []  # not offered again
    assert progress.undo_button.isVisible()
    progress.undo_button.click()
    undo = wait_outcome(qtbot, tray.progress)
    assert undo.outcome_heading.text() == (
        "The restore was undone: InnovaCommerce TPV is back at version 1.0.1"
    )
    assert (
        undo.outcome_text.text() == "Its program and its data are as they were before the restore."
    )
    assert not undo.undo_button.isVisible()  # not a second restore to undo
    assert not undo.skip_button.isVisible()
    assert installed(shop) == "1.0.1"
    assert (shop.data_dir / "sales.db").read_text() == "sales written with 1.0.1"


def test_skip_this_version(shop: Shop, tray: Tray, qtbot: QtBot) -> None:
    shop.publish("1.1.0")
    check(tray, qtbot)
    tray.open_update("tpv")
    update_window(tray).skip_button.click()
    settle(tray, qtbot)
    assert tray.state == TrayState.UP_TO_DATE
    check(tray, qtbot)
    assert tray.offers() == []
    assert installed(shop) == "1.0.0"


def test_remind_me_later(shop: Shop, tray: Tray, qtbot: QtBot) -> None:
    shop.publish("1.1.0")
    with qtbot.waitSignal(tray.notified, timeout=WAIT_MS):
        check(tray, qtbot)
    tray.open_update("tpv")
    update_window(tray).later_button.click()
    reminder = tray.service.preferences().reminders["tpv"]
    assert reminder.version == "1.1.0"
    assert reminder.until > datetime.now(UTC) + timedelta(hours=23)
    assert tray.state == TrayState.AVAILABLE  # still shown, just not announced
    with qtbot.assertNotEmitted(tray.notified):
        check(tray, qtbot)
    prefs = tray.service.preferences()
    tray.service.save_preferences(
        prefs.remind_later("tpv", Version("1.1.0"), datetime.now(UTC) - timedelta(seconds=1))
    )
    with qtbot.waitSignal(tray.notified, timeout=WAIT_MS):
        check(tray, qtbot)


def test_critical_update_cannot_be_skipped(shop: Shop, tray: Tray, qtbot: QtBot) -> None:
    shop.publish("1.0.1", critical=True, kind="bugfix")
    check(tray, qtbot)
    window = tray.open_update("tpv")
    assert window is not None
    window.show()
    assert window.install_button.isVisible()
    assert not window.skip_button.isVisible()
    assert window.fact("Type") == "Bug-fix (important)"


def test_incompatible_release_is_explained_not_offered(
    shop: Shop, tray: Tray, qtbot: QtBot
) -> None:
    shop.publish("2.0.0", prestashop=">=9.0")
    check(tray, qtbot)
    assert tray.offers() == [] and tray.state == TrayState.UP_TO_DATE
    window = tray.open_update("tpv")
    assert window is not None
    assert not window.install_button.isVisible()
    assert window.not_offered.text() == (
        "InnovaCommerce TPV 2.0.0 is not offered: it needs PrestaShop >=9.0 and this shop "
        "has 8.1.2."
    )


def test_busy_another_process_updating_shows_and_blocks(
    shop: Shop, tray: Tray, qtbot: QtBot
) -> None:
    shop.publish("1.0.1")
    check(tray, qtbot)
    with lock_held_elsewhere(shop.service.state.root) as holder_pid:
        tray.tick()
        assert tray.state == TrayState.WORKING
        assert f"process {holder_pid}" in tray.icon.toolTip()
        assert "InnovaCommerce TPV" in tray.icon.toolTip()
        tray.install("tpv", "1.0.1")
        progress = wait_outcome(qtbot, tray.progress)
        assert progress.outcome_heading.text() == "Another update is in progress"
        assert installed(shop) == "1.0.0"
    tray.tick()
    settle(tray, qtbot)
    assert tray.state == TrayState.AVAILABLE


def test_offline_shows_offline_and_keeps_the_last_check(
    shop: Shop, tray: Tray, qtbot: QtBot
) -> None:
    shop.publish("1.0.1")
    check(tray, qtbot)
    shop.server.stop()
    check(tray, qtbot)  # shown from the last verified check
    assert tray.offline and tray.state == TrayState.OFFLINE
    assert "No connection to the update server." in tray.icon.toolTip()
    assert [str(c.offer.version) for c in tray.offers() if c.offer] == ["1.0.1"]


def test_offline_without_any_previous_check(shop: Shop, tray: Tray, qtbot: QtBot) -> None:
    shop.server.stop()
    job = tray.check_now()
    assert job is not None
    qtbot.waitUntil(lambda: job.done, timeout=WAIT_MS)
    assert tray.state == TrayState.OFFLINE


def test_running_program_is_closed_when_the_owner_asks(
    shop: Shop, tray: Tray, qtbot: QtBot
) -> None:
    shop.publish("1.0.1")
    check(tray, qtbot)
    launcher = install_app(shop.install_dir, "tpv-app")
    app = subprocess.Popen(
        launcher.argv("normal"), stdout=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True
    )
    try:
        assert app.stdout is not None and app.stdout.readline().strip() == "ready"
        tray.install("tpv", "1.0.1")
        progress = tray.progress
        assert progress is not None
        qtbot.waitUntil(lambda: progress.page == "app_running", timeout=WAIT_MS)
        assert "InnovaCommerce TPV is open" in progress.running_text.text()
        assert installed(shop) == "1.0.0"
        progress.continue_button.click()  # "I have closed it", but it is still open
        qtbot.waitUntil(
            lambda: "InnovaCommerce TPV is still open" in progress.running_text.text(),
            timeout=WAIT_MS,
        )
        assert progress.page == "app_running" and installed(shop) == "1.0.0"
        progress.close_app_button.click()
        wait_outcome(qtbot, progress)
        assert progress.outcome_heading.text() == "InnovaCommerce TPV updated to 1.0.1"
        assert not progress.title.isVisible()  # no "Updating … to 1.0.1" above the outcome
        assert app.wait(timeout=30) is not None
    finally:
        app.kill()
        app.wait()


def test_ui_stays_responsive_during_a_slow_download_and_cancel_changes_nothing(
    shop: Shop, tray: Tray, qtbot: QtBot
) -> None:
    publish_big(shop, "1.0.1")  # ~10 s at the drip below
    check(tray, qtbot)
    before = tree(shop.install_dir)
    shop.server.override(package_path(shop, "1.0.1"), drip=(2048, 0.05))
    ticks = []
    timer = QTimer()
    timer.timeout.connect(lambda: ticks.append(1))
    timer.start(20)
    tray.install("tpv", "1.0.1")
    progress = tray.progress
    assert progress is not None
    qtbot.waitUntil(lambda: " of " in progress.detail.text(), timeout=WAIT_MS)
    seen = len(ticks)
    qtbot.wait(500)
    assert len(ticks) - seen >= 10  # the event loop ran all along (20 ms timer)
    assert tray.state == TrayState.WORKING
    assert progress.cancel_button.isEnabled()
    progress.cancel_button.click()
    wait_outcome(qtbot, progress)
    timer.stop()
    assert progress.outcome_heading.text() == "Update cancelled"
    assert tree(shop.install_dir) == before


def test_settings_are_saved_and_switch_the_language(shop: Shop, tray: Tray, qtbot: QtBot) -> None:
    window = tray.open_settings()
    assert isinstance(window, SettingsWindow)
    assert window.interval.value() == 6
    window.interval.setValue(12)
    window.auto.setChecked(True)
    window.outside_hours.setChecked(True)
    window.language.setCurrentIndex(window.language.findData("es"))
    window.save_button.click()
    prefs = tray.service.preferences()
    assert prefs.check_interval_hours == 12 and prefs.auto_install_bugfix
    assert prefs.opening_hours is not None and prefs.language == "es"
    assert tray.service.config.check_interval_hours == 12
    assert tray.action("Buscar actualizaciones ahora") is not None
    again = tray.open_settings()
    # The configuration lists no other channel: the owner has nothing to choose.
    assert [again.channel.itemText(i) for i in range(again.channel.count())] == ["stable"]
    assert not again.channel.isEnabled() and not again.channel.isEditable()
    tray.save_settings(dataclasses.replace(prefs, channel="beta"))  # as if forced
    assert tray.service.preferences().channel is None
    assert tray.service.config.feed.channel == "stable"


def test_bugfix_installs_by_itself_when_allowed(shop: Shop, tray: Tray, qtbot: QtBot) -> None:
    prefs = tray.service.preferences()
    tray.service.save_preferences(
        prefs.with_settings(
            check_interval_hours=None, channel=None, language=None,
            auto_install_bugfix=True, opening_hours=None,
        )
    )  # fmt: skip
    shop.publish("1.0.1", kind="bugfix")
    with qtbot.waitSignal(tray.notified, timeout=WAIT_MS) as note:
        check(tray, qtbot)
    assert note.args[0] == "InnovaCommerce TPV updated to 1.0.1"
    assert installed(shop) == "1.0.1"
    shop.publish("1.1.0", kind="feature")
    with qtbot.waitSignal(tray.notified, timeout=WAIT_MS) as note:
        check(tray, qtbot)
    assert note.args[0] == "InnovaCommerce TPV 1.1.0 is available"  # features always ask
    assert installed(shop) == "1.0.1"


def test_history_window_lists_what_happened(shop: Shop, tray: Tray, qtbot: QtBot) -> None:
    shop.publish("1.1.0", self_test_exit=1)
    check(tray, qtbot)
    tray.install("tpv", "1.1.0")
    wait_outcome(qtbot, tray.progress)
    window = tray.open_history()
    rows = [[window.cell(r, c) for c in range(5)] for r in range(window.table.rowCount())]
    assert rows[0][1:] == [
        "update",
        "InnovaCommerce TPV",
        "1.0.0 → 1.1.0",
        "failed, previous version restored",
    ]
    assert rows[1][1] == "check" and rows[1][4] == "done"


def test_history_details_have_room_and_show_whole_on_selection(
    shop: Shop, tray: Tray, qtbot: QtBot
) -> None:
    shop.publish("1.1.0", self_test_exit=1)
    check(tray, qtbot)
    tray.install("tpv", "1.1.0")  # written in English (as SYSTEM's nightly task may)
    wait_outcome(qtbot, tray.progress)
    set_language("es")  # read in Spanish
    window = tray.open_history()
    assert "autocomprobación" in window.cell(0, 5)
    qtbot.waitExposed(window)
    # At its default size the short columns keep their text: the date and the versions.
    for column in (0, 3):
        needed = window.table.sizeHintForColumn(column)
        assert window.table.horizontalHeader().sectionSize(column) >= needed
    window.resize(760, 420)  # the smallest the window gets
    qtbot.waitUntil(lambda: window.table.viewport().width() < 760, timeout=WAIT_MS)
    viewport = window.table.viewport().width()
    qtbot.waitUntil(lambda: window.details_width() >= viewport // 3 - 1, timeout=5000)
    entry = window.entries[0]
    assert entry.shown_message and entry.shown_details
    window.table.selectRow(0)
    shown = window.details.toPlainText()
    assert shown.startswith(window.cell(0, 0))  # the row whole: when, what, versions...
    assert "1.0.0 → 1.1.0" in shown
    assert entry.shown_message in shown and entry.shown_details.strip() in shown
    assert window.details.isVisible() and window.details.isReadOnly()
    window.table.selectRow(1)  # the check: no message of its own, still said whole
    assert window.details.toPlainText() == window.full_text(window.entries[1])
    assert window.details.toPlainText().startswith(window.cell(1, 0))


class _Opened(QObject):
    def __init__(self) -> None:
        super().__init__()
        self.urls: list[QUrl] = []

    @Slot(QUrl)
    def open(self, url: QUrl) -> None:
        self.urls.append(url)


def test_report_a_problem_saves_the_bundle_and_opens_its_folder(
    shop: Shop, tray: Tray, qtbot: QtBot, tmp_path: Path
) -> None:
    opened = _Opened()
    QDesktopServices.setUrlHandler("file", opened, "open")
    try:
        window = tray.open_report()
        assert not window.send_button.isVisible()  # no support address configured
        window.description.setPlainText("The TPV closes when I print a ticket.")
        window.contact.setText("tienda@example.com")
        window.save_button.click()
        qtbot.waitUntil(lambda: window.file_name.isVisible(), timeout=WAIT_MS)
    finally:
        QDesktopServices.unsetUrlHandler("file")
    [bundle] = (tmp_path / "reports").glob("innovacommerce-support-*.zip")
    assert bundle.read_bytes().startswith(b"PK")
    assert [Path(u.toLocalFile()) for u in opened.urls] == [tmp_path / "reports"]
    with zipfile.ZipFile(bundle) as archive:
        said = archive.read("description.txt").decode()
    assert said.startswith("The TPV closes when I print a ticket.")
    assert "tienda@example.com" in said
    # How to send it, and the file's name on its own line (never a path cut mid-word).
    assert "your IT staff knows the address" in window.status.text()
    assert str(tmp_path) not in window.status.text()
    assert window.file_name.text() == bundle.name


def test_report_a_problem_names_the_support_contact_in_spanish(
    shop: Shop, qtbot: QtBot, tmp_path: Path
) -> None:
    contact = "soporte@innovacommerce.es · 910 000 000"
    settings = f"support_contact = '{contact}'\nlanguage = 'es'\n"
    shop.config_path.write_text(settings + shop.config_path.read_text(), encoding="utf-8")
    tray = Tray(load_config(shop.config_path), poll_every_ms=10**8, tick_ms=10**8,
                reports_dir=tmp_path / "reports")  # fmt: skip
    opened = _Opened()
    QDesktopServices.setUrlHandler("file", opened, "open")
    try:
        window = tray.open_report()
        assert window.description.isVisible() or not window.isVisible()
        assert window.description.placeholderText().startswith("Por ejemplo")
        window.save_button.click()
        qtbot.waitUntil(lambda: window.file_name.isVisible(), timeout=WAIT_MS)
        assert f"Envíelo al soporte de InnovaCommerce: {contact}." in window.status.text()
    finally:
        QDesktopServices.unsetUrlHandler("file")
        tray.stop()


def test_one_tray_per_user_session_and_configuration(shop: Shop, tmp_path: Path) -> None:
    """A second start with the same user, session and configuration hands over to the
    first and exits at once; another configuration or session is another tray."""
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}
    other_config = tmp_path / "other" / "config.toml"
    probe = (
        "import sys\n"
        "from pathlib import Path\n"
        "from gui.app import already_running, instance_name\n"
        "from PySide6.QtWidgets import QApplication\n"
        "app = QApplication([])\n"
        "name = instance_name(Path(sys.argv[1]), user='tester', session=sys.argv[2])\n"
        "print(already_running(name))\n"
    )
    serve = (
        "import sys\n"
        "from pathlib import Path\n"
        "from PySide6.QtCore import QTimer\n"
        "from PySide6.QtWidgets import QApplication\n"
        "from gui.app import listen, instance_name\n"
        "app = QApplication([])\n"
        "class T:\n"
        "    def notify(self, title, text): print('shown', flush=True)\n"
        "    def status_text(self): return ''\n"
        "name = instance_name(Path(sys.argv[1]), user='tester', session='1')\n"
        "server = listen(name, T())\n"
        "print('listening', flush=True)\n"
        "QTimer.singleShot(20000, app.quit)\n"
        "app.exec()\n"
    )

    def running(config: Path, session: str = "1") -> str:
        result = subprocess.run(
            [sys.executable, "-c", probe, str(config), session],
            capture_output=True,
            text=True,
            env=env,
            timeout=60,
        )
        return result.stdout.strip()

    first = subprocess.Popen(
        [sys.executable, "-c", serve, str(shop.config_path)],
        stdout=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        assert first.stdout is not None and first.stdout.readline() == "listening\n"
        assert running(other_config) == "False"  # another configuration: its own tray
        assert running(shop.config_path, session="2") == "False"  # another desktop session
        # The same file by another spelling is the same configuration.
        assert (
            running(
                shop.config_path.parent
                / ".."
                / shop.config_path.parent.name
                / shop.config_path.name
            )
            == "True"
        )
        assert first.stdout.readline() == "shown\n"
    finally:
        first.kill()
        first.wait()
    assert running(shop.config_path) == "False"


def test_the_instance_name_tells_users_sessions_and_configurations_apart(tmp_path: Path) -> None:
    config = tmp_path / "shop" / "config.toml"
    name = instance_name(config, user="ana", session="1")
    assert name == instance_name(
        tmp_path / "shop" / ".." / "shop" / "config.toml", user="ana", session="1"
    )
    others = {
        instance_name(config, user="luis", session="1"),
        instance_name(config, user="ana", session="2"),
        instance_name(tmp_path / "demo" / "config.toml", user="ana", session="1"),
    }
    assert name not in others and len(others) == 3
    assert instance_name(config) == instance_name(config)  # this user's, this session's
    assert instance_name(config) not in {name, *others}


def test_tray_menu_lists_the_actions(shop: Shop, tray: Tray, qtbot: QtBot) -> None:
    shop.publish("1.0.1")
    check(tray, qtbot)
    tray.build_menu()
    texts = [a.text() for a in tray.menu.actions() if not a.isSeparator()]
    assert texts == [
        "Update available: InnovaCommerce TPV 1.0.1 (Bug-fix)",
        "Update InnovaCommerce TPV to 1.0.1…",
        "Check for updates now",
        "Restore previous version…",
        "History",
        "Settings",
        "Report a problem…",
        "Quit",
    ]
    tray.action("History").trigger()
    assert isinstance(tray.windows["history"], QWidget)


def publish_big(shop: Shop, version: str, size: int = 400_000) -> None:
    """A release with an incompressible file, so that a dripped download lasts."""
    build = make_tpv(shop.feed.base / "builds" / version, version)
    (build / "lib" / "big.bin").write_bytes(os.urandom(size))
    shop.feed.repo.add_release(
        ReleaseSpec(product="tpv", version=version, channel="stable", notes_es="es",
                    notes_en="en", build_dir=build, deltas=0)
    )  # fmt: skip
    shop.feed.repo.publish(shop.feed.keyring)


def test_an_update_started_from_the_cli_shows_in_the_tray(
    shop: Shop, tray: Tray, qtbot: QtBot
) -> None:
    publish_big(shop, "1.0.1")
    check(tray, qtbot)
    assert tray.state == TrayState.AVAILABLE
    shop.server.override(package_path(shop, "1.0.1"), drip=(8192, 0.05))
    cli = subprocess.Popen(
        [str(Path(sys.executable).with_name("innova-update")), "update", "--silent",
         "--config", str(shop.config_path)],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "INNOVA_LANG": "en"},
    )  # fmt: skip
    try:
        qtbot.waitUntil(lambda: (tray.tick(), tray.state == TrayState.WORKING)[1], timeout=WAIT_MS)
        # The tray names the process that holds the lock: the CLI itself ("innova-update"
        # here; "innova-update.exe" in the Windows bundle), or, on Windows with a pip
        # install, the python.exe that pip's innova-update.exe launcher starts (through
        # the venv's own python.exe launcher).
        tooltip = tray.icon.toolTip()
        launched = psutil.Process(cli.pid)
        family = [launched, *launched.children(recursive=True)]
        [holder] = [p for p in family if f": {p.name()} (process {p.pid})." in tooltip]
        if sys.platform != "win32":
            assert holder.pid == cli.pid and holder.name() == "innova-update", tooltip
        # The tray refuses to start a second update while the CLI's runs.
        tray.install("tpv", "1.0.1")
        progress = wait_outcome(qtbot, tray.progress)
        assert progress.outcome_heading.text() == "Another update is in progress"
        assert cli.wait(timeout=120) == 0, cli.stderr.read() if cli.stderr else ""
    finally:
        if cli.poll() is None:
            cli.kill()
            cli.wait()
    tray.tick()  # the CLI finished: the tray shows what it did
    settle(tray, qtbot)
    assert installed(shop) == "1.0.1"
    assert tray.state == TrayState.UP_TO_DATE


def test_the_tray_runs_one_job_at_a_time(shop: Shop, tray: Tray, qtbot: QtBot) -> None:
    publish_big(shop, "1.0.1")
    check(tray, qtbot)
    shop.server.override(package_path(shop, "1.0.1"), drip=(4096, 0.05))
    first = tray.install("tpv", "1.0.1")
    assert not tray.action("Check for updates now").isEnabled()
    assert tray.action("Show progress…") is not None
    assert tray.check_now() is None
    first.hide()
    again = tray.install("tpv", "1.0.1")  # shows the update in progress, starts nothing
    assert again is first and first.isVisible() and first.page == "progress"
    first.cancel_button.click()
    qtbot.waitUntil(lambda: tray.engine.job is None, timeout=WAIT_MS)


def test_cancel_is_offered_until_the_new_version_goes_in(qtbot: QtBot) -> None:
    from gui.texts import PROGRESS_STEPS
    from updater.observer import Step

    window = ProgressWindow("t", PROGRESS_STEPS, "TPV")
    qtbot.addWidget(window)
    for step in (Step.DOWNLOAD, Step.STAGE, Step.SNAPSHOT):
        window.on_step("tpv", step.value)
        assert window.cancel_button.isEnabled(), step
    window.on_step("tpv", Step.SWAP.value)
    assert not window.cancel_button.isEnabled()
    labels = [window.step_labels[s].text() for s, _w in PROGRESS_STEPS]
    assert labels[0].startswith("✔") and labels[3].startswith("➜") and labels[4].startswith("•")


def test_bugfix_waits_while_the_shop_is_open(shop: Shop, tray: Tray, qtbot: QtBot) -> None:
    from updater.machine.preferences import OpeningHours

    now = datetime.now()
    hours = OpeningHours((now - timedelta(hours=1)).time(), (now + timedelta(hours=1)).time())
    prefs = tray.service.preferences().with_settings(
        check_interval_hours=None, channel=None, language=None, auto_install_bugfix=True,
        opening_hours=hours,
    )  # fmt: skip
    tray.service.save_preferences(prefs)
    shop.publish("1.0.1", kind="bugfix")
    with qtbot.waitSignal(tray.notified, timeout=WAIT_MS) as note:
        check(tray, qtbot)
    assert note.args[0] == "InnovaCommerce TPV 1.0.1 is available"  # told, not installed
    tray.tick()
    assert tray.engine.job is None and installed(shop) == "1.0.0"


def test_report_a_problem_sends_the_bundle_to_support(
    shop: Shop, qtbot: QtBot, tmp_path: Path, inbox: tuple[str, type]
) -> None:
    url, handler = inbox
    shop.config_path.write_text(f"support_url = '{url}'\n" + shop.config_path.read_text())
    tray = Tray(load_config(shop.config_path), poll_every_ms=10**8, tick_ms=10**8,
                reports_dir=tmp_path / "reports")  # fmt: skip
    try:
        window = tray.open_report()
        assert window.send_button.isVisible()
        window.send_button.click()
        qtbot.waitUntil(lambda: "Sent to InnovaCommerce support" in window.status.text(),
                        timeout=WAIT_MS)  # fmt: skip
        assert "Reference: ticket 1234" in window.status.text()
        [(_path, _headers, body)] = handler.received
        assert body.startswith(b"PK")
    finally:
        tray.stop()


def test_a_tray_without_administrator_rights_hands_the_update_over(
    shop: Shop, qtbot: QtBot, tmp_path: Path
) -> None:
    """As on Windows for a shop owner who is not an administrator: the tray's update is
    applied by the elevated updater (here a second process), and the tray shows it."""
    from tests.elevating import ElevatingPlatform

    shop.publish("1.0.1")
    platform = ElevatingPlatform(shop.config_path)
    tray = Tray(load_config(shop.config_path), platform=platform, poll_every_ms=10**8,
                tick_ms=10**8)  # fmt: skip
    try:
        check(tray, qtbot)
        progress = wait_outcome(qtbot, tray.install("tpv", "1.0.1"))
        assert progress.outcome_heading.text() == "InnovaCommerce TPV updated to 1.0.1"
        assert installed(shop) == "1.0.1"
        assert len(platform.workers) >= 2  # the check, then the update: both elevated
    finally:
        tray.stop()
