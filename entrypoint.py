"""Entry point of the evalgate Docker action (Dockerfile ENTRYPOINT, action.yml ``runs``).

Thin on purpose: the action's logic starts in ``evalgate/action.py`` (``main() -> int``, the exit code), where
it is typed and tested. This file only turns a broken install into an annotation and exit code 3.
"""

from __future__ import annotations

import gc
import os
import re
import sys

INFRASTRUCTURE_ERROR = 3


def _fenced(text: str) -> str:
    # evalgate.report.escape.fenced, restated: this path runs when the evalgate package cannot be imported.
    # A fence longer than any backtick run inside cannot be closed by the text; nothing in it renders.
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    fence = "`" * max(3, longest + 1)
    return f"{fence}text\n{text}\n{fence}"


def _fail(message: str) -> int:
    # Escaped as workflow command data, so that the message cannot inject a command.
    escaped = message.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")
    print(f"::error title=evalgate::{escaped}", flush=True)
    summary = os.environ.get("GITHUB_STEP_SUMMARY")
    if summary:
        try:
            with open(summary, "a", encoding="utf-8") as fh:
                fh.write(f"### evalgate: infrastructure error\n\n{_fenced(message)}\n")
        except OSError:
            pass  # the annotation above already carries the message
    return INFRASTRUCTURE_ERROR


def run() -> int:
    """Import and run the action; exit code 3 when it cannot even be imported."""
    try:
        from evalgate.action import main
    except Exception as exc:  # an ImportError, or any error raised while importing: a broken image
        return _fail(f"the evalgate action is not installed correctly: cannot import it ({exc!r})")
    return main()


if __name__ == "__main__":
    # as the evalgate command does (evalgate.cli.console): collect rarely while pydantic and the models load;
    # a run sets its own threshold, 7,000 (evalgate.evaluation.fewer_collections)
    gc.set_threshold(70_000, *gc.get_threshold()[1:])
    code = run()
    gc.freeze()  # the interpreter's last collection skips what is alive now: a much quicker exit
    sys.exit(code)
