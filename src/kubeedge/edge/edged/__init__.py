"""Edged: the edge pod manager (kubelet-like). `edged.py` holds the module; `status.py`
the status generation; `backoff.py`, `gpu.py`, `static.py` its parts; `env.py`,
`volumes.py` and `probes.py` the container environment, volumes and probes.

Nothing is imported here: edgecore loads Edged only when `modules.edged` is enabled.
"""
