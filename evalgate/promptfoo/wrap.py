"""promptfoo's ``prefix``/``suffix`` test options as prompt variants: the text around each prompt it uses."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
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
    cases: list[dict[str, Any]], prompts: list[Prompt], note: Callable[[str], None]
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
            if not prompt.path.endswith(".txt"):
                note(f"case {case['id']}: prefix/suffix on chat prompt '{name}' is not carried over")
                copy["prompt"] = name
                out.append(copy)
                continue
            key = (name, *pair)
            if key not in variants:
                digest = hashlib.sha256("\0".join(key).encode()).hexdigest()[:8]
                variant = f"{name}-{digest}"
                text = pair[0] + prompt.content + pair[1]
                variants[key] = Prompt(variant, f"prompts/{variant}.txt", text)
            copy["prompt"] = variants[key].name
            out.append(copy)
    return out, list(variants.values())
