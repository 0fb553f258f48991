"""The whole stack on one host, end to end through nginx over HTTPS with pebble's certificate."""

from __future__ import annotations

import json
import time

import pytest

# In the multihost scenario these tests run on the web host only.
testinfra_hosts = ["ansible://web"]

SITE = "apranova.stack.test"
ADMIN = "admin:stack-admin-password"


@pytest.fixture(scope="module")
def curl(host) -> str:
    # Trust exactly pebble's issuing root: the certificate must really chain to it.
    host.check_output("curl -fsS --cacert /etc/pebble/listener.crt https://localhost:15000/roots/0 -o /tmp/pebble-root.pem")
    return f"curl -fsS --cacert /tmp/pebble-root.pem --max-time 20 --resolve {SITE}:443:127.0.0.1"


def test_certificate_is_pebbles_for_the_site(host):
    out = host.check_output(
        f"echo | openssl s_client -connect 127.0.0.1:443 -servername {SITE} 2>/dev/null | openssl x509 -noout -issuer -ext subjectAltName")
    assert "Pebble" in out and f"DNS:{SITE}" in out


def test_admin_login_page_and_session_login(host, curl):
    jar = "/tmp/stack-cookies"
    host.check_output(f"rm -f {jar}; {curl} -c {jar} -o /tmp/login.html https://{SITE}/admin/login/")
    token = host.check_output(f"awk '/csrftoken/ {{print $7}}' {jar}")
    user, password = ADMIN.split(":")
    code = host.check_output(
        f"{curl} -b {jar} -c {jar} -o /dev/null -w '%{{http_code}} %{{redirect_url}}' "
        f"-H 'Referer: https://{SITE}/admin/login/' "
        f"--data-urlencode csrfmiddlewaretoken={token} --data-urlencode username={user} "
        f"--data-urlencode password={password} --data-urlencode next=/admin/ https://{SITE}/admin/login/")
    assert code.startswith("302") and code.endswith("/admin/")
    assert "Site administration" in host.check_output(f"{curl} -b {jar} https://{SITE}/admin/")


def test_report_created_and_downloaded(host, curl):
    created = json.loads(host.check_output(
        f"{curl} -u {ADMIN} -H 'Content-Type: application/json' -d '{{\"type\": \"payments\", \"format\": \"csv\"}}' "
        f"https://{SITE}/api/reports/"))
    report = created
    for _ in range(90):
        report = json.loads(host.check_output(f"{curl} -u {ADMIN} https://{SITE}/api/reports/{created['id']}/"))
        if report["status"] in ("succeeded", "failed"):
            break
        time.sleep(1)
    assert report["status"] == "succeeded", report
    # nginx sends the file (X-Accel-Redirect) once Django has checked the permission.
    code = host.check_output(f"{curl} -u {ADMIN} -o /tmp/stack-report.csv -w '%{{http_code}}' {report['download_url']}")
    assert code == "200"
    assert host.file("/tmp/stack-report.csv").sha256sum == report["checksum_sha256"]


def test_metrics_exposed(host, curl):
    metrics = host.check_output(f"{curl} https://{SITE}/metrics")
    assert "# TYPE" in metrics


def test_healthcheck_script_reports_services(host):
    out = host.run("/usr/local/sbin/apranova-healthcheck")
    assert out.rc == 0 and "FAIL" not in out.stdout, out.stdout
    # The web host serves the app; on one host it runs the database too.
    assert '"status": "ok"' in next(line for line in out.stdout.splitlines() if line.startswith("OK    app-web"))
    if "db" in host.ansible.get_variables()["group_names"]:
        assert "OK    postgresql" in out.stdout
