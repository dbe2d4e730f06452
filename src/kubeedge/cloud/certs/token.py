"""The edge join token: making it, checking it, and refreshing Secret `kubeedge/tokensecret`.

Owns (specs/kubeedge.md §4; KubeEdge's `pkg/security/token`): the token
`<hex sha256 of the CA's DER>.<JWT>` whose JWT is HS256 keyed with the CA key's SEC 1
DER bytes and carries only `exp`; its validation for the :10002 handler, whose failures
all read `token validation failure, …` (the edge and `keadm join` show that text); and
the refresher that writes a fresh token into `tokensecret`/`tokendata` every
`tokenRefreshDuration` (12 h). A token lives twice the refresh interval (24 h), so one
read from the Secret at any moment is good for at least one interval.

Never does: revoke a token. As in KubeEdge any unexpired token signed with the CA key is
accepted; rotating the CA is the only revocation.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import hashlib
import logging
import math
import time
from collections.abc import Callable

import jwt

from kubeedge.client.clock import Clock, RealClock
from kubeedge.client.rest import APIClient
from kubeedge.cloud.certs.edge_ca import TOKEN_DATA, TOKEN_SECRET, save_secret

log = logging.getLogger(__name__)

# KubeEdge's defaults (cloudcore v1alpha1 `tokenRefreshDuration: 12`, hours); the token
# expires after twice that (token.go `Create`).
DEFAULT_TOKEN_REFRESH = dt.timedelta(hours=12)
DEFAULT_TOKEN_EXPIRY = 2 * DEFAULT_TOKEN_REFRESH
# After a failed refresh (API unreachable), try again this soon rather than a whole
# interval later; KubeEdge's loop stops for good on the first failure.
DEFAULT_RETRY = dt.timedelta(seconds=10)

VALIDATION_FAILURE = "token validation failure"
WallClock = Callable[[], float]


class TokenValidationError(Exception):
    """A token the :10002 service refuses (401); the message starts with
    `token validation failure` as KubeEdge's does."""


def ca_hash(ca_der: bytes) -> str:
    """Part 0 of a token: lower-case hex SHA-256 of the CA certificate's DER."""
    return hashlib.sha256(ca_der).hexdigest()


def create_token(
    ca_der: bytes,
    ca_key_der: bytes,
    expiry: dt.timedelta = DEFAULT_TOKEN_EXPIRY,
    *,
    now: float | None = None,
) -> str:
    """A join token valid for `expiry` from `now` (Unix seconds; default the wall clock).

    `exp` is whole seconds, as Go's jwt `NumericDate` writes it.
    """
    issued = time.time() if now is None else now
    claims = {"exp": math.floor(issued + expiry.total_seconds())}
    signed = jwt.encode(claims, ca_key_der, algorithm="HS256", headers={"typ": "JWT"})
    return f"{ca_hash(ca_der)}.{signed}"


def split_token(token: str) -> tuple[str, str]:
    """(CA hash, JWT) of a full token; the JWT is what the edge sends as its Bearer."""
    parts = token.strip().split(".")
    if len(parts) != 4:
        raise TokenValidationError(
            f"{VALIDATION_FAILURE}, err: the token has {len(parts)} dot-separated parts, "
            "not 4 (<CA hash>.<JWT>): copy the whole output of `keadm gettoken`"
        )
    return parts[0], ".".join(parts[1:])


