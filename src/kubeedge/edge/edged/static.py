"""Static pods: pod manifests in a directory on the edge (`staticPodPath`), run by the
edge without the cloud, as kubelet's file source does (pkg/kubelet/config/file.go,
common.go):

- every `*.yaml`, `*.yml` and `*.json` file (hidden files skipped) holds one Pod;
- the pod is named `<name>-<node name>`, defaults to namespace `default`, is bound to
  the node, tolerates every NoExecute taint, and gets a UID hashed from its content,
  the node and the source, so the same file gives the same UID after a restart (and a
  changed file a new pod);
- annotations `kubernetes.io/config.source: file`, `kubernetes.io/config.hash: <uid>`,
  `kubernetes.io/config.seen`;
- the API sees a mirror pod: the same pod with `kubernetes.io/config.mirror: <hash>`,
  owned by the Node, and no UID (the API server assigns one).

A file that does not parse is reported (an Event on the node) and skipped; it never
stops the other manifests.
"""

from __future__ import annotations

import copy
import datetime as dt
import hashlib
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

__all__ = ["CONFIG_HASH", "CONFIG_MIRROR", "CONFIG_SOURCE", "is_mirror_pod",
           "is_static_pod", "load_static_pods", "mirror_pod", "static_pod"]

CONFIG_SOURCE = "kubernetes.io/config.source"
CONFIG_HASH = "kubernetes.io/config.hash"
CONFIG_SEEN = "kubernetes.io/config.seen"
CONFIG_MIRROR = "kubernetes.io/config.mirror"

Obj = dict[str, Any]


def is_static_pod(pod: Mapping[str, Any]) -> bool:
    return ((pod.get("metadata") or {}).get("annotations") or {}).get(CONFIG_SOURCE) \
        in ("file", "http")


def is_mirror_pod(pod: Mapping[str, Any]) -> bool:
    return CONFIG_MIRROR in ((pod.get("metadata") or {}).get("annotations") or {})


def static_pod(raw: Mapping[str, Any], node_name: str, source: str = "file") -> Obj:
    """A manifest's pod as the edge runs it (see the module docstring)."""
    if raw.get("kind", "Pod") != "Pod":
        raise ValueError(f"kind {raw.get('kind')!r} is not Pod")
    pod: Obj = copy.deepcopy(dict(raw))
    pod.setdefault("apiVersion", "v1")
    pod["kind"] = "Pod"
    meta = pod.setdefault("metadata", {})
    if not meta.get("name"):
        raise ValueError("metadata.name: Required value")
    spec = pod.setdefault("spec", {})
    if not spec.get("containers"):
        raise ValueError("spec.containers: Required value")
    digest = hashlib.md5(json.dumps(raw, sort_keys=True).encode())
    digest.update(f"host:{node_name}".encode())
    digest.update(f"file:{source}".encode())
    uid = meta.get("uid") or digest.hexdigest()
    meta["uid"] = uid
    meta["name"] = f"{meta['name']}-{node_name.lower()}"
    meta["namespace"] = meta.get("namespace") or "default"
    annotations = meta.setdefault("annotations", {})
    annotations[CONFIG_SOURCE] = source
    annotations[CONFIG_HASH] = uid
    annotations.setdefault(CONFIG_SEEN, dt.datetime.now(dt.UTC).isoformat())
    spec["nodeName"] = node_name
    spec.setdefault("restartPolicy", "Always")
    spec.setdefault("terminationGracePeriodSeconds", 30)
    spec.setdefault("dnsPolicy", "ClusterFirst")
    spec.setdefault("schedulerName", "default-scheduler")
    spec.setdefault("enableServiceLinks", True)
    tolerations = spec.setdefault("tolerations", [])
    if not any(t.get("operator") == "Exists" and t.get("effect") == "NoExecute"
               and not t.get("key") for t in tolerations):
        tolerations.append({"operator": "Exists", "effect": "NoExecute"})
    pod.setdefault("status", {"phase": "Pending"})
    return pod


def load_static_pods(directory: Path, node_name: str) -> tuple[list[Obj], list[str]]:
    """The static pods of a manifests directory, and what could not be read."""
    import yaml

    pods: list[Obj] = []
    errors: list[str] = []
    if not directory.is_dir():
        return pods, errors
    for path in sorted(directory.iterdir()):
        if path.name.startswith(".") or path.suffix not in (".yaml", ".yml", ".json") \
                or not path.is_file():
            continue
        try:
            raw = yaml.safe_load(path.read_text())
            if not isinstance(raw, dict):
                raise ValueError("not a Pod object")
            pods.append(static_pod(raw, node_name))
        except (OSError, ValueError, yaml.YAMLError) as exc:
            errors.append(f"static pod manifest {path}: {exc}")
    return pods, errors


def mirror_pod(pod: Mapping[str, Any], node_name: str, node_uid: str = "") -> Obj:
    """The API's view of a static pod (kubelet's mirror client)."""
    mirror: Obj = copy.deepcopy(dict(pod))
    meta = mirror["metadata"]
    annotations = meta.setdefault("annotations", {})
    annotations[CONFIG_MIRROR] = annotations.get(CONFIG_HASH, meta.get("uid", ""))
    meta.pop("uid", None)
    meta.pop("resourceVersion", None)
    if node_uid:
        meta["ownerReferences"] = [{"apiVersion": "v1", "kind": "Node", "name": node_name,
                                    "uid": node_uid, "controller": True}]
    mirror.pop("status", None)
    return mirror
