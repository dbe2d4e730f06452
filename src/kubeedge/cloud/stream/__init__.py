"""CloudStream: the cloud's end of the kubectl logs/exec/attach/metrics tunnel
(specs/kubeedge.md §9). Cloud only (ARCHITECTURE.md rule 9)."""

from kubeedge.cloud.stream.cloudstream import CloudStream

__all__ = ["CloudStream"]
