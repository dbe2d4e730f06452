"""Type definitions of core/v1 (specs/k8s-api.md §2).

Owns: Pod (spec and status complete, every common volume source), Namespace, Node,
ConfigMap, Secret, Service, Endpoints, Event, ServiceAccount, Binding and
PersistentVolumeClaim, plus the structs they share with the workload kinds
(PodTemplateSpec, ObjectReference, LocalObjectReference, ...). Field names, types and
patch metadata follow the Kubernetes v1.32 API; the descriptions are our own.
Never: validates values or defaults fields.
"""

from __future__ import annotations

from kubeedge.api.schema.dsl import (
    NS,
    Atomic,
    Bool,
    Bytes,
    Conditions,
    Int,
    Int64,
    IntStr,
    Keyed,
    Kind,
    L,
    M,
    MicroTime,
    Qty,
    Ref,
    Str,
    StrMap,
    Struct,
    Time,
)
from kubeedge.api.schema.types_meta import meta

core = NS("io.k8s.api.core.v1")

# --- Pod ---------------------------------------------------------------------------------

Kind(
    core.Pod,
    "A group of containers scheduled together onto one node, sharing network and volumes.",
    ("", "v1", "Pod"),
    {
        "spec": Ref(core.PodSpec, "Desired behaviour of the pod."),
        "status": Ref(core.PodStatus, "Most recently observed state of the pod. Read-only."),
    },
)

Struct(
    core.PodTemplateSpec,
    "The pod a controller stamps out: metadata plus pod spec.",
    {
        "metadata": Ref(meta.ObjectMeta, "Metadata given to created pods."),
        "spec": Ref(core.PodSpec, "Spec given to created pods."),
    },
)

Struct(
    core.PodSpec,
    "What a pod runs and how it is placed, secured and networked.",
    {
        "activeDeadlineSeconds": Int64(
            "Seconds the pod may be active before the kubelet fails it."
        ),
        "affinity": Ref(core.Affinity, "Scheduling constraints relative to nodes and pods."),
        "automountServiceAccountToken": Bool("Whether to mount the service account token."),
        "containers": Keyed(
            core.Container, "name", "The containers of the pod; at least one.", req=True
        ),
        "dnsConfig": Ref(core.PodDNSConfig, "Extra DNS settings merged into the generated ones."),
        "dnsPolicy": Str("ClusterFirst (default), ClusterFirstWithHostNet, Default or None."),
        "enableServiceLinks": Bool("Inject service environment variables; true by default."),
        "ephemeralContainers": Keyed(
            core.EphemeralContainer,
            "name",
            "Debugging containers added to a running pod via its subresource.",
        ),
        "hostAliases": Keyed(core.HostAlias, "ip", "Extra /etc/hosts entries."),
        "hostIPC": Bool("Share the host's IPC namespace."),
        "hostNetwork": Bool("Use the host's network namespace."),
        "hostPID": Bool("Share the host's PID namespace."),
        "hostUsers": Bool("Use the host user namespace; false runs in a new one."),
        "hostname": Str("Hostname of the pod; the pod name when unset."),
        "imagePullSecrets": Keyed(
            core.LocalObjectReference, "name", "Secrets holding registry credentials."
        ),
        "initContainers": Keyed(
            core.Container,
            "name",
            "Containers run to completion, in order, before the app containers start.",
        ),
        "nodeName": Str("Node the pod is bound to; set by the scheduler or by hand."),
        "nodeSelector": StrMap("Labels a node must carry for the pod to fit on it."),
        "os": Ref(core.PodOS, "Operating system the pod's containers need."),
        "overhead": M(Qty(), "Resources the pod sandbox uses on top of its containers."),
        "preemptionPolicy": Str("PreemptLowerPriority (default) or Never."),
        "priority": Int("Priority value, resolved from priorityClassName."),
        "priorityClassName": Str("Name of the PriorityClass of the pod."),
        "readinessGates": Atomic(
            core.PodReadinessGate, "Extra conditions that must be true for readiness."
        ),
        "resourceClaims": Keyed(
            core.PodResourceClaim,
            "name",
            "Dynamic resource claims the pod's containers may use.",
            strategy="merge,retainKeys",
        ),
        "resources": Ref(
            core.ResourceRequirements, "Pod-level resource requests and limits (alpha)."
        ),
        "restartPolicy": Str("Always (default), OnFailure or Never."),
        "runtimeClassName": Str("RuntimeClass to run the pod with."),
        "schedulerName": Str("Scheduler responsible for the pod."),
        "schedulingGates": Keyed(
            core.PodSchedulingGate, "name", "While non-empty, the pod is not scheduled."
        ),
        "securityContext": Ref(core.PodSecurityContext, "Pod-wide security settings."),
        "serviceAccount": Str("Deprecated alias of serviceAccountName."),
        "serviceAccountName": Str("Service account the pod runs as."),
        "setHostnameAsFQDN": Bool("Set the kernel hostname to the pod's FQDN."),
        "shareProcessNamespace": Bool("Put all containers in one PID namespace."),
        "subdomain": Str("Subdomain, giving the FQDN <hostname>.<subdomain>.<ns>.svc."),
        "terminationGracePeriodSeconds": Int64(
            "Seconds between the stop signal and a forced kill; 30 by default."
        ),
        "tolerations": Atomic(core.Toleration, "Taints the pod tolerates."),
        "topologySpreadConstraints": Keyed(
            core.TopologySpreadConstraint,
            "topologyKey",
            "How pods should be spread across topology domains.",
            mkeys=("topologyKey", "whenUnsatisfiable"),
        ),
        "volumes": Keyed(
            core.Volume,
            "name",
            "Volumes the containers may mount.",
            strategy="merge,retainKeys",
        ),
    },
)

# --- affinity ----------------------------------------------------------------------------

Struct(
    core.Affinity,
    "Node affinity, pod affinity and pod anti-affinity rules.",
    {
        "nodeAffinity": Ref(core.NodeAffinity, "Rules about which nodes to prefer or require."),
        "podAffinity": Ref(core.PodAffinity, "Rules to co-locate with other pods."),
        "podAntiAffinity": Ref(core.PodAntiAffinity, "Rules to stay away from other pods."),
    },
)

Struct(
    core.NodeAffinity,
    "Constraints on the node labels of candidate nodes.",
    {
        "preferredDuringSchedulingIgnoredDuringExecution": Atomic(
            core.PreferredSchedulingTerm, "Weighted preferences; the best-scoring node wins."
        ),
        "requiredDuringSchedulingIgnoredDuringExecution": Ref(
            core.NodeSelector, "Hard requirement checked at scheduling time."
        ),
    },
)

Struct(
    core.PreferredSchedulingTerm,
    "A weighted node selector term.",
    {
        "preference": Ref(core.NodeSelectorTerm, "The term to match.", req=True),
        "weight": Int("Weight from 1 to 100.", req=True),
    },
)

Struct(
    core.NodeSelector,
    "A list of node selector terms, ORed together.",
    {
        "nodeSelectorTerms": Atomic(core.NodeSelectorTerm, "The terms; one must match.", req=True),
    },
    map_type="atomic",
)

Struct(
    core.NodeSelectorTerm,
    "Requirements on node labels and fields, ANDed together.",
    {
        "matchExpressions": Atomic(core.NodeSelectorRequirement, "Requirements on labels."),
        "matchFields": Atomic(core.NodeSelectorRequirement, "Requirements on node fields."),
    },
    map_type="atomic",
)

Struct(
    core.NodeSelectorRequirement,
    "One requirement on a node label or field.",
    {
        "key": Str("Label key or field name.", req=True),
        "operator": Str("In, NotIn, Exists, DoesNotExist, Gt or Lt.", req=True),
        "values": Atomic(Str(), "Values to compare with; one integer for Gt/Lt."),
    },
)

Struct(
    core.PodAffinity,
    "Rules to schedule next to pods matching a selector.",
    {
        "preferredDuringSchedulingIgnoredDuringExecution": Atomic(
            core.WeightedPodAffinityTerm, "Weighted preferences."
        ),
        "requiredDuringSchedulingIgnoredDuringExecution": Atomic(
            core.PodAffinityTerm, "Hard requirements; all must hold."
        ),
    },
)

Struct(
    core.PodAntiAffinity,
    "Rules to avoid nodes running pods matching a selector.",
    {
        "preferredDuringSchedulingIgnoredDuringExecution": Atomic(
            core.WeightedPodAffinityTerm, "Weighted preferences."
        ),
        "requiredDuringSchedulingIgnoredDuringExecution": Atomic(
            core.PodAffinityTerm, "Hard requirements; all must hold."
        ),
    },
)

