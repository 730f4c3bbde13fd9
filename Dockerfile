# Image of the evalgate GitHub Action (action.yml: runs.using docker). The runner mounts the workspace over
# the working directory and sets HOME, so everything here lives at absolute paths under /action, and the
# container runs as root (the workspace belongs to the runner's user; a USER line breaks writes to it).
#
# Base image: an exact patch tag. For a release, pin the digest too: run
#   docker buildx imagetools inspect python:3.11.17-slim-bookworm
# and append the multi-arch "Digest:" it prints, e.g. FROM python:3.11.17-slim-bookworm@sha256:<digest>
# (bump tag and digest together).
FROM python:3.11.17-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_ROOT_USER_ACTION=ignore

# git: the action diffs prompts and model pins between the PR's base and head commits. Held to bookworm's
# 2.39 series; the glob lets Debian security updates in. The workspace is owned by another uid than root,
# so without safe.directory every git command fails with "dubious ownership"; --system because the runner
# replaces HOME (and with it any --global config) at run time.
#
# nodejs: javascript checks (promptfoo's JavaScript asserts) run in one Node.js worker; bookworm's 18.x.
# tini: in the container our process is PID 1, which the kernel shields from signals that have no handler.
# tini runs as PID 1 instead, forwards the runner's SIGTERM (a cancelled job) to evalgate, whose handler
# stops the run, marks the commit status "cancelled" and exits 143; it also reaps what `command`
# providers leave behind.
RUN apt-get update \
    && apt-get install -y --no-install-recommends 'git=1:2.39.*' 'nodejs=18.*' 'tini=0.19.*' \
    && rm -rf /var/lib/apt/lists/* \
    && git config --system --add safe.directory '*'

# Dependencies first (exact versions from the constraints file), so that a source change reuses this layer.
COPY requirements/action.txt /action/requirements/action.txt
RUN pip install --no-cache-dir -r /action/requirements/action.txt

COPY pyproject.toml README.md /action/
COPY evalgate /action/evalgate
COPY entrypoint.py /action/entrypoint.py
RUN pip install --no-cache-dir -c /action/requirements/action.txt "/action[github]" \
    && rm -rf /action/build /action/evalgate.egg-info

ENTRYPOINT ["/usr/bin/tini", "--", "python", "/action/entrypoint.py"]
