"""*Settings*: check interval, channel, automatic bug-fix updates, language."""

from __future__ import annotations

from datetime import time

from PySide6.QtCore import QTime, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDoubleSpinBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QTimeEdit,
    QVBoxLayout,
    QWidget,
)

from updater.errors import ConfigError
from updater.i18n import _
from updater.machine.preferences import (
    MAX_INTERVAL_HOURS,
    MIN_INTERVAL_HOURS,
    OpeningHours,
    Preferences,
)


class SettingsWindow(QDialog):
    """Edits the owner's settings; emits ``saved`` with the new preferences."""

    saved = Signal(object)  # Preferences

    def __init__(
        self,
        preferences: Preferences,
        *,
        interval_hours: float,
        channel: str,
        channels: tuple[str, ...] = (),
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.preferences = preferences
        self.setWindowTitle(_("Settings"))
        self.setMinimumWidth(460)
        layout = QVBoxLayout(self)
        form = QFormLayout()
        layout.addLayout(form)

        self.interval = QDoubleSpinBox()
        self.interval.setRange(MIN_INTERVAL_HOURS, MAX_INTERVAL_HOURS)
        self.interval.setDecimals(0)
        self.interval.setSuffix(" " + _("hours"))
        self.interval.setValue(interval_hours)
        form.addRow(_("Look for updates every") + ":", self.interval)

        # Only the channels the configuration lists: IT chooses them, not the owner.
        self.channel = QComboBox()
        for name in dict.fromkeys((channel, *channels)):
            self.channel.addItem(name)
        self.channel.setCurrentText(channel)
        self.channel.setEnabled(self.channel.count() > 1)
        form.addRow(_("Release channel") + ":", self.channel)

        self.auto = QCheckBox(_("Install bug-fix updates automatically"))
        self.auto.setChecked(preferences.auto_install_bugfix)
        form.addRow(self.auto)
        self.outside_hours = QCheckBox(_("Only outside opening hours"))
        hours = preferences.opening_hours
        self.outside_hours.setChecked(hours is not None)
        form.addRow(self.outside_hours)
        self.opens = QTimeEdit(_qtime(hours.opens if hours else time(9)))
        self.closes = QTimeEdit(_qtime(hours.closes if hours else time(21)))
        for edit in (self.opens, self.closes):
            edit.setDisplayFormat("HH:mm")
        span = QHBoxLayout()
        span.addWidget(QLabel(_("The shop opens at")))
        span.addWidget(self.opens)
        span.addWidget(QLabel(_("and closes at")))
        span.addWidget(self.closes)
        form.addRow(span)
        note = QLabel(_("Updates with new features always ask before they are installed."))
        note.setWordWrap(True)
        form.addRow(note)

        self.language = QComboBox()
        self.language.addItem(_("Same as the system"), None)
        self.language.addItem("Español", "es")
        self.language.addItem("English", "en")
        self.language.setCurrentIndex(max(0, self.language.findData(preferences.language)))
        form.addRow(_("Language") + ":", self.language)

        self.error = QLabel()
        self.error.setObjectName("error")
        self.error.setStyleSheet("color: #b00020")
        self.error.setWordWrap(True)
        self.error.hide()
        layout.addWidget(self.error)

        row = QHBoxLayout()
        row.addStretch(1)
        self.save_button = QPushButton(_("Save"))
        self.save_button.setDefault(True)
        self.cancel_button = QPushButton(_("Cancel"))
        row.addWidget(self.cancel_button)
        row.addWidget(self.save_button)
        layout.addLayout(row)
        self.auto.toggled.connect(self._enable)
        self.outside_hours.toggled.connect(self._enable)
        self.save_button.clicked.connect(self.save)
        self.cancel_button.clicked.connect(self.reject)
        self._enable()

    def _enable(self) -> None:
        auto = self.auto.isChecked()
        self.outside_hours.setEnabled(auto)
        for edit in (self.opens, self.closes):
            edit.setEnabled(auto and self.outside_hours.isChecked())

    def chosen(self) -> Preferences:
        """The preferences as the form says.

        Raises:
            ConfigError: a value is not acceptable (for example, the channel's name).
        """
        hours = None
        if self.outside_hours.isChecked():
            hours = OpeningHours(_time(self.opens.time()), _time(self.closes.time()))
        return self.preferences.with_settings(
            check_interval_hours=float(self.interval.value()),
            channel=self.channel.currentText().strip() or None,
            language=self.language.currentData(),
            auto_install_bugfix=self.auto.isChecked(),
            opening_hours=hours,
        )

    def save(self) -> None:
        try:
            chosen = self.chosen()
        except ConfigError as exc:
            self.error.setText(" ".join(filter(None, [exc.message, exc.hint])))
            self.error.show()
            return
        self.saved.emit(chosen)
        self.accept()


def _qtime(value: time) -> QTime:
    return QTime(value.hour, value.minute)


def _time(value: QTime) -> time:
    return time(value.hour(), value.minute())
