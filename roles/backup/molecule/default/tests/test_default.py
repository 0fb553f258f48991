"""The backup role: real snapshots taken, restored, pruned, checked, and failures that show.

The tests run in file order and share one instance: the restore drill, S3, retention and
the full-target fault each switch the repository with a converge and switch it back.
"""

from __future__ import annotations

import json
import os
import re
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from conftest import app_database_state, flat_output as flat  # the repository's conftest.py (the verifier's rootdir)

PASSWORD = "molecule-test-repository-password"
REPORTS = "/srv/aprovova"
STATUS = "/var/lib/apranova-backup/status.json"
S3_VARS = json.dumps({
    "backup_restic_repository": "s3:http://127.0.0.1:5000/apranova-backups",
    "backup_s3_access_key_id": "testing",
    "backup_s3_secret_access_key": "testing-secret",
    "backup_s3_region": "us-east-1",
})


def sql(host, db: str, query: str) -> str:
    return host.check_output("cd / && runuser -u postgres -- psql -XAtq -d %s -c %s", db, query)


def restic_json(host, *args: str):
    return json.loads(host.check_output("apranova-backup restic --json " + " ".join(args)))


def converge(run_playbook, extra: str | None = None) -> None:
    result = run_playbook("converge.yml", *(["-e", extra] if extra else []))
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]


def data_state(host) -> dict:
    """The app's database (its own schema, loaded by prepare.yml) table by table and its sequences,
    the ledger, and the checksum of every report file."""
    state = app_database_state(lambda query: sql(host, "apranova", query))
    state["ledger.entries"] = sql(
        host, "ledger", "SELECT count(*) || ' ' || coalesce(md5(string_agg(t::text, '|' ORDER BY t::text)), '-') FROM entries t")
    state["files"] = host.check_output(
        f"cd {REPORTS} && find . -type f -print0 | sort -z | xargs -0 sha256sum")
    return state


@pytest.fixture(scope="module")
def hostname(host) -> str:
    return host.backend.host


@pytest.fixture(scope="module")
def seeded(host) -> dict:
    """Known rows and report files, the same on every run."""
    # The app's own database (migrated by the app, filled by seed_demo) is loaded by prepare.yml.
    assert int(sql(host, "apranova", "SELECT count(*) FROM apranova_payment")) == 5000
    host.check_output(
        "cd / && runuser -u postgres -- psql -Xq -v ON_ERROR_STOP=1 -d ledger -c %s",
        "DROP TABLE IF EXISTS entries; "
        "CREATE TABLE entries (id int PRIMARY KEY, label text); "
        "INSERT INTO entries SELECT i, 'entry ' || i FROM generate_series(1, 300) i; "
        "ALTER TABLE entries OWNER TO apranova;",
    )
    # Enough objects that pg_restore's table of contents takes many pipe writes, as the app's
    # real schema does: a restore that stops reading the listing early dies with SIGPIPE
    # (exit 141) here, which a small schema would never show.
    host.check_output(
        "cd / && runuser -u postgres -- psql -Xq -v ON_ERROR_STOP=1 -d ledger -c %s",
        "DO $$ BEGIN FOR i IN 1..300 LOOP "
        "EXECUTE format('CREATE TABLE IF NOT EXISTS side_table_with_a_long_descriptive_name_%s "
        "(id int PRIMARY KEY, label text)', i); END LOOP; END $$;",
    )
    host.check_output(
        f"set -e; rm -rf {REPORTS}/*; mkdir -p '{REPORTS}/payment_reports/2026 Q1' {REPORTS}/user_reports; "
        f"for i in 1 2 3 4 5; do seq 1 $((i * 2000)) > {REPORTS}/user_reports/users_$i.csv; done; "
        f"head -c 300000 /dev/urandom > '{REPORTS}/payment_reports/2026 Q1/payments.pdf'; "
        f"echo 'total;42' > {REPORTS}/payment_reports/summary.csv; "
        f"chown -R nobody:nogroup {REPORTS}/user_reports"
    )
    return data_state(host)


