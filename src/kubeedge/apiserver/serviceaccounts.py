"""Service account tokens: the TokenRequest subresource and the bearer tokens it issues.

Tokens are JWTs signed with the cluster's service-account key (ES256), carrying kube's
claims (`iss`, `sub` = `system:serviceaccount:<ns>:<name>`, `aud`, `exp`, `iat`, `nbf`,
`jti`, and the private `kubernetes.io` claim naming the namespace, the service account
and any bound object with their uids). The API server accepts them as bearer
credentials while they are unexpired, carry one of its audiences, and the service
account (and bound object) they name still exist with the same uid.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization

from kubeedge.api import errors, meta
from kubeedge.api.registry import Registry
from kubeedge.apiserver.authz.types import UserInfo
from kubeedge.apiserver.objects import ObjectStore

ALGORITHM = "ES256"
# kube's TokenRequest default, and the floor its validation puts on a request.
DEFAULT_EXPIRATION_SECONDS = 3600
KUBE_PRIVATE_CLAIM = "kubernetes.io"
BOUND_KINDS = {"Pod": "pods", "Secret": "secrets", "Node": "nodes"}


@dataclass(frozen=True)
class TokenPolicy:
    issuer: str
    audiences: tuple[str, ...]
    min_seconds: int
    max_seconds: int


class TokenIssuer:
    def __init__(self, key_path: Path, policy: TokenPolicy,
                 clock: Callable[[], float] = time.time) -> None:
        key = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
        self._private = key
        self._public = key.public_key()
        self.policy = policy
        self.clock = clock

    def issue(self, namespace: str, sa: dict[str, Any], audiences: list[str],
              seconds: int, bound: dict[str, Any] | None) -> tuple[str, int]:
        now = int(self.clock())
        expires = now + seconds
        private: dict[str, Any] = {
            "namespace": namespace,
            "serviceaccount": {"name": meta.name_of(sa), "uid": sa["metadata"].get("uid", "")},
        }
        if bound is not None:
            private[bound["kind"].lower()] = {"name": bound["name"], "uid": bound["uid"]}
        claims = {
            "iss": self.policy.issuer,
            "sub": f"system:serviceaccount:{namespace}:{meta.name_of(sa)}",
            "aud": audiences,
            "exp": expires,
            "iat": now,
            "nbf": now,
            "jti": str(uuid.uuid4()),
            KUBE_PRIVATE_CLAIM: private,
        }
        return jwt.encode(claims, self._private, algorithm=ALGORITHM), expires  # type: ignore[arg-type]

    def verify(self, token: str) -> dict[str, Any] | None:
        """The claims of a genuine, current token for one of our audiences, else None."""
        try:
            return jwt.decode(
                token, self._public, algorithms=[ALGORITHM],  # type: ignore[arg-type]
                audience=list(self.policy.audiences), issuer=self.policy.issuer,
                options={"require": ["exp", "iat", "sub", "aud"]},
                leeway=0,
            )
        except jwt.PyJWTError:
            return None


class ServiceAccountTokens:
    """A token authenticator: genuine tokens whose objects still exist."""

    def __init__(self, issuer: TokenIssuer, objects: ObjectStore, registry: Registry) -> None:
        self.issuer = issuer
        self.objects = objects
        self.registry = registry

    async def _exists(self, plural: str, namespace: str, name: str, uid: str) -> bool:
        rt = self.registry.lookup("", "v1", plural)
        if rt is None:
            return False
        obj = await self.objects.find(rt, namespace, name)
        return obj is not None and obj["metadata"].get("uid") == uid \
            and not meta.is_terminating(obj)

    async def __call__(self, token: str) -> UserInfo | None:
        if token.count(".") != 2:
            return None  # not a JWT: some other authenticator's token
        claims = self.issuer.verify(token)
        if claims is None:
            return None
        private = claims.get(KUBE_PRIVATE_CLAIM)
        if not isinstance(private, dict):
            return None
        namespace = str(private.get("namespace") or "")
        sa = private.get("serviceaccount") or {}
        if not await self._exists("serviceaccounts", namespace, str(sa.get("name") or ""),
                                  str(sa.get("uid") or "")):
            return None
        extra: dict[str, tuple[str, ...]] = {
            "authentication.kubernetes.io/credential-id": (f"JTI={claims.get('jti', '')}",),
        }
        for kind, plural in BOUND_KINDS.items():
            bound = private.get(kind.lower())
            if isinstance(bound, dict):
                scope = "" if kind == "Node" else namespace
                if not await self._exists(plural, scope, str(bound.get("name") or ""),
                                          str(bound.get("uid") or "")):
                    return None
                extra[f"authentication.kubernetes.io/{kind.lower()}-name"] = (
                    str(bound.get("name")),)
                extra[f"authentication.kubernetes.io/{kind.lower()}-uid"] = (
                    str(bound.get("uid")),)
        return UserInfo(
            f"system:serviceaccount:{namespace}:{sa.get('name')}",
            ("system:serviceaccounts", f"system:serviceaccounts:{namespace}"),
            str(sa.get("uid") or ""), extra,
        )


async def token_request(
    issuer: TokenIssuer, objects: ObjectStore, registry: Registry, namespace: str,
    name: str, body: dict[str, Any],
) -> dict[str, Any]:
    """Answer a TokenRequest for service account `namespace/name` (kube's TokenREST)."""
    sa_type = registry.lookup("", "v1", "serviceaccounts")
    assert sa_type is not None
    sa = await objects.get(sa_type, namespace, name)
    spec = body.get("spec") or {}
    if not isinstance(spec, dict):
        raise errors.bad_request("spec must be an object")
    policy = issuer.policy
    audiences = spec.get("audiences") or list(policy.audiences)
    if not isinstance(audiences, list) or not all(isinstance(a, str) for a in audiences):
        raise errors.bad_request("spec.audiences must be a list of strings")
    seconds = spec.get("expirationSeconds")
    if seconds is None:
        seconds = DEFAULT_EXPIRATION_SECONDS
    causes: list[errors.Cause] = []
    if not isinstance(seconds, int) or isinstance(seconds, bool):
        causes.append(errors.Cause("spec.expirationSeconds",
                                   f"Invalid value: {seconds!r}: must be an integer"))
    elif seconds < policy.min_seconds:
        causes.append(errors.Cause(
            "spec.expirationSeconds",
            f"Invalid value: {seconds}: may not specify a duration less than "
            f"{_duration(policy.min_seconds)}"))
    elif seconds > 2**32:
        causes.append(errors.Cause("spec.expirationSeconds",
                                   f"Invalid value: {seconds}: may not specify a duration "
                                   "larger than 2^32 seconds"))
    if causes:
        raise errors.invalid("TokenRequest", name, causes, "authentication.k8s.io")
    if policy.max_seconds and seconds > policy.max_seconds:
        seconds = policy.max_seconds  # kube shortens, it does not refuse
    bound = None
    ref = spec.get("boundObjectRef")
    if isinstance(ref, dict) and ref.get("name"):
        kind = str(ref.get("kind") or "")
        plural = BOUND_KINDS.get(kind)
        if plural is None:
            raise errors.invalid("TokenRequest", name, [errors.Cause(
                "spec.boundObjectRef.kind", f'Unsupported value: "{kind}": supported values: '
                '"Pod", "Secret", "Node"', "FieldValueNotSupported")], "authentication.k8s.io")
        rt = registry.lookup("", "v1", plural)
        assert rt is not None
        obj = await objects.get(rt, "" if kind == "Node" else namespace, str(ref["name"]))
        uid = obj["metadata"].get("uid", "")
        if ref.get("uid") and ref["uid"] != uid:
            raise errors.conflict(plural, str(ref["name"]), "",
                                  f"the UID in the bound object reference ({ref['uid']}) does "
                                  f"not match the UID in record. The object might have been "
                                  "deleted and then recreated")
        bound = {"kind": kind, "name": str(ref["name"]), "uid": uid}
    token, expires = issuer.issue(namespace, sa, audiences, seconds, bound)
    return {
        "kind": "TokenRequest",
        "apiVersion": "authentication.k8s.io/v1",
        "metadata": {"name": name, "namespace": namespace, "creationTimestamp": None},
        "spec": {**spec, "audiences": audiences, "expirationSeconds": seconds,
                 "boundObjectRef": spec.get("boundObjectRef")},
        "status": {"token": token,
                   "expirationTimestamp": meta.rfc3339(datetime.fromtimestamp(expires, UTC))},
    }


def _duration(seconds: int) -> str:
    if seconds % 60 == 0:
        return f"{seconds // 60} minutes"
    return f"{seconds} seconds"
