"""Type definitions of the workload groups (specs/k8s-api.md §2).

Owns: apps/v1 (Deployment, ReplicaSet, DaemonSet, StatefulSet, ControllerRevision),
autoscaling/v1 Scale, batch/v1 (Job, CronJob) and policy/v1 (PodDisruptionBudget,
Eviction). Field names, types and patch metadata follow the Kubernetes v1.32 API; the
descriptions are our own.
Never: validates values or defaults fields.
"""

from __future__ import annotations

from kubeedge.api.schema.dsl import (
    NS,
    RAW_EXTENSION,
    Atomic,
    Bool,
    Conditions,
    Int,
    Int64,
    IntStr,
    Kind,
    L,
    M,
    Ref,
    Set,
    Str,
    Struct,
    Time,
)
from kubeedge.api.schema.types_core import core
from kubeedge.api.schema.types_meta import meta

apps = NS("io.k8s.api.apps.v1")
autoscaling = NS("io.k8s.api.autoscaling.v1")
batch = NS("io.k8s.api.batch.v1")
policy = NS("io.k8s.api.policy.v1")

_SELECTOR = Ref(meta.LabelSelector, "Label query over the pods; must match the template.")
_TEMPLATE = Ref(core.PodTemplateSpec, "Template of the pods to create.")
_HISTORY = Int("How many old revisions to keep for rollback.")
_MIN_READY = Int("Seconds a new pod must be ready before it counts as available.")
_OBSERVED_GENERATION = Int64("The metadata.generation last acted upon by the controller.")
_COLLISIONS = Int("Count of hash collisions, used to name new revisions.")


def _workload_condition(name: str, what: str) -> None:
    Struct(
        name,
        f"A condition of a {what}.",
        {
            "lastTransitionTime": Time("When the status last changed."),
            "message": Str("Human-readable details."),
            "reason": Str("CamelCase reason."),
            "status": Str("True, False or Unknown.", req=True),
            "type": Str("Condition type.", req=True),
        },
    )


# --- Deployment --------------------------------------------------------------------------

Kind(
    apps.Deployment,
    "Declarative updates for a replicated set of pods, rolled out through ReplicaSets.",
    ("apps", "v1", "Deployment"),
    {
        "spec": Ref(apps.DeploymentSpec, "Desired behaviour of the deployment."),
        "status": Ref(apps.DeploymentStatus, "Most recently observed state."),
    },
)

Struct(
    apps.DeploymentSpec,
    "Desired behaviour of a deployment.",
    {
        "minReadySeconds": _MIN_READY,
        "paused": Bool("Stop rolling out template changes."),
        "progressDeadlineSeconds": Int("Seconds before a stuck rollout is reported; 600."),
        "replicas": Int("Desired number of pods; 1 by default."),
        "revisionHistoryLimit": _HISTORY,
        "selector": Ref(meta.LabelSelector, "Label query over the pods.", req=True),
        "strategy": Ref(
            apps.DeploymentStrategy, "How old pods are replaced.", strategy="retainKeys"
        ),
        "template": Ref(core.PodTemplateSpec, "Template of the pods to create.", req=True),
    },
)

Struct(
    apps.DeploymentStrategy,
    "How a deployment replaces old pods.",
    {
        "rollingUpdate": Ref(apps.RollingUpdateDeployment, "Rolling update parameters."),
        "type": Str("RollingUpdate (default) or Recreate."),
    },
)

Struct(
    apps.RollingUpdateDeployment,
    "Parameters of a rolling update.",
    {
        "maxSurge": IntStr("Pods allowed above the desired count; number or percent."),
        "maxUnavailable": IntStr("Pods allowed to be unavailable; number or percent."),
    },
)

Struct(
    apps.DeploymentStatus,
    "Observed state of a deployment.",
    {
        "availableReplicas": Int("Pods available for at least minReadySeconds."),
        "collisionCount": _COLLISIONS,
        "conditions": Conditions(apps.DeploymentCondition, "Current conditions."),
        "observedGeneration": _OBSERVED_GENERATION,
        "readyReplicas": Int("Pods that are ready."),
        "replicas": Int("Pods targeted by the deployment."),
        "unavailableReplicas": Int("Pods still needed for full availability."),
        "updatedReplicas": Int("Pods running the latest template."),
    },
)

