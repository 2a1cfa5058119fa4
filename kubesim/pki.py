"""The cluster's certificates, laid out as kubeadm lays out ``/etc/kubernetes/pki``.

The API server gets an HTTPS front so that a real ``kubectl`` can talk to it:
client-go sends a bearer token only over TLS, so plain HTTP would leave every
request anonymous. TLS needs what a kubeadm cluster has — a cluster CA
(``ca.crt``/``ca.key``, CN ``kubernetes``) that kubeconfigs carry as
``certificate-authority-data``, and a serving certificate for the API server
(``apiserver.crt``/``apiserver.key``, CN ``kube-apiserver``) whose names are
the ones clients dial: ``localhost``, ``127.0.0.1``, the ``kubernetes`` service
names and the service's cluster IP.

:func:`ensure_pki` makes what is missing and keeps what is there: the API
server at start and ``kubesim kubeconfig`` may both call it on a fresh
directory at once, and a CA that a kubeconfig already carries must never be
replaced behind its back. :func:`server_ssl_context` turns the result into the
context the HTTPS front listens with.
"""

from __future__ import annotations

import datetime
import fcntl
import ipaddress
import os
import secrets
import ssl
import tempfile
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

CA_COMMON_NAME = "kubernetes"  # what kubeadm names the cluster CA
APISERVER_COMMON_NAME = "kube-apiserver"
CA_VALIDITY = datetime.timedelta(days=3650)  # kubeadm: 10 years for CAs
SERVING_VALIDITY = datetime.timedelta(days=365)  # kubeadm: 1 year for leaf certificates
# Certificates start a little in the past, as kubeadm's do, so a client whose
# clock is slightly behind does not reject a certificate made a moment ago.
BACKDATE = datetime.timedelta(minutes=5)
# A serving certificate this close to its end is re-issued rather than handed
# to a server that would start failing handshakes within the day.
RENEW_BEFORE = datetime.timedelta(days=1)

_LOCK_NAME = ".pki.lock"

# Any key a CA brought from elsewhere (a kubeadm RSA CA, say) may sign; the
# keys made here are always EC.
_SIGNING_KEY_TYPES = (ec.EllipticCurvePrivateKey, rsa.RSAPrivateKey,
                      ed25519.Ed25519PrivateKey, ed448.Ed448PrivateKey)
_SigningKey = (ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey
               | ed25519.Ed25519PrivateKey | ed448.Ed448PrivateKey)


class PkiError(ValueError):
    """The PKI directory holds something that cannot be used; the message names the file."""


@dataclass(frozen=True)
class Pki:
    """Where the certificates of one cluster live."""

    directory: Path
    ca_cert: Path
    ca_key: Path
    apiserver_cert: Path
    apiserver_key: Path

    @classmethod
    def in_directory(cls, directory: Path) -> Pki:
        """The paths kubeadm uses, under ``directory`` (nothing is read or made)."""
        directory = Path(directory)
        return cls(
            directory=directory,
            ca_cert=directory / "ca.crt",
            ca_key=directory / "ca.key",
            apiserver_cert=directory / "apiserver.crt",
            apiserver_key=directory / "apiserver.key",
        )

    @property
    def ca_pem(self) -> bytes:
        """The CA certificate as PEM: what a kubeconfig's ``certificate-authority-data`` encodes."""
        return self.ca_cert.read_bytes()


def ensure_pki(directory: Path, *, service_ip: str = "10.96.0.1",
               cluster_domain: str = "cluster.local") -> Pki:
    """Make the CA and the API server's serving certificate in ``directory`` unless they are there.

    Safe to call from several processes at once. An existing CA is used as it
    is, or refused with :class:`PkiError` if it cannot be used — never
    replaced, since kubeconfigs may already trust it. The serving certificate
    is re-issued from that CA when it is missing, unreadable, expired, signed
    by another CA, or lacks one of the names asked for now.
    """
    pki = Pki.in_directory(directory)
    try:
        service_address = ipaddress.ip_address(service_ip)
    except ValueError:
        raise PkiError(f"service_ip: not an IP address: {service_ip!r}") from None
    domain = cluster_domain.strip(".")
    dns_names = ["localhost", "kubernetes", "kubernetes.default", "kubernetes.default.svc",
                 f"kubernetes.default.svc.{domain}"]
    ip_addresses = [ipaddress.ip_address("127.0.0.1"), service_address]

    _make_private_directory(pki.directory)
    with _locked(pki.directory, fcntl.LOCK_EX):
        now = _now()
        ca_cert, ca_key = _ensure_ca(pki, now)
        _ensure_serving(pki, ca_cert, ca_key, dns_names, ip_addresses, now)
    return pki


