"""Every controller cloudcore can run, by its `--controllers` name (kube-controller-
manager's names where kube has one), as `module:Class` so a process imports only the
controllers it runs."""

from __future__ import annotations

import importlib

from kubeedge.controllers.runtime import Controller

CONTROLLERS: dict[str, str] = {
    "namespace-defaults": "kubeedge.controllers.namespacedefaults:NamespaceDefaults",
    "deployment": "kubeedge.controllers.deployment:DeploymentController",
    "replicaset": "kubeedge.controllers.replicaset:ReplicaSetController",
    "daemonset": "kubeedge.controllers.daemonset:DaemonSetController",
    "statefulset": "kubeedge.controllers.statefulset:StatefulSetController",
    "job": "kubeedge.controllers.job:JobController",
    "cronjob": "kubeedge.controllers.cronjob:CronJobController",
    "garbage-collector": "kubeedge.controllers.garbagecollector:GarbageCollector",
    "namespace": "kubeedge.controllers.namespace:NamespaceController",
    "node-lifecycle": "kubeedge.controllers.nodelifecycle:NodeLifecycleController",
    "node-ipam": "kubeedge.controllers.nodeipam:NodeIPAMController",
    "disruption": "kubeedge.controllers.disruption:DisruptionController",
    "endpoints": "kubeedge.controllers.endpoints:EndpointsController",
    "endpointslice": "kubeedge.controllers.endpointslice:EndpointSliceController",
    "podgc": "kubeedge.controllers.podgc:PodGCController",
    "queue": "kubeedge.controllers.queue:QueueController",
    "podgroup": "kubeedge.controllers.podgroup:PodGroupController",
    "vcjob": "kubeedge.controllers.vcjob:VCJobController",
    "tfjob": "kubeedge.controllers.training.tfjob:TFJobController",
    "pytorchjob": "kubeedge.controllers.training.pytorchjob:PyTorchJobController",
}


def controller_class(name: str) -> type[Controller]:
    module, _, cls = CONTROLLERS[name].partition(":")
    value = getattr(importlib.import_module(module), cls)
    assert isinstance(value, type) and issubclass(value, Controller)
    return value