def test_timers_scheduled_persistent_and_randomized(host):
    for timer, calendar in (("apranova-backup.timer", "02:30:00"), ("apranova-backup-check.timer", "Sun")):
        assert host.service(timer).is_enabled
        assert host.service(timer).is_running
        props = host.check_output(f"systemctl show {timer} -p TimersCalendar -p Persistent -p RandomizedDelayUSec")
        assert calendar in props and "Persistent=yes" in props and "RandomizedDelayUSec=30min" in props
    # The next run is really planned.
    assert "apranova-backup.service" in host.check_output("systemctl list-timers --all --no-pager")


def test_secrets_only_in_root_only_files(host):
    for path in ("/etc/apranova-backup/password", "/etc/apranova-backup/restic.env"):
        f = host.file(path)
        assert f.user == "root" and f.mode == 0o600
    assert host.file("/etc/apranova-backup").mode == 0o700
    leaks = host.run(f"grep -rl {PASSWORD} /etc/systemd/system /usr/local/sbin /etc/apranova-backup/backup.conf")
    assert leaks.stdout == ""
    # Without the password, the repository is unreadable.
    assert host.run("RESTIC_PASSWORD=wrong-password restic -r /var/backups/restic cat config").rc != 0


def test_backup_playbook_takes_one_tagged_snapshot(host, seeded, hostname, run_playbook):
    before = {s["id"] for s in restic_json(host, "snapshots")}
    result = run_playbook("backup.yml")
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    snapshots = restic_json(host, "snapshots")
    # One new snapshot (the daily rule keeps only the newest of a day).
    assert len([s for s in snapshots if s["id"] not in before]) == 1
    latest = snapshots[-1]
    assert latest["id"] not in before
    assert set(latest["tags"]) == {f"host:{hostname}", "env:sandbox"}
    assert latest["hostname"] == hostname
    listing = host.check_output("apranova-backup restic ls latest")
    for path in ("/var/lib/apranova-backup/staging/postgresql/apranova.dump",
                 "/var/lib/apranova-backup/staging/postgresql/ledger.dump",
                 "/var/lib/apranova-backup/staging/postgresql/globals.sql",
                 f"{REPORTS}/payment_reports/2026 Q1/payments.pdf",
                 "/etc/apranova/app.env"):
        assert path in listing
    # The dumps are real custom-format archives of the app's tables.
    toc = host.check_output(
        "apranova-backup restic dump latest /var/lib/apranova-backup/staging/postgresql/apranova.dump "
        "| pg_restore --list")
    assert "TABLE DATA public apranova_payment" in toc
    # The staging copy of the dumps is gone: the secrets stay in the repository only.
    assert not host.file("/var/lib/apranova-backup/staging").exists
    status = json.loads(host.file(STATUS).content_string)
    assert status["result"] == "success"
    assert latest["id"].startswith(status["last_snapshot"])
    assert abs(status["last_success_epoch"] - int(time.time())) < 300
    assert host.file(STATUS).mode == 0o644


def test_restore_refused_without_confirmation(host, seeded, refused):
    assert "Refusing to restore" in refused("restore.yml", "-e", "restore_confirm=yes")
    assert data_state(host) == seeded


def test_restore_refuses_an_unknown_snapshot_or_an_unreadable_repository(host, seeded, hostname, refused):
    confirm = ("-e", f"restore_confirm=yes-restore-{hostname}")
    out = refused("restore.yml", *confirm, "-e", "restore_snapshot=deadbeef", unchanged=False)
    assert "no snapshot 'deadbeef'" in out
    host.check_output("cp -p /etc/apranova-backup/restic.env /root/restic.env.local && sed -i "
                      "'s|^RESTIC_REPOSITORY=.*|RESTIC_REPOSITORY=/nonexistent/repository|' /etc/apranova-backup/restic.env")
    try:
        out = refused("restore.yml", *confirm, unchanged=False)
        assert "cannot read the repository /nonexistent/repository" in out and "nothing was changed" in out
    finally:
        host.run("cp -p /root/restic.env.local /etc/apranova-backup/restic.env")
    assert data_state(host) == seeded
    assert not host.file("/srv/apranova/maintenance.flag").exists


