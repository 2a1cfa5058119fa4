"""Field errors and name/label rules (actors.apiserver.fielderrors) in Kubernetes words.

Every expected message below is Kubernetes' text, character for character:
the rule functions of ``k8s.io/apimachinery/pkg/util/validation``, the field
error rendering of its ``field`` package, ``apierrors.NewInvalid``'s message,
and ``ValidateObjectMeta`` over a metadata map.
"""

from __future__ import annotations

import copy
import pickle

import pytest

from actors.apiserver import fielderrors as fe
from actors.apiserver.fielderrors import OMIT, ErrorType, FieldError, Path

SUBDOMAIN_MSG = (
    "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric "
    "characters, '-' or '.', and must start and end with an alphanumeric character "
    "(e.g. 'example.com', regex used for validation is "
    "'[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')"
)
LABEL_MSG = (
    "a lowercase RFC 1123 label must consist of lower case alphanumeric characters "
    "or '-', and must start and end with an alphanumeric character "
    "(e.g. 'my-name',  or '123-abc', regex used for validation is "
    "'[a-z0-9]([-a-z0-9]*[a-z0-9])?')"
)
DNS1035_MSG = (
    "a DNS-1035 label must consist of lower case alphanumeric characters or '-', "
    "start with an alphabetic character, and end with an alphanumeric character "
    "(e.g. 'my-name',  or 'abc-123', regex used for validation is "
    "'[a-z]([-a-z0-9]*[a-z0-9])?')"
)
QNAME_MSG = (
    "must consist of alphanumeric characters, '-', '_' or '.', and must start and "
    "end with an alphanumeric character "
    "(e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is "
    "'([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')"
)
QNAME_SLASHES_MSG = (
    "a qualified name " + QNAME_MSG + " with an optional DNS subdomain prefix "
    "and '/' (e.g. 'example.com/MyName')"
)
LABEL_VALUE_MSG = (
    "a valid label must be an empty string or consist of alphanumeric characters, "
    "'-', '_' or '.', and must start and end with an alphanumeric character "
    "(e.g. 'MyValue',  or 'my_value',  or '12345', regex used for validation is "
    "'(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')"
)


def test_regex_error_lists_examples_as_kubernetes_does():
    # RegexError's odd punctuation (a comma and two spaces before "or") is
    # part of the text users see, so it is kept.
    assert (
        fe.regex_error("m", "f", "a", "b")
        == "m (e.g. 'a',  or 'b', regex used for validation is 'f')"
    )
    assert fe.regex_error("m", "f") == "m (regex used for validation is 'f')"


# ------------------------------------------------------------------ rule functions

SUBDOMAIN_253 = ("a" * 63 + ".") * 3 + "a" * 61

