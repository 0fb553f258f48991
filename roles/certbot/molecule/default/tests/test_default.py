"""nginx + certbot against pebble: issued certificate, renewal without restart, TLS profile,
headers, redirects, internal location, refusals. The nginx role's own refusals run here too, as
this scenario is in `make test` and nginx's own is in `make test-all` only."""

import json
import os
import re
import shlex
import shutil
import subprocess
import tempfile

import pytest
from conftest import flat_output  # the repository's conftest.py (the verifier's rootdir)

NAME = "app.apranova.test"
RESOLVE = f"--resolve {NAME}:443:127.0.0.1 --resolve {NAME}:80:127.0.0.1"
ROOT = "/tmp/pebble-root.pem"


@pytest.fixture(scope="module")
def pebble_root(host):
    """pebble's root CA (made anew each time pebble starts), fetched from its management API."""
    host.check_output(f"curl -sf --cacert /etc/pebble/listener.crt https://localhost:15000/roots/0 -o {ROOT}")
    return host.file(ROOT).content_string


def served_cert(host) -> str:
    return host.check_output(
        f"openssl s_client -connect 127.0.0.1:443 -servername {NAME} </dev/null 2>/dev/null "
        "| openssl x509 -noout -issuer -subject -serial -ext subjectAltName"
    )


def serial(host) -> str:
    return re.search(r"serial=(\w+)", served_cert(host)).group(1)


def curl(host, args: str):
    return host.run(f"curl -s --max-time 10 --cacert {ROOT} {RESOLVE} {args}")


def test_nginx_serves_certificate_issued_by_pebble(host, pebble_root):
    cert = served_cert(host)
    assert "Pebble Intermediate CA" in cert
    assert f"DNS:{NAME}" in cert
    # Currently valid, and the chain verifies against pebble's root for this name.
    assert host.run(
        f"openssl s_client -connect 127.0.0.1:443 -servername {NAME} </dev/null 2>/dev/null "
        "| openssl x509 -noout -checkend 0"
    ).rc == 0
    assert curl(host, f"-o /dev/null -w '%{{http_code}}' https://{NAME}/static/probe.txt").stdout == "200"
    # nginx's TLS snippet points at the issued certificate.
    assert f"/etc/letsencrypt/live/{NAME}/fullchain.pem" in host.check_output("nginx -T 2>/dev/null")


def test_renewal_by_timer_and_deploy_hook(host):
    assert host.service("certbot.timer").is_enabled
    assert host.check_output("systemctl is-active certbot.timer") == "active"
    env = host.check_output("systemctl show -p Environment certbot.service")
    assert "REQUESTS_CA_BUNDLE=/etc/pebble/listener.crt" in env
    # No cron job of ours: the package's entry is a no-op on systemd hosts.
    assert "certbot" not in host.run("crontab -l -u root").stdout


def test_force_renewal_served_without_restart_and_no_failed_request(host, pebble_root):
    before_serial = serial(host)
    before_pid = host.check_output("systemctl show -p MainPID --value nginx")
    script = f"""
rm -f /tmp/stop-loop
( ok=0; fail=0; failures=; end=$((SECONDS + 60))
  for i in $(seq 300); do
    [ -e /tmp/stop-loop ] || [ $SECONDS -ge $end ] && break
    code=$(curl -s -o /dev/null -w '%{{http_code}}' --max-time 30 --cacert {ROOT} {RESOLVE} https://{NAME}/static/probe.txt)
    status=$?
    if [ "$code" = 200 ]; then ok=$((ok + 1)); else fail=$((fail + 1)); failures="$failures $code/curl-exit-$status"; fi
    sleep 0.05
  done
  echo "ok=$ok fail=$fail$failures" > /tmp/loop-result ) &
loop=$!
sleep 1
REQUESTS_CA_BUNDLE=/etc/pebble/listener.crt certbot renew --force-renewal --cert-name {NAME} --no-random-sleep-on-renew
rc=$?
sleep 2
touch /tmp/stop-loop
wait $loop
echo "renew rc=$rc"
cat /tmp/loop-result
"""
    out = host.check_output(f"bash -c {shlex.quote(script)}")
    print(out)
    assert "renew rc=0" in out
    counts = dict(kv.split("=") for kv in re.search(r"ok=\d+ fail=\d+", out).group(0).split())
    print(f"requests during renewal: ok={counts['ok']} failed={counts['fail']}")
    assert int(counts["ok"]) > 10
    # Each failure with its HTTP code and curl's exit status (000/curl-exit-56: a connection the
    # reload cut; 28 would be a request slower than 30 s on the loaded machine).
    assert int(counts["fail"]) == 0, out.splitlines()[-1]
    after_serial = serial(host)
    assert after_serial != before_serial
    assert host.check_output("systemctl show -p MainPID --value nginx") == before_pid


