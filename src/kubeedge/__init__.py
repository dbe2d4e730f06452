"""kubeedge-py: KubeEdge cloud-edge orchestration with Volcano-style batch scheduling."""

__version__ = "0.1.0"

# The releases we stay compatible with (specs/kubeedge.md; specs/k8s-api.md §0.1).
KUBEEDGE_RELEASE = "v1.23.0"
KUBERNETES_RELEASE = "v1.32.0"
