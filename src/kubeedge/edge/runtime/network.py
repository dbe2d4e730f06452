"""Pod networking for the process runtime: a network and a UTS namespace per pod sandbox,
an IP from the node's podCIDR through CNI's standard plugins, the pod's /etc/hosts, and
routes to the other edges' pod networks.

Everything hangs off the edge's root (ARCHITECTURE.md rule 8), so several edges on one
machine never collide:

    <root>/var/run/kubeedge/netns/<sandbox id>   the pod's network namespace, held by a
                                                 bind mount of its nsfs file (what `ip
                                                 netns add` does under /run/netns, but
                                                 not in that global name space)
    <root>/var/run/kubeedge/uts/<sandbox id>     the pod's UTS namespace (its hostname)
    <root>/var/lib/kubeedge/cni/results/<id>.json  what ADD was given and returned: the
                                                 network configuration list, CNI_PATH,
                                                 the namespace paths, the result (CNI's
                                                 cached result, libcni keeps the same
                                                 under /var/lib/cni/results) — so DEL
                                                 works after an edgecore restart, with
                                                 the configuration ADD used
    <root>/var/lib/kubeedge/cni/networks/        host-local's dataDir (one file per IP)
    <root>/var/lib/kubeedge/cni/routes.json      the routes program_routes set
    <root>/var/lib/kubeedge/cni/podcidr          the last podCIDR the runtime was given

The network is CNI's reference setup (CNI spec 1.0, "Execution protocol" and "Network
configuration lists"): a list with one `bridge` plugin (its IPAM `host-local` over the
node's podCIDR; the bridge is the pods' gateway, masquerades what leaves the podCIDR
and has hairpin mode so a pod reaches itself through a Service), executed with the
CNI_* environment and the configuration on stdin; and `loopback` for `lo`, run on its
own as containerd does. The bridge's name is derived from the edge's root and node name
(`kbr` + 10 hex digits, within the kernel's 15 characters).

Needs root, util-linux's `unshare` and `umount`, iproute2's `ip` and the plugins
(Debian's containernetworking-plugins, /usr/lib/cni). Without one of them the runtime
runs pods in the host's network and says why (`network_problem`).

Standard library only; never imported by the per-container supervisor.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import ipaddress
import json
import os
import shutil
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kubeedge.durable import atomic_write
from kubeedge.edge.runtime import RuntimeServiceError

__all__ = [
    "CNI_VERSION",
    "DEFAULT_CNI_BIN_DIR",
    "NETWORK_NAME",
    "REQUIRED_PLUGINS",
    "NetworkError",
    "PodNetwork",
    "SandboxNetwork",
    "bridge_name",
    "hosts_file_content",
    "network_problem",
    "pod_hostname",
]

CNI_VERSION = "1.0.0"
NETWORK_NAME = "kubeedge-pods"
DEFAULT_CNI_BIN_DIR = "/usr/lib/cni"
REQUIRED_PLUGINS = ("bridge", "host-local", "loopback")
REQUIRED_TOOLS = ("unshare", "umount", "ip", "nsenter")
IFNAME = "eth0"
# Linux's HOST_NAME_MAX is 64; kubelet truncates a pod's hostname to 63 (a DNS label).
HOSTNAME_MAX = 63
# Where plugins look for iptables and friends, whatever edgecore's PATH is.
_SBIN = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


class NetworkError(RuntimeServiceError):
    """Setting up or tearing down a pod's network failed (kubelet's event reasons:
    `FailedCreatePodSandBox`, `FailedKillPod`)."""

    reason = "FailedCreatePodSandBox"


@dataclass(frozen=True)
class SandboxNetwork:
    """A sandbox's network as set up: the pod IP and its namespace files."""

    ip: str
    netns: str
    utsns: str
    gateway: str = ""


