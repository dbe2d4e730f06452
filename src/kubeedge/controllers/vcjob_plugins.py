"""The job plugins of Volcano's vcjob controller (specs/volcano.md §1.3): `env`, `svc`,
`ssh`, `tensorflow`, `pytorch` and `mpi`, as Volcano's pkg/controllers/job/plugins
define them.

A plugin is built from the Job's `spec.plugins[name]` arguments (parsed with Go's `flag`
rules, as Volcano does), changes each pod about to be created (`on_pod_create`) and, for
`ssh`, describes the object it needs (the Secret `<job>-ssh`). Everything here is pure
except the ssh key pair, which is random; `vcjob.py` does the I/O (creating and deleting
the svc plugin's Service and ConfigMap and the ssh Secret). This module sits below
`vcjob.py`, so the Job's naming (defaulted tasks, pod names, host names) lives here.

Not built: the `ray` and `hcclrank` plugins (admission accepts them; they change
nothing), the svc plugin's arguments.
"""

from __future__ import annotations

import base64
import copy
import dataclasses
import json
import logging
from collections.abc import Callable, Sequence
from typing import Any, ClassVar, Protocol

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from kubeedge.api.goflags import FlagError, FlagValue, parse_flags
from kubeedge.api.volcano import MPI_FLAGS

__all__ = [
    "PLUGIN_ORDER",
    "EnvPlugin",
    "JobPlugin",
    "MPIPlugin",
    "PluginArgumentError",
    "PyTorchPlugin",
    "SSHPlugin",
    "SvcPlugin",
    "TensorFlowPlugin",
    "domain_name",
    "generate_key_pair",
    "job_plugins",
    "on_pod_create",
    "parse_flags",
    "pod_name",
    "task_hosts",
    "tasks_of",
]

log = logging.getLogger(__name__)

Obj = dict[str, Any]

SVC_MOUNT = "/etc/volcano"
SSH_KEY_PATH = "/root/.ssh"
SSH_SUBPATH = ".ssh"
SSH_KEYS = ("id_rsa", "id_rsa.pub", "authorized_keys", "config")
SSH_KEY_BITS = 2048


# --- the Job's shape ----------------------------------------------------------------------

def tasks_of(job: Obj) -> list[Obj]:
    """The Job's tasks with the webhook's defaults (name `default<i>`, minAvailable =
    replicas)."""
    out = []
    for i, task in enumerate((job.get("spec") or {}).get("tasks") or []):
        task = dict(task)
        task["name"] = task.get("name") or f"default{i}"
        task["replicas"] = int(task.get("replicas") or 0)
        if task.get("minAvailable") is None:
            task["minAvailable"] = task["replicas"]
        out.append(task)
    return out


def pod_name(job_name: str, task: str, index: int) -> str:
    return f"{job_name}-{task}-{index}"


def _job_name(job: Obj) -> str:
    return str((job.get("metadata") or {}).get("name") or "")


def _template_spec(task: Obj) -> Obj:
    return (task.get("template") or {}).get("spec") or {}


def domain_name(job: Obj, task: Obj, index: int) -> str:
    """`<hostname>.<subdomain>` of a task's pod: the template's hostname and subdomain
    when set, else the pod's name under the Job's headless Service (Volcano's
    MakeDomainName)."""
    spec = _template_spec(task)
    host = spec.get("hostname") or pod_name(_job_name(job), task["name"], index)
    return f"{host}.{spec.get('subdomain') or _job_name(job)}"


def task_hosts(job: Obj) -> dict[str, list[str]]:
    """Per task, the DNS names of its pods behind the headless Service `<job>` (the svc
    plugin's hosts)."""
    name = _job_name(job)
    return {t["name"]: [f"{pod_name(name, t['name'], i)}.{name}" for i in range(t["replicas"])]
            for t in tasks_of(job)}


def _task(job: Obj, name: str) -> Obj | None:
    return next((t for t in tasks_of(job) if t["name"] == name), None)


# --- arguments: Go's flag package (api/goflags), as every Volcano plugin parses them --------

# A plugin argument with a value its flag cannot take (`--port=abc`).
PluginArgumentError = FlagError


