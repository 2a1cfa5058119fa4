"""The wire codec (bus.codec): headers, bodies and dst names.

Covers round-trips of pack_header/unpack_header and pack_body/unpack_body for
every registered kind (hypothesis), the rejection of every kind of bad frame
with its ``Rejected.reason`` label and a detail naming what was wrong, and the
guarantee that arbitrary bytes never make the decoder raise anything but
``Rejected``.
"""

from __future__ import annotations

import math
from typing import Any

import msgpack
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import actors.messages  # noqa: F401  (registers demo.Ping / demo.Pong)
from actors.messages import Ping, Pong
from bus.codec import (
    Header,
    Rejected,
    check_name,
    first_part,
    pack_body,
    pack_header,
    seal,
    unpack_body,
    unpack_header,
    unseal,
)
from bus.messages import (
    MAX_HEADER_BYTES,
    MAX_NAME_BYTES,
    Error,
    Register,
    Registered,
    SetFaults,
    Undeliverable,
    kinds,
    lookup,
    message,
)

SETTINGS = settings(
    deadline=None,
    max_examples=150,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)
BIG = 1 << 20  # body limit used where size is not what is being tested



@message("test_codec.Shapes")
class Shapes:
    """A kind of this test's own, with the field types no bus kind uses (declared once per process)."""

    pair: tuple
    maybe: int | None
    anything: Any
    ratio: float


# --- Strategies ---------------------------------------------------------------

MSGPACK_INT = st.integers(min_value=-(2**63), max_value=2**64 - 1)
FLOAT = st.floats(allow_nan=False)  # NaN != NaN; checked separately below
SHORT_TEXT = st.text(max_size=60)
SCALARS = st.one_of(st.none(), st.booleans(), MSGPACK_INT, FLOAT, SHORT_TEXT, st.binary(max_size=60))
VALUES = st.recursive(
    SCALARS,
    lambda inner: st.one_of(st.lists(inner, max_size=5), st.dictionaries(SHORT_TEXT, inner, max_size=5)),
    max_leaves=8,
)

_BY_TYPE = {
    str: SHORT_TEXT,
    int: MSGPACK_INT,
    float: FLOAT,
    bool: st.booleans(),
    bytes: st.binary(max_size=200),
    list: st.lists(VALUES, max_size=5),
    tuple: st.lists(VALUES, max_size=5),
    dict: st.dictionaries(SHORT_TEXT, VALUES, max_size=5),
    type(None): st.none(),
}


def _field_strategy(accepted: tuple[type, ...] | None) -> st.SearchStrategy:
    if accepted is None:
        return VALUES
    return st.one_of(*(_BY_TYPE[t] for t in accepted))


def _message_strategy(kind: str) -> st.SearchStrategy:
    cls = lookup(kind)
    return st.builds(cls, **{n: _field_strategy(t) for n, t in zip(cls.FIELDS, cls.TYPES)})


ANY_MESSAGE = st.sampled_from(kinds()).flatmap(_message_strategy)


def header_for(kind: str, **over: Any) -> Header:
    fields = dict(kind=kind, id=1, reply_to=0, wants_reply=False, sender="a", traceparent=TP, sent_at=0.0)
    fields.update(over)
    return Header(**fields)


TP = "00-" + "a" * 32 + "-" + "b" * 16 + "-01"

GOOD_HEADER = {"k": "demo.Ping", "i": 7, "r": 0, "q": True, "s": "pinger",
               "t": "00-" + "a" * 32 + "-" + "b" * 16 + "-01", "at": 1.5}


def raw_header(**over: Any) -> bytes:
    h = dict(GOOD_HEADER)
    h.update(over)
    return msgpack.packb(h, use_bin_type=True)


def rejected(fn, *args) -> Rejected:
    with pytest.raises(Rejected) as info:
        fn(*args)
    return info.value


# --- Header round-trip ----------------------------------------------------------


