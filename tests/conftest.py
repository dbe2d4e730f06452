"""Fixtures shared by every suite: a real control plane per test module."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from hypothesis import settings

from tests.fixtures.cluster import Cloud, running_cloud

# In CI, property tests replay the same examples every run, so a landing is judged on
# the code, not on which random inputs were drawn; locally they keep exploring.
settings.register_profile("ci", derandomize=True)
if os.environ.get("CI"):
    settings.load_profile("ci")


@pytest.fixture(scope="module")
def cloud(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cloud]:
    """`keadm init` in a temp root on a free port, shared by one test module (tests keep
    apart by namespace); `keadm reset` afterwards."""
    with running_cloud(tmp_path_factory.mktemp("cloud")) as c:
        yield c
