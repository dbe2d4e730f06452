"""Liveness, readiness and startup probes, run as kubelet's prober does.

Owns: one worker per container and probe kind on the given Clock (pkg/kubelet/prober/
worker.go: initial delay, period, success/failure thresholds, on-hold after a
liveness/startup failure until a new container ID), the results kubelet's results
managers hold (readiness starts failed, liveness succeeded, startup unknown), startup
gating of the other two, and the probes themselves (pkg/kubelet/prober/prober.go and
pkg/probe/{exec,http,tcp}).

Must never: restart or kill anything itself (it tells the caller through `on_change`),
import aiohttp or any HTTP library beyond the standard library (ARCHITECTURE rule 9).

Not covered: gRPC probes (no gRPC client on the edge: such a probe fails with an output
saying so), the random start-up jitter kubelet adds after its own restart, and probe
metrics. HTTP probes run http.client in a worker thread (bounded by the probe's timeout).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from kubeedge.client.clock import Clock
from kubeedge.edge.edged.env import expand, mapping_for
from kubeedge.edge.runtime import ExecTimeout, Runtime, RuntimeServiceError

__all__ = ["KINDS", "ProbeError", "ProbeManager", "ProbeResult", "run_probe"]

log = logging.getLogger(__name__)

Obj = dict[str, Any]
KINDS = ("liveness", "readiness", "startup")
_SPEC_FIELD = {"liveness": "livenessProbe", "readiness": "readinessProbe",
               "startup": "startupProbe"}
# kubelet's results managers start a new container at these values (prober_manager.go
# newWorker): not ready until a probe says so, alive until one says not, startup unknown.
_INITIAL: dict[str, bool | None] = {"liveness": True, "readiness": False, "startup": None}
_MAX_RETRIES = 3  # maxProbeRetries: a probe that errors (not fails) is retried
_MAX_OUTPUT = 10 * 1024  # pkg/probe: at most 10 KiB of output or body is kept
USER_AGENT = "kube-probe/1.32"

ChangeCallback = Callable[[str, str, str, bool], None]
# (pod uid, container, event type "Warning", reason, message): kubelet's probe events
EventCallback = Callable[[str, str, str, str, str], None]


@dataclass
class ProbeResult:
    ok: bool
    output: str = ""
    warning: bool = False  # kubelet's probe.Warning: counted a success, reported


class ProbeError(Exception):
    """The probe could not be run at all (kubelet throws such a result away)."""


# ----------------------------------------------------------------------------- probes


def _resolve_port(port: Any, container: Obj) -> int:
    """probe.ResolveContainerPort: a number, or a named container port (or a number
    written as a string)."""
    if isinstance(port, int) and not isinstance(port, bool):
        value = port
    elif isinstance(port, str):
        named = [p for p in container.get("ports") or [] if p.get("name") == port]
        if named:
            value = int(named[0].get("containerPort") or 0)
        else:
            try:
                value = int(port)
            except ValueError:
                raise ProbeError(f"port {port} not found") from None
    else:
        raise ProbeError(f"intOrString had no kind: {port!r}")
    if 0 < value < 65536:
        return value
    raise ProbeError(f"invalid port number: {value}")


def _host_port(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def _dial_error(addr: str, e: BaseException) -> str:
    if isinstance(e, TimeoutError):
        return f"dial tcp {addr}: i/o timeout"
    if isinstance(e, OSError) and e.errno:
        return f"dial tcp {addr}: connect: {os.strerror(e.errno).lower()}"
    return f"dial tcp {addr}: {e}"


def _exec_output(stdout: bytes, stderr: bytes) -> str:
    return (stdout + stderr)[:_MAX_OUTPUT].decode("utf-8", errors="replace")


async def _exec_probe(runtime: Runtime, container_id: str, cmd: list[str],
                      timeout: float) -> ProbeResult:
    try:
        res = await runtime.exec_sync(container_id, cmd, timeout)
    except ExecTimeout:
        # ExecProbeTimeout (GA): a timed-out command is a failure.
        return ProbeResult(False, f'command "{" ".join(cmd)}" timed out')
    except RuntimeServiceError as e:
        raise ProbeError(str(e)) from e
    return ProbeResult(res.exit_code == 0, _exec_output(res.stdout, res.stderr))


async def _tcp_probe(host: str, port: int, timeout: float) -> ProbeResult:
    addr = _host_port(host, port)
    try:
        _, writer = await asyncio.wait_for(asyncio.open_connection(host, port), timeout)
    except (OSError, TimeoutError) as e:
        return ProbeResult(False, _dial_error(addr, e))
    writer.close()
    with contextlib.suppress(OSError):
        await writer.wait_closed()
    return ProbeResult(True)


def _http_get_blocking(scheme: str, host: str, port: int, path: str,
                       headers: dict[str, str], timeout: float) -> ProbeResult:
    """One GET with kubelet's probe client rules: TLS without verification, no
    keep-alive, same-host redirects followed (at most 10), another host's redirect
    taken as a warning (success), 200-399 success."""
    import http.client
    import ssl
    from urllib.parse import urljoin, urlsplit

    url = f"{scheme}://{_host_port(host, port)}{path}"
    origin_host = host
    for _ in range(11):
        if scheme == "https":
            ctx = ssl.create_default_context()
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
            conn: http.client.HTTPConnection = http.client.HTTPSConnection(
                host, port, timeout=timeout, context=ctx)
        else:
            conn = http.client.HTTPConnection(host, port, timeout=timeout)
        try:
            conn.request("GET", path, headers=headers)
            resp = conn.getresponse()
            body = resp.read(_MAX_OUTPUT).decode("utf-8", errors="replace")
            status = resp.status
            location = resp.getheader("Location")
        except (TimeoutError, OSError, http.client.HTTPException) as e:
            if isinstance(e, TimeoutError):
                reason = "context deadline exceeded (Client.Timeout exceeded while awaiting " \
                         "headers)"
            elif isinstance(e, ConnectionRefusedError | ConnectionResetError) or (
                    isinstance(e, OSError) and e.errno
                    and not isinstance(e, ssl.SSLError)):
                reason = _dial_error(_host_port(host, port), e)
            else:
                reason = str(e) or type(e).__name__
            return ProbeResult(False, f'Get "{url}": {reason}')
        finally:
            conn.close()
        if 200 <= status < 300:
            return ProbeResult(True, body)
        if 300 <= status < 400:
            if location:
                target = urlsplit(urljoin(url, location))
                if target.hostname == origin_host and target.scheme in ("http", "https"):
                    scheme = target.scheme
                    port = target.port or (443 if scheme == "https" else 80)
                    path = (target.path or "/") + (f"?{target.query}" if target.query else "")
                    url = f"{scheme}://{_host_port(host, port)}{path}"
                    continue
            return ProbeResult(True, f"Probe terminated redirects, Response body: {body}",
                               warning=True)
        return ProbeResult(False, f"HTTP probe failed with statuscode: {status}")
    return ProbeResult(False, f'Get "{url}": stopped after 10 redirects')


async def _http_probe(spec: Obj, container: Obj, pod_ip: str, timeout: float) -> ProbeResult:
    scheme = str(spec.get("scheme") or "HTTP").lower()
    if scheme not in ("http", "https"):
        raise ProbeError(f"unsupported scheme {spec.get('scheme')!r}")
    host = str(spec.get("host") or pod_ip or "127.0.0.1")
    port = _resolve_port(spec.get("port"), container)
    path = str(spec.get("path") or "/")
    if not path.startswith("/"):
        path = "/" + path
    headers: dict[str, str] = {}
    for h in spec.get("httpHeaders") or []:
        headers[str(h.get("name"))] = str(h.get("value") or "")
    lower = {k.lower() for k in headers}
    if "user-agent" not in lower:
        headers["User-Agent"] = USER_AGENT
    if "accept" not in lower:
        headers["Accept"] = "*/*"
    headers["Connection"] = "close"
    url = f"{scheme}://{_host_port(host, port)}{path}"
    try:
        return await asyncio.wait_for(
            asyncio.to_thread(_http_get_blocking, scheme, host, port, path, headers, timeout),
            timeout)
    except TimeoutError:
        return ProbeResult(False, f'Get "{url}": context deadline exceeded '
                                  "(Client.Timeout exceeded while awaiting headers)")


async def run_probe(runtime: Runtime, probe: Obj, container: Obj, container_id: str,
                    pod_ip: str) -> ProbeResult:
    """One run of a probe (prober.runProbe). Raises ProbeError when it cannot run."""
    timeout = float(probe.get("timeoutSeconds") or 1)
    if probe.get("exec") is not None:
        # Only the static env values, as kubelet (ExpandContainerCommandOnlyStatic).
        static = {str(e.get("name")): str(e.get("value") or "")
                  for e in container.get("env") or []}
        mapping = mapping_for(static)
        cmd = [expand(str(a), mapping) for a in probe["exec"].get("command") or []]
        return await _exec_probe(runtime, container_id, cmd, timeout)
    if probe.get("httpGet") is not None:
        return await _http_probe(probe["httpGet"], container, pod_ip, timeout)
    if probe.get("tcpSocket") is not None:
        spec = probe["tcpSocket"]
        port = _resolve_port(spec.get("port"), container)
        return await _tcp_probe(str(spec.get("host") or pod_ip or "127.0.0.1"), port, timeout)
    if probe.get("grpc") is not None:
        return ProbeResult(False, "gRPC probes are not supported on this edge (it has no "
                                  "gRPC client); use an exec, httpGet or tcpSocket probe")
    raise ProbeError(f"missing probe handler for container {container.get('name')}")


# ---------------------------------------------------------------------------- workers


@dataclass
class _Worker:
    pod_uid: str
    pod: Obj
    container: Obj
    kind: str
    spec: Obj
    container_id: str
    pod_ip: str
    started_at: float
    result: bool | None
    last_result: bool | None = None
    run_count: int = 0
    on_hold: bool = False
    last_probe: ProbeResult | None = None
    task: asyncio.Task[None] | None = field(default=None, repr=False)

    def seconds(self, name: str, default: int) -> int:
        value = self.spec.get(name)
        return int(value) if isinstance(value, int) and value > 0 else default


class ProbeManager:
    """Runs the probes of the containers it is given and reports result changes.

    `on_change(pod_uid, container, kind, result)` runs only when a kind's result changes,
    so a liveness (or startup) `False` is the caller's cue to restart the container; after
    it, that worker holds until `add` gives the container's new ID. `on_event` (optional)
    receives kubelet's probe events: ("Warning", "Unhealthy", "Liveness probe failed:
    ...") and ("Warning", "ProbeWarning", ...).
    """

    def __init__(self, runtime: Runtime, clock: Clock, on_change: ChangeCallback, *,
                 on_event: EventCallback | None = None) -> None:
        self.runtime = runtime
        self.clock = clock
        self.on_change = on_change
        self.on_event = on_event
        self._workers: dict[tuple[str, str, str], _Worker] = {}

    # ------------------------------------------------------------------ public surface

    def add(self, pod: Obj, container: Obj, container_id: str, pod_ip: str, *,
            started_at: float | None = None) -> None:
        """Start probing a running container (or note its new ID after a restart:
        results go back to their initial values and a held worker resumes).
        `started_at` is when it started on the manager's clock (default: now); the
        initial delay counts from it."""
        uid = str((pod.get("metadata") or {}).get("uid") or "")
        name = str(container.get("name") or "")
        start = self.clock.now() if started_at is None else started_at
        for kind in KINDS:
            spec = container.get(_SPEC_FIELD[kind])
            if not spec:
                continue
            key = (uid, name, kind)
            w = self._workers.get(key)
            if w is not None:
                w.pod, w.container, w.pod_ip = pod, container, pod_ip
                if w.container_id != container_id:
                    w.container_id = container_id
                    w.started_at = start
                    w.on_hold = False
                    w.last_result, w.run_count = None, 0
                    self._set(w, _INITIAL[kind])
                continue
            w = _Worker(uid, pod, container, kind, spec, container_id, pod_ip, start,
                        _INITIAL[kind])
            self._workers[key] = w
            w.task = asyncio.get_running_loop().create_task(
                self._run(w), name=f"probe-{kind}-{uid}-{name}")

    def remove(self, pod_uid: str, container_name: str | None = None) -> None:
        for key in [k for k in self._workers
                    if k[0] == pod_uid and (container_name is None or k[1] == container_name)]:
            w = self._workers.pop(key)
            if w.task is not None:
                w.task.cancel()

    def started(self, pod_uid: str, container_name: str) -> bool:
        """kubelet's containerStatus.started for a running container: no startup probe,
        or it has succeeded."""
        w = self._workers.get((pod_uid, container_name, "startup"))
        return w is None or w.result is True

    def ready(self, pod_uid: str, container_name: str) -> bool:
        """kubelet's containerStatus.ready for a running container: started, and no
        readiness probe or it has succeeded."""
        if not self.started(pod_uid, container_name):
            return False
        w = self._workers.get((pod_uid, container_name, "readiness"))
        return w is None or w.result is True

    def result(self, pod_uid: str, container_name: str, kind: str) -> ProbeResult | None:
        """The last probe run of that kind (None before the first)."""
        w = self._workers.get((pod_uid, container_name, kind))
        return None if w is None else w.last_probe

    async def close(self) -> None:
        tasks = [w.task for w in self._workers.values() if w.task is not None]
        self._workers.clear()
        for t in tasks:
            t.cancel()
        for t in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await t

    # ---------------------------------------------------------------------- internals

    def _set(self, w: _Worker, result: bool | None) -> None:
        previous = w.result
        if previous == result:
            return
        w.result = result
        if result is None:
            # Back to "unknown" (startup, new container): in boolean terms a change only
            # if it had started; a repeated False would ask for another restart.
            if previous is not True:
                return
            result = False
        try:
            self.on_change(w.pod_uid, str(w.container.get("name")), w.kind, result)
        except Exception:
            log.exception("probe on_change callback failed")

    def _event(self, w: _Worker, reason: str, message: str) -> None:
        if self.on_event is None:
            return
        try:
            self.on_event(w.pod_uid, str(w.container.get("name")), "Warning", reason, message)
        except Exception:
            log.exception("probe on_event callback failed")

    async def _run(self, w: _Worker) -> None:
        period = w.seconds("periodSeconds", 10)
        tick = self.clock.now()
        try:
            while True:
                await self._do_probe(w)
                tick += period
                now = self.clock.now()
                if tick <= now:  # a slow probe: skip the ticks it overran, as a ticker
                    tick += math.ceil((now - tick) / period + 1e-9) * period
                await self.clock.sleep(tick - now)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("probe worker %s/%s %s crashed", w.pod_uid,
                          w.container.get("name"), w.kind)

    async def _do_probe(self, w: _Worker) -> None:
        """worker.doProbe, minus the pod-status checks Edged does before calling add."""
        if w.on_hold:
            return
        if int(self.clock.now() - w.started_at) < w.seconds("initialDelaySeconds", 0):
            return
        started = self.started(w.pod_uid, str(w.container.get("name")))
        if w.kind == "startup" and started:
            return  # kept alive for the next container; nothing to probe
        if w.kind != "startup" and not started:
            return  # startup gates liveness and readiness
        container_id = w.container_id
        got: ProbeResult | None = None
        error: Exception | None = None
        for _ in range(_MAX_RETRIES):
            try:
                got = await run_probe(self.runtime, w.spec, w.container, container_id,
                                      w.pod_ip)
                break
            except ProbeError as e:
                error = e
        if w.container_id != container_id or self._workers.get(
                (w.pod_uid, str(w.container.get("name")), w.kind)) is not w:
            return  # the container changed (or was removed) while probing
        label = w.kind.capitalize()
        if got is None:
            self._event(w, "Unhealthy", f"{label} probe errored: {error}")
            return  # kubelet throws away a probe that errored
        w.last_probe = got
        if not got.ok:
            self._event(w, "Unhealthy", f"{label} probe failed: {got.output}")
        elif got.warning:
            self._event(w, "ProbeWarning", f"{label} probe warning: {got.output}")
        if w.last_result == got.ok:
            w.run_count += 1
        else:
            w.last_result, w.run_count = got.ok, 1
        if got.ok and w.run_count < w.seconds("successThreshold", 1):
            return
        if not got.ok and w.run_count < w.seconds("failureThreshold", 3):
            return
        self._set(w, got.ok)
        if w.kind in ("liveness", "startup") and not got.ok:
            # Stop until a new container ID: the caller restarts this one.
            w.on_hold = True
            w.run_count = 0
