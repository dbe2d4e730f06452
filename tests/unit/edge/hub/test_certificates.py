"""EdgeHub's certificate manager when it cannot bootstrap: the error says what is wrong
with the certificate it found (spec §4: an edge never uses another node's certificate)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from kubeedge.client.clock import FakeClock
from kubeedge.edge.certs import BootstrapError, EdgeCertPaths
from kubeedge.edge.hub.certificates import CertificateManager


def _place_certificate(path: Path, common_name: str) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    now = dt.datetime.now(dt.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(1)
            .not_valid_before(now - dt.timedelta(minutes=1))
            .not_valid_after(now + dt.timedelta(days=1)).sign(key, hashes.SHA256()))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))


def _manager(root: Path) -> CertificateManager:
    return CertificateManager(EdgeCertPaths.for_root(root), "edge-b", "https://127.0.0.1:1",
                              clock=FakeClock())


def test_another_nodes_certificate_without_a_token_is_named(tmp_path: Path) -> None:
    _place_certificate(EdgeCertPaths.for_root(tmp_path).cert, "system:node:edge-a")
    with pytest.raises(BootstrapError) as refused:
        _manager(tmp_path)._ensure_sync()
    assert "the certificate there is for system:node:edge-a, not system:node:edge-b" in str(
        refused.value)
    assert "keadm gettoken" in str(refused.value)


def test_no_certificate_and_no_token_asks_for_a_token(tmp_path: Path) -> None:
    with pytest.raises(BootstrapError) as refused:
        _manager(tmp_path)._ensure_sync()
    assert "no usable certificate for node edge-b" in str(refused.value)
    assert "the certificate there is for" not in str(refused.value)
