"""The inventories and the preflight, on the control node: no host is needed or touched.

Every host in the production and staging examples is a documentation address
(203.0.113.0/24), so a playbook that tried to reach one would report it unreachable:
"unreachable=0" in a refused run proves the refusal came first.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
EXAMPLE_VAULT_PASSWORD = "apranova-example"
PUBLIC_KEY = re.compile(r"(ssh-(ed25519|rsa)|ecdsa-sha2-nistp[0-9]+) AAAA[A-Za-z0-9+/]{40}")  # documented in inventories/*/README and DEPLOYMENT.md


@pytest.fixture(scope="module")
def vault_password_file(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("vault") / "password"
    path.write_text(EXAMPLE_VAULT_PASSWORD + "\n")
    path.chmod(0o600)
    return path


def ansible(*args: str, vault: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "ANSIBLE_CONFIG": str(REPO / "ansible.cfg"), "ANSIBLE_FORCE_COLOR": "0"}
    if vault:
        env["ANSIBLE_VAULT_PASSWORD_FILE"] = str(vault)
    return subprocess.run(list(args), cwd=REPO, env=env, capture_output=True, text=True, timeout=300, check=False)


def refused(inventory: str, vault: Path, *extra: str) -> str:
    result = ansible("ansible-playbook", "-i", f"inventories/{inventory}/hosts.yml", "playbooks/site.yml", *extra, vault=vault)
    output = " ".join((result.stdout + result.stderr).split())
    assert result.returncode != 0, output[-3000:]
    assert "unreachable=0" in output and "changed=0" in output, output[-3000:]
    return output


@pytest.mark.parametrize("inventory", ["production", "staging"])
def test_groups_are_wired_to_one_host_by_default(inventory, vault_password_file):
    result = ansible("ansible-inventory", "-i", f"inventories/{inventory}/hosts.yml", "--list", vault=vault_password_file)
    groups = json.loads(result.stdout)
    hosts = {group: set(groups[group]["hosts"]) for group in ("web", "app", "db", "cache")}
    assert len(set().union(*hosts.values())) == 1, hosts


@pytest.mark.parametrize("inventory", ["production", "staging"])
def test_example_vault_placeholders_are_refused(inventory, vault_password_file):
    output = refused(inventory, vault_password_file)
    assert "vault_app_secret_key still holds the example placeholder" in output


def test_staging_uses_the_staging_acme_directory(vault_password_file):
    result = ansible("ansible", "-i", "inventories/staging/hosts.yml", "all", "-m", "ansible.builtin.debug",
                     "-a", "var=certbot_acme_server", "-c", "local", vault=vault_password_file)
    assert "acme-staging-v02.api.letsencrypt.org" in result.stdout


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ("apranova_domain=", "apranova_domain is not set"),
        ("apranova_domain=Not_A_Domain", "apranova_domain ('Not_A_Domain') must be a fully qualified"),
        ("certbot_email=ops-at-example", "certbot_email ('ops-at-example') a valid address"),
    ],
)
def test_missing_or_malformed_values_are_refused_by_name(extra, message, vault_password_file):
    assert message in refused("production", vault_password_file, "-e", extra)


@pytest.mark.parametrize("playbook", sorted(p.name for p in (REPO / "playbooks").glob("*.yml")))
def test_playbook_syntax(playbook, vault_password_file):
    result = ansible("ansible-playbook", "-i", "inventories/production/hosts.yml", "--syntax-check",
                     f"playbooks/{playbook}", vault=vault_password_file)
    assert result.returncode == 0, result.stderr[-2000:]


REAL_LOOKING_SECRETS = json.dumps({
    "vault_app_secret_key": "k" * 64, "vault_app_admin_password": "a-long-admin-secret",
    "vault_postgresql_app_password": "a-long-db-secret", "vault_redis_app_password": "a-long-redis-secret",
    "vault_backup_restic_password": "a-long-restic-secret",
    # The shape of a public key, built here so the repository holds no key-like line.
    "vault_deploy_authorized_keys": ["ssh-ed25519 AAAA" + "B" * 64 + " ops@acme"],
})


def test_backups_on_the_protected_host_are_refused(vault_password_file):
    output = refused("production", vault_password_file, "-e", REAL_LOOKING_SECRETS,
                     "-e", "backup_restic_repository=/var/backups/restic")
    assert "backup_restic_repository ('/var/backups/restic') is on apranova-prod-1 itself" in output


@pytest.fixture
def own_password_production(tmp_path, vault_password_file) -> tuple[Path, Path]:
    """The production example with its vault rekeyed to a password of its own, as a real team's."""
    inventory = tmp_path / "production"
    shutil.copytree(REPO / "inventories/production", inventory, symlinks=True)
    wiring = inventory / "group_vars/all/wiring.yml"
    wiring.unlink()
    wiring.symlink_to(REPO / "inventories/shared/wiring.yml")
    own = tmp_path / "own-password"
    own.write_text("a-password-of-our-own\n")
    rekeyed = ansible("ansible-vault", "rekey", "--new-vault-password-file", str(own),
                      str(inventory / "group_vars/all/vault.yml"), vault=vault_password_file)
    assert rekeyed.returncode == 0, rekeyed.stderr
    return inventory / "hosts.yml", own


def test_local_backups_pass_the_preflight_when_chosen(own_password_production):
    hosts, password = own_password_production
    result = ansible("ansible-playbook", "-i", str(hosts), "playbooks/site.yml",
                     "-e", REAL_LOOKING_SECRETS, "-e", "backup_restic_repository=/var/backups/restic",
                     "-e", "backup_allow_local_only=true", vault=password)
    output = " ".join((result.stdout + result.stderr).split())
    # Past every check: the run stops only when it tries to reach the documentation address.
    assert "is on apranova-prod-1 itself" not in output and "unreachable=1" in output, output[-3000:]


def test_a_vault_that_opens_with_the_example_password_is_refused(vault_password_file):
    output = refused("production", vault_password_file, "-e", REAL_LOOKING_SECRETS)
    assert "vault.yml still opens with the example vault password" in output


def test_the_repository_ships_no_usable_public_key(vault_password_file):
    """Whoever holds the private half of a shipped key would log in to a server that forgot to replace it."""
    tracked = subprocess.run(["git", "grep", "-lE", PUBLIC_KEY.pattern],
                             cwd=REPO, capture_output=True, text=True, check=False).stdout.split()
    assert tracked == []
    for inventory in ("production", "staging"):
        shown = ansible("ansible-vault", "view", f"inventories/{inventory}/group_vars/all/vault.yml", vault=vault_password_file)
        assert "vault_deploy_authorized_keys" in shown.stdout and not PUBLIC_KEY.search(shown.stdout)


@pytest.mark.parametrize("playbook", ["provision", "deploy", "backup", "restore", "rollback", "healthcheck"])
def test_every_playbook_that_touches_hosts_starts_with_the_preflight(playbook):
    import yaml

    first = yaml.safe_load((REPO / "playbooks" / f"{playbook}.yml").read_text())[0]
    assert first["hosts"] == "all" and first["gather_facts"] is False and "always" in first["tags"]
    task = first["tasks"][0]
    if "ansible.builtin.include_tasks" in task:
        # Included where site.yml may already have passed it: its checks keep the always tag,
        # so that a run limited by --tags still makes them.
        included = task["ansible.builtin.include_tasks"]
        assert included["file"] == "tasks/preflight.yml" and "always" in included["apply"]["tags"]
    else:
        assert task["ansible.builtin.import_tasks"] == "tasks/preflight.yml"
