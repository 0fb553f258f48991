"""/healthz, /readyz and /metrics."""
from __future__ import annotations

import shutil

import pytest
from django.test import Client


def test_healthz_touches_no_dependency_and_ignores_host_and_scheme(settings):
    # No database fixture: pytest-django would fail the test on any query.
    settings.REDIS_URL = "redis://127.0.0.1:1/0"
    response = Client().get("/healthz", HTTP_HOST="10.1.2.3:8000")  # plain HTTP, host not allowed
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "release": "test-release", "environment": "production"}


@pytest.mark.django_db
def test_readyz_ok_when_everything_is_up():
    response = Client().get("/readyz")
    assert response.status_code == 200, response.content
    assert response.json()["checks"] == {"database": "ok", "redis": "ok", "aprovova": "ok", "storage": "ok", "migrations": "ok"}


@pytest.mark.django_db
def test_readyz_503_names_redis(settings):
    settings.REDIS_URL = "redis://127.0.0.1:1/0"
    body = Client().get("/readyz").json()
    assert body["status"] == "fail" and body["failing"] == ["redis"]
    assert Client().get("/readyz").status_code == 503


@pytest.mark.django_db
def test_readyz_503_names_aprovova(aprovova_dir):
    shutil.rmtree(aprovova_dir / "payment_reports" / "invoices")
    response = Client().get("/readyz")
    assert response.status_code == 503
    assert response.json()["failing"] == ["aprovova"]
    assert "invoices is missing" in response.json()["checks"]["aprovova"]


@pytest.mark.django_db
def test_readyz_503_names_unapplied_migrations(monkeypatch):
    from django.db.migrations.executor import MigrationExecutor

    monkeypatch.setattr(MigrationExecutor, "migration_plan", lambda self, targets: [("fake", False)])
    assert Client().get("/readyz").json()["failing"] == ["migrations"]


@pytest.mark.django_db
def test_metrics_in_prometheus_format_with_release_label():
    Client().get("/healthz")
    response = Client().get("/metrics")
    assert response.status_code == 200 and response["Content-Type"].startswith("text/plain")
    text = response.content.decode()
    assert 'apranova_app_info{environment="production",version="test-release"} 1.0' in text
    assert "apranova_http_requests_total" in text