Struct(
    core.WeightedPodAffinityTerm,
    "A pod affinity term with a weight.",
    {
        "podAffinityTerm": Ref(core.PodAffinityTerm, "The term.", req=True),
        "weight": Int("Weight from 1 to 100.", req=True),
    },
)

Struct(
    core.PodAffinityTerm,
    "Pods matching a selector in some namespaces, grouped by a topology key.",
    {
        "labelSelector": Ref(meta.LabelSelector, "Which pods the term is about."),
        "matchLabelKeys": Atomic(
            Str(), "Label keys whose values are copied from the incoming pod into the selector."
        ),
        "mismatchLabelKeys": Atomic(
            Str(), "Label keys whose incoming-pod values must differ (NotIn) in the selector."
        ),
        "namespaceSelector": Ref(meta.LabelSelector, "Namespaces to look in, by label."),
        "namespaces": Atomic(Str(), "Namespaces to look in, by name."),
        "topologyKey": Str("Node label that defines the co-location domain.", req=True),
    },
)

# --- containers --------------------------------------------------------------------------

_CONTAINER_FIELDS = {
    "args": Atomic(Str(), "Arguments to the entrypoint; the image's CMD when unset."),
    "command": Atomic(Str(), "Entrypoint; the image's ENTRYPOINT when unset. Not run in a shell."),
    "env": Keyed(core.EnvVar, "name", "Environment variables."),
    "envFrom": Atomic(core.EnvFromSource, "Sources whose keys all become environment variables."),
    "image": Str("Container image reference."),
    "imagePullPolicy": Str("Always, Never or IfNotPresent."),
    "lifecycle": Ref(core.Lifecycle, "Hooks run after start and before stop."),
    "livenessProbe": Ref(core.Probe, "Restarts the container when it fails."),
    "name": Str("Name, unique within the pod (a DNS label).", req=True),
    "ports": Keyed(
        core.ContainerPort,
        "containerPort",
        "Ports the container exposes; informational.",
        mkeys=("containerPort", "protocol"),
    ),
    "readinessProbe": Ref(core.Probe, "Removes the pod from service endpoints when it fails."),
    "resizePolicy": Atomic(core.ContainerResizePolicy, "How each resource may be resized."),
    "resources": Ref(core.ResourceRequirements, "Compute resources requested and allowed."),
    "restartPolicy": Str("Only Always, for init containers that run as sidecars."),
    "securityContext": Ref(core.SecurityContext, "Container security settings."),
    "startupProbe": Ref(core.Probe, "Holds off the other probes until it succeeds."),
    "stdin": Bool("Allocate a stdin buffer."),
    "stdinOnce": Bool("Close stdin after the first attach disconnects."),
    "terminationMessagePath": Str("File whose contents become the termination message."),
    "terminationMessagePolicy": Str("File (default) or FallbackToLogsOnError."),
    "tty": Bool("Allocate a TTY; needs stdin."),
    "volumeDevices": Keyed(core.VolumeDevice, "devicePath", "Block devices to expose."),
    "volumeMounts": Keyed(core.VolumeMount, "mountPath", "Volumes to mount into the filesystem."),
    "workingDir": Str("Working directory; the image's default when unset."),
}

Struct(core.Container, "An application container run inside a pod.", dict(_CONTAINER_FIELDS))

Struct(
    core.EphemeralContainer,
    "A temporary container added to a running pod, usually for debugging.",
    {
        **_CONTAINER_FIELDS,
        "name": Str("Name, unique among all containers of the pod.", req=True),
        "targetContainerName": Str("Container whose namespaces this one joins."),
    },
)

Struct(
    core.EnvVar,
    "One environment variable.",
    {
        "name": Str("Variable name.", req=True),
        "value": Str("Literal value; $(VAR) references are expanded."),
        "valueFrom": Ref(core.EnvVarSource, "Where to read the value from instead."),
    },
)

Struct(
    core.EnvVarSource,
    "A source for one environment variable value.",
    {
        "configMapKeyRef": Ref(core.ConfigMapKeySelector, "A key of a ConfigMap."),
        "fieldRef": Ref(core.ObjectFieldSelector, "A field of the pod."),
        "resourceFieldRef": Ref(core.ResourceFieldSelector, "A container resource value."),
        "secretKeyRef": Ref(core.SecretKeySelector, "A key of a Secret."),
    },
)

Struct(
    core.ConfigMapKeySelector,
    "Selects one key of a ConfigMap.",
    {
        "key": Str("The key.", req=True),
        "name": Str("Name of the ConfigMap."),
        "optional": Bool("Tolerate a missing ConfigMap or key."),
    },
    map_type="atomic",
)

Struct(
    core.SecretKeySelector,
    "Selects one key of a Secret.",
    {
        "key": Str("The key.", req=True),
        "name": Str("Name of the Secret."),
        "optional": Bool("Tolerate a missing Secret or key."),
    },
    map_type="atomic",
)

Struct(
    core.ObjectFieldSelector,
    "Selects a field of the pod, e.g. metadata.name or status.podIP.",
    {
        "apiVersion": Str('Version the path is written against; "v1" by default.'),
        "fieldPath": Str("Path of the field.", req=True),
    },
    map_type="atomic",
)

Struct(
    core.ResourceFieldSelector,
    "Selects a resource request or limit of a container.",
    {
        "containerName": Str("Container to read; required for volumes."),
        "divisor": Qty("Unit the value is expressed in; 1 by default."),
        "resource": Str("Resource, e.g. limits.cpu or requests.memory.", req=True),
    },
    map_type="atomic",
)

Struct(
    core.EnvFromSource,
    "A ConfigMap or Secret whose keys all become environment variables.",
    {
        "configMapRef": Ref(core.ConfigMapEnvSource, "The ConfigMap."),
        "prefix": Str("Prefix added to every variable name."),
        "secretRef": Ref(core.SecretEnvSource, "The Secret."),
    },
)

Struct(
    core.ConfigMapEnvSource,
    "A ConfigMap used as a source of environment variables.",
    {
        "name": Str("Name of the ConfigMap."),
        "optional": Bool("Tolerate a missing ConfigMap."),
    },
)

Struct(
    core.SecretEnvSource,
    "A Secret used as a source of environment variables.",
    {
        "name": Str("Name of the Secret."),
        "optional": Bool("Tolerate a missing Secret."),
    },
)

Struct(
    core.Lifecycle,
    "Actions the kubelet runs around container start and stop.",
    {
        "postStart": Ref(core.LifecycleHandler, "Run right after the container is created."),
        "preStop": Ref(core.LifecycleHandler, "Run before the container is terminated."),
    },
)

Struct(
    core.LifecycleHandler,
    "One lifecycle action; exactly one member is set.",
    {
        "exec": Ref(core.ExecAction, "Run a command in the container."),
        "httpGet": Ref(core.HTTPGetAction, "Send an HTTP GET."),
        "sleep": Ref(core.SleepAction, "Sleep for a while."),
        "tcpSocket": Ref(core.TCPSocketAction, "Deprecated; accepted but not run."),
    },
)

Struct(
    core.ExecAction,
    "Runs a command inside the container; exit status 0 means success.",
    {"command": Atomic(Str(), "Command and arguments; not run in a shell.")},
)

Struct(
    core.HTTPGetAction,
    "An HTTP GET request; a 2xx or 3xx status means success.",
    {
        "host": Str("Host to connect to; the pod IP by default."),
        "httpHeaders": Atomic(core.HTTPHeader, "Extra request headers."),
        "path": Str("Request path."),
        "port": IntStr("Port number or name.", req=True),
        "scheme": Str("HTTP (default) or HTTPS."),
    },
)

Struct(
    core.HTTPHeader,
    "One HTTP header.",
    {
        "name": Str("Header name.", req=True),
        "value": Str("Header value.", req=True),
    },
)

Struct(
    core.SleepAction,
    "Sleeps for a number of seconds.",
    {"seconds": Int64("Seconds to sleep.", req=True)},
)

Struct(
    core.TCPSocketAction,
    "Opens a TCP connection; success if it connects.",
    {
        "host": Str("Host to connect to; the pod IP by default."),
        "port": IntStr("Port number or name.", req=True),
    },
)

Struct(
    core.GRPCAction,
    "Calls the gRPC health-checking protocol.",
    {
        "port": Int("Port number of the gRPC service.", req=True),
        "service": Str("Service name sent in the health check request."),
    },
)

