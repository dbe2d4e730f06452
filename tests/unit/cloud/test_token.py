"""The join token (specs/kubeedge.md §4): `<sha256(CA DER)>.<HS256 JWT keyed by the CA
key's SEC 1 DER>`, its expiry on a clock the test controls, forged and malformed tokens
refused with `token validation failure`, and the refresher rewriting `tokensecret`."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import json

import jwt
import pytest

from kubeedge.client.clock import FakeClock
from kubeedge.cloud.certs.authority import CertificateAuthority
from kubeedge.cloud.certs.edge_ca import TOKEN_DATA, TOKEN_SECRET, create_kubeedge_ca
from kubeedge.cloud.certs.token import (
    TokenRefresher,
    TokenValidationError,
    create_token,
    split_token,
    verify_authorization,
    verify_token,
)
from kubeedge.edge.certs import verify_ca
from tests.unit.cloud.test_edge_certs import FakeSecretsAPI

NOW = 1_900_000_000.0
DAY = dt.timedelta(hours=24)


@pytest.fixture(scope="module")
def ca() -> CertificateAuthority:
    return create_kubeedge_ca()


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def test_token_is_ca_hash_then_hs256_jwt_keyed_by_the_ca_key_der(
    ca: CertificateAuthority,
) -> None:
    token = create_token(ca.cert_der, ca.key_der, DAY, now=NOW)
    parts = token.split(".")
    assert len(parts) == 4
    assert parts[0] == hashlib.sha256(ca.cert_der).hexdigest()
    header = json.loads(base64.urlsafe_b64decode(parts[1] + "=="))
    claims = json.loads(base64.urlsafe_b64decode(parts[2] + "=="))
    assert header == {"alg": "HS256", "typ": "JWT"}
    assert claims == {"exp": int(NOW + DAY.total_seconds())}
    # Recompute the signature by hand: HMAC-SHA256 over "header.claims" with the DER key,
    # which is what Go's jwt does with `[]byte` key material.
    mac = hmac.new(ca.key_der, f"{parts[1]}.{parts[2]}".encode(), hashlib.sha256).digest()
    assert parts[3] == _b64url(mac)


def test_round_trip_with_the_edge_side_check(ca: CertificateAuthority) -> None:
    token = create_token(ca.cert_der, ca.key_der, DAY, now=NOW)
    bearer = verify_ca(token, ca.cert_der)
    assert bearer == split_token(token)[1]
    verify_token(bearer, ca.key_der, now=NOW + 60)
    verify_authorization(f"Bearer {bearer}", ca.key_der, now=NOW + 60)
    # The whole 4-part token works as a Bearer too when its hash is this CA's.
    verify_authorization(f"Bearer {token}", ca.key_der, now=NOW, ca_der=ca.cert_der)


def test_token_expires_on_the_given_clock(ca: CertificateAuthority) -> None:
    bearer = split_token(create_token(ca.cert_der, ca.key_der, DAY, now=NOW))[1]
    verify_token(bearer, ca.key_der, now=NOW + DAY.total_seconds() - 1)
    for later in (NOW + DAY.total_seconds(), NOW + 2 * DAY.total_seconds()):
        with pytest.raises(TokenValidationError, match="token is expired") as err:
            verify_token(bearer, ca.key_der, now=later)
        assert str(err.value).startswith("token validation failure")


def test_a_token_signed_by_another_ca_is_forged(ca: CertificateAuthority) -> None:
    other = create_kubeedge_ca()
    forged = split_token(create_token(ca.cert_der, other.key_der, DAY, now=NOW))[1]
    with pytest.raises(TokenValidationError, match=r"^token validation failure.*signature"):
        verify_token(forged, ca.key_der, now=NOW)


def test_tampered_claims_fail_the_signature(ca: CertificateAuthority) -> None:
    header, _, signature = split_token(create_token(ca.cert_der, ca.key_der, DAY, now=NOW)
                                       )[1].split(".")
    longer = _b64url(json.dumps({"exp": int(NOW + 365 * 86400)}).encode())
    with pytest.raises(TokenValidationError, match="signature is invalid"):
        verify_token(f"{header}.{longer}.{signature}", ca.key_der, now=NOW)


@pytest.mark.parametrize(
    ("make", "detail"),
    [
        (lambda key: jwt.encode({"exp": int(NOW) + 60}, None, algorithm="none"), "HS256"),
        (lambda key: jwt.encode({"exp": int(NOW) + 60}, key, algorithm="HS512"), "HS256"),
        (lambda key: jwt.encode({"sub": "x"}, key, algorithm="HS256"), "no expiry"),
        (lambda key: jwt.encode({"exp": "soon"}, key, algorithm="HS256"), "malformed"),
        (lambda key: "not-a-jwt", "malformed"),
        (lambda key: "a.b.c", "malformed"),
    ],
)
def test_malformed_or_unsafe_tokens_are_refused(ca: CertificateAuthority, make, detail: str
                                               ) -> None:
    with pytest.raises(TokenValidationError, match=detail) as err:
        verify_token(make(ca.key_der), ca.key_der, now=NOW)
    assert str(err.value).startswith("token validation failure")


def test_authorization_header_forms(ca: CertificateAuthority) -> None:
    bearer = split_token(create_token(ca.cert_der, ca.key_der, DAY, now=NOW))[1]
    cases = {"": "token is empty", f"Bearer{bearer}": "cannot be split",
             f"Bearer  {bearer}": "cannot be split", f"Basic {bearer}": "not Bearer"}
    for header, detail in cases.items():
        with pytest.raises(TokenValidationError, match=detail):
            verify_authorization(header, ca.key_der, now=NOW)
    # A full token with another CA's hash is refused even though the JWT is good.
    wrong_hash = "0" * 64 + "." + bearer
    with pytest.raises(TokenValidationError, match="CA hash"):
        verify_authorization(f"Bearer {wrong_hash}", ca.key_der, now=NOW, ca_der=ca.cert_der)


def test_wrong_part_count_is_refused() -> None:
    with pytest.raises(TokenValidationError, match="not 4"):
        split_token("abc.def.ghi")


async def test_refresher_rewrites_tokensecret_every_interval(ca: CertificateAuthority) -> None:
    api = FakeSecretsAPI()
    clock = FakeClock()
    wall = [NOW]
    refresher = TokenRefresher(api, ca.cert_der, ca.key_der,  # type: ignore[arg-type]
                               refresh=dt.timedelta(hours=12), clock=clock,
                               wall=lambda: wall[0])
    assert refresher.expiry == dt.timedelta(hours=24)
    await refresher.start()
    try:
        first = api.secret_data(TOKEN_SECRET, TOKEN_DATA).decode()
        assert first == refresher.current
        verify_token(split_token(first)[1], ca.key_der, now=NOW)

        # Just short of the interval: nothing new.
        await clock.advance(12 * 3600 - 1)
        assert api.secret_data(TOKEN_SECRET, TOKEN_DATA).decode() == first

        wall[0] = NOW + 12 * 3600
        await clock.advance(1)
        second = api.secret_data(TOKEN_SECRET, TOKEN_DATA).decode()
        assert second != first and refresher.refreshes == 2
        # The token read from the Secret right before a refresh still has 12 h to live.
        verify_token(split_token(first)[1], ca.key_der, now=NOW + 24 * 3600 - 1)
        assert api.updates == [TOKEN_SECRET]
    finally:
        await refresher.stop()


async def test_refresher_retries_soon_after_a_failed_write(ca: CertificateAuthority) -> None:
    api = FakeSecretsAPI()
    clock = FakeClock()
    refresher = TokenRefresher(api, ca.cert_der, ca.key_der,  # type: ignore[arg-type]
                               refresh=dt.timedelta(hours=12),
                               retry=dt.timedelta(seconds=10), clock=clock, wall=lambda: NOW)
    await refresher.start()
    try:
        api.fail_writes = 1
        await clock.advance(12 * 3600)
        assert refresher.refreshes == 1
        await clock.advance(10)
        assert refresher.refreshes == 2
    finally:
        await refresher.stop()


def test_refresher_refuses_an_expiry_shorter_than_the_interval(
    ca: CertificateAuthority,
) -> None:
    with pytest.raises(ValueError, match="tokenRefreshDuration"):
        TokenRefresher(FakeSecretsAPI(), ca.cert_der, ca.key_der,  # type: ignore[arg-type]
                       refresh=dt.timedelta(hours=12), expiry=dt.timedelta(hours=1))
