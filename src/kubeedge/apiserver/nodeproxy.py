"""Reaching a node's kubelet-style server: pods/log, exec, attach, portforward and
nodes/proxy, as kube-apiserver does through its kubelet client.

Owns where a node's kubelet is (`kubelet_location`: cloudcore's stream server named by
the `kubeedge.io/stream-server` annotation, else the node's address and kubelet port),
the TLS client identity (`--kubelet-client-*`), streaming log bodies back, and relaying
upgraded connections raw: after the request head, bytes pass both ways untouched,
the kubelet's `101 Switching Protocols` included (issue 8 design, specs/k8s-api.md §6).
It never terminates a streaming protocol (WebSocket channels, SPDY); edged's server does.

Taking an upgraded connection away from aiohttp uses its internals
(`RequestHandler.set_parser`, the hook its own WebSocket support uses);
tests/unit/apiserver/test_nodeproxy_hijack.py fails if they change.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import ssl
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlencode

import aiohttp
import yarl
from aiohttp import web

from kubeedge.api import errors, meta
from kubeedge.api.registry import Registry, ResourceType
from kubeedge.apiserver.objects import ObjectStore
from kubeedge.apiserver.request import RequestInfo, flag, integer
from kubeedge.config.apiserver import APIServerConfig
from kubeedge.streaming.tunnel import STREAM_SERVER_ANNOTATION

log = logging.getLogger(__name__)

# kubectl's annotation naming the container to use when none is given.
DEFAULT_CONTAINER_ANNOTATION = "kubectl.kubernetes.io/default-container"
# kube's kubelet port when a node reports none (--kubelet-port).
DEFAULT_KUBELET_PORT = 10250
# Address types tried in order when a node has no stream server annotation.
PREFERRED_ADDRESS_TYPES = ("InternalIP", "ExternalIP", "Hostname")
# kube reads at most this much of a kubelet's error body (genericrest maxReadLength).
MAX_ERROR_BODY = 50_000
# Bytes moved per read in a relay, and the most one side may buffer before reading
# from it pauses (asyncio.StreamReader pauses at twice its limit).
RELAY_CHUNK_BYTES = 64 * 1024
MAX_HEAD_BYTES = 64 * 1024
# The client's headers an upgrade needs at the kubelet; kube-apiserver forwards the
# request whole, but credentials (Authorization, Impersonate-*) stay here.
UPGRADE_HEADERS = ("Connection", "Upgrade", "Sec-WebSocket-Key", "Sec-WebSocket-Version",
                   "Sec-WebSocket-Protocol", "Sec-WebSocket-Extensions",
                   "X-Stream-Protocol-Version", "User-Agent", "Origin")
PROXY_REQUEST_HEADERS = ("Accept", "Accept-Encoding", "Content-Type", "User-Agent")
PROXY_RESPONSE_HEADERS = ("Content-Type", "Content-Encoding", "Cache-Control")


@dataclass(frozen=True)
class KubeletLocation:
    """Where to connect for one node, and how to name it there."""

    host: str          # connect address
    port: int
    server_name: str   # the name the kubelet's (stream server's) certificate must hold
    host_header: str   # `Host:` of the request; the stream server picks the tunnel by it

    @property
    def address(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"


def _split_host_port(value: str) -> tuple[str, int] | None:
    host, sep, port = value.strip().rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        return None
    return host.strip("[]"), int(port)


def kubelet_location(node: dict[str, Any]) -> KubeletLocation:
    """The node's kubelet: cloudcore's stream server when the edge's tunnel is up (the
    annotation), else `<address>:<kubeletEndpoint port>` as kube-apiserver uses."""
    name = meta.name_of(node)
    annotation = (node.get("metadata", {}).get("annotations") or {}).get(
        STREAM_SERVER_ANNOTATION)
    if annotation:
        parsed = _split_host_port(annotation)
        if parsed is None:
            raise errors.StatusError(
                500, "InternalError",
                f'node "{name}" has an invalid {STREAM_SERVER_ANNOTATION} annotation '
                f'"{annotation}": expected host:port')
        host, port = parsed
        return KubeletLocation(host, port, host, name)
    status = node.get("status") or {}
    port = int(((status.get("daemonEndpoints") or {}).get("kubeletEndpoint") or {})
               .get("Port") or 0) or DEFAULT_KUBELET_PORT
    addresses = status.get("addresses") or []
    for wanted in PREFERRED_ADDRESS_TYPES:
        for address in addresses:
            if address.get("type") == wanted and address.get("address"):
                host = str(address["address"])
                bracketed = f"[{host}]" if ":" in host else host
                return KubeletLocation(host, port, host, f"{bracketed}:{port}")
    known = " ".join(f"{{{a.get('type', '')} {a.get('address', '')}}}" for a in addresses)
    # kube-apiserver's words (nodeutil.NoMatchError), as a 500 without a reason.
    raise errors.StatusError(
        500, "", f"no preferred addresses found; known addresses: [{known}]")


class KubeletClient:
    """The API server's TLS client identity toward kubelets, and its connections."""

    def __init__(self, config: APIServerConfig) -> None:
        self.config = config
        self.timeout = config.kubelet_timeout_seconds
        self._context: ssl.SSLContext | None = None
        self._stamp: tuple[float, ...] = ()
        self._session: aiohttp.ClientSession | None = None

    @property
    def configured(self) -> bool:
        return bool(self.config.kubelet_client_certificate)

    def ssl_context(self) -> ssl.SSLContext:
        """Loaded on first use and again whenever a file changes (certificate rotation);
        503 when the flags are unset or the files cannot be read."""
        config = self.config
        if not self.configured:
            raise errors.service_unavailable(
                "the API server has no kubelet client credentials: start it with "
                "--kubelet-client-certificate, --kubelet-client-key and "
                "--kubelet-certificate-authority (keadm init does)")
        paths = [config.path(config.kubelet_client_certificate),
                 config.path(config.kubelet_client_key),
                 config.path(config.kubelet_certificate_authority)]
        try:
            stamp = tuple(os.stat(p).st_mtime for p in paths)
            if self._context is None or stamp != self._stamp:
                context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
                context.load_verify_locations(paths[2])
                context.load_cert_chain(paths[0], paths[1])
                self._context, self._stamp = context, stamp
        except (OSError, ssl.SSLError) as exc:
            raise errors.service_unavailable(
                f"the kubelet client credentials cannot be loaded: {exc}") from None
        return self._context

    def session(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            # One request per connection: the stream server relays one session per
            # connection, and many `logs -f` run at once (no pool limit).
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(force_close=True, limit=0),
                timeout=aiohttp.ClientTimeout(total=None, sock_connect=self.timeout),
                auto_decompress=False,
            )
        return self._session

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()

    async def request(self, location: KubeletLocation, method: str, target: str,
                      headers: dict[str, str] | None = None,
                      body: bytes | None = None) -> aiohttp.ClientResponse:
        """The kubelet's response with its head read (within the kubelet timeout); the
        body is the caller's to read and release. Raises `DialError`."""
        context = self.ssl_context()
        url = yarl.URL(f"https://{location.address}{target}", encoded=True)
        try:
            async with asyncio.timeout(self.timeout):
                return await self.session().request(
                    method, url, data=body, ssl=context,
                    server_hostname=location.server_name,
                    headers={**(headers or {}), "Host": location.host_header},
                )
        except (aiohttp.ClientError, OSError, TimeoutError) as exc:
            raise DialError(location, exc) from exc

    async def open(self, location: KubeletLocation
                   ) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        """A raw TLS connection to the kubelet (for upgrades). Raises `DialError`."""
        context = self.ssl_context()
        try:
            async with asyncio.timeout(self.timeout):
                return await asyncio.open_connection(
                    location.host, location.port, ssl=context,
                    server_hostname=location.server_name, limit=MAX_HEAD_BYTES)
        except (OSError, TimeoutError) as exc:
            raise DialError(location, exc) from exc


