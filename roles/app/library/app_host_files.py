#!/usr/bin/python
"""Ensure the app's folders and small files on a host in one module run."""

from __future__ import annotations

DOCUMENTATION = r"""
module: app_host_files
short_description: Folders and small files of the app on a host, in one run
description:
  - Creates each folder (parents too) and sets its owner, group and mode; writes each file
    whose content differs, atomically, keeping a backup of the replaced one when asked.
  - One module run instead of one per folder and file: a deploy with nothing to do checks
    thirty paths in a fraction of a second.
  - Returns the sha256 of the concatenated contents of the files named in I(fingerprint), as
    they are once the run is done (in check mode, as they would be).
options:
  directories:
    description: Folders, each with C(path), C(owner), C(group), C(mode) (octal string).
    type: list
    elements: dict
    default: []
  files:
    description: Files, each with C(path), C(owner), C(group), C(mode) and C(backup) (bool).
    type: list
    elements: dict
    default: []
  contents:
    description:
      - The content of each file of I(files), by path. Kept out of every log, as the files
        hold secrets; the paths, owners and modes stay readable in the result.
    type: dict
    default: {}
  fingerprint:
    description: Paths (of I(files)) whose contents, concatenated in this order, are hashed.
    type: list
    elements: str
    default: []
author: Apra Nova maintainers
"""

RETURN = r"""
changed_paths:
  description: The folders and files created or changed.
  type: list
  returned: always
backups:
  description: One C(dest) and C(backup_file) for each file replaced with a backup kept.
  type: list
  returned: always
fingerprint:
  description: sha256 (hex) of the contents named in I(fingerprint).
  type: str
  returned: always
"""

import hashlib
import os
import tempfile

from ansible.module_utils.basic import AnsibleModule


def ensure_attributes(module: AnsibleModule, path: str, spec: dict) -> bool:
    changed = module.set_owner_if_different(path, str(spec["owner"]), False)
    changed = module.set_group_if_different(path, str(spec["group"]), changed)
    return module.set_mode_if_different(path, str(spec["mode"]), changed)


def ensure_directory(module: AnsibleModule, spec: dict) -> bool:
    path = spec["path"]
    if not os.path.isdir(path):
        if not module.check_mode:
            os.makedirs(path, mode=0o700, exist_ok=True)
            ensure_attributes(module, path, spec)
        return True
    return ensure_attributes(module, path, spec)


def read_bytes(path: str) -> bytes | None:
    try:
        with open(path, "rb") as handle:
            return handle.read()
    except FileNotFoundError:
        return None


def ensure_file(module: AnsibleModule, spec: dict, content: bytes) -> tuple[bool, str | None]:
    """Write the file if its content differs; return (changed, backup file or None)."""
    path = spec["path"]
    current = read_bytes(path)
    if current == content:
        return ensure_attributes(module, path, spec), None
    if module.check_mode:
        return True, None
    backup = module.backup_local(path) if current is not None and spec.get("backup") else None
    # Written beside the target and renamed over it: a reader never sees half a file.
    handle, temporary = tempfile.mkstemp(dir=os.path.dirname(path), prefix=".ansible-")
    with os.fdopen(handle, "wb") as out:
        out.write(content)
    ensure_attributes(module, temporary, spec)
    module.atomic_move(temporary, path, unsafe_writes=False)
    ensure_attributes(module, path, spec)
    return True, backup


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "directories": {"type": "list", "elements": "dict", "default": []},
            "files": {"type": "list", "elements": "dict", "default": []},
            "contents": {"type": "dict", "default": {}, "no_log": True},
            "fingerprint": {"type": "list", "elements": "str", "default": []},
        },
        supports_check_mode=True,
    )
    for spec in module.params["directories"] + module.params["files"]:
        missing = {"path", "owner", "group", "mode"} - spec.keys()
        if missing:
            module.fail_json(msg=f"{spec.get('path', 'an entry')}: missing {', '.join(sorted(missing))}")
    for spec in module.params["files"]:
        if spec["path"] not in module.params["contents"]:
            module.fail_json(msg=f"{spec['path']}: no content given")

    changed_paths: list[str] = []
    backups: list[dict] = []
    for spec in module.params["directories"]:
        if ensure_directory(module, spec):
            changed_paths.append(spec["path"])
    contents: dict[str, bytes] = {}
    for spec in module.params["files"]:
        contents[spec["path"]] = str(module.params["contents"][spec["path"]]).encode()
        changed, backup = ensure_file(module, spec, contents[spec["path"]])
        if changed:
            changed_paths.append(spec["path"])
        if backup:
            backups.append({"dest": spec["path"], "backup_file": backup})

    digest = hashlib.sha256()
    for path in module.params["fingerprint"]:
        if path not in contents:
            module.fail_json(msg=f"fingerprint names {path}, which is not among the files")
        digest.update(contents[path])
    module.exit_json(changed=bool(changed_paths), changed_paths=changed_paths, backups=backups,
                     fingerprint=digest.hexdigest())


if __name__ == "__main__":
    main()