Struct(
    apps.DeploymentCondition,
    "A condition of a deployment, e.g. Available or Progressing.",
    {
        "lastTransitionTime": Time("When the status last changed."),
        "lastUpdateTime": Time("When the condition was last updated."),
        "message": Str("Human-readable details."),
        "reason": Str("CamelCase reason."),
        "status": Str("True, False or Unknown.", req=True),
        "type": Str("Condition type.", req=True),
    },
)

# --- ReplicaSet --------------------------------------------------------------------------

Kind(
    apps.ReplicaSet,
    "Keeps a number of identical pods running.",
    ("apps", "v1", "ReplicaSet"),
    {
        "spec": Ref(apps.ReplicaSetSpec, "Desired behaviour of the replica set."),
        "status": Ref(apps.ReplicaSetStatus, "Most recently observed state."),
    },
)

Struct(
    apps.ReplicaSetSpec,
    "Desired behaviour of a replica set.",
    {
        "minReadySeconds": _MIN_READY,
        "replicas": Int("Desired number of pods; 1 by default."),
        "selector": Ref(meta.LabelSelector, "Label query over the pods.", req=True),
        "template": _TEMPLATE,
    },
)

Struct(
    apps.ReplicaSetStatus,
    "Observed state of a replica set.",
    {
        "availableReplicas": Int("Pods available for at least minReadySeconds."),
        "conditions": Conditions(apps.ReplicaSetCondition, "Current conditions."),
        "fullyLabeledReplicas": Int("Pods whose labels match the template's."),
        "observedGeneration": _OBSERVED_GENERATION,
        "readyReplicas": Int("Pods that are ready."),
        "replicas": Int("Pods currently owned.", req=True),
    },
)
_workload_condition(apps.ReplicaSetCondition, "replica set")

# --- DaemonSet ---------------------------------------------------------------------------

Kind(
    apps.DaemonSet,
    "Runs one copy of a pod on every eligible node.",
    ("apps", "v1", "DaemonSet"),
    {
        "spec": Ref(apps.DaemonSetSpec, "Desired behaviour of the daemon set."),
        "status": Ref(apps.DaemonSetStatus, "Most recently observed state."),
    },
)

Struct(
    apps.DaemonSetSpec,
    "Desired behaviour of a daemon set.",
    {
        "minReadySeconds": _MIN_READY,
        "revisionHistoryLimit": _HISTORY,
        "selector": Ref(meta.LabelSelector, "Label query over the pods.", req=True),
        "template": Ref(core.PodTemplateSpec, "Template of the pods to create.", req=True),
        "updateStrategy": Ref(apps.DaemonSetUpdateStrategy, "How old pods are replaced."),
    },
)

Struct(
    apps.DaemonSetUpdateStrategy,
    "How a daemon set replaces old pods.",
    {
        "rollingUpdate": Ref(apps.RollingUpdateDaemonSet, "Rolling update parameters."),
        "type": Str("RollingUpdate (default) or OnDelete."),
    },
)

Struct(
    apps.RollingUpdateDaemonSet,
    "Parameters of a daemon set rolling update.",
    {
        "maxSurge": IntStr("Nodes that may run an extra new pod; number or percent."),
        "maxUnavailable": IntStr("Nodes that may lack an available pod; number or percent."),
    },
)

Struct(
    apps.DaemonSetStatus,
    "Observed state of a daemon set.",
    {
        "collisionCount": _COLLISIONS,
        "conditions": Conditions(apps.DaemonSetCondition, "Current conditions."),
        "currentNumberScheduled": Int("Nodes running a daemon pod that should.", req=True),
        "desiredNumberScheduled": Int("Nodes that should run a daemon pod.", req=True),
        "numberAvailable": Int("Nodes with an available daemon pod."),
        "numberMisscheduled": Int("Nodes running a daemon pod that should not.", req=True),
        "numberReady": Int("Nodes with a ready daemon pod.", req=True),
        "numberUnavailable": Int("Nodes lacking an available daemon pod."),
        "observedGeneration": _OBSERVED_GENERATION,
        "updatedNumberScheduled": Int("Nodes running the latest template."),
    },
)
_workload_condition(apps.DaemonSetCondition, "daemon set")

# --- StatefulSet -------------------------------------------------------------------------