def test_restore_drill(host, seeded, hostname, run_playbook):
    """Drop a database, change the other, delete the reports; restore; everything is back."""
    host.check_output("cd / && runuser -u postgres -- dropdb apranova")
    sql(host, "ledger", "UPDATE entries SET label = 'changed after the backup' WHERE id = 1")
    host.check_output(f"rm -rf {REPORTS}/payment_reports {REPORTS}/user_reports/users_1.csv")
    host.check_output(f"echo new > {REPORTS}/made_after_the_backup.txt")

    result = run_playbook("restore.yml", "-e", f"restore_confirm=yes-restore-{hostname}")
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "maintenance flag /srv/apranova/maintenance.flag set" in flat(result)
    assert not host.file("/srv/apranova/maintenance.flag").exists

    # Files made after the snapshot stay unless asked: compare without that one.
    host.check_output(f"rm {REPORTS}/made_after_the_backup.txt")
    assert data_state(host) == seeded
    # The app's role owns the restored data and can read it.
    owner = sql(host, "apranova", "SELECT tableowner FROM pg_tables WHERE tablename = 'apranova_payment'")
    assert owner == "apranova"
    assert host.check_output("stat -c %U /srv/aprovova/user_reports/users_1.csv") == "nobody"
    as_app = host.check_output(
        "PGPASSWORD=app-password psql -XAtq -h 127.0.0.1 -U apranova -d apranova -c %s",
        "SELECT count(*), has_sequence_privilege('apranova_invoice_number_seq', 'USAGE') FROM apranova_payment")
    assert as_app == "5000|t"  # the app's role reads its tables and may number invoices
    # The ledger that existed was swapped out, not dropped: its changed row is kept.
    kept = sql(host, "postgres", "SELECT datname FROM pg_database WHERE datname LIKE 'ledger_pre_restore_%'")
    assert kept
    assert sql(host, kept.splitlines()[0], "SELECT label FROM entries WHERE id = 1") == "changed after the backup"


def test_restore_aprovova_delete_newer(host, seeded, hostname, run_playbook):
    host.check_output(f"echo new > {REPORTS}/made_after_the_backup.txt")
    result = run_playbook(
        "restore.yml", "-e", f"restore_confirm=yes-restore-{hostname}",
        "-e", "restore_database=false", "-e", "restore_aprovova_delete_newer=true")
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert not host.file(f"{REPORTS}/made_after_the_backup.txt").exists
    assert data_state(host) == seeded


METRICS = "/var/lib/prometheus/node-exporter/apranova_backup.prom"


def metric(host, name: str) -> float:
    for line in host.file(METRICS).content_string.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    raise AssertionError(f"{name} is not in {METRICS}")


FLAG = "/srv/apranova/maintenance.flag"
MARKER_DIR = "/var/lib/apranova-backup"


def record_figures(name: str, figures: dict) -> None:
    """The fault tests' measurements, beside the scenario's log (the state folder goes with the
    instance), for the operations notes."""
    repo = os.environ.get("APRANOVA_REPO")
    folder = Path(repo) / ".cache" / "molecule-logs" if repo else Path(os.environ.get("MOLECULE_EPHEMERAL_DIRECTORY", "/tmp"))
    path = folder / f"{os.environ.get('MOLECULE_INSTANCE', 'backup')}-fault-figures.json"
    known = json.loads(path.read_text()) if path.exists() else {}
    known[name] = figures
    path.write_text(json.dumps(known, indent=2) + "\n")


def journal_since(host, cursor: str) -> str:
    # No unit filter: with one, journalctl (systemd 252) skips the first matching entry after the cursor.
    return host.check_output(f"journalctl --after-cursor '{cursor}' --no-pager -o cat")


def journal_cursor(host) -> str:
    return host.check_output("journalctl --show-cursor -n 0 -q | sed -n 's/^-- cursor: //p'")