RULE_CASES = [
    # is_dns1123_subdomain
    ("subdomain single char", fe.is_dns1123_subdomain, "a", []),
    ("subdomain dotted", fe.is_dns1123_subdomain, "example.com", []),
    ("subdomain digits and dashes", fe.is_dns1123_subdomain, "0-a.b-1", []),
    ("subdomain 253 chars", fe.is_dns1123_subdomain, SUBDOMAIN_253, []),
    (
        "subdomain uppercase and underscore",
        fe.is_dns1123_subdomain,
        "Foo_Bar",
        [SUBDOMAIN_MSG],
    ),
    ("subdomain empty", fe.is_dns1123_subdomain, "", [SUBDOMAIN_MSG]),
    ("subdomain leading dash", fe.is_dns1123_subdomain, "-a", [SUBDOMAIN_MSG]),
    ("subdomain trailing dot", fe.is_dns1123_subdomain, "a.", [SUBDOMAIN_MSG]),
    ("subdomain empty label", fe.is_dns1123_subdomain, "a..b", [SUBDOMAIN_MSG]),
    ("subdomain trailing newline", fe.is_dns1123_subdomain, "a\n", [SUBDOMAIN_MSG]),
    ("subdomain non-ascii", fe.is_dns1123_subdomain, "caf\u00e9", [SUBDOMAIN_MSG]),
    (
        "subdomain 254 chars",
        fe.is_dns1123_subdomain,
        "a" * 254,
        ["must be no more than 253 characters"],
    ),
    (
        "subdomain too long and bad",
        fe.is_dns1123_subdomain,
        "A" * 254,
        ["must be no more than 253 characters", SUBDOMAIN_MSG],
    ),
    # is_dns1123_label
    ("label plain", fe.is_dns1123_label, "my-name", []),
    ("label digits first", fe.is_dns1123_label, "123-abc", []),
    ("label 63 chars", fe.is_dns1123_label, "a" * 63, []),
    ("label with dots", fe.is_dns1123_label, "a.b", ["must not contain dots"]),
    ("label uppercase", fe.is_dns1123_label, "A", [LABEL_MSG]),
    ("label empty", fe.is_dns1123_label, "", [LABEL_MSG]),
    ("label trailing dash", fe.is_dns1123_label, "a-", [LABEL_MSG]),
    (
        "label 64 chars",
        fe.is_dns1123_label,
        "a" * 64,
        ["must be no more than 63 characters"],
    ),
    # is_dns1035_label
    ("1035 plain", fe.is_dns1035_label, "my-name", []),
    ("1035 digits inside", fe.is_dns1035_label, "abc-123", []),
    ("1035 digit first", fe.is_dns1035_label, "1abc", [DNS1035_MSG]),
    ("1035 dots are just bad", fe.is_dns1035_label, "a.b", [DNS1035_MSG]),
    ("1035 trailing dash", fe.is_dns1035_label, "abc-", [DNS1035_MSG]),
    (
        "1035 64 chars",
        fe.is_dns1035_label,
        "a" * 64,
        ["must be no more than 63 characters"],
    ),
    # is_qualified_name
    ("qname plain", fe.is_qualified_name, "app", []),
    ("qname mixed case and punctuation", fe.is_qualified_name, "My_app.v-1", []),
    ("qname prefixed", fe.is_qualified_name, "example.com/MyName", []),
    ("qname 63 chars", fe.is_qualified_name, "A" * 63, []),
    (
        "qname empty",
        fe.is_qualified_name,
        "",
        ["name part must be non-empty", "name part " + QNAME_MSG],
    ),
    (
        "qname empty prefix",
        fe.is_qualified_name,
        "/a",
        ["prefix part must be non-empty"],
    ),
    (
        "qname bad prefix",
        fe.is_qualified_name,
        "Example.com/a",
        ["prefix part " + SUBDOMAIN_MSG],
    ),
    (
        "qname empty name after prefix",
        fe.is_qualified_name,
        "example.com/",
        ["name part must be non-empty", "name part " + QNAME_MSG],
    ),
    ("qname leading dash", fe.is_qualified_name, "-a", ["name part " + QNAME_MSG]),
    ("qname space", fe.is_qualified_name, "a b", ["name part " + QNAME_MSG]),
    (
        "qname 64 chars",
        fe.is_qualified_name,
        "a" * 64,
        ["name part must be no more than 63 characters"],
    ),
    (
        "qname two slashes",
        fe.is_qualified_name,
        "a/b/c",
        [QNAME_SLASHES_MSG],
    ),
    # is_valid_label_value
    ("label value empty", fe.is_valid_label_value, "", []),
    ("label value mixed", fe.is_valid_label_value, "My_value.1-x", []),
    ("label value digits", fe.is_valid_label_value, "12345", []),
    ("label value 63 chars", fe.is_valid_label_value, "a" * 63, []),
    ("label value leading dash", fe.is_valid_label_value, "-a", [LABEL_VALUE_MSG]),
    ("label value slash", fe.is_valid_label_value, "a/b", [LABEL_VALUE_MSG]),
    (
        "label value 64 chars",
        fe.is_valid_label_value,
        "a" * 64,
        ["must be no more than 63 characters"],
    ),
    (
        "label value 64 bad chars",
        fe.is_valid_label_value,
        "a" * 63 + "-",
        ["must be no more than 63 characters", LABEL_VALUE_MSG],
    ),
    (
        "label value multibyte counts bytes",
        fe.is_valid_label_value,
        "\u00e9" * 32,
        ["must be no more than 63 characters", LABEL_VALUE_MSG],
    ),
    # is_valid_port_num
    ("port 1", fe.is_valid_port_num, 1, []),
    ("port 65535", fe.is_valid_port_num, 65535, []),
    ("port 0", fe.is_valid_port_num, 0, ["must be between 1 and 65535, inclusive"]),
    (
        "port 65536",
        fe.is_valid_port_num,
        65536,
        ["must be between 1 and 65535, inclusive"],
    ),
    (
        "port negative",
        fe.is_valid_port_num,
        -1,
        ["must be between 1 and 65535, inclusive"],
    ),
    # is_valid_ip
    ("ip v4", fe.is_valid_ip, "10.9.8.7", []),
    ("ip v6", fe.is_valid_ip, "2001:db8::ffff", []),
    ("ip v6 loopback", fe.is_valid_ip, "::1", []),
    (
        "ip garbage",
        fe.is_valid_ip,
        "not-an-ip",
        ["must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)"],
    ),
    (
        "ip empty",
        fe.is_valid_ip,
        "",
        ["must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)"],
    ),
    (
        "ip three octets",
        fe.is_valid_ip,
        "1.2.3",
        ["must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)"],
    ),
    (
        "ip octet over 255",
        fe.is_valid_ip,
        "256.1.1.1",
        ["must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)"],
    ),
    (
        "ip with zone",
        fe.is_valid_ip,
        "fe80::1%eth0",
        ["must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)"],
    ),
    ("ip leading zeros", fe.is_valid_ip, "010.9.8.7", ["must not have leading 0s"]),
    (
        "ip v4-mapped v6",
        fe.is_valid_ip,
        "::ffff:1.2.3.4",
        ["must not be an IPv4-mapped IPv6 address"],
    ),
    (
        "ip v6 not canonical",
        fe.is_valid_ip,
        "2001:DB8:0:0::1",
        ['must be in canonical form ("2001:db8::1")'],
    ),
    # is_cidr
    ("cidr v4", fe.is_cidr, "10.9.8.0/24", []),
    ("cidr v6", fe.is_cidr, "2001:db8::/64", []),
    ("cidr everything", fe.is_cidr, "0.0.0.0/0", []),
    ("cidr host", fe.is_cidr, "10.9.8.7/32", []),
    (
        "cidr no prefix",
        fe.is_cidr,
        "10.9.8.0",
        ["must be a valid CIDR value, (e.g. 10.9.8.0/24 or 2001:db8::/64)"],
    ),
    (
        "cidr prefix too long",
        fe.is_cidr,
        "10.9.8.0/33",
        ["must be a valid CIDR value, (e.g. 10.9.8.0/24 or 2001:db8::/64)"],
    ),
    (
        "cidr netmask form",
        fe.is_cidr,
        "10.0.0.0/255.0.0.0",
        ["must be a valid CIDR value, (e.g. 10.9.8.0/24 or 2001:db8::/64)"],
    ),
    (
        "cidr garbage",
        fe.is_cidr,
        "x/8",
        ["must be a valid CIDR value, (e.g. 10.9.8.0/24 or 2001:db8::/64)"],
    ),
    (
        "cidr host bits",
        fe.is_cidr,
        "10.9.8.7/24",
        ["must not have bits set beyond the prefix length"],
    ),
    (
        "cidr leading zero ip",
        fe.is_cidr,
        "010.9.8.0/24",
        ["must not have leading 0s in IP or prefix length"],
    ),
    (
        "cidr leading zero prefix",
        fe.is_cidr,
        "10.9.8.0/024",
        ["must not have leading 0s in IP or prefix length"],
    ),
    (
        "cidr v4-mapped",
        fe.is_cidr,
        "::ffff:10.0.0.0/120",
        ["must not have an IPv4-mapped IPv6 address"],
    ),
    (
        "cidr v6 not canonical",
        fe.is_cidr,
        "2001:DB8::/64",
        ['must be in canonical form ("2001:db8::/64")'],
    ),
]


