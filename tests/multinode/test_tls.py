"""A cluster with TLS everywhere: wss:// to the head, wss:// object transfers between nodes,
certificates verified (host name included), and clear errors when a member lacks them."""

from __future__ import annotations

import datetime
import ipaddress
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import nbray
from nbray.transport.tls import TlsConfig

cryptography = pytest.importorskip("cryptography")
from cryptography import x509  # noqa: E402
from cryptography.hazmat.primitives import hashes, serialization  # noqa: E402
from cryptography.hazmat.primitives.asymmetric import ec  # noqa: E402
from cryptography.x509.oid import NameOID  # noqa: E402

MiB = 2**20


def self_signed(directory, name: str) -> tuple:
    """A self-signed certificate for 127.0.0.1 and localhost: (certfile, keyfile)."""
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"nbray test {name}")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([
                x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    certfile, keyfile = directory / f"{name}.pem", directory / f"{name}.key"
    certfile.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    keyfile.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                          serialization.PrivateFormat.PKCS8,
                                          serialization.NoEncryption()))
    os.chmod(keyfile, 0o600)
    return str(certfile), str(keyfile)


@nbray.remote(resources={"w": 1})
def total_on_w(a) -> float:
    return float(a.sum())


@nbray.remote(resources={"w": 1})
def make_on_w(n: int):
    return np.full(n, 3.0)


def test_a_tls_cluster_moves_objects_both_ways_over_wss(make_head, tmp_path):
    cert, key = self_signed(tmp_path, "cluster")
    head = make_head(tls=TlsConfig(cert, key))
    assert head.server.address.startswith("wss://")
    assert head.server.object_url.startswith("https://")
    tls_env = {"NBRAY_TLS_CERTFILE": cert, "NBRAY_TLS_KEYFILE": key}  # CA defaults to the cert
    agent = head.join(resources='{"w": 1}', env=tls_env)
    assert head.info_of(agent).object_url.startswith("https://")
    local = nbray.put(np.ones(8 * MiB))                   # 64 MiB: head -> node over wss
    assert nbray.get(total_on_w.remote(local)) == 8 * MiB
    arr = nbray.get(make_on_w.remote(4 * MiB))            # 32 MiB: node -> head over wss
    assert arr.sum() == 12 * MiB and not arr.flags.writeable


def test_members_without_the_right_certificates_cannot_join(make_head, tmp_path):
    cert, key = self_signed(tmp_path, "cluster")
    other_cert, other_key = self_signed(tmp_path, "stranger")
    head = make_head(tls=TlsConfig(cert, key))

    def refused(env: dict) -> str:
        proc = head.start_agent(resources='{"w": 1}', env=env, stderr=subprocess.PIPE, text=True)
        _, err = proc.communicate(timeout=60)
        assert proc.returncode == 1, err
        return err

    # No certificate of its own: its object server could not serve wss.
    assert "object server must too" in refused({})
    # A certificate, but it trusts only a stranger's CA: the head's certificate fails to verify.
    err = refused({"NBRAY_TLS_CERTFILE": other_cert, "NBRAY_TLS_KEYFILE": other_key})
    assert "cannot verify the TLS certificate" in err and "--cafile" in err
    assert len(head.alive_nodes()) == 1                   # nobody joined, the head is fine
    assert nbray.get(nbray.put(7)) == 7


def test_cli_and_an_attached_driver_over_tls(tmp_path):
    cert, key = self_signed(tmp_path, "cluster")
    env = dict(os.environ, TMPDIR=str(tmp_path))          # a private cluster directory
    nb = [sys.executable, "-m", "nbray"]
    head = subprocess.run(nb + ["start", "--head", "--num-cpus", "1", "--certfile", cert,
                                "--keyfile", key], env=env, capture_output=True, text=True,
                          timeout=60)
    try:
        assert head.returncode == 0, head.stderr
        address = head.stdout.split(" at ", 1)[1].split()[0]
        assert address.startswith("wss://127.0.0.1:")
        joined = subprocess.run(nb + ["start", "--address", address, "--num-cpus", "1",
                                      "--resources", '{"w": 1}', "--certfile", cert, "--keyfile",
                                      key, "--cafile", cert], env=env, capture_output=True,
                                text=True, timeout=60)
        assert joined.returncode == 0 and "joined" in joined.stdout, joined.stderr
        driver = textwrap.dedent(f"""
            import numpy as np, nbray
            nbray.init(address={address!r})
            @nbray.remote(resources={{"w": 1}})
            def total(a):
                return float(a.sum())
            print("total", nbray.get(total.remote(nbray.put(np.ones(1 << 22)))))
            nbray.shutdown()
        """)
        driver_env = dict(env, NBRAY_TLS_CERTFILE=cert, NBRAY_TLS_KEYFILE=key)
        out = subprocess.run([sys.executable, "-c", driver], env=driver_env, capture_output=True,
                             text=True, timeout=120)
        assert out.returncode == 0 and "total 4194304.0" in out.stdout, out.stderr
    finally:
        stop = subprocess.run(nb + ["stop"], env=env, capture_output=True, text=True, timeout=60)
    assert "stopped 2" in stop.stdout
