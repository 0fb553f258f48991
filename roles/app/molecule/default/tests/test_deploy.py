"""The app role, end to end: deploy, zero-downtime redeploy, a broken release, rollback, reboot.

The tests run in file order and build on each other, like the life of a real host.
"""

from __future__ import annotations

import collections

import hashlib
import json
import os
import re
import shlex
import signal
import socket
import subprocess
import time
from pathlib import Path

import conftest
from conftest import ADD_SUBTITLE, drop_subtitle, flat_output, release_source, stop_load

SITE = "app.apranova.test"
CURL = f"curl -sk --resolve {SITE}:443:127.0.0.1 --max-time 10"
CURL_LOOP = f"curl -sk --resolve {SITE}:443:127.0.0.1 --max-time 30"
ADMIN = "admin:molecule-admin-password"
LOOP_LOG = "/tmp/request-loop.log"


def get_json(host, path: str, auth: bool = False) -> dict:
    out = host.check_output(f"{CURL} {'-u ' + ADMIN if auth else ''} https://{SITE}{path}")
    return json.loads(out)


def status_of(host, path: str) -> int:
    return int(host.check_output(f"{CURL} -o /dev/null -w '%{{http_code}}' https://{SITE}{path}"))


def start_request_loop(host) -> None:
    """Requests through nginx, one every 50 ms, bounded to 3000 requests or 5 minutes."""
    host.run(f"rm -f {LOOP_LOG} /tmp/request-loop.stop")
    script = (
        f"end=$((SECONDS+300)); for i in $(seq 1 3000); do "
        f"[ -e /tmp/request-loop.stop ] || [ $SECONDS -ge $end ] && break; "
        # A request without an HTTP answer logs curl's exit code (7 refused, 28 timed out, 52/56
        # empty or reset) instead; 30 s, as the load client waits, on two loaded cores.
        f"code=$({CURL_LOOP} -o /dev/null -w '%{{http_code}}' https://{SITE}/healthz) "
        f"&& echo $code >> {LOOP_LOG} || echo curl-exit-$? >> {LOOP_LOG}; "
        f"sleep 0.05; done"
    )
    host.check_output(f"systemd-run --unit=request-loop --collect bash -c {shlex.quote(script)}")


def stop_request_loop(host) -> tuple[int, int]:
    host.run("touch /tmp/request-loop.stop")
    for _ in range(175):  # a request in flight may take its 30 s
        if not host.service("request-loop").is_running:
            break
        time.sleep(0.2)
    codes = host.file(LOOP_LOG).content_string.split()
    failed = [c for c in codes if c != "200"]
    print(f"request loop: {len(codes)} requests, {len(failed)} failed {dict(collections.Counter(failed))}")
    return len(codes), len(failed)


def deploy(run_playbook, *extra: str):
    started = time.monotonic()
    result = run_playbook("deploy.yml", *extra)
    took = time.monotonic() - started
    print(f"deploy {' '.join(extra)}: rc={result.returncode} in {took:.1f} s")
    return result, took


def test_v1_serves_and_writes_reports_to_the_host(host):
    assert status_of(host, "/readyz") == 200
    assert get_json(host, "/healthz")["release"] == "v1"
    created = json.loads(host.check_output(
        f"{CURL} -u {ADMIN} -H 'Content-Type: application/json' "
        f"-d '{{\"type\": \"users\", \"format\": \"csv\"}}' https://{SITE}/api/reports/"))
    report = created
    for _ in range(60):
        report = get_json(host, f"/api/reports/{created['id']}/", auth=True)
        if report["status"] in ("succeeded", "failed"):
            break
        time.sleep(1)
    assert report["status"] == "succeeded", report
    # The worker wrote it into APROVOVA on the host, byte for byte what the API reports.
    sums = host.check_output("find /srv/aprovova/user_reports/csv -type f -exec sha256sum {} +")
    assert report["checksum_sha256"] in sums
    # Downloads go through nginx's internal location, which clients cannot ask for directly.
    assert status_of(host, "/_aprovova/user_reports/csv/") == 404
    code = host.check_output(f"{CURL} -u {ADMIN} -o /tmp/v1-report.csv -w '%{{http_code}}' {report['download_url']}")
    assert code == "200" and host.file("/tmp/v1-report.csv").sha256sum == report["checksum_sha256"]


