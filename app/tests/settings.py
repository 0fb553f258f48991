"""Test settings: production settings plus what only tests need, set before they are read."""
import os
import secrets
import tempfile

# Tests generate their own secrets; nothing is committed.
os.environ.setdefault("SECRET_KEY", secrets.token_urlsafe(50))
os.environ.setdefault("CELERY_TASK_ALWAYS_EAGER", "true")
os.environ.setdefault("APROVOVA_REPORTS_DIR", tempfile.mkdtemp(prefix="aprovova-test-"))
os.environ.setdefault("APP_RELEASE", "test-release")

from core.settings import *  # noqa: E402,F403

CELERY_TASK_EAGER_PROPAGATES = True
# Tests share one Redis and reuse user ids: throttles are off unless a test sets its own rates.
APROVOVA_THROTTLE_RATES = {"user": "100000/min", "failed_sign_in": "100000/min"}
READYZ_CACHE_SECONDS = 0
# Hashing with PBKDF2's 1M rounds would dominate the API tests.
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
