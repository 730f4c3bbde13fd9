"""Webhook alerts for canary decisions (``canary.notify``) and gate failures (``gate.notify``).

Each webhook is ``{url: ${ENV_VAR}, format: slack | json, on: [events]}``. The URL is always an
environment variable (a Slack webhook URL is a credential: it must live in a secret, never in the repo),
and it is never written to a log: a delivery problem is reported by the variable's name. Delivery uses
the one retry policy; a webhook that still fails is logged as a warning and never blocks, delays past its
retries, or changes a decision.

``slack`` posts a message with the decision, the stage, the reason and a link to the run; ``json`` posts
the decision record (for a canary, exactly the line ``canary run`` logs).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping, Sequence
from typing import Annotated, Any, Literal

from pydantic import ConfigDict, Field, field_validator, model_validator

from evalgate.errors import EvalgateError, InfrastructureError
from evalgate.strict import Strict

CanaryEvent = Literal["start", "promote", "extend", "hold", "rollback", "no_data"]
GateEvent = Literal["fail", "pass", "error"]
ATTEMPTS = 3
_ENV_ONLY = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
_ICONS = {
    "start": ":arrow_forward:",
    "promote": ":white_check_mark:",
    "extend": ":hourglass_flowing_sand:",
    "hold": ":double_vertical_bar:",
    "rollback": ":rotating_light:",
    "no_data": ":warning:",
    "fail": ":no_entry:",
    "pass": ":white_check_mark:",
    "error": ":warning:",
}


class _Webhook(Strict):
    # built when first used: a run validates gate.notify's entries (built with the gate config), never
    # this base, and canary.notify's only when a canary plan loads
    model_config = ConfigDict(defer_build=True)

    url: str
    on: tuple[str, ...] = ()
    format: Literal["slack", "json"] = "json"
    timeout_s: Annotated[float, Field(gt=0, le=60)] = 10.0

    @model_validator(mode="before")
    @classmethod
    def _yaml_on(cls, data: Any) -> Any:
        # YAML 1.1 (PyYAML) reads the bare key `on` as the boolean true
        if isinstance(data, dict) and True in data and "on" not in data:
            data = {("on" if k is True else k): v for k, v in data.items()}
        return data

    @field_validator("url")
    @classmethod
    def _env_reference(cls, url: str) -> str:
        if not _ENV_ONLY.fullmatch(url.strip()):
            raise ValueError(
                "the webhook URL must be an environment variable, e.g. url: ${SLACK_WEBHOOK_URL}: a webhook "
                "URL is a credential, so keep it in a secret and out of the repository and the logs"
            )
        return url.strip()

    @property
    def env_var(self) -> str:
        """The environment variable holding the URL (what logs name instead of the URL)."""
        match = _ENV_ONLY.fullmatch(self.url)
        assert match is not None  # validated
        return match.group(1)


class CanaryWebhook(_Webhook):
    """One entry of ``canary.notify``; ``on`` defaults to the decisions someone must hear about."""

    on: Annotated[tuple[CanaryEvent, ...], Field(min_length=1)] = ("rollback", "hold", "no_data")


class GateWebhook(_Webhook):
    """One entry of ``gate.notify``: the seed's "Block + Alert" for a failed PR gate."""

    on: Annotated[tuple[GateEvent, ...], Field(min_length=1)] = ("fail", "error")


def _log_warning(text: str) -> None:
    import logging  # only a failed delivery is logged: logging stays off every run's start-up

    logging.getLogger(__name__).warning("%s", text)


# --- what is sent (pure) ------------------------------------------------------------------------


def run_url(env: Mapping[str, str]) -> str | None:
    """The GitHub Actions run (or ``EVALGATE_RUN_URL``, e.g. an Argo Rollouts dashboard link)."""
    if env.get("EVALGATE_RUN_URL"):
        return env["EVALGATE_RUN_URL"]
    if env.get("GITHUB_REPOSITORY") and env.get("GITHUB_RUN_ID"):
        server = env.get("GITHUB_SERVER_URL", "https://github.com")
        return f"{server}/{env['GITHUB_REPOSITORY']}/actions/runs/{env['GITHUB_RUN_ID']}"
    return None


