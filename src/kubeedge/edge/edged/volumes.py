"""A pod's volumes as files on the edge, laid out and updated as kubelet does.

Owns: configMap, secret, downwardAPI, projected (configMap, secret, downwardAPI,
serviceAccountToken), emptyDir and hostPath volumes under
`<pods_dir>/<uid>/volumes/kubernetes.io~<plugin>/<name>` (kubelet's layout); the
AtomicWriter protocol for API-data volumes (pkg/volume/util/atomic_writer.go: a
`..<timestamp>` directory per version, a `..data` symlink swapped by rename, user-visible
names as symlinks into `..data`), so a reader never sees half a update; kubelet's
hostPath type checks (pkg/volume/hostpath); subPath / subPathExpr resolution for a
container's mounts (kubelet_pods.go makeMounts).

Must never: follow a subPath or hostPath outside what it is allowed to reach, read the
edge database (objects come through `ObjectLookup`), or remove anything outside the pod's
own volumes directory.

Not covered: fsGroup ownership changes (SetVolumeOwnership), tmpfs for emptyDir
`medium: Memory` and secrets (a plain directory, with a note), emptyDir `sizeLimit`
(kubelet enforces it by eviction), clusterTrustBundle projections, and every
network/CSI/PVC volume type (refused with a clear error).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import calendar
import contextlib
import logging
import os
import shutil
import stat
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kubeedge.edge.edged.env import (
    ContainerConfigError,
    ObjectLookup,
    container_resource_value,
    expand,
    field_path_value,
    secret_bytes,
)

__all__ = [
    "AtomicWriter",
    "FileProjection",
    "MountedVolume",
    "ObjectLookup",
    "TokenSource",
    "VolumeError",
    "VolumeManager",
]

log = logging.getLogger(__name__)

Obj = dict[str, Any]
# (namespace, service account, TokenRequest) -> the TokenRequest's status (MetaClient's
# get_service_account_token) or the whole TokenRequest.
TokenSource = Callable[[str, str, Obj], Awaitable[Obj]]

# The API server defaults every API-data volume's defaultMode to 0644
# (ConfigMapVolumeSourceDefaultMode, SecretVolumeSourceDefaultMode, ...).
DEFAULT_MODE = 0o644
DATA_DIR = "..data"
_NEW_DATA_DIR = "..data_tmp"

_PLUGIN_DIRS = {
    "configMap": "kubernetes.io~configmap",
    "secret": "kubernetes.io~secret",
    "downwardAPI": "kubernetes.io~downward-api",
    "projected": "kubernetes.io~projected",
    "emptyDir": "kubernetes.io~empty-dir",
}
_API_DATA = ("configMap", "secret", "downwardAPI", "projected")
_SUPPORTED = sorted([*_PLUGIN_DIRS, "hostPath"])
_HOST_PATH_TYPES = ("", "DirectoryOrCreate", "Directory", "FileOrCreate", "File", "Socket",
                    "CharDevice", "BlockDevice")


class VolumeError(Exception):
    """A volume could not be set up; kubelet's FailedMount event reason and message.

    `changed` (refresh only) says whether other volumes were still re-written.
    """

    reason = "FailedMount"

    def __init__(self, message: str, *, changed: bool = False) -> None:
        super().__init__(message)
        self.message = message
        self.changed = changed


@dataclass
class MountedVolume:
    host_path: Path
    read_only: bool
    # Why this volume is not exactly what kubelet would give (e.g. no tmpfs); Edged may
    # show it as a Normal event.
    note: str = ""


@dataclass(frozen=True)
class FileProjection:
    data: bytes
    mode: int


# ----------------------------------------------------------------------- AtomicWriter


def _validate_payload_path(path: str) -> str:
    if not path:
        raise ValueError(f'invalid path: must not be empty: "{path}"')
    if os.path.isabs(path):
        raise ValueError(f"invalid path: must be relative path: {path}")
    if len(path) > 4096:
        raise ValueError("invalid path: must be less than or equal to 4096 characters")
    items = path.split("/")
    for item in items:
        if item == "..":
            raise ValueError(f"invalid path: must not contain '..': {path}")
        if len(item) > 255:
            raise ValueError("invalid path: filenames must be less than or equal to 255 "
                             "characters")
    if items[0].startswith("..") and len(items[0]) > 2:
        raise ValueError(f"invalid path: must not start with '..': {path}")
    return os.path.normpath(path)


class AtomicWriter:
    """Writes a set of files into `target` so that readers see the old set or the new
    one, never a mix (kubelet's AtomicWriter, steps in its Write comment)."""

    def __init__(self, target: Path) -> None:
        self.target = target

    def current_dir(self) -> Path | None:
        try:
            return self.target / os.readlink(self.target / DATA_DIR)
        except FileNotFoundError:
            return None

    def write(self, payload: Mapping[str, FileProjection]) -> bool:
        """Writes `payload` if a file's content (or mode) differs from what `..data`
        shows or a file is gone from it; True if it wrote."""
        clean = {_validate_payload_path(k): v for k, v in payload.items()}
        self.target.mkdir(parents=True, exist_ok=True)
        old = self.current_dir()
        to_remove: set[str] = set()
        if old is not None:
            to_remove = self._paths_to_remove(clean, old)
            if not self._should_write(clean, old) and not to_remove:
                return False
        stamp = time.strftime("..%Y_%m_%d_%H_%M_%S.", time.gmtime())
        ts_dir = Path(tempfile.mkdtemp(prefix=stamp, dir=self.target))
        try:
            os.chmod(ts_dir, 0o755)
            for rel, proj in clean.items():
                full = ts_dir / rel
                full.parent.mkdir(parents=True, exist_ok=True)
                fd = os.open(full, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, proj.mode & 0o7777)
                try:
                    os.write(fd, proj.data)
                    # The mode as asked, whatever the umask (kubelet chmods too).
                    os.fchmod(fd, proj.mode & 0o7777)
                finally:
                    os.close(fd)
            for rel in clean:
                first = rel.split("/", 1)[0]
                visible = self.target / first
                if not os.path.lexists(visible):
                    os.symlink(f"{DATA_DIR}/{first}", visible)
            tmp_link = self.target / _NEW_DATA_DIR
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp_link)
            os.symlink(ts_dir.name, tmp_link)
            os.rename(tmp_link, self.target / DATA_DIR)
        except BaseException:
            shutil.rmtree(ts_dir, ignore_errors=True)
            raise
        for rel in to_remove:
            if "/" not in rel:  # only the top-level symlinks are user-visible
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(self.target / rel)
        if old is not None and old.name != ts_dir.name:
            shutil.rmtree(old, ignore_errors=True)
        return True

    @staticmethod
    def _should_write(payload: Mapping[str, FileProjection], old: Path) -> bool:
        for rel, proj in payload.items():
            path = old / rel
            try:
                if path.read_bytes() != proj.data:
                    return True
                if stat.S_IMODE(path.stat().st_mode) != proj.mode & 0o7777:
                    return True
            except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
                return True
        return False

    @staticmethod
    def _paths_to_remove(payload: Mapping[str, FileProjection], old: Path) -> set[str]:
        present: set[str] = set()
        for dirpath, dirnames, filenames in os.walk(old):
            for name in dirnames + filenames:
                present.add(os.path.relpath(os.path.join(dirpath, name), old))
        wanted: set[str] = set()
        for rel in payload:
            while rel:
                wanted.add(rel)
                rel = os.path.dirname(rel)
        return present - wanted