@pytest.mark.parametrize(
    ("rule", "value", "expected"),
    [c[1:] for c in RULE_CASES],
    ids=[c[0] for c in RULE_CASES],
)
def test_rule(rule, value, expected):
    assert rule(value) == expected


NAME_FN_CASES = [
    ("subdomain name", fe.name_is_dns_subdomain, "web.v1", False, []),
    (
        "subdomain generateName trailing dash",
        fe.name_is_dns_subdomain,
        "web-",
        True,
        [],
    ),
    (
        "subdomain name trailing dash",
        fe.name_is_dns_subdomain,
        "web-",
        False,
        [SUBDOMAIN_MSG],
    ),
    (
        "subdomain generateName single dash",
        fe.name_is_dns_subdomain,
        "-",
        True,
        [SUBDOMAIN_MSG],
    ),
    ("label generateName", fe.name_is_dns_label, "ns-", True, []),
    (
        "label generateName with dot",
        fe.name_is_dns_label,
        "a.b-",
        True,
        ["must not contain dots"],
    ),
    ("1035 generateName", fe.name_is_dns1035_label, "svc-", True, []),
    ("1035 name digit first", fe.name_is_dns1035_label, "1svc", False, [DNS1035_MSG]),
]


@pytest.mark.parametrize(
    ("fn", "name", "prefix", "expected"),
    [c[1:] for c in NAME_FN_CASES],
    ids=[c[0] for c in NAME_FN_CASES],
)
def test_name_fn(fn, name, prefix, expected):
    assert fn(name, prefix) == expected


