"""TLS for the S3 port: an operator's certificate, or `--tls auto`'s self-signed one kept in the data dir."""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
import ssl
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from s3server.config import Settings

AUTO_DIR = "tls"
CERT_FILE = "cert.pem"
KEY_FILE = "key.pem"
VALID_DAYS = 825  # the longest validity common clients accept for a server certificate


def host_names(settings: Settings) -> list[str]:
    """Names the automatic certificate covers: loopback, the bind address, the domain and its buckets."""
    names = ["localhost", "127.0.0.1", "::1"]
    if settings.address not in ("", "0.0.0.0", "::"):
        names.append(settings.address)
    if settings.domain:
        names += [settings.domain, f"*.{settings.domain}"]
    names += [n.strip() for n in settings.tls_hostnames.split(",") if n.strip()]
    return list(dict.fromkeys(names))


def _san(names: list[str]) -> x509.SubjectAlternativeName:
    entries: list[x509.GeneralName] = []
    for name in names:
        try:
            entries.append(x509.IPAddress(ipaddress.ip_address(name)))
        except ValueError:
            entries.append(x509.DNSName(name))
    return x509.SubjectAlternativeName(entries)


def _covers(cert_path: Path, names: list[str]) -> bool:
    try:
        cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except (OSError, ValueError, x509.ExtensionNotFound):
        return False
    have = {str(v) for v in san.get_values_for_type(x509.DNSName)}
    have |= {str(v) for v in san.get_values_for_type(x509.IPAddress)}
    still_valid = cert.not_valid_after_utc > dt.datetime.now(dt.UTC) + dt.timedelta(days=1)
    return still_valid and all(name in have for name in names)


def ensure_self_signed(data_dir: Path, names: list[str]) -> tuple[Path, Path, bool]:
    """The automatic certificate and key, generated when missing, expiring, or not covering `names`.

    Returns (cert, key, generated_now).
    """
    folder = data_dir / AUTO_DIR
    cert_path, key_path = folder / CERT_FILE, folder / KEY_FILE
    if cert_path.exists() and key_path.exists() and _covers(cert_path, names):
        return cert_path, key_path, False
    folder.mkdir(parents=True, exist_ok=True)
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name(
        [
            x509.NameAttribute(NameOID.COMMON_NAME, names[0]),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "s3server self-signed"),
        ]
    )
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=VALID_DAYS))
        .add_extension(_san(names), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                key_cert_sign=True,
                crl_sign=False,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .sign(key, hashes.SHA256())
    )
    fd = os.open(key_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(
            key.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            )
        )
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return cert_path, key_path, True


def ssl_context(settings: Settings) -> tuple[ssl.SSLContext | None, str]:
    """The server's SSL context (None for plain HTTP) and a note for the operator to print."""
    if settings.tls_cert or settings.tls_key:
        if not (settings.tls_cert and settings.tls_key):
            raise SystemExit("s3server: --tls-cert and --tls-key go together")
        cert, key, note = Path(settings.tls_cert), Path(settings.tls_key), ""
    elif settings.tls == "auto":
        names = host_names(settings)
        cert, key, generated = ensure_self_signed(settings.data_path, names)
        note = (
            f"s3server: {'generated' if generated else 'using'} a self-signed certificate for "
            f"{', '.join(names)}: {cert}\n"
            f"  trust it with: aws --ca-bundle {cert} …  |  export AWS_CA_BUNDLE={cert}  |  "
            f"boto3.client('s3', verify='{cert}', …)"
        )
    elif settings.tls in ("", "off"):
        return None, ""
    else:
        raise SystemExit(f"s3server: --tls takes 'auto' (or give --tls-cert/--tls-key), not {settings.tls!r}")
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(str(cert), str(key))
    return context, note
