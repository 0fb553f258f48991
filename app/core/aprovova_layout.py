"""The APROVOVA tree's layout and modes, from aprovova_layout.json: the one definition the app and
the Ansible app role (which creates the tree on the host) share. No Django import: settings use it."""
from __future__ import annotations

import json
from pathlib import Path

_LAYOUT = json.loads(Path(__file__).with_name("aprovova_layout.json").read_text())

# Report type -> its directory's name under APROVOVA.
TYPE_DIRS: dict[str, str] = dict(_LAYOUT["type_dirs"])
FORMATS: tuple[str, ...] = tuple(_LAYOUT["formats"])
# Extra directories beside the per-format ones.
EXTRA_DIRS: dict[str, tuple[str, ...]] = {kind: tuple(dirs) for kind, dirs in _LAYOUT["extra_dirs"].items()}
DIR_MODE: int = int(_LAYOUT["dir_mode"], 8)
FILE_MODE: int = int(_LAYOUT["file_mode"], 8)
