#!/usr/bin/python
"""Record how a deploy ended on an app host, in one module run."""

from __future__ import annotations

DOCUMENTATION = r"""
module: app_deploy_record
short_description: The audit line, release history, metrics and settings backups of a deploy
description:
  - Appends one line to the audit log; optionally moves a release to the end of the release
    history, writes the deploy metrics for the node exporter's textfile collector, and removes
    the backups (C(*~)) that a deploy left beside the settings it replaced.
  - Every file is written whole and renamed into place, so a reader (a scrape, a rollback)
    never sees half of one.
options:
  audit_log:
    description: The audit log (created root-owned, mode 0640).
    type: path
    required: true
  audit_line:
    description: The line to append.
    type: str
    required: true
  history_file:
    description: The release history, one release per line, oldest first.
    type: path
  history_release:
    description: The release to move to the end of I(history_file) (added when missing).
    type: str
  textfile:
    description: The metrics file to write (mode 0644).
    type: path
  textfile_content:
    description: Its content.
    type: str
  forget_backups_in:
    description: Folders whose C(*~) files (the settings' backups) are removed.
    type: list
    elements: path
    default: []
author: Apra Nova maintainers
"""

RETURN = r"""
forgotten:
  description: How many backups were removed.
  type: int
  returned: always
"""

import glob
import os
import tempfile

from ansible.module_utils.basic import AnsibleModule


def write_whole(module: AnsibleModule, path: str, content: str, mode: int) -> None:
    os.makedirs(os.path.dirname(path), mode=0o755, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=os.path.dirname(path), prefix=".ansible-")
    with os.fdopen(handle, "w", encoding="utf-8") as out:
        out.write(content)
    os.chmod(temporary, mode)
    module.atomic_move(temporary, path, unsafe_writes=False)


def read_lines(path: str) -> list[str]:
    try:
        with open(path, encoding="utf-8") as handle:
            return [line for line in handle.read().splitlines() if line]
    except FileNotFoundError:
        return []


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "audit_log": {"type": "path", "required": True},
            "audit_line": {"type": "str", "required": True},
            "history_file": {"type": "path"},
            "history_release": {"type": "str"},
            "textfile": {"type": "path"},
            "textfile_content": {"type": "str"},
            "forget_backups_in": {"type": "list", "elements": "path", "default": []},
        },
        required_together=[("history_file", "history_release"), ("textfile", "textfile_content")],
        supports_check_mode=True,
    )
    params = module.params
    backups = [path for folder in params["forget_backups_in"] for path in glob.glob(os.path.join(folder, "*~"))
               + glob.glob(os.path.join(folder, ".*~"))]
    if module.check_mode:
        module.exit_json(changed=True, forgotten=len(backups))

    # Appended, as every line carries its time: the log never loses a line to a rewrite.
    audit_log = params["audit_log"]
    os.makedirs(os.path.dirname(audit_log), mode=0o750, exist_ok=True)
    descriptor = os.open(audit_log, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o640)
    with os.fdopen(descriptor, "a", encoding="utf-8") as log:
        log.write(params["audit_line"].rstrip("\n") + "\n")

    if params["history_file"]:
        release = params["history_release"]
        history = [line for line in read_lines(params["history_file"]) if line != release] + [release]
        write_whole(module, params["history_file"], "\n".join(history) + "\n", 0o644)

    if params["textfile"]:
        write_whole(module, params["textfile"], params["textfile_content"], 0o644)

    for path in backups:
        os.remove(path)
    module.exit_json(changed=True, forgotten=len(backups))


if __name__ == "__main__":
    main()
