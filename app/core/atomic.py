"""Atomic, collision-free report files: write to a hidden temporary file, then rename.

A crash (or a full disk) leaves at most a hidden `.*.part` file, never a half report under
its final name; the daily cleanup removes stale parts.
"""
from __future__ import annotations

import os
import secrets
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import IO

from core.aprovova_layout import FILE_MODE

PART_SUFFIX = ".part"


def unique_path(directory: Path, stem: str, extension: str) -> Path:
    """A name nobody else uses: UTC timestamp plus a random token, re-drawn on the rare clash."""
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    while True:
        candidate = directory / f"{stem}_{stamp}_{secrets.token_hex(4)}.{extension}"
        if not candidate.exists():
            return candidate


@contextmanager
def atomic_write(final: Path, binary: bool = False) -> Iterator[IO]:
    fd, temporary = tempfile.mkstemp(dir=final.parent, prefix=f".{final.name}.", suffix=PART_SUFFIX)
    try:
        mode = "wb" if binary else "w"
        kwargs = {} if binary else {"encoding": "utf-8", "newline": ""}
        with os.fdopen(fd, mode, buffering=1 << 16, **kwargs) as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(temporary, FILE_MODE)
        os.replace(temporary, final)
    except BaseException:
        try:
            os.unlink(temporary)
        except FileNotFoundError:
            pass
        raise
