"""`make new-env` makes an environment that runs: wired, with secrets that pass the preflight,
so its first site.yml stops only where it needs the (here unreachable) server."""

from __future__ import annotations

import json
import os
import secrets
import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture
def new_env(tmp_path):
    name = f"t{secrets.token_hex(3)}"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "ops@acme", "-f", str(tmp_path / "key")], check=True)
    vault_password = tmp_path / "vault-password"
    vault_password.write_text(secrets.token_urlsafe(24))
    env = {**os.environ, "ANSIBLE_CONFIG": str(REPO / "ansible.cfg"), "ANSIBLE_FORCE_COLOR": "0",
           "ANSIBLE_VAULT_PASSWORD_FILE": str(vault_password)}
    try:
        made = subprocess.run(["make", "new-env", f"NAME={name}", "HOST=203.0.113.77", "DOMAIN=app.acme.test",
                               "EMAIL=ops@acme.test", f"SSH_KEY={tmp_path / 'key.pub'}", "ACME=staging"],
                              cwd=REPO, env=env, capture_output=True, text=True, check=False)
        assert made.returncode == 0, made.stdout[-2000:] + made.stderr[-2000:]
        yield name, env
    finally:
        shutil.rmtree(REPO / "inventories" / name, ignore_errors=True)


def test_a_new_environment_is_wired_and_gets_as_far_as_its_server(new_env):
    name, env = new_env
    inventory = REPO / "inventories" / name
    assert (inventory / "group_vars/all/wiring.yml").resolve() == (REPO / "inventories/shared/wiring.yml").resolve()
    assert (inventory / "group_vars/all/vault.yml").read_text().startswith("$ANSIBLE_VAULT")
    run = subprocess.run(["ansible-playbook", "-i", str(inventory / "hosts.yml"), "playbooks/site.yml", "-e", "ansible_user=root"],
                         cwd=REPO, env={**env, "ANSIBLE_STDOUT_CALLBACK": "ansible.posix.json", "ANSIBLE_TIMEOUT": "3"},
                         capture_output=True, text=True, timeout=300, check=False)
    stats = json.loads(run.stdout[run.stdout.index("{"):])["stats"][f"{name}-1"]
    assert stats["failures"] == 0 and stats["unreachable"] == 1 and stats["changed"] == 0, stats
