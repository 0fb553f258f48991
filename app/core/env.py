"""Typed readers for settings that come only from the environment."""
from __future__ import annotations

import os
from urllib.parse import quote, unquote, urlsplit, urlunsplit

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


def env_str(name: str, default: str = "") -> str:
    return os.environ.get(name, default)


def env_bool(name: str, default: bool = False) -> bool:
    raw = os.environ.get(name)
    if raw is None:
        return default
    value = raw.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    # A typo must not silently flip a security switch.
    raise ValueError(f"{name}={raw!r} is not a boolean (use true/false)")


def env_int(name: str, default: int, minimum: int | None = None) -> int:
    raw = os.environ.get(name)
    value = default if raw in (None, "") else int(raw)
    if minimum is not None and value < minimum:
        # Refused at start-up: e.g. a retention of 0 days would delete every report at night.
        raise ValueError(f"{name}={value} is not allowed: it must be at least {minimum}")
    return value


def env_list(name: str, default: str = "") -> list[str]:
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


def env_secret(name: str, default: str = "") -> str:
    """A secret from the file named by NAME_FILE (Docker's `_FILE` convention), else from NAME.

    From a file, the value is in no container's environment: `docker inspect` and the process
    table show only the path. One trailing newline (as editors and `echo` write) is dropped.
    """
    path = os.environ.get(f"{name}_FILE", "")
    if path and os.environ.get(name):
        raise ValueError(f"set {name} or {name}_FILE, not both")
    if not path:
        return os.environ.get(name, default)
    with open(path, encoding="utf-8") as handle:
        value = handle.read()
    return value[:-1] if value.endswith("\n") else value


def url_with_password(url: str, password: str) -> str:
    """The URL with `password` in it (user kept); the URL unchanged when the password is empty."""
    if not password:
        return url
    parts = urlsplit(url)
    user = parts.username or ""
    host = parts.hostname or ""
    if ":" in host:  # an IPv6 literal
        host = f"[{host}]"
    netloc = f"{quote(unquote(user), safe='')}:{quote(password, safe='')}@{host}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit(parts._replace(netloc=netloc))
