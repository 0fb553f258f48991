"""What the probes show to whom: /metrics only at its exact path, /readyz details only to a direct
local caller and never an exception's text, and a flood of /readyz runs its checks once."""
from __future__ import annotations

import pytest
from django.test import Client

from core import health

PROXIED = {"HTTP_X_FORWARDED_FOR": "198.51.100.7", "HTTP_X_REAL_IP": "198.51.100.7"}


@pytest.mark.parametrize("path", ["/metrics/", "/metrics//", "/healthz/", "/readyz/"])
def test_probes_answer_only_at_their_exact_path(path):
    # nginx refuses the public /metrics by exact location: another spelling must not serve it.
    response = Client().get(path, secure=True)
    assert response.status_code == 404
    assert b"apranova_" not in response.content


def test_metrics_at_its_exact_path():
    assert b"apranova_app_info" in Client().get("/metrics").content


@pytest.mark.django_db
def test_readyz_through_the_proxy_is_a_bare_status(settings):
    settings.REDIS_URL = "redis://127.0.0.1:1/0"
    response = Client().get("/readyz", **PROXIED)
    assert response.status_code == 503 and response.json() == {"status": "fail"}
    assert Client().get("/readyz", REMOTE_ADDR="203.0.113.9").json() == {"status": "fail"}


@pytest.mark.django_db
def test_readyz_never_shows_an_exceptions_text(settings):
    settings.REDIS_URL = "redis://secret-cache-host.internal:1/0"
    reason = Client().get("/readyz").json()["checks"]["redis"]
    assert "secret-cache-host" not in reason and ":1" not in reason
    assert reason.startswith("ConnectionError") or reason.endswith("(details in the app's log)")


@pytest.mark.django_db
def test_a_flood_of_readyz_runs_the_checks_once_per_interval(settings, monkeypatch):
    settings.READYZ_CACHE_SECONDS = 60
    monkeypatch.setattr("core.probes._ready_cache", (float("-inf"), {}))
    calls = []
    real = health.run_checks
    monkeypatch.setattr(health, "run_checks", lambda names: calls.append(names) or real(names))
    for _ in range(20):
        assert Client().get("/readyz").status_code == 200
    assert len(calls) == 1
