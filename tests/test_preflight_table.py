"""The preflight refuses bad values by name, on the control node, before any host is touched.

One ansible-playbook run holds every case: each case is its own host (a documentation address
no run can reach) with one bad value over a valid environment, so the preflight's per-host
failures are the table's rows. One more host, valid, must pass the preflight and stop only
where the run first needs the network: unreachable.
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import time
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parent.parent

# (variable set, bad value, the name the refusal must give)
CASES = [
    ("common_ssh_port", 70000, "common_ssh_port"),
    ("common_ssh_port", "abc", "common_ssh_port"),
    ("postgresql_port", 0, "postgresql_port"),
    ("redis_port", 65536, "redis_port"),
    ("app_database_port", "5432x", "app_database_port"),
    ("postgresql_version", "11", "postgresql_version"),
    ("redis_maxmemory", "lots", "redis_maxmemory"),
    ("backup_keep_daily", -1, "backup_keep_daily"),
    ("backup_schedule", "02:30; rm -rf /", "backup_schedule"),
    ("certbot_acme_server", "acme.acme.test/directory", "certbot_acme_server"),
    ("certbot_acme_server", "http://acme.acme.test/directory", "certbot_acme_server"),
    ("app_release", "v1;reboot", "app_release"),
    ("vault_deploy_authorized_keys", [], "common_deploy_user_authorized_keys"),
    ("vault_deploy_authorized_keys", ["not a key"], "common_deploy_user_authorized_keys"),
    ("vault_deploy_authorized_keys", ["ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIH0ldG9 change-me@example"],
     "common_deploy_user_authorized_keys"),
    ("common_ssh_permit_root_login", "yes", "common_ssh_permit_root_login"),
    ("nginx_hsts_max_age", -5, "nginx_hsts_max_age"),
    ("apranova_environment", "Prod uction", "apranova_environment"),
    ("vault_app_secret_key", "abc", "app_secret_key"),
    ("vault_backup_restic_password", "x", "backup_restic_password"),
    ("vault_redis_app_password", "short", "redis_app_password"),
    ("vault_app_admin_password", "short", "app_admin_password"),
    ("vault_postgresql_app_password", "short", "vault_postgresql_app_password"),
    ("app_reports_retention_days", 0, "app_reports_retention_days"),
    ("app_invoices_retention_days", -1, "app_invoices_retention_days"),
    ("app_keep_releases", 1, "app_keep_releases"),
    ("redis_appendfsync", "sometimes", "redis_appendfsync"),
    ("redis_maxmemory_policy", "lru", "redis_maxmemory_policy"),
    ("certbot_key_type", "dsa", "certbot_key_type"),
    ("docker_source", "snap", "docker_source"),
    ("app_image_source", "git", "app_image_source"),
    ("nginx_frame_options", "ALLOW", "nginx_frame_options"),
    ("nginx_rate_limit_api_rate", "fast", "nginx_rate_limit_api_rate"),
    ("nginx_rate_limit_login_rate", "10/m", "nginx_rate_limit_login_rate"),
    ("nginx_client_max_body_size", "20 MB", "nginx_client_max_body_size"),
    ("app_time_zone", "Mars/Olympus Mons", "app_time_zone"),
    ("common_timezone", "UTC;", "common_timezone"),
    ("backup_randomized_delay", "soon", "backup_randomized_delay"),
    ("docker_upstream_repo_url", "http://download.docker.test/linux/debian", "docker_upstream_repo_url"),
    ("postgresql_pgdg_url", "ftp://apt.pg.test/pub", "postgresql_pgdg_url"),
    ("common_firewall_source_rules", [{"port": 5432, "sources": ["10.0.0.0/33"]}], "common_firewall_source_rules"),
    ("common_firewall_source_rules", [{"port": 5432, "sources": ["0.0.0.0/0"]}], "apranova_allow_any_source"),
    ("app_web_bind_address", "0.0.0.0", "app_web_bind_address"),
    ("common_node_exporter_port", 70000, "common_node_exporter_port"),
    ("common_node_exporter_port", 22, "common_node_exporter_port"),
    ("common_node_exporter_allowed_sources", ["10.0.0.0/33"], "common_node_exporter_allowed_sources"),
    ("nginx_aprovova_root", "/data/aprovova", "nginx_aprovova_root"),
    ("app_web_ports", [22, 8002], "app_web_ports"),
    ("common_ssh_max_auth_tries", 0, "common_ssh_max_auth_tries"),
    ("postgresql_max_connections", "many", "postgresql_max_connections"),
    ("backup_max_age_hours", 0, "backup_max_age_hours"),
    ("nginx_worker_connections", 0, "nginx_worker_connections"),
    ("apranova_domain", "Not_A_Domain", "apranova_domain"),
    ("certbot_email", "ops-at-acme", "certbot_email"),
    ("backup_lock_wait", -3, "backup_lock_wait"),
    ("app_drain_seconds", "five", "app_drain_seconds"),
    # Caught by the roles' argument specs, which the preflight runs for the values an inventory sets.
    ("nginx_hsts_include_subdomains", "maybe", "nginx_hsts_include_subdomains"),
    ("redis_extra_config", "text", "redis_extra_config"),
    ("common_firewall_allowed_tcp_ports", {"web": 443}, "common_firewall_allowed_tcp_ports"),
    ("app_cors_allowed_origins", "https://portal.acme.test", "app_cors_allowed_origins"),
    ("vault_internal_ca_certificate", "", "vault_internal_ca_certificate"),
]


def _public_key(directory: Path) -> str:
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "ops@acme", "-f", str(directory / "key")], check=True)
    return (directory / "key.pub").read_text().strip()


def _internal_ca(directory: Path) -> tuple[str, str]:
    """A CA as `make internal-ca` puts in the vault: its hosts serve each other, so the preflight wants one."""
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=acme internal CA", "-days", "1",
                    "-keyout", str(directory / "ca.key"), "-out", str(directory / "ca.crt")], check=True, capture_output=True)
    return (directory / "ca.crt").read_text(), (directory / "ca.key").read_text()


def _inventory(directory: Path) -> Path:
    """A valid environment ('acme', as make new-env writes one) with one host per case."""
    hosts = {"valid": {"ansible_host": "203.0.113.50"}}
    for index, (name, value, _) in enumerate(CASES):
        hosts[f"case-{index:02d}"] = {"ansible_host": f"203.0.113.{100 + index}", name: value}
    everyone = {name: None for name in hosts}
    certificate, key = _internal_ca(directory)
    (directory / "group_vars/all").mkdir(parents=True)
    (directory / "hosts.yml").write_text(yaml.safe_dump({"all": {
        "hosts": hosts, "children": {group: {"hosts": everyone} for group in ("web", "app", "db", "cache")}}}))
    (directory / "group_vars/all/wiring.yml").symlink_to(REPO / "inventories/shared/wiring.yml")
    (directory / "group_vars/all/main.yml").write_text(yaml.safe_dump({
        "apranova_environment": "acme", "apranova_domain": "app.acme.test", "certbot_email": "ops@acme.test",
        "apranova_backup_repository": "s3:https://s3.acme.test/backups",
        "vault_app_secret_key": secrets.token_urlsafe(50), "vault_app_admin_password": secrets.token_urlsafe(18),
        "vault_postgresql_app_password": secrets.token_urlsafe(18), "vault_redis_app_password": secrets.token_urlsafe(18),
        "vault_backup_restic_password": secrets.token_urlsafe(18), "vault_deploy_authorized_keys": [_public_key(directory)],
        "vault_internal_ca_certificate": certificate, "vault_internal_ca_private_key": key,
    }))
    return directory / "hosts.yml"


def _messages(value) -> list[str]:
    """Every msg in a task result, including the failed items of a loop."""
    if isinstance(value, dict):
        found = [value["msg"]] if isinstance(value.get("msg"), str) else []
        return found + [m for item in value.get("results", []) for m in _messages(item)]
    return []


@pytest.fixture(scope="module")
def run(tmp_path_factory) -> tuple[dict, float]:
    inventory = _inventory(tmp_path_factory.mktemp("acme"))
    env = {**os.environ, "ANSIBLE_CONFIG": str(REPO / "ansible.cfg"), "ANSIBLE_STDOUT_CALLBACK": "ansible.posix.json",
           "ANSIBLE_FORCE_COLOR": "0", "ANSIBLE_TIMEOUT": "3", "ANSIBLE_FORKS": "20"}
    started = time.monotonic()
    result = subprocess.run(["ansible-playbook", "-i", str(inventory), "playbooks/site.yml"], cwd=REPO, env=env,
                            capture_output=True, text=True, timeout=600, check=False)
    took = time.monotonic() - started
    assert result.returncode != 0
    output = json.loads(result.stdout[result.stdout.index("{"):])
    print(f"preflight table: {len(CASES)} bad values and one valid host in one run: {took:.1f} s")
    return output, took


def _host_messages(output: dict, host: str) -> str:
    return " ".join(m for play in output["plays"] for task in play["tasks"]
                    for m in _messages(task["hosts"].get(host, {})) if task["hosts"].get(host, {}).get("failed"))


@pytest.mark.parametrize(("index", "case"), list(enumerate(CASES)), ids=[f"{c[0]}={c[1]!r}"[:60] for c in CASES])
def test_each_bad_value_is_refused_by_name_before_any_host(run, index, case):
    output, _ = run
    host = f"case-{index:02d}"
    stats = output["stats"][host]
    assert stats["failures"] >= 1 and stats["unreachable"] == 0 and stats["changed"] == 0, stats
    assert case[2] in _host_messages(output, host)


def test_the_valid_host_passes_the_preflight_and_stops_at_the_network(run):
    output, _ = run
    stats = output["stats"]["valid"]
    assert stats["failures"] == 0 and stats["unreachable"] == 1, (stats, _host_messages(output, "valid"))


def test_the_table_is_big_enough():
    assert len({(name, json.dumps(value)) for name, value, _ in CASES}) >= 40
