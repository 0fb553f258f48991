"""One beat sends the schedule in the environment: each app host runs a beat (same image, settings
and Redis), and only the holder of redbeat's lock sends, so each heartbeat is sent and run once
across both hosts. When the holder stops, the other host's beat takes over; started again, the
first waits."""

from __future__ import annotations

import re
import time

from conftest import instance  # the repository's conftest.py

BEAT, WORKER = "apranova-beat", "apranova-worker"
SENT = re.compile(r"Sending due task beat-heartbeat")
HOSTS = ("stack-app", "stack-app2")


def now(host) -> int:
    return int(host.check_output("date +%s"))


def sent(host, since: int, until: int | None = None) -> int:
    window = f"--since {since}" + (f" --until {until}" if until else "")
    return len(SENT.findall(host.check_output(f"docker logs {window} {BEAT} 2>&1")))


def ran(host, since: int, until: int) -> int:
    logs = host.check_output(f"docker logs --since {since} --until {until} {WORKER} 2>&1")
    return len(re.findall(r"apranova\.tasks\.beat_heartbeat\[[0-9a-f-]+\] succeeded", logs))


def window(hosts, seconds: int) -> tuple[dict[str, int], int]:
    """Heartbeats each host's beat sent, and the runs on every host's worker, over `seconds`."""
    start = now(hosts[0])
    time.sleep(seconds)
    end = now(hosts[0])
    return ({h.backend.host: sent(h, start, end) for h in hosts}, sum(ran(h, start, end) for h in hosts))


def wait_until(check, seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        assert time.monotonic() < deadline, f"not within {seconds} s: {what}"
        time.sleep(2)


def test_one_beat_sends_for_both_app_hosts_and_the_other_takes_over():
    hosts = [instance(name) for name in HOSTS]
    by_host, runs = window(hosts, 30)
    print(f"beat singleton: in 30 s the beats sent {by_host}; the workers of both hosts ran {runs}")
    senders = [name for name, count in by_host.items() if count]
    assert len(senders) == 1, by_host  # two beats sending would make about 12
    assert 4 <= by_host[senders[0]] <= 8 and 4 <= runs <= 8, (by_host, runs)  # one every 5 s

    # The holder stops (its host taken out, a deploy): it frees the lock and the other host's beat sends.
    holder = next(h for h in hosts if h.backend.host == senders[0])
    other = next(h for h in hosts if h is not holder)
    stopped = now(holder)
    holder.check_output(f"docker stop {BEAT}")
    try:
        wait_until(lambda: sent(other, stopped) >= 2, 60, f"the beat on {other.backend.host} takes over")
        took_over = now(holder) - stopped
    finally:
        holder.check_output(f"docker start {BEAT}")
    time.sleep(10)
    by_host, _ = window(hosts, 15)
    assert by_host[holder.backend.host] == 0 and by_host[other.backend.host] >= 2, by_host
    print(f"beat singleton: {other.backend.host}'s beat sent within {took_over} s of {holder.backend.host}'s stopping; "
          f"started again, {holder.backend.host}'s waits")
