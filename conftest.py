"""Fixtures shared by every Molecule scenario's testinfra tests (roles/ and molecule/).

Molecule runs these tests on the control node, so a test can also run a playbook
against the instance, e.g. to prove that bad input is refused before anything changes.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Callable

import pytest


@pytest.fixture(scope="session")
def run_playbook() -> Callable[..., subprocess.CompletedProcess[str]]:
    """Run a playbook of the current scenario against its instances."""

    def run(playbook: str, *args: str) -> subprocess.CompletedProcess[str]:
        scenario = Path(os.environ["MOLECULE_SCENARIO_DIRECTORY"])
        return subprocess.run(
            ["ansible-playbook", "--inventory", os.environ["MOLECULE_INVENTORY_FILE"],
             str(scenario / playbook), *args],
            capture_output=True, text=True, check=False, timeout=900,
        )

    return run
