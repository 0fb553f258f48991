"""One-off commands (make exec, make shell), the maintenance switch and log shipping in the
multihost stack (the web host apart from the app host), through the same playbooks the make
targets run. (This file sorts after test_isolation.py, whose encrypted-connection count needs
the app's recent requests.)"""

from __future__ import annotations

import base64
import json
import re
import subprocess
import time
import uuid

import pytest
from conftest import flat_output, instance, site_curl  # the repository's conftest.py (the verifier's rootdir)

testinfra_hosts = ["ansible://web"]


@pytest.fixture(scope="module")
def app(host):
    """The app host, where the containers run."""
    return instance(host.ansible.get_variables()["groups"]["app"][0])

SITE = "apranova.stack.test"


def https(host, path: str) -> tuple[str, str]:
    """Status and body of a request through nginx, trusting pebble's issuing root."""
    out = host.check_output(f"{site_curl(host, SITE, fail=False)} -w '\\n%{{http_code}}' https://{SITE}{path}")
    body, _, status = out.rpartition("\n")
    return status, body


def test_exec_runs_in_a_one_off_container_of_the_serving_release(app, run_playbook):
    script = ("import os; from django.conf import settings; from django.contrib.auth import get_user_model; "
              "print('EXEC', os.getuid(), os.environ.get('APP_RELEASE', '-'), settings.DATABASES['default']['HOST'], "
              "get_user_model().objects.filter(is_superuser=True).count(), os.path.isdir('/srv/aprovova'), "
              "os.access('/app', os.W_OK))")
    result = run_playbook("../../playbooks/exec.yml", "-e", json.dumps({"exec_command": f'shell -c "{script}"'}))
    output = flat_output(result)
    assert result.returncode == 0, output[-3000:]
    # The image's user, a query on the app's database, APROVOVA mounted, the root read-only.
    assert re.search(r"EXEC 10001 \S+ \S+ \d+ True False", output), output[-3000:]
    assert app.check_output("docker ps -aq --filter name=^apranova-exec$") == ""
    # A failing command fails the play, with Django's own message.
    failed = run_playbook("../../playbooks/exec.yml", "-e", json.dumps({"exec_command": "no_such_command"}))
    assert failed.returncode != 0 and "Unknown command: 'no_such_command'" in flat_output(failed), flat_output(failed)[-3000:]
    assert app.check_output("docker ps -aq --filter name=^apranova-exec$") == ""


def test_shell_command_opens_a_django_shell_in_the_serving_container(app, run_playbook, tmp_path):
    script = tmp_path / "shell.sh"
    result = run_playbook("../../playbooks/shell.yml", "-e", f"shell_script={script}")
    assert result.returncode == 0, flat_output(result)[-3000:]
    command = script.read_text().splitlines()[-1]
    serving = app.check_output("docker ps --filter label=apranova_role=web --format '{{.Names}}'").split()
    assert re.fullmatch(rf"exec docker exec -it {app.backend.host} docker exec -it (\S+) python3 manage\.py shell", command), command
    assert command.split()[-4] in serving, (command, serving)
    # Run as make would, without the terminal a test does not have.
    shell = subprocess.run(["sh", "-c", command.removeprefix("exec ").replace(" -it ", " -i ")],
                           input="from django.conf import settings\nprint('SHELL', 6 * 7, settings.DEBUG)\n",
                           capture_output=True, text=True, timeout=120, check=False)
    assert shell.returncode == 0 and "SHELL 42 False" in shell.stdout, shell.stdout + shell.stderr


def test_maintenance_shows_the_message_then_serves_again(host, run_playbook):
    message = 'Upgrading the <database> until 14:00 UTC; "reports" wait.'
    on = run_playbook("../../playbooks/maintenance.yml", "-e", json.dumps({"maintenance_on": 1, "maintenance_message": message}))
    try:
        assert on.returncode == 0, flat_output(on)[-3000:]
        status, body = https(host, "/admin/login/")
        assert status == "503", (status, body)
        assert "Upgrading the &lt;database&gt; until 14:00 UTC; &#34;reports&#34; wait." in body, body
        # Again: nothing changes.
        again = run_playbook("../../playbooks/maintenance.yml", "-e", json.dumps({"maintenance_on": 1, "maintenance_message": message}))
        # (The recap may be coloured: look for any non-zero count, as conftest's refused does.)
        assert again.returncode == 0 and not re.search(r"changed=[1-9]", again.stdout), again.stdout[-2000:]
    finally:
        off = run_playbook("../../playbooks/maintenance.yml", "-e", "maintenance_on=0")
    assert off.returncode == 0, flat_output(off)[-3000:]
    assert https(host, "/admin/login/")[0] == "200"
    assert not host.file("/srv/apranova/maintenance.flag").exists
    # The page shown when the app is down is the converged one again.
    assert not host.file("/var/www/maintenance/notice.html").exists


SINK = """
import socketserver

class Lines(socketserver.StreamRequestHandler):
    def handle(self):
        with open("/tmp/log-sink.txt", "ab") as out:
            for line in self.rfile:
                out.write(line)
                out.flush()

class Server(socketserver.ThreadingTCPServer):
    allow_reuse_address = True
    daemon_threads = True

Server(("127.0.0.1", 5514), Lines).serve_forever()
"""


def access_path(line: str) -> str | None:
    """The path of a shipped app line when it is gunicorn's JSON access line (the message is
    Docker's json-file record, whose "log" is the app's own line)."""
    try:
        return json.loads(json.loads(line.split(" ", 8)[8])["log"]).get("path")
    except (ValueError, IndexError, KeyError, TypeError, AttributeError):
        return None


def shipped(host) -> list[str]:
    return host.file("/tmp/log-sink.txt").content_string.splitlines() if host.file("/tmp/log-sink.txt").exists else []


def test_nginx_and_app_logs_are_shipped_to_the_inventorys_target(host, app):
    # The scenario points common_log_forward_target at 127.0.0.1:5514 on the web and app hosts.
    for each in (host, app):
        assert "127.0.0.1" in each.file("/etc/rsyslog.d/60-apranova-forward.conf").content_string
        each.check_output(f"echo {base64.b64encode(SINK.encode()).decode()} | base64 -d > /tmp/log-sink.py")
        each.check_output("systemd-run --unit apranova-log-sink python3 /tmp/log-sink.py")
    try:
        # rsyslog has been retrying with growing pauses since the converge: make it try now.
        for each in (host, app):
            each.check_output("sleep 1 && systemctl restart rsyslog")
        probe = f"/log-probe-{uuid.uuid4().hex}/"
        https(host, probe)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            nginx = [line for line in shipped(host) if " nginx-access " in line and probe in line]
            apps = [line for line in shipped(app) if " apranova-app " in line and access_path(line) == probe]
            if nginx and apps:
                break
            time.sleep(2)
        assert nginx and apps, "\n".join(shipped(host)[-10:] + shipped(app)[-10:])
        # The app's line is its JSON access line as Docker's json-file keeps it, naming the container's file.
        assert re.search(r"file=/var/lib/docker/containers/[0-9a-f]{64}/[0-9a-f]{64}-json\.log \{", apps[0]), apps[0]
        assert f'"GET {probe} HTTP' in nginx[0], nginx[0]
    finally:
        for each in (host, app):
            each.run("systemctl stop apranova-log-sink")
