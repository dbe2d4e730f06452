"""Who is calling: client certificates, bearer tokens and impersonation.

specs/k8s-api.md §7: a verified client certificate names the user in its CN and the
groups in its O fields; a bearer token is looked up in the static token file (kube's
`--token-auth-file` CSV format: token,user,uid,"group1,group2"). A request with no
credentials is anonymous, which only the public endpoints accept. A credential that is
present but wrong is always 401, even on public endpoints, as kube-apiserver does.
"""

from __future__ import annotations

import csv
import hmac
import io
import ssl
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from aiohttp import web

from kubeedge.api import errors
from kubeedge.apiserver.authz.types import UserInfo

ANONYMOUS = UserInfo("system:anonymous", ("system:unauthenticated",))
AUTHENTICATED = "system:authenticated"

TokenAuthenticator = Callable[[str], Awaitable[UserInfo | None]]


def _with_authenticated(user: UserInfo) -> UserInfo:
    if AUTHENTICATED in user.groups:
        return user
    return UserInfo(user.name, (*user.groups, AUTHENTICATED), user.uid, user.extra)


class StaticTokens:
    """Tokens from a CSV file, re-read when the file changes."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._mtime: float | None = None
        self._tokens: dict[str, UserInfo] = {}

    def _load(self) -> None:
        try:
            stat = self.path.stat()
        except FileNotFoundError:
            self._tokens = {}
            self._mtime = None
            return
        if self._mtime == stat.st_mtime:
            return
        tokens: dict[str, UserInfo] = {}
        for row in csv.reader(io.StringIO(self.path.read_text())):
            if len(row) < 3 or row[0].startswith("#"):
                continue
            groups = (
                tuple(g.strip() for g in row[3].split(",") if g.strip()) if len(row) > 3 else ()
            )
            tokens[row[0].strip()] = UserInfo(row[1].strip(), groups, row[2].strip())
        self._tokens = tokens
        self._mtime = stat.st_mtime

    async def __call__(self, token: str) -> UserInfo | None:
        self._load()
        for known, user in self._tokens.items():
            # Constant-time comparison so response timing says nothing about tokens.
            if hmac.compare_digest(known.encode(), token.encode()):
                return user
        return None


def user_from_certificate(peercert: dict[str, Any] | None) -> UserInfo | None:
    """CN is the user, every O is a group (specs/k8s-api.md §7)."""
    if not peercert:
        return None
    name = ""
    groups: list[str] = []
    for rdn in peercert.get("subject", ()):
        for key, value in rdn:
            if key == "commonName":
                name = value
            elif key == "organizationName":
                groups.append(value)
    if not name:
        return None
    return UserInfo(name, tuple(groups))


class Authenticator:
    def __init__(self, token_authenticators: list[TokenAuthenticator]) -> None:
        self.token_authenticators = token_authenticators

    async def authenticate(self, request: web.Request) -> UserInfo:
        header = request.headers.get("Authorization", "")
        if header:
            scheme, _, token = header.partition(" ")
            token = token.strip()
            if scheme.lower() != "bearer" or not token:
                raise errors.unauthorized()
            for authenticator in self.token_authenticators:
                user = await authenticator(token)
                if user is not None:
                    return _with_authenticated(user)
            raise errors.unauthorized()
        ssl_object: ssl.SSLObject | None = (
            request.transport.get_extra_info("ssl_object") if request.transport else None
        )
        if ssl_object is not None:
            user = user_from_certificate(ssl_object.getpeercert())
            if user is not None:
                return _with_authenticated(user)
        return ANONYMOUS


def impersonation_request(
    request: web.Request,
) -> tuple[str, list[str], str, dict[str, list[str]]] | None:
    """The Impersonate-* headers, or None when the request impersonates no one."""
    user = request.headers.get("Impersonate-User", "")
    groups = request.headers.getall("Impersonate-Group", [])
    uid = request.headers.get("Impersonate-Uid", "")
    extra: dict[str, list[str]] = {}
    for key in request.headers:
        if key.lower().startswith("impersonate-extra-"):
            extra.setdefault(key[len("impersonate-extra-"):].lower(), []).extend(
                request.headers.getall(key)
            )
    if not user and (groups or uid or extra):
        raise errors.bad_request(
            "requested impersonation of groups, uid or extra without impersonating a user"
        )
    if not user:
        return None
    return user, groups, uid, extra
