#!/usr/bin/env python3
"""The outside checks of `make audit`: what a scanner of the environment would find.

Reads what playbooks/audit.yml gathered (one JSON document: every host's listening sockets and
the ports it may open, how to reach its SSH and HTTPS), runs sslyze, ssh-audit and HTTP probes
from the control node, prints one PASS/FAIL table and exits 1 when any row failed.
"""
from __future__ import annotations

import ipaddress
import json
import re
import shutil
import socket
import ssl
import subprocess
import sys
from dataclasses import dataclass
from typing import Any

SECURITY_HEADERS = ["strict-transport-security", "x-content-type-options", "x-frame-options", "referrer-policy",
                    "content-security-policy"]


@dataclass
class Row:
    host: str
    check: str
    passed: bool
    detail: str


def _address_and_port(local: str) -> tuple[str, int]:
    address, _, port = local.rpartition(":")
    address = address.strip("[]").split("%", 1)[0]  # "[::]" and "127.0.0.53%lo"
    return address, int(port) if port.isdigit() else -1


def _is_loopback(address: str) -> bool:
    if address in ("localhost",):
        return True
    try:
        return ipaddress.ip_address(address).is_loopback
    except ValueError:
        return False


def check_sockets(host: dict[str, Any]) -> Row:
    """Every listener on an address other than loopback must be on a port the host's roles open."""
    allowed = {int(port) for port in host["allowed_ports"]}
    unexpected = []
    for line in host["sockets"].splitlines():
        fields = line.split()
        if len(fields) < 5:
            continue
        protocol, local = fields[0], fields[4]
        address, port = _address_and_port(local)
        if not _is_loopback(address) and port not in allowed:
            unexpected.append(f"{protocol} {local}")
    allowed_text = ", ".join(str(port) for port in sorted(allowed))
    if unexpected:
        return Row(host["name"], "listening sockets", False, f"not allowed: {', '.join(sorted(set(unexpected)))} (allowed: {allowed_text})")
    return Row(host["name"], "listening sockets", True, f"public ports within {allowed_text}")


def _ssh_audit_command(host: dict[str, Any]) -> list[str]:
    tool = shutil.which("ssh-audit")
    if not tool:
        raise FileNotFoundError("ssh-audit is not installed on the control node (requirements.txt)")
    command = [tool, "--no-colors", "-p", str(host["ssh_port"])]
    if host["connection"] in ("docker", "community.docker.docker"):
        # A container reached through Docker publishes no SSH port: audit from inside its network.
        pid = subprocess.run(["docker", "inspect", "--format", "{{.State.Pid}}", host["container"]],
                             capture_output=True, text=True, check=True).stdout.strip()
        return ["nsenter", f"--net=/proc/{pid}/ns/net", *command, "127.0.0.1"]
    return [*command, host["address"]]


def check_ssh(host: dict[str, Any]) -> Row:
    try:
        result = subprocess.run(_ssh_audit_command(host), capture_output=True, text=True, timeout=120, check=False)
    except (OSError, subprocess.SubprocessError) as error:
        return Row(host["name"], "ssh-audit", False, str(error))
    failures = [" ".join(line.split()[:2]) for line in result.stdout.splitlines() if "[fail]" in line]
    # ssh-audit's exit codes (ssh_audit/exitcodes.py): 0 good, 1 no connection, 2 warnings only, 3 failures.
    if result.returncode not in (0, 2) or failures:
        last_words = (result.stdout + result.stderr).strip().splitlines()[-1:]
        return Row(host["name"], "ssh-audit", False, "; ".join(failures) or " ".join(last_words) or f"exit {result.returncode}")
    return Row(host["name"], "ssh-audit", True, "no failure" + (" (warnings only)" if result.returncode == 2 else ""))


