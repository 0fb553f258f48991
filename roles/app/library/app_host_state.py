#!/usr/bin/python
"""Read what a deploy decides from, on an app host, in one module run."""

from __future__ import annotations

DOCUMENTATION = r"""
module: app_host_state
short_description: The app's containers, nginx upstream, release history and images on a host
description:
  - Reads, without changing anything, what the app role decides a deploy from: the named
    web containers as C(docker container inspect) shows them, the text of nginx's upstream
    file, the release history file (one release per line, oldest first) and the tags of the
    images whose reference starts with I(image_prefix).
  - One module run instead of one per container and file.
options:
  containers:
    description: Container names to inspect; missing ones are left out of the result.
    type: list
    elements: str
    default: []
  upstream_file:
    description: nginx's upstream file; its text is returned (empty when missing).
    type: path
  history_file:
    description: The release history; its non-empty lines are returned (none when missing).
    type: path
  image_prefix:
    description: C(name:tag-prefix) of this environment's images; their tags are returned.
    type: str
author: Apra Nova maintainers
"""

RETURN = r"""
containers:
  description: C(docker container inspect) of each named container that exists.
  type: list
  returned: always
upstream:
  description: The upstream file's text.
  type: str
  returned: always
history:
  description: The history's releases, oldest first.
  type: list
  returned: always
image_tags:
  description: Tags of the images matching I(image_prefix).
  type: list
  returned: always
"""

import json

from ansible.module_utils.basic import AnsibleModule


def read_text(path: str | None) -> str:
    if not path:
        return ""
    try:
        with open(path, encoding="utf-8") as handle:
            return handle.read()
    except FileNotFoundError:
        return ""


def inspect_containers(module: AnsibleModule, names: list[str]) -> list[dict]:
    if not names:
        return []
    # rc 1 when a name is missing: the ones found are still printed.
    rc, out, err = module.run_command(["docker", "container", "inspect", *names])
    if rc != 0 and "No such" not in err:
        module.fail_json(msg=f"docker container inspect failed: {err.strip()}")
    return json.loads(out or "[]")


def image_tags(module: AnsibleModule, prefix: str | None) -> list[str]:
    if not prefix:
        return []
    rc, out, err = module.run_command(
        ["docker", "image", "ls", "--format", "{{.Tag}}", "--filter", f"reference={prefix}*"], check_rc=True)
    return [line for line in out.splitlines() if line]


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "containers": {"type": "list", "elements": "str", "default": []},
            "upstream_file": {"type": "path"},
            "history_file": {"type": "path"},
            "image_prefix": {"type": "str"},
        },
        supports_check_mode=True,
    )
    params = module.params
    module.exit_json(
        changed=False,
        containers=inspect_containers(module, params["containers"]),
        upstream=read_text(params["upstream_file"]),
        history=[line for line in read_text(params["history_file"]).splitlines() if line],
        image_tags=image_tags(module, params["image_prefix"]),
    )


if __name__ == "__main__":
    main()