def server_ssl_context(pki: Pki) -> ssl.SSLContext:
    """The context the API server's HTTPS front listens with.

    ALPN offers only ``http/1.1``: the front speaks HTTP/1.1 alone, and
    client-go would otherwise try HTTP/2 with a server that cannot answer it.
    """
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.set_alpn_protocols(["http/1.1"])
    # Shared lock: a re-issue in another process replaces files under the
    # exclusive one, so the pair read here is always one that belongs together.
    with _locked(pki.directory, fcntl.LOCK_SH):
        context.load_cert_chain(certfile=str(pki.apiserver_cert), keyfile=str(pki.apiserver_key))
    return context


def ensure_admin_token(directory: Path) -> str:
    """The cluster admin's bearer token (``admin.token``), made once with the certificates' lock.

    kubeadm hands the admin a credential when it makes a cluster; kubesim makes a
    random token the same way, so no token is written in a file anyone committed.
    """
    path = Path(directory) / "admin.token"
    _make_private_directory(path.parent)
    with _locked(path.parent, fcntl.LOCK_EX):
        if path.exists():
            token = path.read_text().strip()
            if not token or any(c.isspace() for c in token):
                raise PkiError(f"{path}: not a bearer token (empty or with spaces); remove it to make a new one")
            return token
        token = secrets.token_urlsafe(32)
        _write_atomically(path, token.encode() + b"\n", 0o600)
        return token


# --- the CA -----------------------------------------------------------------


def _ensure_ca(pki: Pki, now: datetime.datetime) -> tuple[x509.Certificate, _SigningKey]:
    if pki.ca_cert.exists():
        if not pki.ca_key.exists():
            raise PkiError(f"{pki.ca_key}: missing, but {pki.ca_cert.name} is there; "
                           "the CA cannot sign without its key (restore it, or remove the directory "
                           "to make a new CA that kubeconfigs must then be given)")
        cert = _load_cert(pki.ca_cert)
        key = _load_key(pki.ca_key)
        _check_ca(pki, cert, key, now)
        _tighten(pki.ca_key, 0o600)
        return cert, key

    # No ca.crt yet: nobody can trust this CA, so it may still be made. A
    # ca.key left by a creator that stopped between the two writes is kept
    # and used rather than overwritten.
    if pki.ca_key.exists():
        key = _load_key(pki.ca_key)
        _tighten(pki.ca_key, 0o600)
    else:
        key = _new_key()
        _write_atomically(pki.ca_key, _key_pem(key), 0o600)
    cert = _issue_ca(key, now)
    # ca.crt last: its presence is what says the CA exists.
    _write_atomically(pki.ca_cert, cert.public_bytes(serialization.Encoding.PEM), 0o644)
    return cert, key


def _check_ca(pki: Pki, cert: x509.Certificate, key: _SigningKey, now: datetime.datetime) -> None:
    if _public_der(cert.public_key()) != _public_der(key.public_key()):
        raise PkiError(f"{pki.ca_key}: does not belong to the certificate in {pki.ca_cert.name}")
    try:
        is_ca = cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    except x509.ExtensionNotFound:
        is_ca = False
    if not is_ca:
        raise PkiError(f"{pki.ca_cert}: not a CA certificate (basicConstraints CA is not set)")
    if cert.not_valid_after_utc <= now:
        raise PkiError(f"{pki.ca_cert}: the CA expired on {cert.not_valid_after_utc:%Y-%m-%d %H:%M:%S} UTC; "
                       "remove the directory to make a new CA (kubeconfigs must then be given the new one)")


