"""kubectl's everyday verbs as ``kubesim`` subcommands, with kubectl's habits and texts.

    kubesim apply -f FILE|DIR|- [-R] [-n NS]        create, or three-way patch, each document
    kubesim get KIND[,KIND] [NAME...] [-o wide|yaml|json|name] [-n NS | -A] [-l SEL] [-w]
    kubesim describe KIND [NAME-PREFIX...]          kubesim.describe, with the object's events
    kubesim delete KIND NAME... | -f FILE | KIND -l SEL   [--cascade=...] [--grace-period N] [--now]
    kubesim create namespace NAME | -f FILE
    kubesim scale KIND NAME --replicas N            through the scale subresource

People bring their kubectl muscle memory and scripts: ``get deploy,svc``,
``get all``, ``kind/name`` arguments, ``-o name`` piped into another command,
``Error from server (NotFound): ...`` grepped for. So the arguments, the
output lines and the exit statuses are kubectl's (``k8s.io/kubectl/pkg/cmd``).
The tables are :mod:`actors.apiserver.tables`, the descriptions
:mod:`kubesim.describe`, apply's patch :mod:`actors.apiserver.apply`; this
module is only the I/O around them: reading manifests, calling the API
server through an :class:`~actors.apiserver.client.ApiSession`, printing.

Two kinds of failure, as kubectl has: the API server refused (``Error from
server (Reason): message``) or the command could not even ask (``error:
...``, an unknown kind, a manifest that does not parse). Either way the
exit status is 1, and with several objects the others are still handled.
Where kubectl differs on purpose: ``delete`` does not wait for the object
to be gone (nothing here finishes a namespace's deletion yet), and all of a
command's files are parsed before anything is sent, so a YAML error applies
nothing.
"""

from __future__ import annotations

import argparse
import copy
import json
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from actors.apiserver.apply import (
    LAST_APPLIED,
    changes,
    original_of,
    three_way_patch,
    with_last_applied,
)
from actors.apiserver.kinds import KINDS, Kind, UnknownKind, for_object, lookup
from actors.apiserver.status import ApiError
from actors.apiserver.tables import (
    empty_message,
    format_labels,
    format_table,
    table,
    tabwrite,
)

if TYPE_CHECKING:
    from actors.apiserver.client import ApiSession
    from kubesim.config import ClusterConfig

__all__ = ["COMMANDS", "add_parsers"]

OUTPUTS = ("wide", "yaml", "json", "name")
MANIFEST_SUFFIXES = (".yaml", ".yml", ".json")
CASCADE = {"background": "Background", "foreground": "Foreground", "orphan": "Orphan",
           "true": "Background", "false": "Orphan"}


class UsageError(Exception):
    """The command cannot ask the server anything: kubectl's ``error: ...``."""


# --- Arguments --------------------------------------------------------------------------

