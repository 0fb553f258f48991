"""The common role: effective sshd settings, firewall, fail2ban, upgrades, modes, refusal."""

import json
import os
import re
from pathlib import Path

import pytest
from conftest import flat_output


def sshd_effective(host) -> dict[str, str]:
    out = host.check_output("/usr/sbin/sshd -T")
    return dict(line.split(" ", 1) for line in out.splitlines() if " " in line)


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("permitrootlogin", "no"),
        ("passwordauthentication", "no"),
        ("kbdinteractiveauthentication", "no"),
        ("permitemptypasswords", "no"),
        ("maxauthtries", "3"),
        ("logingracetime", "30"),
        ("x11forwarding", "no"),
        ("allowagentforwarding", "no"),
        ("port", "22"),
    ],
)
def test_sshd_effective_setting(host, key, value):
    assert sshd_effective(host)[key] == value


def test_sshd_offers_only_modern_algorithms(host):
    conf = sshd_effective(host)
    assert not re.search(r"cbc|arcfour|3des", conf["ciphers"])
    assert not re.search(r"sha1|md5", conf["macs"])
    assert "diffie-hellman-group1-" not in conf["kexalgorithms"]
    assert "diffie-hellman-group14-sha1" not in conf["kexalgorithms"]


def test_sshd_uses_ed25519_host_key_only(host):
    conf = host.check_output("/usr/sbin/sshd -T")
    assert re.findall(r"^hostkey (.*)$", conf, re.M) == ["/etc/ssh/ssh_host_ed25519_key"]
    assert sshd_effective(host)["hostkeyalgorithms"] == "ssh-ed25519,rsa-sha2-512,rsa-sha2-256"
    # Debian's postinst made ECDSA and RSA keys: they are gone, not just unused.
    for kind in ("ecdsa", "rsa", "dsa"):
        assert not host.file(f"/etc/ssh/ssh_host_{kind}_key").exists
        assert not host.file(f"/etc/ssh/ssh_host_{kind}_key.pub").exists


def test_sshd_keeps_post_quantum_kex(host):
    kex = sshd_effective(host)["kexalgorithms"].split(",")
    known = host.check_output("ssh -Q kex").split()
    post_quantum = ["mlkem768x25519-sha256", "sntrup761x25519-sha512", "sntrup761x25519-sha512@openssh.com"]
    offered = [name for name in post_quantum if name in known]
    # Every hybrid this OpenSSH knows comes first: ML-KEM on Debian 13 (OpenSSH 10.0), sntrup761 on both.
    assert kex[:len(offered)] == offered and "sntrup761x25519-sha512@openssh.com" in offered
    if host.system_info.release.startswith("13"):
        assert kex[0] == "mlkem768x25519-sha256"
    assert "curve25519-sha256" in kex


def test_ssh_audit_reports_no_failure(host):
    """ssh-audit (installed by prepare.yml) against the instance's own sshd, once: OpenSSH 10
    penalises a source that keeps connecting without logging in (PerSourcePenalties)."""
    audit = host.run("ssh-audit --no-colors --timeout=10 127.0.0.1")
    summary = "\n".join(line for line in audit.stdout.splitlines() if re.search(r"\[(fail|warn)\]|^\(key\)", line))
    print(f"ssh-audit exit {audit.rc}:\n{summary}")
    # Exit codes (ssh_audit/exitcodes.py, 2.5 and 3.3 alike): 0 good, 1 connection error,
    # 2 warnings only, 3 failure.
    assert audit.rc in (0, 2), f"ssh-audit exit {audit.rc}:\n{audit.stdout}\n{audit.stderr}"
    assert "[fail]" not in audit.stdout, summary
    assert re.search(r"^\(key\) ssh-ed25519 ", audit.stdout, re.M), audit.stdout
    assert not re.search(r"^\(key\) (ecdsa|ssh-rsa|ssh-dss)", audit.stdout, re.M), summary


