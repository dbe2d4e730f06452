"""The etcd fixture fails (never skips) without the binary, and cleans up after itself."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.fixtures.etcd import INSTALL_HINT, EtcdMissing, etcd_binary, running_etcd


def test_a_missing_binary_names_the_package_to_install() -> None:
    with pytest.raises(EtcdMissing, match="apt-get install etcd-server"):
        etcd_binary("etcd-that-is-not-installed")
    assert INSTALL_HINT == "install etcd: apt-get install etcd-server"


@pytest.mark.etcd
def test_running_etcd_is_healthy_then_gone(tmp_path: Path) -> None:
    with running_etcd(tmp_path) as server:
        assert server.process.poll() is None
        assert server.endpoint.startswith("http://127.0.0.1:")
    assert server.process.poll() is not None
