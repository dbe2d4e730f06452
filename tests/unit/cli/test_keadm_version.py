"""`keadm version` names our release and the KubeEdge and Kubernetes releases, the
same ones the edge reports in its node's kubeletVersion."""

from __future__ import annotations

from click.testing import CliRunner

from kubeedge import KUBEEDGE_RELEASE, KUBERNETES_RELEASE, __version__
from kubeedge.cli.keadm import main as keadm


def test_version_names_the_releases_the_edge_reports() -> None:
    result = CliRunner().invoke(keadm, ["version"])
    assert result.exit_code == 0
    assert __version__ in result.output
    assert KUBEEDGE_RELEASE in result.output and KUBERNETES_RELEASE in result.output
