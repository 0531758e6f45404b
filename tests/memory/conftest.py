"""Fixtures of the memory tests: an S3-protocol server (moto) on a free local port."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import uuid
from dataclasses import dataclass
from typing import Any, Dict, Iterator

import pytest

from tests._support import poll_for


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def port_open(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
        return True
    except OSError:
        return False


@dataclass
class S3Server:
    endpoint: str
    bucket: str
    client: Any

    @property
    def options(self) -> Dict[str, Any]:
        """spill_options for nbray.init (fsspec / s3fs storage options)."""
        return {"client_kwargs": {"endpoint_url": self.endpoint},
                "key": "testing", "secret": "testing"}

    def url(self, prefix: str = "spill") -> str:
        return f"s3://{self.bucket}/{prefix}"

    def keys(self, prefix: str = "") -> list:
        out, token = [], None
        while True:
            kw = {"Bucket": self.bucket, "Prefix": prefix}
            if token:
                kw["ContinuationToken"] = token
            page = self.client.list_objects_v2(**kw)
            out += [o["Key"] for o in page.get("Contents", [])]
            if not page.get("IsTruncated"):
                return out
            token = page["NextContinuationToken"]


AWS_ENV = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
           "AWS_DEFAULT_REGION": "us-east-1", "AWS_EC2_METADATA_DISABLED": "true"}


@pytest.fixture
def aws_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fake credentials, so nothing looks for real ones (workers inherit them)."""
    for k, v in AWS_ENV.items():
        monkeypatch.setenv(k, v)
    for k in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_CONFIG_FILE", "AWS_SHARED_CREDENTIALS_FILE"):
        monkeypatch.delenv(k, raising=False)


@pytest.fixture
def s3_server(aws_env: None) -> Iterator[S3Server]:
    """moto in server mode on 127.0.0.1 (a real HTTP S3 endpoint), with a fresh bucket."""
    pytest.importorskip("moto.server")
    boto3 = pytest.importorskip("boto3")
    pytest.importorskip("s3fs")
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            env={**os.environ, **AWS_ENV})
    try:
        poll_for(lambda: port_open(port) or proc.poll() is not None, timeout=30,
                 msg="the moto server to listen")
        assert proc.poll() is None, f"moto server exited with code {proc.returncode}"
        endpoint = f"http://127.0.0.1:{port}"
        client = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1",
                              aws_access_key_id="testing", aws_secret_access_key="testing")
        bucket = f"nbray-{uuid.uuid4().hex[:12]}"
        client.create_bucket(Bucket=bucket)
        yield S3Server(endpoint, bucket, client)
        client.close()
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)