Kind(
    apps.StatefulSet,
    "Pods with stable identities and storage, created and updated in order.",
    ("apps", "v1", "StatefulSet"),
    {
        "spec": Ref(apps.StatefulSetSpec, "Desired behaviour of the stateful set."),
        "status": Ref(apps.StatefulSetStatus, "Most recently observed state."),
    },
)

Struct(
    apps.StatefulSetSpec,
    "Desired behaviour of a stateful set.",
    {
        "minReadySeconds": _MIN_READY,
        "ordinals": Ref(apps.StatefulSetOrdinals, "Numbering of the replicas."),
        "persistentVolumeClaimRetentionPolicy": Ref(
            apps.StatefulSetPersistentVolumeClaimRetentionPolicy,
            "What happens to claims on scale-down and deletion.",
        ),
        "podManagementPolicy": Str("OrderedReady (default) or Parallel."),
        "replicas": Int("Desired number of pods; 1 by default."),
        "revisionHistoryLimit": _HISTORY,
        "selector": Ref(meta.LabelSelector, "Label query over the pods.", req=True),
        "serviceName": Str("Headless service giving the pods their DNS names."),
        "template": Ref(core.PodTemplateSpec, "Template of the pods to create.", req=True),
        "updateStrategy": Ref(apps.StatefulSetUpdateStrategy, "How old pods are replaced."),
        "volumeClaimTemplates": Atomic(
            core.PersistentVolumeClaim, "Claims created for every pod, mounted by name."
        ),
    },
)

Struct(
    apps.StatefulSetOrdinals,
    "Numbering of stateful set replicas.",
    {"start": Int("First ordinal; 0 by default.")},
)

Struct(
    apps.StatefulSetPersistentVolumeClaimRetentionPolicy,
    "What happens to claims created from volumeClaimTemplates.",
    {
        "whenDeleted": Str("Retain (default) or Delete when the set is deleted."),
        "whenScaled": Str("Retain (default) or Delete when scaled down."),
    },
)

Struct(
    apps.StatefulSetUpdateStrategy,
    "How a stateful set replaces old pods.",
    {
        "rollingUpdate": Ref(apps.RollingUpdateStatefulSetStrategy, "Rolling update parameters."),
        "type": Str("RollingUpdate (default) or OnDelete."),
    },
)

Struct(
    apps.RollingUpdateStatefulSetStrategy,
    "Parameters of a stateful set rolling update.",
    {
        "maxUnavailable": IntStr("Pods that may be unavailable during the update."),
        "partition": Int("Only ordinals at or above this are updated."),
    },
)

Struct(
    apps.StatefulSetStatus,
    "Observed state of a stateful set.",
    {
        "availableReplicas": Int("Pods available for at least minReadySeconds."),
        "collisionCount": _COLLISIONS,
        "conditions": Conditions(apps.StatefulSetCondition, "Current conditions."),
        "currentReplicas": Int("Pods at currentRevision."),
        "currentRevision": Str("Revision of the pods before the update."),
        "observedGeneration": _OBSERVED_GENERATION,
        "readyReplicas": Int("Pods that are ready."),
        "replicas": Int("Pods created.", req=True),
        "updateRevision": Str("Revision being rolled out."),
        "updatedReplicas": Int("Pods at updateRevision."),
    },
)
_workload_condition(apps.StatefulSetCondition, "stateful set")

Kind(
    apps.ControllerRevision,
    "An immutable snapshot of state, used by controllers for rollbacks.",
    ("apps", "v1", "ControllerRevision"),
    {
        "data": Ref(RAW_EXTENSION, "The serialized state."),
        "revision": Int64("Revision number.", req=True),
    },
)

# --- autoscaling/v1 Scale ------------------------------------------------------------------

Kind(
    autoscaling.Scale,
    "The scale subresource of a scalable object.",
    ("autoscaling", "v1", "Scale"),
    {
        "spec": Ref(autoscaling.ScaleSpec, "Desired scale."),
        "status": Ref(autoscaling.ScaleStatus, "Current scale. Read-only."),
    },
    listable=False,
)

Struct(
    autoscaling.ScaleSpec,
    "Desired scale.",
    {"replicas": Int("Desired number of instances.")},
)