CERT_METRICS = "/var/lib/prometheus/node-exporter/apranova_certificates.prom"


def live_cert_expiry(host) -> int:
    end = host.check_output(f"openssl x509 -noout -enddate -in /etc/letsencrypt/live/{NAME}/cert.pem")
    return int(host.check_output(f"date -u -d {shlex.quote(end.split('=', 1)[1])} +%s"))


def expiry_metric(host) -> int:
    found = re.findall(rf'^apranova_certificate_expiry_timestamp_seconds\{{name="{re.escape(NAME)}"\}} (\d+)$',
                       host.file(CERT_METRICS).content_string, re.M)
    assert len(found) == 1, host.file(CERT_METRICS).content_string
    return int(found[0])


def test_certificate_expiry_metric_follows_renewals(host):
    """The role wrote the live certificate's notAfter; a renewal (through the deploy hook) writes the
    new one; certbot.service writes it after every timer run, whatever the run's result."""
    metrics = host.file(CERT_METRICS)
    assert metrics.user == "root" and metrics.mode == 0o644
    assert expiry_metric(host) == live_cert_expiry(host)
    assert "apranova-certificate-metrics" in host.check_output("systemctl show -p ExecStopPost certbot.service")
    # A stale value, then a renewal: only the deploy hook can have put the new expiry back.
    host.check_output(f"sed -i 's/}} [0-9]*$/}} 1/' {CERT_METRICS}")
    assert expiry_metric(host) == 1
    host.check_output("REQUESTS_CA_BUNDLE=/etc/pebble/listener.crt certbot renew --force-renewal "
                      f"--cert-name {NAME} --no-random-sleep-on-renew")
    assert expiry_metric(host) == live_cert_expiry(host) > 1
    # Replaced whole by a rename, never left half-written: no temporary file remains.
    assert host.run("ls -A /var/lib/prometheus/node-exporter | grep -c '^[.]apranova_certificates'").stdout.strip() == "0"


def test_tls_meets_mozilla_intermediate(host, pebble_root):
    sslyze = shutil.which("sslyze")
    assert sslyze, "sslyze is not installed on the control node (requirements.txt)"
    address = host.interface("eth0").addresses[0]
    with tempfile.NamedTemporaryFile("w", suffix=".pem", delete=False) as ca:
        ca.write(pebble_root)
    try:
        result = subprocess.run(
            [sslyze, "--mozilla_config=intermediate", f"--certinfo_ca_file={ca.name}", f"{NAME}:443{{{address}}}"],
            capture_output=True, text=True, timeout=300, check=False,
        )
    finally:
        os.unlink(ca.name)
    print(result.stdout)
    assert result.returncode == 0, result.stdout + result.stderr
    assert re.search(rf"{NAME}:443: OK - Compliant", result.stdout)
    assert "TLSv1.3" in host.check_output(f"curl -s -o /dev/null -w '' -v --cacert {ROOT} {RESOLVE} "
                                          f"https://{NAME}/static/probe.txt 2>&1 | grep -i 'SSL connection'")


def test_security_headers_http2_and_no_version(host, pebble_root):
    headers = curl(host, f"--http2 -sI https://{NAME}/static/probe.txt").stdout
    assert headers.startswith("HTTP/2 200")
    assert re.search(r"(?mi)^server: nginx\r?$", headers), "Server header must carry no version"
    assert re.search(r"(?mi)^strict-transport-security: max-age=63072000", headers)
    assert re.search(r"(?mi)^x-content-type-options: nosniff", headers)
    assert re.search(r"(?mi)^x-frame-options: SAMEORIGIN", headers)
    assert re.search(r"(?mi)^referrer-policy: strict-origin-when-cross-origin", headers)
    assert re.search(r"(?mi)^content-security-policy: default-src 'self';.*style-src 'self' 'unsafe-inline'", headers)
    # Static files: long cache lifetime and gzip for text.
    assert re.search(r"(?mi)^cache-control: max-age=2592000", headers)
    css = curl(host, f"-sI -H 'Accept-Encoding: gzip' https://{NAME}/static/probe.css").stdout
    assert re.search(r"(?mi)^content-encoding: gzip", css)


