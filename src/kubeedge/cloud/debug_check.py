"""`keadm debug check`: what stops an edge from joining, found from the edge host.

Two kinds of checks, each a `Result` (PASS, FAIL or SKIP, what was seen, what to fix):
- The join checks, from the same values `keadm join` takes (or the edgecore.yaml a
  joined edge has under its root): CloudHub's and the certificate service's TCP ports
  answer; the token is well-formed and unexpired (its JWT `exp` read without the key,
  specs/kubeedge.md §4); this host's clock agrees with the cloud's (the `Date` header of
  the certificate service); CloudHub's serving certificate names the address in
  `--cloudcore-ipport` (taken from its TLS handshake, as the edge's Go TLS check would
  refuse it); the CA behind `/ca.crt` hashes to the token's first part (else the edge
  says "failed to validate CA certificate").
- KubeEdge's host checks (`keadm debug check cpu|mem|disk|dns|pid|arch`), in a light
  form read from /proc and the file system, with KubeEdge's thresholds.

"Now" is the host's clock unless the caller passes another (`Checker.now`): skew and
token expiry are judged against the same clock. Never does: send the token anywhere or
ask the cloud to sign anything; the checks only look.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import email.utils
import enum
import hashlib
import http.client
import ipaddress
import json
import os
import platform
import re
import shutil
import socket
import ssl
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from kubeedge.edge.certs import unverified_context

# KubeEdge's keadm thresholds (keadm/cmd/keadm/app/cmd/common/constant.go).
MB = 1024 * 1024
ALLOWED_CPUS = 1
ALLOWED_CPU_RATE = 0.9
ALLOWED_MEMORY = 256 * MB
ALLOWED_FREE_MEMORY = 128 * MB
ALLOWED_MEMORY_RATE = 0.9
ALLOWED_DISK = 1024 * MB
ALLOWED_FREE_DISK = 512 * MB
ALLOWED_DISK_RATE = 0.9
ALLOWED_FREE_PID_RATE = 0.05
# Architectures KubeEdge releases edgecore for (amd64, arm64, arm).
ARCHES = {"x86_64": "amd64", "amd64": "amd64", "aarch64": "arm64", "arm64": "arm64",
          "armv7l": "arm", "armv6l": "arm", "armhf": "arm"}
# Most clock difference from the cloud that passes. The edge stamps its node status and
# lease with its own clock and EdgeController refreshes a heartbeat older than
# `nodeUpdateFrequency` (10 s, specs/kubeedge.md §8); half of that keeps heartbeats
# meaningful. (Certificates are backdated 5 min, so TLS alone tolerates more.)
DEFAULT_MAX_SKEW = 5.0
DEFAULT_TIMEOUT = 3.0
HOST_CHECKS = ("arch", "cpu", "mem", "disk", "dns", "pid")
JOIN_CHECKS = ("cloudhub-port", "cert-port", "token", "clock", "ca-hash", "cert-sans")
_HEX64 = re.compile(r"^[0-9a-fA-F]{64}$")


class Status(enum.Enum):
    PASS = "PASS"
    FAIL = "FAIL"
    SKIP = "SKIP"


@dataclass(frozen=True)
class Result:
    name: str
    status: Status
    detail: str
    fix: str = ""

    def lines(self) -> list[str]:
        out = [f"[{self.status.value}] {self.name}: {self.detail}"]
        if self.fix and self.status is Status.FAIL:
            out.append(f"       fix: {self.fix}")
        return out


@dataclass(frozen=True)
class Target:
    """Where the edge would join: CloudHub `host:hub_port`, certificates on
    `host:cert_port`, with `token`."""

    host: str
    hub_port: int
    cert_port: int
    token: str

    @property
    def hub(self) -> str:
        return _join_host_port(self.host, self.hub_port)

    @property
    def certs(self) -> str:
        return _join_host_port(self.host, self.cert_port)


def _join_host_port(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def split_host_port(value: str, where: str = "--cloudcore-ipport") -> tuple[str, int]:
    """`IP:port` or `[IPv6]:port`; `ValueError` naming `where`."""
    host, sep, port = value.strip().rpartition(":")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"{where}: {value!r} is not host:port (e.g. 192.168.1.10:10000)")
    return host, int(port)


def target_from_edgecore(config_path: Path) -> Target:
    """The join values of an edge already joined under a root (its edgecore.yaml)."""
    from urllib.parse import urlsplit

    from kubeedge.config import edgecore

    hub = edgecore.load(config_path).modules.edge_hub
    host, port = split_host_port(hub.websocket.server, "modules.edgeHub.websocket.server")
    cert_port = urlsplit(hub.http_server).port or 443
    return Target(host, port, cert_port, hub.token)


# --------------------------------------------------------------------------- join


@dataclass
class CloudAnswers:
    """What the certificate service and CloudHub said (None: not reachable)."""

    ca_der: bytes | None = None
    date: float | None = None  # the cloud's clock (the Date header), Unix seconds
    local_at_date: float = 0.0  # this host's clock when that answer was sent
    ca_error: str = ""
    hub_cert_der: bytes | None = None
    hub_error: str = ""


@dataclass
class Checker:
    timeout: float = DEFAULT_TIMEOUT
    max_skew: float = DEFAULT_MAX_SKEW
    # This host's clock (Unix seconds); replaceable to check as of another moment.
    now: Callable[[], float] = time.time
    root: Path = Path("/")
    domain: str = ""
    answers: CloudAnswers = field(default_factory=CloudAnswers)

    # ------------------------------------------------------------------ join checks

    def join_checks(self, target: Target) -> Iterator[Result]:
        hub_open = self._tcp("cloudhub-port", target.host, target.hub_port,
                             "CloudHub (modules.cloudHub.websocket.port)")
        yield hub_open
        cert_open = self._tcp("cert-port", target.host, target.cert_port,
                              "the certificate service (modules.cloudHub.https.port; "
                              "keadm join --certport)")
        yield cert_open
        token_hash, token_result = self._token(target.token)
        yield token_result
        if cert_open.status is Status.PASS:
            self._ask_certificate_service(target)
        yield self._clock(cert_open)
        yield self._ca_hash(token_hash, cert_open)
        if hub_open.status is Status.PASS:
            self._ask_cloudhub(target)
        yield self._sans(target, hub_open)

    def _tcp(self, name: str, host: str, port: int, what: str) -> Result:
        address = _join_host_port(host, port)
        try:
            with socket.create_connection((host, port), timeout=self.timeout):
                pass
        except OSError as exc:
            reason = exc.strerror or type(exc).__name__
            return Result(name, Status.FAIL, f"{address}: {reason}",
                          f"start cloudcore, check that {what} listens on port {port} and "
                          "that no firewall between this host and the cloud drops it")
        return Result(name, Status.PASS, f"{address} accepts TCP connections")

    def _token(self, token: str) -> tuple[str, Result]:
        fix = "run `keadm gettoken` on the cloud host and pass its whole output as --token"
        token = token.strip()
        if not token:
            return "", Result("token", Status.FAIL, "no token given", fix)
        parts = token.split(".")
        if len(parts) != 4:
            return "", Result("token", Status.FAIL, f"{len(parts)} dot-separated parts, not "
                              "4 (<CA hash>.<JWT header>.<claims>.<signature>)", fix)
        if not _HEX64.match(parts[0]):
            return "", Result("token", Status.FAIL, "its first part is not the CA's SHA-256 "
                              "(64 hex digits)", fix)
        try:
            claims = json.loads(_b64url(parts[2]))
            exp = claims["exp"]
            if isinstance(exp, bool) or not isinstance(exp, int | float):
                raise TypeError
        except (ValueError, KeyError, TypeError, binascii.Error):
            return parts[0], Result("token", Status.FAIL,
                                    "its JWT has no readable numeric `exp` claim", fix)
        now = self.now()
        when = _iso(exp)
        if exp <= now:
            return parts[0], Result(
                "token", Status.FAIL, f"expired at {when} ({_ago(now - exp)} ago, by this "
                "host's clock)",
                "tokens live 24 h (2 x tokenRefreshDuration): run `keadm gettoken` on the "
                "cloud host for the current one (if it is fresh, check this host's clock)")
        return parts[0], Result("token", Status.PASS,
                                f"well-formed, expires at {when} (in {_ago(exp - now)})")

    def _ask_certificate_service(self, target: Target) -> None:
        # The CA as the edge fetches it: TLS unverified, checked against the token's hash.
        ctx = unverified_context()
        conn = http.client.HTTPSConnection(target.host, target.cert_port, context=ctx,
                                           timeout=self.timeout)
        try:
            sent = self.now()
            conn.request("GET", "/ca.crt")
            resp = conn.getresponse()
            body = resp.read(1 << 20)
            received = self.now()
            date = resp.getheader("Date")
            if resp.status != 200:
                self.answers.ca_error = f"GET /ca.crt answered {resp.status} {resp.reason}"
                return
            self.answers.ca_der = body
            if date:
                parsed = email.utils.parsedate_to_datetime(date)
                self.answers.date = parsed.timestamp()
                self.answers.local_at_date = (sent + received) / 2
        except (OSError, http.client.HTTPException, ValueError, TypeError) as exc:
            self.answers.ca_error = f"GET https://{target.certs}/ca.crt failed: {exc}"
        finally:
            conn.close()

    def _clock(self, cert_open: Result) -> Result:
        if cert_open.status is not Status.PASS:
            return Result("clock", Status.SKIP, "the certificate service is unreachable")
        if self.answers.date is None:
            return Result("clock", Status.SKIP, self.answers.ca_error
                          or "the certificate service sent no Date header")
        # Date has whole seconds: up to 1 s of the difference is its rounding.
        skew = self.answers.local_at_date - self.answers.date
        side = "ahead of" if skew > 0 else "behind"
        detail = (f"this host is {abs(skew):.1f} s {side} the cloud (Date "
                  f"{_iso(self.answers.date)}; limit {self.max_skew:g} s)")
        if abs(skew) > self.max_skew + 1:
            return Result("clock", Status.FAIL, detail,
                          "synchronise this host's clock with NTP (timedatectl "
                          "set-ntp true, or chrony) and the cloud's too")
        return Result("clock", Status.PASS, detail)

    def _ca_hash(self, token_hash: str, cert_open: Result) -> Result:
        if cert_open.status is not Status.PASS:
            return Result("ca-hash", Status.SKIP, "the certificate service is unreachable")
        if self.answers.ca_der is None:
            return Result("ca-hash", Status.FAIL, self.answers.ca_error,
                          "check that --certport is cloudcore's certificate port")
        actual = hashlib.sha256(self.answers.ca_der).hexdigest()
        if not token_hash:
            return Result("ca-hash", Status.SKIP, f"no token hash to compare (CA hash "
                          f"{actual})")
        if actual != token_hash.lower():
            return Result("ca-hash", Status.FAIL,
                          f"failed to validate CA certificate. tokenCAhash: {token_hash}, "
                          f"CAhash: {actual}",
                          "the token is from another cloud (or the CA was replaced): take "
                          "a token from the cloud at this address with `keadm gettoken`")
        return Result("ca-hash", Status.PASS, "the CA at /ca.crt matches the token's hash")

    def _ask_cloudhub(self, target: Target) -> None:
        # CloudHub asks for a client certificate; with TLS 1.3 the server's certificate
        # arrives before it judges ours, so the handshake shows it either way.
        ctx = unverified_context()
        try:
            with socket.create_connection((target.host, target.hub_port),
                                          timeout=self.timeout) as raw, \
                    ctx.wrap_socket(raw, server_hostname=_sni(target.host)) as tls:
                self.answers.hub_cert_der = tls.getpeercert(binary_form=True)
        except (OSError, ssl.SSLError) as exc:
            self.answers.hub_error = f"TLS handshake with {target.hub} failed: {exc}"

    def _sans(self, target: Target, hub_open: Result) -> Result:
        if hub_open.status is not Status.PASS:
            return Result("cert-sans", Status.SKIP, "CloudHub is unreachable")
        if self.answers.hub_cert_der is None:
            return Result("cert-sans", Status.FAIL, self.answers.hub_error,
                          "check that --cloudcore-ipport is CloudHub's WebSocket port")
        from cryptography import x509

        cert = x509.load_der_x509_certificate(self.answers.hub_cert_der)
        try:
            sans = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
            ips = [str(ip) for ip in sans.get_values_for_type(x509.IPAddress)]
            names = list(sans.get_values_for_type(x509.DNSName))
        except x509.ExtensionNotFound:
            ips, names = [], []
        named = ", ".join([*ips, *names]) or "none"
        if not _names(target.host, ips, names):
            return Result(
                "cert-sans", Status.FAIL,
                f"CloudHub's certificate is not valid for {target.host} (it names {named})",
                f"join with an address the certificate names, or add {target.host} to "
                "cloudcore's modules.cloudHub.advertiseAddress (an IP) or dnsNames (a "
                "name) and restart cloudcore, which then reissues its certificate")
        detail = f"CloudHub's certificate names {target.host} (SANs: {named})"
        if self.answers.ca_der is not None:
            ca = x509.load_der_x509_certificate(self.answers.ca_der)
            try:
                cert.verify_directly_issued_by(ca)
            except Exception:  # InvalidSignature, or a key type it cannot check
                return Result("cert-sans", Status.FAIL,
                              f"{detail}, but it is not signed by the CA at /ca.crt",
                              "CloudHub and the certificate service belong to different "
                              "clouds: check --cloudcore-ipport and --certport")
            detail += ", signed by the CA at /ca.crt"
        return Result("cert-sans", Status.PASS, detail)

    # ------------------------------------------------------------------ host checks

    def host_check(self, name: str) -> Result:
        return {"arch": self._arch, "cpu": self._cpu, "mem": self._memory,
                "disk": self._disk, "dns": self._dns, "pid": self._pid}[name]()

    def _arch(self) -> Result:
        machine = platform.machine()
        if machine.lower() in ARCHES:
            return Result("arch", Status.PASS, f"{machine} ({ARCHES[machine.lower()]})")
        return Result("arch", Status.FAIL, f"{machine} is not an architecture KubeEdge "
                      "releases edgecore for", "use an amd64, arm64 or arm host")

    def _cpu(self) -> Result:
        count = os.cpu_count() or 0
        rate = _cpu_busy(0.2)
        detail = f"{count} CPU(s), allowed >= {ALLOWED_CPUS}"
        if rate is not None:
            detail += f"; usage {rate:.2f}, allowed < {ALLOWED_CPU_RATE}"
        if count < ALLOWED_CPUS or (rate is not None and rate >= ALLOWED_CPU_RATE):
            return Result("cpu", Status.FAIL, detail, "free CPU on this host")
        return Result("cpu", Status.PASS, detail)

    def _memory(self) -> Result:
        info = _meminfo()
        if not info:
            return Result("mem", Status.SKIP, "/proc/meminfo is not readable")
        total, free = info.get("MemTotal", 0), info.get("MemAvailable", info.get("MemFree", 0))
        rate = 1 - free / total if total else 1.0
        detail = (f"total {total / MB:.0f} MB (allowed >= {ALLOWED_MEMORY // MB}), available "
                  f"{free / MB:.0f} MB (allowed >= {ALLOWED_FREE_MEMORY // MB}), usage "
                  f"{rate:.2f} (allowed < {ALLOWED_MEMORY_RATE})")
        if total < ALLOWED_MEMORY or free < ALLOWED_FREE_MEMORY or rate >= ALLOWED_MEMORY_RATE:
            return Result("mem", Status.FAIL, detail, "free memory on this host")
        return Result("mem", Status.PASS, detail)

    def _disk(self) -> Result:
        path = self.root if self.root.exists() else Path("/")
        usage = shutil.disk_usage(path)
        rate = usage.used / usage.total if usage.total else 1.0
        detail = (f"{path}: total {usage.total / MB:.0f} MB (allowed >= "
                  f"{ALLOWED_DISK // MB}), free {usage.free / MB:.0f} MB (allowed >= "
                  f"{ALLOWED_FREE_DISK // MB}), usage {rate:.2f} (allowed < "
                  f"{ALLOWED_DISK_RATE})")
        if usage.total < ALLOWED_DISK or usage.free < ALLOWED_FREE_DISK \
                or rate >= ALLOWED_DISK_RATE:
            return Result("disk", Status.FAIL, detail, f"free space on the disk of {path}")
        return Result("disk", Status.PASS, detail)

    def _dns(self) -> Result:
        if not self.domain:
            return Result("dns", Status.SKIP, "nothing to resolve (the cloud address is an "
                          "IP); pass --domain NAME to test name resolution")
        try:
            infos = socket.getaddrinfo(self.domain, None, proto=socket.IPPROTO_TCP)
        except OSError as exc:
            return Result("dns", Status.FAIL, f"dns resolution failed, domain: {self.domain} "
                          f"err: {exc}", "check /etc/resolv.conf and the DNS servers")
        return Result("dns", Status.PASS, f"dns resolution success, domain: {self.domain} "
                      f"ip: {infos[0][4][0]}")

    def _pid(self) -> Result:
        try:
            pid_max = int(Path("/proc/sys/kernel/pid_max").read_text())
        except (OSError, ValueError):
            return Result("pid", Status.SKIP, "/proc/sys/kernel/pid_max is not readable")
        running = sum(1 for entry in os.listdir("/proc") if entry.isdigit())
        free = 1 - running / pid_max
        detail = (f"Maximum PIDs: {pid_max}; Running processes: {running} (free {free:.2f}, "
                  f"allowed > {ALLOWED_FREE_PID_RATE})")
        if free <= ALLOWED_FREE_PID_RATE:
            return Result("pid", Status.FAIL, detail, "stop processes or raise "
                          "kernel.pid_max")
        return Result("pid", Status.PASS, detail)


# --------------------------------------------------------------------------- helpers


def _b64url(part: str) -> bytes:
    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))


def _iso(seconds: float) -> str:
    return dt.datetime.fromtimestamp(seconds, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _ago(seconds: float) -> str:
    seconds = int(abs(seconds))
    if seconds < 120:
        return f"{seconds} s"
    if seconds < 7200:
        return f"{seconds // 60} min"
    return f"{seconds // 3600} h {seconds % 3600 // 60} min"


def _sni(host: str) -> str | None:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return host
    return None  # no SNI for IP addresses (RFC 6066 §3)


def _names(host: str, ips: list[str], names: list[str]) -> bool:
    """Whether a certificate with these SANs is valid for `host`, as Go's
    `VerifyHostname` judges it: an IP must be an IP SAN; a name a DNS SAN, `*.` matching
    one leftmost label."""
    try:
        wanted = ipaddress.ip_address(host)
    except ValueError:
        host = host.lower().rstrip(".")
        for name in names:
            name = name.lower().rstrip(".")
            if name == host:
                return True
            if name.startswith("*.") and "." in host and host.split(".", 1)[1] == name[2:]:
                return True
        return False
    return any(ipaddress.ip_address(ip) == wanted for ip in ips)


def _meminfo() -> dict[str, int]:
    try:
        text = Path("/proc/meminfo").read_text()
    except OSError:
        return {}
    info = {}
    for line in text.splitlines():
        key, _, rest = line.partition(":")
        fields = rest.split()
        if fields and fields[0].isdigit():
            info[key] = int(fields[0]) * 1024
    return info


def _cpu_times() -> tuple[int, int] | None:
    try:
        fields = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
    except (OSError, IndexError):
        return None
    values = [int(v) for v in fields]
    idle = values[3] + (values[4] if len(values) > 4 else 0)
    return idle, sum(values)


def _cpu_busy(interval: float) -> float | None:
    """The share of CPU time spent busy over `interval` seconds (KubeEdge samples its
    usage the same way)."""
    first = _cpu_times()
    if first is None:
        return None
    time.sleep(interval)
    second = _cpu_times()
    if second is None or second[1] == first[1]:
        return None
    return 1 - (second[0] - first[0]) / (second[1] - first[1])


def parse_now(text: str) -> float:
    """`--now`: Unix seconds or an RFC 3339 time; `ValueError` otherwise."""
    try:
        return float(text)
    except ValueError:
        pass
    try:
        parsed = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(f"--now: {text!r} is neither Unix seconds nor an RFC 3339 "
                         "time") from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=dt.UTC)
    return parsed.timestamp()