def serving_web(host) -> str:
    return host.check_output("docker ps --filter name=apranova-web- --format '{{.Names}}'").split()[0]


def manage(host, code: str) -> str:
    return host.check_output(f"docker exec {serving_web(host)} python3 manage.py shell -c {shlex.quote(code)}")


PAY_ONE = """
from datetime import date
from decimal import Decimal
from django.contrib.auth import get_user_model
from apranova.models import Batch, Course, Payment
user, _ = get_user_model().objects.get_or_create(username="invoice-e2e", defaults={"email": "e2e@example.com"})
course, _ = Course.objects.get_or_create(code="e2e", defaults={"title": "E2E", "price": Decimal("99.00")})
batch, _ = Batch.objects.get_or_create(code="e2e-1", defaults={
    "course": course, "start_date": date(2026, 1, 1), "end_date": date(2026, 2, 1), "capacity": 5})
payment = Payment.objects.create(user=user, batch=batch, amount=Decimal("99.00"), provider_reference="e2e-invoice")
payment.mark_paid()
print(payment.pk, payment.invoice_number)
"""


def test_an_invoice_older_than_the_retention_survives_the_cleanup(host):
    """Paid through the app, its invoice written by the worker, aged past the retention, then the
    nightly cleanup: the old report goes, the invoice still downloads through nginx."""
    pk, number = manage(host, PAY_ONE).split()[-2:]
    invoice = f"/srv/aprovova/payment_reports/invoices/{number}.pdf"
    for _ in range(60):
        if host.file(invoice).exists:
            break
        time.sleep(1)
    old_report = "/srv/aprovova/user_reports/csv/users_report_old.csv"
    host.check_output(f"install -o 10001 -g 10001 -m 0640 /dev/null {old_report}")
    host.check_output(f"touch -d '400 days ago' {invoice} {old_report}")  # retention here: 90 days
    print("cleanup:", manage(host, "from apranova.tasks import cleanup_old_reports; print(cleanup_old_reports())").splitlines()[-1])
    assert not host.file(old_report).exists
    assert host.file(invoice).exists
    code = host.check_output(f"{CURL} -u {ADMIN} -o /tmp/invoice.pdf -w '%{{http_code}}' https://{SITE}/api/payments/{pk}/invoice/")
    assert code == "200"
    assert host.file("/tmp/invoice.pdf").sha256sum == host.file(invoice).sha256sum
    assert host.file("/tmp/invoice.pdf").content[:4] == b"%PDF"


def test_gunicorn_workers_follow_the_cpus_within_the_memory_limit(host):
    # 2 x CPUs + 1, capped by app_web_memory (512m) / app_gunicorn_worker_memory (128m) = 4.
    expected = min(2 * int(host.check_output("nproc")) + 1, 4)
    assert f"GUNICORN_WORKERS={expected}\n" in host.file("/etc/apranova/app.env").content_string
    processes = host.check_output(f"docker top {serving_web(host)} -o pid,args")  # docker needs the pid column
    assert sum("gunicorn" in line for line in processes.splitlines()) == expected + 1  # and the arbiter