def bridge_name(root: str | os.PathLike[str], node_name: str = "") -> str:
    """The edge's bridge: `kbr` + 10 hex digits of a hash of its root and node name, so
    two edges on one machine (different roots) get different bridges."""
    key = f"{os.path.realpath(root)}\0{node_name}".encode()
    return "kbr" + hashlib.sha256(key).hexdigest()[:10]


def pod_hostname(hostname: str) -> str:
    """kubelet's truncation of a too-long hostname (pkg/kubelet/util/hostname.go:
    63 characters, trailing '-' and '.' dropped)."""
    if len(hostname) <= HOSTNAME_MAX:
        return hostname
    return hostname[:HOSTNAME_MAX].rstrip("-.")


def network_problem(*, enabled: bool, euid: int, pod_cidr: str, cni_bin_dir: str,
                    which: Any = shutil.which) -> str:
    """Why pods of this edge cannot have their own network ("" when they can): the
    runtime then runs them in the host's network and Edged shows this reason."""
    suffix = ": pods use the host network"
    if not enabled:
        return "pod networking is disabled in the configuration" + suffix
    if euid != 0:
        return "edgecore is not running as root (namespaces and CNI need it)" + suffix
    if not pod_cidr:
        return "the node has no podCIDR yet" + suffix
    try:
        net = ipaddress.ip_network(pod_cidr, strict=False)
    except ValueError:
        return f"the node's podCIDR {pod_cidr!r} is not a network" + suffix
    if net.version != 4 or net.prefixlen > 30:
        return f"the node's podCIDR {pod_cidr} is not an IPv4 range of /30 or more" + suffix
    missing = [p for p in REQUIRED_PLUGINS
               if not os.access(os.path.join(cni_bin_dir, p), os.X_OK)]
    if missing:
        return (f"CNI plugins {', '.join(missing)} not found in {cni_bin_dir} (apt-get "
                "install containernetworking-plugins)" + suffix)
    tools = [t for t in REQUIRED_TOOLS if which(t, path=_SBIN) is None]
    if tools:
        return (f"{', '.join(tools)} not found (util-linux and iproute2 are needed)"
                + suffix)
    return ""


def hosts_file_content(ip: str, hostname: str, *, namespace: str, subdomain: str = "",
                       cluster_domain: str = "cluster.local",
                       entries: Iterable[tuple[str, Sequence[str]]] = ()) -> str:
    """The pod's /etc/hosts as kubelet writes it (managedHostsFileContent in
    pkg/kubelet/kubelet_pods.go): localhost entries, the pod's own IP with its FQDN
    (when spec.subdomain is set: `<hostname>.<subdomain>.<namespace>.svc.<domain>`)
    and hostname, then the extra entries the caller gives (hostAliases; the cluster's
    pod hostnames and headless Service names known to the edge)."""
    lines = [
        "# Kubernetes-managed hosts file.",
        "127.0.0.1\tlocalhost",
        "::1\tlocalhost ip6-localhost ip6-loopback",
        "fe00::0\tip6-localnet",
        "fe00::0\tip6-mcastprefix",
        "fe00::1\tip6-allnodes",
        "fe00::2\tip6-allrouters",
    ]
    if subdomain:
        lines.append(f"{ip}\t{hostname}.{subdomain}.{namespace}.svc.{cluster_domain}"
                     f"\t{hostname}")
    else:
        lines.append(f"{ip}\t{hostname}")
    extra = [(addr, [n for n in names if n]) for addr, names in entries]
    extra = [(addr, names) for addr, names in extra if addr and names]
    if extra:
        lines.append("")
        lines.append("# Entries added by KubeEdge (host aliases, cluster pods, headless "
                     "Services).")
        lines.extend(f"{addr}\t{chr(9).join(names)}" for addr, names in extra)
    return "\n".join(lines) + "\n"


