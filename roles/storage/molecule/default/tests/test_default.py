"""SeaweedFS's S3 gateway: each identity reads and writes its own bucket only, data survives a
restart, nothing but the gateway listens, and bad input is refused before anything changes."""

from __future__ import annotations

import hashlib
import json
import time

import pytest

S3 = "http://127.0.0.1:8333"
APP = ("app-key", "app-Secret-1234567")
ARCHIVER = ("archive-key", "archive-Secret-12345")


def s3(host, method: str, path: str, who=APP, data: str | None = None) -> str:
    """The HTTP status of a signed S3 request (curl's SigV4), with its body after a newline."""
    body = f"--data-binary '{data}'" if data is not None else ""  # no quotes or newlines in test data
    # curl 7.88 signs the request but leaves out the payload's hash, which S3 requires.
    payload = hashlib.sha256((data or "").encode()).hexdigest()
    out = host.run(f"curl -sS -X {method} {body} -H 'x-amz-content-sha256: {payload}' --aws-sigv4 aws:amz:us-east-1:s3 "
                   f"--user {who[0]}:{who[1]} -w '\\n%{{http_code}}' '{S3}{path}'")
    *content, code = out.stdout.rsplit("\n", 1)
    return code + "\n" + "".join(content)


def status(host, *args, **kwargs) -> str:
    return s3(host, *args, **kwargs).split("\n", 1)[0]


def test_service_runs_as_its_own_user(host):
    service = host.service("seaweedfs")
    assert service.is_running and service.is_enabled
    assert host.check_output("ps -o user= -C weed").split() == ["seaweedfs"]
    config = host.file("/etc/seaweedfs/s3.json")
    assert (config.user, config.group, config.mode) == ("root", "seaweedfs", 0o640)


def test_only_loopback_listens(host):
    listening = {line.split()[3] for line in host.check_output("ss -Htlnp | grep '\"weed\"'").splitlines()}
    assert listening and all(each.startswith("127.0.0.1:") for each in listening), listening


def test_an_identity_writes_and_reads_its_own_bucket(host):
    assert status(host, "PUT", "/reports/csv/one.csv", data="a,b;1,2") == "200"
    assert s3(host, "GET", "/reports/csv/one.csv") == "200\na,b;1,2"
    assert "one.csv" in s3(host, "GET", "/reports?list-type=2")


@pytest.mark.parametrize(("who", "path"), [(APP, "/archive/x"), (ARCHIVER, "/reports/x"), (("app-key", "wrong-secret-123456"), "/reports/x")])
def test_other_buckets_and_wrong_secrets_are_refused(host, who, path):
    assert status(host, "PUT", path, who=who, data="x") == "403"


def test_anonymous_requests_are_refused(host):
    assert host.check_output(f"curl -sS -o /dev/null -w '%{{http_code}}' {S3}/reports/csv/one.csv") == "403"


def test_objects_survive_a_restart(host):
    assert status(host, "PUT", "/reports/kept.txt", data="kept") == "200"
    host.check_output("systemctl restart seaweedfs")
    for _ in range(60):
        if status(host, "GET", "/reports/kept.txt") == "200":
            break
        time.sleep(1)
    assert s3(host, "GET", "/reports/kept.txt") == "200\nkept"


def _refused(host, refused, extra, message):
    before = host.file("/etc/seaweedfs/s3.json").md5sum
    assert message in refused("refuse.yml", "--extra-vars", json.dumps(extra))
    assert host.file("/etc/seaweedfs/s3.json").md5sum == before


def test_refuses_a_bad_bucket_name(host, refused):
    _refused(host, refused, {"storage_buckets": ["Reports_2026"]}, "['Reports_2026'] are not bucket names")


def test_refuses_plain_http_beyond_loopback(host, refused):
    _refused(host, refused, {"storage_s3_bind_address": "0.0.0.0"}, "without storage_tls_certificate the keys")


def test_refuses_a_short_secret_or_an_unknown_bucket(host, refused):
    short = [{"name": "app", "access_key_id": "app-key", "secret_access_key": "short", "buckets": ["reports"]}]
    _refused(host, refused, {"storage_s3_identities": short}, "every secret_access_key needs 16 characters")
    unknown = [{"name": "app", "access_key_id": "app-key", "secret_access_key": "app-Secret-1234567", "buckets": ["nope"]}]
    _refused(host, refused, {"storage_s3_identities": unknown}, "every bucket named must be in storage_buckets")
