"""The async REST client: the one way our components talk to an API server.

Owns the HTTP conversation with a Kubernetes API server (ours or a real kube-apiserver,
ARCHITECTURE.md rule 1): URLs, query parameters, content types, the verbs get, list,
create, update, update_status, patch, delete, delete_collection and watch
(specs/k8s-api.md §3-4), discovery lookups (§1), client-side QPS/burst throttling and
retries of requests that never reached the server. Only standard Kubernetes API
semantics are used, so pointing it at a real cluster is configuration.

Must never import the server, the store or `kubeedge.api` (the client also runs on the
edge, ARCHITECTURE.md rule 9), never retry a write that may have reached the server, and
never sleep on the real clock when a `Clock` is injected.
"""

from __future__ import annotations

import logging
import os
import ssl
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, NamedTuple

import aiohttp
import orjson

from kubeedge.client import kubeconfig
from kubeedge.client.clock import Clock, RealClock
from kubeedge.client.errors import APIConnectionError, APIError
from kubeedge.client.ratelimit import Backoff, TokenBucket
from kubeedge.client.resources import Resource, ResourceRef, split_api_version

__all__ = [
    "APIClient",
    "APIConnectionError",
    "APIError",
    "PatchType",
    "Resource",
    "ResourceRef",
    "RetryPolicy",
    "WatchEvent",
    "WatchStream",
    "selector",
]

log = logging.getLogger(__name__)

JSON = "application/json"

PatchType = Literal["merge", "json", "strategic", "apply"]

# specs/k8s-api.md §4: one content type per patch flavour.
PATCH_CONTENT_TYPES: dict[str, str] = {
    "merge": "application/merge-patch+json",
    "json": "application/json-patch+json",
    "strategic": "application/strategic-merge-patch+json",
    "apply": "application/apply-patch+yaml",
}

Selector = str | Mapping[str, str] | None
# `APIClient.list` shadows the builtin inside the class body; annotations use these.
Params = list[tuple[str, str]]
StrList = list[str]
ObjectList = list[dict[str, Any]]