Struct(
    autoscaling.ScaleStatus,
    "Current scale.",
    {
        "replicas": Int("Actual number of instances.", req=True),
        "selector": Str("Label selector of the instances, in string form."),
    },
)

# --- batch/v1 ----------------------------------------------------------------------------

Kind(
    batch.Job,
    "Runs pods until a number of them complete successfully.",
    ("batch", "v1", "Job"),
    {
        "spec": Ref(batch.JobSpec, "Desired behaviour of the job."),
        "status": Ref(batch.JobStatus, "Most recently observed state."),
    },
)

Struct(
    batch.JobSpec,
    "Desired behaviour of a job.",
    {
        "activeDeadlineSeconds": Int64("Seconds the job may be active before it fails."),
        "backoffLimit": Int("Retries before the job fails; 6 by default."),
        "backoffLimitPerIndex": Int("Retries per index for Indexed jobs."),
        "completionMode": Str("NonIndexed (default) or Indexed."),
        "completions": Int("Successful pods needed."),
        "managedBy": Str("Controller responsible for the job."),
        "manualSelector": Bool("Let the user supply the selector."),
        "maxFailedIndexes": Int("Failed indexes tolerated before the job fails."),
        "parallelism": Int("Pods that may run at once."),
        "podFailurePolicy": Ref(batch.PodFailurePolicy, "How pod failures are handled."),
        "podReplacementPolicy": Str("TerminatingOrFailed or Failed."),
        "selector": Ref(meta.LabelSelector, "Label query over the pods."),
        "successPolicy": Ref(batch.SuccessPolicy, "When the job counts as succeeded."),
        "suspend": Bool("Stop creating pods and delete running ones."),
        "template": Ref(core.PodTemplateSpec, "Template of the pods to run.", req=True),
        "ttlSecondsAfterFinished": Int("Delete the job this long after it finishes."),
    },
)

Struct(
    batch.PodFailurePolicy,
    "Rules applied to failed pods, in order.",
    {"rules": Atomic(batch.PodFailurePolicyRule, "The rules.", req=True)},
)

Struct(
    batch.PodFailurePolicyRule,
    "What to do with a failed pod that matches.",
    {
        "action": Str("FailJob, FailIndex, Ignore or Count.", req=True),
        "onExitCodes": Ref(batch.PodFailurePolicyOnExitCodesRequirement, "Exit code match."),
        "onPodConditions": Atomic(
            batch.PodFailurePolicyOnPodConditionsPattern, "Pod condition match."
        ),
    },
)

Struct(
    batch.PodFailurePolicyOnExitCodesRequirement,
    "Matches container exit codes.",
    {
        "containerName": Str("Only this container."),
        "operator": Str("In or NotIn.", req=True),
        "values": Set(Int(), "Exit codes.", req=True),
    },
)

Struct(
    batch.PodFailurePolicyOnPodConditionsPattern,
    "Matches a pod condition.",
    {
        "status": Str("Required status; True by default."),
        "type": Str("Condition type.", req=True),
    },
)

Struct(
    batch.SuccessPolicy,
    "Rules that declare an Indexed job successful early.",
    {"rules": Atomic(batch.SuccessPolicyRule, "The rules; any may match.", req=True)},
)

Struct(
    batch.SuccessPolicyRule,
    "One success rule.",
    {
        "succeededCount": Int("Minimum succeeded indexes."),
        "succeededIndexes": Str('Indexes that must succeed, e.g. "1,3-5".'),
    },
)

Struct(
    batch.JobStatus,
    "Observed state of a job.",
    {
        "active": Int("Pods pending or running."),
        "completedIndexes": Str("Completed indexes, compressed."),
        "completionTime": Time("When the job completed."),
        "conditions": L(
            batch.JobCondition,
            "Current conditions, e.g. Complete or Failed.",
            key="type",
            strategy="merge",
            ltype="atomic",
        ),
        "failed": Int("Pods that failed."),
        "failedIndexes": Str("Failed indexes, compressed."),
        "ready": Int("Pods that are ready."),
        "startTime": Time("When the job started."),
        "succeeded": Int("Pods that succeeded."),
        "terminating": Int("Pods terminating."),
        "uncountedTerminatedPods": Ref(
            batch.UncountedTerminatedPods, "Finished pods not yet counted."
        ),
    },
)

