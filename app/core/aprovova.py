"""The APROVOVA reports tree: its layout, creation, start-up check and safe path resolution."""
from __future__ import annotations

import os
import tempfile
from pathlib import Path

from django.conf import settings

from core.aprovova_layout import DIR_MODE, EXTRA_DIRS, FORMATS, TYPE_DIRS

REPORT_TYPES = tuple(TYPE_DIRS)
_SETTING_FOR_TYPE = {
    "users": "APROVOVA_USER_REPORTS_DIR",
    "payments": "APROVOVA_PAYMENT_REPORTS_DIR",
    "batches": "APROVOVA_BATCH_REPORTS_DIR",
    "analytics": "APROVOVA_ANALYTICS_REPORTS_DIR",
}


def root() -> Path:
    return Path(settings.APROVOVA_REPORTS_DIR)


def type_dir(report_type: str) -> Path:
    if report_type not in _SETTING_FOR_TYPE:
        raise ValueError(f"unknown report type {report_type!r}; expected one of {', '.join(REPORT_TYPES)}")
    return Path(getattr(settings, _SETTING_FOR_TYPE[report_type]))


def format_dir(report_type: str, fmt: str) -> Path:
    return type_dir(report_type) / fmt


def invoice_dir() -> Path:
    return type_dir("payments") / "invoices"


def report_roots() -> list[Path]:
    """Top directories holding reports: the root, plus any branch moved outside it by its setting."""
    base = root().resolve()
    moved = [type_dir(t) for t in REPORT_TYPES if not type_dir(t).resolve().is_relative_to(base)]
    return [root(), *moved]


def required_dirs() -> list[Path]:
    dirs = [root()]
    for report_type in REPORT_TYPES:
        dirs.append(type_dir(report_type))
        dirs += [type_dir(report_type) / sub for sub in FORMATS + EXTRA_DIRS.get(report_type, ())]
    return dirs


def init_tree() -> list[Path]:
    """Create the tree; safe on an existing one (never deletes, only fixes modes). Returns created dirs."""
    created = []
    for directory in required_dirs():
        if not directory.is_dir():
            directory.mkdir(parents=True, exist_ok=True)
            created.append(directory)
        try:
            os.chmod(directory, DIR_MODE)
        except PermissionError:
            # A volume owned by someone else: leave its modes, the writability check reports it.
            pass
    return created


def tree_problems() -> list[str]:
    """Every reason the tree is unusable, in words an operator can act on."""
    problems, missing = [], set()
    for directory in required_dirs():
        if directory.parent in missing:
            missing.add(directory)  # Said once for the top-most missing directory, not for each child.
        elif not directory.exists():
            missing.add(directory)
            problems.append(f"{directory} is missing")
        elif not directory.is_dir():
            problems.append(f"{directory} is not a directory")
        elif not _writable(directory):
            problems.append(f"{directory} is not writable by uid {os.getuid()}")
    return problems


def _writable(directory: Path) -> bool:
    # A real write: os.access() lies on some network and overlay filesystems.
    try:
        with tempfile.NamedTemporaryFile(dir=directory, prefix=".probe-"):
            return True
    except OSError:
        return False


def resolve_inside(relative: str | os.PathLike[str]) -> Path | None:
    """The absolute path of a file under APROVOVA, or None if the path would leave it or is no file."""
    base = root().resolve()
    candidate = (base / relative).resolve()
    if candidate == base or not candidate.is_relative_to(base) or not candidate.is_file():
        return None
    return candidate