def test_runtime_hardening(host):
    web = json.loads(host.check_output("docker inspect apranova-web-8001 apranova-web-8002 2>/dev/null || true") or "[]")
    web = [c for c in web if c["State"]["Running"]][0]
    assert web["Config"]["User"] == "10001:10001"
    assert web["HostConfig"]["ReadonlyRootfs"] is True
    assert "no-new-privileges:true" in web["HostConfig"]["SecurityOpt"]
    assert web["HostConfig"]["CapDrop"] == ["ALL"] and not web["HostConfig"]["CapAdd"]
    assert web["HostConfig"]["RestartPolicy"]["Name"] == "unless-stopped"
    assert web["HostConfig"]["Memory"] > 0 and web["HostConfig"]["PidsLimit"] > 0
    assert web["HostConfig"]["LogConfig"]["Config"]["max-size"] == "10m"
    env = host.file("/etc/apranova/app.env")
    assert env.mode == 0o600 and env.user == "root"
    # Only nginx listens on public addresses; the app is on loopback.
    assert host.socket("tcp://127.0.0.1:8001").is_listening or host.socket("tcp://127.0.0.1:8002").is_listening
    assert not host.socket("tcp://0.0.0.0:8001").is_listening
    assert not host.socket("tcp://0.0.0.0:8002").is_listening


# The deploy of v2, run with -vvv: the next test reads its output for secrets.
VERBOSE: dict[str, str] = {}
SECRETS = {
    "secret key": hashlib.sha512(b"apranova-molecule-app").hexdigest(),
    "database password": "molecule-db-password",
    "redis password": "molecule-redis-password",
    "admin password": "molecule-admin-password",
}


SECURITY_HEADERS = ["strict-transport-security", "x-content-type-options", "x-frame-options", "referrer-policy",
                    "content-security-policy"]


def test_each_security_header_appears_once_whoever_answers(host):
    # Django sets most of these too; nginx owns them and drops the app's copies. Asked of the app
    # (signed in and not), of nginx alone (a static file) and of the readiness probe.
    static = host.check_output("find /srv/apranova/static -name '*.css' -print -quit").replace("/srv/apranova", "")
    for path, auth in (("/api/reports/", True), ("/api/reports/", False), (static, False), ("/healthz", False)):
        headers = host.check_output(f"{CURL} {'-u ' + ADMIN if auth else ''} -o /dev/null -D - https://{SITE}{path}")
        names = [line.split(":", 1)[0].strip().lower() for line in headers.splitlines() if ":" in line]
        counts = {name: names.count(name) for name in SECURITY_HEADERS}
        assert counts == dict.fromkeys(SECURITY_HEADERS, 1), f"{path}: {counts}"
        assert "x-frame-options: sameorigin" in headers.lower(), headers  # nginx's value, not the app's DENY


# Outbound traffic from the instance is dropped but for loopback: no package index, registry
# or anything else is reachable while the air-gapped deploy runs (iptables comes with Docker;
# the instances have no global IPv6 address to leave by).
AIR_GAP_RULE = "OUTPUT ! -o lo -j DROP"


def air_gap(host, on: bool) -> None:
    while host.run(f"iptables -D {AIR_GAP_RULE}").rc == 0:
        pass
    if on:
        host.check_output(f"iptables -I {AIR_GAP_RULE}")


def dropped_packets(host) -> int:
    rules = host.check_output("iptables -L OUTPUT -v -n -x").splitlines()
    return sum(int(line.split()[0]) for line in rules if " DROP " in f" {line} ")