# ----------------------------------------------------------------------------- payloads


def _mode(value: Any, default: int) -> int:
    return int(value) if isinstance(value, int) and not isinstance(value, bool) else default


def _decode_b64(raw: str) -> bytes:
    try:
        return base64.b64decode(raw, validate=True)
    except (binascii.Error, ValueError):
        return base64.b64decode(raw + "=" * (-len(raw) % 4))


def _configmap_values(cm: Obj) -> dict[str, bytes]:
    values = {k: str(v).encode() for k, v in (cm.get("data") or {}).items()}
    for k, v in (cm.get("binaryData") or {}).items():
        values.setdefault(k, _decode_b64(str(v)))
    return values


def _secret_values(secret: Obj) -> dict[str, bytes]:
    return {k: secret_bytes(secret, k) or b"" for k in secret.get("data") or {}}


def _make_payload(items: Sequence[Obj] | None, values: Mapping[str, bytes],
                  default_mode: int, optional: bool, missing: str) -> dict[str, FileProjection]:
    """configmap/secret MakePayload: every key by default, else only the listed keys
    at their paths (a missing key is an error unless optional)."""
    if not items:
        return {k: FileProjection(v, default_mode) for k, v in values.items()}
    payload: dict[str, FileProjection] = {}
    for item in items:
        key = str(item.get("key") or "")
        if key not in values:
            if optional:
                continue
            raise ValueError(f"{missing}: {key}")
        payload[str(item.get("path") or key)] = FileProjection(
            values[key], _mode(item.get("mode"), default_mode))
    return payload


