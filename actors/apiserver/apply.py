"""Client-side ``kubectl apply``: the three-way strategic merge patch.

``kubectl apply -f`` is declarative: the file says what the object should
be, and apply works out the smallest change that makes it so without
undoing what others did meanwhile (a controller's defaults, an autoscaler's
replica count, a label someone added by hand). It needs three objects:

- *original*: what the last apply sent, kept on the object itself in the
  ``kubectl.kubernetes.io/last-applied-configuration`` annotation;
- *modified*: the manifest being applied now;
- *current*: the object as the API server has it.

Fields in *modified* that differ from *current* are set; fields in
*original* that *modified* no longer has are deleted (they were apply's to
remove); everything else in *current* is left alone. Lists with a merge key
(containers by ``name``, per :data:`~actors.apiserver.patch.PATCH_STRATEGIES`)
are diffed element by element, a removed element becoming ``{"$patch":
"delete"}`` and the order following the manifest (``$setElementOrder``);
set-like lists of scalars (finalizers) get ``$deleteFromPrimitiveList``;
every other list is replaced whole when it differs. This is apimachinery's
``strategicpatch.CreateThreeWayMergePatch`` for the cases kubectl meets, with
one refinement: a deletion is sent only for a field *current* still has, so
that a patch with no effect is empty and apply can say ``unchanged``.

Pure: dicts in, a patch dict out; the inputs are never mutated.
"""

from __future__ import annotations

import json
from typing import Any

from actors.apiserver.patch import PATCH_STRATEGIES, REPLACE, ListStrategy, json_equal
from actors.jsonvalue import clone

__all__ = ["LAST_APPLIED", "changes", "last_applied", "original_of", "three_way_patch", "with_last_applied"]

LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"
"""The annotation that remembers what the last apply sent."""

_ABSENT = object()


def _strip_annotation(manifest: dict) -> dict:
    """A copy of ``manifest`` without the last-applied annotation (and without an emptied map)."""
    obj = clone(manifest)
    meta = obj.get("metadata")
    if isinstance(meta, dict) and isinstance(meta.get("annotations"), dict):
        meta["annotations"].pop(LAST_APPLIED, None)
        if not meta["annotations"]:
            del meta["annotations"]
    return obj


def last_applied(manifest: dict) -> str:
    """The annotation's value for ``manifest``: compact JSON with sorted keys, as kubectl writes it."""
    return json.dumps(_strip_annotation(manifest), sort_keys=True, separators=(",", ":")) + "\n"


def with_last_applied(manifest: dict) -> dict:
    """``manifest`` carrying its own last-applied annotation: what apply creates."""
    obj = clone(manifest)
    meta = obj.setdefault("metadata", {})
    annotations = meta.get("annotations")
    meta["annotations"] = {**(annotations if isinstance(annotations, dict) else {}),
                           LAST_APPLIED: last_applied(manifest)}
    return obj


def original_of(current: dict) -> dict | None:
    """What the last apply sent, from ``current``'s annotation; None if never applied (or unreadable)."""
    annotations = (current.get("metadata") or {}).get("annotations") or {}
    text = annotations.get(LAST_APPLIED)
    if not isinstance(text, str):
        return None
    try:
        original = json.loads(text)
    except ValueError:
        return None
    return original if isinstance(original, dict) else None


def three_way_patch(original: dict | None, modified: dict, current: dict, kind: str) -> dict:
    """The strategic merge patch that takes ``current`` to ``modified``, deleting what ``original`` set.

    ``original`` None (an object never applied) deletes nothing. The patch
    also sets the last-applied annotation to ``modified`` when it changed;
    :func:`changes` is the patch without that. ``{}`` means nothing to do.
    """
    target = with_last_applied(modified)
    previous = _strip_annotation(original) if isinstance(original, dict) else None
    return _diff_map(previous, target, current if isinstance(current, dict) else {}, kind, ())


def changes(patch: dict) -> dict:
    """``patch`` without its last-applied annotation update: what apply changes besides its own record."""
    rest = clone(patch)
    meta = rest.get("metadata")
    if isinstance(meta, dict) and isinstance(meta.get("annotations"), dict):
        meta["annotations"].pop(LAST_APPLIED, None)
        if not meta["annotations"]:
            del meta["annotations"]
        if not meta:
            del rest["metadata"]
    return rest


#: Maps whose keys are alternatives (one strategy type, one volume source): Kubernetes' patchStrategy
#: retainKeys. A patch of one says which keys it keeps, so switching kinds drops the old one.
_RETAIN_KEYS_MAPS = {("Deployment", "spec.strategy"), ("DaemonSet", "spec.updateStrategy"),
                     ("StatefulSet", "spec.updateStrategy")}