def add_parsers(sub) -> None:
    """Register apply, get, describe, delete, create, scale and logs on the ``kubesim`` parser."""
    def namespace(p: argparse.ArgumentParser) -> None:
        p.add_argument("-n", "--namespace", default=None, help="namespace (default: default)")

    def files(p: argparse.ArgumentParser, required: bool = False) -> None:
        p.add_argument("-f", "--filename", action="append", default=[], required=required,
                       help="manifest file, directory of manifests, or - for stdin (repeatable)")
        p.add_argument("-R", "--recursive", action="store_true",
                       help="also the manifests in the directories' subdirectories")

    p = sub.add_parser("apply", help="create or update objects from manifests, as kubectl apply")
    files(p, required=True)
    namespace(p)

    p = sub.add_parser("get", help="list objects as kubectl get does")
    p.add_argument("targets", nargs="*", metavar="KIND [NAME...]")
    namespace(p)
    p.add_argument("-A", "--all-namespaces", action="store_true")
    p.add_argument("-o", "--output", choices=OUTPUTS, default=None)
    p.add_argument("-l", "--selector", default="", help="label selector, e.g. app=web,tier!=db")
    p.add_argument("--field-selector", default="")
    p.add_argument("--show-labels", action="store_true")
    p.add_argument("-w", "--watch", action="store_true", help="print changes after the list, until Ctrl-C")
    p.add_argument("--watch-timeout", type=float, default=None, help=argparse.SUPPRESS)

    p = sub.add_parser("describe", help="show an object in detail, with its events")
    p.add_argument("targets", nargs="+", metavar="KIND [NAME-PREFIX...]")
    namespace(p)
    p.add_argument("-A", "--all-namespaces", action="store_true")
    p.add_argument("-l", "--selector", default="")

    p = sub.add_parser("delete", help="delete objects by name, from manifests, or by label")
    p.add_argument("targets", nargs="*", metavar="KIND NAME...")
    files(p)
    namespace(p)
    p.add_argument("-l", "--selector", default="")
    p.add_argument("--all", action="store_true", help="every object of the kind in the namespace")
    p.add_argument("--cascade", default="background", type=str.lower, choices=sorted(CASCADE))
    p.add_argument("--grace-period", type=int, default=-1, help="seconds (default: the object's own)")
    p.add_argument("--now", action="store_true", help="same as --grace-period=1")
    p.add_argument("--force", action="store_true",
                   help="with --grace-period=0: remove at once, without waiting for the kubelet")
    p.add_argument("--ignore-not-found", action="store_true")

    p = sub.add_parser("create", help="create a namespace, or objects from manifests")
    p.add_argument("targets", nargs="*", metavar="namespace NAME")
    files(p)
    namespace(p)

    p = sub.add_parser("scale", help="set a workload's replicas through its scale subresource")
    p.add_argument("targets", nargs="+", metavar="KIND NAME")
    namespace(p)
    p.add_argument("--replicas", type=int, required=True)

    p = sub.add_parser("logs", help="lines from the log collector: a container's (pod/NAME), a component's "
                                    "(--component), a trace's (--trace); --from kubelet asks the pod's kubelet")
    p.add_argument("pod", metavar="POD", nargs="?", default=None, help="a pod name, or pod/NAME")
    p.add_argument("container_arg", nargs="?", metavar="CONTAINER", default=None)
    namespace(p)
    p.add_argument("-c", "--container", default=None)
    p.add_argument("-p", "--previous", action="store_true", help="the previous instance (after a restart)")
    p.add_argument("--tail", type=int, default=-1, help="the last N lines (-1: all)")
    p.add_argument("--since", default="", metavar="DURATION", help="only lines newer than this: 30s, 5m, 1h "
                                                                     "(cluster time)")
    p.add_argument("--timestamps", action="store_true")
    p.add_argument("-f", "--follow", action="store_true", help="print new lines as they come")
    p.add_argument("--component", default="", metavar="NAME",
                   help="a component's lines: a process (scheduler-2), a component (scheduler) or an actor (kubelet)")
    p.add_argument("--trace", default="", metavar="ID", help="the lines of one trace (its id, or the first 8 "
                                                              "characters kubesim trace prints)")
    p.add_argument("--level", default="", choices=("", "debug", "info", "warning", "error"),
                   help="component lines at this level or worse")
    p.add_argument("--grep", default="", metavar="TEXT", help="lines containing TEXT")
    p.add_argument("-o", "--output", default="text", choices=("text", "json"), help="json: one object per line")
    p.add_argument("--from", dest="source", default="", choices=("", "collector", "kubelet"),
                   help="where from: the log collector (the default when the cluster has one) or the pod's kubelet")


# --- Names and printing -----------------------------------------------------------------

def display(kind: Kind) -> str:
    """``deployment.apps`` / ``service``: how kubectl names a kind in its messages."""
    return f"{kind.kind.lower()}.{kind.group}" if kind.group else kind.kind.lower()


def resolve_kind(name: str) -> Kind:
    kind = lookup(name)
    if kind is None:
        raise UsageError(f'the server doesn\'t have a resource type "{name}"')
    return kind


def _all_kinds() -> list[Kind]:
    """``kubectl get all``: the kinds in category "all", core first then by group, as discovery orders them."""
    found = [k for k in KINDS.values() if "all" in k.categories]
    return sorted(found, key=lambda k: (k.group != "", k.group, k.resource))


def _out(text: str) -> None:
    sys.stdout.write(text)
    sys.stdout.flush()


def _err(text: str) -> None:
    sys.stderr.write(text if text.endswith("\n") else text + "\n")
    sys.stderr.flush()


def _server_error(exc: ApiError, context: str = "") -> None:
    _err(f"Error from server ({exc.reason}): {context}{exc.message}")


def _with_type(obj: dict, kind: Kind) -> dict:
    """List items may come without apiVersion and kind; kubectl's output always has them."""
    return {"apiVersion": kind.api_version, "kind": kind.kind, **obj}


class _YamlDumper(yaml.SafeDumper):
    """YAML as kubectl's (Go) encoder writes it: multi-line strings as ``|`` blocks, quoting with ``"``."""


def _yaml_str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style = None
    if "\n" in value:
        style = "|"
    elif dumper.resolve(yaml.ScalarNode, value, (True, False)) != "tag:yaml.org,2002:str":
        style = '"'  # "9", "true", a timestamp: a plain scalar would read back as another type
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_YamlDumper.add_representer(str, _yaml_str)


