"""A streaming table-to-PDF writer on ReportLab's canvas.

Platypus tables lay out the whole table before drawing and slow down sharply with rows;
drawing row by row keeps a 10,000-row report to seconds and its page count predictable.
"""
from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import IO, Any

from django.utils.timezone import localtime
from reportlab.lib import colors
from reportlab.lib.pagesizes import A4, landscape
from reportlab.lib.units import mm
from reportlab.pdfgen.canvas import Canvas

PAGE = landscape(A4)
MARGIN = 12 * mm
FONT, FONT_BOLD, FONT_SIZE = "Helvetica", "Helvetica-Bold", 7
ROW_HEIGHT = 10
# Average Helvetica glyph is about half the font size wide; enough to truncate without measuring every cell.
CHAR_WIDTH = FONT_SIZE * 0.5
RULE_COLOR = colors.HexColor("#eeeeee")


def _fit(value: Any, width: float) -> str:
    text = "" if value is None else str(value)
    limit = max(int(width / CHAR_WIDTH) - 1, 1)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def write_table_pdf(handle: IO[bytes], title: str, columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> int:
    """Draw title, generation time and a paginated table (header repeated per page). Returns the row count."""
    canvas = Canvas(handle, pagesize=PAGE, pageCompression=1)
    canvas.setTitle(title)
    page_width, page_height = PAGE
    col_width = (page_width - 2 * MARGIN) / max(len(columns), 1)
    xs = [MARGIN + i * col_width for i in range(len(columns))]
    now = localtime()  # The business time zone (TIME_ZONE), with its offset: the data's timestamps are UTC.
    generated = f"{now:%Y-%m-%d %H:%M:%S} {now.tzname()} (UTC{now:%z})"
    page = 0
    count = 0

    def start_page() -> float:
        nonlocal page
        page += 1
        top = page_height - MARGIN
        canvas.setFont(FONT_BOLD, 14 if page == 1 else 9)
        canvas.drawString(MARGIN, top - 12, title)
        canvas.setFont(FONT, 8)
        canvas.drawString(MARGIN, top - 26, f"Generated {generated}")
        canvas.drawRightString(page_width - MARGIN, MARGIN - 8, f"Page {page}")
        y = top - 44
        canvas.setFillColor(colors.HexColor("#dde3ea"))
        canvas.rect(MARGIN, y - 3, page_width - 2 * MARGIN, ROW_HEIGHT, stroke=0, fill=1)
        canvas.setFillColor(colors.black)
        canvas.setFont(FONT_BOLD, FONT_SIZE)
        for x, name in zip(xs, columns):
            canvas.drawString(x + 2, y, _fit(name, col_width))
        canvas.setFont(FONT, FONT_SIZE)
        return y - ROW_HEIGHT

    def finish_page(text, rules: list[float]) -> None:
        canvas.drawText(text)
        canvas.setStrokeColor(RULE_COLOR)
        canvas.lines([(MARGIN, rule, page_width - MARGIN, rule) for rule in rules])

    # One text object per page: drawString per cell would build a text object per cell,
    # which is most of the cost of a large table.
    y = start_page()
    text, rules = canvas.beginText(), []
    text.setFont(FONT, FONT_SIZE)
    for row in rows:
        if y < MARGIN + ROW_HEIGHT:
            finish_page(text, rules)
            canvas.showPage()
            y = start_page()
            text, rules = canvas.beginText(), []
            text.setFont(FONT, FONT_SIZE)
        for x, value in zip(xs, row):
            text.setTextOrigin(x + 2, y)
            text.textOut(_fit(value, col_width))
        rules.append(y - 3)
        y -= ROW_HEIGHT
        count += 1
    if count == 0:
        text.setTextOrigin(MARGIN + 2, y)
        text.textOut("No rows match this report's filters.")
    finish_page(text, rules)
    canvas.showPage()
    canvas.save()
    return count
