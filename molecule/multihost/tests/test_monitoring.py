"""The optional monitoring group (the cache host here): Prometheus scrapes every host's node
exporter, and a failed backup reaches the inventory's Alertmanager webhook as an alert."""

from __future__ import annotations

import base64
import json
import time

from conftest import instance  # the repository's conftest.py

testinfra_hosts = ["ansible://web"]

SINK = """
import http.server

class Hook(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        with open("/tmp/alerts.jsonl", "ab") as out:
            out.write(body.replace(b"\\n", b" ") + b"\\n")
        self.send_response(200)
        self.end_headers()

http.server.HTTPServer(("127.0.0.1", 5001), Hook).serve_forever()
"""


def group_host(host, group: str):
    return instance(host.ansible.get_variables()["groups"][group][0])


def query(monitor, expr: str) -> list[dict]:
    out = monitor.check_output("curl -fsS --max-time 10 http://127.0.0.1:9090/api/v1/query --data-urlencode %s", f"query={expr}")
    return json.loads(out)["data"]["result"]


def wait_for(check, seconds: float, what: str):
    deadline = time.monotonic() + seconds
    while True:
        result = check()
        if result:
            return result
        assert time.monotonic() < deadline, f"no {what} within {seconds} s"
        time.sleep(2)


def webhook_alerts(monitor) -> list[dict]:
    if not monitor.file("/tmp/alerts.jsonl").exists:
        return []
    return [alert for line in monitor.file("/tmp/alerts.jsonl").content_string.splitlines() if line.strip()
            for alert in json.loads(line)["alerts"]]


def test_prometheus_scrapes_every_hosts_node_exporter(host):
    monitor = group_host(host, "monitoring")
    # Each host once: the scenario's inventory sources may name a host twice.
    names = sorted(set(host.ansible.get_variables()["groups"]["all"]))

    # Only the inventory's hosts: the package's own first configuration may have left other series.
    deadline = time.monotonic() + 90
    while True:
        up = sorted(s["metric"]["instance"] for s in query(monitor, "up{job='node'} == 1") if s["metric"]["instance"] in names)
        if up == names or time.monotonic() > deadline:
            break
        time.sleep(2)
    targets = json.loads(monitor.check_output("curl -fsS http://127.0.0.1:9090/api/v1/targets"))["data"]["activeTargets"]
    assert up == names, [(t["labels"], t["scrapeUrl"], t["health"], t["lastError"]) for t in targets]
    # Every rule of monitoring/rules is loaded, and only loopback is listened on.
    groups = json.loads(monitor.check_output("curl -fsS http://127.0.0.1:9090/api/v1/rules"))["data"]["groups"]
    assert "ApranovaBackupFailed" in [rule["name"] for group in groups for rule in group["rules"]]
    listeners = monitor.check_output("ss -ltnH '( sport = :9090 or sport = :9093 or sport = :9094 )' | awk '{print $4}'").split()
    assert sorted(listeners) == ["127.0.0.1:9090", "127.0.0.1:9093"], listeners


def test_a_failed_backup_fires_an_alert_to_the_webhook(host):
    monitor = group_host(host, "monitoring")
    app = group_host(host, "app")
    name = app.backend.host
    monitor.check_output(f"echo {base64.b64encode(SINK.encode()).decode()} | base64 -d > /tmp/alert-sink.py")
    monitor.check_output("rm -f /tmp/alerts.jsonl && systemd-run --unit apranova-alert-sink python3 /tmp/alert-sink.py")
    app.check_output("cp -p /etc/apranova-backup/restic.env /root/restic.env.alert && sed -i "
                     "'s|^RESTIC_REPOSITORY=.*|RESTIC_REPOSITORY=/nonexistent/repository|' /etc/apranova-backup/restic.env")
    # Alerts of this failure only, not of the earlier tests' (Alertmanager may still be retrying those).
    since = monitor.check_output("date -u +%Y-%m-%dT%H:%M:%S")
    try:
        assert app.run("systemctl start apranova-backup.service").rc != 0
        firing = wait_for(lambda: [a for a in webhook_alerts(monitor) if a["labels"]["alertname"] == "ApranovaBackupFailed"
                                   and a["status"] == "firing" and a["startsAt"][:19] >= since],
                          90, "ApranovaBackupFailed at the webhook")
        assert {a["labels"]["instance"] for a in firing} == {name}, firing
    finally:
        app.run("cp -p /root/restic.env.alert /etc/apranova-backup/restic.env && rm -f /root/restic.env.alert")
        app.check_output("systemctl start apranova-backup.service")
    try:
        wait_for(lambda: [a for a in webhook_alerts(monitor) if a["labels"]["alertname"] == "ApranovaBackupFailed"
                          and a["status"] == "resolved" and a["startsAt"][:19] >= since], 90, "the alert resolved at the webhook")
    finally:
        monitor.run("systemctl stop apranova-alert-sink")
