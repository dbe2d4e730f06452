"""Pod status generation (edge/edged/status.py) against kubelet 1.32's rules."""

from __future__ import annotations

from typing import Any

from kubeedge.edge.edged.status import (
    ANNOTATION_RESTART_COUNT,
    PodInputs,
    StartFailure,
    generate_pod_status,
    keep_transition_times,
    pod_phase,
    qos_class,
    status_equal,
)
from kubeedge.edge.runtime.contract import ContainerMetadata, ContainerState, ContainerStatus

S = 1_000_000_000


def _pod(containers: list[str], inits: list[str] = (), policy: str = "Always",
         **extra: Any) -> dict[str, Any]:
    spec: dict[str, Any] = {"restartPolicy": policy,
                            "containers": [{"name": n, "image": "busybox"} for n in containers]}
    if inits:
        spec["initContainers"] = [{"name": n, "image": "busybox"} for n in inits]
    spec.update(extra)
    return {"metadata": {"name": "p", "namespace": "default", "uid": "u1"}, "spec": spec}


def _cs(name: str, state: ContainerState, attempt: int = 0, code: int | None = None,
        reason: str = "", t: int = 100) -> ContainerStatus:
    return ContainerStatus(
        id=f"{name}-{attempt}", sandbox_id="sb", metadata=ContainerMetadata(name, attempt),
        state=state, image="busybox", created_at=(t + attempt) * S,
        started_at=(t + attempt) * S, finished_at=(t + attempt + 1) * S
        if state == ContainerState.EXITED else 0, exit_code=code, reason=reason,
        annotations={ANNOTATION_RESTART_COUNT: str(attempt)})


def _types(status: dict[str, Any]) -> dict[str, str]:
    return {c["type"]: c["status"] for c in status["conditions"]}


def test_running_pod_is_ready_with_kubelets_conditions_in_order() -> None:
    pod = _pod(["a"])
    status = generate_pod_status(pod, PodInputs(
        sandbox_ready=True, containers=[_cs("a", ContainerState.RUNNING)],
        pod_ip="10.0.0.5", host_ip="192.0.2.1", start_time="2026-01-01T00:00:00Z"))
    assert status["phase"] == "Running"
    assert [c["type"] for c in status["conditions"]] == [
        "PodReadyToStartContainers", "Initialized", "Ready", "ContainersReady",
        "PodScheduled"]
    assert set(_types(status).values()) == {"True"}
    (a,) = status["containerStatuses"]
    assert a["state"] == {"running": {"startedAt": "1970-01-01T00:01:40Z"}}
    assert a["ready"] is True and a["started"] is True and a["restartCount"] == 0
    assert a["containerID"] == "process://a-0"
    assert status["podIP"] == "10.0.0.5" and status["podIPs"] == [{"ip": "10.0.0.5"}]
    assert status["hostIP"] == "192.0.2.1" and status["qosClass"] == "BestEffort"


def test_not_yet_created_containers_wait_creating_or_initializing() -> None:
    status = generate_pod_status(_pod(["a"], inits=["i"]), PodInputs())
    assert status["phase"] == "Pending"
    assert status["initContainerStatuses"][0]["state"] == {
        "waiting": {"reason": "ContainerCreating"}}
    assert status["containerStatuses"][0]["state"] == {
        "waiting": {"reason": "PodInitializing"}}
    init = next(c for c in status["conditions"] if c["type"] == "Initialized")
    assert init == {"type": "Initialized", "status": "False",
                    "reason": "ContainersNotInitialized",
                    "message": "containers with incomplete status: [i]"}
    assert _types(status)["PodReadyToStartContainers"] == "False"


def test_crash_loop_waiting_reason_moves_terminated_to_last_state() -> None:
    pod = _pod(["a"])
    failure = StartFailure("CrashLoopBackOff", "back-off 10s restarting failed container=a")
    status = generate_pod_status(pod, PodInputs(
        sandbox_ready=True,
        containers=[_cs("a", ContainerState.EXITED, 0, 1, "Error"),
                    _cs("a", ContainerState.EXITED, 1, 2, "Error")],
        failures={"a": failure}))
    (a,) = status["containerStatuses"]
    assert a["state"] == {"waiting": {"reason": "CrashLoopBackOff",
                                      "message": failure.message}}
    assert a["lastState"]["terminated"]["exitCode"] == 2
    assert a["restartCount"] == 1
    assert status["phase"] == "Running"  # Always: restarting
    ready = next(c for c in status["conditions"] if c["type"] == "Ready")
    assert ready["reason"] == "ContainersNotReady"
    assert ready["message"] == "containers with unready status: [a]"


def test_last_state_is_the_previous_attempt_and_oom_reason_kept() -> None:
    status = generate_pod_status(_pod(["a"]), PodInputs(containers=[
        _cs("a", ContainerState.EXITED, 0, 137, "OOMKilled"),
        _cs("a", ContainerState.RUNNING, 1)]))
    (a,) = status["containerStatuses"]
    assert "running" in a["state"]
    assert a["lastState"]["terminated"]["reason"] == "OOMKilled"
    assert a["restartCount"] == 1


