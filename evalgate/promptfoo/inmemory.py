"""``evalgate run --config promptfooconfig.yaml``: the importer's conversion, in a temporary folder."""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from evalgate.promptfoo.detect import is_promptfoo_config


@contextmanager
def native_config(
    config: str, *, model: str | None, judge: str | None, say: Callable[[str], None]
) -> Iterator[str]:
    """Yield ``config`` itself, or for a promptfoo config the path of its converted evalgate.yaml."""
    path = Path(config)
    if not is_promptfoo_config(path):
        yield config
        return
    import yaml  # the importer only for a promptfoo config: a native run does not pay for loading it

    from evalgate.promptfoo.importer import convert, write_project

    with tempfile.TemporaryDirectory(prefix="evalgate-promptfoo-") as tmp:
        root = Path(tmp)
        imported = convert(path, output=root, model=model, judge=judge)
        write_project(imported, root)
        native = root / "evalgate.yaml"
        data = yaml.safe_load(native.read_text(encoding="utf-8"))
        # answers are cached next to the promptfoo config, so a second run reuses them
        data.setdefault("runner", {})["cache_dir"] = str((path.parent / ".evalgate" / "cache").resolve())
        native.write_text(yaml.safe_dump(data, sort_keys=False, allow_unicode=True), encoding="utf-8")
        left = len(imported.dropped)
        say(
            f"evalgate: {path.name} is a promptfoo config; running it converted in memory "
            f"({imported.cases} cases, {left} thing{'s' if left != 1 else ''} not carried over; "
            f"'evalgate import promptfoo {config}' lists them and writes the native project)"
        )
        yield str(native)
