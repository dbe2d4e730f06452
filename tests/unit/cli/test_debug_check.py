"""`keadm debug check`'s judgements that need no cloud: the token's `exp`, certificate
name matching as Go's VerifyHostname does, `--now` parsing, and the host checks'
output."""

from __future__ import annotations

import datetime as dt

import pytest
from click.testing import CliRunner

from kubeedge.cli.keadm import main as keadm
from kubeedge.cloud import debug_check as checks
from kubeedge.cloud.certs.token import create_token

NOW = 1_800_000_000.0
KEY = b"k" * 32


def _token_result(token: str) -> checks.Result:
    return checks.Checker(now=lambda: NOW)._token(token)[1]


def test_token_expiry_is_read_without_the_key() -> None:
    fresh = create_token(b"ca", KEY, dt.timedelta(hours=24), now=NOW)
    assert _token_result(fresh).status is checks.Status.PASS
    stale = create_token(b"ca", KEY, dt.timedelta(hours=1), now=NOW - 7200)
    result = _token_result(stale)
    assert result.status is checks.Status.FAIL
    assert result.detail.startswith("expired at") and "60 min ago" in result.detail


@pytest.mark.parametrize("token", ["", "abc", "nothex." + "a.b.c", "a" * 64 + ".x.!!.y"])
def test_malformed_tokens_fail_with_the_fix(token: str) -> None:
    result = _token_result(token)
    assert result.status is checks.Status.FAIL
    assert "keadm gettoken" in result.fix


@pytest.mark.parametrize(("host", "ips", "names", "ok"), [
    ("127.0.0.1", ["127.0.0.1"], [], True),
    ("127.0.0.2", ["127.0.0.1"], [], False),
    ("::1", ["0:0:0:0:0:0:0:1"], [], True),
    ("localhost", ["127.0.0.1"], [], False),
    ("cloud.example.com", [], ["Cloud.Example.com"], True),
    ("a.example.com", [], ["*.example.com"], True),
    ("a.b.example.com", [], ["*.example.com"], False),
    ("127.0.0.1", [], ["127.0.0.1"], False),  # an IP must be an IP SAN
])
def test_certificate_names_match_as_go_does(host: str, ips: list[str], names: list[str],
                                            ok: bool) -> None:
    assert checks._names(host, ips, names) is ok


def test_now_takes_unix_seconds_or_rfc3339() -> None:
    assert checks.parse_now("1800000000") == NOW
    assert checks.parse_now("2027-01-15T08:00:00Z") == dt.datetime(
        2027, 1, 15, 8, tzinfo=dt.UTC).timestamp()
    with pytest.raises(ValueError, match="--now"):
        checks.parse_now("tomorrow")


def test_host_checks_print_a_verdict_each() -> None:
    result = CliRunner().invoke(keadm, ["debug", "check", "all", "--root", "/nonexistent"])
    lines = [line for line in result.output.splitlines() if line.startswith("[")]
    names = [line.split("] ", 1)[1].split(":", 1)[0] for line in lines]
    assert names[-6:] == list(checks.HOST_CHECKS)
    assert all(line.startswith("[SKIP]") for line in lines[:6])  # nothing to join to
    failed = any(line.startswith("[FAIL]") for line in lines)
    assert result.exit_code == (1 if failed else 0)


def test_a_bad_cloudcore_address_is_refused_naming_the_flag() -> None:
    result = CliRunner().invoke(keadm, ["debug", "check", "join", "--cloudcore-ipport",
                                        "no-port"])
    assert result.exit_code == 1 and "--cloudcore-ipport" in result.output
