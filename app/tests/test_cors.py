"""CORS: browsers on the inventory's origins may call the API; others get no CORS headers."""
from __future__ import annotations

import pytest

ALLOWED = "https://portal.example.com"


@pytest.fixture
def cors(settings):
    settings.CORS_ALLOWED_ORIGINS = [ALLOWED]


def _preflight(client, origin: str):
    return client.options("/api/reports/", HTTP_ORIGIN=origin, HTTP_ACCESS_CONTROL_REQUEST_METHOD="POST",
                          HTTP_ACCESS_CONTROL_REQUEST_HEADERS="authorization,content-type")


@pytest.mark.django_db
def test_preflight_from_an_allowed_origin(cors, anon_client):
    response = _preflight(anon_client, ALLOWED)
    assert response.status_code == 200
    assert response["Access-Control-Allow-Origin"] == ALLOWED
    assert "authorization" in response["Access-Control-Allow-Headers"]


@pytest.mark.django_db
def test_preflight_from_another_origin_gets_no_cors_headers(cors, anon_client):
    response = _preflight(anon_client, "https://evil.example.net")
    assert "Access-Control-Allow-Origin" not in response


@pytest.mark.django_db
def test_no_origin_is_allowed_by_default(anon_client):
    assert "Access-Control-Allow-Origin" not in _preflight(anon_client, ALLOWED)


@pytest.mark.django_db
def test_actual_request_from_an_allowed_origin(cors, staff_client):
    response = staff_client.get("/api/reports/", HTTP_ORIGIN=ALLOWED)
    assert response.status_code == 200 and response["Access-Control-Allow-Origin"] == ALLOWED