def test_sshd_rejected_drop_in_never_goes_live(host, run_playbook):
    """A drop-in sshd rejects fails the play at the candidate check: the live file and the
    running sshd (same main PID, same effective ciphers) stay as they were."""
    live = "/etc/ssh/sshd_config.d/00-hardening.conf"
    before = (host.file(live).sha256sum, host.check_output("systemctl show --property=MainPID --value ssh"))
    ciphers = sshd_effective(host)["ciphers"]
    result = run_playbook("bad_sshd.yml")
    output = flat_output(result)
    assert result.returncode != 0, output[-3000:]
    assert "Bad SSH2 cipher spec" in output, output[-3000:]
    assert "changed=0" in output and not re.search(r"changed=[1-9]", output), output[-3000:]
    assert (host.file(live).sha256sum, host.check_output("systemctl show --property=MainPID --value ssh")) == before
    assert "no-such-cipher" not in host.file(live).content_string
    assert host.service("ssh").is_running
    assert sshd_effective(host)["ciphers"] == ciphers


def test_sshd_runs_and_listens(host):
    assert host.service("ssh").is_running
    assert host.service("ssh").is_enabled
    assert host.socket("tcp://0.0.0.0:22").is_listening


def test_deploy_user_has_key_and_sudo(host):
    user = host.user("deploy")
    assert "sudo" in user.groups
    keys = host.file("/home/deploy/.ssh/authorized_keys")
    assert keys.user == "deploy" and keys.mode == 0o600
    made_for_this_run = Path(os.environ["MOLECULE_EPHEMERAL_DIRECTORY"], "deploy_ed25519.pub").read_text().strip()
    assert keys.content_string.strip() == made_for_this_run and made_for_this_run.endswith(" molecule@test")
    sudoers = host.file("/etc/sudoers.d/90-deploy")
    assert sudoers.user == "root" and sudoers.mode == 0o440
    # The effective sudo policy, as sudo itself reads it.
    assert "NOPASSWD: ALL" in host.check_output("sudo -l -U deploy")


def test_firewall_rules_loaded(host):
    ruleset = host.check_output("nft list table inet host_firewall")
    assert "policy drop" in ruleset
    assert re.search(r"tcp dport 22 ct state new accept", ruleset)
    assert re.search(r"tcp dport \{ 80, 443 \} accept", ruleset)
    assert re.search(r"ip saddr 10\.20\.0\.5 tcp dport 5432 accept", ruleset)
    assert re.search(r"ip6 saddr fd00::5 tcp dport 5432 accept", ruleset)
    assert host.service("nftables").is_enabled


def test_firewall_forward_chain_drops_everything(host):
    """No Docker in this scenario (common_docker_host false): a forward chain, policy drop, no rules."""
    listed = json.loads(host.check_output("nft --json list chain inet host_firewall forward"))["nftables"]
    chain = next(item["chain"] for item in listed if "chain" in item)
    assert (chain["hook"], chain["policy"]) == ("forward", "drop")
    assert not [item for item in listed if "rule" in item]


