"""The seed's ReportGenerator API, atomic writes, listing and cleanup."""
from __future__ import annotations

import csv
import io
import json
import os
import stat
import time

import pytest
from pypdf import PdfReader

from core import aprovova
from core.report_utils import ReportData, ReportGenerator, cleanup_old_reports

ROWS = [{"name": "Asha", "amount": "10.00"}, {"name": "Ravi", "amount": "12.50"}]


def test_seed_api_with_singular_type_and_dicts():
    generator = ReportGenerator("user")
    csv_path = generator.generate_csv(ROWS)
    json_path = generator.generate_json(ROWS)
    assert csv_path.parent == aprovova.type_dir("users") / "csv"
    assert list(csv.DictReader(csv_path.open())) == ROWS
    assert json.loads(json_path.read_text())["rows"] == ROWS
    assert stat.S_IMODE(csv_path.stat().st_mode) == 0o640


def test_unknown_type_is_rejected():
    with pytest.raises(ValueError, match="unknown report type"):
        ReportGenerator("secrets")


def test_names_are_collision_free():
    generator = ReportGenerator("payments")
    paths = {generator.generate_csv(ROWS) for _ in range(20)}
    assert len(paths) == 20


def test_crash_mid_write_leaves_no_file_under_a_final_name():
    def rows():
        yield ["Asha", "10.00"]
        raise RuntimeError("database went away")

    generator = ReportGenerator("payments")
    with pytest.raises(RuntimeError):
        generator.generate_csv(ReportData("t", ["name", "amount"], rows()))
    assert os.listdir(aprovova.format_dir("payments", "csv")) == []  # neither a report nor a temporary part


def test_writer_uses_temporary_file_then_rename():
    seen = []

    def rows():
        directory = aprovova.format_dir("users", "csv")
        seen.extend(os.listdir(directory))
        yield ["x"]

    ReportGenerator("users").generate_csv(ReportData("t", ["c"], rows()))
    assert len(seen) == 1 and seen[0].startswith(".") and seen[0].endswith(".part")


def test_responses_stream_csv_json_and_pdf():
    generator = ReportGenerator("batches")
    response = generator.get_csv_response(ROWS, "b.csv")
    assert response.streaming and response["Content-Disposition"] == 'attachment; filename="b.csv"'
    assert list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode()))) == ROWS
    response = generator.get_json_response(ROWS, "b.json")
    assert json.loads(b"".join(response.streaming_content))["rows"] == ROWS
    response = generator.get_pdf_response(ROWS, "b.pdf")
    assert len(PdfReader(io.BytesIO(b"".join(response.streaming_content))).pages) == 1


def test_list_reports_newest_first_without_parts():
    generator = ReportGenerator("analytics")
    first = generator.generate_csv(ROWS)
    os.utime(first, (time.time() - 60, time.time() - 60))
    second = generator.generate_json(ROWS)
    (aprovova.format_dir("analytics", "csv") / ".half.csv.part").write_text("x")
    listed = generator.list_reports()
    assert [entry["name"] for entry in listed] == [second.name, first.name]
    assert [entry["name"] for entry in generator.list_reports("csv")] == [first.name]


def test_cleanup_removes_only_old_files_including_stale_parts():
    generator = ReportGenerator("payments")
    old, new = generator.generate_csv(ROWS), generator.generate_pdf(ROWS)
    stale_part = aprovova.format_dir("payments", "json") / ".x.json.part"
    stale_part.write_text("partial")
    ten_days_ago = time.time() - 10 * 86400
    for path in (old, stale_part):
        os.utime(path, (ten_days_ago, ten_days_ago))
    removed = cleanup_old_reports(7)
    assert set(removed) == {old, stale_part}
    assert new.exists() and all(d.is_dir() for d in aprovova.required_dirs())
    assert generator.cleanup_old_reports(0) == [new] or not new.exists()
