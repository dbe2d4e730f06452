"""A small in-process Kubernetes API for unit tests of `kubeedge.client`.

Served over real HTTP on loopback by aiohttp's test server, so the client under test
runs its real code path (the HTTP seam, STYLE.md). It keeps objects per resource, a
global revision, an event log for watches, compaction (watching from a compacted
revision is 410, as an ERROR event or as the HTTP status), paged lists, bookmarks,
equality label selectors and injected failures. Every behaviour used here is also
checked against our real API server in tests/integration/client/.
"""

from __future__ import annotations

import asyncio
import copy
import uuid
from dataclasses import dataclass, field
from typing import Any

import orjson
from aiohttp import web
from aiohttp.test_utils import TestServer

Obj = dict[str, Any]

# (apiVersion, plural, kind, namespaced)
RESOURCES = [
    ("v1", "configmaps", "ConfigMap", True),
    ("v1", "pods", "Pod", True),
    ("v1", "namespaces", "Namespace", False),
    ("apps/v1", "deployments", "Deployment", True),
    ("example.com/v1", "widgets", "Widget", True),
]


def status(code: int, reason: str, message: str) -> Obj:
    return {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": message,
        "reason": reason,
        "code": code,
    }


def fail(
    code: int, reason: str, message: str, headers: dict[str, str] | None = None
) -> web.Response:
    return web.json_response(
        status(code, reason, message),
        status=code,
        headers=headers,
        dumps=lambda o: orjson.dumps(o).decode(),
    )


@dataclass
class Event:
    revision: int
    type: str
    collection: tuple[str, str]  # (apiVersion, plural)
    obj: Obj
    prev: Obj | None


@dataclass
class Watcher:
    collection: tuple[str, str]
    namespace: str
    labels: dict[str, str]
    bookmarks: bool
    queue: asyncio.Queue[Event | str | None] = field(default_factory=asyncio.Queue)


