"""db and cache are reachable from the app host only, over verified TLS, and the app from the web host only."""

from __future__ import annotations

import json
import re
import socket

import pytest
from conftest import instance, private_address as address  # the repository's conftest.py


def can_connect(host, ip: str, port: int) -> bool:
    return host.run(f"timeout 3 bash -c '</dev/tcp/{ip}/{port}'").rc == 0


@pytest.mark.parametrize("port", [5432, 6379, 8333])
def test_app_host_reaches_the_db_cache_and_storage(port):
    assert can_connect(instance("stack-app"), address("stack-db"), port)


@pytest.mark.parametrize(("source", "target", "port"),
                         [("stack-web", "stack-db", 5432), ("stack-web", "stack-db", 6379), ("stack-web", "stack-db", 8333)])
def test_other_hosts_are_refused(source, target, port):
    assert not can_connect(instance(source), address(target), port)


def serving_web_container(app) -> str:
    return app.check_output("docker ps --filter label=apranova_role=web --format '{{.Names}}' | head -1")


def serving_port(app) -> str:
    return app.check_output("docker ps --filter label=apranova_role=web --format '{{.Label \"apranova_port\"}}' | head -1")


def test_web_host_proxies_to_the_app_hosts_private_address():
    web, app = instance("stack-web"), instance("stack-app")
    port = serving_port(app)
    # nginx's upstream lists the app host's private address and serving port, written by the nginx role.
    upstream = web.check_output("nginx -T 2>/dev/null | grep -A3 '^upstream apranova_app'; cat /etc/nginx/upstreams/apranova/*.conf")
    assert f"server {address('stack-app')}:{port};" in upstream, upstream
    assert not web.file("/etc/nginx/upstreams/apranova/_default.conf").exists
    # gunicorn listens there, not on every address.
    listening = [line.split()[3] for line in app.check_output(f"ss -Htln 'sport = :{port}'").splitlines()]
    assert listening == [f"{address('stack-app')}:{port}"], listening
    assert web.check_output(f"curl -fsS --max-time 5 http://{address('stack-app')}:{port}/healthz")


def test_app_ports_are_refused_by_the_firewall_to_other_hosts():
    db, app = instance("stack-db"), instance("stack-app")
    port, target = serving_port(app), address("stack-app")
    # The route is there (the db host reaches the app host's SSH), and the port serves the web
    # host (test above): a failed connection from the db host is the firewall's drop.
    assert can_connect(db, target, 22)
    assert not can_connect(db, target, int(port))
    rules = app.check_output("nft list chain inet host_firewall input")
    web = re.escape(address("stack-web"))
    assert re.search(rf"ip saddr {{?\s*{web}(/32)?\s*}}? tcp dport {port} accept", rules), rules


@pytest.mark.parametrize(("target", "port"), [("stack-db", 5432), ("stack-db", 6379), ("stack-db", 8333)])
def test_the_docker_host_is_refused(target, port):
    with pytest.raises(OSError):
        socket.create_connection((address(target), port), timeout=3).close()


def test_app_uses_the_db_and_cache_host_over_verified_tls():
    env = instance("stack-app").file("/etc/apranova/app.env").content_string
    db = address("stack-db")
    assert f"@{db}:5432/apranova?sslmode=verify-full&sslrootcert=/run/tls/internal-ca.crt\n" in env, env
    assert f"REDIS_URL=rediss://apranova@{db}:6379/0?ssl_cert_reqs=required&ssl_ca_certs=/run/tls/internal-ca.crt" in env, env


