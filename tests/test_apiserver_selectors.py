"""Label and field selectors (actors.apiserver.selectors) behave as Kubernetes'.

Tables of named cases: the string grammar (what parses, its canonical form,
and the exact error for what does not), matching, the object forms with
their validation errors, and field selectors with the fields each kind
supports. Expected strings come from apimachinery's behaviour.
"""

from __future__ import annotations

import pytest

from actors.apiserver.selectors import (
    EVERYTHING,
    NOTHING,
    FieldSelector,
    FieldTerm,
    Operator,
    Requirement,
    SelectorError,
    check_field_selector,
    object_fields,
    parse_field_selector,
    parse_label_selector,
    selector_from_dict,
    selector_from_labels,
)

# The tails of Kubernetes' validation messages, spelled once.
NAME_RULE = ("must consist of alphanumeric characters, '-', '_' or '.', and must start "
             "and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  "
             "or '123-abc', regex used for validation is "
             "'([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')")
VALUE_RULE = ("a valid label must be an empty string or consist of alphanumeric "
              "characters, '-', '_' or '.', and must start and end with an "
              "alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', "
              "regex used for validation is "
              "'(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')")
PREFIX_RULE = ("prefix part a lowercase RFC 1123 subdomain must consist of lower case "
               "alphanumeric characters, '-' or '.', and must start and end with an "
               "alphanumeric character (e.g. 'example.com', regex used for validation "
               r"is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')")
BINARY = "in, notin, =, ==, !=, gt, lt"
REQ = "unable to parse requirement: "


def table(*cases):
    """``pytest.mark.parametrize`` arguments from (id, *values) rows."""
    return dict(argvalues=[c[1:] for c in cases], ids=[c[0] for c in cases])


# --- The string form: what parses, and how it prints --------------------------------

VALID = table(
    ("empty", "", ""),
    ("blank", "  \t ", ""),
    ("equals", "app=web", "app=web"),
    ("double-equals kept", "app==web", "app==web"),
    ("not-equals", "tier!=db", "tier!=db"),
    ("in, values sorted", "env in (prod,dev)", "env in (dev,prod)"),
    ("in, duplicates dropped", "env in (b,a,b)", "env in (a,b)"),
    ("notin", "env notin (qa)", "env notin (qa)"),
    ("exists", "app", "app"),
    ("does not exist", "!canary", "!canary"),
    ("does not exist, spaced", "! canary", "!canary"),
    ("and, sorted by key", "z=1,a=2,m", "a=2,m,z=1"),
    ("same key keeps order", "a!=x,a", "a!=x,a"),
    ("whitespace everywhere", " a = b ,\tc in ( x , y ) ,\n!d ", "a=b,c in (x,y),!d"),
    ("no space before paren", "a in(x)", "a in (x)"),
    ("empty exact value", "a=", "a="),
    ("empty exact value before comma", "a=,b", "a=,b"),
    ("empty value set", "a in ()", "a in ()"),
    ("empty slots in a set", "x in (foo,,baz),y,z notin ()",
     "x in (,baz,foo),y,z notin ()"),
    ("leading comma in a set", "a in (,x)", "a in (,x)"),
    ("trailing comma in a set", "a in (x,)", "a in (,x)"),
    ("keywords as key and value", "in in (in,notin)", "in in (in,notin)"),
    ("keyword as exact value", "a=in", "a=in"),
    ("prefixed key", "app.kubernetes.io/name=web", "app.kubernetes.io/name=web"),
    ("greater than", "replicas>3", "replicas>3"),
    ("less than", "t<2", "t<2"),
    ("value charset", "a=A-b_c.9", "a=A-b_c.9"),
)


@pytest.mark.parametrize(("text", "canonical"), **VALID)
def test_parse_prints_canonical_form(text, canonical):
    selector = parse_label_selector(text)
    assert str(selector) == canonical
    # The canonical form parses back to the same selector.
    assert parse_label_selector(canonical) == selector