def _dump(obj: Any, output: str) -> str:
    if output == "json":
        return json.dumps(obj, indent=4, sort_keys=True, ensure_ascii=False) + "\n"
    return yaml.dump(obj, Dumper=_YamlDumper, default_flow_style=False, sort_keys=True, allow_unicode=True,
                     width=1 << 30)


def _as_list(items: list[dict]) -> dict:
    return {"apiVersion": "v1", "items": items, "kind": "List", "metadata": {"resourceVersion": ""}}


# --- Manifests --------------------------------------------------------------------------

@dataclass
class Manifest:
    """One document of a manifest file."""

    source: str
    """The file as the user named it (``STDIN`` for ``-``), for messages."""
    obj: dict


class _ManifestLoader(yaml.SafeLoader):
    """YAML as kubectl reads it: timestamps and ``!!binary`` stay strings (Kubernetes' YAML-to-JSON
    step knows no dates), so ``built: 2024-05-01`` is the string it looks like."""


_ManifestLoader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_ManifestLoader.add_constructor("tag:yaml.org,2002:timestamp", yaml.SafeLoader.construct_yaml_str)
_ManifestLoader.add_constructor("tag:yaml.org,2002:binary", yaml.SafeLoader.construct_yaml_str)


#: Most values one document may expand to: YAML aliases can make a few hundred bytes stand for billions.
MAX_DOCUMENT_VALUES = 1_000_000


def _jsonable(value: Any, budget: list[int] | None = None) -> Any:
    """Map keys as JSON has them: strings (YAML allows ``1: x`` or ``true: y``); ValueError past
    :data:`MAX_DOCUMENT_VALUES` values (an alias bomb)."""
    budget = budget if budget is not None else [MAX_DOCUMENT_VALUES]
    budget[0] -= 1
    if budget[0] < 0:
        raise ValueError(f"a document expands to more than {MAX_DOCUMENT_VALUES:,} values (YAML aliases?)")
    if isinstance(value, dict):
        return {k if isinstance(k, str) else json.dumps(k): _jsonable(v, budget) for k, v in value.items()}
    if isinstance(value, list):
        return [_jsonable(v, budget) for v in value]
    return value


