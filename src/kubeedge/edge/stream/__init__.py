"""EdgeStream: the edge's end of the kubectl logs/exec/attach/metrics tunnel
(specs/kubeedge.md §9)."""

from kubeedge.edge.stream.edgestream import EdgeStream

__all__ = ["EdgeStream"]