# ---------------------------------------------------------------- paths and errors

PATH_CASES = [
    ("single", Path("metadata"), "metadata"),
    ("names given at once", Path("metadata", "name"), "metadata.name"),
    (
        "child chain with index",
        Path("spec").child("containers").index(0).child("image"),
        "spec.containers[0].image",
    ),
    ("map key", Path("metadata").child("labels").key("app"), "metadata.labels[app]"),
    (
        "key with dots and slash unquoted",
        Path("metadata", "annotations").key("example.com/x"),
        "metadata.annotations[example.com/x]",
    ),
    ("index then index", Path("spec", "matrix").index(1).index(2), "spec.matrix[1][2]"),
    (
        "child takes several names",
        Path("spec").child("template", "spec"),
        "spec.template.spec",
    ),
    ("empty root", Path().child("spec"), "spec"),
]


@pytest.mark.parametrize(
    ("path", "expected"), [c[1:] for c in PATH_CASES], ids=[c[0] for c in PATH_CASES]
)
def test_path_renders(path, expected):
    assert str(path) == expected


def test_paths_are_values():
    parent = Path("spec")
    assert parent.child("a") == Path("spec", "a")
    assert str(parent) == "spec"  # children do not change their parent
    assert len({Path("spec").index(0), Path("spec").index(0)}) == 1
    assert repr(Path("spec").index(0)) == "Path('spec[0]')"