class DialError(Exception):
    """The kubelet could not be reached; `reason` reads like Go's dial errors."""

    def __init__(self, location: KubeletLocation, exc: BaseException) -> None:
        self.location = location
        self.reason = _dial_reason(location, exc)
        super().__init__(self.reason)


def _dial_reason(location: KubeletLocation, exc: BaseException) -> str:
    if isinstance(exc, aiohttp.ClientConnectorCertificateError):
        return f"tls: failed to verify certificate: {exc.certificate_error}"
    if isinstance(exc, aiohttp.ClientConnectorError):
        exc = exc.os_error
    if isinstance(exc, ssl.SSLCertVerificationError):
        return f"tls: failed to verify certificate: {exc.verify_message or exc}"
    if isinstance(exc, ssl.SSLError):
        return f"remote error: tls: {exc.reason or exc}"
    if isinstance(exc, TimeoutError):
        return f"dial tcp {location.address}: i/o timeout"
    if isinstance(exc, ConnectionRefusedError):
        return f"dial tcp {location.address}: connect: connection refused"
    if isinstance(exc, OSError) and exc.strerror:
        return f"dial tcp {location.address}: {exc.strerror.lower()}"
    return f"dial tcp {location.address}: {str(exc) or type(exc).__name__}"


# -- the client's connection, taken from aiohttp ---------------------------------------


