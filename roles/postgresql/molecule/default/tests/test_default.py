"""The postgresql role: real logins over TCP, SCRAM, pg_hba rules, settings, crash restart, refusals."""

import json
import shlex
import time

import pytest

APP_PASSWORD = "molecule-app-Pa55"
REPORT_PASSWORD = "molecule-report-Pa55"
VERSIONS = {"12": "15", "13": "17"}


@pytest.fixture(scope="module")
def version(host):
    return VERSIONS[host.system_info.release.split(".")[0]]


def superuser(host, sql, db="postgres"):
    """Run SQL as the postgres superuser over the local socket (peer)."""
    return host.run(f"runuser -u postgres -- psql -X -v ON_ERROR_STOP=1 -d {db} -Atc {shlex.quote(sql)}")


def as_user(host, user, password, sql, address="127.0.0.1", db="app"):
    """Run SQL over TCP as a created user, with a password."""
    return host.run(
        f"PGPASSWORD={shlex.quote(password)} psql -X -v ON_ERROR_STOP=1 -h {address} -p 5432 "
        f"-U {user} -d {db} -Atc {shlex.quote(sql)}"
    )


def postmaster_pid(host, version):
    return host.check_output(f"head -1 /var/lib/postgresql/{version}/main/postmaster.pid")


def wait_until_answering(host, timeout=60):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if superuser(host, "SELECT 1").stdout.strip() == "1":
            return True
        time.sleep(1)
    return False


def test_cluster_runs_and_starts_at_boot(host, version):
    assert host.service(f"postgresql@{version}-main").is_running
    assert host.service(f"postgresql@{version}-main").is_enabled
    assert host.service("postgresql").is_enabled
    assert superuser(host, "SHOW server_version").stdout.startswith(f"{version}.")


def test_app_user_writes_and_reads_over_tcp(host):
    result = as_user(
        host, "app", APP_PASSWORD,
        "DROP TABLE IF EXISTS probe; CREATE TABLE probe (id int, note text); "
        "INSERT INTO probe VALUES (1, 'written over tcp'); SELECT note FROM probe WHERE id = 1",
    )
    assert result.rc == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == "written over tcp"
    # The connection really came over TCP.
    peer = as_user(host, "app", APP_PASSWORD, "SELECT inet_client_addr()")
    assert peer.stdout.strip() == "127.0.0.1"


def test_wrong_password_is_refused(host):
    result = as_user(host, "app", "not-the-password", "SELECT 1")
    assert result.rc != 0
    assert "password authentication failed" in result.stderr


def test_passwords_are_stored_as_scram(host):
    rows = superuser(host, "SELECT rolname || ' ' || rolpassword FROM pg_authid WHERE rolname IN ('app', 'reporter')")
    stored = dict(line.split(" ", 1) for line in rows.stdout.split("\n") if line)
    assert set(stored) == {"app", "reporter"}
    assert all(value.startswith("SCRAM-SHA-256$") for value in stored.values())
    assert superuser(host, "SHOW password_encryption").stdout.strip() == "scram-sha-256"


def test_hba_rules_as_the_server_reads_them(host):
    rows = superuser(
        host, "SELECT type || ' ' || array_to_string(database, ',') || ' ' || array_to_string(user_name, ',') "
        "|| ' ' || coalesce(address, '-') || ' ' || auth_method || ' ' || coalesce(error, 'ok') FROM pg_hba_file_rules "
        "ORDER BY line_number",
    ).stdout.splitlines()
    assert rows, "pg_hba_file_rules returned nothing"
    assert rows[0] == "local all postgres - peer ok"
    assert all(row.endswith(" ok") for row in rows), rows
    methods = {row.split()[-2] for row in rows}
    assert "trust" not in methods
    assert methods <= {"peer", "scram-sha-256", "reject"}
    # Peer is for the postgres user only; everyone else needs a SCRAM password.
    assert {row.split()[2] for row in rows if row.split()[-2] == "peer"} == {"postgres"}
    assert "host app reporter 192.0.2.10 reject ok" in rows