def test_v2_deploys_air_gapped_from_an_archive_with_zero_failed_requests(host, run_playbook):
    """app_image_source: archive: the image is built on the control node and shipped."""
    scopes = [line.split()[3] for line in host.file("/proc/net/if_inet6").content_string.splitlines()]
    assert "00" not in scopes  # no global IPv6 address
    air_gap(host, True)
    before = dropped_packets(host)
    # 192.0.2.1 is a documentation address: the firewall drops what is sent to it.
    assert host.run("timeout 3 bash -c 'exec 3<>/dev/tcp/192.0.2.1/443'").rc != 0
    assert dropped_packets(host) > before
    start_request_loop(host)
    try:
        # Debian's client, the one that does BuildKit builds on this machine, and its CA bundle for
        # pip behind the machine's intercepting proxy (as .ci/app-image builds).
        result, took = deploy(run_playbook, "-e", "app_release=v2", "-e", "app_image_source=archive",
                              "-e", "app_controller_docker=/usr/bin/docker",
                              "-e", "app_build_ca_bundle=" + os.environ.get("APP_IMAGE_CA_BUNDLE", "/etc/ssl/certs/ca-certificates.crt"),
                              "-vvv")
    finally:
        total, failed = stop_request_loop(host)
        air_gap(host, False)
    VERBOSE["output"] = re.sub(r"\x1b\[[0-9;]*m", "", result.stdout + result.stderr)  # without colours
    assert "TASK [app : Load it]" in VERBOSE["output"]
    assert result.returncode == 0, result.stdout[-3000:]
    assert total > 20
    assert failed == 0
    assert get_json(host, "/healthz")["release"] == "v2"
    # A report written under v2, to find again after the rollback.
    host.check_output(f"{CURL} -u {ADMIN} -H 'Content-Type: application/json' "
                      f"-d '{{\"type\": \"batches\", \"format\": \"json\"}}' https://{SITE}/api/reports/")


def test_no_secret_in_the_verbose_deploy_output_or_any_container(host):
    output = VERBOSE["output"]
    assert "TASK [app : Run migrate in a one-off container]" in output  # the deploy did run
    containers = host.check_output("docker ps --all --quiet | xargs --no-run-if-empty docker inspect")
    assert "/run/secrets/secret_key" in containers  # the containers read their secrets from files
    for name, value in SECRETS.items():
        assert value not in output, f"the {name} is in the -vvv output of a deploy"
        assert value not in containers, f"the {name} is in `docker inspect`"
    secrets = host.file("/etc/apranova/secrets")
    assert secrets.mode == 0o500 and secrets.uid == 10001
    assert host.file("/etc/apranova/secrets/database_password").mode == 0o400


def test_one_off_containers_are_confined_like_the_serving_ones():
    # They are removed when they end (Docker returns no inspection of them): what the deploy asked
    # Docker for is in its -vvv result, the module's arguments.
    output = VERBOSE["output"]
    for task in ("Run check-migrations in a one-off container", "Run migrate in a one-off container",
                 "Run collectstatic in a one-off container"):
        result = output.split(f"TASK [app : {task}]", 1)[1].split("TASK [", 1)[0]
        squashed = "".join(result.split())
        assert '"cap_drop":["ALL"]' in squashed and '"read_only":true' in squashed, task
        assert '"memory":"512m"' in squashed and '"user":"10001:10001"' in squashed, task
        assert '"security_opts":["no-new-privileges:true"]' in squashed, task


def test_redeploying_the_same_release_is_fast_and_changes_nothing(host, run_playbook):
    start_request_loop(host)
    result, took = deploy(run_playbook, "-e", "app_release=v2")
    total, failed = stop_request_loop(host)
    assert result.returncode == 0
    assert "changed=0" in " ".join(result.stdout.split()), result.stdout[-2000:]
    assert failed == 0
    print(f"redeploy of an unchanged release: {took:.1f} s")


def kill_deploy_at(task: str, *args: str) -> str:
    """Start a deploy and kill its controller (the whole process group, kill -9) half a second
    after `task` starts; the output up to then."""
    inventory = str(Path(os.environ["MOLECULE_INVENTORY_FILE"]).parent)
    playbook = str(Path(os.environ["MOLECULE_SCENARIO_DIRECTORY"]) / "deploy.yml")
    run = subprocess.Popen(["ansible-playbook", "--inventory", inventory, playbook, *args], stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, text=True, env=dict(os.environ, PYTHONUNBUFFERED="1"),
                           start_new_session=True)
    seen = []
    for line in run.stdout:
        seen.append(line)
        if f"TASK [app : {task}]" in line:
            time.sleep(0.5)
            os.killpg(run.pid, signal.SIGKILL)
            break
    run.wait(timeout=60)
    return "".join(seen)