class _Feed:
    """Stands in for aiohttp's WebSocket reader (`RequestHandler.set_parser`): the bytes
    the client sends after its request head go to `reader`, and EOF when it is gone."""

    def __init__(self, reader: asyncio.StreamReader) -> None:
        self.reader = reader

    def feed_data(self, data: bytes) -> tuple[bool, bytes]:
        self.reader.feed_data(data)
        return False, b""

    def feed_eof(self) -> None:
        self.reader.feed_eof()


class ClientConnection:
    """The client's connection after its request head, taken over from aiohttp.

    aiohttp hands every later byte to `reader` (bytes it buffered after an upgrade
    request's head first) and calls its EOF when the connection drops, so a relay
    learns of a departed client at once. Writes go straight to the transport; the
    handler then returns `Detached()` so aiohttp writes nothing more and closes the
    connection instead of reading another request from it.
    """

    def __init__(self, request: web.BaseRequest) -> None:
        transport = request.transport
        if transport is None or transport.is_closing():
            raise ConnectionResetError("the client went away")
        self.transport = transport
        self._writer = request.writer
        self.reader = asyncio.StreamReader(limit=RELAY_CHUNK_BYTES)
        self.reader.set_transport(transport)  # flow control: pauses the client's reads
        request.protocol.set_parser(_Feed(self.reader))  # type: ignore[arg-type]

    @property
    def closing(self) -> bool:
        return self.transport.is_closing()

    async def write(self, data: bytes) -> None:
        if self.transport.is_closing():
            raise ConnectionResetError("the client went away")
        self.transport.write(data)
        await self._writer.drain()

    async def wait_gone(self) -> None:
        """Returns when the client has closed its side (anything it sends is dropped)."""
        while await self.reader.read(RELAY_CHUNK_BYTES):
            pass

    def close(self) -> None:
        self.transport.close()


class Detached(web.StreamResponse):
    """What a handler returns once the connection is no longer aiohttp's: nothing is
    prepared or written, and aiohttp closes the connection afterwards."""

    def __init__(self) -> None:
        super().__init__(status=101)
        self.force_close()

    async def prepare(self, request: web.BaseRequest) -> None:  # type: ignore[override]
        return None

    async def write_eof(self, data: bytes = b"") -> None:
        return None


async def relay(client: ClientConnection, reader: asyncio.StreamReader,
                writer: asyncio.StreamWriter) -> None:
    """Bytes both ways until either side ends; then both close (kube's upgrade-aware
    proxy does the same: one finished direction ends the session)."""

    async def upstream_to_client() -> None:
        while data := await reader.read(RELAY_CHUNK_BYTES):
            await client.write(data)

    async def client_to_upstream() -> None:
        while data := await client.reader.read(RELAY_CHUNK_BYTES):
            writer.write(data)
            await writer.drain()

    tasks = [asyncio.create_task(upstream_to_client()),
             asyncio.create_task(client_to_upstream())]
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, ConnectionError, OSError,
                                     ssl.SSLError):
                await task
        writer.close()
        client.close()
        with contextlib.suppress(ConnectionError, OSError, ssl.SSLError):
            await writer.wait_closed()


# -- responses and errors ------------------------------------------------------------

_REASONS = {400: "BadRequest", 401: "Unauthorized", 403: "Forbidden", 404: "NotFound",
            405: "MethodNotAllowed", 409: "Conflict", 422: "Invalid",
            429: "TooManyRequests", 503: "ServiceUnavailable", 504: "Timeout"}
