#!/usr/bin/env python3
"""The table of `make status`: one row per host, and what needs attention.

Reads one JSON document (a file named on the command line, or stdin) that playbooks/status.yml
assembles on the controller:

    {"hosts": [{"name": "web-1", "groups": ["app", "web"],
                "thresholds": {"backup_max_age_hours": 26, "certificate_days": 14, "disk_percent": 85},
                "probe": {...what playbooks/files/status_probe.py printed on the host...},
                "error": ""}]}

("error" says why a host has no probe: unreachable, or the probe failed.) Prints the table, then
each cell that needs attention with the reason, and exits 0 when nothing does, 1 when something
does, 2 when the input is unusable. Every state comes from the host itself: the node exporter
textfiles the roles write (the same series the alert rules in monitoring/ watch), df, systemd and
Docker. Ages are measured against the host's own clock, the one that wrote the timestamps.
"""
from __future__ import annotations

import json
import math
import re
import sys
import time
from dataclasses import dataclass, field
from typing import Any

COLUMNS = ["host", "groups", "release", "last deploy (UTC)", "lock", "last backup", "certificates", "disk", "services"]
DEFAULT_THRESHOLDS = {"backup_max_age_hours": 26, "certificate_days": 14, "disk_percent": 85}
# The systemd units each group puts on a host; the node exporter wherever it is installed.
GROUP_UNITS = {"web": ["nginx"], "app": ["docker"], "db": ["postgresql"], "cache": ["redis-server"]}
OPTIONAL_UNITS = ["prometheus-node-exporter"]
APP_CONTAINERS = ["web", "worker", "beat"]
MARK = " !"

SAMPLE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)(?:\s+\S+)?$")
LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


@dataclass
class Sample:
    name: str
    labels: dict[str, str]
    value: float


def parse_textfile(text: str | None) -> list[Sample] | None:
    """The samples of a Prometheus text-format file; None when there is no file."""
    if text is None:
        return None
    samples = []
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        match = SAMPLE.match(line)
        if not match:
            continue
        name, labels, value = match.groups()
        try:
            number = float(value)
        except ValueError:
            continue
        unescaped = {key: raw.replace('\\"', '"').replace("\\n", "\n").replace("\\\\", "\\")
                     for key, raw in LABEL.findall(labels or "")}
        samples.append(Sample(name, unescaped, number))
    return samples


def value(samples: list[Sample] | None, name: str) -> float | None:
    for sample in samples or []:
        if sample.name == name:
            return sample.value
    return None


def age(seconds: float) -> str:
    seconds = max(0, int(seconds))
    if seconds < 90:
        return f"{seconds}s"
    if seconds < 90 * 60:
        return f"{seconds // 60}m"
    if seconds < 48 * 3600:
        return f"{seconds // 3600}h"
    return f"{seconds // 86400}d"


