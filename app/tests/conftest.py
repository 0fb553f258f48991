from __future__ import annotations

import base64
import threading
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Callable

import pytest
from django.core.management import call_command
from django.db import connection
from rest_framework.test import APIClient

from apranova.models import Batch, Course, Payment
from core import aprovova

PASSWORD = "a-test-password-1234"


@pytest.fixture(autouse=True)
def aprovova_dir(tmp_path: Path, settings) -> Path:
    """A fresh APROVOVA tree per test (the per-type settings follow the root, as in production)."""
    root = tmp_path / "APROVOVA"
    settings.APROVOVA_REPORTS_DIR = root
    settings.APROVOVA_USER_REPORTS_DIR = root / "user_reports"
    settings.APROVOVA_PAYMENT_REPORTS_DIR = root / "payment_reports"
    settings.APROVOVA_BATCH_REPORTS_DIR = root / "batch_reports"
    settings.APROVOVA_ANALYTICS_REPORTS_DIR = root / "analytics_reports"
    aprovova.init_tree()
    return root


@pytest.fixture
def demo_data(db) -> None:
    call_command("seed_demo", users=30, payments=300, batches=5, seed=7, stdout=open("/dev/null", "w"))


@pytest.fixture
def make_payment(django_user_model) -> Callable[..., Payment]:
    """make_payment(reference, user=None, **fields): a pending payment in one shared batch, by a new payer by default."""
    course = Course.objects.create(code="c1", title="Course", price=Decimal("10.00"))
    batch = Batch.objects.create(course=course, code="b1", start_date=date(2026, 1, 1), end_date=date(2026, 2, 1), capacity=50)

    def make(reference: str = "pay_1", user=None, **fields) -> Payment:
        user = user or django_user_model.objects.create_user(f"payer-{reference}", f"{reference}@example.com", PASSWORD)
        return Payment.objects.create(user=user, batch=batch, amount=Decimal("10.00"), provider_reference=reference, **fields)

    return make


def run_in_threads(work: Callable[[], None], count: int = 2) -> None:
    """Run work in count threads at once and wait for them; each closes its own database connection."""

    def run() -> None:
        try:
            work()
        finally:
            connection.close()

    threads = [threading.Thread(target=run) for _ in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


def _basic(username: str) -> str:
    return "Basic " + base64.b64encode(f"{username}:{PASSWORD}".encode()).decode()


class HttpsAPIClient(APIClient):
    """Every request over HTTPS, as behind the production proxy (SECURE_SSL_REDIRECT is on)."""

    def generic(self, *args, **kwargs):
        kwargs["secure"] = True
        return super().generic(*args, **kwargs)


def _client(user) -> APIClient:
    client = HttpsAPIClient()
    if user is not None:
        client.credentials(HTTP_AUTHORIZATION=_basic(user.username))
    return client


@pytest.fixture
def staff(django_user_model):
    return django_user_model.objects.create_user("staffer", "staff@example.com", PASSWORD, is_staff=True)


@pytest.fixture
def learner(django_user_model):
    return django_user_model.objects.create_user("learner", "learner@example.com", PASSWORD)


@pytest.fixture
def staff_client(staff) -> APIClient:
    return _client(staff)


@pytest.fixture
def learner_client(learner) -> APIClient:
    return _client(learner)


@pytest.fixture
def anon_client() -> APIClient:
    return _client(None)
