"""EdgeHub's certificate manager: bootstrap at start, rotation before expiry.

Owns when the edge gets or renews its certificate (specs/kubeedge.md §4 "Edge
bootstrap", "Rotation"; KubeEdge's edgehub/certificate/certmanager.go): at start, if
there is no usable certificate (missing, mismatched key, CN not `system:node:<node>`, or
expired), bootstrap from the token (`edgeHub.token`, else
`etc/kubeedge/bootstrap-edgecore.conf` under the root); then, when rotation is on,
sleep until a random 70-90% of the certificate's lifetime and renew over mTLS, backing
off `certRotationBackoffBase` x 2^n for `certRotationBackoffSteps` tries, then every
`certRotationBackoffCap` seconds. Each renewal calls `on_rotated` (EdgeHub reconnects).

The protocol and file work is `kubeedge.edge.certs` (blocking urllib, `cryptography`
loaded lazily); this module runs it off the event loop and decides when. Must never
import `cryptography` itself or anything from `cloud/` (rule 9).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import random
from collections.abc import Awaitable, Callable
from pathlib import Path

from kubeedge.edge.certs import (
    BootstrapError,
    EdgeCertPaths,
    bootstrap,
    certificate_deadline,
    current_certificate,
    rotate,
)
from kubeedge.messaging.bus import Clock

__all__ = ["BOOTSTRAP_TOKEN_FILE", "CertificateManager", "RotationBackoff"]

log = logging.getLogger(__name__)

# KubeEdge's second token source (common/constants BootstrapFile), under the root.
BOOTSTRAP_TOKEN_FILE = "etc/kubeedge/bootstrap-edgecore.conf"


class RotationBackoff:
    """certmanager.go's retry schedule: base x 2^n for `steps` tries, then `cap`."""

    def __init__(self, base: float, steps: int, cap: float) -> None:
        self.base, self.steps, self.cap = base, steps, cap

    def delay(self, failures: int) -> float:
        """Seconds to wait after the `failures`-th failure in a row (counting from 1)."""
        n = failures - 1
        if n < self.steps:
            return min(self.base * (2 ** n), self.cap)
        return self.cap


class CertificateManager:
    def __init__(
        self,
        paths: EdgeCertPaths,
        node_name: str,
        http_server: str,
        *,
        token: str = "",
        token_file: Path | None = None,
        rotate_certificates: bool = True,
        backoff: RotationBackoff | None = None,
        clock: Clock,
        wall: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC),
        rand: Callable[[], float] = random.random,
        timeout: float = 30.0,
    ) -> None:
        self.paths = paths
        self.node_name = node_name
        self.http_server = http_server
        self.token = token
        self.token_file = token_file
        self.rotate_certificates = rotate_certificates
        self.backoff = backoff or RotationBackoff(2, 5, 32)
        self._clock = clock
        self._wall = wall
        self._rand = rand
        self._timeout = timeout
        self.rotations = 0
        self.rotation_failures = 0
        self.bootstrapped = False
        self.last_error: str = ""

    # ---- bootstrap -------------------------------------------------------------------

    def _usable(self) -> bytes | None:
        """The certificate's PEM if it can be used now, else None."""
        cert = current_certificate(self.paths, self.node_name)
        if cert is None:
            return None
        if cert.not_valid_after_utc <= self._wall():
            return None
        return self.paths.cert.read_bytes()

    def _token(self) -> str:
        if self.token.strip():
            return self.token.strip()
        if self.token_file is not None:
            try:
                return self.token_file.read_text().strip()
            except FileNotFoundError:
                pass
        return ""

    def _ensure_sync(self) -> bytes:
        pem = self._usable()
        if pem is not None:
            return pem
        token = self._token()
        if not token:
            where = f" or in {self.token_file}" if self.token_file is not None else ""
            raise BootstrapError(
                f"no usable certificate for node {self.node_name} at {self.paths.cert}"
                f"{self._whose()} and no token in modules.edgeHub.token{where}: run "
                "`keadm gettoken` on the cloud and pass it to `keadm join --token`"
            )
        log.info("requesting a certificate for node %s from %s", self.node_name,
                 self.http_server)
        bootstrap(self.paths, self.node_name, token, self.http_server, timeout=self._timeout)
        self.bootstrapped = True
        return self.paths.cert.read_bytes()

    def _whose(self) -> str:
        """Why the certificate there is not usable, when it is another node's."""
        from kubeedge.edge.certs import certificate_owner, node_identity

        try:
            owner = certificate_owner(self.paths.cert)
        except (OSError, ValueError):
            return ""
        if owner is None or owner == node_identity(self.node_name):
            return ""
        return f" (the certificate there is for {owner}, not {node_identity(self.node_name)})"

    async def ensure(self) -> None:
        """Bootstrap if there is no usable certificate. Raises `BootstrapError` with
        KubeEdge's wording (e.g. "failed to validate CA certificate"); nothing is
        written then."""
        await asyncio.to_thread(self._ensure_sync)

    # ---- rotation --------------------------------------------------------------------

    def _seconds_until_rotation(self) -> float:
        pem = self.paths.cert.read_bytes()
        deadline = certificate_deadline(pem, rand=self._rand)
        return max((deadline - self._wall()).total_seconds(), 0.0)

    async def run_rotation(self, on_rotated: Callable[[], Awaitable[None] | None]) -> None:
        """Renew before expiry, forever (until cancelled). Does nothing when rotation is
        off (`modules.edgeHub.rotateCertificates: false`)."""
        if not self.rotate_certificates:
            return
        while True:
            wait = await asyncio.to_thread(self._seconds_until_rotation)
            log.info("certificate rotation for node %s in %.0f s", self.node_name, wait)
            await self._clock.sleep(wait)
            failures = 0
            while True:
                try:
                    await asyncio.to_thread(rotate, self.paths, self.node_name,
                                            self.http_server, timeout=self._timeout)
                    break
                except (BootstrapError, OSError, ValueError) as exc:
                    failures += 1
                    self.rotation_failures += 1
                    self.last_error = str(exc)
                    delay = self.backoff.delay(failures)
                    log.warning("certificate rotation failed (%s); retrying in %g s", exc,
                                delay)
                    await self._clock.sleep(delay)
            self.rotations += 1
            log.info("certificate of node %s rotated", self.node_name)
            result = on_rotated()
            if result is not None:
                await result