Struct(
    core.Probe,
    "A periodic health check of a container.",
    {
        "exec": Ref(core.ExecAction, "Run a command."),
        "failureThreshold": Int("Consecutive failures before the probe counts as failed."),
        "grpc": Ref(core.GRPCAction, "Call a gRPC health check."),
        "httpGet": Ref(core.HTTPGetAction, "Send an HTTP GET."),
        "initialDelaySeconds": Int("Seconds after start before the first probe."),
        "periodSeconds": Int("Seconds between probes; 10 by default."),
        "successThreshold": Int("Consecutive successes before the probe counts as passing."),
        "tcpSocket": Ref(core.TCPSocketAction, "Open a TCP connection."),
        "terminationGracePeriodSeconds": Int64(
            "Grace period used when this probe kills the container."
        ),
        "timeoutSeconds": Int("Seconds before a probe attempt times out; 1 by default."),
    },
)

Struct(
    core.ContainerPort,
    "A network port of a container.",
    {
        "containerPort": Int("Port number inside the container.", req=True),
        "hostIP": Str("Host IP to bind the host port to."),
        "hostPort": Int("Port number to expose on the host."),
        "name": Str("IANA_SVC_NAME-style name services can refer to."),
        "protocol": Str("TCP (default), UDP or SCTP."),
    },
)

Struct(
    core.ContainerResizePolicy,
    "How a resource of a container is resized in place.",
    {
        "resourceName": Str("cpu or memory.", req=True),
        "restartPolicy": Str("NotRequired (default) or RestartContainer.", req=True),
    },
)

Struct(
    core.ResourceRequirements,
    "Compute resources: what is requested for scheduling and the enforced limits.",
    {
        "claims": L(
            core.ResourceClaim,
            "Entries of the pod's resourceClaims this container uses.",
            ltype="map",
            mkeys=("name",),
        ),
        "limits": M(Qty(), "Maximum amount of each resource."),
        "requests": M(Qty(), "Minimum amount of each resource; defaults to the limits."),
    },
)

Struct(
    core.ResourceClaim,
    "Reference to one entry of the pod's resourceClaims.",
    {
        "name": Str("Name of the pod resource claim entry.", req=True),
        "request": Str("Only this request of the claim, when set."),
    },
)

Struct(
    core.SecurityContext,
    "Security settings of one container; they override the pod-level ones.",
    {
        "allowPrivilegeEscalation": Bool("Whether a process may gain more privileges."),
        "appArmorProfile": Ref(core.AppArmorProfile, "AppArmor profile to apply."),
        "capabilities": Ref(core.Capabilities, "Linux capabilities to add or drop."),
        "privileged": Bool("Run as privileged, like root on the host."),
        "procMount": Str("Default or Unmasked /proc mount."),
        "readOnlyRootFilesystem": Bool("Mount the root filesystem read-only."),
        "runAsGroup": Int64("GID of the container process."),
        "runAsNonRoot": Bool("Refuse to start when the process would run as UID 0."),
        "runAsUser": Int64("UID of the container process."),
        "seLinuxOptions": Ref(core.SELinuxOptions, "SELinux context to apply."),
        "seccompProfile": Ref(core.SeccompProfile, "Seccomp profile to apply."),
        "windowsOptions": Ref(core.WindowsSecurityContextOptions, "Windows-specific settings."),
    },
)

Struct(
    core.PodSecurityContext,
    "Security settings applied to every container of a pod.",
    {
        "appArmorProfile": Ref(core.AppArmorProfile, "AppArmor profile to apply."),
        "fsGroup": Int64("Supplementary group that owns mounted volumes."),
        "fsGroupChangePolicy": Str("OnRootMismatch or Always."),
        "runAsGroup": Int64("GID of container processes."),
        "runAsNonRoot": Bool("Refuse to start containers that would run as UID 0."),
        "runAsUser": Int64("UID of container processes."),
        "seLinuxChangePolicy": Str("Recursive or MountOption relabelling of volumes."),
        "seLinuxOptions": Ref(core.SELinuxOptions, "SELinux context to apply."),
        "seccompProfile": Ref(core.SeccompProfile, "Seccomp profile to apply."),
        "supplementalGroups": Atomic(Int64(), "Extra GIDs for the first process."),
        "supplementalGroupsPolicy": Str("Merge (default) or Strict."),
        "sysctls": Atomic(core.Sysctl, "Namespaced sysctls to set."),
        "windowsOptions": Ref(core.WindowsSecurityContextOptions, "Windows-specific settings."),
    },
)

Struct(
    core.AppArmorProfile,
    "An AppArmor profile.",
    {
        "localhostProfile": Str("Profile loaded on the node, for type Localhost."),
        "type": Str("Localhost, RuntimeDefault or Unconfined.", req=True),
    },
)

Struct(
    core.Capabilities,
    "Linux capabilities.",
    {
        "add": Atomic(Str(), "Capabilities to add."),
        "drop": Atomic(Str(), "Capabilities to drop."),
    },
)

Struct(
    core.SELinuxOptions,
    "SELinux labels.",
    {
        "level": Str("SELinux level."),
        "role": Str("SELinux role."),
        "type": Str("SELinux type."),
        "user": Str("SELinux user."),
    },
)

Struct(
    core.SeccompProfile,
    "A seccomp profile.",
    {
        "localhostProfile": Str("Profile file on the node, for type Localhost."),
        "type": Str("Localhost, RuntimeDefault or Unconfined.", req=True),
    },
)

Struct(
    core.WindowsSecurityContextOptions,
    "Windows-specific security settings.",
    {
        "gmsaCredentialSpec": Str("Inline GMSA credential spec."),
        "gmsaCredentialSpecName": Str("Name of the GMSA credential spec."),
        "hostProcess": Bool("Run as a host process container."),
        "runAsUserName": Str("Windows user name to run as."),
    },
)

Struct(
    core.Sysctl,
    "A kernel parameter to set.",
    {
        "name": Str("Parameter name.", req=True),
        "value": Str("Parameter value.", req=True),
    },
)

Struct(
    core.VolumeDevice,
    "A raw block volume exposed as a device.",
    {
        "devicePath": Str("Path of the device inside the container.", req=True),
        "name": Str("Name of a PVC volume of the pod.", req=True),
    },
)

Struct(
    core.VolumeMount,
    "Mounts a volume into a container.",
    {
        "mountPath": Str("Path inside the container.", req=True),
        "mountPropagation": Str("None, HostToContainer or Bidirectional."),
        "name": Str("Name of a volume of the pod.", req=True),
        "readOnly": Bool("Mount read-only."),
        "recursiveReadOnly": Str("Disabled, IfPossible or Enabled."),
        "subPath": Str("Sub-path of the volume to mount instead of its root."),
        "subPathExpr": Str("Like subPath, with $(VAR) expansion."),
    },
)

Struct(
    core.PodDNSConfig,
    "DNS settings of a pod.",
    {
        "nameservers": Atomic(Str(), "Nameserver IPs."),
        "options": Atomic(core.PodDNSConfigOption, "resolv.conf options."),
        "searches": Atomic(Str(), "Search domains."),
    },
)

Struct(
    core.PodDNSConfigOption,
    "One resolver option.",
    {
        "name": Str("Option name."),
        "value": Str("Option value."),
    },
)

Struct(
    core.HostAlias,
    "Extra /etc/hosts entries for one IP.",
    {
        "hostnames": Atomic(Str(), "Hostnames for the IP."),
        "ip": Str("The IP address.", req=True),
    },
)

Struct(
    core.LocalObjectReference,
    "Names an object in the same namespace.",
    {"name": Str("Name of the referent.")},
    map_type="atomic",
)

Struct(
    core.PodOS,
    "Operating system of a pod.",
    {"name": Str("linux or windows.", req=True)},
)

Struct(
    core.PodReadinessGate,
    "An extra pod condition required for readiness.",
    {"conditionType": Str("Condition type in the pod's status.", req=True)},
)

Struct(
    core.PodResourceClaim,
    "A dynamic resource claim of a pod; exactly one source is set.",
    {
        "name": Str("Name the containers refer to.", req=True),
        "resourceClaimName": Str("Existing ResourceClaim in the namespace."),
        "resourceClaimTemplateName": Str("Template a claim is generated from."),
    },
)

Struct(
    core.PodSchedulingGate,
    "A gate that holds the pod back from scheduling.",
    {"name": Str("Gate name.", req=True)},
)

Struct(
    core.Toleration,
    "Lets a pod be scheduled onto nodes with a matching taint.",
    {
        "effect": Str("Taint effect to match; all effects when empty."),
        "key": Str("Taint key to match; all keys when empty with operator Exists."),
        "operator": Str("Exists or Equal (default)."),
        "tolerationSeconds": Int64("How long a NoExecute taint is tolerated."),
        "value": Str("Taint value to match with Equal."),
    },
)

