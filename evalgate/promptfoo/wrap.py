"""promptfoo's ``prefix``/``suffix`` test options as prompt variants: the text around each prompt it uses.

On a text prompt the text goes around the whole template, as in promptfoo. On a chat prompt it goes around
the last user message's content: promptfoo pastes it around the raw JSON, which stops it being a message
list at all, so the message the test is about is the nearest faithful place.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from evalgate.promptfoo.prompts import Prompt

WRAP = "_wrap"  # the key a converted case carries its (prefix, suffix) under until wrap_cases runs


def wrap_of(options: dict[str, Any], defaults: dict[str, Any]) -> tuple[str, str] | None:
    """``(prefix, suffix)`` of a test's options over defaultTest's, or ``None`` when there is neither."""
    prefix = options.get("prefix", defaults.get("prefix"))
    suffix = options.get("suffix", defaults.get("suffix"))
    pair = (str(prefix) if prefix is not None else "", str(suffix) if suffix is not None else "")
    return pair if any(pair) else None


def wrap_cases(
    cases: list[dict[str, Any]], prompts: list[Prompt]
) -> tuple[list[dict[str, Any]], list[Prompt]]:
    """Cases whose prompt is a wrapped copy of the original, one case per prompt, and those copies."""
    variants: dict[tuple[str, str, str], Prompt] = {}
    by_name = {p.name: p for p in prompts}
    out: list[dict[str, Any]] = []
    for case in cases:
        pair = case.pop(WRAP, None)
        if pair is None:
            out.append(case)
            continue
        names = [case["prompt"]] if "prompt" in case else list(by_name)
        for name in names:
            prompt = by_name[name]
            copy = dict(case)
            if len(names) > 1:
                copy["id"] = f"{case['id']}-{name}"
            key = (name, *pair)
            if key not in variants:
                variants[key] = _variant(prompt, pair)
            copy["prompt"] = variants[key].name
            out.append(copy)
    return out, list(variants.values())


def _variant(prompt: Prompt, pair: tuple[str, str]) -> Prompt:
    digest = hashlib.sha256("\0".join((prompt.name, *pair)).encode()).hexdigest()[:8]
    name = f"{prompt.name}-{digest}"
    if prompt.path.endswith(".txt"):
        return Prompt(name, f"prompts/{name}.txt", pair[0] + prompt.content + pair[1])
    # converted chat prompts are JSON message lists that end with a user message (PromptSet.add_chat)
    messages = json.loads(prompt.content)
    last = messages[-1]
    messages[-1] = {**last, "content": pair[0] + last["content"] + pair[1]}
    return Prompt(name, f"prompts/{name}.json", json.dumps(messages, indent=2) + "\n")