SPEC = Path("spec")
ERROR_CASES = [
    (
        "required",
        fe.required(SPEC.child("containers").index(0).child("image")),
        "spec.containers[0].image: Required value",
    ),
    (
        "required with detail",
        fe.required(Path("metadata", "name"), "name or generateName is required"),
        "metadata.name: Required value: name or generateName is required",
    ),
    (
        "invalid int",
        fe.invalid(SPEC.child("replicas"), -1, "must be greater than or equal to 0"),
        "spec.replicas: Invalid value: -1: must be greater than or equal to 0",
    ),
    (
        "invalid string quoted",
        fe.invalid(Path("metadata", "name"), "Foo_Bar", SUBDOMAIN_MSG),
        'metadata.name: Invalid value: "Foo_Bar": ' + SUBDOMAIN_MSG,
    ),
    (
        "invalid string escapes",
        fe.invalid(SPEC.child("x"), 'a"b\\c\n\t\x01\u00e9', "bad"),
        'spec.x: Invalid value: "a\\"b\\\\c\\n\\t\\x01\u00e9": bad',
    ),
    (
        "invalid bool",
        fe.invalid(SPEC.child("hostNetwork"), True, "nope"),
        "spec.hostNetwork: Invalid value: true: nope",
    ),
    (
        "invalid float",
        fe.invalid(SPEC.child("f"), 0.5, "x"),
        "spec.f: Invalid value: 0.5: x",
    ),
    (
        "invalid big float as go",
        fe.invalid(SPEC.child("f"), 1e6, "x"),
        "spec.f: Invalid value: 1e+06: x",
    ),
    (
        "invalid None",
        fe.invalid(SPEC.child("f"), None, "x"),
        "spec.f: Invalid value: null: x",
    ),
    (
        "invalid list as json",
        fe.invalid(SPEC.child("f"), ["a", 1], "x"),
        'spec.f: Invalid value: ["a",1]: x',
    ),
    (
        "invalid map as sorted json",
        fe.invalid(SPEC.child("f"), {"b": 1, "a": "<"}, "x"),
        'spec.f: Invalid value: {"a":"\\u003c","b":1}: x',
    ),
    (
        "invalid without detail",
        FieldError(SPEC.child("f"), ErrorType.INVALID, "v"),
        'spec.f: Invalid value: "v"',
    ),
    (
        "not supported",
        fe.not_supported(
            SPEC.child("restartPolicy"), "Sometimes", ["Always", "Never", "OnFailure"]
        ),
        'spec.restartPolicy: Unsupported value: "Sometimes": '
        'supported values: "Always", "Never", "OnFailure"',
    ),
    (
        "not supported no list",
        fe.not_supported(SPEC.child("p"), "x", []),
        'spec.p: Unsupported value: "x"',
    ),
    (
        "duplicate",
        fe.duplicate(SPEC.child("ports").index(1).child("name"), "http"),
        'spec.ports[1].name: Duplicate value: "http"',
    ),
    (
        "not found",
        fe.not_found(SPEC.child("volumes").index(0), "data"),
        'spec.volumes[0]: Not found: "data"',
    ),
    (
        "forbidden",
        fe.forbidden(Path("metadata", "namespace"), "not allowed on this type"),
        "metadata.namespace: Forbidden: not allowed on this type",
    ),
    (
        "too long",
        fe.too_long(Path("metadata", "annotations"), 262144),
        "metadata.annotations: Too long: may not be more than 262144 bytes",
    ),
    (
        "too long one byte",
        fe.too_long(SPEC.child("x"), 1),
        "spec.x: Too long: may not be more than 1 byte",
    ),
    (
        "too long no limit",
        fe.too_long(SPEC.child("x"), -1),
        "spec.x: Too long: value is too long",
    ),
    (
        "too many",
        fe.too_many(SPEC.child("containers"), 12, 10),
        "spec.containers: Too many: 12: must have at most 10 items",
    ),
    (
        "too many one",
        fe.too_many(SPEC.child("c"), 2, 1),
        "spec.c: Too many: 2: must have at most 1 item",
    ),
    (
        "too many count omitted",
        fe.too_many(SPEC.child("c"), -1, 3),
        "spec.c: Too many: must have at most 3 items",
    ),
    (
        "internal",
        fe.internal_error(SPEC, RuntimeError("boom")),
        "spec: Internal error: boom",
    ),
    (
        "required ignores a value",
        FieldError(SPEC.child("x"), ErrorType.REQUIRED, "ignored"),
        "spec.x: Required value",
    ),
    (
        "omitted value",
        FieldError(SPEC.child("x"), ErrorType.INVALID, OMIT, "d"),
        "spec.x: Invalid value: d",
    ),
    (
        "string path",
        FieldError("spec.x", ErrorType.INVALID, 3, "d"),
        "spec.x: Invalid value: 3: d",
    ),
]


@pytest.mark.parametrize(
    ("error", "expected"), [c[1:] for c in ERROR_CASES], ids=[c[0] for c in ERROR_CASES]
)
def test_field_error_string(error, expected):
    assert str(error) == expected
    assert error.field + ": " + error.body() == expected


def test_omitted_value_survives_copy():
    error = fe.too_many(SPEC.child("c"), -1, 3)
    assert str(copy.deepcopy(error)) == "spec.c: Too many: must have at most 3 items"
    assert pickle.loads(pickle.dumps(error)) == error


