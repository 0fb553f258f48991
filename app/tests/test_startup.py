"""Start-up checks: the APROVOVA tree and the SECRET_KEY."""
from __future__ import annotations

import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.core.management import call_command

from core import aprovova
from core.secret_key import validate_secret_key
from core.startup import aprovova_check, assert_aprovova_ready

APP_DIR = Path(__file__).resolve().parent.parent


def test_tree_has_every_directory_with_the_shared_layouts_mode(aprovova_dir):
    expected = {f"{t}/{f}" for t in ("user_reports", "payment_reports", "batch_reports", "analytics_reports") for f in ("csv", "pdf", "json")}
    expected |= {"payment_reports/invoices", "analytics_reports/charts"}
    for relative in expected:
        path = aprovova_dir / relative
        assert path.is_dir(), relative
        assert stat.S_IMODE(path.stat().st_mode) == aprovova.DIR_MODE == 0o2750


def test_init_is_idempotent_and_keeps_existing_reports(aprovova_dir):
    report = aprovova_dir / "user_reports" / "csv" / "kept.csv"
    report.write_text("data")
    shutil.rmtree(aprovova_dir / "analytics_reports" / "charts")
    call_command("init_aprovova", stdout=open(os.devnull, "w"))
    call_command("init_aprovova", stdout=open(os.devnull, "w"))
    assert report.read_text() == "data"
    assert (aprovova_dir / "analytics_reports" / "charts").is_dir()


def test_missing_tree_fails_startup_with_a_clear_message(aprovova_dir):
    shutil.rmtree(aprovova_dir / "batch_reports")
    with pytest.raises(ImproperlyConfigured) as error:
        assert_aprovova_ready()
    assert f"{aprovova_dir / 'batch_reports'} is missing" in str(error.value)
    assert "init_aprovova" in str(error.value)
    assert any(message.id == "aprovova.W001" for message in aprovova_check())


def test_unwritable_tree_is_reported(aprovova_dir, monkeypatch):
    # Tests run as root, for whom modes do not block writes: simulate the failed probe write.
    monkeypatch.setattr(aprovova, "_writable", lambda directory: directory.name != "json")
    with pytest.raises(ImproperlyConfigured, match="json is not writable by uid"):
        assert_aprovova_ready()


def test_file_in_place_of_directory_is_reported(aprovova_dir):
    shutil.rmtree(aprovova_dir / "user_reports" / "pdf")
    (aprovova_dir / "user_reports" / "pdf").write_text("oops")
    with pytest.raises(ImproperlyConfigured, match="pdf is not a directory"):
        assert_aprovova_ready()


@pytest.mark.parametrize("key", ["", "change-me", "django-insecure-abcdefghijklmnopqrstuvwxyz0123456789abcdefghijkl", "short-but-random-Zq8"])
def test_production_refuses_missing_or_placeholder_secret_key(key):
    with pytest.raises(ImproperlyConfigured, match="SECRET_KEY"):
        validate_secret_key(key, debug=False)


def test_debug_tolerates_a_missing_key():
    assert validate_secret_key("", debug=True)


def test_process_refuses_to_start_with_placeholder_key():
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "core.settings", "SECRET_KEY": "please-change-me", "DJANGO_DEBUG": "false"}
    result = subprocess.run([sys.executable, "-c", "import django; django.setup()"], cwd=APP_DIR, env=env, capture_output=True, text=True)
    assert result.returncode != 0
    assert "SECRET_KEY looks like a placeholder" in result.stderr


def test_worker_and_beat_refuse_to_start_without_the_tree(aprovova_dir):
    from core.celery import _check_aprovova

    _check_aprovova()  # a complete tree passes
    shutil.rmtree(aprovova_dir)
    # SystemExit, because Celery swallows ordinary exceptions raised by signal handlers.
    with pytest.raises(SystemExit, match="refusing to start: APROVOVA"):
        _check_aprovova()
