"""The garbage collector's dependency graph and discovery filter: pure decisions, no I/O."""

from __future__ import annotations

from typing import Any

from kubeedge.controllers.garbagecollector import (
    DependencyGraph,
    Identity,
    OwnerRef,
    deletable_resources,
    invalid_namespace_message,
    owner_refs_of,
)


def obj(kind: str, name: str, uid: str, ns: str = "a", *owners: OwnerRef,
        deleting: bool = False, finalizers: tuple[str, ...] = ()) -> dict[str, Any]:
    md: dict[str, Any] = {"name": name, "uid": uid, "namespace": ns}
    if owners:
        md["ownerReferences"] = [
            {"apiVersion": o.api_version, "kind": o.kind, "name": o.name, "uid": o.uid,
             "blockOwnerDeletion": o.block_owner_deletion} for o in owners]
    if deleting:
        md["deletionTimestamp"] = "2025-01-01T00:00:00Z"
    if finalizers:
        md["finalizers"] = list(finalizers)
    return {"apiVersion": "v1", "kind": kind, "metadata": md}


def ident(o: dict[str, Any]) -> Identity:
    md = o["metadata"]
    return Identity(o["apiVersion"], o["kind"], md.get("namespace", ""), md["name"], md["uid"])


def observe(graph: DependencyGraph, o: dict[str, Any], old: dict[str, Any] | None = None):
    return graph.observe(ident(o), owner_refs_of(o), o, old)


def cm_ref(name: str, uid: str, block: bool = False) -> OwnerRef:
    return OwnerRef("v1", "ConfigMap", name, uid, block_owner_deletion=block)


def test_unseen_owner_becomes_a_virtual_node_to_verify() -> None:
    graph = DependencyGraph()
    work = observe(graph, obj("ConfigMap", "child", "c1", "a", cm_ref("owner", "o1")))
    assert work.delete == ["o1"]
    owner = graph.nodes["o1"]
    assert owner.virtual and owner.dependents == {"c1"}
    assert owner.identity == Identity("v1", "ConfigMap", "a", "owner", "o1")
    # Observing the owner makes the node real; nothing more to do.
    work = observe(graph, obj("ConfigMap", "owner", "o1"))
    assert not graph.nodes["o1"].virtual and work.delete == [] and work.invalid == []


def test_deleted_owner_queues_its_dependents_and_is_remembered_absent() -> None:
    graph = DependencyGraph()
    owner = obj("ConfigMap", "owner", "o1")
    observe(graph, owner)
    observe(graph, obj("ConfigMap", "child", "c1", "a", cm_ref("owner", "o1")))
    work = graph.remove(ident(owner))
    assert work.delete == ["c1"]
    assert "o1" not in graph.nodes
    assert graph.known_absent(ident(owner))


def test_foreground_deletion_queues_dependents_and_the_owner_once() -> None:
    graph = DependencyGraph()
    owner = obj("ConfigMap", "owner", "o1")
    observe(graph, owner)
    observe(graph, obj("ConfigMap", "child", "c1", "a", cm_ref("owner", "o1", block=True)))
    terminating = obj("ConfigMap", "owner", "o1", deleting=True,
                      finalizers=("foregroundDeletion",))
    work = observe(graph, terminating, owner)
    assert sorted(work.delete) == ["c1", "o1"]
    assert graph.nodes["o1"].deleting_dependents
    assert [d.identity.uid for d in graph.blocking_dependents(graph.nodes["o1"])] == ["c1"]
    # A later update of the same terminating owner is no new transition.
    assert observe(graph, terminating, terminating).delete == []


def test_orphan_finalizer_queues_the_owner_for_orphaning() -> None:
    graph = DependencyGraph()
    owner = obj("ConfigMap", "owner", "o1")
    observe(graph, owner)
    work = observe(graph, obj("ConfigMap", "owner", "o1", deleting=True,
                              finalizers=("orphan",)), owner)
    assert work.orphan == ["o1"] and work.delete == []


def test_dropping_a_blocking_reference_wakes_the_waiting_owner() -> None:
    graph = DependencyGraph()
    observe(graph, obj("ConfigMap", "owner", "o1", deleting=True,
                       finalizers=("foregroundDeletion",)))
    child = obj("ConfigMap", "child", "c1", "a", cm_ref("owner", "o1", block=True))
    observe(graph, child)
    unblocked = obj("ConfigMap", "child", "c1", "a", cm_ref("owner", "o1", block=False))
    assert observe(graph, unblocked, child).delete == ["o1"]
    assert graph.blocking_dependents(graph.nodes["o1"]) == []
    released = obj("ConfigMap", "child", "c1", "a")
    observe(graph, released, unblocked)
    assert graph.nodes["o1"].dependents == set()


