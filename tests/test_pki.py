"""The cluster's certificates: made once, kept, shared safely, and accepted by real TLS clients."""

from __future__ import annotations

import datetime
import json
import multiprocessing
import os
import shutil
import socket
import ssl
import subprocess
import threading
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

import kubesim.pki as pki_module
from kubesim.pki import Pki, PkiError, ensure_pki, server_ssl_context

DNS_SANS = {"localhost", "kubernetes", "kubernetes.default", "kubernetes.default.svc",
            "kubernetes.default.svc.cluster.local"}
BODY = {"major": "1", "minor": "32", "gitVersion": "v1.32.0-kubesim"}


def _cert(path: Path) -> x509.Certificate:
    return x509.load_pem_x509_certificate(path.read_bytes())


def _sans(cert: x509.Certificate) -> tuple[set[str], set[str]]:
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    return (set(san.get_values_for_type(x509.DNSName)),
            {str(ip) for ip in san.get_values_for_type(x509.IPAddress)})


def _files(pki: Pki) -> dict[str, tuple[bytes, int, int]]:
    """Each file's bytes, inode and mtime: any rewrite changes at least one."""
    out = {}
    for path in (pki.ca_cert, pki.ca_key, pki.apiserver_cert, pki.apiserver_key):
        st = path.stat()
        out[path.name] = (path.read_bytes(), st.st_ino, st.st_mtime_ns)
    return out


def _mode(path: Path) -> int:
    return path.stat().st_mode & 0o777


def test_a_fresh_directory_gets_a_ca_and_a_serving_certificate_with_private_modes(tmp_path):
    pki = ensure_pki(tmp_path / "etc" / "pki")
    assert pki == Pki.in_directory(tmp_path / "etc" / "pki")
    assert _mode(pki.directory) == 0o700
    assert _mode(pki.ca_key) == 0o600 and _mode(pki.apiserver_key) == 0o600
    assert _mode(pki.ca_cert) == 0o644 and _mode(pki.apiserver_cert) == 0o644
    # Only the four files and the lock: no temporary file is left behind.
    assert sorted(p.name for p in pki.directory.iterdir()) == [
        ".pki.lock", "apiserver.crt", "apiserver.key", "ca.crt", "ca.key"]
    assert pki.ca_pem == pki.ca_cert.read_bytes() and pki.ca_pem.startswith(b"-----BEGIN CERTIFICATE-----")


def test_the_ca_is_a_ten_year_kubernetes_ca(tmp_path):
    ca = _cert(ensure_pki(tmp_path).ca_cert)
    assert ca.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "kubernetes"
    assert ca.issuer == ca.subject
    assert ca.extensions.get_extension_for_class(x509.BasicConstraints).value.ca is True
    usage = ca.extensions.get_extension_for_class(x509.KeyUsage).value
    assert usage.key_cert_sign and usage.digital_signature and usage.key_encipherment
    lifetime = ca.not_valid_after_utc - ca.not_valid_before_utc
    assert datetime.timedelta(days=3649) < lifetime < datetime.timedelta(days=3651)


def test_the_serving_certificate_is_signed_by_the_ca_and_names_every_address_clients_dial(tmp_path):
    pki = ensure_pki(tmp_path)
    ca, cert = _cert(pki.ca_cert), _cert(pki.apiserver_cert)
    cert.verify_directly_issued_by(ca)
    assert cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "kube-apiserver"
    assert _sans(cert) == (DNS_SANS, {"127.0.0.1", "10.96.0.1"})
    eku = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(eku) == [ExtendedKeyUsageOID.SERVER_AUTH]
    assert cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca is False
    lifetime = cert.not_valid_after_utc - cert.not_valid_before_utc
    assert datetime.timedelta(days=364) < lifetime < datetime.timedelta(days=366)
    key = serialization.load_pem_private_key(pki.apiserver_key.read_bytes(), password=None)
    assert key.public_key() == cert.public_key()


def test_a_second_call_keeps_every_file_untouched(tmp_path):
    first = ensure_pki(tmp_path)
    before = _files(first)
    second = ensure_pki(tmp_path)
    assert second == first
    assert _files(second) == before


