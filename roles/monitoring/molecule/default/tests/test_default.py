"""Prometheus and Alertmanager on loopback, with the repository's rules and the inventory's
targets and webhook. The alert path end to end is proven by the multihost stack scenario."""

from __future__ import annotations

import json


def test_both_services_run_on_loopback_only(host):
    for unit in ("prometheus", "prometheus-alertmanager"):
        assert host.service(unit).is_running and host.service(unit).is_enabled
    listeners = host.check_output("ss -ltnH '( sport = :9090 or sport = :9093 or sport = :9094 )' | awk '{print $4}'").split()
    assert sorted(listeners) == ["127.0.0.1:9090", "127.0.0.1:9093"], listeners


def test_the_repositorys_rules_and_the_targets_are_loaded(host):
    rules = json.loads(host.check_output("curl -fsS http://127.0.0.1:9090/api/v1/rules"))["data"]["groups"]
    names = {rule["name"] for group in rules for rule in group["rules"]}
    assert {"ApranovaBackupFailed", "ApranovaCertificateExpiresSoon", "ApranovaTargetDown"} <= names
    targets = json.loads(host.check_output("curl -fsS http://127.0.0.1:9090/api/v1/targets"))["data"]["activeTargets"]
    assert [(t["labels"]["instance"], t["scrapeUrl"]) for t in targets] == [("instance", "http://127.0.0.1:9100/metrics")]
    alertmanagers = json.loads(host.check_output("curl -fsS http://127.0.0.1:9090/api/v1/alertmanagers"))
    assert [a["url"] for a in alertmanagers["data"]["activeAlertmanagers"]] == ["http://127.0.0.1:9093/api/v2/alerts"]


def test_alertmanager_posts_to_the_inventorys_webhook(host):
    config = host.file("/etc/prometheus/alertmanager.yml")
    assert config.mode == 0o640 and config.group == "prometheus"
    status = json.loads(host.check_output("curl -fsS http://127.0.0.1:9093/api/v2/status"))
    assert "url: <secret>" in status["config"]["original"] or "127.0.0.1:5001/alerts" in status["config"]["original"]
    assert status["cluster"]["status"] == "disabled"