Struct(
    batch.JobCondition,
    "A condition of a job.",
    {
        "lastProbeTime": Time("When the condition was last checked."),
        "lastTransitionTime": Time("When the status last changed."),
        "message": Str("Human-readable details."),
        "reason": Str("CamelCase reason."),
        "status": Str("True, False or Unknown.", req=True),
        "type": Str("Condition type.", req=True),
    },
)

Struct(
    batch.UncountedTerminatedPods,
    "UIDs of finished pods the controller has not counted yet.",
    {
        "failed": Set(Str(), "UIDs of failed pods."),
        "succeeded": Set(Str(), "UIDs of succeeded pods."),
    },
)

Kind(
    batch.CronJob,
    "Creates jobs on a repeating schedule.",
    ("batch", "v1", "CronJob"),
    {
        "spec": Ref(batch.CronJobSpec, "Desired behaviour of the cron job."),
        "status": Ref(batch.CronJobStatus, "Most recently observed state."),
    },
)

Struct(
    batch.CronJobSpec,
    "Desired behaviour of a cron job.",
    {
        "concurrencyPolicy": Str("Allow (default), Forbid or Replace."),
        "failedJobsHistoryLimit": Int("Failed jobs to keep; 1 by default."),
        "jobTemplate": Ref(batch.JobTemplateSpec, "Template of the jobs to create.", req=True),
        "schedule": Str('Cron schedule, e.g. "*/5 * * * *".', req=True),
        "startingDeadlineSeconds": Int64("Seconds a missed run may still start."),
        "successfulJobsHistoryLimit": Int("Successful jobs to keep; 3 by default."),
        "suspend": Bool("Stop scheduling new runs."),
        "timeZone": Str("Time zone of the schedule, e.g. Etc/UTC."),
    },
)

Struct(
    batch.JobTemplateSpec,
    "The job a cron job creates.",
    {
        "metadata": Ref(meta.ObjectMeta, "Metadata given to created jobs."),
        "spec": Ref(batch.JobSpec, "Spec given to created jobs."),
    },
)

Struct(
    batch.CronJobStatus,
    "Observed state of a cron job.",
    {
        "active": Atomic(core.ObjectReference, "Jobs currently running."),
        "lastScheduleTime": Time("When a job was last scheduled."),
        "lastSuccessfulTime": Time("When a job last completed successfully."),
    },
)

# --- policy/v1 ---------------------------------------------------------------------------

Kind(
    policy.PodDisruptionBudget,
    "Limits how many pods of a set voluntary disruptions may take down at once.",
    ("policy", "v1", "PodDisruptionBudget"),
    {
        "spec": Ref(policy.PodDisruptionBudgetSpec, "Desired budget."),
        "status": Ref(policy.PodDisruptionBudgetStatus, "Most recently observed state."),
    },
)

Struct(
    policy.PodDisruptionBudgetSpec,
    "Desired disruption budget.",
    {
        "maxUnavailable": IntStr("Pods that may be unavailable; number or percent."),
        "minAvailable": IntStr("Pods that must stay available; number or percent."),
        "selector": Ref(meta.LabelSelector, "Pods the budget covers.", strategy="replace"),
        "unhealthyPodEvictionPolicy": Str("IfHealthyBudget or AlwaysAllow."),
    },
)

Struct(
    policy.PodDisruptionBudgetStatus,
    "Observed state of a disruption budget.",
    {
        "conditions": Conditions(meta.Condition, "Current conditions."),
        "currentHealthy": Int("Healthy pods now.", req=True),
        "desiredHealthy": Int("Healthy pods needed.", req=True),
        "disruptedPods": M(Time(), "Pods being evicted, with the eviction time."),
        "disruptionsAllowed": Int("Disruptions allowed now.", req=True),
        "expectedPods": Int("Pods covered by the budget.", req=True),
        "observedGeneration": _OBSERVED_GENERATION,
    },
)

Kind(
    policy.Eviction,
    "A request to evict a pod, honouring disruption budgets; posted to pods/eviction.",
    ("policy", "v1", "Eviction"),
    {"deleteOptions": Ref(meta.DeleteOptions, "Options for the resulting delete.")},
    listable=False,
)

__all__ = ["apps", "autoscaling", "batch", "policy"]