def _read(source: str, read) -> tuple[str, str]:
    try:
        return source, read()
    except UnicodeDecodeError as exc:
        raise UsageError(f"error reading {source}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    except OSError as exc:
        raise UsageError(f"error reading {source}: {exc.strerror or exc}") from None


def _files(name: str, recursive: bool = False) -> list[tuple[str, str]]:
    """(source, text) of a file, of stdin, or of a directory's manifests (``*.yaml``, ``*.yml``, ``*.json``;
    with ``recursive`` its subdirectories' too) in kubectl's order: by name, a subdirectory's files where
    its name falls (``filepath.Walk``). A file named directly is read whatever its name ends with."""
    if name == "-":
        return [_read("STDIN", sys.stdin.read)]
    path = Path(name)
    if path.is_dir():
        candidates = path.rglob("*") if recursive else path.iterdir()
        found = sorted((p for p in candidates if p.is_file() and p.suffix in MANIFEST_SUFFIXES),
                       key=lambda p: p.relative_to(path).parts)
        return [_read(str(p), p.read_text) for p in found]
    if not path.exists():
        raise UsageError(f'the path "{name}" does not exist')
    return [_read(name, path.read_text)]


def read_manifests(names: list[str], verb: str, recursive: bool = False) -> list[Manifest]:
    """Every document of every file, ``kind: List`` expanded; :class:`UsageError` if one does not parse."""
    manifests: list[Manifest] = []
    for name in names:
        for source, text in _files(name, recursive):
            manifests += parse_manifests(source, text)
    if not manifests:
        raise UsageError(f"no objects passed to {verb}")
    return manifests


def parse_manifests(source: str, text: str) -> list[Manifest]:
    """Every document of one file's ``text``, ``kind: List`` expanded; :class:`UsageError` if one does not parse."""
    manifests: list[Manifest] = []
    try:
        docs = [_jsonable(d) for d in yaml.load_all(text, Loader=_ManifestLoader)]
    except yaml.YAMLError as exc:
        raise UsageError(f"error parsing {source}: {exc}") from None
    except RecursionError:
        raise UsageError(f"error parsing {source}: nested too deeply") from None
    except ValueError as exc:
        raise UsageError(f"error parsing {source}: {exc}") from None
    for doc in docs:
        if doc is None:
            continue
        if not isinstance(doc, dict):
            raise UsageError(f"error parsing {source}: a document must be an object, not {type(doc).__name__}")
        if doc.get("kind") == "List" and isinstance(doc.get("items"), list):
            for item in doc["items"]:
                if not isinstance(item, dict):
                    raise UsageError(f"error parsing {source}: a List's items must be objects, "
                                     f"not {type(item).__name__}")
                manifests.append(Manifest(source, item))
        else:
            manifests.append(Manifest(source, doc))
    return manifests


@dataclass
class Placed:
    """A manifest resolved to its kind, namespace and name."""

    kind: Kind
    namespace: str
    name: str
    obj: dict = field(default_factory=dict)


def place(m: Manifest, namespace: str | None, *, generated_name_ok: bool = False) -> Placed:
    """The manifest's kind and where it goes (``-n``, else its own namespace, else default).

    ``generated_name_ok``: a ``generateName`` may stand in for the name (create, not apply).
    """
    meta = m.obj.get("metadata")
    meta = meta if isinstance(meta, dict) else {}
    name = str(meta.get("name") or "")
    try:
        kind = for_object(m.obj)
    except UnknownKind as exc:
        raise UsageError(f'resource mapping not found for name: "{name}" namespace: '
                         f'"{meta.get("namespace") or namespace or ""}" from "{m.source}": {exc}\n'
                         "ensure CRDs are installed first") from None
    if not name and not (generated_name_ok and meta.get("generateName")):
        raise UsageError(f'error when retrieving current configuration of {display(kind)} from "{m.source}": '
                         "resource name may not be empty")
    obj = copy.deepcopy(m.obj)
    if not kind.namespaced:
        obj.setdefault("metadata", {}).pop("namespace", None)
        return Placed(kind, "", name, obj)
    own = meta.get("namespace")
    if own and namespace and own != namespace:
        raise UsageError(f'the namespace from the provided object "{own}" does not match the namespace '
                         f'"{namespace}". You must pass \'--namespace={own}\' to perform this operation.')
    ns = own or namespace or "default"
    obj.setdefault("metadata", {})["namespace"] = ns
    return Placed(kind, ns, name, obj)


# --- Targets on the command line --------------------------------------------------------

def parse_targets(targets: list[str]) -> list[tuple[Kind, list[str]]]:
    """``KIND[,KIND] [NAME...]`` or ``KIND/NAME...``: each kind with the names asked for (none: all)."""
    if not targets:
        raise UsageError("Required resource not specified.")
    if "/" in targets[0]:
        asked: dict[str, tuple[Kind, list[str]]] = {}
        for t in targets:
            kind_name, slash, name = t.partition("/")
            if not slash or not name:
                raise UsageError(f"there is no need to specify a resource type as a separate argument when "
                                 f"passing arguments in resource/name form (e.g. 'kubesim get "
                                 f"resource/<resource_name>' instead of 'kubesim get resource "
                                 f"resource/<resource_name>'): {t!r}")
            kind = resolve_kind(kind_name)
            asked.setdefault(kind.kind, (kind, []))[1].append(name)
        return list(asked.values())
    kinds: list[Kind] = []
    for part in targets[0].split(","):
        if not part:
            continue
        expanded = _all_kinds() if part.lower() == "all" else [resolve_kind(part)]
        kinds += [k for k in expanded if k not in kinds]
    if not kinds:
        raise UsageError("Required resource not specified.")
    names = targets[1:]
    if any("/" in n for n in names):
        raise UsageError("arguments in resource/name form must have a single resource and name")
    return [(k, list(names)) for k in kinds]


# --- The session ------------------------------------------------------------------------

class Kubectl:
    """One command's connection to the API server, opened on first use."""

    def __init__(self, cfg: ClusterConfig, args) -> None:
        self.cfg = cfg
        self.args = args
        self._session: ApiSession | None = None

    @property
    def session(self) -> ApiSession:
        if self._session is None:
            from bus import logs
            from kubesim.apiserver import session_for

            # The bus's own chatter (registered with broker...) is not the command's output.
            logs.configure("kubesim-cli", "warning", self.cfg.logging.format)
            from bus.transport.curve import MissingKey

            try:
                self._session = session_for(self.cfg)
            except MissingKey as exc:
                raise UsageError(f"no client key: {exc} (run `kubesim keys` first)") from None
        return self._session

    def call(self, coro) -> Any:
        return self.session.run(coro)

    @property
    def api(self):
        return self.session.api

    def now(self) -> float:
        return self.session.runtime.clock.wall()

    def namespace(self) -> str:
        return self.args.namespace or "default"

    def close(self) -> None:
        if self._session is not None:
            self._session.close()


def _run(body) -> Any:
    """A command's body with kubectl's handling of the two kinds of error."""
    def command(cfg: ClusterConfig, args) -> int:
        k = Kubectl(cfg, args)
        try:
            return body(k)
        except UsageError as exc:
            _err(f"error: {exc}")
            return 1
        except ApiError as exc:
            _server_error(exc)
            return 1
        except TimeoutError as exc:
            _err(f"error: {exc}")
            return 1
        except KeyboardInterrupt:
            return 130  # Ctrl-C before a watch began: quietly, as a shell expects
        finally:
            k.close()

    command.__name__ = body.__name__
    command.__doc__ = body.__doc__
    return command


# --- apply / create ---------------------------------------------------------------------

#: kubectl 1.32 asks the server to refuse unknown fields (--validate=strict, its default).
STRICT = {"fieldValidation": "Strict"}

async def apply_placed(api, p: Placed, source: str, warn=lambda text: None) -> str:
    """Apply one placed manifest through ``api`` (an :class:`ApiClient`): ``created``, ``configured`` or
    ``unchanged``; :class:`ApiError` with kubectl's context in its message when the server refuses."""
    label = f"{display(p.kind)}/{p.name}"
    try:
        current = await api.get(p.kind.resource, p.name, p.namespace)
    except ApiError as exc:
        if exc.code != 404:
            raise ApiError(exc.code, exc.reason, f'error when retrieving current configuration of {label} from '
                                                 f'"{source}": {exc.message}', exc.details) from None
        try:
            await api.call("create", p.kind.resource, p.namespace, body=with_last_applied(p.obj), options=STRICT)
        except ApiError as exc:
            raise ApiError(exc.code, exc.reason, f'error when creating "{source}": {exc.message}',
                           exc.details) from None
        return "created"
    original = original_of(current)
    if original is None:
        # As kubectl: the live object was made some other way; apply takes it over from now on.
        warn(f"Warning: resource {p.kind.resource}/{p.name} is missing the {LAST_APPLIED} annotation which "
             "is required by kubesim apply. kubesim apply should only be used on resources created "
             "declaratively by kubesim apply. The missing annotation will be patched automatically.")
    patch = three_way_patch(original, p.obj, current, p.kind.kind)
    if patch:
        try:
            await api.call("patch", p.kind.resource, p.namespace, p.name, body=patch,
                           options={"patchType": "strategic", **STRICT})
        except ApiError as exc:
            raise ApiError(exc.code, exc.reason, f'error when patching "{source}": {exc.message}',
                           exc.details) from None
    return "configured" if changes(patch) or original is None else "unchanged"


def _apply_one(k: Kubectl, m: Manifest) -> bool:
    p = place(m, k.args.namespace)
    try:
        verb = k.call(apply_placed(k.api, p, m.source, warn=_err))
    except ApiError as exc:
        _server_error(exc)
        return False
    _out(f"{display(p.kind)}/{p.name} {verb}\n")
    return True


def _each_manifest(k: Kubectl, one) -> int:
    ok = True
    for m in read_manifests(k.args.filename, k.args.command, k.args.recursive):
        try:
            ok = one(k, m) and ok
        except UsageError as exc:
            _err(f"error: {exc}")
            ok = False
    return 0 if ok else 1


@_run
def apply(k: Kubectl) -> int:
    """``kubectl apply -f``: each document created, configured or unchanged, independently."""
    return _each_manifest(k, _apply_one)


def _create_one(k: Kubectl, m: Manifest) -> bool:
    p = place(m, k.args.namespace, generated_name_ok=True)
    try:
        made = k.call(k.api.call("create", p.kind.resource, p.namespace, body=p.obj, options=STRICT))
    except ApiError as exc:
        _server_error(exc, f'error when creating "{m.source}": ')
        return False
    _out(f"{display(p.kind)}/{made['metadata']['name']} created\n")
    return True


@_run
def create(k: Kubectl) -> int:
    """``kubectl create namespace NAME`` and ``kubectl create -f``."""
    if k.args.filename:
        if k.args.targets:
            raise UsageError("cannot give both -f and a kind to create")
        return _each_manifest(k, _create_one)
    targets = k.args.targets
    if not targets:
        raise UsageError("must specify one of -f or a kind to create (namespace NAME)")
    kind = lookup(targets[0])
    if kind is None or kind.kind != "Namespace":
        raise UsageError(f'kubesim create knows "namespace NAME" and -f, not "{targets[0]}"')
    if len(targets) != 2:
        raise UsageError("exactly one NAME is required, got " + str(len(targets) - 1))
    obj = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": targets[1]}}
    k.call(k.api.create(obj))
    _out(f"namespace/{targets[1]} created\n")
    return 0


# --- get --------------------------------------------------------------------------------

def _scope(k: Kubectl, kind: Kind) -> str:
    if not kind.namespaced or getattr(k.args, "all_namespaces", False):
        return ""
    return k.namespace()


def _fetch(k: Kubectl, kind: Kind, names: list[str]) -> tuple[list[dict], bool]:
    """The objects asked for (named or listed) and whether every name was found."""
    ns = _scope(k, kind)
    if not names:
        listed = k.call(k.api.list(kind.resource, ns, label_selector=k.args.selector,
                                   field_selector=getattr(k.args, "field_selector", "")))
        return [_with_type(o, kind) for o in listed["items"]], True
    found, ok = [], True
    for name in names:
        try:
            found.append(_with_type(k.call(k.api.get(kind.resource, name, ns)), kind))
        except ApiError as exc:
            _server_error(exc)
            ok = False
    return found, ok


def _table_text(kind: Kind, objs: list[dict], now: float, args, with_kind: bool, header: bool = True) -> str:
    headers, rows = table(kind.kind, objs, now, wide=args.output == "wide", with_namespace=args.all_namespaces,
                          with_kind=with_kind)
    if args.show_labels:
        headers = [*headers, "LABELS"]
        rows = [[*r, format_labels((o.get("metadata") or {}).get("labels"))] for r, o in zip(rows, objs)]
    if header:
        return format_table(headers, rows)
    # A watch prints each change on its own, as kubectl flushes its tabwriter per event.
    return "".join(tabwrite("\t".join(r) + "\n", min_width=6, padding=3).rstrip(" \n") + "\n" for r in rows)


def _print_objects(kind: Kind, objs: list[dict], output: str | None) -> str:
    if output == "name":
        return "".join(f"{display(kind)}/{o['metadata']['name']}\n" for o in objs)
    return "".join(_dump(o, output) if output == "json" else "---\n" + _dump(o, output) for o in objs)


@_run
def get(k: Kubectl) -> int:
    """``kubectl get``: tables, ``-o`` formats, several kinds, ``all``, ``-w``."""
    args = k.args
    asked = parse_targets(args.targets)
    named = any(names for _, names in asked)
    if named and args.selector:
        raise UsageError("name cannot be provided when a selector is specified")
    if named and args.all_namespaces:
        raise UsageError("a resource cannot be retrieved by name across all namespaces")
    if args.watch:
        if len(asked) != 1:
            raise UsageError("you may only specify a single resource type")
        return _watch(k, *asked[0])
    now = k.now()
    results: list[tuple[Kind, list[dict]]] = []
    ok = True
    for kind, names in asked:
        objs, found_all = _fetch(k, kind, names)
        ok = ok and found_all
        results.append((kind, objs))
    everything = [o for _, objs in results for o in objs]
    if args.output in ("json", "yaml"):
        single = len(asked) == 1 and len(asked[0][1]) == 1 and args.targets[0].lower() != "all"
        if single and everything:
            _out(_dump(everything[0], args.output))
        elif not single:
            _out(_dump(_as_list(everything), args.output))
        return 0 if ok else 1
    if args.output == "name":
        _out("".join(_print_objects(kind, objs, "name") for kind, objs in results))
        return 0 if ok else 1
    if not everything:
        if ok and not named:
            _err(empty_message(asked[0][0].kind, k.namespace(), args.all_namespaces))
        return 0 if ok else 1
    with_kind = len(asked) > 1
    tables = [_table_text(kind, objs, now, args, with_kind) for kind, objs in results if objs]
    _out("\n".join(tables))
    return 0 if ok else 1


def _watch(k: Kubectl, kind: Kind, names: list[str]) -> int:
    args = k.args
    if len(names) > 1:
        raise UsageError("watch is only supported on individual resources and resource collections, "
                         f"but {len(names)} resources were found")
    fields = ",".join(f for f in (args.field_selector, f"metadata.name={names[0]}" if names else "") if f)
    ns = _scope(k, kind)
    listed = k.call(k.api.list(kind.resource, ns, label_selector=args.selector, field_selector=fields))
    objs = [_with_type(o, kind) for o in listed["items"]]
    if names and not objs:
        raise ApiError(404, "NotFound", f'{kind.resource}{"." + kind.group if kind.group else ""} '
                       f'"{names[0]}" not found')
    shown = {"header": False}

    def show(batch: list[dict]) -> None:
        if args.output in ("json", "yaml", "name"):
            _out(_print_objects(kind, batch, args.output))
        elif batch:
            _out(_table_text(kind, batch, k.now(), args, False, header=not shown["header"]))
            shown["header"] = True

    if objs:
        show(objs)
    elif args.output not in ("json", "yaml", "name"):
        _err(empty_message(kind.kind, k.namespace(), args.all_namespaces))
    failed: list[dict] = []

    def on_event(typ: str, obj: dict) -> None:
        if typ == "ERROR":
            failed.append(obj)
        elif typ in ("ADDED", "MODIFIED", "DELETED"):
            show([_with_type(obj, kind)])

    watch = k.api.watch(kind.resource, ns, label_selector=args.selector, field_selector=fields,
                        resource_version=listed["metadata"]["resourceVersion"], on_event=on_event)
    try:
        k.session.wait_for(lambda: bool(failed), args.watch_timeout if args.watch_timeout is not None else 1e12)
    except KeyboardInterrupt:
        pass
    finally:
        watch.stop()
    if failed:
        raise ApiError.from_status(failed[0])
    return 0


# --- describe ---------------------------------------------------------------------------

def _events_for(k: Kubectl, obj: dict) -> list[dict]:
    meta = obj.get("metadata") or {}
    ns = meta.get("namespace") or ""
    selector = f"involvedObject.name={meta.get('name')}" + (f",involvedObject.namespace={ns}" if ns else "")
    events = k.call(k.api.list("events", ns, field_selector=selector))["items"]
    uid = meta.get("uid")
    if uid:
        events = [e for e in events if (e.get("involvedObject") or {}).get("uid") in (None, "", uid)]
    events = [e for e in events if (e.get("involvedObject") or {}).get("kind") in (None, "", obj.get("kind"))]

    def when(e: dict) -> str:
        return str(e.get("lastTimestamp") or e.get("eventTime") or e.get("firstTimestamp")
                   or (e.get("metadata") or {}).get("creationTimestamp") or "")

    return sorted(events, key=when)


def _replica_sets_of(k: Kubectl, deployment: dict) -> list[dict]:
    meta = deployment["metadata"]
    listed = k.call(k.api.list("replicasets", meta.get("namespace", "")))["items"]
    return [_with_type(rs, KINDS["ReplicaSet"]) for rs in listed
            if any(ref.get("uid") == meta.get("uid") and ref.get("controller")
                   for ref in (rs.get("metadata") or {}).get("ownerReferences") or [])]


def _endpoint_slices_of(k: Kubectl, service: dict) -> list[dict]:
    meta = service["metadata"]
    selector = f"kubernetes.io/service-name={meta.get('name')}"
    listed = k.call(k.api.list("endpointslices", meta.get("namespace", ""), label_selector=selector))["items"]
    return [_with_type(s, KINDS["EndpointSlice"]) for s in listed]


def _matching(k: Kubectl, kind: Kind, name: str) -> list[dict]:
    """The object named ``name``, else those whose names start with it (kubectl describe's prefix match)."""
    ns = _scope(k, kind)
    try:
        return [_with_type(k.call(k.api.get(kind.resource, name, ns)), kind)]
    except ApiError as exc:
        if exc.code != 404:
            raise
        listed = k.call(k.api.list(kind.resource, ns))["items"]
        found = [_with_type(o, kind) for o in listed if o["metadata"]["name"].startswith(name)]
        if not found:
            raise
        return found


@_run
def describe(k: Kubectl) -> int:
    """``kubectl describe``: each object matched, with its events."""
    from kubesim.describe import describe as describe_text

    args = k.args
    ok = True
    texts: list[str] = []
    asked = parse_targets(args.targets)
    if args.all_namespaces and any(names for _, names in asked):
        raise UsageError("a resource cannot be retrieved by name across all namespaces")
    for kind, names in asked:
        if names:
            objs = []
            for name in names:
                try:
                    objs += _matching(k, kind, name)
                except ApiError as exc:
                    _server_error(exc)
                    ok = False
        else:
            objs, _ = _fetch(k, kind, [])
            if not objs:
                _err(empty_message(kind.kind, k.namespace(), args.all_namespaces))
        for obj in objs:
            extra: dict[str, Any] = {}
            if kind.kind == "Deployment":
                extra["replica_sets"] = _replica_sets_of(k, obj)
            elif kind.kind == "Service":
                extra["endpoint_slices"] = _endpoint_slices_of(k, obj)
            texts.append(describe_text(obj, _events_for(k, obj), k.now(), **extra))
    _out("\n\n".join(texts))
    return 0 if ok else 1


# --- delete -----------------------------------------------------------------------------

def _grace(args) -> int | None:
    """kubectl delete's grace period: --now is 1, and 0 is 1 unless --force (no accidental force delete)."""
    if args.now and args.grace_period >= 0:
        raise UsageError("--now and --grace-period cannot be specified together")
    if args.now:
        return 1
    if args.grace_period < 0:
        return None
    if args.grace_period == 0 and not args.force:
        return 1
    return args.grace_period


def _delete_one(k: Kubectl, kind: Kind, ns: str, name: str, context: str = "") -> bool:
    args = k.args
    grace = _grace(args)
    try:
        k.call(k.api.delete(kind.resource, name, ns, propagation=CASCADE[args.cascade], grace_period_s=grace))
    except ApiError as exc:
        if exc.code == 404 and args.ignore_not_found:
            return True
        _server_error(exc, context)
        return False
    _out(f'{display(kind)} "{name}" deleted\n')
    return True


@_run
def delete(k: Kubectl) -> int:
    """``kubectl delete``: by name, from manifests, or every object a selector (or ``--all``) matches."""
    args = k.args
    _grace(args)  # refuse bad flag combinations before anything is deleted
    if args.force and args.grace_period != 0:
        _err("Warning: --force is ignored without --grace-period=0")
    if args.filename:
        if args.targets:
            raise UsageError("cannot give both -f and KIND NAME to delete")

        def one(k: Kubectl, m: Manifest) -> bool:
            p = place(m, args.namespace)
            return _delete_one(k, p.kind, p.namespace, p.name, f'error when deleting "{m.source}": ')

        return _each_manifest(k, one)
    asked = parse_targets(args.targets)
    named = any(names for _, names in asked)
    if named and (args.selector or args.all):
        raise UsageError("name cannot be provided when a selector is specified")
    if not named and not (args.selector or args.all):
        raise UsageError("resource(s) were provided, but no name was specified")
    ok, any_found = True, named
    for kind, names in asked:
        ns = _scope(k, kind)
        if not names:
            listed = k.call(k.api.list(kind.resource, ns, label_selector=args.selector))["items"]
            names = [o["metadata"]["name"] for o in listed]
            any_found = any_found or bool(names)
        for name in names:
            ok = _delete_one(k, kind, ns, name) and ok
    if not any_found:
        _out("No resources found\n")  # kubectl delete says it on stdout
    return 0 if ok else 1


# --- scale ------------------------------------------------------------------------------

@_run
def scale(k: Kubectl) -> int:
    """``kubectl scale``: a merge patch of ``spec.replicas`` on the scale subresource."""
    asked = parse_targets(k.args.targets)
    pairs = [(kind, name) for kind, names in asked for name in names]
    if not pairs:
        raise UsageError("resource(s) were provided, but no name was specified")
    if k.args.replicas < 0:
        raise UsageError("The --replicas=COUNT flag is required, and COUNT must be greater than or equal to 0")
    ok = True
    for kind, name in pairs:
        try:
            k.call(k.api.patch(kind.resource, name, {"spec": {"replicas": k.args.replicas}}, _scope(k, kind),
                               patch_type="merge", subresource="scale"))
        except ApiError as exc:
            _server_error(exc)
            ok = False
            continue
        _out(f"{display(kind)}/{name} scaled\n")
    return 0 if ok else 1


# --- logs -------------------------------------------------------------------------------

@_run
def logs(k: Kubectl) -> int:
    """``kubesim logs``: from the log collector when the cluster has one (:mod:`kubesim.logscli`), else as
    ``kubectl logs POD [CONTAINER]``: the API server's pods/log, which it gets from the pod's kubelet."""
    source = k.args.source or ("collector" if k.cfg.log_collector else "kubelet")
    if source == "collector":
        if not k.cfg.log_collector:
            raise UsageError("the cluster has no log collector (a process running component log-collector)")
        from kubesim import logscli

        return logscli.run(k, k.cfg)
    collector_only = [f for f in ("component", "trace", "level", "grep") if getattr(k.args, f)]
    if collector_only or k.args.follow or k.args.output != "text":
        flags = [f"--{f}" for f in collector_only] + (["-f"] if k.args.follow else []) + (
            ["-o"] if k.args.output != "text" else [])
        raise UsageError(f"{', '.join(flags)}: only from the log collector, not --from kubelet")
    name = k.args.pod
    if not name:
        raise UsageError("logs --from kubelet takes a pod (pod/NAME)")
    if "/" in name:
        kind, _, name = name.partition("/")
        if kind not in ("pod", "pods", "po"):
            raise UsageError(f"logs takes a pod (pod/NAME), not {kind!r}")
    container = k.args.container or k.args.container_arg or ""
    try:
        since = _seconds(k.args.since)
        text = k.call(k.api.logs(k.namespace(), name, container=container, previous=k.args.previous,
                                 tail_lines=k.args.tail, since_seconds=since, timestamps=k.args.timestamps))
    except ApiError as exc:
        _server_error(exc)
        return 1
    _out(text if not text or text.endswith("\n") else text + "\n")
    return 0


def _seconds(duration: str) -> int:
    from kubesim.logscli import parse_duration

    try:
        return int(parse_duration(duration)) if duration else 0
    except ValueError as exc:
        raise UsageError(f"--since: {exc}") from None


COMMANDS = {"apply": apply, "get": get, "describe": describe, "delete": delete, "create": create, "scale": scale,
            "logs": logs}
"""Subcommand name → handler(cfg, args) -> exit status, for ``kubesim.cli.COMMANDS``."""
