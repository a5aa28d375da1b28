"""*Restore previous version…*: the kept copies of a product, and the confirmation."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QDialog,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QMessageBox,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from gui.texts import format_date
from updater.i18n import _, format_size, pgettext
from updater.install.transaction import SnapshotInfo


class RestoreWindow(QDialog):
    """Lists the saved versions of each product; emits ``restore_requested`` once the
    owner confirmed."""

    restore_requested = Signal(str, str)  # product id, snapshot id

    def __init__(
        self,
        products: Mapping[str, str],
        list_snapshots: Callable[[str], Sequence[SnapshotInfo]],
        data_paths: Callable[[str], Sequence[str]],
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.products = dict(products)
        self.list_snapshots = list_snapshots
        self.data_paths = data_paths
        self.snapshots: list[SnapshotInfo] = []
        self.setWindowTitle(_("Restore previous version"))
        self.setMinimumSize(640, 320)
        layout = QVBoxLayout(self)
        intro = QLabel(
            _(
                "The updater keeps a copy of each version before replacing it. Choose the "
                "copy to put back."
            )
        )
        intro.setWordWrap(True)
        layout.addWidget(intro)
        self.product_box = QComboBox()
        for product_id, name in self.products.items():
            self.product_box.addItem(name, product_id)
        self.product_box.setVisible(len(self.products) > 1)
        layout.addWidget(self.product_box)
        self.table = QTableWidget(0, 4)
        self.table.setHorizontalHeaderLabels([_("Version"), _("Saved on"), _("Size"), _("Why")])
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.verticalHeader().hide()
        self.table.horizontalHeader().setSectionResizeMode(3, QHeaderView.ResizeMode.Stretch)
        layout.addWidget(self.table)
        self.empty = QLabel(_("There is no saved copy to restore yet."))
        layout.addWidget(self.empty)
        row = QHBoxLayout()
        row.addStretch(1)
        self.restore_button = QPushButton(_("Restore this version…"))
        self.close_button = QPushButton(_("Close"))
        row.addWidget(self.restore_button)
        row.addWidget(self.close_button)
        layout.addLayout(row)
        self.product_box.currentIndexChanged.connect(self.reload)
        self.table.itemSelectionChanged.connect(self._selection_changed)
        self.restore_button.clicked.connect(self.confirm)
        self.close_button.clicked.connect(self.reject)
        #: The confirmation box while it is open (tests answer it).
        self.confirmation: QMessageBox | None = None
        self.reload()

    @property
    def product(self) -> str:
        return str(self.product_box.currentData())

    def reload(self) -> None:
        self.snapshots = list(self.list_snapshots(self.product))
        self.table.setRowCount(len(self.snapshots))
        for row, snapshot in enumerate(self.snapshots):
            cells = [
                snapshot.version or _("unknown"),
                format_date(snapshot.taken_at),
                format_size(snapshot.size),
                snapshot.shown_reason,
            ]
            for column, text in enumerate(cells):
                self.table.setItem(row, column, QTableWidgetItem(text))
        self.table.resizeColumnsToContents()
        self.empty.setVisible(not self.snapshots)
        if self.snapshots:
            self.table.selectRow(0)
        self._selection_changed()

    def _selection_changed(self) -> None:
        self.restore_button.setEnabled(self.selected() is not None)

    def selected(self) -> SnapshotInfo | None:
        rows = {index.row() for index in self.table.selectionModel().selectedRows()}
        return self.snapshots[min(rows)] if rows else None

    def confirmation_text(self, snapshot: SnapshotInfo) -> str:
        name = self.products[self.product]
        when = format_date(snapshot.taken_at)
        text = _("{product} will go back to version {version}, as it was on {when}.").format(
            product=name, version=snapshot.version or _("unknown"), when=when
        )
        data = list(self.data_paths(self.product))
        if data:
            text += "\n\n" + _(
                "Its data ({paths}) will also go back to how it was on {when}. Anything "
                "written since then (sales, changes) is not lost: it is kept in a copy, and "
                "you can undo this restore."
            ).format(paths=", ".join(data), when=when)
        else:
            text += "\n\n" + _("You can undo this restore afterwards.")
        return text + "\n\n" + _("Close {product} before you continue.").format(product=name)

    def confirm(self) -> None:
        snapshot = self.selected()
        if snapshot is None:
            return
        box = QMessageBox(self)
        box.setIcon(QMessageBox.Icon.Question)
        box.setWindowTitle(_("Restore previous version"))
        box.setText(self.confirmation_text(snapshot))
        # TRANSLATORS: a button: the verb (Spanish "Restaurar").
        yes = box.addButton(pgettext("button", "Restore"), QMessageBox.ButtonRole.AcceptRole)
        box.addButton(_("Cancel"), QMessageBox.ButtonRole.RejectRole)
        self.confirmation = box
        box.exec()
        self.confirmation = None
        if box.clickedButton() is yes:
            self.restore_requested.emit(self.product, snapshot.id)
            self.accept()
