"""Mitogen's linear strategy, from the mitogen package in the control node's virtualenv.

Mitogen ships its strategy plugins inside its package folder, whose path depends on the
virtualenv; this file makes `strategy = mitogen_linear` (ANSIBLE_STRATEGY, set by
`make ... ACCEL=mitogen`) resolve through ansible.cfg's strategy_plugins instead.
"""
from __future__ import annotations

import ansible_mitogen.loaders
import ansible_mitogen.strategy

DOCUMENTATION = """
name: mitogen_linear
short_description: The linear strategy, with Mitogen's connections
description: Runs tasks as the linear strategy does, over Mitogen's persistent per-host interpreters.
"""


class StrategyModule(ansible_mitogen.strategy.StrategyMixin,
                     ansible_mitogen.loaders.strategy_loader.get("linear", class_only=True)):
    """Mitogen's mixin over ansible-core's linear strategy."""