def test_parse_builds_requirements():
    selector = parse_label_selector("b in (y,x),!a")
    assert selector.requirements == (
        Requirement("a", Operator.DOES_NOT_EXIST),
        Requirement("b", Operator.IN, ("x", "y")),
    )


INVALID = table(
    ("lone comma", ",", "found ',', expected: !, identifier, or 'end of string'"),
    ("leading comma", ",a", "found ',', expected: !, identifier, or 'end of string'"),
    ("trailing comma", "a=b,", "found '', expected: identifier after ','"),
    ("double comma", "a,,b", "found ',', expected: identifier after ','"),
    ("two words", "a b", f"{REQ}found 'b', expected: {BINARY}"),
    ("junk after value", "a=b c", "found 'c', expected: ',' or 'end of string'"),
    ("chained equals", "a=b=c", "found '=', expected: ',' or 'end of string'"),
    ("negated with value", "!a=b", "found '=', expected: ',' or 'end of string'"),
    ("bang alone", "!", f"{REQ}found '', expected: identifier"),
    ("operator alone", "=b", "found '=', expected: !, identifier, or 'end of string'"),
    ("operator as value", "a=!b", f"{REQ}found '!', expected: identifier"),
    ("set without parens", "a in b", f"{REQ}found 'b' expected: '('"),
    ("unclosed set", "a in (b,c", f"{REQ}found '', expected: ',' or ')'"),
    ("space in a set", "a in (b c)", f"{REQ}found 'c', expected: ',' or ')'"),
    ("operator in a set", "a in (=)",
     f"{REQ}found '=', expected: ',', ')' or identifier"),
    ("operator later in a set", "a in (x,=)",
     f"{REQ}found '=', expected: ',', or identifier"),
    ("bad key", "-a=b", f'{REQ}key: Invalid value: "-a": name part {NAME_RULE}'),
    ("uppercase prefix", "Foo/bar",
     f'{REQ}key: Invalid value: "Foo/bar": {PREFIX_RULE}'),
    ("empty name", "foo/=x", f'{REQ}key: Invalid value: "foo/": name part must be '
     f"non-empty; name part {NAME_RULE}"),
    ("two slashes", "a/b/c", f'{REQ}key: Invalid value: "a/b/c": a qualified name '
     f"{NAME_RULE} with an optional DNS subdomain prefix and '/' "
     "(e.g. 'example.com/MyName')"),
    ("name too long", "k" * 64, f'{REQ}key: Invalid value: "{"k" * 64}": name part '
     "must be no more than 63 characters"),
    ("bad value", "a=b@", f'{REQ}values[0][a]: Invalid value: "b@": {VALUE_RULE}'),
    ("value too long", "a=" + "v" * 64, f'{REQ}values[0][a]: Invalid value: '
     f'"{"v" * 64}": must be no more than 63 characters'),
    ("bad value in a set", "a in (ok,-x)", f'{REQ}values[0][a]: Invalid value: "-x": '
     f"{VALUE_RULE}"),
    ("gt not an integer", "a>x", f'{REQ}values[0]: Invalid value: "x": '
     "for 'Gt', 'Lt' operators, the value must be an integer"),
    ("negative bound is no label value", "a<-2", f'{REQ}values[0][a]: Invalid value: '
     f'"-2": {VALUE_RULE}'),
    ("gt beyond int64", f"a>{2**63}", f'{REQ}values[0]: Invalid value: "{2**63}": '
     "for 'Gt', 'Lt' operators, the value must be an integer"),
)


@pytest.mark.parametrize(("text", "message"), **INVALID)
def test_parse_refuses_with_kubernetes_message(text, message):
    with pytest.raises(SelectorError) as caught:
        parse_label_selector(text)
    assert str(caught.value) == message


def test_prefix_may_be_253_bytes_but_not_254():
    prefix = ".".join(["a" * 63] * 4)[:253]
    assert str(parse_label_selector(f"{prefix}/n")) == f"{prefix}/n"
    with pytest.raises(SelectorError, match="prefix part must be no more than 253"):
        parse_label_selector(f"{prefix}a/n")