# Run in the serving web container, with the release's own settings: what the app's clients
# accept and refuse. Each probe prints "name: outcome"; the last line is JSON.
TLS_PROBES = r"""
import json, psycopg, redis
from django.conf import settings
from urllib.parse import urlsplit

out = {}
def probe(name, connect):
    try:
        connect()
        out[name] = "connected"
    except Exception as error:
        out[name] = f"{type(error).__name__}: {error}"

db = settings.DATABASES["default"]
redis_url = settings.REDIS_URL
public_cas = "/etc/ssl/certs/ca-certificates.crt"  # another CA: the public ones the image trusts
def pg(**kwargs):
    options = dict(dbname=db["NAME"], user=db["USER"], password=db["PASSWORD"], host=db["HOST"], port=db["PORT"],
                   sslmode="verify-full", sslrootcert="/run/tls/internal-ca.crt", connect_timeout=5)
    options.update(kwargs)
    psycopg.connect(**options).execute("SELECT 1").fetchone()

probe("pg_internal_ca", pg)
probe("pg_other_ca", lambda: pg(sslrootcert=public_cas))
# The db host's address under a name its certificate does not hold: verify-full checks the name.
probe("pg_wrong_name", lambda: pg(host="db.elsewhere.test", hostaddr=db["HOST"]))
probe("redis_internal_ca", lambda: redis.Redis.from_url(redis_url, socket_timeout=5).ping())
probe("redis_other_ca", lambda: redis.Redis.from_url(redis_url.replace("/run/tls/internal-ca.crt", public_cas), socket_timeout=5).ping())
plain = "redis" + redis_url[len("rediss"):].split("?")[0]
probe("redis_plain", lambda: redis.Redis.from_url(plain, socket_timeout=5).ping())

# The bucket of APROVOVA, through the app's own S3 client settings.
from core import report_store
endpoint, bucket = settings.APROVOVA_S3_ENDPOINT_URL, settings.APROVOVA_S3_BUCKET
def s3(url=endpoint, ca="/run/tls/internal-ca.crt", secret=settings.APROVOVA_S3_SECRET_ACCESS_KEY):
    client = report_store._client_for(url, settings.APROVOVA_S3_REGION, settings.APROVOVA_S3_ACCESS_KEY_ID, secret, ca)
    client.head_bucket(Bucket=bucket)
probe("s3_internal_ca", s3)
probe("s3_other_ca", lambda: s3(ca=public_cas))
probe("s3_plain", lambda: s3(url=endpoint.replace("https://", "http://")))
probe("s3_wrong_secret", lambda: s3(secret="not-the-secret-key-of-the-app"))
print(json.dumps(out))
"""


def test_app_verifies_the_db_and_cache_certificates_and_refuses_others():
    app = instance("stack-app")
    web = serving_web_container(app)
    seen = app.check_output(f"docker exec -i {web} python3 manage.py shell <<'EOF'\n{TLS_PROBES}\nEOF")
    result = json.loads(seen.splitlines()[-1])
    print("TLS probes from the app:", json.dumps(result, indent=1))
    assert result["pg_internal_ca"] == "connected"
    assert result["redis_internal_ca"] == "connected"
    assert "certificate verify failed" in result["pg_other_ca"], result
    assert "does not match host name" in result["pg_wrong_name"], result
    assert "certificate verify failed" in result["redis_other_ca"], result
    assert result["redis_plain"] != "connected", result
    assert result["s3_internal_ca"] == "connected"
    assert "CERTIFICATE_VERIFY_FAILED" in result["s3_other_ca"], result
    assert result["s3_plain"] != "connected", result
    assert "403" in result["s3_wrong_secret"], result