_GENERIC_MESSAGES = {
    404: "the server could not find the requested resource",
    400: "the server rejected our request for an unknown reason",
    401: "the server has asked for the client to provide credentials",
    405: "the server does not allow this method on the requested resource",
    422: "the server rejected our request due to an error in our request",
    503: "the server is currently unable to handle the request",
    504: ("the server was unable to return a response in the time allotted, but may "
          "still be processing the request"),
    429: "the server has received too many requests and has asked us to try again later",
}


def kubelet_log_error(code: int, body: str, name: str) -> errors.StatusError:
    """A kubelet's non-2xx answer to a log request, as kube's GenericHttpResponseChecker
    turns it into a Status: 500 internal, 400 bad request with the kubelet's text, the
    rest apimachinery's NewGenericServerResponse for `pods/log <name>`."""
    if code == 500:
        return errors.StatusError(500, "InternalError", f"Internal error occurred: {body}",
                                  {"causes": [{"message": body}]})
    if code == 400:
        return errors.bad_request(body)
    reason = _REASONS.get(code, "")
    if code in (403, 406, 415):
        message = body
    elif code in _GENERIC_MESSAGES:
        message = _GENERIC_MESSAGES[code]
    elif code >= 500:
        reason = "InternalError"
        message = (f"an error on the server ({_go_quote(body)}) has prevented the request "
                   "from succeeding")
    else:
        message = (f"the server responded with the status code {code} but did not return "
                   "more information")
    return errors.StatusError(code, reason, f"{message} ( pods/log {name})",
                              {"name": name, "kind": "pods/log"})


def kubelet_upgrade_error(code: int, body: str) -> errors.StatusError:
    """A kubelet that refused an upgrade: its code, and its text as the message (what
    kubectl prints after "unable to upgrade connection:")."""
    reason = _REASONS.get(code, "InternalError" if code >= 500 else "")
    return errors.StatusError(code, reason, body.strip() or _GENERIC_MESSAGES.get(
        code, f"the kubelet answered {code}"))


def _go_quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def _dial_status(message: str) -> errors.StatusError:
    """kube-apiserver answers a kubelet it cannot reach with a 500 whose message is the
    Go error (ErrorToAPIStatus of a plain error: no reason)."""
    return errors.StatusError(500, "", message)


# -- pods and containers ---------------------------------------------------------------


def _names(containers: Any) -> list[str]:
    return [str(c.get("name")) for c in containers or [] if isinstance(c, dict)]


def choose_container(pod: dict[str, Any], requested: str, *, for_logs: bool) -> str:
    """The container a log or exec request means (kube's validateContainer and
    streamLocation): the one asked for, which must exist; else kubectl's
    default-container annotation, else the only container; else 400 listing them."""
    spec = pod.get("spec") or {}
    name = meta.name_of(pod)
    init, regular = _names(spec.get("initContainers")), _names(spec.get("containers"))
    ephemeral = _names(spec.get("ephemeralContainers"))
    if requested:
        if requested not in (*init, *regular, *ephemeral):
            raise errors.bad_request(f"container {requested} is not valid for pod {name}")
        return requested
    annotated = ((pod.get("metadata") or {}).get("annotations") or {}).get(
        DEFAULT_CONTAINER_ANNOTATION, "")
    if annotated and annotated in (*init, *regular, *ephemeral):
        return str(annotated)
    if len(regular) == 1:
        return regular[0]
    if not regular:
        raise errors.bad_request(f"a container name must be specified for pod {name}")
    if for_logs:
        choices = " ".join([*init, *regular, *ephemeral])
        raise errors.bad_request(
            f"a container name must be specified for pod {name}, choose one of: [{choices}]")
    message = (f"a container name must be specified for pod {name}, choose one of: "
               f"[{' '.join(regular)}]")
    if init:
        message += f" or one of the init containers: [{' '.join(init)}]"
    raise errors.bad_request(message)


def _field_invalid(path: str, value: Any, detail: str) -> errors.Cause:
    return errors.Cause(path, f"Invalid value: {value}: {detail}")


