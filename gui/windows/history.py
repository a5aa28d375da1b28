"""*History*: every check, update, rollback and restore with its outcome."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from PySide6.QtWidgets import (
    QAbstractItemView,
    QDialog,
    QHBoxLayout,
    QHeaderView,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from gui.texts import format_date
from updater.machine.history import HistoryEntry, history_label


class HistoryWindow(QDialog):
    def __init__(
        self,
        entries: Sequence[HistoryEntry],
        product_names: Mapping[str, str],
        parent: QWidget | None = None,
    ) -> None:
        from updater.i18n import _

        super().__init__(parent)
        self.setWindowTitle(_("History"))
        self.setMinimumSize(760, 360)
        layout = QVBoxLayout(self)
        headers = [_("When"), _("What"), _("Product"), _("Versions"), _("Result"), _("Details")]
        self.table = QTableWidget(len(entries), len(headers))
        self.table.setHorizontalHeaderLabels(headers)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.verticalHeader().hide()
        for row, entry in enumerate(entries):
            versions = ""
            if entry.from_version or entry.to_version:
                versions = f"{entry.from_version or '-'} → {entry.to_version or '-'}"
            cells = [
                format_date(entry.started_at),
                history_label(entry.operation.value),
                product_names.get(entry.product or "", entry.product or ""),
                versions,
                history_label(entry.outcome.value),
                entry.message or "",
            ]
            for column, text in enumerate(cells):
                item = QTableWidgetItem(text)
                if column == 5 and entry.details:
                    item.setToolTip(entry.details)
                self.table.setItem(row, column, item)
        self.table.resizeColumnsToContents()
        self.table.horizontalHeader().setSectionResizeMode(5, QHeaderView.ResizeMode.Stretch)
        layout.addWidget(self.table)
        row_layout = QHBoxLayout()
        row_layout.addStretch(1)
        close = QPushButton(_("Close"))
        close.clicked.connect(self.accept)
        row_layout.addWidget(close)
        layout.addLayout(row_layout)

    def cell(self, row: int, column: int) -> str:
        item = self.table.item(row, column)
        return item.text() if item is not None else ""
