"""`vcctl`: Volcano's command line, `queue` and `job` commands (specs/volcano.md §5).

Thin: parse vcctl's flags, talk to the API server as the kubeconfig's user
(`--kubeconfig`, else $KUBECONFIG, else ~/.kube/config), print vcctl's tables. Opening
and closing a queue, suspending and resuming a job create a `bus.volcano.sh` Command for
the queue or job controller, as vcctl does; every error says what went wrong and exits
non-zero.
"""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, NoReturn

import click
import yaml

from kubeedge.api import meta
from kubeedge.api.defaults import parse_quantity
from kubeedge.client.errors import APIConnectionError, APIError
from kubeedge.client.kubeconfig import KubeconfigError
from kubeedge.client.resources import ResourceRef
from kubeedge.client.rest import APIClient
from kubeedge.controllers.volcano_crds import COMMANDS, JOBS, QUEUES

EVENTS = ResourceRef("", "v1", "events", True, "Event")

# vcctl creates queue Commands in this namespace (Queues are cluster-scoped).
COMMAND_NAMESPACE = "default"

QUEUE_COLUMNS = ("Name", "Weight", "State", "Parent", "Inqueue", "Pending", "Running",
                 "Unknown", "Completed")
ACTIONS = {"open": "OpenQueue", "close": "CloseQueue"}


def _fail(message: str) -> NoReturn:
    click.echo(f"Error: {message}", err=True)
    sys.exit(1)


def _run(kubeconfig: str | None, work: Callable[[APIClient], Awaitable[None]]) -> None:
    async def main() -> None:
        async with APIClient(kubeconfig or None, user_agent="vcctl") as client:
            await work(client)

    try:
        asyncio.run(main())
    except APIError as exc:
        _fail(exc.message or str(exc))
    except (KubeconfigError, FileNotFoundError) as exc:
        _fail(str(exc))
    except (APIConnectionError, ConnectionError, TimeoutError) as exc:
        _fail(f"cannot reach the API server: {exc}")


def format_queues(queues: list[dict[str, Any]]) -> str:
    """vcctl's queue table: the name in 25 columns, every other field in 8."""
    widths = (25,) + (8,) * (len(QUEUE_COLUMNS) - 1)

    def row(values: tuple[object, ...]) -> str:
        return "".join(f"{v!s:<{w}}" for v, w in zip(values, widths, strict=True)) + "\n"

    out = [row(QUEUE_COLUMNS)]
    for queue in queues:
        spec = queue.get("spec") or {}
        status = queue.get("status") or {}
        out.append(row((
            (queue.get("metadata") or {}).get("name", ""),
            spec.get("weight", 0),
            status.get("state", ""),
            spec.get("parent", ""),
            status.get("inqueue", 0),
            status.get("pending", 0),
            status.get("running", 0),
            status.get("unknown", 0),
            status.get("completed", 0),
        )))
    return "".join(out)


def _kubeconfig_option(f: Callable[..., Any]) -> Callable[..., Any]:
    return click.option("-k", "--kubeconfig", default=None, envvar="KUBECONFIG",
                        help="Path to the kubeconfig (default $KUBECONFIG, then "
                             "~/.kube/config).")(f)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def main() -> None:
    """vcctl: the command line of Volcano."""


@main.group()
def queue() -> None:
    """Operations on queues."""


@queue.command()
@click.option("-n", "--name", default="test", show_default=True, help="the name of queue")
@click.option("-w", "--weight", type=int, default=1, show_default=True,
              help="the weight of the queue")
@click.option("-S", "--state", default="Open", show_default=True, help="the state of queue")
@_kubeconfig_option
def create(name: str, weight: int, state: str, kubeconfig: str | None) -> None:
    """Create a queue."""
    if state not in ("Open", "Closed"):
        _fail(f"state {state!r} invalid, valid states are Open and Closed")

    async def work(client: APIClient) -> None:
        created = await client.create(QUEUES, {"metadata": {"name": name},
                                               "spec": {"weight": weight}})
        # A new queue starts Open (status is the controller's); ask it to close.
        if state == "Closed":
            await _command(client, created, "CloseQueue")

    _run(kubeconfig, work)


