"""An informer's indexes (client-go's Indexers): kept in step with its store through lists, events and deletes."""

from __future__ import annotations

import random

from actors.apiserver.client import Informer
from actors.controllers.base import INDEXERS, NODE_NAME, DictStore, pod_node_name


def pod(name: str, node: str = "", rv: int = 1) -> dict:
    return {"kind": "Pod", "metadata": {"name": name, "namespace": "default", "resourceVersion": str(rv)},
            "spec": {"nodeName": node} if node else {}}


def informer() -> Informer:
    return Informer(None, "pods", indexers=INDEXERS["pods"])  # type: ignore[arg-type]  # no client: events fed by hand


def names(objs: list[dict]) -> set[str]:
    return {o["metadata"]["name"] for o in objs}


def test_a_list_then_binding_then_delete_move_the_pod_between_buckets():
    inf = informer()
    inf._replace([pod("a"), pod("b", "n1")])
    assert names(inf.by_index(NODE_NAME, "")) == {"a"}
    assert names(inf.by_index(NODE_NAME, "n1")) == {"b"}
    inf._on_event("MODIFIED", pod("a", "n2", rv=2))  # the scheduler bound it
    assert inf.by_index(NODE_NAME, "") == []
    assert names(inf.by_index(NODE_NAME, "n2")) == {"a"}
    inf._on_event("DELETED", pod("b", "n1", rv=3))
    assert inf.by_index(NODE_NAME, "n1") == []
    inf._replace([pod("c", "n2")])  # a relist: a and b are gone, c is new
    assert names(inf.by_index(NODE_NAME, "n2")) == {"c"}
    assert inf._indices[NODE_NAME].keys() == {"n2"}, "empty buckets are dropped"


def test_the_index_always_agrees_with_a_scan_of_the_store():
    rng = random.Random(7)
    inf = informer()
    nodes = ["", "n1", "n2", "n3"]
    for step in range(2000):
        name = f"p{rng.randrange(40)}"
        if rng.random() < 0.2:
            inf._on_event("DELETED", pod(name, rv=step))
        else:
            inf._on_event("MODIFIED", pod(name, rng.choice(nodes), rv=step))
        if step % 100 == 0:
            scan = DictStore(inf.store)
            for node in nodes:
                assert names(inf.by_index(NODE_NAME, node)) == names(scan.by_index(NODE_NAME, node))


def test_the_test_store_scans_with_the_same_function():
    store = DictStore([pod("a", "n1"), pod("b")])
    assert names(store.by_index(NODE_NAME, "n1")) == {"a"}
    assert pod_node_name(pod("b")) == ""
