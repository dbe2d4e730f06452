"""Admission for Kubeflow's training jobs (`kubeflow.org/v1` TFJob and PyTorchJob,
specs/volcano.md §6): the defaults the training-operator applies and the causes its
validating webhooks give, run inside the API server after schema validation and before
storage, so a refused job is never half-created and a stored job already reads as the
operator will read it (replicas, restartPolicy, the default port, cleanPodPolicy, the
canonical replica type spelling).

The rules themselves are `api.training`'s; this module only picks the requests they
apply to. Writes to subresources (status) are not admitted, as the webhooks match only
the main resources. Never reads or writes storage.
"""

from __future__ import annotations

from typing import Any

from kubeedge.api import errors, meta, training
from kubeedge.apiserver.request import RequestInfo

Obj = dict[str, Any]

_BY_PLURAL = {fw.plural: fw for fw in training.FRAMEWORKS.values()}


class TrainingAdmission:
    async def admit(self, info: RequestInfo, new: Obj | None, old: Obj | None) -> None:
        """Default `new` in place and refuse it (StatusError 422) when the webhook
        would; `new` is None for a delete, `old` None for a create."""
        if info.subresource or new is None or info.group != training.GROUP:
            return
        fw = _BY_PLURAL.get(info.resource)
        if fw is None or info.version != training.VERSION:
            return
        training.default_job(fw, new)
        causes = training.validate_job(fw, new, old)
        if causes:
            raise errors.invalid(f"{fw.kind}.{training.GROUP}", meta.name_of(new), causes,
                                 training.GROUP)
