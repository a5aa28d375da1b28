"""*History*: every check, update, rollback and restore with its outcome.

The table keeps each row on one line, with the details cut short where the window is
too narrow (an ellipsis, the whole text in the row's tooltip); the pane below the table
shows the selected row's message and details whole, wrapped, and selectable for
copying. The details column always keeps room: the short columns take what their
contents need, the details take the rest, and never less than a third of the table.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from PySide6.QtCore import Qt, QTimer
from PySide6.QtGui import QResizeEvent, QShowEvent
from PySide6.QtWidgets import (
    QAbstractItemView,
    QDialog,
    QHBoxLayout,
    QHeaderView,
    QPlainTextEdit,
    QPushButton,
    QSplitter,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from gui.texts import format_date
from updater.machine.history import HistoryEntry, history_label

DETAILS = 5
#: When, and which versions: short, and useless cut.
KEPT_WHOLE = (0, 3)


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
        self.setMinimumSize(760, 420)
        self.resize(900, 520)
        self.entries = list(entries)
        layout = QVBoxLayout(self)
        headers = [_("When"), _("What"), _("Product"), _("Versions"), _("Result"), _("Details")]
        self.table = QTableWidget(len(self.entries), len(headers))
        self.table.setHorizontalHeaderLabels(headers)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setWordWrap(False)
        self.table.setTextElideMode(Qt.TextElideMode.ElideRight)
        self.table.verticalHeader().hide()
        for row, entry in enumerate(self.entries):
            versions = ""
            if entry.from_version or entry.to_version:
                versions = f"{entry.from_version or '-'} → {entry.to_version or '-'}"
            cells = [
                format_date(entry.started_at),
                history_label(entry.operation.value),
                product_names.get(entry.product or "", entry.product or ""),
                versions,
                history_label(entry.outcome.value),
                entry.shown_message or "",
            ]
            for column, text in enumerate(cells):
                item = QTableWidgetItem(text)
                if column == DETAILS and text:
                    item.setToolTip(self.full_text(entry))
                self.table.setItem(row, column, item)
        header = self.table.horizontalHeader()
        for column in range(DETAILS):
            header.setSectionResizeMode(column, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(DETAILS, QHeaderView.ResizeMode.Stretch)
        header.setMinimumSectionSize(40)

        self.details = QPlainTextEdit()
        self.details.setReadOnly(True)
        self.details.setPlaceholderText(_("Select a row to read its details here."))
        self.details.setLineWrapMode(QPlainTextEdit.LineWrapMode.WidgetWidth)
        splitter = QSplitter(Qt.Orientation.Vertical)
        splitter.addWidget(self.table)
        splitter.addWidget(self.details)
        splitter.setStretchFactor(0, 3)
        splitter.setStretchFactor(1, 1)
        layout.addWidget(splitter)
        self.table.itemSelectionChanged.connect(self._show_selected)

        row_layout = QHBoxLayout()
        row_layout.addStretch(1)
        close = QPushButton(_("Close"))
        close.clicked.connect(self.accept)
        row_layout.addWidget(close)
        layout.addLayout(row_layout)
        if self.entries:
            self.table.selectRow(0)

    def full_text(self, entry: HistoryEntry) -> str:
        """The row whole: what, when, which versions, the result, then its message
        and its details when they say more."""
        row = self.entries.index(entry)
        head = " · ".join(text for text in (self.cell(row, c) for c in range(DETAILS)) if text)
        message = (entry.shown_message or "").strip()
        details = (entry.shown_details or "").strip()
        parts = [head, message]
        if details and details != message:
            parts.append(details)
        return "\n\n".join(part for part in parts if part)

    def _show_selected(self) -> None:
        rows = {index.row() for index in self.table.selectedIndexes()}
        self.details.setPlainText(self.full_text(self.entries[min(rows)]) if rows else "")

    def resizeEvent(self, event: QResizeEvent) -> None:  # noqa: N802 - Qt's name
        super().resizeEvent(event)
        # After the layout has given the table its new width.
        QTimer.singleShot(0, self.keep_room_for_details)

    def showEvent(self, event: QShowEvent) -> None:  # noqa: N802 - Qt's name
        super().showEvent(event)
        self.keep_room_for_details()

    def keep_room_for_details(self) -> None:
        """Give the details column at least a third of the table: the short columns
        shrink (their text then ends in an ellipsis) when they would take more."""
        header = self.table.horizontalHeader()
        available = self.table.viewport().width()
        wanted = [self.table.sizeHintForColumn(c) + 16 for c in range(DETAILS)]
        budget = available - max(available // 3, 240)
        if sum(wanted) <= budget:
            for column in range(DETAILS):
                header.setSectionResizeMode(column, QHeaderView.ResizeMode.ResizeToContents)
            return
        # The date and the versions keep what they need; of the others the widest give
        # way first (a long result, a long product name).
        fixed = sum(wanted[c] for c in KEPT_WHOLE)
        cap = max(wanted)
        while (
            cap > 60
            and fixed + sum(min(w, cap) for c, w in enumerate(wanted) if c not in KEPT_WHOLE)
            > budget
        ):
            cap -= 4
        widths = [w if c in KEPT_WHOLE else max(60, min(w, cap)) for c, w in enumerate(wanted)]
        if sum(widths) > budget:  # very narrow (or large fonts): the kept ones give way too
            scale = max(budget, 0) / sum(widths)
            widths = [max(40, int(w * scale)) for w in widths]
        for column, width in enumerate(widths):
            header.setSectionResizeMode(column, QHeaderView.ResizeMode.Interactive)
            header.resizeSection(column, width)

    def cell(self, row: int, column: int) -> str:
        item = self.table.item(row, column)
        return item.text() if item is not None else ""

    def details_width(self) -> int:
        return self.table.horizontalHeader().sectionSize(DETAILS)