def test_listens_on_exactly_the_configured_addresses(host):
    assert superuser(host, "SHOW listen_addresses").stdout.strip() == "localhost,192.0.2.10"
    assert host.socket("tcp://127.0.0.1:5432").is_listening
    assert host.socket("tcp://192.0.2.10:5432").is_listening
    assert not host.socket("tcp://0.0.0.0:5432").is_listening
    listeners = host.check_output("ss -Htln 'sport = :5432'")
    assert "*:5432" not in listeners and "0.0.0.0:5432" not in listeners


def test_extra_hba_rules_apply(host):
    app = as_user(host, "app", APP_PASSWORD, "SELECT inet_client_addr()", address="192.0.2.10")
    assert app.rc == 0, app.stderr
    assert app.stdout.strip() == "192.0.2.10"
    reporter = as_user(host, "reporter", REPORT_PASSWORD, "SELECT 1", address="192.0.2.10")
    assert reporter.rc != 0
    assert "pg_hba.conf rejects connection" in reporter.stderr
    # The same user with the same password is let in from localhost.
    assert as_user(host, "reporter", REPORT_PASSWORD, "SELECT 1").stdout.strip() == "1"


def test_privileges_from_the_lists(host):
    created = as_user(
        host, "app", APP_PASSWORD,
        "DROP TABLE IF EXISTS shared_report; CREATE TABLE shared_report (n int); INSERT INTO shared_report VALUES (42)",
    )
    assert created.rc == 0, created.stderr
    # Default privileges let reporter read what app creates, and nothing more.
    read = as_user(host, "reporter", REPORT_PASSWORD, "SELECT n FROM shared_report")
    assert read.rc == 0, read.stderr
    assert read.stdout.strip() == "42"
    write = as_user(host, "reporter", REPORT_PASSWORD, "INSERT INTO shared_report VALUES (1)")
    assert write.rc != 0
    assert "permission denied" in write.stderr
    # app owns the database and holds ALL on it.
    owner = superuser(host, "SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = 'app'")
    assert owner.stdout.strip() == "app"


def test_extension_works(host):
    result = as_user(host, "app", APP_PASSWORD, "SELECT encode(digest('abc', 'sha256'), 'hex')")
    assert result.rc == 0, result.stderr
    assert result.stdout.strip() == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"