def _aggregate(errors: list[str]) -> str:
    # utilerrors.NewAggregate's text: one error as is, several in brackets.
    return errors[0] if len(errors) == 1 else "[" + ", ".join(errors) + "]"


def _find_container(pod: Obj, name: str) -> Obj:
    spec = pod.get("spec") or {}
    for c in (spec.get("containers") or []) + (spec.get("initContainers") or []):
        if c.get("name") == name:
            return c
    raise ValueError(f"container {name} not found")


def _rfc3339(value: str) -> float | None:
    try:
        return float(calendar.timegm(time.strptime(value.replace("Z", "+0000")[:19],
                                                   "%Y-%m-%dT%H:%M:%S")))
    except (ValueError, TypeError):
        return None


@dataclass
class _Token:
    token: str
    issued: float
    expires: float
    ttl: float


class VolumeManager:
    """Materialises a pod's volumes and keeps API-data volumes current.

    `allowed_host_paths` are the host directories hostPath volumes may use (a path must
    be one of them or below one, after `..` and symlinks are resolved). `token_source`
    serves projected serviceAccountToken sources (MetaClient.get_service_account_token);
    without it such a volume fails to mount with a clear message. `allocatable` (a
    mapping or a function returning one) is the node's allocatable, the limit
    resourceFieldRef shows for a container without one. `now` is the wall clock, for
    token refresh.
    """

    def __init__(self, pods_dir: Path, lookup: ObjectLookup, *,
                 allowed_host_paths: Sequence[str], node_name: str,
                 token_source: TokenSource | None = None,
                 allocatable: Mapping[str, Any] | Callable[[], Mapping[str, Any]] | None = None,
                 now: Callable[[], float] = time.time) -> None:
        self.pods_dir = Path(pods_dir)
        self.lookup = lookup
        self.allowed_host_paths = [os.path.normpath(p) for p in allowed_host_paths]
        self.node_name = node_name
        self.token_source = token_source
        self._allocatable = allocatable
        self._now = now
        self._tokens: dict[tuple[str, str, str], _Token] = {}
        self._locks: dict[str, asyncio.Lock] = {}

    # ------------------------------------------------------------------ public surface

    def volume_dir(self, pod_uid: str, plugin: str, name: str) -> Path:
        return self.pods_dir / pod_uid / "volumes" / _PLUGIN_DIRS[plugin] / name

    async def mount(self, pod: Obj) -> dict[str, MountedVolume]:
        """Every volume of the pod set up (idempotent: an unchanged volume is left as
        it is). Raises VolumeError naming each volume that failed, after trying all."""
        async with self._lock(pod):
            mounted: dict[str, MountedVolume] = {}
            errors: list[str] = []
            for vol in (pod.get("spec") or {}).get("volumes") or []:
                name = str(vol.get("name") or "")
                try:
                    mounted[name], _ = await self._set_up(pod, vol)
                except VolumeError as e:
                    errors.append(e.message)
            if errors:
                raise VolumeError("; ".join(errors))
            return mounted

    async def refresh(self, pod: Obj) -> bool:
        """configMap, secret, downwardAPI and projected volumes re-written (atomically)
        where their content changed; True if any did. A volume that cannot be had now
        keeps its last content and is reported in a VolumeError raised after the others
        were refreshed (kubelet keeps the old files too)."""
        async with self._lock(pod):
            changed = False
            errors: list[str] = []
            for vol in (pod.get("spec") or {}).get("volumes") or []:
                if _volume_type(vol) not in _API_DATA:
                    continue
                try:
                    _, did = await self._set_up(pod, vol)
                except VolumeError as e:
                    errors.append(e.message)
                    continue
                changed = changed or did
            if errors:
                raise VolumeError("; ".join(errors), changed=changed)
            return changed

    def container_mounts(self, pod: Obj, container: Obj, mounted: dict[str, MountedVolume],
                         *, env: Iterable[tuple[str, str]] | Mapping[str, str] | None = None,
                         ) -> list[tuple[Path, str, bool]]:
        """(host path, container path, read-only) for each volumeMount (makeMounts).

        subPath (or subPathExpr expanded with the container's `env`) is created as a
        directory when missing, and resolved through symlinks, so a subPath of a
        configMap volume is the file of the current version, as kubelet's bind mount of
        it is (and, like there, does not follow later updates). Errors are kubelet's
        CreateContainerConfigError.
        """
        cname = container.get("name")
        env_map = dict(env.items() if isinstance(env, Mapping) else (env or []))
        result: list[tuple[Path, str, bool]] = []
        for m in container.get("volumeMounts") or []:
            vname = str(m.get("name") or "")
            vol = mounted.get(vname)
            if vol is None:
                raise ContainerConfigError(
                    f'cannot find volume "{vname}" to mount into container "{cname}"')
            host = vol.host_path
            sub = str(m.get("subPath") or "")
            if m.get("subPathExpr"):
                missing: set[str] = set()

                def value(key: str, missing: set[str] = missing) -> str:
                    got = env_map.get(key, "")
                    if not got:
                        missing.add(key)
                    return got

                sub = expand(str(m["subPathExpr"]), value)
                if missing:
                    raise ContainerConfigError(
                        f"missing value for {', '.join(sorted(missing))}")
            if sub:
                host = self._sub_path(host, sub, vname, str(cname))
            container_path = str(m.get("mountPath") or "")
            if not container_path.startswith("/"):
                container_path = "/" + container_path
            result.append((host, container_path, bool(m.get("readOnly")) or vol.read_only))
        return result

    def unmount(self, pod_uid: str) -> None:
        """Removes the pod's volumes directory (never a hostPath's target: those are not
        under it) and forgets its tokens."""
        pod_dir = self.pods_dir / pod_uid
        shutil.rmtree(pod_dir / "volumes", ignore_errors=True)
        with contextlib.suppress(OSError):
            pod_dir.rmdir()  # only if nothing else of the pod is left there
        for key in [k for k in self._tokens if k[0] == pod_uid]:
            del self._tokens[key]
        self._locks.pop(pod_uid, None)

    # ---------------------------------------------------------------------- internals

    def _lock(self, pod: Obj) -> asyncio.Lock:
        uid = str((pod.get("metadata") or {}).get("uid") or "")
        return self._locks.setdefault(uid, asyncio.Lock())

    def _node_allocatable(self) -> Mapping[str, Any] | None:
        a = self._allocatable
        return a() if callable(a) else a

    def _sub_path(self, volume_path: Path, sub: str, vname: str, cname: str) -> Path:
        if os.path.isabs(sub):
            raise ContainerConfigError(f"error SubPath `{sub}` must not be an absolute path")
        if ".." in sub.split("/"):
            raise ContainerConfigError(
                f"unable to provision SubPath `{sub}`: must not contain '..'")
        target = volume_path / sub
        if not os.path.lexists(target):
            try:
                mode = stat.S_IMODE(volume_path.stat().st_mode)
                target.mkdir(parents=True, exist_ok=True)
                os.chmod(target, mode)
            except OSError as e:
                raise ContainerConfigError(
                    f'failed to create subPath directory for volumeMount "{vname}" of '
                    f'container "{cname}"') from e
        real = os.path.realpath(target)
        base = os.path.realpath(volume_path)
        if real != base and not real.startswith(base.rstrip("/") + "/"):
            raise ContainerConfigError(f'subpath "{real}" not within volume path "{base}"')
        return Path(real)

    async def _set_up(self, pod: Obj, vol: Obj) -> tuple[MountedVolume, bool]:
        name = str(vol.get("name") or "")
        kind = _volume_type(vol)
        try:
            if kind == "hostPath":
                return self._host_path(vol["hostPath"]), False
            if kind not in _PLUGIN_DIRS:
                raise ValueError(
                    f'no volume plugin matched: volume type "{kind}" is not supported on '
                    f"this edge (supported: {', '.join(_SUPPORTED)})")
            uid = str((pod.get("metadata") or {}).get("uid") or "")
            if not uid:
                raise ValueError("pod has no metadata.uid")
            target = self.volume_dir(uid, kind, name)
            self._make_dirs(target, kind)
            if kind == "emptyDir":
                return self._empty_dir(vol.get("emptyDir") or {}, target), False
            payload = await self._payload(pod, kind, vol.get(kind) or {}, name)
            changed = AtomicWriter(target).write(payload)
            return MountedVolume(target, read_only=True), changed
        except (ValueError, OSError, ContainerConfigError) as e:
            raise VolumeError(f'MountVolume.SetUp failed for volume "{name}" : {e}') from e

    def _make_dirs(self, target: Path, kind: str) -> None:
        # 0755 down to the volume: the process runtime has no bind mounts, so a container
        # running as another user reaches the files through these directories.
        self.pods_dir.mkdir(parents=True, exist_ok=True)
        for parent in reversed(target.parents):
            if self.pods_dir in parent.parents and not parent.is_dir():
                parent.mkdir(exist_ok=True)
                os.chmod(parent, 0o755)
        if not target.is_dir():
            target.mkdir(exist_ok=True)
            # kubelet makes an emptyDir 0777 so a container of any user can write to it.
            # API-data volumes are read-only to containers: 0755, so no local user can
            # swap their ..data link (their parents are not 0750 as kubelet's are).
            os.chmod(target, 0o777 if kind == "emptyDir" else 0o755)

    def _empty_dir(self, src: Obj, target: Path) -> MountedVolume:
        medium = str(src.get("medium") or "")
        note = ""
        if medium == "Memory":
            note = ("emptyDir medium Memory is a plain directory on this edge (no tmpfs): "
                    "its files use disk, not memory")
        elif medium.startswith("HugePages"):
            note = f"emptyDir medium {medium} is a plain directory on this edge"
        if src.get("sizeLimit"):
            extra = f"sizeLimit {src['sizeLimit']} is not enforced on this edge"
            note = f"{note}; {extra}" if note else extra
        return MountedVolume(target, read_only=False, note=note)

    def _host_path(self, src: Obj) -> MountedVolume:
        path = str(src.get("path") or "")
        kind = str(src.get("type") or "")
        if not path or not os.path.isabs(path):
            raise ValueError(f'hostPath "{path}" must be an absolute path')
        clean = os.path.normpath(path)
        real = os.path.realpath(clean)
        if not (self._allowed(clean) and self._allowed(real)):
            roots = ", ".join(self.allowed_host_paths) or "none: hostPath volumes are disabled"
            shown = clean if real == clean else f"{clean} (resolves to {real})"
            raise ValueError(f'hostPath "{shown}" is not allowed on this edge; allowed '
                             f"host paths: {roots}")
        _check_host_path_type(clean, kind)
        return MountedVolume(Path(clean), read_only=False)

    def _allowed(self, path: str) -> bool:
        for root in self.allowed_host_paths:
            for candidate in {root, os.path.realpath(root)}:
                if candidate == "/" or path == candidate or path.startswith(candidate + "/"):
                    return True
        return False

    async def _payload(self, pod: Obj, kind: str, src: Obj,
                       volume: str) -> dict[str, FileProjection]:
        namespace = str((pod.get("metadata") or {}).get("namespace") or "default")
        default_mode = _mode(src.get("defaultMode"), DEFAULT_MODE)
        if kind == "configMap":
            return await self._configmap_payload(namespace, src, default_mode)
        if kind == "secret":
            return await self._secret_payload(namespace, src, src.get("secretName"),
                                              default_mode)
        if kind == "downwardAPI":
            return self._downward_payload(pod, src.get("items") or [], default_mode)
        # projected: every source merged; errors gathered as kubelet's collectData does.
        payload: dict[str, FileProjection] = {}
        errors: list[str] = []
        for source in src.get("sources") or []:
            try:
                if source.get("configMap") is not None:
                    part = await self._configmap_payload(namespace, source["configMap"],
                                                         default_mode)
                elif source.get("secret") is not None:
                    part = await self._secret_payload(namespace, source["secret"],
                                                      source["secret"].get("name"),
                                                      default_mode)
                elif source.get("downwardAPI") is not None:
                    part = self._downward_payload(
                        pod, source["downwardAPI"].get("items") or [], default_mode)
                elif source.get("serviceAccountToken") is not None:
                    part = await self._token_payload(pod, volume,
                                                     source["serviceAccountToken"],
                                                     default_mode)
                else:
                    kinds = ", ".join(k for k, v in source.items() if v is not None)
                    raise ValueError(f"projected source {kinds or '{}'} is not supported "
                                     "on this edge")
            except ValueError as e:
                errors.append(str(e))
                continue
            payload.update(part)
        if errors:
            raise ValueError(_aggregate(errors))
        return payload

    async def _get(self, kind: str, namespace: str, name: str) -> Obj | None:
        getter = self.lookup.get_configmap if kind == "configmap" else self.lookup.get_secret
        try:
            return await getter(namespace, name)
        except Exception as e:  # offline and never cached: kubelet reports the GET error
            raise ValueError(f"couldn't get {kind} {namespace}/{name}: {e}") from e

    async def _configmap_payload(self, namespace: str, src: Obj,
                                 default_mode: int) -> dict[str, FileProjection]:
        name = str(src.get("name") or "")
        optional = bool(src.get("optional"))
        cm = await self._get("configmap", namespace, name)
        if cm is None:
            if not optional:
                raise ValueError(f'configmap "{name}" not found')
            cm = {}
        return _make_payload(src.get("items"), _configmap_values(cm), default_mode, optional,
                             "configmap references non-existent config key")

    async def _secret_payload(self, namespace: str, src: Obj, name: Any,
                              default_mode: int) -> dict[str, FileProjection]:
        name = str(name or "")
        optional = bool(src.get("optional"))
        secret = await self._get("secret", namespace, name)
        if secret is None:
            if not optional:
                raise ValueError(f'secret "{name}" not found')
            secret = {}
        return _make_payload(src.get("items"), _secret_values(secret), default_mode, optional,
                             "references non-existent secret key")

    def _downward_payload(self, pod: Obj, items: Sequence[Obj],
                          default_mode: int) -> dict[str, FileProjection]:
        """downwardapi.CollectData: metadata fields and container resources."""
        payload: dict[str, FileProjection] = {}
        errors: list[str] = []
        for item in items:
            path = os.path.normpath(str(item.get("path") or ""))
            mode = _mode(item.get("mode"), default_mode)
            data = b""
            try:
                if item.get("fieldRef") is not None:
                    data = field_path_value(pod, str(item["fieldRef"].get("fieldPath"))).encode()
                elif item.get("resourceFieldRef") is not None:
                    ref = item["resourceFieldRef"]
                    container = _find_container(pod, str(ref.get("containerName") or ""))
                    data = container_resource_value(ref, container,
                                                    self._node_allocatable()).encode()
            except ValueError as e:
                errors.append(str(e))
            payload[path] = FileProjection(data, mode)
        if errors:
            raise ValueError(_aggregate(errors))
        return payload

    async def _token_payload(self, pod: Obj, volume: str, src: Obj,
                             default_mode: int) -> dict[str, FileProjection]:
        path = str(src.get("path") or "")
        if self.token_source is None:
            raise ValueError(f'serviceAccountToken projection "{path}" is not available on '
                             "this edge: no token source is configured")
        meta = pod.get("metadata") or {}
        uid = str(meta.get("uid") or "")
        key = (uid, volume, path)
        ttl = float(src.get("expirationSeconds") or 3600)
        now = self._now()
        cached = self._tokens.get(key)
        # kubelet's token manager (pkg/kubelet/token): renew past 80% of the lifetime or
        # after 24 hours, whichever is first.
        if cached is None or now > cached.expires - 0.2 * cached.ttl \
                or now > cached.issued + 24 * 3600:
            request: Obj = {
                "apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest",
                "spec": {
                    "audiences": [src["audience"]] if src.get("audience") else [],
                    "expirationSeconds": int(ttl),
                    "boundObjectRef": {"apiVersion": "v1", "kind": "Pod",
                                       "name": meta.get("name"), "uid": uid},
                },
            }
            sa = str((pod.get("spec") or {}).get("serviceAccountName") or "default")
            namespace = str(meta.get("namespace") or "default")
            try:
                got = await self.token_source(namespace, sa, request)
            except Exception as e:
                raise ValueError(f"failed to fetch token: {e}") from e
            status = got.get("status", got) if isinstance(got, dict) else {}
            token = str(status.get("token") or "")
            if not token:
                raise ValueError("failed to fetch token: the token request returned no token")
            expires = _rfc3339(str(status.get("expirationTimestamp") or "")) or now + ttl
            cached = _Token(token, now, expires, ttl)
            self._tokens[key] = cached
        return {path: FileProjection(cached.token.encode(), default_mode)}


