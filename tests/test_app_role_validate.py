"""The app role's own checks refuse settings that would destroy data, on the control node only."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parent.parent
VALIDATE = REPO / "roles/app/tasks/validate.yml"
# Just enough of the role's settings for validate.yml to pass, so each case changes one thing.
GOOD = {
    "app_secret_key": "s" * 60, "app_database_password": "p", "app_database_user": "apranova", "app_redis_password": "p",
    "app_image_source": "build", "app_image_pull_ref": "", "app_web_ports": [8001, 8002], "app_keep_releases": 3,
    "app_reports_retention_days": 90, "app_invoices_retention_days": 0, "app_release": "r1",
    "app_time_zone": "Europe/Berlin", "app_cors_allowed_origins": ["https://portal.example.com", "http://localhost:3000"],
    "app_gunicorn_workers": 4, "app_gunicorn_worker_memory": "128m",
    "app_database_sslmode": "prefer", "app_redis_tls": False, "app_tls_ca_file": "",
    "app_aprovova_storage": "local", "app_aprovova_s3_endpoint": "", "app_aprovova_s3_bucket": "",
    "app_aprovova_s3_access_key_id": "", "app_aprovova_s3_secret_access_key": "", "app_aprovova_s3_internal_ca": False,
}
S3 = {"app_aprovova_storage": "s3", "app_aprovova_s3_endpoint": "https://storage.internal:8333", "app_aprovova_s3_bucket": "apranova",
      "app_aprovova_s3_access_key_id": "reports", "app_aprovova_s3_secret_access_key": "k" * 20}


def run_validate(tmp_path: Path, **overrides) -> subprocess.CompletedProcess[str]:
    playbook = tmp_path / "validate.yml"
    playbook.write_text(yaml.safe_dump([{
        "name": "Validate", "hosts": "localhost", "gather_facts": False, "vars": {**GOOD, **overrides},
        "tasks": [{"ansible.builtin.import_tasks": str(VALIDATE)}],
    }]))
    env = {**os.environ, "ANSIBLE_CONFIG": str(REPO / "ansible.cfg"), "ANSIBLE_FORCE_COLOR": "0"}
    # The venv running pytest holds Ansible, whether or not it is on PATH.
    playbook_cmd = shutil.which("ansible-playbook", path=str(Path(sys.executable).parent)) or "ansible-playbook"
    return subprocess.run([playbook_cmd, "-i", "localhost,", "-c", "local", str(playbook)],
                          env=env, capture_output=True, text=True, cwd=tmp_path)


def test_defaults_pass(tmp_path):
    assert run_validate(tmp_path).returncode == 0


def test_reports_in_a_bucket_pass_with_its_settings(tmp_path):
    assert run_validate(tmp_path, **S3).returncode == 0
    assert run_validate(tmp_path, **S3, app_aprovova_s3_internal_ca=True, app_tls_ca_file="/etc/ssl/apranova/ca.crt").returncode == 0


@pytest.mark.parametrize("overrides", [{"app_reports_retention_days": 0}, {"app_reports_retention_days": -7},
                                       {"app_invoices_retention_days": -1}])
def test_retention_that_deletes_everything_is_refused(tmp_path, overrides):
    result = run_validate(tmp_path, **overrides)
    assert result.returncode != 0 and "failed=1" in result.stdout


@pytest.mark.parametrize(("overrides", "named"), [
    ({"app_time_zone": "Europe/Berlin; rm -rf /"}, "app_time_zone"),
    ({"app_time_zone": ""}, "app_time_zone"),
    ({"app_cors_allowed_origins": ["https://portal.example.com/app"]}, "https://portal.example.com/app"),
    ({"app_cors_allowed_origins": ["portal.example.com"]}, "portal.example.com"),
    ({"app_gunicorn_worker_memory": "lots"}, "app_gunicorn_worker_memory"),
    ({"app_gunicorn_workers": 0}, "app_gunicorn_workers"),
    # Verified TLS without the CA to verify with.
    ({"app_database_sslmode": "verify-full"}, "app_tls_ca_file"),
    ({"app_redis_tls": True}, "app_tls_ca_file"),
    ({"app_redis_tls": True, "app_tls_ca_file": "etc/ssl/ca.crt"}, "absolute path"),
    # Reports in a bucket without its name or keys, at an endpoint that is no URL, or verified without a CA.
    ({**S3, "app_aprovova_s3_bucket": ""}, "app_aprovova_s3_bucket"),
    ({**S3, "app_aprovova_s3_secret_access_key": ""}, "app_aprovova_s3_secret_access_key"),
    ({**S3, "app_aprovova_s3_endpoint": "storage.internal:8333"}, "an endpoint that is a URL"),
    ({**S3, "app_aprovova_s3_internal_ca": True}, "app_tls_ca_file when app_aprovova_s3_internal_ca"),
])
def test_bad_app_settings_are_refused_by_name(tmp_path, overrides, named):
    result = run_validate(tmp_path, **overrides)
    assert result.returncode != 0 and "failed=1" in result.stdout
    assert named in result.stdout