@queue.command()
@click.option("-n", "--name", default="", help="the name of queue")
@_kubeconfig_option
def delete(name: str, kubeconfig: str | None) -> None:
    """Delete a queue."""
    if not name:
        _fail("queue name must be specified")

    async def work(client: APIClient) -> None:
        await client.delete(QUEUES, name)

    _run(kubeconfig, work)


@queue.command()
@click.option("-n", "--name", default="", help="the name of queue")
@click.option("-w", "--weight", type=int, default=0, help="the weight of the queue")
@click.option("-a", "--action", default="",
              help="operate action to queue, valid actions are open, close, update")
@_kubeconfig_option
def operate(name: str, weight: int, action: str, kubeconfig: str | None) -> None:
    """Open, close or update a queue."""
    if not name:
        _fail("queue name must be specified")
    if not action:
        _fail("action can not be null")
    if action == "update":
        if weight <= 0:
            _fail(f"when update queue {name}, weight must be specified, "
                  "the value must be greater than 0")

        async def update(client: APIClient) -> None:
            await client.patch(QUEUES, name, {"spec": {"weight": weight}})

        _run(kubeconfig, update)
        return
    if action not in ACTIONS:
        _fail(f"action {action} invalid, valid actions are open, close and update")

    async def work(client: APIClient) -> None:
        await _command(client, await client.get(QUEUES, name), ACTIONS[action])

    _run(kubeconfig, work)


@queue.command(name="list")
@_kubeconfig_option
def list_(kubeconfig: str | None) -> None:
    """List all queues."""

    async def work(client: APIClient) -> None:
        queues = (await client.list(QUEUES))["items"]
        if not queues:
            click.echo("No resources found")
            return
        queues.sort(key=lambda q: (q.get("metadata") or {}).get("name", ""))
        click.echo(format_queues(queues), nl=False)

    _run(kubeconfig, work)


@queue.command()
@click.option("-n", "--name", default="", help="the name of queue")
@_kubeconfig_option
def get(name: str, kubeconfig: str | None) -> None:
    """Get a queue."""
    if not name:
        _fail("queue name must be specified")

    async def work(client: APIClient) -> None:
        click.echo(format_queues([await client.get(QUEUES, name)]), nl=False)

    _run(kubeconfig, work)


async def _command(client: APIClient, queue: dict[str, Any], action: str) -> None:
    """A Command asking the queue controller to act on `queue`, owned by the queue."""
    md = queue.get("metadata") or {}
    ref = {"apiVersion": QUEUES.api_version, "kind": QUEUES.kind, "name": md.get("name"),
           "uid": md.get("uid"), "controller": True, "blockOwnerDeletion": True}
    await client.create(COMMANDS, {
        "metadata": {"generateName": f"{md.get('name')}-{action.lower()}-",
                     "ownerReferences": [ref]},
        "target": ref,
        "action": action,
    }, COMMAND_NAMESPACE)


# --- vcctl job ----------------------------------------------------------------------------

# The label vcctl's `run` puts on the pods of the job it builds.
RUN_LABEL = "job.volcano.sh"
JOB_TYPE_LABEL = "volcano.sh/job-type"
JOB_COLUMNS = ("Name", "Creation", "Phase", "JobType", "Replicas", "Min", "Pending",
               "Running", "Succeeded", "Failed", "Unknown", "RetryCount")
# vcctl's column widths after the name: Creation 15, Phase 12, JobType 12, Replicas 12,
# Min 6, Pending 10, Running 10, Succeeded 12, Failed 10, Unknown 12, RetryCount 10.
JOB_WIDTHS = (15, 12, 12, 12, 6, 10, 10, 12, 10, 12, 10)


def parse_resources(spec: str, flag: str) -> dict[str, str]:
    """vcctl's `cpu=1000m,memory=100Mi` resource lists (empty: none)."""
    out: dict[str, str] = {}
    if not spec:
        return out
    for statement in spec.split(","):
        parts = statement.split("=")
        if len(parts) != 2:
            raise click.UsageError(f"{flag}: invalid argument syntax {statement}, expected "
                                   "<resource>=<value>")
        if parse_quantity(parts[1]) is None:
            raise click.UsageError(f"{flag}: quantity {parts[1]!r} of {parts[0]} is invalid "
                                   "(e.g. 500m, 1, 100Mi, 2Gi)")
        out[parts[0]] = parts[1]
    return out


