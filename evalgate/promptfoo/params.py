"""Model params from promptfoo's provider and prompt configs, kept to what the running model's API takes."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from evalgate.promptfoo.prompts import Prompt
from evalgate.promptfoo.providers import PARAMS
from evalgate.vendorparams import check_params


def carry_params(
    model: dict[str, Any], params: dict[str, Any], note: Callable[[str], None], origin: str
) -> None:
    """Lay ``params`` over the model section's, leaving out (and noting) what its vendor's API rejects.

    ``--model anthropic:...`` with an OpenAI provider's ``seed`` would otherwise fail validation.
    """
    rejected = {p.key: p.message for p in check_params(str(model.get("provider")), params)}
    kept = {k: v for k, v in params.items() if k not in rejected}
    if kept:
        model["params"] = {**model.get("params", {}), **kept}
    for key, why in rejected.items():
        note(f"{origin}: param '{key}' is not carried over: {why}")


def prompt_params(prompts: list[Prompt], model: dict[str, Any], note: Callable[[str], None]) -> None:
    """The prompts' own config as model params, when every prompt asks for the same (else listed).

    promptfoo lays a prompt's ``config`` over the provider's for that prompt; evalgate has one model
    section per config, so only a config shared by every prompt carries over faithfully.
    """
    configs = {json.dumps(p.config or {}, sort_keys=True) for p in prompts}
    shared = prompts[0].config if len(configs) == 1 and prompts else None
    if not shared:
        for prompt in prompts:
            if prompt.config:
                keys = ", ".join(sorted(map(str, prompt.config)))
                note(
                    f"prompt '{prompt.name}': its config ({keys}) differs from the other prompts' and is not "
                    "carried over (make one evalgate config per prompt, with it under model.params)"
                )
        return
    carry_params(model, {PARAMS[k]: v for k, v in shared.items() if k in PARAMS}, note, "prompt config")
    for key in sorted(set(shared) - set(PARAMS)):
        note(f"prompt config '{key}' is not carried over")
