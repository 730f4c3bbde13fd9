"""The base of every user-facing pydantic model."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class Strict(BaseModel):
    """Unknown keys are errors and values are immutable once loaded.

    An empty list or mapping default is ``Field(default_factory=lambda: [])``, not ``default_factory=list``:
    pydantic reads each factory's signature when it builds the model, and a builtin's comes from parsing
    its text signature with ``tokenize``, about 3 ms of every run's start-up for the config's and suite's
    models (``tests/test_startup_imports.py`` holds them to it).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)