def test_killed_restore_keeps_the_serving_database_and_the_flag_goes(host, seeded, hostname, run_playbook):
    """SIGKILL of a restore (the whole unit, as the OOM killer or a crash would) while the flag is set."""
    assert host.service("apranova-backup-recover.timer").is_running
    sql(host, "ledger", "UPDATE entries SET label = 'changed after the backup' WHERE id = 1")
    kept_before = sql(host, "postgres", "SELECT count(*) FROM pg_database WHERE datname LIKE 'ledger_pre_restore_%'")
    host.run("rm -f /run/backup-alerted")
    cursor = journal_cursor(host)
    # A session on the restored copy makes its rename wait (5 s a try, five tries): the restore
    # stays in its most fragile moment, the maintenance flag set and the swap pending, for the kill.
    host.check_output(
        "systemd-run --unit hold-ledger-restore sh -c \"cd / && until runuser -u postgres -- "
        "psql -XAtq -d ledger_restore -c 'SELECT pg_sleep(300)' 2>/dev/null; do sleep 0.05; done\"")
    try:
        host.check_output("systemd-run --unit restore-under-test /usr/local/sbin/apranova-restore --snapshot latest --database ledger")
        host.check_output(f"timeout 120 sh -c 'until [ -e {FLAG} ]; do sleep 0.1; done'")
        # Looked at in the same breath as the kill: the recover timer (every 10 s) may come any moment.
        killed = host.check_output(
            "systemctl kill --signal=KILL restore-under-test.service && "
            f"echo flag=$(test -e {FLAG} && echo set) marker=$(test -e {MARKER_DIR}/restore-in-progress && echo left) "
            "&& cut -d' ' -f1 /proc/uptime")
        killed_at = float(killed.split()[-1])
        assert "flag=set marker=left" in killed  # what the kill left: the app would answer 503
    finally:
        host.run("systemctl stop hold-ledger-restore restore-under-test; systemctl reset-failed restore-under-test")
        sql(host, "postgres", "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = 'ledger_restore'")
    # The serving database never changed hands.
    assert sql(host, "ledger", "SELECT label FROM entries WHERE id = 1") == "changed after the backup"

    # The recover timer (every 10 s) finishes up: no flag, no half-restored copy, no dumps left.
    host.check_output(f"timeout 60 sh -c 'while [ -e {FLAG} ]; do sleep 0.2; done'")
    serving_after = float(host.check_output("cut -d' ' -f1 /proc/uptime")) - killed_at
    # The flag goes first; dropping the half-restored copy waits for a checkpoint.
    host.check_output(f"timeout 120 sh -c 'while [ -e {MARKER_DIR}/restore-in-progress ]; do sleep 0.2; done'")
    cleaned_after = float(host.check_output("cut -d' ' -f1 /proc/uptime")) - killed_at
    assert sql(host, "postgres", "SELECT count(*) FROM pg_database WHERE datname = 'ledger_restore'") == "0"
    assert sql(host, "postgres", "SELECT count(*) FROM pg_database WHERE datname LIKE 'ledger_pre_restore_%'") == kept_before
    assert host.run(f"ls -d {MARKER_DIR}/restore.*").rc != 0
    said = journal_since(host, cursor)
    for line in ("was killed during step 'swapping ledger'", "dropped the unfinished ledger_restore",
                 "not restored, serving the data they had before the restore: ledger",
                 f"maintenance flag {FLAG} removed"):
        assert line in said, said
    for _ in range(20):  # the alert unit runs after the recovery
        if host.file("/run/backup-alerted").exists:
            break
        time.sleep(0.5)
    assert host.file("/run/backup-alerted").exists

    # Run again: the restore finishes, everything is as in the snapshot.
    started = time.monotonic()
    result = run_playbook("restore.yml", "-e", f"restore_confirm=yes-restore-{hostname}",
                          "-e", '{"restore_databases": ["ledger"], "restore_aprovova": false}')
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    rerun = time.monotonic() - started
    assert data_state(host) == seeded and not host.file(FLAG).exists
    record_figures("restore killed with the flag set", {
        "seconds until serving again (flag removed by the timer)": round(serving_after, 1),
        "seconds until cleaned up (half-restored copy dropped)": round(cleaned_after, 1),
        "serving database during and after the kill": "the one from before the restore (unchanged)",
        "next recover run changed": "dropped ledger_restore, removed the work directory and the flag, alerted",
        "seconds of the re-run restore playbook": round(rerun, 1),
    })


