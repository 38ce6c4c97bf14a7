"""A private CA and a server certificate for the stand-in's HTTPS."""

from __future__ import annotations

import base64
import hashlib
import ssl
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import trustme
from cryptography import x509
from cryptography.hazmat.primitives import serialization


@dataclass(frozen=True)
class ServerTls:
    """``ca_bundle`` is the PEM file clients trust; ``spki_pin`` the base64 SHA-256 of
    the server key (for pinning tests); ``context`` serves TLS 1.2 or newer."""

    ca_bundle: Path
    spki_pin: str
    context: ssl.SSLContext


def issue(directory: Path, names: Sequence[str] = ()) -> ServerTls:
    """Make a CA and a certificate for 127.0.0.1, localhost and ``names`` (addresses
    or host names) under ``directory``."""
    ca = trustme.CA(organization_name="runpod-ssh-action stand-in")
    leaf = ca.issue_cert(*dict.fromkeys(("127.0.0.1", "localhost", *names)))
    ca_bundle = directory / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_bundle))
    ca_bundle.chmod(0o644)

    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    leaf.configure_cert(context)

    cert = x509.load_pem_x509_certificate(leaf.cert_chain_pems[0].bytes())
    spki = cert.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    pin = base64.b64encode(hashlib.sha256(spki).digest()).decode()
    return ServerTls(ca_bundle=ca_bundle, spki_pin=pin, context=context)
