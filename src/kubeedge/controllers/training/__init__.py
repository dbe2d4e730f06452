"""Kubeflow's training operator (`kubeflow.org/v1` TFJob and PyTorchJob,
specs/volcano.md §6): `crds` (the CRDs), `common` (the job engine every framework
shares), `tfjob` and `pytorchjob` (what differs per framework)."""
