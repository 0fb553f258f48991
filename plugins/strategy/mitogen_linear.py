"""Mitogen's linear strategy, from the mitogen package in the control node's virtualenv.

Mitogen ships its strategy plugins inside its package folder, whose path depends on the
virtualenv; this file makes `strategy = mitogen_linear` (ANSIBLE_STRATEGY, set by
`make ... ACCEL=mitogen`) resolve through ansible.cfg's strategy_plugins instead.

Plays on the control node alone (Molecule's create and destroy) run on Ansible's own
linear strategy: they poll async jobs, which Mitogen's local connection does not keep
(the poll waits until it gives up), and they gain nothing from Mitogen.

Mitogen takes over a host's connection only when it is named by its short name
(`docker`, `ssh`, `local`). Molecule's docker driver names its instances'
connection `community.docker.docker`, which Mitogen would leave to Ansible (one
interpreter per task): the names below are shortened first, so those hosts get
Mitogen's persistent interpreter too.
"""
from __future__ import annotations

import ansible.playbook.play_context
import ansible_mitogen.loaders
import ansible_mitogen.strategy

DOCUMENTATION = """
name: mitogen_linear
short_description: The linear strategy, with Mitogen's connections
description: Runs tasks as the linear strategy does, over Mitogen's persistent per-host interpreters.
"""

# Fully qualified connection names, and the short names Mitogen redirects.
SHORT_CONNECTION_NAMES = {
    "community.docker.docker": "docker",
    "ansible.builtin.local": "local",
    "ansible.builtin.ssh": "ssh",
}

_mitogen_get_with_context = ansible_mitogen.strategy.wrap_connection_loader__get_with_context


def _get_with_context(name, *args, **kwargs):
    """Mitogen's connection loader wrapper, called with the short name of the connection."""
    if args and isinstance(args[0], ansible.playbook.play_context.PlayContext):
        args[0].connection = SHORT_CONNECTION_NAMES.get(args[0].connection, args[0].connection)
    return _mitogen_get_with_context(SHORT_CONNECTION_NAMES.get(name, name), *args, **kwargs)


# The mixin installs whatever this module attribute holds when the run starts.
ansible_mitogen.strategy.wrap_connection_loader__get_with_context = _get_with_context


_LINEAR = ansible_mitogen.loaders.strategy_loader.get("linear", class_only=True)


class StrategyModule(ansible_mitogen.strategy.StrategyMixin, _LINEAR):
    """Mitogen's mixin over ansible-core's linear strategy."""

    def run(self, iterator, play_context, result=0):
        hosts = self._inventory.get_hosts(iterator._play.hosts)
        if hosts and all(host.name == "localhost" for host in hosts):
            return _LINEAR.run(self, iterator, play_context)
        return super().run(iterator, play_context)