def read_job_file(filename: str) -> dict[str, Any]:
    if ".yaml" not in filename and ".yml" not in filename:
        raise click.UsageError(f"-f {filename}: only support yaml file")
    try:
        text = Path(filename).read_text()
    except OSError as exc:
        raise click.UsageError(f"failed to read file, err: {exc}") from None
    try:
        job = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise click.UsageError(f"failed to unmarshal file, err: {exc}") from None
    if not isinstance(job, dict):
        raise click.UsageError(f"failed to unmarshal file, err: {filename} holds no Job "
                               "object")
    return job


def run_job(name: str, namespace: str, image: str, min_available: int, replicas: int,
            requests: dict[str, str], limits: dict[str, str], scheduler: str) -> dict[str, Any]:
    """The one-task Job `vcctl job run` builds from its flags."""
    container: dict[str, Any] = {"name": name, "image": image,
                                 "imagePullPolicy": "IfNotPresent", "resources": {}}
    if limits:
        container["resources"]["limits"] = limits
    if requests:
        container["resources"]["requests"] = requests
    return {
        "apiVersion": JOBS.api_version, "kind": JOBS.kind,
        "metadata": {"name": name, "namespace": namespace},
        "spec": {
            "minAvailable": min_available,
            "schedulerName": scheduler,
            "tasks": [{
                "replicas": replicas,
                "template": {
                    "metadata": {"name": name, "labels": {RUN_LABEL: name}},
                    "spec": {"restartPolicy": "Never", "containers": [container]},
                },
            }],
        },
    }


def _local_date(stamp: Any) -> str:
    moment = meta.parse_time(stamp)
    return moment.astimezone().strftime("%Y-%m-%d") if moment else ""


def format_jobs(jobs: list[dict[str, Any]], all_namespaces: bool) -> str:
    """vcctl's job table: the name (and namespace) as wide as the longest plus 3."""
    name_width = max([len("Name")] + [len(meta.name_of(j)) for j in jobs]) + 3
    ns_width = max([len("Namespace")] + [len(meta.namespace_of(j)) for j in jobs]) + 3

    def row(namespace: str, values: tuple[object, ...]) -> str:
        cells = f"{values[0]!s:<{name_width}}" + "".join(
            f"{v!s:<{w}}" for v, w in zip(values[1:], JOB_WIDTHS, strict=True))
        return (f"{namespace:<{ns_width}}" if all_namespaces else "") + cells + "\n"

    out = [row("Namespace", JOB_COLUMNS)]
    for job in jobs:
        spec = job.get("spec") or {}
        status = job.get("status") or {}
        replicas = sum(int(t.get("replicas") or 0) for t in spec.get("tasks") or [])
        out.append(row(meta.namespace_of(job), (
            meta.name_of(job),
            _local_date((job.get("metadata") or {}).get("creationTimestamp")),
            (status.get("state") or {}).get("phase", ""),
            meta.labels_of(job).get(JOB_TYPE_LABEL) or "Batch",
            replicas,
            status.get("minAvailable", 0),
            status.get("pending", 0),
            status.get("running", 0),
            status.get("succeeded", 0),
            status.get("failed", 0),
            status.get("unknown", 0),
            status.get("retryCount", 0),
        )))
    return "".join(out)


def _go_time(stamp: Any) -> str:
    """A timestamp the way Go prints a metav1.Time."""
    moment = meta.parse_time(stamp)
    if moment is None:
        return "0001-01-01 00:00:00 +0000 UTC"
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S +0000 UTC")