def test_a_loose_directory_is_tightened(tmp_path):
    tmp_path.chmod(0o755)
    ensure_pki(tmp_path)
    assert _mode(tmp_path) == 0o700


def test_a_new_service_ip_reissues_the_serving_certificate_from_the_same_ca_and_key(tmp_path):
    pki = ensure_pki(tmp_path)
    before = _files(pki)
    ensure_pki(tmp_path, service_ip="10.100.0.1", cluster_domain="example.org")
    after = _files(pki)
    assert after["ca.crt"] == before["ca.crt"] and after["ca.key"] == before["ca.key"]
    # The key is kept, as `kubeadm certs renew` keeps it: only the certificate changes.
    assert after["apiserver.key"] == before["apiserver.key"]
    assert after["apiserver.crt"][0] != before["apiserver.crt"][0]
    cert = _cert(pki.apiserver_cert)
    cert.verify_directly_issued_by(_cert(pki.ca_cert))
    dns, ips = _sans(cert)
    assert ips == {"127.0.0.1", "10.100.0.1"}
    assert "kubernetes.default.svc.example.org" in dns


def test_an_expired_serving_certificate_is_reissued(tmp_path, monkeypatch):
    real_now = pki_module._now()
    monkeypatch.setattr(pki_module, "_now", lambda: real_now - datetime.timedelta(days=400))
    pki = ensure_pki(tmp_path)
    old = _files(pki)
    assert _cert(pki.apiserver_cert).not_valid_after_utc < real_now
    monkeypatch.undo()
    ensure_pki(tmp_path)
    new = _files(pki)
    assert new["ca.crt"] == old["ca.crt"] and new["ca.key"] == old["ca.key"]
    cert = _cert(pki.apiserver_cert)
    assert cert.not_valid_before_utc <= real_now < cert.not_valid_after_utc
    cert.verify_directly_issued_by(_cert(pki.ca_cert))


def test_a_serving_certificate_from_another_ca_or_a_broken_one_is_reissued(tmp_path):
    pki = ensure_pki(tmp_path)
    other = ensure_pki(tmp_path / "other")
    shutil.copy(other.apiserver_cert, pki.apiserver_cert)
    ensure_pki(tmp_path)
    _cert(pki.apiserver_cert).verify_directly_issued_by(_cert(pki.ca_cert))
    pki.apiserver_key.write_bytes(b"garbage")
    ensure_pki(tmp_path)
    server_ssl_context(pki)  # the new key and certificate belong together
    _cert(pki.apiserver_cert).verify_directly_issued_by(_cert(pki.ca_cert))


def _break_ca_cert(pki: Pki) -> None:
    pki.ca_cert.write_bytes(b"-----BEGIN CERTIFICATE-----\nnot base64\n-----END CERTIFICATE-----\n")


def _break_ca_key(pki: Pki) -> None:
    pki.ca_key.write_bytes(b"oops")


def _swap_ca_key(pki: Pki) -> None:
    shutil.copy(pki.apiserver_key, pki.ca_key)


def _lose_ca_key(pki: Pki) -> None:
    pki.ca_key.unlink()


def _make_ca_a_leaf(pki: Pki) -> None:
    shutil.copy(pki.apiserver_cert, pki.ca_cert)
    shutil.copy(pki.apiserver_key, pki.ca_key)


@pytest.mark.parametrize(("damage", "file", "what"), [
    (_break_ca_cert, "ca.crt", "not a PEM certificate"),
    (_break_ca_key, "ca.key", "not a PEM private key"),
    (_swap_ca_key, "ca.key", "does not belong to the certificate in ca.crt"),
    (_lose_ca_key, "ca.key", "missing, but ca.crt is there"),
    (_make_ca_a_leaf, "ca.crt", "not a CA certificate"),
])
def test_an_unusable_ca_is_refused_by_name_and_never_replaced(tmp_path, damage, file, what):
    pki = ensure_pki(tmp_path)
    damage(pki)
    kept = {p.name: p.read_bytes() for p in tmp_path.iterdir() if p.is_file()}
    with pytest.raises(PkiError) as info:
        ensure_pki(tmp_path)
    assert isinstance(info.value, ValueError)
    assert str(info.value).startswith(f"{tmp_path / file}: {what}")
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir() if p.is_file()} == kept


