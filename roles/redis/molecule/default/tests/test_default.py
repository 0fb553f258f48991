"""The redis role: authentication, denied commands, effective settings, persistence, restarts."""

import json
import time

import pytest

APP = ("apranova", "app-Secret-123")
ADMIN = ("admin", "admin-Secret-456")


def cli(host, args, user=None):
    auth = f"--user {user[0]} --pass {user[1]} --no-auth-warning " if user else ""
    return host.run(f"redis-cli -h 127.0.0.1 -p 6379 {auth}{args}")


def main_pid(host) -> int:
    return int(host.check_output("systemctl show --property MainPID --value redis-server"))


def wait_until_answering(host, old_pid=None, seconds=30):
    deadline = time.time() + seconds
    while time.time() < deadline:
        pid = main_pid(host)
        if pid and pid != old_pid and cli(host, "PING", APP).stdout.strip() == "PONG":
            return pid
        time.sleep(0.5)
    raise AssertionError("redis-server did not come back")


def test_service_enabled_and_listening_on_loopback_only(host):
    assert host.service("redis-server").is_running
    assert host.service("redis-server").is_enabled
    assert host.socket("tcp://127.0.0.1:6379").is_listening
    assert not host.socket("tcp://0.0.0.0:6379").is_listening


def test_app_user_can_set_and_get(host):
    assert cli(host, "SET greeting hello", APP).stdout.strip() == "OK"
    assert cli(host, "GET greeting", APP).stdout.strip() == "hello"


def test_refused_without_password(host):
    out = cli(host, "GET greeting")
    assert "NOAUTH" in out.stdout + out.stderr


def test_refused_with_wrong_password(host):
    out = cli(host, "GET greeting", (APP[0], "wrong"))
    assert "WRONGPASS" in out.stdout + out.stderr


def test_default_user_is_disabled(host):
    out = cli(host, "ACL GETUSER default", ADMIN).stdout
    flags = out.split("flags", 1)[1].split("passwords", 1)[0]
    assert "off" in flags.split()


@pytest.mark.parametrize(
    "command",
    ["FLUSHALL", "FLUSHDB", "CONFIG GET maxmemory", "KEYS '*'", "SHUTDOWN NOSAVE", "ACL LIST", "REPLICAOF NO ONE"],
)
def test_dangerous_command_refused_for_app(host, command):
    out = cli(host, command, APP)
    assert "NOPERM" in out.stdout + out.stderr
    assert cli(host, "PING", APP).stdout.strip() == "PONG"


def test_debug_refused_for_app(host):
    """DEBUG is off for everyone (enable-debug-command no), and the ACL denies it to the app too."""
    out = cli(host, "DEBUG SLEEP 0", APP)
    assert "not allowed" in out.stdout + out.stderr or "NOPERM" in out.stdout + out.stderr
    assert "no permissions" in cli(host, "ACL DRYRUN apranova debug sleep 0", ADMIN).stdout


@pytest.mark.parametrize(
    "command",
    [
        "brpop celery 1", "lpush celery x", "multi", "exec", "watch k", "publish ch m", "subscribe ch",
        "psubscribe ch*", "eval return 0", "evalsha 0 0", "zadd unacked 1 x", "hset h f v", "sadd s m",
        "scan 0", "incrby n 1", "expire k 10", "select 1", "ping", "client setname worker",
    ],
)
def test_app_user_may_run_what_django_and_celery_need(host, command):
    """ACL DRYRUN answers whether the app user may run a command, without running it."""
    out = cli(host, f"ACL DRYRUN apranova {command}", ADMIN).stdout.strip()
    assert out == "OK", out


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("maxmemory", str(256 * 1024 * 1024)),
        ("maxmemory-policy", "noeviction"),
        ("appendonly", "yes"),
        ("appendfsync", "everysec"),
        ("protected-mode", "yes"),
        ("save", "3600 1 300 100 60 10000"),
    ],
)
def test_effective_setting(host, name, value):
    out = cli(host, f"--json CONFIG GET {name}", ADMIN).stdout
    assert json.loads(out)[name] == value


def test_data_survives_a_restart(host):
    assert cli(host, "SET survives-restart yes", APP).stdout.strip() == "OK"
    old = main_pid(host)
    host.check_output("systemctl restart redis-server")
    wait_until_answering(host, old)
    assert cli(host, "GET survives-restart", APP).stdout.strip() == "yes"


def test_killed_server_comes_back_with_its_data(host):
    """systemd restarts a killed server, and the AOF (fsynced every second) still has the write."""
    assert cli(host, "SET survives-kill yes", APP).stdout.strip() == "OK"
    time.sleep(2)
    old = main_pid(host)
    host.check_output(f"kill -9 {old}")
    wait_until_answering(host, old)
    assert cli(host, "GET survives-kill", APP).stdout.strip() == "yes"


def _refused(host, refused, extra, message):
    before = host.file("/etc/redis/redis.conf").md5sum
    assert message in refused("refuse.yml", "--extra-vars", json.dumps(extra))
    assert host.file("/etc/redis/redis.conf").md5sum == before


def test_refuses_port_out_of_range(host, refused):
    _refused(host, refused, {"redis_port": 70000}, "redis_port is 70000: it must be between 1 and 65535")


def test_refuses_empty_password(host, refused):
    _refused(host, refused, {"redis_app_password": ""}, "redis_app_password is empty")


def test_refuses_bad_memory_limit(host, refused):
    _refused(host, refused, {"redis_maxmemory": "lots"}, "redis_maxmemory is 'lots'")
