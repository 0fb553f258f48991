"""Fixtures shared by every Molecule scenario's testinfra tests (roles/ and molecule/).

Molecule runs these tests on the control node, so a test can also run a playbook
against the instance, e.g. to prove that bad input is refused before anything changes.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import time
from pathlib import Path
from typing import Callable

import pytest


@pytest.fixture(scope="session")
def run_playbook() -> Callable[..., subprocess.CompletedProcess[str]]:
    """Run a playbook of the current scenario against its instances."""

    runs = 0

    def run(playbook: str, *args: str) -> subprocess.CompletedProcess[str]:
        nonlocal runs
        scenario = Path(os.environ["MOLECULE_SCENARIO_DIRECTORY"])
        result = subprocess.run(
            # The inventory folder, with any group_vars or hosts the scenario links beside the file.
            ["ansible-playbook", "--inventory", str(Path(os.environ["MOLECULE_INVENTORY_FILE"]).parent),
             str(scenario / playbook), *args],
            capture_output=True, text=True, check=False, timeout=900,
        )
        # Every run's output (with profile_tasks' per-task times) beside the scenario's log
        # (Molecule's destroy removes the state folder), for a failure or a slow run to be
        # read after the scenario is gone.
        runs += 1
        state = Path(os.environ.get("MOLECULE_EPHEMERAL_DIRECTORY", "/tmp/molecule"))
        logs = Path(os.environ.get("APRANOVA_REPO", "/tmp")) / ".cache" / "molecule-logs" / f"{state.name}-playbooks"
        log = logs / f"{runs:02d}-{playbook}.log"
        if runs == 1:  # a previous run's logs go
            shutil.rmtree(logs, ignore_errors=True)
        log.parent.mkdir(parents=True, exist_ok=True)
        log.write_text(f"$ {playbook} {' '.join(args)}\nrc={result.returncode}\n{result.stdout}\n{result.stderr}")
        return result

    return run


def flat_output(result: subprocess.CompletedProcess[str]) -> str:
    """A playbook's stdout and stderr (where ansible-core 2.19 prints failures) on one line:
    the output callback folds long messages, so tests match on normalised whitespace."""
    return " ".join((result.stdout + result.stderr).split())


# The concurrent client the deploy tests run on a host through its nginx (app scenario and multihost).
LOAD_CLIENT = Path(__file__).resolve().parent / "roles" / "app" / "molecule" / "default" / "tests" / "load.py"


def start_load(host, site: str, token: str, report: str, clients: int = 4) -> None:
    """Start the load client on the host, as a transient unit, against `site` (API token, a report to
    download), with `clients` clients, each from its own loopback address."""
    host.check_output(f"cat > /tmp/load.py <<'EOF'\n{LOAD_CLIENT.read_text()}\nEOF")
    host.run("rm -f /tmp/load.stop /tmp/load.json")
    host.check_output(f"systemd-run --unit=load --collect python3 /tmp/load.py {site} {token} {report} {clients}")


def instance(name: str):
    """Another instance of the scenario, by inventory name (the multihost tests reach every host)."""
    import testinfra

    # The folder: the scenario's group_vars are linked beside the inventory file.
    return testinfra.get_host(f"ansible://{name}", ansible_inventory=os.path.dirname(os.environ["MOLECULE_INVENTORY_FILE"]))


def private_address(name: str) -> str:
    """The address other hosts reach an instance at (the default route's source), not docker0's."""
    route = instance(name).check_output("ip -4 -o route get 192.0.2.1")
    return re.search(r" src (\S+)", route).group(1)


def site_curl(web, site: str, fail: bool = True) -> str:
    """curl on the web host against the site through its own nginx, trusting pebble's root."""
    web.check_output("test -s /tmp/pebble-root.pem || curl -fsS --cacert /etc/pebble/listener.crt "
                     "https://localhost:15000/roots/0 -o /tmp/pebble-root.pem")
    return f"curl -{'f' if fail else ''}sS --cacert /tmp/pebble-root.pem --max-time 20 --resolve {site}:443:127.0.0.1"


def stop_load(host) -> dict:
    """Stop the load client and return its summary (requests, by_kind, failed, releases)."""
    host.run("touch /tmp/load.stop")
    for _ in range(200):
        if host.file("/tmp/load.json").exists:
            break
        time.sleep(0.2)
    summary = json.loads(host.file("/tmp/load.json").content_string)
    statuses = {str(status): [s for _, s in summary["failed"]].count(status) for _, status in summary["failed"]}
    print(f"load: {summary['requests']} requests {summary['by_kind']}, {len(summary['failed'])} failed {statuses}")
    return summary


# Releases that really differ, for the deploy tests (app scenario and multihost): app/ with a
# column added to the Course model and migrations that add and drop it.
REPO = Path(__file__).resolve().parent
COURSE_MODEL = "class Course(models.Model):\n"
SUBTITLE = "    subtitle = models.CharField(max_length=200, null=True, blank=True)\n"


def release_source(tmp_path: Path, models_edit: bool, migrations: dict[str, str]) -> str:
    """A copy of app/ as its own git repository, changed: a release that really differs (the role
    builds from the tree at HEAD of app_source_dir)."""
    source = tmp_path / "app"
    shutil.copytree(REPO / "app", source, ignore=shutil.ignore_patterns(".venv", "__pycache__", "*.pyc", ".pytest_cache"))
    models = source / "apranova/models.py"
    if models_edit:
        models.write_text(models.read_text().replace(COURSE_MODEL, COURSE_MODEL + SUBTITLE, 1))
    for name, text in migrations.items():
        (source / "apranova/migrations" / name).write_text(text)
    git = ["git", "-C", str(source), "-c", "user.name=test", "-c", "user.email=test@example.com"]
    for command in (["init", "-q"], ["add", "-A"], ["commit", "-qm", "release"]):
        subprocess.run(git + command, check=True)
    return str(source)


def latest_migration() -> str:
    """The app's newest migration, which a test release's first migration follows."""
    return sorted(p.stem for p in (REPO / "app/apranova/migrations").glob("[0-9][0-9][0-9][0-9]_*.py"))[-1]


ADD_SUBTITLE = f"""from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("apranova", "{latest_migration()}")]
    operations = [migrations.AddField("course", "subtitle", models.CharField(max_length=200, null=True, blank=True))]
"""


def drop_subtitle(phase: str | None) -> str:
    """A migration dropping the column again, declared in `phase` ('contract') or undeclared."""
    declared = f"    phase = {phase!r}\n" if phase else ""
    return f"""from django.db import migrations


class Migration(migrations.Migration):
{declared}    dependencies = [("apranova", "9001_add_subtitle")]
    operations = [migrations.RemoveField("course", "subtitle")]
"""


@pytest.fixture(scope="session")
def refused(run_playbook) -> Callable[..., str]:
    """Run a playbook that must fail, and (unless unchanged=False) fail before it changed
    anything; return its flattened output for the test to look for the message."""

    def run(playbook: str, *args: str, unchanged: bool = True) -> str:
        result = run_playbook(playbook, *args)
        output = flat_output(result)
        assert result.returncode != 0, f"{playbook} was not refused: {output[-3000:]}"
        if unchanged:
            assert "changed=0" in output and not re.search(r"changed=[1-9]", output), output[-3000:]
        return output

    return run


def app_database_state(sql: Callable[[str], str]) -> dict[str, str]:
    """The app's database as restore drills compare it: per table, the row count and an ordered
    digest of its rows; every sequence's value. `sql` runs a query in that database."""
    state = {}
    for table in sql("SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY 1").split():
        state[table] = sql(
            f"SELECT count(*) || ' ' || coalesce(md5(string_agg(t::text, '|' ORDER BY t::text)), '-') FROM \"{table}\" t")
    state["sequences"] = sql(
        "SELECT string_agg(sequencename || '=' || coalesce(last_value::text, 'null'), ' ' ORDER BY sequencename) "
        "FROM pg_sequences WHERE schemaname = 'public'")
    return state
