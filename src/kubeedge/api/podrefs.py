"""The objects a pod names: secrets, configmaps, persistent volume claims and its
service account. One definition for the node authorizer (a node may read only what its
pods name) and for EdgeController (an edge gets only what its pods name), following
kube's `VisitPodSecretNames`/`VisitPodConfigmapNames`.

Tolerates malformed specs (stored objects are validated, messages from edges are not).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

__all__ = ["PodReferences", "pod_references"]

Obj = Mapping[str, Any]

# Volume sources whose credentials are a secret named in `secretRef`.
_SECRET_REF_VOLUMES = ("cephfs", "cinder", "flexVolume", "iscsi", "rbd", "scaleIO", "storageos")


@dataclass(frozen=True, slots=True)
class PodReferences:
    """Names, in the pod's namespace, of the objects a pod needs its node to read."""

    secrets: frozenset[str]
    config_maps: frozenset[str]
    persistent_volume_claims: frozenset[str]
    service_accounts: frozenset[str]


def _name(obj: Any, key: str = "name") -> str:
    return str(obj.get(key) or "") if isinstance(obj, Mapping) else ""


def _dicts(value: Any) -> Iterator[Obj]:
    for item in value if isinstance(value, list) else ():
        if isinstance(item, Mapping):
            yield item


def _containers(spec: Obj) -> Iterator[Obj]:
    for key in ("initContainers", "containers", "ephemeralContainers"):
        yield from _dicts(spec.get(key))


def _sub(obj: Obj, key: str) -> Obj:
    value = obj.get(key)
    return value if isinstance(value, Mapping) else {}


def pod_references(pod: Obj) -> PodReferences:
    """Every secret, configmap, PVC and service account `pod` refers to."""
    spec = _sub(pod, "spec")
    pod_name = _name(pod.get("metadata"))
    secrets: set[str] = set()
    config_maps: set[str] = set()
    claims: set[str] = set()
    for ref in _dicts(spec.get("imagePullSecrets")):
        secrets.add(_name(ref))
    for container in _containers(spec):
        for env in _dicts(container.get("env")):
            value_from = _sub(env, "valueFrom")
            secrets.add(_name(value_from.get("secretKeyRef")))
            config_maps.add(_name(value_from.get("configMapKeyRef")))
        for env_from in _dicts(container.get("envFrom")):
            secrets.add(_name(env_from.get("secretRef")))
            config_maps.add(_name(env_from.get("configMapRef")))
    for volume in _dicts(spec.get("volumes")):
        secrets.add(_name(volume.get("secret"), "secretName"))
        config_maps.add(_name(volume.get("configMap")))
        for source in _dicts(_sub(volume, "projected").get("sources")):
            secrets.add(_name(source.get("secret")))
            config_maps.add(_name(source.get("configMap")))
        for kind in _SECRET_REF_VOLUMES:
            secrets.add(_name(_sub(volume, kind).get("secretRef")))
        secrets.add(_name(volume.get("azureFile"), "secretName"))
        secrets.add(_name(_sub(volume, "csi").get("nodePublishSecretRef")))
        claims.add(_name(volume.get("persistentVolumeClaim"), "claimName"))
        if _sub(volume, "ephemeral").get("volumeClaimTemplate") is not None:
            # A generic ephemeral volume's claim is named <pod>-<volume>.
            claims.add(f"{pod_name}-{_name(volume)}")
    # The ServiceAccount admission plugin fills in "default" when the pod names none.
    account = spec.get("serviceAccountName") or spec.get("serviceAccount") or "default"
    return PodReferences(frozenset(secrets - {""}), frozenset(config_maps - {""}),
                         frozenset(claims - {""}), frozenset({str(account)}))
