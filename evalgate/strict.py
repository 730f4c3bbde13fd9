"""The base of every user-facing pydantic model."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class Strict(BaseModel):
    """Unknown keys are errors and values are immutable once loaded."""

    model_config = ConfigDict(extra="forbid", frozen=True)
