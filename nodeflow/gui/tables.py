"""The read-only tables of the run dock (checkpoints, library, runs): whole-row selection, compact
rows, and a minimum height that always shows a few rows, so the table, not its buttons, takes the space."""
from __future__ import annotations

from collections.abc import Sequence

from PySide6 import QtWidgets

ROWS_SHOWN = 6  # rows a table shows at least, however small the dock


def record_table(name: str, columns: Sequence[str], parent: QtWidgets.QWidget,
                 rows: int = ROWS_SHOWN) -> QtWidgets.QTableWidget:
    table = QtWidgets.QTableWidget(0, len(columns), parent)
    table.setObjectName(name)
    table.setHorizontalHeaderLabels(list(columns))
    table.setSelectionBehavior(QtWidgets.QAbstractItemView.SelectionBehavior.SelectRows)
    table.setEditTriggers(QtWidgets.QAbstractItemView.EditTrigger.NoEditTriggers)
    rows_header = table.verticalHeader()
    rows_header.hide()
    rows_header.setMinimumSectionSize(table.fontMetrics().height() + 4)
    rows_header.setDefaultSectionSize(table.fontMetrics().height() + 8)
    table.horizontalHeader().setStretchLastSection(True)
    table.setMinimumHeight(height_for(table, rows))
    return table


def height_for(table: QtWidgets.QTableWidget, rows: int) -> int:
    """The height that shows the header and `rows` rows, with room for a horizontal scroll bar."""
    return (table.horizontalHeader().sizeHint().height() + rows * table.verticalHeader().defaultSectionSize()
            + table.horizontalScrollBar().sizeHint().height() + 2 * table.frameWidth())
