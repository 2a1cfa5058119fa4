"""The base of every component's ``args`` model: strict (a misspelt argument is an error) and frozen."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class NoArgs(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
