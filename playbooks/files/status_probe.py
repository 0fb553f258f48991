#!/usr/bin/env python3
"""What `make status` needs from one host, as one JSON document on stdout.

Sent to every host by playbooks/status.yml (ansible.builtin.script, as root) and run once there.
It only reads: the node exporter textfiles the roles write (backup, certificates, deploys, the
deploy lock), the backup role's set-up time, the use of / and /srv, the state of the systemd
units the roles run, and the app's containers (with a /readyz probe of each running web
container). It judges nothing: playbooks/files/status_table.py, on the controller, decides what
needs attention. Python 3 standard library only (Debian 12 and 13 hosts).
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from typing import Any

TEXTFILE_DIR = "/var/lib/prometheus/node-exporter"
TEXTFILES = ["apranova_backup.prom", "apranova_certificates.prom", "apranova_deploy.prom", "apranova_deploy_lock.prom"]
BACKUP_INSTALLED = "/var/lib/apranova-backup/installed"
# Every unit a role may run here; the controller picks the ones this host's groups need.
UNITS = ["nginx", "docker", "postgresql", "redis-server", "prometheus-node-exporter"]
DISK_PATHS = ["/", "/srv"]
CONTAINER_FORMAT = '{{.Names}}\t{{.Status}}\t{{.Label "apranova_role"}}\t{{.Label "apranova_release"}}\t{{.Label "apranova_port"}}'


def run(argv: list[str], timeout: float = 20) -> tuple[int, str]:
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, check=False)
    except (OSError, subprocess.TimeoutExpired) as error:
        return 127, str(error)
    return done.returncode, (done.stdout if done.returncode == 0 else (done.stderr or done.stdout)).strip()


def textfiles(directory: str) -> dict[str, str | None]:
    found: dict[str, str | None] = {}
    for name in TEXTFILES:
        try:
            with open(os.path.join(directory, name), encoding="utf-8") as handle:
                found[name] = handle.read()
        except OSError:
            found[name] = None
    return found


def backup_installed() -> int | None:
    try:
        with open(BACKUP_INSTALLED, encoding="utf-8") as handle:
            return int(handle.read().split()[0])
    except (OSError, ValueError, IndexError):
        return None


def units() -> dict[str, Any]:
    """LoadState and ActiveState of each unit (and of any postgresql@ cluster), as systemctl tells."""
    names = list(UNITS)
    rc, out = run(["systemctl", "list-units", "--all", "--plain", "--no-legend", "--type=service", "postgresql@*"])
    if rc == 0:
        names += [line.split()[0].removesuffix(".service") for line in out.splitlines() if line.strip()]
    rc, out = run(["systemctl", "show", "--property=Id,LoadState,ActiveState", *[f"{n}.service" for n in names]])
    states: dict[str, dict[str, str]] = {}
    if rc != 0:  # systemd itself does not answer: the controller reports that once
        return {"error": out.splitlines()[0] if out else f"systemctl exit {rc}", "units": {}}
    for block in out.split("\n\n"):
        fields = dict(line.split("=", 1) for line in block.splitlines() if "=" in line)
        if "Id" in fields:
            states[fields["Id"].removesuffix(".service")] = {
                "load": fields.get("LoadState", ""), "active": fields.get("ActiveState", "")}
    return {"error": "", "units": states}


def readyz(address: str, port: str) -> dict[str, object]:
    host = f"[{address}]" if ":" in address else address
    try:
        with urllib.request.urlopen(f"http://{host}:{int(port)}/readyz", timeout=5) as response:
            body = response.read(300).decode("utf-8", "replace")
            return {"ok": response.status == 200, "detail": f"{response.status} {body.strip()}"[:120]}
    except (urllib.error.URLError, OSError, ValueError) as error:
        return {"ok": False, "detail": str(getattr(error, "reason", error))[:120]}


def containers(address: str) -> dict[str, object]:
    rc, out = run(["docker", "version", "--format", "{{.Server.Version}}"])
    if rc != 0:
        return {"available": False, "error": out.splitlines()[-1] if out else f"exit {rc}", "containers": []}
    rc, out = run(["docker", "ps", "--all", "--filter", "label=apranova_role", "--format", CONTAINER_FORMAT])
    if rc != 0:
        return {"available": False, "error": out, "containers": []}
    found = []
    for line in out.splitlines():
        name, status, role, release, port = (line.split("\t") + [""] * 5)[:5]
        item: dict[str, object] = {"name": name, "status": status, "role": role, "release": release, "port": port}
        if role == "web" and status.startswith("Up") and port:
            item["readyz"] = readyz(address, port)
        found.append(item)
    return {"available": True, "error": "", "containers": found}


def disks() -> list[dict[str, object]]:
    """Use of / and of /srv when /srv is a filesystem of its own, computed as df does."""
    result = []
    root_device = os.stat("/").st_dev
    for path in DISK_PATHS:
        if not os.path.isdir(path) or (path != "/" and os.stat(path).st_dev == root_device):
            continue
        stat = os.statvfs(path)
        used = (stat.f_blocks - stat.f_bfree) * stat.f_frsize
        available = stat.f_bavail * stat.f_frsize
        total = used + available
        percent = -(-used * 100 // total) if total else 0  # rounded up, as df does
        result.append({"path": path, "percent": percent, "size_bytes": stat.f_blocks * stat.f_frsize})
    return result


def main() -> int:
    directory = sys.argv[1] if len(sys.argv) > 1 else TEXTFILE_DIR
    # Where the web containers listen: loopback, or the private address other web hosts reach.
    address = sys.argv[2] if len(sys.argv) > 2 else "127.0.0.1"
    report = {
        "now": time.time(),
        "textfiles": textfiles(directory),
        "backup_installed": backup_installed(),
        "systemd": units(),
        "docker": containers(address),
        "disks": disks(),
    }
    json.dump(report, sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main())