def web_containers(host) -> list[str]:
    return host.check_output("docker ps --filter label=apranova_role=web --format '{{.Names}}'").split()


def upstream_web(host) -> str:
    """The web container on the port nginx's upstream names."""
    port = re.search(r"server [^\s:]+:(\d+);", host.file(f"/etc/nginx/upstreams/apranova/{host.backend.host}.conf").content_string).group(1)
    return f"apranova-web-{port}"


def finish_after_kill(host, run_playbook, settings: tuple[str, ...]) -> str:
    """What an operator does next: break the dead deploy's lock, run the same deploy again."""
    assert host.file("/run/lock/apranova-deploy").exists
    unlock = run_playbook("unlock.yml", "-e", f"app_unlock_confirm={host.backend.host}")
    assert unlock.returncode == 0, flat_output(unlock)[-2000:]
    started = time.monotonic()
    again = run_playbook("deploy.yml", *settings)
    assert again.returncode == 0, flat_output(again)[-3000:]
    print(f"the next run finished the job in {time.monotonic() - started:.1f} s")
    # One web container, with the settings asked for; workers follow it; nothing left behind.
    assert len(web_containers(host)) == 1
    assert host.check_output("find /etc/apranova -name '*~' | wc -l") == "0"
    labels = host.check_output("docker ps --format '{{.Label \"apranova_role\"}} {{.Label \"apranova_config\"}}'")
    assert len({line.split()[1] for line in labels.splitlines() if line.split()[0] in ("web", "worker", "beat")}) == 1
    assert host.file("/srv/apranova/releases.log").content_string.split()[-1] == "v2"
    # A finished deploy is a successful run in the metrics, whether this run deployed or completed it.
    metrics = deploy_metrics(host)
    assert metrics['apranova_deploy_info{release="v2"}'] == 1.0
    assert metrics["apranova_deploy_last_run_success"] == 1.0 and metrics["apranova_deploy_lock_held"] == 0.0
    return flat_output(again)


def test_a_deploy_killed_while_the_old_release_drains_is_finished_by_the_next_run(host, run_playbook):
    settings = ("-e", "app_release=v2", "-e", '{"app_extra_env": {"DEPLOY_TRY": "drain"}}')
    start_request_loop(host)
    output = kill_deploy_at("Let the old release drain", *settings)
    assert "TASK [app : Let the old release drain]" in output, output[-2000:]
    # nginx already sends traffic to the new container; the old one still runs; the lock stays.
    assert len(web_containers(host)) == 2
    assert deploy_metrics(host)["apranova_deploy_lock_held"] == 1.0
    finished = finish_after_kill(host, run_playbook, settings)
    total, failed = stop_request_loop(host)
    assert "an interrupted deploy of it is left to finish" in finished
    audit = host.file("/var/log/apranova/deploy.log").content_string.splitlines()
    assert "release=v2 previous=v2 outcome=completed" in audit[-1]
    assert host.check_output(f"docker exec {serving_web(host)} printenv DEPLOY_TRY") == "drain"
    assert failed == 0 and total > 20


def test_a_deploy_killed_before_the_switch_is_finished_by_the_next_run(host, run_playbook):
    settings = ("-e", "app_release=v2", "-e", '{"app_extra_env": {"DEPLOY_TRY": "start"}}')
    start_request_loop(host)
    output = kill_deploy_at("Wait until the new release is ready", *settings)
    assert "TASK [app : Wait until the new release is ready]" in output, output[-2000:]
    # nginx still sends traffic to the old container, which serves on.
    assert host.check_output(f"docker exec {upstream_web(host)} printenv DEPLOY_TRY") == "drain"
    finish_after_kill(host, run_playbook, settings)
    total, failed = stop_request_loop(host)
    assert host.check_output(f"docker exec {serving_web(host)} printenv DEPLOY_TRY") == "start"
    assert failed == 0 and total > 20


