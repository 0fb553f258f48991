"""The whole stack on one host, end to end through nginx over HTTPS with pebble's certificate."""

from __future__ import annotations

import json
import os
import time

import pytest
import testinfra
from conftest import app_database_state, flat_output  # the repository's conftest.py (the verifier's rootdir)

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


def finished_report(host, curl) -> dict:
    """A payments CSV asked for through nginx, once the worker has finished it."""
    created = json.loads(host.check_output(
        f"{curl} -u {ADMIN} -H 'Content-Type: application/json' -d '{{\"type\": \"payments\", \"format\": \"csv\"}}' "
        f"https://{SITE}/api/reports/"))
    report = created
    for _ in range(90):
        report = json.loads(host.check_output(f"{curl} -u {ADMIN} https://{SITE}/api/reports/{created['id']}/"))
        if report["status"] in ("succeeded", "failed"):
            break
        time.sleep(1)
    return report


def test_report_created_and_downloaded(host, curl):
    report = finished_report(host, curl)
    assert report["status"] == "succeeded", report
    # Through nginx: sent from disk (X-Accel-Redirect) where web and app share the host,
    # streamed by Django from the app host elsewhere, once Django has checked the permission.
    code = host.check_output(f"{curl} -u {ADMIN} -o /tmp/stack-report.csv -w '%{{http_code}}' {report['download_url']}")
    assert code == "200"
    assert host.file("/tmp/stack-report.csv").sha256sum == report["checksum_sha256"]


def test_metrics_exposed(host, curl):
    metrics = host.check_output(f"{curl} https://{SITE}/metrics")
    assert "# TYPE" in metrics


def test_healthcheck_script_reports_services(host):
    for each in dict.fromkeys([host, stack_host(host, "app")]):
        out = each.run("/usr/local/sbin/apranova-healthcheck")
        assert out.rc == 0 and "FAIL" not in out.stdout, out.stdout
    # The app host's serving release answers /readyz where it listens; on one host it runs the database too.
    assert '"status": "ok"' in next(line for line in out.stdout.splitlines() if line.startswith("OK    app-web"))
    if "db" in host.ansible.get_variables()["group_names"]:
        assert "OK    postgresql" in out.stdout


# ---------------------------------------------------------------- backup and restore drill
# The app's own database (migrated by the release, filled by seed_demo) and APROVOVA, backed
# up and restored by the project's playbooks on whichever hosts hold them: one host here,
# the db host and the app host in the multihost scenario.

def stack_host(host, group: str):
    name = host.ansible.get_variables()["groups"][group][0]
    if name == host.backend.host:
        return host
    inventory = os.path.dirname(os.environ["MOLECULE_INVENTORY_FILE"])
    return testinfra.get_host(f"ansible://{name}", ansible_inventory=inventory)


def psql(db, query: str) -> str:
    return db.check_output("cd / && runuser -u postgres -- psql -XAtq -v ON_ERROR_STOP=1 -d apranova -c %s", query)


def database_state(db) -> dict[str, str]:
    return app_database_state(lambda query: psql(db, query))


def aprovova_state(app) -> str:
    """sha256, mode and owner of every file and folder in APROVOVA."""
    return app.check_output(
        "cd /srv/aprovova && find . -printf '%P %y %m %u:%g\\n' | sort "
        "&& find . -type f -print0 | sort -z | xargs -0 -r sha256sum")


# With a storage group the reports live in its bucket, which the storage host backs up (through
# rclone, with the backup's own settings): that is where the drill damages and compares them.
RCLONE = "set -a && . /etc/apranova-backup/restic.env && set +a && rclone"


def reports_holder(host):
    groups = host.ansible.get_variables()["groups"]
    return stack_host(host, "storage") if groups.get("storage") else stack_host(host, "app")


def reports_state(host) -> str:
    """Every stored report file with its checksum: APROVOVA's files, or the bucket's objects."""
    holder = reports_holder(host)
    if "storage" in holder.ansible.get_variables()["group_names"]:
        return holder.check_output(f"{RCLONE} md5sum --download bucket:apranova | sort -k2")
    return aprovova_state(holder)


def damage_reports(host) -> None:
    holder = reports_holder(host)
    if "storage" in holder.ansible.get_variables()["group_names"]:
        holder.check_output(f"{RCLONE} purge bucket:apranova/payment_reports "
                            f"&& {RCLONE} rcat bucket:apranova/user_reports/made-after-the-backup </etc/hostname")
    else:
        holder.check_output("rm -rf /srv/aprovova/payment_reports && touch /srv/aprovova/user_reports/made-after-the-backup")