def _volume_type(vol: Obj) -> str:
    for key, value in vol.items():
        if key != "name" and value is not None:
            return key
    return "emptyDir"  # the API defaults a volume without a source to emptyDir


def _file_type(path: str) -> str:
    st = os.stat(path)
    mode = st.st_mode
    if stat.S_ISDIR(mode):
        return "Directory"
    if stat.S_ISREG(mode):
        return "File"
    if stat.S_ISSOCK(mode):
        return "Socket"
    if stat.S_ISCHR(mode):
        return "CharDevice"
    if stat.S_ISBLK(mode):
        return "BlockDevice"
    raise ValueError("only recognise file, directory, socket, block device and character "
                     "device")


def _check_host_path_type(path: str, kind: str) -> None:
    """pkg/volume/hostpath checkType, with its messages."""
    if kind not in _HOST_PATH_TYPES:
        raise ValueError(f"{kind} is an invalid volume type")
    if kind == "":
        return
    if kind == "DirectoryOrCreate" and not os.path.exists(path):
        os.makedirs(path, mode=0o755, exist_ok=True)
        return
    if kind == "FileOrCreate" and not os.path.exists(path):
        fd = os.open(path, os.O_CREAT | os.O_WRONLY, 0o644)
        os.close(fd)
        return
    expected = {"DirectoryOrCreate": "Directory", "FileOrCreate": "File"}.get(kind, kind)
    described = {"Directory": "directory", "File": "file", "Socket": "socket file",
                 "CharDevice": "character device", "BlockDevice": "block device"}[expected]
    if not os.path.exists(path):
        raise ValueError(f"hostPath {path} doesn't exist")
    try:
        actual = _file_type(path)
    except (OSError, ValueError) as e:
        raise ValueError(f"hostPath type check failed, {path} is not a {described}, unable "
                         f"to determine its type: {e}") from e
    if actual != expected:
        raise ValueError(f"hostPath type check failed: {path} is not a {described}, "
                         f"it's a {actual}")