def test_a_ca_key_left_without_its_certificate_is_used_not_overwritten(tmp_path):
    # What a creator killed between writing ca.key and ca.crt leaves behind.
    pki = ensure_pki(tmp_path)
    pki.ca_cert.unlink()
    key_bytes = pki.ca_key.read_bytes()
    ensure_pki(tmp_path)
    assert pki.ca_key.read_bytes() == key_bytes
    key = serialization.load_pem_private_key(key_bytes, password=None)
    assert _cert(pki.ca_cert).public_key() == key.public_key()
    _cert(pki.apiserver_cert).verify_directly_issued_by(_cert(pki.ca_cert))


def test_a_ca_made_elsewhere_with_rsa_signs_the_serving_certificate(tmp_path):
    # A kubeadm CA is RSA by default; one copied in is used as it is.
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "kubernetes")])
    now = datetime.datetime.now(datetime.timezone.utc)
    ca = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
          .serial_number(1).not_valid_before(now).not_valid_after(now + datetime.timedelta(days=30))
          .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
          .sign(key, hashes.SHA256()))
    (tmp_path / "ca.crt").write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    (tmp_path / "ca.key").write_bytes(key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption()))
    pki = ensure_pki(tmp_path)
    assert pki.ca_cert.read_bytes() == ca.public_bytes(serialization.Encoding.PEM)
    cert = _cert(pki.apiserver_cert)
    cert.verify_directly_issued_by(ca)
    assert cert.not_valid_after_utc <= ca.not_valid_after_utc  # never outlives its CA


def test_a_service_ip_that_is_no_address_is_refused(tmp_path):
    with pytest.raises(PkiError, match="service_ip: not an IP address: '10.96.0'"):
        ensure_pki(tmp_path, service_ip="10.96.0")


# --- two processes at once --------------------------------------------------


def _race(directory: str, barrier, results) -> None:
    barrier.wait()
    pki = ensure_pki(Path(directory))
    # What a kubeconfig written by this process would carry, read the moment
    # ensure_pki returns; a later process must not change it.
    results.put((os.getpid(), pki.ca_pem, pki.apiserver_cert.read_bytes()))


def test_processes_racing_on_a_fresh_directory_end_with_one_ca_they_all_agree_on(tmp_path):
    ctx = multiprocessing.get_context("fork")  # no re-import: the processes start at once
    for round_ in range(3):
        directory = tmp_path / f"pki{round_}"
        barrier, results = ctx.Barrier(4), ctx.Queue()
        procs = [ctx.Process(target=_race, args=(str(directory), barrier, results)) for _ in range(4)]
        for p in procs:
            p.start()
        seen = [results.get(timeout=30) for _ in procs]
        for p in procs:
            p.join(timeout=30)
            assert p.exitcode == 0
        pki = Pki.in_directory(directory)
        assert {ca for _, ca, _ in seen} == {pki.ca_pem}
        assert {cert for _, _, cert in seen} == {pki.apiserver_cert.read_bytes()}
        ca = _cert(pki.ca_cert)
        ca_key = serialization.load_pem_private_key(pki.ca_key.read_bytes(), password=None)
        assert ca_key.public_key() == ca.public_key()
        _cert(pki.apiserver_cert).verify_directly_issued_by(ca)
        server_ssl_context(pki)  # the serving key matches its certificate
        assert not [p.name for p in directory.iterdir() if p.name.endswith(".tmp")]


# --- real TLS clients -------------------------------------------------------


class _OneShotHttps:
    """A TLS server on 127.0.0.1 answering each connection's one HTTP/1.1 request with JSON."""

    def __init__(self, context: ssl.SSLContext) -> None:
        self.context = context
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.listener.settimeout(0.1)
        self.port = self.listener.getsockname()[1]
        self.requests: list[tuple[str | None, bytes]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        body = json.dumps(BODY).encode()
        while not self._stop.is_set():
            try:
                conn, _ = self.listener.accept()
            except TimeoutError:
                continue
            conn.settimeout(10)
            try:
                with self.context.wrap_socket(conn, server_side=True) as tls:
                    request = b""
                    while b"\r\n\r\n" not in request:
                        chunk = tls.recv(4096)
                        if not chunk:
                            break
                        request += chunk
                    self.requests.append((tls.selected_alpn_protocol(), request))
                    tls.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                                b"Content-Length: %d\r\nConnection: close\r\n\r\n%s" % (len(body), body))
            except (ssl.SSLError, OSError):
                continue  # a client that refused the certificate: the next one may not

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self.listener.close()


