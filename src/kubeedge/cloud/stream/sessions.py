"""CloudStream's bookkeeping that needs no network: the tunnels by node name and
internal IP, how a stream request's Host picks one, and who may use the stream server.

specs/kubeedge.md §9: the tunnel server indexes each edge's session by its
`SessionHostNameOverride` and its `SessionInternalIP`; the stream server picks the
session from the request (ours: the Host header's host, a node name first, else an
internal IP, so both our API server's `Host: <node>` and kube-apiserver's
`https://<nodeIP>:<port>` reach the right edge).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from kubeedge.streaming.tunnel import Tunnel

# Who may open sessions through the stream server (spec §9 "Stream server"): the API
# server's kubelet client certificate (kubeadm's CN, which `keadm init` issues) or a
# cluster administrator.
KUBELET_CLIENT_CN = "kube-apiserver-kubelet-client"
MASTERS_GROUP = "system:masters"


@dataclass(eq=False)
class TunnelSession:
    """One edge's tunnel connection."""

    node: str
    internal_ip: str
    tunnel: Tunnel
    close: Any = None                     # () -> Awaitable: closes the connection


class SessionIndex:
    """Tunnels by node name and by internal IP; a node's newer tunnel replaces its
    older one (an edge that redialled before the old connection timed out)."""

    def __init__(self) -> None:
        self.by_name: dict[str, TunnelSession] = {}
        self.by_ip: dict[str, TunnelSession] = {}

    def __len__(self) -> int:
        return len(self.by_name)

    def add(self, session: TunnelSession) -> TunnelSession | None:
        """Index `session`; returns the tunnel it replaces, if any."""
        old = self.by_name.get(session.node)
        if old is not None:
            self.remove(old)
        self.by_name[session.node] = session
        if session.internal_ip:
            self.by_ip[session.internal_ip] = session
        return old

    def remove(self, session: TunnelSession) -> bool:
        """Forget `session` (not a newer tunnel of the same node); True if it was
        current."""
        current = self.by_name.get(session.node) is session
        if current:
            del self.by_name[session.node]
        if session.internal_ip and self.by_ip.get(session.internal_ip) is session:
            del self.by_ip[session.internal_ip]
        return current

    def lookup(self, host: str) -> TunnelSession | None:
        """The tunnel for a Host header value (`node`, `node:port`, `ip:port`,
        `[v6]:port`): by node name first, else by internal IP."""
        name = host_of(host)
        if not name:
            return None
        return self.by_name.get(name) or self.by_ip.get(name)


def host_of(host_header: str) -> str:
    """The host part of a Host header, lower-cased (RFC 9110 §7.2: host [":" port])."""
    host = host_header.strip()
    if host.startswith("["):
        end = host.find("]")
        return host[1:end].lower() if end > 0 else ""
    if host.count(":") == 1:
        host = host.rsplit(":", 1)[0]
    return host.lower()


def subject_of(peer_cert: Mapping[str, Any] | None) -> tuple[str, list[str]]:
    """(CN, organizations) of a verified peer certificate as `getpeercert()` gives it."""
    common_name, organizations = "", []
    for rdn in (peer_cert or {}).get("subject", ()):
        for attr, value in rdn:
            if attr == "commonName":
                common_name = str(value)
            elif attr == "organizationName":
                organizations.append(str(value))
    return common_name, organizations


def stream_client_refusal(peer_cert: Mapping[str, Any] | None) -> str:
    """Why a stream-server client may not open sessions, or "" if it may."""
    if not peer_cert:
        return "a client certificate is required"
    common_name, organizations = subject_of(peer_cert)
    if common_name == KUBELET_CLIENT_CN or MASTERS_GROUP in organizations:
        return ""
    return (f"user {common_name!r} (groups {organizations}) may not use the stream "
            f"server: it serves the API server's kubelet client ({KUBELET_CLIENT_CN}) and "
            f"{MASTERS_GROUP}")


def stream_server_address(advertise: str, port: int) -> str:
    """`<advertiseAddress>:<streamPort>`, an IPv6 address bracketed."""
    return f"[{advertise}]:{port}" if ":" in advertise else f"{advertise}:{port}"