# --- Matching ----------------------------------------------------------------------

WEB = {"app": "web", "tier": "frontend", "replicas": "5"}

MATCHES = table(
    ("empty selects all", "", WEB, True),
    ("empty selects unlabelled", "", {}, True),
    ("equals hit", "app=web", WEB, True),
    ("equals miss", "app=db", WEB, False),
    ("equals needs the label", "app=", {}, False),
    ("empty value matches empty label", "app=", {"app": ""}, True),
    ("double equals", "app==web", WEB, True),
    ("not-equals hit", "tier!=db", WEB, True),
    ("not-equals miss", "tier!=frontend", WEB, False),
    ("not-equals selects unlabelled", "tier!=db", {}, True),
    ("in hit", "tier in (backend,frontend)", WEB, True),
    ("in miss", "tier in (backend)", WEB, False),
    ("in needs the label", "tier in (backend)", {}, False),
    ("notin hit", "tier notin (backend)", WEB, True),
    ("notin miss", "tier notin (frontend)", WEB, False),
    ("notin selects unlabelled", "tier notin (frontend)", {}, True),
    ("exists hit", "app", WEB, True),
    ("exists miss", "canary", WEB, False),
    ("does not exist hit", "!canary", WEB, True),
    ("does not exist miss", "!app", WEB, False),
    ("and: all hold", "app=web,tier,!canary", WEB, True),
    ("and: one fails", "app=web,canary", WEB, False),
    ("gt hit", "replicas>4", WEB, True),
    ("gt miss on equal", "replicas>5", WEB, False),
    ("lt hit", "replicas<6", WEB, True),
    ("gt on a non-integer label", "app>1", WEB, False),
    ("gt needs the label", "missing>1", WEB, False),
)


@pytest.mark.parametrize(("text", "labels", "expected"), **MATCHES)
def test_label_selector_matches(text, labels, expected):
    assert parse_label_selector(text).matches(labels) is expected


def test_everything_and_nothing():
    assert EVERYTHING.empty and EVERYTHING.matches({}) and EVERYTHING.matches(None)
    assert not NOTHING.empty and not NOTHING.matches({}) and not NOTHING.matches(WEB)
    assert not parse_label_selector("a").empty


# --- The object forms --------------------------------------------------------------

FROM_DICT = table(
    ("empty selects all", {}, ""),
    ("empty parts select all", {"matchLabels": {}, "matchExpressions": []}, ""),
    ("null parts select all", {"matchLabels": None, "matchExpressions": None}, ""),
    ("match labels", {"matchLabels": {"tier": "fe", "app": "web"}}, "app=web,tier=fe"),
    ("in", {"matchExpressions": [{"key": "env", "operator": "In",
                                  "values": ["prod", "dev"]}]}, "env in (dev,prod)"),
    ("notin", {"matchExpressions": [{"key": "env", "operator": "NotIn",
                                     "values": ["qa"]}]}, "env notin (qa)"),
    ("exists", {"matchExpressions": [{"key": "gpu", "operator": "Exists"}]}, "gpu"),
    ("does not exist, empty values", {"matchExpressions": [
        {"key": "gpu", "operator": "DoesNotExist", "values": []}]}, "!gpu"),
    ("both, sorted by key", {"matchLabels": {"m": "1"}, "matchExpressions": [
        {"key": "z", "operator": "Exists"}, {"key": "a", "operator": "Exists"}]},
     "a,m=1,z"),
)


@pytest.mark.parametrize(("form", "canonical"), **FROM_DICT)
def test_selector_from_dict(form, canonical):
    selector = selector_from_dict(form)
    assert str(selector) == canonical
    assert selector.empty is (canonical == "")


def test_absent_object_selector_selects_nothing():
    assert selector_from_dict(None) is NOTHING