def _port(plugin: str, value: FlagValue) -> int:
    """A container port: Volcano would write any number into the pod, which the API
    server then refuses; saying so up front names the plugin and the flag."""
    port = int(value)
    if not 0 < port < 65536:
        raise PluginArgumentError(
            f"plugin {plugin}: invalid value \"{port}\" for flag -port: "
            "must be a port number between 1 and 65535")
    return port


# --- pod helpers ---------------------------------------------------------------------------

def _containers(pod: Obj, *, init: bool) -> list[Obj]:
    spec = pod.setdefault("spec", {})
    kinds = ("initContainers", "containers") if init else ("containers",)
    return [c for kind in kinds for c in spec.get(kind) or []]


def _add_env(container: Obj, env: list[Obj]) -> None:
    container.setdefault("env", []).extend(copy.deepcopy(env))


def _open_port(container: Obj, port: int, name: str) -> None:
    """A named container port unless the container already exposes that number."""
    ports = container.setdefault("ports", [])
    if not any(int(p.get("containerPort") or 0) == port for p in ports):
        ports.append({"name": name, "containerPort": port})


# --- the plugins ---------------------------------------------------------------------------

class JobPlugin(Protocol):
    name: ClassVar[str]

    def on_pod_create(self, job: Obj, task: Obj, index: int, pod: Obj) -> None:
        """Change `pod` (of `task`, at `index`), about to be created for `job`."""


@dataclasses.dataclass(frozen=True)
class EnvPlugin:
    """`VK_TASK_INDEX` and `VC_TASK_INDEX` in every container and init container."""

    name: ClassVar[str] = "env"

    @classmethod
    def from_args(cls, args: Sequence[Any]) -> EnvPlugin:
        return cls()

    def on_pod_create(self, job: Obj, task: Obj, index: int, pod: Obj) -> None:
        env = [{"name": "VK_TASK_INDEX", "value": str(index)},
               {"name": "VC_TASK_INDEX", "value": str(index)}]
        for container in _containers(pod, init=True):
            _add_env(container, env)


@dataclasses.dataclass(frozen=True)
class SvcPlugin:
    """Hostname = pod name and subdomain = the Job (so the headless Service `<job>` gives
    each pod a DNS name), `VC_<TASK>_HOSTS` / `VC_<TASK>_NUM`, and the ConfigMap
    `<job>-svc` (the hosts of each task) mounted at /etc/volcano."""

    name: ClassVar[str] = "svc"

    @classmethod
    def from_args(cls, args: Sequence[Any]) -> SvcPlugin:
        return cls()

    def on_pod_create(self, job: Obj, task: Obj, index: int, pod: Obj) -> None:
        job_name = _job_name(job)
        spec = pod.setdefault("spec", {})
        if not spec.get("hostname"):
            spec["hostname"] = (pod.get("metadata") or {}).get("name")
        if not spec.get("subdomain"):
            spec["subdomain"] = job_name
        env: list[Obj] = []
        for task_name, hosts in task_hosts(job).items():
            key = task_name.upper().replace("-", "_")
            env += [{"name": f"VC_{key}_HOSTS", "value": ",".join(hosts)},
                    {"name": f"VC_{key}_NUM", "value": str(len(hosts))}]
        volume = f"{job_name}-svc"
        spec.setdefault("volumes", []).append({"name": volume, "configMap": {"name": volume}})
        for container in _containers(pod, init=True):
            _add_env(container, env)
            container.setdefault("volumeMounts", []).append(
                {"name": volume, "mountPath": SVC_MOUNT})