Struct(
    core.TopologySpreadConstraint,
    "Limits how unevenly matching pods may be spread across topology domains.",
    {
        "labelSelector": Ref(meta.LabelSelector, "Pods counted in each domain."),
        "matchLabelKeys": Atomic(Str(), "Label keys whose values narrow the selector."),
        "maxSkew": Int("Largest allowed difference between domains.", req=True),
        "minDomains": Int("Minimum number of eligible domains."),
        "nodeAffinityPolicy": Str("Honor (default) or Ignore node affinity when counting."),
        "nodeTaintsPolicy": Str("Honor or Ignore (default) node taints when counting."),
        "topologyKey": Str("Node label that defines the domains.", req=True),
        "whenUnsatisfiable": Str("DoNotSchedule or ScheduleAnyway.", req=True),
    },
)

# --- volumes -----------------------------------------------------------------------------

Struct(
    core.Volume,
    "A named volume; exactly one source is set.",
    {
        "awsElasticBlockStore": Ref(
            core.AWSElasticBlockStoreVolumeSource, "Deprecated AWS EBS disk."
        ),
        "azureDisk": Ref(core.AzureDiskVolumeSource, "Deprecated Azure data disk."),
        "azureFile": Ref(core.AzureFileVolumeSource, "Deprecated Azure file share."),
        "cephfs": Ref(core.CephFSVolumeSource, "Deprecated CephFS mount."),
        "cinder": Ref(core.CinderVolumeSource, "Deprecated OpenStack Cinder volume."),
        "configMap": Ref(core.ConfigMapVolumeSource, "Files from a ConfigMap."),
        "csi": Ref(core.CSIVolumeSource, "Inline volume from a CSI driver."),
        "downwardAPI": Ref(core.DownwardAPIVolumeSource, "Files with pod information."),
        "emptyDir": Ref(core.EmptyDirVolumeSource, "Scratch directory living as long as the pod."),
        "ephemeral": Ref(core.EphemeralVolumeSource, "A PVC created and deleted with the pod."),
        "fc": Ref(core.FCVolumeSource, "Fibre Channel disk."),
        "flexVolume": Ref(core.FlexVolumeSource, "Deprecated FlexVolume plugin volume."),
        "flocker": Ref(core.FlockerVolumeSource, "Deprecated Flocker dataset."),
        "gcePersistentDisk": Ref(core.GCEPersistentDiskVolumeSource, "Deprecated GCE PD."),
        "gitRepo": Ref(core.GitRepoVolumeSource, "Deprecated git checkout."),
        "glusterfs": Ref(core.GlusterfsVolumeSource, "Deprecated GlusterFS mount."),
        "hostPath": Ref(core.HostPathVolumeSource, "A path on the node."),
        "image": Ref(core.ImageVolumeSource, "Contents of an OCI image or artifact."),
        "iscsi": Ref(core.ISCSIVolumeSource, "iSCSI disk."),
        "name": Str("Volume name, unique within the pod (a DNS label).", req=True),
        "nfs": Ref(core.NFSVolumeSource, "NFS export."),
        "persistentVolumeClaim": Ref(
            core.PersistentVolumeClaimVolumeSource, "A PVC in the pod's namespace."
        ),
        "photonPersistentDisk": Ref(
            core.PhotonPersistentDiskVolumeSource, "Deprecated Photon disk."
        ),
        "portworxVolume": Ref(core.PortworxVolumeSource, "Deprecated Portworx volume."),
        "projected": Ref(core.ProjectedVolumeSource, "Several sources in one directory."),
        "quobyte": Ref(core.QuobyteVolumeSource, "Deprecated Quobyte mount."),
        "rbd": Ref(core.RBDVolumeSource, "Deprecated Ceph RBD disk."),
        "scaleIO": Ref(core.ScaleIOVolumeSource, "Deprecated ScaleIO volume."),
        "secret": Ref(core.SecretVolumeSource, "Files from a Secret."),
        "storageos": Ref(core.StorageOSVolumeSource, "Deprecated StorageOS volume."),
        "vsphereVolume": Ref(core.VsphereVirtualDiskVolumeSource, "Deprecated vSphere disk."),
    },
)

_FS_TYPE = Str('Filesystem type, e.g. "ext4".')
_READ_ONLY = Bool("Mount read-only.")
_SECRET_REF = Ref(core.LocalObjectReference, "Secret with authentication data.")

Struct(
    core.AWSElasticBlockStoreVolumeSource,
    "An AWS EBS disk.",
    {
        "fsType": _FS_TYPE,
        "partition": Int("Partition to mount; 0 for the whole disk."),
        "readOnly": _READ_ONLY,
        "volumeID": Str("EBS volume ID.", req=True),
    },
)

Struct(
    core.AzureDiskVolumeSource,
    "An Azure data disk.",
    {
        "cachingMode": Str("None, ReadOnly or ReadWrite."),
        "diskName": Str("Name of the disk.", req=True),
        "diskURI": Str("URI of the disk.", req=True),
        "fsType": _FS_TYPE,
        "kind": Str("Shared, Dedicated or Managed."),
        "readOnly": _READ_ONLY,
    },
)

Struct(
    core.AzureFileVolumeSource,
    "An Azure file share.",
    {
        "readOnly": _READ_ONLY,
        "secretName": Str("Secret with the account name and key.", req=True),
        "shareName": Str("Share name.", req=True),
    },
)

Struct(
    core.CephFSVolumeSource,
    "A CephFS mount.",
    {
        "monitors": Atomic(Str(), "Ceph monitors.", req=True),
        "path": Str("Path within the filesystem; / by default."),
        "readOnly": _READ_ONLY,
        "secretFile": Str("Path to the keyring."),
        "secretRef": _SECRET_REF,
        "user": Str("RADOS user name."),
    },
)

Struct(
    core.CinderVolumeSource,
    "An OpenStack Cinder volume.",
    {
        "fsType": _FS_TYPE,
        "readOnly": _READ_ONLY,
        "secretRef": _SECRET_REF,
        "volumeID": Str("Volume ID.", req=True),
    },
)

Struct(
    core.ConfigMapVolumeSource,
    "Projects the keys of a ConfigMap as files.",
    {
        "defaultMode": Int("Permission bits of created files; 0644 by default."),
        "items": Atomic(core.KeyToPath, "Only these keys, at these paths."),
        "name": Str("Name of the ConfigMap."),
        "optional": Bool("Tolerate a missing ConfigMap or key."),
    },
)

Struct(
    core.KeyToPath,
    "Maps one key to a relative file path.",
    {
        "key": Str("The key.", req=True),
        "mode": Int("Permission bits of the file."),
        "path": Str("Relative file path.", req=True),
    },
)

Struct(
    core.CSIVolumeSource,
    "An inline volume provided by a CSI driver.",
    {
        "driver": Str("Name of the CSI driver.", req=True),
        "fsType": _FS_TYPE,
        "nodePublishSecretRef": Ref(core.LocalObjectReference, "Secret passed to the driver."),
        "readOnly": _READ_ONLY,
        "volumeAttributes": StrMap("Driver-specific properties."),
    },
)

Struct(
    core.DownwardAPIVolumeSource,
    "Files containing information about the pod.",
    {
        "defaultMode": Int("Permission bits of created files; 0644 by default."),
        "items": Atomic(core.DownwardAPIVolumeFile, "The files."),
    },
)

Struct(
    core.DownwardAPIVolumeFile,
    "One file with a pod field or container resource value.",
    {
        "fieldRef": Ref(core.ObjectFieldSelector, "Pod field to write."),
        "mode": Int("Permission bits of the file."),
        "path": Str("Relative file path.", req=True),
        "resourceFieldRef": Ref(core.ResourceFieldSelector, "Container resource to write."),
    },
)

Struct(
    core.EmptyDirVolumeSource,
    "A scratch directory that lives as long as the pod.",
    {
        "medium": Str('Storage medium: "" for node disk, or "Memory" for tmpfs.'),
        "sizeLimit": Qty("Maximum size of the directory."),
    },
)

Struct(
    core.EphemeralVolumeSource,
    "A volume backed by a PVC that is created and deleted with the pod.",
    {
        "volumeClaimTemplate": Ref(
            core.PersistentVolumeClaimTemplate, "Template of the PVC to create."
        ),
    },
)

Struct(
    core.PersistentVolumeClaimTemplate,
    "Metadata and spec of a PVC to create.",
    {
        "metadata": Ref(meta.ObjectMeta, "Labels and annotations copied to the PVC."),
        "spec": Ref(core.PersistentVolumeClaimSpec, "Spec of the PVC.", req=True),
    },
)