def test_killed_backup_leaves_no_lock_and_no_snapshot(host, seeded):
    """SIGKILL of the backup unit while restic writes: the next run takes a whole snapshot."""
    before = [s["id"] for s in restic_json(host, "snapshots")]
    good = json.loads(host.file(STATUS).content_string)
    host.check_output(f"head -c 40000000 /dev/urandom > {REPORTS}/big.bin")  # a snapshot that takes seconds
    host.run("rm -f /run/backup-alerted")
    cursor = journal_cursor(host)
    try:
        host.check_output("systemctl start --no-block apranova-backup.service")
        # restic's lock in the repository: the snapshot is being written.
        host.check_output(f"timeout 120 sh -c 'until grep -qx \"step=restic backup\" {MARKER_DIR}/run-in-progress "
                          "2>/dev/null && [ -n \"$(ls /var/backups/restic/locks)\" ]; do sleep 0.05; done'")
        killed_at = float(host.check_output("systemctl kill --signal=KILL apranova-backup.service && cut -d' ' -f1 /proc/uptime"))
        # Until its ExecStopPost has finished ("deactivating" is not "active" either).
        host.check_output("timeout 60 sh -c 'until systemctl show -p ActiveState --value apranova-backup.service "
                          "| grep -qx failed; do sleep 0.1; done'")
        settled = float(host.check_output("cut -d' ' -f1 /proc/uptime")) - killed_at
    finally:
        host.run(f"rm -f {REPORTS}/big.bin")
    assert host.check_output("systemctl show -p Result --value apranova-backup.service") == "signal"
    # Its ExecStopPost set everything right: no lock of ours or restic's, no staging copy, no snapshot.
    assert host.run("flock -n /run/lock/apranova-backup.lock true").rc == 0
    assert host.check_output("ls /var/backups/restic/locks") == ""
    assert not host.file("/var/lib/apranova-backup/staging").exists
    assert not host.file(f"{MARKER_DIR}/run-in-progress").exists
    assert [s["id"] for s in restic_json(host, "snapshots")] == before
    status = json.loads(host.file(STATUS).content_string)
    assert status["result"] == "failed" and "interrupted during restic backup" in status["message"]
    assert status["last_snapshot"] == good["last_snapshot"]
    assert metric(host, "apranova_backup_last_run_success") == 0
    said = journal_since(host, cursor)
    assert "was killed during step 'restic backup' (systemd: signal, killed KILL)" in said, said
    for _ in range(20):
        if host.file("/run/backup-alerted").exists:
            break
        time.sleep(0.5)
    assert host.file("/run/backup-alerted").exists  # OnFailure= fired for the kill

    # The next run: one new, whole snapshot; the repository is sound.
    started = time.monotonic()
    host.check_output("systemctl start apranova-backup.service")
    took = time.monotonic() - started
    after = restic_json(host, "snapshots")
    assert len([s for s in after if s["id"] not in before]) == 1
    assert json.loads(host.file(STATUS).content_string)["result"] == "success"
    assert metric(host, "apranova_backup_last_run_success") == 1
    host.check_output("apranova-backup restic check")
    record_figures("backup killed while restic wrote", {
        "seconds until status, metrics, locks and staging were right (ExecStopPost)": round(settled, 1),
        "next run changed": "one new snapshot; the killed run's unreferenced data pruned with the retention",
        "seconds of the next run": round(took, 1),
        "serving": "not affected (a backup never sets the maintenance flag)",
    })


def test_check_service_reads_the_data(host):
    host.check_output("systemctl start apranova-backup-check.service")
    journal = host.check_output("journalctl -u apranova-backup-check.service --no-pager -o cat")
    assert "no errors were found" in journal


def test_runs_never_overlap(host):
    host.check_output("systemd-run --unit hold-backup-lock flock /run/lock/apranova-backup.lock sleep 120")
    try:
        time.sleep(1)
        result = host.run("APRANOVA_BACKUP_LOCK_WAIT=1 apranova-backup run")
        assert result.rc != 0
        assert "holds /run/lock/apranova-backup.lock" in result.stderr
    finally:
        host.run("systemctl stop hold-backup-lock")


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ("backup_restic_password=short", "backup_restic_password is empty or shorter than 12 characters"),
        ("backup_schedule='every day at noon'", "systemd does not understand the schedule(s) every day at noon"),
        ('{"backup_keep_daily": 0, "backup_keep_weekly": 0, "backup_keep_monthly": 0}',
         "at least one of them above 0"),
        ("backup_restic_repository=s3:http://127.0.0.1:5000/b", "backup_s3_access_key_id or backup_s3_secret_access_key is empty"),
    ],
)
def test_bad_input_refused_before_any_change(host, refused, extra, message):
    before = host.file("/etc/apranova-backup/restic.env").md5sum
    assert message in refused("converge.yml", "-e", extra)
    assert host.file("/etc/apranova-backup/restic.env").md5sum == before


