"""Acme support bot: renders a prompt template from prompts/ and asks the pinned chat model.

This is the code under test. The evalgate demo does not call it (it replays recorded answers),
but it renders exactly the same templates and sends them as a single user message.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import requests
import yaml
from jinja2 import Environment, FileSystemLoader, StrictUndefined

ROOT = Path(__file__).resolve().parent.parent


def load_config(path: Path = ROOT / "config.yaml") -> dict[str, Any]:
    with path.open(encoding="utf-8") as f:
        config: dict[str, Any] = yaml.safe_load(f)
    return config


def _should_fall_back(exc: requests.RequestException) -> bool:
    """Network failures, rate limits and server errors go to the fallback model; 4xx bugs do not."""
    if isinstance(exc, requests.HTTPError):
        status = exc.response.status_code if exc.response is not None else 0
        return status == 429 or status >= 500
    return isinstance(exc, requests.ConnectionError | requests.Timeout)


class SupportBot:
    def __init__(self, config: dict[str, Any] | None = None) -> None:
        self.config = config or load_config()
        self.ai: dict[str, Any] = self.config["ai"]
        prompts_dir = ROOT / self.config.get("app", {}).get("prompts_dir", "prompts")
        self.templates = Environment(
            loader=FileSystemLoader(prompts_dir),
            undefined=StrictUndefined,  # a missing variable is an error, not an empty string
            autoescape=False,
            keep_trailing_newline=True,
        )
        self.session = requests.Session()

    def render(self, prompt: str, **variables: str) -> str:
        return self.templates.get_template(f"{prompt}.md").render(**variables)

    def complete(self, content: str, model: str | None = None) -> str:
        ai = self.ai
        response = self.session.post(
            f"{ai['base_url'].rstrip('/')}/chat/completions",
            headers={"Authorization": f"Bearer {os.environ[ai['api_key_env']]}"},
            json={
                "model": model or ai["model"],
                "messages": [{"role": "user", "content": content}],
                "temperature": ai.get("temperature", 0),
                "max_tokens": ai.get("max_tokens", 600),
            },
            timeout=ai.get("timeout_s", 30),
        )
        response.raise_for_status()
        return str(response.json()["choices"][0]["message"]["content"]).strip()

    def ask(self, prompt: str, **variables: str) -> str:
        content = self.render(prompt, **variables)
        try:
            return self.complete(content)
        except requests.RequestException as exc:
            fallback = self.ai.get("fallback_model")
            if not fallback or not _should_fall_back(exc):
                raise
            return self.complete(content, model=fallback)

    # One method per feature of the support console.

    def summarize(self, text: str) -> str:
        return self.ask("summarize", text=text)

    def extract(self, message: str) -> dict[str, Any]:
        data: dict[str, Any] = json.loads(self.ask("extract", message=message))
        return data

    def answer_policy(self, question: str) -> str:
        return self.ask("policy", question=question)

    def is_spam(self, message: str) -> bool:
        return self.ask("spam", message=message).lower().startswith("spam")

    def translate(self, text: str, target_language: str) -> str:
        return self.ask("translate", text=text, target_language=target_language)

    def reply(self, message: str) -> str:
        return self.ask("support", message=message)
