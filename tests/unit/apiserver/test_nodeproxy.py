"""Kubelet locations, container defaulting, query translation and metrics quantities
(apiserver/nodeproxy.py, apiserver/metrics.py), and the kubelet client flags."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner
from multidict import MultiDict

from kubeedge.api import errors
from kubeedge.apiserver.metrics import cpu_quantity, go_duration, memory_quantity
from kubeedge.apiserver.nodeproxy import (
    KubeletClient,
    choose_container,
    kubelet_location,
    kubelet_log_error,
    log_params,
    port_params,
    stream_params,
)
from kubeedge.config.apiserver import APIServerConfig, ConfigError


def _node(annotations: dict[str, str] | None = None, **status: object) -> dict:
    return {"metadata": {"name": "edge-a", "annotations": annotations or {}}, "status": status}


def test_the_stream_server_annotation_wins_and_names_the_node_in_host() -> None:
    loc = kubelet_location(_node({"kubeedge.io/stream-server": "10.0.0.5:10003"},
                                 addresses=[{"type": "InternalIP", "address": "192.0.2.1"}]))
    assert (loc.host, loc.port, loc.server_name, loc.host_header) == (
        "10.0.0.5", 10003, "10.0.0.5", "edge-a")
    assert kubelet_location(_node({"kubeedge.io/stream-server": "[::1]:10003"})).address == \
        "[::1]:10003"


def test_without_the_annotation_the_internal_ip_and_kubelet_port_are_used() -> None:
    loc = kubelet_location(_node(
        addresses=[{"type": "Hostname", "address": "edge-a"},
                   {"type": "InternalIP", "address": "192.0.2.1"}],
        daemonEndpoints={"kubeletEndpoint": {"Port": 10351}}))
    assert (loc.address, loc.host_header) == ("192.0.2.1:10351", "192.0.2.1:10351")
    assert kubelet_location(_node(addresses=[{"type": "InternalIP", "address": "192.0.2.1"}])
                            ).port == 10250  # kube's default kubelet port


def test_a_node_without_a_usable_address_or_with_a_bad_annotation_is_an_error() -> None:
    with pytest.raises(errors.StatusError, match="no preferred addresses found"):
        kubelet_location(_node())
    with pytest.raises(errors.StatusError, match="expected host:port"):
        kubelet_location(_node({"kubeedge.io/stream-server": "nowhere"}))


def _pod(containers: list[str], init: list[str] = (), annotation: str = "") -> dict:  # type: ignore[assignment]
    meta: dict = {"name": "web"}
    if annotation:
        meta["annotations"] = {"kubectl.kubernetes.io/default-container": annotation}
    return {"metadata": meta, "spec": {"containers": [{"name": c} for c in containers],
                                       "initContainers": [{"name": c} for c in init]}}


def test_container_defaulting_follows_kube() -> None:
    assert choose_container(_pod(["a"]), "", for_logs=True) == "a"
    assert choose_container(_pod(["a", "b"], annotation="b"), "", for_logs=False) == "b"
    assert choose_container(_pod(["a", "b"], ["i"]), "i", for_logs=False) == "i"
    with pytest.raises(errors.StatusError) as exc:
        choose_container(_pod(["a", "b"], ["i"]), "", for_logs=True)
    assert exc.value.message == ("a container name must be specified for pod web, "
                                 "choose one of: [i a b]")
    with pytest.raises(errors.StatusError) as exc:
        choose_container(_pod(["a", "b"], ["i"]), "", for_logs=False)
    assert exc.value.message == ("a container name must be specified for pod web, choose one "
                                 "of: [a b] or one of the init containers: [i]")
    with pytest.raises(errors.StatusError) as exc:
        choose_container(_pod(["a"]), "z", for_logs=True)
    assert (exc.value.code, exc.value.message) == (400, "container z is not valid for pod web")


def test_log_options_are_validated_and_passed_in_kubelet_order() -> None:
    query = MultiDict(follow="true", tailLines="5", timestamps="True", limitBytes="10",
                      sinceTime="2026-01-01T00:00:00.5+01:00", previous="1")
    assert log_params(query, "web") == [
        ("follow", "true"), ("limitBytes", "10"), ("previous", "true"),
        ("sinceTime", "2025-12-31T23:00:00Z"), ("tailLines", "5"), ("timestamps", "true")]
    with pytest.raises(errors.StatusError) as exc:
        log_params(MultiDict(sinceSeconds="5", sinceTime="2026-01-01T00:00:00Z"), "web")
    assert exc.value.code == 422
    assert "at most one of `sinceTime` or `sinceSeconds` may be specified" in exc.value.message
    with pytest.raises(errors.StatusError) as exc:
        log_params(MultiDict(limitBytes="0"), "web")
    assert exc.value.message == ('PodLogOptions "web" is invalid: limitBytes: Invalid value: '
                                 "0: must be greater than 0")
    with pytest.raises(errors.StatusError) as exc:
        log_params(MultiDict(tailLines="x"), "web")
    assert exc.value.code == 400


def test_exec_and_port_forward_queries_become_the_kubelets() -> None:
    query = MultiDict([("command", "sh"), ("command", "-c"), ("stdin", "True"),
                       ("stdout", "true"), ("stderr", "False"), ("tty", "1")])
    assert stream_params(query, command=True) == [
        ("command", "sh"), ("command", "-c"), ("input", "1"), ("output", "1"), ("tty", "1")]
    assert ("command", "sh") not in stream_params(query, command=False)
    assert port_params(MultiDict([("ports", "80,8080"), ("ports", "9090")])) == [
        ("port", "80,8080,9090"), ("ports", "80,8080,9090")]
    with pytest.raises(errors.StatusError):
        port_params(MultiDict(ports="0"))


def test_kubelet_log_errors_read_as_kube_apiserver_words_them() -> None:
    assert kubelet_log_error(404, "no pod", "web").message == (
        "the server could not find the requested resource ( pods/log web)")
    assert kubelet_log_error(400, "container is waiting", "web").message == \
        "container is waiting"
    err = kubelet_log_error(502, "no tunnel for edge-a", "web")
    assert (err.code, err.reason) == (502, "InternalError")
    assert err.message == ('an error on the server ("no tunnel for edge-a") has prevented the '
                           "request from succeeding ( pods/log web)")


def test_quantities_are_canonical_as_metrics_server_writes_them() -> None:
    assert [cpu_quantity(n) for n in (0, 4_158_930, 250_000_000, 2 * 10**9, 3000)] == [
        "0", "4158930n", "250m", "2", "3u"]
    assert [memory_quantity(n) for n in (0, 34_586_624, 2**30, 1536, 1000)] == [
        "0", "33776Ki", "1Gi", "1536", "1000"]
    assert [go_duration(s) for s in (15, 1.5, 90, 3600.25)] == ["15s", "1.5s", "1m30s",
                                                                 "1h0m0.25s"]


def test_kubelet_client_config_is_all_or_nothing(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="kubelet_client_key"):
        APIServerConfig(kubelet_client_certificate="c.crt").validate()
    with pytest.raises(ConfigError, match="kubelet_certificate_authority"):
        APIServerConfig(kubelet_client_certificate="c.crt", kubelet_client_key="c.key"
                        ).validate()
    with pytest.raises(errors.StatusError) as exc:
        KubeletClient(APIServerConfig()).ssl_context()
    assert exc.value.code == 503 and "--kubelet-client-certificate" in exc.value.message
    config = APIServerConfig(root=str(tmp_path), kubelet_client_certificate="c.crt",
                             kubelet_client_key="c.key", kubelet_certificate_authority="ca.crt")
    with pytest.raises(errors.StatusError) as exc:
        KubeletClient(config.validate()).ssl_context()
    assert exc.value.code == 503 and "cannot be loaded" in exc.value.message


def test_the_cli_refuses_half_a_kubelet_client(tmp_path: Path) -> None:
    from kubeedge.cli.apiserver import main

    config = tmp_path / "apiserver.yaml"
    config.write_text(f"root: {tmp_path}\n")
    result = CliRunner().invoke(main, ["--config", str(config),
                                       "--kubelet-client-certificate", "c.crt"])
    assert result.exit_code == 1
    assert "kubelet_client_key" in result.output
