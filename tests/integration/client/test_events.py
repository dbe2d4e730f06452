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


async def test_one_object_gets_a_burst_of_events_then_few(api: APIClient, ns: str) -> None:
    """client-go's spam filter: a controller creating thousands of pods for one owner
    records 25 events about it, not thousands."""
    from kubeedge.client.clock import FakeClock

    obj = await api.create(CM, {"metadata": {"name": "busy"}}, ns)
    obj.update(apiVersion="v1", kind="ConfigMap")
    clock = FakeClock()
    recorder = EventRecorder(api, "spammy", clock=clock)
    for i in range(40):
        recorder.event(obj, "Normal", "SuccessfulCreate", f"Created pod: p{i}")
    await clock.advance(300)  # five minutes buy one more
    recorder.event(obj, "Normal", "SuccessfulCreate", "Created pod: late")
    await recorder.flush()
    await recorder.stop()
    messages = {e["message"] for e in (await api.list(EVENTS, ns))["items"]}
    assert len(messages) == 26 and "Created pod: late" in messages
    assert recorder.filtered == 15
