"""Secrets from files (the `_FILE` convention): deployed containers hold only paths in their environment."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from core.env import env_secret, url_with_password

APP_DIR = Path(__file__).resolve().parent.parent


def test_a_secret_is_read_from_its_file_without_the_trailing_newline(tmp_path, monkeypatch):
    (tmp_path / "key").write_text("s3cret\n")
    monkeypatch.setenv("SOME_SECRET_FILE", str(tmp_path / "key"))
    monkeypatch.delenv("SOME_SECRET", raising=False)
    assert env_secret("SOME_SECRET") == "s3cret"


def test_the_variable_still_works_and_both_at_once_is_refused(tmp_path, monkeypatch):
    monkeypatch.delenv("SOME_SECRET_FILE", raising=False)
    monkeypatch.setenv("SOME_SECRET", "plain")
    assert env_secret("SOME_SECRET") == "plain"
    (tmp_path / "key").write_text("s3cret")
    monkeypatch.setenv("SOME_SECRET_FILE", str(tmp_path / "key"))
    with pytest.raises(ValueError, match="not both"):
        env_secret("SOME_SECRET")


def test_a_missing_file_stops_the_start_instead_of_running_without_the_secret(monkeypatch):
    monkeypatch.setenv("SOME_SECRET_FILE", "/nonexistent/key")
    monkeypatch.delenv("SOME_SECRET", raising=False)
    with pytest.raises(FileNotFoundError):
        env_secret("SOME_SECRET")


@pytest.mark.parametrize("url, password, expected", [
    ("redis://apranova@cache:6379/0", "p@ss/w:rd", "redis://apranova:p%40ss%2Fw%3Ard@cache:6379/0"),
    ("redis://cache:6379/0", "pw", "redis://:pw@cache:6379/0"),
    ("redis://u@[fd00::1]:6379/0", "pw", "redis://u:pw@[fd00::1]:6379/0"),
    ("redis://u@cache:6379/0", "", "redis://u@cache:6379/0"),
])
def test_a_password_goes_into_the_url(url, password, expected):
    assert url_with_password(url, password) == expected


def test_settings_take_every_secret_from_files(tmp_path):
    secrets = {"SECRET_KEY": "k" * 40 + "abcdefghij", "DATABASE_PASSWORD": "db pass/\"x", "REDIS_PASSWORD": "redis:pass"}
    env = {key: value for key, value in os.environ.items() if key not in secrets}
    for name, value in secrets.items():
        (tmp_path / name).write_text(value + "\n")
        env[f"{name}_FILE"] = str(tmp_path / name)
    env.update(DATABASE_URL="postgres://apranova@db:5432/apranova", REDIS_URL="redis://apranova@cache:6379/0",
               DJANGO_SETTINGS_MODULE="core.settings", APROVOVA_REPORTS_DIR=str(tmp_path / "aprovova"))
    code = ("import django, json; django.setup(); from django.conf import settings as s; "
            "print(json.dumps([s.SECRET_KEY, s.DATABASES['default']['PASSWORD'], s.REDIS_URL, s.CELERY_BROKER_URL]))")
    out = subprocess.run([sys.executable, "-c", code], cwd=APP_DIR, env=env, capture_output=True, text=True, check=True).stdout
    key, db_password, redis_url, broker = json.loads(out.splitlines()[-1])
    assert key == secrets["SECRET_KEY"] and db_password == secrets["DATABASE_PASSWORD"]
    assert redis_url == broker == "redis://apranova:redis%3Apass@cache:6379/0"