def test_http_redirects_but_answers_challenges(host):
    redirect = host.run(f"curl -s -o /dev/null -w '%{{http_code}} %{{redirect_url}}' {RESOLVE} http://{NAME}/admin/?x=1")
    assert redirect.stdout == f"301 https://{NAME}/admin/?x=1"
    host.check_output("echo challenge-probe > /var/www/acme/.well-known/acme-challenge/probe")
    try:
        challenge = host.run(f"curl -s -w ' %{{http_code}}' {RESOLVE} http://{NAME}/.well-known/acme-challenge/probe")
        assert challenge.stdout == "challenge-probe\n 200"
    finally:
        host.run("rm -f /var/www/acme/.well-known/acme-challenge/probe")


def test_maintenance_page_when_app_down_and_internal_location_hidden(host, pebble_root):
    down = curl(host, f"-w ' %{{http_code}}' https://{NAME}/")
    assert down.stdout.endswith(" 503")
    assert "<h1>Maintenance</h1>" in down.stdout
    direct = curl(host, f"-o /dev/null -w '%{{http_code}}' https://{NAME}/_aprovova/reports/r1.pdf")
    assert direct.stdout == "404"


APP = r"""
import http.server
class H(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def do_GET(self):
        headers = {"Content-Length": "0"}
        body = b""
        if self.path.endswith("/download/"):
            headers["X-Accel-Redirect"] = "/_aprovova/reports/r1.pdf"
        else:
            body = ("proto=%s for=%s host=%s" % (self.headers.get("X-Forwarded-Proto"),
                    self.headers.get("X-Forwarded-For"), self.headers.get("Host"))).encode()
            headers["Content-Length"] = str(len(body))
        self.send_response(200)
        for k, v in headers.items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(body)
http.server.ThreadingHTTPServer(("127.0.0.1", 8000), H).serve_forever()
"""


def test_proxy_forwards_headers_and_serves_aprovova_by_x_accel(host, pebble_root):
    host.run("printf '%s' " + shlex.quote(APP) + " > /tmp/fake-app.py")
    host.check_output("systemd-run --unit=fake-app python3 /tmp/fake-app.py")
    try:
        host.run_test("for i in $(seq 50); do curl -s -o /dev/null http://127.0.0.1:8000/ && exit 0; sleep 0.1; done; exit 1")
        echo = curl(host, f"https://{NAME}/hello").stdout
        assert echo == f"proto=https for=127.0.0.1 host={NAME}"
        download = curl(host, f"https://{NAME}/api/reports/1/download/").stdout
        assert download == "%PDF-1.4 aprovova probe\n"
        # Metrics: loopback may read them, the host's own public address may not.
        assert curl(host, f"-o /dev/null -w '%{{http_code}}' https://{NAME}/metrics").stdout == "200"
        public = host.ansible("setup", "filter=ansible_default_ipv4")["ansible_facts"]["ansible_default_ipv4"]["address"]
        outside = host.run(f"curl -s -k --max-time 10 -o /dev/null -w '%{{http_code}}' --resolve {NAME}:443:{public} https://{NAME}/metrics")
        assert outside.stdout == "403"
        # The maintenance flag (set during a restore) keeps requests from the running app.
        host.check_output("mkdir -p /srv/apranova && touch /srv/apranova/maintenance.flag")
        try:
            flagged = curl(host, f"-w ' %{{http_code}}' https://{NAME}/hello").stdout
            assert flagged.endswith(" 503") and "<h1>Maintenance</h1>" in flagged
        finally:
            host.run("rm -f /srv/apranova/maintenance.flag")
        assert curl(host, f"https://{NAME}/hello").stdout.startswith("proto=https")
    finally:
        host.run("systemctl stop fake-app")


def test_login_is_rate_limited(host, pebble_root):
    codes = curl(host, f"-o /dev/null -w '%{{http_code}}\\n' https://{NAME}/admin/login/?[1-15]").stdout.split()
    assert len(codes) == 15
    assert codes[0] != "429"
    assert "429" in codes


