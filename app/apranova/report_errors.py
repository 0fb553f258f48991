"""What a failed report's row says: the exception, and for a disk that takes no more data, what to do."""
from __future__ import annotations

import errno

# Errors of the disk that holds APROVOVA, not of the report: the user can only retry after an operator acts.
_DISK_PROBLEMS = {
    errno.ENOSPC: "the reports disk (APROVOVA) is full",
    errno.EDQUOT: "the reports disk (APROVOVA) is over its quota",
    errno.EROFS: "the reports disk (APROVOVA) is read-only",
}
ERROR_MAX_LENGTH = 2000


def failure_reason(exc: BaseException) -> str:
    """One line for Report.error: the exception, preceded by the disk problem when it is one."""
    detail = f"{type(exc).__name__}: {exc}"
    problem = _DISK_PROBLEMS.get(exc.errno) if isinstance(exc, OSError) else None
    if problem:
        detail = f"{problem}: no file was kept; request the report again once space is freed. ({detail})"
    return detail[:ERROR_MAX_LENGTH]