Struct(
    core.FCVolumeSource,
    "A Fibre Channel disk.",
    {
        "fsType": _FS_TYPE,
        "lun": Int("Target LUN."),
        "readOnly": _READ_ONLY,
        "targetWWNs": Atomic(Str(), "Target world wide names."),
        "wwids": Atomic(Str(), "Volume world wide identifiers."),
    },
)

Struct(
    core.FlexVolumeSource,
    "A volume from a FlexVolume plugin.",
    {
        "driver": Str("Driver name.", req=True),
        "fsType": _FS_TYPE,
        "options": StrMap("Driver options."),
        "readOnly": _READ_ONLY,
        "secretRef": _SECRET_REF,
    },
)

Struct(
    core.FlockerVolumeSource,
    "A Flocker dataset.",
    {
        "datasetName": Str("Dataset name."),
        "datasetUUID": Str("Dataset UUID."),
    },
)

Struct(
    core.GCEPersistentDiskVolumeSource,
    "A GCE persistent disk.",
    {
        "fsType": _FS_TYPE,
        "partition": Int("Partition to mount; 0 for the whole disk."),
        "pdName": Str("Disk name.", req=True),
        "readOnly": _READ_ONLY,
    },
)

Struct(
    core.GitRepoVolumeSource,
    "A git repository checked out into an empty directory.",
    {
        "directory": Str("Target directory name."),
        "repository": Str("Repository URL.", req=True),
        "revision": Str("Commit hash to check out."),
    },
)

Struct(
    core.GlusterfsVolumeSource,
    "A GlusterFS mount.",
    {
        "endpoints": Str("Endpoints object with the Gluster servers.", req=True),
        "path": Str("Gluster volume path.", req=True),
        "readOnly": _READ_ONLY,
    },
)

Struct(
    core.HostPathVolumeSource,
    "A file or directory on the node.",
    {
        "path": Str("Path on the node.", req=True),
        "type": Str("Expected type: DirectoryOrCreate, Directory, File, Socket, ..."),
    },
)

Struct(
    core.ImageVolumeSource,
    "Mounts the contents of an OCI image or artifact read-only.",
    {
        "pullPolicy": Str("Always, Never or IfNotPresent."),
        "reference": Str("Image or artifact reference."),
    },
)

Struct(
    core.ISCSIVolumeSource,
    "An iSCSI disk.",
    {
        "chapAuthDiscovery": Bool("Use CHAP for discovery."),
        "chapAuthSession": Bool("Use CHAP for sessions."),
        "fsType": _FS_TYPE,
        "initiatorName": Str("Custom initiator name."),
        "iqn": Str("Target IQN.", req=True),
        "iscsiInterface": Str("iSCSI interface; default is tcp."),
        "lun": Int("Target LUN.", req=True),
        "portals": Atomic(Str(), "Extra target portals."),
        "readOnly": _READ_ONLY,
        "secretRef": _SECRET_REF,
        "targetPortal": Str("Target portal, IP[:port].", req=True),
    },
)

Struct(
    core.NFSVolumeSource,
    "An NFS export.",
    {
        "path": Str("Exported path.", req=True),
        "readOnly": _READ_ONLY,
        "server": Str("NFS server host or IP.", req=True),
    },
)

Struct(
    core.PersistentVolumeClaimVolumeSource,
    "Uses a PVC in the pod's namespace.",
    {
        "claimName": Str("Name of the PVC.", req=True),
        "readOnly": _READ_ONLY,
    },
)

Struct(
    core.PhotonPersistentDiskVolumeSource,
    "A Photon Controller disk.",
    {
        "fsType": _FS_TYPE,
        "pdID": Str("Disk ID.", req=True),
    },
)

Struct(
    core.PortworxVolumeSource,
    "A Portworx volume.",
    {
        "fsType": _FS_TYPE,
        "readOnly": _READ_ONLY,
        "volumeID": Str("Volume ID.", req=True),
    },
)

Struct(
    core.ProjectedVolumeSource,
    "Several volume sources projected into one directory.",
    {
        "defaultMode": Int("Permission bits of created files; 0644 by default."),
        "sources": Atomic(core.VolumeProjection, "The projected sources."),
    },
)

Struct(
    core.VolumeProjection,
    "One source of a projected volume; exactly one member is set.",
    {
        "clusterTrustBundle": Ref(
            core.ClusterTrustBundleProjection, "Certificates from ClusterTrustBundles."
        ),
        "configMap": Ref(core.ConfigMapProjection, "Keys of a ConfigMap."),
        "downwardAPI": Ref(core.DownwardAPIProjection, "Pod information."),
        "secret": Ref(core.SecretProjection, "Keys of a Secret."),
        "serviceAccountToken": Ref(
            core.ServiceAccountTokenProjection, "A bound service account token."
        ),
    },
)

Struct(
    core.ClusterTrustBundleProjection,
    "Writes certificates from ClusterTrustBundle objects into a file.",
    {
        "labelSelector": Ref(meta.LabelSelector, "Select bundles by label."),
        "name": Str("Select one bundle by name."),
        "optional": Bool("Tolerate missing bundles."),
        "path": Str("Relative file path.", req=True),
        "signerName": Str("Select bundles of this signer."),
    },
)

Struct(
    core.ConfigMapProjection,
    "Keys of a ConfigMap projected as files.",
    {
        "items": Atomic(core.KeyToPath, "Only these keys, at these paths."),
        "name": Str("Name of the ConfigMap."),
        "optional": Bool("Tolerate a missing ConfigMap or key."),
    },
)

Struct(
    core.DownwardAPIProjection,
    "Pod information projected as files.",
    {"items": Atomic(core.DownwardAPIVolumeFile, "The files.")},
)

Struct(
    core.SecretProjection,
    "Keys of a Secret projected as files.",
    {
        "items": Atomic(core.KeyToPath, "Only these keys, at these paths."),
        "name": Str("Name of the Secret."),
        "optional": Bool("Tolerate a missing Secret or key."),
    },
)

Struct(
    core.ServiceAccountTokenProjection,
    "A service account token bound to the pod, written to a file.",
    {
        "audience": Str("Intended audience; the API server by default."),
        "expirationSeconds": Int64("Requested lifetime; 1 hour by default."),
        "path": Str("Relative file path.", req=True),
    },
)

Struct(
    core.QuobyteVolumeSource,
    "A Quobyte mount.",
    {
        "group": Str("Group to map access to."),
        "readOnly": _READ_ONLY,
        "registry": Str("Registry services, host:port[,host:port].", req=True),
        "tenant": Str("Tenant owning the volume."),
        "user": Str("User to map access to."),
        "volume": Str("Volume name.", req=True),
    },
)

Struct(
    core.RBDVolumeSource,
    "A Ceph RBD disk.",
    {
        "fsType": _FS_TYPE,
        "image": Str("RBD image name.", req=True),
        "keyring": Str("Path to the keyring."),
        "monitors": Atomic(Str(), "Ceph monitors.", req=True),
        "pool": Str("RADOS pool; rbd by default."),
        "readOnly": _READ_ONLY,
        "secretRef": _SECRET_REF,
        "user": Str("RADOS user name."),
    },
)

Struct(
    core.ScaleIOVolumeSource,
    "A ScaleIO volume.",
    {
        "fsType": _FS_TYPE,
        "gateway": Str("Gateway host.", req=True),
        "protectionDomain": Str("Protection domain."),
        "readOnly": _READ_ONLY,
        "secretRef": Ref(core.LocalObjectReference, "Secret with credentials.", req=True),
        "sslEnabled": Bool("Use SSL to the gateway."),
        "storageMode": Str("ThickProvisioned or ThinProvisioned."),
        "storagePool": Str("Storage pool."),
        "system": Str("Storage system name.", req=True),
        "volumeName": Str("Existing volume name."),
    },
)

Struct(
    core.SecretVolumeSource,
    "Projects the keys of a Secret as files.",
    {
        "defaultMode": Int("Permission bits of created files; 0644 by default."),
        "items": Atomic(core.KeyToPath, "Only these keys, at these paths."),
        "optional": Bool("Tolerate a missing Secret or key."),
        "secretName": Str("Name of the Secret."),
    },
)

Struct(
    core.StorageOSVolumeSource,
    "A StorageOS volume.",
    {
        "fsType": _FS_TYPE,
        "readOnly": _READ_ONLY,
        "secretRef": _SECRET_REF,
        "volumeName": Str("Volume name."),
        "volumeNamespace": Str("StorageOS namespace."),
    },
)

