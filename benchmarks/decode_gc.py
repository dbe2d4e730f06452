"""How much of the API server's decode time is Python's cyclic garbage collector.

    .venv/bin/python benchmarks/decode_gc.py

A list of 10,000 pods decodes every stored value into dicts (`objects.decode`) and keeps
them until the response is built. Those allocations trigger the cyclic GC, whose older
generations walk every live container in the process, and the API server keeps many: its
pod cache (`PodsByNode`) holds every pod as dicts. This decodes 10,000 pods, as stored
with their defaults and managedFields, beside 10,000 pods already held, with the GC as it
is, with a higher first-generation threshold, with the held objects frozen
(`gc.freeze()`), and with the GC off (the floor). Prints ms per 10,000 and ratios; ~15 s.
"""

from __future__ import annotations

import gc
import statistics
import sys
import time
from collections.abc import Callable
from typing import Any

import orjson

from kubeedge.apiserver.objects import decode

PODS = 10_000
RUNS = 5
# A pod as the API server stores it (defaults, status and managedFields filled in).
STORED_POD: dict[str, Any] = {
    "apiVersion": "v1", "kind": "Pod",
    "metadata": {
        "name": "pod-00000", "labels": {"app": "bench", "tier": "load"}, "namespace": "bench",
        "uid": "22284d6d-a672-495f-8772-245c41952dc7",
        "creationTimestamp": "2026-01-01T00:00:00Z", "generation": 1,
        "managedFields": [{
            "manager": "Python", "operation": "Update", "apiVersion": "v1",
            "time": "2026-01-01T00:00:00Z", "fieldsType": "FieldsV1",
            "fieldsV1": {"f:metadata": {"f:labels": {".": {}, "f:app": {}, "f:tier": {}}},
                         "f:spec": {"f:containers": {'k:{"name":"main"}': {
                             ".": {}, "f:command": {}, "f:image": {}, "f:name": {}}}}}}],
    },
    "spec": {
        "containers": [{"name": "main", "image": "busybox:1.36", "command": ["sleep", "3600"],
                        "imagePullPolicy": "IfNotPresent",
                        "terminationMessagePath": "/dev/termination-log",
                        "terminationMessagePolicy": "File", "resources": {}}],
        "dnsPolicy": "ClusterFirst", "restartPolicy": "Always", "securityContext": {},
        "terminationGracePeriodSeconds": 30, "schedulerName": "default-scheduler",
        "enableServiceLinks": True, "serviceAccountName": "default",
        "serviceAccount": "default", "priority": 0,
        "preemptionPolicy": "PreemptLowerPriority",
        "tolerations": [
            {"key": "node.kubernetes.io/not-ready", "operator": "Exists",
             "effect": "NoExecute", "tolerationSeconds": 300},
            {"key": "node.kubernetes.io/unreachable", "operator": "Exists",
             "effect": "NoExecute", "tolerationSeconds": 300}],
    },
    "status": {"phase": "Pending", "qosClass": "BestEffort"},
}


def values() -> list[bytes]:
    out = []
    for i in range(PODS):
        pod = {**STORED_POD, "metadata": {**STORED_POD["metadata"], "name": f"pod-{i:05d}"}}
        out.append(orjson.dumps(pod))
    return out


def timed(stored: list[bytes], setup: Callable[[], None]) -> float:
    """Median ms to decode every value, keeping the results as a list response does."""
    samples = []
    for _ in range(RUNS):
        setup()
        start = time.perf_counter()
        items = [decode(v, i) for i, v in enumerate(stored)]
        samples.append((time.perf_counter() - start) * 1000)
        del items
        gc.enable()
        gc.unfreeze()
        gc.set_threshold(*DEFAULT_THRESHOLD)
    return statistics.median(samples)


DEFAULT_THRESHOLD = gc.get_threshold()


def main() -> int:
    stored = values()
    held = [decode(v, i) for i, v in enumerate(stored)]  # the server's pod cache
    gc.collect()
    cases: dict[str, Callable[[], None]] = {
        f"GC as it is {DEFAULT_THRESHOLD}": lambda: None,
        "gen0 threshold 50,000": lambda: gc.set_threshold(50_000, 20, 20),
        "held objects frozen (gc.freeze)": gc.freeze,
        "GC off (the floor)": gc.disable,
    }
    results = {name: timed(stored, setup) for name, setup in cases.items()}
    print(f"decode {PODS:,} stored pods ({len(stored[0]):,} bytes each) beside {len(held):,} "
          f"held pods, median of {RUNS} runs (Python {sys.version.split()[0]}):")
    floor = results["GC off (the floor)"]
    for name, ms in results.items():
        print(f"  {name:<36} {ms:7.0f} ms  {ms / PODS * 1000:5.1f} us/pod  "
              f"{ms / floor:4.1f}x the floor")
    return 0


if __name__ == "__main__":
    sys.exit(main())
