"""The tray controller: the icon, its menu, polling, notifications, and the windows.

It decides nothing about updates itself: every action is one call of the engine's
service facade, through :class:`gui.bridge.Engine` (long calls on a worker thread).
The menu is rebuilt each time it opens, from the current state.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

from packaging.version import Version
from PySide6.QtCore import QObject, QStandardPaths, QTimer, QUrl, Signal
from PySide6.QtGui import QAction, QDesktopServices
from PySide6.QtWidgets import QApplication, QMenu, QSystemTrayIcon, QWidget

from gui.bridge import Engine, Job, QtObserver
from gui.icons import TrayState, state_icon
from gui.texts import (
    PROGRESS_STEPS,
    RESTORE_STEPS,
    describe_error,
    format_date,
    kind_label,
)
from gui.windows.history import HistoryWindow
from gui.windows.progress import ProgressWindow
from gui.windows.report import ReportWindow
from gui.windows.restore import RestoreWindow
from gui.windows.settings import SettingsWindow
from gui.windows.update import UpdateWindow
from updater.errors import AppRunningError, BusyError, NetworkError, UpdaterError
from updater.feed.choose import Choice
from updater.feed.manifest import Release
from updater.i18n import _, set_language
from updater.machine.config import MachineConfig
from updater.machine.history import Outcome
from updater.machine.preferences import Preferences
from updater.observer import Step
from updater.platform import current as current_platform
from updater.platform.base import Platform
from updater.service import (
    CheckResult,
    IfRunning,
    PollResult,
    RestoreResult,
    UpdateResult,
    UpdaterService,
)

__all__ = ["Tray"]

log = logging.getLogger(__name__)

#: How long "Remind me later" waits.
REMIND_LATER = timedelta(hours=24)


class Tray(QObject):
    """The tray icon and everything it opens."""

    state_changed = Signal(str)
    notified = Signal(str, str)  # title, text

    def __init__(
        self,
        config: MachineConfig,
        *,
        platform: Platform = current_platform,
        poll_every_ms: int = 5 * 60 * 1000,
        tick_ms: int = 3000,
        reports_dir: Path | None = None,
    ) -> None:
        super().__init__()
        self.engine = Engine(config, platform=platform)
        self.engine.busy_changed.connect(lambda _busy: self.refresh())
        self.icon = QSystemTrayIcon()
        self.menu = QMenu()
        self.menu.aboutToShow.connect(self.build_menu)
        self.icon.setContextMenu(self.menu)
        self.icon.messageClicked.connect(self.notification_clicked)
        self.icon.activated.connect(self._activated)
        self.reports_dir = reports_dir
        self.check: CheckResult | None = None
        self.offline = False
        self.attention: str | None = None
        self.other_activity: str | None = None
        self.progress_fraction: float | None = None
        self.working_text: str | None = None
        self.last_notification: tuple[str, str] | None = None
        self.notified_product: str | None = None
        self.windows: dict[str, QWidget] = {}
        self._auto_attempts: dict[tuple[str, str], datetime] = {}
        self._reads: list[Job] = []
        self.progress: ProgressWindow | None = None
        self.state = TrayState.UNKNOWN
        self.poll_timer = QTimer(self)
        self.poll_timer.setInterval(poll_every_ms)
        self.poll_timer.timeout.connect(self.poll)
        self.tick_timer = QTimer(self)
        self.tick_timer.setInterval(tick_ms)
        self.tick_timer.timeout.connect(self.tick)
        self.apply_language()
        self.refresh()

    # ------------------------------------------------------------------ plumbing

    @property
    def service(self) -> UpdaterService:
        """The facade, for quick reads on the UI thread."""
        return self.engine.service

    def start(self) -> None:
        """Show the icon, the last known state, and start polling."""
        self.load_known_state()
        self.icon.show()
        self.poll_timer.start()
        self.tick_timer.start()
        QTimer.singleShot(2000, self.poll)

    def stop(self) -> None:
        self.poll_timer.stop()
        self.tick_timer.stop()
        for window in list(self.windows.values()):
            window.close()
        if self.progress is not None:
            self.progress.hide()
        self.icon.hide()
        self.engine.wait()

    def apply_language(self) -> None:
        prefs = self.service.preferences()
        set_language(prefs.language or self.service.config.language)

    def product_name(self, product_id: str) -> str:
        product = self.service.config.products.get(product_id)
        return product.name if product else product_id

    def load_known_state(self) -> None:
        """What is known without the network: the last check, failures, interruptions."""
        self.reload_check()
        try:
            status = self.service.status()
        except UpdaterError as exc:
            log.warning("Cannot read the updater's state: %s", exc.message)
            return
        for product in status.products:
            last = product.last_operation
            if product.interrupted or (last and last.outcome == Outcome.ROLLBACK_FAILED):
                self.attention = _(
                    "The last update of {product} did not finish; open the history."
                ).format(product=product.name)
        self.refresh()

    def reload_check(self, *, announce: bool = True) -> Job:
        """Work out again, without the network, what the last verified check offers for
        what is installed now (on a worker: it may run the PrestaShop version command)."""
        job = self.engine.read(lambda s: s.cached_check())

        def loaded(result: CheckResult | None) -> None:
            if result is not None:
                self.check = result
            self.refresh()
            if announce:
                self.announce()  # what the last check found and nobody was told yet

        job.finished.connect(loaded)
        job.failed.connect(lambda error: log.warning("Cannot read the last check: %s", error))
        self._reads.append(job)
        job.finished.connect(lambda _r: self._reads.remove(job))
        job.failed.connect(lambda _e: self._reads.remove(job))
        return job

    @property
    def idle(self) -> bool:
        """No engine call of this tray is running (long call or read)."""
        return self.engine.job is None and not self._reads

    # --------------------------------------------------------------------- state

    def offers(self) -> list[Choice]:
        if self.check is None:
            return []
        return [c for c in self.check.choices if c.offer is not None]

    def refresh(self) -> None:
        """Work out the icon and tooltip from what is known."""
        own = self.engine.job
        working = own is not None and own.name in ("update", "restore")
        if working or self.other_activity:
            state = TrayState.WORKING
        elif self.attention:
            state = TrayState.ATTENTION
        elif self.offline:
            state = TrayState.OFFLINE
        elif self.offers():
            state = TrayState.AVAILABLE
        elif self.check is not None:
            state = TrayState.UP_TO_DATE
        else:
            state = TrayState.UNKNOWN
        self.state = state
        self.icon.setIcon(
            state_icon(state, self.progress_fraction if state == TrayState.WORKING else None)
        )
        self.icon.setToolTip(_("InnovaCommerce Updater") + "\n" + self.status_text())
        self.state_changed.emit(state.value)

    def status_text(self) -> str:
        if self.working_text and self.engine.job is not None:
            return self.working_text
        if self.other_activity:
            return self.other_activity
        if self.attention:
            return self.attention
        if self.offline:
            text = _("No connection to the update server.")
            if self.check is not None:
                text += " " + _("Last checked: {when}.").format(
                    when=format_date(self.check.checked_at)
                )
            return text
        offers = self.offers()
        if offers:
            return "\n".join(
                _("Update available: {product} {version} ({kind})").format(
                    product=self.product_name(c.product),
                    version=c.offer.version,  # type: ignore[union-attr]
                    kind=kind_label(c.offer),  # type: ignore[arg-type]
                )
                for c in offers
            )
        if self.check is not None:
            return _("Everything is up to date (checked {when}).").format(
                when=format_date(self.check.checked_at)
            )
        return _("Not checked for updates yet.")

    def build_menu(self) -> None:
        self.menu.clear()
        header = self.menu.addAction(self.status_text().split("\n")[0])
        header.setEnabled(False)
        self.menu.addSeparator()
        for choice in self.offers():
            release = choice.offer
            assert release is not None
            action = self.menu.addAction(
                _("Update {product} to {version}…").format(
                    product=self.product_name(choice.product), version=release.version
                )
            )
            action.triggered.connect(lambda _c=False, p=choice.product: self.open_update(p))
        if self.progress is not None and self.engine.job is not None:
            self.menu.addAction(_("Show progress…")).triggered.connect(self._show_progress)
        check = self.menu.addAction(_("Check for updates now"))
        check.triggered.connect(lambda _c=False: self.check_now(requested=True))
        check.setEnabled(not self.engine.busy)
        self.menu.addSeparator()
        self.menu.addAction(_("Restore previous version…")).triggered.connect(self.open_restore)
        self.menu.addAction(_("History")).triggered.connect(self.open_history)
        self.menu.addAction(_("Settings")).triggered.connect(self.open_settings)
        self.menu.addAction(_("Report a problem…")).triggered.connect(self.open_report)
        self.menu.addSeparator()
        quit_action = QAction(_("Quit"), self.menu)
        quit_action.triggered.connect(self.quit)
        self.menu.addAction(quit_action)

    def action(self, text: str) -> QAction:
        """The menu action whose text is ``text`` (rebuilding the menu first)."""
        self.build_menu()
        for action in self.menu.actions():
            if action.text() == text:
                return action
        raise KeyError(text)

    def quit(self) -> None:
        self.stop()
        app = QApplication.instance()
        if app is not None:
            app.quit()

    def _activated(self, reason: QSystemTrayIcon.ActivationReason) -> None:
        if reason in (
            QSystemTrayIcon.ActivationReason.Trigger,
            QSystemTrayIcon.ActivationReason.DoubleClick,
        ):
            if self.progress is not None and self.engine.job is not None:
                self._show_progress()
            elif self.offers():
                self.open_update(self.offers()[0].product)

    def _show_progress(self) -> None:
        if self.progress is not None:
            self.progress.show()
            self.progress.raise_()

    # ------------------------------------------------------------------- checking

    def tick(self) -> None:
        """Every few seconds: another process's work, and due automatic installs."""
        activity = self.service.activity()
        text = None
        if activity is not None:
            names = ", ".join(self.product_name(p) for p in activity.products)
            text = _("Another updater is working{products}: {name} (process {pid}).").format(
                products=f" ({names})" if names else "", name=activity.owner.name,
                pid=activity.owner.pid,
            )  # fmt: skip
        if text != self.other_activity:
            finished = self.other_activity is not None and text is None
            self.other_activity = text
            if finished:  # what the other process did may have changed everything
                self.reload_check(announce=False)
            self.refresh()
        self.auto_install()

    def poll(self) -> None:
        if self.engine.busy or self.other_activity:
            return
        job = self.engine.run("check", lambda s: s.poll())
        job.finished.connect(self._polled)
        job.failed.connect(self._check_failed)

    def check_now(self, *, requested: bool = False) -> Job | None:
        """Check for updates; ``requested``: the person asked (the menu), so the answer
        is always said, as Sparkle does: the update window when there is an update,
        "You're up to date" with the versions and the time when there is none, the
        problem when the check failed."""
        if self.engine.busy:
            return None
        job = self.engine.run("check", lambda s: s.check())
        job.finished.connect(self._checked)
        job.failed.connect(self._check_failed)
        if requested:
            job.finished.connect(self._answer_request)
            job.failed.connect(self._answer_failed_request)
        return job

    def _answer_request(self, result: CheckResult) -> None:
        offers = self.offers()
        if offers:
            self.open_update(offers[0].product)
            return
        if result.offline:
            self.notify(_("No connection to the update server"), self.status_text())
            return
        lines = [
            _("{product} {version} is the newest version.").format(
                product=self.product_name(choice.product), version=choice.installed
            )
            for choice in result.choices
            if choice.installed is not None
        ]
        lines.append(_("Checked {when}.").format(when=format_date(result.checked_at)))
        self.notify(_("You're up to date"), "\n".join(lines))

    def _answer_failed_request(self, error: UpdaterError) -> None:
        if isinstance(error, BusyError):
            self.notify(_("The check could not be made now"), error.message)
            return
        self.notify(describe_error(error).title, error.message)

    def _polled(self, result: PollResult) -> None:
        if result.check is not None:
            self._checked(result.check)

    def _checked(self, result: CheckResult) -> None:
        self.check = result
        self.offline = result.offline
        self.refresh()
        self.announce()
        self.auto_install()

    def _check_failed(self, error: UpdaterError) -> None:
        if isinstance(error, NetworkError):
            self.offline = True
        elif not isinstance(error, BusyError):
            self.attention = describe_error(error).title + ": " + error.message
        self.refresh()

    def announce(self) -> None:
        """Notify about offers not announced yet (or whose reminder is due)."""
        prefs = self.service.preferences()
        now = datetime.now(UTC)
        local = datetime.now()
        for choice in self.offers():
            release = choice.offer
            assert release is not None
            if prefs.may_auto_install(release, local):
                continue  # it will install by itself; its outcome is the news
            if not prefs.should_notify(choice.product, release.version, now):
                continue
            self.notify(
                _("{product} {version} is available").format(
                    product=self.product_name(choice.product), version=release.version
                ),
                _("{kind}. Click to see what is new and install it.").format(
                    kind=kind_label(release)
                ),
                product=choice.product,
            )
            self.service.mark_announced(choice.product, release.version)

    def notify(self, title: str, text: str, *, product: str | None = None) -> None:
        self.last_notification = (title, text)
        self.notified_product = product
        icon = (
            QSystemTrayIcon.MessageIcon.Warning
            if self.state == TrayState.ATTENTION
            else QSystemTrayIcon.MessageIcon.Information
        )
        self.icon.showMessage(title, text, icon, 15000)
        self.notified.emit(title, text)

    def notification_clicked(self) -> None:
        if self.notified_product is not None:
            self.open_update(self.notified_product)
        elif self.progress is not None:
            self._show_progress()

    def auto_install(self) -> None:
        if self.engine.busy or self.other_activity:
            return
        prefs = self.service.preferences()
        local = datetime.now()
        for choice in self.offers():
            release = choice.offer
            assert release is not None
            if prefs.may_auto_install(release, local) and not self._auto_tried(release):
                self._auto_attempts[(choice.product, str(release.version))] = datetime.now(UTC)
                self.install(choice.product, str(release.version), automatic=True)
                return

    def _auto_tried(self, release: Release) -> bool:
        """An automatic install is tried once per release per hour (the program may be
        open, or the update may fail)."""
        tried = self._auto_attempts.get((release.product, str(release.version)))
        return tried is not None and datetime.now(UTC) - tried < timedelta(hours=1)

    # --------------------------------------------------------------- the update window

    def open_update(self, product_id: str) -> UpdateWindow | None:
        choice = next(
            (c for c in (self.check.choices if self.check else ()) if c.product == product_id),
            None,
        )
        if choice is None:
            return None
        product = self.service.config.product(product_id)
        window = UpdateWindow(choice, product.name, choice.prestashop)
        window.install_requested.connect(lambda p, v: self.install(p, v))
        window.later_requested.connect(self.remind_later)
        window.skip_requested.connect(self.skip)
        self._show("update", window)
        return window

    def remind_later(self, product_id: str, version: str) -> None:
        self.service.remind_later(product_id, Version(version), datetime.now(UTC) + REMIND_LATER)

    def skip(self, product_id: str, version: str) -> None:
        self.service.skip(product_id, Version(version))
        self.reload_check(announce=False)

    # ---------------------------------------------------------- install and restore

    def install(self, product_id: str, version: str, *, automatic: bool = False) -> ProgressWindow:
        if self.progress is not None and self.progress.running:
            # One update at a time: show the one in progress instead of a second one.
            self._show_progress()
            return self.progress
        name = self.product_name(product_id)
        window = ProgressWindow(
            _("Updating {product} to {version}").format(product=name, version=version),
            PROGRESS_STEPS,
            name,
        )
        self._replace_progress(window)

        def start(if_running: str) -> None:
            policy: IfRunning = "close" if if_running == "close" else "fail"
            self._run_update(window, product_id, version, policy, automatic)

        window.start_requested.connect(start)
        window.report_requested.connect(self.open_report)
        if not automatic:
            window.show()
        start("fail")
        return window

    def _run_update(
        self,
        window: ProgressWindow,
        product_id: str,
        version: str,
        if_running: IfRunning,
        automatic: bool,
    ) -> None:
        name = self.product_name(product_id)
        job = self._start_job(
            window, "update", name,
            lambda s: s.update(product_id, to_version=version, if_running=if_running),
            _("Updating {product} to {version}…").format(product=name, version=version),
        )  # fmt: skip
        if job is None:
            return

        def finished(result: UpdateResult) -> None:
            self._work_done()
            if result.outcome == "updated":
                self.attention = None
                heading = _("{product} updated to {version}").format(
                    product=name, version=result.to_version
                )
                text = _("Restart the PC to finish the update.") if result.reboot_required else ""
                window.show_success(heading, text)
                if automatic or not window.isVisible():
                    self.notify(heading, text or _("Everything went well."))
            else:
                window.show_success(_("{product} is already up to date").format(product=name))
            self.reload_check(announce=False)

        def failed(error: UpdaterError) -> None:
            self._work_done()
            problem = describe_error(error, name)
            if isinstance(error, AppRunningError):
                if automatic:
                    return  # the owner is using it: try again later, without a word
                window.show_app_running(problem)
                return
            if not problem.changed_nothing or problem.serious:
                self.attention = problem.title
            window.show_failure(problem)
            if automatic or not window.isVisible():
                self.notify(problem.title, problem.text)
            self.refresh()

        job.finished.connect(finished)
        job.failed.connect(failed)

    def _start_job(
        self,
        window: ProgressWindow,
        task: str,
        name: str,
        call: Callable[[UpdaterService], object],
        working_text: str,
    ) -> Job | None:
        """Run an update or a restore for ``window``: its progress in the window and in
        the icon. None (and the failure shown) when the updater is busy."""
        observer = QtObserver()
        try:
            job = self.engine.run(task, call, observer)
        except BusyError as exc:
            window.show_failure(describe_error(exc, name))
            window.show()
            return None
        window.attach(job, observer)
        self.working_text = working_text
        observer.stepped.connect(lambda _p, step: self._working_step(name, step))
        observer.progressed.connect(self._working_progress)
        self.refresh()
        return job

    def _working_step(self, name: str, step: str) -> None:
        words = {s.value: w for s, w in PROGRESS_STEPS + RESTORE_STEPS}
        if step in words:
            self.working_text = _("{product}: {step}…").format(product=name, step=_(words[step]))
            if step != Step.DOWNLOAD.value:
                self.progress_fraction = None
            self.refresh()

    def _working_progress(
        self, _product: str, step: str, done: int, total: int | None, _rate: float | None
    ) -> None:
        if step == Step.DOWNLOAD.value and total:
            fraction = min(1.0, done / total)
            if self.progress_fraction is None or fraction - self.progress_fraction >= 0.02:
                self.progress_fraction = fraction
                self.refresh()

    def _work_done(self) -> None:
        self.working_text = None
        self.progress_fraction = None

    def _replace_progress(self, window: ProgressWindow) -> None:
        if self.progress is not None and self.progress is not window:
            self.progress.hide()
            self.progress.deleteLater()
        self.progress = window

    def restore(
        self, product_id: str, snapshot_id: str, *, undoing: bool = False
    ) -> ProgressWindow:
        """Put a saved copy back; ``undoing``: the copy the last restore kept (its undo)."""
        if self.progress is not None and self.progress.running:
            self._show_progress()
            return self.progress
        name = self.product_name(product_id)
        window = ProgressWindow(
            _("Undoing the restore of {product}").format(product=name)
            if undoing
            else _("Restoring the previous version of {product}").format(product=name),
            RESTORE_STEPS,
            name,
        )
        self._replace_progress(window)

        def start(if_running: str) -> None:
            policy: IfRunning = "close" if if_running == "close" else "fail"
            job = self._start_job(
                window, "restore", name,
                lambda s: s.restore(product_id, snapshot=snapshot_id, if_running=policy),
                _("Restoring {product}…").format(product=name),
            )  # fmt: skip
            if job is None:
                return
            job.finished.connect(
                lambda result: self._restored(window, product_id, result, undoing=undoing)
            )
            job.failed.connect(lambda error: self._restore_failed(window, name, error))

        window.start_requested.connect(start)
        window.report_requested.connect(self.open_report)
        window.undo_requested.connect(lambda snap: self.restore(product_id, snap, undoing=True))
        window.skip_requested.connect(lambda version: self.skip(product_id, version))
        window.show()
        start("fail")
        return window

    def _restored(
        self, window: ProgressWindow, product_id: str, result: RestoreResult, *, undoing: bool
    ) -> None:
        self._work_done()
        self.attention = None
        name = self.product_name(product_id)
        version = result.to_version or _("unknown")
        if undoing:
            window.show_success(
                _("The restore was undone: {product} is back at version {version}").format(
                    product=name, version=version
                ),
                _("Its program and its data are as they were before the restore."),
            )
            self.reload_check(announce=False)
            return
        if result.changed_data:
            text = _(
                "Its data went back too. What it held before the restore is kept in a copy: "
                "undo this restore to get it back."
            )
        elif self.service.config.product(product_id).data_paths:
            text = _("Its data had not changed since the copy was made: nothing of it was lost.")
        else:
            text = ""
        window.show_success(
            _("{product} is back at version {version}").format(product=name, version=version),
            text,
            undo_snapshot=result.undo.id if result.undo else None,
            # The version just left misbehaved, most likely: it need not be offered again.
            skip_version=str(result.from_version) if result.from_version else None,
        )
        self.reload_check(announce=False)

    def _restore_failed(self, window: ProgressWindow, name: str, error: UpdaterError) -> None:
        self._work_done()
        problem = describe_error(error, name)
        if isinstance(error, AppRunningError):
            window.show_app_running(problem)
            return
        if not problem.changed_nothing or problem.serious:
            self.attention = problem.title
        window.show_failure(problem)
        self.refresh()

    # ---------------------------------------------------------------- other windows

    def _show(self, key: str, window: QWidget) -> None:
        old = self.windows.pop(key, None)
        if old is not None:
            old.close()
            old.deleteLater()
        self.windows[key] = window
        window.show()
        window.raise_()
        window.activateWindow()

    def open_restore(self) -> RestoreWindow:
        config = self.service.config
        window = RestoreWindow(
            {p.id: p.name for p in config.products.values()},
            self.service.snapshots,
            lambda p: [str(path) for path in config.product(p).data_paths],
        )
        window.restore_requested.connect(self.restore)
        self._show("restore", window)
        return window

    def open_history(self) -> HistoryWindow:
        names = {p.id: p.name for p in self.service.config.products.values()}
        window = HistoryWindow(self.service.history(limit=500), names)
        self._show("history", window)
        return window

    def open_settings(self) -> SettingsWindow:
        config = self.service.config
        window = SettingsWindow(
            self.service.preferences(),
            interval_hours=config.check_interval_hours,
            channel=config.feed.channel,
            channels=config.feed.channels,
        )
        window.saved.connect(self.save_settings)
        self._show("settings", window)
        return window

    def save_settings(self, preferences: Preferences) -> None:
        old_channel = self.service.config.feed.channel
        try:
            self.service.save_preferences(preferences)
        except UpdaterError as exc:
            self.notify(_("The settings could not be saved"), exc.message)
            return
        self.apply_language()
        if self.service.config.feed.channel != old_channel:
            self.check = None
            self.check_now()
        self.refresh()

    def open_report(self) -> ReportWindow:
        config = self.service.config
        window = ReportWindow(
            can_send=config.support_url is not None, contact=config.support_contact
        )
        window.send_requested.connect(lambda: self._report(window, send=True))
        window.save_requested.connect(lambda: self._report(window, send=False))
        self._show("report", window)
        return window

    def _report_folder(self) -> Path:
        if self.reports_dir is not None:
            return self.reports_dir
        documents = QStandardPaths.writableLocation(
            QStandardPaths.StandardLocation.DocumentsLocation
        )
        return Path(documents or Path.home())

    def _report(self, window: ReportWindow, *, send: bool) -> None:
        stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
        out = self._report_folder() / f"innovacommerce-support-{stamp}.zip"

        description, contact = window.said()

        def work(service: UpdaterService) -> tuple[Path, str | None]:  # on the worker
            bundle = service.build_report(out, description=description, contact=contact)
            return (bundle, service.send_report(bundle) if send else None)

        try:
            job = self.engine.run("report", work)
        except BusyError as exc:
            window.show_result(exc.message, ok=False)
            return

        def finished(result: tuple[Path, str | None]) -> None:
            bundle, reference = result
            if send:
                text = _("Sent to InnovaCommerce support. Thank you.")
                if reference:
                    text += " " + _("Reference: {reference}").format(reference=reference)
                window.show_result(text, ok=True)
            else:
                window.show_saved(bundle)
                QDesktopServices.openUrl(QUrl.fromLocalFile(str(bundle.parent)))

        def failed(error: UpdaterError) -> None:
            text = error.message
            if send:
                text += " " + _("You can save it to a file and send it by e-mail instead.")
            window.show_result(text, ok=False)

        job.finished.connect(finished)
        job.failed.connect(failed)
