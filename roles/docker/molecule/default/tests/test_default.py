"""The docker role: daemon settings in effect, a locally built image runs, restarts, users, upstream repo."""

import json
import time

import pytest
from conftest import flat_output  # the repository's conftest.py (the verifier's rootdir)

IMAGE = "local/busybox:test"
BUILD = "/root/busybox-image"


def info(host) -> dict:
    return json.loads(host.check_output("docker info --format '{{json .}}'"))


def wait_for_daemon(host, old_pid, seconds=60):
    deadline = time.time() + seconds
    while time.time() < deadline:
        pid = host.check_output("systemctl show --property MainPID --value docker")
        if pid not in ("0", str(old_pid)) and host.run("docker info").rc == 0:
            return
        time.sleep(1)
    raise AssertionError("dockerd did not come back")


@pytest.fixture(scope="module")
def image(host):
    """An image built here FROM scratch around busybox-static (nothing can be pulled)."""
    host.check_output(
        f"rm -rf {BUILD} && mkdir -p {BUILD} && cp /bin/busybox {BUILD}/busybox"
        f" && echo served-by-busybox > {BUILD}/index.html"
        f" && printf 'FROM scratch\\nCOPY busybox /bin/busybox\\nCOPY index.html /www/index.html\\n"
        f"ENTRYPOINT [\"/bin/busybox\"]\\n' > {BUILD}/Dockerfile"
    )
    host.check_output(f"DOCKER_BUILDKIT=0 docker build -q -t {IMAGE} {BUILD}")
    return IMAGE


def test_buildkit_build_with_a_secret(host, image):
    """BuildKit works (the app's image build passes its CA bundle as a build secret)."""
    host.check_output(
        f"rm -rf {BUILD}-bk && mkdir -p {BUILD}-bk && echo probe-secret > {BUILD}-bk/secret"
        f" && printf 'FROM {image}\\nRUN --mount=type=secret,id=probe [\"/bin/busybox\", \"cp\", \"/run/secrets/probe\", \"/seen\"]\\n'"
        f" > {BUILD}-bk/Dockerfile"
    )
    host.check_output(f"DOCKER_BUILDKIT=1 docker build -q -t buildkit-probe --secret id=probe,src={BUILD}-bk/secret {BUILD}-bk")
    assert host.check_output("docker run --rm buildkit-probe cat /seen") == "probe-secret"
    host.run("docker rmi buildkit-probe")


@pytest.fixture(scope="module")
def web(host, image):
    """A long-running container publishing a port on loopback."""
    host.run("docker rm -f web")
    host.check_output(f"docker run -d --name web -p 127.0.0.1:18080:80 {image} httpd -f -p 80 -h /www")
    yield "web"
    host.run("docker rm -f web")


def test_daemon_runs_and_is_enabled(host):
    assert host.service("docker").is_running
    assert host.service("docker").is_enabled


def test_docker_info_shows_live_restore_and_logging(host):
    data = info(host)
    assert data["LiveRestoreEnabled"] is True
    assert data["LoggingDriver"] == "json-file"


def test_daemon_json_merges_options_over_defaults(host):
    conf = json.loads(host.file("/etc/docker/daemon.json").content_string)
    assert conf["log-opts"] == {"max-size": "5m", "max-file": "3"}
    assert conf["userland-proxy"] is False and conf["no-new-privileges"] is True
    assert conf["default-ulimits"]["nofile"]["Soft"] == 4096


def test_container_runs_from_local_image(host, image):
    out = host.check_output(f"docker run --rm {image} echo hello-from-inner-container")
    assert out.strip() == "hello-from-inner-container"


def test_containers_get_log_limits_and_ulimits(host, image):
    cid = host.check_output(f"docker create {image} true")
    try:
        log = json.loads(host.check_output(f"docker inspect --format '{{{{json .HostConfig.LogConfig}}}}' {cid}"))
        assert log == {"Type": "json-file", "Config": {"max-file": "3", "max-size": "5m"}}
    finally:
        host.run(f"docker rm {cid}")
    assert host.check_output(f"docker run --rm {image} sh -c 'ulimit -n'").strip() == "4096"


def test_containers_cannot_gain_privileges(host, image):
    status = host.check_output(f"docker run --rm {image} grep NoNewPrivs /proc/self/status")
    assert status.split() == ["NoNewPrivs:", "1"]


def test_published_port_answers_without_userland_proxy(host, web):
    assert host.check_output("curl -s -m 5 http://127.0.0.1:18080/index.html").strip() == "served-by-busybox"
    assert host.run("pgrep -x docker-proxy").rc == 1, "a docker-proxy process runs"


def test_container_survives_daemon_restart(host, web):
    before = host.check_output(f"docker inspect --format '{{{{.State.Pid}}}}' {web}")
    old = host.check_output("systemctl show --property MainPID --value docker")
    host.check_output("systemctl restart docker")
    wait_for_daemon(host, old)
    assert host.check_output(f"docker inspect --format '{{{{.State.Pid}}}}' {web}") == before
    assert host.check_output("curl -s -m 5 http://127.0.0.1:18080/index.html").strip() == "served-by-busybox"