def _issue_ca(key: _SigningKey, now: datetime.datetime) -> x509.Certificate:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, CA_COMMON_NAME)])
    public = key.public_key()
    return (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(public)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - BACKDATE)
        .not_valid_after(now + CA_VALIDITY)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(_key_usage(digital_signature=True, key_encipherment=True, key_cert_sign=True),
                       critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False)
        .sign(key, _hash_for(key))
    )


# --- the API server's serving certificate -----------------------------------


def _ensure_serving(pki: Pki, ca_cert: x509.Certificate, ca_key: _SigningKey, dns_names: list[str],
                    ip_addresses: list[ipaddress.IPv4Address | ipaddress.IPv6Address],
                    now: datetime.datetime) -> None:
    key = _usable_key(pki.apiserver_key)
    if key is None:
        # A serving key is trusted by nobody directly (trust is in the CA), so
        # a missing or broken one is simply made anew, with a new certificate.
        key = _new_key()
        _write_atomically(pki.apiserver_key, _key_pem(key), 0o600)
    else:
        _tighten(pki.apiserver_key, 0o600)
        cert = _usable_cert(pki.apiserver_cert)
        if cert is not None and _serving_cert_fits(cert, key, ca_cert, dns_names, ip_addresses, now):
            return
    # The key is kept when only the certificate is stale, as `kubeadm certs
    # renew` does; replacing the certificate alone is then one atomic rename.
    cert = _issue_serving(key, ca_cert, ca_key, dns_names, ip_addresses, now)
    _write_atomically(pki.apiserver_cert, cert.public_bytes(serialization.Encoding.PEM), 0o644)


def _serving_cert_fits(cert: x509.Certificate, key: _SigningKey, ca_cert: x509.Certificate,
                       dns_names: list[str],
                       ip_addresses: list[ipaddress.IPv4Address | ipaddress.IPv6Address],
                       now: datetime.datetime) -> bool:
    if _public_der(cert.public_key()) != _public_der(key.public_key()):
        return False
    try:
        cert.verify_directly_issued_by(ca_cert)
    except (ValueError, TypeError, InvalidSignature):
        return False
    if not cert.not_valid_before_utc <= now < cert.not_valid_after_utc - RENEW_BEFORE:
        return False
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return False
    have_dns = {name.lower() for name in san.get_values_for_type(x509.DNSName)}
    have_ips = set(san.get_values_for_type(x509.IPAddress))
    return {n.lower() for n in dns_names} <= have_dns and set(ip_addresses) <= have_ips


def _issue_serving(key: _SigningKey, ca_cert: x509.Certificate, ca_key: _SigningKey,
                   dns_names: list[str],
                   ip_addresses: list[ipaddress.IPv4Address | ipaddress.IPv6Address],
                   now: datetime.datetime) -> x509.Certificate:
    public = key.public_key()
    # A leaf outliving its CA would be refused anyway; end it with the CA.
    not_after = min(now + SERVING_VALIDITY, ca_cert.not_valid_after_utc)
    not_before = max(now - BACKDATE, ca_cert.not_valid_before_utc)
    sans: list[x509.GeneralName] = [x509.DNSName(n) for n in dns_names]
    sans += [x509.IPAddress(ip) for ip in dict.fromkeys(ip_addresses)]
    return (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, APISERVER_COMMON_NAME)]))
        .issuer_name(ca_cert.subject)
        .public_key(public)
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        # keyEncipherment only means something for RSA key exchange; an EC
        # key signs the handshake, so digitalSignature is what it needs.
        .add_extension(_key_usage(digital_signature=True,
                                  key_encipherment=not isinstance(key, ec.EllipticCurvePrivateKey)),
                       critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.SubjectAlternativeName(sans), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False)
        .add_extension(_authority_key_id(ca_cert), critical=False)
        .sign(ca_key, _hash_for(ca_key))
    )


def _authority_key_id(ca_cert: x509.Certificate) -> x509.AuthorityKeyIdentifier:
    try:
        ski = ca_cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    except x509.ExtensionNotFound:
        return x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_cert.public_key())  # type: ignore[arg-type]
    return x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ski)