def test_broken_extra_config_refused_site_keeps_serving(host, refused, pebble_root):
    before = host.check_output("md5sum /etc/nginx/nginx.conf /etc/nginx/conf.d/*.conf")
    output = refused("broken.yml", unchanged=False)
    assert "this_is_not_a_directive" in output
    assert not host.file("/etc/nginx/conf.d/apranova-extra-broken.conf").exists
    assert host.check_output("md5sum /etc/nginx/nginx.conf /etc/nginx/conf.d/*.conf") == before
    assert host.run("nginx -t").rc == 0
    assert curl(host, f"-o /dev/null -w '%{{http_code}}' https://{NAME}/static/probe.txt").stdout == "200"


def test_refuses_missing_email(host, refused):
    assert "certbot_email is empty" in refused("refuse-email.yml")


def test_refuses_domain_that_does_not_reach_host(host, refused):
    before = host.check_output("ls /etc/letsencrypt/live /etc/letsencrypt/renewal")
    output = refused("refuse-domain.yml")
    assert "elsewhere.apranova.test did not serve the check token" in output
    assert "Point the DNS record" in output
    assert host.check_output("ls /etc/letsencrypt/live /etc/letsencrypt/renewal") == before
    assert host.run("ls -A /var/www/acme/.well-known/acme-challenge/").stdout == ""


def test_nginx_refuses_empty_server_names(host, refused):
    assert "nginx_server_names must list at least one host name" in refused("refuse-server-names.yml")


def test_nginx_upstream_lists_registered_hosts_and_refuses_a_bad_one(host, run_playbook, refused, pebble_root):
    """The upstream entry point a deploy calls: a host's servers replace the default ones, a
    server nginx cannot resolve is refused with the live site untouched, and the last host
    cannot be removed."""
    members = "/etc/nginx/upstreams/apranova"
    assert "server 127.0.0.1:8000;" in host.file(f"{members}/_default.conf").content_string

    def register(member: str, servers: list[str]):
        return run_playbook("upstream.yml", "-e", json.dumps({"member": member, "servers": servers}))

    try:
        first = register("app-one", ["127.0.0.1:8101"])
        assert first.returncode == 0, flat_output(first)[-3000:]
        dump = host.check_output("nginx -T 2>/dev/null")
        assert "server 127.0.0.1:8101;" in dump and "server 127.0.0.1:8000;" not in dump, dump[-2000:]
        assert not host.file(f"{members}/_default.conf").exists
        again = register("app-one", ["127.0.0.1:8101"])
        assert again.returncode == 0 and not re.search(r"changed=[1-9]", again.stdout), again.stdout[-2000:]

        before = host.check_output(f"md5sum {members}/*.conf /etc/nginx/conf.d/*.conf")
        output = flat_output(register("app-two", ["app-two.invalid:8101"]))
        assert "host not found in upstream" in output, output[-3000:]
        assert host.check_output(f"md5sum {members}/*.conf /etc/nginx/conf.d/*.conf") == before
        assert "must be a plain name" in refused("upstream.yml", "-e", json.dumps({"member": "../x", "servers": []}))
        assert "is the last application host" in refused("upstream.yml", "-e", json.dumps({"member": "app-one", "servers": []}))
        assert curl(host, f"-o /dev/null -w '%{{http_code}}' https://{NAME}/static/probe.txt").stdout == "200"
    finally:
        # Back to the converged state: the default servers, no registered host.
        host.run(f"rm -f {members}/app-*.conf")
        restored = run_playbook("converge.yml")
        assert restored.returncode == 0, flat_output(restored)[-3000:]
    assert "server 127.0.0.1:8000;" in host.check_output("nginx -T 2>/dev/null")


# Last: it changes the site for good.
def test_nginx_removes_a_dropped_extra_snippet(host, run_playbook, pebble_root):
    assert "set_real_ip_from 127.0.0.1;" in host.check_output("nginx -T 2>/dev/null")
    result = run_playbook("no-extra.yml")
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr
    assert not host.file("/etc/nginx/conf.d/apranova-extra-realip.conf").exists
    assert "set_real_ip_from" not in host.check_output("nginx -T 2>/dev/null")
    assert curl(host, f"-o /dev/null -w '%{{http_code}}' https://{NAME}/static/probe.txt").stdout == "200"
