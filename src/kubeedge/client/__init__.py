"""The client side of the Kubernetes API: the only way our components reach it.

`rest` (APIClient, ResourceRef, APIError), `informer` (Informer, ObjectCache),
`workqueue` (RateLimitingQueue), `kubeconfig`, `clock`. Names are exported lazily so
`from kubeedge.client import kubeconfig` does not pull in aiohttp.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "APIClient": "rest",
    "RetryPolicy": "rest",
    "WatchEvent": "rest",
    "WatchStream": "rest",
    "APIError": "errors",
    "APIConnectionError": "errors",
    "Resource": "resources",
    "ResourceRef": "resources",
    "Informer": "informer",
    "ObjectCache": "informer",
    "object_key": "informer",
    "split_key": "informer",
    "WorkQueue": "workqueue",
    "RateLimitingQueue": "workqueue",
    "Clock": "clock",
    "FakeClock": "clock",
    "RealClock": "clock",
    "TokenBucket": "ratelimit",
    "Backoff": "ratelimit",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value