def selector(value: Selector) -> str:
    """A label or field selector string; a mapping means all `key=value` must hold."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    return ",".join(f"{k}={v}" for k, v in value.items())


def _flag(value: bool) -> str:
    return "true" if value else "false"


@dataclass
class RetryPolicy:
    """Retries of requests the server did not process.

    A refused connection never reached the server, so any verb is retried. A connection
    that broke mid-request is retried only for reads, as client-go does (a POST may have
    been applied). A 429, or a 5xx with Retry-After, is retried for every verb: the
    server says it did not act. `attempts` counts the retries after the first try.
    """

    attempts: int = 5
    backoff: Backoff = field(
        default_factory=lambda: Backoff(initial=0.1, factor=2.0, maximum=5.0, jitter=0.2)
    )
    max_retry_after: float = 10.0


class WatchEvent(NamedTuple):
    """One line of a watch stream: ADDED, MODIFIED, DELETED or BOOKMARK."""

    type: str
    object: dict[str, Any]


class APIClient:
    """Async client for one API server as one user.

    Build it from a kubeconfig path (or None for $KUBECONFIG / ~/.kube/config) or a
    loaded `ClusterAccess`; close it with `await client.close()` or `async with`.

    Namespaces: for reads and writes of one namespaced object, `namespace=None` means
    the object's `metadata.namespace`, else the kubeconfig context's namespace. For
    `list`, `watch` and `pages`, `namespace=None` means all namespaces.
    """

    def __init__(
        self,
        access: kubeconfig.ClusterAccess | str | os.PathLike[str] | None = None,
        *,
        context: str = "",
        qps: float = 50.0,
        burst: int = 100,
        retry: RetryPolicy | None = None,
        clock: Clock | None = None,
        request_timeout: float = 60.0,
        connect_timeout: float = 10.0,
        connection_limit: int = 100,
        user_agent: str = "kubeedge-py",
        connector: aiohttp.BaseConnector | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        if not isinstance(access, kubeconfig.ClusterAccess):
            access = kubeconfig.load(access, context)
        if not access.server:
            raise kubeconfig.KubeconfigError("the kubeconfig names no server for its cluster")
        self.access = access
        self.server = access.server.rstrip("/")
        self.namespace = access.namespace or "default"
        self.clock: Clock = clock or RealClock()
        self.limiter = TokenBucket(qps, burst, self.clock)
        self.retry = retry or RetryPolicy()
        self.request_timeout = request_timeout
        self.connect_timeout = connect_timeout
        self.connection_limit = connection_limit
        self.user_agent = user_agent
        self._ssl: ssl.SSLContext | bool = (
            access.ssl_context() if self.server.startswith("https:") else False
        )
        # A connection pool shared with other clients (not closed with this one), and
        # headers sent on every request (e.g. Impersonate-User, §7).
        self._shared_connector = connector
        self._extra_headers = dict(headers or {})
        self._session: aiohttp.ClientSession | None = None
        self._discovery: dict[str, ObjectList] = {}
        self._closed = False

    # -- lifecycle ------------------------------------------------------------------

    async def __aenter__(self) -> APIClient:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    async def close(self) -> None:
        self._closed = True
        session, self._session = self._session, None
        if session is not None:
            await session.close()

    def _session_for_request(self) -> aiohttp.ClientSession:
        if self._closed:
            raise RuntimeError("APIClient is closed")
        if self._session is None or self._session.closed:
            headers = {"Accept": JSON, "User-Agent": self.user_agent}
            if self.access.token and not self.access.token_file:
                headers["Authorization"] = f"Bearer {self.access.token}"  # §7
            headers.update(self._extra_headers)
            if self._shared_connector is not None:
                self._session = aiohttp.ClientSession(
                    connector=self._shared_connector, connector_owner=False, headers=headers)
            else:
                # Idle connections stay a minute (aiohttp's default is 15 s), under the
                # API server's 75 s, so bursts a little apart reuse them instead of
                # paying a TLS handshake each.
                connector = aiohttp.TCPConnector(ssl=self._ssl, limit=self.connection_limit,
                                                 keepalive_timeout=60)
                self._session = aiohttp.ClientSession(connector=connector, headers=headers)
        return self._session

    # -- the HTTP exchange ----------------------------------------------------------

    async def _send(
        self,
        method: str,
        path: str,
        *,
        params: Params | None = None,
        body: Any = None,
        content_type: str = JSON,
        stream: bool = False,
    ) -> aiohttp.ClientResponse:
        """Send one request with throttling and retries; return the open response on
        success (2xx), raise `APIError` or `APIConnectionError` otherwise."""
        data = orjson.dumps(body) if body is not None else None
        headers = {"Content-Type": content_type} if data is not None else {}
        if self.access.token_file:
            # A rotating token goes with each request, not fixed in the session.
            headers["Authorization"] = f"Bearer {self.access.bearer_token()}"
        timeout = aiohttp.ClientTimeout(
            total=None if stream else self.request_timeout,
            sock_connect=self.connect_timeout,
        )
        extra: dict[str, Any] = {}
        if self.access.tls_server_name:
            extra["server_hostname"] = self.access.tls_server_name
        read_only = method == "GET"
        backoff = Backoff(
            self.retry.backoff.initial,
            self.retry.backoff.factor,
            self.retry.backoff.maximum,
            self.retry.backoff.jitter,
        )
        url = self.server + path
        attempt = 0
        while True:
            await self.limiter.acquire()
            session = self._session_for_request()
            try:
                resp = await session.request(
                    method,
                    url,
                    params=params,
                    data=data,
                    headers=headers,
                    timeout=timeout,
                    **extra,
                )
            except aiohttp.ClientSSLError as exc:
                raise APIConnectionError(self.server, method, path, exc) from exc
            except aiohttp.ClientConnectorError as exc:
                # Never connected: the request did not reach the server.
                if attempt >= self.retry.attempts:
                    raise APIConnectionError(self.server, method, path, exc) from exc
                delay = backoff.next()
            except (aiohttp.ClientError, TimeoutError, OSError) as exc:
                if not read_only or attempt >= self.retry.attempts:
                    raise APIConnectionError(self.server, method, path, exc) from exc
                delay = backoff.next()
            else:
                if resp.status < 300:
                    return resp
                error = await self._error(resp, method, path)
                wait = error.retry_after
                retryable = error.code == 429 or (error.code >= 500 and wait is not None)
                if not retryable or attempt >= self.retry.attempts:
                    raise error
                delay = min(wait, self.retry.max_retry_after) if wait else backoff.next()
            attempt += 1
            log.debug("retrying %s %s in %.2fs (attempt %d)", method, path, delay, attempt)
            await self.clock.sleep(delay)

    @staticmethod
    async def _error(resp: aiohttp.ClientResponse, method: str, path: str) -> APIError:
        try:
            raw = await resp.read()
        except (aiohttp.ClientError, TimeoutError, OSError):
            raw = b""
        finally:
            resp.release()
        body: Any
        try:
            body = orjson.loads(raw) if raw else None
        except orjson.JSONDecodeError:
            body = raw.decode(errors="replace")
        return APIError.from_response(
            resp.status, body, method=method, path=path, headers=dict(resp.headers)
        )

    async def request(
        self,
        method: str,
        path: str,
        *,
        params: Params | None = None,
        body: Any = None,
        content_type: str = JSON,
    ) -> Any:
        """Any request, its JSON answer decoded (None for an empty body)."""
        resp = await self._send(method, path, params=params, body=body, content_type=content_type)
        try:
            raw = await resp.read()
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            raise APIConnectionError(self.server, method, path, exc) from exc
        finally:
            resp.release()
        if not raw:
            return None
        try:
            return orjson.loads(raw)
        except orjson.JSONDecodeError:
            return raw.decode(errors="replace")

    # -- namespaces -----------------------------------------------------------------

    def _namespace_for(
        self, ref: ResourceRef, namespace: str | None, obj: Mapping[str, Any] | None = None
    ) -> str | None:
        if not ref.namespaced:
            return None
        if namespace:
            return namespace
        if obj is not None:
            body_ns = (obj.get("metadata") or {}).get("namespace")
            if body_ns:
                return str(body_ns)
        return self.namespace

    @staticmethod
    def _name_of(obj: Mapping[str, Any]) -> str:
        name = (obj.get("metadata") or {}).get("name")
        if not name:
            raise ValueError("the object has no metadata.name")
        return str(name)

    # -- reads ----------------------------------------------------------------------

    async def version(self) -> dict[str, Any]:
        return await self.request("GET", "/version")

    async def get(
        self, ref: ResourceRef, name: str, namespace: str | None = None, *, subresource: str = ""
    ) -> dict[str, Any]:
        path = ref.path(self._namespace_for(ref, namespace), name, subresource)
        return await self.request("GET", path)

    async def list(
        self,
        ref: ResourceRef,
        namespace: str | None = None,
        *,
        label_selector: Selector = None,
        field_selector: Selector = None,
        limit: int = 0,
        continue_token: str = "",
        resource_version: str | None = None,
        resource_version_match: str = "",
        timeout_seconds: int | None = None,
    ) -> dict[str, Any]:
        """One page of a list (all of it when `limit` is 0)."""
        params = _selection(label_selector, field_selector)
        if limit:
            params.append(("limit", str(limit)))
        if continue_token:
            params.append(("continue", continue_token))
        if resource_version is not None:
            params.append(("resourceVersion", resource_version))
        if resource_version_match:
            params.append(("resourceVersionMatch", resource_version_match))
        if timeout_seconds is not None:
            params.append(("timeoutSeconds", str(timeout_seconds)))
        return await self.request("GET", ref.path(namespace), params=params)

    async def pages(
        self,
        ref: ResourceRef,
        namespace: str | None = None,
        *,
        label_selector: Selector = None,
        field_selector: Selector = None,
        limit: int = 500,
        resource_version: str | None = None,
    ) -> AsyncIterator[dict[str, Any]]:
        """Every page of a list, following `continue` (kubectl pages by 500, §3)."""
        token = ""
        while True:
            page = await self.list(
                ref,
                namespace,
                label_selector=label_selector,
                field_selector=field_selector,
                limit=limit,
                continue_token=token,
                resource_version=None if token else resource_version,
            )
            yield page
            token = (page.get("metadata") or {}).get("continue") or ""
            if not token:
                return

    async def list_all(
        self,
        ref: ResourceRef,
        namespace: str | None = None,
        *,
        label_selector: Selector = None,
        field_selector: Selector = None,
        limit: int = 500,
        resource_version: str | None = None,
    ) -> dict[str, Any]:
        """The whole list as one object, read page by page. All pages share the first
        page's snapshot; if the continue token expires midway (410), the list is read
        again in one request, as client-go's pager does."""
        items: ObjectList = []
        first: dict[str, Any] | None = None
        try:
            async for page in self.pages(
                ref,
                namespace,
                label_selector=label_selector,
                field_selector=field_selector,
                limit=limit,
                resource_version=resource_version,
            ):
                first = first or page
                items.extend(page.get("items") or [])
        except APIError as exc:
            if not (exc.is_expired and first is not None):
                raise
            log.info(
                "continue token for %s expired; listing %s in one request",
                ref.qualified,
                ref.qualified,
            )
            return await self.list(
                ref, namespace, label_selector=label_selector, field_selector=field_selector
            )
        assert first is not None
        metadata = {
            k: v
            for k, v in (first.get("metadata") or {}).items()
            if k not in ("continue", "remainingItemCount")
        }
        return {
            "kind": first.get("kind", ""),
            "apiVersion": first.get("apiVersion", ""),
            "metadata": metadata,
            "items": items,
        }

    def watch(
        self,
        ref: ResourceRef,
        namespace: str | None = None,
        *,
        resource_version: str | None = None,
        label_selector: Selector = None,
        field_selector: Selector = None,
        allow_watch_bookmarks: bool = False,
        timeout_seconds: int | None = None,
        send_initial_events: bool | None = None,
    ) -> WatchStream:
        """A watch stream: `async with client.watch(...) as events: async for type, obj
        in events`. The request is sent on the first iteration."""
        params = _selection(label_selector, field_selector)
        params.append(("watch", "true"))
        if resource_version is not None:
            params.append(("resourceVersion", resource_version))
        if allow_watch_bookmarks:
            params.append(("allowWatchBookmarks", "true"))
        if timeout_seconds is not None:
            params.append(("timeoutSeconds", str(timeout_seconds)))
        if send_initial_events is not None:
            params.append(("sendInitialEvents", _flag(send_initial_events)))
            params.append(("resourceVersionMatch", "NotOlderThan"))
        return WatchStream(self, ref.path(namespace), params, resource_version or "")

    # -- writes ---------------------------------------------------------------------

    async def create(
        self,
        ref: ResourceRef,
        obj: Mapping[str, Any],
        namespace: str | None = None,
        *,
        field_manager: str = "",
        dry_run: bool = False,
    ) -> dict[str, Any]:
        body = _with_type(obj, ref)
        path = ref.path(self._namespace_for(ref, namespace, obj))
        return await self.request(
            "POST", path, params=_write_params(field_manager, dry_run), body=body
        )

    async def update(
        self,
        ref: ResourceRef,
        obj: Mapping[str, Any],
        namespace: str | None = None,
        *,
        subresource: str = "",
        field_manager: str = "",
        dry_run: bool = False,
    ) -> dict[str, Any]:
        """PUT the whole object; a stale `metadata.resourceVersion` is 409 (`is_conflict`)."""
        body = _with_type(obj, ref)
        path = ref.path(self._namespace_for(ref, namespace, obj), self._name_of(obj), subresource)
        return await self.request(
            "PUT", path, params=_write_params(field_manager, dry_run), body=body
        )

    async def update_status(
        self,
        ref: ResourceRef,
        obj: Mapping[str, Any],
        namespace: str | None = None,
        *,
        field_manager: str = "",
        dry_run: bool = False,
    ) -> dict[str, Any]:
        """PUT to `/status`: only `.status` changes (§3 Update)."""
        return await self.update(
            ref, obj, namespace, subresource="status", field_manager=field_manager, dry_run=dry_run
        )

    async def patch(
        self,
        ref: ResourceRef,
        name: str,
        patch: Any,
        namespace: str | None = None,
        *,
        patch_type: PatchType = "merge",
        subresource: str = "",
        field_manager: str = "",
        force: bool | None = None,
        dry_run: bool = False,
    ) -> dict[str, Any]:
        """PATCH with merge (RFC 7386), json (RFC 6902, a list of operations),
        strategic merge, or server-side apply (needs `field_manager`), §4."""
        try:
            content_type = PATCH_CONTENT_TYPES[patch_type]
        except KeyError:
            raise ValueError(
                f"patch_type {patch_type!r} is not one of {', '.join(PATCH_CONTENT_TYPES)}"
            ) from None
        if patch_type == "json" and not isinstance(patch, list):
            raise ValueError("a json patch is a list of operations")
        if patch_type == "apply" and not field_manager:
            raise ValueError("server-side apply needs a field_manager")
        params = _write_params(field_manager, dry_run)
        if force is not None:
            params.append(("force", _flag(force)))
        path = ref.path(self._namespace_for(ref, namespace), name, subresource)
        return await self.request(
            "PATCH", path, params=params, body=patch, content_type=content_type
        )

    async def delete(
        self,
        ref: ResourceRef,
        name: str,
        namespace: str | None = None,
        *,
        propagation_policy: Literal["Orphan", "Background", "Foreground"] | None = None,
        grace_period_seconds: int | None = None,
        preconditions: Mapping[str, str] | None = None,
        dry_run: bool = False,
    ) -> dict[str, Any]:
        """DELETE one object. Returns the object (while finalizers or a grace period keep
        it, and for pods) or a Success Status. `preconditions` takes `uid` and/or
        `resourceVersion`; a mismatch is 409 (`is_conflict`)."""
        body = _delete_options(propagation_policy, grace_period_seconds, preconditions, dry_run)
        path = ref.path(self._namespace_for(ref, namespace), name)
        return await self.request("DELETE", path, body=body)

    async def delete_collection(
        self,
        ref: ResourceRef,
        namespace: str | None = None,
        *,
        label_selector: Selector = None,
        field_selector: Selector = None,
        propagation_policy: Literal["Orphan", "Background", "Foreground"] | None = None,
        grace_period_seconds: int | None = None,
    ) -> dict[str, Any]:
        body = _delete_options(propagation_policy, grace_period_seconds, None, False)
        path = ref.path(self._namespace_for(ref, namespace))
        return await self.request(
            "DELETE", path, body=body, params=_selection(label_selector, field_selector)
        )

    # -- discovery ------------------------------------------------------------------

    async def api_versions(self) -> StrList:
        """Every served group version, each group's preferred version first (§1)."""
        core = await self.request("GET", "/api")
        versions = [str(v) for v in (core or {}).get("versions") or []]
        groups = await self.request("GET", "/apis")
        for group in (groups or {}).get("groups") or []:
            preferred = (group.get("preferredVersion") or {}).get("groupVersion")
            others = [v.get("groupVersion") for v in group.get("versions") or []]
            for gv in [preferred, *others]:
                if gv and gv not in versions:
                    versions.append(str(gv))
        return versions

    async def api_resources(self, api_version: str, *, refresh: bool = False) -> ObjectList:
        """The APIResourceList entries of one group version (cached)."""
        if refresh or api_version not in self._discovery:
            group, version = split_api_version(api_version)
            path = f"/apis/{group}/{version}" if group else f"/api/{version}"
            answer = await self.request("GET", path)
            self._discovery[api_version] = list((answer or {}).get("resources") or [])
        return self._discovery[api_version]

    def forget_discovery(self) -> None:
        """Drop cached discovery (after a CRD is installed or removed)."""
        self._discovery.clear()

    async def resource(self, resource: str, api_version: str = "") -> ResourceRef:
        """The ref for a plural, kind or short name: from the built-in table when it is
        there, else from discovery (one group version, or all of them when
        `api_version` is empty)."""
        if api_version:
            try:
                return ResourceRef.of(api_version, resource)
            except LookupError:
                pass
            versions = [api_version]
        else:
            versions = await self.api_versions()
        wanted = resource.lower()
        for gv in versions:
            try:
                entries = await self.api_resources(gv)
            except APIError as exc:
                if exc.is_not_found and not api_version:
                    continue
                raise
            for entry in entries:
                name = str(entry.get("name", ""))
                if "/" in name:
                    continue
                kind = str(entry.get("kind", ""))
                shorts = [str(s).lower() for s in entry.get("shortNames") or []]
                if (
                    wanted in (name.lower(), kind.lower(), str(entry.get("singularName", "")))
                    or wanted in shorts
                ):
                    group, version = split_api_version(gv)
                    return ResourceRef(group, version, name, bool(entry.get("namespaced")), kind)
        where = api_version or "any served group version"
        raise LookupError(f"the server doesn't have a resource type {resource!r} in {where}")