def test_s3_backup_and_restore(host, seeded, hostname, run_playbook):
    host.check_output("cp -p /etc/apranova-backup/restic.env /root/restic.env.local")
    converge(run_playbook, S3_VARS)
    try:
        assert "s3:http://127.0.0.1:5000/apranova-backups" in host.check_output(
            "grep RESTIC_REPOSITORY /etc/apranova-backup/restic.env")
        result = run_playbook("backup.yml")
        assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
        # The data really lives in the S3 server: its bucket lists the repository's files.
        bucket = host.check_output("curl -sf 'http://127.0.0.1:5000/apranova-backups?list-type=2'")
        assert "<Key>config</Key>" in bucket and "<Key>snapshots/" in bucket and "<Key>data/" in bucket
        host.check_output("cd / && runuser -u postgres -- dropdb apranova")
        host.check_output(f"rm -rf {REPORTS}/*")
        result = run_playbook("restore.yml", "-e", f"restore_confirm=yes-restore-{hostname}")
        assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
        assert data_state(host) == seeded
    finally:
        # Back to the local repository (what a converge with the group variables writes).
        host.run("cp -p /root/restic.env.local /etc/apranova-backup/restic.env")


def restic_policy(times: list[datetime], daily: int, weekly: int, monthly: int) -> set[datetime]:
    """The snapshots restic's forget keeps, computed here independently from restic."""
    rules = [
        [daily, lambda t: t.strftime("%Y%m%d"), None],
        [weekly, lambda t: "%04d%02d" % t.isocalendar()[:2], None],
        [monthly, lambda t: t.strftime("%Y%m"), None],
    ]
    keep = set()
    for t in sorted(times, reverse=True):
        for rule in rules:
            if rule[0] > 0 and rule[1](t) != rule[2]:
                keep.add(t)
                rule[2] = rule[1](t)
                rule[0] -= 1
    return keep


def parse_time(value: str) -> datetime:
    """restic's RFC 3339 times, with nanoseconds and a Z or an offset."""
    value = re.sub(r"\.[0-9]+", "", value).replace("Z", "+00:00")
    return datetime.fromisoformat(value).astimezone(timezone.utc)


def test_retention_keeps_exactly_the_policy(host, seeded, hostname):
    """Snapshots dated over four months; the next run's prune keeps daily 3, weekly 2, monthly 2."""
    host.check_output("rm -rf /var/backups/retention && mkdir -p /var/backups/retention")
    env = f"RESTIC_REPOSITORY=/var/backups/retention RESTIC_PASSWORD={PASSWORD}"
    # The backup script with another repository, the policy of the converged role.
    host.check_output(
        "sed 's|^RESTIC_REPOSITORY=.*|RESTIC_REPOSITORY=/var/backups/retention|' /etc/apranova-backup/restic.env "
        "> /tmp/retention.env && cp /etc/apranova-backup/restic.env /tmp/restic.env.orig "
        "&& cp /tmp/retention.env /etc/apranova-backup/restic.env")
    try:
        host.check_output(f"{env} restic init")
        now = datetime.now(timezone.utc).replace(microsecond=0)
        ages = [timedelta(days=d, hours=h) for d, h in
                ((1, 2), (1, 5), (2, 0), (3, 0), (6, 0), (10, 0), (17, 0), (24, 0), (40, 0), (75, 0), (110, 0))]
        for age in ages:
            stamp = (now - age).strftime("%Y-%m-%d %H:%M:%S")
            host.check_output(
                f"{env} restic backup --host {hostname} --tag host:{hostname} --tag env:sandbox "
                f"--time '{stamp}' /etc/apranova")
        # A snapshot of another environment in the same repository is left alone.
        host.check_output(f"{env} restic backup --host {hostname} --tag host:{hostname} --tag env:other "
                          f"--time '2020-01-01 00:00:00' /etc/apranova")
        host.check_output("systemctl start apranova-backup.service")
        left = json.loads(host.check_output(f"{env} restic snapshots --json"))
        ours = [s for s in left if "env:sandbox" in s["tags"]]
        times = [parse_time(s["time"]) for s in ours]
        expected = restic_policy([now - age for age in ages] + [max(times)], 3, 2, 2)
        assert {t.replace(microsecond=0) for t in times} == {t.replace(microsecond=0) for t in expected}
        assert len(ours) < len(ages) + 1
        assert [s for s in left if "env:other" in s["tags"]]
        # Prune ran: the repository holds no data of the forgotten snapshots, and is sound.
        host.check_output(f"{env} restic check")
    finally:
        host.run("cp /tmp/restic.env.orig /etc/apranova-backup/restic.env && rm -rf /var/backups/retention")