def verify_token(bearer: str, ca_key_der: bytes, *, now: float | None = None,
                 ca_der: bytes | None = None) -> None:
    """Accept a JWT signed with the CA key whose `exp` is after `now`, or raise.

    `bearer` is the JWT alone, as KubeEdge's edge sends it; the full 4-part token is
    accepted too when its CA hash matches `ca_der` (what a user pastes into curl).
    Stricter than KubeEdge in two ways: only HS256, and `exp` is required (a token
    without one would never expire).
    """
    token = bearer.strip()
    if not token:
        raise TokenValidationError(f"{VALIDATION_FAILURE}, token is empty")
    if token.count(".") == 3:
        token_hash, token = split_token(token)
        if ca_der is None or token_hash != ca_hash(ca_der):
            raise TokenValidationError(
                f"{VALIDATION_FAILURE}, err: the token's CA hash is not this CloudCore's CA"
            )
    try:
        claims = jwt.decode(
            token,
            ca_key_der,
            algorithms=["HS256"],
            # `exp` is checked below against the injectable clock.
            options={"verify_exp": False, "require": ["exp"]},
        )
    except jwt.InvalidSignatureError:
        raise TokenValidationError(
            f"{VALIDATION_FAILURE}, err: token signature is invalid: signature is invalid"
        ) from None
    except jwt.MissingRequiredClaimError:
        raise TokenValidationError(
            f"{VALIDATION_FAILURE}, err: token has invalid claims: token has no expiry"
        ) from None
    except jwt.InvalidAlgorithmError:
        raise TokenValidationError(
            f"{VALIDATION_FAILURE}, err: token is unverifiable: the signing method is not HS256"
        ) from None
    except jwt.InvalidTokenError as exc:
        raise TokenValidationError(
            f"{VALIDATION_FAILURE}, err: token is malformed: {exc}"
        ) from None
    exp = claims.get("exp")
    if isinstance(exp, bool) or not isinstance(exp, int | float):
        raise TokenValidationError(
            f"{VALIDATION_FAILURE}, err: token is malformed: exp is not a number"
        )
    current = time.time() if now is None else now
    if current >= exp:
        raise TokenValidationError(
            f"{VALIDATION_FAILURE}, err: token has invalid claims: token is expired"
        )


def verify_authorization(header: str, ca_key_der: bytes, *, now: float | None = None,
                         ca_der: bytes | None = None) -> None:
    """Check an `Authorization: Bearer <jwt>` header (certs.go `verifyAuthorization`)."""
    if not header.strip():
        raise TokenValidationError(f"{VALIDATION_FAILURE}, token is empty")
    parts = header.split(" ")
    if len(parts) != 2:
        raise TokenValidationError(f"{VALIDATION_FAILURE}, token cannot be split")
    if parts[0].lower() != "bearer":
        raise TokenValidationError(
            f"{VALIDATION_FAILURE}, err: the Authorization scheme is {parts[0]!r}, not Bearer"
        )
    verify_token(parts[1], ca_key_der, now=now, ca_der=ca_der)


class TokenRefresher:
    """Writes a fresh token into `kubeedge/tokensecret` now and every `refresh`.

    pre_server.go `GenerateAndRefreshToken`: the first write happens in `start` (its
    failure fails the start); later failures are logged and retried after `retry`.
    `clock` paces the loop (a FakeClock in tests); `wall` stamps `exp`.
    """

    def __init__(
        self,
        client: APIClient,
        ca_der: bytes,
        ca_key_der: bytes,
        *,
        refresh: dt.timedelta = DEFAULT_TOKEN_REFRESH,
        expiry: dt.timedelta | None = None,
        retry: dt.timedelta = DEFAULT_RETRY,
        clock: Clock | None = None,
        wall: WallClock = time.time,
    ) -> None:
        expiry = 2 * refresh if expiry is None else expiry
        if refresh <= dt.timedelta(0):
            raise ValueError("modules.cloudHub.tokenRefreshDuration: must be positive")
        if expiry < refresh:
            raise ValueError(
                "the token expiry must be at least modules.cloudHub.tokenRefreshDuration, "
                "or the Secret would hold an expired token between refreshes"
            )
        self.client = client
        self.ca_der = ca_der
        self.ca_key_der = ca_key_der
        self.refresh = refresh
        self.expiry = expiry
        self.retry = retry
        self.clock: Clock = clock or RealClock()
        self.wall = wall
        self.current = ""
        self.refreshes = 0
        self._task: asyncio.Task[None] | None = None

    async def refresh_once(self) -> str:
        token = create_token(self.ca_der, self.ca_key_der, self.expiry, now=self.wall())
        await save_secret(self.client, TOKEN_SECRET, {TOKEN_DATA: token.encode()})
        self.current = token
        self.refreshes += 1
        return token

    async def start(self) -> None:
        await self.refresh_once()
        log.info("join token written to Secret kubeedge/%s", TOKEN_SECRET)
        self._task = asyncio.create_task(self._loop(), name="token-refresher")

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _loop(self) -> None:
        delay = self.refresh
        while True:
            await self.clock.sleep(delay.total_seconds())
            try:
                await self.refresh_once()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("failed to refresh the join token (retrying in %s): %s",
                            self.retry, exc)
                delay = self.retry
            else:
                log.info("join token refreshed")
                delay = self.refresh
