"""Load for deploy tests, run inside the instance: CLIENTS clients (4 unless given) through nginx on
endpoints that read and write the database (list reports, create one, download one), and a sampler
of the serving release. Stops when /tmp/load.stop appears; writes a JSON summary to /tmp/load.json.
    usage: python3 load.py SITE TOKEN REPORT_ID [CLIENTS]
"""
import http.client
import json
import os
import ssl
import sys
import threading
import time

SITE, TOKEN, REPORT = sys.argv[1], sys.argv[2], sys.argv[3]
CLIENTS = int(sys.argv[4]) if len(sys.argv) > 4 else 4
CONTEXT = ssl._create_unverified_context()  # noqa: S323 (a test certificate on loopback)
STOP = "/tmp/load.stop"
results: list[tuple[str, int | str]] = []
releases: list[tuple[float, str]] = []
lock = threading.Lock()


def call(method: str, path: str, body: bytes | None = None, source: str = "127.0.0.1") -> tuple[int, bytes]:
    # Each client from its own loopback address, as separate users' machines would be: nginx's
    # per-address API limit (10 r/s) is not what this load measures.
    # 30 s: on two loaded cores a request can wait that long for a CPU without anything being wrong.
    connection = http.client.HTTPSConnection("127.0.0.1", 443, context=CONTEXT, timeout=30, source_address=(source, 0))
    try:
        connection.request(method, path, body=body, headers={
            "Host": SITE, "Authorization": f"Token {TOKEN}", "Content-Type": "application/json"})
        response = connection.getresponse()
        return response.status, response.read()
    except OSError as error:  # no HTTP answer: the body names why (refused, reset, timed out)
        return 0, type(error).__name__.encode()
    finally:
        connection.close()


def client(number: int) -> None:
    source, step = f"127.0.0.{number + 2}", 0
    while not os.path.exists(STOP):
        step += 1
        if step % 10 == number:
            kind, (status, body) = "create", call("POST", "/api/reports/", b'{"type": "users", "format": "csv"}', source)
        elif step % 3 == 0:
            kind, (status, body) = "download", call("GET", f"/api/reports/{REPORT}/download/", source=source)
        else:
            kind, (status, body) = "list", call("GET", "/api/reports/", source=source)
        with lock:
            results.append((kind, status or f"0 {body.decode()}"))
        # Under 4 r/s per client: 4 clients stay within the API's per-user throttle (20 r/s); more
        # need a scenario that raises it (THROTTLE_USER_RATE), as multihost does.
        time.sleep(0.25)


def sampler() -> None:
    while not os.path.exists(STOP):
        status, body = call("GET", "/healthz")
        if status == 200:
            releases.append((time.time(), json.loads(body)["release"]))
        time.sleep(0.25)


threads = [threading.Thread(target=client, args=(n,)) for n in range(CLIENTS)] + [threading.Thread(target=sampler)]
for thread in threads:
    thread.start()
for thread in threads:
    thread.join()
kinds = sorted({kind for kind, _ in results})
summary = {
    "requests": len(results),
    "failed": [[kind, status] for kind, status in results if status not in (200, 201, 202)],
    "by_kind": {kind: sum(1 for k, _ in results if k == kind) for kind in kinds},
    "releases": releases,
}
with open("/tmp/load.json", "w") as handle:
    json.dump(summary, handle)