Struct(
    core.VsphereVirtualDiskVolumeSource,
    "A vSphere virtual disk.",
    {
        "fsType": _FS_TYPE,
        "storagePolicyID": Str("Storage policy ID."),
        "storagePolicyName": Str("Storage policy name."),
        "volumePath": Str("Path of the disk.", req=True),
    },
)

# --- pod status --------------------------------------------------------------------------

Struct(
    core.PodStatus,
    "Observed state of a pod, reported by the kubelet and the scheduler.",
    {
        "conditions": Conditions(core.PodCondition, "Current conditions of the pod."),
        "containerStatuses": Atomic(core.ContainerStatus, "Status of each app container."),
        "ephemeralContainerStatuses": Atomic(
            core.ContainerStatus, "Status of each ephemeral container."
        ),
        "hostIP": Str("Primary IP of the node running the pod."),
        "hostIPs": L(
            core.HostIP,
            "IPs of the node running the pod.",
            key="ip",
            strategy="merge",
            ltype="atomic",
        ),
        "initContainerStatuses": Atomic(core.ContainerStatus, "Status of each init container."),
        "message": Str("Human-readable detail about the pod's state."),
        "nominatedNodeName": Str("Node the pod is expected to run on after preemption."),
        "phase": Str("Pending, Running, Succeeded, Failed or Unknown."),
        "podIP": Str("Primary IP of the pod."),
        "podIPs": Keyed(core.PodIP, "ip", "IPs of the pod, one per address family."),
        "qosClass": Str("Guaranteed, Burstable or BestEffort."),
        "reason": Str("CamelCase reason for the pod's state, e.g. Evicted."),
        "resize": Str("State of an in-place resize."),
        "resourceClaimStatuses": Keyed(
            core.PodResourceClaimStatus,
            "name",
            "Names of the ResourceClaims generated for the pod.",
            strategy="merge,retainKeys",
        ),
        "startTime": Time("When the kubelet accepted the pod."),
    },
)

Struct(
    core.PodCondition,
    "A condition of a pod, e.g. Ready or PodScheduled.",
    {
        "lastProbeTime": Time("When the condition was last probed."),
        "lastTransitionTime": Time("When the status last changed."),
        "message": Str("Human-readable details."),
        "reason": Str("CamelCase reason of the last transition."),
        "status": Str("True, False or Unknown.", req=True),
        "type": Str("Condition type.", req=True),
    },
)

Struct(
    core.ContainerStatus,
    "Observed state of one container.",
    {
        "allocatedResources": M(Qty(), "Resources the node allocated to the container."),
        "allocatedResourcesStatus": Keyed(
            core.ResourceStatus, "name", "Health of the allocated resources."
        ),
        "containerID": Str("Runtime ID, <type>://<id>."),
        "image": Str("Image the container runs.", req=True),
        "imageID": Str("Resolved image ID.", req=True),
        "lastState": Ref(core.ContainerState, "State before the last restart."),
        "name": Str("Container name.", req=True),
        "ready": Bool("Whether the readiness probe passes.", req=True),
        "resources": Ref(core.ResourceRequirements, "Resources the runtime applied."),
        "restartCount": Int("Number of restarts.", req=True),
        "started": Bool("Whether the startup probe has passed."),
        "state": Ref(core.ContainerState, "Current state."),
        "user": Ref(core.ContainerUser, "Identity the process runs as."),
        "volumeMounts": Keyed(core.VolumeMountStatus, "mountPath", "Status of volume mounts."),
    },
)

Struct(
    core.ResourceStatus,
    "Health of the devices behind one allocated resource.",
    {
        "name": Str("Resource name.", req=True),
        "resources": L(
            core.ResourceHealth, "Per-device health.", ltype="map", mkeys=("resourceID",)
        ),
    },
)

Struct(
    core.ResourceHealth,
    "Health of one device.",
    {
        "health": Str("Healthy, Unhealthy or Unknown."),
        "resourceID": Str("Device identifier.", req=True),
    },
)

Struct(
    core.ContainerState,
    "State of a container; exactly one member is set.",
    {
        "running": Ref(core.ContainerStateRunning, "The container is running."),
        "terminated": Ref(core.ContainerStateTerminated, "The container has exited."),
        "waiting": Ref(core.ContainerStateWaiting, "The container is not running yet."),
    },
)

Struct(
    core.ContainerStateRunning,
    "A running container.",
    {"startedAt": Time("When the container (last) started.")},
)

Struct(
    core.ContainerStateTerminated,
    "A container that has exited.",
    {
        "containerID": Str("Runtime ID of the container."),
        "exitCode": Int("Exit status.", req=True),
        "finishedAt": Time("When it exited."),
        "message": Str("Termination message."),
        "reason": Str("Short reason, e.g. Completed or OOMKilled."),
        "signal": Int("Signal that killed it."),
        "startedAt": Time("When it started."),
    },
)

Struct(
    core.ContainerStateWaiting,
    "A container that is waiting to run.",
    {
        "message": Str("Details."),
        "reason": Str("Short reason, e.g. ContainerCreating or ImagePullBackOff."),
    },
)

Struct(
    core.ContainerUser,
    "Identity of a container process.",
    {"linux": Ref(core.LinuxContainerUser, "Linux user and groups.")},
)

Struct(
    core.LinuxContainerUser,
    "Linux UID and GIDs of a container process.",
    {
        "gid": Int64("Primary GID.", req=True),
        "supplementalGroups": Atomic(Int64(), "Supplementary GIDs."),
        "uid": Int64("UID.", req=True),
    },
)

Struct(
    core.VolumeMountStatus,
    "Status of one volume mount.",
    {
        "mountPath": Str("Mount path.", req=True),
        "name": Str("Volume name.", req=True),
        "readOnly": Bool("Mounted read-only."),
        "recursiveReadOnly": Str("Disabled or Enabled."),
    },
)

Struct(core.HostIP, "One IP of a node.", {"ip": Str("The address.", req=True)})
Struct(core.PodIP, "One IP of a pod.", {"ip": Str("The address.", req=True)})

Struct(
    core.PodResourceClaimStatus,
    "The ResourceClaim generated for one pod claim entry.",
    {
        "name": Str("Name of the entry in spec.resourceClaims.", req=True),
        "resourceClaimName": Str("Name of the generated ResourceClaim."),
    },
)

# --- Namespace ---------------------------------------------------------------------------

Kind(
    core.Namespace,
    "A scope for names; most objects live in one.",
    ("", "v1", "Namespace"),
    {
        "spec": Ref(core.NamespaceSpec, "Desired behaviour of the namespace."),
        "status": Ref(core.NamespaceStatus, "Observed state of the namespace."),
    },
)

Struct(
    core.NamespaceSpec,
    "Desired behaviour of a namespace.",
    {"finalizers": Atomic(Str(), "Finalizers run before the namespace is removed.")},
)

Struct(
    core.NamespaceStatus,
    "Observed state of a namespace.",
    {
        "conditions": Conditions(core.NamespaceCondition, "Current conditions."),
        "phase": Str("Active or Terminating."),
    },
)

Struct(
    core.NamespaceCondition,
    "A condition of a namespace.",
    {
        "lastTransitionTime": Time("When the status last changed."),
        "message": Str("Human-readable details."),
        "reason": Str("CamelCase reason."),
        "status": Str("True, False or Unknown.", req=True),
        "type": Str("Condition type.", req=True),
    },
)

# --- Node --------------------------------------------------------------------------------

Kind(
    core.Node,
    "A worker machine pods run on.",
    ("", "v1", "Node"),
    {
        "spec": Ref(core.NodeSpec, "Desired behaviour of the node."),
        "status": Ref(core.NodeStatus, "Most recently observed state of the node."),
    },
)

Struct(
    core.NodeSpec,
    "Desired behaviour of a node.",
    {
        "configSource": Ref(core.NodeConfigSource, "Deprecated dynamic kubelet config."),
        "externalID": Str("Deprecated."),
        "podCIDR": Str("Pod IP range assigned to the node."),
        "podCIDRs": L(Str(), "Pod IP ranges, one per family.", strategy="merge", ltype="set"),
        "providerID": Str("Cloud provider ID, <provider>://<id>."),
        "taints": Atomic(core.Taint, "Taints repelling pods that do not tolerate them."),
        "unschedulable": Bool("Keep new pods off the node."),
    },
)

Struct(
    core.NodeConfigSource,
    "Deprecated source of kubelet configuration.",
    {"configMap": Ref(core.ConfigMapNodeConfigSource, "A ConfigMap holding the config.")},
)

Struct(
    core.ConfigMapNodeConfigSource,
    "A ConfigMap holding kubelet configuration.",
    {
        "kubeletConfigKey": Str("Key holding the configuration.", req=True),
        "name": Str("ConfigMap name.", req=True),
        "namespace": Str("ConfigMap namespace.", req=True),
        "resourceVersion": Str("Observed resourceVersion."),
        "uid": Str("Observed UID."),
    },
)