def test_firewall_routes_nothing(host):
    """Two namespaces routed through the instance (its network namespace forwards: a container
    inherits ip_forward=1): a connection between them is dropped by the forward chain, and
    passes once an accept rule is inserted, so it is the chain that drops it."""
    assert host.file("/proc/sys/net/ipv4/ip_forward").content_string.strip() == "1"
    setup = " && ".join([
        "ip netns add fwd-a", "ip netns add fwd-b",
        "ip link add fwd-a0 type veth peer name fwd-a1", "ip link set fwd-a1 netns fwd-a",
        "ip link add fwd-b0 type veth peer name fwd-b1", "ip link set fwd-b1 netns fwd-b",
        "ip addr add 198.51.100.1/30 dev fwd-a0", "ip link set fwd-a0 up",
        "ip addr add 203.0.113.1/30 dev fwd-b0", "ip link set fwd-b0 up",
        "ip -n fwd-a addr add 198.51.100.2/30 dev fwd-a1", "ip -n fwd-a link set fwd-a1 up",
        "ip -n fwd-a route add default via 198.51.100.1",
        "ip -n fwd-b addr add 203.0.113.2/30 dev fwd-b1", "ip -n fwd-b link set fwd-b1 up",
        "ip -n fwd-b link set lo up", "ip -n fwd-b route add default via 203.0.113.1",
    ])
    probe = "ip netns exec fwd-a curl -s -o /dev/null -m 3 http://203.0.113.2:8082/"
    try:
        host.run_test(setup)
        host.check_output("systemd-run --unit=probe-forward ip netns exec fwd-b python3 -m http.server 8082")
        host.run_test("for i in $(seq 50); do ip netns exec fwd-b ss -ltn | grep -q :8082 && exit 0; sleep 0.2; done; exit 1")
        assert host.run("ip netns exec fwd-b curl -s -o /dev/null -m 3 http://203.0.113.2:8082/").rc == 0
        assert host.run(probe).rc != 0, "traffic routed through a non-Docker host must be dropped"
        host.run_test('nft insert rule inet host_firewall forward iifname "fwd-*" accept '
                      '&& nft insert rule inet host_firewall forward oifname "fwd-*" accept')
        assert host.run(probe).rc == 0, "the path works once the forward chain accepts it"
    finally:
        host.run("systemctl stop probe-forward; ip netns del fwd-a; ip netns del fwd-b; "
                 "ip link del fwd-a0; ip link del fwd-b0; nft --file /etc/nftables.conf")
    assert not re.search(r"fwd-", host.check_output("nft list chain inet host_firewall forward"))


def test_docker_host_forwards_docker_bridges_only(host, run_playbook):
    """The same role with common_docker_host true, in check mode with a diff: the forward
    chain passes Docker's bridges and the sysctl file leaves ip_forward to Docker."""
    result = run_playbook("converge.yml", "--check", "--diff", "--tags", "common-firewall,common-sysctl",
                          "--extra-vars", '{"common_docker_host": true}')
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-3000:]
    for rule in ('iifname "docker0" accept', 'oifname "docker0" accept', 'iifname "br-*" accept',
                 'oifname "br-*" accept'):
        assert f"+        {rule}" in output, output[-3000:]
    assert "-net.ipv4.ip_forward = 0" in output, output[-3000:]


def test_firewall_drops_closed_port_from_outside(host):
    """A listener on a port not in the rules is reachable locally but not from outside."""
    host.check_output("systemd-run --unit=probe-listener python3 -m http.server 8081 --bind 0.0.0.0")
    try:
        address = host.interface("eth0").addresses[0]
        host.run_test("sleep 1")
        local = host.run("curl -s -o /dev/null -m 3 http://127.0.0.1:8081/")
        assert local.rc == 0
        # Traffic to eth0's own address from the host itself still enters on lo,
        # so probe through a separate network namespace bridged by a veth pair.
        outside = host.run(
            "ip netns add probe && ip link add probe-out type veth peer name probe-in "
            "&& ip link set probe-in netns probe && ip addr add 192.0.2.1/30 dev probe-out "
            "&& ip link set probe-out up && ip -n probe addr add 192.0.2.2/30 dev probe-in "
            "&& ip -n probe link set probe-in up && ip -n probe link set lo up "
            "&& ip netns exec probe curl -s -o /dev/null -m 3 http://192.0.2.1:8081/"
        )
        assert outside.rc != 0, "port 8081 should be dropped from outside"
        ssh = host.run("ip netns exec probe bash -c 'exec 3<>/dev/tcp/192.0.2.1/22 && head -c 7 <&3'")
        assert ssh.stdout.startswith("SSH-2.0"), "SSH must stay reachable from outside"
        assert address
    finally:
        host.run("systemctl stop probe-listener; ip netns del probe; ip link del probe-out")


