"""kubeedge-py: KubeEdge cloud-edge orchestration with Volcano-style batch scheduling."""

__version__ = "0.1.0"