def run_ok(run_playbook, *args: str) -> str:
    result = run_playbook(*args)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return result.stdout


def test_deploy_marked_a_restore_point_and_wal_is_archived(host):
    db = stack_host(host, "db")
    points = db.file("/var/lib/apranova-backup/restore-points").content_string
    assert "before-stack-v1\t" in points
    db.check_output("cd / && runuser -u postgres -- pgbackrest --stanza=apranova check")


def test_restore_drill_on_the_apps_own_data(host, curl, run_playbook):
    db, app = stack_host(host, "db"), stack_host(host, "app")
    web_container = app.check_output("docker ps --filter label=apranova_role=web --format '{{.Names}}' | head -1")
    app.check_output(f"docker exec {web_container} python3 manage.py seed_demo --users 40 --payments 1500")
    report = finished_report(host, curl)
    assert report["status"] == "succeeded", report
    before_db, before_files = database_state(db), reports_state(host)
    assert "payment_reports/" in before_files
    assert int(before_db["apranova_payment"].split()[0]) >= 1500
    assert "apranova_invoice_number_seq=" in before_db["sequences"]

    run_ok(run_playbook, "../../playbooks/backup.yml")

    # What an operator fears: payments gone, reports deleted, a stray file.
    psql(db, "TRUNCATE apranova_payment CASCADE; SELECT setval('apranova_invoice_number_seq', 1)")
    damage_reports(host)
    assert database_state(db) != before_db and reports_state(host) != before_files

    # Each part on the host that holds it: the database first, then APROVOVA (or its bucket).
    hosts = list(dict.fromkeys([db.backend.host, reports_holder(host).backend.host]))
    for name in hosts:
        out = run_ok(run_playbook, "../../playbooks/restore.yml", "--limit", name,
                     "-e", f"restore_confirm=yes-restore-{name}", "-e", "restore_aprovova_delete_newer=true")
        assert "finished in" in out
    assert database_state(db) == before_db
    assert reports_state(host) == before_files

    # The app serves again, from the restored database, and the report made before the backup.
    for _ in range(10):
        ready = host.run(f"{curl} -o /dev/null -w '%{{http_code}}' https://{SITE}/readyz")
        if ready.stdout == "200":
            break
        time.sleep(1)
    assert ready.stdout == "200", ready.stdout + ready.stderr
    code = host.check_output(f"{curl} -u {ADMIN} -o /tmp/restored-report.csv -w '%{{http_code}}' {report['download_url']}")
    assert code == "200"
    assert host.file("/tmp/restored-report.csv").sha256sum == report["checksum_sha256"]


def test_failed_backup_fails_the_healthcheck_naming_the_host(host, run_playbook):
    app = stack_host(host, "app")
    name = app.backend.host
    app.check_output("cp -p /etc/apranova-backup/restic.env /root/restic.env.good && sed -i "
                     "'s|^RESTIC_REPOSITORY=.*|RESTIC_REPOSITORY=/nonexistent/repository|' /etc/apranova-backup/restic.env")
    try:
        assert app.run("systemctl start apranova-backup.service").rc != 0
        result = run_playbook("../../playbooks/healthcheck.yml")
        output = flat_output(result)
        assert result.returncode != 0
        assert f"{name}: ['FAIL backup" in output and "last backup FAILED" in output, output[-3000:]
        assert "apranova_backup_last_run_success 0" in app.file(
            "/var/lib/prometheus/node-exporter/apranova_backup.prom").content_string
    finally:
        app.run("cp -p /root/restic.env.good /etc/apranova-backup/restic.env")
    app.check_output("systemctl start apranova-backup.service")
    assert app.run("apranova-backup status").rc == 0
    assert run_playbook("../../playbooks/healthcheck.yml").returncode == 0


# ---------------------------------------------------------------- make status and make audit-log
# playbooks/status.yml against the scenario's own inventory: every host's row, read from what
# the roles wrote there (node exporter textfiles), df, systemd and docker.

import contextlib  # noqa: E402 (this section's own imports)
import re  # noqa: E402