@SETTINGS
@given(
    kind=st.text(max_size=200),
    msg_id=MSGPACK_INT,
    reply_to=MSGPACK_INT,
    wants_reply=st.booleans(),
    sender=st.text(max_size=200),
    traceparent=st.from_regex(r"00-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}", fullmatch=True),
    sent_at=st.one_of(FLOAT, MSGPACK_INT),
)
def test_header_round_trips(kind, msg_id, reply_to, wants_reply, sender, traceparent, sent_at):
    frame = pack_header(kind, msg_id, reply_to, wants_reply, sender, traceparent, sent_at)
    h = unpack_header(frame)
    assert h == Header(kind, msg_id, reply_to, wants_reply, sender, traceparent, sent_at)
    assert type(h.id) is int and type(h.wants_reply) is bool


@pytest.mark.parametrize("tp", ["t", "00-" + "A" * 32 + "-" + "b" * 16 + "-01", TP + "\n", "00-" + "a" * 32 + "\nevil"])
def test_a_traceparent_that_is_not_w3c_is_bad_header(tp):
    exc = rejected(unpack_header, raw_header(t=tp))
    assert exc.reason == "bad_header" and "not a W3C traceparent" in exc.detail


def test_header_nan_sent_at_survives():
    h = unpack_header(pack_header("demo.Ping", 1, 0, False, "a", TP, math.nan))
    assert math.isnan(h.sent_at)


def test_header_trace_id_is_the_32_hex_digits_of_the_traceparent():
    tp = "00-" + "0123456789abcdef" * 2 + "-" + "f" * 16 + "-01"
    assert unpack_header(pack_header("k", 1, 0, False, "a", tp, 0.0)).trace_id == "0123456789abcdef" * 2


def test_header_of_exactly_the_limit_is_accepted_and_one_byte_more_is_oversize():
    # Pad the sender until the packed header is exactly MAX_HEADER_BYTES long.
    for n in range(3800, MAX_HEADER_BYTES):
        frame = pack_header("demo.Ping", 1, 0, False, "s" * n, TP, 0.0)
        if len(frame) == MAX_HEADER_BYTES:
            break
    else:  # pragma: no cover - the search range covers it
        pytest.fail("could not build a header of exactly the limit")
    assert unpack_header(frame).sender == "s" * n
    big = pack_header("demo.Ping", 1, 0, False, "s" * (n + 1), TP, 0.0)
    assert len(big) == MAX_HEADER_BYTES + 1
    exc = rejected(unpack_header, big)
    assert exc.reason == "oversize"
    assert str(MAX_HEADER_BYTES + 1) in exc.detail and str(MAX_HEADER_BYTES) in exc.detail


# --- Body round-trip ------------------------------------------------------------


@SETTINGS
@given(seq=MSGPACK_INT, payload=st.binary(max_size=2000))
def test_ping_round_trips(seq, payload):
    msg = Ping(seq, payload)
    out = unpack_body(header_for("demo.Ping"), pack_body(msg), BIG)
    assert out == msg and type(out) is Ping


@SETTINGS
@given(seq=MSGPACK_INT, served_by=st.text(), served=MSGPACK_INT)
def test_pong_round_trips(seq, served_by, served):
    msg = Pong(seq, served_by, served)
    assert unpack_body(header_for("demo.Pong"), pack_body(msg), BIG) == msg


@SETTINGS
@given(peer=st.text(), actors=st.lists(st.text(max_size=40), max_size=20), pid=MSGPACK_INT)
def test_register_round_trips(peer, actors, pid):
    msg = Register(peer, actors, pid)
    assert unpack_body(header_for("bus.Register"), pack_body(msg), BIG) == msg


@SETTINGS
@given(identity=st.text(), interval=st.one_of(FLOAT, MSGPACK_INT))
def test_registered_round_trips(identity, interval):
    msg = Registered(identity, interval, ["a", "b"])
    assert unpack_body(header_for("bus.Registered"), pack_body(msg), BIG) == msg


@SETTINGS
@given(dst=st.text(), reason=st.text())
def test_undeliverable_round_trips(dst, reason):
    msg = Undeliverable(dst, reason)
    assert unpack_body(header_for("bus.Undeliverable"), pack_body(msg), BIG) == msg


@SETTINGS
@given(code=st.text(), text=st.text())
def test_error_round_trips(code, text):
    msg = Error(code, text)
    assert unpack_body(header_for("bus.Error"), pack_body(msg), BIG) == msg


@settings(SETTINGS, max_examples=60)
@given(rules=st.lists(st.dictionaries(SHORT_TEXT, VALUES, max_size=4), max_size=3),
       seed=st.one_of(st.none(), MSGPACK_INT))
