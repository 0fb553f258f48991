"""`make status`'s judge and table (playbooks/files/status_table.py), on synthetic host reports.

Each test starts from a healthy stack (one host in every group, one web+app host beside a db
and a cache host) as playbooks/files/status_probe.py reports it, breaks one thing, and checks
the exit code, the marked cell and the reason that names the host and the column.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
SCRIPT = REPO / "playbooks" / "files" / "status_table.py"
_spec = importlib.util.spec_from_file_location("status_table", SCRIPT)
status_table = importlib.util.module_from_spec(_spec)
sys.modules["status_table"] = status_table  # dataclasses look their module up there
_spec.loader.exec_module(status_table)

NOW = 1_800_000_000.0
HOUR, DAY = 3600, 86400


def textfiles(*, release="v42", deploy_ok=1, deploy_at=NOW - 2 * HOUR, lock=0, backup_ok=1,
              backup_run=NOW - 3 * HOUR, backup_success=NOW - 3 * HOUR, certificates=None) -> dict:
    certificates = {"apranova.example.org": NOW + 60 * DAY} if certificates is None else certificates
    return {
        "apranova_deploy.prom": (
            "# HELP apranova_deploy_info The release nginx sends traffic to.\n# TYPE apranova_deploy_info gauge\n"
            f'apranova_deploy_info{{release="{release}"}} 1\n'
            f"apranova_deploy_last_run_success {deploy_ok}\napranova_deploy_last_run_timestamp_seconds {int(deploy_at)}\n"),
        "apranova_deploy_lock.prom": f"# TYPE apranova_deploy_lock_held gauge\napranova_deploy_lock_held {lock}\n",
        "apranova_backup.prom": (
            f"apranova_backup_last_run_success {backup_ok}\n"
            f"apranova_backup_last_run_timestamp_seconds {int(backup_run)}\n"
            f"apranova_backup_last_success_timestamp_seconds {int(backup_success)}\n"
            "apranova_backup_last_run_duration_seconds 12\n"),
        "apranova_certificates.prom": "# TYPE apranova_certificate_expiry_timestamp_seconds gauge\n" + "".join(
            f'apranova_certificate_expiry_timestamp_seconds{{name="{name}"}} {int(end)}\n' for name, end in certificates.items()),
    }


def units(*names: str, state: str = "active") -> dict:
    return {"error": "", "units": {name: {"load": "loaded", "active": state} for name in names}}


def containers(release="v42", web_status="Up 2 hours (healthy)", ready=True) -> dict:
    return {"available": True, "error": "", "containers": [
        {"name": "apranova-web-8001", "status": web_status, "role": "web", "release": release, "port": "8001",
         "readyz": {"ok": ready, "detail": "200 {\"status\": \"ok\"}" if ready else "timed out"}},
        {"name": "apranova-worker", "status": "Up 2 hours (healthy)", "role": "worker", "release": release, "port": ""},
        {"name": "apranova-beat", "status": "Up 2 hours (healthy)", "role": "beat", "release": release, "port": ""},
    ]}


def probe(**files) -> dict:
    return {
        "now": NOW,
        "textfiles": textfiles(**files),
        "backup_installed": int(NOW - 30 * DAY),
        "systemd": units("nginx", "docker", "postgresql", "postgresql@15-main", "redis-server", "prometheus-node-exporter"),
        "docker": containers(),
        "disks": [{"path": "/", "percent": 41, "size_bytes": 10 ** 11}],
    }


def host(name="apranova-prod-1", groups=("app", "cache", "db", "web"), **files) -> dict:
    return {"name": name, "groups": list(groups), "probe": probe(**files), "error": "",
            "thresholds": {"backup_max_age_hours": 26, "certificate_days": 14, "disk_percent": 85}}


def split_stack() -> list[dict]:
    """web+app, db and cache on three hosts, as in the multihost scenario."""
    web, db, cache = host("web-1", ("app", "web")), host("db-1", ("db",)), host("cache-1", ("backup", "cache"))
    for other in (db, cache):
        other["probe"]["docker"] = {"available": False, "error": "docker: not found", "containers": []}
        for name in ("apranova_deploy.prom", "apranova_deploy_lock.prom", "apranova_certificates.prom"):
            other["probe"]["textfiles"][name] = None
    cache["probe"]["textfiles"]["apranova_backup.prom"] = None
    return [web, db, cache]


def judge(hosts: list[dict]) -> tuple[int, str]:
    rows = [status_table.host_row(h) for h in hosts]
    return (1 if any(row.reasons for row in rows) else 0), status_table.render(rows)


def attention(output: str) -> list[str]:
    return [line.removeprefix("ATTENTION ") for line in output.splitlines() if line.startswith("ATTENTION ")]


def row(output: str, name: str) -> str:
    return next(line for line in output.splitlines() if line.split(" ", 1)[0] in (name, name + " !"))


def test_healthy_single_host_exits_0_with_every_cell_filled():
    code, output = judge([host()])
    assert code == 0, output
    line = row(output, "apranova-prod-1")
    for cell in ("app,cache,db,web", "v42, answers", "2027-01-15 06:00 ok", "free", "3h ago ok",
                 "apranova.example.org 60d", "/ 41%", "9/9 up"):
        assert cell in line, (cell, line)
    assert "!" not in output and attention(output) == []
    assert output.endswith("1 host, nothing needs attention.")


def test_split_stack_shows_only_what_each_host_runs():
    code, output = judge(split_stack())
    assert code == 0, output
    assert "v42, answers" in row(output, "web-1") and "6/6 up" in row(output, "web-1")  # docker, nginx, node exporter, 3 containers
    db = row(output, "db-1")
    assert "3h ago ok" in db and "v42" not in db and "4/4 up" not in db and "3/3 up" in db  # postgresql, its cluster, node exporter
    cache = row(output, "cache-1").split()
    assert cache[:3] == ["cache-1", "backup,cache", "-"] and "2/2 up" in row(output, "cache-1")


def test_header_and_rows_line_up_and_carry_no_trailing_space():
    _, output = judge(split_stack())
    lines = output.splitlines()
    assert lines[0].split()[:2] == ["HOST", "GROUPS"] and "LAST BACKUP" in lines[0] and "SERVICES" in lines[0]
    start = lines[0].index("LAST BACKUP")
    assert row(output, "db-1")[start:].startswith("3h ago ok")
    assert all(line == line.rstrip() for line in lines)


@pytest.mark.parametrize(("change", "column", "cell", "reason"), [
    ({"backup_ok": 0, "backup_run": NOW - 600}, "last backup", "10m ago FAILED !",
     "the last backup FAILED 10m ago (2027-01-15 07:50 UTC); last success 3h ago"),
    ({"backup_success": NOW - 27 * HOUR, "backup_run": NOW - 27 * HOUR}, "last backup", "27h ago STALE !",
     "the last successful backup is 27h old, over the limit of 26 h"),
    ({"deploy_ok": 0}, "last deploy (UTC)", "2027-01-15 06:00 FAILED !",
     "the last deploy or rollback FAILED at 2027-01-15 06:00 UTC; v42 still serves"),
    ({"lock": 1}, "lock", "HELD !", "the deploy lock is held"),
    ({"certificates": {"apranova.example.org": NOW + 13 * DAY}}, "certificates", "apranova.example.org 13d !",
     "apranova.example.org expires in 13d"),
    ({"certificates": {"apranova.example.org": NOW - DAY}}, "certificates", "apranova.example.org EXPIRED !",
     "apranova.example.org expired 24h ago"),
])
def test_each_problem_exits_1_marking_its_cell_and_naming_the_host(change, column, cell, reason):
    code, output = judge([host(**change)])
    assert code == 1
    assert cell in row(output, "apranova-prod-1")
    assert len(attention(output)) == 1, attention(output)
    assert attention(output)[0].startswith(f"apranova-prod-1 {column}: {reason}"), attention(output)
    assert "1 needs attention (apranova-prod-1)" in output


def test_backup_within_the_limit_and_certificate_at_the_limit_pass():
    code, output = judge([host(backup_success=NOW - 25 * HOUR, certificates={"a.example.org": NOW + 14 * DAY})])
    assert code == 0, output


def test_certificate_limit_comes_from_the_inventory():
    # The stack scenarios set apranova_healthcheck_certificate_days: 1 (pebble's certificates last 7 days).
    short = host(certificates={"apranova.example.org": NOW + 6 * DAY})
    assert judge([short])[0] == 1
    short["thresholds"]["certificate_days"] = 1
    code, output = judge([short])
    assert code == 0 and "apranova.example.org 6d" in output


def test_each_certificate_name_has_its_days():
    code, output = judge([host(certificates={"b.example.org": NOW + 70 * DAY, "a.example.org": NOW + 5 * DAY})])
    assert code == 1 and "a.example.org 5d !, b.example.org 70d" not in output
    assert "a.example.org 5d, b.example.org 70d !" in row(output, "apranova-prod-1")
    assert attention(output) == [
        "apranova-prod-1 certificates: a.example.org expires in 5d (2027-01-20 08:00 UTC), within 14 days: renewal is failing"]


def test_disk_above_85_percent_and_a_separate_srv():
    broken = host()
    broken["probe"]["disks"] = [{"path": "/", "percent": 85, "size_bytes": 1}, {"path": "/srv", "percent": 86, "size_bytes": 1}]
    code, output = judge([broken])
    assert code == 1 and "/ 85% /srv 86% !" in row(output, "apranova-prod-1")
    assert attention(output) == ["apranova-prod-1 disk: /srv is 86% full (above 85%)"]


def test_a_unit_down_or_missing_and_the_optional_node_exporter():
    broken = host()
    broken["probe"]["systemd"]["units"]["redis-server"]["active"] = "failed"
    broken["probe"]["systemd"]["units"]["nginx"] = {"load": "not-found", "active": "inactive"}
    del broken["probe"]["systemd"]["units"]["prometheus-node-exporter"]  # not installed: not expected
    code, output = judge([broken])
    assert code == 1
    assert "6/8 up, down: redis-server nginx !" in row(output, "apranova-prod-1")
    assert attention(output) == ["apranova-prod-1 services: unit redis-server is failed",
                                 "apranova-prod-1 services: unit nginx is not installed"]


def test_a_postgresql_cluster_down_behind_an_active_wrapper():
    broken = host()
    broken["probe"]["systemd"]["units"]["postgresql@15-main"]["active"] = "failed"
    code, output = judge([broken])
    assert code == 1 and attention(output) == ["apranova-prod-1 services: unit postgresql@15-main is failed"]


def test_app_containers_down_unhealthy_or_docker_silent():
    broken = host()
    broken["probe"]["docker"]["containers"][2]["status"] = "Exited (1) 5 minutes ago"
    broken["probe"]["docker"]["containers"][1]["status"] = "Up 3 hours (unhealthy)"
    code, output = judge([broken])
    assert code == 1 and "down: worker beat !" in row(output, "apranova-prod-1")
    assert attention(output) == [
        "apranova-prod-1 services: container worker is unhealthy (Up 3 hours (unhealthy))",
        "apranova-prod-1 services: container beat is not running (Exited (1) 5 minutes ago)"]

    silent = host()
    silent["probe"]["docker"] = {"available": False, "error": "Cannot connect to the Docker daemon", "containers": []}
    silent["probe"]["systemd"]["units"]["docker"]["active"] = "inactive"
    code, output = judge([silent])
    assert code == 1 and "v42, ? !" in row(output, "apranova-prod-1")
    assert "apranova-prod-1 services: unit docker is inactive" in attention(output)
    assert "apranova-prod-1 services: container web: docker does not answer (Cannot connect to the Docker daemon)" in attention(output)


def test_the_serving_release_must_run_and_answer():
    silent = host()
    silent["probe"]["docker"] = containers(ready=False)
    code, output = judge([silent])
    assert code == 1 and "v42, NOT ANSWERING !" in row(output, "apranova-prod-1")
    assert attention(output) == ["apranova-prod-1 release: the web container of v42 does not answer /readyz: timed out"]

    gone = host()
    gone["probe"]["docker"] = containers(release="v41")  # the metric names v42, but v41's container runs
    code, output = judge([gone])
    assert code == 1 and "v42, NOT RUNNING !" in row(output, "apranova-prod-1")
    assert attention(output) == ["apranova-prod-1 release: no running web container of release v42"]


def test_no_deploy_and_no_backup_yet():
    fresh = host()
    for name in ("apranova_deploy.prom", "apranova_deploy_lock.prom", "apranova_backup.prom"):
        fresh["probe"]["textfiles"][name] = None
    fresh["probe"]["backup_installed"] = int(NOW - 2 * HOUR)
    code, output = judge([fresh])
    line = row(output, "apranova-prod-1")
    assert "none !" in line and "never" in line and "none yet" in line
    assert attention(output) == ["apranova-prod-1 release: no deploy recorded (apranova_deploy.prom missing): make deploy"]

    # Set up 27 hours ago and still no backup: as `apranova-backup status` says, that needs attention.
    fresh["probe"]["backup_installed"] = int(NOW - 27 * HOUR)
    assert "apranova-prod-1 last backup: no backup has run in the 27h since the backup was set up (limit 26 h)" in attention(judge([fresh])[1])
    fresh["probe"]["backup_installed"] = None
    assert "apranova-prod-1 last backup: no backup has run and the backup role has not set this host up" in attention(judge([fresh])[1])


def test_missing_certificate_data_on_a_web_host():
    blind = host()
    blind["probe"]["textfiles"]["apranova_certificates.prom"] = None
    code, output = judge([blind])
    assert code == 1 and "no data !" in row(output, "apranova-prod-1")


def test_unreachable_host_and_failed_probe_need_attention():
    hosts = split_stack()
    hosts[1] = {"name": "db-1", "groups": ["db"], "probe": None, "error": "unreachable: ssh: connect to host 192.0.2.1 port 22: timed out"}
    hosts[2] = {"name": "cache-1", "groups": ["cache"], "probe": None, "error": "status probe failed: python3: not found"}
    code, output = judge(hosts)
    assert code == 1
    assert row(output, "db-1").startswith("db-1 !") and row(output, "db-1").endswith("UNREACHABLE")
    assert row(output, "cache-1").endswith("NO STATUS")
    assert attention(output) == ["db-1 host: unreachable: ssh: connect to host 192.0.2.1 port 22: timed out",
                                 "cache-1 host: status probe failed: python3: not found"]
    assert "3 hosts, 2 need attention (db-1, cache-1)" in output


def test_systemd_not_answering_is_one_reason():
    broken = host()
    broken["probe"]["systemd"] = {"error": "Failed to connect to bus: No such file or directory", "units": {}}
    code, output = judge([broken])
    assert code == 1
    assert attention(output) == ["apranova-prod-1 services: systemd does not answer: Failed to connect to bus: No such file or directory"]


def test_textfile_parser_reads_escaped_labels_timestamps_and_ignores_junk():
    samples = status_table.parse_textfile(
        '# HELP x y\napranova_certificate_expiry_timestamp_seconds{name="a\\"b\\\\c",x="1"} 1.7e9 1700000000000\n'
        "not a sample line at all {\napranova_deploy_lock_held 0\n")
    assert [(s.name, s.labels, s.value) for s in samples] == [
        ("apranova_certificate_expiry_timestamp_seconds", {"name": 'a"b\\c', "x": "1"}, 1.7e9),
        ("apranova_deploy_lock_held", {}, 0.0)]
    assert status_table.parse_textfile(None) is None


@pytest.mark.parametrize(("document", "code"), [
    ({"hosts": [host()]}, 0),
    ({"hosts": [host(backup_ok=0)]}, 1),
    ({"nothing": []}, 2),
    ({"hosts": []}, 1),  # an empty (or mistyped) inventory is no healthy environment
])
def test_command_line_exit_codes(document, code, tmp_path):
    done = subprocess.run([sys.executable, str(SCRIPT), "-"], input=json.dumps(document), capture_output=True,
                          text=True, check=False)
    assert done.returncode == code, done.stdout + done.stderr
    if code == 1 and document["hosts"]:
        assert "ATTENTION apranova-prod-1 last backup: the last backup FAILED" in done.stdout
    elif code == 1:
        assert done.stdout == "ATTENTION the inventory has no host: nothing was checked\n"
    path = tmp_path / "status.json"
    path.write_text(json.dumps(document))
    assert subprocess.run([sys.executable, str(SCRIPT), str(path)], capture_output=True, check=False).returncode == code


def test_playbook_reports_an_unreachable_host_in_the_table(tmp_path):
    """playbooks/status.yml end to end on the controller: the host's row, the reason, a failed run."""
    inventory = tmp_path / "hosts.yml"
    inventory.write_text(
        "all:\n  hosts:\n    nowhere-1:\n      ansible_host: 127.0.0.1\n      ansible_port: 1\n"
        "      ansible_ssh_common_args: -o ConnectTimeout=5\n  children:\n    db:\n      hosts:\n        nowhere-1:\n")
    env = {**os.environ, "ANSIBLE_CONFIG": str(REPO / "ansible.cfg"), "ANSIBLE_FORCE_COLOR": "0",
           "ANSIBLE_CALLBACK_RESULT_FORMAT": "yaml"}
    done = subprocess.run(["ansible-playbook", "-i", str(inventory), "playbooks/status.yml"], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=300, check=False)
    output = done.stdout + done.stderr
    assert done.returncode != 0, output
    assert "HOST " in output and "nowhere-1 !  db" in output and "UNREACHABLE" in output, output[-3000:]
    assert "nowhere-1 host: unreachable:" in output, output[-3000:]


def test_probe_is_standard_library_python_that_prints_json(tmp_path):
    """The probe runs here too (no textfiles, maybe no systemd or docker): it still prints one JSON document."""
    done = subprocess.run([sys.executable, str(REPO / "playbooks" / "files" / "status_probe.py"), str(tmp_path)],
                          capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert set(report) == {"now", "textfiles", "backup_installed", "systemd", "docker", "disks"}
    assert report["textfiles"] == dict.fromkeys(["apranova_backup.prom", "apranova_certificates.prom",
                                                 "apranova_deploy.prom", "apranova_deploy_lock.prom"])
    assert report["disks"][0]["path"] == "/" and 0 <= report["disks"][0]["percent"] <= 100
    # What it reads renders: a host in no group needs only its disk and (if any) its node exporter.
    rendered = status_table.host_row({"name": "here", "groups": [], "probe": report, "error": ""})
    assert rendered.cells["disk"].text.startswith("/ ")