def human_duration(seconds: float) -> str:
    """kubectl's short durations (`45s`, `3m20s`, `5h`, `2d3h`)."""
    s = int(seconds)
    if s < -1:
        return "<invalid>"
    if s < 0:
        return "0s"
    if s < 120:
        return f"{s}s"
    minutes = s // 60
    if minutes < 10:
        return f"{minutes}m{s % 60}s" if s % 60 else f"{minutes}m"
    if minutes < 180:
        return f"{minutes}m"
    hours = minutes // 60
    if hours < 8:
        return f"{hours}h{minutes % 60}m" if minutes % 60 else f"{hours}h"
    if hours < 48:
        return f"{hours}h"
    if hours < 24 * 8:
        return f"{hours // 24}d{hours % 24}h" if hours % 24 else f"{hours // 24}d"
    if hours < 24 * 365 * 2:
        return f"{hours // 24}d"
    if hours < 24 * 365 * 8:
        return f"{hours // 24 // 365}y{(hours // 24) % 365}d"
    return f"{hours // 24 // 365}y"


def _quantity(resources: dict[str, Any], name: str) -> str:
    return str((resources or {}).get(name) or "0")


def format_job_view(job: dict[str, Any], events: list[dict[str, Any]]) -> str:
    """vcctl's `job view`: a describe-style tree of the Job, then its events."""
    lines: list[str] = []

    def line(level: int, text: str) -> None:
        lines.append("  " * level + text)

    md = job.get("metadata") or {}
    spec = job.get("spec") or {}
    status = job.get("status") or {}
    line(0, f"Name:       \t{md.get('name', '')}")
    line(0, f"Namespace:  \t{md.get('namespace', '')}")
    labels, annotations = md.get("labels") or {}, md.get("annotations") or {}
    line(0, "Labels:     \t" + (json.dumps(labels, separators=(",", ":"), sort_keys=True)
                               if labels else "<none>"))
    line(0, "Annotations:\t" + (json.dumps(annotations, separators=(",", ":"),
                                           sort_keys=True) if annotations else "<none>"))
    line(0, f"API Version:\t{job.get('apiVersion', JOBS.api_version)}")
    line(0, f"Kind:       \t{job.get('kind', JOBS.kind)}")
    line(0, "Metadata:")
    line(1, f"Creation Timestamp:\t{_go_time(md.get('creationTimestamp'))}")
    line(1, f"Generate Name:     \t{md.get('generateName', '')}")
    line(1, f"Generation:        \t{md.get('generation', 0)}")
    line(1, f"Resource Version:  \t{md.get('resourceVersion', '')}")
    line(1, f"UID:               \t{md.get('uid', '')}")
    line(0, "Spec:")
    line(1, f"Min Available:     \t{spec.get('minAvailable', 0)}")
    line(1, "Plugins:")
    plugins = spec.get("plugins") or {}
    for plugin in sorted(plugins):
        line(2, f"{plugin.capitalize()}:\t[{' '.join(plugins[plugin] or [])}]")
    line(1, f"Scheduler Name:    \t{spec.get('schedulerName', '')}")
    line(1, "Tasks:")
    for i, task in enumerate(spec.get("tasks") or []):
        template = task.get("template") or {}
        pod_spec = template.get("spec") or {}
        line(2, f"Name:\t{task.get('name') or f'default{i}'}")
        line(2, f"Replicas:\t{task.get('replicas', 0)}")
        line(2, "Template:")
        line(3, "Spec:")
        line(4, "Containers:")
        for container in pod_spec.get("containers") or []:
            line(5, "Command:")
            for arg in container.get("command") or []:
                line(6, str(arg))
            line(5, f"Image:\t{container.get('image', '')}")
            line(5, f"Name: \t{container.get('name', '')}")
            line(5, "Ports:")
            for port in container.get("ports") or []:
                line(6, f"Container Port:\t{port.get('containerPort', 0)}")
                line(6, f"Name:          \t{port.get('name', '')}")
            resources = container.get("resources") or {}
            line(5, "Resources:")
            for kind in ("limits", "requests"):
                line(6, f"{kind.capitalize()}:")
                line(7, f"Cpu:   \t{_quantity(resources.get(kind) or {}, 'cpu')}")
                line(7, f"Memory:\t{_quantity(resources.get(kind) or {}, 'memory')}")
            line(6, f"Working Dir:\t{container.get('workingDir', '')}")
        line(4, "Image Pull Secrets:")
        for secret in pod_spec.get("imagePullSecrets") or []:
            line(5, f"Name:     \t{secret.get('name', '')}")
        line(4, f"Restart Policy:   \t{pod_spec.get('restartPolicy', '')}")
    line(0, "Status:")
    for field, label in (("succeeded", "Succeeded:    "), ("pending", "Pending:      "),
                         ("running", "Running:      "), ("failed", "Failed:       "),
                         ("terminating", "Terminating:  "), ("unknown", "Unknown:      "),
                         ("retryCount", "RetryCount:   "), ("minAvailable", "Min Available:"),
                         ("version", "Version:      ")):
        if int(status.get(field) or 0) > 0:
            line(1, f"{label}\t{status[field]}")
    line(1, "State:")
    line(2, f"Phase:\t{(status.get('state') or {}).get('phase', '')}")
    controlled = status.get("controlledResources") or {}
    if controlled:
        line(1, "Controlled Resources:")
        for key in sorted(controlled):
            line(2, f"{key}: \t{controlled[key]}")
    conditions = status.get("conditions") or []
    if conditions:
        line(1, "Conditions:\n    Status\tTransitionTime")
        for cond in conditions:
            line(2, f"{cond.get('status', '')} \t{_go_time(cond.get('lastTransitionTime'))} ")
    if not events:
        line(0, "Events: \t<none>")
        return "\n".join(lines) + "\n"
    line(0, f"Events:\n{'Type':<15}\t{'Reason':<40}\t{'Age':<30}\t{'Form':<40}\tMessage")
    line(0, f"{'-------':<15}\t{'-------':<40}\t{'-------':<30}\t{'-------':<40}\t-------")
    now = datetime.now(UTC)
    for event in events:
        first = meta.parse_time(event.get("firstTimestamp") or event.get("eventTime"))
        last = meta.parse_time(event.get("lastTimestamp")) or first
        count = int(event.get("count") or 1)
        age = human_duration((now - last).total_seconds()) if last else "<unknown>"
        if count > 1 and first:
            age = f"{age} (x{count} over {human_duration((now - first).total_seconds())})"
        source = event.get("source") or {}
        origin = ", ".join(p for p in (source.get("component"), source.get("host")) if p)
        line(0, f"{event.get('type', ''):<15}\t{event.get('reason', ''):<40}\t{age:<30}\t"
                f"{origin:<40}\t{str(event.get('message', '')).strip()}")
    return "\n".join(lines) + "\n"


