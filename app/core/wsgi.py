"""WSGI entry point for gunicorn; refuses to serve with an unusable APROVOVA tree."""
import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "core.settings")
application = get_wsgi_application()

from core.startup import assert_aprovova_ready  # noqa: E402  (needs configured settings)

assert_aprovova_ready()