def test_memory_settings_derived_from_ram_or_overridden(host):
    memtotal_mb = int(host.check_output("awk '/^MemTotal:/ {print $2}' /proc/meminfo")) // 1024
    rows = superuser(
        host, "SELECT name || ' ' || setting || ' ' || coalesce(unit, '') FROM pg_settings WHERE name IN "
        "('shared_buffers', 'effective_cache_size', 'maintenance_work_mem', 'work_mem', 'max_connections')",
    ).stdout.splitlines()
    settings = {name: (int(value), unit) for name, value, unit in (row.split(" ") for row in rows)}
    assert settings["shared_buffers"] == (256 * 1024 // 8, "8kB")  # overridden: 256MB
    assert settings["effective_cache_size"] == (max(int(memtotal_mb * 0.75), 256) * 1024 // 8, "8kB")
    assert settings["maintenance_work_mem"] == (min(max(memtotal_mb // 16, 64), 2048) * 1024, "kB")
    work_mem_mb = max(int(memtotal_mb * 0.75 / (settings["max_connections"][0] * 3)), 4)
    assert settings["work_mem"] == (work_mem_mb * 1024, "kB")
    duration = superuser(host, "SHOW log_min_duration_statement").stdout.strip()
    assert duration == "500ms"


def test_killed_postmaster_comes_back(host, version):
    before = postmaster_pid(host, version)
    host.run_test(f"kill -9 {before}")
    deadline = time.time() + 90
    after = None
    while time.time() < deadline:
        pid = host.run(f"head -1 /var/lib/postgresql/{version}/main/postmaster.pid").stdout.strip()
        if (
            pid
            and pid != before
            and host.run(f"systemctl is-active postgresql@{version}-main").stdout.strip() == "active"
            and superuser(host, "SELECT 1").stdout.strip() == "1"
        ):
            after = pid
            break
        time.sleep(2)
    assert after, "the cluster did not come back after its postmaster was killed"
    assert host.service(f"postgresql@{version}-main").is_running
    assert as_user(host, "app", APP_PASSWORD, "SELECT 1").stdout.strip() == "1"


def test_reload_or_restart_as_the_setting_needs(host, version, run_playbook):
    pid = postmaster_pid(host, version)
    reload_only = run_playbook("converge.yml", "--tags", "postgresql-config", "--extra-vars", "postgresql_work_mem=7MB")
    assert reload_only.returncode == 0, reload_only.stdout[-3000:]
    assert superuser(host, "SHOW work_mem").stdout.strip() == "7MB"
    assert postmaster_pid(host, version) == pid, "a reloadable setting restarted the server"

    restart = run_playbook(
        "converge.yml", "--tags", "postgresql-config", "--extra-vars", "postgresql_work_mem=7MB postgresql_max_connections=120"
    )
    assert restart.returncode == 0, restart.stdout[-3000:]
    assert superuser(host, "SHOW max_connections").stdout.strip() == "120"
    assert postmaster_pid(host, version) != pid, "max_connections changed without a restart"
    assert superuser(host, "SELECT count(*) FROM pg_settings WHERE pending_restart").stdout.strip() == "0"

    back = run_playbook("converge.yml", "--tags", "postgresql-config")
    assert back.returncode == 0, back.stdout[-3000:]
    assert superuser(host, "SHOW max_connections").stdout.strip() == "100"
    assert wait_until_answering(host)


@pytest.mark.parametrize(
    ("extra_vars", "message"),
    [
        ('{"postgresql_version": "9"}', "postgresql_version '9' is not a version this role supports"),
        ('{"postgresql_version": "16"}', "PostgreSQL 16 is not in Debian"),
        ('{"postgresql_port": 70000}', "postgresql_port is 70000: set it to a TCP port between 1 and 65535"),
        ('{"postgresql_users": [{"name": "app", "password": ""}]}', "Set a non-empty password"),
        ('{"postgresql_listen_addresses": ["*"]}', "a wildcard"),
        ('{"postgresql_hba_entries": [{"type": "host", "address": "10.1.2.3/32", "method": "trust"}]}',
         "must be one of: scram-sha-256, peer, reject, got: trust"),
        ('{"postgresql_pgdg_enabled": true}', "postgresql_pgdg_enabled needs postgresql_pgdg_url"),
        # Each pg_hba.conf rule is checked on its own, and the message names it.
        ('{"postgresql_hba_entries": [{"database": "app", "address": "10.1.2.0/33"}]}',
         "is refused: address 10.1.2.0/33 is not a CIDR network"),
        ('{"postgresql_hba_entries": [{"address": "10.1.2.3/32"}, {"user": "app #x", "address": "10.1.2.3/32"}]}',
         "postgresql_hba_entries[1]"),
    ],
)
def test_refuses_bad_input(host, version, refused, extra_vars, message):
    conf = f"/etc/postgresql/{version}/main/conf.d/50-tuning.conf"
    before = host.file(conf).md5sum
    output = refused("refuse.yml", "--extra-vars", extra_vars)
    assert message in output
    assert host.file(conf).md5sum == before
    assert "molecule-app-Pa55" not in output


def test_pgdg_source_rendered_with_pinned_key(host, run_playbook):
    try:
        result = run_playbook("pgdg.yml", "--tags", "postgresql-repo")
        assert result.returncode == 0, result.stdout[-3000:]
        source = host.file("/etc/apt/sources.list.d/postgresql-pgdg.sources").content_string
        assert "Signed-By: /etc/apt/keyrings/postgresql-pgdg.asc" in source
        # apt itself parses the deb822 source: what it would fetch, without fetching.
        uris = host.check_output("apt-get update --print-uris")
        codename = host.system_info.codename
        assert f"http://pgdg.test.invalid/pub/repos/apt/dists/{codename}-pgdg/InRelease" in uris
        keys = host.check_output("gpg --show-keys --with-colons /etc/apt/keyrings/postgresql-pgdg.asc")
        assert "fpr:::::::::B97B0AFCAA1A47F044F244A07FCC7D46ACCC4CF8:" in keys
        pin = host.file("/etc/apt/preferences.d/postgresql-pgdg.pref").content_string
        assert 'Pin: origin "pgdg.test.invalid"' in pin

        wrong_key = run_playbook(
            "pgdg.yml", "--tags", "postgresql-repo", "--extra-vars",
            "postgresql_pgdg_key_fingerprint=0000000000000000000000000000000000000000",
            # The test source above is unreachable: keep apt from refreshing its lists.
            "--extra-vars", "postgresql_apt_cache_valid_time=86400000",
        )
        assert wrong_key.returncode != 0
        assert "refusing to trust it" in " ".join((wrong_key.stdout + wrong_key.stderr).split())
    finally:
        # Converging with PGDG disabled removes the source again.
        cleanup = run_playbook("converge.yml", "--tags", "postgresql-repo")
    assert cleanup.returncode == 0, cleanup.stdout[-3000:]
    assert not host.file("/etc/apt/sources.list.d/postgresql-pgdg.sources").exists
    assert not host.file("/etc/apt/keyrings/postgresql-pgdg.asc").exists


# Shapes the role's own checks accept but PostgreSQL refuses: the rendered candidate is
# checked by PostgreSQL's parser and never replaces the live file.
BAD_CANDIDATES = [
    pytest.param(
        "pg_hba.conf",
        {"postgresql_hba_entries": [
            {"type": "host", "database": "app", "user": "reporter", "address": "192.0.2.10/32", "method": "reject"},
            {"type": "host", "database": "app", "user": "app", "address": "192.0.2.10/32"},
            {"type": "host", "database": "app", "user": "app", "address": "10.9.8.0/24", "options": {"no_such_option": "1"}},
        ]},
        'unrecognized authentication option name: "no_such_option"',
        id="hba-option",
    ),
    pytest.param(
        "conf.d/50-tuning.conf",
        {"postgresql_settings": {"log_min_duration_statement": "500ms", "shared_buffers": "lots"}},
        'invalid value for parameter "shared_buffers": "lots"',
        id="settings-value",
    ),
]


def server_state(host, version, path):
    """What a refused file must leave alone: the live file, the postmaster, the loaded configuration."""
    return {
        "checksum": host.file(f"/etc/postgresql/{version}/main/{path}").sha256sum,
        "postmaster": postmaster_pid(host, version),
        "loaded": superuser(host, "SELECT pg_conf_load_time()").stdout.strip(),
    }


@pytest.mark.parametrize(("path", "extra_vars", "message"), BAD_CANDIDATES)
def test_rejected_candidate_never_goes_live(host, version, refused, path, extra_vars, message):
    before = server_state(host, version, path)
    # Only the configuration's tasks (and the checks tagged always): a whole converge per case is slow.
    output = refused("converge.yml", "--tags", "postgresql-config", "--extra-vars", json.dumps(extra_vars))
    assert message in output
    assert f"rejects the candidate /etc/postgresql/{version}/main/{path}, so the live file is unchanged" in output
    assert server_state(host, version, path) == before, "the refused file reached the server"
    assert superuser(host, "SELECT count(*) FROM pg_hba_file_rules WHERE error IS NOT NULL").stdout.strip() == "0"
    assert as_user(host, "app", APP_PASSWORD, "SELECT 1").stdout.strip() == "1"
    # The checks leave nothing behind.
    assert host.run("ls -d /tmp/postgresql-check.*").rc != 0


def test_file_that_passed_is_loaded_when_the_next_is_rejected(host, version, run_playbook):
    hba = f"/etc/postgresql/{version}/main/pg_hba.conf"
    before = host.file(hba).sha256sum
    pid = postmaster_pid(host, version)
    try:
        result = run_playbook("converge.yml", "--tags", "postgresql-config", "--extra-vars", json.dumps({
            "postgresql_work_mem": "6MB",
            "postgresql_hba_entries": [{"type": "host", "database": "app", "user": "app", "address": "fe80:::1/64"}],
        }))
        assert result.returncode != 0, result.stdout[-3000:]
        # conf.d passed and went live, so it was loaded (a reload: same postmaster);
        # pg_hba.conf was refused and stays as it was.
        assert superuser(host, "SHOW work_mem").stdout.strip() == "6MB"
        assert postmaster_pid(host, version) == pid
        assert host.file(hba).sha256sum == before
    finally:
        back = run_playbook("converge.yml", "--tags", "postgresql-config")
    assert back.returncode == 0, back.stdout[-3000:]
    assert postmaster_pid(host, version) == pid