def test_set_faults_round_trips(rules, seed):
    msg = SetFaults(rules, seed)
    assert unpack_body(header_for("bus.SetFaults"), pack_body(msg), BIG) == msg


def test_set_faults_seed_defaults_to_none_when_absent():
    out = unpack_body(header_for("bus.SetFaults"), msgpack.packb({"rules": []}), BIG)
    assert out == SetFaults([], None)


@SETTINGS
@given(msg=ANY_MESSAGE)
def test_every_registered_kind_round_trips(msg):
    out = unpack_body(header_for(msg.KIND), pack_body(msg), BIG)
    assert out == msg and type(out) is type(msg)


# --- Header rejections ----------------------------------------------------------


@pytest.mark.parametrize("frame", [b"\xc1", b"\x92\x01", b"\x81\xa1k", b"\x91\x01\x02"])
def test_header_that_is_not_msgpack_is_bad_header(frame):
    exc = rejected(unpack_header, frame)
    assert exc.reason == "bad_header"
    assert "not msgpack" in exc.detail


def test_header_that_is_a_list_is_bad_header():
    exc = rejected(unpack_header, msgpack.packb(list(GOOD_HEADER.values())))
    assert exc.reason == "bad_header"
    assert "list" in exc.detail and "not a map" in exc.detail


@pytest.mark.parametrize("field", list(GOOD_HEADER))
def test_header_missing_a_field_is_bad_header_naming_it(field):
    h = dict(GOOD_HEADER)
    del h[field]
    exc = rejected(unpack_header, msgpack.packb(h))
    assert exc.reason == "bad_header"
    assert f"lacks field {field!r}" in exc.detail


@pytest.mark.parametrize(
    "field, value",
    [
        ("k", 5),
        ("k", b"demo.Ping"),
        ("i", "7"),
        ("i", 7.0),
        ("i", True),
        ("r", None),
        ("r", False),
        ("q", 1),
        ("q", "yes"),
        ("s", b"pinger"),
        ("s", None),
        ("t", 0),
        ("at", "now"),
        ("at", True),
        ("at", None),
    ],
)
def test_header_field_of_the_wrong_type_is_bad_header(field, value):
    exc = rejected(unpack_header, raw_header(**{field: value}))
    assert exc.reason == "bad_header"
    assert "wrong type" in exc.detail
    assert repr(field) in exc.detail and repr(value) in exc.detail


def test_mistyped_header_field_is_named_even_when_the_header_is_long():
    exc = rejected(unpack_header, raw_header(s="x" * 300, at="now"))
    assert exc.reason == "bad_header"
    assert "'at'" in exc.detail


def test_oversize_header_is_rejected_before_it_is_parsed():
    frame = b"\xc1" * (MAX_HEADER_BYTES + 1)  # not msgpack either: size wins
    exc = rejected(unpack_header, frame)
    assert exc.reason == "oversize"
    assert f"{MAX_HEADER_BYTES + 1} bytes" in exc.detail


# --- Body rejections ------------------------------------------------------------


def test_unknown_kind_is_rejected_naming_the_kind():
    exc = rejected(unpack_body, header_for("nope.Nothing"), msgpack.packb({}), BIG)
    assert exc.reason == "unknown_kind"
    assert "'nope.Nothing'" in exc.detail


def test_unknown_kind_wins_over_oversize():
    exc = rejected(unpack_body, header_for("nope.Nothing"), b"x" * 100, 10)
    assert exc.reason == "unknown_kind"


def test_body_that_is_not_msgpack_is_bad_body():
    exc = rejected(unpack_body, header_for("demo.Ping"), b"\xc1", BIG)
    assert exc.reason == "bad_body"
    assert "demo.Ping" in exc.detail and "not msgpack" in exc.detail


@pytest.mark.parametrize("value, type_name", [([1, b""], "list"), (5, "int"), ("seq", "str"), (None, "NoneType")])
def test_body_that_is_not_a_map_is_bad_body(value, type_name):
    exc = rejected(unpack_body, header_for("demo.Ping"), msgpack.packb(value), BIG)
    assert exc.reason == "bad_body"
    assert f"is a {type_name}, not a map" in exc.detail


