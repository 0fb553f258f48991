"""One beat sends the schedule however many run: a second beat, as a second app host would run
it (same image, settings and Redis), waits for redbeat's lock, so each heartbeat is sent and run
once; it takes over when the first stops, and hands back when it stops in turn."""

from __future__ import annotations

import re
import time

testinfra_hosts = ["ansible://app"]

BEAT, SECOND, WORKER = "apranova-beat", "apranova-beat-second", "apranova-worker"
SENT = re.compile(r"Sending due task beat-heartbeat")


def now(host) -> int:
    return int(host.check_output("date +%s"))


def sent(host, container: str, since: int, until: int | None = None) -> int:
    window = f"--since {since}" + (f" --until {until}" if until else "")
    return len(SENT.findall(host.check_output(f"docker logs {window} {container} 2>&1")))


def ran(host, since: int, until: int) -> int:
    logs = host.check_output(f"docker logs --since {since} --until {until} {WORKER} 2>&1")
    return len(re.findall(r"apranova\.tasks\.beat_heartbeat\[[0-9a-f-]+\] succeeded", logs))


def wait_until(host, check, seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        logs = "" if time.monotonic() < deadline else host.check_output(
            f"for c in {BEAT} {SECOND}; do echo == $c; docker logs --tail 12 $c 2>&1; done")
        assert not logs, f"not within {seconds} s: {what}\n{logs}"
        time.sleep(2)


def test_a_second_beat_waits_for_the_lock_and_takes_over(host):
    user = host.check_output(f"docker inspect -f '{{{{.Config.User}}}}' {BEAT}")
    image = host.check_output(f"docker inspect -f '{{{{.Config.Image}}}}' {BEAT}")
    host.run(f"docker rm -f {SECOND}")
    host.check_output(f"docker run -d --name {SECOND} --network host --env-file /etc/apranova/app.env --volumes-from {BEAT} "
                      f"--user {user} --read-only --tmpfs /tmp {image} beat")
    try:
        time.sleep(10)  # the second beat is up and asking for the lock
        start = now(host)
        time.sleep(30)
        end = now(host)
        first, second, runs = sent(host, BEAT, start, end), sent(host, SECOND, start, end), ran(host, start, end)
        print(f"beat singleton: in {end - start} s the first beat sent {first} heartbeats, the second {second}; "
              f"the worker ran {runs}")
        assert second == 0, host.check_output(f"docker logs --tail 20 {SECOND} 2>&1")
        assert 4 <= first <= 8 and 4 <= runs <= 8, (first, runs)  # one every 5 s; two beats would make about 12

        # The first stops (a host taken out, a deploy): it frees the lock and the second sends.
        stopped = now(host)
        host.check_output(f"docker stop {BEAT}")
        wait_until(host, lambda: sent(host, SECOND, stopped) >= 2, 60, "the second beat takes over")
        took_over = now(host) - stopped
        host.check_output(f"docker start {BEAT}")
        time.sleep(10)
        start = now(host)
        time.sleep(15)
        end = now(host)
        assert sent(host, BEAT, start, end) == 0 and sent(host, SECOND, start, end) >= 2
        print(f"beat singleton: the second beat sent within {took_over} s of the first stopping")
    finally:
        # Stopped, not killed: it frees the lock and the managed beat sends again.
        host.run(f"docker stop {SECOND}; docker rm -f {SECOND}")
        if not host.run(f"docker ps -q --filter name=^{BEAT}$").stdout.strip():
            host.run(f"docker start {BEAT}")
    handed_back = now(host)
    wait_until(host, lambda: sent(host, BEAT, handed_back) >= 2, 60, "the managed beat sends again")