def test_fail2ban_sshd_jail_active(host):
    assert host.service("fail2ban").is_running
    status = host.check_output("fail2ban-client status sshd")
    assert "Currently banned" in status


def test_unattended_upgrades_configured(host):
    assert host.package("unattended-upgrades").is_installed
    dump = host.check_output("apt-config dump")
    assert 'APT::Periodic::Unattended-Upgrade "1";' in dump
    assert "Debian-Security" in dump
    assert 'Unattended-Upgrade::Automatic-Reboot "false";' in dump


def test_a_list_update_is_dated_for_cache_valid_time(host):
    # Whether the converge updated the lists depends on the image's age: update them here.
    stamp = "/var/lib/apt/periodic/update-success-stamp"
    host.check_output(f"rm -f {stamp} && apt-get update -qq")
    assert int(host.check_output(f"echo $(( $(date +%s) - $(stat -c %Y {stamp}) ))")) < 600


def test_journald_limits(host):
    conf = host.check_output("systemd-analyze cat-config systemd/journald.conf")
    assert "SystemMaxUse=500M" in conf


def test_sysctl_turns_forwarding_off(host):
    f = host.file("/etc/sysctl.d/60-hardening.conf")
    assert f.user == "root" and f.mode == 0o644
    assert "kernel.kptr_restrict = 2" in f.content_string
    # /proc/sys is read-only here, so check what systemd-sysctl loads at boot: the last
    # assignment over every sysctl.d file, in its order, is off.
    merged = host.check_output("systemd-analyze cat-config sysctl.d")
    for key in ("net.ipv4.ip_forward", "net.ipv6.conf.all.forwarding"):
        values = re.findall(rf"^\s*{re.escape(key)}\s*=\s*(\S+)", merged, re.M)
        assert values and values[-1] == "0", f"{key}: {values}"


def test_timezone_and_locale(host):
    assert host.file("/etc/localtime").linked_to.endswith("Europe/Berlin")
    assert "LANG=en_US.UTF-8" in host.file("/etc/default/locale").content_string
    assert "en_US.utf8" in host.check_output("locale -a")


def test_refuses_to_lock_users_out(host, refused):
    before = host.file("/etc/ssh/sshd_config.d/00-hardening.conf").md5sum
    assert "Refusing to disable SSH password login" in refused("refuse.yml")
    assert host.file("/etc/ssh/sshd_config.d/00-hardening.conf").md5sum == before
    assert sshd_effective(host)["port"] == "22"


TEXTFILE_DIR = "/var/lib/prometheus/node-exporter"


def own_address(host) -> str:
    """The instance's default IPv4 address (eth0), where the exporter must listen."""
    return host.check_output("ip -4 -o addr show dev eth0 | awk '{print $4}' | cut -d/ -f1 | head -1")


def scrape(host, address: str, namespace: str = "", source: str = "") -> tuple[int, str]:
    prefix = f"ip netns exec {namespace} " if namespace else ""
    bind = f"--interface {source} " if source else ""
    result = host.run(f"{prefix}curl -sS -m 3 {bind}http://{address}:9100/metrics")
    return result.rc, result.stdout


def test_node_exporter_answers_on_its_private_address_only(host):
    assert host.service("prometheus-node-exporter").is_running
    assert host.service("prometheus-node-exporter").is_enabled
    address = own_address(host)
    assert f"--web.listen-address={address}:9100" in host.file("/etc/default/prometheus-node-exporter").content_string
    listeners = host.check_output("ss -ltnH 'sport = :9100' | awk '{print $4}'").split()
    assert listeners == [f"{address}:9100"], listeners
    rc, metrics = scrape(host, address)
    assert rc == 0
    for name in ("node_cpu_seconds_total", "node_filesystem_avail_bytes", "node_load1", "node_textfile_scrape_error 0"):
        assert name in metrics, name
    # Not on loopback, nor on any other address of the host: nothing listens there.
    assert scrape(host, "127.0.0.1")[0] == 7