def log_params(query: Any, pod_name: str) -> list[tuple[str, str]]:
    """PodLogOptions from the query, validated as kube's ValidatePodLogOptions (422
    PodLogOptions), as kubelet query parameters in url.Values.Encode's key order."""
    tail = integer(query, "tailLines")
    limit = integer(query, "limitBytes")
    since = integer(query, "sinceSeconds")
    since_time_text = query.get("sinceTime") or ""
    since_time = None
    if since_time_text:
        since_time = meta.parse_time(since_time_text)
        if since_time is None:
            raise errors.bad_request(
                f'invalid value for sinceTime: "{since_time_text}" is not an RFC 3339 time')
    causes: list[errors.Cause] = []
    if tail is not None and tail < 0:
        causes.append(_field_invalid("tailLines", tail, "must be greater than or equal to 0"))
    if limit is not None and limit < 1:
        causes.append(_field_invalid("limitBytes", limit, "must be greater than 0"))
    if since is not None and since_time is not None:
        causes.append(errors.Cause(
            "", "Forbidden: at most one of `sinceTime` or `sinceSeconds` may be specified",
            "FieldValueForbidden"))
    elif since is not None and since < 1:
        causes.append(_field_invalid("sinceSeconds", since, "must be greater than 0"))
    if causes:
        raise errors.invalid("PodLogOptions", pod_name, causes)
    params: list[tuple[str, str]] = []
    if flag(query, "follow"):
        params.append(("follow", "true"))
    if limit is not None:
        params.append(("limitBytes", str(limit)))
    if flag(query, "previous"):
        params.append(("previous", "true"))
    if since is not None:
        params.append(("sinceSeconds", str(since)))
    if since_time is not None:
        params.append(("sinceTime", meta.rfc3339(since_time)))
    if tail is not None:
        params.append(("tailLines", str(tail)))
    if flag(query, "timestamps"):
        params.append(("timestamps", "true"))
    return params


def stream_params(query: Any, *, command: bool) -> list[tuple[str, str]]:
    """PodExecOptions / PodAttachOptions as the kubelet's query (kube's streamParams):
    stdin/stdout/stderr/tty become input/output/error/tty=1, commands stay `command`."""
    params: list[tuple[str, str]] = []
    if command:
        params += [("command", c) for c in query.getall("command", [])]
    for ours, kubelets in (("stderr", "error"), ("stdin", "input"), ("stdout", "output"),
                           ("tty", "tty")):
        if flag(query, ours):
            params.append((kubelets, "1"))
    params.sort(key=lambda p: p[0])  # url.Values.Encode sorts keys; values keep order
    return params


def port_params(query: Any) -> list[tuple[str, str]]:
    """PodPortForwardOptions.ports (repeated, or comma-separated as the Python client
    sends them) as the kubelet's `port=` list (kube's streamParams). `ports=` carries the
    same list under the name clients use, for kubelet-style servers that read it."""
    ports: list[str] = []
    for value in query.getall("ports", []):
        for part in value.split(","):
            part = part.strip()
            if not part:
                continue
            if not part.isdigit() or not 0 < int(part) < 65536:
                raise errors.bad_request(f'invalid port "{part}": must be 1-65535')
            ports.append(str(int(part)))
    if not ports:
        return []
    joined = ",".join(ports)
    return [("port", joined), ("ports", joined)]


def _path(*segments: str) -> str:
    return "/" + "/".join(quote(s, safe="") for s in segments)


def _target(path: str, params: Iterable[tuple[str, str]]) -> str:
    query = urlencode(list(params))
    return f"{path}?{query}" if query else path


# -- the subresources ------------------------------------------------------------------


