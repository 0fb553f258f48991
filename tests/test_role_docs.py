"""Every role documents what it accepts: its defaults, its argument specs and its README agree."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest
import yaml

ROLES = sorted(p for p in (Path(__file__).resolve().parent.parent / "roles").iterdir() if (p / "tasks").is_dir())


def spec_options(role: Path) -> dict[str, dict]:
    specs = yaml.safe_load((role / "meta/argument_specs.yml").read_text())["argument_specs"]
    options: dict[str, dict] = {}
    for entry_point in specs.values():
        options.update(entry_point.get("options") or {})
    return options


@pytest.mark.parametrize("role", ROLES, ids=lambda p: p.name)
def test_every_default_is_validated_and_every_option_has_a_default(role):
    defaults = set(yaml.safe_load((role / "defaults/main.yml").read_text()) or {})
    options = spec_options(role)
    assert defaults - set(options) == set(), "in defaults/main.yml but not in meta/argument_specs.yml"
    # An option without a default must be one the user has to give.
    assert {name for name in set(options) - defaults if not options[name].get("required")} == set()


@pytest.mark.parametrize("role", ROLES, ids=lambda p: p.name)
def test_readme_names_every_variable(role):
    readme = (role / "README.md").read_text()
    prefixes = re.findall(r"`([a-z0-9_]+_)\*`", readme)  # rows such as `app_database_*`
    missing = [name for name in sorted(spec_options(role))
               if f"`{name}`" not in readme and not any(name.startswith(p) for p in prefixes)]
    assert missing == [], f"{role.name}/README.md does not mention {missing}"


@pytest.mark.parametrize("role", ROLES, ids=lambda p: p.name)
def test_every_option_is_described(role):
    vague = [name for name, spec in spec_options(role).items()
             if not spec.get("description") or str(spec["description"]).strip('"') == name]
    assert vague == []


# ---------------------------------------------------------------- README shape and generated table
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tools"))
import role_docs  # noqa: E402  (tools/ is not a package)

# Every role README has these second-level headings, in this order; "Entry points" only when
# meta/argument_specs.yml has more than `main`. Sub-sections (###) are free.
HEADINGS = ["How it works", "Requirements", "Role variables", "Entry points", "Dependencies",
            "Example playbook", "Testing", "License"]


@pytest.mark.parametrize("role", ROLES, ids=lambda p: p.name)
def test_readme_variables_table_is_current(role):
    current, fresh = role_docs.rendered_readme(role)
    assert current == fresh, (
        f"roles/{role.name}/README.md: the variables table differs from meta/argument_specs.yml "
        f"and defaults/main.yml; run `make docs`")


@pytest.mark.parametrize("role", ROLES, ids=lambda p: p.name)
def test_readme_has_the_headings_in_order(role):
    text = re.sub(r"```.*?```", "", (role / "README.md").read_text(), flags=re.DOTALL)  # no code blocks
    assert text.startswith(f"# {role.name}\n"), f"roles/{role.name}/README.md must start with '# {role.name}'"
    expected = [h for h in HEADINGS if h != "Entry points" or len(role_docs.load_specs(role)) > 1]
    found = re.findall(r"^## (.+?)\s*$", text, flags=re.MULTILINE)
    assert found == expected, f"roles/{role.name}/README.md has the headings {found}, expected {expected}"


def test_testing_section_names_the_make_command():
    missing = [role.name for role in ROLES
               if f"make test-role ROLE={role.name}" not in (role / "README.md").read_text()]
    assert missing == [], f"README's Testing section lacks `make test-role ROLE=<role>`: {missing}"