def test_dict_selector_matches_like_the_string_form():
    form = {"matchLabels": {"app": "web"},
            "matchExpressions": [{"key": "tier", "operator": "NotIn",
                                  "values": ["db"]}]}
    selector = selector_from_dict(form)
    assert selector == parse_label_selector("app=web,tier notin (db)")
    assert selector.matches(WEB) and not selector.matches({"app": "web", "tier": "db"})


EXPR = "spec.selector.matchExpressions[0]"

FROM_DICT_INVALID = table(
    ("in without values", {"matchExpressions": [{"key": "a", "operator": "In"}]},
     f"{EXPR}.values: Required value: must be specified when `operator` is "
     "'In' or 'NotIn'"),
    ("notin with empty values", {"matchExpressions": [
        {"key": "a", "operator": "NotIn", "values": []}]},
     f"{EXPR}.values: Required value: must be specified when `operator` is "
     "'In' or 'NotIn'"),
    ("exists with values", {"matchExpressions": [
        {"key": "a", "operator": "Exists", "values": ["x"]}]},
     f"{EXPR}.values: Forbidden: may not be specified when `operator` is "
     "'Exists' or 'DoesNotExist'"),
    ("unknown operator", {"matchExpressions": [{"key": "a", "operator": "Gt",
                                                "values": ["1"]}]},
     f'{EXPR}.operator: Invalid value: "Gt": not a valid selector operator'),
    ("lowercase operator", {"matchExpressions": [{"key": "a", "operator": "in",
                                                  "values": ["1"]}]},
     f'{EXPR}.operator: Invalid value: "in": not a valid selector operator'),
    ("bad expression key", {"matchExpressions": [{"key": "-a", "operator": "Exists"}]},
     f'{EXPR}.key: Invalid value: "-a": name part {NAME_RULE}'),
    ("bad expression value", {"matchExpressions": [
        {"key": "a", "operator": "In", "values": ["ok", "b@"]}]},
     f'{EXPR}.values[1]: Invalid value: "b@": {VALUE_RULE}'),
    ("bad match label value", {"matchLabels": {"app": "b@"}},
     f'spec.selector.matchLabels: Invalid value: "b@": {VALUE_RULE}'),
    ("bad match label key", {"matchLabels": {"Foo/x": "a"}},
     f'spec.selector.matchLabels: Invalid value: "Foo/x": {PREFIX_RULE}'),
    ("every error at once", {"matchLabels": {"app": "b@"}, "matchExpressions": [
        {"key": "a", "operator": "Exists", "values": ["x"]}]},
     f'[spec.selector.matchLabels: Invalid value: "b@": {VALUE_RULE}, '
     f"{EXPR}.values: Forbidden: may not be specified when `operator` is "
     "'Exists' or 'DoesNotExist']"),
    ("typo in a field", {"matchLabel": {"app": "web"}},
     'unknown field "spec.selector.matchLabel"'),
    ("typo in an expression", {"matchExpressions": [
        {"key": "a", "operator": "Exists", "value": []}]},
     f'unknown field "{EXPR}.value"'),
    ("labels not a map", {"matchLabels": ["app"]},
     "spec.selector.matchLabels: Invalid value: ['app']: must be a map of label "
     "keys to values"),
    ("values not strings", {"matchExpressions": [
        {"key": "a", "operator": "In", "values": [1]}]},
     f"{EXPR}.values: Invalid value: [1]: must be a list of strings"),
)


@pytest.mark.parametrize(("form", "message"), **FROM_DICT_INVALID)
def test_selector_from_dict_validation(form, message):
    with pytest.raises(SelectorError) as caught:
        selector_from_dict(form, path="spec.selector")
    assert str(caught.value) == message


FROM_LABELS = table(
    ("none selects all", None, ""),
    ("empty selects all", {}, ""),
    ("equality only, sorted", {"tier": "fe", "app": "web"}, "app=web,tier=fe"),
    ("empty value", {"app": ""}, "app="),
)


@pytest.mark.parametrize(("labels", "canonical"), **FROM_LABELS)
def test_selector_from_labels(labels, canonical):
    assert str(selector_from_labels(labels)) == canonical