@pytest.fixture
def https(tmp_path):
    pki = ensure_pki(tmp_path / "pki")
    server = _OneShotHttps(server_ssl_context(pki))
    yield pki, server
    server.close()


def _get_version(port: int, context: ssl.SSLContext, hostname: str) -> tuple[str | None, dict]:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as raw:
        with context.wrap_socket(raw, server_hostname=hostname) as tls:
            tls.sendall(f"GET /version HTTP/1.1\r\nHost: {hostname}\r\n\r\n".encode())
            response = b""
            while chunk := tls.recv(4096):
                response += chunk
            alpn = tls.selected_alpn_protocol()
    head, _, body = response.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200 OK")
    return alpn, json.loads(body)


def test_the_server_context_is_tls12_or_later_and_offers_only_http11(tmp_path):
    context = server_ssl_context(ensure_pki(tmp_path))
    assert context.minimum_version == ssl.TLSVersion.TLSv1_2
    assert context.verify_mode == ssl.CERT_NONE  # clients authenticate by bearer token, not certificate


@pytest.mark.parametrize("hostname", ["127.0.0.1", "localhost", "kubernetes.default.svc.cluster.local"])
def test_python_trusting_only_the_ca_verifies_the_server_as_each_name(https, hostname):
    pki, server = https
    client = ssl.create_default_context(cafile=str(pki.ca_cert))
    client.set_alpn_protocols(["h2", "http/1.1"])  # as client-go offers them
    alpn, body = _get_version(server.port, client, hostname)
    assert body == BODY
    assert alpn == "http/1.1"  # h2 is never chosen: the front speaks HTTP/1.1 only


def test_a_name_not_in_the_certificate_or_a_client_without_the_ca_is_refused(https):
    pki, server = https
    with pytest.raises(ssl.SSLCertVerificationError, match="Hostname mismatch"):
        _get_version(server.port, ssl.create_default_context(cafile=str(pki.ca_cert)), "example.com")
    with pytest.raises(ssl.SSLCertVerificationError, match="unable to get local issuer certificate"):
        _get_version(server.port, ssl.create_default_context(), "localhost")


@pytest.mark.skipif(shutil.which("curl") is None, reason="curl is not installed; the Python client checks the same")
def test_curl_trusting_the_ca_reads_the_body(https):
    pki, server = https
    for url, extra in [(f"https://127.0.0.1:{server.port}/version", []),
                       (f"https://kubernetes.default.svc:{server.port}/version",
                        ["--resolve", f"kubernetes.default.svc:{server.port}:127.0.0.1"])]:
        out = subprocess.run(["curl", "-sS", "--fail", "--max-time", "10", "--cacert", str(pki.ca_cert),
                              *extra, url], capture_output=True, text=True, timeout=20)
        assert out.returncode == 0, out.stderr
        assert json.loads(out.stdout) == BODY


@pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl is not installed; Go's TLS is checked by hand")
def test_kubectl_go_tls_accepts_the_certificate_and_sends_its_token(https, tmp_path):
    pki, server = https
    env = {**os.environ, "KUBECONFIG": str(tmp_path / "no-kubeconfig")}
    out = subprocess.run(
        ["kubectl", "--server", f"https://127.0.0.1:{server.port}", "--certificate-authority",
         str(pki.ca_cert), "--token", "t0ken", "get", "--raw", "/version"],
        capture_output=True, text=True, timeout=60, env=env, stdin=subprocess.DEVNULL)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout) == BODY
    # The last request is kubectl's own (a version dispatcher may ask first).
    alpn, request = server.requests[-1]
    assert alpn == "http/1.1"
    assert b"\r\nAuthorization: Bearer t0ken\r\n" in request
