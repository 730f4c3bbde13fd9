"""The ``evalgate`` command line: its parser, and ``main``, which runs a command and maps errors to exits.

The commands live by what they do: ``runcli`` (run), ``projectcli`` (validate, lint, import, record, merge,
view, init), ``watchcli`` (pin, compare, drift, upgrade) and ``canary.cli``. They and the Action entrypoint
are the only places that print and exit.
"""

from __future__ import annotations

import argparse
import gc
import os
import sys
from collections.abc import Callable, Sequence
from typing import Any, NoReturn

from evalgate import __version__
from evalgate.cancel import exit_code_for, signals_stop_the_run
from evalgate.errors import (
    EXIT_INFRA,
    EXIT_PASSED,
    EXIT_USAGE,
    EvalgateError,
    UsageError,
)
from evalgate.output import Output
from evalgate.projectcli import (
    cmd_import,
    cmd_init,
    cmd_lint,
    cmd_merge,
    cmd_record,
    cmd_validate,
    cmd_view,
)
from evalgate.runcli import cmd_run

DEFAULT_CONFIG = "evalgate.yaml"


def _threshold(text: str) -> float:
    from evalgate.gate import parse_fraction

    try:
        return parse_fraction(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"'{text}' {exc}") from None


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"'{text}' must be at least 1")
    return value