def test_db_and_cache_serve_the_certificate_the_ca_signed():
    db = instance("stack-db")
    cert = db.check_output("openssl x509 -in /etc/ssl/apranova/server.crt -noout -issuer -ext subjectAltName")
    assert "Apra Nova molecule internal CA" in cert and f"IP Address:{address('stack-db')}" in cert, cert
    assert db.check_output("openssl verify -CAfile /etc/ssl/apranova/ca.crt /etc/ssl/apranova/server.crt").endswith("OK")
    key = db.file("/etc/ssl/apranova/server.key")
    assert (key.user, key.group, key.mode) == ("root", "ssl-cert", 0o640)
    # Redis speaks TLS only, PostgreSQL serves the same certificate.
    assert db.check_output("timeout 5 redis-cli --no-auth-warning -h 127.0.0.1 PING 2>&1 || true") != "PONG"
    served = db.check_output(
        "runuser -u postgres -- psql -XAtc 'SHOW ssl_cert_file'; "
        "redis-cli --tls --cacert /etc/ssl/apranova/ca.crt -h 127.0.0.1 --no-auth-warning PING")
    assert served.splitlines()[0] == "/etc/ssl/apranova/server.crt", served
    assert "NOAUTH" in served.splitlines()[-1], served  # TLS accepted; the default user stays off


def test_app_connections_to_the_db_are_encrypted():
    # The serving release's own connection, opened with its settings, as the db host sees it
    # (counting the app's open connections instead depended on how recently a request came).
    app, db = instance("stack-app"), instance("stack-db")
    web = serving_web_container(app)
    seen = app.check_output(
        f"docker exec {web} python3 manage.py shell -c \"from django.db import connection; c = connection.cursor(); "
        "c.execute('SELECT ssl, client_addr FROM pg_stat_ssl JOIN pg_stat_activity USING (pid) WHERE pid = pg_backend_pid()'); "
        "print(*c.fetchone())\"")
    # (Django's shell may first say how many objects it imported.)
    assert seen.splitlines()[-1].split() == ["True", address("stack-app")], seen
    # And every connection the app has open now.
    encrypted = db.check_output(
        "runuser -u postgres -- psql -XAtc \"SELECT count(*) FILTER (WHERE s.ssl), count(*) FROM pg_stat_ssl s "
        "JOIN pg_stat_activity a USING (pid) WHERE a.usename = 'apranova'\"")
    with_tls, total = map(int, encrypted.split("|"))
    assert with_tls == total, encrypted


def test_backups_go_to_the_backup_host_over_sftp():
    db, backup = instance("stack-db"), instance("stack-app")
    env = db.file("/etc/apranova-backup/restic.env").content_string
    assert f"RESTIC_REPOSITORY=sftp:restic@{address('stack-app')}:/srv/restic/molecule/stack-db" in env
    db.check_output("systemctl start apranova-backup.service")
    # The repository is on the backup host, owned by its account, and not on the db host.
    assert backup.file("/srv/restic/molecule/stack-db/config").user == "restic"
    assert not db.file("/var/backups/restic").exists
    snapshots = db.check_output("apranova-backup restic snapshots --json --host stack-db")
    assert '"hostname":"stack-db"' in snapshots.replace(" ", "")


def test_backup_key_runs_sftp_only():
    db = instance("stack-db")
    # Asked for a shell command, the account runs sftp-server instead: the command never runs.
    out = db.run(f"ssh restic@{address('stack-app')} 'echo shell-ran' </dev/null")
    assert "shell-ran" not in out.stdout
    # The server's host key was pinned, not learnt on first use.
    assert "ssh-ed25519" in db.file("/etc/apranova-backup/known_hosts").content_string
    assert db.run(f"ssh -o StrictHostKeyChecking=yes -o UserKnownHostsFile=/dev/null restic@{address('stack-app')} true").rc != 0


def test_web_host_apart_serves_static_files_and_downloads():
    web = instance("stack-web")
    assert not web.file("/srv/apranova/static/admin").exists
    site = "apranova.stack.test"
    web.check_output("test -s /tmp/pebble-root.pem || curl -fsS --cacert /etc/pebble/listener.crt "
                     "https://localhost:15000/roots/0 -o /tmp/pebble-root.pem")
    out = web.check_output(f"curl -sS --cacert /tmp/pebble-root.pem --max-time 20 --resolve {site}:443:127.0.0.1 "
                           f"-o /dev/null -w '%{{http_code}} %{{content_type}}' https://{site}/static/admin/css/base.css")
    assert out.startswith("200 text/css"), out