def test_error_type_names():
    assert [str(t) for t in ErrorType] == [
        "Not found",
        "Required value",
        "Duplicate value",
        "Invalid value",
        "Unsupported value",
        "Forbidden",
        "Too long",
        "Too many",
        "Internal error",
    ]
    assert ErrorType.INVALID.value == "FieldValueInvalid"


IMAGE = fe.required(SPEC.child("containers").index(0).child("image"))
REPLICAS = fe.invalid(SPEC.child("replicas"), -1, "must be greater than or equal to 0")
AGGREGATE_CASES = [
    (
        "single without brackets",
        "Pod",
        "x",
        [IMAGE],
        "",
        'Pod "x" is invalid: spec.containers[0].image: Required value',
    ),
    (
        "several in brackets",
        "Pod",
        "x",
        [IMAGE, REPLICAS],
        "",
        'Pod "x" is invalid: [spec.containers[0].image: Required value, '
        "spec.replicas: Invalid value: -1: must be greater than or equal to 0]",
    ),
    (
        "duplicates count once",
        "Pod",
        "x",
        [IMAGE, IMAGE],
        "",
        'Pod "x" is invalid: spec.containers[0].image: Required value',
    ),
    (
        "duplicates dropped in place",
        "Pod",
        "x",
        [IMAGE, REPLICAS, IMAGE],
        "",
        'Pod "x" is invalid: [spec.containers[0].image: Required value, '
        "spec.replicas: Invalid value: -1: must be greater than or equal to 0]",
    ),
    (
        "group qualifies kind",
        "Deployment",
        "web",
        [REPLICAS],
        "apps",
        'Deployment.apps "web" is invalid: '
        "spec.replicas: Invalid value: -1: must be greater than or equal to 0",
    ),
    (
        "name quoted as go",
        "ConfigMap",
        'we"ird',
        [IMAGE],
        "",
        'ConfigMap "we\\"ird" is invalid: spec.containers[0].image: Required value',
    ),
]


@pytest.mark.parametrize(
    ("kind", "name", "errors", "group", "expected"),
    [c[1:] for c in AGGREGATE_CASES],
    ids=[c[0] for c in AGGREGATE_CASES],
)
def test_aggregate_message(kind, name, errors, group, expected):
    assert fe.aggregate_message(kind, name, errors, group=group) == expected


def test_error_list_helpers():
    errors = [IMAGE, REPLICAS, IMAGE]
    assert fe.dedupe(errors) == [IMAGE, REPLICAS]
    assert fe.filter_out(errors, ErrorType.REQUIRED) == [REPLICAS]
    assert fe.aggregate([]) == ""
    assert fe.status_causes([REPLICAS]) == [
        {
            "reason": "FieldValueInvalid",
            "message": "Invalid value: -1: must be greater than or equal to 0",
            "field": "spec.replicas",
        }
    ]
    with pytest.raises(AssertionError):
        fe.aggregate_message("Pod", "x", [])


# --------------------------------------------------------------------- object meta