def test_broken_v3_fails_and_v2_keeps_serving(host, run_playbook):
    start_request_loop(host)
    result, _ = deploy(run_playbook, "-e", "app_release=v3", "-e", "app_ready_timeout=20",
                       "-e", '{"app_extra_env": {"READYZ_CHECKS": "database,never-ready"}}')
    total, failed = stop_request_loop(host)
    output = " ".join((result.stdout + result.stderr).split())  # failures go to stderr
    assert result.returncode != 0
    assert "Release v3 failed" in output and "Still serving: v2" in output
    assert failed == 0
    assert get_json(host, "/healthz")["release"] == "v2"
    assert "v3" not in host.check_output("docker ps --format '{{.Labels}}'")
    audit = host.file("/var/log/apranova/deploy.log").content_string
    assert "release=v3 previous=v2 outcome=failed evidence=/var/log/apranova/failed/v3-" in audit
    # The evidence outlives the container: named in the failure, with the /readyz answer and the logs.
    evidence = re.search(r"kept in (/var/log/apranova/failed/v3-\d{8}T\d{6}Z\.log)", output).group(1)
    kept = host.file(evidence)
    assert kept.mode == 0o640 and "never-ready" in kept.content_string and "--- last log lines" in kept.content_string
    # The settings are the serving release's again, and no backup of them is left behind.
    assert "READYZ_CHECKS" not in host.file("/etc/apranova/app.env").content_string
    assert host.check_output("find /etc/apranova -name '*~' | wc -l") == "0"
    # What the node exporter shows: the failure, the release still serving, no lock left.
    assert deploy_metrics(host) == {'apranova_deploy_info{release="v2"}': 1.0, "apranova_deploy_last_run_success": 0.0,
                                    "apranova_deploy_lock_held": 0.0}


def deploy_metrics(host) -> dict[str, float]:
    text = host.check_output("cat /var/lib/prometheus/node-exporter/apranova_deploy*.prom")
    values = dict(line.rsplit(" ", 1) for line in text.splitlines() if line and not line.startswith("#"))
    assert abs(float(values.pop("apranova_deploy_last_run_timestamp_seconds")) - time.time()) < 3600
    return {name: float(value) for name, value in values.items()}


def write_lock(host, pid: int, age_seconds: int = 0) -> None:
    started = int(time.time()) - age_seconds
    holder = (f"user=someone\ncontroller={socket.gethostname()}\npid={pid}\nrelease=v9\n"
              f"started=then\nstarted_epoch={started}\n")
    host.check_output(f"mkdir -p /run/lock/apranova-deploy && printf %s {shlex.quote(holder)} > /run/lock/apranova-deploy/holder")


def test_a_dead_deploys_lock_is_reported_and_broken_only_on_confirmation(host, run_playbook):
    name = host.backend.host
    dead = subprocess.Popen(["true"])
    dead.wait()  # a controller process that is gone
    write_lock(host, dead.pid)
    refused = flat_output(run_playbook("deploy.yml", "-e", "app_release=v2"))
    assert "Another deploy holds the lock" in refused and "its controller process is gone" in refused
    assert f"make unlock ENV=molecule CONFIRM={name}" in refused
    assert "STALE" in flat_output(run_playbook("lock-status.yml"))
    wrong = run_playbook("unlock.yml", "-e", "app_unlock_confirm=other-host")
    assert wrong.returncode != 0 and f"needs CONFIRM={name}" in flat_output(wrong)
    # A lock whose controller still runs (this test's process) and is young is never broken.
    write_lock(host, os.getpid())
    live = run_playbook("unlock.yml", "-e", f"app_unlock_confirm={name}")
    assert live.returncode != 0 and "may belong to a running deploy" in flat_output(live)
    # ...unless it is older than app_deploy_timeout.
    write_lock(host, os.getpid(), age_seconds=4000)
    broken = run_playbook("unlock.yml", "-e", f"app_unlock_confirm={name}")
    assert broken.returncode == 0, flat_output(broken)[-2000:]
    assert not host.file("/run/lock/apranova-deploy").exists
    assert "release=v9 previous=- outcome=unlocked holder=someone@" in host.file("/var/log/apranova/deploy.log").content_string