# --- keys, files, locking ---------------------------------------------------

def _new_key() -> ec.EllipticCurvePrivateKey:
    # ECDSA P-256 rather than kubeadm's default RSA 2048: it is made in well
    # under a millisecond where RSA takes tens to hundreds, and this runs on
    # every fresh cluster and in tests. Go's crypto/tls (client-go, kubectl)
    # and OpenSSL accept it; kubeadm offers it too (encryptionAlgorithm ECDSA-P256).
    return ec.generate_private_key(ec.SECP256R1())


def _key_pem(key: _SigningKey) -> bytes:
    # SEC1 "EC PRIVATE KEY" for EC keys, as kubeadm writes them.
    fmt = (serialization.PrivateFormat.TraditionalOpenSSL
           if isinstance(key, ec.EllipticCurvePrivateKey) else serialization.PrivateFormat.PKCS8)
    return key.private_bytes(serialization.Encoding.PEM, fmt, serialization.NoEncryption())


def _hash_for(key: _SigningKey) -> hashes.HashAlgorithm | None:
    # Ed25519/Ed448 sign without a separate digest; the others use SHA-256 as kubeadm does.
    return None if isinstance(key, (ed25519.Ed25519PrivateKey, ed448.Ed448PrivateKey)) else hashes.SHA256()


def _key_usage(*, digital_signature: bool = False, key_encipherment: bool = False,
               key_cert_sign: bool = False) -> x509.KeyUsage:
    return x509.KeyUsage(digital_signature=digital_signature, content_commitment=False,
                         key_encipherment=key_encipherment, data_encipherment=False,
                         key_agreement=False, key_cert_sign=key_cert_sign, crl_sign=False,
                         encipher_only=False, decipher_only=False)


def _public_der(public_key: object) -> bytes:
    return public_key.public_bytes(serialization.Encoding.DER,  # type: ignore[attr-defined]
                                   serialization.PublicFormat.SubjectPublicKeyInfo)


def _load_cert(path: Path) -> x509.Certificate:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise PkiError(f"{path}: cannot be read: {exc.strerror}") from None
    try:
        return x509.load_pem_x509_certificate(data)
    except ValueError as exc:
        raise PkiError(f"{path}: not a PEM certificate ({exc})") from None


def _load_key(path: Path) -> _SigningKey:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise PkiError(f"{path}: cannot be read: {exc.strerror}") from None
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except TypeError:
        raise PkiError(f"{path}: the private key is encrypted; kubesim needs it unencrypted") from None
    except (ValueError, UnsupportedAlgorithm) as exc:
        raise PkiError(f"{path}: not a PEM private key ({exc})") from None
    if not isinstance(key, _SIGNING_KEY_TYPES):
        raise PkiError(f"{path}: a {type(key).__name__} cannot sign certificates")
    return key


def _usable_key(path: Path) -> _SigningKey | None:
    try:
        return _load_key(path)
    except PkiError:
        return None


def _usable_cert(path: Path) -> x509.Certificate | None:
    try:
        return _load_cert(path)
    except PkiError:
        return None


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.timezone.utc)


def _make_private_directory(directory: Path) -> None:
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    # mkdir's mode is cut by the umask and does nothing to a directory that
    # was already there; it holds private keys, so only its owner may look in.
    _tighten(directory, 0o700)


def _tighten(path: Path, mode: int) -> None:
    if path.stat().st_mode & 0o777 != mode:
        os.chmod(path, mode)


@contextmanager
def _locked(directory: Path, how: int) -> Iterator[None]:
    # The lock file is never removed: removing it would let a late process
    # lock a new file while an early one still holds the old.
    fd = os.open(directory / _LOCK_NAME, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        fcntl.flock(fd, how)
        yield
    finally:
        os.close(fd)  # closing releases the lock


def _write_atomically(path: Path, data: bytes, mode: int) -> None:
    # A reader sees the old file or the whole new one, never half of it, and
    # a process killed mid-write leaves only a stray temporary file behind.
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            os.fchmod(f.fileno(), mode)
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)  # the rename itself survives a crash
    finally:
        os.close(dir_fd)