def _retains_keys(kind: str, path: tuple[str, ...]) -> bool:
    return (kind, ".".join(path)) in _RETAIN_KEYS_MAPS


def _strategy(kind: str, path: tuple[str, ...]) -> ListStrategy:
    return PATCH_STRATEGIES.get((kind, ".".join(path)), REPLACE)


def _diff_map(original: dict | None, modified: dict, current: dict, kind: str,
              path: tuple[str, ...]) -> dict:
    patch: dict[str, Any] = {}
    for name, want in modified.items():
        have = current.get(name, _ABSENT)
        was = original.get(name, _ABSENT) if original is not None else _ABSENT
        here = (*path, name)
        if want is None:
            if have is not _ABSENT and have is not None:
                patch[name] = None  # null in a manifest means "remove it", as kubectl reads it
        elif have is _ABSENT or have is None:
            patch[name] = clone(want)
        elif isinstance(want, dict) and isinstance(have, dict):
            sub = _diff_map(was if isinstance(was, dict) else None, want, have, kind, here)
            if sub:
                if _retains_keys(kind, here):
                    sub["$retainKeys"] = sorted(want)
                patch[name] = sub
        elif isinstance(want, list) and isinstance(have, list):
            patch.update(_diff_list(name, was if isinstance(was, list) else None, want, have, kind, here))
        elif not json_equal(want, have):
            patch[name] = clone(want)
    if original is not None:
        for name in original:
            if name not in modified and current.get(name) is not None:
                patch[name] = None  # the last apply set it and this one does not: apply's to remove
    return patch


def _diff_list(name: str, original: list | None, modified: list, current: list, kind: str,
               path: tuple[str, ...]) -> dict:
    """The patch entries (the field and its directives) for one list field."""
    strategy = _strategy(kind, path)
    if not strategy.merge:
        return {} if json_equal(modified, current) else {name: clone(modified)}
    if strategy.merge_key is None:
        return _diff_scalars(name, original, modified, current)
    key = strategy.merge_key
    if not all(isinstance(e, dict) and key in e for e in modified):
        # Elements without their merge key cannot be matched: send the list and let the server say why.
        return {} if json_equal(modified, current) else {name: clone(modified)}
    return _diff_keyed(name, key, original, modified, current, kind, path)


def _find(items: list | None, key: str, value: Any) -> Any:
    for item in items or ():
        if isinstance(item, dict) and key in item and json_equal(item[key], value):
            return item
    return _ABSENT


def _diff_keyed(name: str, key: str, original: list | None, modified: list, current: list, kind: str,
                path: tuple[str, ...]) -> dict:
    elements: list[dict] = []
    for want in modified:
        have = _find(current, key, want[key])
        if have is _ABSENT:
            elements.append(clone(want))
            continue
        was = _find(original, key, want[key])
        sub = _diff_map(was if isinstance(was, dict) else None, want, have, kind, path)
        if sub:
            if path[-1] == "volumes":  # a volume's source is one of many keys: the others go (retainKeys)
                sub["$retainKeys"] = sorted(want)
            elements.append({key: want[key], **sub})
    for was in original or ():
        if not isinstance(was, dict) or key not in was:
            continue
        if _find(modified, key, was[key]) is _ABSENT and _find(current, key, was[key]) is not _ABSENT:
            elements.append({key: was[key], "$patch": "delete"})
    order = [{key: want[key]} for want in modified]
    if not elements:
        # Nothing changed but perhaps the order (env order matters for $(VAR) references).
        live = [item[key] for item in current if isinstance(item, dict) and key in item
                and _find(modified, key, item[key]) is not _ABSENT]
        if live == [want[key] for want in modified]:
            return {}
        return {f"$setElementOrder/{name}": order}
    # The manifest's order wins, as kubectl's $setElementOrder makes it.
    return {f"$setElementOrder/{name}": order, name: elements}


def _diff_scalars(name: str, original: list | None, modified: list, current: list) -> dict:
    def has(values: list | None, value: Any) -> bool:
        return any(json_equal(v, value) for v in values or ())

    added = [v for v in modified if not has(current, v)]
    removed = [v for v in original or () if not has(modified, v) and has(current, v)]
    patch: dict[str, Any] = {}
    if added:
        patch[name] = clone(added)
    if removed:
        patch[f"$deleteFromPrimitiveList/{name}"] = clone(removed)
    if patch:
        patch[f"$setElementOrder/{name}"] = clone(modified)
    return patch
