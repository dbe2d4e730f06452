"""Volcano's object-only admission rules (api/volcano.py, specs/volcano.md §1): create
defaults of its mutating webhooks and the causes of its validating ones."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from kubeedge.api import volcano
from kubeedge.controllers.vcjob_plugins import MPIPlugin

Obj = dict[str, Any]


def task(name: str = "worker", replicas: int = 2, **extra: Any) -> Obj:
    return {"name": name, "replicas": replicas, **extra, "template": {"spec": {
        "containers": [{"name": "c", "image": "busybox"}]}}}


def job(*tasks: Obj, name: str = "j", **spec: Any) -> Obj:
    return {"metadata": {"name": name},
            "spec": {"tasks": list(tasks) if tasks else [task()], **spec}}


def fields(causes: list[Any]) -> dict[str, str]:
    return {c.field: c.message for c in causes}


def defaulted(obj: Obj) -> Obj:
    volcano.default_job(obj)
    return obj


# -- job defaults -----------------------------------------------------------------------


def test_job_defaults_fill_scheduler_queue_retries_and_sizes() -> None:
    spec = defaulted(job(task("", 3), task("ps", 2, minAvailable=1)))["spec"]
    assert (spec["schedulerName"], spec["queue"], spec["maxRetry"]) == ("volcano", "default", 3)
    assert [t["name"] for t in spec["tasks"]] == ["default0", "ps"]
    assert [t["minAvailable"] for t in spec["tasks"]] == [3, 1]
    assert [t["maxRetry"] for t in spec["tasks"]] == [3, 3]
    assert spec["minAvailable"] == 4


def test_zero_counts_as_unset_as_in_go_but_set_values_stay() -> None:
    spec = defaulted(job(task(maxRetry=0), maxRetry=0, minAvailable=0))["spec"]
    assert (spec["maxRetry"], spec["minAvailable"], spec["tasks"][0]["maxRetry"]) == (3, 2, 3)
    spec = defaulted(job(task(maxRetry=5), maxRetry=1, minAvailable=1, queue="q",
                         schedulerName="other"))["spec"]
    assert (spec["maxRetry"], spec["minAvailable"], spec["queue"], spec["schedulerName"],
            spec["tasks"][0]["maxRetry"]) == (1, 1, "q", "other", 5)


def test_a_value_of_the_wrong_type_is_left_for_the_schema() -> None:
    spec = defaulted(job(minAvailable="2", maxRetry=True))["spec"]
    assert (spec["minAvailable"], spec["maxRetry"]) == ("2", True)


def test_partition_policy_sets_task_min_available_only_with_min_partitions() -> None:
    with_min = task(replicas=6, partitionPolicy={"totalPartitions": 3, "partitionSize": 2,
                                                 "minPartitions": 2})
    without = task("other", replicas=6, partitionPolicy={"totalPartitions": 3,
                                                         "partitionSize": 2})
    spec = defaulted(job(with_min, without))["spec"]
    assert [t["minAvailable"] for t in spec["tasks"]] == [4, 6]


@pytest.mark.parametrize(("plugins", "want"), [
    ({"tensorflow": []}, {"tensorflow": [], "svc": []}),
    ({"pytorch": [], "svc": ["--x"]}, {"pytorch": [], "svc": ["--x"]}),
    ({"ray": []}, {"ray": [], "svc": []}),
    ({"mpi": []}, {"mpi": [], "svc": [], "ssh": []}),
    ({"env": []}, {"env": []}),
])
def test_framework_plugins_bring_the_plugins_they_need(plugins: Obj, want: Obj) -> None:
    assert defaulted(job(plugins=plugins))["spec"]["plugins"] == want


def test_host_network_template_gets_cluster_dns_with_host_net() -> None:
    net = task()
    net["template"]["spec"]["hostNetwork"] = True
    fixed = task("fixed")
    fixed["template"]["spec"].update(hostNetwork=True, dnsPolicy="Default")
    spec = defaulted(job(net, fixed, task("plain")))["spec"]
    assert [t["template"]["spec"].get("dnsPolicy") for t in spec["tasks"]] == [
        "ClusterFirstWithHostNet", "Default", None]


# -- job validation ---------------------------------------------------------------------


def test_a_valid_defaulted_job_has_no_causes() -> None:
    assert volcano.validate_job(defaulted(job(task("ps", 1), task("worker", 3))), None) == []


def test_a_job_needs_a_task() -> None:
    assert fields(volcano.validate_job({"metadata": {"name": "j"}, "spec": {}}, None)) == {
        "spec.tasks": "Required value: No task specified in job spec"}


def test_sizes_and_names() -> None:
    causes = fields(volcano.validate_job(job(task("a", 1, minAvailable=2), task("a", 1),
                                             minAvailable=3), None))
    assert causes["spec.tasks[0].minAvailable"] == (
        "Invalid value: 2: 'minAvailable' is greater than 'replicas' in task: a, job: j")
    assert causes["spec.tasks[1].name"] == 'Duplicate value: "a"'
    assert causes["spec.minAvailable"] == (
        "Invalid value: 3: job 'minAvailable' should not be greater than total replicas in tasks")


def test_long_job_and_pod_names_are_refused() -> None:
    long_task = "t" * 60
    causes = fields(volcano.validate_job(job(task(long_task), name="job"), None))
    assert causes["spec.tasks[0].name"].startswith(
        f'Invalid value: "{long_task}": create pod with name job-{long_task}-0 validate failed')
    causes = fields(volcano.validate_job(job(name="j" * 64), None))
    assert "must be no more than 63 characters" in causes["metadata.name"]


@pytest.mark.parametrize(("policies", "field", "message"), [
    ([{"event": "PodFailed", "exitCode": 2}], "spec.policies[0]",
     "Forbidden: must not specify event and exitCode simultaneously"),
    ([{"action": "RestartJob"}], "spec.policies[0]",
     "Required value: either event and exitCode should be specified"),
    ([{"event": "PodRunning", "action": "RestartJob"}], "spec.policies[0].event",
     'Unsupported value: "PodRunning"'),
    ([{"event": "PodFailed", "action": "SyncJob"}], "spec.policies[0].action",
     'Unsupported value: "SyncJob"'),
    ([{"exitCode": 0, "action": "RestartJob"}], "spec.policies[0].exitCode",
     "Invalid value: 0: 0 is not a valid error code"),
    ([{"exitCode": 3, "action": "RestartJob"}, {"exitCode": 3, "action": "AbortJob"}],
     "spec.policies[1].exitCode", "Duplicate value: 3"),
    ([{"event": "PodFailed", "action": "RestartJob"},
      {"events": ["PodEvicted", "PodFailed"], "action": "AbortJob"}],
     "spec.policies[1].events", 'Duplicate value: "PodFailed"'),
    ([{"event": "*", "action": "RestartJob"}, {"event": "PodFailed", "action": "AbortJob"}],
     "spec.policies", "Forbidden: if there's * here, no other policy should be here"),
])
def test_policies(policies: list[Obj], field: str, message: str) -> None:
    causes = fields(volcano.validate_job(job(policies=policies), None))
    assert causes[field].startswith(message)
    # The same rules hold for a task's own policies.
    causes = fields(volcano.validate_job(job(task(policies=policies)), None))
    assert causes[field.replace("spec.policies", "spec.tasks[0].policies")].startswith(message)


def test_known_policies_pass() -> None:
    policies = [{"event": "PodEvicted", "action": "RestartJob"},
                {"events": ["PodFailed", "TaskFailed"], "action": "AbortJob"},
                {"exitCode": 137, "action": "RestartPod"},
                {"event": "PodPending", "action": "RestartPartition", "timeout": "1m"}]
    assert volcano.validate_job(job(policies=policies), None) == []


def test_unknown_plugin_and_mpi_master() -> None:
    causes = fields(volcano.validate_job(job(plugins={"horovod": []}), None))
    assert causes["spec.plugins[horovod]"].startswith('Unsupported value: "horovod"')
    causes = fields(volcano.validate_job(job(task("launcher", 1), plugins={"mpi": []}), None))
    assert causes["spec.plugins[mpi]"] == (
        'Invalid value: "master": The specified mpi master task was not found')
    ok = job(task("launcher", 1), task("worker"), plugins={"mpi": ["--master=launcher"]})
    assert volcano.validate_job(ok, None) == []


@pytest.mark.parametrize(("args", "master"), [
    ([], "master"), (["--master=m"], "m"), (["-master", "m"], "m"),
    (["--worker=w", "--port=22"], "master"),
    # Go's flag parsing stops at an undefined flag, a non-flag argument, `--` or a bad
    # value; what came before it counts.
    (["--gpus=2", "--master=m"], "master"), (["run", "--master=m"], "master"),
    (["--", "--master=m"], "master"), (["--port=ssh", "--master=m"], "master"),
    (["--master=a", "--port=ssh"], "a"),
])
def test_mpi_master_flag(args: list[str], master: str) -> None:
    assert volcano.mpi_master({"mpi": args}) == master
    # Admission and the controller's mpi plugin read the same master (the controller
    # refuses a bad value outright instead).
    if "--port=ssh" not in args:
        assert MPIPlugin.from_args(args).master == master


def test_pod_template_causes_sit_under_the_task() -> None:
    bad = task()
    bad["template"]["spec"]["containers"][0]["image"] = ""
    bad["template"]["spec"]["dnsPolicy"] = "Nowhere"
    causes = fields(volcano.validate_job(job(task("ok"), bad), None))
    assert causes["spec.tasks[1].template.spec.containers[0].image"] == "Required value"
    assert causes["spec.tasks[1].template.spec.dnsPolicy"].startswith(
        'Unsupported value: "Nowhere"')
    assert not any(f.startswith("spec.tasks[0]") for f in causes)


def test_template_is_validated_on_a_defaulted_copy() -> None:
    obj = job()
    before = copy.deepcopy(obj)
    assert volcano.validate_job(obj, None) == []
    assert obj == before


def test_numa_topology_policy_needs_whole_cpus() -> None:
    numa = task(topologyPolicy="single-numa-node")
    numa["template"]["spec"]["containers"][0]["resources"] = {"requests": {"cpu": "500m"}}
    causes = fields(volcano.validate_job(job(numa), None))
    assert causes["spec.tasks[0].template.spec.containers[0].resources.requests[cpu]"] == (
        'Invalid value: "500m": the cpu request isn\'t an integer in spec.task[0] container[0]')
    numa["template"]["spec"]["containers"][0]["resources"] = {"limits": {"cpu": "2"}}
    assert volcano.validate_job(job(numa), None) == []


def test_partition_policy_must_cover_replicas() -> None:
    off = task(replicas=5, partitionPolicy={"totalPartitions": 2, "partitionSize": 2})
    causes = fields(volcano.validate_job(job(off), None))
    assert "'Replicas' are not equal to TotalPartitions*PartitionSize" in (
        causes["spec.tasks[0].replicas"])
    mismatch = task(replicas=4, minAvailable=3,
                    partitionPolicy={"totalPartitions": 2, "partitionSize": 2,
                                     "minPartitions": 1})
    causes = fields(volcano.validate_job(job(mismatch), None))
    assert "'MinAvailable' is not equal to MinPartitions*PartitionSize" in (
        causes["spec.tasks[0].minAvailable"])


def test_network_topology_tier_and_name_are_exclusive() -> None:
    both = {"mode": "hard", "highestTierAllowed": 1, "highestTierName": "rack"}
    causes = fields(volcano.validate_job(job(networkTopology=both), None))
    assert "must not specify 'highestTierAllowed' and 'highestTierName'" in (
        causes["spec.networkTopology"])
    pg = {"spec": {"networkTopology": both, "subGroupPolicy": [{"name": "g",
                                                                "networkTopology": both}]}}
    assert set(fields(volcano.validate_podgroup(pg))) == {
        "spec.networkTopology", "spec.subGroupPolicy[0].networkTopology"}


def test_volumes() -> None:
    volumes = [{"mountPath": "/data", "volumeClaimName": "claim"},
               {"mountPath": "/data", "volumeClaim": {}},
               {"mountPath": "/x"},
               {"mountPath": "/y", "volumeClaimName": "c", "volumeClaim": {}},
               {"mountPath": "/z", "volumeClaimName": "Bad_Name"}]
    causes = fields(volcano.validate_job(job(volumes=volumes), None))
    assert causes["spec.volumes[1].mountPath"] == 'Duplicate value: "/data"'
    assert causes["spec.volumes[2]"] == (
        "Required value: either VolumeClaim or VolumeClaimName must be specified")
    assert causes["spec.volumes[3].volumeClaimName"].startswith("Forbidden: conflict")
    assert "invalid VolumeClaimName Bad_Name" in causes["spec.volumes[4].volumeClaimName"]
    assert "spec.volumes[0].mountPath" not in causes


@pytest.mark.parametrize(("depends", "dag"), [
    ({"b": ["a"], "c": ["b"]}, True),
    ({"a": ["b"], "b": ["a"]}, False),
    ({"a": ["ghost"]}, False),
])
def test_task_dependencies_form_a_dag(depends: dict[str, list[str]], dag: bool) -> None:
    tasks = [task(n, **({"dependsOn": {"name": depends[n]}} if n in depends else {}))
             for n in ("a", "b", "c")]
    causes = fields(volcano.validate_job(job(*tasks), None))
    assert ("spec.tasks" not in causes) is dag


# -- job updates ------------------------------------------------------------------------


def stored() -> Obj:
    return defaulted(job(task("ps", 1), task("worker", 2)))


def test_updates_may_resize_and_reprioritise() -> None:
    new = stored()
    new["spec"]["minAvailable"] = 5
    new["spec"]["priorityClassName"] = "high"
    new["spec"]["tasks"][1].update(replicas=4, minAvailable=4)
    assert volcano.validate_job(new, stored()) == []


@pytest.mark.parametrize("change", ["queue", "template", "plugins", "add"])
def test_updates_may_not_change_anything_else(change: str) -> None:
    new = stored()
    if change == "queue":
        new["spec"]["queue"] = "other"
    elif change == "template":
        new["spec"]["tasks"][0]["template"]["spec"]["containers"][0]["image"] = "nginx"
    elif change == "plugins":
        new["spec"]["plugins"] = {"env": []}
    else:
        new["spec"]["tasks"].append(task("extra", 0))
    causes = fields(volcano.validate_job(new, stored()))
    want = ({"spec.tasks": "Forbidden: job updates may not add or remove tasks"}
            if change == "add" else {"spec": f"Forbidden: {volcano.UPDATABLE_JOB_FIELDS}"})
    assert causes == want


def test_update_sizes_still_checked() -> None:
    new = stored()
    new["spec"]["tasks"][1]["minAvailable"] = 3
    new["spec"]["minAvailable"] = 9
    causes = fields(volcano.validate_job(new, stored()))
    assert causes["spec.tasks[1].minAvailable"] == (
        "Invalid value: 3: 'minAvailable' must be <= 'replicas' in task: worker")
    assert causes["spec.minAvailable"] == (
        "Invalid value: 9: job 'minAvailable' must not be greater than total replicas")


def test_unset_and_empty_are_the_same_to_an_update() -> None:
    old = stored()
    new = stored()
    new["spec"]["policies"] = []
    new["spec"]["ttlSecondsAfterFinished"] = None
    assert volcano.validate_job(new, old) == []


def test_generated_claim_names_may_be_filled_in() -> None:
    old = defaulted(job(volumes=[{"mountPath": "/d", "volumeClaim": {"resources": {}}}]))
    new = copy.deepcopy(old)
    new["spec"]["volumes"][0]["volumeClaimName"] = "j-volume-abc"
    assert volcano.validate_job(new, old) == []


# -- queues -----------------------------------------------------------------------------


def test_queue_defaults() -> None:
    queue: Obj = {"metadata": {"name": "q", "annotations": {
        volcano.HIERARCHY: "a/b", volcano.HIERARCHY_WEIGHTS: "2/3"}}}
    volcano.default_queue(queue)
    assert queue["spec"] == {"reclaimable": True, "weight": 1}
    assert queue["metadata"]["annotations"] == {volcano.HIERARCHY: "root/a/b",
                                                volcano.HIERARCHY_WEIGHTS: "1/2/3"}
    kept: Obj = {"metadata": {"name": "q"}, "spec": {"reclaimable": False, "weight": 0}}
    volcano.default_queue(kept)
    # A zero weight is left for the schema's minimum to refuse.
    assert kept["spec"] == {"reclaimable": False, "weight": 0}


def test_queue_quantities() -> None:
    queue = {"metadata": {"name": "q"}, "spec": {
        "capability": {"cpu": "8", "memory": "-1Gi", "example.com/fpga": "1.5"},
        "deserved": {"cpu": "3", "memory": "1Gi"},
        "guarantee": {"resource": {"cpu": "4", "pods": "2"}}}}
    causes = fields(volcano.validate_queue(queue))
    assert causes["spec.capability[memory]"] == (
        'Invalid value: "-1Gi": must be greater than or equal to 0')
    assert causes["spec.capability[example.com/fpga]"] == (
        'Invalid value: "1.5": must be an integer')
    assert causes["spec.deserved[cpu]"] == (
        'Invalid value: "3": deserved[cpu]=3 must be >= guarantee[cpu]=4')
    assert causes["spec.deserved[pods]"] == (
        'Invalid value: "<nil>": deserved[pods] must be >= guarantee[pods]=2')


def test_deserved_within_capability() -> None:
    queue = {"spec": {"capability": {"cpu": "2"}, "deserved": {"cpu": "2500m", "memory": "1"}}}
    assert fields(volcano.validate_queue(queue)) == {
        "spec.deserved[cpu]": 'Invalid value: "2500m": deserved[cpu]=2500m must be <= '
                              "capability[cpu]=2"}


@pytest.mark.parametrize(("state", "ok"), [("", True), ("Open", True), ("Closed", True),
                                           ("Closing", False), ("Paused", False)])
def test_queue_state_a_user_may_write(state: str, ok: bool) -> None:
    queue = {"spec": {}, "status": {"state": state}}
    assert (volcano.validate_queue(queue) == []) is ok


@pytest.mark.parametrize(("hierarchy", "weights", "message"), [
    ("root/a", "1", "must have the same length with"),
    ("root/a", "1/x", "x in the 1/x is invalid number"),
    ("root/a", "1/0", "0 in the 1/0 must be larger than 0"),
    ("root/a", "1/2.5", ""),
])
def test_hierarchy_annotations(hierarchy: str, weights: str, message: str) -> None:
    queue = {"metadata": {"annotations": {volcano.HIERARCHY: hierarchy,
                                          volcano.HIERARCHY_WEIGHTS: weights}}}
    causes = fields(volcano.validate_queue(queue))
    if message:
        assert message in causes["metadata.annotations"]
    else:
        assert causes == {}
