"""db and cache are reachable from the app host only."""

from __future__ import annotations

import os
import socket

import pytest
import testinfra


def instance(name: str):
    # The folder: the scenario's group_vars are linked beside the inventory file.
    return testinfra.get_host(f"ansible://{name}", ansible_inventory=os.path.dirname(os.environ["MOLECULE_INVENTORY_FILE"]))


def address(name: str) -> str:
    return instance(name).check_output("hostname -I").split()[0]


def can_connect(host, ip: str, port: int) -> bool:
    return host.run(f"timeout 3 bash -c '</dev/tcp/{ip}/{port}'").rc == 0


@pytest.mark.parametrize(("target", "port"), [("stack-db", 5432), ("stack-cache", 6379)])
def test_app_host_reaches_db_and_cache(target, port):
    web = instance("stack-web")
    assert can_connect(web, address(target), port)


@pytest.mark.parametrize(("source", "target", "port"),
                         [("stack-cache", "stack-db", 5432), ("stack-db", "stack-cache", 6379)])
def test_other_hosts_are_refused(source, target, port):
    assert not can_connect(instance(source), address(target), port)


@pytest.mark.parametrize(("target", "port"), [("stack-db", 5432), ("stack-cache", 6379)])
def test_the_docker_host_is_refused(target, port):
    with pytest.raises(OSError):
        socket.create_connection((address(target), port), timeout=3).close()


def test_app_uses_the_db_host():
    env = instance("stack-web").file("/etc/apranova/app.env").content_string
    assert f"@{address('stack-db')}:5432/apranova?sslmode=require" in env
    assert f"@{address('stack-cache')}:6379/" in env


def test_app_connections_to_the_db_are_encrypted():
    db = instance("stack-db")
    encrypted = db.check_output(
        "runuser -u postgres -- psql -XAtc \"SELECT count(*) FILTER (WHERE s.ssl), count(*) FROM pg_stat_ssl s "
        "JOIN pg_stat_activity a USING (pid) WHERE a.usename = 'apranova'\"")
    with_tls, total = map(int, encrypted.split("|"))
    assert total > 0 and with_tls == total


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
