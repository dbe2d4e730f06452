"""The API server process: TLS listener, authentication, authorization and routing.

Wires storage, the registry, discovery, OpenAPI, the REST handlers and the in-process
controllers (CRDs, caches) into one aiohttp application, and creates what every cluster
starts with (the four namespaces, the default RBAC policy, the `kubernetes` Service).
Everything a request can get wrong comes back as a Kubernetes Status.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import gc
import logging
import signal
import ssl
from typing import TYPE_CHECKING, Any

from aiohttp import web

from kubeedge.api import errors, meta
from kubeedge.api.registry import METRICS_GROUP, Registry, ResourceType
from kubeedge.apiserver import reviews
from kubeedge.apiserver.authn import Authenticator, StaticTokens, impersonation_request
from kubeedge.apiserver.authz.bootstrap import bootstrap_policy
from kubeedge.apiserver.authz.chain import (
    AuthorizerChain,
    PrivilegedGroups,
    forbidden_error,
    name_from_field_selector,
)
from kubeedge.apiserver.authz.escalation import RBAC_RESOURCES, check_no_escalation
from kubeedge.apiserver.authz.node import NodeAuthorizer
from kubeedge.apiserver.authz.rbac import RBAC_GROUP, RBACAuthorizer
from kubeedge.apiserver.authz.types import (
    NODE_USER_PREFIX,
    NODES_GROUP,
    RequestAttributes,
    UserInfo,
)
from kubeedge.apiserver.caches import ByName, PodsByNode, RBACCache, ResourceCache
from kubeedge.apiserver.crds import CRDController
from kubeedge.apiserver.discovery import AGGREGATED_CONTENT_TYPE, Discovery, wants_aggregated
from kubeedge.apiserver.handlers import (
    ResourceHandlers,
    decode_body,
    json_response,
    media_type,
)
from kubeedge.apiserver.metrics import MetricsAPI
from kubeedge.apiserver.nodeproxy import KubeletClient, NodeProxy
from kubeedge.apiserver.objects import ObjectStore
from kubeedge.apiserver.openapi import OpenAPI
from kubeedge.apiserver.request import RequestInfo, WriteOptions, parse_path
from kubeedge.apiserver.schemas import ObjectSchemas
from kubeedge.apiserver.serviceaccounts import (
    ServiceAccountTokens,
    TokenIssuer,
    TokenPolicy,
    token_request,
)
from kubeedge.apiserver.serviceips import ServiceIPAllocator, ServiceIPs
from kubeedge.apiserver.tables import TableRenderer
from kubeedge.apiserver.training_admission import TrainingAdmission
from kubeedge.apiserver.volcano_admission import VolcanoAdmission
from kubeedge.config.apiserver import APIServerConfig
from kubeedge.store import Store
from kubeedge.store.compactor import Compactor
from kubeedge.store.factory import open_store

if TYPE_CHECKING:
    from kubeedge.controllers.runtime import ControllerManager

log = logging.getLogger(__name__)

# What the in-process namespace-defaults controller may do, as its own identity.
CONTROLLER_MANAGER_USER = "system:kube-controller-manager"
CLOUDCORE_USER = "system:kubeedge:cloudcore"
CONTROLLER_POLICY: tuple[dict[str, Any], ...] = (
    {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
     "metadata": {"name": "system:controller:namespace-defaults",
                  "labels": {"kubernetes.io/bootstrapping": "rbac-defaults"}},
     "rules": [
         {"apiGroups": [""], "resources": ["namespaces"], "verbs": ["get", "list", "watch"]},
         {"apiGroups": [""], "resources": ["serviceaccounts"],
          "verbs": ["get", "list", "watch", "create"]},
         {"apiGroups": [""], "resources": ["configmaps"],
          "verbs": ["get", "list", "watch", "create", "update", "patch"]},
     ]},
    {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
     "metadata": {"name": "system:controller:namespace-defaults",
                  "labels": {"kubernetes.io/bootstrapping": "rbac-defaults"}},
     "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole",
                 "name": "system:controller:namespace-defaults"},
     "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User",
                   "name": CONTROLLER_MANAGER_USER}]},
    # cloudcore runs the controller manager and the scheduler. Its garbage collector and
    # namespace controller act on every resource (kube's generic-garbage-collector and
    # namespace-controller roles read and delete `*`), so the role covers all
    # resources, but never RBAC escalation or binding; it may impersonate edge nodes
    # only (`_cloudcore_as_node`).
    {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
     "metadata": {"name": "system:kubeedge:cloudcore",
                  "labels": {"kubernetes.io/bootstrapping": "rbac-defaults"}},
     "rules": [
         {"apiGroups": ["*"], "resources": ["*"],
          "verbs": ["get", "list", "watch", "create", "update", "patch", "delete",
                    "deletecollection"]},
     ]},
    {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
     "metadata": {"name": "system:kubeedge:cloudcore",
                  "labels": {"kubernetes.io/bootstrapping": "rbac-defaults"}},
     "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole",
                 "name": "system:kubeedge:cloudcore"},
     "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User",
                   "name": CLOUDCORE_USER}]},
)

def _cloudcore_as_node(user: UserInfo, name: str, groups: list[str], uid: str,
                       extra: dict[str, list[str]]) -> bool:
    """cloudcore may speak as an edge node and as nothing else: EdgeController makes an
    edge's requests as `system:node:<name>` in `system:nodes`, so the node authorizer
    and NodeRestriction judge them as they judge a kubelet. RBAC cannot say "users
    named system:node:*", and a grant to impersonate any user would let cloudcore act
    as an administrator; so this one pairing is built in, as the node authorizer is."""
    return (user.name == CLOUDCORE_USER and name.startswith(NODE_USER_PREFIX)
            and len(name) > len(NODE_USER_PREFIX) and set(groups) <= {NODES_GROUP}
            and not uid and not extra)


VERSION_INFO = {
    # The installed kubectl is a dispatcher that picks its binary from the minor
    # version: it must read "32" (specs/k8s-api.md §0.1).
    "major": "1",
    "minor": "32",
    "gitVersion": "v1.32.0-kubeedge-py",
    "gitCommit": "0000000000000000000000000000000000000000",
    "gitTreeState": "clean",
    "buildDate": "2026-01-01T00:00:00Z",
    "goVersion": "go1.23",
    "compiler": "gc",
    "platform": "linux/amd64",
}
PUBLIC_PATHS = frozenset({"/version", "/version/", "/healthz", "/livez", "/readyz"})
CACHE_CATCH_UP_SECONDS = 10.0
USER_KEY = web.RequestKey("user", UserInfo)
STANDARD_NAMESPACES = ("default", "kube-system", "kube-public", "kube-node-lease")


class APIServer:
    def __init__(self, config: APIServerConfig, store: Store | None = None) -> None:
        self.config = config
        self.store = store or self._open_store()
        self.registry = Registry()
        self.objects = ObjectStore(self.store, self.registry, "/registry",
                                   max_object_bytes=config.max_request_body_bytes)
        self.allocator = ServiceIPAllocator(config.service_cluster_ip_range)
        self.namespace_cache = ResourceCache(self.objects, self._type("", "v1", "namespaces"))
        self.crds = CRDController(self.objects, self.registry, self._delete_object)
        self.schemas = ObjectSchemas(self.registry, self.crds)
        self.tables = TableRenderer(self.crds.crds.get)
        self.training_admission = TrainingAdmission()
        self.volcano_admission = VolcanoAdmission(self.objects, self.registry,
                                                  ByName(self.namespace_cache))
        # Logs, exec, attach, port-forward, node proxy and metrics reach kubelets
        # (cloudcore's stream server for edges) with the --kubelet-client-* identity.
        self.kubelet = KubeletClient(config)
        self.node_proxy = NodeProxy(self.objects, self.registry, self.kubelet)
        self.metrics = MetricsAPI(self.objects, self.registry, self.kubelet,
                                  resolution_seconds=config.metrics_resolution_seconds)
        self.handlers = ResourceHandlers(
            self.objects, self.registry, self.schemas, self.tables,
            ServiceIPs(self.objects, self.allocator),
            min_request_timeout=config.min_request_timeout_seconds,
            bookmark_interval=config.bookmark_interval_seconds,
            on_stored=self._on_stored, admit=self._admit,
            namespaces=ByName(self.namespace_cache),
            connect=self.node_proxy.serve,
        )
        self.discovery = Discovery(
            self.registry, f"{config.advertise_address}:{config.port}"
        )
        self.openapi = OpenAPI(self.registry, self.crds)
        self.rbac_cache = RBACCache(self.objects, self.registry)
        self.pods_by_node = PodsByNode(self.objects, self.registry)
        self.rbac = RBACAuthorizer(self.rbac_cache)
        # kube-apiserver's --authorization-mode=Node,RBAC behind the system:masters bypass.
        self.node_authorizer = NodeAuthorizer(self.pods_by_node)
        self.authorizer = AuthorizerChain([PrivilegedGroups(), self.node_authorizer, self.rbac])
        self.authenticator = Authenticator(
            [StaticTokens(config.path(config.token_auth_file))]
        )
        self.compactor = Compactor(
            self.store,
            interval_seconds=config.storage.compaction_interval_seconds,
            retain_revisions=config.storage.compaction_retain_revisions,
        )
        self.token_issuer: TokenIssuer | None = None
        self.controllers: ControllerManager | None = None
        self.ready = False
        self._runner: web.AppRunner | None = None
        self.port = config.port

    def _open_store(self) -> Store:
        storage = self.config.storage
        if storage.backend == "etcd":
            return open_store("etcd", endpoints=storage.etcd_servers,
                              prefix=storage.etcd_prefix)
        path = self.config.path(storage.sqlite_path)
        path.parent.mkdir(parents=True, exist_ok=True)
        return open_store("sqlite", path=str(path))

    # -- lifecycle --------------------------------------------------------------------

    async def start(self) -> None:
        self._start_token_issuer()
        await self.store.start()
        await self.crds.start()
        for cache in [*self.rbac_cache.caches, self.pods_by_node.cache, self.namespace_cache]:
            await cache.start()
        await self._bootstrap()
        await self.compactor.start()
        app = web.Application(client_max_size=self.config.max_request_body_bytes)
        app.router.add_route("*", "/{tail:.*}", self._dispatch)
        self._runner = web.AppRunner(app, access_log=None, handle_signals=False,
                                     shutdown_timeout=1.0)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.config.bind_address, self.config.port,
                           ssl_context=self._ssl_context(), reuse_address=True)
        await site.start()
        if self.config.port == 0:
            server = site._server  # the only way aiohttp exposes the bound socket
            self.port = server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.ready = True
        if not self.kubelet.configured:
            log.warning("no --kubelet-client-certificate: logs, exec, attach, port-forward, "
                        "node proxy and metrics.k8s.io answer 503")
        log.info("API server listening on https://%s:%s", self.config.bind_address, self.port)
        await self._start_controllers()

    def _start_token_issuer(self) -> None:
        config = self.config
        key = config.path(config.service_account_key_file)
        if not key.exists():
            log.warning("no service account key at %s: service account tokens are off", key)
            return
        policy = TokenPolicy(
            issuer=config.service_account_issuer,
            audiences=tuple(config.api_audiences or [config.service_account_issuer]),
            min_seconds=config.service_account_min_token_seconds,
            max_seconds=config.service_account_max_token_seconds,
        )
        self.token_issuer = TokenIssuer(key, policy)
        self.authenticator.token_authenticators.append(
            ServiceAccountTokens(self.token_issuer, self.objects, self.registry))

    async def _start_controllers(self) -> None:
        """Namespace defaults run here, through the API like any client, until the
        controller manager moves into cloudcore."""
        config = self.config
        kubeconfig_path = config.path(config.controller_kubeconfig)
        if not config.namespace_controllers or not kubeconfig_path.exists():
            return
        from kubeedge.client import kubeconfig
        from kubeedge.client.rest import APIClient
        from kubeedge.controllers.namespacedefaults import NamespaceDefaults
        from kubeedge.controllers.runtime import ControllerManager

        access = kubeconfig.load(kubeconfig_path)
        # Reach this very process, whatever port it ended up on.
        access.server = f"https://127.0.0.1:{self.port}"
        ca_pem = (config.path(config.pki_dir) / "ca.crt").read_text()
        client = APIClient(access)
        self.controllers = ControllerManager(client, [NamespaceDefaults(client, ca_pem=ca_pem)])
        await self.controllers.start()

    async def stop(self) -> None:
        self.ready = False
        if self.controllers is not None:
            await self.controllers.stop()
            await self.controllers.client.close()
        self.handlers.stop()
        if self._runner is not None:
            await self._runner.cleanup()
        await self.kubelet.close()
        await self.compactor.stop()
        await self.crds.stop()
        for cache in [*self.rbac_cache.caches, self.pods_by_node.cache, self.namespace_cache]:
            await cache.stop()
        await self.store.close()

    def _ssl_context(self) -> ssl.SSLContext:
        pki = self.config.path(self.config.pki_dir)
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(pki / "apiserver.crt", pki / "apiserver.key")
        ctx.load_verify_locations(pki / "ca.crt")
        # Optional: token users connect without a certificate (specs/k8s-api.md §7).
        ctx.verify_mode = ssl.CERT_OPTIONAL
        return ctx

    async def _bootstrap(self) -> None:
        """What every cluster has before anyone asks (kube's bootstrap controllers)."""
        ns_type = self._type("", "v1", "namespaces")
        for name in STANDARD_NAMESPACES:
            await self._ensure(ns_type, {"apiVersion": "v1", "kind": "Namespace",
                                         "metadata": {"name": name}})
        for obj in [*bootstrap_policy(), *CONTROLLER_POLICY]:
            group, version = obj["apiVersion"].split("/")
            rt = self.registry.by_kind(group, version, obj["kind"])
            assert rt is not None
            await self._ensure(rt, obj)
        await self._ensure(self._type("", "v1", "services"), {
            "apiVersion": "v1", "kind": "Service",
            "metadata": {"name": "kubernetes", "namespace": "default",
                         "labels": {"component": "apiserver", "provider": "kubernetes"}},
            "spec": {"clusterIP": self.allocator.first(), "type": "ClusterIP",
                     "ports": [{"name": "https", "port": 443, "protocol": "TCP",
                                "targetPort": self.config.port}]},
        })
        await self._ensure(self._type("", "v1", "endpoints"), {
            "apiVersion": "v1", "kind": "Endpoints",
            "metadata": {"name": "kubernetes", "namespace": "default"},
            "subsets": [{"addresses": [{"ip": self.config.advertise_address}],
                         "ports": [{"name": "https", "port": self.config.port,
                                    "protocol": "TCP"}]}],
        })

    def _type(self, group: str, version: str, plural: str) -> ResourceType:
        rt = self.registry.lookup(group, version, plural)
        assert rt is not None
        return rt

    async def _ensure(self, rt: ResourceType, obj: dict[str, Any]) -> None:
        existing = await self.objects.find(rt, meta.namespace_of(obj), meta.name_of(obj))
        if existing is not None:
            return
        warnings: list[str] = []
        try:
            await self.handlers.create_object(
                rt, meta.namespace_of(obj), obj, WriteOptions(field_validation="Strict"),
                warnings,
            )
        except errors.StatusError as exc:
            if exc.code != 409:
                raise

    async def _on_stored(self, rt: ResourceType, obj: dict[str, Any]) -> None:
        """After a write: CRD changes take effect at once, and authorization caches catch
        up before the response, so the writer's next request sees its change."""
        if rt.crd is None and rt.kind == "CustomResourceDefinition":
            stored = await self.objects.find(rt, "", meta.name_of(obj))
            if stored is not None:
                await self.crds.observe(stored)
            return
        revision = int(obj["metadata"].get("resourceVersion") or 0)
        caches = []
        if rt.group == "rbac.authorization.k8s.io":
            caches = [c for c in self.rbac_cache.caches if c.rt.plural == rt.plural]
        elif rt.kind == "Pod" and not rt.crd:
            caches = [self.pods_by_node.cache]
        elif rt.kind == "Namespace" and not rt.crd:
            caches = [self.namespace_cache]
        for cache in caches:
            try:
                await asyncio.wait_for(cache.wait_for(revision), CACHE_CATCH_UP_SECONDS)
            except TimeoutError:
                # The write is committed; answering 500 would mislead the client. The
                # cache catches up on its own.
                log.warning("cache of %s is behind revision %s", rt.plural, revision)

    async def _delete_object(self, rt: ResourceType, namespace: str, name: str,
                             options: dict[str, Any]) -> tuple[dict[str, Any], bool]:
        return await self.handlers.delete_object(rt, namespace, name, options)

    # -- requests ---------------------------------------------------------------------

    async def _dispatch(self, request: web.Request) -> web.StreamResponse:
        try:
            return await self._serve(request)
        except errors.StatusError as exc:
            return json_response(exc.to_status(), status=exc.code, headers=exc.headers)
        except web.HTTPRequestEntityTooLarge:
            exc = errors.too_large("the request body is too large")
            return json_response(exc.to_status(), status=exc.code)
        except (ConnectionResetError, asyncio.CancelledError):
            raise
        except Exception as exc:
            log.exception("unexpected error serving %s %s", request.method, request.path)
            status = errors.internal(str(exc))
            return json_response(status.to_status(), status=500)

    async def _serve(self, request: web.Request) -> web.StreamResponse:
        path = request.path
        user = await self.authenticator.authenticate(request)
        if path in PUBLIC_PATHS:
            return self._public(path)
        if user.name == "system:anonymous":
            raise errors.unauthorized()
        user = self._impersonate(request, user)
        info = parse_path(request.method, path, request.query)
        self._authorize(user, info, request)
        request[USER_KEY] = user
        if info.is_resource_request:
            rt = self.registry.lookup(info.group, info.version, info.resource)
            if rt is None:
                raise errors.StatusError(404, "NotFound",
                                         "the server could not find the requested resource",
                                         {})
            if rt.group == METRICS_GROUP:
                return await self.metrics.serve(request, info, rt)
            if not rt.persisted:
                return await reviews.serve(self, request, info, rt, user)
            if rt.plural == "serviceaccounts" and info.subresource == "token" and not rt.crd:
                return await self._token_request(request, info)
            return await self.handlers.serve(request, info, rt)
        return self._non_resource(request, path)

    async def _token_request(self, request: web.Request, info: RequestInfo) -> web.Response:
        if info.verb != "create":
            raise errors.method_not_allowed(
                "the server does not allow this method on serviceaccounts/token")
        if self.token_issuer is None:
            raise errors.service_unavailable("service account tokens are not configured: the "
                                             "API server has no service account key")
        body = decode_body(await request.read(), media_type(request), "TokenRequest")
        if not isinstance(body, dict):
            raise errors.bad_request("the request body must be a TokenRequest object")
        answer = await token_request(self.token_issuer, self.objects, self.registry,
                                     info.namespace, info.name, body)
        return json_response(answer, status=201)

    def _public(self, path: str) -> web.StreamResponse:
        if path.startswith("/version"):
            return json_response(VERSION_INFO)
        if path == "/readyz" and not self.ready:
            return web.Response(status=500, text="[-]readyz failed: starting\n")
        return web.Response(text="ok")

    def _non_resource(self, request: web.Request, path: str) -> web.StreamResponse:
        accept = request.headers.get("Accept", "")
        if path in ("/api", "/api/"):
            if wants_aggregated(accept):
                return json_response(self.discovery.aggregated(True),
                                     content_type=AGGREGATED_CONTENT_TYPE)
            return json_response(self.discovery.api_versions())
        if path in ("/apis", "/apis/"):
            if wants_aggregated(accept):
                return json_response(self.discovery.aggregated(False),
                                     content_type=AGGREGATED_CONTENT_TYPE)
            return json_response(self.discovery.api_group_list())
        parts = [p for p in path.split("/") if p]
        if parts[:1] == ["api"] and len(parts) == 2:
            found = self.discovery.resource_list("", parts[1])
            if found is not None:
                return json_response(found)
        if parts[:1] == ["apis"] and len(parts) == 2:
            group_doc = self.discovery.api_group(parts[1])
            if group_doc is not None:
                return json_response(group_doc)
        if parts[:1] == ["apis"] and len(parts) == 3:
            found = self.discovery.resource_list(parts[1], parts[2])
            if found is not None:
                return json_response(found)
        if parts[:2] == ["openapi", "v3"]:
            doc = self.openapi.document("/".join(parts[2:]))
            if doc is not None:
                return web.Response(body=doc, content_type="application/json",
                                    headers={"Cache-Control": "no-cache, private"})
        raise errors.StatusError(404, "NotFound", "the server could not find the requested "
                                 "resource", {})

    # -- authn/authz ----------------------------------------------------------------

    def _impersonate(self, request: web.Request, user: UserInfo) -> UserInfo:
        wanted = impersonation_request(request)
        if wanted is None:
            return user
        name, groups, uid, extra = wanted
        parts = name.split(":")
        if _cloudcore_as_node(user, name, groups, uid, extra):
            return UserInfo(name, (NODES_GROUP, "system:authenticated"), "", {})
        checks: list[tuple[str, str, str]] = []  # (api group, resource, name)
        service_account = (len(parts) == 4 and parts[:2] == ["system", "serviceaccount"]
                           and all(parts[2:]))
        if service_account:
            checks.append(("", "serviceaccounts", parts[3]))
        else:
            checks.append(("", "users", name))
        checks += [("", "groups", g) for g in groups]
        if uid:
            checks.append(("authentication.k8s.io", "uids", uid))
        for key, values in extra.items():
            checks += [("authentication.k8s.io", f"userextras/{key}", v) for v in values]
        for group, resource, target in checks:
            res, _, sub = resource.partition("/")
            namespace = parts[2] if resource == "serviceaccounts" else ""
            decision = self.authorizer.authorize(RequestAttributes(
                user=user, verb="impersonate", api_group=group, resource=res,
                subresource=sub, name=target, namespace=namespace,
            ))
            if not decision.allowed:
                raise errors.StatusError(
                    403, "Forbidden",
                    f'{res} "{target}" is forbidden: User "{user.name}" cannot impersonate '
                    f'resource "{res}" in API group "{group}" at the cluster scope',
                    {"name": target, "kind": res},
                )
        impersonated_groups = list(groups)
        if service_account and not groups:
            # A service account's implied groups, only when no groups were asked for
            # (kube's impersonation filter does the same).
            impersonated_groups += ["system:serviceaccounts", f"system:serviceaccounts:{parts[2]}"]
        if name != "system:anonymous" and "system:authenticated" not in impersonated_groups:
            impersonated_groups.append("system:authenticated")
        return UserInfo(name, tuple(impersonated_groups), uid,
                        {k: tuple(v) for k, v in extra.items()})

    async def _admit(self, request: web.Request, info: RequestInfo,
                     obj: dict[str, Any] | None, old: dict[str, Any] | None) -> None:
        """NodeRestriction (what a node may write about itself only), RBAC escalation,
        then Volcano's admission webhooks. `obj` is None for a delete."""
        user = request.get(USER_KEY)
        if obj is not None and user is not None:
            self._admit_write(user, info, obj, old)
        await self.volcano_admission.admit(info, obj, old)
        await self.training_admission.admit(info, obj, old)

    def _admit_write(self, user: UserInfo, info: RequestInfo, obj: dict[str, Any],
                     old: dict[str, Any] | None) -> None:
        attrs = _resource_attributes(user, info, info.name or meta.name_of(obj))
        decision = self.node_authorizer.admit(attrs, obj, old)
        if not decision.allowed:
            raise forbidden_error(attrs, decision.reason)
        if (info.group == RBAC_GROUP and info.resource in RBAC_RESOURCES
                and not info.subresource):
            reason = check_no_escalation(self.authorizer, self.rbac_cache, user,
                                         info.resource, info.namespace, obj)
            if reason:
                what = f'{info.resource}.{RBAC_GROUP} "{attrs.name}"'
                raise errors.StatusError(
                    403, "Forbidden", f"{what} is forbidden: {reason}",
                    {"name": attrs.name, "group": RBAC_GROUP, "kind": info.resource})

    def _authorize(self, user: UserInfo, info: RequestInfo, request: web.Request) -> None:
        if info.is_resource_request:
            name = info.name
            if not name and info.verb in ("list", "watch"):
                # Lets a node watch just the objects its pods use (kube does the same).
                name = name_from_field_selector(request.query.get("fieldSelector"))
            attrs = _resource_attributes(user, info, name)
        else:
            attrs = RequestAttributes(user=user, verb=info.verb, resource_request=False,
                                      path=info.path)
        decision = self.authorizer.authorize(attrs)
        if not decision.allowed:
            raise forbidden_error(attrs, decision.reason)
        if (attrs.resource_request and attrs.verb == "get" and not attrs.api_group
                and attrs.resource == "pods" and attrs.subresource in SESSION_SUBRESOURCES):
            # A WebSocket exec/attach/port-forward arrives as a GET, so `get pods/exec`
            # alone would open a shell; kube's AuthorizePodWebsocketUpgradeCreatePermission
            # also requires `create` on the subresource, as the SPDY POST needs.
            create = dataclasses.replace(attrs, verb="create")
            decision = self.authorizer.authorize(create)
            if not decision.allowed:
                raise forbidden_error(create, decision.reason)


# Interactive pod sessions: authorized as `create` whatever the method.
SESSION_SUBRESOURCES = frozenset({"exec", "attach", "portforward"})
# The server keeps every cached object (pods by node, RBAC, namespaces) as Python
# objects; with the default gen-0 threshold (700) each young collection walks far more
# than it frees. A larger threshold, and freezing what start-up loaded, keep the
# collector's share of request time small (docs/benchmarks.md, "garbage collector").
GC_THRESHOLDS = (50_000, 20, 10)


def _resource_attributes(user: UserInfo, info: RequestInfo, name: str) -> RequestAttributes:
    return RequestAttributes(
        user=user, verb=info.verb, api_group=info.group, resource=info.resource,
        subresource=info.subresource, namespace=info.namespace, name=name,
        api_version=info.version, path=info.path,
    )


async def serve_forever(config: APIServerConfig) -> None:
    gc.set_threshold(*GC_THRESHOLDS)
    server = APIServer(config)
    await server.start()
    gc.freeze()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    await server.stop()