class _Parser(argparse.ArgumentParser):
    """argparse that raises instead of exiting, so usage errors share the exit-code path.

    A subcommand's parser gets its arguments from ``arguments`` the first time it parses or shows its
    usage, so ``evalgate run`` builds the one parser it uses instead of all forty, and imports neither the
    canary nor the watch commands' modules (most of the parser's cost, before the first model call).
    """

    def __init__(
        self,
        *args: Any,
        arguments: Callable[[argparse.ArgumentParser], None] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self._add_arguments = arguments

    def _complete(self) -> None:
        add, self._add_arguments = self._add_arguments, None
        if add is not None:
            add(self)

    def parse_known_args(  # type: ignore[override]
        self, args: Sequence[str] | None = None, namespace: argparse.Namespace | None = None
    ) -> tuple[argparse.Namespace, list[str]]:
        self._complete()
        return super().parse_known_args(args, namespace)

    def format_usage(self) -> str:
        self._complete()
        return super().format_usage()

    def format_help(self) -> str:
        self._complete()
        return super().format_help()

    def error(self, message: str) -> NoReturn:
        raise UsageError(message, fix=f"see '{self.prog} --help'")


def _with_config(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", "-c", default=DEFAULT_CONFIG, help="path to evalgate.yaml")


def _with_selection(p: argparse.ArgumentParser) -> None:
    p.add_argument("--tag", action="append", default=[], help="run only cases with this tag (repeatable)")
    p.add_argument("--case", action="append", default=[], help="run only this case id (repeatable)")
    p.add_argument("--shard", help="run shard I of N, e.g. 2/4")
    p.add_argument("--concurrency", type=_positive_int, help="parallel model calls")
    p.add_argument("--no-cache", action="store_true", help="ignore and do not write the response cache")


def _run_arguments(run: argparse.ArgumentParser) -> None:
    _with_config(run)
    _with_selection(run)
    run.add_argument("--threshold", type=_threshold, help="override gate.threshold (0.85 or 85%%)")
    run.add_argument("--json", dest="json_path", help="write the JSON report here")
    run.add_argument("--junit", dest="junit_path", help="write JUnit XML here")
    run.add_argument("--markdown", dest="markdown_path", help="write the Markdown report here")
    run.add_argument("--quiet", "-q", action="store_true", help="print only the verdict line")
    run.add_argument("--all", dest="show_all", action="store_true", help="list passing cases too")

    run.add_argument(
        "--model", help="for a promptfoo config: the pinned model, e.g. openai:gpt-4o-2024-11-20"
    )
    run.add_argument("--judge", help="for a promptfoo config: the pinned grader model (PROVIDER:NAME)")
    run.add_argument(
        "--allow-unpinned",
        action="store_true",
        help="accept model aliases, with a warning (local exploration)",
    )


def _validate_arguments(validate: argparse.ArgumentParser) -> None:
    _with_config(validate)
    validate.add_argument("--allow-unpinned", action="store_true", help="report unpinned models as warnings")
    validate.add_argument("--model", help="for a promptfoo config: the pinned model (PROVIDER:NAME)")
    validate.add_argument("--judge", help="for a promptfoo config: the pinned grader model (PROVIDER:NAME)")


def _import_arguments(importer: argparse.ArgumentParser) -> None:
    kinds = importer.add_subparsers(dest="kind", required=True, parser_class=_Parser)
    promptfoo = kinds.add_parser("promptfoo", help="a promptfooconfig.yaml")
    promptfoo.add_argument("source", help="the promptfoo config file")
    promptfoo.add_argument("--model", help="the pinned model to run, e.g. openai:gpt-4o-2024-11-20")
    promptfoo.add_argument("--judge", help="the pinned grader model (PROVIDER:NAME)")
    promptfoo.add_argument("--output", "-o", help="folder to write the project to (default: the config's)")
    promptfoo.add_argument("--force", action="store_true", help="overwrite existing files")


def _record_arguments(record: argparse.ArgumentParser) -> None:
    _with_config(record)
    _with_selection(record)
    record.add_argument("--output", "-o", required=True, help="responses file to write (YAML)")


def _merge_arguments(merge: argparse.ArgumentParser) -> None:
    merge.add_argument(
        "reports", nargs="+", help="shard reports written by 'evalgate run --shard I/N --json F'"
    )
    merge.add_argument("--config", "-c", default=DEFAULT_CONFIG, help="evalgate.yaml whose gate to apply")
    merge.add_argument("--threshold", type=_threshold, help="override gate.threshold (0.85 or 85%%)")
    merge.add_argument("--json", dest="json_path", help="write the merged JSON report here")
    merge.add_argument("--junit", dest="junit_path", help="write JUnit XML here")
    merge.add_argument("--markdown", dest="markdown_path", help="write the Markdown report here")
    merge.add_argument("--quiet", "-q", action="store_true", help="print only the verdict line")
    merge.add_argument("--all", dest="show_all", action="store_true", help="list passing cases too")


def _view_arguments(view: argparse.ArgumentParser) -> None:
    view.add_argument("report", help="a JSON report written by 'evalgate run --json' or the Action")
    view.add_argument("--output", "-o", help="HTML file to write (default: the report's name with .html)")


def _init_arguments(init: argparse.ArgumentParser) -> None:
    init.add_argument("directory", nargs="?", default=".", help="where to create the files")
    init.add_argument("--force", action="store_true", help="overwrite existing files")


def _canary_arguments(canary: argparse.ArgumentParser) -> None:
    from evalgate.canary.cli import add_arguments

    add_arguments(canary, _with_config)


def _watch_arguments(command: str) -> Callable[[argparse.ArgumentParser], None]:
    def add(p: argparse.ArgumentParser) -> None:
        from evalgate.watchcli import add_arguments

        add_arguments(command, p, _with_config)

    return add


# every command in the order ``evalgate --help`` lists them: its one-line help and how to add its arguments
_COMMANDS: tuple[tuple[str, str, Callable[[argparse.ArgumentParser], None]], ...] = (
    ("run", "run the eval suites and apply the gate", _run_arguments),
    ("validate", "check config, suites and prompt rendering; no model calls", _validate_arguments),
    ("import", "convert another tool's config into an evalgate project", _import_arguments),
    ("lint", "reject unpinned model names", _with_config),
    ("record", "run the live model and save its answers for the replay provider", _record_arguments),
    ("merge", "combine shard JSON reports into one report and one verdict", _merge_arguments),
    ("view", "write a self-contained HTML report to browse a JSON report", _view_arguments),
    ("canary", "staged rollout with a statistical judge and automatic rollback", _canary_arguments),
    ("pin", "show or move the model pin at every policy.model_pins location", _watch_arguments("pin")),
    (
        "compare",
        "compare two JSON reports of one suite (exit 1 on a regression)",
        _watch_arguments("compare"),
    ),
    (
        "drift",
        "judge a scheduled run against the last good one; keep the issue",
        _watch_arguments("drift"),
    ),
    (
        "upgrade",
        "run the suite with the current and a candidate pin; open a PR",
        _watch_arguments("upgrade"),
    ),
    ("init", "scaffold evalgate.yaml, a prompt and a suite", _init_arguments),
)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser for every subcommand (each one's arguments are added when it is used)."""
    parser = _Parser(prog="evalgate", description="Eval gates for LLM features.")
    parser.add_argument("--version", action="version", version=f"evalgate {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    for name, help_text, arguments in _COMMANDS:
        sub.add_parser(name, help=help_text, arguments=arguments)
    return parser


def cmd_canary(args: argparse.Namespace, out: Output) -> int:
    """``evalgate canary ...``."""
    from evalgate.canary.cli import dispatch

    return dispatch(args, out)


def cmd_watch(args: argparse.Namespace, out: Output) -> int:
    """``evalgate pin|compare|drift|upgrade ...``."""
    from evalgate.watchcli import dispatch

    return dispatch(args, out)


COMMANDS = {
    "run": cmd_run,
    "merge": cmd_merge,
    "view": cmd_view,
    "canary": cmd_canary,
    "validate": cmd_validate,
    "lint": cmd_lint,
    "record": cmd_record,
    "init": cmd_init,
    "import": cmd_import,
    "pin": cmd_watch,
    "compare": cmd_watch,
    "drift": cmd_watch,
    "upgrade": cmd_watch,
}


_START_UP_COLLECTION_THRESHOLD = 70_000


def console() -> NoReturn:
    """The ``evalgate`` command and ``python -m evalgate``: ``main``, then a quick exit.

    Start-up collects garbage a hundred times less often: importing pydantic and building the models
    allocate some hundred thousand containers and leave no cycles to find, and collecting at Python's
    threshold of 700 cost about 5 ms before the first request. A run sets its own threshold
    (``evaluation.fewer_collections``). At the end, everything still alive is frozen, so the interpreter's
    last collection at shutdown skips it: after a run that is the loaded suites, the results and every
    imported module, and walking them made exiting take 40-150 ms. (``main`` itself leaves the collector
    alone: tests call it in-process.)
    """
    gc.set_threshold(_START_UP_COLLECTION_THRESHOLD, *gc.get_threshold()[1:])
    code = main()
    gc.freeze()
    sys.exit(code)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the console script; returns the exit code."""
    out = Output()
    try:
        args = build_parser().parse_args(argv)
        with signals_stop_the_run():  # SIGINT and SIGTERM stop retries and in-flight calls at once
            return COMMANDS[args.command](args, out)
    except KeyboardInterrupt as exc:
        out.warn("evalgate: interrupted")
        return exit_code_for(exc)
    except EvalgateError as exc:
        prefix = "error" if exc.exit_code == EXIT_USAGE else "evalgate failed"
        out.warn(f"{prefix}: {exc}")
        return exc.exit_code
    except SystemExit as exc:  # --help and --version
        return int(exc.code or 0) if isinstance(exc.code, int) else EXIT_PASSED
    except Exception as exc:  # a bug: say so plainly, keep the traceback available
        if os.environ.get("EVALGATE_DEBUG"):
            raise
        out.warn(
            f"evalgate: internal error: {type(exc).__name__}: {exc} (set EVALGATE_DEBUG=1 for a traceback)"
        )
        return EXIT_INFRA


if __name__ == "__main__":
    sys.exit(main())
