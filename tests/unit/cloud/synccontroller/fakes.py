"""An in-memory stand-in for the slice of the API the ledger writes through: creates
drop `.status` and status updates check `metadata.resourceVersion`, as the real API
server does for a CRD with the status subresource (the integration tests in
tests/integration/cloud/test_synccontroller.py hold the real thing to the same)."""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

from kubeedge.client.errors import APIError
from kubeedge.client.resources import ResourceRef

Key = tuple[str, str | None, str]


def _error(code: int, reason: str, message: str) -> APIError:
    return APIError({"kind": "Status", "code": code, "reason": reason, "message": message})


class FakeSyncAPI:
    def __init__(self) -> None:
        self.objects: dict[Key, dict[str, Any]] = {}
        self.calls: list[tuple[str, str]] = []  # (verb, name)
        self.revision = 100
        self.fail_next: list[APIError] = []

    def _key(self, ref: ResourceRef, name: str, namespace: str | None) -> Key:
        return (ref.plural, namespace if ref.namespaced else None, name)

    def _bump(self, obj: dict[str, Any]) -> dict[str, Any]:
        self.revision += 1
        obj["metadata"]["resourceVersion"] = str(self.revision)
        return copy.deepcopy(obj)

    def _maybe_fail(self) -> None:
        if self.fail_next:
            raise self.fail_next.pop(0)

    def put(self, ref: ResourceRef, obj: dict[str, Any]) -> dict[str, Any]:
        """Store an object directly (another writer)."""
        meta = obj["metadata"]
        stored = copy.deepcopy(obj)
        self.objects[self._key(ref, meta["name"], meta.get("namespace"))] = stored
        return self._bump(stored)

    def stored(self, ref: ResourceRef, name: str,
               namespace: str | None = None) -> dict[str, Any] | None:
        return self.objects.get(self._key(ref, name, namespace))

    @property
    def writes(self) -> list[tuple[str, str]]:
        return [call for call in self.calls if call[0] != "get"]

    async def get(self, ref: ResourceRef, name: str,
                  namespace: str | None = None) -> dict[str, Any]:
        self.calls.append(("get", name))
        obj = self.objects.get(self._key(ref, name, namespace))
        if obj is None:
            raise _error(404, "NotFound", f'{ref.plural} "{name}" not found')
        return copy.deepcopy(obj)

    async def create(self, ref: ResourceRef, obj: Mapping[str, Any],
                     namespace: str | None = None) -> dict[str, Any]:
        name = obj["metadata"]["name"]
        self.calls.append(("create", name))
        self._maybe_fail()
        key = self._key(ref, name, namespace)
        if key in self.objects:
            raise _error(409, "AlreadyExists", f'{ref.plural} "{name}" already exists')
        stored = copy.deepcopy(dict(obj))
        stored.pop("status", None)
        self.objects[key] = stored
        return self._bump(stored)

    async def update_status(self, ref: ResourceRef, obj: Mapping[str, Any],
                            namespace: str | None = None) -> dict[str, Any]:
        name = obj["metadata"]["name"]
        self.calls.append(("update_status", name))
        self._maybe_fail()
        stored = self.objects.get(self._key(ref, name, namespace))
        if stored is None:
            raise _error(404, "NotFound", f'{ref.plural} "{name}" not found')
        wanted = obj["metadata"].get("resourceVersion")
        if wanted and wanted != stored["metadata"]["resourceVersion"]:
            raise _error(409, "Conflict", "the object has been modified")
        stored["status"] = copy.deepcopy(obj.get("status"))
        return self._bump(stored)

    async def delete(self, ref: ResourceRef, name: str, namespace: str | None = None, *,
                     grace_period_seconds: int | None = None) -> dict[str, Any]:
        self.calls.append(("delete", name))
        self._maybe_fail()
        if self.objects.pop(self._key(ref, name, namespace), None) is None:
            raise _error(404, "NotFound", f'{ref.plural} "{name}" not found')
        return {"kind": "Status", "status": "Success"}
