"""The nginx role alone: validated config, self-signed TLS, headers, redirect, internal location,
refusal of a broken snippet."""

import re

NAME = "web.apranova.test"
RESOLVE = f"--resolve {NAME}:443:127.0.0.1 --resolve {NAME}:80:127.0.0.1"


def curl(host, args: str):
    return host.run(f"curl -sk --max-time 10 {RESOLVE} {args}")


def test_config_valid_and_running(host):
    assert host.run("nginx -t").rc == 0
    assert host.service("nginx").is_running and host.service("nginx").is_enabled
    dump = host.check_output("nginx -T 2>/dev/null")
    assert "upstream web_app" in dump and "server 127.0.0.1:8000;" in dump
    assert "set_real_ip_from 127.0.0.1;" in dump
    # Debian's default site (server_name _) is gone.
    assert not host.file("/etc/nginx/sites-enabled/default").exists
    assert "server_name _;" not in dump


def test_self_signed_certificate_until_one_is_issued(host):
    cert = host.check_output(
        f"openssl s_client -connect 127.0.0.1:443 -servername {NAME} </dev/null 2>/dev/null "
        "| openssl x509 -noout -subject -issuer -ext subjectAltName"
    )
    assert "DNS:web.apranova.test" in cert and "DNS:www.apranova.test" in cert
    assert host.file("/etc/nginx/ssl/web-selfsigned.key").mode == 0o600


def test_headers_and_tls_versions(host):
    headers = curl(host, f"--http2 -I https://{NAME}/static/probe.txt").stdout
    assert headers.startswith("HTTP/2 200")
    assert re.search(r"(?mi)^server: nginx\r?$", headers)
    for header in ("strict-transport-security", "x-content-type-options", "x-frame-options",
                   "referrer-policy", "content-security-policy"):
        assert re.search(rf"(?mi)^{header}: ", headers), header
    assert host.run(f"curl -sk --tlsv1.3 -o /dev/null {RESOLVE} https://{NAME}/static/probe.txt").rc == 0
    assert host.run(f"curl -sk --tlsv1.2 --tls-max 1.2 -o /dev/null {RESOLVE} https://{NAME}/static/probe.txt").rc == 0


def test_redirect_challenge_internal_and_body_size(host):
    redirect = host.run(f"curl -s -o /dev/null -w '%{{http_code}} %{{redirect_url}}' {RESOLVE} http://{NAME}/x")
    assert redirect.stdout == f"301 https://{NAME}/x"
    host.check_output("echo probe > /var/www/acme/.well-known/acme-challenge/t1")
    try:
        assert host.run(f"curl -s {RESOLVE} http://{NAME}/.well-known/acme-challenge/t1").stdout == "probe\n"
    finally:
        host.run("rm -f /var/www/acme/.well-known/acme-challenge/t1")
    assert curl(host, f"-o /dev/null -w '%{{http_code}}' https://{NAME}/_aprovova/x.pdf").stdout == "404"
    assert curl(host, f"-o /dev/null -w '%{{http_code}}' https://{NAME}/").stdout == "503"
    host.check_output("head -c 2000000 /dev/zero > /tmp/big.bin")
    big = curl(host, f"-o /dev/null -w '%{{http_code}}' --data-binary @/tmp/big.bin https://{NAME}/api/x")
    assert big.stdout == "413"


def test_broken_extra_config_refused_site_keeps_serving(host, refused):
    before = host.file("/etc/nginx/conf.d/web-extra-realip.conf").md5sum
    output = refused("broken.yml", unchanged=False)
    assert "not-an-address" in output
    assert host.file("/etc/nginx/conf.d/web-extra-realip.conf").md5sum == before
    assert host.run("nginx -t").rc == 0
    assert curl(host, f"-o /dev/null -w '%{{http_code}}' https://{NAME}/static/probe.txt").stdout == "200"


def test_refuses_empty_server_names(host, refused):
    assert "nginx_server_names must list at least one host name" in refused("refuse.yml")


def test_dropped_extra_snippet_is_removed(host, run_playbook):
    result = run_playbook("no-extra.yml")
    assert result.returncode == 0, result.stdout + result.stderr
    assert not host.file("/etc/nginx/conf.d/web-extra-realip.conf").exists
    assert "set_real_ip_from" not in host.check_output("nginx -T 2>/dev/null")
    assert curl(host, f"-o /dev/null -w '%{{http_code}}' https://{NAME}/static/probe.txt").stdout == "200"