def _slack_escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def slack_message(title: str, event: str, reason: str, context: str, link: str | None) -> dict[str, Any]:
    """A Slack incoming-webhook body: a one-line ``text`` (notifications) and blocks (the channel)."""
    icon = _ICONS.get(event, "")
    head = f"{icon} *{_slack_escape(title)}*".strip()
    details = _slack_escape(context) + (f" · <{link}|run>" if link else "")
    return {
        "text": _slack_escape(f"{title}: {reason}"),
        "blocks": [
            {"type": "section", "text": {"type": "mrkdwn", "text": f"{head}\n{_slack_escape(reason)}"}},
            {"type": "context", "elements": [{"type": "mrkdwn", "text": details}]},
        ],
    }


def canary_event(record: Mapping[str, Any]) -> CanaryEvent:
    """The event of a decision record: its action, or ``no_data`` when a silent source caused it."""
    if record.get("cause") == "no_data" and record.get("action") in ("rollback", "hold"):
        return "no_data"
    action = record.get("action")
    if action == "promote":
        return "promote"
    if action == "extend":
        return "extend"
    return "hold" if action == "hold" else "rollback"


def canary_body(
    spec: _Webhook,
    event: str,
    record: Mapping[str, Any],
    target: Mapping[str, Any],
    link: str | None,
) -> dict[str, Any]:
    """The body for one canary event; ``record`` is the decision record (or a start/stop record)."""
    weight = record.get("weight")
    reason = str(record.get("reason", ""))
    if spec.format == "json":
        return {"source": "evalgate", "kind": "canary", "event": event, "target": dict(target),
                "run_url": link, "decision": dict(record)}  # fmt: skip
    where = f" at {weight}%" if weight is not None else ""
    title = f"evalgate canary: {event.replace('_', ' ')}{where}"
    context = f"{target.get('kind', '')} {target.get('stable', '?')} → {target.get('candidate', '?')}".strip()
    return slack_message(title, event, reason, context, link)


def gate_body(spec: _Webhook, event: str, record: Mapping[str, Any], link: str | None) -> dict[str, Any]:
    """The body for a gate event; ``record`` has passed, value, threshold and reasons."""
    if spec.format == "json":
        return {"source": "evalgate", "kind": "gate", "event": event, "run_url": link, "gate": dict(record)}
    reasons = [str(r) for r in record.get("reasons", ())]
    reason = "; ".join(reasons) or str(record.get("summary", ""))
    title = "evalgate: gate failed" if event == "fail" else f"evalgate: gate {event}"
    context = str(record.get("summary", ""))
    return slack_message(title, event, reason, context, link)


# --- delivery (the I/O edge) ---------------------------------------------------------------------


Warn = Callable[[str], None]


class Notifier:
    """Sends bodies to the webhooks that listen for an event; never raises, never logs a URL."""

    def __init__(
        self,
        webhooks: Sequence[_Webhook],
        env: Mapping[str, str],
        *,
        warn: Warn | None = None,
        sleep: Callable[[float], None] | None = None,
    ) -> None:
        self.webhooks = list(webhooks)
        self.env = env
        self.warn = warn or _log_warning
        self.sleep = sleep
        self.sent: list[tuple[str, str]] = []  # (env var, event) delivered
        self.failed: list[tuple[str, str]] = []

    def send(self, event: str, body_for: Callable[[_Webhook], dict[str, Any]]) -> None:
        """Post to every webhook whose ``on`` has ``event``; problems become warnings."""
        for spec in self.webhooks:
            if event not in spec.on:
                continue
            name = f"notify {spec.env_var} ({spec.format}, {event})"
            try:
                url = self._url(spec)
                body = body_for(spec)
                self._post(url, body, spec.timeout_s, name)
            except EvalgateError as exc:
                self.failed.append((spec.env_var, event))
                self.warn(f"evalgate: {exc}; the decision stands")
            except Exception as exc:  # never let an alert take a rollout down
                self.failed.append((spec.env_var, event))
                self.warn(f"evalgate: {name}: {type(exc).__name__}; the decision stands")
            else:
                self.sent.append((spec.env_var, event))

    def _url(self, spec: _Webhook) -> str:
        value = self.env.get(spec.env_var, "").strip()
        if not value:
            raise InfrastructureError(f"notify {spec.env_var}: the environment variable is not set or empty")
        if not re.match(r"^https?://", value):
            raise InfrastructureError(f"notify {spec.env_var}: the value is not an http(s) URL")
        return value

    def _post(self, url: str, body: dict[str, Any], timeout_s: float, name: str) -> None:
        # urllib, not requests: urllib3 logs every request line (the URL's secret path) at DEBUG level
        # imported here: urllib.request (and the email package under it) costs start-up on every run
        import urllib.error
        import urllib.request

        from evalgate.retry import call_with_retries

        class NoRedirect(urllib.request.HTTPRedirectHandler):
            """A redirect is an error: a moved webhook is misconfigured, and a POST must not become a GET."""

            def redirect_request(self, *args: Any, **kwargs: Any) -> None:
                return None  # then the 3xx surfaces as an HTTPError

        data = json.dumps(body, ensure_ascii=False).encode("utf-8")
        opener = urllib.request.build_opener(NoRedirect())

        def attempt() -> None:
            request = urllib.request.Request(
                url,
                data=data,
                method="POST",
                headers={"Content-Type": "application/json", "User-Agent": "evalgate"},
            )
            try:
                with opener.open(request, timeout=timeout_s) as response:
                    response.read()
            except urllib.error.HTTPError as exc:
                status = exc.code
                after = (exc.headers.get("Retry-After") or "") if exc.headers else ""
                exc.close()  # the error holds the response's socket
                raise InfrastructureError(
                    f"{name}: HTTP {status}",
                    retryable=status == 429 or status >= 500,
                    retry_after=float(after) if after.isdigit() else None,
                ) from None
            except (urllib.error.URLError, OSError, ValueError) as exc:
                # the message can name the URL (the secret): the class says enough
                kind = type(getattr(exc, "reason", exc)).__name__
                raise InfrastructureError(f"{name}: {kind}", retryable=True) from None

        call_with_retries(attempt, max_attempts=ATTEMPTS, describe=name, sleep=self.sleep)


