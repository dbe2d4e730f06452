"""The event recorder against the real API server and kubectl: events land as core/v1
Events that `kubectl describe` shows, and repeats are counted, not duplicated."""

from __future__ import annotations

from kubeedge.client.events import EVENTS, EventRecorder
from kubeedge.client.resources import Resource
from kubeedge.client.rest import APIClient
from tests.fixtures.cluster import Cloud

CM = Resource.of("v1", "configmaps")


async def test_repeats_bump_count_and_kubectl_describe_shows_them(
        cloud: Cloud, api: APIClient, ns: str) -> None:
    obj = await api.create(CM, {"metadata": {"name": "subject"}}, ns)
    obj.setdefault("apiVersion", "v1")
    obj.setdefault("kind", "ConfigMap")
    recorder = EventRecorder(api, "test-controller", host="node-a")
    recorder.event(obj, "Normal", "Synced", "synced once")
    recorder.event(obj, "Normal", "Synced", "synced once")
    recorder.event(obj, "Warning", "Failed", "could not sync: boom")
    await recorder.flush()
    await recorder.stop()
    events = (await api.list(EVENTS, ns))["items"]
    by_reason = {e["reason"]: e for e in events}
    assert set(by_reason) == {"Synced", "Failed"}
    assert by_reason["Synced"]["count"] == 2
    assert by_reason["Synced"]["source"] == {"component": "test-controller", "host": "node-a"}
    involved = by_reason["Failed"]["involvedObject"]
    assert (involved["kind"], involved["name"], involved["uid"]) == (
        "ConfigMap", "subject", obj["metadata"]["uid"])
    described = cloud.kubectl("describe", "configmap", "subject", "-n", ns).stdout
    assert "could not sync: boom" in described
    assert "test-controller" in described
