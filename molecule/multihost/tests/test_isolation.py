"""db and cache are reachable from the app host only, and the app from the web host only."""

from __future__ import annotations

import os
import re
import socket

import pytest
import testinfra


def instance(name: str):
    # The folder: the scenario's group_vars are linked beside the inventory file.
    return testinfra.get_host(f"ansible://{name}", ansible_inventory=os.path.dirname(os.environ["MOLECULE_INVENTORY_FILE"]))


def address(name: str) -> str:
    """The address other hosts reach it at (apranova_private_address: the default route's source),
    not docker0's on an app host."""
    route = instance(name).check_output("ip -4 -o route get 192.0.2.1")
    return re.search(r" src (\S+)", route).group(1)


def can_connect(host, ip: str, port: int) -> bool:
    return host.run(f"timeout 3 bash -c '</dev/tcp/{ip}/{port}'").rc == 0


def test_app_host_reaches_the_db():
    assert can_connect(instance("stack-cache"), address("stack-db"), 5432)


@pytest.mark.parametrize(("source", "target", "port"),
                         [("stack-web", "stack-db", 5432), ("stack-web", "stack-cache", 6379),
                          ("stack-db", "stack-cache", 6379)])
def test_other_hosts_are_refused(source, target, port):
    assert not can_connect(instance(source), address(target), port)


def serving_web_container(app) -> str:
    return app.check_output("docker ps --filter label=apranova_role=web --format '{{.Names}}' | head -1")


def serving_port(app) -> str:
    return app.check_output("docker ps --filter label=apranova_role=web --format '{{.Label \"apranova_port\"}}' | head -1")


def test_web_host_proxies_to_the_app_hosts_private_address():
    web, app = instance("stack-web"), instance("stack-cache")
    port = serving_port(app)
    # nginx's upstream lists the app host's private address and serving port, written by the nginx role.
    upstream = web.check_output("nginx -T 2>/dev/null | grep -A3 '^upstream apranova_app'; cat /etc/nginx/upstreams/apranova/*.conf")
    assert f"server {address('stack-cache')}:{port};" in upstream, upstream
    assert not web.file("/etc/nginx/upstreams/apranova/_default.conf").exists
    # gunicorn listens there, not on every address.
    listening = [line.split()[3] for line in app.check_output(f"ss -Htln 'sport = :{port}'").splitlines()]
    assert listening == [f"{address('stack-cache')}:{port}"], listening
    assert web.check_output(f"curl -fsS --max-time 5 http://{address('stack-cache')}:{port}/healthz")


def test_app_ports_are_refused_by_the_firewall_to_other_hosts():
    db, app = instance("stack-db"), instance("stack-cache")
    port, target = serving_port(app), address("stack-cache")
    # The route is there (the db host reaches the app host's SSH), and the port serves the web
    # host (test above): a failed connection from the db host is the firewall's drop.
    assert can_connect(db, target, 22)
    assert not can_connect(db, target, int(port))
    rules = app.check_output("nft list chain inet host_firewall input")
    web = re.escape(address("stack-web"))
    assert re.search(rf"ip saddr {{?\s*{web}(/32)?\s*}}? tcp dport {port} accept", rules), rules


@pytest.mark.parametrize(("target", "port"), [("stack-db", 5432), ("stack-cache", 6379)])
def test_the_docker_host_is_refused(target, port):
    with pytest.raises(OSError):
        socket.create_connection((address(target), port), timeout=3).close()


def test_app_uses_the_db_host():
    env = instance("stack-cache").file("/etc/apranova/app.env").content_string
    assert f"@{address('stack-db')}:5432/apranova?sslmode=require" in env
    assert "@127.0.0.1:6379/" in env


def test_app_connections_to_the_db_are_encrypted():
    # The serving release's own connection, opened with its settings, as the db host sees it
    # (counting the app's open connections instead depended on how recently a request came).
    app, db = instance("stack-cache"), instance("stack-db")
    web = serving_web_container(app)
    seen = app.check_output(
        f"docker exec {web} python3 manage.py shell -c \"from django.db import connection; c = connection.cursor(); "
        "c.execute('SELECT ssl, client_addr FROM pg_stat_ssl JOIN pg_stat_activity USING (pid) WHERE pid = pg_backend_pid()'); "
        "print(*c.fetchone())\"")
    # (Django's shell may first say how many objects it imported.)
    assert seen.splitlines()[-1].split() == ["True", address("stack-cache")], seen
    # And every connection the app has open now.
    encrypted = db.check_output(
        "runuser -u postgres -- psql -XAtc \"SELECT count(*) FILTER (WHERE s.ssl), count(*) FROM pg_stat_ssl s "
        "JOIN pg_stat_activity a USING (pid) WHERE a.usename = 'apranova'\"")
    with_tls, total = map(int, encrypted.split("|"))
    assert with_tls == total, encrypted


def test_backups_go_to_the_backup_host_over_sftp():
    db, backup = instance("stack-db"), instance("stack-cache")
    env = db.file("/etc/apranova-backup/restic.env").content_string
    assert f"RESTIC_REPOSITORY=sftp:restic@{address('stack-cache')}:/srv/restic/molecule/stack-db" in env
    db.check_output("systemctl start apranova-backup.service")
    # The repository is on the backup host, owned by its account, and not on the db host.
    assert backup.file("/srv/restic/molecule/stack-db/config").user == "restic"
    assert not db.file("/var/backups/restic").exists
    snapshots = db.check_output("apranova-backup restic snapshots --json --host stack-db")
    assert '"hostname":"stack-db"' in snapshots.replace(" ", "")


def test_backup_key_runs_sftp_only():
    db = instance("stack-db")
    # Asked for a shell command, the account runs sftp-server instead: the command never runs.
    out = db.run(f"ssh restic@{address('stack-cache')} 'echo shell-ran' </dev/null")
    assert "shell-ran" not in out.stdout
    # The server's host key was pinned, not learnt on first use.
    assert "ssh-ed25519" in db.file("/etc/apranova-backup/known_hosts").content_string
    assert db.run(f"ssh -o StrictHostKeyChecking=yes -o UserKnownHostsFile=/dev/null restic@{address('stack-cache')} true").rc != 0


def test_web_host_apart_serves_static_files_and_downloads():
    web = instance("stack-web")
    assert not web.file("/srv/apranova/static/admin").exists
    site = "apranova.stack.test"
    web.check_output("test -s /tmp/pebble-root.pem || curl -fsS --cacert /etc/pebble/listener.crt "
                     "https://localhost:15000/roots/0 -o /tmp/pebble-root.pem")
    out = web.check_output(f"curl -sS --cacert /tmp/pebble-root.pem --max-time 20 --resolve {site}:443:127.0.0.1 "
                           f"-o /dev/null -w '%{{http_code}} %{{content_type}}' https://{site}/static/admin/css/base.css")
    assert out.startswith("200 text/css"), out
