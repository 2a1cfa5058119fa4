"""Defaulting and validation agree: what defaulting produces from a valid object is still valid.

The API server runs them in that order on every write; a default that
validation refuses (or a validation that expects what defaulting never
fills) would reject good manifests.
"""

from __future__ import annotations

import pytest

from actors.apiserver.defaults import apply_defaults
from actors.apiserver.validation import validate
from tests.test_apiserver_validation import VALID


@pytest.mark.parametrize("kind", sorted(VALID))
def test_a_valid_object_stays_valid_once_defaulted(kind):
    namespaced, obj = VALID[kind]
    defaulted = apply_defaults(obj)
    assert [str(e) for e in validate(defaulted, namespaced=namespaced)] == []
    assert apply_defaults(defaulted) == defaulted
