"""Refuse to run production with a missing or placeholder SECRET_KEY."""
from __future__ import annotations

from django.core.exceptions import ImproperlyConfigured

# Values copied from templates and tutorials; a key containing one of these was never generated.
_PLACEHOLDER_MARKERS = ("change", "replace", "placeholder", "secret-key", "your-", "django-insecure", "example", "xxx")
MIN_LENGTH = 50  # Django's own security check (W009) asks for at least 50 characters.


def validate_secret_key(key: str, *, debug: bool) -> str:
    """Return the key, or raise ImproperlyConfigured saying what is wrong with it."""
    if debug:
        return key or "insecure-development-only-key-" + "x" * 40
    if not key:
        raise ImproperlyConfigured("SECRET_KEY is not set; production needs a generated key of 50+ characters.")
    lowered = key.lower()
    if any(marker in lowered for marker in _PLACEHOLDER_MARKERS):
        raise ImproperlyConfigured("SECRET_KEY looks like a placeholder; generate one (python -c 'import secrets; print(secrets.token_urlsafe(64))').")
    if len(key) < MIN_LENGTH or len(set(key)) < 5:
        raise ImproperlyConfigured(f"SECRET_KEY is too weak: it needs at least {MIN_LENGTH} characters and 5 distinct ones.")
    return key
