"""A deploy and a rollback of both app hosts, host by host, switched on the web host apart from them,
under load on endpoints that read and write the database: no failed request. The load runs on the web host
through its nginx (the app scenario's load client). The scenario's last test (the stack tests
run first): the rollback leaves the scenario's release (app_release) serving again."""

from __future__ import annotations

import json
import re
import time

from conftest import flat_output, instance, site_curl, start_load, stop_load  # the repository's conftest.py

testinfra_hosts = ["ansible://web"]

SITE = "apranova.stack.test"
ADMIN = "admin:stack-admin-password"


def app_host(host):
    return instance(host.ansible.get_variables()["groups"]["app"][0])


def curl(host) -> str:
    return site_curl(host, SITE)


def serving_release(host) -> str:
    return json.loads(host.check_output(f"{curl(host)} https://{SITE}/healthz"))["release"]


def succeeded_report(host) -> str:
    created = json.loads(host.check_output(
        f"{curl(host)} -u {ADMIN} -H 'Content-Type: application/json' -d '{{\"type\": \"users\", \"format\": \"csv\"}}' "
        f"https://{SITE}/api/reports/"))
    for _ in range(90):
        report = json.loads(host.check_output(f"{curl(host)} -u {ADMIN} https://{SITE}/api/reports/{created['id']}/"))
        if report["status"] == "succeeded":
            return str(report["id"])
        time.sleep(1)
    raise AssertionError(f"report {created['id']} did not succeed: {report}")


def under_load(host, app, run_playbook, *playbook: str) -> tuple[float, dict]:
    web_container = app.check_output("docker ps --filter label=apranova_role=web --format '{{.Names}}' | head -1")
    token = app.check_output(f"docker exec {web_container} python3 manage.py drf_create_token admin").split()[2]
    report = succeeded_report(host)
    # Eight clients (about 28 r/s on two cores): the 1,000 requests come within a deploy of 40 s,
    # not only from a slow one. The scenario raises the per-user throttle to let one token do it.
    start_load(host, SITE, token, report, clients=8)
    started = time.monotonic()
    result = run_playbook(*playbook)
    took = time.monotonic() - started
    time.sleep(3)  # the new release answers the load for a while too
    summary = stop_load(host)
    assert result.returncode == 0, flat_output(result)[-3000:]
    print(f"{' '.join(playbook[-2:])}: {took:.1f} s, {summary['requests']} requests {summary['by_kind']}, "
          f"{len(summary['failed'])} failed")
    return took, summary


def member(host, app) -> str:
    return host.file(f"/etc/nginx/upstreams/apranova/{app.backend.host}.conf").content_string


def test_a_deploy_and_a_rollback_switch_the_web_host_apart_with_no_failed_request(host, run_playbook):
    app = app_host(host)
    first = host.ansible.get_variables()["app_release"]
    before = re.search(r"server (\S+):(\d+);", member(host, app)).groups()
    assert serving_release(host) == first

    _, deployed = under_load(host, app, run_playbook, "../../playbooks/deploy.yml", "-e", "app_release=stack-v2")
    assert deployed["failed"] == [], deployed["failed"][:20]
    # Both app hosts roll, one at a time, while the load runs on endpoints that read and write the database.
    assert deployed["requests"] >= 1000, deployed["requests"]
    assert serving_release(host) == "stack-v2"
    after = re.search(r"server (\S+):(\d+);", member(host, app)).groups()
    # The same app host, on the other port: the web host's nginx was switched by the deploy.
    assert after[0] == before[0] and after[1] != before[1], (before, after)
    assert {release for _, release in deployed["releases"]} == {first, "stack-v2"}

    _, rolled = under_load(host, app, run_playbook, "../../playbooks/rollback.yml", "-e", f"app_rollback_release={first}")
    assert rolled["failed"] == [], rolled["failed"][:20]
    assert serving_release(host) == first
    assert re.search(r"server (\S+):(\d+);", member(host, app)).groups() == before
