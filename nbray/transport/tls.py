"""TLS settings shared by every member of a cluster.

A cluster either runs without TLS (ws:// and http://, fine on 127.0.0.1) or
with it everywhere: the head's websocket and object server, every node's
object server, and every client that talks to them.  Settings come from the
`nbray start` flags or the environment, so the worker-free processes a CLI
starts (heads, nodes, attached drivers) all see the same ones:

  NBRAY_TLS_CERTFILE   this member's certificate (PEM), served by its servers
  NBRAY_TLS_KEYFILE    its private key (default: in the certificate file)
  NBRAY_TLS_CAFILE     the certificates trusted when connecting to other members
                       (default: the system's, plus NBRAY_TLS_CERTFILE, which
                       covers the common one-self-signed-certificate cluster)
"""

from __future__ import annotations

import os
import ssl
from dataclasses import dataclass
from typing import Dict, Optional


@dataclass(frozen=True)
class TlsConfig:
    certfile: Optional[str] = None
    keyfile: Optional[str] = None
    cafile: Optional[str] = None

    @classmethod
    def from_env(cls, certfile: Optional[str] = None, keyfile: Optional[str] = None,
                 cafile: Optional[str] = None) -> "TlsConfig":
        """Explicit values win over NBRAY_TLS_* variables."""
        return cls(certfile or os.environ.get("NBRAY_TLS_CERTFILE") or None,
                   keyfile or os.environ.get("NBRAY_TLS_KEYFILE") or None,
                   cafile or os.environ.get("NBRAY_TLS_CAFILE") or None)

    @property
    def serves_tls(self) -> bool:
        return bool(self.certfile)

    def env(self) -> Dict[str, str]:
        """The variables that hand these settings to a child process (paths, not secrets)."""
        return {k: v for k, v in (("NBRAY_TLS_CERTFILE", self.certfile),
                                  ("NBRAY_TLS_KEYFILE", self.keyfile),
                                  ("NBRAY_TLS_CAFILE", self.cafile)) if v}

    def server_context(self) -> Optional[ssl.SSLContext]:
        if not self.certfile:
            return None
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ctx.minimum_version = ssl.TLSVersion.TLSv1_2
        try:
            ctx.load_cert_chain(self.certfile, self.keyfile)
        except (OSError, ssl.SSLError) as e:
            raise ValueError(f"cannot load the TLS certificate {self.certfile!r}"
                             f"{f' with key {self.keyfile!r}' if self.keyfile else ''}: {e}") from None
        return ctx

    def client_context(self) -> ssl.SSLContext:
        """Verifies the peer's certificate and host name, always."""
        ctx = ssl.create_default_context(ssl.Purpose.SERVER_AUTH)
        ctx.minimum_version = ssl.TLSVersion.TLSv1_2
        for path in (self.cafile, None if self.cafile else self.certfile):
            if path:
                try:
                    ctx.load_verify_locations(cafile=path)
                except (OSError, ssl.SSLError) as e:
                    raise ValueError(f"cannot load the TLS CA file {path!r}: {e}") from None
        return ctx


def describe_tls_error(url: str, error: BaseException) -> str:
    """A sentence for a failed TLS handshake that says what to check."""
    text = str(error)
    if "CERTIFICATE_VERIFY_FAILED" in text or isinstance(error, ssl.SSLCertVerificationError):
        return (f"cannot verify the TLS certificate of {url}: {text}; pass the cluster's CA "
                f"with --cafile (or NBRAY_TLS_CAFILE)")
    return f"TLS handshake with {url} failed: {text}"
