"""Load for deploy tests, run inside the instance: 4 clients through nginx on endpoints that read
and write the database (list reports, create one, download one), and a sampler of the serving
release. Stops when /tmp/load.stop appears; writes a JSON summary to /tmp/load.json.
    usage: python3 load.py SITE TOKEN REPORT_ID
"""
import json
import os
import ssl
import sys
import threading
import time
import urllib.error
import urllib.request

SITE, TOKEN, REPORT = sys.argv[1], sys.argv[2], sys.argv[3]
CONTEXT = ssl._create_unverified_context()  # noqa: S323 (a test certificate on loopback)
STOP = "/tmp/load.stop"
results: list[tuple[str, int]] = []
releases: list[tuple[float, str]] = []
lock = threading.Lock()


def call(method: str, path: str, body: bytes | None = None) -> tuple[int, bytes]:
    request = urllib.request.Request(f"https://127.0.0.1{path}", data=body, method=method, headers={
        "Host": SITE, "Authorization": f"Token {TOKEN}", "Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, context=CONTEXT, timeout=15) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, b""
    except OSError:
        return 0, b""


def client(number: int) -> None:
    step = 0
    while not os.path.exists(STOP):
        step += 1
        if step % 10 == number:
            kind, (status, _) = "create", call("POST", "/api/reports/", b'{"type": "users", "format": "csv"}')
        elif step % 3 == 0:
            kind, (status, _) = "download", call("GET", f"/api/reports/{REPORT}/download/")
        else:
            kind, (status, _) = "list", call("GET", "/api/reports/")
        with lock:
            results.append((kind, status))
        time.sleep(0.2)  # 4 clients at ~5 r/s each: within the API's per-user throttle


def sampler() -> None:
    while not os.path.exists(STOP):
        status, body = call("GET", "/healthz")
        if status == 200:
            releases.append((time.time(), json.loads(body)["release"]))
        time.sleep(0.25)


threads = [threading.Thread(target=client, args=(n,)) for n in range(4)] + [threading.Thread(target=sampler)]
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
