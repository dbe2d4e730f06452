"""Images for the process runtime: an image name resolves to host programs through a
table, since there is no image to pull.

An entry says what the image would run (its ENTRYPOINT and CMD) and which host
executables stand in for the programs it ships: `busybox` runs its applets through the
host's busybox when there is one, else the host's own `sh`/coreutils of that name;
`python`/`python3` run the host's Python 3; `sh` is the host shell. The pod's
`command`/`args` combine with the entry as Kubernetes combines them with an image
(command replaces ENTRYPOINT and drops CMD; args alone replace CMD).

A reference is normalised the way Docker's does: registry host, `library/`, tag and
digest stripped, so `docker.io/library/busybox:1.36` and `busybox@sha256:…` are both
`busybox`. Extra entries come from the runtime's constructor (Edged's configuration).
"""

from __future__ import annotations

import os
import re
import shutil
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from kubeedge.edge.runtime import ImageError, ImageRef

__all__ = ["DEFAULT_PATH", "ImageEntry", "ImageTable", "default_entries", "host_python",
           "normalize"]

# containerd's default PATH for an image that sets none.
DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

# Docker's reference grammar, simplified (distribution/reference): lowercase path
# components separated by / with ., _, __ or - inside; an optional :tag and @digest.
_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_REFERENCE = re.compile(
    rf"^(?:(?P<host>[a-zA-Z0-9.-]+(?::[0-9]+)?)/)?"
    rf"(?P<path>{_COMPONENT}(?:/{_COMPONENT})*)"
    r"(?::(?P<tag>[\w][\w.-]{0,127}))?"
    r"(?:@(?P<digest>[a-z0-9]+(?:[+._-][a-z0-9]+)*:[0-9a-fA-F]{32,}))?$")


def normalize(image: str) -> str:
    """The table key for an image reference; InvalidImageName when it does not parse."""
    m = _REFERENCE.match(image.strip()) if image else None
    if m is None or image != image.strip():
        raise ImageError(f'Failed to apply default image tag "{image}": couldn\'t parse image '
                         f"name \"{image}\": invalid reference format",
                         reason="InvalidImageName")
    host, path = m.group("host"), m.group("path")
    # A first component is a registry host only if it looks like one (Docker's rule).
    if host is not None and not ("." in host or ":" in host or host == "localhost"):
        if host != host.lower():
            raise ImageError(f'couldn\'t parse image name "{image}": repository name '
                             "must be lowercase", reason="InvalidImageName")
        path = f"{host}/{path}"
    if path.startswith("library/"):
        path = path[len("library/"):]
    return path


def host_python() -> str:
    """The host's Python 3: the interpreter edgecore runs on (with the packages the
    edge installed, e.g. the `training` extra's torch and NumPy that training pods
    import), else /usr/bin/python3."""
    for candidate in (sys.executable, "/usr/bin/python3"):
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    return "python3"


@dataclass(frozen=True)
class ImageEntry:
    """What an image means to the process runtime.

    `programs` maps a program name the image ships (argv[0]'s basename) to the host
    executable standing in for it; `applet_runner`, when set, runs any other name as
    `<runner> <name> args...` (busybox's multi-call binary). `env` is the image's ENV.
    """

    entrypoint: tuple[str, ...] = ()
    cmd: tuple[str, ...] = ()
    programs: Mapping[str, str] = field(default_factory=dict)
    applet_runner: str = ""
    env: Mapping[str, str] = field(default_factory=dict)


def default_entries() -> dict[str, ImageEntry]:
    busybox = shutil.which("busybox") or ""
    py = host_python()
    return {
        # Docker's busybox: no ENTRYPOINT, CMD ["sh"].
        "busybox": ImageEntry(cmd=("sh",), applet_runner=busybox),
        # Docker's python images: CMD ["python3"].
        "python": ImageEntry(cmd=("python3",), programs={"python": py, "python3": py}),
        "python3": ImageEntry(cmd=("python3",), programs={"python": py, "python3": py}),
        "sh": ImageEntry(cmd=("sh",)),
    }


class ImageTable:
    """Resolves images to entries and a container's command to a host argv."""

    def __init__(self, extra: Mapping[str, ImageEntry] | None = None) -> None:
        self.entries = default_entries()
        for name, entry in (extra or {}).items():
            self.entries[normalize(name)] = entry

    def lookup(self, image: str) -> ImageEntry | None:
        return self.entries.get(normalize(image))

    def pull(self, image: str) -> ImageRef:
        key = normalize(image)
        entry = self.entries.get(key)
        if entry is None:
            raise ImageError(self._unknown(image))
        return ImageRef(image=image, ref=f"process://{key}", entrypoint=entry.entrypoint,
                        cmd=entry.cmd)

    def _unknown(self, image: str) -> str:
        return (f'image "{image}" is not in the process runtime\'s image table (known: '
                f"{', '.join(sorted(self.entries))}); give the container a command or add "
                "an entry to the table")

    def argv(self, image: str, command: Sequence[str], args: Sequence[str],
             path: str = DEFAULT_PATH) -> list[str]:
        """The host argv for a container (Kubernetes' command/args rules over the
        image's ENTRYPOINT/CMD), programs mapped to host executables.

        An image outside the table is fine when the container has a command (it runs
        on the host as given); without one there is nothing to run: ErrImagePull.
        """
        entry = self.lookup(image)
        if entry is None:
            if not command:
                raise ImageError(self._unknown(image))
            entry = ImageEntry()
        if command:
            argv = [*command, *args]
        elif args:
            argv = [*entry.entrypoint, *args]
        else:
            argv = [*entry.entrypoint, *entry.cmd]
        if not argv:
            from kubeedge.edge.runtime import CreateContainerError
            raise CreateContainerError(f'image "{image}": no command specified')
        return self.map_program(entry, argv, path)

    def map_program(self, entry: ImageEntry, argv: list[str],
                    path: str = DEFAULT_PATH) -> list[str]:
        name = os.path.basename(argv[0])
        if name in entry.programs:
            return [entry.programs[name], *argv[1:]]
        if entry.applet_runner and "/" not in argv[0]:
            return [entry.applet_runner, name, *argv[1:]]
        if entry.applet_runner and shutil.which(argv[0], path=path) is None:
            # /bin/sleep inside a busybox image is the sleep applet.
            return [entry.applet_runner, name, *argv[1:]]
        return argv

    def env(self, image: str) -> dict[str, str]:
        entry = self.lookup(image)
        return dict(entry.env) if entry else {}
