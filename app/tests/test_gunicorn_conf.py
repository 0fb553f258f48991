"""gunicorn's settings file: every name is a real gunicorn setting, and nothing is written outside /tmp."""
from __future__ import annotations

import runpy
import types
from pathlib import Path

from gunicorn.config import Config

CONF = Path(__file__).resolve().parent.parent / "docker" / "gunicorn.conf.py"


def _settings(monkeypatch, **env: str) -> dict:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    loaded = runpy.run_path(str(CONF))
    return {k: v for k, v in loaded.items() if not k.startswith("_") and not isinstance(v, (types.ModuleType, types.FunctionType))}


def test_every_name_is_a_gunicorn_setting(monkeypatch):
    known = Config().settings
    settings = _settings(monkeypatch)
    assert set(settings) - set(known) == set()  # gunicorn ignores unknown names silently
    config = Config()
    for name, value in settings.items():
        config.set(name, value)


def test_control_socket_is_on_the_tmpfs_not_the_read_only_root(monkeypatch):
    # gunicorn >= 25 defaults it to $HOME/.gunicorn/ (/app/.gunicorn in the image): read-only there.
    settings = _settings(monkeypatch)
    assert settings.get("control_socket_disable") or settings["control_socket"].startswith("/tmp/")
    assert settings.get("worker_tmp_dir", "/tmp").startswith("/tmp")


def test_control_socket_can_be_turned_off(monkeypatch):
    settings = _settings(monkeypatch, GUNICORN_CONTROL_SOCKET="")
    assert settings["control_socket_disable"] is True