def utc(epoch: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M", time.gmtime(epoch))


@dataclass
class Cell:
    text: str = "-"
    reasons: list[str] = field(default_factory=list)

    def needs(self, reason: str) -> Cell:
        self.reasons.append(reason)
        return self

    def shown(self) -> str:
        return self.text + (MARK if self.reasons else "")


@dataclass
class Row:
    host: str
    cells: dict[str, Cell]

    @property
    def reasons(self) -> list[str]:
        return [f"{self.host} {column}: {reason}" for column in COLUMNS for reason in self.cells[column].reasons]


def release_cells(probe: dict[str, Any]) -> tuple[Cell, Cell, Cell]:
    """Release serving (and whether its web container answers), last deploy, deploy lock."""
    files = probe.get("textfiles", {})
    deploy = parse_textfile(files.get("apranova_deploy.prom"))
    lock = parse_textfile(files.get("apranova_deploy_lock.prom"))
    release, last, held = Cell(), Cell(), Cell()

    if deploy is None:
        release = Cell("none").needs("no deploy recorded (apranova_deploy.prom missing): make deploy")
        last = Cell("never")
    else:
        info = next((s for s in deploy if s.name == "apranova_deploy_info" and s.value == 1), None)
        name = info.labels.get("release", "") if info else ""
        docker = probe.get("docker", {})
        web = [c for c in docker.get("containers", []) if c.get("role") == "web" and str(c.get("status", "")).startswith("Up")]
        serving = [c for c in web if c.get("release") == name]
        if not name:
            release = Cell("?").needs("apranova_deploy.prom names no serving release")
        elif not docker.get("available", False):
            release = Cell(f"{name}, ?").needs(f"docker does not answer, cannot see {name}'s web container")
        elif not serving:
            release = Cell(f"{name}, NOT RUNNING").needs(f"no running web container of release {name}")
        elif any(c.get("readyz", {}).get("ok") for c in serving):
            release = Cell(f"{name}, answers")
        else:
            detail = serving[0].get("readyz", {}).get("detail", "no answer")
            release = Cell(f"{name}, NOT ANSWERING").needs(f"the web container of {name} does not answer /readyz: {detail}")

        success, when = value(deploy, "apranova_deploy_last_run_success"), value(deploy, "apranova_deploy_last_run_timestamp_seconds")
        stamp = utc(when) if when else "?"
        if success == 1:
            last = Cell(f"{stamp} ok")
        elif success == 0:
            last = Cell(f"{stamp} FAILED").needs(
                f"the last deploy or rollback FAILED at {stamp} UTC" + (f"; {name} still serves" if name else ""))
        else:
            last = Cell(f"{stamp} ?").needs("apranova_deploy.prom has no apranova_deploy_last_run_success")

    state = value(lock, "apranova_deploy_lock_held")
    if state == 1:
        held = Cell("HELD").needs("the deploy lock is held: a deploy runs, or one was killed (make lock-status)")
    elif state == 0:
        held = Cell("free")
    elif deploy is not None:
        held = Cell("?")
    return release, last, held


def backup_cell(probe: dict[str, Any], max_age_hours: int) -> Cell:
    """As `apranova-backup status` judges: failed last run, or no success within the limit."""
    now = probe["now"]
    limit = max_age_hours * 3600
    metrics = parse_textfile(probe.get("textfiles", {}).get("apranova_backup.prom"))
    if metrics is None:
        installed = probe.get("backup_installed")
        if not installed:
            return Cell("not set up").needs("no backup has run and the backup role has not set this host up")
        if now - installed > limit:
            return Cell(f"none in {age(now - installed)}").needs(
                f"no backup has run in the {age(now - installed)} since the backup was set up (limit {max_age_hours} h)")
        return Cell("none yet")
    success = value(metrics, "apranova_backup_last_run_success")
    last_run = value(metrics, "apranova_backup_last_run_timestamp_seconds") or 0
    last_ok = value(metrics, "apranova_backup_last_success_timestamp_seconds") or 0
    since_ok = f"last success {age(now - last_ok)} ago" if last_ok else "no success ever"
    if success != 1:
        return Cell(f"{age(now - last_run)} ago FAILED").needs(
            f"the last backup FAILED {age(now - last_run)} ago ({utc(last_run)} UTC); {since_ok}")
    if now - last_ok > limit:
        return Cell(f"{age(now - last_ok)} ago STALE").needs(
            f"the last successful backup is {age(now - last_ok)} old, over the limit of {max_age_hours} h")
    return Cell(f"{age(now - last_ok)} ago ok")


def certificate_cell(probe: dict[str, Any], min_days: int) -> Cell:
    """Days left per certificate name; attention within min_days (the health check's limit)."""
    now = probe["now"]
    metrics = parse_textfile(probe.get("textfiles", {}).get("apranova_certificates.prom"))
    if metrics is None:
        return Cell("no data").needs("no certificate expiry recorded (apranova_certificates.prom missing)")
    expiries = [s for s in metrics if s.name == "apranova_certificate_expiry_timestamp_seconds"]
    if not expiries:
        return Cell("none").needs("no certificate: certbot holds none for this web host")
    parts, cell = [], Cell()
    for sample in sorted(expiries, key=lambda s: s.labels.get("name", "")):
        name, left = sample.labels.get("name", "?"), sample.value - now
        if left <= 0:
            parts.append(f"{name} EXPIRED")
            cell.needs(f"{name} expired {age(-left)} ago")
            continue
        parts.append(f"{name} {math.floor(left / 86400)}d")
        if left < min_days * 86400:
            cell.needs(f"{name} expires in {age(left)} ({utc(sample.value)} UTC), within {min_days} days: renewal is failing")
    cell.text = ", ".join(parts)
    return cell


def disk_cell(probe: dict[str, Any], limit: int) -> Cell:
    cell = Cell()
    parts = []
    for disk in probe.get("disks", []):
        parts.append(f"{disk['path']} {disk['percent']}%")
        if disk["percent"] > limit:
            cell.needs(f"{disk['path']} is {disk['percent']}% full (above {limit}%)")
    cell.text = " ".join(parts) or "?"
    return cell


def services_cell(probe: dict[str, Any], groups: list[str]) -> Cell:
    """The units this host's groups run, the node exporter if installed, and the app's containers."""
    systemd = probe.get("systemd", {})
    units = systemd.get("units", {})
    wanted = [unit for group in groups for unit in GROUP_UNITS.get(group, [])]
    if "db" in groups:  # Debian's postgresql.service only wraps the clusters: each must run too
        wanted += sorted(name for name in units if name.startswith("postgresql@"))
    wanted += [unit for unit in OPTIONAL_UNITS if units.get(unit, {}).get("load") not in (None, "not-found")]
    checks: list[tuple[str, str | None]] = []  # (name, why it is down or None)
    if systemd.get("error") or not units:
        checks.append(("systemd", f"systemd does not answer: {systemd.get('error') or 'no unit states'}"))
        wanted = []
    for unit in dict.fromkeys(wanted):
        state = units.get(unit, {"load": "unknown", "active": "unknown"})
        if state.get("load") == "not-found":
            checks.append((unit, f"unit {unit} is not installed"))
        elif state.get("active") != "active":
            checks.append((unit, f"unit {unit} is {state.get('active') or 'unknown'}"))
        else:
            checks.append((unit, None))
    if "app" in groups:
        docker = probe.get("docker", {})
        present = docker.get("containers", [])
        for role in APP_CONTAINERS:
            mine = [c for c in present if c.get("role") == role]
            up = [c for c in mine if str(c.get("status", "")).startswith("Up")]
            if not docker.get("available", False):
                checks.append((role, f"container {role}: docker does not answer ({docker.get('error', '')})"))
            elif not up:
                status = mine[0].get("status") if mine else "no container"
                checks.append((role, f"container {role} is not running ({status})"))
            elif all("(unhealthy)" in str(c.get("status")) for c in up):
                checks.append((role, f"container {role} is unhealthy ({up[0].get('status')})"))
            else:
                checks.append((role, None))
    down = [(name, why) for name, why in checks if why]
    cell = Cell(f"{len(checks) - len(down)}/{len(checks)} up")
    if down:
        cell.text += ", down: " + " ".join(name for name, _ in down)
        for _, why in down:
            cell.needs(why)
    return cell


def host_row(host: dict[str, Any]) -> Row:
    name, groups = host["name"], list(host.get("groups", []))
    cells = {column: Cell() for column in COLUMNS}
    cells["host"], cells["groups"] = Cell(name), Cell(",".join(groups) or "-")
    probe = host.get("probe")
    if not isinstance(probe, dict) or "now" not in probe:
        error = host.get("error") or "the host sent no status"
        cells["host"].needs(error)
        for column in COLUMNS[2:]:
            cells[column] = Cell("?")
        cells["services"] = Cell("UNREACHABLE" if error.startswith("unreachable") else "NO STATUS")
        return Row(name, cells)
    limits = {**DEFAULT_THRESHOLDS, **{k: v for k, v in (host.get("thresholds") or {}).items() if v not in (None, "")}}
    if "app" in groups:
        cells["release"], cells["last deploy (UTC)"], cells["lock"] = release_cells(probe)
    if "app" in groups or "db" in groups:
        cells["last backup"] = backup_cell(probe, int(limits["backup_max_age_hours"]))
    if "web" in groups:
        cells["certificates"] = certificate_cell(probe, int(limits["certificate_days"]))
    cells["disk"] = disk_cell(probe, int(limits["disk_percent"]))
    cells["services"] = services_cell(probe, groups)
    return Row(name, cells)


def render(rows: list[Row]) -> str:
    table = [[column.upper() for column in COLUMNS]] + [[row.cells[c].shown() for c in COLUMNS] for row in rows]
    widths = [max(len(line[i]) for line in table) for i in range(len(COLUMNS))]
    lines = ["  ".join(text.ljust(width) for text, width in zip(line, widths)).rstrip() for line in table]
    reasons = [reason for row in rows for reason in row.reasons]
    attention = [row.host for row in rows if row.reasons]
    lines.append("")
    hosts = f"{len(rows)} host{'s' if len(rows) != 1 else ''}"
    if reasons:
        lines.append(f"{hosts}, {len(attention)} {'needs' if len(attention) == 1 else 'need'} attention "
                     f"({', '.join(attention)}); cells marked '!':")
        lines += [f"ATTENTION {reason}" for reason in reasons]
    else:
        lines.append(f"{hosts}, nothing needs attention.")
    return "\n".join(line.rstrip() for line in lines)


def main(argv: list[str]) -> int:
    try:
        if len(argv) > 1 and argv[1] != "-":
            with open(argv[1], encoding="utf-8") as handle:
                document = json.load(handle)
        else:
            document = json.load(sys.stdin)
        hosts = document["hosts"]
    except (OSError, ValueError, KeyError, TypeError) as error:
        print(f"status: cannot read the hosts' status: {error}", file=sys.stderr)
        return 2
    if not hosts:  # a wrong inventory path must not read as a healthy environment
        print("ATTENTION the inventory has no host: nothing was checked")
        return 1
    rows = [host_row(host) for host in hosts]
    print(render(rows))
    return 1 if any(row.reasons for row in rows) else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