LIMIT = fe.TOTAL_ANNOTATION_SIZE_LIMIT_B
META_CASES = [
    (
        "valid namespaced",
        {
            "name": "web-1",
            "namespace": "default",
            "labels": {"app": "web", "tier": ""},
            "annotations": {"Example.com/Note": "anything at all"},
        },
        True,
        fe.name_is_dns_subdomain,
        [],
    ),
    ("valid cluster-scoped", {"name": "node-1"}, False, fe.name_is_dns_subdomain, []),
    (
        "generateName alone",
        {"generateName": "web-", "namespace": "default"},
        True,
        fe.name_is_dns_subdomain,
        [],
    ),
    (
        "no name nor generateName",
        {"namespace": "default"},
        True,
        fe.name_is_dns_subdomain,
        ["metadata.name: Required value: name or generateName is required"],
    ),
    (
        "empty name counts as missing",
        {"name": "", "namespace": "default"},
        True,
        fe.name_is_dns_subdomain,
        ["metadata.name: Required value: name or generateName is required"],
    ),
    (
        "bad name",
        {"name": "Foo_Bar", "namespace": "default"},
        True,
        fe.name_is_dns_subdomain,
        ['metadata.name: Invalid value: "Foo_Bar": ' + SUBDOMAIN_MSG],
    ),
    (
        "bad generateName",
        {"generateName": "Web-", "namespace": "default"},
        True,
        fe.name_is_dns_subdomain,
        ['metadata.generateName: Invalid value: "Web-": ' + SUBDOMAIN_MSG],
    ),
    (
        "service name rule",
        {"name": "1svc", "namespace": "default"},
        True,
        fe.name_is_dns1035_label,
        ['metadata.name: Invalid value: "1svc": ' + DNS1035_MSG],
    ),
    (
        "namespace required",
        {"name": "web"},
        True,
        fe.name_is_dns_subdomain,
        ["metadata.namespace: Required value"],
    ),
    (
        "namespace invalid",
        {"name": "web", "namespace": "kube.system"},
        True,
        fe.name_is_dns_subdomain,
        ['metadata.namespace: Invalid value: "kube.system": must not contain dots'],
    ),
    (
        "namespace forbidden",
        {"name": "n1", "namespace": "default"},
        False,
        fe.name_is_dns_subdomain,
        ["metadata.namespace: Forbidden: not allowed on this type"],
    ),
    (
        "bad label key and value",
        {"name": "web", "namespace": "d", "labels": {"bad key": "-v"}},
        True,
        fe.name_is_dns_subdomain,
        [
            'metadata.labels: Invalid value: "bad key": name part ' + QNAME_MSG,
            'metadata.labels: Invalid value: "-v": ' + LABEL_VALUE_MSG,
        ],
    ),
    (
        "bad annotation key",
        {"name": "web", "namespace": "d", "annotations": {"a/b/c": "x"}},
        True,
        fe.name_is_dns_subdomain,
        ['metadata.annotations: Invalid value: "a/b/c": ' + QNAME_SLASHES_MSG],
    ),
    (
        "annotations at the limit",
        {"name": "web", "namespace": "d", "annotations": {"k": "x" * (LIMIT - 1)}},
        True,
        fe.name_is_dns_subdomain,
        [],
    ),
    (
        "annotations over the limit",
        {"name": "web", "namespace": "d", "annotations": {"k": "x" * LIMIT}},
        True,
        fe.name_is_dns_subdomain,
        ["metadata.annotations: Too long: may not be more than 262144 bytes"],
    ),
    (
        "annotation size counts bytes",
        {
            "name": "web",
            "namespace": "d",
            "annotations": {"k": "\u00e9" * (LIMIT // 2)},
        },
        True,
        fe.name_is_dns_subdomain,
        ["metadata.annotations: Too long: may not be more than 262144 bytes"],
    ),
    (
        "several errors in order",
        {"name": "Bad", "namespace": "default", "labels": {"ok": "a b"}},
        False,
        fe.name_is_dns_subdomain,
        [
            'metadata.name: Invalid value: "Bad": ' + SUBDOMAIN_MSG,
            "metadata.namespace: Forbidden: not allowed on this type",
            'metadata.labels: Invalid value: "a b": ' + LABEL_VALUE_MSG,
        ],
    ),
]


@pytest.mark.parametrize(
    ("meta", "namespaced", "name_fn", "expected"),
    [c[1:] for c in META_CASES],
    ids=[c[0] for c in META_CASES],
)
def test_validate_object_meta(meta, namespaced, name_fn, expected):
    assert [
        str(e) for e in fe.validate_object_meta(meta, namespaced, name_fn)
    ] == expected


def test_validate_object_meta_under_another_path():
    path = Path("spec", "template", "metadata")
    errors = fe.validate_object_meta(
        {"labels": {"app": "-"}}, False, fe.name_is_dns_subdomain, path
    )
    assert [str(e) for e in errors] == [
        "spec.template.metadata.name: Required value: name or generateName is required",
        'spec.template.metadata.labels: Invalid value: "-": ' + LABEL_VALUE_MSG,
    ]