def test_full_target_fails_loudly_and_keeps_the_last_good_backup(host, seeded):
    host.check_output("mkdir -p /mnt/small-target && mount -t tmpfs -o size=40m tmpfs /mnt/small-target")
    # The same scripts and units with a repository on the small target.
    host.check_output(
        "cp -p /etc/apranova-backup/restic.env /root/restic.env.local && sed -i "
        "'s|^RESTIC_REPOSITORY=.*|RESTIC_REPOSITORY=/mnt/small-target/restic|' /etc/apranova-backup/restic.env")
    try:
        host.check_output("apranova-backup init")
        host.check_output("systemctl start apranova-backup.service")
        good = json.loads(host.file(STATUS).content_string)
        assert good["result"] == "success"
        snapshots = restic_json(host, "snapshots")
        host.run("rm -f /run/backup-alerted")

        host.check_output(f"head -c 60000000 /dev/urandom > {REPORTS}/big.bin")
        cursor = host.check_output("journalctl --show-cursor -n 0 -q | sed -n 's/^-- cursor: //p'")
        run = host.run("systemctl start apranova-backup.service")
        assert run.rc != 0
        # The OnFailure unit runs after the failed one: give it a moment.
        for _ in range(30):
            if host.file("/run/backup-alerted").exists:
                break
            time.sleep(1)
        assert host.file("/run/backup-alerted").exists  # the user's alert command ran
        journal = host.check_output(f"journalctl --after-cursor '{cursor}' --no-pager -o cat")
        assert "FAILED with exit code" in journal and "no space left on device" in journal.lower()
        assert "apranova-backup.service FAILED" in journal  # the OnFailure unit's alert line
        status = json.loads(host.file(STATUS).content_string)
        assert status["result"] == "failed"
        assert status["last_success"] == good["last_success"]
        assert status["last_snapshot"] == good["last_snapshot"]
        # Nothing half-written became a snapshot, and the last good one reads back whole.
        assert restic_json(host, "snapshots") == snapshots
        check = host.run("apranova-backup restic check --no-lock --read-data")
        assert check.rc == 0, check.stdout + check.stderr
        # ... and restores: the ledger's dump out of it is a whole archive.
        assert "TABLE DATA public entries" in host.check_output(
            "apranova-backup restic dump --no-lock latest /var/lib/apranova-backup/staging/postgresql/ledger.dump "
            "| pg_restore --list")
    finally:
        host.run(f"rm -f {REPORTS}/big.bin")
        host.run("cp -p /root/restic.env.local /etc/apranova-backup/restic.env")
        host.run("umount /mnt/small-target")


def test_failed_backup_is_loud_in_status_and_metrics(host):
    """The run before this one failed (full target): status says so and exits 1; so do the metrics."""
    assert json.loads(host.file(STATUS).content_string)["result"] == "failed"
    status = host.run("apranova-backup status")
    assert status.rc == 1 and "FAILED" in status.stdout, status.stdout
    assert host.file(METRICS).mode == 0o644
    assert metric(host, "apranova_backup_last_run_success") == 0
    assert metric(host, "apranova_backup_last_success_timestamp_seconds") > 0  # the good one before
    # The repository's size is measured after a successful run only.
    assert "apranova_backup_repository_size_bytes" not in host.file(METRICS).content_string


