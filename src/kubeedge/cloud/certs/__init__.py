"""CloudCore's certificates: the CA, the certificates it issues, and writing them to disk.

`authority` is the whole of it for now; the HTTPS :10002 handler (`/ca.crt`, `/edge.crt`,
specs/kubeedge.md §4) and the join token will sit beside it. Importing this package loads
`cryptography`, so the edge never imports it (ARCHITECTURE.md rule 9).
"""

from kubeedge.cloud.certs.authority import (
    CLIENT_AUTH,
    CLOUDCORE_CERT_VALIDITY,
    DEFAULT_CA_VALIDITY,
    DEFAULT_CERT_VALIDITY,
    KUBEEDGE_CA_NAME,
    SERVER_AUTH,
    CertificateAuthority,
    CertificateError,
    CertKeyPair,
    atomic_write,
    cert_expiry,
    cert_fingerprint,
    cert_identity,
    cert_pem,
    cert_remaining,
    ext_key_usage,
    generate_private_key,
    key_der,
    key_pem,
    load_certificate,
    load_csr,
    load_private_key,
    write_pem_pair,
)

__all__ = [
    "CLIENT_AUTH",
    "CLOUDCORE_CERT_VALIDITY",
    "DEFAULT_CA_VALIDITY",
    "DEFAULT_CERT_VALIDITY",
    "KUBEEDGE_CA_NAME",
    "SERVER_AUTH",
    "CertKeyPair",
    "CertificateAuthority",
    "CertificateError",
    "atomic_write",
    "cert_expiry",
    "cert_fingerprint",
    "cert_identity",
    "cert_pem",
    "cert_remaining",
    "ext_key_usage",
    "generate_private_key",
    "key_der",
    "key_pem",
    "load_certificate",
    "load_csr",
    "load_private_key",
    "write_pem_pair",
]
