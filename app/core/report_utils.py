"""Report generation utilities (the seed's API), writing into the APROVOVA tree.

    generator = ReportGenerator("payments")
    csv_path = generator.generate_csv(data)          # atomic file under payment_reports/csv/
    response = generator.get_csv_response(data, "payments.csv")   # streamed, no file

`data` is a ReportData (columns + a row iterator, e.g. a server-side cursor) or a list of dicts.
Rows are consumed one at a time, so memory does not grow with the row count.
"""
from __future__ import annotations

import csv
import json
import os
import tempfile
import time
import io
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timezone as dt_timezone
from decimal import Decimal
from pathlib import Path
from typing import IO, Any

from django.http import FileResponse, StreamingHttpResponse
from django.utils import timezone

from core import aprovova
from core.atomic import PART_SUFFIX, atomic_write, unique_path
from core.pdf_table import write_table_pdf

# PostgreSQL's COPY ends lines with LF; the Python writer matches it so both paths give the same file.
CSV_LINE_END = "\n"
# The seed used singular names; accept both.
_ALIASES = {"user": "users", "payment": "payments", "batch": "batches"}


@dataclass
class ReportData:
    title: str
    columns: Sequence[str]
    rows: Iterable[Sequence[Any]]
    # Optional fast path for CSV: writes the same rows, already CSV-encoded, into a binary
    # handle (e.g. PostgreSQL's COPY ... TO STDOUT) and returns how many it wrote.
    csv_copy: Callable[[IO[bytes]], int] | None = None
    # The same for JSON: writes one line per row, a comma then a JSON object, and returns the count.
    json_copy: Callable[[IO[bytes]], int] | None = None


def as_report_data(data: ReportData | Iterable[Mapping[str, Any]], title: str) -> ReportData:
    if isinstance(data, ReportData):
        return data
    records = list(data)  # Plain dicts are small, caller-built data; only ReportData streams.
    columns = list(records[0].keys()) if records else []
    return ReportData(title=title, columns=columns, rows=([record.get(c) for c in columns] for record in records))


def _json_default(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)  # Money stays exact; a float would round.
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    return str(value)


def _json_header(data: ReportData, report_type: str) -> str:
    """Everything before the first row. generated_at is printed in the business time zone (TIME_ZONE)."""
    header = {"report_type": report_type, "title": data.title, "generated_at": timezone.localtime().isoformat(), "columns": list(data.columns)}
    return json.dumps(header, default=_json_default)[:-1] + ', "rows": ['


def _json_chunks(data: ReportData, report_type: str) -> Iterator[str]:
    """The JSON document piece by piece: header, then one object per row."""
    yield _json_header(data, report_type)
    columns = list(data.columns)
    encode = json.JSONEncoder(default=_json_default, ensure_ascii=False).encode
    separator = "\n"
    for row in data.rows:
        yield separator + encode(dict(zip(columns, row)))
        separator = ",\n"
    yield "\n]}\n"


class _Echo:
    """A file-like object whose write returns the line, for streaming csv.writer output."""

    def write(self, value: str) -> str:
        return value


