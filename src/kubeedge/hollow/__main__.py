"""`python -m kubeedge.hollow`: run N hollow nodes against a cloud until stopped.

Parses flags into a `NodeProfile` and `HollowTimings` (a bad value is refused with the
flag and the reason), runs a `HollowCluster`, prints one line once every node is
registered and one line of request counts when it stops (SIGINT, SIGTERM or `--ttl`).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from kubeedge.hollow.cluster import HollowCluster, HollowTimings
from kubeedge.hollow.identity import AuthMode, ClusterCredentials
from kubeedge.hollow.node import NodeProfile, parse_label, parse_taint


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m kubeedge.hollow",
        description="Register hollow nodes and play kubelet for the pods bound to them.",
    )
    p.add_argument("--root", help="the cloud root `keadm init --root` made")
    p.add_argument("--kubeconfig", help="admin kubeconfig (default: ROOT/etc/kubeedge/"
                   "admin.kubeconfig)")
    p.add_argument("--nodes", type=int, default=1, help="how many nodes (default 1)")
    p.add_argument("--name-prefix", default="hollow-", help="node names: PREFIX0, PREFIX1, ...")
    p.add_argument("--cpu", default="8")
    p.add_argument("--memory", default="32Gi")
    p.add_argument("--pods", type=int, default=110)
    p.add_argument("--gpus", type=int, default=0, help="nvidia.com/gpu capacity")
    p.add_argument("--ephemeral-storage", default="100Gi")
    p.add_argument("--label", action="append", default=[], metavar="KEY=VALUE")
    p.add_argument("--taint", action="append", default=[], metavar="KEY[=VALUE]:EFFECT")
    p.add_argument("--edge", action="store_true",
                   help="label the nodes node-role.kubernetes.io/edge=''")
    p.add_argument("--ready-delay", type=float, default=1.0,
                   help="seconds from binding to Running (default 1)")
    p.add_argument("--lease-seconds", type=int, default=40)
    p.add_argument("--renew-interval", type=float, default=10.0)
    p.add_argument("--status-interval", type=float, default=60.0)
    p.add_argument("--restart-backoff", type=float, default=10.0,
                   help="first crash-loop back-off in seconds (doubles up to 300)")
    p.add_argument("--auth", choices=[m.value for m in AuthMode], default="impersonate",
                   help="node identity: impersonation over the admin's connections "
                   "(default) or a client certificate per node")
    p.add_argument("--connections", type=int, default=32,
                   help="requests in flight at once (and shared pool size)")
    p.add_argument("--ttl", type=float, default=0.0, help="exit after this many seconds")
    p.add_argument("--cleanup", action="store_true", help="delete the Nodes on exit")
    p.add_argument("-v", "--verbose", action="store_true")
    return p


def _config(args: argparse.Namespace) -> tuple[ClusterCredentials, NodeProfile, HollowTimings]:
    if not args.root and not args.kubeconfig:
        raise ValueError("--root: required (or --kubeconfig)")
    if args.nodes < 0:
        raise ValueError(f"--nodes: must be >= 0, not {args.nodes}")
    if args.pods < 1 or args.gpus < 0:
        raise ValueError("--pods must be >= 1 and --gpus >= 0")
    if args.root:
        credentials = ClusterCredentials.from_root(args.root)
        if args.kubeconfig:
            credentials = ClusterCredentials(Path(args.kubeconfig), credentials.ca_cert,
                                             credentials.ca_key)
    else:
        credentials = ClusterCredentials(Path(args.kubeconfig))
    if not credentials.kubeconfig.exists():
        raise ValueError(f"--root: {credentials.kubeconfig} does not exist (run keadm init)")
    labels = dict(parse_label(text) for text in args.label)
    taints = [parse_taint(text) for text in args.taint]
    profile = NodeProfile(cpu=args.cpu, memory=args.memory, pods=args.pods, gpus=args.gpus,
                          ephemeral_storage=args.ephemeral_storage, labels=labels,
                          taints=taints, edge=args.edge)
    timings = HollowTimings(ready_delay=args.ready_delay, lease_seconds=args.lease_seconds,
                            renew_interval=args.renew_interval,
                            status_interval=args.status_interval,
                            restart_backoff=args.restart_backoff)
    return credentials, profile, timings


async def _run(args: argparse.Namespace) -> int:
    credentials, profile, timings = _config(args)
    cluster = HollowCluster(credentials=credentials, nodes=args.nodes,
                            name_prefix=args.name_prefix, profile=profile, timings=timings,
                            auth=args.auth, connections=args.connections,
                            delete_on_stop=args.cleanup)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    began = time.monotonic()
    try:
        await cluster.start()
        names = cluster.node_names()
        span = f" ({names[0]}..{names[-1]})" if names else ""
        print(f"hollow: {len(names)} nodes registered{span} in "
              f"{time.monotonic() - began:.1f}s", flush=True)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), args.ttl if args.ttl > 0 else None)
        rate = cluster.request_rate()
        print(f"hollow: stopping; {cluster.stats.total} requests, {rate:.1f}/s", flush=True)
    finally:
        await cluster.stop()
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.WARNING,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        return asyncio.run(_run(args))
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