def test_phase_by_restart_policy() -> None:
    ok = [_cs("a", ContainerState.EXITED, 0, 0, "Completed")]
    bad = [_cs("a", ContainerState.EXITED, 0, 3, "Error")]
    for policy, containers, phase in [("Never", ok, "Succeeded"), ("Never", bad, "Failed"),
                                      ("OnFailure", ok, "Succeeded"),
                                      ("OnFailure", bad, "Running"),
                                      ("Always", ok, "Running"), ("Always", bad, "Running")]:
        status = generate_pod_status(_pod(["a"], policy=policy),
                                     PodInputs(containers=containers))
        assert status["phase"] == phase, (policy, containers)
        term = status["containerStatuses"][0]["state"]["terminated"]
        assert term["reason"] in ("Completed", "Error")


def test_terminal_when_killed_and_terminal_phase_never_goes_back() -> None:
    killed = [_cs("a", ContainerState.EXITED, 0, 143, "Error")]
    status = generate_pod_status(_pod(["a"]), PodInputs(containers=killed, terminal=True))
    assert status["phase"] == "Failed"
    cr = next(c for c in status["conditions"] if c["type"] == "ContainersReady")
    assert cr["reason"] == "PodFailed"
    pod = _pod(["a"], policy="Never")
    pod["status"] = {"phase": "Succeeded"}
    again = generate_pod_status(pod, PodInputs(containers=[_cs("a", ContainerState.RUNNING)]))
    assert again["phase"] == "Succeeded"


def test_init_container_failure_with_never_fails_the_pod() -> None:
    pod = _pod(["a"], inits=["i"], policy="Never")
    status = generate_pod_status(pod, PodInputs(
        containers=[_cs("i", ContainerState.EXITED, 0, 1, "Error")]))
    assert status["phase"] == "Failed"
    assert status["initContainerStatuses"][0]["ready"] is False
    ok = generate_pod_status(pod, PodInputs(containers=[
        _cs("i", ContainerState.EXITED, 0, 0, "Completed"), _cs("a", ContainerState.RUNNING)]))
    assert ok["initContainerStatuses"][0]["ready"] is True
    assert _types(ok)["Initialized"] == "True" and ok["phase"] == "Running"


def test_readiness_probe_result_drives_ready_conditions() -> None:
    pod = _pod(["a", "b"])
    running = [_cs("a", ContainerState.RUNNING), _cs("b", ContainerState.RUNNING)]
    status = generate_pod_status(pod, PodInputs(containers=running, ready={"b": False}))
    assert _types(status)["ContainersReady"] == "False"
    assert next(c for c in status["conditions"] if c["type"] == "Ready")["message"] == \
        "containers with unready status: [b]"


def test_readiness_gates_and_foreign_conditions_kept() -> None:
    pod = _pod(["a"], readinessGates=[{"conditionType": "example.com/lb"}])
    pod["status"] = {"conditions": [{"type": "example.com/lb", "status": "False"}]}
    status = generate_pod_status(pod, PodInputs(containers=[_cs("a", ContainerState.RUNNING)]))
    ready = next(c for c in status["conditions"] if c["type"] == "Ready")
    assert ready["reason"] == "ReadinessGatesNotReady"
    assert status["conditions"][-1] == {"type": "example.com/lb", "status": "False"}


def test_sidecar_counts_for_initialized_once_started() -> None:
    pod = _pod(["a"])
    pod["spec"]["initContainers"] = [{"name": "s", "image": "busybox",
                                      "restartPolicy": "Always"}]
    status = generate_pod_status(pod, PodInputs(containers=[
        _cs("s", ContainerState.RUNNING), _cs("a", ContainerState.RUNNING)]))
    assert status["phase"] == "Running" and _types(status)["Initialized"] == "True"
    assert status["initContainerStatuses"][0]["ready"] is True


def test_qos_classes() -> None:
    def res(**r: Any) -> dict[str, Any]:
        return {"spec": {"containers": [{"name": "a", "resources": r}]}}

    assert qos_class(res()) == "BestEffort"
    assert qos_class(res(limits={"cpu": "1", "memory": "1Gi"})) == "Guaranteed"
    assert qos_class(res(requests={"cpu": "500m", "memory": "1Gi"},
                         limits={"cpu": "1", "memory": "1Gi"})) == "Burstable"
    assert qos_class(res(requests={"memory": "10Mi"})) == "Burstable"


def test_transition_times_kept_while_unchanged() -> None:
    pod = _pod(["a"])
    first = keep_transition_times(generate_pod_status(pod, PodInputs(
        containers=[_cs("a", ContainerState.RUNNING)])), None, "T1")
    second = keep_transition_times(generate_pod_status(pod, PodInputs(
        containers=[_cs("a", ContainerState.RUNNING)], ready={"a": False})), first, "T2")
    by = {c["type"]: c["lastTransitionTime"] for c in second["conditions"]}
    assert by["PodScheduled"] == "T1" and by["Ready"] == "T2"
    assert status_equal(first, keep_transition_times(generate_pod_status(pod, PodInputs(
        containers=[_cs("a", ContainerState.RUNNING)])), first, "T3"))
    assert not status_equal(first, second)


def test_rejected_pod_is_failed_with_reason() -> None:
    status = generate_pod_status(_pod(["a"]), PodInputs(
        rejected=StartFailure("UnexpectedAdmissionError", "no GPU")))
    assert (status["phase"], status["reason"], status["message"]) == (
        "Failed", "UnexpectedAdmissionError", "no GPU")


def test_pod_phase_pending_while_waiting() -> None:
    pod = _pod(["a", "b"])
    statuses = [{"name": "a", "state": {"running": {}}, "lastState": {}},
                {"name": "b", "state": {"waiting": {"reason": "ErrImagePull"}},
                 "lastState": {}}]
    assert pod_phase(pod, [], statuses) == "Pending"
