"""The tray icon for each state, drawn at run time (no image files to ship or lose).

Each state has its own colour and sign, so that it reads at 16 pixels and for people who
do not tell colours apart: a tick (up to date), an arrow (update available), a ring
filling with progress (working), an exclamation mark (attention), a crossed line
(offline).
"""

from __future__ import annotations

from enum import StrEnum

from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QBrush, QColor, QIcon, QPainter, QPainterPath, QPen, QPixmap


class TrayState(StrEnum):
    UNKNOWN = "unknown"
    UP_TO_DATE = "up_to_date"
    AVAILABLE = "available"
    WORKING = "working"
    ATTENTION = "attention"
    OFFLINE = "offline"


_COLOURS = {
    TrayState.UNKNOWN: "#7a7a7a",
    TrayState.UP_TO_DATE: "#2e8b57",
    TrayState.AVAILABLE: "#1f6fd1",
    TrayState.WORKING: "#1f6fd1",
    TrayState.ATTENTION: "#d9822b",
    TrayState.OFFLINE: "#7a7a7a",
}


def state_icon(state: TrayState, progress: float | None = None, size: int = 64) -> QIcon:
    """The icon of ``state``; for WORKING, ``progress`` (0-1) fills a ring."""
    pixmap = QPixmap(size, size)
    pixmap.fill(Qt.GlobalColor.transparent)
    painter = QPainter(pixmap)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    colour = QColor(_COLOURS[state])
    margin = size * 0.06
    disc = QRectF(margin, margin, size - 2 * margin, size - 2 * margin)
    painter.setPen(Qt.PenStyle.NoPen)
    painter.setBrush(QBrush(colour))
    painter.drawEllipse(disc)
    pen = QPen(QColor("white"), size * 0.11)
    pen.setCapStyle(Qt.PenCapStyle.RoundCap)
    pen.setJoinStyle(Qt.PenJoinStyle.RoundJoin)
    painter.setPen(pen)
    painter.setBrush(Qt.BrushStyle.NoBrush)
    s = size / 64.0
    if state == TrayState.UP_TO_DATE:
        path = QPainterPath(QPointF(18 * s, 33 * s))
        path.lineTo(28 * s, 43 * s)
        path.lineTo(46 * s, 22 * s)
        painter.drawPath(path)
    elif state == TrayState.AVAILABLE:
        painter.drawLine(QPointF(32 * s, 16 * s), QPointF(32 * s, 44 * s))
        path = QPainterPath(QPointF(20 * s, 33 * s))
        path.lineTo(32 * s, 45 * s)
        path.lineTo(44 * s, 33 * s)
        painter.drawPath(path)
    elif state == TrayState.WORKING:
        ring = QRectF(16 * s, 16 * s, 32 * s, 32 * s)
        faint = QPen(QColor(255, 255, 255, 90), size * 0.1)
        painter.setPen(faint)
        painter.drawEllipse(ring)
        painter.setPen(pen)
        span = 0.25 if progress is None else max(0.02, min(1.0, progress))
        painter.drawArc(ring, 90 * 16, int(-span * 360 * 16))
    elif state == TrayState.ATTENTION:
        painter.drawLine(QPointF(32 * s, 16 * s), QPointF(32 * s, 36 * s))
        painter.drawPoint(QPointF(32 * s, 47 * s))
    elif state == TrayState.OFFLINE:
        painter.drawLine(QPointF(20 * s, 44 * s), QPointF(44 * s, 20 * s))
        painter.drawArc(QRectF(18 * s, 18 * s, 28 * s, 28 * s), 0, 360 * 16)
    else:
        painter.drawPoint(QPointF(32 * s, 32 * s))
    painter.end()
    return QIcon(pixmap)