def test_killed_daemon_comes_back(host, web):
    old = host.check_output("systemctl show --property MainPID --value docker")
    host.check_output(f"kill -9 {old}")
    wait_for_daemon(host, old)
    assert host.check_output(f"docker inspect --format '{{{{.State.Running}}}}' {web}") == "true"


def test_docker_group_member_can_use_docker(host):
    assert "docker" in host.user("alice").groups
    assert host.run("runuser -u alice -- docker ps").rc == 0
    assert host.run("runuser -u nobody -- docker ps").rc != 0


def test_compose_is_installed(host):
    assert host.run("docker-compose version").rc == 0


def _run(run_playbook, playbook, extra):
    result = run_playbook(playbook, "--extra-vars", json.dumps(extra))
    return result, flat_output(result)


def test_refuses_upstream_without_version(host, refused):
    before = host.file("/etc/docker/daemon.json").md5sum
    output = refused("refuse.yml", "--extra-vars", json.dumps({"docker_source": "upstream"}))
    assert "set docker_upstream_repo_url and docker_upstream_key_url" in output
    assert host.file("/etc/docker/daemon.json").md5sum == before
    assert not host.file("/etc/apt/sources.list.d/docker.sources").exists


def test_refuses_unknown_source(host, refused):
    output = refused("refuse.yml", "--extra-vars", json.dumps({"docker_source": "snap"}))
    assert "docker_source" in output and "debian, upstream" in output


@pytest.fixture(scope="module")
def signing_key(host):
    """A throwaway signing key served on loopback, standing in for Docker's."""
    host.check_output(
        "rm -rf /root/keysrv /root/gnupg && mkdir -p /root/keysrv /root/gnupg && chmod 700 /root/gnupg"
        " && gpg --homedir /root/gnupg --batch --passphrase '' --quick-gen-key 'test <test@example.invalid>'"
        " ed25519 sign never"
        " && gpg --homedir /root/gnupg --armor --export > /root/keysrv/gpg"
    )
    listing = host.check_output("gpg --homedir /root/gnupg --with-colons --list-keys")
    fingerprint = next(line.split(":")[9] for line in listing.splitlines() if line.startswith("fpr:"))
    host.check_output("systemd-run --unit=keysrv python3 -m http.server 18081 --bind 127.0.0.1 -d /root/keysrv")
    time.sleep(1)
    yield fingerprint
    host.run("systemctl stop keysrv; gpgconf --homedir /root/gnupg --kill gpg-agent")


@pytest.fixture
def clean_repository(host):
    """Remove what the upstream option wrote, so that every test starts without it."""
    yield
    host.run("rm -f /etc/apt/sources.list.d/docker.sources /etc/apt/preferences.d/docker.pref /etc/apt/keyrings/docker.asc")


def test_upstream_repository_is_rendered(host, run_playbook, signing_key, clean_repository):
    spaced = " ".join(signing_key[i:i + 4] for i in range(0, 40, 4))
    result, output = _run(run_playbook, "upstream.yml", {
        "docker_upstream_key_url": "http://127.0.0.1:18081/gpg", "docker_upstream_key_fingerprint": spaced})
    assert result.returncode == 0, output
    sources = host.file("/etc/apt/sources.list.d/docker.sources").content_string
    assert "URIs: http://127.0.0.1:18081/linux/debian" in sources
    assert "Signed-By: /etc/apt/keyrings/docker.asc" in sources
    # apt itself parses the deb822 file (no network involved).
    targets = host.check_output("apt-get indextargets --no-release-info")
    arch = host.check_output("dpkg --print-architecture")
    release = host.system_info.codename
    assert f"URI: http://127.0.0.1:18081/linux/debian/dists/{release}/stable/binary-{arch}/Packages" in targets
    pin = host.file("/etc/apt/preferences.d/docker.pref").content_string
    assert "Pin: version 5:27.5.1-1~debian.12~bookworm" in pin and "Package: docker-ce " in pin
    assert signing_key in host.check_output("gpg --show-keys --with-colons /etc/apt/keyrings/docker.asc")
    # The engine still comes from Debian: nothing was installed from the repository.
    assert host.package("docker.io").is_installed and not host.package("docker-ce").is_installed
    # Running it again changes nothing.
    again, output = _run(run_playbook, "upstream.yml", {
        "docker_upstream_key_url": "http://127.0.0.1:18081/gpg", "docker_upstream_key_fingerprint": spaced})
    assert again.returncode == 0 and "changed=0" in output


def test_upstream_key_with_wrong_fingerprint_is_refused(host, run_playbook, signing_key, clean_repository):
    result, output = _run(run_playbook, "upstream.yml", {
        "docker_upstream_key_url": "http://127.0.0.1:18081/gpg", "docker_upstream_key_fingerprint": "0" * 40})
    assert result.returncode != 0
    assert f"has fingerprint(s) {signing_key.upper()}" in output
    assert not host.file("/etc/apt/keyrings/docker.asc").exists
    assert not host.file("/etc/apt/sources.list.d/docker.sources").exists


def test_community_docker_modules_work_on_this_host(host):
    # The app role drives the engine with community.docker; its modules need python3-requests.
    result = host.ansible("community.docker.docker_host_info", "", check=False)
    assert result.get("host_info", {}).get("ServerVersion"), result