def _name_option(f: Callable[..., Any]) -> Callable[..., Any]:
    return click.option("-N", "--name", default="", help="the name of job")(f)


def _namespace_option(f: Callable[..., Any]) -> Callable[..., Any]:
    return click.option("-n", "--namespace", default="default", show_default=True,
                        help="the namespace of job")(f)


@main.group()
def job() -> None:
    """Operations on Volcano jobs."""


@job.command(name="run")
@_name_option
@click.option("-n", "--namespace", default=None,
              help="the namespace of job  [default: the file's, else default]")
@click.option("-i", "--image", default="busybox", show_default=True,
              help="the container image of job")
@click.option("-m", "--min", "min_available", type=int, default=1, show_default=True,
              help="the minimal available tasks of job")
@click.option("-r", "--replicas", type=int, default=1, show_default=True,
              help="the total tasks of job")
@click.option("-R", "--requests", default="cpu=1000m,memory=100Mi", show_default=True,
              help="the resource request of the task")
@click.option("-L", "--limits", default="cpu=1000m,memory=100Mi", show_default=True,
              help="the resource limit of the task")
@click.option("-S", "--scheduler", default="volcano", show_default=True,
              help="the scheduler for this job")
@click.option("-f", "--filename", default="", help="the yaml file of job")
@_kubeconfig_option
def job_run(name: str, namespace: str | None, image: str, min_available: int, replicas: int,
            requests: str, limits: str, scheduler: str, filename: str,
            kubeconfig: str | None) -> None:
    """Run a job."""
    if not name and not filename:
        _fail("job name cannot be left blank (give --name/-N, or a job file with -f)")
    try:
        want_requests = parse_resources(requests, "--requests/-R")
        want_limits = parse_resources(limits, "--limits/-L")
        body = read_job_file(filename) if filename else None
    except click.UsageError as exc:
        _fail(exc.message)
    if body is None:
        body = run_job(name, namespace or "default", image, min_available, replicas,
                       want_requests, want_limits, scheduler)
    ns = namespace or (body.get("metadata") or {}).get("namespace") or "default"

    async def work(client: APIClient) -> None:
        created = await client.create(JOBS, body, ns)
        click.echo(f"run job {meta.name_of(created)} successfully")

    _run(kubeconfig, work)