async def _run(argv: Sequence[str], *, env: dict[str, str] | None = None,
               stdin: bytes | None = None, timeout: float = 60.0) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(
        *argv, env=env, stdin=asyncio.subprocess.PIPE if stdin is not None
        else asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    try:
        out, err = await asyncio.wait_for(proc.communicate(stdin), timeout)
    except TimeoutError:
        with contextlib.suppress(ProcessLookupError):
            proc.kill()
        await proc.wait()
        return -1, "", f"{argv[0]} timed out after {timeout}s"
    return proc.returncode or 0, out.decode(errors="replace"), err.decode(errors="replace")


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_bytes())
    except (OSError, ValueError):
        return None


class PodNetwork:
    """The pod networks of one edge (see the module docstring).

    `pod_cidr` may be empty at first (a node gets its podCIDR from the cloud after it
    registers): `set_pod_cidr` sets it later and keeps it on disk for a restart
    without the cloud. Teardown never needs the current settings: it reads what setup
    stored, so a sandbox made before a restart (or before networking was switched off)
    is still torn down with the configuration it was made with.
    """

    def __init__(self, root: str | os.PathLike[str], *, node_name: str = "",
                 pod_cidr: str = "", cni_bin_dir: str = DEFAULT_CNI_BIN_DIR,
                 enabled: bool = True, cluster_domain: str = "cluster.local",
                 mtu: int = 0) -> None:
        self.root = Path(root)
        self.node_name = node_name
        self.cni_bin_dir = cni_bin_dir
        self.enabled = enabled
        self.cluster_domain = cluster_domain
        self.mtu = mtu
        self.netns_dir = self.root / "var/run/kubeedge/netns"
        self.uts_dir = self.root / "var/run/kubeedge/uts"
        self.state_dir = self.root / "var/lib/kubeedge/cni"
        self.results_dir = self.state_dir / "results"
        self.ipam_dir = self.state_dir / "networks"
        self.routes_file = self.state_dir / "routes.json"
        self.bridge = bridge_name(self.root, node_name)
        self._routes_lock = asyncio.Lock()
        if pod_cidr:
            self.set_pod_cidr(pod_cidr)

    # --- settings -----------------------------------------------------------------------

    @property
    def pod_cidr(self) -> str:
        try:
            return (self.state_dir / "podcidr").read_text().strip()
        except OSError:
            return ""

    def set_pod_cidr(self, pod_cidr: str) -> None:
        """The node's podCIDR (CRI UpdateRuntimeConfig); new sandboxes take IPs from it."""
        if pod_cidr != self.pod_cidr:
            atomic_write(self.state_dir / "podcidr", pod_cidr.encode())

    def problem(self) -> str:
        """Why sandboxes cannot get their own network now ("" when they can)."""
        return network_problem(enabled=self.enabled, euid=os.geteuid(),
                               pod_cidr=self.pod_cidr, cni_bin_dir=self.cni_bin_dir)

    def conflist(self) -> dict[str, Any]:
        """The network configuration list for the current podCIDR."""
        bridge: dict[str, Any] = {
            "type": "bridge", "bridge": self.bridge, "isGateway": True, "ipMasq": True,
            "hairpinMode": True,
            "ipam": {"type": "host-local", "ranges": [[{"subnet": self.pod_cidr}]],
                     "routes": [{"dst": "0.0.0.0/0"}], "dataDir": str(self.ipam_dir)},
        }
        if self.mtu:
            bridge["mtu"] = self.mtu
        return {"cniVersion": CNI_VERSION, "name": NETWORK_NAME, "plugins": [bridge]}

    # --- CNI execution ------------------------------------------------------------------

    async def _exec_plugin(self, command: str, plugin: dict[str, Any], *, name: str,
                           cni_version: str, container_id: str, netns: str, ifname: str,
                           cni_path: str, cni_args: str,
                           prev_result: dict[str, Any] | None) -> dict[str, Any] | None:
        """One plugin invocation (CNI spec: "Execution protocol")."""
        conf = {**plugin, "cniVersion": cni_version, "name": name}
        if prev_result is not None:
            conf["prevResult"] = prev_result
        env = {
            "CNI_COMMAND": command, "CNI_CONTAINERID": container_id, "CNI_NETNS": netns,
            "CNI_IFNAME": ifname, "CNI_PATH": cni_path, "CNI_ARGS": cni_args,
            "PATH": _SBIN,
        }
        binary = None
        for d in cni_path.split(":"):
            candidate = os.path.join(d, plugin["type"])
            if os.access(candidate, os.X_OK):
                binary = candidate
                break
        if binary is None:
            raise NetworkError(f"CNI plugin {plugin['type']!r} not found in {cni_path}")
        rc, out, err = await _run([binary], env=env, stdin=json.dumps(conf).encode())
        if rc != 0:
            msg = err.strip() or out.strip()
            with contextlib.suppress(ValueError, AttributeError):
                e = json.loads(out)
                msg = e.get("msg", "") + (f": {e['details']}" if e.get("details") else "")
            raise NetworkError(f"CNI {command} of plugin {plugin['type']} for sandbox "
                               f"{container_id[:12]} failed: {msg}")
        if command != "ADD":
            return None
        try:
            result = json.loads(out)
        except ValueError:
            raise NetworkError(f"CNI plugin {plugin['type']} returned no JSON result: "
                               f"{out[:200]!r}") from None
        return result

    async def _exec_list(self, command: str, state: dict[str, Any], netns: str,
                         prev: dict[str, Any] | None) -> dict[str, Any] | None:
        """A whole configuration list: ADD in order passing each result on, CHECK in
        order and DEL in reverse order with the cached result (CNI spec: "Network
        configuration list runtime examples")."""
        conflist = state["conflist"]
        plugins = conflist["plugins"]
        order = list(reversed(plugins)) if command == "DEL" else plugins
        result = prev
        for plugin in order:
            got = await self._exec_plugin(
                command, plugin, name=conflist["name"], cni_version=conflist["cniVersion"],
                container_id=state["sandboxId"], netns=netns, ifname=state["ifname"],
                cni_path=state["cniPath"], cni_args=state.get("cniArgs", ""),
                prev_result=result)
            if command == "ADD":
                result = got
        return result

    async def _loopback(self, command: str, state: dict[str, Any], netns: str) -> None:
        await self._exec_plugin(
            command, {"type": "loopback"}, name="cni-loopback",
            cni_version=state["conflist"]["cniVersion"], container_id=state["sandboxId"],
            netns=netns, ifname="lo", cni_path=state["cniPath"],
            cni_args=state.get("cniArgs", ""), prev_result=None)

    # --- namespaces ---------------------------------------------------------------------

    @staticmethod
    async def _make_ns(kind: str, path: Path, *then: str) -> None:
        """A new namespace held by a bind mount at `path` (`unshare --net=<file>`
        mounts the child's /proc/<pid>/ns/<kind> there), with `then` run inside."""
        path.parent.mkdir(parents=True, exist_ok=True)
        path.touch(exist_ok=True)
        rc, _, err = await _run(["unshare", f"--{kind}={path}", *(then or ("true",))],
                                env={"PATH": _SBIN})
        if rc != 0:
            raise NetworkError(f"creating the pod's {kind} namespace at {path} failed: "
                               f"{err.strip()}")

    @staticmethod
    async def _remove_ns(path: Path) -> None:
        if os.path.ismount(path):
            rc, _, err = await _run(["umount", "--lazy", str(path)], env={"PATH": _SBIN})
            if rc != 0 and os.path.ismount(path):
                raise NetworkError(f"unmounting {path} failed: {err.strip()}")
        with contextlib.suppress(FileNotFoundError):
            path.unlink()

    # --- sandboxes ----------------------------------------------------------------------

    def _state_path(self, sandbox_id: str) -> Path:
        if not sandbox_id or "/" in sandbox_id or sandbox_id.startswith("."):
            raise NetworkError(f"bad sandbox id {sandbox_id!r}")
        return self.results_dir / f"{sandbox_id}.json"

    def state(self, sandbox_id: str) -> dict[str, Any] | None:
        """What setup stored for a sandbox (None when it has no pod network)."""
        return _read_json(self._state_path(sandbox_id))

    def sandboxes(self) -> list[str]:
        """Sandboxes with a pod network (set up, or half set up before a crash)."""
        if not self.results_dir.exists():
            return []
        return sorted(p.stem for p in self.results_dir.glob("*.json"))

    async def setup(self, sandbox_id: str, *, hostname: str, namespace: str, name: str,
                    uid: str) -> SandboxNetwork:
        """Namespaces, loopback and the pod's interface with an IP (CNI ADD). On failure
        everything done so far is undone and NetworkError raised."""
        problem = self.problem()
        if problem:
            raise NetworkError(problem)
        state: dict[str, Any] = {
            "sandboxId": sandbox_id,
            "netns": str(self.netns_dir / sandbox_id),
            "utsns": str(self.uts_dir / sandbox_id),
            "ifname": IFNAME,
            "cniPath": self.cni_bin_dir,
            # CNI_ARGS as kubelet's dockershim and containerd pass them.
            "cniArgs": f"IgnoreUnknown=1;K8S_POD_NAMESPACE={namespace};K8S_POD_NAME={name};"
                       f"K8S_POD_INFRA_CONTAINER_ID={sandbox_id};K8S_POD_UID={uid}",
            "conflist": self.conflist(),
            "result": None,
            "ip": "",
        }
        # Stored before anything is made, so whatever a crash leaves is torn down.
        atomic_write(self._state_path(sandbox_id), json.dumps(state).encode())
        try:
            await self._make_ns("net", Path(state["netns"]))
            await self._make_ns("uts", Path(state["utsns"]), "hostname",
                                pod_hostname(hostname))
            await self._loopback("ADD", state, state["netns"])
            result = await self._exec_list("ADD", state, state["netns"], None) or {}
            ip, gateway = self._ip_of(result)
        except BaseException:
            with contextlib.suppress(Exception):
                await self.teardown(sandbox_id)
            raise
        state["result"] = result
        state["ip"] = ip
        atomic_write(self._state_path(sandbox_id), json.dumps(state).encode())
        return SandboxNetwork(ip=ip, netns=state["netns"], utsns=state["utsns"],
                              gateway=gateway)

    @staticmethod
    def _ip_of(result: dict[str, Any]) -> tuple[str, str]:
        for entry in result.get("ips") or []:
            address = entry.get("address", "")
            if address:
                return str(ipaddress.ip_interface(address).ip), entry.get("gateway", "")
        raise NetworkError(f"CNI result has no IP address: {json.dumps(result)[:300]}")

    async def check(self, sandbox_id: str) -> None:
        """CNI CHECK of a sandbox's network against what ADD returned; NetworkError when
        it is not as set up."""
        state = self.state(sandbox_id)
        if state is None or not state.get("result"):
            raise NetworkError(f"sandbox {sandbox_id[:12]} has no pod network")
        if not os.path.ismount(state["netns"]):
            raise NetworkError(f"the network namespace of sandbox {sandbox_id[:12]} is gone")
        await self._exec_list("CHECK", state, state["netns"], state["result"])

    async def teardown(self, sandbox_id: str) -> None:
        """CNI DEL (which frees the IP) and the namespaces removed. Idempotent; works
        from the stored state alone, so after an edgecore restart too. NetworkError
        (state kept, so a retry can finish) when DEL fails."""
        path = self._state_path(sandbox_id)
        state = _read_json(path)
        netns = self.netns_dir / sandbox_id
        uts = self.uts_dir / sandbox_id
        if state is not None:
            netns, uts = Path(state["netns"]), Path(state["utsns"])
            # An empty CNI_NETNS when the namespace is already gone: the plugins then
            # only release what lives outside it (the IP).
            ns_arg = str(netns) if os.path.ismount(netns) else ""
            await self._exec_list("DEL", state, ns_arg, state.get("result"))
            if ns_arg:
                with contextlib.suppress(NetworkError):
                    await self._loopback("DEL", state, ns_arg)
        await self._remove_ns(netns)
        await self._remove_ns(uts)
        with contextlib.suppress(FileNotFoundError):
            path.unlink()

    # --- routes between edges -----------------------------------------------------------

    async def _local_addresses(self) -> set[str]:
        rc, out, _ = await _run(["ip", "-j", "-4", "addr", "show"], env={"PATH": _SBIN})
        found: set[str] = set()
        if rc == 0:
            with contextlib.suppress(ValueError):
                for link in json.loads(out or "[]"):
                    for a in link.get("addr_info") or []:
                        if a.get("local"):
                            found.add(a["local"])
        return found

    def programmed_routes(self) -> list[tuple[str, str]]:
        got = _read_json(self.routes_file) or []
        return [(str(r[0]), str(r[1])) for r in got]

    async def program_routes(self, routes: Iterable[tuple[str, str]]) -> list[tuple[str, str]]:
        """Routes to the other edges' pods: `ip route replace <podCIDR> via <node IP>`
        for each wanted (podCIDR, InternalIP) in the edge's (host's) network namespace;
        routes set before and no longer wanted are deleted. Skipped: this node's own
        podCIDR and nodes whose address is this host's own (another edge on the same
        machine: its bridge's route is already here). Returns the routes now set."""
        wanted: list[tuple[str, str]] = []
        for cidr, via in routes:
            try:
                net = ipaddress.ip_network(cidr, strict=False)
                gw = ipaddress.ip_address(via)
            except ValueError as e:
                raise NetworkError(f"route {cidr} via {via}: {e}") from None
            wanted.append((str(net), str(gw)))
        own = self.pod_cidr
        async with self._routes_lock:
            local = await self._local_addresses()
            own_net = ipaddress.ip_network(own, strict=False) if own else None
            # A loopback gateway is this host whatever `ip addr` lists (127.0.0.0/8 is
            # all local): edges on one machine reach each other's pods through their
            # own bridges' routes already.
            keep = [(c, v) for c, v in dict.fromkeys(wanted)
                    if v not in local and not ipaddress.ip_address(v).is_loopback
                    and not (own_net and ipaddress.ip_network(c).overlaps(own_net))]
            before = self.programmed_routes()
            errors = []
            done: list[tuple[str, str]] = []
            for cidr, via in keep:
                rc, _, err = await _run(["ip", "route", "replace", cidr, "via", via],
                                        env={"PATH": _SBIN})
                if rc == 0:
                    done.append((cidr, via))
                else:
                    errors.append(f"{cidr} via {via}: {err.strip()}")
            for cidr, via in before:
                if (cidr, via) in done:
                    continue
                if any(c == cidr for c, _ in done):
                    continue  # replaced by a route to the same CIDR through another node
                await _run(["ip", "route", "del", cidr, "via", via], env={"PATH": _SBIN})
            atomic_write(self.routes_file, json.dumps(done).encode())
        if errors:
            raise NetworkError("programming routes failed: " + "; ".join(errors))
        return done

    # --- the whole edge -----------------------------------------------------------------

    async def reset(self) -> None:
        """Everything of this edge's pod networking removed (keadm reset, tests): every
        sandbox's network torn down, the routes deleted, the bridge removed."""
        for sandbox_id in self.sandboxes():
            with contextlib.suppress(NetworkError):
                await self.teardown(sandbox_id)
        for d in (self.netns_dir, self.uts_dir):
            for p in sorted(d.glob("*")) if d.exists() else []:
                await self._remove_ns(p)
        with contextlib.suppress(NetworkError):
            await self.program_routes([])
        await _run(["ip", "link", "delete", self.bridge], env={"PATH": _SBIN})