def test_deleted_dependent_wakes_an_owner_deleting_dependents() -> None:
    graph = DependencyGraph()
    observe(graph, obj("ConfigMap", "owner", "o1", deleting=True,
                       finalizers=("foregroundDeletion",)))
    child = obj("ConfigMap", "child", "c1", "a", cm_ref("owner", "o1", block=True))
    observe(graph, child)
    assert graph.remove(ident(child)).delete == ["o1"]


def test_owner_in_another_namespace_is_reported_and_the_dependent_checked() -> None:
    graph = DependencyGraph()
    observe(graph, obj("ConfigMap", "owner", "o1", "a"))
    work = observe(graph, obj("ConfigMap", "child", "c1", "b", cm_ref("owner", "o1")))
    assert work.delete == ["c1"]
    [(dependent, ref)] = work.invalid
    assert dependent.uid == "c1" and ref.uid == "o1"
    assert invalid_namespace_message(dependent, ref) == (
        'ownerRef [v1/ConfigMap, namespace: b, name: owner, uid: o1] does not exist in '
        'namespace "b"')


def test_dependent_seen_before_its_cross_namespace_owner_is_reported_on_observation() -> None:
    graph = DependencyGraph()
    observe(graph, obj("ConfigMap", "child", "c1", "b", cm_ref("owner", "o1")))
    work = observe(graph, obj("ConfigMap", "owner", "o1", "a"))
    assert work.delete == ["c1"]
    assert [d.uid for d, _ in work.invalid] == ["c1"]


def test_virtual_delete_drops_the_node_and_queues_dependents() -> None:
    graph = DependencyGraph()
    observe(graph, obj("ConfigMap", "child", "c1", "a", cm_ref("owner", "o1")))
    virtual = graph.nodes["o1"].identity
    work = graph.virtual_delete(virtual)
    assert work.delete == ["c1"] and "o1" not in graph.nodes


def test_virtual_delete_under_other_coordinates_tries_the_alternative() -> None:
    graph = DependencyGraph()
    observe(graph, obj("ConfigMap", "one", "c1", "a", cm_ref("owner", "o1")))
    observe(graph, obj("ConfigMap", "two", "c2", "a",
                       OwnerRef("v1", "Secret", "owner", "o1")))
    first = graph.nodes["o1"].identity
    work = graph.virtual_delete(first)
    # Only the dependent that named the owner this way is judged now; the node stays
    # under the other identity, to be checked again.
    assert work.delete == ["c1"]
    assert graph.nodes["o1"].identity.kind == "Secret"
    assert work.retry == ["o1"]


def test_discovery_keeps_preferred_deletable_resources_and_skips_events() -> None:
    lists = {
        "v1": [
            {"name": "pods", "namespaced": True, "kind": "Pod",
             "verbs": ["create", "delete", "deletecollection", "get", "list", "watch"]},
            {"name": "pods/status", "namespaced": True, "kind": "Pod", "verbs": ["get"]},
            {"name": "events", "namespaced": True, "kind": "Event",
             "verbs": ["delete", "list", "watch"]},
            {"name": "bindings", "namespaced": True, "kind": "Binding", "verbs": ["create"]},
        ],
        "example.com/v2": [{"name": "things", "namespaced": False, "kind": "Thing",
                            "verbs": ["delete", "list", "watch"]}],
        "example.com/v1": [{"name": "things", "namespaced": False, "kind": "Thing",
                            "verbs": ["delete", "list", "watch"]}],
    }
    found = deletable_resources({"": "v1", "example.com": "example.com/v2"}, lists)
    assert sorted(found.deletable) == [("", "v1", "pods"), ("example.com", "v2", "things")]
    # Every served version can still be reached by kind (owner references name any).
    assert found.kinds[("example.com", "v1", "Thing")].plural == "things"
    assert found.kinds[("", "v1", "Binding")].plural == "bindings"


async def test_reference_to_an_unknown_kind_waits_for_discovery_quietly() -> None:
    from kubeedge.controllers.garbagecollector import GarbageCollector

    gc = GarbageCollector(object())  # type: ignore[arg-type]  # no request is made
    observe(gc.graph, obj("ConfigMap", "child", "c1", "a",
                          OwnerRef("example.com/v1", "Widget", "w", "w1")))
    await gc.reconcile("delete/w1")  # the kind is not discovered: no error, parked
    assert gc._unmapped == {"delete/w1"}
    gc.queue.shutdown()


async def test_own_retries_back_off_exponentially() -> None:
    from kubeedge.controllers.garbagecollector import GarbageCollector

    gc = GarbageCollector(object())  # type: ignore[arg-type]
    delays: list[float] = []
    gc.queue.add_after = lambda key, delay: delays.append(delay)  # type: ignore[method-assign]
    for _ in range(4):
        gc._retry_later("delete/x")
    assert delays == [0.005, 0.01, 0.02, 0.04]
