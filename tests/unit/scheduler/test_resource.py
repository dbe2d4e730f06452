from __future__ import annotations

from kubeedge.scheduler.framework.resource import (
    DEFAULT_MEMORY_REQUEST,
    DEFAULT_MILLI_CPU_REQUEST,
    Resource,
    non_zero_requests,
    pod_requests,
)


def c(cpu: str = "", memory: str = "", gpu: str = "") -> dict:
    requests = {k: v for k, v in (("cpu", cpu), ("memory", memory), ("nvidia.com/gpu", gpu))
                if v}
    return {"name": "x", "resources": {"requests": requests}}


def test_quantities_round_up_like_milli_value() -> None:
    r = Resource.from_list({"cpu": "1.0005", "memory": "1Gi", "nvidia.com/gpu": "2",
                            "pods": "110"})
    assert (r.milli_cpu, r.memory, r.pods, r.scalars) == (1001, 2**30, 110, {"nvidia.com/gpu": 2})
    assert Resource.from_list({"cpu": "250m", "memory": "1.5k"}).memory == 1500


def test_containers_add_up_and_a_bigger_init_container_wins() -> None:
    spec = {"containers": [c("100m", "1Mi"), c("200m", "1Mi")],
            "initContainers": [c("500m", "1Mi")]}
    r = pod_requests(spec)
    assert (r.milli_cpu, r.memory, r.pods) == (500, 2 * 2**20, 1)


def test_sidecars_count_with_the_containers_and_overhead_is_added() -> None:
    sidecar = {**c("100m"), "restartPolicy": "Always"}
    spec = {"containers": [c("200m")], "initContainers": [sidecar, c("250m")],
            "overhead": {"cpu": "10m"}}
    # init peak: sidecar 100m + init 250m = 350m; steady: 200m + 100m = 300m.
    assert pod_requests(spec).milli_cpu == 360


def test_extended_resources_are_summed() -> None:
    spec = {"containers": [c(gpu="1"), c(gpu="2")]}
    assert pod_requests(spec).scalars == {"nvidia.com/gpu": 3}


def test_non_zero_requests_fill_in_defaults_only_where_a_request_is_missing() -> None:
    spec = {"containers": [c(), c("0", "1Mi")]}
    assert non_zero_requests(spec) == (DEFAULT_MILLI_CPU_REQUEST, DEFAULT_MEMORY_REQUEST + 2**20)