def parse_labels(raw: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for part in filter(None, raw.split(",")):
        key, _, value = part.partition("=")
        out[key] = value.lstrip("=")
    return out


def matches(obj: Obj, namespace: str, labels: dict[str, str]) -> bool:
    md = obj.get("metadata") or {}
    if namespace and md.get("namespace") != namespace:
        return False
    have = md.get("labels") or {}
    return all(have.get(k) == v for k, v in labels.items())


class FakeAPI:
    def __init__(self) -> None:
        self.revision = 100
        self.objects: dict[tuple[str, str], dict[tuple[str, str], Obj]] = {
            (av, plural): {} for av, plural, _, _ in RESOURCES
        }
        self.log: list[Event] = []
        self.compacted = 0
        # "event": a watch from a compacted revision gets an ERROR event (what our
        # server and kube-apiserver's watch cache do); "http": the request gets HTTP 410.
        self.expiry_mode = "event"
        self.watchers: list[Watcher] = []
        self.requests: list[tuple[str, str, dict[str, str], bytes, str]] = []
        self.headers: list[dict[str, str]] = []
        # While True, changes are stored but leave no history and reach no watcher: the
        # informer misses them, as it would across a compaction it did not see.
        self.quiet = False
        self.failures: list[tuple[str, int, str, dict[str, str]]] = []
        self.chunk_size = 0
        self.app = web.Application()
        self.app.router.add_route("*", "/{tail:.*}", self.handle)
        self.server: TestServer | None = None

    @property
    def url(self) -> str:
        assert self.server is not None
        return str(self.server.make_url("")).rstrip("/")

    async def start(self) -> FakeAPI:
        self.server = TestServer(self.app)
        await self.server.start_server()
        return self

    async def stop(self) -> None:
        self.close_watches()
        if self.server is not None:
            await self.server.close()

    # -- test controls -----------------------------------------------------------------

    def fail_next(
        self, method: str, code: int, reason: str = "", headers: dict[str, str] | None = None
    ) -> None:
        """The next `method` request is answered with `code` (once)."""
        self.failures.append((method, code, reason, headers or {}))

    def close_watches(self) -> None:
        """End every open watch stream cleanly, as a server-side timeout does."""
        for watcher in self.watchers:
            watcher.queue.put_nowait(None)

    def bookmark(self) -> None:
        for watcher in self.watchers:
            if watcher.bookmarks:
                watcher.queue.put_nowait("BOOKMARK")

    def compact(self) -> None:
        """Forget all history up to the current revision."""
        self.compacted = self.revision
        self.log.clear()

    def requests_to(self, method: str, path: str) -> list[dict[str, str]]:
        return [q for m, p, q, _, _ in self.requests if m == method and p == path]

    def put(self, api_version: str, plural: str, obj: Obj) -> Obj:
        """Create or replace an object directly (as another client would)."""
        obj = copy.deepcopy(obj)
        md = obj.setdefault("metadata", {})
        kind = next(k for av, p, k, _ in RESOURCES if (av, p) == (api_version, plural))
        obj["apiVersion"], obj["kind"] = api_version, kind
        items = self.objects[(api_version, plural)]
        key = (md.get("namespace") or "", md["name"])
        prev = items.get(key)
        md.setdefault("uid", (prev or {}).get("metadata", {}).get("uid") or str(uuid.uuid4()))
        if prev is not None:
            md["resourceVersion"] = prev["metadata"]["resourceVersion"]
            if obj == prev:
                return copy.deepcopy(prev)  # a no-op write changes nothing, as on the server
        self.revision += 1
        md["resourceVersion"] = str(self.revision)
        items[key] = obj
        self._emit("MODIFIED" if prev else "ADDED", (api_version, plural), obj, prev)
        return copy.deepcopy(obj)

    def remove(self, api_version: str, plural: str, namespace: str, name: str) -> Obj | None:
        prev = self.objects[(api_version, plural)].pop((namespace, name), None)
        if prev is None:
            return None
        self.revision += 1
        gone = copy.deepcopy(prev)
        gone["metadata"]["resourceVersion"] = str(self.revision)
        self._emit("DELETED", (api_version, plural), gone, prev)
        return gone

    def _emit(self, kind: str, collection: tuple[str, str], obj: Obj, prev: Obj | None) -> None:
        if self.quiet:
            return
        event = Event(self.revision, kind, collection, copy.deepcopy(obj), prev)
        self.log.append(event)
        for watcher in self.watchers:
            if watcher.collection == collection:
                watcher.queue.put_nowait(event)

    # -- HTTP ------------------------------------------------------------------------

    async def handle(self, request: web.Request) -> web.StreamResponse:
        body = await request.read()
        self.requests.append(
            (
                request.method,
                request.path,
                dict(request.query),
                body,
                request.headers.get("Content-Type", ""),
            )
        )
        self.headers.append(dict(request.headers))
        for i, (method, code, reason, headers) in enumerate(self.failures):
            if method == request.method:
                del self.failures[i]
                return fail(code, reason or "InternalError", f"injected {code}", headers)
        parts = [p for p in request.path.split("/") if p]
        if parts == ["api"]:
            return web.json_response({"kind": "APIVersions", "versions": ["v1"]})
        if parts == ["apis"]:
            groups = sorted({av for av, *_ in RESOURCES if "/" in av})
            return web.json_response(
                {
                    "kind": "APIGroupList",
                    "groups": [
                        {
                            "name": gv.split("/")[0],
                            "versions": [{"groupVersion": gv}],
                            "preferredVersion": {"groupVersion": gv},
                        }
                        for gv in groups
                    ],
                }
            )
        if parts and parts[0] == "api":
            api_version, rest = parts[1], parts[2:]
        elif len(parts) >= 3 and parts[0] == "apis":
            api_version, rest = f"{parts[1]}/{parts[2]}", parts[3:]
        else:
            return fail(404, "NotFound", "the server could not find the requested resource")
        if not rest:
            return web.json_response(
                {
                    "kind": "APIResourceList",
                    "groupVersion": api_version,
                    "resources": [
                        {
                            "name": p,
                            "kind": k,
                            "namespaced": ns,
                            "singularName": k.lower(),
                            "verbs": [
                                "get",
                                "list",
                                "watch",
                                "create",
                                "update",
                                "patch",
                                "delete",
                            ],
                        }
                        for av, p, k, ns in RESOURCES
                        if av == api_version
                    ],
                }
            )
        namespace = ""
        if rest[0] == "namespaces" and len(rest) >= 3:
            namespace, rest = rest[1], rest[2:]
        plural, name, sub = (
            rest[0],
            (rest[1] if len(rest) > 1 else ""),
            (rest[2] if len(rest) > 2 else ""),
        )
        collection = (api_version, plural)
        if collection not in self.objects:
            return fail(404, "NotFound", "the server could not find the requested resource")
        q = request.query
        if request.method == "GET" and not name:
            if q.get("watch") in ("true", "1", "True"):
                return await self.watch(request, collection, namespace)
            return self.list(collection, namespace, q)
        items = self.objects[collection]
        if request.method == "GET":
            obj = items.get((namespace, name))
            if obj is None:
                return fail(404, "NotFound", f'{plural} "{name}" not found')
            return web.json_response(obj)
        data = orjson.loads(body) if body else {}
        if request.method == "POST":
            md = data.setdefault("metadata", {})
            md["namespace"] = namespace or md.get("namespace", "")
            if not md["namespace"]:
                md.pop("namespace")
            if (namespace, md["name"]) in items:
                return fail(409, "AlreadyExists", f'{plural} "{md["name"]}" already exists')
            return web.json_response(self.put(api_version, plural, data), status=201)
        current = items.get((namespace, name))
        if current is None:
            return fail(404, "NotFound", f'{plural} "{name}" not found')
        if request.method == "PUT":
            sent_rv = (data.get("metadata") or {}).get("resourceVersion")
            if sent_rv != current["metadata"]["resourceVersion"]:
                return fail(
                    409,
                    "Conflict",
                    f"Operation cannot be fulfilled on {plural} "
                    f'"{name}": the object has been modified',
                )
            if sub == "status":
                new = copy.deepcopy(current)
                new["status"] = data.get("status")
            else:
                new = data
                if "status" in current:
                    new["status"] = current["status"]
            new["metadata"]["namespace"] = namespace
            if not namespace:
                new["metadata"].pop("namespace")
            return web.json_response(self.put(api_version, plural, new))
        if request.method == "PATCH":
            new = copy.deepcopy(current)
            if isinstance(data, dict):
                merge(new, data)
            return web.json_response(self.put(api_version, plural, new))
        if request.method == "DELETE":
            pre = data.get("preconditions") or {}
            if (
                pre.get("resourceVersion")
                and pre["resourceVersion"] != current["metadata"]["resourceVersion"]
            ):
                return fail(409, "Conflict", "Precondition failed: ResourceVersion")
            self.remove(api_version, plural, namespace, name)
            return web.json_response(
                {
                    "kind": "Status",
                    "apiVersion": "v1",
                    "metadata": {},
                    "status": "Success",
                    "details": {"name": name},
                }
            )
        return fail(405, "MethodNotAllowed", "method not allowed")

    def list(self, collection: tuple[str, str], namespace: str, q: Any) -> web.Response:
        labels = parse_labels(q.get("labelSelector", ""))
        items = [
            o for _, o in sorted(self.objects[collection].items()) if matches(o, namespace, labels)
        ]
        start = 0
        token = q.get("continue", "")
        if token:
            rv, _, offset = token.partition(":")
            if int(rv) <= self.compacted:
                return fail(410, "Expired", "The provided continue parameter is too old")
            start = int(offset)
        limit = int(q.get("limit", "0") or 0)
        metadata: Obj = {"resourceVersion": str(self.revision)}
        page = items[start:]
        if limit and len(page) > limit:
            page = page[:limit]
            metadata["continue"] = f"{self.revision}:{start + limit}"
            metadata["remainingItemCount"] = len(items) - start - limit
        kind = next(k for av, p, k, _ in RESOURCES if (av, p) == collection)
        # Like kube-apiserver, list items carry no apiVersion/kind.
        bare = [{k: v for k, v in o.items() if k not in ("apiVersion", "kind")} for o in page]
        return web.json_response(
            {
                "kind": f"{kind}List",
                "apiVersion": collection[0],
                "metadata": metadata,
                "items": bare,
            }
        )

    async def watch(
        self, request: web.Request, collection: tuple[str, str], namespace: str
    ) -> web.StreamResponse:
        q = request.query
        rv = int(q.get("resourceVersion") or 0)
        labels = parse_labels(q.get("labelSelector", ""))
        expired = 0 < rv < self.compacted
        if expired and self.expiry_mode == "http":
            return fail(410, "Expired", f"too old resource version: {rv} ({self.compacted})")
        watcher = Watcher(
            collection, namespace, labels, q.get("allowWatchBookmarks") in ("true", "1", "True")
        )
        resp = web.StreamResponse(headers={"Content-Type": "application/json"})
        resp.enable_chunked_encoding()
        await resp.prepare(request)

        async def send(kind: str, obj: Obj) -> None:
            line = orjson.dumps({"type": kind, "object": obj}) + b"\n"
            step = self.chunk_size or len(line)
            for i in range(0, len(line), step):
                await resp.write(line[i : i + step])

        if expired:
            await send(
                "ERROR",
                status(410, "Expired", f"too old resource version: {rv} ({self.compacted})"),
            )
            await resp.write_eof()
            return resp
        self.watchers.append(watcher)
        try:
            if rv == 0:
                for obj in sorted(
                    self.objects[collection].values(),
                    key=lambda o: int(o["metadata"]["resourceVersion"]),
                ):
                    if matches(obj, namespace, labels):
                        await send("ADDED", obj)
            else:
                for event in [e for e in self.log if e.revision > rv]:
                    if event.collection == collection:
                        await self._send_event(send, watcher, event)
            while True:
                item = await watcher.queue.get()
                if item is None:
                    break
                if item == "BOOKMARK":
                    kind = next(k for av, p, k, _ in RESOURCES if (av, p) == collection)
                    await send(
                        "BOOKMARK",
                        {
                            "kind": kind,
                            "apiVersion": collection[0],
                            "metadata": {"resourceVersion": str(self.revision)},
                        },
                    )
                    continue
                assert isinstance(item, Event)
                if item.revision > rv:
                    await self._send_event(send, watcher, item)
            await resp.write_eof()
        except (ConnectionResetError, asyncio.CancelledError):
            pass
        finally:
            self.watchers.remove(watcher)
        return resp

    @staticmethod
    async def _send_event(send: Any, watcher: Watcher, event: Event) -> None:
        now = matches(event.obj, watcher.namespace, watcher.labels)
        was = event.prev is not None and matches(event.prev, watcher.namespace, watcher.labels)
        if event.type == "DELETED":
            if was:
                await send("DELETED", event.obj)
        elif now and was:
            await send("MODIFIED", event.obj)
        elif now:
            await send("ADDED", event.obj)
        elif was:
            await send("DELETED", event.obj)


def merge(target: Obj, patch: Obj) -> None:
    for key, value in patch.items():
        if value is None:
            target.pop(key, None)
        elif isinstance(value, dict) and isinstance(target.get(key), dict):
            merge(target[key], value)
        else:
            target[key] = copy.deepcopy(value)