class WatchStream:
    """An open watch: an async iterator of `WatchEvent`, closed on exhaustion, on an
    ERROR event (raised as `APIError`, e.g. 410 Expired) or by `close()`.

    `resource_version` is that of the last event seen, bookmarks included: the place to
    resume from (§3 Watch). A stream that breaks mid-way raises `APIConnectionError`;
    one the server ends cleanly just stops.
    """

    def __init__(self, client: APIClient, path: str, params: Params, resource_version: str) -> None:
        self.client = client
        self.path = path
        self.params = params
        self.resource_version = resource_version
        self._resp: aiohttp.ClientResponse | None = None
        self._buffer = bytearray()
        self._done = False

    async def __aenter__(self) -> WatchStream:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    def __aiter__(self) -> WatchStream:
        return self

    async def close(self) -> None:
        self._done = True
        resp, self._resp = self._resp, None
        if resp is not None:
            resp.close()

    async def __anext__(self) -> WatchEvent:
        if self._done:
            raise StopAsyncIteration
        if self._resp is None:
            try:
                self._resp = await self.client._send(
                    "GET", self.path, params=self.params, stream=True
                )
            except BaseException:
                self._done = True
                raise
        while True:
            try:
                line = await self._next_line()
            except BaseException:
                await self.close()
                raise
            if line is None:
                await self.close()
                raise StopAsyncIteration
            if not line.strip():
                continue
            try:
                event = orjson.loads(line)
                kind = str(event["type"])
                obj = event["object"]
            except (orjson.JSONDecodeError, KeyError, TypeError) as exc:
                await self.close()
                raise APIConnectionError(
                    self.client.server,
                    "GET",
                    self.path,
                    ValueError(f"malformed watch event: {exc}"),
                ) from exc
            if kind == "ERROR":
                await self.close()
                code = int((obj or {}).get("code") or 500) if isinstance(obj, dict) else 500
                raise APIError.from_response(code, obj, method="GET", path=self.path)
            rv = ((obj or {}).get("metadata") or {}).get("resourceVersion")
            if rv:
                self.resource_version = str(rv)
            return WatchEvent(kind, obj)

    async def _next_line(self) -> bytes | None:
        """One `\\n`-terminated line, reassembled across chunks (an object can be larger
        than any chunk or aiohttp's line limit)."""
        assert self._resp is not None
        while True:
            end = self._buffer.find(b"\n")
            if end >= 0:
                line = bytes(self._buffer[:end])
                del self._buffer[: end + 1]
                return line
            try:
                chunk = await self._resp.content.readany()
            except (aiohttp.ClientError, TimeoutError, OSError) as exc:
                raise APIConnectionError(self.client.server, "GET", self.path, exc) from exc
            if not chunk:
                if self._buffer:
                    line = bytes(self._buffer)
                    self._buffer.clear()
                    return line
                return None
            self._buffer.extend(chunk)


