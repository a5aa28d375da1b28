"""The progress window of an update or a restore, and its outcome in words.

It shows the steps, the download in megabytes and speed, and a Cancel button that works
until the new version starts being put in place. When the program is open it asks the
owner to close it (or offers to close it) instead of failing silently. The window never
runs anything itself: it asks the tray through signals (``start_requested`` with the
policy for a running program, ``report_requested``, ``undo_requested``).
"""

from __future__ import annotations

from collections.abc import Sequence

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QCloseEvent
from PySide6.QtWidgets import (
    QDialog,
    QHBoxLayout,
    QLabel,
    QPlainTextEdit,
    QProgressBar,
    QPushButton,
    QStackedWidget,
    QVBoxLayout,
    QWidget,
)

from gui.bridge import Job, QtObserver
from gui.texts import Problem
from updater.i18n import _, format_rate, format_size, format_time_left
from updater.observer import Step

_DONE, _NOW, _LATER = "✔", "➜", "•"


class ProgressWindow(QDialog):
    start_requested = Signal(str)  # the running-program policy: "fail" or "close"
    report_requested = Signal()
    undo_requested = Signal(str)  # snapshot id
    skip_requested = Signal(str)  # a version not to be offered again

    def __init__(
        self,
        title: str,
        steps: Sequence[tuple[Step, str]],
        product_name: str,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.product_name = product_name
        self.steps = tuple(steps)
        self.setWindowTitle(_("InnovaCommerce Updater"))
        self.setMinimumWidth(520)
        self.job: Job | None = None
        self.observer: QtObserver | None = None
        self.undo_snapshot: str | None = None
        #: The person clicked "I have closed it" (a second "it is open" says "still").
        self.said_closed = False
        self.current: Step | None = None
        layout = QVBoxLayout(self)
        self.title = QLabel(title)
        font = self.title.font()
        font.setPointSizeF(font.pointSizeF() * 1.25)
        font.setBold(True)
        self.title.setFont(font)
        self.title.setWordWrap(True)
        layout.addWidget(self.title)
        self.pages = QStackedWidget()
        layout.addWidget(self.pages)

        # page 0: progress
        progress_page = QWidget()
        p = QVBoxLayout(progress_page)
        self.step_labels: dict[Step, QLabel] = {}
        for step, words in self.steps:
            label = QLabel()
            label.setProperty("words", words)
            self.step_labels[step] = label
            p.addWidget(label)
        self.bar = QProgressBar()
        self.bar.setRange(0, 0)
        p.addWidget(self.bar)
        self.detail = QLabel("")
        self.detail.setObjectName("detail")
        p.addWidget(self.detail)
        row = QHBoxLayout()
        row.addStretch(1)
        self.cancel_button = QPushButton(_("Cancel"))
        self.cancel_button.clicked.connect(self.cancel)
        row.addWidget(self.cancel_button)
        p.addLayout(row)
        self.pages.addWidget(progress_page)

        # page 1: the program is open
        running_page = QWidget()
        r = QVBoxLayout(running_page)
        self.running_text = QLabel()
        self.running_text.setWordWrap(True)
        r.addWidget(self.running_text)
        row = QHBoxLayout()
        self.close_app_button = QPushButton(
            _("Close {product} for me").format(product=product_name)
        )
        self.continue_button = QPushButton(_("I have closed it, continue"))
        self.give_up_button = QPushButton(_("Not now"))
        row.addWidget(self.give_up_button)
        row.addStretch(1)
        row.addWidget(self.close_app_button)
        row.addWidget(self.continue_button)
        r.addLayout(row)
        self.close_app_button.clicked.connect(lambda: self.start_requested.emit("close"))
        self.continue_button.clicked.connect(self._said_closed)
        self.give_up_button.clicked.connect(self.accept)
        self.pages.addWidget(running_page)

        # page 2: the outcome
        outcome_page = QWidget()
        o = QVBoxLayout(outcome_page)
        self.outcome_heading = QLabel()
        self.outcome_heading.setObjectName("outcome_heading")
        self.outcome_heading.setWordWrap(True)
        bold = self.outcome_heading.font()
        bold.setBold(True)
        self.outcome_heading.setFont(bold)
        o.addWidget(self.outcome_heading)
        self.outcome_text = QLabel()
        self.outcome_text.setObjectName("outcome_text")
        self.outcome_text.setWordWrap(True)
        o.addWidget(self.outcome_text)
        self.details_box = QPlainTextEdit()
        self.details_box.setReadOnly(True)
        self.details_box.hide()
        o.addWidget(self.details_box)
        row = QHBoxLayout()
        self.details_button = QPushButton(_("Details"))
        self.report_button = QPushButton(_("Report a problem…"))
        self.retry_button = QPushButton(_("Retry"))
        self.undo_button = QPushButton(_("Undo this restore"))
        self.skip_button = QPushButton()
        self.skip_version: str | None = None
        self.close_button = QPushButton(_("Close"))
        for button in (self.details_button, self.report_button):
            row.addWidget(button)
        row.addStretch(1)
        for button in (self.skip_button, self.undo_button, self.retry_button, self.close_button):
            row.addWidget(button)
        o.addStretch(1)
        o.addLayout(row)
        self.details_button.clicked.connect(
            lambda: self.details_box.setVisible(not self.details_box.isVisible())
        )
        self.report_button.clicked.connect(self.report_requested.emit)
        self.retry_button.clicked.connect(lambda: self.start_requested.emit("fail"))
        self.undo_button.clicked.connect(self._undo)
        self.skip_button.clicked.connect(self._skip)
        self.close_button.clicked.connect(self.accept)
        self.pages.addWidget(outcome_page)
        self._paint_steps()

    # --- running -------------------------------------------------------------------

    @property
    def running(self) -> bool:
        return self.job is not None and not self.job.done

    def attach(self, job: Job, observer: QtObserver) -> None:
        """Follow ``job``: its steps and progress, until the tray calls an outcome."""
        self.job, self.observer, self.current = job, observer, None
        observer.stepped.connect(self.on_step)
        observer.progressed.connect(self.on_progress)
        self.pages.setCurrentIndex(0)
        self.bar.setRange(0, 0)
        self.detail.setText(_("Preparing…"))
        self.cancel_button.setEnabled(True)
        self.cancel_button.setText(_("Cancel"))
        self._paint_steps()

    def on_step(self, product: str, step: str) -> None:
        try:
            current = Step(step)
        except ValueError:
            return
        if current == Step.SWAP or current == Step.HEALTH_CHECK:
            # From here on the new version is being put in place: no cancelling.
            self.cancel_button.setEnabled(False)
        if current == Step.ROLLBACK:
            self.detail.setText(_("Something went wrong; restoring the previous version…"))
            self.cancel_button.setEnabled(False)
        if current in self.step_labels:
            self.current = current
            self.bar.setRange(0, 0)
            if current != Step.DOWNLOAD:
                self.detail.setText("")
            self._paint_steps()

    def on_progress(
        self, product: str, step: str, done: int, total: int | None, rate: float | None
    ) -> None:
        if step != Step.DOWNLOAD.value:
            return
        if total:
            self.bar.setRange(0, 1000)
            self.bar.setValue(int(1000 * min(done, total) / total))
            text = _("{done} of {total}").format(done=format_size(done), total=format_size(total))
        else:
            text = format_size(done)
        parts = [text, format_rate(rate)]
        if total and rate and rate > 0 and done < total:
            parts.append(format_time_left((total - done) / rate))
        self.detail.setText(" · ".join(part for part in parts if part))

    def cancel(self) -> None:
        if self.observer is not None and self.running:
            self.observer.cancel()
            self.cancel_button.setEnabled(False)
            self.cancel_button.setText(_("Cancelling…"))
        else:
            self.reject()

    def _paint_steps(self) -> None:
        order = [step for step, _words in self.steps]
        reached = order.index(self.current) if self.current in order else -1
        for index, (step, words) in enumerate(self.steps):
            mark = _DONE if index < reached else _NOW if index == reached else _LATER
            label = self.step_labels[step]
            label.setText(f"{mark}  {_(words)}")
            font = label.font()
            font.setBold(index == reached)
            label.setFont(font)

    # --- outcomes ------------------------------------------------------------------

    def show_app_running(self, problem: Problem) -> None:
        again = self.said_closed  # "I have closed it", but it was still open
        first = (
            _("{product} is still open. Close it (check the taskbar too), or let the "
              "updater close it for you.")
            if again
            else _("{product} is open. Close it to continue, or let the updater close it "
                   "for you.")
        )  # fmt: skip
        self.running_text.setText(
            first.format(product=self.product_name)
            + "\n\n"
            + _("Save any work in progress (for example, a sale being entered) first.")
        )  # fmt: skip
        self.pages.setCurrentIndex(1)
        self.show()
        self.raise_()

    def show_success(
        self,
        heading: str,
        text: str = "",
        undo_snapshot: str | None = None,
        skip_version: str | None = None,
    ) -> None:
        """The work succeeded; ``undo_snapshot``: a restore that can be undone;
        ``skip_version``: the version a restore left, which may be skipped from now on."""
        self.undo_snapshot = undo_snapshot
        self._outcome(heading, text, "", failure=False)
        self.undo_button.setVisible(undo_snapshot is not None)
        self.skip_version = skip_version
        if skip_version is not None:
            self.skip_button.setText(_("Do not offer {version} again").format(version=skip_version))
            self.skip_button.setEnabled(True)
        self.skip_button.setVisible(skip_version is not None)

    def show_failure(self, problem: Problem, *, can_retry: bool = True) -> None:
        self._outcome(problem.title, problem.text, problem.details, failure=True)
        self.retry_button.setVisible(can_retry)

    def _outcome(self, heading: str, text: str, details: str, *, failure: bool) -> None:
        # The work is over: the title that said what was being done gives way to the
        # outcome, and the details say only what the text above them does not.
        self.title.hide()
        self.outcome_heading.setText(heading)
        self.outcome_text.setText(text)
        self.outcome_text.setVisible(bool(text))
        shown = {line.strip() for line in f"{heading}\n{text}".splitlines()}
        details = "\n".join(
            line for line in details.splitlines() if line.strip() and line.strip() not in shown
        )
        self.details_box.setPlainText(details)
        self.details_box.hide()
        for button in (self.report_button, self.retry_button):
            button.setVisible(failure)
        self.details_button.setVisible(failure and bool(details))
        self.undo_button.hide()
        self.skip_button.hide()
        self.close_button.setDefault(True)
        self.pages.setCurrentIndex(2)

    def _said_closed(self) -> None:
        self.said_closed = True
        self.start_requested.emit("fail")

    def _skip(self) -> None:
        if self.skip_version is not None:
            self.skip_requested.emit(self.skip_version)
            self.skip_button.setText(
                _("{version} will not be offered again").format(version=self.skip_version)
            )
            self.skip_button.setEnabled(False)

    def _undo(self) -> None:
        if self.undo_snapshot is not None:
            self.undo_requested.emit(self.undo_snapshot)

    @property
    def page(self) -> str:
        """``progress``, ``app_running`` or ``outcome`` (for tests and the tray)."""
        return ("progress", "app_running", "outcome")[self.pages.currentIndex()]

    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802 - Qt's name
        # Closing the window while it works only hides it: the work goes on, and the
        # tray icon keeps showing its progress.
        event.accept()
        self.hide()
        if not self.running:
            super().closeEvent(event)

    def keyPressEvent(self, event: object) -> None:  # noqa: N802 - Qt's name
        from PySide6.QtGui import QKeyEvent

        if isinstance(event, QKeyEvent) and event.key() == Qt.Key.Key_Escape and self.running:
            self.hide()
            return
        super().keyPressEvent(event)  # type: ignore[arg-type]
