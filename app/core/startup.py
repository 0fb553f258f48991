"""Start-up checks: fail fast with a clear message instead of failing on the first report."""
from __future__ import annotations

from django.core import checks
from django.core.exceptions import ImproperlyConfigured

from core import aprovova


def assert_aprovova_ready() -> None:
    problems = aprovova.tree_problems()
    if problems:
        raise ImproperlyConfigured(
            f"APROVOVA reports tree at {aprovova.root()} is not usable: " + "; ".join(problems)
            + ". Run `manage.py init_aprovova` (or the image's `manage init_aprovova`) and check the volume's owner."
        )


@checks.register("aprovova")
def aprovova_check(app_configs=None, **kwargs) -> list[checks.CheckMessage]:
    # A warning, not an error: `migrate` and `init_aprovova` itself must still run on an empty volume.
    return [
        checks.Warning(problem, hint="Run `manage.py init_aprovova`.", id="aprovova.W001")
        for problem in aprovova.tree_problems()
    ]