def status_table(result) -> list[str]:
    """The table status.yml printed: from the debug task's msg, whichever result format the
    output callback uses (a JSON string by default, a YAML block with ANSIBLE_CALLBACK_RESULT_FORMAT=yaml)."""
    quoted = re.search(r'"msg": ("HOST (?:[^"\\]|\\.)*")', result.stdout)
    if quoted:
        return json.loads(quoted.group(1)).splitlines()
    block = re.search(r"msg: \|-\n((?: {8}.*\n|\n)+)", result.stdout)
    assert block, result.stdout[-3000:]
    return [line[8:] for line in block.group(1).splitlines()]


def status_row(table: list[str], name: str) -> str:
    rows = [line for line in table if line.split(" ", 1)[0] in (name, name + " !")]
    assert len(rows) == 1, "\n".join(table)
    return rows[0]


def run_status(run_playbook):
    result = run_playbook("../../playbooks/status.yml")
    return result, status_table(result)


def test_status_shows_every_host_serving_and_backed_up(host, run_playbook):
    hostvars = host.ansible.get_variables()
    groups = hostvars["groups"]
    result, table = run_status(run_playbook)
    assert result.returncode == 0, "\n".join(table) + flat_output(result)[-2000:]
    assert table[0].split()[:3] == ["HOST", "GROUPS", "RELEASE"] and table[-1].endswith("nothing needs attention.")
    for name in groups["all"]:
        row = status_row(table, name)
        assert "!" not in row, row
        if name in groups["app"]:
            # The release the scenario deployed serves and answers; the last deploy succeeded; no lock.
            assert re.search(rf"{hostvars['app_release']}, answers +\d{{4}}-\d\d-\d\d \d\d:\d\d ok +free ", row), row
            assert re.search(r"/\d+ up", row) and " down:" not in row, row
        if name in groups["app"] or name in groups["db"]:
            # The drills above ran backups minutes ago: recent and successful.
            assert re.search(r" \d+[sm] ago ok ", row), row
        if name in groups["web"]:
            assert re.search(rf"{re.escape(SITE)} \d+d", row), row
        assert re.search(r" / \d+%", row), row


@contextlib.contextmanager
def failing_backups(app):
    """The app host's backups fail (their repository is gone) until the block ends, as in
    test_failed_backup_fails_the_healthcheck_naming_the_host; then one succeeds again."""
    app.check_output("cp -p /etc/apranova-backup/restic.env /root/restic.env.status && sed -i "
                     "'s|^RESTIC_REPOSITORY=.*|RESTIC_REPOSITORY=/nonexistent/repository|' /etc/apranova-backup/restic.env")
    try:
        assert app.run("systemctl start apranova-backup.service").rc != 0
        yield
    finally:
        app.run("cp -p /root/restic.env.status /etc/apranova-backup/restic.env && rm -f /root/restic.env.status")
        app.check_output("systemctl start apranova-backup.service")


def test_status_fails_naming_the_failed_backup(host, run_playbook):
    app = stack_host(host, "app")
    name = app.backend.host
    with failing_backups(app):
        result, table = run_status(run_playbook)
        output = flat_output(result)
        assert result.returncode != 0, "\n".join(table)
        assert re.search(r" \d+[sm] ago FAILED ! ", status_row(table, name)), "\n".join(table)
        assert any(line.startswith(f"ATTENTION {name} last backup: the last backup FAILED") for line in table), "\n".join(table)
        # The play's failure names the host and the cell too; nothing else needs attention.
        assert f"{name} last backup: the last backup FAILED" in output, output[-3000:]
        assert [line for line in table if line.startswith("ATTENTION ")] == [
            line for line in table if line.startswith(f"ATTENTION {name} last backup: ")], "\n".join(table)
    result, table = run_status(run_playbook)
    assert result.returncode == 0, "\n".join(table)
    assert re.search(r" \d+[sm] ago ok ", status_row(table, name)), "\n".join(table)


def test_audit_log_lists_the_deploys_prefixed_by_host(host, run_playbook):
    hostvars = host.ansible.get_variables()
    result = run_playbook("../../playbooks/audit-log.yml", "-e", "audit_log_lines=5")
    output = flat_output(result)
    assert result.returncode == 0, output[-3000:]
    for name in hostvars["groups"]["app"]:
        assert re.search(rf"{name} +\d{{4}}-\d\d-\d\dT\d\d:\d\d:\d\dZ user=\S+ controller=\S+ environment=\S+ "
                         rf"release={hostvars['app_release']} ", output), output[-3000:]
