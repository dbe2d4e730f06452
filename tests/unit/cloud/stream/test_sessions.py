"""CloudStream's routing by Host and its stream-server client check (specs/kubeedge.md
§9 "Stream server")."""

from __future__ import annotations

import pytest

from kubeedge.cloud.stream.sessions import (
    SessionIndex,
    TunnelSession,
    host_of,
    stream_client_refusal,
    stream_server_address,
)
from kubeedge.streaming.tunnel import Tunnel


async def _nothing(_: bytes) -> None:
    return None


def _session(node: str, ip: str) -> TunnelSession:
    return TunnelSession(node, ip, Tunnel(_nothing, name=node))


@pytest.mark.parametrize(("header", "host"), [
    ("edge-1", "edge-1"), ("edge-1:10350", "edge-1"), ("EDGE-1:443", "edge-1"),
    ("10.0.0.5:10351", "10.0.0.5"), ("[fd00::5]:10351", "fd00::5"), ("fd00::5", "fd00::5"),
    ("", ""), ("[broken", ""),
])
def test_host_part_of_a_host_header(header: str, host: str) -> None:
    assert host_of(header) == host


async def test_routes_by_node_name_then_internal_ip() -> None:
    index = SessionIndex()
    a, b = _session("edge-a", "10.0.0.1"), _session("edge-b", "10.0.0.2")
    index.add(a)
    index.add(b)
    assert index.lookup("edge-a:10350") is a
    assert index.lookup("10.0.0.2:10351") is b
    assert index.lookup("edge-c") is None
    assert index.lookup("10.0.0.3:10350") is None
    # A node named like another node's IP still wins by name.
    c = _session("10.0.0.1", "10.0.0.9")
    index.add(c)
    assert index.lookup("10.0.0.1") is c


async def test_a_newer_tunnel_replaces_the_older_and_the_older_cannot_unindex_it() -> None:
    index = SessionIndex()
    old, new = _session("edge-a", "10.0.0.1"), _session("edge-a", "10.0.0.7")
    index.add(old)
    assert index.add(new) is old
    assert index.lookup("edge-a") is new and index.lookup("10.0.0.1") is None
    assert index.remove(old) is False  # the old connection ending later
    assert index.lookup("edge-a") is new and index.lookup("10.0.0.7") is new
    assert index.remove(new) is True
    assert index.lookup("edge-a") is None and len(index) == 0


def _cert(cn: str, *orgs: str) -> dict[str, object]:
    subject = [(("organizationName", o),) for o in orgs] + [(("commonName", cn),)]
    return {"subject": tuple(subject)}


@pytest.mark.parametrize(("cert", "allowed"), [
    (_cert("kube-apiserver-kubelet-client"), True),
    (_cert("kube-apiserver-kubelet-client", "system:masters"), True),
    (_cert("kubernetes-admin", "system:masters"), True),
    (_cert("bob", "developers"), False),
    (_cert("system:node:edge-a", "system:nodes"), False),
    (None, False),
])
def test_only_the_kubelet_client_or_masters_use_the_stream_server(cert, allowed) -> None:
    assert (stream_client_refusal(cert) == "") is allowed


def test_stream_server_address_brackets_ipv6() -> None:
    assert stream_server_address("10.0.0.1", 10003) == "10.0.0.1:10003"
    assert stream_server_address("fd00::1", 10003) == "[fd00::1]:10003"