def test_successful_backup_clears_status_and_metrics(host):
    host.check_output("systemctl start apranova-backup.service")
    status = host.run("apranova-backup status")
    assert status.rc == 0 and status.stdout.startswith("last backup ok"), status.stdout
    assert metric(host, "apranova_backup_last_run_success") == 1
    assert abs(metric(host, "apranova_backup_last_success_timestamp_seconds") - time.time()) < 300
    # The repository's size as restic counts it, after the run's prune.
    stats = json.loads(host.check_output("apranova-backup restic stats --no-lock --mode raw-data --json"))
    assert metric(host, "apranova_backup_repository_size_bytes") == stats["total_size"] > 0


def test_stale_or_missing_backup_fails_status(host):
    host.check_output(f"cp -p {STATUS} /root/status.json.good && cp -p /var/lib/apranova-backup/installed /root/installed")
    try:
        # The last success 27 hours ago: older than backup_max_age_hours (26).
        stale = int(time.time()) - 27 * 3600
        host.check_output(f"sed -i 's/\"last_success_epoch\": [0-9]*/\"last_success_epoch\": {stale}/' {STATUS}")
        status = host.run("apranova-backup status")
        assert status.rc == 1 and "STALE" in status.stdout, status.stdout
        # No backup yet: fine within the limit after setup, a failure after it.
        host.check_output(f"rm {STATUS} && echo $(( $(date +%s) - 3600 )) > /var/lib/apranova-backup/installed")
        status = host.run("apranova-backup status")
        assert status.rc == 0 and "no backup yet" in status.stdout, status.stdout
        host.check_output("echo $(( $(date +%s) - 30 * 3600 )) > /var/lib/apranova-backup/installed")
        status = host.run("apranova-backup status")
        assert status.rc == 1 and "no backup has succeeded" in status.stdout, status.stdout
    finally:
        host.run(f"cp -p /root/status.json.good {STATUS} && cp -p /root/installed /var/lib/apranova-backup/installed")


def rows(host) -> int:
    return int(sql(host, "apranova", "SELECT count(*) FROM pitr_rows"))


def add_rows(host, first: int, last: int) -> None:
    sql(host, "apranova", f"INSERT INTO pitr_rows SELECT generate_series({first}, {last})")


def test_point_in_time_recovery(host, hostname, run_playbook, refused):
    """Rows, a base backup, rows, a restore point, rows, a time, rows: recover to the time, then the point."""
    sql(host, "apranova", "DROP TABLE IF EXISTS pitr_rows; CREATE TABLE pitr_rows (id int PRIMARY KEY)")
    add_rows(host, 1, 100)
    host.check_output("systemctl start apranova-backup.service")  # a base backup
    assert "stanza: apranova" in host.check_output("runuser -u postgres -- pgbackrest info")
    add_rows(host, 101, 200)
    assert "restore point drill-point" in host.check_output("apranova-backup restore-point drill-point")
    add_rows(host, 201, 300)
    time.sleep(2)
    until = host.check_output("date -u '+%F %T+00'")
    time.sleep(2)
    add_rows(host, 301, 400)
    confirm = ("-e", f"restore_confirm=yes-restore-{hostname}")

    # Refused before the serving cluster is touched.
    for extra, message in (
        ("restore_point=no-such-point", "no restore point named 'no-such-point'"),
        ('{"restore_until": "2099-01-01 00:00:00+00"}', "is in the future"),
        ('{"restore_until": "2001-01-01 00:00:00+00"}', "is before the end of the first base backup"),
        ('{"restore_until": "yesterday at noon"}', "Give restore_until (a time such as"),
    ):
        assert message in refused("restore.yml", *confirm, "-e", extra, unchanged=False)
        assert rows(host) == 400

    result = run_playbook("restore.yml", *confirm, "-e", json.dumps({"restore_until": until}))
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert rows(host) == 300
    assert not host.file("/srv/apranova/maintenance.flag").exists
    kept = host.check_output("ls -d /var/lib/postgresql/*/main.pre_restore_*")
    assert kept  # the cluster it replaced

    result = run_playbook("restore.yml", *confirm, "-e", "restore_point=drill-point")
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert rows(host) == 200
    # The recovered cluster archives again: a new base backup and WAL switch go through.
    host.check_output("runuser -u postgres -- pgbackrest --stanza=apranova check")
