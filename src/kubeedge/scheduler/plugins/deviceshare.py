"""The `deviceshare` plugin, legacy GPU sharing (Volcano's gpushare devices,
specs/volcano.md §4): a node offers `volcano.sh/gpu-number` cards sharing its
`volcano.sh/gpu-memory` MiB equally; a pod asking `volcano.sh/gpu-memory: N` goes to
one card with N MiB free, a pod asking `volcano.sh/gpu-number: k` to k cards no pod
holds. The card indexes reach the pod as the `volcano.sh/gpu-index` annotation ("0" or
"0,1", with `volcano.sh/predicate-time`), written before the binding as Volcano does.

Arguments (Volcano's names): `deviceshare.GPUSharingEnable` and
`deviceshare.GPUNumberEnable` (both false by default, and not both true),
`deviceshare.SchedulePolicy` ("" = Volcano's lowest fitting index; `binpack` = the
fullest card that fits; `spread` = the emptiest), `deviceshare.ScheduleWeight` (0: no
node score; else the chosen card's fill after placement, 0-100, rising for binpack and
falling for spread, times the weight). `deviceshare.NodeLockEnable` is accepted and has
no effect (one scheduler places pods here, so there is no other to lock out); vGPU and
NPU sharing are refused as not supported.

The predicate finds the cards on each node and leaves its choice on the task; the node
the pod is placed on counts the pod on those cards (framework/info.py), so later pods
in the same session see them taken. Whole `nvidia.com/gpu` is a plain scalar resource
(the allocate action's resource check). Works on both the Volcano session and the
default-scheduler fast path (a node-level plugin). Never does I/O.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping
from typing import Any

from kubeedge.config.apiserver import ConfigError
from kubeedge.scheduler.framework.info import GPU_MEMORY, GPU_NUMBER, NodeInfo, TaskInfo
from kubeedge.scheduler.framework.session import CycleState, Session, Status
from kubeedge.scheduler.plugins.arguments import Arguments

__all__ = ["DeviceSharePlugin"]

NAME = "deviceshare"
MAX_NODE_SCORE = 100
POLICIES = ("", "binpack", "spread")
UNSUPPORTED = ("deviceshare.VGPUEnable", "deviceshare.AscendMindClusterVNPUEnable",
               "deviceshare.AscendHAMiVNPUEnable")


class DeviceSharePlugin:
    name = NAME

    def __init__(self, arguments: Mapping[str, Any] | None = None) -> None:
        args = Arguments(arguments)
        self.sharing = args.get_bool("deviceshare.GPUSharingEnable", False)
        self.number = args.get_bool("deviceshare.GPUNumberEnable", False)
        if self.sharing and self.number:
            # Volcano refuses this at start too (klog.Fatal).
            raise ConfigError("plugin deviceshare: deviceshare.GPUSharingEnable and "
                              "deviceshare.GPUNumberEnable cannot both be true; pick one")
        args.get_bool("deviceshare.NodeLockEnable", False)
        for name in UNSUPPORTED:
            if args.get_bool(name, False):
                raise ConfigError(f"plugin argument {name}: not supported (only the "
                                  "legacy GPU sharing and GPU number modes are); set it "
                                  "to false")
        policy = args.values.get("deviceshare.SchedulePolicy", "")
        if policy not in POLICIES:
            raise ConfigError(f"plugin argument deviceshare.SchedulePolicy: {policy!r} is "
                              "not binpack or spread")
        self.policy = str(policy)
        self.weight = args.get_float("deviceshare.ScheduleWeight", 0)

    def on_session_open(self, ssn: Session) -> None:
        if not (self.sharing or self.number):
            return
        ssn.add_pre_predicate_fn(NAME, self.pre_predicate)
        ssn.add_predicate_fn(NAME, self.predicate, shape=self.shape)
        if self.weight > 0:
            ssn.add_node_order_fn(NAME, self.node_order, shape=self.shape)

    def shape(self, state: CycleState, task: TaskInfo) -> Hashable | None:
        """For the session's memo: a task without a device request this plugin
        handles always passes and scores 0; one with a request is not memoized (the
        predicate leaves its card choice on the task for the score and the placement)."""
        return None if self._mode(task) else ()

    def _mode(self, task: TaskInfo) -> str:
        """Which request this plugin handles for `task` (Volcano's HasDeviceRequest)."""
        if self.sharing and task.gpu_memory > 0:
            return GPU_MEMORY
        if self.number and task.gpu_number > 0:
            return GPU_NUMBER
        return ""

    def pre_predicate(self, state: CycleState, task: TaskInfo) -> Status | None:
        # A new decision: choices left from an earlier one describe nodes as they were.
        task.gpu_choice.clear()
        return None

    def predicate(self, state: CycleState, task: TaskInfo, node: NodeInfo) -> Status | None:
        mode = self._mode(task)
        if not mode or not node.gpus:
            # A node without GPU devices is the resource check's to refuse (Volcano
            # skips the device filter there too).
            return None
        if mode == GPU_MEMORY:
            ids = node.gpus_for_memory(task.gpu_memory, self.policy)
            if ids is None:
                # Evicting pods cannot help a request bigger than any card.
                return Status.of(
                    f"node(s) had no GPU with {task.gpu_memory} MiB of {GPU_MEMORY} free",
                    unresolvable=task.gpu_memory > max(node.gpus.values()))
        else:
            ids = node.gpus_for_number(task.gpu_number)
            if ids is None:
                return Status.of(
                    f"node(s) had fewer than {task.gpu_number} idle GPUs ({GPU_NUMBER})",
                    unresolvable=task.gpu_number > len(node.gpus))
        task.gpu_choice[node.name] = ids
        return None

    def node_order(self, state: CycleState, task: TaskInfo, node: NodeInfo) -> float:
        ids = task.gpu_choice.get(node.name)
        if not ids or self._mode(task) != GPU_MEMORY:
            return 0.0
        card = ids[0]
        capacity = node.gpus.get(card, 0)
        if capacity <= 0:
            return 0.0
        fill = min((node.gpu_used.get(card, 0) + task.gpu_memory) / capacity, 1.0)
        if self.policy == "spread":
            fill = 1.0 - fill
        elif self.policy != "binpack":
            return 0.0
        return fill * MAX_NODE_SCORE * self.weight
