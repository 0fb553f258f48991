"""Where finished report files are kept: the local APROVOVA tree, or an S3-compatible bucket.

Files are always written into the local tree first, atomically (core.atomic). In `s3` mode,
`publish` then uploads each one under its path relative to APROVOVA (the object key) and removes
the local copy: every app host serves every report, and the local tree is only scratch space.
"""
from __future__ import annotations

import functools
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path, PurePosixPath

from django.conf import settings

from core import aprovova

log = logging.getLogger(__name__)
LOCAL, S3 = "local", "s3"
_CHUNK = 1 << 20


@dataclass(frozen=True)
class StoredObject:
    """A report file read from the bucket: its name, its size and its bytes, streamed."""

    name: str
    size: int
    chunks: Iterator[bytes]


def is_remote() -> bool:
    return settings.APROVOVA_STORAGE == S3


def key_for(relative: str) -> str | None:
    """The object key of a path relative to APROVOVA, or None when the path would leave it."""
    path = PurePosixPath(relative)
    if not relative or path.is_absolute() or ".." in path.parts or str(path) in ("", "."):
        return None
    return str(path)


def relative_key(path: Path) -> str:
    return path.resolve().relative_to(aprovova.root().resolve()).as_posix()


def publish(path: Path) -> None:
    """In s3 mode, upload a finished file (multipart when large) and drop the local copy."""
    if not is_remote():
        return
    _client().upload_file(str(path), settings.APROVOVA_S3_BUCKET, relative_key(path))
    path.unlink(missing_ok=True)


def discard(path: Path) -> None:
    """Remove a file of a run that is not kept: its local copy and, in s3 mode, its object."""
    key = relative_key(path)
    path.unlink(missing_ok=True)
    if is_remote():
        try:
            remove(key)
        except Exception:  # noqa: BLE001 - called while failing already (the bucket may be why).
            log.warning("could not delete an object of a discarded report", extra={"key": key}, exc_info=True)


def remove(relative: str) -> None:
    """Delete a stored report file by its relative path; a path outside APROVOVA is ignored."""
    if is_remote():
        key = key_for(relative)
        if key is not None:
            _client().delete_object(Bucket=settings.APROVOVA_S3_BUCKET, Key=key)
        return
    local = aprovova.resolve_inside(relative) if relative else None
    if local is not None:
        local.unlink(missing_ok=True)


def open_object(relative: str) -> StoredObject | None:
    """The stored object at a relative path, or None when the path is unsafe or nothing is there."""
    key = key_for(relative)
    if key is None:
        return None
    client = _client()
    try:
        answer = client.get_object(Bucket=settings.APROVOVA_S3_BUCKET, Key=key)
    except client.exceptions.NoSuchKey:
        return None
    return StoredObject(PurePosixPath(key).name, answer["ContentLength"], answer["Body"].iter_chunks(_CHUNK))


def remove_older_than(days: int, prefix: str = "", skip_prefix: str | None = None, now: datetime | None = None) -> list[str]:
    """Delete objects under `prefix` last written more than `days` ago (but none under `skip_prefix`)."""
    if not is_remote():
        return []
    cutoff = (now or datetime.now(timezone.utc)) - timedelta(days=days)
    client, bucket, removed = _client(), settings.APROVOVA_S3_BUCKET, []
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        for item in page.get("Contents", []):
            key = item["Key"]
            if item["LastModified"] < cutoff and not (skip_prefix and key.startswith(skip_prefix)):
                client.delete_object(Bucket=bucket, Key=key)
                removed.append(key)
    return removed


def check() -> str | None:
    """Readiness: in s3 mode the bucket answers with these credentials."""
    if is_remote():
        _client().head_bucket(Bucket=settings.APROVOVA_S3_BUCKET)
    return None


def _client():
    return _client_for(settings.APROVOVA_S3_ENDPOINT_URL, settings.APROVOVA_S3_REGION, settings.APROVOVA_S3_ACCESS_KEY_ID,
                       settings.APROVOVA_S3_SECRET_ACCESS_KEY, settings.APROVOVA_S3_CA_BUNDLE)


@functools.lru_cache(maxsize=4)
def _client_for(endpoint: str, region: str, access_key: str, secret_key: str, ca_bundle: str):
    # Imported here: local mode (the default) never loads boto3. One client per process is
    # thread-safe and keeps its connections open between requests.
    import boto3
    from botocore.config import Config

    config = Config(s3={"addressing_style": "path"}, connect_timeout=5, read_timeout=60,
                    retries={"max_attempts": 3, "mode": "standard"})
    return boto3.client("s3", endpoint_url=endpoint or None, region_name=region, aws_access_key_id=access_key,
                        aws_secret_access_key=secret_key, verify=ca_bundle or True, config=config)
