"""A real S3 endpoint for tests: moto's server on a free loopback port, reached over HTTP.

Code under test talks to it through the ordinary boto3 path, pointed there by
AWS_ENDPOINT_URL and dummy credentials; nothing is patched in-process.
"""

from __future__ import annotations

import os
import uuid
from dataclasses import dataclass

import boto3

# Dummy, but distinctive, so a test can prove it never shows up in logs or messages.
SECRET_ACCESS_KEY = "dummy-secret-7f3a9c-never-print-me"


@dataclass(frozen=True)
class S3Server:
    endpoint_url: str

    def env(self, endpoint_url: str | None = None) -> dict[str, str]:
        """Environment for a CLI subprocess: this endpoint (or another, e.g. a proxy), dummy
        credentials, and nothing from the host's AWS configuration or instance metadata."""
        return {
            "AWS_ENDPOINT_URL": endpoint_url or self.endpoint_url,
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": SECRET_ACCESS_KEY,
            "AWS_REGION": "us-east-1",
            "AWS_CONFIG_FILE": os.devnull,
            "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
            "AWS_EC2_METADATA_DISABLED": "true",
        }

    def client(self):
        """A boto3 S3 client straight to the server, for a test to arrange and inspect."""
        return boto3.client(
            "s3",
            endpoint_url=self.endpoint_url,
            region_name="us-east-1",
            aws_access_key_id="testing",
            aws_secret_access_key=SECRET_ACCESS_KEY,
        )

    def new_bucket(self) -> str:
        name = f"test-{uuid.uuid4().hex[:20]}"
        self.client().create_bucket(Bucket=name)
        return name


def start_moto():
    """Start moto's threaded server on 127.0.0.1 and a free port; returns (server, S3Server)."""
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    return server, S3Server(f"http://{host}:{port}")
