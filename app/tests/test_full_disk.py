"""A full APROVOVA disk: the report fails with a reason, leaves no file, and the app keeps serving.

The tree sits on a real 1 MB tmpfs filled to the last block, so the kernel itself answers
ENOSPC. Where this test cannot mount (not root, no CAP_SYS_ADMIN), fsync raises it instead.
"""
from __future__ import annotations

import errno
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.test import Client

from apranova.models import Report
from apranova.report_errors import failure_reason
from core import aprovova

FILLER = ".filler"


def _mount_small_tmpfs(directory: Path) -> bool:
    result = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m,mode=0770", "tmpfs", str(directory)],
                            capture_output=True, check=False)
    return result.returncode == 0


def _fill(directory: Path) -> None:
    """Write until the filesystem refuses: not one block is left for a report."""
    with (directory / FILLER).open("wb", buffering=0) as handle:
        try:
            while True:
                handle.write(b"\0" * 65536)
        except OSError as error:
            assert error.errno == errno.ENOSPC
    with (directory / FILLER).open("ab", buffering=0) as handle:  # the last partial block
        try:
            while True:
                handle.write(b"\0")
        except OSError:
            pass


@pytest.fixture
def full_disk(aprovova_dir: Path, monkeypatch) -> Iterator[Path]:
    """APROVOVA on a full filesystem; yields the file to delete to free it."""
    if _mount_small_tmpfs(aprovova_dir):
        try:
            aprovova.init_tree()  # the mount hides the tree made by the aprovova_dir fixture
            _fill(aprovova_dir)
            yield aprovova_dir / FILLER
        finally:
            subprocess.run(["umount", "--lazy", str(aprovova_dir)], check=False)
        return

    def no_space(fd: int) -> None:
        if (aprovova_dir / FILLER).exists():
            raise OSError(errno.ENOSPC, "No space left on device")

    (aprovova_dir / FILLER).write_bytes(b"")
    monkeypatch.setattr("core.atomic.os.fsync", no_space)
    yield aprovova_dir / FILLER


def _request_report(client, capture_on_commit, report_type: str, fmt: str) -> Report:
    """Through the API; the task runs eagerly once the request's transaction commits."""
    with capture_on_commit(execute=True):
        created = client.post("/api/reports/", {"type": report_type, "format": fmt}, format="json")
    assert created.status_code in (201, 202), created.content
    return Report.objects.get(pk=created.json()["id"])


def _files_other_than_the_filler(root: Path) -> list[Path]:
    """Every file in the tree, hidden temporary parts included."""
    return [path for path in root.rglob("*") if path.is_file() and path.name != FILLER]


@pytest.mark.django_db
@pytest.mark.parametrize("fmt", ["csv", "pdf", "json"])
def test_report_on_a_full_disk_fails_with_a_reason_and_leaves_no_file(
        staff_client, demo_data, full_disk, django_capture_on_commit_callbacks, fmt):
    report = _request_report(staff_client, django_capture_on_commit_callbacks, "payments", fmt)

    assert report.status == Report.Status.FAILED
    assert report.error.startswith("the reports disk (APROVOVA) is full"), report.error
    assert "No space left on device" in report.error
    assert report.path == "" and report.size_bytes is None
    assert _files_other_than_the_filler(aprovova.root()) == []  # neither a report nor a .part
    # The API says why to whoever asked for it.
    assert staff_client.get(f"/api/reports/{report.pk}/").json()["error"] == report.error


@pytest.mark.django_db
def test_the_app_keeps_serving_on_a_full_disk_and_recovers_when_space_is_freed(
        staff_client, demo_data, full_disk, django_capture_on_commit_callbacks):
    failed = _request_report(staff_client, django_capture_on_commit_callbacks, "users", "csv")
    assert failed.status == Report.Status.FAILED
    assert Client().get("/healthz").status_code == 200
    ready = Client().get("/readyz")
    assert ready.status_code == 200, ready.content
    listing = staff_client.get("/api/reports/")
    assert listing.status_code == 200 and listing.json()["count"] == 1

    full_disk.unlink()
    report = _request_report(staff_client, django_capture_on_commit_callbacks, "users", "csv")
    assert report.status == Report.Status.SUCCEEDED, report.error
    assert (aprovova.root() / report.path).stat().st_size == report.size_bytes > 0


def test_the_reason_names_the_disk_only_for_disk_errors():
    assert failure_reason(OSError(errno.ENOSPC, "No space left on device")).startswith("the reports disk (APROVOVA) is full")
    assert failure_reason(OSError(errno.EROFS, "Read-only file system")).startswith("the reports disk (APROVOVA) is read-only")
    assert failure_reason(ValueError("bad filter")) == "ValueError: bad filter"
    assert len(failure_reason(RuntimeError("x" * 5000))) == 2000
