"""Whether a config file is promptfoo's: cheap, so ``evalgate run`` asks it without loading the importer."""

from __future__ import annotations

import re
from pathlib import Path

from evalgate.errors import ConfigError
from evalgate.yamlsrc import load_yaml_file

_NAME = re.compile(r"^promptfooconfig[^/]*\.ya?ml$|^promptfooconfig[^/]*\.json$")


def is_promptfoo_config(path: Path) -> bool:
    """A promptfoo config by its name, or by promptfoo's keys without evalgate's ``model``."""
    if _NAME.match(path.name):
        return True
    if path.suffix not in (".yaml", ".yml", ".json") or not path.is_file():
        return False
    try:
        data = load_yaml_file(path).data
    except ConfigError:
        return False
    return isinstance(data, dict) and "model" not in data and bool({"providers", "tests"} & set(data))