def subtitle_column(host) -> str:
    return host.check_output("runuser -u postgres -- psql -XAtd apranova -c \"SELECT count(*) FROM information_schema.columns "
                             "WHERE table_name = 'apranova_course' AND column_name = 'subtitle'\"")


def start_load(host) -> None:
    web = serving_web(host)
    token = host.check_output(f"docker exec {web} python3 manage.py drf_create_token admin").split()[2]
    listed = get_json(host, "/api/reports/", auth=True)
    report = [r for r in listed.get("results", listed) if r["status"] == "succeeded"][0]["id"]
    conftest.start_load(host, SITE, token, report)


def test_a_release_that_adds_a_column_deploys_under_load_with_no_failed_request(host, run_playbook, tmp_path):
    source = release_source(tmp_path, models_edit=True, migrations={"9001_add_subtitle.py": ADD_SUBTITLE})
    start_load(host)
    result, took = deploy(run_playbook, "-e", "app_release=v4", "-e", f"app_source_dir={source}")
    time.sleep(3)  # the new release answers the load for a while too
    summary = stop_load(host)
    assert result.returncode == 0, flat_output(result)[-3000:]
    assert subtitle_column(host) == "1"
    assert summary["requests"] >= 200 and summary["failed"] == [], summary["failed"][:20]
    # Both releases served while the load ran: the old one until the switch, the new one after.
    seen = [release for _, release in summary["releases"]]
    assert seen[0] == "v2" and seen[-1] == "v4" and seen.index("v4") > seen.index("v2")
    print(f"deploy of a schema change under load: {took:.1f} s")


def test_a_release_that_drops_a_column_the_serving_one_reads_is_refused(host, run_playbook, tmp_path):
    source = release_source(tmp_path, models_edit=False, migrations={
        "9001_add_subtitle.py": ADD_SUBTITLE, "9002_drop_subtitle.py": drop_subtitle(None)})
    result, _ = deploy(run_playbook, "-e", "app_release=v5u", "-e", f"app_source_dir={source}")
    output = flat_output(result)
    assert result.returncode != 0
    assert "would not survive" in output and "drops a column the serving release still selects" in output
    assert get_json(host, "/healthz")["release"] == "v4" and subtitle_column(host) == "1"


def test_a_contract_migration_runs_only_in_a_two_phase_deploy_after_the_old_release_stopped(host, run_playbook, tmp_path):
    source = release_source(tmp_path, models_edit=False, migrations={
        "9001_add_subtitle.py": ADD_SUBTITLE, "9002_drop_subtitle.py": drop_subtitle("contract")})
    refused, _ = deploy(run_playbook, "-e", "app_release=v5", "-e", f"app_source_dir={source}")
    assert refused.returncode != 0 and "Deploy with -e app_contract_migrations=true" in flat_output(refused)
    assert subtitle_column(host) == "1"
    start_load(host)
    result, took = deploy(run_playbook, "-e", "app_release=v5", "-e", f"app_source_dir={source}",
                          "-e", "app_contract_migrations=true")
    summary = stop_load(host)
    assert result.returncode == 0, flat_output(result)[-3000:]
    assert subtitle_column(host) == "0" and get_json(host, "/healthz")["release"] == "v5"
    assert summary["failed"] == [], summary["failed"][:20]
    output = flat_output(result)
    stopped = output.index("TASK [app : Stop every web container but the serving one]")
    assert stopped < output.index("TASK [app : Run the contract migrations") < output.rindex("TASK [app : Run migrate in a one-off")
    print(f"two-phase deploy with a contract migration: {took:.1f} s")


