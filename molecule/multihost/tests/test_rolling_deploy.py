"""A deploy and a rollback of both app hosts, host by host, switched on the web host apart from them,
under load on endpoints that read and write the database: no failed request. The load runs on the web host
through its nginx (the app scenario's load client). The release deployed changes the schema: it adds a
column and drops it again in a contract migration, which only the last app host runs, once neither host
serves the old release. The scenario's last test (the stack tests run first): the rollback leaves the
scenario's release (app_release) serving again."""

from __future__ import annotations

import json
import re
import time

from conftest import (  # the repository's conftest.py
    ADD_SUBTITLE, drop_subtitle, flat_output, instance, release_source, site_curl, start_load, stop_load)

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


def under_load(host, app, run_playbook, *playbook: str) -> tuple[dict, str]:
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
    print(f"{playbook[0]} {playbook[2]}: {took:.1f} s, {summary['requests']} requests {summary['by_kind']}, "
          f"{len(summary['failed'])} failed")
    return summary, flat_output(result)


def subtitle_column(host) -> str:
    db = instance(host.ansible.get_variables()["groups"]["db"][0])
    return db.check_output("runuser -u postgres -- psql -XAtd apranova -c \"SELECT count(*) FROM information_schema.columns "
                           "WHERE table_name = 'apranova_course' AND column_name = 'subtitle'\"")


def contract_runs(output: str) -> list[str]:
    """What each batch (app host) of a deploy did at the contract migrations' task."""
    task = "TASK [app : Run the contract migrations, the old release being gone]"
    return [part.split("TASK [", 1)[0] for part in output.split(task)[1:]]


def member(host, app) -> str:
    return host.file(f"/etc/nginx/upstreams/apranova/{app.backend.host}.conf").content_string


def test_a_deploy_and_a_rollback_switch_the_web_host_apart_with_no_failed_request(host, run_playbook, tmp_path):
    app = app_host(host)
    first = host.ansible.get_variables()["app_release"]
    before = re.search(r"server (\S+):(\d+);", member(host, app)).groups()
    assert serving_release(host) == first

    source = release_source(tmp_path, models_edit=False, migrations={
        "9001_add_subtitle.py": ADD_SUBTITLE, "9002_drop_subtitle.py": drop_subtitle("contract")})
    deployed, output = under_load(host, app, run_playbook, "../../playbooks/deploy.yml", "-e", "app_release=stack-v2",
                                  "-e", f"app_source_dir={source}", "-e", "app_contract_migrations=true")
    assert deployed["failed"] == [], deployed["failed"][:20]
    # Both app hosts roll, one at a time, while the load runs on endpoints that read and write the database.
    assert deployed["requests"] >= 1000, deployed["requests"]
    assert serving_release(host) == "stack-v2"
    after = re.search(r"server (\S+):(\d+);", member(host, app)).groups()
    # The same app host, on the other port: the web host's nginx was switched by the deploy.
    assert after[0] == before[0] and after[1] != before[1], (before, after)
    assert {release for _, release in deployed["releases"]} == {first, "stack-v2"}
    # The first host to roll leaves the column to the last (app_contract_migrations_host), which drops
    # it after its own switch: the first host's old release was gone by then.
    apps = host.ansible.get_variables()["groups"]["app"]
    runs = contract_runs(output)
    assert len(runs) == 2 and f"skipping: [{apps[0]}]" in runs[0] and f"for {apps[1]}" in runs[1], runs
    assert subtitle_column(host) == "0"

    rolled, output = under_load(host, app, run_playbook, "../../playbooks/rollback.yml", "-e", f"app_rollback_release={first}")
    assert rolled["failed"] == [], rolled["failed"][:20]
    # stack-v1 never knew the column: nothing to take back.
    assert f"{first} runs on the schema as it is: nothing to reverse" in output
    assert serving_release(host) == first
    assert re.search(r"server (\S+):(\d+);", member(host, app)).groups() == before