def test_node_exporter_reports_the_listed_units_only(host):
    metrics = scrape(host, own_address(host))[1]
    assert re.search(r'^node_systemd_unit_state\{name="ssh\.service",state="active"[^}]*\} 1$', metrics, re.M), \
        [line for line in metrics.splitlines() if line.startswith("node_systemd")][:20]
    units = set(re.findall(r'^node_systemd_unit_state\{name="([^"]+)"', metrics, re.M))
    assert units == {"ssh.service"}, units  # nginx and postgresql are listed but not installed here


def test_firewall_admits_the_exporter_from_its_sources_only(host):
    """A network namespace with two addresses, joined to the instance by a veth pair: from the
    listed source (192.0.2.10) the exporter answers; from the other (192.0.2.11) the firewall
    drops the packets; and on the veth's own address (192.0.2.9) nothing listens."""
    address = own_address(host)
    assert re.search(r"ip saddr 192\.0\.2\.10 tcp dport 9100 accept", host.check_output("nft list table inet host_firewall"))
    setup = " && ".join([
        "ip netns add scrape", "ip link add scrape-out type veth peer name scrape-in",
        "ip link set scrape-in netns scrape", "ip addr add 192.0.2.9/29 dev scrape-out", "ip link set scrape-out up",
        "ip -n scrape addr add 192.0.2.10/29 dev scrape-in", "ip -n scrape addr add 192.0.2.11/29 dev scrape-in",
        "ip -n scrape link set scrape-in up", "ip -n scrape link set lo up",
        "ip -n scrape route add default via 192.0.2.9",
    ])
    try:
        host.run_test(setup)
        rc, metrics = scrape(host, address, "scrape", "192.0.2.10")
        assert rc == 0 and "node_cpu_seconds_total" in metrics, "the monitoring source must reach the exporter"
        # curl: 28 is a timeout (the firewall dropped the packets), 7 a refused connection.
        assert scrape(host, address, "scrape", "192.0.2.11")[0] == 28, "any other source must be dropped"
        assert scrape(host, "192.0.2.9", "scrape", "192.0.2.10")[0] == 7, "the exporter listens on no other address"
    finally:
        host.run("ip netns del scrape; ip link del scrape-out")


def test_textfile_metric_dropped_in_the_folder_is_served(host):
    """What the roles do: write a .prom file beside the final name, then rename it into place."""
    directory = host.file(TEXTFILE_DIR)
    assert directory.is_directory and directory.user == "root" and directory.mode == 0o755
    try:
        host.run_test(f"printf '# TYPE molecule_probe_value gauge\\nmolecule_probe_value{{probe=\"common\"}} 42\\n' "
                      f">{TEXTFILE_DIR}/.molecule.tmp && mv {TEXTFILE_DIR}/.molecule.tmp {TEXTFILE_DIR}/molecule.prom")
        metrics = scrape(host, own_address(host))[1]
        assert 'molecule_probe_value{probe="common"} 42' in metrics
        assert "node_textfile_scrape_error 0" in metrics
    finally:
        host.run(f"rm -f {TEXTFILE_DIR}/molecule.prom {TEXTFILE_DIR}/.molecule.tmp")
    assert "molecule_probe_value" not in scrape(host, own_address(host))[1]


def test_refuses_an_exporter_on_every_address(host, refused):
    before = host.file("/etc/default/prometheus-node-exporter").md5sum
    output = refused("converge.yml", "--extra-vars", '{"common_node_exporter_listen_address": "0.0.0.0"}')
    assert "must be one address of this host, not a wildcard" in output
    assert host.file("/etc/default/prometheus-node-exporter").md5sum == before