def test_body_with_an_extra_field_is_bad_body_naming_it():
    exc = rejected(unpack_body, header_for("demo.Ping"), msgpack.packb({"seq": 1, "bogus": 2}), BIG)
    assert exc.reason == "bad_body"
    assert "bogus" in exc.detail


def test_body_missing_a_required_field_is_bad_body_naming_it():
    exc = rejected(unpack_body, header_for("demo.Pong"), msgpack.packb({"seq": 1, "served": 2}), BIG)
    assert exc.reason == "bad_body"
    assert "served_by" in exc.detail


def test_body_with_a_bytes_key_is_bad_body():
    exc = rejected(unpack_body, header_for("demo.Ping"), msgpack.packb({b"seq": 1}, use_bin_type=True), BIG)
    assert exc.reason == "bad_body"


@pytest.mark.parametrize(
    "kind, body, field, got, expected",
    [
        ("demo.Ping", {"seq": "x"}, "seq", "str", "int"),
        ("demo.Ping", {"seq": 1.5}, "seq", "float", "int"),
        ("demo.Ping", {"seq": 1, "payload": "text"}, "payload", "str", "bytes"),
        ("demo.Pong", {"seq": 1, "served_by": 3, "served": 1}, "served_by", "int", "str"),
        ("bus.Register", {"peer": "p", "actors": "a", "pid": 1}, "actors", "str", "list"),
        ("bus.Registered", {"identity": "i", "heartbeat_interval_s": "1"}, "heartbeat_interval_s", "str",
         "float or int"),
        ("bus.SetFaults", {"rules": [], "seed": "7"}, "seed", "str", "int or NoneType"),
    ],
)
def test_body_field_of_the_wrong_type_is_bad_body_naming_it(kind, body, field, got, expected):
    exc = rejected(unpack_body, header_for(kind), msgpack.packb(body, use_bin_type=True), BIG)
    assert exc.reason == "bad_body"
    assert exc.detail == f"{kind}.{field} is a {got}, expected {expected}"


def test_float_field_accepts_an_int():
    out = unpack_body(header_for("bus.Registered"), msgpack.packb({"identity": "i", "heartbeat_interval_s": 2, "refused": []}),
                      BIG)
    assert out == Registered("i", 2, [])


def test_body_int_field_rejects_a_bool_like_the_header_does():
    exc = rejected(unpack_body, header_for("demo.Ping"), msgpack.packb({"seq": True}), BIG)
    assert exc.reason == "bad_body"


def test_oversize_body_is_rejected_and_the_limit_itself_is_accepted():
    body = pack_body(Ping(1, b"x" * 50))
    assert unpack_body(header_for("demo.Ping"), body, len(body)) == Ping(1, b"x" * 50)
    exc = rejected(unpack_body, header_for("demo.Ping"), body, len(body) - 1)
    assert exc.reason == "oversize"
    assert exc.detail == f"demo.Ping body of {len(body)} bytes > limit {len(body) - 1}"


# --- dst names ------------------------------------------------------------------


def test_good_names_decode():
    assert check_name(b"node-1.kubelet") == "node-1.kubelet"
    assert check_name("é".encode()) == "é"
    assert check_name(b"n" * MAX_NAME_BYTES) == "n" * MAX_NAME_BYTES


@pytest.mark.parametrize(
    "frame, words",
    [
        (b"", ["0 bytes", f"1..{MAX_NAME_BYTES}"]),
        (b"n" * (MAX_NAME_BYTES + 1), [f"{MAX_NAME_BYTES + 1} bytes"]),
        ("é".encode() * 127, ["254 bytes"]),  # 127 characters, but 254 bytes
        (b"\xff\xfename", ["not UTF-8", r"\xff\xfe"]),
        (b"abc\xc3", ["not UTF-8"]),  # truncated multi-byte sequence
    ],
)
def test_bad_names_are_bad_dst(frame, words):
    exc = rejected(check_name, frame)
    assert exc.reason == "bad_dst"
    for w in words:
        assert w in exc.detail


# --- Nothing but Rejected -------------------------------------------------------


def _header_or_rejected(frame: bytes) -> Header | None:
    try:
        h = unpack_header(frame)
    except Rejected as exc:
        assert exc.reason in ("bad_header", "oversize")
        return None
    assert isinstance(h, Header)
    return h


