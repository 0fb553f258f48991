"""Two app hosts behind the web host: each is in nginx's upstream, a report made on one is
downloaded through the other (the reports' bucket is shared), and with one host's app stopped the
other serves every request."""

from __future__ import annotations

import json
import re
import time

from conftest import instance, private_address as address, site_curl  # the repository's conftest.py

SITE = "apranova.stack.test"
ADMIN = "admin:stack-admin-password"
APPS = ("stack-app", "stack-app2")


def serving(app) -> tuple[str, str]:
    """The serving web container's name and port on an app host."""
    line = app.check_output("docker ps --filter label=apranova_role=web --format '{{.Names}} {{.Label \"apranova_port\"}}' | head -1")
    name, port = line.split()
    return name, port


def test_every_app_host_is_in_the_web_hosts_upstream():
    web = instance("stack-web")
    for name in APPS:
        member = web.file(f"/etc/nginx/upstreams/apranova/{name}.conf").content_string
        assert f"server {address(name)}:{serving(instance(name))[1]};" in member, member


def test_a_report_made_on_one_app_host_is_downloaded_through_the_other():
    web, maker, other = instance("stack-web"), instance("stack-app"), instance("stack-app2")
    container, _ = serving(maker)
    made = maker.check_output(f"docker exec {container} python3 manage.py generate_report --type batches --format pdf")
    report_id = re.search(r"report (\d+):", made).group(1)
    _, port = serving(other)
    # Straight to the other host's serving release (from the web host, the one its firewall admits).
    direct = (f"curl -sS -u {ADMIN} -H 'Host: {SITE}' -H 'X-Forwarded-Proto: https' --max-time 20 "
              f"http://{address('stack-app2')}:{port}/api/reports/{report_id}")
    status = json.loads(web.check_output(f"{direct}/"))
    assert status["status"] == "succeeded", status
    code = web.check_output(f"{direct}/download/ -o /tmp/other-host-report.pdf -w '%{{http_code}}'")
    assert code == "200"
    assert web.file("/tmp/other-host-report.pdf").sha256sum == status["checksum_sha256"]
    assert other.check_output("find /srv/aprovova -type f -name '*.pdf' | wc -l") == "0"


def test_with_one_app_host_stopped_the_other_serves_every_request():
    web, stopped = instance("stack-web"), instance("stack-app2")
    containers = stopped.check_output("docker ps -q --filter label=apranova_role").split()
    assert containers
    stopped.check_output(f"docker stop {' '.join(containers)}")
    try:
        codes = []
        for _ in range(40):  # endpoints that read the database, through nginx, under its rate limit
            codes.append(web.check_output(f"{site_curl(web, SITE, fail=False)} -u {ADMIN} -o /dev/null -w '%{{http_code}}' https://{SITE}/api/reports/"))
            time.sleep(0.15)
        print(f"one app host stopped: {len(codes)} requests through the web host, statuses {sorted(set(codes))}")
        assert codes == ["200"] * 40, codes
    finally:
        stopped.check_output(f"docker start {' '.join(containers)}")
    _, port = serving(stopped)
    for _ in range(60):
        if web.run(f"curl -fsS --max-time 3 -o /dev/null http://{address('stack-app2')}:{port}/readyz").rc == 0:
            break
        time.sleep(2)
    else:
        raise AssertionError("stack-app2's release did not become ready again")