def _selection(label_selector: Selector, field_selector: Selector) -> list[tuple[str, str]]:
    params: list[tuple[str, str]] = []
    labels = selector(label_selector)
    if labels:
        params.append(("labelSelector", labels))
    fields = selector(field_selector)
    if fields:
        params.append(("fieldSelector", fields))
    return params


def _write_params(field_manager: str, dry_run: bool) -> list[tuple[str, str]]:
    params: list[tuple[str, str]] = []
    if field_manager:
        params.append(("fieldManager", field_manager))
    if dry_run:
        params.append(("dryRun", "All"))
    return params


def _with_type(obj: Mapping[str, Any], ref: ResourceRef) -> dict[str, Any]:
    """The body with apiVersion and kind filled in when the caller left them out."""
    body = dict(obj)
    body.setdefault("apiVersion", ref.api_version)
    if ref.kind:
        body.setdefault("kind", ref.kind)
    return body


def _delete_options(
    propagation_policy: str | None,
    grace_period_seconds: int | None,
    preconditions: Mapping[str, str] | None,
    dry_run: bool,
) -> dict[str, Any]:
    body: dict[str, Any] = {"kind": "DeleteOptions", "apiVersion": "v1"}
    if propagation_policy is not None:
        body["propagationPolicy"] = propagation_policy
    if grace_period_seconds is not None:
        body["gracePeriodSeconds"] = grace_period_seconds
    if preconditions:
        body["preconditions"] = dict(preconditions)
    if dry_run:
        body["dryRun"] = ["All"]
    return body
