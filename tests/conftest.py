"""Fixtures shared by every suite: a real control plane per test module."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.fixtures.cluster import Cloud, running_cloud


@pytest.fixture(scope="module")
def cloud(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cloud]:
    """`keadm init` in a temp root on a free port, shared by one test module (tests keep
    apart by namespace); `keadm reset` afterwards."""
    with running_cloud(tmp_path_factory.mktemp("cloud")) as c:
        yield c