def rollback(host, run_playbook, release: str):
    """Roll back under the same load as a deploy; the run's output and figures."""
    start_load(host)
    started = time.monotonic()
    result = run_playbook("rollback.yml", "-e", f"app_rollback_release={release}")
    took = time.monotonic() - started
    time.sleep(3)  # the release rolled back to answers the load for a while too
    summary = stop_load(host)
    assert result.returncode == 0, flat_output(result)[-3000:]
    assert summary["failed"] == [], summary["failed"][:20]
    print(f"rollback to {release} under load: {took:.1f} s")
    return flat_output(result), summary


def test_a_rollback_across_a_contract_migration_takes_the_column_back_first(host, run_playbook):
    # v5 dropped the subtitle column that v4 selects: v5's image reverses its own migration, then v4 serves.
    output, summary = rollback(host, run_playbook, "v4")
    assert "reversing apranova.9002_drop_subtitle because apranova_course.subtitle: the code selects it" in output
    assert subtitle_column(host) == "1" and get_json(host, "/healthz")["release"] == "v4"
    seen = [release for _, release in summary["releases"]]
    assert seen[0] == "v5" and seen[-1] == "v4"
    # v4's code reads the column again.
    assert manage(host, "from apranova.models import Course; print(Course.objects.filter(subtitle__isnull=True).count())")


def test_rollback_to_v1_runs_on_the_schema_as_it_is_and_keeps_reports(host, run_playbook):
    time.sleep(3)  # let the batches report from v2 finish
    before = host.check_output("find /srv/aprovova -type f | sort")
    assert "batch_reports/json" in before
    # v1 never knew subtitle, a nullable column: nothing to reverse.
    output, _ = rollback(host, run_playbook, "v1")  # v4 and v5 came after v2
    assert "v1 runs on the schema as it is: nothing to reverse" in output
    assert get_json(host, "/healthz")["release"] == "v1" and subtitle_column(host) == "1"
    assert deploy_metrics(host) == {'apranova_deploy_info{release="v1"}': 1.0, "apranova_deploy_last_run_success": 1.0,
                                    "apranova_deploy_lock_held": 0.0}
    after = host.check_output("find /srv/aprovova -type f | sort")
    assert set(before.split()) <= set(after.split())


def test_a_crashed_web_process_is_restarted_under_load(host):
    """The serving container's main process killed (a crash, not a stop): Docker starts it again.
    Prints the failed requests and the seconds until it serves again; asserts only that it does."""
    start_load(host)
    time.sleep(3)
    web = serving_web(host)
    restarts = int(host.check_output(f"docker inspect -f '{{{{.RestartCount}}}}' {web}"))
    host.check_output(f"kill -9 $(docker inspect -f '{{{{.State.Pid}}}}' {web})")
    crashed = time.monotonic()
    back = None
    while time.monotonic() - crashed < 60:
        if host.run(f"{CURL} -f -o /dev/null http://127.0.0.1:{web.rsplit('-', 1)[1]}/readyz").rc == 0:
            back = time.monotonic() - crashed
            break
        time.sleep(0.2)
    time.sleep(3)
    summary = stop_load(host)
    print(f"web crash under load: serving again after {back} s; {summary['requests']} requests, "
          f"{len(summary['failed'])} failed")
    assert back is not None, "the crashed web container did not serve again within 60 s"
    assert int(host.check_output(f"docker inspect -f '{{{{.RestartCount}}}}' {web}")) == restarts + 1


def test_everything_comes_back_after_a_restart(host):
    name = host.backend.host
    subprocess.run(["docker", "restart", name], check=True, timeout=120)
    deadline = time.monotonic() + 180
    code = 0
    while time.monotonic() < deadline:
        probe = subprocess.run(
            ["docker", "exec", name, "bash", "-c", f"{CURL} -o /dev/null -w '%{{http_code}}' https://{SITE}/readyz"],
            capture_output=True, text=True, check=False)
        code = int(probe.stdout or 0)
        if code == 200:
            break
        time.sleep(3)
    assert code == 200
    assert get_json(host, "/healthz")["release"] == "v1"
    assert host.service("docker").is_enabled and host.service("nginx").is_running