@dataclasses.dataclass(frozen=True)
class SSHPlugin:
    """The Secret `<job>-ssh` (a key pair, `authorized_keys` and an ssh `config` naming
    every pod of the Job) mounted at `--ssh-key-file-path` in every container."""

    name: ClassVar[str] = "ssh"
    key_path: str = SSH_KEY_PATH
    private_key: str = ""
    public_key: str = ""
    port: int = 22

    @classmethod
    def from_args(cls, args: Sequence[Any]) -> SSHPlugin:
        flags = parse_flags(cls.name, args, {"ssh-key-file-path": SSH_KEY_PATH,
                                             "ssh-private-key": "", "ssh-public-key": "",
                                             "ssh-port": 22})
        port = int(flags["ssh-port"])
        if not 0 < port < 65536:
            # Volcano falls back to the default port rather than failing the Job.
            log.warning("plugin ssh: invalid ssh port %d, falling back to 22", port)
            port = 22
        return cls(key_path=str(flags["ssh-key-file-path"]),
                   private_key=str(flags["ssh-private-key"]),
                   public_key=str(flags["ssh-public-key"]), port=port)

    @staticmethod
    def secret_name(job: Obj) -> str:
        return f"{_job_name(job)}-ssh"

    def config(self, job: Obj) -> str:
        """The ssh client config: no host key checks, one `Host` per pod (one per task
        whose template names a hostname, as all its pods share it)."""
        lines = ["StrictHostKeyChecking no", "UserKnownHostsFile /dev/null"]
        for task in tasks_of(job):
            fixed = _template_spec(task).get("hostname")
            for i in range(task["replicas"]):
                host = fixed or pod_name(_job_name(job), task["name"], i)
                lines += [f"Host {host}", f"  HostName {domain_name(job, task, i)}",
                          f"  Port {self.port}"]
                if fixed:
                    break
        return "\n".join(lines) + "\n"

    def secret(self, job: Obj, owner: Obj,
               keys: Callable[[], tuple[str, str]] | None = None) -> Obj:
        """The Secret for `job`, owned by it (`owner`: its controller reference). Keys
        given as arguments are used as they are; otherwise `keys()` (default
        `generate_key_pair`) makes a pair. The private key is only ever in here."""
        if self.private_key:
            private, public = self.private_key, self.public_key
        else:
            private, public = (keys or generate_key_pair)()
        data = {"id_rsa": private, "id_rsa.pub": public, "authorized_keys": public,
                "config": self.config(job)}
        return {"apiVersion": "v1", "kind": "Secret",
                "metadata": {"name": self.secret_name(job),
                             "namespace": (job.get("metadata") or {}).get("namespace") or "",
                             "ownerReferences": [owner]},
                "type": "Opaque",
                "data": {k: base64.b64encode(v.encode()).decode() for k, v in data.items()}}

    def on_pod_create(self, job: Obj, task: Obj, index: int, pod: Obj) -> None:
        secret = self.secret_name(job)
        # Keys readable by their owner only, as sshd insists; a non-root key path is
        # read by another user, so Volcano widens it to 0644 there.
        mode = 0o600 if self.key_path == SSH_KEY_PATH else 0o644
        pod.setdefault("spec", {}).setdefault("volumes", []).append({
            "name": secret,
            "secret": {"secretName": secret, "defaultMode": mode,
                       "items": [{"key": k, "path": f"{SSH_SUBPATH}/{k}"} for k in SSH_KEYS]},
        })
        for container in _containers(pod, init=True):
            container.setdefault("volumeMounts", []).append(
                {"name": secret, "mountPath": self.key_path, "subPath": SSH_SUBPATH})