Struct(
    core.Taint,
    "Marks a node so that pods without a matching toleration are repelled.",
    {
        "effect": Str("NoSchedule, PreferNoSchedule or NoExecute.", req=True),
        "key": Str("Taint key.", req=True),
        "timeAdded": Time("When a NoExecute taint was added."),
        "value": Str("Taint value."),
    },
)

Struct(
    core.NodeStatus,
    "Observed state of a node.",
    {
        "addresses": Keyed(core.NodeAddress, "type", "Addresses of the node."),
        "allocatable": M(Qty(), "Resources available to pods."),
        "capacity": M(Qty(), "Total resources of the node."),
        "conditions": Conditions(core.NodeCondition, "Current conditions, e.g. Ready."),
        "config": Ref(core.NodeConfigStatus, "Deprecated dynamic config status."),
        "daemonEndpoints": Ref(core.NodeDaemonEndpoints, "Ports of daemons on the node."),
        "features": Ref(core.NodeFeatures, "Features the node supports."),
        "images": Atomic(core.ContainerImage, "Images present on the node."),
        "nodeInfo": Ref(core.NodeSystemInfo, "Versions and IDs of the node."),
        "phase": Str("Deprecated."),
        "runtimeHandlers": Atomic(core.NodeRuntimeHandler, "Runtime handlers available."),
        "volumesAttached": Atomic(core.AttachedVolume, "Volumes attached to the node."),
        "volumesInUse": Atomic(Str(), "Volumes in use (mounted) on the node."),
    },
)

Struct(
    core.NodeAddress,
    "One address of a node.",
    {
        "address": Str("The address.", req=True),
        "type": Str("Hostname, InternalIP, ExternalIP, InternalDNS or ExternalDNS.", req=True),
    },
)

Struct(
    core.NodeCondition,
    "A condition of a node.",
    {
        "lastHeartbeatTime": Time("When the condition was last reported."),
        "lastTransitionTime": Time("When the status last changed."),
        "message": Str("Human-readable details."),
        "reason": Str("CamelCase reason."),
        "status": Str("True, False or Unknown.", req=True),
        "type": Str("Ready, MemoryPressure, DiskPressure, PIDPressure, ...", req=True),
    },
)

Struct(
    core.NodeConfigStatus,
    "Deprecated dynamic kubelet config status.",
    {
        "active": Ref(core.NodeConfigSource, "Config in use."),
        "assigned": Ref(core.NodeConfigSource, "Config the node should use."),
        "error": Str("Problems with the config."),
        "lastKnownGood": Ref(core.NodeConfigSource, "Fallback config."),
    },
)

Struct(
    core.NodeDaemonEndpoints,
    "Ports of daemons on a node.",
    {"kubeletEndpoint": Ref(core.DaemonEndpoint, "The kubelet's port.")},
)

Struct(
    core.DaemonEndpoint,
    "A daemon port.",
    {"Port": Int("Port number.", req=True)},
)

Struct(
    core.NodeFeatures,
    "Features a node supports.",
    {"supplementalGroupsPolicy": Bool("Whether supplementalGroupsPolicy is honoured.")},
)

Struct(
    core.ContainerImage,
    "An image present on a node.",
    {
        "names": Atomic(Str(), "Names and digests of the image."),
        "sizeBytes": Int64("Size in bytes."),
    },
)

Struct(
    core.NodeSystemInfo,
    "Versions and identifiers reported by a node.",
    {
        "architecture": Str("CPU architecture.", req=True),
        "bootID": Str("Boot ID.", req=True),
        "containerRuntimeVersion": Str("Runtime and version, e.g. containerd://1.7.", req=True),
        "kernelVersion": Str("Kernel version.", req=True),
        "kubeProxyVersion": Str("Deprecated; unreliable.", req=True),
        "kubeletVersion": Str("Kubelet version.", req=True),
        "machineID": Str("Machine ID.", req=True),
        "operatingSystem": Str("linux or windows.", req=True),
        "osImage": Str("OS image name.", req=True),
        "swap": Ref(core.NodeSwapStatus, "Swap memory of the node."),
        "systemUUID": Str("System UUID.", req=True),
    },
)

Struct(
    core.NodeSwapStatus,
    "Swap memory of a node.",
    {"capacity": Int64("Swap size in bytes.")},
)

Struct(
    core.NodeRuntimeHandler,
    "A runtime handler of a node.",
    {
        "features": Ref(core.NodeRuntimeHandlerFeatures, "Features of the handler."),
        "name": Str("Handler name; empty for the default."),
    },
)

Struct(
    core.NodeRuntimeHandlerFeatures,
    "Features of a runtime handler.",
    {
        "recursiveReadOnlyMounts": Bool("Supports recursive read-only mounts."),
        "userNamespaces": Bool("Supports user namespaces."),
    },
)

Struct(
    core.AttachedVolume,
    "A volume attached to a node.",
    {
        "devicePath": Str("Device path on the node.", req=True),
        "name": Str("Volume name.", req=True),
    },
)

# --- ConfigMap and Secret ----------------------------------------------------------------

Kind(
    core.ConfigMap,
    "Non-confidential configuration as key/value pairs.",
    ("", "v1", "ConfigMap"),
    {
        "binaryData": M(Bytes(), "Binary values, base64-encoded."),
        "data": StrMap("UTF-8 values."),
        "immutable": Bool("When true, data cannot change."),
    },
)

Kind(
    core.Secret,
    "Confidential data as key/value pairs.",
    ("", "v1", "Secret"),
    {
        "data": M(Bytes(), "Values, base64-encoded."),
        "immutable": Bool("When true, data cannot change."),
        "stringData": StrMap("Write-only plain-text values merged into data."),
        "type": Str("Type of the secret, e.g. Opaque or kubernetes.io/tls."),
    },
)

# --- Service and Endpoints -----------------------------------------------------------------

Kind(
    core.Service,
    "A stable virtual IP and DNS name in front of a set of pods.",
    ("", "v1", "Service"),
    {
        "spec": Ref(core.ServiceSpec, "Desired behaviour of the service."),
        "status": Ref(core.ServiceStatus, "Observed state of the service."),
    },
)

Struct(
    core.ServiceSpec,
    "Desired behaviour of a service.",
    {
        "allocateLoadBalancerNodePorts": Bool("Allocate node ports for LoadBalancer services."),
        "clusterIP": Str('Virtual IP; "None" for a headless service.'),
        "clusterIPs": Atomic(Str(), "Virtual IPs, one per family."),
        "externalIPs": Atomic(Str(), "Extra IPs that route to the service."),
        "externalName": Str("DNS name returned for ExternalName services."),
        "externalTrafficPolicy": Str("Cluster or Local."),
        "healthCheckNodePort": Int("Health-check node port for Local traffic policy."),
        "internalTrafficPolicy": Str("Cluster or Local."),
        "ipFamilies": Atomic(Str(), "IPv4 and/or IPv6."),
        "ipFamilyPolicy": Str("SingleStack, PreferDualStack or RequireDualStack."),
        "loadBalancerClass": Str("Load balancer implementation to use."),
        "loadBalancerIP": Str("Deprecated requested load balancer IP."),
        "loadBalancerSourceRanges": Atomic(Str(), "Client CIDRs allowed through."),
        "ports": Keyed(
            core.ServicePort,
            "port",
            "Ports the service exposes.",
            mkeys=("port", "protocol"),
        ),
        "publishNotReadyAddresses": Bool("Include not-ready pods in DNS and endpoints."),
        "selector": StrMap("Pods with these labels receive the traffic."),
        "sessionAffinity": Str("ClientIP or None."),
        "sessionAffinityConfig": Ref(core.SessionAffinityConfig, "Session affinity settings."),
        "trafficDistribution": Str("Preference for routing, e.g. PreferClose."),
        "type": Str("ClusterIP, NodePort, LoadBalancer or ExternalName."),
    },
)

Struct(
    core.ServicePort,
    "A port of a service.",
    {
        "appProtocol": Str("Application protocol hint."),
        "name": Str("Name, required when there are several ports."),
        "nodePort": Int("Port on every node, for NodePort/LoadBalancer."),
        "port": Int("Port the service listens on.", req=True),
        "protocol": Str("TCP (default), UDP or SCTP."),
        "targetPort": IntStr("Pod port number or name; the port by default."),
    },
)

Struct(
    core.SessionAffinityConfig,
    "Session affinity settings.",
    {"clientIP": Ref(core.ClientIPConfig, "ClientIP affinity settings.")},
)

