"""A case's ``transform_vars``: JavaScript over its vars, run when the run is planned, before rendering.

The vars it returns are laid over the case's own (promptfoo's ``transformVars``); the prompt, the checks'
``{{ var }}`` values and what JavaScript checks see as ``context.vars`` all use the result. The rendered
prompt is part of the response cache key, so a changed transform never gets an old answer.
"""

from __future__ import annotations

from pathlib import Path

from evalgate.checks.render import render_check_vars
from evalgate.checks.transforms import TransformError, prepare_transform, transform_vars
from evalgate.errors import ConfigError
from evalgate.suite import Case, CaseSpec
from evalgate.yamlsrc import YamlDoc, validate

__all__ = ["TransformError", "prepare_case_vars", "transformed"]


def _located(exc: ConfigError, case: Case) -> ConfigError:
    if exc.file is None or exc.line is None:
        exc.file, exc.line = case.suite, case.line
        exc.where = exc.where or f"case {case.id}"
        exc.args = (exc.render(),)
    return exc


def prepare_case_vars(case: Case, base_dir: Path) -> None:
    """Fail early (validate, plan) when Node.js or the transform's file is missing."""
    code = case.spec.transform_vars
    if code is None:
        return
    try:
        prepare_transform(code, base_dir)
    except ConfigError as exc:
        raise _located(exc, case) from None


def transformed(case: Case, base_dir: Path) -> Case:
    """``case`` with the vars its ``transform_vars`` returns and its checks rendered with them.

    ``TransformError`` when the JavaScript throws, times out or returns no object (the case is an
    error, never a pass); ``ConfigError`` when a check cannot be rendered or is invalid once rendered.
    """
    spec = case.spec
    code = spec.transform_vars
    if code is None:
        return case
    prepare_case_vars(case, base_dir)
    variables = transform_vars(code, dict(spec.vars), base_dir)
    data = spec.model_dump(exclude_none=True)
    data["vars"] = variables
    data = render_check_vars(data, file=case.suite, line=case.line)
    try:
        new = validate(
            CaseSpec,
            YamlDoc(data, None, case.suite),
            data=data,
            expect="a case mapping",
        )
    except ConfigError as exc:
        exc.message = f"after transform_vars: {exc.message}"
        raise _located(exc, case) from None
    return Case(spec=new, suite=case.suite, line=case.line)