def test_selector_from_labels_validation():
    with pytest.raises(SelectorError) as caught:
        selector_from_labels({"app": "web", "bad key": "x"}, path="spec.selector")
    assert str(caught.value) == (
        f'spec.selector: Invalid value: "bad key": name part {NAME_RULE}')


# --- Field selectors ---------------------------------------------------------------

FIELD_VALID = table(
    ("empty", "", ""),
    ("equals", "metadata.name=web", "metadata.name=web"),
    ("double equals read as equals", "status.phase==Running", "status.phase=Running"),
    ("not equals", "spec.nodeName!=node-1", "spec.nodeName!=node-1"),
    ("empty value", "spec.nodeName=", "spec.nodeName="),
    ("sorted as written", "b=1,a!=2", "a!=2,b=1"),
    ("empty terms skipped", "a=1,,b=2,", "a=1,b=2"),
    ("escaped comma and equals", r"a=x\,y\=z", r"a=x\,y\=z"),
    ("escaped backslash", r"a=x\\y", r"a=x\\y"),
    ("no trimming", "a = b", "a = b"),
)


@pytest.mark.parametrize(("text", "canonical"), **FIELD_VALID)
def test_parse_field_selector(text, canonical):
    selector = parse_field_selector(text)
    assert str(selector) == canonical
    assert parse_field_selector(canonical) == selector
    assert selector.empty is (canonical == "")


def test_field_terms_hold_unescaped_values():
    assert parse_field_selector(r"b!=x\,y,a==1").terms == (
        FieldTerm("a", "1"), FieldTerm("b", "x,y", negated=True))
    assert parse_field_selector("a = b").terms == (FieldTerm("a ", " b"),)


FIELD_INVALID = table(
    ("no operator", "metadata.name", "invalid selector: 'metadata.name'; "
     "can't understand 'metadata.name'"),
    ("one bad term", "a=1,b", "invalid selector: 'a=1,b'; can't understand 'b'"),
    ("unescaped equals", "a=b=c",
     "invalid field selector: unescaped character in value: ="),
    ("unknown escape", r"a=b\n",
     r"invalid field selector: invalid escape sequence: \n"),
    ("trailing backslash", "a=b\\",
     "invalid field selector: invalid escape sequence: \\"),
)


@pytest.mark.parametrize(("text", "message"), **FIELD_INVALID)
def test_parse_field_selector_refuses(text, message):
    with pytest.raises(SelectorError) as caught:
        parse_field_selector(text)
    assert str(caught.value) == message


POD = {
    "kind": "Pod",
    "metadata": {"name": "web-1", "namespace": "default", "labels": {"app": "web"}},
    "spec": {"nodeName": "node-1", "restartPolicy": "Always",
             "schedulerName": "default-scheduler", "serviceAccountName": "default"},
    "status": {"phase": "Running", "podIP": "10.0.0.9",
               "podIPs": [{"ip": "10.0.0.9"}, {"ip": "fd00::9"}]},
}
PENDING = {"kind": "Pod", "metadata": {"name": "web-2", "namespace": "default"},
           "spec": {}, "status": {"phase": "Pending", "nominatedNodeName": "node-2"}}
EVENT = {"kind": "Event", "metadata": {"name": "web-1.17", "namespace": "default"},
         "involvedObject": {"kind": "Pod", "name": "web-1", "namespace": "default",
                            "uid": "u-1"},
         "reason": "Scheduled", "type": "Normal"}

