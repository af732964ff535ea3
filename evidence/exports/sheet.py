"""The product's XLSX sheets (the traceability matrix, the evaluator's request list): one header row in the
product's colours, wrapped cells, one status column filled by its value's colour, fixed widths, frozen header and
first column, a filter, and cells a spreadsheet would run as a formula neutralised."""
from __future__ import annotations

import io
from typing import Iterable, Sequence


def safe_cell(value: str) -> str:
    """Cells a spreadsheet would run as a formula (=, +, -, @) are quoted (CSV injection)."""
    return "'" + value if value[:1] in ("=", "+", "-", "@", "\t", "\r") else value


def styled_xlsx(sheet_title: str, columns: Sequence[tuple[str, int]], rows: Iterable[tuple[list, str]],
                status_column: int, document_title: str) -> bytes:
    """An XLSX file of one sheet: `columns` (header, width), `rows` (cell values, the status cell's fill colour),
    `status_column` the 1-based column that colour fills."""
    from openpyxl import Workbook
    from openpyxl.styles import Alignment, Font, PatternFill
    from openpyxl.utils import get_column_letter

    workbook = Workbook()
    sheet = workbook.active
    sheet.title = sheet_title[:31]
    sheet.append([name for name, _w in columns])
    for cell in sheet[1]:
        cell.font = Font(bold=True, color="FFFFFF")
        cell.fill = PatternFill("solid", fgColor="1F3A68")
        cell.alignment = Alignment(vertical="center", wrap_text=True)
    for values, fill in rows:
        sheet.append([safe_cell(value) for value in values])
        excel_row = sheet.max_row
        for cell in sheet[excel_row]:
            cell.alignment = Alignment(vertical="top", wrap_text=True)
        sheet.cell(excel_row, status_column).fill = PatternFill("solid", fgColor=fill)
    for index, (_name, width) in enumerate(columns, start=1):
        sheet.column_dimensions[get_column_letter(index)].width = width
    sheet.freeze_panes = "B2"
    sheet.auto_filter.ref = f"A1:{get_column_letter(len(columns))}{sheet.max_row}"
    workbook.properties.title = document_title
    workbook.properties.creator = "SecNumCloud evidence"
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()