def generate_key_pair(bits: int = SSH_KEY_BITS) -> tuple[str, str]:
    """A new RSA key pair: the private key as PKCS#1 PEM, the public key in
    authorized_keys form (`ssh-rsa AAAA…` and a newline), as Volcano writes them."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=bits)
    private = key.private_bytes(serialization.Encoding.PEM,
                                serialization.PrivateFormat.TraditionalOpenSSL,
                                serialization.NoEncryption()).decode()
    public = key.public_key().public_bytes(serialization.Encoding.OpenSSH,
                                           serialization.PublicFormat.OpenSSH).decode()
    return private, public + "\n"


@dataclasses.dataclass(frozen=True)
class TensorFlowPlugin:
    """`TF_CONFIG` in every container: the cluster (ps, worker, chief and evaluator
    tasks, hosts `<pod>.<job>:<port>`) and the pod's own role and index. A Job of one
    task with one replica is stand-alone and gets none. No container port is added."""

    name: ClassVar[str] = "tensorflow"
    ps: str = "ps"
    worker: str = "worker"
    chief: str = "chief"
    evaluator: str = "evaluator"
    port: int = 2222

    @classmethod
    def from_args(cls, args: Sequence[Any]) -> TensorFlowPlugin:
        flags = parse_flags(cls.name, args, {"ps": "ps", "worker": "worker", "chief": "chief",
                                             "evaluator": "evaluator", "port": 2222})
        return cls(ps=str(flags["ps"]), worker=str(flags["worker"]),
                   chief=str(flags["chief"]), evaluator=str(flags["evaluator"]),
                   port=_port(cls.name, flags["port"]))

    def role(self, task_name: str) -> str:
        for role, name in (("chief", self.chief), ("worker", self.worker), ("ps", self.ps),
                           ("evaluator", self.evaluator)):
            if task_name == name:
                return role
        return task_name

    def tf_config(self, job: Obj, task_name: str, index: int) -> Obj:
        cluster: dict[str, list[str]] = {}
        hosts: dict[str, list[str]] = {}
        for task in tasks_of(job):
            for role, name in (("ps", self.ps), ("worker", self.worker),
                               ("chief", self.chief), ("evaluator", self.evaluator)):
                if task["name"] == name:
                    hosts[role] = [f"{domain_name(job, task, i)}:{self.port}"
                                   for i in range(task["replicas"])]
                    break
        # Roles in TensorFlow's order, empty ones left out (as Volcano's JSON does).
        for role in ("ps", "worker", "chief", "evaluator"):
            if hosts.get(role):
                cluster[role] = hosts[role]
        return {"cluster": cluster, "task": {"type": self.role(task_name), "index": index}}

    def on_pod_create(self, job: Obj, task: Obj, index: int, pod: Obj) -> None:
        tasks = tasks_of(job)
        if len(tasks) == 1 and tasks[0]["replicas"] == 1:
            return
        value = json.dumps(self.tf_config(job, task["name"], index),
                           separators=(",", ":"))
        for container in _containers(pod, init=False):
            _add_env(container, [{"name": "TF_CONFIG", "value": value}])


@dataclasses.dataclass(frozen=True)
class PyTorchPlugin:
    """`MASTER_ADDR` (the master task's first pod), `MASTER_PORT`, `WORLD_SIZE` (master
    and worker replicas) in every container, `RANK` (master 0, worker i → i+1), the
    port `pytorchjob-port`; with `--wait-master-enabled`, workers wait for the master's
    port in an init container."""

    name: ClassVar[str] = "pytorch"
    master: str = "master"
    worker: str = "worker"
    port: int = 23456
    wait_master: bool = False
    wait_master_timeout: int = 300
    wait_master_image: str = "busybox:1.36.1"

    @classmethod
    def from_args(cls, args: Sequence[Any]) -> PyTorchPlugin:
        flags = parse_flags(cls.name, args, {
            "master": "master", "worker": "worker", "port": 23456,
            "wait-master-enabled": False, "wait-master-timeout": 300,
            "wait-master-image": "busybox:1.36.1"})
        return cls(master=str(flags["master"]), worker=str(flags["worker"]),
                   port=_port(cls.name, flags["port"]),
                   wait_master=bool(flags["wait-master-enabled"]),
                   wait_master_timeout=int(flags["wait-master-timeout"]),
                   wait_master_image=str(flags["wait-master-image"]))

    def master_addr(self, job: Obj) -> str | None:
        master = _task(job, self.master)
        return domain_name(job, master, 0) if master is not None else None

    def world_size(self, job: Obj) -> int:
        return sum(t["replicas"] for t in tasks_of(job) if t["name"] in (self.master,
                                                                         self.worker))

    def rank(self, task_name: str, index: int) -> int | None:
        if task_name == self.worker:
            return index + 1
        if task_name == self.master:
            return 0
        return None

    def on_pod_create(self, job: Obj, task: Obj, index: int, pod: Obj) -> None:
        addr = self.master_addr(job)
        if addr is None:
            log.warning("job %s has no task %s (pytorch plugin's master)", _job_name(job),
                        self.master)
            return
        env = [{"name": "MASTER_ADDR", "value": addr},
               {"name": "MASTER_PORT", "value": str(self.port)},
               {"name": "WORLD_SIZE", "value": str(self.world_size(job))}]
        rank = self.rank(task["name"], index)
        if rank is not None:
            env.append({"name": "RANK", "value": str(rank)})
        if task["name"] == self.worker and self.wait_master:
            self._wait_for_master(pod, addr)
        for container in _containers(pod, init=False):
            _open_port(container, self.port, "pytorchjob-port")
            _add_env(container, env)

    def _wait_for_master(self, pod: Obj, addr: str) -> None:
        init = pod.setdefault("spec", {}).setdefault("initContainers", [])
        if any(c.get("name") == "wait-for-master" for c in init):
            return
        script = (
            f"deadline=$(( $(date +%s) + {self.wait_master_timeout} ))\n"
            f"until nc -z {addr} {self.port} 2>/dev/null; do\n"
            f"  if [ $(date +%s) -ge $deadline ]; then\n"
            f"    echo \"master {addr}:{self.port} not reachable after "
            f"{self.wait_master_timeout}s\"; exit 1\n"
            f"  fi\n"
            f"  sleep 2\n"
            f"done\n")
        init.append({"name": "wait-for-master", "image": self.wait_master_image,
                     "command": ["sh", "-c", script]})


@dataclasses.dataclass(frozen=True)
class MPIPlugin:
    """`MPI_HOST` (the worker task's hosts, comma-separated) in the master's containers
    and init containers, and the ssh port `mpijob-port` in every container. Needs the
    ssh plugin (admission adds it)."""

    name: ClassVar[str] = "mpi"
    master: str = "master"
    worker: str = "worker"
    port: int = 22

    @classmethod
    def from_args(cls, args: Sequence[Any]) -> MPIPlugin:
        flags = parse_flags(cls.name, args, MPI_FLAGS)
        return cls(master=str(flags["master"]), worker=str(flags["worker"]),
                   port=_port(cls.name, flags["port"]))

    def worker_hosts(self, job: Obj) -> str | None:
        """The worker task's hosts, or None without one. A template naming a hostname
        gives one host (its pods all carry it)."""
        worker = _task(job, self.worker)
        if worker is None:
            return None
        if _template_spec(worker).get("hostname"):
            return domain_name(job, worker, 0) if worker["replicas"] else ""
        return ",".join(domain_name(job, worker, i) for i in range(worker["replicas"]))

    def on_pod_create(self, job: Obj, task: Obj, index: int, pod: Obj) -> None:
        env: list[Obj] = []
        if task["name"] == self.master:
            hosts = self.worker_hosts(job)
            if hosts is None:
                return  # Volcano leaves a master without workers alone, ports too
            env = [{"name": "MPI_HOST", "value": hosts}]
        for container in _containers(pod, init=True):
            _open_port(container, self.port, "mpijob-port")
            if env:
                _add_env(container, env)


# Volcano runs a Job's plugins in Go map order (random); a fixed order keeps the pods
# we create the same on every sync.
PLUGIN_ORDER: tuple[type[Any], ...] = (EnvPlugin, SvcPlugin, SSHPlugin, TensorFlowPlugin,
                                       PyTorchPlugin, MPIPlugin)
_BUILDERS = {cls.name: cls for cls in PLUGIN_ORDER}


def job_plugins(job: Obj) -> list[JobPlugin]:
    """The Job's plugins built from their arguments, in PLUGIN_ORDER; names not built
    here (ray, hcclrank) are skipped. Raises PluginArgumentError for a bad value."""
    named = (job.get("spec") or {}).get("plugins") or {}
    out: list[JobPlugin] = []
    for cls in PLUGIN_ORDER:
        if cls.name in named:
            out.append(cls.from_args(list(named[cls.name] or [])))
    return out


def on_pod_create(job: Obj, task: Obj, index: int, pod: Obj,
                  plugins: Sequence[JobPlugin] | None = None) -> None:
    """Every plugin of the Job changes `pod` (Volcano's pluginOnPodCreate)."""
    for plugin in job_plugins(job) if plugins is None else plugins:
        plugin.on_pod_create(job, task, index, pod)