# --- the two callers -----------------------------------------------------------------------------


class CanaryAlerts:
    """``canary.notify`` for one rollout: start, every decision, and an ending no decision explains."""

    def __init__(self, notifier: Notifier, target: Mapping[str, Any]) -> None:
        self.notifier, self.target = notifier, dict(target)
        self.link = run_url(notifier.env)

    def _send(self, event: str, record: Mapping[str, Any]) -> None:
        self.notifier.send(event, lambda spec: canary_body(spec, event, record, self.target, self.link))

    def start(self, weight: int, reason: str) -> None:
        """The rollout begins (its first stage's weight)."""
        self._send("start", {"kind": "start", "weight": weight, "reason": reason})

    def decision(self, record: Mapping[str, Any]) -> None:
        """A judge's decision record (``kind: decision``)."""
        self._send(canary_event(record), record)

    def ended(self, result: str, weight: int | None, reason: str) -> None:
        """An ending without a judge's decision behind it (the source or the router failed)."""
        self._send("rollback", {"kind": "outcome", "result": result, "weight": weight, "reason": reason})


def canary_alerts(
    webhooks: Sequence[CanaryWebhook], target: Mapping[str, Any], env: Mapping[str, str], warn: Warn
) -> CanaryAlerts:
    """Alerts for a rollout of ``target`` (the plan's target, dumped)."""
    return CanaryAlerts(Notifier(webhooks, env, warn=warn), target)


def notify_gate(
    webhooks: Sequence[GateWebhook],
    event: GateEvent,
    record: Mapping[str, Any],
    env: Mapping[str, str],
    warn: Warn,
) -> Notifier:
    """Send a gate outcome (``fail``, ``pass`` or ``error``) to the webhooks listening for it."""
    notifier = Notifier(webhooks, env, warn=warn)
    link = run_url(env)
    notifier.send(event, lambda spec: gate_body(spec, event, record, link))
    return notifier


def gate_event(passed: bool, *, infrastructure: bool = False) -> GateEvent:
    """``error`` when no case got an answer, else ``pass`` or ``fail``."""
    if infrastructure:
        return "error"
    return "pass" if passed else "fail"


def gate_record(
    passed: bool, metric: str, value: float, threshold: float, reasons: Sequence[str]
) -> dict[str, Any]:
    """The gate's verdict as a JSON-ready record with a one-line summary."""
    verdict = "passed" if passed else "failed"
    return {
        "passed": passed,
        "metric": metric,
        "value": value,
        "threshold": threshold,
        "reasons": list(reasons),
        "summary": f"gate {verdict}: {metric} pass rate {value:.1%} (threshold {threshold:.1%})",
    }