def check_tls(site: dict[str, Any], ca_file: str) -> Row:
    tool = shutil.which("sslyze")
    target = f"{site['domain']}:{site['port']}{{{site['address']}}}"
    if not tool:
        return Row(site["host"], "TLS: Mozilla intermediate", False, "sslyze is not installed on the control node")
    command = [tool, "--mozilla_config=intermediate", target] + ([f"--certinfo_ca_file={ca_file}"] if ca_file else [])
    result = subprocess.run(command, capture_output=True, text=True, timeout=300, check=False)
    compliant = result.returncode == 0 and "Compliant" in result.stdout
    detail = "compliant" if compliant else " ".join(line.strip() for line in result.stdout.splitlines()
                                                    if "*" in line or "FAILED" in line or "Error" in line)[:400]
    return Row(site["host"], "TLS: Mozilla intermediate", compliant, detail or f"sslyze exit {result.returncode}")


def _get(site: dict[str, Any], path: str, context: ssl.SSLContext) -> tuple[int, list[tuple[str, str]], bytes]:
    """One HTTPS GET to the site's address with the site's name (SNI and Host), as a browser would."""
    with socket.create_connection((site["address"], int(site["port"])), timeout=10) as raw, \
            context.wrap_socket(raw, server_hostname=site["domain"]) as tls:
        tls.sendall(f"GET {path} HTTP/1.1\r\nHost: {site['domain']}\r\nConnection: close\r\n"
                    "User-Agent: apranova-audit\r\n\r\n".encode())
        data = b""
        while chunk := tls.recv(65536):
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("iso-8859-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = [(name.strip().lower(), value.strip()) for name, _, value in (line.partition(":") for line in lines[1:])]
    return status, headers, body


def check_http(site: dict[str, Any], ca_file: str, verify: bool) -> list[Row]:
    context = ssl.create_default_context(cafile=ca_file or None)
    if not verify:
        context.check_hostname, context.verify_mode = False, ssl.CERT_NONE
    rows = []
    try:
        for path in ("/", "/healthz", "/api/"):
            _, headers, _ = _get(site, path, context)
            names = [name for name, _ in headers]
            counts = {name: names.count(name) for name in SECURITY_HEADERS}
            wrong = {name: count for name, count in counts.items() if count != 1}
            rows.append(Row(site["host"], f"headers once: {path}", not wrong,
                            "each once" if not wrong else ", ".join(f"{name} x{count}" for name, count in wrong.items())))
        expected = {"/metrics": (403,), "/metrics/": (403, 404), "/metrics//": (403, 404), "/_aprovova/": (404,)}
        for path, statuses in expected.items():
            status, _, _ = _get(site, path, context)
            rows.append(Row(site["host"], f"refused to the public: {path}", status in statuses, f"HTTP {status}"))
        status, _, body = _get(site, "/readyz", context)
        try:  # the body may come in chunks: the object is between the first { and the last }
            keys = sorted(json.loads(body[body.index(b"{"):body.rindex(b"}") + 1]))
        except ValueError:
            keys = ["<not JSON>"]
        rows.append(Row(site["host"], "readyz: bare status", keys == ["status"], f"HTTP {status}, keys {keys}"))
    except (OSError, ssl.SSLError, ValueError, IndexError) as error:
        rows.append(Row(site["host"], "HTTPS probes", False, f"{type(error).__name__}: {error}"))
    return rows


def main() -> int:
    facts = json.load(open(sys.argv[1], encoding="utf-8"))
    rows: list[Row] = []
    for host in facts["hosts"]:
        rows.append(check_sockets(host))
        rows.append(check_ssh(host))
    for site in facts["sites"]:
        rows.append(check_tls(site, facts.get("ca_file", "")))
        rows.extend(check_http(site, facts.get("ca_file", ""), facts.get("verify", True)))
    width_host = max(len(row.host) for row in rows)
    width_check = max(len(row.check) for row in rows)
    for row in rows:
        print(f"{'PASS' if row.passed else 'FAIL'}  {row.host:<{width_host}}  {row.check:<{width_check}}  {row.detail}")
    failed = sum(not row.passed for row in rows)
    print(f"\n{len(rows) - failed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