def _body_or_rejected(kind: str, frame: bytes, limit: int = BIG) -> None:
    try:
        msg = unpack_body(header_for(kind), frame, limit)
    except Rejected as exc:
        assert exc.reason in ("bad_body", "oversize")
        return
    cls = lookup(kind)
    assert type(msg) is cls
    for name, accepted in zip(cls.FIELDS, cls.TYPES):
        assert accepted is None or isinstance(getattr(msg, name), accepted)


@SETTINGS
@given(frame=st.binary(max_size=300))
def test_random_bytes_as_header_give_a_header_or_rejected(frame):
    _header_or_rejected(frame)


@SETTINGS
@given(value=st.one_of(VALUES, st.dictionaries(st.sampled_from(["k", "i", "r", "q", "s", "t", "at", "x"]), VALUES)))
def test_random_msgpack_as_header_gives_a_header_or_rejected(value):
    _header_or_rejected(msgpack.packb(value, use_bin_type=True))


@SETTINGS
@given(kind=st.sampled_from(kinds()), frame=st.binary(max_size=300))
def test_random_bytes_as_body_give_a_message_or_rejected(kind, frame):
    _body_or_rejected(kind, frame)


@SETTINGS
@given(data=st.data(), kind=st.sampled_from(kinds()))
def test_random_msgpack_maps_as_body_give_a_message_or_rejected(data, kind):
    names = list(lookup(kind).FIELDS) + ["extra", "self"]
    keys = st.one_of(st.sampled_from(names), SHORT_TEXT, st.binary(max_size=5))
    value = data.draw(st.one_of(VALUES, st.dictionaries(keys, VALUES, max_size=4)))
    _body_or_rejected(kind, msgpack.packb(value, use_bin_type=True), limit=data.draw(st.integers(0, 400)))


# --- Declaring kinds ------------------------------------------------------------


def test_declaring_a_kind_twice_is_refused():
    with pytest.raises(ValueError, match="declared twice"):
        @message("demo.Ping")
        class Again:
            seq: int


def test_a_field_type_that_cannot_travel_is_refused_and_not_registered():
    with pytest.raises(TypeError, match="cannot travel"):
        @message("test_codec.Unsendable")
        class Unsendable:
            when: complex

    assert lookup("test_codec.Unsendable") is None


def test_declared_types_map_to_what_msgpack_decodes():
    assert Shapes.KIND == "test_codec.Shapes" and lookup("test_codec.Shapes") is Shapes
    assert Shapes.FIELDS == ("pair", "maybe", "anything", "ratio")
    assert Shapes.TYPES == ((list, tuple), (int, type(None)), None, (float, int))
    out = unpack_body(header_for("test_codec.Shapes"),
                      msgpack.packb({"pair": [1, 2], "maybe": None, "anything": {"x": b"y"}, "ratio": 3}), BIG)
    assert out == Shapes([1, 2], None, {"x": b"y"}, 3)



# --- Envelopes ----------------------------------------------------------------------------


@given(st.lists(st.binary(max_size=300), min_size=1, max_size=5))
def test_an_envelope_round_trips_its_parts(parts):
    frame = seal(*parts)
    assert unseal(frame, len(parts)) == parts
    if len(parts) > 1:
        assert first_part(frame) == parts[0]


def test_the_broker_relays_an_envelope_by_sealing_the_sender_in_front():
    sent = seal(b"ponger", b"header", b"body")
    assert unseal(seal(b"peer-1", sent), 4) == [b"peer-1", b"ponger", b"header", b"body"]


@given(st.lists(st.binary(max_size=40), min_size=2, max_size=4), st.data())
def test_a_cut_envelope_is_bad_envelope_naming_the_part(parts, data):
    frame = seal(*parts)
    body_start = len(frame) - len(parts[-1])
    cut = data.draw(st.integers(0, body_start - 1))
    with pytest.raises(Rejected) as err:
        unseal(frame[:cut], len(parts))
    assert err.value.reason == "bad_envelope" and f"of {len(parts)}" in err.value.detail


def test_a_first_part_longer_than_the_envelope_is_bad_envelope():
    with pytest.raises(Rejected, match="claims 4294967295 bytes"):
        first_part(b"\xff\xff\xff\xffdst")
    with pytest.raises(Rejected, match="no first part"):
        first_part(b"\x01")