@job.command(name="list")
@_namespace_option
@click.option("--all-namespaces", "all_namespaces", is_flag=True,
              help="list jobs in all namespaces")
@click.option("-q", "--queue", default="", help="list job with specified queue name")
@click.option("-S", "--scheduler", default="", help="list job with specified scheduler name")
@click.option("--selector", default="", help="fuzzy matching jobName")
@_kubeconfig_option
def job_list(namespace: str, all_namespaces: bool, queue: str, scheduler: str, selector: str,
             kubeconfig: str | None) -> None:
    """List jobs."""

    async def work(client: APIClient) -> None:
        items = (await client.list(JOBS, None if all_namespaces else namespace))["items"]

        def wanted(j: dict[str, Any]) -> bool:
            spec = j.get("spec") or {}
            return ((not queue or spec.get("queue") == queue)
                    and (not scheduler or spec.get("schedulerName") == scheduler)
                    and selector in meta.name_of(j))

        jobs = [j for j in items if wanted(j)]
        if not jobs:
            click.echo("No resources found")
            return
        click.echo(format_jobs(jobs, all_namespaces), nl=False)

    _run(kubeconfig, work)


@job.command(name="view")
@_name_option
@_namespace_option
@_kubeconfig_option
def job_view(name: str, namespace: str, kubeconfig: str | None) -> None:
    """Show the details of a job."""
    if not name:
        _fail("job name (specified by --name or -N) is mandatory to view a particular job")

    async def work(client: APIClient) -> None:
        found = await client.get(JOBS, name, namespace)
        try:
            events = [e for e in (await client.list(EVENTS, namespace))["items"]
                      if meta.name_of(e).startswith(f"{name}.")]
        except APIError as exc:
            click.echo(f"Failed to list events: {exc.message or exc}", err=True)
            events = []
        events.sort(key=lambda e: str(e.get("lastTimestamp") or e.get("eventTime") or ""))
        click.echo(format_job_view(found, events), nl=False)

    _run(kubeconfig, work)


def _job_command(name: str, namespace: str, kubeconfig: str | None, action: str) -> None:
    async def work(client: APIClient) -> None:
        target = await client.get(JOBS, name, namespace)
        md = target.get("metadata") or {}
        ref = {"apiVersion": JOBS.api_version, "kind": JOBS.kind, "name": md.get("name"),
               "uid": md.get("uid"), "controller": True, "blockOwnerDeletion": True}
        await client.create(COMMANDS, {
            "metadata": {"generateName": f"{md.get('name')}-{action.lower()}-",
                         "ownerReferences": [ref]},
            "target": ref,
            "action": action,
        }, namespace)

    _run(kubeconfig, work)


@job.command(name="suspend")
@_name_option
@_namespace_option
@_kubeconfig_option
def job_suspend(name: str, namespace: str, kubeconfig: str | None) -> None:
    """Abort a job (its pods are deleted; resume brings it back)."""
    if not name:
        _fail("job name is mandatory to suspend a particular job")
    _job_command(name, namespace, kubeconfig, "AbortJob")


@job.command(name="resume")
@_name_option
@_namespace_option
@_kubeconfig_option
def job_resume(name: str, namespace: str, kubeconfig: str | None) -> None:
    """Resume a suspended job."""
    if not name:
        _fail("job name is mandatory to resume a particular job")
    _job_command(name, namespace, kubeconfig, "ResumeJob")


@job.command(name="delete")
@_name_option
@_namespace_option
@_kubeconfig_option
def job_delete(name: str, namespace: str, kubeconfig: str | None) -> None:
    """Delete a job."""
    if not name:
        _fail("job name is mandatory to delete a particular job")

    async def work(client: APIClient) -> None:
        await client.delete(JOBS, name, namespace)
        click.echo(f"delete job {name} successfully")

    _run(kubeconfig, work)


if __name__ == "__main__":
    main()
