"""APROVOVA on object storage: the reports live in the storage host's SeaweedFS bucket, which the
app reaches over verified TLS, not on the app host's disk; only the S3 gateway leaves loopback."""

from __future__ import annotations

import json
import re
import time

from conftest import instance, private_address as address, site_curl  # the repository's conftest.py

SITE = "apranova.stack.test"
ADMIN = "admin:stack-admin-password"
RCLONE = "set -a && . /etc/apranova-backup/restic.env && set +a && rclone"


def test_seaweedfs_runs_as_its_user_with_only_the_gateway_beyond_loopback():
    storage = instance("stack-db")
    service = storage.service("seaweedfs")
    assert service.is_running and service.is_enabled
    assert storage.check_output("ps -o user= -C weed").split() == ["seaweedfs"]
    listening = {line.split()[3] for line in storage.check_output("ss -Htlnp | grep '\"weed\"'").splitlines()}
    beyond_loopback = {each for each in listening if not each.startswith("127.0.0.1:")}
    # The gateway, and its gRPC twin (port + 10000), which SeaweedFS binds beside it.
    assert beyond_loopback == {f"{address('stack-db')}:8333", f"{address('stack-db')}:18333"}, listening
    # The firewall opens the gateway to the app hosts, and nothing else of SeaweedFS.
    app = instance("stack-app")
    assert app.run(f"timeout 3 bash -c '</dev/tcp/{address('stack-db')}/8333'").rc == 0
    assert app.run(f"timeout 3 bash -c '</dev/tcp/{address('stack-db')}/18333'").rc != 0
    identities = storage.file("/etc/seaweedfs/s3.json")
    assert (identities.user, identities.group, identities.mode) == ("root", "seaweedfs", 0o640)


def test_the_gateway_serves_the_internal_cas_certificate_and_refuses_anonymous_requests():
    storage = instance("stack-db")
    url = f"https://{address('stack-db')}:8333/"
    code = storage.check_output(f"curl -sS -o /dev/null -w '%{{http_code}}' --cacert /etc/ssl/apranova/ca.crt {url}")
    assert code == "403"
    refused = storage.run(f"curl -sS -o /dev/null --cacert /etc/ssl/certs/ca-certificates.crt {url}")
    assert refused.rc == 60, refused.stderr  # the public CAs do not vouch for it


def test_a_report_is_written_to_the_bucket_not_to_the_app_hosts_disk():
    web, app, storage = instance("stack-web"), instance("stack-app"), instance("stack-db")
    created = json.loads(web.check_output(
        f"{site_curl(web, SITE)} -u {ADMIN} -H 'Content-Type: application/json' -d '{{\"type\": \"users\", \"format\": \"json\"}}' "
        f"https://{SITE}/api/reports/"))
    for _ in range(90):
        report = json.loads(web.check_output(f"{site_curl(web, SITE)} -u {ADMIN} https://{SITE}/api/reports/{created['id']}/"))
        if report["status"] in ("succeeded", "failed"):
            break
        time.sleep(1)
    assert report["status"] == "succeeded", report
    # Downloaded through nginx on the web host, streamed by the app from the bucket.
    web.check_output(f"{site_curl(web, SITE)} -u {ADMIN} -D /tmp/s3-report.headers -o /tmp/s3-report.json {report['download_url']}")
    assert web.file("/tmp/s3-report.json").sha256sum == report["checksum_sha256"]
    name = re.search(r'filename="([^"]+)"', web.file("/tmp/s3-report.headers").content_string).group(1)
    objects = storage.check_output(f"{RCLONE} lsf -R bucket:apranova/user_reports/json").split()
    assert name in objects, objects
    # Not kept on the app host: another app host serves the same object.
    assert app.check_output("find /srv/aprovova -type f -name '*.json' | wc -l") == "0"