class ReportGenerator:
    def __init__(self, report_type: str) -> None:
        self.report_type = _ALIASES.get(report_type, report_type)
        self.base_dir = aprovova.type_dir(self.report_type)  # Raises ValueError on an unknown type.
        self.last_row_count = 0
        self.last_duration = 0.0

    @property
    def title(self) -> str:
        return f"Apra Nova {self.report_type} report"

    def _target(self, fmt: str) -> Path:
        return unique_path(aprovova.format_dir(self.report_type, fmt), f"{self.report_type}_report", fmt)

    # ------------------------------------------------------------ files
    def generate_csv(self, data: ReportData | Iterable[Mapping[str, Any]]) -> Path:
        report = as_report_data(data, self.title)
        path = self._target("csv")
        started = time.perf_counter()
        if report.csv_copy is not None:
            with atomic_write(path, binary=True) as handle:
                handle.write(_csv_line(report.columns).encode())
                count = report.csv_copy(handle)
        else:
            with atomic_write(path) as handle:
                writer = csv.writer(handle, lineterminator=CSV_LINE_END)
                writer.writerow(report.columns)
                count = 0
                for count, row in enumerate(report.rows, start=1):
                    writer.writerow(row)
        self._done(count, started)
        return path

    def generate_json(self, data: ReportData | Iterable[Mapping[str, Any]]) -> Path:
        report = as_report_data(data, self.title)
        path = self._target("json")
        started = time.perf_counter()
        if report.json_copy is not None:
            with atomic_write(path, binary=True) as handle:
                handle.write(_json_header(report, self.report_type).encode())
                count = report.json_copy(_JsonArrayItems(handle))
                handle.write(b"]}\n")
            self._done(count, started)
            return path
        counter = _Counter(report.rows)
        with atomic_write(path) as handle:
            for chunk in _json_chunks(ReportData(report.title, report.columns, counter), self.report_type):
                handle.write(chunk)
        self._done(counter.count, started)
        return path

    def generate_pdf(self, data: ReportData | Iterable[Mapping[str, Any]]) -> Path:
        report = as_report_data(data, self.title)
        path = self._target("pdf")
        started = time.perf_counter()
        with atomic_write(path, binary=True) as handle:
            count = write_table_pdf(handle, report.title, report.columns, report.rows)
        self._done(count, started)
        return path

    def generate(self, fmt: str, data: ReportData | Iterable[Mapping[str, Any]]) -> Path:
        writers = {"csv": self.generate_csv, "json": self.generate_json, "pdf": self.generate_pdf}
        if fmt not in writers:
            raise ValueError(f"unknown format {fmt!r}; expected csv, json or pdf")
        return writers[fmt](data)

    def _done(self, count: int, started: float) -> None:
        self.last_row_count = count
        self.last_duration = time.perf_counter() - started

    # ------------------------------------------------------------ HTTP responses (no file kept)
    def get_csv_response(self, data: ReportData | Iterable[Mapping[str, Any]], filename: str) -> StreamingHttpResponse:
        report = as_report_data(data, self.title)
        writer = csv.writer(_Echo(), lineterminator=CSV_LINE_END)
        lines = (writer.writerow(row) for row in _prepend(report.columns, report.rows))
        return _attachment(StreamingHttpResponse(lines, content_type="text/csv; charset=utf-8"), filename)

    def get_json_response(self, data: ReportData | Iterable[Mapping[str, Any]], filename: str) -> StreamingHttpResponse:
        report = as_report_data(data, self.title)
        response = StreamingHttpResponse(_json_chunks(report, self.report_type), content_type="application/json")
        return _attachment(response, filename)

    def get_pdf_response(self, data: ReportData | Iterable[Mapping[str, Any]], filename: str) -> FileResponse:
        report = as_report_data(data, self.title)
        # A PDF needs a seekable file; an anonymous temporary file vanishes when the response closes.
        handle = tempfile.TemporaryFile()
        write_table_pdf(handle, report.title, report.columns, report.rows)
        handle.seek(0)
        return FileResponse(handle, as_attachment=True, filename=filename, content_type="application/pdf")

    # ------------------------------------------------------------ housekeeping
    def list_reports(self, fmt: str | None = None) -> list[dict[str, Any]]:
        """Finished report files of this type, newest first (temporary parts are not reports)."""
        base = aprovova.root()
        entries = []
        for directory in [self.base_dir / fmt] if fmt else sorted(p for p in self.base_dir.iterdir() if p.is_dir()):
            for path in directory.iterdir() if directory.is_dir() else ():
                if path.is_file() and not path.name.startswith("."):
                    stat = path.stat()
                    entries.append({
                        "name": path.name, "path": str(path.relative_to(base)), "format": directory.name,
                        "size": stat.st_size,
                        "modified": timezone.localtime(datetime.fromtimestamp(stat.st_mtime, dt_timezone.utc)).isoformat(),
                    })
        return sorted(entries, key=lambda entry: entry["modified"], reverse=True)

    def cleanup_old_reports(self, days: int) -> list[Path]:
        return cleanup_old_reports(days, self.base_dir)


def cleanup_old_reports(days: int, directory: Path | None = None, now: float | None = None) -> list[Path]:
    """Delete files older than `days` (reports and stale temporary parts) under `directory` (default: all of APROVOVA).

    Invoices are business records, not reports: the walk never enters payment_reports/invoices/
    (cleanup_old_invoices, with its own retention, does).
    """
    if days < 0:
        raise ValueError("days must be >= 0")
    return _remove_older_than(days, directory or aprovova.root(), now, skip=aprovova.invoice_dir().resolve())


def cleanup_old_invoices(days: int, now: float | None = None) -> list[Path]:
    """Delete invoice PDFs older than `days`: only for an explicit invoice retention."""
    if days < 1:
        raise ValueError("invoice retention must be at least 1 day")
    return _remove_older_than(days, aprovova.invoice_dir(), now, skip=None)


def _remove_older_than(days: int, directory: Path, now: float | None, skip: Path | None) -> list[Path]:
    cutoff = (now or time.time()) - days * 86400
    removed = []
    for dirpath, dirnames, filenames in os.walk(directory):
        if skip is not None:
            dirnames[:] = [name for name in dirnames if (Path(dirpath) / name).resolve() != skip]
        for name in filenames:
            path = Path(dirpath) / name
            if name.startswith(".probe-"):
                continue
            try:
                if path.stat().st_mtime < cutoff:
                    path.unlink()
                    removed.append(path)
            except FileNotFoundError:
                continue  # Removed concurrently; nothing to do.
    return removed


def _csv_line(values: Sequence[Any]) -> str:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator=CSV_LINE_END).writerow(values)
    return buffer.getvalue()


def _prepend(header: Sequence[str], rows: Iterable[Sequence[Any]]) -> Iterator[Sequence[Any]]:
    yield header
    yield from rows


def _attachment(response, filename: str):
    response["Content-Disposition"] = f'attachment; filename="{Path(filename).name}"'
    return response


class _JsonArrayItems:
    """Writes ",{...}" lines as the items of a JSON array: drops the first line's comma, then
    hands every later block straight to the file (no Python work per row)."""

    def __init__(self, handle: IO[bytes]) -> None:
        self._handle = handle

    def write(self, block: bytes | memoryview) -> None:
        if block:
            self._handle.write(block[1:] if block[:1] == b"," else block)
            self.write = self._handle.write  # type: ignore[method-assign]


class _Counter:
    """Counts rows as they stream past."""

    def __init__(self, rows: Iterable[Sequence[Any]]) -> None:
        self._rows = iter(rows)
        self.count = 0

    def __iter__(self) -> Iterator[Sequence[Any]]:
        for row in self._rows:
            self.count += 1
            yield row


__all__ = ["ReportData", "ReportGenerator", "cleanup_old_invoices", "cleanup_old_reports", "PART_SUFFIX"]
