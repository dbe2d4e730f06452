"""REST verbs on resources: get, list, watch, create, update, patch, delete,
deletecollection, and the subresources status, scale and binding.

Each verb follows kube-apiserver's semantics as recorded in specs/k8s-api.md §3-§6.
This module turns requests into ObjectStore calls; it never parses URLs (request.py),
authenticates (auth.py) or knows a storage backend.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import logging
import random
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, replace
from typing import Any

import orjson
import yaml
from aiohttp import web
from multidict import MultiDict

from kubeedge.api import errors, managedfields, meta
from kubeedge.api.protobuf import decode_request
from kubeedge.api.registry import Registry, ResourceType
from kubeedge.api.selectors import LabelSelector
from kubeedge.apiserver import strategy
from kubeedge.apiserver.objects import Change, ObjectStore, too_large_resource_version
from kubeedge.apiserver.request import (
    RequestInfo,
    WriteOptions,
    delete_options,
    flag,
    integer,
    resource_version,
    write_options,
)
from kubeedge.apiserver.schemas import ObjectSchemas
from kubeedge.apiserver.selection import Selection
from kubeedge.apiserver.serviceips import IPChange, ServiceIPs
from kubeedge.apiserver.tables import TableRenderer

log = logging.getLogger(__name__)

JSON = "application/json"
YAML_TYPES = ("application/yaml", "application/x-yaml", "text/yaml")
PROTOBUF = "application/vnd.kubernetes.protobuf"
MERGE_PATCH = "application/merge-patch+json"
JSON_PATCH = "application/json-patch+json"
STRATEGIC_PATCH = "application/strategic-merge-patch+json"
APPLY_PATCH = "application/apply-patch+yaml"
TABLE_CONTENT_TYPE = "application/json;as=Table;v=v1;g=meta.k8s.io"


# A larger limit means "everything" in practice; the cap keeps it within storage's
# integer range.
MAX_LIST_LIMIT = 2**31 - 1
# Answers larger than this are streamed, in chunks of STREAM_CHUNK_BYTES.
STREAM_THRESHOLD_BYTES = 256 * 1024
STREAM_CHUNK_BYTES = 256 * 1024
# Events one watch may hold for a slow client before it stops reading the store.
MAX_PENDING_EVENTS = 1000
# How often an idle watch checks that its client is still connected.
CLIENT_CHECK_SECONDS = 5.0


def _client_gone(request: web.Request) -> bool:
    transport = request.transport
    return transport is None or transport.is_closing()


def json_response(data: Any, status: int = 200, content_type: str = JSON,
                  headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(
        body=orjson.dumps(data), status=status,
        headers={"Content-Type": content_type, **(headers or {})},
    )


async def stream_json(request: web.Request, data: Any,
                      content_type: str = JSON) -> web.StreamResponse:
    """A large answer (a list) written out in pieces. aiohttp keeps the last Response
    of an idle keep-alive connection alive, body included, so many connections that
    each fetched a big list would pin a copy each; a streamed body is not kept."""
    body = orjson.dumps(data)
    if len(body) < STREAM_THRESHOLD_BYTES:
        return web.Response(body=body, headers={"Content-Type": content_type})
    response = web.StreamResponse(headers={"Content-Type": content_type})
    response.content_length = len(body)
    await response.prepare(request)
    view = memoryview(body)
    for offset in range(0, len(body), STREAM_CHUNK_BYTES):
        await response.write(view[offset:offset + STREAM_CHUNK_BYTES])
    await response.write_eof()
    return response


def media_type(request: web.Request) -> str:
    return (request.headers.get("Content-Type") or "").split(";")[0].strip().lower()


def decode_body(raw: bytes, content_type: str, expected_kind: str | None = None) -> Any:
    """JSON or YAML request bodies; anything unreadable is a 400 (never a 500)."""
    if content_type == PROTOBUF:
        # kubectl's typed clients send protobuf (specs/k8s-api.md §0.3); replies are JSON.
        return decode_request(raw, expected_kind)
    if not raw.strip():
        raise errors.bad_request("the request body is empty: send a JSON or YAML object")
    try:
        if content_type in YAML_TYPES or content_type == APPLY_PATCH:
            return yaml.load(raw.decode("utf-8"), Loader=_NoAliasLoader)
        return orjson.loads(raw)
    except (orjson.JSONDecodeError, UnicodeDecodeError) as exc:
        raise errors.bad_request(f"the request body is not valid JSON: {exc}") from None
    except yaml.YAMLError as exc:
        raise errors.bad_request(f"the request body is not valid YAML: {exc}") from None
    except RecursionError:
        raise errors.bad_request("the request body is nested too deeply") from None


class _NoAliasLoader(yaml.SafeLoader):
    """YAML without anchors and aliases: a few hundred bytes of nested aliases expand
    to gigabytes, and kubectl never sends them (it converts manifests to JSON)."""

    def compose_node(self, parent: Any, index: Any) -> Any:
        if self.check_event(yaml.AliasEvent):
            event = self.peek_event()
            raise yaml.composer.ComposerError(
                None, None, "YAML aliases are not supported", event.start_mark)
        return super().compose_node(parent, index)


def wants_table(request: web.Request) -> bool:
    accept = request.headers.get("Accept", "")
    for part in accept.split(","):
        params = {p.split("=", 1)[0].strip(): p.split("=", 1)[1].strip()
                  for p in part.split(";")[1:] if "=" in p}
        if params.get("as") == "Table" and params.get("g") == "meta.k8s.io":
            return True
        if part.strip().split(";")[0] == JSON and "as" not in params:
            return False
    return False


def check_acceptable(request: web.Request) -> None:
    accept = request.headers.get("Accept", "")
    if not accept:
        return
    for part in accept.split(","):
        mt = part.split(";")[0].strip().lower()
        if mt in ("*/*", "application/*", JSON, "application/yaml", PROTOBUF,
                  "application/json-seq") or mt.startswith("application/json"):
            return
    raise errors.not_acceptable(
        f"only the following media types are accepted: {JSON}, application/yaml"
    )


@dataclass
class Ownership:
    """Whom a write is recorded for in managedFields (specs/k8s-api.md §4): an Update
    entry of `manager` for `subresource`, unless an apply already computed `applied`."""

    manager: str
    subresource: str = ""
    applied: list[dict[str, Any]] | None = None


def field_manager(opts: WriteOptions, request: web.Request | None) -> str:
    """`?fieldManager=`, else the User-Agent's program name as kube derives it; the
    server's own writes are kube-apiserver's."""
    if opts.field_manager:
        return opts.field_manager
    if request is None:
        return "kube-apiserver"
    agent = managedfields.manager_from_user_agent(request.headers.get("User-Agent", ""))
    return agent or "unknown"


def _now() -> str:
    return meta.rfc3339(meta.now())


# Admission: (request, request info, new object or None for a delete, old object or
# None for a create) → raises a StatusError to refuse the write. Runs after defaulting
# and validation, before storage; it may read storage.
Admission = Callable[
    [web.Request, RequestInfo, dict[str, Any] | None, dict[str, Any] | None], Awaitable[None]]
# Connect subresources (pods/log|exec|attach|portforward, nodes/proxy) reach a kubelet:
# apiserver/nodeproxy.py serves them.
Connect = Callable[[web.Request, RequestInfo, ResourceType], Awaitable[web.StreamResponse]]
CONNECT_SUBRESOURCES = frozenset({"log", "exec", "attach", "portforward", "proxy"})


class ResourceHandlers:
    """The REST verbs for every resource the registry knows."""

    def __init__(
        self,
        objects: ObjectStore,
        registry: Registry,
        schemas: ObjectSchemas,
        tables: TableRenderer,
        service_ips: ServiceIPs,
        *,
        min_request_timeout: float,
        bookmark_interval: float,
        on_stored: Callable[[ResourceType, dict[str, Any]], Awaitable[None]] | None = None,
        admit: Admission | None = None,
        namespaces: Mapping[str, dict[str, Any]] | None = None,
        connect: Connect | None = None,
    ) -> None:
        self.objects = objects
        self.registry = registry
        self.schemas = schemas
        self.tables = tables
        self.service_ips = service_ips
        self.min_request_timeout = min_request_timeout
        self.bookmark_interval = bookmark_interval
        self._stopping = asyncio.Event()
        # One per open watch, so stop() can wake them all at once.
        self._wakeups: set[asyncio.Event] = set()
        self.on_stored = on_stored
        self.admit = admit
        self.namespaces = namespaces
        self.connect = connect

    def stop(self) -> None:
        """End open watches (they close cleanly, as on a server restart)."""
        self._stopping.set()
        for wakeup in self._wakeups:
            wakeup.set()

    # -- dispatch -------------------------------------------------------------------

    async def serve(self, request: web.Request, info: RequestInfo,
                    rt: ResourceType) -> web.StreamResponse:
        sub = info.subresource
        if sub not in CONNECT_SUBRESOURCES:
            # Streams and proxied answers are not API objects; kube checks no Accept.
            check_acceptable(request)
        if sub and rt.subresource(sub) is None:
            raise errors.not_found(f"{rt.plural}/{sub}", info.name, rt.group)
        if rt.namespaced and not info.namespace and info.verb not in ("list", "watch"):
            raise errors.not_found(rt.plural, info.name, rt.group)
        if not rt.namespaced and info.namespace and (
                rt.plural != "namespaces" or info.namespace != info.name):
            # Cluster-scoped resources (namespaces included) have no URL under a
            # namespace; only /api/v1/namespaces/<n> names namespace <n> itself.
            raise errors.StatusError(404, "NotFound",
                                     "the server could not find the requested resource", {})
        allowed = rt.subresource(sub).verbs if sub else rt.verbs  # type: ignore[union-attr]
        verb = info.verb
        if verb not in allowed:
            raise errors.method_not_allowed(
                f"the server does not allow this method on the requested resource "
                f"({verb} {rt.qualified}{'/' + sub if sub else ''})"
            )
        if sub in CONNECT_SUBRESOURCES:
            if self.connect is None:
                raise errors.service_unavailable(
                    f"{rt.plural}/{sub} is not served by this API server (no kubelet client)")
            return await self.connect(request, info, rt)
        if sub == "scale":
            return await self.scale(request, info, rt)
        if sub == "binding" or (rt.plural == "bindings" and verb == "create"):
            return await self.bind(request, info, rt)
        if sub == "eviction":
            return await self.evict(request, info, rt)
        if verb == "get":
            return await self.get(request, info, rt)
        if verb == "list":
            return await self.list(request, info, rt)
        if verb == "watch":
            return await self.watch(request, info, rt)
        if verb == "create":
            return await self.create(request, info, rt)
        if verb == "update":
            return await self.update(request, info, rt)
        if verb == "patch":
            return await self.patch(request, info, rt)
        if verb == "delete":
            return await self.delete(request, info, rt)
        if verb == "deletecollection":
            return await self.delete_collection(request, info, rt)
        raise errors.method_not_allowed()

    # -- reads ----------------------------------------------------------------------

    async def get(self, request: web.Request, info: RequestInfo,
                  rt: ResourceType) -> web.StreamResponse:
        resource_version(request.query.get("resourceVersion"))
        obj = await self.objects.get(rt, info.namespace, info.name)
        if info.subresource == "status":
            obj.setdefault("status", {})
        if wants_table(request):
            table = self.tables.render(rt, [obj], request.query.get("includeObject", "Metadata"))
            table["metadata"] = {"resourceVersion": obj["metadata"]["resourceVersion"]}
            return json_response(table, content_type=TABLE_CONTENT_TYPE)
        return json_response(obj)

    async def list(self, request: web.Request, info: RequestInfo,
                   rt: ResourceType) -> web.StreamResponse:
        q = request.query
        selection = Selection.from_query(q, rt)
        limit = integer(q, "limit", 0) or 0
        if limit < 0:
            raise errors.bad_request("limit must be a non-negative integer")
        limit = min(limit, MAX_LIST_LIMIT)
        rv = resource_version(q.get("resourceVersion"))
        match = q.get("resourceVersionMatch", "")
        if match not in ("", "NotOlderThan", "Exact"):
            raise errors.bad_request(
                f'resourceVersionMatch "{match}" is not one of NotOlderThan, Exact'
            )
        if match and rv is None:
            raise errors.bad_request(
                "resourceVersionMatch is forbidden unless resourceVersion is provided"
            )
        continue_token = q.get("continue", "")
        if continue_token and rv not in (None, 0):
            raise errors.bad_request(
                "specifying resource version is not allowed when using continue"
            )
        revision = 0
        if match == "Exact":
            if rv == 0:
                raise errors.bad_request(
                    'resourceVersionMatch "Exact" is forbidden for resourceVersion "0"'
                )
            revision = rv or 0
        elif rv and rv > 0:
            current = await self.objects.current_revision()
            if rv > current:
                raise too_large_resource_version(rv, current)
        namespace = info.namespace or selection.namespace
        page = await self.objects.list(
            rt, namespace or None, limit=limit, continue_token=continue_token,
            revision=revision, match=selection.matcher(rt),
        )
        list_meta: dict[str, Any] = {"resourceVersion": str(page.revision)}
        if page.continue_token:
            list_meta["continue"] = page.continue_token
            if page.remaining is not None:
                list_meta["remainingItemCount"] = page.remaining
        if wants_table(request):
            table = self.tables.render(rt, page.items, q.get("includeObject", "Metadata"))
            table["metadata"] = list_meta
            return await stream_json(request, table, TABLE_CONTENT_TYPE)
        return await stream_json(request, {
            "kind": rt.list_kind, "apiVersion": rt.group_version, "metadata": list_meta,
            "items": page.items,
        })

    async def watch(self, request: web.Request, info: RequestInfo,
                    rt: ResourceType) -> web.StreamResponse:
        """Line-delimited watch events (specs/k8s-api.md §3 Watch)."""
        q = request.query
        selection = Selection.from_query(q, rt)
        matcher = selection.matcher(rt)
        rv = resource_version(q.get("resourceVersion"))
        bookmarks = flag(q, "allowWatchBookmarks")
        send_initial = q.get("sendInitialEvents")
        initial = flag(q, "sendInitialEvents") if send_initial is not None else rv in (None, 0)
        if send_initial is not None and q.get("resourceVersionMatch") != "NotOlderThan":
            raise errors.bad_request(
                "sendInitialEvents requires resourceVersionMatch=NotOlderThan"
            )
        timeout = integer(q, "timeoutSeconds")
        if timeout is None:
            timeout_s = self.min_request_timeout * (1 + random.random())
        else:
            if timeout < 0:
                raise errors.bad_request("timeoutSeconds must be non-negative")
            timeout_s = float(timeout) if timeout else self.min_request_timeout
        as_table = wants_table(request)
        include_object = q.get("includeObject", "Metadata")
        namespace = info.namespace or selection.namespace or None

        # Everything that can fail with a Status happens before the 200 is sent.
        initial_items: list[dict[str, Any]] = []
        current = await self.objects.current_revision()
        if rv and rv > current:
            # A client resuming from a revision this store never reached (e.g. after a
            # reset) must relist rather than wait forever (kube answers the same).
            raise too_large_resource_version(rv, current)
        if initial:
            page = await self.objects.list(rt, namespace, revision=0, match=matcher)
            initial_items = page.items
            start = max(page.revision, rv or 0) + 1
        else:
            start = (rv or current) + 1
        changes = self.objects.watch(rt, namespace, start).__aiter__()

        response = web.StreamResponse(status=200, headers={
            "Content-Type": TABLE_CONTENT_TYPE if as_table else JSON,
            "Cache-Control": "no-cache, private",
        })
        response.enable_chunked_encoding()
        await response.prepare(request)
        headers_sent = False

        def line(event_type: str, obj: dict[str, Any]) -> bytes:
            nonlocal headers_sent
            if as_table and event_type not in ("BOOKMARK", "ERROR"):
                obj = self.tables.render(rt, [obj], include_object, with_headers=not headers_sent)
                headers_sent = True
            return orjson.dumps({"type": event_type, "object": obj}) + b"\n"

        def shared_line(change: Change, event_type: str, obj: dict[str, Any]) -> bytes:
            """Plain JSON lines of a change are the same for every watcher: encode once."""
            if as_table or obj is not change.obj:
                return line(event_type, obj)
            encoded = change.lines.get(event_type)
            if encoded is None:
                encoded = change.lines[event_type] = line(event_type, obj)
            return encoded

        # A pump task turns changes into lines; this handler writes whatever has piled
        # up in one go, so a burst of events costs one TLS record, not one per event.
        pending: list[bytes] = [line("ADDED", item) for item in initial_items]
        if initial and send_initial is not None and bookmarks:
            pending.append(line("BOOKMARK", self._bookmark(rt, start - 1, initial_end=True)))
        wakeup = asyncio.Event()
        drained = asyncio.Event()
        last_revision = start - 1
        ended = False

        async def pump() -> None:
            nonlocal last_revision, ended
            try:
                async for change in changes:
                    last_revision = change.revision
                    event = self._filtered(change, matcher)
                    if event is not None:
                        pending.append(shared_line(change, *event))
                        wakeup.set()
                        # A client reading slower than changes arrive holds the stream
                        # back here, rather than growing this watcher without bound.
                        while len(pending) >= MAX_PENDING_EVENTS:
                            drained.clear()
                            await drained.wait()
            except errors.StatusError as exc:
                pending.append(line("ERROR", exc.to_status()))
            finally:
                ended = True
                wakeup.set()

        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        next_bookmark = loop.time() + self.bookmark_interval
        pump_task = asyncio.create_task(pump())
        self._wakeups.add(wakeup)
        try:
            while True:
                if pending:
                    batch = b"".join(pending)
                    pending.clear()
                    drained.set()
                    await response.write(batch)
                now = loop.time()
                if ended or self._stopping.is_set() or now >= deadline or _client_gone(request):
                    break
                if bookmarks and now >= next_bookmark:
                    await response.write(line("BOOKMARK", self._bookmark(rt, last_revision)))
                    next_bookmark = now + self.bookmark_interval
                if pending:
                    continue
                wakeup.clear()
                wake = min(deadline, next_bookmark if bookmarks else deadline,
                           now + CLIENT_CHECK_SECONDS)
                timer = loop.call_later(max(0.0, wake - now), wakeup.set)
                try:
                    await wakeup.wait()
                finally:
                    timer.cancel()
        except (ConnectionResetError, asyncio.CancelledError):
            pass
        finally:
            self._wakeups.discard(wakeup)
            pump_task.cancel()
            await asyncio.gather(pump_task, return_exceptions=True)
            await changes.aclose()  # type: ignore[attr-defined]
        with contextlib.suppress(ConnectionResetError):
            await response.write_eof()
        return response

    @staticmethod
    def _bookmark(rt: ResourceType, revision: int, initial_end: bool = False) -> dict[str, Any]:
        md: dict[str, Any] = {"resourceVersion": str(revision)}
        if initial_end:
            md["annotations"] = {"k8s.io/initial-events-end": "true"}
        return {"kind": rt.kind, "apiVersion": rt.group_version, "metadata": md}

    @staticmethod
    def _filtered(change: Change,
                  matcher: Callable[[dict[str, Any]], bool] | None) -> tuple[str, dict] | None:
        """Selector-aware events: an object entering the selection is ADDED for this
        watcher; one leaving it is DELETED, carrying its last matching state at the
        change's resourceVersion (kube's cacher does the same)."""
        if matcher is None:
            return change.type, change.obj
        now_matches = matcher(change.obj)
        if change.type == "DELETED":
            was = matcher(change.prev) if change.prev is not None else now_matches
            return ("DELETED", change.obj) if was else None
        if change.type == "ADDED":
            return ("ADDED", change.obj) if now_matches else None
        was = matcher(change.prev) if change.prev is not None else False
        if was and now_matches:
            return "MODIFIED", change.obj
        if now_matches:
            return "ADDED", change.obj
        if was and change.prev is not None:
            last = copy.deepcopy(change.prev)
            last.setdefault("metadata", {})["resourceVersion"] = str(change.revision)
            return "DELETED", last
        return None

    # -- writes ---------------------------------------------------------------------

    async def _read_object(self, request: web.Request, rt: ResourceType,
                           kind: str = "") -> dict[str, Any]:
        body = decode_body(await request.read(), media_type(request), kind or rt.kind)
        if not isinstance(body, dict):
            raise errors.bad_request(
                f"the request body must be a {rt.kind} object, not {type(body).__name__}"
            )
        return body

    def _check_type(self, body: dict[str, Any], rt: ResourceType, kind: str = "") -> None:
        kind = kind or rt.kind
        if body.get("kind") not in (None, "", kind):
            raise errors.bad_request(
                f'the body of the request was a {body.get("kind")}, expected {kind} '
                f"(sent to {rt.qualified})"
            )
        api_version = body.get("apiVersion")
        if api_version not in (None, "", rt.group_version) and kind == rt.kind:
            raise errors.bad_request(
                f'the API version in the data ({api_version}) does not match the expected '
                f"API version ({rt.group_version})"
            )
        body["kind"] = kind
        body["apiVersion"] = rt.group_version if kind == rt.kind else body.get("apiVersion")
        md = body.get("metadata")
        if md is None:
            body["metadata"] = {}
        elif not isinstance(md, dict):
            raise errors.bad_request("metadata must be an object")

    async def _require_namespace(self, namespace: str, creating: bool, resource: str = "",
                                 name: str = "") -> None:
        # NamespaceLifecycle reads its informer first and storage only on a miss (a
        # namespace created a moment ago), as kube's admission plugin does.
        ns = self.namespaces.get(namespace) if self.namespaces is not None else None
        if ns is None:
            ns_type = self.registry.lookup("", "v1", "namespaces")
            assert ns_type is not None
            ns = await self.objects.find(ns_type, "", namespace)
        if ns is None:
            raise errors.not_found("namespaces", namespace)
        if creating and meta.is_terminating(ns):
            # kube's NamespaceLifecycle admission: a Forbidden about the object created.
            prefix = f'{resource} "{name}" is forbidden: ' if resource else ""
            raise errors.StatusError(
                403, "Forbidden",
                f"{prefix}unable to create new content in namespace {namespace} because it "
                "is being terminated",
                {"name": name or namespace, "kind": resource or "namespaces",
                 "causes": [{"reason": "NamespaceTerminating",
                             "message": f"namespace {namespace} is being terminated",
                             "field": "metadata.namespace"}]},
            )

    async def create(self, request: web.Request, info: RequestInfo,
                     rt: ResourceType) -> web.StreamResponse:
        opts = write_options(request.query)
        body = await self._read_object(request, rt)
        warnings: list[str] = []
        obj = await self.create_object(rt, info.namespace, body, opts, warnings,
                                       (request, info))
        return json_response(obj, status=201, headers=self._warning_headers(warnings))

    async def create_object(
        self, rt: ResourceType, namespace: str, body: dict[str, Any], opts: WriteOptions,
        warnings: list[str], origin: tuple[web.Request, RequestInfo] | None = None,
        applied: list[dict[str, Any]] | None = None,
    ) -> dict[str, Any]:
        """Create `body`; `origin` is the request it came from (None for the server's own
        bootstrap writes, which skip admission). `applied` are the managedFields of a
        server-side apply that creates; otherwise the creator gets an Update entry."""
        self._check_type(body, rt)
        if rt.crd:
            crd = self.schemas.crds.crd_for(rt)
            if crd is None or meta.is_terminating(crd):
                raise errors.method_not_allowed(
                    f"create not allowed while custom resource definition {rt.crd} is "
                    "terminating")
        md = body["metadata"]
        if rt.namespaced:
            body_ns = md.get("namespace")
            if body_ns and body_ns != namespace:
                raise errors.bad_request(
                    "the namespace of the provided object does not match the namespace sent "
                    "on the request"
                )
            md["namespace"] = namespace
            await self._require_namespace(namespace, creating=True, resource=rt.plural,
                                          name=str(md.get("name") or ""))
        else:
            md.pop("namespace", None)
        if md.get("resourceVersion"):
            raise errors.bad_request("resourceVersion should not be set on objects to be created")
        self.schemas.check_fields(rt, body, opts.field_validation, warnings)
        generated = not md.get("name") and bool(md.get("generateName"))
        if generated:
            md["name"] = meta.generated_name(str(md["generateName"]))
        strategy.prepare_create(rt, body)
        self.schemas.default(rt, body, create=True)
        # After defaulting, before server-assigned values (cluster IPs): kube's field
        # manager sees the decoded, defaulted object (specs/k8s-api.md §4).
        if applied is not None:
            if applied:
                md["managedFields"] = applied
            else:
                md.pop("managedFields", None)
        else:
            manager = field_manager(opts, origin[0] if origin is not None else None)
            self.schemas.record_update(rt, None, body, manager=manager, subresource="",
                                       now=_now())
        self.schemas.validate(rt, body, None)
        if origin is not None and self.admit is not None:
            await self.admit(origin[0], origin[1], body, None)
        ips = IPChange()
        if rt.kind == "Service" and not rt.crd:
            await self.service_ips.assign(body, ips, opts.dry_run)
        if opts.dry_run:
            return body
        attempt = 0
        while True:
            try:
                stored = await self.objects.create(rt, body)
                break
            except errors.StatusError as exc:
                # kube retries a generated name that is taken (RetryGenerateName): five
                # random characters collide once in a while among thousands of pods.
                attempt += 1
                if generated and exc.reason == "AlreadyExists" and attempt < GENERATE_ATTEMPTS:
                    md["name"] = meta.generated_name(str(md["generateName"]))
                    continue
                await self.service_ips.undo(body, ips)
                raise
            except BaseException:
                await self.service_ips.undo(body, ips)
                raise
        if self.on_stored is not None:
            await self.on_stored(rt, stored)
        return stored

    async def update(self, request: web.Request, info: RequestInfo,
                     rt: ResourceType) -> web.StreamResponse:
        opts = write_options(request.query)
        body = await self._read_object(request, rt)
        self._check_type(body, rt)
        md = body["metadata"]
        if md.get("name") and md["name"] != info.name:
            raise errors.bad_request(
                f"the name of the object ({md['name']}) does not match the name on the URL "
                f"({info.name})"
            )
        md["name"] = info.name
        if rt.namespaced:
            if md.get("namespace") and md["namespace"] != info.namespace:
                raise errors.bad_request(
                    "the namespace of the provided object does not match the namespace sent "
                    "on the request"
                )
            md["namespace"] = info.namespace
        warnings: list[str] = []
        self.schemas.check_fields(rt, body, opts.field_validation, warnings)
        precondition = md.get("resourceVersion")
        if rt.crd and not precondition and info.subresource != "status":
            raise errors.invalid(rt.kind, info.name, [errors.Cause(
                "metadata.resourceVersion",
                "Invalid value: 0x0: must be specified for an update", "FieldValueInvalid")],
                rt.group)

        async def mutate(current: dict[str, Any]) -> dict[str, Any]:
            if precondition and str(precondition) != current["metadata"]["resourceVersion"]:
                raise errors.conflict(rt.plural, info.name, rt.group)
            return copy.deepcopy(body)

        owner = Ownership(field_manager(opts, request), info.subresource)
        obj = await self._write(rt, info, mutate, opts, request, owner)
        return json_response(obj, headers=self._warning_headers(warnings))

    async def patch(self, request: web.Request, info: RequestInfo,
                    rt: ResourceType) -> web.StreamResponse:
        opts = write_options(request.query)
        content_type = media_type(request)
        raw = await request.read()
        warnings: list[str] = []
        if content_type == APPLY_PATCH:
            if not opts.field_manager:
                raise errors.bad_request(
                    "PATCH, application/apply-patch+yaml requests require a fieldManager"
                )
        elif content_type not in (MERGE_PATCH, JSON_PATCH, STRATEGIC_PATCH):
            raise errors.unsupported_media_type(
                content_type or "(none)", [JSON_PATCH, MERGE_PATCH, APPLY_PATCH]
                + ([STRATEGIC_PATCH] if rt.strategic_merge else []),
            )
        if content_type == STRATEGIC_PATCH and not rt.strategic_merge:
            raise errors.unsupported_media_type(
                content_type, [JSON_PATCH, MERGE_PATCH, APPLY_PATCH]
            )
        patch_body = decode_body(raw, content_type)
        if content_type == JSON_PATCH:
            if not isinstance(patch_body, list):
                raise errors.bad_request("a JSON patch must be a list of operations")
        elif not isinstance(patch_body, dict):
            raise errors.bad_request("a merge patch must be a JSON object")

        owner = Ownership(field_manager(opts, request), info.subresource)
        if content_type == APPLY_PATCH:
            self._check_applied(rt, patch_body)
            existing = await self.objects.find(rt, info.namespace, info.name)
            if existing is None and not info.subresource:
                md = patch_body.get("metadata")
                if md is not None and not isinstance(md, dict):
                    raise errors.bad_request("metadata must be an object")
                if (md or {}).get("name") not in (None, info.name):
                    raise errors.bad_request(
                        f"the name of the object ({md['name']}) does not match "
                        f"the name on the URL ({info.name})"
                    )
                created = self.schemas.server_side_apply(
                    rt, None, patch_body, manager=owner.manager, force=opts.force,
                    subresource="", now=_now())
                body = created.obj
                body.setdefault("metadata", {})["name"] = info.name
                obj = await self.create_object(rt, info.namespace, body, opts, warnings,
                                               (request, info), created.managed_fields)
                return json_response(obj, status=201, headers=self._warning_headers(warnings))

        async def mutate(current: dict[str, Any]) -> dict[str, Any]:
            if content_type == APPLY_PATCH:
                applied = self.schemas.server_side_apply(
                    rt, current, patch_body, manager=owner.manager, force=opts.force,
                    subresource=info.subresource, now=_now())
                owner.applied = applied.managed_fields
                result = applied.obj
            else:
                result = self.schemas.apply_patch(rt, content_type, current, patch_body)
            if not isinstance(result, dict) or not isinstance(result.get("metadata"), dict):
                raise errors.bad_request("metadata must be an object")
            wanted = result["metadata"].get("resourceVersion")
            if wanted is not None and str(wanted) != current["metadata"]["resourceVersion"]:
                raise errors.conflict(rt.plural, info.name, rt.group)
            result["metadata"]["name"] = info.name
            if rt.namespaced:
                result["metadata"]["namespace"] = info.namespace
            result["kind"] = rt.kind
            result["apiVersion"] = rt.group_version
            # Unknown fields are judged on the patched object, so patch directives
            # ($setElementOrder, $patch, ...) never count as fields.
            del warnings[:]
            self.schemas.check_fields(rt, result, opts.field_validation, warnings)
            return result

        obj = await self._write(rt, info, mutate, opts, request, owner)
        return json_response(obj, headers=self._warning_headers(warnings))

    @staticmethod
    def _check_applied(rt: ResourceType, config: dict[str, Any]) -> None:
        """An applied configuration names its type and carries no managedFields (kube's
        versionCheck and structuredMerge managers)."""
        api_version = config.get("apiVersion")
        kind = config.get("kind")
        if api_version != rt.group_version or kind != rt.kind:
            group, _, version = (api_version if isinstance(api_version, str)
                                 else "").rpartition("/")
            kind_text = kind if isinstance(kind, str) else ""
            raise errors.bad_request(f"invalid object type: {group}/{version}, Kind={kind_text}")
        md = config.get("metadata")
        if isinstance(md, dict) and md.get("managedFields") is not None:
            raise errors.bad_request("metadata.managedFields must be nil")

    async def _write(
        self,
        rt: ResourceType,
        info: RequestInfo,
        produce: Callable[[dict[str, Any]], Awaitable[dict[str, Any]]],
        opts: WriteOptions,
        request: web.Request | None = None,
        owner: Ownership | None = None,
    ) -> dict[str, Any]:
        """The shared update path: produce the new object from the current one, apply the
        kind's update rules, record field ownership for `owner`, validate, and store it
        guarded by the read revision."""
        ips = IPChange()
        is_service = rt.kind == "Service" and not rt.crd

        async def mutate(current: dict[str, Any]) -> dict[str, Any] | None:
            old = copy.deepcopy(current)
            new = await produce(current)
            new = strategy.prepare_update(rt, new, old, info.subresource)
            strategy.forbid_new_finalizers_while_deleting(new, old)
            self.schemas.default(rt, new, create=False)
            if owner is not None:
                self._record(rt, old, new, owner)
            self.schemas.validate(rt, new, old)
            if request is not None and self.admit is not None:
                await self.admit(request, info, new, old)
            if is_service:
                ips.released.clear()
                await self.service_ips.update(new, old, ips, opts.dry_run)
            if opts.dry_run:
                raise _DryRunResult(new)
            return new

        try:
            old, new = await self.objects.update(rt, info.namespace, info.name, mutate)
        except _DryRunResult as result:
            return result.obj
        except BaseException:
            await self.service_ips.undo({"metadata": {"namespace": info.namespace,
                                                      "name": info.name}}, ips)
            raise
        if is_service:
            await self.service_ips.finish(new, ips)
        if strategy.ready_to_remove(new):
            # The last finalizer went away on a terminating object: it is gone now.
            gone = await self._remove_when_ready(rt, info.namespace, info.name, new)
            if gone is not None:
                return gone
        elif new is not old and self.on_stored is not None:
            await self.on_stored(rt, new)
        return new

    def _record(self, rt: ResourceType, old: dict[str, Any], new: dict[str, Any],
                owner: Ownership) -> None:
        md = new.setdefault("metadata", {})
        if owner.applied is None:
            self.schemas.record_update(rt, old, new, manager=owner.manager,
                                       subresource=owner.subresource, now=_now())
        elif owner.applied:
            md["managedFields"] = owner.applied
        else:
            md.pop("managedFields", None)

    async def _remove_when_ready(self, rt: ResourceType, namespace: str, name: str,
                                 obj: dict[str, Any]) -> dict[str, Any] | None:
        """Remove a terminating object with no finalizers left. Another write may land
        between the update and the delete; retry while the object stays ready."""
        for _ in range(16):
            gone = await self._remove(rt, namespace, name, int(obj["metadata"]["resourceVersion"]))
            if gone is not None:
                return gone
            current = await self.objects.find(rt, namespace, name)
            if current is None or not strategy.ready_to_remove(current):
                return None
            obj = current
        return None

    async def _remove(self, rt: ResourceType, namespace: str, name: str,
                      mod_revision: int) -> dict[str, Any] | None:
        try:
            obj = await self.objects.delete(rt, namespace, name, mod_revision=mod_revision)
        except errors.StatusError as exc:
            if exc.code in (404, 409):
                return None  # someone else changed or removed it first
            raise
        if rt.kind == "Service" and not rt.crd:
            await self.service_ips.release(obj)
        if self.on_stored is not None:
            await self.on_stored(rt, obj)
        return obj

    @staticmethod
    def _warning_headers(warnings: list[str]) -> dict[str, str]:
        if not warnings:
            return {}
        # aiohttp joins repeated headers poorly; kube sends one per warning, and clients
        # also accept them comma-joined (RFC 7234 warning-value list).
        text = ", ".join('299 - "' + w.replace('"', '\\"') + '"' for w in warnings)
        return {"Warning": text}

    # -- delete ---------------------------------------------------------------------

    async def delete(self, request: web.Request, info: RequestInfo,
                     rt: ResourceType) -> web.StreamResponse:
        raw = await request.read()
        body = decode_body(raw, media_type(request) or JSON) if raw.strip() else None
        options = delete_options(request.query, body)
        obj, removed = await self.delete_object(rt, info.namespace, info.name, options,
                                                self._delete_admission(request, info))
        if removed and rt.kind not in strategy.RETURN_DELETED_OBJECT:
            return json_response({
                "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success",
                "details": {"name": info.name, "group": rt.group, "kind": rt.plural,
                            "uid": obj["metadata"].get("uid", "")},
            })
        return json_response(obj)

    def _delete_admission(self, request: web.Request, info: RequestInfo
                          ) -> Callable[[dict[str, Any]], Awaitable[None]] | None:
        admit = self.admit
        if admit is None:
            return None

        async def check(current: dict[str, Any]) -> None:
            one = info if info.name else replace(
                info, name=meta.name_of(current), verb="delete")
            await admit(request, one, None, current)

        return check

    async def delete_object(
        self, rt: ResourceType, namespace: str, name: str, options: dict[str, Any],
        admit: Callable[[dict[str, Any]], Awaitable[None]] | None = None,
    ) -> tuple[dict[str, Any], bool]:
        """Returns (object, removed): removed is False while finalizers or a grace
        period keep it. `admit` sees the object about to go (a request's delete; the
        server's own cleanups pass none)."""
        dry_run = opts_dry_run(options)
        pre = options.get("preconditions") or {}
        for _ in range(16):
            current = await self.objects.get(rt, namespace, name)
            md = current["metadata"]
            if pre.get("uid") and pre["uid"] != md.get("uid"):
                raise errors.conflict(
                    rt.plural, name, rt.group,
                    f"Precondition failed: UID in precondition: {pre['uid']}, UID in object "
                    f"meta: {md.get('uid')}",
                )
            if pre.get("resourceVersion") and str(pre["resourceVersion"]) != md["resourceVersion"]:
                raise errors.conflict(
                    rt.plural, name, rt.group,
                    f"Precondition failed: ResourceVersion in precondition: "
                    f"{pre['resourceVersion']}, ResourceVersion in object meta: "
                    f"{md['resourceVersion']}",
                )
            if admit is not None:
                await admit(current)
            plan = strategy.plan_delete(rt, current, options)
            if dry_run:
                return (current if plan.remove_now else plan.updated or current), plan.remove_now
            if plan.remove_now:
                gone = await self._remove(rt, namespace, name, int(md["resourceVersion"]))
                if gone is None:
                    continue
                return gone, True
            updated = plan.updated or current
            if updated == current:
                return current, False
            try:
                _, new = await self.objects.update(
                    rt, namespace, name,
                    _if_revision(md["resourceVersion"], updated),
                )
            except _Stale:
                continue
            if self.on_stored is not None:
                await self.on_stored(rt, new)
            return new, False
        raise errors.conflict(rt.plural, name, rt.group, "too many concurrent changes")

    async def delete_collection(self, request: web.Request, info: RequestInfo,
                                rt: ResourceType) -> web.StreamResponse:
        raw = await request.read()
        body = decode_body(raw, media_type(request) or JSON) if raw.strip() else None
        options = delete_options(request.query, body)
        admit = self._delete_admission(request, info)
        selection = Selection.from_query(request.query, rt)
        page = await self.objects.list(rt, info.namespace or None,
                                       match=selection.matcher(rt))
        deleted: list[dict[str, Any]] = []
        for obj in page.items:
            try:
                gone, _ = await self.delete_object(
                    rt, meta.namespace_of(obj), meta.name_of(obj), options, admit
                )
            except errors.StatusError as exc:
                if exc.code == 404:
                    continue
                raise
            deleted.append(gone)
        return json_response({
            "kind": rt.list_kind, "apiVersion": rt.group_version,
            "metadata": {"resourceVersion": str(page.revision)}, "items": deleted,
        })

    # -- subresources ---------------------------------------------------------------

    async def scale(self, request: web.Request, info: RequestInfo,
                    rt: ResourceType) -> web.StreamResponse:
        """autoscaling/v1 Scale over spec.replicas (specs/k8s-api.md §6)."""
        paths = self.schemas.scale_paths(rt)
        if info.verb == "get":
            obj = await self.objects.get(rt, info.namespace, info.name)
            return json_response(_scale_of(obj, paths))
        opts = write_options(request.query)
        raw = await request.read()
        ctype = media_type(request)
        body = decode_body(raw, ctype)
        if not isinstance(body, (dict, list)):
            raise errors.bad_request("the request body must be a Scale object")
        status_info = RequestInfo(path=info.path, method=info.method, namespace=info.namespace,
                                  name=info.name, resource=info.resource, verb=info.verb)

        async def produce(current: dict[str, Any]) -> dict[str, Any]:
            scale = _scale_of(current, paths)
            if info.verb == "patch":
                if ctype not in (MERGE_PATCH, JSON_PATCH, STRATEGIC_PATCH):
                    raise errors.unsupported_media_type(ctype, [JSON_PATCH, MERGE_PATCH,
                                                               STRATEGIC_PATCH])
                scale = self.schemas.apply_generic_patch(ctype, scale, body)
            else:
                if not isinstance(body, dict):
                    raise errors.bad_request("the request body must be a Scale object")
                scale = body
            # A resourceVersion in the Scale (sent or patched in) is a precondition.
            scale_meta = scale.get("metadata") if isinstance(scale.get("metadata"), dict) else {}
            want_rv = scale_meta.get("resourceVersion")
            if want_rv and str(want_rv) != current["metadata"]["resourceVersion"]:
                raise errors.conflict(rt.plural, info.name, rt.group)
            replicas = (scale.get("spec") or {}).get("replicas")
            if not isinstance(replicas, int) or isinstance(replicas, bool) or replicas < 0:
                raise errors.invalid("Scale", info.name, [errors.Cause(
                    "spec.replicas", f"Invalid value: {replicas!r}: must be greater than or "
                    "equal to 0")], "autoscaling")
            new = copy.deepcopy(current)
            _set_path(new, paths[0], replicas)
            return new

        owner = Ownership(field_manager(opts, request), "scale")
        obj = await self._write(rt, status_info, produce, opts, request, owner)
        return json_response(_scale_of(obj, paths))

    async def bind(self, request: web.Request, info: RequestInfo,
                   rt: ResourceType) -> web.StreamResponse:
        """pods/binding: set spec.nodeName once (the scheduler's write)."""
        body = await self._read_object(request, rt, "Binding")
        target = body.get("target") or {}
        node = target.get("name") if isinstance(target, dict) else None
        pod_name = info.name or meta.name_of(body)
        if not node:
            raise errors.invalid("Binding", pod_name, [errors.Cause(
                "target.name", "Required value", "FieldValueRequired")])
        pod_type = self.registry.lookup("", "v1", "pods")
        assert pod_type is not None
        opts = write_options(request.query)

        # Binding writes spec and status together, as kube's BindingREST does.
        async def mutate(current: dict[str, Any]) -> dict[str, Any]:
            spec = current.setdefault("spec", {})
            if meta.is_terminating(current):
                raise errors.conflict("pods", pod_name, "",
                                      "pod is being deleted, cannot be assigned to a host")
            if spec.get("nodeName"):
                raise errors.conflict("pods", pod_name, "",
                                      f"pod {pod_name} is already assigned to node "
                                      f'"{spec["nodeName"]}"')
            spec["nodeName"] = node
            meta.set_condition(current, "PodScheduled", "True")
            if opts.dry_run:
                raise _DryRunResult(current)
            return current

        try:
            _, new = await self.objects.update(pod_type, info.namespace, pod_name, mutate)
        except _DryRunResult:
            pass
        else:
            if self.on_stored is not None:
                await self.on_stored(pod_type, new)
        return json_response({"kind": "Status", "apiVersion": "v1", "metadata": {},
                              "status": "Success", "code": 201}, status=201)

    async def evict(self, request: web.Request, info: RequestInfo,
                    rt: ResourceType) -> web.StreamResponse:
        """pods/eviction: delete unless a PodDisruptionBudget forbids it (429).

        The budget is spent before the pod goes, with a compare-and-swap on the PDB's
        status, so concurrent evictions cannot both use its last allowed disruption
        (kube's EvictionREST does the same).
        """
        body = await self._read_object(request, rt, "Eviction")
        options = delete_options(MultiDict(), body.get("deleteOptions"))
        pod = await self.objects.get(rt, info.namespace, info.name)
        phase = (pod.get("status") or {}).get("phase")
        # kube's EvictionREST: pods that are finished, not yet running or already
        # going spend no budget.
        exempt = phase in ("Succeeded", "Failed", "Pending") or meta.is_terminating(pod)
        if not exempt and not opts_dry_run(options):
            await self._spend_disruption_budget(pod)
        await self.delete_object(rt, info.namespace, info.name, options)
        return json_response({"kind": "Status", "apiVersion": "v1", "metadata": {},
                              "status": "Success", "code": 201}, status=201)

    async def _spend_disruption_budget(self, pod: dict[str, Any]) -> None:
        pdb_type = self.registry.lookup("policy", "v1", "poddisruptionbudgets")
        assert pdb_type is not None
        namespace = meta.namespace_of(pod)
        matching = [
            pdb for pdb in (await self.objects.list(pdb_type, namespace)).items
            if (pdb.get("spec") or {}).get("selector") is not None
            and LabelSelector.from_dict(pdb["spec"]["selector"]).matches(meta.labels_of(pod))
        ]
        if not matching:
            return
        if len(matching) > 1:
            raise errors.internal("This pod has more than one PodDisruptionBudget, which the "
                                  "eviction subresource does not support.")
        pdb = matching[0]
        if not _pod_ready(pod) and _unhealthy_may_go(pdb):
            return  # evicting an unready pod costs the budget nothing

        async def spend(current: dict[str, Any]) -> dict[str, Any]:
            status = current.setdefault("status", {})
            name = meta.name_of(current)
            generation = int(current["metadata"].get("generation") or 0)
            if int(status.get("observedGeneration") or 0) < generation:
                raise errors.StatusError(
                    429, "TooManyRequests",
                    "Cannot evict pod as it would violate the pod's disruption budget.",
                    {"causes": [{"reason": "DisruptionBudget",
                                 "message": f"The disruption budget {name} is still being "
                                            "processed by the server."}]})
            allowed = int(status.get("disruptionsAllowed") or 0)
            disrupted = status.setdefault("disruptedPods", {})
            if allowed < 0 or len(disrupted) > MAX_DISRUPTED_PODS:
                raise errors.StatusError(
                    403, "Forbidden",
                    "Cannot evict pod as it would violate the pod's disruption budget: "
                    f"the disruption budget {name} is in an invalid state")
            if allowed == 0:
                raise errors.StatusError(
                    429, "TooManyRequests",
                    "Cannot evict pod as it would violate the pod's disruption budget.",
                    {"causes": [{"reason": "DisruptionBudget",
                                 "message": f"The disruption budget {name} "
                                            f"needs {status.get('desiredHealthy', 0)} healthy "
                                            f"pods and has {status.get('currentHealthy', 0)} "
                                            "currently"}]},
                )
            status["disruptionsAllowed"] = allowed - 1
            if allowed - 1 == 0:
                meta.set_condition(current, "DisruptionAllowed", "False", "InsufficientPods",
                                   "")
            disrupted[meta.name_of(pod)] = meta.rfc3339(meta.now())
            return current

        await self.objects.update(pdb_type, namespace, meta.name_of(pdb), spend)


# Tries at a free generated name before a create gives up with AlreadyExists (kube's).
GENERATE_ATTEMPTS = 8
# kube's eviction handler refuses once this many evictions are in flight for a budget.
MAX_DISRUPTED_PODS = 2000


def _pod_ready(pod: dict[str, Any]) -> bool:
    cond = meta.condition(pod, "Ready")
    return bool(cond and cond.get("status") == "True")


def _unhealthy_may_go(pdb: dict[str, Any]) -> bool:
    """kube's unhealthyPodEvictionPolicy: AlwaysAllow lets unready pods go at any
    time; the default IfHealthyBudget only while the budget's healthy pods suffice."""
    spec = pdb.get("spec") or {}
    if spec.get("unhealthyPodEvictionPolicy") == "AlwaysAllow":
        return True
    status = pdb.get("status") or {}
    desired = int(status.get("desiredHealthy") or 0)
    return desired > 0 and int(status.get("currentHealthy") or 0) >= desired


def opts_dry_run(options: dict[str, Any]) -> bool:
    return bool(options.get("dryRun"))


class _DryRunResult(Exception):
    def __init__(self, obj: dict[str, Any]) -> None:
        super().__init__("dry run")
        self.obj = obj


class _Stale(Exception):
    pass


def _if_revision(revision: str, updated: dict[str, Any]
                 ) -> Callable[[dict[str, Any]], Awaitable[dict[str, Any]]]:
    async def mutate(current: dict[str, Any]) -> dict[str, Any]:
        if current["metadata"]["resourceVersion"] != revision:
            raise _Stale()
        return copy.deepcopy(updated)
    return mutate


def _get_path(obj: dict[str, Any], path: str) -> Any:
    cur: Any = obj
    for part in path.strip(".").split("."):
        if not isinstance(cur, dict):
            return None
        cur = cur.get(part)
    return cur


def _set_path(obj: dict[str, Any], path: str, value: Any) -> None:
    parts = path.strip(".").split(".")
    cur = obj
    for part in parts[:-1]:
        cur = cur.setdefault(part, {})
    cur[parts[-1]] = value


def _scale_of(obj: dict[str, Any], paths: tuple[str, str, str | None]) -> dict[str, Any]:
    spec_path, status_path, selector_path = paths
    md = obj["metadata"]
    status: dict[str, Any] = {"replicas": _get_path(obj, status_path) or 0}
    if selector_path:
        selector = _get_path(obj, selector_path)
        if isinstance(selector, dict):
            status["selector"] = LabelSelector.from_dict(selector).to_string()
        elif isinstance(selector, str):
            status["selector"] = selector
    return {
        "kind": "Scale", "apiVersion": "autoscaling/v1",
        "metadata": {"name": md["name"], "namespace": md.get("namespace", ""),
                     "uid": md.get("uid"), "resourceVersion": md["resourceVersion"],
                     "creationTimestamp": md.get("creationTimestamp")},
        "spec": {"replicas": _get_path(obj, spec_path) or 0},
        "status": status,
    }