class NodeProxy:
    """Serves pods/log, pods/exec, pods/attach, pods/portforward and nodes/proxy."""

    def __init__(self, objects: ObjectStore, registry: Registry,
                 kubelet: KubeletClient) -> None:
        self.objects = objects
        self.kubelet = kubelet
        pods, nodes = registry.lookup("", "v1", "pods"), registry.lookup("", "v1", "nodes")
        assert pods is not None and nodes is not None
        self._pods, self._nodes = pods, nodes

    async def serve(self, request: web.Request, info: RequestInfo,
                    rt: ResourceType) -> web.StreamResponse:
        sub = info.subresource
        if rt.plural == "nodes" and sub == "proxy" and not rt.group:
            return await self.node_proxy(request, info)
        if rt.plural != "pods" or rt.group:
            raise errors.not_found(f"{rt.plural}/{sub}", info.name, rt.group)
        if sub == "log":
            return await self.logs(request, info)
        if sub in ("exec", "attach"):
            return await self.remote_command(request, info, sub)
        if sub == "portforward":
            return await self.port_forward(request, info)
        raise errors.not_found(f"pods/{sub}", info.name)

    async def _node_of(self, pod: dict[str, Any]) -> KubeletLocation | None:
        node_name = (pod.get("spec") or {}).get("nodeName") or ""
        if not node_name:
            return None
        return kubelet_location(await self.objects.get(self._nodes, "", node_name))

    # pods/log ----------------------------------------------------------------------

    async def logs(self, request: web.Request, info: RequestInfo) -> web.StreamResponse:
        query = request.query
        pod = await self.objects.get(self._pods, info.namespace, info.name)
        container = choose_container(pod, query.get("container", ""), for_logs=True)
        params = log_params(query, info.name)
        location = await self._node_of(pod)
        if location is None:
            # kube's LogLocation: a pod not yet on a node has no logs (an empty answer).
            return web.Response(body=b"", content_type="text/plain")
        self.kubelet.ssl_context()  # 503 before anything else when unconfigured
        target = _target(_path("containerLogs", info.namespace, info.name, container),
                         params)
        try:
            upstream = await self.kubelet.request(location, "GET", target)
        except DialError as exc:
            raise _dial_status(f'Get "https://{location.address}{target}": {exc.reason}') \
                from None
        try:
            if not 200 <= upstream.status <= 206:
                body = await _read_limited(upstream)
                raise kubelet_log_error(upstream.status, body, info.name)
            return await _stream_body(request, upstream, "text/plain")
        finally:
            upstream.release()

    # pods/exec, pods/attach, pods/portforward ---------------------------------------

    async def remote_command(self, request: web.Request, info: RequestInfo,
                             sub: str) -> web.StreamResponse:
        pod = await self.objects.get(self._pods, info.namespace, info.name)
        container = choose_container(pod, request.query.get("container", ""),
                                     for_logs=False)
        params = stream_params(request.query, command=sub == "exec")
        location = await self._node_of(pod)
        if location is None:
            raise errors.bad_request(f"pod {info.name} does not have a host assigned")
        target = _target(_path(sub, info.namespace, info.name, container), params)
        return await self.upgrade(request, location, target)

    async def port_forward(self, request: web.Request, info: RequestInfo
                           ) -> web.StreamResponse:
        pod = await self.objects.get(self._pods, info.namespace, info.name)
        params = port_params(request.query)
        location = await self._node_of(pod)
        if location is None:
            raise errors.bad_request(f"pod {info.name} does not have a host assigned")
        target = _target(_path("portForward", info.namespace, info.name), params)
        return await self.upgrade(request, location, target)

    async def upgrade(self, request: web.Request, location: KubeletLocation,
                      target: str) -> web.StreamResponse:
        """Send the request head to the kubelet; on `101` relay raw both ways, else
        answer the kubelet's refusal as a Status."""
        self.kubelet.ssl_context()
        try:
            reader, writer = await self.kubelet.open(location)
        except DialError as exc:
            raise _dial_status(f"error dialing backend: {exc.reason}") from None
        try:
            head = [f"{request.method} {target} HTTP/1.1", f"Host: {location.host_header}"]
            for name in UPGRADE_HEADERS:
                head += [f"{name}: {value}" for value in request.headers.getall(name, [])]
            if request.method in ("POST", "PUT", "PATCH"):
                head.append("Content-Length: 0")
            writer.write(("\r\n".join(head) + "\r\n\r\n").encode("latin-1"))
            body = ""
            async with asyncio.timeout(self.kubelet.timeout):
                await writer.drain()
                raw_head = await reader.readuntil(b"\r\n\r\n")
                code, headers = _parse_response_head(raw_head)
                if code != 101:
                    body = await _read_error_body(reader, headers)
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ValueError,
                ConnectionError, OSError, TimeoutError) as exc:
            writer.close()
            reason = "the kubelet closed the connection" if isinstance(
                exc, asyncio.IncompleteReadError) else (str(exc) or type(exc).__name__)
            raise _dial_status(f"error dialing backend: {reason}") from None
        except BaseException:
            writer.close()
            raise
        if code != 101:
            writer.close()
            raise kubelet_upgrade_error(code, body)
        try:
            client = ClientConnection(request)
        except ConnectionResetError:
            writer.close()
            return Detached()
        client.transport.write(raw_head)
        await relay(client, reader, writer)
        return Detached()

    # nodes/proxy -------------------------------------------------------------------

    async def node_proxy(self, request: web.Request, info: RequestInfo
                         ) -> web.StreamResponse:
        """`/api/v1/nodes/<name>/proxy/<path>` → the kubelet's `/<path>`, any method;
        the kubelet's answer passes through as it is (kube's node proxy)."""
        node = await self.objects.get(self._nodes, "", info.name)
        location = kubelet_location(node)
        self.kubelet.ssl_context()
        raw = request.rel_url.raw_path
        marker = f"/nodes/{info.name}/proxy"
        rest = raw[raw.find(marker) + len(marker):] if marker in raw else ""
        target = rest if rest.startswith("/") else "/" + rest
        if request.rel_url.raw_query_string:
            target += "?" + request.rel_url.raw_query_string
        if request.headers.get("Upgrade"):
            return await self.upgrade(request, location, target)
        body = await request.read() if request.can_read_body else None
        headers = {h: request.headers[h] for h in PROXY_REQUEST_HEADERS if h in request.headers}
        try:
            upstream = await self.kubelet.request(location, request.method, target,
                                                  headers, body)
        except DialError as exc:
            raise _dial_status(f"error trying to reach service: {exc.reason}") from None
        try:
            response = web.StreamResponse(status=upstream.status, headers={
                h: upstream.headers[h] for h in PROXY_RESPONSE_HEADERS if h in upstream.headers})
            return await _stream_body(request, upstream, None, response)
        finally:
            upstream.release()


