"""JSON values: clone shares nothing with its source; dumps writes what the standard library does.

(Byte for byte, except that a float may be written in another form of the same value: 0.00006103515625
for 6.103515625e-05.)
"""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from actors.jsonvalue import JSONDecodeError, clone, dumps, loads

SCALARS = st.none() | st.booleans() | st.integers(-(2**63), 2**63 - 1) | st.text() | st.floats(
    allow_nan=False, allow_infinity=False)
VALUES = st.recursive(SCALARS, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
                      max_leaves=30)


def containers(value, found=None):
    found = [] if found is None else found
    if isinstance(value, (dict, list)):
        found.append(value)
        for item in value.values() if isinstance(value, dict) else value:
            containers(item, found)
    return found


@given(VALUES)
def test_clone_is_equal_and_shares_no_dict_or_list(value):
    copy = clone(value)
    assert copy == value
    originals = {id(c) for c in containers(value)}
    assert not originals & {id(c) for c in containers(copy)}


def test_changing_a_clone_leaves_the_original_alone():
    pod = {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [{"name": "c", "ports": []}]}}
    copy = clone(pod)
    copy["metadata"]["labels"]["app"] = "db"
    copy["spec"]["containers"][0]["ports"].append({"containerPort": 80})
    assert pod == {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [{"name": "c", "ports": []}]}}


@given(VALUES)
def test_dumps_writes_what_the_standard_library_reads_and_loads_reads_it_back(value):
    assert json.loads(dumps(value)) == value
    assert loads(dumps(value)) == value
    assert loads(json.dumps(value, ensure_ascii=False)) == value


@given(st.recursive(st.none() | st.booleans() | st.integers(-(2**63), 2**63 - 1) | st.text(),
                    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
                    max_leaves=30))
def test_without_floats_the_bytes_are_the_standard_librarys(value):
    assert dumps(value) == json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()


def test_what_json_cannot_hold_is_a_type_error_and_bad_text_a_value_error():
    with pytest.raises(TypeError):
        dumps({"n": 2**70})
    with pytest.raises(TypeError):
        dumps({"when": object()})
    with pytest.raises(ValueError):
        loads(b"{not json")
    assert issubclass(JSONDecodeError, ValueError)
