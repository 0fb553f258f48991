"""A restore on the db host apart shows the maintenance page on the web host apart for as long as it
runs, so nobody writes to a database about to be replaced, and the site serves again after it
(restore.yml, as `make restore` runs it). After test_isolation.py, whose backup it restores, and
before test_rolling_deploy.py, which then runs on the restored database."""

from __future__ import annotations

import collections

testinfra_hosts = ["ansible://web"]

SITE = "apranova.stack.test"
ADMIN = "admin:stack-admin-password"
POLL = f"""#!/bin/bash
# Every half second: the status of a request that reads the database, through this host's nginx.
# 30 s: on two loaded cores a request can wait that long for a CPU (a timeout would read as 000,
# as a refused connection does).
while [ ! -e /tmp/restore-poll.stop ]; do
  code=$(curl -s --cacert /tmp/pebble-root.pem --max-time 30 --resolve {SITE}:443:127.0.0.1 -u {ADMIN} \\
         -o /tmp/restore-poll.body -w '%{{http_code}}' https://{SITE}/api/reports/)
  echo "$code" >>/tmp/restore-poll.log
  [ "$code" = 503 ] && cp /tmp/restore-poll.body /tmp/restore-poll.page
  sleep 0.5
done
"""


def test_a_restore_on_the_db_host_shows_the_maintenance_page_on_the_web_host_apart(host, run_playbook):
    db = host.ansible.get_variables()["groups"]["db"][0]
    host.check_output("test -s /tmp/pebble-root.pem || curl -fsS --cacert /etc/pebble/listener.crt "
                      "https://localhost:15000/roots/0 -o /tmp/pebble-root.pem")
    host.check_output(f"cat > /tmp/restore-poll.sh <<'EOF'\n{POLL}\nEOF")
    host.run("rm -f /tmp/restore-poll.stop /tmp/restore-poll.log /tmp/restore-poll.page")
    host.check_output("systemd-run --unit=restore-poll --collect bash /tmp/restore-poll.sh")
    try:
        result = run_playbook("../../playbooks/restore.yml", "--limit", db, "-e", f"restore_confirm=yes-restore-{db}")
    finally:
        # Two more samples after the playbook: the second began after the page went.
        host.run("n=$(wc -l </tmp/restore-poll.log); for i in $(seq 90); do "
                 "[ $(wc -l </tmp/restore-poll.log) -gt $((n + 1)) ] && break; sleep 1; done; "
                 "touch /tmp/restore-poll.stop; sleep 1")
    assert result.returncode == 0, (result.stdout + result.stderr)[-3000:]
    codes = host.file("/tmp/restore-poll.log").content_string.split()
    print(f"restore on {db}: {len(codes)} requests through the web host apart, by status: {dict(collections.Counter(codes))}")
    assert "503" in codes, codes
    assert "Restoring from a backup" in host.file("/tmp/restore-poll.page").content_string
    # No request reached the app half-way (a 5xx other than the page) and the page is down again.
    assert not set(codes) - {"200", "503"}, codes
    assert not host.file("/srv/apranova/maintenance.flag").exists
    assert codes[-1] == "200"