def _parse_response_head(raw: bytes) -> tuple[int, dict[str, str]]:
    lines = raw.decode("latin-1").split("\r\n")
    parts = lines[0].split(" ", 2)
    if len(parts) < 2 or not parts[0].startswith("HTTP/") or not parts[1].isdigit():
        raise ValueError(f"malformed response from the kubelet: {lines[0][:100]!r}")
    headers: dict[str, str] = {}
    for line in lines[1:]:
        name, sep, value = line.partition(":")
        if sep:
            headers[name.strip().lower()] = value.strip()
    return int(parts[1]), headers


async def _read_error_body(reader: asyncio.StreamReader, headers: dict[str, str]) -> str:
    """An error response's body, at most MAX_ERROR_BODY bytes (length, chunked or to EOF)."""
    data = b""
    if "content-length" in headers:
        length = min(int(headers["content-length"] or 0), MAX_ERROR_BODY)
        data = await reader.readexactly(length)
    elif "chunked" in headers.get("transfer-encoding", "").lower():
        while len(data) < MAX_ERROR_BODY:
            size = int((await reader.readuntil(b"\r\n")).split(b";")[0].strip() or b"0", 16)
            if size == 0:
                break
            data += await reader.readexactly(size)
            await reader.readexactly(2)
    else:
        while len(data) < MAX_ERROR_BODY and (chunk := await reader.read(RELAY_CHUNK_BYTES)):
            data += chunk
    return data[:MAX_ERROR_BODY].decode("utf-8", "replace")


async def _read_limited(upstream: aiohttp.ClientResponse) -> str:
    data = b""
    with contextlib.suppress(aiohttp.ClientError, OSError, TimeoutError):
        while len(data) < MAX_ERROR_BODY and (chunk := await upstream.content.read(
                MAX_ERROR_BODY - len(data))):
            data += chunk
    return data.decode("utf-8", "replace")


async def _stream_body(request: web.Request, upstream: aiohttp.ClientResponse,
                       content_type: str | None,
                       response: web.StreamResponse | None = None) -> web.StreamResponse:
    """Write the kubelet's body to the client as it arrives (chunked), until it ends.
    A client that leaves closes the kubelet connection at once; a kubelet connection
    that breaks mid-body breaks the client's too (no final chunk), so the client sees
    an error rather than a clean end."""
    if response is None:
        response = web.StreamResponse(headers={"Content-Type": content_type or "text/plain"})
    # The connection carries the disconnect watch below, so it is never reused.
    response.force_close()
    client = ClientConnection(request)
    await response.prepare(request)
    watcher = asyncio.create_task(client.wait_gone())
    watcher.add_done_callback(lambda _: upstream.close())
    try:
        async for chunk in upstream.content.iter_any():
            await response.write(chunk)
    except (aiohttp.ClientError, ConnectionError, OSError):
        client.close()
        return response
    finally:
        watcher.cancel()
    if not client.closing:
        with contextlib.suppress(ConnectionError):
            await response.write_eof()
    return response