OBJECT_FIELDS = table(
    ("pod", POD, {
        "metadata.name": "web-1", "metadata.namespace": "default",
        "spec.nodeName": "node-1", "spec.restartPolicy": "Always",
        "spec.schedulerName": "default-scheduler",
        "spec.serviceAccountName": "default", "status.phase": "Running",
        "status.podIP": "10.0.0.9", "status.nominatedNodeName": ""}),
    ("pending pod", PENDING, {
        "metadata.name": "web-2", "metadata.namespace": "default",
        "spec.nodeName": "", "spec.restartPolicy": "", "spec.schedulerName": "",
        "spec.serviceAccountName": "", "status.phase": "Pending", "status.podIP": "",
        "status.nominatedNodeName": "node-2"}),
    ("event", EVENT, {
        "metadata.name": "web-1.17", "metadata.namespace": "default",
        "involvedObject.kind": "Pod", "involvedObject.name": "web-1",
        "involvedObject.namespace": "default", "involvedObject.uid": "u-1",
        "reason": "Scheduled", "type": "Normal"}),
    ("node", {"kind": "Node", "metadata": {"name": "node-1"},
              "spec": {"unschedulable": True}},
     {"metadata.name": "node-1", "spec.unschedulable": "true"}),
    ("schedulable node", {"kind": "Node", "metadata": {"name": "node-2"}},
     {"metadata.name": "node-2", "spec.unschedulable": "false"}),
    ("secret", {"kind": "Secret", "metadata": {"name": "s", "namespace": "ns"},
                "type": "Opaque"},
     {"metadata.name": "s", "metadata.namespace": "ns", "type": "Opaque"}),
    ("any other kind", {"kind": "ConfigMap",
                        "metadata": {"name": "c", "namespace": "ns"},
                        "data": {"k": "v"}},
     {"metadata.name": "c", "metadata.namespace": "ns"}),
)


@pytest.mark.parametrize(("obj", "fields"), **OBJECT_FIELDS)
def test_object_fields(obj, fields):
    assert object_fields(obj) == fields


FIELD_MATCHES = table(
    ("on a node", "spec.nodeName=node-1", POD, True),
    ("unscheduled pods", "spec.nodeName=", PENDING, True),
    ("scheduled pod is not unscheduled", "spec.nodeName=", POD, False),
    ("not pending", "status.phase!=Pending", POD, True),
    ("and", "metadata.namespace=default,status.phase=Running", POD, True),
    ("and, one fails", "metadata.namespace=kube-system,status.phase=Running",
     POD, False),
    ("events about a pod", "involvedObject.kind=Pod,involvedObject.name=web-1",
     EVENT, True),
    ("empty selects all", "", POD, True),
)


@pytest.mark.parametrize(("text", "obj", "expected"), **FIELD_MATCHES)
def test_field_selector_matches(text, obj, expected):
    assert parse_field_selector(text).matches(object_fields(obj)) is expected


def test_missing_field_reads_as_empty():
    assert FieldSelector((FieldTerm("x", ""),)).matches({})
    assert FieldSelector((FieldTerm("x", "v", negated=True),)).matches({})


CHECK = table(
    ("pod node", "Pod", "spec.nodeName=n", None),
    ("pod phase and namespace", "Pod", "status.phase=Running,metadata.namespace=d",
     None),
    ("event reason", "Event", "reason=Killing,involvedObject.uid=u", None),
    ("node unschedulable", "Node", "spec.unschedulable=false", None),
    ("secret type", "Secret", "type=Opaque", None),
    ("other kind, metadata", "ConfigMap", "metadata.name=c", None),
    ("pod label field", "Pod", "metadata.labels=x",
     "field label not supported: metadata.labels"),
    ("node has no namespace", "Node", "metadata.namespace=d",
     "field label not supported: metadata.namespace"),
    ("pod host ip", "Pod", "status.hostIP=1.2.3.4",
     "field label not supported: status.hostIP"),
    ("other kind, type", "ConfigMap", "type=x", "field label not supported: type"),
    ("untrimmed field", "Pod", "metadata.name =x",
     "field label not supported: metadata.name "),
)


@pytest.mark.parametrize(("kind", "text", "message"), **CHECK)
def test_check_field_selector(kind, text, message):
    selector = parse_field_selector(text)
    if message is None:
        check_field_selector(kind, selector)
    else:
        with pytest.raises(SelectorError) as caught:
            check_field_selector(kind, selector)
        assert str(caught.value) == message