Struct(
    core.ClientIPConfig,
    "ClientIP affinity settings.",
    {"timeoutSeconds": Int("Sticky time; 3 hours by default.")},
)

Struct(
    core.ServiceStatus,
    "Observed state of a service.",
    {
        "conditions": Conditions(meta.Condition, "Current conditions."),
        "loadBalancer": Ref(core.LoadBalancerStatus, "Load balancer, if any."),
    },
)

Struct(
    core.LoadBalancerStatus,
    "State of a load balancer.",
    {"ingress": Atomic(core.LoadBalancerIngress, "Ingress points of the load balancer.")},
)

Struct(
    core.LoadBalancerIngress,
    "An ingress point of a load balancer.",
    {
        "hostname": Str("DNS name."),
        "ip": Str("IP address."),
        "ipMode": Str("VIP or Proxy."),
        "ports": Atomic(core.PortStatus, "Per-port status."),
    },
)

Struct(
    core.PortStatus,
    "Status of one service port.",
    {
        "error": Str("Problem with the port, if any."),
        "port": Int("Port number.", req=True),
        "protocol": Str("TCP, UDP or SCTP.", req=True),
    },
)

Kind(
    core.Endpoints,
    "Addresses and ports backing a service (legacy API; see EndpointSlice).",
    ("", "v1", "Endpoints"),
    {"subsets": Atomic(core.EndpointSubset, "Groups of addresses sharing ports.")},
)

Struct(
    core.EndpointSubset,
    "Addresses that share the same ports.",
    {
        "addresses": Atomic(core.EndpointAddress, "Ready addresses."),
        "notReadyAddresses": Atomic(core.EndpointAddress, "Addresses not ready yet."),
        "ports": Atomic(core.EndpointPort, "Ports of the addresses."),
    },
)

Struct(
    core.EndpointAddress,
    "One endpoint address.",
    {
        "hostname": Str("Hostname of the endpoint."),
        "ip": Str("IP address.", req=True),
        "nodeName": Str("Node hosting the endpoint."),
        "targetRef": Ref(core.ObjectReference, "Object providing the endpoint."),
    },
    map_type="atomic",
)

Struct(
    core.EndpointPort,
    "One endpoint port.",
    {
        "appProtocol": Str("Application protocol hint."),
        "name": Str("Name matching the service port name."),
        "port": Int("Port number.", req=True),
        "protocol": Str("TCP, UDP or SCTP."),
    },
    map_type="atomic",
)

Struct(
    core.ObjectReference,
    "A reference to another object.",
    {
        "apiVersion": Str("API version of the referent."),
        "fieldPath": Str("Path of a piece of the object, e.g. a container."),
        "kind": Str("Kind of the referent."),
        "name": Str("Name of the referent."),
        "namespace": Str("Namespace of the referent."),
        "resourceVersion": Str("Version of the referent the reference was made at."),
        "uid": Str("UID of the referent."),
    },
    map_type="atomic",
)

Struct(
    core.TypedLocalObjectReference,
    "A typed reference to an object in the same namespace.",
    {
        "apiGroup": Str("API group of the referent; core when empty."),
        "kind": Str("Kind of the referent.", req=True),
        "name": Str("Name of the referent.", req=True),
    },
    map_type="atomic",
)

Struct(
    core.TypedObjectReference,
    "A typed reference to an object, possibly in another namespace.",
    {
        "apiGroup": Str("API group of the referent; core when empty."),
        "kind": Str("Kind of the referent.", req=True),
        "name": Str("Name of the referent.", req=True),
        "namespace": Str("Namespace of the referent."),
    },
)

# --- Event -------------------------------------------------------------------------------

Kind(
    core.Event,
    "A report of something that happened to an object.",
    ("", "v1", "Event"),
    {
        "action": Str("What was done, or failed, to the object."),
        "count": Int("How many times the event occurred."),
        "eventTime": MicroTime("When the event first occurred, precisely."),
        "firstTimestamp": Time("When the event was first recorded."),
        "involvedObject": Ref(core.ObjectReference, "The object the event is about.", req=True),
        "lastTimestamp": Time("When the event was most recently recorded."),
        "message": Str("Human-readable description."),
        "reason": Str("Short CamelCase reason."),
        "related": Ref(core.ObjectReference, "A second object involved."),
        "reportingComponent": Str("Controller that emitted the event."),
        "reportingInstance": Str("Instance of that controller."),
        "series": Ref(core.EventSeries, "Data about a series of repeated events."),
        "source": Ref(core.EventSource, "Component reporting the event."),
        "type": Str("Normal or Warning."),
    },
    meta_required=True,
)

Struct(
    core.EventSeries,
    "A series of repeated events.",
    {
        "count": Int("Occurrences so far."),
        "lastObservedTime": MicroTime("Time of the last occurrence."),
    },
)

Struct(
    core.EventSource,
    "The component that reported an event.",
    {
        "component": Str("Component name."),
        "host": Str("Node name."),
    },
)

# --- ServiceAccount and Binding ------------------------------------------------------------

Kind(
    core.ServiceAccount,
    "An identity for processes running in pods.",
    ("", "v1", "ServiceAccount"),
    {
        "automountServiceAccountToken": Bool("Mount a token into pods by default."),
        "imagePullSecrets": Atomic(
            core.LocalObjectReference, "Registry credentials added to pods using this account."
        ),
        "secrets": Keyed(core.ObjectReference, "name", "Secrets pods may use (legacy)."),
    },
)

Kind(
    core.Binding,
    "Binds a pod to a node; posted by schedulers to pods/binding.",
    ("", "v1", "Binding"),
    {"target": Ref(core.ObjectReference, "The node to bind to.", req=True)},
    listable=False,
)

# --- PersistentVolumeClaim -------------------------------------------------------------------

Kind(
    core.PersistentVolumeClaim,
    "A request for storage by a user.",
    ("", "v1", "PersistentVolumeClaim"),
    {
        "spec": Ref(core.PersistentVolumeClaimSpec, "Desired storage."),
        "status": Ref(core.PersistentVolumeClaimStatus, "Observed state of the claim."),
    },
)

Struct(
    core.PersistentVolumeClaimSpec,
    "The storage a claim asks for.",
    {
        "accessModes": Atomic(Str(), "ReadWriteOnce, ReadOnlyMany, ReadWriteMany, ..."),
        "dataSource": Ref(core.TypedLocalObjectReference, "Populate from a snapshot or PVC."),
        "dataSourceRef": Ref(core.TypedObjectReference, "Populate from any populator object."),
        "resources": Ref(core.VolumeResourceRequirements, "Minimum (and maximum) size."),
        "selector": Ref(meta.LabelSelector, "Only bind volumes with these labels."),
        "storageClassName": Str("StorageClass to provision from."),
        "volumeAttributesClassName": Str("VolumeAttributesClass to use."),
        "volumeMode": Str("Filesystem (default) or Block."),
        "volumeName": Str("Bind to this PersistentVolume."),
    },
)

Struct(
    core.VolumeResourceRequirements,
    "Storage size requested and allowed.",
    {
        "limits": M(Qty(), "Maximum amount."),
        "requests": M(Qty(), "Minimum amount, e.g. storage: 10Gi."),
    },
)

Struct(
    core.PersistentVolumeClaimStatus,
    "Observed state of a claim.",
    {
        "accessModes": Atomic(Str(), "Access modes of the bound volume."),
        "allocatedResourceStatuses": StrMap("State of resize operations per resource."),
        "allocatedResources": M(Qty(), "Resources allocated to the claim."),
        "capacity": M(Qty(), "Actual size of the bound volume."),
        "conditions": Conditions(core.PersistentVolumeClaimCondition, "Current conditions."),
        "currentVolumeAttributesClassName": Str("VolumeAttributesClass in effect."),
        "modifyVolumeStatus": Ref(core.ModifyVolumeStatus, "State of a modify operation."),
        "phase": Str("Pending, Bound or Lost."),
    },
)

Struct(
    core.PersistentVolumeClaimCondition,
    "A condition of a claim.",
    {
        "lastProbeTime": Time("When the condition was last probed."),
        "lastTransitionTime": Time("When the status last changed."),
        "message": Str("Human-readable details."),
        "reason": Str("CamelCase reason."),
        "status": Str("True, False or Unknown.", req=True),
        "type": Str("Condition type.", req=True),
    },
)

Struct(
    core.ModifyVolumeStatus,
    "State of a volume modification.",
    {
        "status": Str("Pending, InProgress or Infeasible.", req=True),
        "targetVolumeAttributesClassName": Str("Class being applied."),
    },
)

__all__ = ["core"]
